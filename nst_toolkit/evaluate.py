"""Quality numbers for a stylised image: content distance, style distance, luminance SSIM.

* content distance: ‖F(x) − F(c)‖² / ‖F(c)‖² at relu4_2 (relative, 0 = same content features);
* style distance: mean over relu1_1 … relu5_1 of ‖G(x) − G(s)‖² / ‖G(s)‖² (relative Gram error);
* SSIM of the luminance (Y of YCbCr) against the content (Wang et al. 2004, 11-px Gaussian, σ = 1.5).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from . import colour, losses
from .vgg import VGGFeatures

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
EVAL_LAYERS = (CONTENT_LAYER,) + STYLE_LAYERS


def _gaussian(size: int = 11, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def ssim(a: Tensor, b: Tensor) -> float:
    """Mean SSIM of two N×1×H×W images in [0, 1]."""
    win = _gaussian().to(a.device, a.dtype)
    pad = win.shape[-1] // 2
    mu_a = F.conv2d(F.pad(a, [pad] * 4, mode="reflect"), win)
    mu_b = F.conv2d(F.pad(b, [pad] * 4, mode="reflect"), win)
    saa = F.conv2d(F.pad(a * a, [pad] * 4, mode="reflect"), win) - mu_a**2
    sbb = F.conv2d(F.pad(b * b, [pad] * 4, mode="reflect"), win) - mu_b**2
    sab = F.conv2d(F.pad(a * b, [pad] * 4, mode="reflect"), win) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return float(s.mean())


class Evaluator:
    """Computes the three numbers; holds a VGG truncated at relu5_1 (or shares a bigger one)."""

    def __init__(self, vgg: VGGFeatures | None = None):
        self.vgg = vgg if vgg is not None else VGGFeatures(EVAL_LAYERS)

    @torch.no_grad()
    def __call__(self, stylized: Tensor, content: Tensor | None = None, style: Tensor | None = None) -> dict[str, float]:
        out: dict[str, float] = {}
        self.vgg.to(stylized.device)
        fx = self.vgg(stylized, EVAL_LAYERS)
        if content is not None:
            if content.shape[-2:] != stylized.shape[-2:]:
                content = F.interpolate(content, size=stylized.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
            fc = self.vgg(content, [CONTENT_LAYER])[CONTENT_LAYER]
            out["content_distance"] = float(losses.relative_content_errors(fx[CONTENT_LAYER], fc).mean())
            out["ssim"] = ssim(colour.rgb_to_ycbcr(stylized)[:, :1], colour.rgb_to_ycbcr(content)[:, :1])
        if style is not None:
            d = self.layer_style_distances(fx, style)
            out["style_distance"] = sum(d.values()) / len(d)
        return out

    @torch.no_grad()
    def layer_style_distances(self, stylized: Tensor | dict[str, Tensor], style: Tensor) -> dict[str, float]:
        """The style distance's terms, one per layer of :data:`STYLE_LAYERS` (``stylized``: an image, or its
        features at those layers)."""
        fx = stylized if isinstance(stylized, dict) else self.vgg(stylized, STYLE_LAYERS)
        fs = self.vgg(style, STYLE_LAYERS)
        return {k: float(losses.relative_gram_loss(fx[k], fs[k])) for k in STYLE_LAYERS}


def match_content(stylized: Path, candidates: list[Path]) -> Path | None:
    """The content image a stylised file was made from: the longest stem that begins its stem
    (``colosseum_great_wave.png`` → ``colosseum.jpg``), or None."""
    matches = [p for p in candidates if stylized.stem.startswith(p.stem)]
    return max(matches, key=lambda p: len(p.stem)) if matches else None
