"""`nst video` on tiny generated clips: frames, rate and audio survive; errors are one line; stabilisation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nst_toolkit.cli import app
from nst_toolkit.errors import NSTError
from nst_toolkit.stabilize import Stabilizer, flicker, global_motion, global_shift, shift_image, synthetic_clip, warp
from .conftest import run_cli_without_torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_video import write_clip  # noqa: E402  (the benchmark's clip writer: H.264 and an AAC tone)

av = pytest.importorskip("av")
runner = CliRunner()
SAMPLES = Path(__file__).resolve().parents[1] / "nst_toolkit" / "samples"


def make_clip(path, frames=10, fps=12, size=(64, 48), audio=True):
    """A pan over random pixels (2 px a frame) as H.264, with an AAC tone when ``audio``."""
    w, h = size
    rng = np.random.default_rng(0)
    base = (rng.random((3, h, w + 2 * frames)) * 255).astype(np.uint8)
    write_clip([base[None, :, :, 2 * i: 2 * i + w] / 255.0 for i in range(frames)], path, fps, audio)
    return path


def probe(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))
        return {"fps": float(v.average_rate), "frames": n, "size": (v.codec_context.width, v.codec_context.height),
                "audio": bool(c.streams.audio)}


@pytest.mark.parametrize("engine,extra", [("fast", ["--model", "test_net", "--size", "64"]),
                                          ("adain", ["--style", "STYLE", "--size", "48"])])
def test_video_round_trip_keeps_frames_rate_size_and_audio(tmp_path, painting, engine, extra):
    src = make_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    extra = [str(painting) if e == "STYLE" else e for e in extra]
    r = runner.invoke(app, ["video", str(src), "-o", str(out), "--engine", engine, *extra, "--quiet"])
    assert r.exit_code == 0, r.output
    got, want = probe(out), probe(src)
    assert got["frames"] == want["frames"] == 10 and got["fps"] == want["fps"] == 12
    assert got["audio"] and got["size"] == ((64, 48) if engine == "fast" else (48, 36))  # the longest side at --size
    assert not list(tmp_path.glob(".*nst-tmp"))


def test_gif_and_frame_folders_in_and_out(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=6, audio=False)
    gif = tmp_path / "out.gif"
    assert runner.invoke(app, ["video", str(src), "-o", str(gif), "--model", "test_net", "--size", "64", "-q"]).exit_code == 0
    assert probe(gif)["frames"] == 6
    frames = tmp_path / "frames"
    r = runner.invoke(app, ["video", str(gif), "-o", str(frames), "--model", "test_net", "--size", "64", "-q"])
    assert r.exit_code == 0, r.output
    assert len(list(frames.glob("frame_*.png"))) == 6
    again = tmp_path / "again.mp4"
    r = runner.invoke(app, ["video", str(frames), "-o", str(again), "--fps", "8", "--model", "test_net", "--size", "64", "-q"])
    assert r.exit_code == 0, r.output
    assert probe(again)["frames"] == 6 and probe(again)["fps"] == 8


@pytest.mark.parametrize("case,msg", [
    ("garbage", "not a video FFmpeg can read"),
    ("suffix", "unknown video format"),
    ("unwritable", "not writable"),
    ("engine", "one-pass engine"),
    ("option", "not an option of the fast engine"),
])
def test_video_errors_are_one_line_and_leave_nothing(tmp_path, painting, case, msg):
    src = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    if case == "garbage":
        src = tmp_path / "bad.mp4"
        src.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 10)
    out = {"suffix": tmp_path / "out.xyz", "unwritable": tmp_path / "afile" / "out.mp4"}.get(case, tmp_path / "out.mp4")
    if case == "unwritable":
        (tmp_path / "afile").write_text("x")
    extra = {"engine": ["--engine", "gatys"], "option": ["--alpha", "0.5"]}.get(case, [])
    r = runner.invoke(app, ["video", str(src), "-o", str(out), "--model", "test_net", *extra])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nst: error:") and msg in lines[0], r.output
    assert not out.exists() and not list(tmp_path.glob(".*nst-tmp"))


def smooth_noise(rng, h, w):
    """A textured scene: uniform noise averaged over 3×3 windows, 1×3×H×W float32."""
    x = rng.random((1, 3, h + 2, w + 2), dtype=np.float32)
    return sum(x[..., i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9


def test_global_shift_and_flicker_with_known_motion():
    img = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 80, 120, generator=torch.Generator().manual_seed(1)), 3, 1, 1)
    moved, valid = shift_image(img, 3, -5)
    assert global_shift(img, moved) == (3, -5)
    assert valid[..., :3, :].sum() == 0 and valid[..., :, -5:].sum() == 0 and valid[..., 3:, :-5].min() == 1
    assert np.array_equal(moved[..., 3:, :-5], img.numpy()[..., :-3, 5:])
    frames, shifts = synthetic_clip(img, "pan", 5, (40, 60), noise=0.02)
    assert flicker(frames, frames, shifts) == pytest.approx(1.0)
    # Output equal to the input moved exactly with it: no unexplained change at all.
    assert flicker(frames, [f * 0.5 for f in frames], shifts) == pytest.approx(0.5)
    zoom, motion = synthetic_clip(torch.nn.functional.interpolate(img, scale_factor=2.0, mode="bilinear"), "zoom", 3,
                                  (80, 120), noise=0.0)
    assert global_motion(zoom[0], zoom[1])[0] == pytest.approx(1.01) and motion[1][0] == pytest.approx(1.01)


def test_warp_matches_torch_grid_sample():
    """The numpy zoom-and-shift is torch's affine_grid + grid_sample (bilinear, border padding)."""
    x = torch.rand(1, 3, 30, 44, generator=torch.Generator().manual_seed(4))
    for scale, dy, dx in ((1.02, 0, 0), (1 / 1.01, 2, -3), (1.0, 0.5, 1.25)):
        theta = torch.tensor([[1 / scale, 0.0, -2 * dx / 44 / scale], [0.0, 1 / scale, -2 * dy / 30 / scale]])[None]
        grid = torch.nn.functional.affine_grid(theta, [1, 3, 30, 44], align_corners=False)
        want = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        got, valid = warp(x, scale, dy, dx)
        assert np.abs(got - want.numpy()).max() < 1e-5
        assert np.array_equal(valid[0, 0] > 0, (grid.abs() <= 1).all(dim=-1)[0].numpy())


