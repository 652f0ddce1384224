"""The pixel-optimisation loss of a picture too large for one VGG-19 pass, and its gradient, tile by tile.

A print-size picture (4096 px: 9.4 million pixels) needs about 2 kB of VGG-19 activations per pixel for a
forward and backward pass — far beyond a machine's memory — while the loss itself depends on the whole
picture: the style term on Gram matrices (means over every position), the content term on every position.
This module computes the exact loss and gradient with one tile's activations alive at a time:

1. *Statistics pass* (no gradients): every tile's features, cropped to the region the tile owns, add their
   share to the whole picture's Gram matrices.
2. The style loss is a function of those Gram matrices only; its gradient with respect to them, ``dL/dG``,
   is one small autograd call.
3. *Gradient pass*: every tile again, with gradients; the surrogate ⟨dL/dG, the tile's share of G⟩ plus the
   tile's share of the content loss has, by the chain rule, the whole loss's gradient for the pixels the
   tile sees; the tiles' pixel gradients add up.

Each tile is the region it owns (its core) plus a margin of :data:`HALO` pixels, wider than the receptive
field of the deepest layer used (relu5_4: 252 px, a radius of 126), so the core's features equal those of
the whole picture; tile origins are multiples of :data:`ALIGN` (four poolings down to relu5_x), so the
pooling grids line up. Up to float rounding the result is the untiled loss and gradient (tested on a small
picture). The cost is one more forward pass per tile and the margins: about twice the untiled work at
4096 px. Tensors are N×3×H×W float32 in [0, 1]; nothing here keeps state between calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from .layers import LAYER_NAMES

ALIGN = 16  # stride of relu5_x: tile origins on this grid keep every pooling window the same as untiled
HALO = 128  # ≥ relu5_4's receptive-field radius (126 px), a multiple of ALIGN
# Memory of a forward and backward pass per pixel of a tile, measured: improved's loss (VGG-19 to relu5_4,
# channels-last, 16 chained Gram terms), peak RSS growth 3.6 kB/px at 512², 3.4 kB/px at 1024² (CPU).
GRAD_BYTES_PER_PIXEL = 3400.0
TILE_BYTES = 4.0 * 2**30  # one tile's activations stay within this

GramFn = Callable[[dict[str, Tensor]], list[Tensor]]
"""Features (already cropped to a region) → the style statistics of that region, each a mean over positions."""
CountFn = Callable[[dict[str, Tensor]], list[int]]
"""Features → how many positions each statistic of :data:`GramFn` averages over."""
StyleFn = Callable[[list[Tensor]], Tensor]
"""The whole picture's statistics → the weighted style loss (differentiable in the statistics)."""


def stride(layer: str) -> int:
    """How many pixels one position of ``layer``'s feature map spans (1, 2, 4, 8 or 16 for VGG-19)."""
    return 2 ** sum(1 for n in LAYER_NAMES[: LAYER_NAMES.index(layer)] if n.startswith("pool"))


@dataclass(frozen=True)
class Tile:
    """A tile: the window fed to the network (``y0:y1``, ``x0:x1``) and the core it owns (``cy0:cy1``, ``cx0:cx1``)."""

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int


def plan(height: int, width: int, core: int, halo: int = HALO) -> list[Tile]:
    """Tiles owning every pixel of a ``height``×``width`` picture once, cores of ``core`` px (a multiple of
    :data:`ALIGN`) with ``halo`` px of context on each side inside the picture."""
    if core % ALIGN or halo % ALIGN or core <= 0:
        raise ValueError(f"core ({core}) and halo ({halo}) must be positive multiples of {ALIGN}")
    tiles = []
    for cy0 in range(0, height, core):
        for cx0 in range(0, width, core):
            cy1, cx1 = min(height, cy0 + core), min(width, cx0 + core)
            tiles.append(Tile(max(0, cy0 - halo), min(height, cy1 + halo), max(0, cx0 - halo), min(width, cx1 + halo),
                              cy0, cy1, cx0, cx1))
    return tiles


