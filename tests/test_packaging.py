"""The wheel carries every shipped model, the samples and the built-in training photos, in under 40 MB; a
non-editable install finds them from anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_WHEEL_MB = 40  # float16 weights and twins keep every shipped model in it; the rest train/ rebuilds


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src")  # a copy: setuptools writes build/ and *.egg-info beside the sources
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("nst_toolkit", "models"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.run"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "No module named pip" in proc.stderr:  # pragma: no cover
        pytest.skip("pip is not available to build a wheel")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (whl,) = out.glob("nst_toolkit-*.whl")
    return whl


def test_wheel_contains_every_shipped_model_and_sample(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = sorted(p.relative_to(REPO / "models").as_posix() for p in (REPO / "models").glob("*/*.safetensors"))
    assert shipped, "no shipped models in the checkout"
    in_wheel = sorted(n.removeprefix("nst_toolkit/models/") for n in names
                      if n.startswith("nst_toolkit/models/") and n.endswith(".safetensors"))
    assert in_wheel == shipped  # every model, and no stale one (a build/ folder left by an older checkout)
    twins = sorted(p.relative_to(REPO / "models").as_posix() for p in (REPO / "models").glob("*/*.onnx"))
    assert twins and all(f"nst_toolkit/models/{t}" in names for t in twins)  # the ONNX twins travel too
    assert "nst_toolkit/models/README.md" in names  # provenance travels with the weights
    for sample in ("machu_picchu.jpg", "great_wave.jpg", "ATTRIBUTION.md"):
        assert f"nst_toolkit/samples/{sample}" in names


def test_wheel_is_under_40_mb(wheel):
    size = wheel.stat().st_size
    assert size < MAX_WHEEL_MB * 1e6, f"the wheel is {size / 1e6:.1f} MB ({size} bytes), over {MAX_WHEEL_MB} MB"


def test_wheel_contains_every_builtin_training_photo(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    photos = sorted(p.name for p in (REPO / "nst_toolkit" / "photos").iterdir() if p.suffix == ".jpg")
    assert photos, "no built-in photos in the checkout"
    missing = [p for p in [*photos, "ATTRIBUTION.md"] if f"nst_toolkit/photos/{p}" not in names]
    assert not missing, missing


def test_installed_wheel_runs_shipped_models_from_another_folder(wheel, tmp_path, photo, painting):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}

    def nst(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nst_toolkit", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=300)

    where = subprocess.run([sys.executable, "-c", "import nst_toolkit; print(nst_toolkit.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(target)), where  # the installed copy, not the checkout
    r = nst("adain", str(photo), str(painting), "-o", "a.png", "--size", "64", "--quiet")
    assert r.returncode == 0, r.stderr
    r = nst("fast", str(photo), "--model", "test_net", "-o", "f.png", "--quiet")  # a local model (NST_HOME)
    assert r.returncode == 0, r.stderr
    assert (work / "a.png").is_file() and (work / "f.png").is_file()
    r = nst("models")
    assert r.returncode == 0 and str(target) in r.stdout and "test_net" in r.stdout
    carried = [len(list((REPO / "models").glob(f"*/*.{ext}"))) for ext in ("safetensors", "onnx")]
    assert "in the package: {} model files and {} ONNX twins".format(*carried) in r.stdout  # this wheel's
    assert [line for line in r.stdout.splitlines() if "great_wave_w12" in line and "train/fast_w12.sh" in line]
    # the default model of `nst fast` runs through its 8-bit twin from the wheel, without torch
    r = nst("fast", str(photo), "-o", "g.png", "--size", "64")
    assert r.returncode == 0 and "onnxruntime" in r.stderr, r.stderr
    # the default train-fast recipe starts from the light AdaIN model shipped in the wheel
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(photo, data / "p.png")
    r = nst("train-fast", "--style", str(painting), "--data", str(data), "--steps", "1", "--size", "32",
            "--batch-size", "1", "--checkpoint-every", "0", "--val-image", str(photo), "-o", "t.safetensors", "--quiet")
    assert r.returncode == 0, r.stderr
    from nst_toolkit.checkpoints import read_metadata

    assert read_metadata(work / "t.safetensors")["base"]["name"] == "light"
