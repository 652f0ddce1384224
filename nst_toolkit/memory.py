"""Memory the pixel-optimisation engines will need, checked before they start.

Gatys-style optimisation keeps every VGG activation of the image for the backward pass plus the
L-BFGS history, so its memory grows with the pixel count. Measured peak RSS of `nst gatys` on the
CPU (README, "Benchmarks"): 0.92 GiB at 256×144, 1.27 GiB at 512×288, 2.59 GiB at 1024×576 — a
base of about 0.85 GiB plus about 3.2 kB per output pixel. A size that would not fit in the memory
available now is refused with the largest size that would, instead of the system killing the run.

The one-pass engines go in tiles above a size (:func:`choose_tile`), which bounds their network's memory but
not the pictures themselves: :func:`require_one_pass` refuses a size whose pictures (or, untiled, whose
activations) would not fit, before anything is loaded.
"""

from __future__ import annotations

import math
import os

from .errors import NSTError

GIB = 2**30
BASE_BYTES = 0.85 * GIB
SAFETY = 0.9  # use at most this share of the available memory


MMAP_THRESHOLD = 1 << 20  # bytes: allocations from this size up get their own pages, returned when freed


def return_freed_memory_promptly() -> bool:
    """Ask glibc to give every allocation of :data:`MMAP_THRESHOLD` or more its own mapping, so that
    its pages go back to the system when it is freed (process-wide; `nst fast` and `nst adain` call
    it, the commands that tile; the optimisation and training loops keep glibc's faster reuse).

    By default glibc raises that threshold to the size of the largest block freed so far (up to
    32 MiB), after which tile-sized tensors come from its heap, whose freed space it keeps: a
    24-MP photo stylised in tiles held about 0.5 GiB more between tiles than it was using. False
    where the C library is not glibc (nothing is changed there).
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold = -3  # <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def available_bytes() -> int:
    """Memory available to a new allocation now (Linux MemAvailable; else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux, not POSIX
        return 1 << 62


def output_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    if size is None:
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def largest_size(budget: float, base: float, bytes_per_pixel: float, width: int, height: int) -> int:
    """The longest side (a multiple of 8) of a picture of ``width``:``height`` whose ``base`` plus
    ``bytes_per_pixel`` per pixel fits ``budget`` bytes; 0 when none does."""
    pixels = max(0.0, (budget - base) / bytes_per_pixel)
    longest = int(math.sqrt(pixels * max(width, height) / max(1, min(width, height)))) if pixels else 0
    return longest // 8 * 8


def _hint(longest: int) -> str:
    return f"the largest that fits is about --size {longest}" if longest >= 64 else "no size fits now"


def require(engine: str, width: int, height: int, bytes_per_pixel: float, available: int | None = None,
            base: float = BASE_BYTES) -> None:
    """Refuse ``width``×``height`` when ``engine`` would need more than the available memory."""
    available = available_bytes() if available is None else available
    need = base + bytes_per_pixel * width * height
    budget = available * SAFETY
    if need <= budget:
        return
    hint = _hint(largest_size(budget, base, bytes_per_pixel, width, height))
    raise NSTError(f"{engine} at {width}×{height} px needs about {need / GIB:.1f} GiB but {available / GIB:.1f} GiB "
                   f"is available; {hint}")


# --- tiles of the one-pass engines (nst_toolkit.tiling cuts and blends them) ---
AUTO_TILE_BYTES = 1.0 * 2**30  # tile when the untiled activations would need more than this
TILE_BYTES = 0.375 * 2**30  # an automatic tile's activations (margins included) stay within this


def choose_tile(tile: int | None, pixels: int, bytes_per_pixel: float, multiple: int, halo: int = 0) -> int | None:
    """The tile size to use: ``tile`` when given (0: never tile); else, when the untiled run's activations
    (``bytes_per_pixel`` × ``pixels``, measured per architecture) would exceed :data:`AUTO_TILE_BYTES`,
    the largest tile whose activations with its margins fit :data:`TILE_BYTES`; else None (untiled)."""
    if tile == 0:
        return None
    if tile is not None:
        return max(multiple, tile // multiple * multiple)
    if pixels * bytes_per_pixel <= AUTO_TILE_BYTES:
        return None
    side = int((TILE_BYTES / bytes_per_pixel) ** 0.5) - 2 * halo
    return max(128, side // multiple * multiple)


# --- whole pictures of the one-pass engines ---
# Tiles bound the network's activations, never the picture: a one-pass run holds, per output pixel, the
# content and its padded copy and the result as float32 (3 × 12 B), and the 8-bit copy being encoded (3 B).
IMAGE_BYTES_PER_PIXEL = 40.0


def untiled(tile: int | None, pixels: int, bytes_per_pixel: float) -> bool:
    """Whether :func:`choose_tile` would run ``pixels`` in one pass."""
    return tile == 0 or (tile is None and pixels * bytes_per_pixel <= AUTO_TILE_BYTES)


def require_one_pass(engine: str, width: int, height: int, tile: int | None, bytes_per_pixel: float | None,
                     available: int | None = None) -> None:
    """Refuse a one-pass run at ``width``×``height`` (the output's size) that would not fit in the memory
    available now: the whole pictures always (:data:`IMAGE_BYTES_PER_PIXEL`), the network's activations
    (``bytes_per_pixel``, None when unknown) over the whole picture when it runs untiled, else one tile's
    (at most :data:`TILE_BYTES`). The message names the largest size that fits."""
    available = available_bytes() if available is None else available
    budget = available * SAFETY
    pixels = width * height
    acts = bytes_per_pixel or 0.0
    if acts and untiled(tile, pixels, acts):
        need = BASE_BYTES + (IMAGE_BYTES_PER_PIXEL + acts) * pixels
        if need <= budget:
            return
        fits = largest_size(budget, BASE_BYTES, IMAGE_BYTES_PER_PIXEL + acts, width, height)
        tiled = largest_size(budget, BASE_BYTES + TILE_BYTES, IMAGE_BYTES_PER_PIXEL, width, height)
        hint = _hint(fits) + (" untiled; without --tile 0 it goes in tiles" if tile == 0 and tiled > fits else "")
        raise NSTError(f"{engine} at {width}×{height} px in one pass needs about {need / GIB:.1f} GiB but "
                       f"{available / GIB:.1f} GiB is available; {hint}")
    tile_bytes = acts * tile * tile if tile and acts else TILE_BYTES  # a tile's activations, margins aside
    base = BASE_BYTES + tile_bytes
    need = base + IMAGE_BYTES_PER_PIXEL * pixels
    if need <= budget:
        return
    hint = _hint(largest_size(budget, base, IMAGE_BYTES_PER_PIXEL, width, height))
    raise NSTError(f"{engine} at {width}×{height} px needs about {need / GIB:.1f} GiB for the picture itself (tiles "
                   f"bound only the network's memory) but {available / GIB:.1f} GiB is available; {hint}")