def tile_core(budget: float = TILE_BYTES, bytes_per_pixel: float = GRAD_BYTES_PER_PIXEL, halo: int = HALO) -> int:
    """The largest core (a multiple of :data:`ALIGN`, at least 64) whose window with its margins keeps its
    activations within ``budget`` bytes."""
    side = int(math.sqrt(budget / bytes_per_pixel)) - 2 * halo
    return max(64, side // ALIGN * ALIGN)


def choose_core(height: int, width: int, tile: int | None) -> int | None:
    """The core size of the tiles for a ``height``×``width`` scale: ``tile`` when given (rounded down to
    :data:`ALIGN`; 0: never tile); else None (one pass) when its activations fit :data:`TILE_BYTES`, and
    :func:`tile_core` when they do not."""
    if tile == 0:
        return None
    if tile is not None:
        return max(ALIGN, tile // ALIGN * ALIGN)
    if height * width * GRAD_BYTES_PER_PIXEL <= TILE_BYTES:
        return None
    return tile_core()


def largest_untiled(width: int, height: int) -> int:
    """The longest side of a ``width``:``height`` picture whose activations fit :data:`TILE_BYTES` in one pass."""
    pixels = TILE_BYTES / GRAD_BYTES_PER_PIXEL
    return int(math.sqrt(pixels * max(width, height) / max(1, min(width, height))))


def _core_span(start: int, end: int, total: int, origin: int, s: int, size: int) -> slice:
    """The feature rows (or columns) of a tile's map (origin ``origin``, ``size`` positions at stride ``s``)
    that belong to the pixels ``start:end`` of a picture ``total`` long."""
    a = (start - origin) // s
    b = size if end >= total else (end - origin) // s
    return slice(a, b)


def crop_core(feats: dict[str, Tensor], t: Tile, height: int, width: int) -> dict[str, Tensor]:
    """Each feature map of a tile cut to the positions of its core."""
    out = {}
    for name, f in feats.items():
        s = stride(name)
        out[name] = f[..., _core_span(t.cy0, t.cy1, height, t.y0, s, f.shape[-2]),
                      _core_span(t.cx0, t.cx1, width, t.x0, s, f.shape[-1])]
    return out


def _window(image: Tensor, t: Tile) -> Tensor:
    return image[..., t.y0:t.y1, t.x0:t.x1]


def _pass(vgg, image: Tensor, layers: Sequence[str], grams: GramFn, counts: CountFn, core: int,
          local: Callable[[dict[str, Tensor], Tile], Tensor] | None = None) -> tuple[list[Tensor], list[int], Tensor | None]:
    """One pass over the tiles without gradients: the whole picture's statistics (means), their counts, and
    the sum of ``local`` over the tiles (None without it)."""
    h, w = image.shape[-2:]
    sums: list[Tensor] = []
    totals: list[int] = []
    acc = None
    with torch.no_grad():
        for t in plan(h, w, core):
            f = crop_core(vgg(_window(image, t), layers), t, h, w)
            g, n = grams(f), counts(f)
            if not sums:
                sums, totals = [torch.zeros_like(gi) for gi in g], [0] * len(g)
            for i, (gi, ni) in enumerate(zip(g, n)):
                if ni:  # a core narrower than a deep layer's stride owns none of its positions
                    sums[i] += gi * ni
                    totals[i] += ni
            if local is not None:
                v = local(f, t)
                acc = v if acc is None else acc + v
    return [s / n for s, n in zip(sums, totals)], totals, acc


def tiled_grams(vgg, image: Tensor, layers: Sequence[str], grams: GramFn, counts: CountFn, core: int) -> list[Tensor]:
    """The whole picture's statistics (``grams`` of its features), computed tile by tile without gradients."""
    return _pass(vgg, image, layers, grams, counts, core)[0]


def _tile_map(vgg, image: Tensor, layer: str, t: Tile) -> Tensor:
    """``layer``'s features of ``image`` at the positions tile ``t``'s core owns (no gradients)."""
    h, w = image.shape[-2:]
    with torch.no_grad():
        return crop_core(vgg(_window(image, t), [layer]), t, h, w)[layer]


def tiled_features(vgg, image: Tensor, layer: str, core: int) -> Tensor:
    """``layer``'s feature map of the whole picture, assembled from the tiles' cores (no gradients)."""
    h, w = image.shape[-2:]
    s = stride(layer)
    out = None
    for t in plan(h, w, core):
        f = _tile_map(vgg, image, layer, t)
        if out is None:
            out = f.new_zeros(f.shape[0], f.shape[1], h // s, w // s)
        out[..., t.cy0 // s: t.cy0 // s + f.shape[-2], t.cx0 // s: t.cx0 // s + f.shape[-1]] = f
    return out


@dataclass(frozen=True)
class ContentTarget:
    """One content layer's target for :class:`TiledObjective`: the whole picture's feature ``map``, or (``map``
    None) the ``source`` image whose features are recomputed under each tile — for full-resolution layers
    (relu1_x), whose map would take 256 bytes a pixel, as much again as the rest of a print-size run; ``count``
    is the map's number of values, ``weight`` the layer's weight."""

    weight: float
    count: int
    map: Tensor | None = None
    source: Tensor | None = None


def content_target(vgg, image: Tensor, layer: str, core: int, weight: float, relative: bool = True) -> ContentTarget:
    """``layer``'s content target of ``image`` computed tile by tile, with ``weight`` divided by the target's
    mean square when ``relative``; a full-resolution layer keeps only the image (:class:`ContentTarget`)."""
    if stride(layer) > 1:
        t = tiled_features(vgg, image, layer, core)
        return ContentTarget(weight / (float(t.square().mean()) + 1e-8) if relative else weight, t.numel(), map=t)
    squares, count = 0.0, 0
    for tile in plan(*image.shape[-2:], core):
        f = _tile_map(vgg, image, layer, tile)
        squares += float(f.double().square().sum())
        count += f.numel()
    return ContentTarget(weight / (squares / count + 1e-8) if relative else weight, count, source=image)


class TiledObjective:
    """Content and style terms of one scale, value and gradient computed tile by tile.

    ``content`` maps each content layer to its :class:`ContentTarget`: the term is Σ weight · mean((F − P)²),
    as :func:`nst_toolkit.losses.content_loss`. ``style(grams)`` turns the whole
    picture's statistics into the weighted style loss. ``terms(x)`` returns {"content", "style"} like an
    engine's loss function; with gradients enabled, their backward is the exact gradient of their sum.
    """

    def __init__(self, vgg, layers: Sequence[str], grams: GramFn, counts: CountFn, style: StyleFn,
                 content: dict[str, ContentTarget], core: int):
        self.vgg, self.layers, self.core = vgg, list(layers), core
        self.grams, self.counts, self.style, self.content = grams, counts, style, content

    def _content_share(self, f: dict[str, Tensor], t: Tile) -> Tensor:
        """The tile's core's part of the content term (its squared errors over the whole term's count)."""
        total = f[next(iter(f))].new_zeros(())
        for name, target in self.content.items():
            s = stride(name)
            fc = f[name]
            if target.map is not None:
                p = target.map[..., t.cy0 // s: t.cy0 // s + fc.shape[-2], t.cx0 // s: t.cx0 // s + fc.shape[-1]]
            else:  # a full-resolution layer: the photo's features under this tile, recomputed
                p = _tile_map(self.vgg, target.source, name, t)
            total = total + target.weight * (fc - p).square().sum() / target.count
        return total

    def value(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(content, style) of ``x`` without gradients: one pass over the tiles."""
        g, _, content = _pass(self.vgg, x, self.layers, self.grams, self.counts, self.core, self._content_share)
        with torch.no_grad():
            return content, self.style(g)

    def value_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(content, style, d(content + style)/dx): the statistics pass, dL/dG, then the gradient pass."""
        h, w = x.shape[-2:]
        x = x.detach()
        g_all, totals, _ = _pass(self.vgg, x, self.layers, self.grams, self.counts, self.core)
        leaves = [g.detach().requires_grad_(True) for g in g_all]
        with torch.enable_grad():
            style = self.style(leaves)
            d_grams = torch.autograd.grad(style, leaves)
        grad = torch.zeros_like(x)
        content = x.new_zeros(())
        for t in plan(h, w, self.core):
            with torch.enable_grad():
                win = _window(x, t).clone().requires_grad_(True)
                f = crop_core(self.vgg(win, self.layers), t, h, w)
                c = self._content_share(f, t)
                # this tile's share of each whole-picture mean is (its count / the total) × its own mean
                shares = sum((dg * gi).sum() * (ni / nt)
                             for dg, gi, ni, nt in zip(d_grams, self.grams(f), self.counts(f), totals) if ni)
                (c + shares).backward()
            grad[..., t.y0:t.y1, t.x0:t.x1] += win.grad
            content = content + c.detach()
            del f, win, c, shares
        return content, style.detach(), grad

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        """{"content", "style"} of ``x``; differentiable (exactly, through :meth:`value_and_grad`) when
        gradients are on and ``x`` requires them, else a value-only pass."""
        if torch.is_grad_enabled() and x.requires_grad:
            content, style = _TiledTerms.apply(x, self)
            return {"content": content, "style": style}
        content, style = self.value(x.detach())
        return {"content": content, "style": style}


class _TiledTerms(torch.autograd.Function):
    """(content, style) of an image with the tiled gradient of their sum as the backward.

    The two outputs share one gradient (that of their sum), so they may only be summed with equal weights —
    which is what the optimisation loop does; anything else is refused rather than silently wrong.
    """

    @staticmethod
    def forward(ctx, x: Tensor, objective: TiledObjective):  # type: ignore[override]
        content, style, grad = objective.value_and_grad(x)
        ctx.save_for_backward(grad)
        return content, style

    @staticmethod
    def backward(ctx, g_content: Tensor, g_style: Tensor):  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        if not torch.equal(g_content, g_style):
            raise RuntimeError("tiled content and style terms carry one gradient: sum them with equal weights")
        return grad * g_content, None
