"""Novak & Nikulin 2016 ("Improving the Neural Algorithm of Artistic Style") plus coarse-to-fine
(Gatys et al. 2017; crowsonkb/style-transfer-pytorch), several styles, masks and early stopping.

Every improvement is a switch of :class:`ImprovedConfig`; with all of them off, one scale and gatys's
style weight this engine computes exactly the gatys engine's loss.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import colour, losses
from ..errors import NSTError
from ..images import resize_longest
from ..optimize import Step, optimize_image
from ..options import check_choice, check_non_negative, check_positive, option, to_dict
from ..styles import StyleSet, StylesLike, as_style_set, check_image_tensor, prepare_mask
from ..layers import RELU_LAYERS
from ..vgg import VGGFeatures, shared_or_new
from .base import EngineBase, init_image, require_styles, scale_style, style_masks, target_scale
from .gatys import PixelConfig, content_loss, content_term
from .registry import EngineSpec, register

GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
PRESETS = ("paper", "inetwork")


@dataclass(frozen=True)
class ImprovedConfig(PixelConfig):
    """Every default of `nst improved`; each value's source is in its comment."""

    # --- the paper's improvements, each a switch ---
    all_layers: bool = option(True, "Style from all 16 conv layers (paper sec. 3.1), else Gatys's five.")
    shift: float = option(-1.0, "Activation shift s in the Gram matrix of F + s (paper sec. 3.2; 0: off).")
    geometric_weights: bool = option(True, "Per-layer style weights 2^(D-l): shallow layers weigh more (paper sec. 3.3).")
    geometric_ratio: float = option(2.0, "The base of the geometric layer weights (paper: 2).")
    chain: bool = option(True, "Correlations between adjacent layers instead of within a layer (paper sec. 3.4).")
    # "paper" follows the paper; "inetwork" reproduces titu1994/Neural-Style-Transfer INetwork.py,
    # which inverts the geometric weights (1/2^(D−l): deep layers weigh more) and sums differences of
    # adjacent layers' Gram losses (E_l − E_{l+1}) instead of a correlation chain.
    preset: str = option("paper", "paper | inetwork (titu1994's INetwork variant of the switches).")
    # --- coarse-to-fine (Gatys et al. 2017 sec. 6; crowsonkb/style-transfer-pytorch) ---
    # The schedule spends most iterations where they are cheap: 40 at 128 px, 13 at 256 px and only 4 at
    # the full size (a 512-px step costs 16 of the 128-px ones). Chosen with an independent judge on
    # tuning pairs apart from the reported ones (README, "improved and gatys, judged independently"); the
    # old 60/35/20 took 3× as long there for less style.
    coarse_to_fine: bool = option(True, "Optimise from start-size up to size, each scale starting from the last.")
    start_size: int = option(128, "First scale's longest side, px.")  # crowsonkb: min_scale 128
    scale_factor: float = option(2.0, "Growth factor between scales.")  # crowsonkb: √2; 2 gives fewer, cheaper scales
    iterations: int = option(4, "Iterations at the final scale.")
    coarse_iterations: int = option(40, "Iterations at the first scale; the scales between interpolate geometrically.")
    # --- shared fields whose defaults differ from gatys's (same judge, same tuning pairs) ---
    # The Novak–Nikulin loss is relative per layer like gatys's but spread over 16 layers. With gatys at
    # weight 10 (tuning pairs: −4.88 judge style, LPIPS 0.47), 20 is more stylised at a better LPIPS
    # (−4.93 / 0.45); 12 matched gatys's old weight 5, 15 gives gatys's style at LPIPS 0.43.
    style_weight: float = option(20.0, "Weight of the style loss.")
    # Gatys et al. 2017 sec. 5.2 move the style's colours onto the content; starting there leaves the few
    # full-size steps for texture (tuning pairs: more style and a better LPIPS than the content start;
    # on the reported pairs the two starts come out alike).
    init: str = option("recolour", "Start from: recolour (the content in the style's colours) | content | noise | style.")
    # --- early stop: relative improvement of the total loss over a window ---
    early_stop: float = option(1e-3, "Stop a scale when the loss improved less than this fraction over the window (0: off).")
    early_stop_window: int = option(10, "Iterations over which early-stop measures the improvement.")

    def validate(self) -> None:
        self.validate_common()
        check_choice("preset", self.preset, PRESETS)
        check_positive(iterations=self.iterations, coarse_iterations=self.coarse_iterations,
                       start_size=self.start_size, geometric_ratio=self.geometric_ratio,
                       early_stop_window=self.early_stop_window)
        check_non_negative(early_stop=self.early_stop)
        if self.scale_factor <= 1:
            raise NSTError(f"scale-factor must be above 1, not {self.scale_factor}")

    @property
    def style_layers(self) -> tuple[str, ...]:
        return tuple(RELU_LAYERS) if self.all_layers else GATYS_STYLE_LAYERS

    def vgg_layers(self) -> list[str]:
        return list(dict.fromkeys(self.content_layers + self.style_layers))

    def to_dict(self) -> dict:
        return {**to_dict(self), "style_layers": list(self.style_layers)}


