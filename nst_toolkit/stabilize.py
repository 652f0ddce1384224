"""Temporal stabilisation of a stylised clip, and the flicker measure that judges it.

:class:`Stabilizer`: each stylised frame is blended with the previous stylised frame, moved by the camera's
global zoom and shift (a few zooms tried, the shift by phase correlation of consecutive input frames), only
where the input did not change after that motion. Where the scene moves, the new frame is taken as it is, so
moving things leave no ghosts; where it stands still, the texture the network re-invents at every frame
(flicker) is held steady. The same motion-compensated, change-gated blend also denoises the input before the
network sees it: a one-pass network turns sensor noise into texture that changes at every frame.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import NSTError


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
