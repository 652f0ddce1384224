"""Small file helpers every layer uses: atomic writes and hashing (no torch here: the torch-free commands use them).

Atomic writes go through a temporary file named after the output and this process
(``.NAME.PID.nst-tmp`` beside it), renamed onto the output when complete. A run killed mid-write
leaves such a file behind; the next write to the same output removes every one of them whose
process is gone, so no stale temporary file outlives the next run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable


TMP_SUFFIX = ".nst-tmp"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is not ours
        return True
    return True


def stale_temporaries(path: Path) -> list[Path]:
    """Temporary files of earlier writes to ``path`` whose writer process no longer runs."""
    out = []
    for p in path.parent.glob(f".{path.name}.*{TMP_SUFFIX}"):
        pid = p.name[len(path.name) + 2 : -len(TMP_SUFFIX)]
        if pid.isdigit() and not _alive(int(pid)):
            out.append(p)
    return out


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``: a failure or a kill never leaves a partial output.

    The temporary file keeps ``path``'s suffix last-but-one so format-sniffing writers (PIL,
    safetensors) still work: ``.out.png.1234.nst-tmp``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(path):
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
