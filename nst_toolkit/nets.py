"""Trainable networks, architecture only: Johnson's TransformerNet, the AdaIN decoder, the light AdaIN model
and the one-style networks grown from the two AdaIN models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .losses import adain, mean_std


class RowSplitConv2d(nn.Conv2d):
    """A stride-1 convolution with few output channels and a large kernel, computed fast at inference.

    oneDNN runs a k×k convolution with 3 output channels at a fraction of its usual speed (the
    GEMM's N is 3). Outside training this computes the same sum as ``cout·k`` convolutions of
    kernel 1×k, one per kernel row, then adds the rows shifted into place: 2.3× faster for the
    Johnson net's final 9×9 layer at 512² on 2 cores (125 → 55 ms at width 12). Same parameters and
    state-dict keys as ``nn.Conv2d``; training uses the plain convolution.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.stride != (1, 1) or self.padding != (0, 0) or self.dilation != (1, 1) or self.groups != 1:
            raise ValueError("RowSplitConv2d supports stride 1, no padding, no dilation, one group")
        self.row_split = True  # False: always the plain convolution (the exporters set this)

    def forward(self, x: Tensor) -> Tensor:
        if self.training or not self.row_split:
            return self._conv_forward(x, self.weight, self.bias)
        cout, cin, kh, kw = self.weight.shape
        rows = self.weight.permute(0, 2, 1, 3).reshape(cout * kh, cin, 1, kw)  # (cout, kernel row) pairs
        z = F.conv2d(x, rows)  # N × cout·kh × H × W'
        h = z.shape[2] - kh + 1
        z = z.reshape(z.shape[0], cout, kh, z.shape[2], z.shape[3])
        out = z[:, :, 0, :h].clone()
        for r in range(1, kh):
            out += z[:, :, r, r:r + h]
        bias = self.bias
        if bias is not None:
            out = out + bias.view(1, -1, 1, 1)
        return out


class ConvLayer(nn.Sequential):
    """Reflection padding + convolution (no zero borders, so no dark frames)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        conv = RowSplitConv2d if (cout <= 4 and kernel >= 5 and stride == 1) else nn.Conv2d
        super().__init__(nn.ReflectionPad2d(kernel // 2), conv(cin, cout, kernel, stride))


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(),
            ConvLayer(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Module):
    """Nearest-neighbour ×2 upsampling then a convolution: no checkerboard artefacts (Odena et al. 2016)."""

    def __init__(self, cin: int, cout: int, kernel: int):
        super().__init__()
        self.conv = ConvLayer(cin, cout, kernel)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformerNet(nn.Module):
    """Johnson et al. 2016 image transformation network with instance norm (Ulyanov et al. 2016).

    ``width`` is the channel count of the first layer (32 in the paper); the others scale with it.
    ``n_res`` residual blocks (5 in the paper). Input and output are [0, 1] RGB; sides must be
    multiples of 4 (see :func:`nst_toolkit.engines.fast.stylize_padded` for any size).
    """

    MULTIPLE = 4

    def __init__(self, width: int = 32, n_res: int = 5):
        super().__init__()
        w1, w2, w3 = width, width * 2, width * 4
        self.width, self.n_res = width, n_res
        self.net = nn.Sequential(
            ConvLayer(3, w1, 9), nn.InstanceNorm2d(w1, affine=True), nn.ReLU(),
            ConvLayer(w1, w2, 3, stride=2), nn.InstanceNorm2d(w2, affine=True), nn.ReLU(),
            ConvLayer(w2, w3, 3, stride=2), nn.InstanceNorm2d(w3, affine=True), nn.ReLU(),
            *[ResidualBlock(w3) for _ in range(n_res)],
            UpsampleConv(w3, w2, 3), nn.InstanceNorm2d(w2, affine=True), nn.ReLU(),
            UpsampleConv(w2, w1, 3), nn.InstanceNorm2d(w1, affine=True), nn.ReLU(),
            ConvLayer(w1, 3, 9),
        )

    def architecture(self) -> dict:
        return {"arch": "TransformerNet", "width": self.width, "n_res": self.n_res}

    def forward(self, x: Tensor) -> Tensor:
        # Output is unbounded during training (the loss sees it as is); callers clamp to [0, 1].
        return self.net(x)


class AdaINDecoder(nn.Module):
    """Mirror of VGG-19 up to relu4_1 (Huang & Belongie 2017): reflection-padded convs, nearest upsampling.

    Its input is relu4_1 features in the encoder's own units times ``feature_scale`` (the bundled
    Caffe-convention VGG gives activations in the hundreds; the scale brings them near 1).
    """

    def __init__(self, feature_scale: float = 0.01):
        super().__init__()
        self.feature_scale = feature_scale

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [ConvLayer(cin, cout, 3), nn.ReLU()]

        self.net = nn.Sequential(
            *block(512, 256), nn.Upsample(scale_factor=2.0, mode="nearest"),
            *block(256, 256), *block(256, 256), *block(256, 256), *block(256, 128),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            *block(128, 128), *block(128, 64),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            *block(64, 64), ConvLayer(64, 3, 3),
        )

    def architecture(self) -> dict:
        return {"arch": "AdaINDecoder", "feature_scale": self.feature_scale}

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features * self.feature_scale)


def init_seeded(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise ``model``'s conv weights from a private generator (reproducible, no global RNG)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                bound = 1.0 / fan_in**0.5
                m.weight.copy_(torch.empty_like(m.weight).uniform_(-bound, bound, generator=g))
                if m.bias is not None:
                    m.bias.copy_(torch.empty_like(m.bias).uniform_(-bound, bound, generator=g))
    return model


def _stages(net: TransformerNet) -> tuple[list[tuple[nn.Conv2d, nn.InstanceNorm2d | None]], list[ResidualBlock], int]:
    """The network read by structure, not by index: (conv, norm) stages in order, the residual
    blocks, and how many stages come before the blocks (the last of those writes the residual stream)."""
    stages: list[tuple[nn.Conv2d, nn.InstanceNorm2d | None]] = []
    blocks: list[ResidualBlock] = []
    before = None
    for m in net.net:
        if isinstance(m, ResidualBlock):
            blocks.append(m)
            before = len(stages) if before is None else before
        elif isinstance(m, (ConvLayer, UpsampleConv)):
            stages.append((_conv(m), None))
        elif isinstance(m, nn.InstanceNorm2d):
            stages[-1] = (stages[-1][0], m)
    return stages, blocks, len(stages) if before is None else before


def _conv(m: nn.Module) -> nn.Conv2d:
    if isinstance(m, UpsampleConv):
        m = m.conv
    return next(c for c in m.modules() if isinstance(c, nn.Conv2d))


def _block_parts(block: ResidualBlock) -> tuple[nn.Conv2d, nn.InstanceNorm2d, nn.Conv2d, nn.InstanceNorm2d]:
    convs = [_conv(m) for m in block.body if isinstance(m, ConvLayer)]
    norms = [m for m in block.body if isinstance(m, nn.InstanceNorm2d)]
    return convs[0], norms[0], convs[1], norms[1]


def slim_transformer(net: TransformerNet, width: int) -> TransformerNet:
    """A narrower TransformerNet made from ``net`` by keeping its most important channels.

    The starting point for distilling a trained network into a faster one (Li et al. 2017, "Pruning
    Filters for Efficient ConvNets", with an instance-norm criterion): after instance norm a
    channel's output is ``gamma·z + beta`` with z of unit variance, so a channel's importance is
    ``(|gamma| + |beta|)`` times the norm of the weights that read it in the next layer. The
    residual stream's channels are chosen once for all blocks (they are added together); each
    block's inner channels are chosen separately. The result needs fine-tuning (distillation).
    """
    if not 0 < width <= net.width:
        raise ValueError(f"slim width must be in 1..{net.width}, not {width}")
    small = TransformerNet(width, net.n_res)
    big_stages, big_blocks, n_pre = _stages(net)
    small_stages, small_blocks, _ = _stages(small)

    def score(norm: nn.InstanceNorm2d, *readers: nn.Conv2d) -> Tensor:
        use = sum(r.weight.detach().square().sum(dim=(0, 2, 3)) for r in readers).sqrt()
        return (norm.weight.detach().abs() + norm.bias.detach().abs()) * use

    def keep(s: Tensor, k: int) -> Tensor:
        return s.topk(k).indices.sort().values

    # Channels kept at each stage's output: a stage is read by the next stage's conv, except the
    # stream (the last stage before the blocks, and every block's output), read by every block and
    # by the first stage after them. The last stage (RGB out) keeps all three channels.
    stream_stage = n_pre - 1
    block_parts = [_block_parts(b) for b in big_blocks]
    kept: list[Tensor] = []
    for i, (conv, norm) in enumerate(big_stages):
        k = small_stages[i][0].out_channels
        if norm is None:
            kept.append(torch.arange(conv.out_channels))
        elif i == stream_stage:
            after = big_stages[n_pre][0]
            stream = score(norm, *[p[0] for p in block_parts], after)
            for p in block_parts:  # a block's output norm writes into the stream too
                stream = stream + score(p[3], after)
            kept.append(keep(stream, k))
        else:
            kept.append(keep(score(norm, big_stages[i + 1][0]), k))
    inner = [keep(score(p[1], p[2]), _block_parts(sb)[1].num_features) for p, sb in zip(block_parts, small_blocks)]

    def copy_conv(dst: nn.Conv2d, src: nn.Conv2d, out_idx: Tensor, in_idx: Tensor) -> None:
        dst.weight.copy_(src.weight[out_idx][:, in_idx])
        dst.bias.copy_(src.bias[out_idx])

    def copy_norm(dst: nn.InstanceNorm2d, src: nn.InstanceNorm2d, idx: Tensor) -> None:
        dst.weight.copy_(src.weight[idx])
        dst.bias.copy_(src.bias[idx])

    with torch.no_grad():
        reads = torch.arange(3)  # the RGB input
        for i, ((sc, sn), (bc, bn)) in enumerate(zip(small_stages, big_stages)):
            copy_conv(sc, bc, kept[i], reads)
            if bn is not None:
                copy_norm(sn, bn, kept[i])
            reads = kept[i]
            if i == stream_stage:
                for sb, parts, keep_inner in zip(small_blocks, block_parts, inner):
                    s0, sn0, s1, sn1 = _block_parts(sb)
                    copy_conv(s0, parts[0], keep_inner, reads)
                    copy_norm(sn0, parts[1], keep_inner)
                    copy_conv(s1, parts[2], reads, keep_inner)
                    copy_norm(sn1, parts[3], reads)
    return small


class LightEncoder(nn.Module):
    """A small VGG-shaped encoder for AdaIN: widths (c1, c2, c3, c4) instead of VGG-19's (64, 128, 256, 512),
    two convolutions per block instead of up to four, down to 1/8 of the input like relu4_1.

    Trained by distillation (``engines.adain_engine.LightAdaINTask``): its features, mapped by a 1×1
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
        moved = [alpha * adain(c, m, s) + (1 - alpha) * c  # AdaIN paper, eq. 10
                 for c, (m, s) in zip(levels[len(levels) - len(stats):], stats)]
        return self.decoder(moved[-1], levels if self.has_skips else None, moved if self.has_style_skips else None, alpha)

    def forward(self, content: Tensor, style: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Training pass: (stylised at alpha 1, reconstructed content at alpha 0, content features)."""
        levels = self.encoder.levels(content)
        fc = levels[-1]
        rec = self.decoder(fc, content=levels, alpha=0.0) if self.has_skips else self.decoder(fc)
        return self.stylize(content, style, 1.0, levels), rec, fc


class StyledAdaINDecoder(nn.Module):
    """AdaIN's VGG-19 decoder with one painting's relu4_1 statistics built in: a one-style network whose
    encoder is the bundled VGG-19 (kept out of the file) — ``nst train-fast``'s default (issue #11).

    Its input is the photo's relu4_1 features; it starts as exactly what ``nst adain`` does with the
    painting, and training the decoder on the painting's loss specialises it to the one style.
    """

    MULTIPLE = 8

    def __init__(self, feature_scale: float = 0.01, channels: int = 512):
        super().__init__()
        self.decoder = AdaINDecoder(feature_scale)
        self.register_buffer("style_mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("style_std", torch.ones(1, channels, 1, 1))

    @classmethod
    def from_decoder(cls, decoder: AdaINDecoder, stats: tuple[Tensor, Tensor]) -> "StyledAdaINDecoder":
        """``decoder``'s weights with the painting's relu4_1 (mean, std), each 1×C×1×1."""
        net = cls(decoder.feature_scale, stats[0].shape[1])
        net.decoder.load_state_dict(decoder.state_dict())
        net.style_mean.copy_(stats[0].detach())
        net.style_std.copy_(stats[1].detach())
        return net

    def architecture(self) -> dict:
        return {"arch": "StyledAdaINDecoder", "feature_scale": self.decoder.feature_scale}

    def forward(self, features: Tensor) -> Tensor:
        return self.decoder(adain(features, self.style_mean, self.style_std))


class AdaINStyleNet(nn.Module):
    """A feed-forward network for one style, grown from the light AdaIN model: encoder → AdaIN with the
    style's statistics held as parameters → decoder (``nst train-fast --base light``, issue #11).

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
