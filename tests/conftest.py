"""Shared fixtures: small generated images (no dependency on ../shared), an isolated cache and home."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Keep converted weights and user models out of the developer's home; set before nst_toolkit reads them.
_ROOT = Path(tempfile.mkdtemp(prefix="nst-tests-"))
os.environ.setdefault("NST_CACHE_DIR", str(_ROOT / "cache"))
os.environ["NST_HOME"] = str(_ROOT / "home")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SAMPLES = Path(__file__).resolve().parents[1] / "nst_toolkit" / "samples"
# A small TransformerNet among the tests' own (local) fast models: no shipped fast model is one.
TRANSFORMER = "test_net"


@pytest.fixture(scope="session", autouse=True)
def transformer_model() -> Path:
    """`--model test_net`: a seeded, untrained width-12 TransformerNet in $NST_HOME's fast models, for what only that
    architecture has (TorchScript export, distillation, its tiles) and for commands whose model does not matter;
    subprocesses find it through NST_HOME as well."""
    from nst_toolkit.checkpoints import save_checkpoint, user_models_dir
    from nst_toolkit.nets import TransformerNet, init_seeded

    net = init_seeded(TransformerNet(12, 5), 0)
    path = user_models_dir("fast") / f"{TRANSFORMER}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(path, {f"model.{k}": v for k, v in net.state_dict().items()},
                           {"engine": "fast", "architecture": net.architecture(), "step": 0, "style_name": TRANSFORMER})


def make_photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """A smooth, structured test picture: gradients plus a few coloured discs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin((x + y) / (7 + seed))], axis=2)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, max(5, min(w, h) / 3))
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 1, 3)
    return Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8), "RGB")


@pytest.fixture(scope="session")
def vgg():
    from nst_toolkit.layers import RELU_LAYERS
    from nst_toolkit.vgg import VGGFeatures

    return VGGFeatures(RELU_LAYERS)


@pytest.fixture()
def photo(tmp_path) -> Path:
    p = tmp_path / "photo.png"
    make_photo(64, 48, 1).save(p)
    return p


@pytest.fixture()
def painting(tmp_path) -> Path:
    p = tmp_path / "painting.jpg"
    make_photo(56, 56, 2).save(p, quality=95)
    return p


@pytest.fixture()
def photo_folder(tmp_path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(6):
        make_photo(72 + 4 * i, 64, 10 + i).save(d / f"p{i}.jpg")
    return d


def run_cli(*args):
    """``nst ARGS`` in-process (typer's runner), every argument as text."""
    from typer.testing import CliRunner

    from nst_toolkit.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def run_cli_without_torch(*args):
    """``nst ARGS`` in a fresh interpreter that fails (non-zero exit) if the command imported torch or exited
    with an error; returns the finished process (its stderr holds the command's messages)."""
    import subprocess
    import sys

    code = ("import sys\nfrom nst_toolkit.cli import main\n"
            f"sys.argv = ['nst', *{[str(a) for a in args]!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def one_error_line(r, expect: str) -> str:
    """The command was refused the way every bad input is: exit code 2, one line "nst: error: …" naming
    ``expect``, no traceback. Returns that line."""
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2, r.output
    assert len(lines) == 1 and lines[0].startswith("nst: error:") and expect in lines[0], r.output
    assert "Traceback" not in r.output
    return lines[0]
