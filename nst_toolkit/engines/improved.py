"""Novak & Nikulin 2016 ("Improving the Neural Algorithm of Artistic Style") plus coarse-to-fine
(Gatys et al. 2017; crowsonkb/style-transfer-pytorch), several styles, masks and early stopping.

Every improvement is a switch of :class:`ImprovedConfig`; with all of them off and one scale this
engine computes exactly the gatys engine's loss.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import losses
from ..errors import NSTError
from ..images import resize_longest
from ..optimize import Step, optimize_image
from ..vgg import RELU_LAYERS, VGGFeatures, validate_layers
from .base import check_image_tensor, check_non_negative, check_positive, init_image, scale_style, target_scale

GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
PRESETS = ("paper", "inetwork")


@dataclass(frozen=True)
class ImprovedConfig:
    """Every default of `nst improved`; each value's source is in its comment."""

    size: int = 512
    content_layers: tuple[str, ...] = ("relu4_2",)  # as Gatys; Novak & Nikulin keep it (sec. 4)
    # --- the paper's improvements, each a switch ---
    all_layers: bool = True  # style from all 16 conv layers (paper sec. 3.1), else Gatys's five
    shift: float = -1.0  # activation shift s in G(F + s) (paper sec. 3.2); 0 turns it off
    geometric_weights: bool = True  # w_l ∝ 2^(D−l): shallow layers weigh more (paper sec. 3.3)
    geometric_ratio: float = 2.0  # the 2 of 2^(D−l) (paper)
    chain: bool = True  # correlations between adjacent layers instead of within a layer (paper sec. 3.4)
    # "paper" follows the paper; "inetwork" reproduces titu1994/Neural-Style-Transfer INetwork.py,
    # which inverts the geometric weights (1/2^(D−l): deep layers weigh more) and sums differences of
    # adjacent layers' Gram losses (E_l − E_{l+1}) instead of a correlation chain.
    preset: str = "paper"
    # --- weights: relative per-layer losses as in the gatys engine (normalize_layers) ---
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 5.0
    # --- coarse-to-fine (Gatys et al. 2017 sec. 6; crowsonkb/style-transfer-pytorch) ---
    coarse_to_fine: bool = True
    start_size: int = 128  # first scale's longest side (crowsonkb: min_scale 128)
    scale_factor: float = 2.0  # growth between scales (crowsonkb: √2; 2 gives fewer, cheaper scales)
    iterations: int = 20  # L-BFGS steps at the final scale
    coarse_iterations: int = 60  # steps at the first scale; the scales between interpolate geometrically
    # --- early stop: relative improvement of the total loss over a window ---
    early_stop: float = 1e-3  # stop a scale when (L[t−w] − L[t]) / L[t−w] < this; 0 turns it off
    early_stop_window: int = 10
    # --- the rest as in gatys ---
    init: str = "content"
    optimizer: str = "lbfgs"
    lr: float | None = None
    style_scale: float = 1.0
    style_blend: tuple[float, ...] | None = None  # weights of several styles (default equal)
    pooling: str = "max"
    weights: str = "bundled"
    seed: int = 0

    def validate(self) -> None:
        validate_layers(self.content_layers)
        if self.preset not in PRESETS:
            raise NSTError(f"preset must be one of {', '.join(PRESETS)}, not '{self.preset}'")
        check_positive(size=self.size, iterations=self.iterations, coarse_iterations=self.coarse_iterations,
                       start_size=self.start_size, geometric_ratio=self.geometric_ratio, style_scale=self.style_scale)
        check_non_negative(content_weight=self.content_weight, style_weight=self.style_weight,
                           tv_weight=self.tv_weight, early_stop=self.early_stop)
        if self.scale_factor <= 1:
            raise NSTError(f"scale-factor must be above 1, not {self.scale_factor}")
        if self.style_blend is not None and (any(w < 0 for w in self.style_blend) or sum(self.style_blend) <= 0):
            raise NSTError("style weights must be non-negative and not all zero")

    @property
    def style_layers(self) -> tuple[str, ...]:
        return tuple(RELU_LAYERS) if self.all_layers else GATYS_STYLE_LAYERS

    def vgg_layers(self) -> list[str]:
        return list(dict.fromkeys(self.content_layers + self.style_layers))

    def step_size(self) -> float:
        return self.lr if self.lr is not None else (1.0 if self.optimizer == "lbfgs" else 0.02)

    def to_dict(self) -> dict:
        return {**asdict(self), "style_layers": list(self.style_layers)}


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


def masked(features: Tensor, mask: Tensor | None) -> Tensor:
    """Features with the region outside ``mask`` zeroed and rescaled so the Gram is a mean over the region."""
    if mask is None:
        return features
    m = F.interpolate(mask, size=features.shape[-2:], mode="bilinear", align_corners=False)
    frac = m.mean().clamp_min(1e-6)
    return features * m / frac.sqrt()


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
            return [cross_gram(masked(feats[a], mask), masked(feats[b], mask), s) for a, b in self.pairs]
        return [losses.gram_matrix(masked(feats[k], mask), s) for k in self.layers]

    def loss(self, feats: dict[str, Tensor], targets: list[Tensor], scales: list[float], mask: Tensor | None) -> Tensor:
        """Weighted relative Gram losses (each divided by its target's mean square)."""
        if self.pairs:
            grams = self.grams(feats, mask)
            terms = [F.mse_loss(g, t.expand_as(g)) / sc for g, t, sc in zip(grams, targets, scales)]
        else:  # per-layer Grams: the shared gram_loss (with its one-matmul backward)
            s = self.cfg.shift
            terms = [losses.gram_loss(masked(feats[k], mask), t, s) / sc for k, t, sc in zip(self.layers, targets, scales)]
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
        if len(history) <= window:
            return False
        old, new = history[-window - 1], history[-1]
        return old > 0 and (old - new) / old < threshold

    return stop


