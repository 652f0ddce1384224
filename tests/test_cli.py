"""`nst gatys` and `nst demo` end to end, and every error path: exit 2, one line, no output file."""

import json

import pytest
from typer.testing import CliRunner

from nst_toolkit.cli import app

from .conftest import make_photo

runner = CliRunner()
TINY = ["--size", "48", "--iterations", "3", "--quiet"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_gatys_end_to_end_writes_everything(tmp_path, photo, painting):
    out = tmp_path / "out" / "result.png"
    r = run("gatys", photo, painting, "-o", out, *TINY, "--save-every", "1", "--gif", "--plot")
    assert r.exit_code == 0, r.output
    from PIL import Image

    assert Image.open(out).size == (48, 36)
    for name in ("result_0001.png", "result_0003.png", "result.gif", "result_losses.png", "result.json"):
        assert (out.parent / name).is_file(), name
    manifest = json.loads((out.parent / "result.json").read_text())
    assert manifest["engine"] == "gatys" and manifest["iterations_run"] == 3
    assert manifest["config"]["size"] == 48 and manifest["config"]["iterations"] == 3
    assert set(manifest["final_losses"]) == {"content", "style", "tv", "total"}
    assert manifest["environment"]["torch"]
    gif = Image.open(out.parent / "result.gif")
    assert gif.n_frames >= 3


def test_gatys_options_reach_the_engine(tmp_path, photo, painting):
    out = tmp_path / "r.jpg"
    r = run("gatys", photo, painting, "-o", out, *TINY, "--style-layers", "relu1_1,relu2_1", "--init", "noise",
            "--optimizer", "adam", "--style-weight", "2", "--preserve-color", "luminance")
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "r.json").read_text())["config"]
    assert cfg["style_layers"] == ["relu1_1", "relu2_1"] and cfg["init"] == "noise" and cfg["optimizer"] == "adam"
    assert cfg["style_weight"] == 2.0


def test_demo_end_to_end(tmp_path):
    r = run("demo", "-o", tmp_path / "demo", "--size", "64", "--set", "iterations=2", "--set", "coarse_iterations=2", "--quiet")
    assert r.exit_code == 0, r.output
    for name in ("gatys.png", "improved.png", "fast.png", "adain.png", "grid.png", "summary.json", "index.html"):
        assert (tmp_path / "demo" / name).is_file(), name


def _truncated(tmp_path):
    p = tmp_path / "cut.jpg"
    make_photo(200, 200).save(p, quality=95)
    p.write_bytes(p.read_bytes()[:1500])
    return p


def _text(tmp_path):
    p = tmp_path / "words.jpg"
    p.write_text("not a picture")
    return p


