"""A contact sheet for choosing a style: every available model of an engine rendered on one photo.

`nst fast PHOTO --model all -o sheet.png` (and the same for any one-pass engine whose registry entry
names a ``model_kind``): the photo first, labelled "photo", then one cell per model file, shipped and
the user's (:func:`~nst_toolkit.checkpoints.model_files`), each labelled with the model's name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import torch
from PIL import Image
from torch import Tensor

from .checkpoints import model_files
from .errors import NSTError
from .images import make_grid, resize_longest
from .styles import StylesLike

MAX_COLUMNS = 4
# A larger photo is rendered at this longest side unless the caller asks otherwise: each cell is
# 256 px, and a phone photo at full size would take minutes per model on a CPU.
MAX_SIDE = 512


class Sheet(NamedTuple):
    image: Image.Image  # the labelled grid: the photo, then one cell per model
    models: list[str]  # the models rendered, in grid order
    skipped: list[tuple[str, str]]  # (model, why) for each model file that could not be used


def sheet_columns(cells: int) -> int:
    """Columns of a sheet of ``cells`` cells (the photo included): at most MAX_COLUMNS."""
    return max(1, min(cells, MAX_COLUMNS))


def model_sheet(engine: str, config: Any, content: Tensor, styles: StylesLike = None, *, cell: int = 256,
                max_side: int | None = MAX_SIDE) -> Sheet:
    """``content`` and its rendering by each model of ``engine`` as one labelled grid.

    ``config`` is the engine's config; its ``model`` field is replaced by each model file in turn.
    A content whose longest side exceeds ``max_side`` (None: no limit) is downscaled to it first.
    A model file that cannot be loaded is skipped and listed in :attr:`Sheet.skipped`; no usable
    model at all is an :class:`NSTError`.
    """
    from . import engines

    spec = engines.get(engine)
    if spec.model_kind is None or not hasattr(config, "model"):
        raise NSTError(f"{engine} has no model files to choose from")
    if max_side is not None and max(content.shape[-2:]) > max_side:
        content = resize_longest(content, max_side)
    files = model_files(spec.model_kind)
    stems = [p.stem for _, p in files]
    cells, labels, skipped = [content], ["photo"], []
    with torch.no_grad():
        for where, path in files:
            name = path.stem if stems.count(path.stem) == 1 else f"{path.stem} ({where})"
            try:
                run = engines.build(engine, replace(config, model=str(path))).bind(styles)
                cells.append(run(content))
            except NSTError as e:
                skipped.append((name, str(e)))
                continue
            labels.append(name)
    if len(cells) == 1:
        why = f" ({len(skipped)} unreadable)" if skipped else ""
        raise NSTError(f"no {spec.model_kind} models to render{why}")
    return Sheet(make_grid(cells, labels, ncols=sheet_columns(len(cells)), cell=cell), labels[1:], skipped)

