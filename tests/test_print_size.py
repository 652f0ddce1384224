"""Print sizes and the coarse-to-fine schedule: the tiled loss is the untiled one, the optimiser's state goes
from one scale to the next, the memory a 4096-px picture needs passes the guard, and the CLI runs in tiles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from nst_toolkit import optimize
from nst_toolkit.engines.gatys import GatysConfig
from nst_toolkit.engines.gatys.engine import GatysEngine
from nst_toolkit.engines.improved import ImprovedConfig
from nst_toolkit.engines.improved.engine import ImprovedEngine
from nst_toolkit.memory import GIB, require
from nst_toolkit.optimize import Carry, optimize_image
from nst_toolkit.styles import as_style_set
from nst_toolkit.engines.base import tiled_content
from nst_toolkit.tiled_loss import ALIGN, HALO, choose_core, plan, stride
from .conftest import make_photo, one_error_line, run_cli

# Tiled and untiled sums of the same float32 terms in another order: they agree to this relative error.
GRAD_TOLERANCE = 1e-5


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None].contiguous()


def _images(h=144, w=208):
    return _tensor(make_photo(w, h, 4)), _tensor(make_photo(96, 80, 5))


def _value_and_grad(fn, x):
    x = x.clone().requires_grad_(True)
    terms = fn(x)
    total = sum(terms.values())
    (grad,) = torch.autograd.grad(total, x)
    return {k: float(v.detach()) for k, v in terms.items()}, grad


GATYS_RELU1 = GatysConfig(size=208, content_layers=("relu1_2", "relu4_2"), normalize_layers=False)


@pytest.mark.parametrize("engine", ["improved", "gatys", "gatys relu1_2 unnormalised"])
def test_tiled_and_untiled_loss_and_gradient_agree(vgg, engine):
    """Cores of 48 px with 128-px margins cut a 208-px picture into 15 tiles; loss and gradient match one pass.
    improved's default content layers include relu1_1, whose target is recomputed under each tile."""
    content, style = _images()
    eng = (ImprovedEngine(ImprovedConfig(size=208), vgg) if engine == "improved"
           else GatysEngine(GATYS_RELU1 if "relu1" in engine else GatysConfig(size=208), vgg))
    assert engine != "improved" or "relu1_1" in eng.config.content_layers
    styles = as_style_set(style)
    x = (content * 0.8 + 0.1 * torch.rand(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    whole, g_whole = _value_and_grad(eng.loss_fn(content, styles), x)
    tiled, g_tiled = _value_and_grad(eng.tiled_loss_fn(content, styles, 48), x)
    assert len(plan(*content.shape[-2:], 48)) == 15
    for k in whole:
        assert tiled[k] == pytest.approx(whole[k], rel=GRAD_TOLERANCE)
    err = float((g_tiled - g_whole).norm() / g_whole.norm())
    assert err < GRAD_TOLERANCE, err
    with torch.no_grad():  # the value-only pass (the loop's last evaluation) gives the same numbers
        values = {k: float(v) for k, v in eng.tiled_loss_fn(content, styles, 48)(x).items()}
    assert values == pytest.approx(whole, rel=GRAD_TOLERANCE)


def test_full_resolution_content_targets_are_not_stored(vgg):
    """relu1_1's target would take 256 bytes a pixel at print sizes: only the photo is kept, with the target's count
    and mean square (so the weight is relative, as in one pass); deeper targets are stored as maps."""
    content, _ = _images()
    terms = tiled_content(vgg, content, ("relu1_1", "relu4_2"), 2.0, 48)
    shallow, deep = terms["relu1_1"], terms["relu4_2"]
    assert shallow.map is None and shallow.source is content and deep.map is not None
    full = vgg(content, ["relu1_1"])["relu1_1"]
    assert shallow.count == full.numel()
    assert shallow.weight == pytest.approx(1.0 / float(full.square().mean()), rel=1e-5)


def test_tile_plan_owns_every_pixel_once_on_the_pooling_grid():
    h, w = 301, 517
    owned = torch.zeros(h, w, dtype=torch.int32)
    for t in plan(h, w, 64):
        owned[t.cy0:t.cy1, t.cx0:t.cx1] += 1
        assert t.y0 % ALIGN == 0 and t.x0 % ALIGN == 0
        assert t.cy0 - t.y0 == min(HALO, t.cy0) and t.y1 == min(h, t.cy1 + HALO)
    assert bool((owned == 1).all())
    assert [stride(n) for n in ("relu1_1", "relu2_1", "relu3_4", "relu4_2", "relu5_4")] == [1, 2, 4, 8, 16]
    assert choose_core(288, 512, None) is None and choose_core(2304, 4096, None) is not None and choose_core(2304, 4096, 0) is None


def test_optimiser_state_is_carried_across_scales_and_resized():
    """The carried L-BFGS pairs arrive at the next scale's size, and the next scale skips the cold start's
    warm-up: a cold L-BFGS takes a tiny first step (1/|g|₁), the carried one a step from the carried curvature."""
    g = torch.Generator().manual_seed(1)
    target_small = torch.rand(1, 3, 8, 12, generator=g)
    target = torch.nn.functional.interpolate(target_small, size=(16, 24), mode="bilinear", align_corners=False)
    weights = torch.linspace(1, 30, 3).view(1, 3, 1, 1)  # badly scaled: steepest descent alone crawls

    def loss(t):
        return lambda x: {"fit": (weights * (x - t) ** 2).mean()}

    carry = Carry()
    optimize_image(torch.zeros(1, 3, 8, 12), loss(target_small), iterations=8, carry=carry)
    assert carry.optimizer == "lbfgs" and carry.shape == (1, 3, 8, 12) and carry.state["dirs"]
    seen = []
    real = optimize._load_state

    def spy(opt, name, x, c, keep):
        real(opt, name, x, c, keep)
        seen.append([d.numel() for d in opt.state[x].get("old_dirs", [])])

    start = torch.nn.functional.interpolate(torch.zeros(1, 3, 8, 12), size=(16, 24))
    try:
        optimize._load_state = spy
        _, warm = optimize_image(start, loss(target), iterations=4, carry=carry)
    finally:
        optimize._load_state = real
    _, cold = optimize_image(start, loss(target), iterations=4)
    assert seen and seen[0] and set(seen[0]) == {3 * 16 * 24}
    assert carry.shape == (1, 3, 16, 24)
    # history[i] is the loss at the start of step i: after one step the cold run has barely moved
    assert warm[0]["total"] == cold[0]["total"] and cold[1]["total"] > 0.98 * cold[0]["total"]
    assert warm[1]["total"] < 0.5 * cold[1]["total"]
    assert warm[-1]["total"] < cold[-1]["total"]


def test_improved_hands_one_carry_through_every_scale(vgg, monkeypatch):
    from nst_toolkit.engines.improved import engine as mod

    carries = []
    real = mod.optimize_image

    def spy(*a, **k):
        carries.append((k["carry"], None if k["carry"] is None else k["carry"].shape))
        return real(*a, **k)

    monkeypatch.setattr(mod, "optimize_image", spy)
    content, style = _images(72, 96)
    cfg = ImprovedConfig(size=96, start_size=48, iterations=2, coarse_iterations=3)
    ImprovedEngine(cfg, vgg).stylize(content, style)
    assert len(carries) == 2 and carries[0][0] is carries[1][0] is not None
    assert carries[1][1] == (1, 3, 36, 48)  # the second scale found the first one's state
    carries.clear()
    ImprovedEngine(replace(cfg, carry_state=False), vgg).stylize(content, style)
    assert [c for c, _ in carries] == [None, None]


def test_a_4096_px_picture_fits_the_memory_guard_in_tiles():
    for cfg in (ImprovedConfig(size=4096), GatysConfig(size=4096)):
        base, per_pixel = cfg.memory_need(4096, 2304)
        need = base + per_pixel * 4096 * 2304
        assert need < 16 * GIB * 0.9, need / GIB
        require("improved", 4096, 2304, per_pixel, available=16 * GIB, base=base)  # passes
        base0, per_pixel0 = replace(cfg, tile=0).memory_need(4096, 2304)  # one pass: refused
        with pytest.raises(Exception, match="largest that fits"):
            require("improved", 4096, 2304, per_pixel0, available=16 * GIB, base=base0)
    assert optimize.history_size(3 * 4096 * 2304) < optimize.HISTORY_SIZE == optimize.history_size(3 * 512 * 288)


def test_cli_improved_in_tiles_end_to_end(tmp_path, painting):
    photo = tmp_path / "wide.png"
    make_photo(160, 96, 3).save(photo)
    out = tmp_path / "tiled.png"
    r = run_cli("improved", photo, painting, "-o", out, "--size", "160", "--start-size", "80", "--iterations", "2",
                "--coarse-iterations", "2", "--tile", "64", "--quiet", "--no-manifest")
    assert r.exit_code == 0, r.output
    with Image.open(out) as im:
        assert im.size == (160, 96)
        assert len(im.convert("L").getcolors(256)) > 20  # a picture, not a flat fill
    mask = tmp_path / "m.png"
    m = Image.new("L", (160, 96), 0)
    m.paste(255, (0, 0, 80, 96))
    m.save(mask)
    bad = tmp_path / "masked.png"
    r = run_cli("improved", photo, painting, painting, "--mask", mask, "-o", bad, "--size", "160", "--tile", "64",
                "--iterations", "1", "--coarse-iterations", "1", "--start-size", "80", "--quiet")
    one_error_line(r, "masks are not cut into tiles")
    assert not bad.exists()
