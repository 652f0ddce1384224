"""Loss functions and feature statistics, all pure.

Size normalisation (so one set of default weights balances alike at 256, 512 and 1024 px):

* content and style terms are *means over positions*: the content loss divides by C·H·W and the
  Gram matrix by H·W, so neither grows with the number of pixels;
* the total-variation term is the discrete Dirichlet energy (sum of squared neighbour differences)
  divided by a constant, which is unchanged when a smooth image is resampled to another size —
  whereas a per-pixel mean of squared differences would fall with the square of the scale and
  fade away at 1024 px.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-5


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """L_content = 1/(C·H·W) · Σ (F − P)², averaged over the batch (Gatys et al. 2016, eq. 1, normalised)."""
    return F.mse_loss(features, target.expand_as(features))


def gram_matrix(features: Tensor, shift: float = 0.0) -> Tensor:
    """G = (F + s)(F + s)ᵀ / (H·W) for F of shape N×C×H×W, giving N×C×C.

    ``shift`` is Novak & Nikulin's activation shift s (they use s = −1); 0 gives Gatys's Gram matrix.
    Channels-last features are read through a permuted view (no copy).
    """
    n, c, h, w = features.shape
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        x = features.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view of the NHWC storage
        if shift:
            x = x + shift
        return torch.bmm(x.transpose(1, 2), x) / (h * w)
    f = features.reshape(n, c, h * w)
    if shift:
        f = f + shift
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


class _GramMSE(torch.autograd.Function):
    """mean((G(F) − A)²) with a one-matmul backward: dL/dF = 4/(C²·H·W) · (G − A) F for symmetric A."""

    @staticmethod
    def forward(ctx, features: Tensor, target: Tensor, shift: float) -> Tensor:
        gram = gram_matrix(features, shift)
        diff = gram - target
        ctx.save_for_backward(features, diff)
        ctx.shift = shift
        return diff.square().mean()

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        features, diff = ctx.saved_tensors
        n, c, h, w = features.shape
        scale = grad_out * 4.0 / (n * c * c * h * w)
        if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
            x = features.permute(0, 2, 3, 1).reshape(n, h * w, c)
            if ctx.shift:
                x = x + ctx.shift
            g = torch.bmm(x, diff) * scale  # N×HW×C, i.e. NHWC
            grad = g.reshape(n, h, w, c).permute(0, 3, 1, 2)
        else:
            f = features.reshape(n, c, h * w)
            if ctx.shift:
                f = f + ctx.shift
            grad = (torch.bmm(diff, f) * scale).reshape(n, c, h, w)
        return grad, None, None


def gram_loss(features: Tensor, target_gram: Tensor, shift: float = 0.0) -> Tensor:
    """E = 1/C² · Σ (G − A)², with G the (shifted) Gram matrix of ``features`` (Gatys et al. 2016, eq. 4).

    ``target_gram`` must be symmetric (a Gram matrix is), which the faster backward relies on.
    """
    target = target_gram.expand(features.shape[0], -1, -1)
    if torch.is_grad_enabled() and features.requires_grad and not target.requires_grad:
        return _GramMSE.apply(features, target, shift)
    gram = gram_matrix(features, shift)
    return F.mse_loss(gram, target)


def relative_gram_loss(features: Tensor, style_features: Tensor) -> Tensor:
    """Σ (G − A)² / Σ A² per image, averaged over the batch: the Gram error relative to the target's, with A
    the Gram matrix of ``style_features`` (one style per image, or one for all) — `nst eval`'s per-layer
    style distance as a loss."""
    target = gram_matrix(style_features).expand(features.shape[0], -1, -1)
    gram = gram_matrix(features)
    return ((gram - target).square().mean(dim=(1, 2)) / target.square().mean(dim=(1, 2)).clamp_min(1e-12)).mean()


def relative_content_errors(features: Tensor, target: Tensor) -> Tensor:
    """Σ (F − P)² / Σ P² for each image (shape N) — `nst eval`'s content distance."""
    target = target.expand_as(features)
    return (features - target).square().mean(dim=(1, 2, 3)) / target.square().mean(dim=(1, 2, 3)).clamp_min(1e-12)


