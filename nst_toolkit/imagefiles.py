"""Image files without torch: open and decode safely, check output paths, save atomically.

The torch-free commands (``nst adain`` through onnxruntime) use this module directly;
:mod:`nst_toolkit.images` builds its tensors on it.
"""

from __future__ import annotations

import io
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DivergedError, ImageError
from .io import atomic_write, check_target, file_problem
from .memory import output_size

MIN_SIDE = 32  # VGG-19 halves the size five times: smaller inputs leave nothing at relu5_1

MAX_PIXELS = 8192 * 8192  # refuse decompression bombs above this many pixels
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def to_rgb_array(img: Image.Image) -> np.ndarray:
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


@contextmanager
def _no_bomb_warning():
    """Pillow warns on stderr about an image above its own pixel limit as soon as it reads the header; our
    limit (:data:`MAX_PIXELS`) is lower and refuses such an image in one line, so the warning is not shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def check_input_file(path: str | Path) -> Path:
    """Refuse, before anything reads it, an input that is not a regular file: missing, a folder, a pipe
    (which would block), a device (which would stream forever), a link loop."""
    path = Path(path)
    problem = file_problem(path)
    if problem == "a folder, not a file":
        raise ImageError(f"{path}: is a folder, not an image")
    if problem is not None:
        raise ImageError(f"{path}: {problem}")
    return path


def open_image(path: str | Path | bytes) -> Image.Image:
    """Open and fully decode an image (first frame of animations), EXIF orientation applied.

    ``path`` may also be the encoded image itself (bytes, e.g. read from standard input). The pixel limit
    (:data:`MAX_PIXELS`) is checked from the header, before anything is decoded.
    """
    if isinstance(path, bytes):
        source, path = io.BytesIO(path), Path("<stdin>")
    else:
        path = source = check_input_file(path)
    try:
        with _no_bomb_warning(), Image.open(source) as img:
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


def image_size(path: str | Path | bytes) -> tuple[int, int]:
    """(width, height) from the file's header (or the encoded image's, given bytes), without decoding it
    (a bad file: the same errors as loading)."""
    if not isinstance(path, bytes):
        path = check_input_file(path)
    try:
        with _no_bomb_warning(), Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return open_image(path).size


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def check_output_path(path: str | Path) -> Path:
    """Fail early (before any long work) if ``path`` has an unknown suffix, is a folder, or its folder is not
    writable."""
    path = Path(path)
    if path.suffix.lower() not in SAVE_FORMATS:
        raise ImageError(f"{path}: unknown output format '{path.suffix}'; use one of {', '.join(sorted(SAVE_FORMATS))}")
    check_target(path)
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


def encode_pil(img: Image.Image, path: str | Path, quality: int = 95) -> bytes:
    """The image encoded whole, in memory, in the format ``path``'s suffix names (checked as an output path).

    Encoding into memory first means a short write of the file is caught by the checked write that follows
    (PIL's own JPEG, BMP and TIFF writers do not all notice one)."""
    path = check_output_path(path)
    fmt = SAVE_FORMATS[path.suffix.lower()]
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def save_pil(img: Image.Image, path: str | Path, quality: int = 95) -> Path:
    """Save ``img`` by ``path``'s suffix, whole or not at all (:func:`~nst_toolkit.io.atomic_write`)."""
    return atomic_write(path, encode_pil(img, path, quality))


def check_min_side(width: int, height: int, what: str, min_side: int = MIN_SIDE) -> None:
    """Refuse an image whose shorter side is below ``min_side`` (the networks need that much)."""
    if min(width, height) < min_side:
        raise ImageError(f"{what} is {width}×{height} px; the network needs at least {min_side} px on the shorter side")


def resize_array(a: np.ndarray, size: int) -> np.ndarray:
    """H×W×3 (uint8, or float32 in [0, 1]) with the longest side resized to ``size``: PIL's bicubic,
    antialiased when shrinking (the torch path's :func:`~nst_toolkit.images.resize_longest` follows
    the same filter; the two differ by rounding, about 1/255)."""
    h, w = a.shape[:2]
    new = output_size(w, h, size)
    if new == (w, h):
        return a
    if a.dtype == np.uint8:
        return np.asarray(Image.fromarray(a, "RGB").resize(new, Image.Resampling.BICUBIC))
    return np.stack([np.clip(np.asarray(Image.fromarray(a[..., c], "F").resize(new, Image.Resampling.BICUBIC)), 0, 1)
                     for c in range(3)], axis=2)


def load_array(path: str | Path, size: int | None = None, min_side: int = MIN_SIDE) -> np.ndarray:
    """An image file as float32 1×3×H×W in [0, 1] without torch (the checks of ``images.load_image``)."""
    if size is not None and size <= 0:
        raise ImageError(f"size must be positive, not {size}")
    a = to_rgb_array(open_image(path))
    check_min_side(a.shape[1], a.shape[0], str(path), min_side)
    if size is not None:
        a = resize_array(a, size)
        check_min_side(a.shape[1], a.shape[0], f"{path} at size {size}", min_side)
    x = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def save_array(image: np.ndarray, path: str | Path, quality: int = 95) -> Path:
    """Save a 1×3×H×W float array in [0, 1] like ``images.save_image``, atomically; non-finite pixels are refused."""
    if not np.isfinite(image).all():
        raise DivergedError(f"non-finite pixels in the result (broken or exploding weights?); {path} was not written")
    a = (np.clip(image[0].transpose(1, 2, 0), 0, 1) * 255.0 + 0.5).astype(np.uint8)
    return save_pil(Image.fromarray(a, "RGB"), path, quality)
