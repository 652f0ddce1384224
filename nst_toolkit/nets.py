"""Trainable networks, architecture only: Johnson's TransformerNet and the AdaIN decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvLayer(nn.Sequential):
    """Reflection padding + convolution (no zero borders, so no dark frames)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))


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
