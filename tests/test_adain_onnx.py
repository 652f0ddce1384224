"""The light AdaIN model's ONNX twin: same pictures as the torch engine, one photo without importing torch."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from nst_toolkit.checkpoints import save_checkpoint
from nst_toolkit.cli import app
from nst_toolkit.engines.adain import AdaINConfig
from nst_toolkit.engines.adain.engine import AdaINEngine
from nst_toolkit.engines.adain.onnx import runner, style_twin_path, twin_path
from nst_toolkit.export import export_adain
from nst_toolkit.images import load_image
from nst_toolkit.nets import LightAdaIN, init_seeded
from .conftest import run_cli_without_torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def save_light(path, seed=0, skips=False):
    # seeded: skip branches and residual blocks not zero; with them a decoder not the encoder's mirror
    net = init_seeded(LightAdaIN((4, 8, 8, 16), skips=skips, style_skips=skips, blocks=2 if skips else 0,
                                 decoder_widths=(8, 12, 6, 10, 4, 6) if skips else None), seed)
    save_checkpoint(path, {f"model.{k}": v for k, v in net.state_dict().items()},
                    {"engine": "adain", "architecture": net.architecture(), "step": 0})
    return path


@pytest.fixture()
def light(tmp_path):
    model = save_light(tmp_path / "light.safetensors")
    export_adain(str(model))
    return model


@pytest.mark.parametrize("skips", [False, True])
def test_twin_gives_the_torch_engines_picture(light, photo, painting, skips):
    if skips:  # a model with both sets of skip branches, residual blocks and its own decoder widths
        export_adain(str(save_light(light, skips=True)))
    assert twin_path(light).is_file() and style_twin_path(twin_path(light)).is_file()
    for alpha in (1.0, 0.4, 0.0):
        cfg = AdaINConfig(model=str(light), alpha=alpha, size=96, style_size=64)
        run = runner(cfg, [photo], [painting])
        assert run is not None
        got = run(photo)
        with torch.no_grad():
            want = AdaINEngine(cfg).stylize(load_image(photo, 96), load_image(painting)).numpy()
        assert got.shape == want.shape and got.dtype == np.float32
        # The two paths resize with different code (PIL on 8-bit vs torch on float): about 1/255 apart.
        assert np.abs(got - want).mean() < 2 / 255 and np.abs(got - want).max() < 0.1


def test_twin_is_not_used_where_it_cannot_serve(light, tmp_path, photo, painting):
    cfg = AdaINConfig(model=str(light))
    assert runner(replace(cfg, preserve_color="luminance"), [photo], [painting]) is None
    assert runner(cfg, [photo], [painting, painting]) is None
    assert runner(replace(cfg, tile=64), [photo], [painting]) is None
    style_twin = style_twin_path(twin_path(light))
    kept = style_twin.read_bytes()
    style_twin.unlink()  # half a twin (or one of the older, one-graph layout) is not used
    assert runner(cfg, [photo], [painting]) is None
    style_twin.write_bytes(kept)
    assert runner(cfg, [photo], [painting]) is not None
    # A twin exported from another version of the model file is ignored (the torch engine runs).
    save_light(light, seed=1)
    assert runner(cfg, [photo], [painting]) is None
    out = tmp_path / "out.png"
    r = CliRunner().invoke(app, ["adain", str(photo), str(painting), "-m", str(light), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "onnxruntime" not in r.output


def test_one_photo_command_runs_without_torch(light, tmp_path, photo, painting):
    out = tmp_path / "out.png"
    r = run_cli_without_torch("adain", photo, painting, "-m", light, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "onnxruntime" in r.stderr
    assert max(Image.open(out).size) == 512  # the default --size
    # Bad input on the same path: one line, exit 2, no output file.
    missing = tmp_path / "missing.jpg"
    r = subprocess.run([sys.executable, "-m", "nst_toolkit", "adain", str(missing), str(painting), "-m", str(light),
                        "-o", str(tmp_path / "bad.png")], capture_output=True, text=True)
    assert r.returncode == 2 and "no such file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad.png").exists()


def test_export_refuses_the_vgg_model(tmp_path):
    r = CliRunner().invoke(app, ["export-adain", "default", "-o", str(tmp_path / "x.onnx")])
    assert r.exit_code == 2 and "only light AdaIN models" in r.output
    assert not (tmp_path / "x.onnx").exists()


def test_a_folder_goes_through_the_twin_too(light, tmp_path, photo_folder, painting):
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["adain", str(photo_folder), str(painting), "-m", str(light), "-o", str(out), "--size", "64"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == len(list(photo_folder.iterdir())) >= 2
    run = runner(AdaINConfig(model=str(light), size=64), sorted(photo_folder.iterdir()), [painting])
    first = sorted(photo_folder.iterdir())[0]
    want = (np.clip(run(first)[0].transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)
    got = np.asarray(Image.open(out / names[0]).convert("RGB"))
    assert np.abs(got.astype(int) - want).max() <= 1
    # The style is encoded once, when the runner is made: the painting is not read again for each photo.
    copy = tmp_path / "style.jpg"
    copy.write_bytes(painting.read_bytes())
    again = runner(AdaINConfig(model=str(light), size=64), sorted(photo_folder.iterdir()), [copy])
    copy.unlink()
    assert np.array_equal(again(first), run(first))
