"""The engine registry: every engine registers itself here, and everything else iterates over it.

An engine module calls :func:`register` once with an :class:`EngineSpec`: its name, its config
class (a frozen dataclass of :func:`~nst_toolkit.options.option` fields), how to build it from a
config (optionally sharing one VGG), and what kind of engine it is. The CLI makes one command per
entry, and `nst compare`, `nst demo` and `nst models` loop over the entries; no engine name is
written anywhere else. The built-in engines are imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import NSTError

if TYPE_CHECKING:  # the registry itself stays free of torch
    from .base import Engine

BUILTIN_MODULES = ("gatys", "improved", "fast", "adain")  # nst_toolkit.engines.<name>, in display order

KINDS = ("optimize", "one-pass")
ALL_MODELS = "all"  # the `model` value of an engine with a model_kind that renders every model on one sheet


@dataclass(frozen=True)
class EngineSpec:
    """How to build and present one engine."""

    name: str
    config: type  # frozen dataclass; fields made with options.option are user-settable
    build: Callable[..., "Engine"]  # build(config, vgg=None)
    summary: str  # one line: the command's help
    # "optimize": many steps with progress and snapshots (one output per call);
    # "one-pass": a network, fast enough for folders of photos.
    kind: str = "optimize"
    style_images: bool = True  # False: the style lives in a trained model (the command takes no style images)
    max_styles: int | None = None  # None: any number (blended by weight, or two under a mask)
    uses_vgg: bool = True  # build() accepts a shared VGG-19 (compare builds one for all)
    # For engines that need a trained model per style: (style file) → config values that select a
    # model for it, or None when there is none; and the command that would make one.
    model_for_style: Callable[[Path], dict[str, Any] | None] | None = None
    train_hint: Callable[[Path], str] | None = None
    # Model files this engine can use, for `nst models` (a name of checkpoints.model_files).
    model_kind: str | None = None
    # Old model names users may have typed → today's names (the CLI says so in one line, then runs the new one).
    model_aliases: Mapping[str, str] = field(default_factory=dict)
    # Why the config's default model is the default (its measured numbers), for `nst models`.
    default_note: str = ""
    # One-pass engines may serve images without torch (its import alone takes seconds):
    # torch_free(config, inputs, styles) → a function from an input file to its result (1×3×H×W float32
    # array in [0, 1]), or None when this call needs the torch engine (the command then builds it).
    torch_free: Callable[[Any, list[Path], list[Path]], Callable[[Path], Any] | None] | None = None
    # The same for frames (`nst video`): torch_free_frames(config, styles, (width, height), threads) → a function
    # from a frame already at that size (1×3×H×W float32 array in [0, 1]) to its result, or None.
    torch_free_frames: Callable[[Any, list[Path], tuple[int, int], int | None], Callable[[Any], Any] | None] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"engine kind must be one of {KINDS}, not {self.kind!r}")


_REGISTRY: dict[str, EngineSpec] = {}
_loaded = False


def register(spec: EngineSpec, *, replace: bool = False) -> EngineSpec:
    """Add an engine. A second engine of the same name is refused unless ``replace``."""
    if spec.name in _REGISTRY and not replace and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"an engine named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in BUILTIN_MODULES:
            importlib.import_module(f"{__package__}.{mod}")


def load(name: str) -> None:
    """Import one built-in engine (and no other): a command that runs one engine need not import them all."""
    if name in BUILTIN_MODULES:
        importlib.import_module(f"{__package__}.{name}")


def specs() -> list[EngineSpec]:
    """Every registered engine: the built-ins in their order, then any others in registration order."""
    _load_builtins()
    order = {n: i for i, n in enumerate(BUILTIN_MODULES)}
    return sorted(_REGISTRY.values(), key=lambda s: order.get(s.name, len(order)))


def names() -> list[str]:
    return [s.name for s in specs()]


def get(name: str) -> EngineSpec:
    if name in _REGISTRY:  # loaded already (possibly alone, by load)
        return _REGISTRY[name]
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NSTError(f"unknown engine '{name}'; choose from {', '.join(names())}") from None


def build(name: str, config: Any = None, vgg: Any = None) -> "Engine":
    """An engine by name from its config (the config's defaults when None), sharing ``vgg`` if it can."""
    spec = get(name)
    config = config if config is not None else spec.config()
    if vgg is not None and spec.uses_vgg:
        return spec.build(config, vgg=vgg)
    return spec.build(config)
