"""VGG-19 layer names (``conv1_1`` … ``relu5_4``, ``pool1`` … ``pool5``) and their validation.

Torch-free, so an engine's configuration can check the layers it names before anything heavy is
imported; :mod:`nst_toolkit.vgg` builds the network from the same table.
"""

from __future__ import annotations

from typing import Iterable

from .errors import WeightsError

# Channels per conv block of VGG-19 (configuration "E" of Simonyan & Zisserman 2015).
BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


def _layer_names() -> tuple[str, ...]:
    names = []
    for b, (_, n) in enumerate(BLOCKS, start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return tuple(names)


LAYER_NAMES: tuple[str, ...] = _layer_names()
CONV_LAYERS: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("conv"))
RELU_LAYERS: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("relu"))


def validate_layers(layers: Iterable[str]) -> list[str]:
    """Return ``layers`` as a list, raising a clear error for any unknown name."""
    layers = list(layers)
    for name in layers:
        if name not in LAYER_NAMES:
            raise WeightsError(
                f"unknown VGG-19 layer '{name}'; valid names are conv1_1 … relu5_4 and pool1 … pool5"
            )
    if not layers:
        raise WeightsError("no VGG-19 layer was requested")
    return layers
