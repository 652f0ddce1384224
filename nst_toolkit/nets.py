"""Trainable networks, architecture only: Johnson's TransformerNet and the AdaIN decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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
    big_mods, small_mods = list(net.net), list(small.net)
    res = [i for i, m in enumerate(big_mods) if isinstance(m, ResidualBlock)]

    def conv(m: nn.Module) -> nn.Conv2d:
        if isinstance(m, UpsampleConv):
            m = m.conv
        return m[1] if isinstance(m, ConvLayer) else m

    def score(norm: nn.InstanceNorm2d, *readers: nn.Conv2d) -> Tensor:
        use = sum(r.weight.detach().square().sum(dim=(0, 2, 3)) for r in readers).sqrt()
        return (norm.weight.detach().abs() + norm.bias.detach().abs()) * use

    def keep(s: Tensor, k: int) -> Tensor:
        return s.topk(k).indices.sort().values

    # Where each channel group is produced (conv, norm) and read (next convs), in module indices.
    first, down1, down2 = 0, 3, 6
    up1, up2, last = res[-1] + 1, res[-1] + 4, len(big_mods) - 1
    w1, w2, w3 = width, 2 * width, 4 * width
    k_a = keep(score(big_mods[1], conv(big_mods[down1])), w1)
    k_b = keep(score(big_mods[4], conv(big_mods[down2])), w2)
    stream = score(big_mods[7], *[conv(big_mods[i].body[0]) for i in res], conv(big_mods[up1]))
    for i in res:  # a block's output norm writes into the stream too
        stream = stream + score(big_mods[i].body[4], conv(big_mods[up1]))
    k_s = keep(stream, w3)
    k_inner = [keep(score(big_mods[i].body[1], conv(big_mods[i].body[3])), w3) for i in res]
    k_u1 = keep(score(big_mods[up1 + 1], conv(big_mods[up2])), w2)
    k_u2 = keep(score(big_mods[up2 + 1], conv(big_mods[last])), w1)
    everything = torch.arange(3)

    def copy_conv(dst: nn.Module, src: nn.Module, out_idx: Tensor, in_idx: Tensor) -> None:
        d, s = conv(dst), conv(src)
        d.weight.copy_(s.weight[out_idx][:, in_idx])
        d.bias.copy_(s.bias[out_idx])

    def copy_norm(dst: nn.InstanceNorm2d, src: nn.InstanceNorm2d, idx: Tensor) -> None:
        dst.weight.copy_(src.weight[idx])
        dst.bias.copy_(src.bias[idx])

    with torch.no_grad():
        copy_conv(small_mods[first], big_mods[first], k_a, everything)
        copy_norm(small_mods[1], big_mods[1], k_a)
        copy_conv(small_mods[down1], big_mods[down1], k_b, k_a)
        copy_norm(small_mods[4], big_mods[4], k_b)
        copy_conv(small_mods[down2], big_mods[down2], k_s, k_b)
        copy_norm(small_mods[7], big_mods[7], k_s)
        for i, inner in zip(res, k_inner):
            sb, bb = small_mods[i].body, big_mods[i].body
            copy_conv(sb[0], bb[0], inner, k_s)
            copy_norm(sb[1], bb[1], inner)
            copy_conv(sb[3], bb[3], k_s, inner)
            copy_norm(sb[4], bb[4], k_s)
        copy_conv(small_mods[up1], big_mods[up1], k_u1, k_s)
        copy_norm(small_mods[up1 + 1], big_mods[up1 + 1], k_u1)
        copy_conv(small_mods[up2], big_mods[up2], k_u2, k_u1)
        copy_norm(small_mods[up2 + 1], big_mods[up2 + 1], k_u2)
        copy_conv(small_mods[last], big_mods[last], everything, k_u2)
    return small
