"""nst_toolkit: neural style transfer on one VGG-19 core (Gatys, improved Gatys, fast, AdaIN).

``from nst_toolkit import stylize`` is the one call for Python (:mod:`nst_toolkit.api`); importing the package
itself stays light (no torch), so the command line starts fast.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["stylize", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "stylize":
        from .api import stylize

        return stylize
    raise AttributeError(f"module 'nst_toolkit' has no attribute {name!r}")