class ImprovedEngine:
    """Pixel optimisation with the Novak–Nikulin style representation, multi-scale, several styles, masks."""

    name = "improved"

    def __init__(self, config: ImprovedConfig = ImprovedConfig(), vgg: VGGFeatures | None = None,
                 styles: Sequence[Tensor] | None = None, mask: Tensor | None = None):
        config.validate()
        self.config = config
        self.vgg = vgg if vgg is not None else VGGFeatures(config.vgg_layers(), config.weights, config.pooling)
        self.extra_styles = list(styles or [])
        self.mask = mask
        self.term = StyleTerm(config)

    def planned_iterations(self) -> int:
        return sum(scale_iterations(self.config, len(scale_sizes(self.config))))

    def loss_fn(self, content: Tensor, styles: list[Tensor], blend: list[float], masks: list[Tensor | None]):
        cfg = self.config
        with torch.no_grad():
            content_t = self.vgg(content, cfg.content_layers)
            targets = []
            for s, m in zip(styles, masks):
                grams = self.term.grams(self.vgg(s, self.term.layers))
                targets.append((grams, [target_scale(g) for g in grams], m))
        content_w = {k: 1.0 / len(cfg.content_layers) / target_scale(v) for k, v in content_t.items()}
        layers = cfg.vgg_layers()

        def fn(x: Tensor) -> dict[str, Tensor]:
            feats = self.vgg(x, layers)
            c = sum(w * losses.content_loss(feats[k], content_t[k]) for k, w in content_w.items())
            st = sum(b * self.term.loss(feats, g, sc, m) for b, (g, sc, m) in zip(blend, targets))
            return {"content": cfg.content_weight * c, "style": cfg.style_weight * st, "tv": cfg.tv_weight * losses.tv_loss(x)}

        return fn

    def _styles_and_masks(self, style: Tensor) -> tuple[list[Tensor], list[float], list[Tensor | None]]:
        styles = [style] + self.extra_styles
        cfg = self.config
        if self.mask is not None:
            if len(styles) != 2:
                raise NSTError(f"a mask needs exactly two styles (foreground, background), got {len(styles)}")
            return styles, [1.0, 1.0], [self.mask, 1.0 - self.mask]
        blend = list(cfg.style_blend) if cfg.style_blend else [1.0] * len(styles)
        if len(blend) != len(styles):
            raise NSTError(f"got {len(blend)} style weights for {len(styles)} styles")
        total = sum(blend)
        return styles, [b / total for b in blend], [None] * len(styles)

    def stylize(self, content: Tensor, style: Tensor, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        check_image_tensor(content, "content")
        check_image_tensor(style, "style")
        cfg = self.config
        dev = content.device
        self.vgg.to(dev)
        styles, blend, masks = self._styles_and_masks(style.to(dev))
        if self.mask is not None:
            check_mask(self.mask, content)
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
            ss = [scale_style(s, c, cfg.style_scale) for s in styles]
            ms = [m.to(dev) if m is not None else None for m in masks]
            if x is None:
                x0 = init_image(cfg.init, c, ss[0], cfg.seed)
            else:  # warm start: the previous scale's result, upsampled
                up = lambda t: F.interpolate(t, size=c.shape[-2:], mode="bicubic", align_corners=False)
                x0 = up(x)
                if cfg.init == "content":
                    # Departure: add back the content detail the coarser scale could not hold (the
                    # Laplacian band between the two scales), so the fine scale need not re-learn it.
                    x0 = x0 + (c - up(prev_c))
                x0 = x0.clamp(0, 1)
            fn = self.loss_fn(c, ss, blend, ms)
            x, hist = optimize_image(x0, fn, iterations=n, optimizer=cfg.optimizer, lr=cfg.step_size(), on_step=on_step,
                                     step_offset=done, total_steps=total, scale_index=k, started=started, should_stop=stop)
            done += n  # progress counts planned steps, so an early stop jumps ahead
            prev_c = c
        return x


def check_mask(mask: Tensor, content: Tensor) -> None:
    """The mask must have the content's aspect ratio and both a foreground and a background."""
    mh, mw = mask.shape[-2:]
    ch, cw = content.shape[-2:]
    if abs(mh / mw - ch / cw) > 0.02 * (ch / cw):
        raise NSTError(f"mask is {mw}×{mh} px but the content is {cw}×{ch}: their aspect ratios differ")
    fg = (mask > 0.5).float().mean()
    if fg == 0 or fg == 1:
        raise NSTError("mask has an empty region: it needs both foreground (white) and background (black) pixels")
