"""What every engine shares: the Engine protocol and small helpers for preparing inputs."""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import NSTError
from ..images import MIN_SIDE, check_min_size, resize_longest
from ..optimize import Step


class Engine(Protocol):
    """One interface for the four engines, so `nst compare` can treat them alike."""

    def stylize(self, content: Tensor, style: Tensor, *, on_step: Callable[[Step], None] | None = None) -> Tensor: ...


def check_image_tensor(image: Tensor, what: str) -> None:
    if image.dim() != 4 or image.shape[1] != 3:
        raise NSTError(f"{what} must be an N×3×H×W tensor, got shape {tuple(image.shape)}")
    if image.dtype != torch.float32:
        raise NSTError(f"{what} must be float32 in [0, 1], got {image.dtype}")


def scale_style(style: Tensor, content: Tensor, style_scale: float) -> Tensor:
    """Resize ``style`` so its longest side is ``style_scale`` × the content's longest side."""
    if style_scale <= 0:
        raise NSTError(f"style scale must be positive, not {style_scale}")
    size = max(1, round(max(content.shape[-2:]) * style_scale))
    out = resize_longest(style, size)
    check_min_size(out, f"style image at scale {style_scale}", MIN_SIDE)
    return out


def init_image(kind: str, content: Tensor, style: Tensor, seed: int) -> Tensor:
    """The starting image: the content, white noise (seeded, never the global RNG) or the style."""
    if kind == "content":
        return content.clone()
    if kind == "noise":
        g = torch.Generator(device="cpu").manual_seed(seed)
        return torch.rand(content.shape, generator=g).to(content.device)
    if kind == "style":
        return F.interpolate(style, size=content.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    raise NSTError(f"init must be 'content', 'noise' or 'style', not '{kind}'")


def parse_weights(values: Sequence[float] | None, n: int, what: str) -> list[float]:
    """Per-item weights: ``None`` means equal weights summing to 1; otherwise one positive value each."""
    if values is None or len(values) == 0:
        return [1.0 / n] * n
    if len(values) != n:
        raise NSTError(f"{what}: got {len(values)} weights for {n} items")
    if any(not (v > 0) for v in values):
        raise NSTError(f"{what}: weights must be positive")
    return [float(v) for v in values]


def check_positive(**values: float) -> None:
    for name, v in values.items():
        if not (v > 0):
            raise NSTError(f"{name.replace('_', '-')} must be positive, not {v}")


def check_non_negative(**values: float) -> None:
    for name, v in values.items():
        if not (v >= 0):
            raise NSTError(f"{name.replace('_', '-')} must not be negative, not {v}")


def target_scale(target: Tensor) -> float:
    """Mean square of a target (Gram matrix or features): the divisor that makes a layer's loss relative."""
    return float(target.square().mean()) + 1e-8


def run_padded(fn: Callable[[Tensor], Tensor], image: Tensor, multiple: int) -> Tensor:
    """Apply ``fn`` to ``image`` reflect-padded to a multiple of ``multiple``; crop back; clamp to [0, 1]."""
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    x = F.pad(image, (0, pw, 0, ph), mode="reflect") if (ph or pw) else image
    return fn(x)[..., :h, :w].clamp(0, 1)
