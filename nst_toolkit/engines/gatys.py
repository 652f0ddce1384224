"""Gatys, Ecker & Bethge 2016: optimise the pixels for content + Gram style + total variation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import Tensor

from .. import losses
from ..optimize import Step, optimize_image
from ..vgg import VGGFeatures, validate_layers
from .base import check_image_tensor, target_scale, check_non_negative, check_positive, init_image, parse_weights, scale_style


@dataclass(frozen=True)
class GatysConfig:
    """Every default of the engine; the CLI reads its option defaults from here."""

    size: int = 512  # longest side of the output, px (the CLI resizes the content to it)
    content_layers: tuple[str, ...] = ("relu4_2",)  # paper, sec. 3 ("conv4_2", taken after its ReLU)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # paper, sec. 3
    style_layer_weights: tuple[float, ...] | None = None  # None: 1/5 each (paper, sec. 3)
    content_weight: float = 1.0
    # Not the paper's α/β = 1e-3: each layer's loss is relative to its target (normalize_layers), so
    # the numbers differ; 5 was chosen by eye on held-out photos at 256 and 512 px (3 is milder, 10 wilder).
    style_weight: float = 5.0
    tv_weight: float = 5.0  # not in the 2016 paper; a little smoothing removes high-frequency noise
    init: str = "content"  # paper starts from noise; content converges in far fewer iterations
    optimizer: str = "lbfgs"  # paper, sec. 2 (L-BFGS)
    # Paper: ~500+ from noise. From the content, 60 L-BFGS steps already look finished and fit the
    # 5-minute budget at 512 px on a 2-core CPU (see README, "Benchmarks").
    iterations: int = 60
    lr: float | None = None  # None: 1.0 for L-BFGS (plain L-BFGS steps), 0.02 for Adam on [0, 1] pixels
    style_scale: float = 1.0  # style image's longest side relative to the output's
    pooling: str = "max"  # paper prefers average pooling for pictures; max matches the common ports
    weights: str = "bundled"  # VGG-19 weights: bundled (original Caffe), torchvision, or a file
    # Departure from the paper: divide each layer's term by the mean square of its target (Gram matrix
    # or content features), so every layer counts alike and the weights do not depend on the VGG
    # input convention. Raw Caffe-scale Grams differ by 1e3 between layers: relu4_1 alone would rule.
    normalize_layers: bool = True
    seed: int = 0  # noise init only; everything else is deterministic on the CPU

    def validate(self) -> None:
        validate_layers(self.content_layers)
        validate_layers(self.style_layers)
        check_positive(size=self.size, iterations=self.iterations, lr=self.step_size(), style_scale=self.style_scale)
        check_non_negative(content_weight=self.content_weight, style_weight=self.style_weight, tv_weight=self.tv_weight)
        parse_weights(self.style_layer_weights, len(self.style_layers), "style layer weights")

    def step_size(self) -> float:
        if self.lr is not None:
            return self.lr
        return 1.0 if self.optimizer == "lbfgs" else 0.02

    def vgg_layers(self) -> list[str]:
        return list(dict.fromkeys(self.content_layers + self.style_layers))

    def to_dict(self) -> dict:
        return asdict(self)


class GatysEngine:
    """Pixel optimisation as in Gatys et al. 2016. Holds only its config and a frozen VGG."""

    name = "gatys"

    def __init__(self, config: GatysConfig = GatysConfig(), vgg: VGGFeatures | None = None):
        config.validate()
        self.config = config
        self.vgg = vgg if vgg is not None else VGGFeatures(config.vgg_layers(), config.weights, config.pooling)

    def loss_fn(self, content: Tensor, style: Tensor) -> Callable[[Tensor], dict[str, Tensor]]:
        """Build the weighted loss terms for one content/style pair; targets are computed once."""
        cfg = self.config
        layer_w = dict(zip(cfg.style_layers, parse_weights(cfg.style_layer_weights, len(cfg.style_layers), "style layer weights")))
        with torch.no_grad():
            content_t = {k: v.detach() for k, v in self.vgg(content, cfg.content_layers).items()}
            style_t = {k: losses.gram_matrix(v) for k, v in self.vgg(style, cfg.style_layers).items()}
        if cfg.normalize_layers:
            layer_w = {k: w / target_scale(style_t[k]) for k, w in layer_w.items()}
        content_w = {k: 1.0 / len(cfg.content_layers) for k in cfg.content_layers}
        if cfg.normalize_layers:
            content_w = {k: w / target_scale(content_t[k]) for k, w in content_w.items()}
        layers = cfg.vgg_layers()

        def fn(x: Tensor) -> dict[str, Tensor]:
            feats = self.vgg(x, layers)
            c = sum(w * losses.content_loss(feats[k], content_t[k]) for k, w in content_w.items())
            return {
                "content": cfg.content_weight * c,
                "style": cfg.style_weight * losses.style_loss(feats, style_t, layer_w),
                "tv": cfg.tv_weight * losses.tv_loss(x),
            }

        return fn

    def stylize(self, content: Tensor, style: Tensor, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        check_image_tensor(content, "content")
        check_image_tensor(style, "style")
        cfg = self.config
        self.vgg.to(content.device)
        style = scale_style(style.to(content.device), content, cfg.style_scale)
        fn = self.loss_fn(content, style)
        x0 = init_image(cfg.init, content, style, cfg.seed)
        out, _ = optimize_image(x0, fn, iterations=cfg.iterations, optimizer=cfg.optimizer, lr=cfg.step_size(), on_step=on_step)
        return out
