"""`nst compare`, sweeps, `nst eval` and `nst features`."""

import json
import re
import shutil

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from nst_toolkit.cli import app
from nst_toolkit.compare import parse_assignment
from nst_toolkit.errors import NSTError
from nst_toolkit.evaluate import Evaluator

from .conftest import SAMPLES

runner = CliRunner()
FAST = ["--size", "64", "--set", "iterations=2", "--set", "coarse_iterations=2", "--quiet"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_compare_writes_every_file_and_one_cell_per_method(tmp_path):
    out = tmp_path / "cmp"
    r = run("compare", SAMPLES / "machu_picchu.jpg", SAMPLES / "great_wave.jpg", "-o", out, *FAST)
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    row = summary["rows"][0]
    assert [c["method"] for c in row] == ["gatys", "improved", "fast", "adain"]
    for cell in row:
        assert cell["skipped"] is None and (out / cell["output"]).is_file()
        assert set(cell["metrics"]) == {"content_distance", "style_distance", "ssim"}
    grid = Image.open(out / "grid.png")
    assert grid.width > 5 * 64  # content, style and four methods in one row
    page = (out / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "grid.png" in refs and all((out / ref).is_file() for ref in refs)


def test_missing_fast_model_is_skipped_with_hint(tmp_path, photo, painting):
    out = tmp_path / "cmp"
    r = runner.invoke(app, ["compare", str(photo), str(painting), "-o", str(out), "--methods", "fast,adain", *FAST[:2], "--quiet"])
    assert r.exit_code == 0, r.output
    fast, adain = json.loads((out / "summary.json").read_text())["rows"][0]
    assert "nst train-fast --style" in fast["skipped"] and fast["output"] is None
    assert adain["skipped"] is None and (out / adain["output"]).is_file()
    page = (out / "index.html").read_text()
    assert all((out / ref).is_file() for ref in re.findall(r'(?:src|href)="([^"]+)"', page))


def test_sweep_values_are_parsed_and_applied(tmp_path, photo, painting):
    out = tmp_path / "sw"
    r = runner.invoke(app, ["compare", str(photo), str(painting), "-o", str(out), "--methods", "gatys,adain",
                            "--sweep", "style_weight=0.5,20", *FAST[:4], "--quiet"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sweep"] == {"name": "style_weight", "values": [0.5, 20]}
    (g1, a1), (g2, a2) = summary["rows"]
    assert g1["settings"]["style_weight"] == 0.5 and g2["settings"]["style_weight"] == 20
    assert g2["metrics"]["style_distance"] < g1["metrics"]["style_distance"]  # the value really reached the engine
    assert a2["reused"] and not a1["reused"]  # adain has no style_weight option: run once, shown in both rows
    assert (out / "gatys_style_weight-0.5.png").is_file() and (out / "gatys_style_weight-20.png").is_file()


def test_parse_assignment_and_unknown_option(tmp_path, photo, painting):
    assert parse_assignment("tv-weight=1,2.5,x") == ("tv_weight", [1, 2.5, "x"])
    with pytest.raises(NSTError):
        parse_assignment("nonsense")
    r = runner.invoke(app, ["compare", str(photo), str(painting), "-o", str(tmp_path / "x"), "--sweep", "flux=1,2", "--quiet"])
    assert r.exit_code == 2 and "flux" in r.output


def test_eval_of_image_against_itself(tmp_path):
    ev = Evaluator()
    x = torch.rand(1, 3, 64, 80)
    m = ev(x, x, x)
    assert m["content_distance"] == pytest.approx(0, abs=1e-9)
    assert m["style_distance"] == pytest.approx(0, abs=1e-9)
    assert m["ssim"] == pytest.approx(1, abs=1e-6)
    other = ev(x, torch.rand(1, 3, 64, 80), torch.rand(1, 3, 64, 80))
    assert other["content_distance"] > 0.01 and other["ssim"] < 0.5


def test_eval_cli_json_csv_and_folders(tmp_path, photo, painting):
    folder = tmp_path / "outs"
    folder.mkdir()
    shutil.copy(photo, folder / "photo_a.png")
    shutil.copy(painting, folder / "photo_b.jpg")
    r = run("eval", folder, "--content", photo, "--style", painting, "-o", tmp_path / "m.csv", "--size", "64")
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "m.csv").read_text().strip().splitlines()
    assert lines[0] == "image,content_distance,ssim,style_distance" and len(lines) == 3
    r = run("eval", photo, "--content", photo, "--size", "64")
    assert r.exit_code == 0
    rows = json.loads(r.output)
    assert rows[0]["ssim"] == pytest.approx(1, abs=1e-6) and rows[0]["content_distance"] == pytest.approx(0, abs=1e-9)


def test_features_grid_has_requested_tiles(tmp_path, photo):
    out = tmp_path / "f.png"
    r = run("features", photo, "--layer", "relu2_1", "-o", out, "--count", "6")
    assert r.exit_code == 0, r.output
    assert "6 of 128 channels" in r.output
    img = Image.open(out)
    # 6 tiles in round(sqrt(6)) = 2 columns → 3 rows of 160-px cells (+ labels and padding)
    assert 2 * 160 < img.width < 3 * 160 and img.height > 3 * 160
    r = run("features", photo, "--layer", "relu9_1", "-o", tmp_path / "g.png")
    assert r.exit_code == 2 and "unknown VGG-19 layer" in r.output and not (tmp_path / "g.png").exists()
