"""Data that travels inside the package: the shipped models, the sample images and the training photos; and the
table of models that the source repository's ``train/`` recipes rebuild (:data:`REBUILD`), shipped or not.

Both are found through ``importlib.resources``, so they work from any working directory and in any
install mode (editable, wheel, ``pip install .``). The models live in the repository's top-level
``models/`` folder, which the build maps into the package as ``nst_toolkit.models``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Recipe:
    """A model file that a recipe of the source repository's ``train/`` folder makes."""

    name: str  # the model's name, as --model, --base and --teacher take it
    kind: str  # its models folder: fast (a one-painting model), fast_base (a base of `nst train-fast --base`), adain
    command: str  # run from the repository root
    cpu_time: str  # roughly, on a 2-core CPU (a recipe with a GPU path says so in its file)
    shipped: bool  # whether the package carries the file


# The one table of what train/ rebuilds: `nst models` lists it, and a lookup of a name here that finds no file
# names its recipe. The models that are not shipped go to the user's models folder, where lookups find them.
REBUILD: tuple[Recipe, ...] = (
    *(Recipe(name, "fast", f"bash train/fast_light.sh {name}", "10 min", True)
      for name in ("great_wave", "cafe_terrace", "summertime", "church_at_auvers", "village_street",
                   "girls_at_the_piano", "harvesters", "kazusa_sea_route")),
    Recipe("light", "adain", "bash train/adain_light.sh", "13 000 steps in stages (see the file)", True),
    Recipe("vgg19", "adain", "bash train/adain.sh", "16 min on a GPU", True),
    Recipe("great_wave_w12", "fast", "bash train/fast_w12.sh great_wave", "1.5 h", False),
    Recipe("summertime_w12", "fast", "bash train/fast_w12.sh summertime", "1.5 h", False),
    Recipe("bank", "fast_base", "bash train/fast_base_cpu.sh", "56 h", False),
)


def rebuild_hint(name: str, kind: str, folder: Path) -> str | None:
    """What to say when no file holds the model ``name`` of ``kind``: the recipe that makes it into ``folder``
    (the user's models folder of that kind), or None for a name no recipe makes or one the package carries."""
    recipe = next((r for r in REBUILD if r.name == name and r.kind == kind and not r.shipped), None)
    if recipe is None:
        return None
    return (f"'{name}' is not shipped: `{recipe.command}` in the source repository rebuilds it into {folder} "
            f"(about {recipe.cpu_time} on a 2-core CPU)")

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
