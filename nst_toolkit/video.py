"""Video in and out, frame by frame, through PyAV (FFmpeg bundled in its wheel).

Any container FFmpeg reads (MP4, MOV, MKV, WebM, AVI, animated GIF, …), or a folder of frames. Frames stream
one at a time, so memory does not grow with the clip's length. The output keeps the frame rate and the aspect
ratio (sides rounded to even numbers, as H.264 needs) and the audio track (re-encoded to AAC, or Opus for
WebM). It is written to a temporary file beside the output, synced, checked and renamed when complete
(:mod:`.io`): a failure never leaves a partial clip, and an older clip of that name stays as it was.

Frames are float32 1×3×H×W numpy arrays in [0, 1]; nothing here imports torch. :func:`stylized_frames` is the
loop of `nst video`: the next frames decode in a thread while the network works, and a pass that leaves the
interpreter lock (onnxruntime's) takes several frames at once. Temporal stabilisation: :mod:`.stabilize`.
"""


import collections
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .errors import NSTError
from .imagefiles import list_images, load_array, save_array
from .memory import output_size
from .io import WriteError, check_target, commit, file_problem, sync_file, temporary_for, write_failure

VIDEO_SUFFIXES = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".gif": "gif"}
DEFAULT_FPS = Fraction(24)
ENCODER_PRESET = "veryfast"


class VideoError(NSTError):
    """A clip that cannot be read or written."""


@dataclass(frozen=True)
class ClipInfo:
    fps: Fraction
    width: int
    height: int
    frames: int | None  # None when the container does not say
    audio: bool
    source: Path


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - a declared dependency
        raise VideoError("video needs the 'av' package (PyAV): pip install av") from None
    return av


def keep_freed_frames() -> bool:
    """Ask glibc to keep freed blocks of up to 64 MiB for reuse (process-wide; `nst video` calls it).

    A clip's frames and the filter's intermediates are arrays of a few MiB made and freed at every frame; by
    default glibc may give each its own fresh pages, and a 32-frame clip paid for 0.43 million page faults
    (0.12 million with this; a 640×360 zoom's stabiliser took 43 ms a frame before, 26 after). What is kept is bounded by a few frames' working set. False where the C library is
    not glibc (nothing is changed there).
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, 64 << 20)) and bool(libc.mallopt(m_trim_threshold, 256 << 20))
    except (OSError, AttributeError):
        return False


def from_rgb24(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 → 1×3×H×W float32 in [0, 1] (one pass, no intermediate copy)."""
    out = np.empty((1, 3, *rgb.shape[:2]), np.float32)
    np.multiply(rgb.transpose(2, 0, 1), np.float32(1 / 255), out=out[0])
    return out


def to_rgb24(frame: Any) -> np.ndarray:
    """1×3×H×W float in [0, 1] (an array or a tensor) → H×W×3 uint8, rounded."""
    if hasattr(frame, "detach"):  # a torch tensor, on any device
        frame = frame.detach().cpu().numpy()
    y = np.clip(np.asarray(frame, dtype=np.float32)[0], 0, 1)
    y *= 255
    y += 0.5
    return np.ascontiguousarray(y.astype(np.uint8).transpose(1, 2, 0))