def layer_weights(n: int, geometric: bool, ratio: float, preset: str) -> list[float]:
    """Per-layer style weights summing to 1: equal, or geometric 2^(D−l) (paper) / 2^−(D−l) (INetwork)."""
    if not geometric:
        return [1.0 / n] * n
    raw = [ratio ** (n - l) for l in range(1, n + 1)]
    if preset == "inetwork":
        raw = raw[::-1]
    total = sum(raw)
    return [r / total for r in raw]


def cross_gram(a: Tensor, b: Tensor, shift: float = 0.0) -> Tensor:
    """Correlation between two layers' feature maps, G = (A + s)(B + s)ᵀ / (H·W), N×C_a×C_b.

    The larger map is average-pooled to the smaller one's spatial size first (paper sec. 3.4 brings
    adjacent layers to a common size).
    """
    if a.shape[-2:] != b.shape[-2:]:
        if a.shape[-1] > b.shape[-1]:
            a = F.adaptive_avg_pool2d(a, b.shape[-2:])
        else:
            b = F.adaptive_avg_pool2d(b, a.shape[-2:])
    n, ca, h, w = a.shape
    fa = a.reshape(n, ca, h * w)
    fb = b.reshape(n, b.shape[1], h * w)
    if shift:
        fa, fb = fa + shift, fb + shift
    return torch.bmm(fa, fb.transpose(1, 2)) / (h * w)


class StyleTerm:
    """The style representation of one engine config: Grams, shifted, chained, weighted, per style."""

    def __init__(self, cfg: ImprovedConfig):
        self.cfg = cfg
        self.layers = list(cfg.style_layers)
        self.pairs = list(zip(self.layers, self.layers[1:])) if cfg.chain and cfg.preset == "paper" else None
        n = len(self.layers) - 1 if cfg.chain else len(self.layers)  # a chain has one term per adjacent pair
        self.weights = layer_weights(n, cfg.geometric_weights, cfg.geometric_ratio, cfg.preset)

    def grams(self, feats: dict[str, Tensor], mask: Tensor | None = None) -> list[Tensor]:
        s = self.cfg.shift
        if self.pairs:
            return [cross_gram(losses.masked_features(feats[a], mask), losses.masked_features(feats[b], mask), s) for a, b in self.pairs]
        return [losses.gram_matrix(losses.masked_features(feats[k], mask), s) for k in self.layers]

    def loss(self, feats: dict[str, Tensor], targets: list[Tensor], scales: list[float], mask: Tensor | None) -> Tensor:
        """Weighted relative Gram losses (each divided by its target's mean square)."""
        if self.pairs:
            grams = self.grams(feats, mask)
            terms = [F.mse_loss(g, t.expand_as(g)) / sc for g, t, sc in zip(grams, targets, scales)]
        else:  # per-layer Grams: the shared gram_loss (with its one-matmul backward)
            s = self.cfg.shift
            terms = [losses.gram_loss(losses.masked_features(feats[k], mask), t, s) / sc for k, t, sc in zip(self.layers, targets, scales)]
        if self.cfg.preset == "inetwork" and self.cfg.chain:
            # INetwork's "chain": the difference of adjacent layers' losses (not the paper's formula).
            terms = [a - b for a, b in zip(terms, terms[1:])]
        return sum(w * t for w, t in zip(self.weights, terms))


def scale_sizes(cfg: ImprovedConfig) -> list[int]:
    """The longest side of each scale: start_size · factor^k, ending exactly at ``size``."""
    if not cfg.coarse_to_fine or cfg.start_size >= cfg.size:
        return [cfg.size]
    n = max(1, math.ceil(math.log(cfg.size / cfg.start_size) / math.log(cfg.scale_factor) - 1e-9))
    sizes = [round(cfg.size / cfg.scale_factor ** (n - k)) for k in range(n + 1)]
    return [max(32, s) for s in sizes]


def scale_iterations(cfg: ImprovedConfig, n_scales: int) -> list[int]:
    """Geometric interpolation from coarse_iterations at the first scale to iterations at the last."""
    if n_scales == 1:
        return [cfg.iterations]
    a, b = cfg.coarse_iterations, cfg.iterations
    return [max(1, round(a * (b / a) ** (k / (n_scales - 1)))) for k in range(n_scales)]


