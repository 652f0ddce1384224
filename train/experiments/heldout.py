"""The held-out images and model files the AdaIN experiment scripts share (issue #12): the held-out photos and
paintings that `train/prepare_data.sh` puts under .data/, loaded at 512 px, and a model file from a name, a
model or a training checkpoint."""
from pathlib import Path

from nst_toolkit.checkpoints import read_metadata
from nst_toolkit.engines.adain_engine import resolve_decoder
from nst_toolkit.images import load_image
from nst_toolkit.training import finalize

SIZE = 512


def photos(count: int = 7) -> list[Path]:
    return sorted(Path(".data/heldout").glob("*.jpg"))[:count]


def paintings() -> list[Path]:
    return sorted(Path(".data/style_heldout").glob("*.jpg"))


def load_content(path: Path):
    """A held-out photo at 512 px, cropped to a multiple of 8 (the models' stride: the output has its size)."""
    c = load_image(path, SIZE)
    return c[..., : c.shape[-2] // 8 * 8, : c.shape[-1] // 8 * 8]


def load_painting(path: Path):
    return load_image(path, SIZE)


def label(name: str) -> str:
    """How the scripts name a model in their output: VGG-19 for the default, a shipped name as it is, a file as
    folder/file (experiments' files share names: C/C.safetensors, R/R.safetensors)."""
    if name == "default":
        return "VGG-19"
    return f"{Path(name).parent.name}/{Path(name).name}" if Path(name).is_file() else name


def model_file(name: str, scratch: Path) -> str:
    """``name`` itself, or — for a training checkpoint (it holds the optimiser) — its model, written under ``scratch``."""
    if "optimizer" not in read_metadata(resolve_decoder(name)):
        return name
    return str(finalize(name, scratch / label(name).replace("/", "_"), "adain"))
