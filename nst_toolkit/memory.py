"""Memory the pixel-optimisation engines will need, checked before they start.

Gatys-style optimisation keeps every VGG activation of the image for the backward pass plus the
L-BFGS history, so its memory grows with the pixel count. Measured peak RSS of `nst gatys` on the
CPU (README, "Benchmarks"): 0.92 GiB at 256×144, 1.27 GiB at 512×288, 2.59 GiB at 1024×576 — a
base of about 0.85 GiB plus about 3.2 kB per output pixel. A size that would not fit in the memory
available now is refused with the largest size that would, instead of the system killing the run.
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


def require(engine: str, width: int, height: int, bytes_per_pixel: float, available: int | None = None) -> None:
    """Refuse ``width``×``height`` when ``engine`` would need more than the available memory."""
    available = available_bytes() if available is None else available
    need = BASE_BYTES + bytes_per_pixel * width * height
    budget = available * SAFETY
    if need <= budget:
        return
    pixels = max(0.0, (budget - BASE_BYTES) / bytes_per_pixel)
    longest = int(math.sqrt(pixels * max(width, height) / min(width, height))) if pixels else 0
    hint = f"the largest that fits is about --size {longest // 8 * 8}" if longest >= 64 else "no size fits now"
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
