"""What one VGG-19 layer sees: its strongest activation maps as a labelled grid (`nst features`)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from .errors import NSTError
from .images import load_image, make_grid
from .vgg import VGGFeatures, strongest_maps


def feature_grid(image: Path, layer: str, count: int, size: int, device: torch.device) -> tuple[Image.Image, int]:
    """The ``count`` strongest channels of ``layer`` for ``image`` (longest side ``size``), as one labelled
    picture, and the layer's channel count."""
    if count <= 0:
        raise NSTError(f"count must be positive, not {count}")
    net = VGGFeatures([layer]).to(device)
    x = load_image(image, size).to(device)
    with torch.no_grad():
        f = net(x)[layer][0]
    maps = strongest_maps(f, count)
    tiles = [m.expand(3, -1, -1).unsqueeze(0).cpu() for _, _, m in maps]
    labels = [f"{layer} #{ch}  mean {mean:.1f}" for ch, mean, _ in maps]
    return make_grid(tiles, labels, ncols=max(1, round(len(tiles) ** 0.5)), cell=160), f.shape[0]