def test_stabilizer_steadies_still_regions_without_ghosts():
    rng = np.random.default_rng(2)
    background = smooth_noise(rng, 48, 64)  # a still, textured scene
    inputs, outputs, raw = [], [], []
    stab = Stabilizer(0.8)
    for t in range(8):
        x = background.copy()
        x[..., 10:20, 4 + 4 * t: 14 + 4 * t] = 1.0  # a white square moving right, 4 px per frame
        y = x + 0.05 * rng.standard_normal(x.shape, dtype=np.float32)  # a "stylised" frame: flickering texture
        inputs.append(x)
        raw.append(y)
        outputs.append(stab(x, y))
    still = (slice(None), slice(None), slice(30, 48), slice(None))  # rows the square never crosses
    jitter = lambda seq: sum(np.abs(a[still] - b[still]).mean() for a, b in zip(seq[1:], seq)) / (len(seq) - 1)
    assert jitter(outputs) < 0.5 * jitter(raw)  # the still background flickers less than half as much
    last, prev_pos = outputs[-1], (slice(None), slice(None), slice(10, 20), slice(4 + 4 * 6, 8 + 4 * 6))
    # Where the square was one frame ago (now background again) nothing of it remains: no ghost.
    assert np.abs(last[prev_pos] - raw[-1][prev_pos]).max() < 1e-6


