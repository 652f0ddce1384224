"""Library pieces the CLI only calls: run recording, training finalisation, compare output, eval matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nst_toolkit.errors import DivergedError, NSTError
from nst_toolkit.optimize import Step
from nst_toolkit.runs import RecordOptions, record_run


class FakeEngine:
    """Reports three steps, or diverges after two."""

    name = "fake"

    def __init__(self, diverge: bool = False):
        from nst_toolkit.engines.gatys import GatysConfig

        self.config, self.diverge = GatysConfig(iterations=3), diverge

    def planned_steps(self):
        return 3

    def stylize(self, content, styles, *, on_step=None):
        for i in range(1, 4):
            img = content * i / 3
            if self.diverge and i == 3:
                raise DivergedError("the loss became non-finite at iteration 3", None, 2)
            on_step(Step(i, 3, {"style": 1.0 / i, "total": 1.0 / i}, img))
        return content


def test_record_run_writes_output_snapshots_gif_plot_and_manifest(tmp_path):
    out = tmp_path / "r.png"
    x = torch.rand(1, 3, 16, 20)
    result = record_run(FakeEngine(), x, None, out, RecordOptions(save_every=2, gif=True, plot=True),
                        inputs={"content": "c.png"})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["r.gif", "r.json", "r.png", "r_0002.png", "r_losses.png"]
    m = json.loads((tmp_path / "r.json").read_text())
    assert m["iterations_run"] == 3 and m["final_losses"]["total"] == pytest.approx(1 / 3)
    assert m["inputs"] == {"content": "c.png"} and m["config"]["iterations"] == 3 and result.iterations == 3


def test_record_run_keeps_the_last_good_image_on_divergence(tmp_path):
    out = tmp_path / "r.png"
    with pytest.raises(DivergedError, match="last good image kept in .*r.last_good.png"):
        record_run(FakeEngine(diverge=True), torch.rand(1, 3, 16, 20), None, out, RecordOptions(manifest=False))
    assert (tmp_path / "r.last_good.png").is_file() and not out.exists()


def test_finalize_strips_the_optimizer_and_resume_needs_a_checkpoint(tmp_path):
    from nst_toolkit.checkpoints import load_checkpoint, read_metadata, save_checkpoint
    from nst_toolkit.training import finalize, run_dir_for, train_to_file

    ck = tmp_path / "ck.safetensors"
    save_checkpoint(ck, {"model.w": torch.ones(2), "optim.0.exp_avg": torch.zeros(2)},
                    {"engine": "fast", "step": 5, "optimizer": {"param_groups": []}})
    out = finalize(ck, tmp_path / "m.safetensors", "fast", {"note": "x"})
    tensors, meta = load_checkpoint(out, "fast")
    assert list(tensors) == ["model.w"] and "optimizer" not in meta and meta["note"] == "x" and meta["step"] == 5
    assert tensors["model.w"].dtype == torch.float16  # a model file stores float16; the checkpoint keeps float32
    assert load_checkpoint(ck, "fast")[0]["model.w"].dtype == torch.float32
    assert run_dir_for(tmp_path / "m.safetensors") == tmp_path / "m.run"
    with pytest.raises(NSTError, match="--resume: no checkpoint"):
        train_to_file(object(), tmp_path / "new.safetensors", steps=1, lr=1e-3, resume=True)
    assert read_metadata(ck)["optimizer"] == {"param_groups": []}  # the checkpoint itself is untouched


def test_match_content_and_strongest_maps():
    from nst_toolkit.evaluate import match_content
    from nst_toolkit.vgg import strongest_maps

    cands = [Path("col.jpg"), Path("colosseum.jpg"), Path("petra.jpg")]
    assert match_content(Path("colosseum_great_wave.png"), cands) == Path("colosseum.jpg")
    assert match_content(Path("unrelated.png"), cands) is None
    f = torch.zeros(4, 3, 3)
    f[2] += torch.arange(9.0).view(3, 3)
    f[0] += 0.5
    maps = strongest_maps(f, 2)
    assert [ch for ch, _, _ in maps] == [2, 0] and maps[0][2].max() == 1 and maps[0][2].min() == 0


def test_write_compare_files_and_page(tmp_path):
    from nst_toolkit.compare import Cell, write_compare

    c, s = torch.rand(1, 3, 24, 32), torch.rand(1, 3, 24, 24)
    rows = [[Cell("a", {}, torch.rand(1, 3, 24, 32), 1.5, {"style_distance": 1, "content_distance": 2, "ssim": 0.5}),
             Cell("b", skipped="no model for this style")]]
    written = write_compare(tmp_path, rows, c, s, title="t", inputs={"content": "c", "style": "s"}, settings={}, sweep=None)
    assert {p.name for p in written} == {"a.png", "grid.png", "summary.json", "index.html"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["rows"][0][1]["skipped"] == "no model for this style" and summary["rows"][0][0]["output"] == "a.png"
    assert "no model for this style" in (tmp_path / "index.html").read_text()


def test_an_error_after_a_progress_bar_starts_on_its_own_line(tmp_path, photo, painting):
    from nst_toolkit.cli import app

    r = CliRunner().invoke(app, ["gatys", str(photo), str(painting), "-o", str(tmp_path / "o.png"), "--size", "48",
                                 "--iterations", "2", "--style-weight", "1e39"])
    assert r.exit_code == 2
    assert any(line.startswith("nst: error: the loss became non-finite") for line in r.output.splitlines()), r.output
