"""The gatys engine at work: content and Gram style targets computed once, the pixels optimised.
Config and defaults: :mod:`nst_toolkit.engines.gatys`."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ... import colour, losses
from ...optimize import Step, optimize_image
from ...styles import StyleSet, StylesLike, as_style_set, check_image_tensor
from ...vgg import VGGFeatures, shared_or_new
from ...options import parse_weights
from ..base import EngineBase, init_image, require_styles, scale_style, style_masks, target_scale, tiled_content, tile_core_for
from . import GatysConfig


def content_term(vgg: VGGFeatures, content: Tensor, layers: tuple[str, ...], normalize: bool
                 ) -> tuple[dict[str, Tensor], dict[str, float]]:
    """Content targets and per-layer weights (equal, each divided by its target's mean square if ``normalize``)."""
    with torch.no_grad():
        targets = {k: v.detach() for k, v in vgg(content, layers).items()}
    weights = {k: 1.0 / len(layers) / (target_scale(targets[k]) if normalize else 1.0) for k in layers}
    return targets, weights


def content_loss(feats: dict[str, Tensor], targets: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    return sum(w * losses.content_loss(feats[k], targets[k]) for k, w in weights.items())


class GatysEngine(EngineBase):
    """Pixel optimisation as in Gatys et al. 2016. Holds only its config and a frozen VGG."""

    name = "gatys"

    def __init__(self, config: GatysConfig = GatysConfig(), vgg: VGGFeatures | None = None):
        config.validate()
        self.config = config
        self.vgg = shared_or_new(vgg, config.vgg_layers(), config.vgg_weights, config.pooling)

    def planned_steps(self) -> int:
        return self.config.iterations

    def loss_fn(self, content: Tensor, styles: StylesLike) -> Callable[[Tensor], dict[str, Tensor]]:
        """Build the weighted loss terms for a content and its styles; targets are computed once.

        Several styles add their style losses with the blend weights; with a mask each style's loss
        is taken over its region only.
        """
        cfg = self.config
        styles = as_style_set(styles)
        layer_w = dict(zip(cfg.style_layers, parse_weights(cfg.style_layer_weights, len(cfg.style_layers), "style layer weights")))
        masks = style_masks(styles, content)
        content_t, content_w = content_term(self.vgg, content, cfg.content_layers, cfg.normalize_layers)
        per_style = []
        with torch.no_grad():
            for s in styles.images:
                grams = {k: losses.gram_matrix(v) for k, v in self.vgg(s, cfg.style_layers).items()}
                w = {k: lw / target_scale(grams[k]) for k, lw in layer_w.items()} if cfg.normalize_layers else layer_w
                per_style.append((grams, w))
        layers = cfg.vgg_layers()

        def fn(x: Tensor) -> dict[str, Tensor]:
            feats = self.vgg(x, layers)
            style = 0.0
            for b, m, (grams, w) in zip(styles.weights, masks, per_style):
                f = feats if m is None else {k: losses.masked_features(feats[k], m) for k in cfg.style_layers}
                style = style + b * losses.style_loss(f, grams, w)
            return {
                "content": cfg.content_weight * content_loss(feats, content_t, content_w),
                "style": cfg.style_weight * style,
                "tv": cfg.tv_weight * losses.tv_loss(x),
            }

        return fn

    def tiled_loss_fn(self, content: Tensor, styles: StylesLike, core: int) -> Callable[[Tensor], dict[str, Tensor]]:
        """:meth:`loss_fn` for a picture too large for one pass, computed tile by tile (:mod:`nst_toolkit.tiled_loss`)."""
        from ...tiled_loss import TiledObjective, tiled_grams

        cfg = self.config
        styles = as_style_set(styles)
        names = list(cfg.style_layers)
        layer_w = parse_weights(cfg.style_layer_weights, len(names), "style layer weights")

        def grams(f: dict[str, Tensor]) -> list[Tensor]:
            return [losses.gram_matrix(f[k]) for k in names]

        def counts(f: dict[str, Tensor]) -> list[int]:
            return [f[k].shape[-2] * f[k].shape[-1] for k in names]

        per_style = []
        for s in styles.images:
            g = tiled_grams(self.vgg, s, names, grams, counts, core)
            per_style.append((g, [lw / target_scale(t) if cfg.normalize_layers else lw for lw, t in zip(layer_w, g)]))

        def style(g: list[Tensor]) -> Tensor:
            return cfg.style_weight * sum(b * sum(w * torch.nn.functional.mse_loss(gi, t) for gi, t, w in zip(g, tg, ws))
                                          for b, (tg, ws) in zip(styles.weights, per_style))

        content_terms = tiled_content(self.vgg, content, cfg.content_layers, cfg.content_weight, core, cfg.normalize_layers)
        obj = TiledObjective(self.vgg, cfg.vgg_layers(), grams, counts, style, content_terms, core)
        return lambda x: {**obj.terms(x), "tv": cfg.tv_weight * losses.tv_loss(x)}

    def stylize(self, content: Tensor, styles: StylesLike, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        check_image_tensor(content, "content")
        styles = require_styles(as_style_set(styles), self.name).to(content.device)
        return colour.preserve(self.config.preserve_color, content, styles, lambda c, s: self._run(c, s, on_step))

    def _run(self, content: Tensor, styles: StyleSet, on_step) -> Tensor:
        cfg = self.config
        cfg.check_memory(content.shape[-1], content.shape[-2], self.name)
        self.vgg.to(content.device)
        styles = styles.replace_images([scale_style(s, content, cfg.style_scale) for s in styles.images])
        core = tile_core_for(content, cfg.tile, has_mask=styles.mask is not None, engine=self.name)
        fn = self.loss_fn(content, styles) if core is None else self.tiled_loss_fn(content, styles, core)
        x0 = init_image(cfg.init, content, styles.images[0], cfg.seed)
        out, _ = optimize_image(x0, fn, iterations=cfg.iterations, optimizer=cfg.optimizer, lr=cfg.step_size(), on_step=on_step,
                                clamp_every_step=cfg.clamp_steps)
        return out