def make_early_stop(threshold: float, window: int) -> Callable[[list[float]], bool] | None:
    if threshold <= 0:
        return None

    def stop(history: list[float]) -> bool:
        # Compare the best loss so far with the best one a window ago: L-BFGS without a line search
        # overshoots now and then (a spike of 100× for one step) and recovers; a spike must not end
        # a scale, and the loop returns the best image anyway.
        if len(history) <= window:
            return False
        old, new = min(history[: -window]), min(history)
        return old > 0 and (old - new) / old < threshold

    return stop


class ImprovedEngine(EngineBase):
    """Pixel optimisation with the Novak–Nikulin style representation, multi-scale, several styles, masks."""

    name = "improved"

    def __init__(self, config: ImprovedConfig = ImprovedConfig(), vgg: VGGFeatures | None = None):
        config.validate()
        self.config = config
        self.vgg = shared_or_new(vgg, config.vgg_layers(), config.vgg_weights, config.pooling)
        self.term = StyleTerm(config)

    def planned_steps(self) -> int:
        return sum(scale_iterations(self.config, len(scale_sizes(self.config))))

    def loss_fn(self, content: Tensor, styles: StylesLike) -> Callable[[Tensor], dict[str, Tensor]]:
        """Weighted loss terms for one scale: content, the blended (or masked) style terms, TV."""
        cfg = self.config
        styles = as_style_set(styles)
        masks = style_masks(styles, content)
        content_t, content_w = content_term(self.vgg, content, cfg.content_layers, True)
        targets = []
        with torch.no_grad():
            for s in styles.images:
                grams = self.term.grams(self.vgg(s, self.term.layers))
                targets.append((grams, [target_scale(g) for g in grams]))
        layers = cfg.vgg_layers()

        def fn(x: Tensor) -> dict[str, Tensor]:
            feats = self.vgg(x, layers)
            st = sum(b * self.term.loss(feats, g, sc, m) for b, m, (g, sc) in zip(styles.weights, masks, targets))
            return {"content": cfg.content_weight * content_loss(feats, content_t, content_w),
                    "style": cfg.style_weight * st, "tv": cfg.tv_weight * losses.tv_loss(x)}

        return fn

    def stylize(self, content: Tensor, styles: StylesLike, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        check_image_tensor(content, "content")
        styles = require_styles(as_style_set(styles), self.name).to(content.device)
        if styles.mask is not None:
            prepare_mask(styles.mask, content)  # refuse a bad mask before any work
        return colour.preserve(self.config.preserve_color, content, styles, lambda c, s: self._run(c, s, on_step))

    def _run(self, content: Tensor, styles: StyleSet, on_step) -> Tensor:
        cfg = self.config
        cfg.check_memory(content.shape[-1], content.shape[-2], self.name)
        self.vgg.to(content.device)
        sizes = scale_sizes(cfg)
        iters = scale_iterations(cfg, len(sizes))
        total = sum(iters)
        started = time.perf_counter()
        stop = make_early_stop(cfg.early_stop, cfg.early_stop_window)
        x, prev_c = None, None
        done = 0
        full = max(content.shape[-2:])
        for k, (size, n) in enumerate(zip(sizes, iters)):
            c = content if size >= full else resize_longest(content, size)
            ss = styles.replace_images([scale_style(s, c, cfg.style_scale) for s in styles.images])
            if x is None:
                x0 = init_image(cfg.init, c, ss.images[0], cfg.seed)
            else:  # warm start: the previous scale's result, upsampled
                up = lambda t: F.interpolate(t, size=c.shape[-2:], mode="bicubic", align_corners=False)
                x0 = up(x)
                if cfg.init in ("content", "recolour"):
                    # Departure: add back the content detail the coarser scale could not hold (the
                    # Laplacian band between the two scales), so the fine scale need not re-learn it.
                    x0 = x0 + (c - up(prev_c))
                x0 = x0.clamp(0, 1)
            fn = self.loss_fn(c, ss)
            x, hist = optimize_image(x0, fn, iterations=n, optimizer=cfg.optimizer, lr=cfg.step_size(), on_step=on_step,
                                     step_offset=done, total_steps=total, scale_index=k, started=started, should_stop=stop,
                                     clamp_every_step=cfg.clamp_steps)
            done += n  # progress counts planned steps, so an early stop jumps ahead
            prev_c = c
        return x


register(EngineSpec(
    name="improved", config=ImprovedConfig, build=ImprovedEngine, kind="optimize",
    summary="Improved Gatys (Novak & Nikulin 2016) with coarse-to-fine, colour control, several styles and masks.",
))
