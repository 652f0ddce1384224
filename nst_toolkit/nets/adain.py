"""The AdaIN paper's VGG-19 decoder, and that decoder with one painting's statistics built in."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..losses import adain
from .layers import ConvLayer


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


class StyledAdaINDecoder(nn.Module):
    """AdaIN's VGG-19 decoder with one painting's relu4_1 statistics built in: a one-style network whose
    encoder is the bundled VGG-19 (kept out of the file) — the network of the heavier ``nst train-fast --base vgg19``.

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
