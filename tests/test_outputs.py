"""What every command does with its -o: unknown extensions refused, folders only when asked for; the one-pass
engines' one size rule; `nst video --size 720p`; export-fast without the onnx package."""

from __future__ import annotations

import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from nst_toolkit.cli import app

from .conftest import make_photo, one_error_line
from .conftest import run_cli as run

runner = CliRunner()


def test_export_fast_without_onnx_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails as where it is not installed
    out = tmp_path / "x.onnx"
    r = run("export-fast", "test_net", "-o", out)
    one_error_line(r, "exporting to ONNX needs the onnx package: pip install onnx")
    assert not out.exists() and list(tmp_path.iterdir()) == []


# command → its arguments before -o (PHOTO, PAINTING, FOLDER: the fixtures)
WRITERS = {
    "adain": ["adain", "PHOTO", "PAINTING", "--size", "64"],
    "adain_folder": ["adain", "FOLDER", "PAINTING", "--size", "64"],
    "fast": ["fast", "PHOTO", "-m", "test_net", "--size", "64"],
    "gatys": ["gatys", "PHOTO", "PAINTING", "--size", "48", "--iterations", "1"],
    "improved": ["improved", "PHOTO", "PAINTING", "--size", "48", "--iterations", "1"],
    "features": ["features", "PHOTO", "--size", "64"],
    "compare": ["compare", "PHOTO", "PAINTING", "--methods", "fast", "--size", "64"],
    "video": ["video", "FOLDER", "--model", "test_net", "--size", "64"],
    "eval": ["eval", "PHOTO", "--style", "PAINTING", "--size", "64"],
}


@pytest.mark.parametrize("name", ["o.xyz", "out.pgn"])
@pytest.mark.parametrize("command", WRITERS)
def test_every_command_refuses_an_unknown_extension_and_makes_nothing(tmp_path, photo, painting, photo_folder,
                                                                      command, name):
    fill = {"PHOTO": photo, "PAINTING": painting, "FOLDER": photo_folder}
    args = [fill.get(a, a) for a in WRITERS[command]]
    work = tmp_path / "work"
    work.mkdir()
    out = work / name
    r = run(*args, "-o", out, "--quiet") if command not in ("features", "eval") else run(*args, "-o", out)
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("nst: error:"), r.output
    assert name in lines[0] and "Traceback" not in r.output
    assert list(work.iterdir()) == []  # neither a file nor a folder of that name


def test_a_folder_only_when_asked_for(tmp_path, photo, painting, photo_folder):
    args = ["adain", photo, painting, "--size", "64", "--quiet"]
    r = run(*args, "-o", tmp_path / "plain")  # one photo, a name without extension: refused, nothing made
    one_error_line(r, "give an image file name")
    assert not (tmp_path / "plain").exists()
    r = run(*args, "-o", f"{tmp_path / 'asked'}/")  # a trailing separator asks for a folder
    assert r.exit_code == 0, r.output
    assert [p.name for p in (tmp_path / "asked").iterdir()] == ["photo_adain.png"]
    existing = tmp_path / "existing"
    existing.mkdir()
    r = run(*args, "-o", existing)  # an existing folder is used as one
    assert r.exit_code == 0 and (existing / "photo_adain.png").is_file(), r.output
    dotted = tmp_path / "results.v2"
    r = run("fast", photo_folder, "-m", "test_net", "--size", "64", "-q", "-o", f"{dotted}/")
    assert r.exit_code == 0 and len(list(dotted.iterdir())) == 6, r.output
    single = tmp_path / "single"
    single.mkdir()
    make_photo(64, 48, 3).save(single / "only.png")
    r = run("fast", single, "-m", "test_net", "--size", "64", "-q", "-o", tmp_path / "one.png")
    one_error_line(r, "a folder of inputs needs an output folder")  # a folder in means a folder out
    r = run("fast", single, "-m", "test_net", "--size", "64", "-q", "-o", tmp_path / "outs")
    assert r.exit_code == 0 and [p.name for p in (tmp_path / "outs").iterdir()] == ["only_test_net.png"]


def test_one_pass_engines_share_one_size_rule_and_say_it(tmp_path, photo, painting):
    from nst_toolkit.engines.adain import AdaINConfig
    from nst_toolkit.engines.fast import FastConfig

    assert FastConfig().size == AdaINConfig().size == 512
    for args in (["fast", photo, "-m", "test_net"], ["adain", photo, painting]):
        out = tmp_path / f"{args[0]}.png"
        r = run(*args, "-o", out, "--quiet")
        assert r.exit_code == 0, r.output
        assert Image.open(out).size == (512, 384)  # the 64×48 photo at the default longest side
    text = runner.invoke(app, ["fast", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}).output
    assert "as `nst adain`" in text and "default: 512" in text


def test_video_size_in_the_height_form(tmp_path):
    from nst_toolkit.cli.video import frame_size
    from nst_toolkit.errors import NSTError

    assert frame_size("360p", 640, 360) == 640 and frame_size("720p", 640, 360) == 1280
    assert frame_size("1080p", 1920, 1080) == 1920 and frame_size("720P", 1000, 562) in (1281, 1282)
    assert frame_size("360", 640, 360) == 360 and frame_size("360p", 360, 640) == 360  # portrait: its height
    for bad in ("abc", "0p", "-5", "12px"):
        with pytest.raises(NSTError, match="size must be"):
            frame_size(bad, 640, 360)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        make_photo(64, 36, i).save(frames / f"{i:03d}.png")
    for size, want in (("36p", (64, 36)), ("36", (36, 20))):
        out = tmp_path / f"out_{size}"
        r = run("video", frames, "-o", out, "--model", "test_net", "--size", size, "--quiet")
        assert r.exit_code == 0, r.output
        assert {Image.open(p).size for p in out.iterdir()} == {want}, size
    text = runner.invoke(app, ["video", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}).output
    assert "720p" in text and "height" in text
