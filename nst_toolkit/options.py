"""Engine and training configs: frozen dataclasses whose fields carry their help text.

A field made with :func:`option` is user-settable: the CLI derives one command-line option from it
(``size`` → ``--size``), and ``nst compare --set size=256`` sets the same field by the same name.
The help text is written once, here in the config; the default once, as the field's default.
Values typed on a command line or in ``--set`` are converted by the field's declared type
(:func:`coerce`), so ``content_layers=relu3_1,relu4_2`` becomes a tuple of names.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import Field
from typing import Any, Mapping, Sequence

from .errors import NSTError

HELP = "help"
BOUNDS = ("above", "min", "max", "choices")  # the metadata keys of a field's allowed values


def option(default: Any, help: str, *, above: float | None = None, min: float | None = None, max: float | None = None,
           choices: Sequence[str] | None = None, **extra: Any) -> Any:
    """A user-settable config field: its default, its one help text (``short="-m"``: a short CLI flag too) and the
    values it allows — ``above`` (exclusive lower bound), ``min`` / ``max`` (inclusive), ``choices`` — which
    :func:`check_fields`, the command line's help (:func:`allowed_text`) and the web page all read from here."""
    bounds = {k: v for k, v in (("above", above), ("min", min), ("max", max),
                                ("choices", tuple(choices) if choices is not None else None)) if v is not None}
    return dataclasses.field(default=default, metadata={HELP: help, **bounds, **extra})


def bounds(f: Field) -> dict[str, Any]:
    """The allowed values a field declares (see :func:`option`)."""
    return {k: f.metadata[k] for k in BOUNDS if k in f.metadata}


def allowed_text(f: Field) -> str:
    """A field's allowed values in a few characters, for help texts: "> 0", "≥ 0", "0 … 1", "a | b"."""
    b = bounds(f)
    if "choices" in b:
        return " | ".join(b["choices"])
    if "min" in b and "max" in b:
        return f"{b['min']:g} … {b['max']:g}"
    if "above" in b:
        return f"> {b['above']:g}"
    if "min" in b:
        return f"≥ {b['min']:g}"
    if "max" in b:
        return f"≤ {b['max']:g}"
    return ""


def check_fields(config: Any) -> None:
    """Check every field's value against the bounds it declares; the first one out of bounds is an NSTError.

    ``None`` (an optional field left at its default) is always allowed; a tuple's items are checked one by one.
    """
    for f in settable_fields(type(config)):
        b = bounds(f)
        value = getattr(config, f.name)
        if not b or value is None:
            continue
        for v in (value if isinstance(value, tuple) else (value,)):
            _check_value(f.name, v, b)


def _check_value(name: str, v: Any, b: Mapping[str, Any]) -> None:
    if "choices" in b:
        check_choice(name, v, b["choices"])
    elif "min" in b and "max" in b:
        if not b["min"] <= v <= b["max"]:
            raise NSTError(f"{name.replace('_', '-')} must lie in [{b['min']:g}, {b['max']:g}], not {v}")
    elif "above" in b:
        if b["above"] == 0:
            check_positive(**{name: v})
        elif not v > b["above"]:
            raise NSTError(f"{name.replace('_', '-')} must be above {b['above']:g}, not {v}")
    elif "min" in b:
        if b["min"] == 0:
            check_non_negative(**{name: v})
        elif not v >= b["min"]:
            raise NSTError(f"{name.replace('_', '-')} must be at least {b['min']:g}, not {v}")
    elif "max" in b and not v <= b["max"]:
        raise NSTError(f"{name.replace('_', '-')} must be at most {b['max']:g}, not {v}")


def settable_fields(cls: type) -> list[Field]:
    """The fields of a config class a user may set (those made with :func:`option`), in order."""
    return [f for f in dataclasses.fields(cls) if HELP in f.metadata]


@functools.lru_cache(maxsize=None)
def field_types(cls: type) -> dict[str, Any]:
    """Each field's resolved type (the configs use postponed annotations)."""
    return typing.get_type_hints(cls)


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` → (X, True); anything else → (tp, False)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else tp), True
    return tp, False


def is_tuple(tp: Any) -> bool:
    return typing.get_origin(unwrap_optional(tp)[0]) is tuple


def _scalar(text: str, tp: Any, name: str) -> Any:
    text = text.strip()
    try:
        if tp is bool:
            low = text.lower()
            if low in ("true", "yes", "1", "on"):
                return True
            if low in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
    except ValueError:
        raise NSTError(f"{name.replace('_', '-')} must be {'true or false' if tp is bool else 'a number'}, not '{text}'") from None
    return text


def coerce(cls: type, name: str, value: Any) -> Any:
    """Convert a typed-in value (a string, or a value already of the right kind) to field ``name``'s type."""
    tp, optional = unwrap_optional(field_types(cls)[name])
    if value is None:
        return None
    if isinstance(value, str) and optional and value.strip().lower() in ("", "none", "default"):
        return None
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        parts = value.split(",") if isinstance(value, str) else list(value)
        return tuple(_scalar(str(p), item, name) for p in parts if str(p).strip())
    if isinstance(value, str):
        return _scalar(value, tp, name)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def build_config(cls: type, values: Mapping[str, Any], base: Any | None = None) -> Any:
    """``cls`` (or ``base`` replaced) with ``values`` coerced by field type; unknown names are refused."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise NSTError(f"{cls.__name__} has no option {', '.join(unknown)}")
    typed = {k: coerce(cls, k, v) for k, v in values.items()}
    return dataclasses.replace(base, **typed) if base is not None else cls(**typed)


def to_dict(config: Any) -> dict[str, Any]:
    """A config as JSON-able values (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


# --- validation helpers of config values (one clear message each) ---


def check_positive(**values: float) -> None:
    for name, v in values.items():
        if not (v > 0):
            raise NSTError(f"{name.replace('_', '-')} must be positive, not {v}")


def check_non_negative(**values: float) -> None:
    for name, v in values.items():
        if not (v >= 0):
            raise NSTError(f"{name.replace('_', '-')} must not be negative, not {v}")


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise NSTError(f"{name.replace('_', '-')} must be one of {', '.join(choices)}, not '{value}'")


def parse_weights(values: Sequence[float] | None, n: int, what: str) -> list[float]:
    """Per-layer weights: ``None`` means equal weights summing to 1; otherwise one positive value each."""
    if values is None or len(values) == 0:
        return [1.0 / n] * n
    if len(values) != n:
        raise NSTError(f"{what}: got {len(values)} weights for {n} items")
    if any(not (v > 0) for v in values):
        raise NSTError(f"{what}: weights must be positive")
    return [float(v) for v in values]


COLOUR_MODES = ("none", "luminance", "histogram")  # implemented by nst_toolkit.colour.preserve


def colour_option() -> str:
    """The ``preserve_color`` field every engine config shares (one default, one help text, one set of choices)."""
    return option("none", "Keep the content's colours: none | luminance (stylise the luminance only) | "
                          "histogram (style colours matched to the content).", choices=COLOUR_MODES)


def check_colour_mode(mode: str) -> None:
    check_choice("preserve_color", mode, COLOUR_MODES)
