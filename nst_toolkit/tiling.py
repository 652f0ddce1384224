"""Any-size images for the one-pass engines: overlapping tiles, feathered blending, shared statistics.

A network's output at a pixel depends on the input within its receptive field, so a tile cut with
a margin (``halo``) of real neighbouring pixels gives exactly the untiled output in its middle —
provided every normalisation uses the *whole image's* statistics, not the tile's, and tile origins
keep the network's pooling grid (a multiple of its stride). Each engine supplies those statistics
(see ``FastEngine``/``AdaINEngine.tile_function``); this module cuts, runs and blends. Neighbouring
tiles overlap by ``overlap`` pixels and are cross-faded there with linear ramps, which hides any
remaining difference (e.g. statistics taken from a downscaled pass).

Memory is bounded by the tile: one tile's activations (at most :data:`~nst_toolkit.memory.TILE_BYTES` when the size is
chosen automatically) plus the input and output images. Untiled images go through
:func:`run_padded` (padded to the network's stride, cropped back), and every output is checked by
:func:`check_finite_output` before anything is written.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import DivergedError, NSTError


def tile_spans(length: int, tile: int, overlap: int, multiple: int) -> list[tuple[int, int]]:
    """[start, end) of tiles covering ``length``: starts on multiples of ``multiple``, neighbours overlapping
    by at least ``overlap``; the last tile ends at ``length`` (it may be up to ``multiple`` − 1 px longer)."""
    if tile >= length:
        return [(0, length)]
    step = max(multiple, (tile - overlap) // multiple * multiple)
    starts = list(range(0, length - tile, step))
    last = (length - tile) // multiple * multiple
    if starts and starts[-1] >= last:
        starts.pop()
    return [(s, s + tile) for s in starts] + [(last, length)]


def _ramp(n: int, start: int, end: int, overlap: int, length: int, device) -> Tensor:
    """Blend weights along one axis for a tile spanning [start, end): 1 inside, linear over the overlap."""
    w = torch.ones(n, device=device)
    if overlap > 0:
        r = torch.arange(1, overlap + 1, device=device, dtype=torch.float32) / (overlap + 1)
        if start > 0:
            w[:overlap] = torch.minimum(w[:overlap], r[: min(overlap, n)])
        if end < length:
            w[-overlap:] = torch.minimum(w[-overlap:], r.flip(0)[-min(overlap, n):])
    return w


def run_tiled(fn: Callable[[Tensor], Tensor], image: Tensor, *, tile: int, halo: int, overlap: int = 32,
              multiple: int = 8, on_tile: Callable[[int, int], None] | None = None) -> Tensor:
    """``fn`` applied to ``image`` (1×3×H×W) tile by tile; ``fn`` maps a 1×3×h×w crop to its 1×3×h×w result.

    Each tile of ``tile``×``tile`` output pixels is computed from a crop extended by ``halo`` px of
    real context on every side (less at the image's edges) and blended into the output.
    """
    if image.shape[0] != 1:
        raise NSTError("tiling takes one image at a time")
    if tile < 2 * overlap or tile % multiple:
        raise NSTError(f"tile must be a multiple of {multiple} and at least {2 * overlap} px, not {tile}")
    _, c, h, w = image.shape
    halo = -(-halo // multiple) * multiple
    ys, xs = tile_spans(h, tile, overlap, multiple), tile_spans(w, tile, overlap, multiple)
    out = torch.zeros(1, 3, h, w, device=image.device)
    # Each tile's weight is a product wy(y)·wx(x), so the weights summed over all tiles are the
    # product of the two 1-D sums: two vectors instead of a full-size weight map (96 MB at 24 MP).
    ramps_y = [_ramp(y1 - y0, y0, y1, overlap, h, image.device) for y0, y1 in ys]
    ramps_x = [_ramp(x1 - x0, x0, x1, overlap, w, image.device) for x0, x1 in xs]
    wsum_y = torch.zeros(h, device=image.device)
    wsum_x = torch.zeros(w, device=image.device)
    for (y0, y1), r in zip(ys, ramps_y):
        wsum_y[y0:y1] += r
    for (x0, x1), r in zip(xs, ramps_x):
        wsum_x[x0:x1] += r
    total, done = len(ys) * len(xs), 0
    for (y0, y1), wy in zip(ys, ramps_y):
        for (x0, x1), wx in zip(xs, ramps_x):
            cy0, cx0 = max(0, y0 - halo), max(0, x0 - halo)
            cy0, cx0 = cy0 - cy0 % multiple, cx0 - cx0 % multiple  # keep the network's pooling grid
            cy1, cx1 = min(h, y1 + halo), min(w, x1 + halo)
            result = fn(image[..., cy0:cy1, cx0:cx1])
            core = result[..., y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
            out[..., y0:y1, x0:x1] += core * (wy[:, None] * wx[None, :])
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    out.div_(wsum_y.clamp_min_(1e-8).view(1, 1, h, 1)).div_(wsum_x.clamp_min_(1e-8).view(1, 1, 1, w))
    return out.clamp_(0, 1)  # in place: no second full-size image


class FixedInstanceNorm(torch.nn.Module):
    """Instance norm with given per-channel statistics (the whole image's) instead of the input's own."""

    def __init__(self, norm: torch.nn.InstanceNorm2d, mean: Tensor, var: Tensor):
        super().__init__()
        self.norm, self.mean, self.var = norm, mean, var

    def forward(self, x: Tensor) -> Tensor:
        y = (x - self.mean) / (self.var + self.norm.eps).sqrt()
        if self.norm.affine:
            y = y * self.norm.weight.view(1, -1, 1, 1) + self.norm.bias.view(1, -1, 1, 1)
        return y


def instance_norm_stats(net: torch.nn.Module, image: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
    """Each InstanceNorm2d's input mean and variance (per channel) when ``net`` runs on ``image``."""
    stats: dict[str, tuple[Tensor, Tensor]] = {}
    hooks = []
    for name, m in net.named_modules():
        if isinstance(m, torch.nn.InstanceNorm2d):
            def hook(module, args, name=name):
                x = args[0]
                stats[name] = (x.mean(dim=(2, 3), keepdim=True), x.var(dim=(2, 3), keepdim=True, unbiased=False))
            hooks.append(m.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            net(image)
    finally:
        for h in hooks:
            h.remove()
    return stats


def with_fixed_norms(net: torch.nn.Module, stats: dict[str, tuple[Tensor, Tensor]]) -> torch.nn.Module:
    """A copy of ``net`` whose instance norms use ``stats`` (from :func:`instance_norm_stats`)."""
    import copy

    fixed = copy.deepcopy(net)
    for name, (mean, var) in stats.items():
        parent_name, _, child = name.rpartition(".")
        parent = fixed.get_submodule(parent_name) if parent_name else fixed
        parent._modules[child] = FixedInstanceNorm(parent._modules[child], mean, var)
    return fixed


def pad_to_multiple(image: Tensor, multiple: int) -> Tensor:
    """Reflect-pad ``image`` on the bottom and right so both sides are multiples of ``multiple``.

    Written with plain tensor arithmetic so TorchScript and ONNX export can trace it.
    """
    h, w = image.shape[-2], image.shape[-1]
    ph, pw = (multiple - h % multiple) % multiple, (multiple - w % multiple) % multiple
    return F.pad(image, [0, pw, 0, ph], mode="reflect")


def run_padded(fn: Callable[[Tensor], Tensor], image: Tensor, multiple: int) -> Tensor:
    """Apply ``fn`` to ``image`` padded to a multiple of ``multiple``; crop back; clamp to [0, 1]."""
    h, w = image.shape[-2], image.shape[-1]
    return fn(pad_to_multiple(image, multiple))[..., :h, :w].clamp(0, 1)


def check_finite_output(image: Tensor, what: str) -> Tensor:
    """A network output with NaN or Inf would save as a black picture: refuse it instead."""
    if not bool(torch.isfinite(image).all()):
        raise DivergedError(f"{what} produced non-finite pixels (broken or exploding weights?); nothing was written")
    return image
