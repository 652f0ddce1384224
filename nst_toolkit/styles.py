"""The styles handed to every engine: one validated value, one blending rule, one mask check.

Rule for several styles (all four engines, ``nst compare`` included): one weight per style, each
at least 0, summing to 1 (within 0.001); without weights every style counts equally. Optimisation
engines blend the styles' losses with these weights, AdaIN interpolates their feature statistics
(Huang & Belongie 2017, sec. 7.1). A mask instead gives the first style the white region of the
mask and the second style the black region: exactly two styles, no weights, the content's aspect
ratio, and both regions present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import NSTError

WEIGHT_TOLERANCE = 1e-3


def check_image_tensor(image: Tensor, what: str) -> None:
    if not isinstance(image, Tensor) or image.dim() != 4 or image.shape[1] != 3:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise NSTError(f"{what} must be an N×3×H×W tensor, got {shape}")
    if image.dtype != torch.float32:
        raise NSTError(f"{what} must be float32 in [0, 1], got {image.dtype}")


def blend_weights(weights: Sequence[float] | None, n: int) -> tuple[float, ...]:
    """The module's rule: ``None`` → equal; else n values ≥ 0 summing to 1."""
    if n < 1:
        raise NSTError("at least one style image is needed")
    if weights is None or len(weights) == 0:
        return tuple([1.0 / n] * n)
    if len(weights) != n:
        raise NSTError(f"got {len(weights)} style weights for {n} styles")
    if any(not (w >= 0) for w in weights):
        raise NSTError("style weights must not be negative")
    if abs(sum(weights) - 1.0) > WEIGHT_TOLERANCE:
        raise NSTError(f"style weights must sum to 1, not {sum(weights):g}")
    return tuple(float(w) for w in weights)


def prepare_mask(mask: Tensor, content: Tensor) -> Tensor:
    """A 1×1×H×W mask of 0/1 at the content's size; refuses other aspect ratios and an empty region."""
    if mask.dim() == 3:
        mask = mask.unsqueeze(0)
    if mask.dim() != 4 or mask.shape[1] not in (1, 3):
        raise NSTError(f"a mask must be a 1- or 3-channel image, got shape {tuple(mask.shape)}")
    if mask.shape[1] == 3:
        mask = mask.mean(dim=1, keepdim=True)
    mh, mw = mask.shape[-2:]
    ch, cw = content.shape[-2:]
    if abs(mh / mw - ch / cw) > 0.02 * (ch / cw):
        raise NSTError(f"mask is {mw}×{mh} px but the content is {cw}×{ch}: their aspect ratios differ")
    mask = F.interpolate(mask.float().to(content.device), size=(ch, cw), mode="bilinear", align_corners=False)
    fg = (mask > 0.5).float()
    if fg.sum() == 0 or fg.sum() == fg.numel():
        raise NSTError("mask has an empty region: it needs both foreground (white) and background (black) pixels")
    return fg


@dataclass(frozen=True)
class StyleSet:
    """Style images (each 1×3×H×W in [0, 1]), their blend weights, and an optional two-style mask."""

    images: tuple[Tensor, ...]
    weights: tuple[float, ...]
    mask: Tensor | None = None

    @classmethod
    def create(cls, images: Sequence[Tensor], weights: Sequence[float] | None = None,
               mask: Tensor | None = None) -> "StyleSet":
        images = tuple(images)
        for i, im in enumerate(images):
            check_image_tensor(im, f"style image {i + 1}" if len(images) > 1 else "style")
        if mask is not None:
            if len(images) != 2:
                raise NSTError(f"a mask needs exactly two styles (foreground, background), got {len(images)}")
            if weights:
                raise NSTError("style weights and a mask exclude each other: the mask decides where each style goes")
            return cls(images, (1.0, 1.0), mask)
        return cls(images, blend_weights(weights, len(images)), None)

    @classmethod
    def none(cls) -> "StyleSet":
        """No style images: for engines whose style lives in a trained network."""
        return cls((), (), None)

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device | str) -> "StyleSet":
        return StyleSet(tuple(s.to(device) for s in self.images), self.weights,
                        self.mask.to(device) if self.mask is not None else None)

    def replace_images(self, images: Sequence[Tensor]) -> "StyleSet":
        return StyleSet(tuple(images), self.weights, self.mask)


StylesLike = Union[StyleSet, Tensor, Sequence[Tensor], None]


def as_style_set(styles: StylesLike) -> StyleSet:
    """Accept a StyleSet, one style tensor, a list of them, or None (no style images)."""
    if isinstance(styles, StyleSet):
        return styles
    if styles is None:
        return StyleSet.none()
    if isinstance(styles, Tensor):
        return StyleSet.create([styles])
    return StyleSet.create(list(styles))