def _blocked(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    return f / "sub" / "out.png"


@pytest.mark.parametrize(
    "case,extra,msg",
    [
        ("missing", [], "no such file"),
        ("text", [], "not an image"),
        ("truncated", [], "cannot decode"),
        ("unwritable", [], "not writable"),
        ("ok", ["--style-layers", "relu1_1,relu9_1"], "unknown VGG-19 layer 'relu9_1'"),
        ("ok", ["--content-layers", "conv4_2x"], "unknown VGG-19 layer"),
        ("ok", ["--size", "0"], "size must be positive"),
        ("ok", ["--size", "-5"], "size must be positive"),
        ("ok", ["--style-weight", "-1"], "style-weight must not be negative"),
        ("ok", ["--iterations", "0"], "iterations must be positive"),
        ("ok", ["--init", "zeros"], "init must be"),
        ("ok", ["--style-weight", "1e39"], "non-finite"),
    ],
)
def test_errors_exit_2_with_one_line_and_no_output(tmp_path, photo, painting, case, extra, msg):
    content = {"missing": tmp_path / "nope.jpg", "text": _text(tmp_path), "truncated": _truncated(tmp_path)}.get(case, photo)
    out = _blocked(tmp_path) if case == "unwritable" else tmp_path / "out.png"
    r = run("gatys", content, painting, "-o", out, "--size", "48", "--iterations", "2", "--quiet", *extra)
    assert r.exit_code == 2, r.output
    assert msg in r.output
    assert "Traceback" not in r.output
    assert not out.exists()
    assert not (tmp_path / "out.json").exists()


def test_nan_keeps_last_good_snapshot(tmp_path, photo, painting):
    out = tmp_path / "out.png"
    r = run("gatys", photo, painting, "-o", out, "--size", "48", "--iterations", "2", "--quiet", "--style-weight", "1e39")
    assert r.exit_code == 2
    assert "last good image kept" in r.output
    assert (tmp_path / "out.last_good.png").is_file() and not out.exists()


def test_unknown_output_format(tmp_path, photo, painting):
    r = run("gatys", photo, painting, "-o", tmp_path / "out.xyz", *TINY)
    assert r.exit_code == 2 and "unknown output format" in r.output


def test_stdin_to_stdout_pipes_carry_only_the_png(tmp_path, photo, painting):
    import io
    import subprocess
    import sys

    from PIL import Image

    work = tmp_path / "work"
    work.mkdir()
    for args in (["fast", "-", "--model", "test_net", "--size", "64"], ["adain", "-", str(painting), "--size", "64"]):
        proc = subprocess.run([sys.executable, "-m", "nst_toolkit", *args, "-o", "-"], input=photo.read_bytes(),
                              capture_output=True, timeout=120, cwd=work)
        assert proc.returncode == 0, proc.stderr.decode()[-1000:]
        img = Image.open(io.BytesIO(proc.stdout))
        assert img.format == "PNG" and img.size == (64, 48)
        assert b"wrote standard output" in proc.stderr and not list(work.iterdir())  # no file written
        assert len(proc.stderr.decode().strip().splitlines()) == 1, proc.stderr  # no warnings beside it
    proc = subprocess.run([sys.executable, "-m", "nst_toolkit", "fast", "-", "-o", "-"], input=b"not an image",
                          capture_output=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == b"" and proc.stderr.decode().startswith("nst: error: <stdin>")


def test_memory_estimate_refuses_an_absurd_size_before_any_work(tmp_path, photo, painting):
    from nst_toolkit.errors import NSTError
    from nst_toolkit.memory import GIB, require

    out = tmp_path / "out.png"
    r = run("gatys", photo, painting, "-o", out, "--size", "100000", "--quiet")
    assert r.exit_code == 2 and "the largest that fits is about --size" in r.output and not out.exists()
    require("gatys", 512, 288, 3200.0, available=4 * GIB)  # fits
    with pytest.raises(NSTError, match=r"needs about 2\.6 GiB but 2\.0 GiB is available; the largest that fits is about --size 752"):
        require("gatys", 1024, 576, 3200.0, available=2 * GIB)


def test_models_lists_the_package_and_what_train_rebuilds():
    """`nst models`: each model file in the package with its size and its ONNX twins', the package's total, then one
    row per model the train/ recipes rebuild (resources.REBUILD), each naming a recipe file that exists."""
    from pathlib import Path

    from nst_toolkit.resources import REBUILD, shipped_models_dir

    repo = Path(__file__).resolve().parents[1]
    r = run("models")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    folder = shipped_models_dir()
    models, twins = sorted(folder.glob("*/*.safetensors")), sorted(folder.glob("*/*.onnx"))
    mb = lambda p: f"{p.stat().st_size / 1e6:.1f} MB"  # noqa: E731
    for model in models:
        row = next(i for i, line in enumerate(lines) if line.endswith(str(model)) and " shipped " in line)
        assert mb(model) in lines[row]
        own = [t for t in twins if t.parent == model.parent and t.name.startswith(f"{model.stem}.")]
        if own:
            assert "ONNX twins:" in lines[row + 1] and all(f"{t.name} {mb(t)}" in lines[row + 1] for t in own)
    total = sum(p.stat().st_size for p in [*models, *twins]) / 1e6
    assert f"in the package: {len(models)} model files and {len(twins)} ONNX twins, {total:.1f} MB" in r.output
    start = next(i for i, line in enumerate(lines) if line.startswith("rebuilt by the recipes"))
    rows = lines[start + 1:]
    assert len(rows) == len(REBUILD)
    for recipe, row in zip(REBUILD, rows):
        name, kind, status = row.split()[:3]
        assert (name, kind) == (recipe.name, recipe.kind) and recipe.command in row and f"about {recipe.cpu_time}" in row
        assert (repo / recipe.command.split()[1]).is_file(), recipe.command  # bash train/X.sh …
        assert (folder / kind / f"{name}.safetensors").is_file() == recipe.shipped
        assert status == ("shipped" if recipe.shipped else "absent")
    assert {r.name for r in REBUILD if not r.shipped} >= {"great_wave_w12", "summertime_w12", "bank"}
