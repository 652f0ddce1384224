"""Temporal stabilisation of a stylised clip, and the flicker measure that judges it (numpy, no torch).

:class:`Stabilizer`: each stylised frame is blended with the previous stylised frame, moved by the camera's
global zoom and shift (a few zooms tried, the shift by phase correlation of consecutive input frames), only
where the input did not change after that motion. Where the scene moves, the new frame is taken as it is, so
moving things leave no ghosts; where it stands still, the texture the network re-invents at every frame
(flicker) is held steady. The same motion-compensated, change-gated blend also denoises the input before the
network sees it: a one-pass network turns sensor noise into texture that changes at every frame.

Frames are float32 N×C×H×W arrays in [0, 1] (CPU torch tensors are read as arrays). The motion is found on grey
images (the zoom at quarter size, the shift at full size), each frame's grey is computed once, and a whole-pixel
move is a copy of a window, so the filter costs a few ms a frame at 640×360 beside the network's pass.
"""

from __future__ import annotations

import collections
import functools
import math
from typing import Any

import numpy as np

from .errors import NSTError

Motion = tuple[float, int, int]  # (zoom about the centre, dy, dx) from the previous frame to this one


def _array(x: Any) -> np.ndarray:
    """A frame as a float32 array (a CPU tensor is read without a copy)."""
    return np.asarray(x, dtype=np.float32)


def _grey(x: np.ndarray) -> np.ndarray:
    if x.shape[1] == 1:
        return x
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).astype(np.float32, copy=False)


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of k×k blocks (the last rows and columns that do not fill a block are dropped, as avg_pool2d does)."""
    n, c, h, w = x.shape
    h, w = h // k * k, w // k * k
    return x[..., :h, :w].reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5), dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _window(h: int, w: int) -> np.ndarray:
    return np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)


def _spectrum(grey: np.ndarray) -> np.ndarray:
    """The windowed spectrum of a 2-D grey image, for :func:`_correlate`."""
    a = grey - grey.mean()
    return np.fft.rfft2(a * _window(*a.shape))


def _correlate(fa: np.ndarray, fb: np.ndarray, h: int, w: int, max_shift: int) -> tuple[int, int]:
    """The phase correlation's peak of two spectra as a shift (dy, dx); (0, 0) beyond ``max_shift``."""
    cross = fb * fa.conj()
    corr = np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-12), s=(h, w))
    dy, dx = divmod(int(corr.argmax()), w)
    dy = dy - h if dy > h // 2 else dy
    dx = dx - w if dx > w // 2 else dx
    return (0, 0) if abs(dy) > max_shift or abs(dx) > max_shift else (dy, dx)


def _checked(prev: np.ndarray, cur: np.ndarray, shift: tuple[int, int]) -> tuple[int, int]:
    """``shift`` when it explains ``cur`` better than no move (the peak can belong to a small moving object)."""
    if shift == (0, 0):
        return shift

    def error(s: tuple[int, int]) -> float:
        moved, valid = shift_image(prev, *s)
        return _mismatch(cur, moved, valid)

    return shift if error(shift) < error((0, 0)) else (0, 0)


def global_shift(prev: Any, cur: Any, max_shift: int = 64) -> tuple[int, int]:
    """The integer (dy, dx) that moves ``prev`` onto ``cur`` best, by phase correlation of their greys."""
    prev, cur = _array(prev), _array(cur)
    a, b = _grey(prev)[0, 0], _grey(cur)[0, 0]
    return _checked(prev, cur, _correlate(_spectrum(a), _spectrum(b), *a.shape, max_shift))