def test_denoise_calms_the_input_of_a_still_scene_and_leaves_moving_things_alone():
    rng = np.random.default_rng(3)
    background = smooth_noise(rng, 48, 64)
    stab = Stabilizer(0.0, denoise=0.6)
    clean, noisy, seen = [], [], []
    for t in range(8):
        x = background.copy()
        x[..., 10:20, 4 + 4 * t: 14 + 4 * t] = 1.0  # a white square moving right
        y = np.clip(x + 0.02 * rng.standard_normal(x.shape, dtype=np.float32), 0, 1)  # sensor noise
        clean.append(x)
        noisy.append(y)
        seen.append(stab.prepare(y))
        stab(y, y)
    still = (slice(None), slice(None), slice(30, 48), slice(None))
    err = lambda seq: sum(np.abs(a[still] - c[still]).mean() for a, c in zip(seq[3:], clean[3:])) / 5
    assert err(seen) < 0.7 * err(noisy)  # closer to the clean scene where nothing moves
    prev_pos = (slice(None), slice(None), slice(12, 18), slice(4 + 4 * 6, 8 + 4 * 6))
    # The square's last position (background now) keeps nothing of the white square.
    assert np.abs(seen[-1][prev_pos] - noisy[-1][prev_pos]).max() < 1e-6
    with pytest.raises(NSTError):
        Stabilizer(0.8, denoise=1.0)


def test_twin_and_torch_stylise_a_clip_alike_and_frames_side_by_side_change_nothing():
    """The default fast model's 8-bit ONNX twin (what `nst video` runs on the CPU) and its torch engine give the same
    stabilised clip within 8-bit rounding; two frames through the twin at once give exactly one-at-a-time's frames."""
    from nst_toolkit import api, engines
    from nst_toolkit.images import load_image
    from nst_toolkit.styles import StyleSet
    from nst_toolkit.video import stylized_frames

    spec = engines.get("fast")
    cfg = api.configure("fast", {"size": 96})
    frames, _ = synthetic_clip(load_image(SAMPLES / "machu_picchu.jpg", 160), "pan", 6, (48, 96))
    frames = [f.numpy() for f in frames]
    twin = spec.torch_free_frames(cfg, [], (96, 48), 1)
    engine = api.build("fast", cfg).bind(StyleSet.none())

    def torch_pass(x):
        with torch.inference_mode():
            return engine(torch.from_numpy(x)).numpy()

    one = list(stylized_frames(iter(frames), twin, Stabilizer(0.9, 0.5), workers=1))
    two = list(stylized_frames(iter(frames), twin, Stabilizer(0.9, 0.5), workers=2))
    ref = list(stylized_frames(iter(frames), torch_pass, Stabilizer(0.9, 0.5)))
    assert len(one) == len(two) == len(ref) == 6
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    # 8 bits on a 96×48 clip: 0.016-0.022 a frame (the same bound as `nst fast`'s twin test)
    assert max(float(np.abs(a - b).mean()) for a, b in zip(one, ref)) < 0.04


def test_frames_read_ahead_keep_their_order_errors_and_stop_promptly():
    import time

    from nst_toolkit.video import ahead

    def items():
        yield from range(3)
        raise ValueError("broken frame")

    got = []
    with pytest.raises(ValueError, match="broken frame"):
        for x in ahead(items()):
            got.append(x)
    assert got == [0, 1, 2]
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    t = time.perf_counter()
    for x in ahead(endless()):
        if x == 5:
            break
    assert time.perf_counter() - t < 2 and closed == [True]  # the reader stops and closes its source


def test_the_default_model_runs_without_torch_and_keeps_frames_rate_and_audio(tmp_path):
    src = make_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    r = run_cli_without_torch("video", src, "-o", out, "--size", "64")
    assert r.returncode == 0 and "(onnxruntime)" in r.stderr, r.stderr
    got, want = probe(out), probe(src)
    assert got["frames"] == want["frames"] == 10 and got["fps"] == want["fps"] == 12 and got["audio"]
    assert got["size"] == (64, 48)
