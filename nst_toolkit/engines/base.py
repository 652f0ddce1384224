"""What every engine shares: the Engine protocol, a small base class, and input-preparation helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import NSTError
from ..imagefiles import MIN_SIDE
from ..images import check_min_size, resize_longest
from ..optimize import Step
from ..styles import StyleSet, StylesLike, as_style_set

if TYPE_CHECKING:
    from ..tiled_loss import ContentTarget


class Engine(Protocol):
    """One interface for every engine, so the CLI, `nst compare` and `nst demo` treat them alike."""

    name: str
    config: Any

    def stylize(self, content: Tensor, styles: StylesLike, *, on_step: Callable[[Step], None] | None = None) -> Tensor: ...

    def bind(self, styles: StylesLike) -> Callable[[Tensor], Tensor]: ...

    def planned_steps(self) -> int | None: ...


class EngineBase:
    """Defaults for the optional parts of :class:`Engine`."""

    name = "?"
    config: Any = None

    def stylize(self, content: Tensor, styles: StylesLike, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        raise NotImplementedError

    def bind(self, styles: StylesLike) -> Callable[[Tensor], Tensor]:
        """A function content → result for many contents and the same styles (engines may encode the styles once)."""
        s = as_style_set(styles)
        return lambda content: self.stylize(content, s)

    def planned_steps(self) -> int | None:
        """How many progress steps :meth:`stylize` reports (None: it reports none)."""
        return None


def scale_style(style: Tensor, content: Tensor, style_scale: float) -> Tensor:
    """Resize ``style`` so its longest side is ``style_scale`` × the content's longest side."""
    if style_scale <= 0:
        raise NSTError(f"style scale must be positive, not {style_scale}")
    size = max(1, round(max(content.shape[-2:]) * style_scale))
    out = resize_longest(style, size)
    check_min_size(out, f"style image at scale {style_scale}", MIN_SIDE)
    return out


def init_image(kind: str, content: Tensor, style: Tensor, seed: int) -> Tensor:
    """The starting image: the content, the content in the style's colours (mean and covariance, as
    Gatys et al. 2017 sec. 5.2 move colours), white noise (seeded, never the global RNG) or the style."""
    if kind == "content":
        return content.clone()
    if kind == "recolour":
        from ..colour import match_histogram

        return match_histogram(content, style)
    if kind == "noise":
        g = torch.Generator(device="cpu").manual_seed(seed)
        return torch.rand(content.shape, generator=g).to(content.device)
    if kind == "style":
        return F.interpolate(style, size=content.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    raise NSTError(f"init must be 'content', 'recolour', 'noise' or 'style', not '{kind}'")


def target_scale(target: Tensor) -> float:
    """Mean square of a target (Gram matrix or features): the divisor that makes a layer's loss relative."""
    return float(target.square().mean()) + 1e-8


def tile_core_for(image: Tensor, tile: int | None, has_mask: bool, engine: str) -> int | None:
    """The tile core of a pixel-optimisation scale (:func:`nst_toolkit.tiled_loss.choose_core`); a mask is refused
    where tiles are needed, with the largest size that runs in one pass."""
    from ..tiled_loss import choose_core, largest_untiled

    core = choose_core(image.shape[-2], image.shape[-1], tile)
    if core is not None and has_mask:
        raise NSTError(f"{engine} with a mask works up to one pass of the network (about --size "
                       f"{largest_untiled(image.shape[-1], image.shape[-2])} here); masks are not cut into tiles")
    return core


def tiled_content(vgg, content: Tensor, layers: tuple[str, ...], weight: float, core: int,
                  relative: bool = True) -> dict[str, ContentTarget]:
    """Content targets of a picture computed tile by tile (:class:`nst_toolkit.tiled_loss.ContentTarget`), each with
    its weight: ``weight`` shared equally by the layers, each divided by its target's mean square when ``relative``
    (as :func:`nst_toolkit.engines.gatys.engine.content_term`)."""
    from ..tiled_loss import content_target

    return {k: content_target(vgg, content, k, core, weight / len(layers), relative) for k in layers}


def style_masks(styles: StyleSet, content: Tensor) -> list[Tensor | None]:
    """Per style, the region of the content it applies to (None: everywhere)."""
    from ..styles import prepare_mask

    if styles.mask is None:
        return [None] * len(styles)
    m = prepare_mask(styles.mask, content)
    return [m, 1.0 - m]


def require_styles(styles: StyleSet, engine: str) -> StyleSet:
    if len(styles) == 0:
        raise NSTError(f"{engine} needs at least one style image")
    return styles
