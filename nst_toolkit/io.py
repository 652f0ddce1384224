"""Small file helpers every layer uses: atomic writes, input file checks and hashing (no torch here: the
torch-free commands use them).

Atomic writes go through a temporary file named after the output and this process
(``.NAME.PID-XXXXXXXX.nst-tmp`` beside it). Its bytes are written with every write's count checked, flushed
and synced to the disk, its size verified, and only then is it renamed onto the output: a full disk, a
read-only folder or a kill mid-write leaves the old output byte for byte as it was, removes the temporary
file and (except for a kill) raises :class:`WriteError`, one line that says why. A run killed mid-write
leaves its temporary file behind; the next write to the same output removes every such file whose process
is gone, so no stale temporary file outlives the next run.

:class:`FileSet` writes several outputs as one (a picture and its records): all of them are staged first,
and none is renamed into place unless every one was written.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union

from .errors import NSTError

TMP_SUFFIX = ".nst-tmp"
_TMP_MIDDLE = re.compile(r"(\d+)(-\w+)?")  # PID, then the random part tempfile adds (older files: PID alone)

Writer = Union[bytes, bytearray, memoryview, Callable[[Path], object]]


class WriteError(NSTError, OSError):
    """An output that could not be written (full disk, no permission, a folder in the way, …): one line.

    It is an OSError too, so callers that treat a failed cache write as harmless keep doing so.
    """


# errno → the words of the one-line message ("could not write out.jpg: no space left on device")
_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "it is a folder",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "part of its path is a file, not a folder",
    errno.ENOENT: "its folder does not exist",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EFBIG: "the file is too large for this file system",
    errno.EIO: "input/output error (a failing disk or a removed drive?)",
    errno.EMFILE: "too many open files",
    errno.ENFILE: "too many open files",
    errno.ELOOP: "its path has a symbolic link loop",
    errno.EXDEV: "its temporary file is on another file system",
}


def reason(e: OSError) -> str:
    """An OSError in a few lower-case words, without the errno number or the file name."""
    if e.errno in _REASONS:
        return _REASONS[e.errno]
    text = (e.strerror or str(e) or type(e).__name__).strip().splitlines()
    return text[0].lower() if text else type(e).__name__


def write_failure(path: Path, e: OSError) -> WriteError:
    if isinstance(e, WriteError):
        return e
    return WriteError(f"could not write {path}: {reason(e)}")


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
    """Temporary files of earlier writes to ``path`` whose writer process no longer runs.

    Only regular files count: anything else with such a name (a folder, say) is not ours to remove.
    """
    out = []
    prefix = f".{path.name}."
    for p in path.parent.glob(f".{glob_escape(path.name)}.*{TMP_SUFFIX}"):
        middle = _TMP_MIDDLE.fullmatch(p.name[len(prefix) : -len(TMP_SUFFIX)])
        if middle is None or _alive(int(middle.group(1))):
            continue
        try:
            if stat.S_ISREG(os.lstat(p).st_mode):
                out.append(p)
        except OSError:
            continue
    return out


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def remove_stale_temporaries(path: Path) -> None:
    for stale in stale_temporaries(path):
        try:
            stale.unlink()
        except OSError:
            pass  # gone already, or not ours to remove: it never blocks this write (its name is not ours)


def check_target(path: str | Path) -> Path:
    """Refuse an output path where a folder stands (before any long work)."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"{path} is a folder; give a file name (or another path) for the output")
    return path


def temporary_for(path: Path) -> Path:
    """A new, empty temporary file beside ``path`` for this process (never an existing name)."""
    remove_stale_temporaries(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    return Path(name)


def open_for_writing(tmp: Path) -> BinaryIO:
    """The temporary file, opened unbuffered (each write's count is the bytes that reached the file)."""
    return open(tmp, "wb", buffering=0)


def write_all(tmp: Path, data: bytes | bytearray | memoryview) -> int:
    """Write ``data`` to ``tmp``, checking every write's count, then flush and sync it; the byte count."""
    view = memoryview(data).cast("B")
    with open_for_writing(tmp) as f:
        done = 0
        while done < len(view):
            n = f.write(view[done:])
            if not n:  # a write that takes nothing without an error: the device is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done += n
        f.flush()
        os.fsync(f.fileno())
    return done


def sync_file(tmp: Path) -> None:
    """Flush a file another writer (PIL, FFmpeg, a tracer) closed to the disk."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage(path: Path, write: Writer) -> Path:
    """``write`` (bytes, or a function writing to the path it is given) in a temporary file beside ``path``,
    synced and its size checked: the temporary file, ready to be renamed. On any failure nothing is left."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_target(path)
        tmp = temporary_for(path)
    except OSError as e:
        raise write_failure(path, e) from None
    try:
        if callable(write):
            meant = write(tmp)
            sync_file(tmp)
        else:
            meant = write_all(tmp, write)
        size = tmp.stat().st_size
        if size == 0:
            raise WriteError(f"could not write {path}: nothing was written")
        if type(meant) is int and size != meant:
            raise WriteError(f"could not write {path}: {size} of its {meant} bytes reached the disk")
        os.chmod(tmp, 0o666 & ~_umask())
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_failure(path, e) from None
        raise
    return tmp


def commit(tmp: Path, path: Path) -> Path:
    """Rename the staged ``tmp`` onto ``path`` (removing ``tmp`` if that fails), then sync the folder."""
    try:
        check_target(path)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_failure(path, e) from None
        raise
    _sync_folder(path.parent)
    return path


def atomic_write(path: str | Path, write: Writer) -> Path:
    """Write ``path`` whole or not at all: ``write`` is the bytes, or a function that writes the file at the
    path it is given (and may return how many bytes it meant to write, which is then checked).

    A failure of any kind leaves the old ``path`` as it was and no temporary file; an OSError becomes a
    one-line :class:`WriteError`.
    """
    path = Path(path)
    try:
        return commit(stage(path, write), path)
    except OSError as e:
        raise write_failure(path, e) from None


class FileSet:
    """Several outputs that appear together or not at all (a picture, its GIF, plot and manifest).

    ``add`` stages each in its temporary file; leaving the ``with`` block without an error renames them all
    into place, an error removes every temporary file and leaves the old outputs untouched.
    """

    def __init__(self) -> None:
        self.staged: list[tuple[Path, Path]] = []

    def add(self, path: str | Path, write: Writer) -> Path:
        path = Path(path)
        self.staged.append((stage(path, write), path))
        return path

    def discard(self) -> None:
        for tmp, _ in self.staged:
            tmp.unlink(missing_ok=True)
        self.staged.clear()

    def __enter__(self) -> "FileSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            for tmp, path in self.staged:
                check_target(path)
        except BaseException:
            self.discard()
            raise
        staged, self.staged = self.staged, []
        for i, (tmp, path) in enumerate(staged):
            try:
                commit(tmp, path)
            except BaseException:
                for later, _ in staged[i + 1 :]:
                    later.unlink(missing_ok=True)
                raise


def _sync_folder(folder: Path) -> None:
    """Make a rename durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as an input file (None when it is a regular file, or a link to one):
    no such file, a folder, a named pipe, a device, a socket, a symbolic link loop. Nothing is opened, so a
    pipe or a device never blocks or streams forever."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link loop, not a file"
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return "no such file"
        return reason(e)
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "not a regular file"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