def open_clip(path: str | Path, fps: float | None = None,
              size: int | None = None) -> tuple[ClipInfo, Iterator[np.ndarray]]:
    """Information about a clip and an iterator over its frames (1×3×H×W float32 arrays in [0, 1]).

    ``path`` is a video file, an animated GIF or a folder of frames (sorted by name; ``fps`` or 24). With
    ``size``, each frame's longest side is resized to it (bicubic, FFmpeg's scaler for a video) and its sides
    are rounded down to even numbers, as H.264 needs. Nothing stays open until the frames are read, so the
    information alone may be asked first (``open_clip(path)[0]``).
    """
    path = Path(path)
    problem = file_problem(path)
    if problem == "no such file":
        raise VideoError(f"{path}: no such file or folder")
    if problem is not None and not path.is_dir():  # a pipe or a device would block or stream forever
        raise VideoError(f"{path}: {problem}")
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise VideoError(f"{path}: no frames (images) in this folder")
        first = load_array(files[0], min_side=2)
        info = ClipInfo(Fraction(fps).limit_denominator(1001) if fps else DEFAULT_FPS, first.shape[-1], first.shape[-2],
                        len(files), False, path)
        return info, (_even(load_array(f, size, min_side=2), size) for f in files)
    av = _av()
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(f"{path}: not a video FFmpeg can read ({_why(e)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or (Fraction(fps) if fps else DEFAULT_FPS)
    ctx = stream.codec_context
    info = ClipInfo(Fraction(rate), ctx.width, ctx.height, stream.frames or None, bool(container.streams.audio), path)
    container.close()
    if info.width <= 0 or info.height <= 0:
        raise VideoError(f"{path}: the video stream has no frame size")

    shape = {}
    if size is not None:
        w, h = output_size(info.width, info.height, size)
        if (w, h) != (info.width, info.height):
            shape = {"width": w, "height": h, "interpolation": "BICUBIC"}

    def frames() -> Iterator[np.ndarray]:
        try:
            container = av.open(str(path))
        except (av.error.FFmpegError, OSError) as e:
            raise VideoError(f"{path}: not a video FFmpeg can read ({_why(e)})") from None
        try:
            for frame in container.decode(container.streams.video[0]):
                yield _even(from_rgb24(frame.to_ndarray(format="rgb24", **shape)), size)
        except av.error.FFmpegError as e:
            raise VideoError(f"{path}: cannot decode the video ({_why(e)})") from None
        finally:
            container.close()

    return info, frames()


def _even(frame: np.ndarray, size: int | None) -> np.ndarray:
    if size is None:
        return frame
    h, w = frame.shape[-2:]
    return frame[..., : even(h), : even(w)]


def ahead(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``items`` made in a thread, up to ``depth`` ahead of the caller (decoding runs while the network does:
    both leave the interpreter lock); an exception there is raised here, at the item it stopped."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def put(entry: tuple) -> bool:
        """Hand ``entry`` over unless the caller has stopped reading; whether to go on."""
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as e:  # handed to the consumer
            put((done, e))
        finally:
            if hasattr(items, "close"):  # a generator that stopped early closes its file now
                items.close()

    worker = threading.Thread(target=produce, name="nst-decode", daemon=True)
    worker.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def stylized_frames(frames: Iterator[np.ndarray], run: Callable[[np.ndarray], np.ndarray], stabilizer: Any,
                    workers: int = 1) -> Iterator[np.ndarray]:
    """The clip's frames through ``stabilizer.prepare``, ``run`` (the network) and ``stabilizer``, in order, while
    the next frames decode in a thread (:func:`ahead`). ``workers`` > 1 frames go through ``run`` at once, each in
    its own thread (for a pass that leaves the interpreter lock, as onnxruntime's does): on a few cores, whole frames
    side by side keep every core busy where one pass split over the cores waits at each layer for the slowest."""
    if workers <= 1:
        for x in ahead(frames):
            yield stabilizer(x, run(stabilizer.prepare(x)))
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="nst-frame") as pool:
        pending: collections.deque = collections.deque()
        for x in ahead(frames):
            pending.append((x, pool.submit(run, stabilizer.prepare(x))))
            if len(pending) > workers:  # one more than the workers: they stay busy while this frame is written
                x, result = pending.popleft()
                yield stabilizer(x, result.result())
        while pending:
            x, result = pending.popleft()
            yield stabilizer(x, result.result())


def _why(e: Exception) -> str:
    text = str(getattr(e, "strerror", "") or e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:120]


def output_kind(out: Path | str) -> str:
    """'folder' (frames as PNG) for a path without a suffix, one that ends with a path separator or an existing
    folder whose name has no video suffix; else the container format by suffix."""
    text = str(out)
    out = Path(out)
    if not out.suffix or text.endswith(("/", os.sep)) or (out.is_dir() and out.suffix.lower() not in VIDEO_SUFFIXES):
        return "folder"
    fmt = VIDEO_SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise VideoError(f"{out}: unknown video format '{out.suffix}'; use {', '.join(sorted(VIDEO_SUFFIXES))} "
                         "or a folder for PNG frames (a name without extension, or ending in /)")
    return fmt


def even(n: int) -> int:
    return max(2, n - n % 2)


class ClipWriter:
    """Writes frames to a video file (temporary file, renamed on success), a GIF, or a folder of PNGs.

    Use as a context manager; on an exception the temporary file is removed and nothing appears.
    """

    def __init__(self, out: str | Path, fps: Fraction, audio_from: Path | None = None):
        self.given = out  # as typed: a trailing separator asks for a folder
        self.kind = output_kind(out)
        self.out, self.fps, self.audio_from = Path(out), Fraction(fps), audio_from
        self.count = 0
        self.container = self.stream = self.audio = None
        self.tmp: Path | None = None

    @staticmethod
    def check(out: str | Path) -> None:
        """Refuse an unknown format, a folder where the clip should go, or an unwritable place before any
        work starts."""
        from .imagefiles import check_writable_dir

        kind = output_kind(out)
        out = Path(out)
        if kind == "folder":
            if out.exists() and not out.is_dir():
                raise VideoError(f"{out} is a file; frames go into a folder (give a new name, or end it with /)")
            check_writable_dir(out)
        else:
            check_target(out)
            check_writable_dir(out.parent)

    def __enter__(self) -> "ClipWriter":
        self.check(self.given)
        try:
            if self.kind == "folder":
                self.out.mkdir(parents=True, exist_ok=True)
            else:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                self.tmp = temporary_for(self.out)
        except OSError as e:
            raise write_failure(self.out, e) from None
        return self

    def _open(self, width: int, height: int) -> None:
        av = _av()
        self.container = av.open(str(self.tmp), "w", format=self.kind)
        if self.kind == "gif":
            self.stream = self.container.add_stream("gif", rate=self.fps)
            self.stream.pix_fmt = "rgb8"
        else:
            codec = "libvpx-vp9" if self.kind == "webm" else "libx264"
            if codec not in av.codecs_available:  # pragma: no cover - the PyAV wheel bundles both
                codec = "mpeg4"
            self.stream = self.container.add_stream(codec, rate=self.fps)
            self.stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                # veryfast: a quarter of medium's time a frame at 360p (4 ms against 15) for a file of about
                # the same size at the same quality factor (docs/benchmarks.md, video)
                self.stream.options = {"crf": "18", "preset": ENCODER_PRESET}
        self.stream.width, self.stream.height = width, height
        self.audio = self._add_audio_stream()

    def _add_audio_stream(self):
        """The output's audio stream (added before the first packet is written), or None."""
        av = _av()
        if self.audio_from is None or self.kind in ("gif", "avi"):
            return None
        codec = "libopus" if self.kind == "webm" else "aac"
        with av.open(str(self.audio_from)) as src:
            if not src.streams.audio or codec not in av.codecs_available:
                return None
            ctx = src.streams.audio[0].codec_context
            rate = 48000 if codec == "libopus" else (ctx.sample_rate or 48000)
            layout = ctx.layout.name if ctx.layout and ctx.layout.nb_channels <= 2 else "stereo"
        stream = self.container.add_stream(codec, rate=rate)
        stream.layout = layout
        return stream

    def write(self, frame: Any) -> None:
        """Add one frame: 1×3×H×W float in [0, 1], an array or a tensor."""
        self.count += 1
        if self.kind == "folder":
            save_array(np.asarray(frame.detach().cpu() if hasattr(frame, "detach") else frame),
                       self.out / f"frame_{self.count:06d}.png")
            return
        av = _av()
        h, w = frame.shape[-2:]
        if self.container is None:
            self._open(even(w), even(h))
        arr = to_rgb24(frame[..., : self.stream.height, : self.stream.width])
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
            self.container.mux(packet)

    def _copy_audio(self) -> None:
        """Decode the source's first audio stream and encode it into the output's audio stream."""
        av = _av()
        with av.open(str(self.audio_from)) as src:
            for frame in src.decode(src.streams.audio[0]):
                frame.pts = None
                for packet in self.audio.encode(frame):
                    self.container.mux(packet)
        for packet in self.audio.encode():
            self.container.mux(packet)

    def __exit__(self, exc_type, exc, tb) -> None:
        av = _av()
        try:
            if self.container is None:
                if exc_type is None and self.kind != "folder":
                    raise VideoError("the clip has no frames")
                return
            if exc_type is None:
                for packet in self.stream.encode():
                    self.container.mux(packet)
                if self.audio is not None:
                    self._copy_audio()
            self.container.close()
            if exc_type is None:
                sync_file(self.tmp)
                if self.tmp.stat().st_size == 0:
                    raise WriteError(f"could not write {self.out}: nothing was written")
                commit(self.tmp, self.out)
        except OSError as e:  # before FFmpegError: PyAV's errors from the system (a full disk) are OSErrors too
            raise write_failure(self.out, e) from None
        except (av.error.FFmpegError, ValueError) as e:
            raise VideoError(f"{self.out}: cannot write the video ({_why(e)})") from None
        finally:
            if self.tmp is not None:
                self.tmp.unlink(missing_ok=True)
