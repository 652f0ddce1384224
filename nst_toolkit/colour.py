"""Colour control shared by all engines (Gatys et al. 2017, "Controlling Perceptual Factors", sec. 5).

* luminance-only transfer: stylise the luminance, keep the content's chroma (YCbCr, ITU-R BT.601);
* colour histogram matching: give the style image the content's colour mean and covariance.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .options import check_colour_mode
from .styles import StyleSet

# BT.601 full-range RGB → YCbCr (Cb, Cr centred on 0).
_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float64
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)



def _apply(matrix: Tensor, image: Tensor) -> Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(image.device, image.dtype), image)


def rgb_to_ycbcr(image: Tensor) -> Tensor:
    """N×3×H×W RGB in [0, 1] → Y in [0, 1], Cb and Cr in [−0.5, 0.5]."""
    return _apply(_RGB_TO_YCBCR, image)


def ycbcr_to_rgb(image: Tensor) -> Tensor:
    return _apply(_YCBCR_TO_RGB, image)


def luminance(image: Tensor) -> Tensor:
    """Y of an RGB image, repeated to 3 channels so VGG can read it."""
    return rgb_to_ycbcr(image)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: Tensor, content: Tensor) -> Tensor:
    """Shift and scale the style's luminance to the content's mean and std (Gatys et al. 2017, eq. 6).

    Returns a grey 3-channel image.
    """
    ys = rgb_to_ycbcr(style)[:, :1]
    yc = rgb_to_ycbcr(content)[:, :1]
    out = (ys - ys.mean()) / (ys.std() + 1e-6) * yc.std() + yc.mean()
    return out.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def combine_luminance(stylized: Tensor, content: Tensor) -> Tensor:
    """Y from ``stylized`` (grey or colour), Cb/Cr from ``content``: the content keeps its colours."""
    y = rgb_to_ycbcr(stylized)[:, :1]
    cbcr = rgb_to_ycbcr(content)[:, 1:]
    if cbcr.shape[-2:] != y.shape[-2:]:
        cbcr = torch.nn.functional.interpolate(cbcr, size=y.shape[-2:], mode="bilinear", align_corners=False)
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0, 1)


def _mean_cov(image: Tensor) -> tuple[Tensor, Tensor]:
    x = image.double().reshape(3, -1)
    mu = x.mean(dim=1, keepdim=True)
    d = x - mu
    return mu, d @ d.T / d.shape[1] + 1e-5 * torch.eye(3, dtype=torch.float64, device=image.device)


def _sqrtm(m: Tensor, inverse: bool = False) -> Tensor:
    vals, vecs = torch.linalg.eigh(m)
    vals = vals.clamp_min(1e-10)
    p = -0.5 if inverse else 0.5
    return vecs @ torch.diag(vals**p) @ vecs.T


def match_histogram(source: Tensor, reference: Tensor) -> Tensor:
    """Linearly transform ``source``'s colours so their mean and covariance equal ``reference``'s.

    x' = Σ_r^{1/2} Σ_s^{-1/2} (x − μ_s) + μ_r, the symmetric ("Image Analogies") square root of
    Gatys et al. 2017, sec. 5.2. One 1×3×H×W image each.
    """
    if source.shape[0] != 1 or reference.shape[0] != 1:
        raise ValueError("match_histogram takes one image each")
    mu_s, cov_s = _mean_cov(source[0])
    mu_r, cov_r = _mean_cov(reference[0])
    a = _sqrtm(cov_r) @ _sqrtm(cov_s, inverse=True)
    x = source[0].double().reshape(3, -1)
    out = a @ (x - mu_s) + mu_r
    return out.reshape(source.shape).to(source.dtype).clamp(0, 1)


def preserve(mode: str, content: Tensor, styles: StyleSet, run: Callable[[Tensor, StyleSet], Tensor]) -> Tensor:
    """Run ``run(content, styles)`` under a colour-preservation mode; the one implementation all engines use.

    * ``luminance``: the engine sees the content's luminance and each style's luminance matched to
      the content's mean and spread; the result keeps the content's chroma (Gatys et al. 2017, 5.1);
    * ``histogram``: each style's colours are matched to the content's before the engine sees them
      (5.2); an engine without style images (a trained network) has its output matched instead.
    """
    check_colour_mode(mode)
    if mode == "none":
        return run(content, styles)
    if mode == "histogram":
        if len(styles):
            return run(content, styles.replace_images([match_histogram(s, content[:1]) for s in styles.images]))
        out = run(content, styles)
        return torch.cat([match_histogram(o[None], c[None]) for o, c in zip(out, content)])
    grey = styles.replace_images([match_luminance(s, content) for s in styles.images])
    return combine_luminance(run(luminance(content), grey), content)
