"""Training images from a local folder or a Hugging Face dataset, as random square crops.

A local folder is read directly (its image files, sorted, searched recursively); anything else
is taken as a Hugging Face hub id and streamed through ``datasets``. Every image goes through the same
guards as any other input (:func:`~nst_toolkit.imagefiles.open_image`: the pixel limit read from the
header before anything is decoded, decoding errors); one that fails them is skipped and counted, never a
crash. Each distributed rank reads its own shard. Batches are drawn from a generator seeded by (seed,
rank, step), so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import NSTError
from .imagefiles import IMAGE_SUFFIXES, open_image


def _open_dataset(source: str, streaming: bool | None):
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise NSTError(f"{path}: no images found in this folder")
        return [{"image": str(p)} for p in files], False
    if path.exists():
        raise NSTError(f"{source}: training data must be a folder of images or a Hugging Face dataset id")
    try:
        import datasets
    except ImportError:  # pragma: no cover - a declared dependency
        raise NSTError("reading a Hugging Face dataset needs the 'datasets' package") from None
    try:
        ds = datasets.load_dataset(source, split="train", streaming=True if streaming is None else streaming)
    except Exception as e:
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        why = "offline mode is on" if offline else type(e).__name__
        raise NSTError(f"cannot load Hugging Face dataset '{source}' ({why}); pass a local image folder instead") from None
    column = next((c for c in ("image", "img", "jpg", "png") if c in (ds.column_names or [])), None)
    if column is None:
        raise NSTError(f"dataset '{source}' has no image column")
    if column != "image":
        ds = ds.rename_column(column, "image")
    return ds.cast_column("image", datasets.Image(decode=False)), True


def _decode(item) -> Image.Image:
    """A dataset item (a file path, a ``datasets`` image dict of bytes or path, a decoded image) as a decoded
    image, through :func:`~nst_toolkit.imagefiles.open_image`'s guards."""
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, dict):
        return open_image(bytes(item["bytes"]) if item.get("bytes") else item["path"])
    return open_image(item)


def _to_uint8_tensor(img: Image.Image, short_side: int) -> torch.Tensor:
    """RGB uint8 3×H×W with the shorter side resized to ``short_side``."""
    img = img.convert("RGB")
    w, h = img.size
    s = short_side / min(w, h)
    img = img.resize((max(short_side, round(w * s)), max(short_side, round(h * s))), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)


class CropSampler:
    """Random ``size``×``size`` crops (with horizontal flips) of the images of one rank's shard.

    Decoded, resized images are cached in memory (up to ``cache_limit`` of them), so a small folder
    is decoded once. Hub datasets are streamed into a reservoir of ``cache_limit`` images.
    ``name`` is what ``self.source`` (the training metadata, messages) calls the data; default ``source``.
    ``short_side``: the shorter side images are kept at (default ``size * scale_jitter``); a larger one
    makes crops closer to the photos' own scale (details as at full size rather than thumbnails).
    """

    def __init__(
        self,
        source: str,
        size: int,
        rank: int = 0,
        world_size: int = 1,
        cache_limit: int = 20000,
        scale_jitter: float = 1.25,
        name: str | None = None,
        short_side: int = 0,
    ):
        if size < 32:
            raise NSTError(f"crop size must be at least 32 px, not {size}")
        self.source, self.size, self.rank, self.world = name or source, size, rank, world_size
        self.scale_jitter = scale_jitter
        # Images are kept with this shorter side; each crop takes a random square of it, resized to ``size``.
        self.short_side = max(size, short_side or round(size * scale_jitter))
        self.skipped = 0
        ds, streaming = _open_dataset(source, None)
        self.images: list[torch.Tensor] = []
        if streaming:
            from datasets.distributed import split_dataset_by_node

            ds = split_dataset_by_node(ds, rank=rank, world_size=world_size)
            for ex in ds:
                self._add(ex["image"])
                if len(self.images) >= cache_limit:
                    break
        else:
            for i in range(rank, len(ds), world_size):
                if len(self.images) >= cache_limit:
                    break
                self._add(ds[i]["image"])
        if not self.images:
            raise NSTError(f"{source}: none of its images could be read ({self.skipped} skipped)")

    def _add(self, item) -> None:
        try:
            img = _decode(item)
            if min(img.size) < 16:
                raise ValueError("too small")
            self.images.append(_to_uint8_tensor(img, self.short_side))
        except Exception:
            self.skipped += 1

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, batch_size: int, seed: int, step: int) -> torch.Tensor:
        """A float32 [0, 1] batch B×3×size×size, a pure function of (seed, rank, step)."""
        g = torch.Generator().manual_seed((seed * 1_000_003 + self.rank * 7_919 + step) % (2**63))
        out = torch.empty(batch_size, 3, self.size, self.size)
        for b in range(batch_size):
            img = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
            h, w = img.shape[-2:]
            # random scale in [size, short side] for the crop, then resize to size
            short = min(h, w)
            side = int(torch.randint(self.size, short + 1, (1,), generator=g)) if short > self.size else short
            y = int(torch.randint(h - side + 1, (1,), generator=g))
            x = int(torch.randint(w - side + 1, (1,), generator=g))
            crop = img[:, y : y + side, x : x + side].float().unsqueeze(0) / 255.0
            if side != self.size:
                crop = F.interpolate(crop, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
            if bool(torch.rand((), generator=g) < 0.5):
                crop = crop.flip(-1)
            out[b] = crop[0]
        return out.clamp_(0, 1)
