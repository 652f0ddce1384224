"""Data that travels inside the package: the shipped models, the sample images and the training photos.

Both are found through ``importlib.resources``, so they work from any working directory and in any
install mode (editable, wheel, ``pip install .``). The models live in the repository's top-level
``models/`` folder, which the build maps into the package as ``nst_toolkit.models``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

SAMPLE_CONTENT_NAME = "machu_picchu.jpg"
SAMPLE_STYLE_NAME = "great_wave.jpg"
# What training metadata and messages call the built-in photos (a path would name one install).
BUILTIN_PHOTOS_NAME = "built-in photos (nst_toolkit/photos)"


def _as_path(package: str, *parts: str) -> Path:
    return Path(str(resources.files(package).joinpath(*parts)))


def cache_dir() -> Path:
    """Where derived files are cached (converted VGG weights, encoded styles): $NST_CACHE_DIR, else
    $XDG_CACHE_HOME/nst_toolkit (~/.cache/nst_toolkit)."""
    if os.environ.get("NST_CACHE_DIR"):
        return Path(os.environ["NST_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nst_toolkit"


def shipped_models_dir() -> Path:
    """The folder holding the shipped models, one subfolder per engine (``fast/``, ``adain/``)."""
    return _as_path("nst_toolkit.models")


def sample(name: str) -> Path:
    """A built-in sample image by file name."""
    return _as_path("nst_toolkit", "samples", name)


def sample_content() -> Path:
    return sample(SAMPLE_CONTENT_NAME)


def sample_style() -> Path:
    return sample(SAMPLE_STYLE_NAME)


def builtin_photos() -> Path:
    """The folder of built-in training photos (redistributable licences, listed in its ATTRIBUTION.md).

    Made by ``scripts/make_builtin_photos.py``; `nst train-fast` uses it when no ``--data`` is given.
    """
    return _as_path("nst_toolkit", "photos")
