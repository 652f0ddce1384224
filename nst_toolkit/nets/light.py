"""The light AdaIN model (a small encoder and decoder distilled from the VGG-19 model) and the one-style
network grown from it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..losses import adain, alpha_mix, mean_std
from .layers import ConvLayer


class LightEncoder(nn.Module):
    """A small VGG-shaped encoder for AdaIN: widths (c1, c2, c3, c4) instead of VGG-19's (64, 128, 256, 512),
    two convolutions per block instead of up to four, down to 1/8 of the input like relu4_1.

    Trained by distillation (``engines.adain.train.LightAdaINTask``): its features, mapped by a 1×1
    ``embed`` convolution, approximate VGG-19's relu4_1 (Wang et al. 2020, "Collaborative
    Distillation", linear embedding loss). ``embed`` is used in training only.
    """

    MULTIPLE = 8

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 64, 256), vgg_channels: int | None = 512):
        super().__init__()
        c1, c2, c3, c4 = widths
        self.widths = tuple(widths)
        self.net = nn.Sequential(
            ConvLayer(3, c1, 3), nn.ReLU(), ConvLayer(c1, c1, 3), nn.ReLU(), nn.MaxPool2d(2),
            ConvLayer(c1, c2, 3), nn.ReLU(), ConvLayer(c2, c2, 3), nn.ReLU(), nn.MaxPool2d(2),
            ConvLayer(c2, c3, 3), nn.ReLU(), ConvLayer(c3, c3, 3), nn.ReLU(), nn.MaxPool2d(2),
            ConvLayer(c3, c4, 3), nn.ReLU(),
        )
        if vgg_channels:  # None: no embedding (a network that is never distilled against VGG again)
            self.embed = nn.Conv2d(c4, vgg_channels, 1)

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image - 0.5)

    def levels(self, image: Tensor) -> list[Tensor]:
        """The features at the end of each block, before its pooling: full, 1/2, 1/4 and 1/8 resolution
        (the last is :meth:`forward`'s)."""
        out, h = [], image - 0.5
        for m in self.net:
            if isinstance(m, nn.MaxPool2d):
                out.append(h)
            h = m(h)
        return out + [h]


class LightDecoder(nn.Module):
    """The mirror of :class:`LightEncoder`: reflection-padded convolutions and nearest upsampling.

    Optional skip branches enter after each upsampling (at 1/4, 1/2 and full resolution), each through a
    1×1 convolution that is zero at first (a trained model can grow them and start where it was):

    * ``skips``: the content's own encoder levels, weighted by 1 − alpha — alpha 0 reconstructs the photo
      with its detail, alpha 1 never sees them;
    * ``style_skips``: the encoder levels after the transfer at each level (AdaIN's statistics per block,
      mixed by alpha like relu4_1), weighted by alpha — the painting's finer statistics and the photo's
      layout, trained by the stylisation losses only.

    ``blocks`` residual blocks (convolution, ReLU, convolution; the last one zero at first, so a grown model
    starts where it was) follow the first convolution at 1/8 resolution: depth where it is cheapest, for the
    painting's larger-scale texture.

    ``decoder_widths``: the output channels of the decoder's six convolutions before the last (1/8, then two
    at each of 1/4, 1/2 and full resolution); None mirrors the encoder, :func:`mirrored_decoder_widths`.
    The skip branches enter where the 1/8, 1/4 and 1/2 levels' last outputs are upsampled.
    """

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 64, 256), skips: bool = False,
                 style_skips: bool = False, blocks: int = 0, decoder_widths: Sequence[int] | None = None):
        super().__init__()
        c1, c2, c3, c4 = widths
        d8, d4a, d4, d2a, d2, d1 = decoder_widths or mirrored_decoder_widths(widths)
        up = lambda: nn.Upsample(scale_factor=2.0, mode="nearest")
        self.net = nn.Sequential(
            ConvLayer(c4, d8, 3), nn.ReLU(), up(),
            ConvLayer(d8, d4a, 3), nn.ReLU(), ConvLayer(d4a, d4, 3), nn.ReLU(), up(),
            ConvLayer(d4, d2a, 3), nn.ReLU(), ConvLayer(d2a, d2, 3), nn.ReLU(), up(),
            ConvLayer(d2, d1, 3), nn.ReLU(), ConvLayer(d1, 3, 3),
        )
        # deepest first, as the decoder meets them: encoder channels in, the decoder's there out
        self.skips = _zero_convs((c3, c2, c1), (d8, d4, d2)) if skips else None
        self.style_skips = _zero_convs((c3, c2, c1), (d8, d4, d2)) if style_skips else None
        self.blocks = nn.ModuleList([_GrownResidual(d8) for _ in range(blocks)]) if blocks else None

    def forward(self, features: Tensor, content: Sequence[Tensor] | None = None,
                transferred: Sequence[Tensor] | None = None, alpha: Tensor | float = 1.0) -> Tensor:
        """Decode relu4_1-like ``features``. ``content`` and ``transferred`` are encoder levels
        (:meth:`LightEncoder.levels`, full resolution first) for the skip branches; None leaves a branch out."""
        branches = []
        if self.skips is not None and content is not None:
            branches.append((self.skips, content, 1 - alpha))
        if self.style_skips is not None and transferred is not None:
            branches.append((self.style_skips, transferred, alpha))
        if not branches and self.blocks is None:
            return self.net(features) + 0.5
        h, level = features, 3
        for i, m in enumerate(self.net):
            h = m(h)
            if i == 1 and self.blocks is not None:  # after the first convolution and its ReLU
                for block in self.blocks:
                    h = block(h)
            if isinstance(m, nn.Upsample):
                level -= 1
                for convs, feats, gate in branches:
                    h = h + gate * convs[2 - level](feats[level])
        return h + 0.5


