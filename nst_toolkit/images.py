"""Load images as float32 [0, 1] N×3×H×W tensors, save them atomically, make labelled grids."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .io import atomic_write

MIN_SIDE = 32  # VGG-19 halves the size five times: smaller inputs leave nothing at relu5_1
MAX_PIXELS = 8192 * 8192  # refuse decompression bombs above this many pixels
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


BAND = 256  # rows converted at a time between 8-bit and float, so a 24-MP photo needs no extra full-size copy


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any PIL mode → H×W×3: uint8 for 8-bit images (converted to float by bands later), else float32
    in [0, 1]. 16-bit stays 16-bit; alpha is composited on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float32)
        a = a / (65535.0 if a.max() > 255 or img.mode.startswith("I;16") else 255.0)
        return np.repeat(np.clip(a, 0, 1)[..., None], 3, axis=2)
    if img.mode == "F":
        a = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
        return np.repeat(a[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.array(img.convert("RGB"))  # a writable copy: torch refuses to wrap PIL's read-only buffer silently


def open_image(path: str | Path | bytes) -> Image.Image:
    """Open and fully decode an image (first frame of animations), EXIF orientation applied.

    ``path`` may also be the encoded image itself (bytes, e.g. read from standard input).
    """
    if isinstance(path, bytes):
        source, path = io.BytesIO(path), Path("<stdin>")
    else:
        path = source = Path(path)
        if not path.exists():
            raise ImageError(f"{path}: no such file")
        if path.is_dir():
            raise ImageError(f"{path}: is a folder, not an image")
    try:
        with Image.open(source) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"{path}: image is {w}×{h} px, more than {MAX_PIXELS} pixels (decompression bomb?)")
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img) or img
            img.load()
            if img.mode == "F" and not np.isfinite(np.asarray(img)).all():
                raise ImageError(f"{path}: float image holds NaN or infinite pixels")
            return img.copy() if img.mode != "P" else img.convert("RGBA")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: image is too large (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{path}: cannot decode image ({e})") from None


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it (a bad file: the same errors as loading)."""
    path = Path(path)
    if not path.is_file():
        return open_image(path).size  # raises the clear error for a missing file or a folder
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return open_image(path).size


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image → float32 1×3×H×W in [0, 1]."""
    a = torch.from_numpy(_to_rgb_array(img))
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
    scale = size / max(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    if new == (h, w):
        return image
    out = F.interpolate(image, size=new, mode="bicubic", align_corners=False, antialias=True)
    return out.clamp(0, 1)


def check_min_size(image: torch.Tensor, what: str = "image", min_side: int = MIN_SIDE) -> None:
    h, w = image.shape[-2:]
    if min(h, w) < min_side:
        raise ImageError(f"{what} is {w}×{h} px; the network needs at least {min_side} px on the shorter side")


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


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


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


def check_output_path(path: str | Path) -> Path:
    """Fail early (before any long work) if ``path`` has an unknown suffix or its folder is not writable."""
    path = Path(path)
    if path.suffix.lower() not in SAVE_FORMATS:
        raise ImageError(f"{path}: unknown output format '{path.suffix}'; use one of {', '.join(sorted(SAVE_FORMATS))}")
    check_writable_dir(path.parent)
    return path


def check_writable_dir(folder: str | Path) -> Path:
    folder = Path(folder) if str(folder) else Path(".")
    probe = folder
    while not probe.exists():  # the first existing ancestor must let us create the rest
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ImageError(f"output folder {folder} is not writable")
    return folder


def save_pil(img: Image.Image, path: str | Path, quality: int = 95) -> Path:
    path = check_output_path(path)
    fmt = SAVE_FORMATS[path.suffix.lower()]
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    return atomic_write(path, lambda tmp: img.save(tmp, format=fmt, **kwargs))


def png_bytes(image: torch.Tensor) -> bytes:
    """The image encoded as PNG (for standard output)."""
    buf = io.BytesIO()
    tensor_to_pil(image).save(buf, format="PNG")
    return buf.getvalue()


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
