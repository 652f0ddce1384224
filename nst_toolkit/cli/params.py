"""Command-line options derived from config dataclasses: one option per settable field, same name.

A field's help text and default come from the config (see :mod:`nst_toolkit.options`); list fields
are typed as comma-separated text; ``X | None`` fields accept nothing (the default) or a value;
booleans become ``--name/--no-name`` switches.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import typer

from ..options import allowed_text, bounds, build_config, field_types, is_tuple, settable_fields, unwrap_optional
from .common import param


def config_params(cls: type, exclude: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """One Typer option per settable field of ``cls`` (minus ``exclude``)."""
    out = []
    types = field_types(cls)
    for f in settable_fields(cls):
        if f.name in exclude:
            continue
        tp = types[f.name]
        base, optional = unwrap_optional(tp)
        default = f.default
        if is_tuple(tp):
            annotation: Any = Optional[str]
            default = ",".join(str(v) for v in default) if default else None
        elif optional:
            annotation = Optional[base]
        else:
            annotation = base
        flags = (f"--{f.name.replace('_', '-')}", f.metadata["short"]) if "short" in f.metadata else ()
        out.append(param(f.name, annotation, typer.Option(default, *flags, help=help_text(f))))
    return out


def help_text(f) -> str:
    """A field's help with its allowed values (from the field) appended, unless the text already names its choices."""
    text, allowed = f.metadata["help"], allowed_text(f)
    choices = bounds(f).get("choices", ())
    if not allowed or (choices and all(c in text for c in choices)):
        return text
    return f"{text} [{allowed}]"


def config_from(cls: type, values: dict[str, Any], **fixed: Any) -> Any:
    """Build ``cls`` from the parsed options that are its fields, plus ``fixed`` values."""
    names = {f.name for f in settable_fields(cls)}
    return build_config(cls, {**{k: v for k, v in values.items() if k in names}, **fixed})