def shift_image(x: Any, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` moved by (dy, dx) and a 0/1 mask of where the moved image has content (N×1×H×W); outside it, ``x``
    as it was (any finite value would do: every use weighs it by the mask)."""
    x = _array(x)
    h, w = x.shape[-2:]
    out = x.copy()
    dst = (..., slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0)))
    out[dst] = x[..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    valid = np.zeros((x.shape[0], 1, h, w), np.float32)
    valid[dst] = 1.0
    return out, valid


ZOOMS = (1.0, 1.01, 1 / 1.01, 1.02, 1 / 1.02)  # the camera zooms the stabiliser looks for


def _axis(n: int, scale: float, d: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps along one axis of ``n`` px magnified by ``scale`` about the centre, then moved by ``d``
    (torch's affine_grid and grid_sample, align_corners=False, border padding): (first, second, weight of
    the second, inside)."""
    src = (np.arange(n) + 0.5 - n / 2 - d) / scale + n / 2 - 0.5
    inside = (src >= -0.5) & (src <= n - 0.5)
    src = np.clip(src, 0, n - 1)
    i0 = np.floor(src).astype(np.intp)
    return i0, np.minimum(i0 + 1, n - 1), (src - i0).astype(np.float32), inside


def warp(x: Any, scale: float, dy: float, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """``x`` magnified by ``scale`` about its centre, then moved by (dy, dx) px; and where it has content.

    A pure whole-pixel move is exact (:func:`shift_image`); anything else is bilinear, one axis at a time.
    """
    x = _array(x)
    if scale == 1.0 and float(dy).is_integer() and float(dx).is_integer():
        return shift_image(x, int(dy), int(dx))
    h, w = x.shape[-2:]
    y0, y1, fy, in_y = _axis(h, scale, dy)
    x0, x1, fx, in_x = _axis(w, scale, dx)
    rows = np.take(x, y0, axis=-2)  # np.take keeps the result C-ordered; x[..., y0, :] does not, and every
    rows += (np.take(x, y1, axis=-2) - rows) * fy[:, None]  # operation after it would run strided
    out = np.take(rows, x0, axis=-1)
    out += (np.take(rows, x1, axis=-1) - out) * fx
    valid = np.broadcast_to((in_y[:, None] & in_x[None, :]).astype(np.float32), (x.shape[0], 1, h, w))
    return out, valid


def _mismatch(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    return float((np.abs(a - b) * valid).sum(dtype=np.float64) / max(float(valid.sum()) * a.shape[1], 1.0))


def _box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """The mean over a (2r+1)² window, counting only pixels inside the image (avg_pool2d, count_include_pad=False)."""
    h, w = x.shape[-2:]
    pad = np.zeros(x.shape[:-2] + (h + 2 * r, w + 2 * r), np.float32)
    pad[..., r : r + h, r : r + w] = x
    rows = pad[..., : h, :].copy()
    for i in range(1, 2 * r + 1):
        rows += pad[..., i : i + h, :]
    out = rows[..., : w].copy()
    for i in range(1, 2 * r + 1):
        out += rows[..., i : i + w]
    count = lambda n: np.minimum(np.arange(n) + r + 1, n) - np.maximum(np.arange(n) - r, 0)
    out /= np.outer(count(h), count(w)).astype(np.float32)
    return out


class _Frame:
    """A frame with its grey and quarter-size grey, computed once and kept for the next frame's motion."""

    def __init__(self, x: np.ndarray):
        self.x = x
        self.grey = _grey(x)
        self.small = _pool(self.grey, 4)
        self.spectrum: np.ndarray | None = None  # of the grey, unzoomed: the next frame reuses it

    def grey_spectrum(self) -> np.ndarray:
        if self.spectrum is None:
            self.spectrum = _spectrum(self.grey[0, 0])
        return self.spectrum


def _motion(prev: _Frame, cur: _Frame) -> Motion:
    """The camera's zoom (the best of :data:`ZOOMS` on quarter-size greys) and whole-pixel shift (full size)."""
    best = (math.inf, 1.0)
    small_cur = cur.small
    for z in ZOOMS:
        zoomed, zvalid = warp(prev.small, z, 0, 0)
        dy, dx = global_shift(zoomed, small_cur)
        moved, valid = shift_image(zoomed, dy, dx)
        best = min(best, (_mismatch(moved, small_cur, valid * zvalid), z))
    z = best[1]
    h, w = cur.grey.shape[-2:]
    if z == 1.0:
        zoomed, fa = prev.grey, prev.grey_spectrum()
    else:
        zoomed = warp(prev.grey, z, 0, 0)[0]
        fa = _spectrum(zoomed[0, 0])
    dy, dx = _checked(zoomed, cur.grey, _correlate(fa, cur.grey_spectrum(), h, w, 64))
    return z, dy, dx


def global_motion(prev: Any, cur: Any) -> Motion:
    """The camera's zoom and shift from ``prev`` to ``cur``: (scale, dy, dx).

    Each zoom of :data:`ZOOMS` is tried on quarter-size greys (the shift by phase correlation), the
    best kept, and its shift found again at full size.
    """
    return _motion(_Frame(_array(prev)), _Frame(_array(cur)))


def move(x: np.ndarray, motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """``x`` zoomed about its centre, then shifted, by ``motion`` (one resampling), and where it has content."""
    return warp(x, *motion)


class Stabilizer:
    """Motion-compensated, change-gated temporal filtering of a clip, before and after the network.

    ``strength`` (0 … 1) is how much of the previous stylised frame is kept where the input stands
    still; ``denoise`` (0 … 1) is how much of the previous (filtered) input frame is mixed into the
    frame the network sees there, so sensor noise, which one-pass networks turn into texture that
    changes from frame to frame, is averaged away before it is stylised; ``threshold`` is the input
    change (mean over a 5×5 window, 0 … 1 units) above which a pixel counts as changed and takes the
    new frame alone (no ghosts). One instance per clip: call :meth:`prepare` on each input frame,
    stylise what it returns, then call the instance with the input frame and the stylised frame, in
    the same order. :meth:`prepare` may run a few frames ahead of the call (the network can work on
    several frames at once): each frame's motion is found once, there, and kept until its call.
    """

    def __init__(self, strength: float = 0.9, denoise: float = 0.0, threshold: float = 0.12):
        for name, value in (("stabilize", strength), ("denoise", denoise)):
            if not 0.0 <= value < 1.0:
                raise NSTError(f"{name} must lie in [0, 1), not {value}")
        self.strength, self.denoise, self.threshold = strength, denoise, threshold
        self.prev_in: _Frame | None = None  # the last input frame seen
        self.prev_filtered: np.ndarray | None = None  # the last frame the network was given
        self.prev_out: np.ndarray | None = None
        self._pending: collections.deque = collections.deque()  # (frame, its gate) from prepare, until the call

    def _gate(self, frame: Any) -> tuple[Motion, np.ndarray] | None:
        """The camera's motion from the previous input to ``frame`` and where the moved previous input still
        matches it (None at the start or a change of size); ``frame`` becomes the previous input."""
        cur = _Frame(_array(frame))
        prev, self.prev_in = self.prev_in, cur
        if prev is None or prev.x.shape != cur.x.shape:
            return None
        motion = _motion(prev, cur)
        return motion, self._keep(prev.x, cur.x, motion)

    def _keep(self, prev: np.ndarray, frame: np.ndarray, motion: Motion) -> np.ndarray:
        """Per pixel: 1 where the moved previous input matches ``frame``, falling to 0 at ``threshold``."""
        moved_in, valid = move(prev, motion)
        change = _box_mean(np.abs(frame - moved_in).mean(axis=1, keepdims=True, dtype=np.float32), 2)
        return np.clip(1 - change / self.threshold, 0, 1) * valid

    @staticmethod
    def _blend(gate: tuple[Motion, np.ndarray] | None, new: np.ndarray, previous: np.ndarray | None,
               amount: float) -> np.ndarray:
        """``new`` with ``amount`` of ``previous`` (moved by the camera) mixed in where the input did not change."""
        if gate is None or previous is None or amount == 0 or previous.shape != new.shape:
            return new
        motion, keep = gate
        moved, _ = move(previous, motion)
        moved -= new
        moved *= keep * np.float32(amount)
        return new + moved

    def prepare(self, frame: Any) -> np.ndarray:
        """The frame to stylise: ``frame`` with the previous filtered frame mixed in where nothing moved."""
        if self.strength == 0 and self.denoise == 0:
            return _array(frame)
        gate = self._gate(frame)
        self._pending.append((frame, gate))
        self.prev_filtered = self._blend(gate, _array(frame), self.prev_filtered, self.denoise)
        return self.prev_filtered

    def __call__(self, frame: Any, stylized: Any) -> np.ndarray:
        if self.strength == 0 and self.denoise == 0:
            return _array(stylized)
        if self._pending and self._pending[0][0] is frame:
            gate = self._pending.popleft()[1]
        else:  # a caller that does not prepare its frames
            gate = self._gate(frame)
        self.prev_out = self._blend(gate, _array(stylized), self.prev_out, self.strength)
        return self.prev_out


def flicker(inputs: list[Any], outputs: list[Any], motion: list[Motion] | None = None) -> float:
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
        num += _mismatch(_array(outputs[t]), po, valid)
        den += _mismatch(_array(inputs[t]), pi, valid)
    return num / den if den > 0 else math.nan


def synthetic_clip(photo: Any, kind: str, frames: int, size: tuple[int, int], noise: float = 1.5 / 255,
                   seed: int = 0) -> tuple[list[Any], list[Motion]]:
    """A test clip made from a still photo (a 1×3×H×W tensor): 'pan' (2 px per frame to the left), 'zoom'
    (1 % per frame) or 'still', each with sensor-like Gaussian noise. Returns the frames (tensors) and the known
    motion per frame as (scale, dy, dx) from the previous frame (for :func:`flicker`)."""
    import torch
    import torch.nn.functional as F

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
