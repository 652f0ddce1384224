"""The improved engine at work: Novak & Nikulin's style term and the coarse-to-fine schedule.
Config and defaults: :mod:`nst_toolkit.engines.improved`."""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import colour, losses
from ...images import resize_longest
from ...optimize import Carry, Step, optimize_image
from ...styles import StyleSet, StylesLike, as_style_set, check_image_tensor, prepare_mask
from ...vgg import VGGFeatures, shared_or_new
from ..base import EngineBase, init_image, require_styles, scale_style, style_masks, target_scale, tiled_content, tile_core_for
from ..gatys.engine import content_loss, content_term
from . import ImprovedConfig


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
    adjacent layers to a common size): over 2×2 windows where it is twice the size (adjacent VGG-19 layers
    across a pooling; an odd last row or column dropped, as the pooling drops it), so each pooled position
    depends on its own pixels only and the picture can be cut into tiles.
    """
    if a.shape[-2:] != b.shape[-2:]:
        if a.shape[-1] < b.shape[-1]:
            return cross_gram(b, a, shift).transpose(1, 2)
        a = pool_to(a, b.shape[-2:])
    n, _, h, w = a.shape
    fa, fb = _positions(a), _positions(b)
    g = torch.bmm(fa.transpose(1, 2), fb)
    if shift:  # (A + s)(B + s)ᵀ = ABᵀ + s·ΣA·1ᵀ + s·1·ΣBᵀ + s²·HW, without shifted copies of A and B
        g = g + shift * (fa.sum(1)[:, :, None] + fb.sum(1)[:, None, :]) + shift * shift * (h * w)
    return g / (h * w)


def _positions(f: Tensor) -> Tensor:
    """N×(H·W)×C: a view of channels-last features (the VGG's), a copy of others."""
    n, c, h, w = f.shape
    return f.permute(0, 2, 3, 1).reshape(n, h * w, c)


def pool_to(a: Tensor, size: tuple[int, int]) -> Tensor:
    """``a`` average-pooled to ``size``: 2×2 windows when ``a`` is twice (or twice plus one) that size."""
    h, w = size
    if a.shape[-2] in (2 * h, 2 * h + 1) and a.shape[-1] in (2 * w, 2 * w + 1):
        return F.avg_pool2d(a[..., : 2 * h, : 2 * w], 2)
    return F.adaptive_avg_pool2d(a, size)


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

    def counts(self, feats: dict[str, Tensor]) -> list[int]:
        """Positions each of :meth:`grams`' matrices averages over (the smaller map of a chained pair)."""
        if self.pairs:
            return [min(feats[a].shape[-2] * feats[a].shape[-1], feats[b].shape[-2] * feats[b].shape[-1]) for a, b in self.pairs]
        return [feats[k].shape[-2] * feats[k].shape[-1] for k in self.layers]

    def from_grams(self, grams: list[Tensor], targets: list[Tensor], scales: list[float]) -> Tensor:
        """:meth:`loss` from the image's statistics (:meth:`grams`), no mask: what tiles can add up."""
        terms = [F.mse_loss(g, t.expand_as(g)) / sc for g, t, sc in zip(grams, targets, scales)]
        if self.cfg.preset == "inetwork" and self.cfg.chain:
            terms = [a - b for a, b in zip(terms, terms[1:])]
        return sum(w * t for w, t in zip(self.weights, terms))

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


def scale_work(sizes: list[int], iters: list[int], shape: tuple[int, int], tile: int | None) -> list[float]:
    """Each scale's share of a run's work: pixels × iterations, twice that where the scale goes in tiles
    (a statistics pass and margins), so that a progress bar's ETA holds at print sizes, where one full-size
    step costs as much as thousands at 128 px."""
    from ...tiled_loss import choose_core

    full = max(shape)
    costs = []
    for size, n in zip(sizes, iters):
        h, w = (round(d * min(size, full) / full) for d in shape)
        costs.append(h * w * n * (1 if choose_core(h, w, tile) is None else 2))
    total = sum(costs)
    return [c / total for c in costs]


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

    def tiled_loss_fn(self, content: Tensor, styles: StylesLike, core: int) -> Callable[[Tensor], dict[str, Tensor]]:
        """:meth:`loss_fn` for a scale too large for one pass: the same terms, value and gradient computed tile by
        tile (:mod:`nst_toolkit.tiled_loss`); the style and content targets come from the whole pictures."""
        from ...tiled_loss import TiledObjective, tiled_grams

        cfg = self.config
        styles = as_style_set(styles)
        targets = []
        for s in styles.images:
            grams = tiled_grams(self.vgg, s, self.term.layers, self.term.grams, self.term.counts, core)
            targets.append((grams, [target_scale(g) for g in grams]))

        def style(grams: list[Tensor]) -> Tensor:
            return cfg.style_weight * sum(b * self.term.from_grams(grams, g, sc) for b, (g, sc) in zip(styles.weights, targets))

        obj = TiledObjective(self.vgg, cfg.vgg_layers(), self.term.grams, self.term.counts, style,
                             tiled_content(self.vgg, content, cfg.content_layers, cfg.content_weight, core), core)
        return lambda x: {**obj.terms(x), "tv": cfg.tv_weight * losses.tv_loss(x)}

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
        tile_core_for(content, cfg.tile, has_mask=styles.mask is not None, engine=self.name)  # refuse before any work
        work = scale_work(sizes, iters, content.shape[-2:], cfg.tile)
        work_done = 0.0
        x, prev_c = None, None
        carry = Carry() if cfg.carry_state else None
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
            core = tile_core_for(c, cfg.tile, has_mask=ss.mask is not None, engine=self.name)
            fn = self.loss_fn(c, ss) if core is None else self.tiled_loss_fn(c, ss, core)
            x, hist = optimize_image(x0, fn, iterations=n, optimizer=cfg.optimizer, lr=cfg.step_size(), on_step=on_step,
                                     step_offset=done, total_steps=total, scale_index=k, started=started, should_stop=stop,
                                     clamp_every_step=cfg.clamp_steps, carry=carry, work=(work_done, work[k] / n))
            work_done += work[k]
            done += n  # progress counts planned steps, so an early stop jumps ahead
            prev_c = c
        return x
