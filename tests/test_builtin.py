"""The built-in training photos (`nst train-fast` without --data) and `--model all` sheets."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from typer.testing import CliRunner

from nst_toolkit.checkpoints import model_files
from nst_toolkit.cli import app
from nst_toolkit.imagefiles import IMAGE_SUFFIXES
from nst_toolkit.resources import BUILTIN_PHOTOS_NAME, builtin_photos

runner = CliRunner()
ALLOWED = {"public domain", "CC0-1.0", "CC-BY-2.0", "CC-BY-3.0", "CC-BY-4.0"}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_builtin_photos_are_present_compact_and_each_attributed():
    folder = builtin_photos()
    photos = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    assert len(photos) >= 100, folder
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 8 * 1024 * 1024
    rows = {}
    for line in (folder / "ATTRIBUTION.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `([^`]+)` \| (.+?) \| (.+?) \| (.+?) \| (.+?) \|", line)
        if m:
            rows[m.group(1)] = m.groups()[1:]
    assert sorted(rows) == photos  # every photo has its entry, every entry its photo
    for name, (source, author, licence, original) in rows.items():
        assert licence in ALLOWED, (name, licence)
        assert "gcompris-qt-data" in source and author and original, name
    assert not [p for p in photos if p.startswith("gc_wonders_")]  # held out for evaluation
    with Image.open(folder / photos[0]) as im:
        assert im.format == "JPEG" and min(im.size) <= 288


def test_train_fast_without_data_uses_the_builtin_photos(tmp_path, painting, photo):
    from nst_toolkit.engines.fast.engine import load_transformer

    out = tmp_path / "mine.safetensors"
    r = run("train-fast", "--style", painting, "--steps", "1", "--size", "32", "--batch-size", "1", "--width", "4", "--base", "none",
            "--n-res", "1", "--checkpoint-every", "0", "--val-image", photo, "--device", "cpu", "-o", out)
    assert r.exit_code == 0, r.output
    n = sum(1 for p in builtin_photos().iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    assert f"from built-in photos ({n}, see nst_toolkit/photos/ATTRIBUTION.md)" in r.stderr
    net, meta = load_transformer(out)
    assert net.width == 4 and meta["step"] == 1
    assert meta["data"] == {"source": BUILTIN_PHOTOS_NAME, "images": n, "skipped": 0}


def _text_files(d):
    (d / "notes.txt").write_text("not a picture")


def _fake_images(d):
    (d / "a.jpg").write_text("not a picture")
    (d / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")


@pytest.mark.parametrize("fill,msg", [(lambda d: None, "no images found"), (_text_files, "no images found"),
                                      (_fake_images, "none of its images could be read")])
def test_unreadable_data_folder_is_one_line_and_exit_2(tmp_path, painting, fill, msg):
    data = tmp_path / "data"
    data.mkdir()
    fill(data)
    out = tmp_path / "m.safetensors"
    r = run("train-fast", "--style", painting, "--data", data, "--steps", "1", "--size", "32", "--width", "4",
            "--n-res", "1", "--quiet", "--device", "cpu", "-o", out)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0] and "Traceback" not in r.output, r.stderr
    assert not out.exists()


def test_fast_model_all_renders_a_labelled_sheet_of_every_model(tmp_path, photo):
    from nst_toolkit.sheet import sheet_columns

    out = tmp_path / "sheet.png"
    r = run("fast", photo, "--model", "all", "-o", out, "--size", "64")
    assert r.exit_code == 0, r.output
    cells = 1 + len(model_files("fast"))  # the photo, then every shipped and local model
    assert f"the photo and {cells - 1} model" in r.stderr
    cols = sheet_columns(cells)
    rows = -(-cells // cols)
    cell, pad, line_h = 256, 6, 256 // 16 + 4  # images.make_grid's defaults
    sheet = Image.open(out).convert("L")
    assert sheet.size == (cols * (cell + pad) + pad, rows * (cell + line_h + pad) + pad)

    def filled(i):  # whether grid cell i holds an image (the 64×48 photo sits centred in its cell)
        r_, c = divmod(i, cols)
        x, y = pad + c * (cell + pad) + cell // 2, pad + r_ * (cell + line_h + pad) + cell // 2
        return sheet.crop((x - 20, y - 15, x + 20, y + 15)).getextrema() != (255, 255)

    assert all(filled(i) for i in range(cells)) and not any(filled(i) for i in range(cells, rows * cols))


@pytest.mark.parametrize("extra", [["--model", "all", "-o", "-"], ["--model", "all", "-o", "OUTDIR"]])
def test_model_all_refuses_several_inputs_or_standard_output(tmp_path, photo, extra):
    extra = [str(tmp_path / "outs") if a == "OUTDIR" else a for a in extra]
    inputs = [photo] if "-" in extra else [photo, photo]
    r = run("fast", *inputs, *extra)
    assert r.exit_code == 2 and "--model all renders one photo into one image" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "outs").exists()
