"""Load images as float32 [0, 1] N×3×H×W tensors, save them atomically, make labelled grids."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .errors import ImageError
from .imagefiles import MIN_SIDE, check_min_side, encode_pil, open_image, save_pil, to_rgb_array
from .memory import output_size



BAND = 256  # rows converted at a time between 8-bit and float, so a 24-MP photo needs no extra full-size copy


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image → float32 1×3×H×W in [0, 1]."""
    a = torch.from_numpy(to_rgb_array(img))
    if a.dtype != torch.uint8:
        return a.permute(2, 0, 1).unsqueeze(0).contiguous()
    h, w, _ = a.shape
    out = torch.empty(1, 3, h, w)
    for y in range(0, h, BAND):
        out[0, :, y : y + BAND].copy_(a[y : y + BAND].permute(2, 0, 1)).div_(255.0)
    return out


def resize_longest(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the longest side is ``size`` (antialiased bicubic, clamped to [0, 1])."""
    h, w = image.shape[-2:]
    new_w, new_h = output_size(w, h, size)
    if (new_h, new_w) == (h, w):
        return image
    out = F.interpolate(image, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    return out.clamp(0, 1)


def check_min_size(image: torch.Tensor, what: str = "image", min_side: int = MIN_SIDE) -> None:
    check_min_side(image.shape[-1], image.shape[-2], what, min_side)


def load_image(path: str | Path | bytes, size: int | None = None, min_side: int = MIN_SIDE) -> torch.Tensor:
    """Load an image as float32 1×3×H×W in [0, 1], longest side resized to ``size`` if given."""
    if size is not None and size <= 0:
        raise ImageError(f"size must be positive, not {size}")
    image = pil_to_tensor(open_image(path))
    if not bool(torch.isfinite(image).all()):
        raise ImageError(f"{path}: image holds non-finite pixel values")
    name = "<stdin>" if isinstance(path, bytes) else str(path)
    check_min_size(image, name, min_side)
    if size is not None:
        image = resize_longest(image, size)
        check_min_size(image, f"{name} at size {size}", min_side)
    return image


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """1×3×H×W or 3×H×W float in [0, 1] → 8-bit RGB PIL image."""
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise ValueError("tensor_to_pil takes one image")
        image = image[0]
    _, h, w = image.shape
    a = np.empty((h, w, 3), dtype=np.uint8)
    for y in range(0, h, BAND):
        band = image[:, y : y + BAND].detach().float().clamp(0, 1).mul_(255.0).add_(0.5)
        a[y : y + BAND] = band.to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(a, "RGB")


def png_bytes(image: torch.Tensor) -> bytes:
    """The image encoded as PNG (for standard output)."""
    buf = io.BytesIO()
    tensor_to_pil(image).save(buf, format="PNG")
    return buf.getvalue()


def encode_image(image: torch.Tensor, path: str | Path, quality: int = 95) -> bytes:
    """A [0, 1] tensor encoded in memory in the format of ``path``'s extension (to be written with others)."""
    return encode_pil(tensor_to_pil(image), path, quality)


def save_image(image: torch.Tensor, path: str | Path, quality: int = 95) -> Path:
    """Save a [0, 1] tensor as PNG / JPEG / WebP / … by extension, atomically."""
    return save_pil(tensor_to_pil(image), path, quality)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def make_grid(
    images: Sequence[torch.Tensor | Image.Image],
    labels: Sequence[str] | None = None,
    ncols: int | None = None,
    cell: int = 256,
    pad: int = 6,
) -> Image.Image:
    """A white sheet with each image fitted into a ``cell``-px square and its label underneath."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    labels = list(labels) if labels is not None else [""] * len(images)
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    font = _font(max(10, cell // 16))
    line_h = (max(10, cell // 16) + 4) * max(1, max(lab.count("\n") + 1 for lab in labels)) if any(labels) else 0
    sheet = Image.new("RGB", (ncols * (cell + pad) + pad, nrows * (cell + line_h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (im, label) in enumerate(zip(images, labels)):
        pil = im if isinstance(im, Image.Image) else tensor_to_pil(im)
        pil = pil.convert("RGB")
        pil.thumbnail((cell, cell), Image.Resampling.LANCZOS)
        r, c = divmod(i, ncols)
        x0 = pad + c * (cell + pad)
        y0 = pad + r * (cell + line_h + pad)
        sheet.paste(pil, (x0 + (cell - pil.width) // 2, y0 + (cell - pil.height) // 2))
        if label:
            draw.multiline_text((x0 + 2, y0 + cell + 2), label, fill="black", font=font)
    return sheet