class _GrownResidual(nn.Module):
    """x + conv(relu(conv(x))) with the last convolution zero: an identity until it trains."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(ch, ch, 3), nn.ReLU(), ConvLayer(ch, ch, 3))
        nn.init.zeros_(self.body[2][1].weight)
        nn.init.zeros_(self.body[2][1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def light_fields(spec: dict) -> dict:
    """The optional fields of a LightAdaIN or AdaINStyleNet architecture (a validated checkpoint's) as keyword
    arguments of their constructors; the reconstruction ``skips`` only LightAdaIN has."""
    return {"style_skips": spec.get("style_skips") is True, "blocks": int(spec.get("blocks", 0)),
            "decoder_widths": spec.get("decoder_widths")}


def mirrored_decoder_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """The light decoder's default widths: the encoder's, mirrored (see :class:`LightDecoder`)."""
    c1, c2, c3, _ = widths
    return (c3, c3, c2, c2, c1, c1)


def _zero_convs(ins: Sequence[int], outs: Sequence[int]) -> nn.ModuleList:
    convs = nn.ModuleList([nn.Conv2d(i, o, 1) for i, o in zip(ins, outs)])
    for conv in convs:
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
    return convs


class LightAdaIN(nn.Module):
    """Encoder and decoder of the light AdaIN model, saved and loaded together (``embed=False``: without
    the encoder's training-only embedding; ``skips`` / ``style_skips``: :class:`LightDecoder`'s branches;
    ``blocks``: its residual blocks at 1/8 resolution; ``decoder_widths``: its channels, None to mirror the
    encoder)."""

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 64, 256), embed: bool = True, skips: bool = False,
                 style_skips: bool = False, blocks: int = 0, decoder_widths: Sequence[int] | None = None):
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        self.decoder_widths = tuple(int(w) for w in decoder_widths or mirrored_decoder_widths(self.widths))
        self.encoder = LightEncoder(self.widths, 512 if embed else None)
        self.decoder = LightDecoder(self.widths, skips, style_skips, blocks, self.decoder_widths)

    @classmethod
    def from_architecture(cls, spec: dict) -> "LightAdaIN":
        """The net a (validated) ``architecture`` entry describes: the inverse of :meth:`architecture`."""
        return cls(tuple(int(w) for w in spec["widths"]), skips=spec.get("skips") is True, **light_fields(spec))

    @property
    def has_skips(self) -> bool:
        return self.decoder.skips is not None

    @property
    def has_style_skips(self) -> bool:
        return self.decoder.style_skips is not None

    def architecture(self) -> dict:
        """Files from before the skip branches name the widths only: the branches appear when present."""
        spec = {"arch": "LightAdaIN", "widths": list(self.widths)}
        if self.has_skips:
            spec["skips"] = True
        if self.has_style_skips:
            spec["style_skips"] = True
        if self.blocks:
            spec["blocks"] = self.blocks
        if self.decoder_widths != mirrored_decoder_widths(self.widths):
            spec["decoder_widths"] = list(self.decoder_widths)
        return spec

    @property
    def blocks(self) -> int:
        return len(self.decoder.blocks) if self.decoder.blocks is not None else 0

    def style_stats(self, style: Tensor) -> list[tuple[Tensor, Tensor]]:
        """A style's (mean, std) at the encoder levels the model transfers: every level (full resolution
        first) with style skips, else the deepest only."""
        return [mean_std(f) for f in (self.encoder.levels(style) if self.has_style_skips else [self.encoder(style)])]

    def stylize(self, content: Tensor, style: Tensor, alpha: Tensor | float = 1.0,
                levels: list[Tensor] | None = None) -> Tensor:
        """The whole pass for one style (unclamped): :meth:`transfer` with ``style``'s statistics."""
        return self.transfer(content, self.style_stats(style), alpha, levels)

    def transfer(self, content: Tensor, stats: Sequence[tuple[Tensor, Tensor]], alpha: Tensor | float = 1.0,
                 levels: list[Tensor] | None = None) -> Tensor:
        """AdaIN to ``stats`` (:meth:`style_stats`) at the deepest level — at every level with style skips —
        mixed with the content by ``alpha``, decoded through the branches the model has (unclamped).
        ``levels``: the content's :meth:`LightEncoder.levels`, when already computed."""
        levels = self.encoder.levels(content) if levels is None else levels
        moved = [alpha_mix(adain(c, m, s), c, alpha)
                 for c, (m, s) in zip(levels[len(levels) - len(stats):], stats)]
        full_style = isinstance(alpha, float) and alpha == 1.0  # the content skips' gate, 1 - alpha, is 0: leave them out
        content = levels if self.has_skips and not full_style else None
        return self.decoder(moved[-1], content, moved if self.has_style_skips else None, alpha)

    def forward(self, content: Tensor, style: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Training pass: (stylised at alpha 1, reconstructed content at alpha 0, content features)."""
        levels = self.encoder.levels(content)
        fc = levels[-1]
        rec = self.decoder(fc, content=levels, alpha=0.0) if self.has_skips else self.decoder(fc)
        return self.stylize(content, style, 1.0, levels), rec, fc


class AdaINStyleNet(nn.Module):
    """A feed-forward network for one style, grown from the light AdaIN model: encoder → AdaIN with the
    style's statistics held as parameters → decoder (``nst train-fast --base light``).

    It starts as exactly what ``nst adain --model light`` does with that painting (alpha 1: with the
    style skip branches and the statistics of every encoder level when the light model has them);
    training the whole of it on the painting's perceptual loss then specialises encoder, statistics and
    decoder to the one style. The content's own statistics are those of the whole input, as in AdaIN.
    """

    MULTIPLE = LightEncoder.MULTIPLE

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 64, 256), style_skips: bool = False,
                 blocks: int = 0, decoder_widths: Sequence[int] | None = None):
        super().__init__()
        self.adain = LightAdaIN(widths, embed=False, style_skips=style_skips, blocks=blocks,
                                decoder_widths=decoder_widths)
        self.widths = self.adain.widths
        self.style_mean = nn.Parameter(torch.zeros(1, self.widths[3], 1, 1))
        self.style_std = nn.Parameter(torch.ones(1, self.widths[3], 1, 1))
        if style_skips:  # the finer levels' statistics, full resolution first
            self.level_mean = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1)) for c in self.widths[:3]])
            self.level_std = nn.ParameterList([nn.Parameter(torch.ones(1, c, 1, 1)) for c in self.widths[:3]])

    @classmethod
    def from_architecture(cls, spec: dict) -> "AdaINStyleNet":
        """The net a (validated) ``architecture`` entry describes: the inverse of :meth:`architecture`."""
        return cls(tuple(int(w) for w in spec["widths"]), **light_fields(spec))

    @classmethod
    def from_light(cls, light: LightAdaIN, style: Tensor) -> "AdaINStyleNet":
        """The light model's encoder and decoder with ``style``'s statistics (an image N×3×H×W in [0, 1])."""
        net = cls(light.widths, light.has_style_skips, light.blocks, light.decoder_widths)
        net.adain.load_state_dict({k: v for k, v in light.state_dict().items()  # alpha 1: no reconstruction skips
                                   if not k.startswith(("encoder.embed.", "decoder.skips."))})
        with torch.no_grad():
            for (mean, std), (m, s) in zip(light.style_stats(style), net._pairs()):
                m.copy_(mean.mean(0, keepdim=True))
                s.copy_(std.mean(0, keepdim=True))
        return net

    def _pairs(self) -> list[tuple[Tensor, Tensor]]:
        """The (mean, std) parameters of the levels the model transfers, as :meth:`LightAdaIN.style_stats`."""
        finer = list(zip(self.level_mean, self.level_std)) if self.adain.has_style_skips else []
        return finer + [(self.style_mean, self.style_std)]

    def style_code(self) -> tuple[Tensor, Tensor] | list[tuple[Tensor, Tensor]]:
        """The statistics as the adain engine takes a style's (``AdaINEngine.style_code``)."""
        pairs = self._pairs()
        return pairs if self.adain.has_style_skips else pairs[-1]

    def architecture(self) -> dict:
        return {**self.adain.architecture(), "arch": "AdaINStyleNet"}  # its light model has no reconstruction skips

    def forward(self, x: Tensor) -> Tensor:
        return self.adain.transfer(x, self._pairs(), 1.0)