def style_loss(
    features: Mapping[str, Tensor],
    target_grams: Mapping[str, Tensor],
    layer_weights: Mapping[str, float],
    shift: float = 0.0,
) -> Tensor:
    """L_style = Σ_l w_l · E_l over the layers named in ``layer_weights``."""
    total = None
    for name, w in layer_weights.items():
        term = w * gram_loss(features[name], target_grams[name], shift)
        total = term if total is None else total + term
    if total is None:
        raise ValueError("style_loss needs at least one layer")
    return total


def mean_std(features: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-sample, per-channel mean and standard deviation, each N×C×1×1 (Huang & Belongie 2017)."""
    n, c = features.shape[:2]
    flat = features.reshape(n, c, -1)
    mean = flat.mean(dim=2).view(n, c, 1, 1)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt().view(n, c, 1, 1)
    return mean, std


def mean_std_loss(features: Tensor, target: Tensor) -> Tensor:
    """L = ‖μ(F) − μ(T)‖² / C + ‖σ(F) − σ(T)‖² / C (the AdaIN paper's style loss for one layer)."""
    m, s = mean_std(features)
    tm, ts = mean_std(target)
    return F.mse_loss(m, tm.expand_as(m)) + F.mse_loss(s, ts.expand_as(s))


TV_SCALE = 256.0 * 256.0


def unit_feature_distance(features: Tensor, target: Tensor) -> Tensor:
    """Per image, the mean over positions of the squared distance between the two maps' channel vectors, each
    scaled to unit length first (LPIPS's normalisation, without its learned weights): 0 to 4, N values."""
    def unit(f: Tensor) -> Tensor:
        return f / (f.norm(dim=1, keepdim=True) + 1e-10)

    return (unit(features) - unit(target)).square().sum(1).mean(dim=(1, 2))


def tv_loss(image: Tensor) -> Tensor:
    """L_tv = (Σ (x[i+1,j] − x[i,j])² + Σ (x[i,j+1] − x[i,j])²) / (N·C·256²).

    Dirichlet energy: constant under resampling of a smooth image (see module docstring).
    """
    n, c = image.shape[:2]
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    return (dy.square().sum() + dx.square().sum()) / (n * c * TV_SCALE)


def alpha_mix(transferred: Tensor, content: Tensor, alpha: Tensor | float) -> Tensor:
    """The content-style trade-off of AdaIN's eq. 10: α·t + (1 − α)·f, ``t`` the transferred features, ``f`` the content's."""
    return alpha * transferred + (1 - alpha) * content


def adain(content: Tensor, style_mean: Tensor, style_std: Tensor, eps: float = EPS) -> Tensor:
    """AdaIN(x, y) = σ(y) · (x − μ(x)) / σ(x) + μ(y) with the style statistics given."""
    mean, std = mean_std(content, eps)
    return (content - mean) / std * style_std + style_mean


def sorted_features(features: Tensor) -> Tensor:
    """Each channel's values in ascending order, N×C×(H·W): all EFDM needs of a style."""
    return features.reshape(features.shape[0], features.shape[1], -1).sort(dim=-1).values


def efdm(content: Tensor, style_sorted: Tensor) -> Tensor:
    """Exact feature distribution matching (Zhang et al. 2022): every channel of ``content`` takes the
    style's values (``sorted_features``, resampled by quantile to the content's length) in the
    content's own rank order, so its whole distribution becomes the style's, not only mean and std."""
    n, c = content.shape[:2]
    flat = content.reshape(n, c, -1)
    target = style_sorted.to(flat.dtype)
    if target.shape[-1] != flat.shape[-1]:
        target = F.interpolate(target, size=flat.shape[-1], mode="linear", align_corners=True)
    out = torch.empty_like(flat).scatter_(-1, flat.argsort(dim=-1), target.expand(n, -1, -1).contiguous())
    return out.view_as(content)


def masked_features(features: Tensor, mask: Tensor | None) -> Tensor:
    """Features with the region outside ``mask`` zeroed and rescaled so a Gram matrix is a mean over the region.

    ``mask`` is N×1×H×W in [0, 1] at any size; it is resized to the features'.
    """
    if mask is None:
        return features
    m = F.interpolate(mask, size=features.shape[-2:], mode="bilinear", align_corners=False)
    frac = m.mean().clamp_min(1e-6)
    return features * m / frac.sqrt()
