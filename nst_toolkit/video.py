"""Video in and out, frame by frame, and temporal stabilisation of a stylised clip.

Clips are read and written through PyAV (FFmpeg bundled in its wheel): any container FFmpeg reads
(MP4, MOV, MKV, WebM, AVI, animated GIF, …), or a folder of frames. Frames stream one at a time,
so memory does not grow with the clip's length. The output keeps the frame rate and the aspect
ratio (sides rounded to even numbers, as H.264 needs) and the audio track (re-encoded to AAC, or
Opus for WebM). It is written to a temporary file beside the output and renamed when complete:
a failure never leaves a partial clip.

Stabilisation (:class:`Stabilizer`): each stylised frame is blended with the previous stylised
frame, moved by the camera's global zoom and shift (a few zooms tried, the shift by phase
correlation of consecutive input frames), only where the input did not change after that motion.
Where the scene moves, the new frame is taken as it is, so moving things leave no ghosts; where it
stands still, the texture the network re-invents at every frame (flicker) is held steady. The same
motion-compensated, change-gated blend also denoises the input before the network sees it: a
one-pass network turns sensor noise into texture that changes at every frame.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import NSTError
from .images import load_image, save_image
from .imagefiles import list_images
from .io import TMP_SUFFIX, stale_temporaries

VIDEO_SUFFIXES = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".gif": "gif"}
DEFAULT_FPS = Fraction(24)


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


def _frame_tensor(rgb: np.ndarray) -> Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def open_clip(path: str | Path, fps: float | None = None) -> tuple[ClipInfo, Iterator[Tensor]]:
    """Information about a clip and an iterator over its frames (1×3×H×W float32 in [0, 1], CPU).

    ``path`` is a video file, an animated GIF or a folder of frames (sorted by name; ``fps`` or 24).
    """
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise VideoError(f"{path}: no frames (images) in this folder")
        first = load_image(files[0], min_side=2)
        info = ClipInfo(Fraction(fps).limit_denominator(1001) if fps else DEFAULT_FPS, first.shape[-1], first.shape[-2],
                        len(files), False, path)
        return info, (load_image(f, min_side=2) for f in files)
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
    if ctx.width <= 0 or ctx.height <= 0:
        container.close()
        raise VideoError(f"{path}: the video stream has no frame size")

    def frames() -> Iterator[Tensor]:
        try:
            for frame in container.decode(stream):
                yield _frame_tensor(frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as e:
            raise VideoError(f"{path}: cannot decode the video ({_why(e)})") from None
        finally:
            container.close()

    return info, frames()


def _why(e: Exception) -> str:
    text = str(getattr(e, "strerror", "") or e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:120]


def output_kind(out: Path) -> str:
    """'folder' (frames as PNG) for a path without a suffix, else the container format by suffix."""
    if not out.suffix:
        return "folder"
    fmt = VIDEO_SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise VideoError(f"{out}: unknown video format '{out.suffix}'; use {', '.join(sorted(VIDEO_SUFFIXES))} "
                         "or a folder for PNG frames")
    return fmt


def even(n: int) -> int:
    return max(2, n - n % 2)


class ClipWriter:
    """Writes frames to a video file (temporary file, renamed on success), a GIF, or a folder of PNGs.

    Use as a context manager; on an exception the temporary file is removed and nothing appears.
    """

    def __init__(self, out: str | Path, fps: Fraction, audio_from: Path | None = None):
        self.out, self.fps, self.audio_from = Path(out), Fraction(fps), audio_from
        self.kind = output_kind(self.out)
        self.count = 0
        self.container = self.stream = self.audio = None
        self.tmp = self.out.with_name(f".{self.out.name}.{os.getpid()}{TMP_SUFFIX}")

    @staticmethod
    def check(out: str | Path) -> None:
        """Refuse an unknown format or an unwritable place before any work starts."""
        from .imagefiles import check_writable_dir

        out = Path(out)
        check_writable_dir(out if output_kind(out) == "folder" else out.parent)

    def __enter__(self) -> "ClipWriter":
        self.check(self.out)
        if self.kind == "folder":
            self.out.mkdir(parents=True, exist_ok=True)
        else:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            for stale in stale_temporaries(self.out):
                stale.unlink(missing_ok=True)
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
                self.stream.options = {"crf": "18", "preset": "medium"}
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

    def write(self, frame: Tensor) -> None:
        self.count += 1
        if self.kind == "folder":
            save_image(frame, self.out / f"frame_{self.count:06d}.png")
            return
        av = _av()
        h, w = frame.shape[-2:]
        if self.container is None:
            self._open(even(w), even(h))
        rgb = (frame[0, :, : self.stream.height, : self.stream.width].clamp(0, 1) * 255 + 0.5).byte()
        arr = rgb.permute(1, 2, 0).contiguous().numpy()
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
        if self.container is None:
            if exc_type is None and self.kind != "folder":
                raise VideoError("the clip has no frames")
            return
        try:
            if exc_type is None:
                for packet in self.stream.encode():
                    self.container.mux(packet)
                if self.audio is not None:
                    self._copy_audio()
            self.container.close()
            if exc_type is None:
                os.replace(self.tmp, self.out)
        except (av.error.FFmpegError, ValueError) as e:
            raise VideoError(f"{self.out}: cannot write the video ({_why(e)})") from None
        finally:
            self.tmp.unlink(missing_ok=True)


def resize_frame(frame: Tensor, size: int | None) -> Tensor:
    """The longest side at ``size`` (no change when None), sides rounded to even numbers."""
    from .images import resize_longest

    if size is not None:
        frame = resize_longest(frame, size)
    h, w = frame.shape[-2:]
    return frame[..., : even(h), : even(w)]


# ---------------------------------------------------------------- stabilisation and flicker


def _grey(x: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


@functools.lru_cache(maxsize=8)
def _window(h: int, w: int) -> Tensor:
    return torch.outer(torch.hann_window(h, periodic=False), torch.hann_window(w, periodic=False))


def global_shift(prev: Tensor, cur: Tensor, max_shift: int = 64) -> tuple[int, int]:
    """The integer (dy, dx) that moves ``prev`` onto ``cur`` best, by phase correlation of their greys."""
    a, b = _grey(prev)[0, 0].float(), _grey(cur)[0, 0].float()
    a, b = a - a.mean(), b - b.mean()
    h, w = a.shape
    win = _window(h, w).to(a.device)
    fa, fb = torch.fft.rfft2(a * win), torch.fft.rfft2(b * win)
    cross = fb * fa.conj()
    corr = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-12), s=(h, w))
    idx = int(corr.argmax())
    dy, dx = divmod(idx, w)
    dy = dy - h if dy > h // 2 else dy
    dx = dx - w if dx > w // 2 else dx
    if abs(dy) > max_shift or abs(dx) > max_shift or (dy, dx) == (0, 0):
        return 0, 0

    def error(shift: tuple[int, int]) -> float:  # the peak can belong to a small moving object: check it
        moved, valid = shift_image(prev, *shift)
        return float(((cur - moved).abs() * valid).sum() / (valid.sum() * 3).clamp_min(1))

    return (dy, dx) if error((dy, dx)) < error((0, 0)) else (0, 0)


def shift_image(x: Tensor, dy: int, dx: int) -> tuple[Tensor, Tensor]:
    """``x`` moved by (dy, dx) and a 0/1 mask of where the moved image has content (N×1×H×W)."""
    out = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    valid = torch.ones_like(x[:, :1])
    h, w = x.shape[-2:]
    if dy > 0:
        valid[..., :dy, :] = 0
    elif dy < 0:
        valid[..., h + dy :, :] = 0
    if dx > 0:
        valid[..., :, :dx] = 0
    elif dx < 0:
        valid[..., :, w + dx :] = 0
    return out, valid


ZOOMS = (1.0, 1.01, 1 / 1.01, 1.02, 1 / 1.02)  # the camera zooms the stabiliser looks for


def warp(x: Tensor, scale: float, dy: float, dx: float) -> tuple[Tensor, Tensor]:
    """``x`` magnified by ``scale`` about its centre, then moved by (dy, dx) px; and where it has content.

    A pure whole-pixel move is exact (:func:`shift_image`); anything else is bilinear.
    """
    if scale == 1.0 and float(dy).is_integer() and float(dx).is_integer():
        return shift_image(x, int(dy), int(dx))
    n, _, h, w = x.shape
    theta = torch.tensor([[1 / scale, 0.0, -2 * dx / w / scale], [0.0, 1 / scale, -2 * dy / h / scale]],
                         dtype=x.dtype, device=x.device).expand(n, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    valid = (grid.abs() <= 1).all(dim=-1, keepdim=True).permute(0, 3, 1, 2).to(x.dtype)
    return out, valid


def _mismatch(a: Tensor, b: Tensor, valid: Tensor) -> float:
    return float(((a - b).abs() * valid).sum() / (valid.sum() * a.shape[1]).clamp_min(1))


def global_motion(prev: Tensor, cur: Tensor) -> tuple[float, int, int]:
    """The camera's zoom and shift from ``prev`` to ``cur``: (scale, dy, dx).

    Each zoom of :data:`ZOOMS` is tried on quarter-size greys (the shift by phase correlation), the
    best kept, and its shift found again at full size.
    """
    small_prev, small_cur = F.avg_pool2d(_grey(prev), 4), F.avg_pool2d(_grey(cur), 4)
    best = (math.inf, 1.0)
    for z in ZOOMS:
        zoomed, _ = warp(small_prev, z, 0, 0)
        dy, dx = global_shift(zoomed, small_cur)
        moved, valid = warp(zoomed, 1.0, dy, dx)
        err = _mismatch(moved, small_cur, valid * warp(torch.ones_like(small_prev[:, :1]), z, 0, 0)[1])
        best = min(best, (err, z))
    z = best[1]
    zoomed, _ = warp(prev, z, 0, 0)
    dy, dx = global_shift(zoomed, cur)
    return z, dy, dx


class Stabilizer:
    """Motion-compensated, change-gated temporal filtering of a clip, before and after the network.

    ``strength`` (0 … 1) is how much of the previous stylised frame is kept where the input stands
    still; ``denoise`` (0 … 1) is how much of the previous (filtered) input frame is mixed into the
    frame the network sees there, so sensor noise, which one-pass networks turn into texture that
    changes from frame to frame, is averaged away before it is stylised; ``threshold`` is the input
    change (mean over a 5×5 window, 0 … 1 units) above which a pixel counts as changed and takes the
    new frame alone (no ghosts). One instance per clip: call :meth:`prepare` on each input frame,
    stylise what it returns, then call the instance with the input frame and the stylised frame.
    """

    def __init__(self, strength: float = 0.9, denoise: float = 0.0, threshold: float = 0.12):
        for name, value in (("stabilize", strength), ("denoise", denoise)):
            if not 0.0 <= value < 1.0:
                raise NSTError(f"{name} must lie in [0, 1), not {value}")
        self.strength, self.denoise, self.threshold = strength, denoise, threshold
        self.prev_in: Tensor | None = None  # the last raw input frame
        self.prev_filtered: Tensor | None = None  # the last frame the network saw
        self.prev_out: Tensor | None = None
        self._gate: tuple[Tensor, tuple, Tensor] | None = None  # (frame, its motion, its keep map): once per frame

    def _follow(self, frame: Tensor) -> tuple[tuple, Tensor] | None:
        """The camera's motion from the previous input to ``frame`` and where the moved previous input
        still matches it (None at the start or a change of size); computed once per frame, shared by
        :meth:`prepare` and the output blend."""
        if self.prev_in is None or self.prev_in.shape != frame.shape:
            return None
        if self._gate is None or self._gate[0] is not frame:
            motion = global_motion(self.prev_in, frame)
            self._gate = (frame, motion, self._keep(frame, motion))
        return self._gate[1], self._gate[2]

    def _move(self, x: Tensor, motion: tuple) -> tuple[Tensor, Tensor]:
        z, dy, dx = motion
        zx, zvalid = warp(x, z, 0, 0)
        moved, valid = warp(zx, 1.0, dy, dx)
        return moved, valid * warp(zvalid, 1.0, dy, dx)[0]

    def _keep(self, frame: Tensor, motion: tuple) -> Tensor:
        """Per pixel: 1 where the moved previous input matches ``frame``, falling to 0 at ``threshold``."""
        moved_in, valid = self._move(self.prev_in, motion)
        change = F.avg_pool2d((frame - moved_in).abs().mean(dim=1, keepdim=True), 5, 1, 2, count_include_pad=False)
        return (1 - change / self.threshold).clamp(0, 1) * valid

    def _blend(self, frame: Tensor, new: Tensor, previous: Tensor | None, amount: float) -> Tensor:
        """``new`` with ``amount`` of ``previous`` (moved by the camera) mixed in where the input did not change."""
        gate = self._follow(frame) if amount > 0 and previous is not None else None
        if gate is None:
            return new
        motion, keep = gate
        moved, _ = self._move(previous, motion)
        return new + (keep * amount) * (moved - new)

    def prepare(self, frame: Tensor) -> Tensor:
        """The frame to stylise: ``frame`` with the previous filtered frame mixed in where nothing moved."""
        self.prev_filtered = self._blend(frame, frame, self.prev_filtered, self.denoise)
        return self.prev_filtered

    def __call__(self, frame: Tensor, stylized: Tensor) -> Tensor:
        out = self._blend(frame, stylized, self.prev_out, self.strength)
        self.prev_in, self.prev_out = frame, out
        return out


def flicker(inputs: list[Tensor], outputs: list[Tensor],
            motion: list[tuple[float, float, float]] | None = None) -> float:
    """Mean absolute change between consecutive output frames over that of the input frames.

    With ``motion`` (the known camera motion (scale, dy, dx) from frame t−1 to t, e.g. of a
    synthetic pan or zoom), each previous frame is moved first and only pixels present in both
    count: what remains is change the motion does not explain.
    """
    num = den = 0.0
    for t in range(1, len(outputs)):
        z, dy, dx = motion[t] if motion else (1.0, 0, 0)
        po, valid = warp(outputs[t - 1], z, dy, dx)
        pi, _ = warp(inputs[t - 1], z, dy, dx)
        num += _mismatch(outputs[t], po, valid)
        den += _mismatch(inputs[t], pi, valid)
    return num / den if den > 0 else math.nan


def synthetic_clip(photo: Tensor, kind: str, frames: int, size: tuple[int, int], noise: float = 1.5 / 255,
                   seed: int = 0) -> tuple[list[Tensor], list[tuple[float, float, float]]]:
    """A test clip made from a still photo: 'pan' (2 px per frame to the left), 'zoom' (1 % per frame) or
    'still', each with sensor-like Gaussian noise. Returns the frames and the known motion per frame
    as (scale, dy, dx) from the previous frame (for :func:`flicker`)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    out, shifts = [], []
    for t in range(frames):
        if kind == "pan":
            x0 = 2 * t
            crop = photo[..., :h, x0 : x0 + w]
            shifts.append((1.0, 0, -2) if t else (1.0, 0, 0))
        elif kind == "zoom":
            z = 1.0 + 0.01 * t
            ch, cw = round(photo.shape[-2] / z), round(photo.shape[-1] / z)
            y0, x0 = (photo.shape[-2] - ch) // 2, (photo.shape[-1] - cw) // 2
            crop = F.interpolate(photo[..., y0 : y0 + ch, x0 : x0 + cw], size=(h, w), mode="bilinear",
                                 align_corners=False, antialias=True)
            shifts.append((z / (1.0 + 0.01 * (t - 1)), 0, 0) if t else (1.0, 0, 0))
        elif kind == "still":
            crop = photo[..., :h, :w]
            shifts.append((1.0, 0, 0))
        else:
            raise ValueError(f"unknown clip kind {kind!r}")
        if crop.shape[-2:] != (h, w):
            raise ValueError("the photo is too small for this clip")
        out.append((crop + noise * torch.randn(crop.shape, generator=g)).clamp(0, 1))
    return out, shifts
