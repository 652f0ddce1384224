"""Applying a trained fast model: a TransformerNet (whole or in tiles with shared statistics), or a one-style
AdaIN network through the adain engine's pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from ... import colour
from ...checkpoints import load_model, model_dirs, read_metadata, resolve_model_file
from ...images import resize_longest
from ...memory import choose_tile
from ...nets import AdaINStyleNet, StyledAdaINDecoder, TransformerNet
from ...optimize import Step
from ...styles import StyleSet, StylesLike, check_image_tensor
from ...tiling import check_finite_output, instance_norm_stats, pad_to_multiple, run_padded, run_tiled, with_fixed_norms
from ...vgg import VGGFeatures
from ..adain import ENCODER_LAYER
from ..base import EngineBase
from . import BYTES_PER_PIXEL_PER_WIDTH, ENGINE, STATS_PIXELS, TILE_HALO, FastConfig


def resolve_model(name_or_path: str) -> Path:
    """A shipped or local fast model name, or a file path → the file."""
    return resolve_model_file(name_or_path, model_dirs(ENGINE), "shipped fast model")


def load_transformer(path: str | Path) -> tuple[TransformerNet, dict[str, Any]]:
    return load_model(path, ENGINE, "TransformerNet", lambda a: TransformerNet(int(a.get("width", 32)), int(a.get("n_res", 5))))


def _architecture_name(path: str | Path) -> Any:
    spec = read_metadata(path).get("architecture")
    return spec.get("arch") if isinstance(spec, dict) else None


def load_fast_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """A trained fast model: a TransformerNet, a StyledAdaINDecoder (``nst train-fast``'s default) or an
    AdaINStyleNet (``--base light``)."""
    arch = _architecture_name(path)
    if arch == "StyledAdaINDecoder":
        return load_model(path, ENGINE, arch, lambda a: StyledAdaINDecoder(float(a["feature_scale"])))
    if arch == "AdaINStyleNet":
        return load_model(path, ENGINE, arch, AdaINStyleNet.from_architecture)
    return load_transformer(path)


def stylize_padded(net: nn.Module, image: Tensor) -> Tensor:
    """Run ``net`` on any size (padded to the multiple its strides need, cropped back), clamped to [0, 1]."""
    return run_padded(net, image, getattr(net, "MULTIPLE", TransformerNet.MULTIPLE))


class FastEngine(EngineBase):
    """Applies a trained TransformerNet; the style is in the network, so style images are not used."""

    name = ENGINE

    def __init__(self, config: FastConfig = FastConfig(), net: TransformerNet | None = None):
        config.validate()
        self.config = config
        if net is None:
            net, self.meta = load_fast_model(resolve_model(config.model))
        else:
            self.meta = {}
        self.net = net.eval()
        self.adain = None
        if isinstance(net, (AdaINStyleNet, StyledAdaINDecoder)):
            # AdaIN with the style's statistics built in: the adain engine's pass, padding and tiles
            from ..adain import AdaINConfig
            from ..adain.engine import AdaINEngine

            light = isinstance(net, AdaINStyleNet)
            vgg = None if light else VGGFeatures([ENCODER_LAYER], self.meta.get("encoder", {}).get("weights", "bundled"))
            self.adain = AdaINEngine(AdaINConfig(model=config.model, tile=config.tile),
                                     decoder=net.adain if light else net.decoder, vgg=vgg)

    @torch.no_grad()
    def stylize(self, content: Tensor, styles: StylesLike = None, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        check_image_tensor(content, "content")
        self.net.to(content.device)
        out = colour.preserve(self.config.preserve_color, content, StyleSet.none(), lambda c, _: self._forward(c))
        return check_finite_output(out, f"fast model {self.config.model}")

    def _forward(self, x: Tensor) -> Tensor:
        if self.adain is not None:
            code = self.net.style_code() if isinstance(self.net, AdaINStyleNet) else (self.net.style_mean, self.net.style_std)
            return self.adain.stylize_with_stats(x, [code])
        pixels = x.shape[-2] * x.shape[-1]
        tile = choose_tile(self.config.tile, pixels, BYTES_PER_PIXEL_PER_WIDTH * self.net.width, TransformerNet.MULTIPLE,
                           TILE_HALO)
        if tile is None or x.shape[0] != 1:
            return stylize_padded(self.net, x)
        # Instance-norm statistics of the whole image (of a downscaled copy above STATS_PIXELS), shared by all tiles.
        small = x if pixels <= STATS_PIXELS else resize_longest(x, int(max(x.shape[-2:]) * (STATS_PIXELS / pixels) ** 0.5))
        fixed = with_fixed_norms(self.net, instance_norm_stats(self.net, pad_to_multiple(small, TransformerNet.MULTIPLE)))
        return run_tiled(lambda t: stylize_padded(fixed, t), x, tile=tile, halo=TILE_HALO, multiple=TransformerNet.MULTIPLE)
