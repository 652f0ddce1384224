"""The improved engine: each switch changes the loss as its formula says; multi-scale; masks; CLI."""

from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from nst_toolkit import losses
from nst_toolkit.cli import app
from nst_toolkit.engines.gatys import GatysConfig
from nst_toolkit.engines.gatys.engine import GatysEngine
from nst_toolkit.engines.improved import ImprovedConfig
from nst_toolkit.engines.improved.engine import (ImprovedEngine, StyleTerm, cross_gram, layer_weights, make_early_stop,
                                                 scale_iterations, scale_sizes)
from nst_toolkit.errors import NSTError
from nst_toolkit.styles import StyleSet

OFF = ImprovedConfig(size=48, all_layers=False, shift=0.0, geometric_weights=False, chain=False, coarse_to_fine=False,
                     iterations=4, early_stop=0.0, style_weight=GatysConfig().style_weight, init=GatysConfig().init,
                     content_weight=GatysConfig().content_weight, content_layers=GatysConfig().content_layers)


def _pair(h=40, w=48):
    g = torch.Generator().manual_seed(3)
    content = torch.nn.functional.avg_pool2d(torch.rand(1, 3, h, w, generator=g), 3, 1, 1)
    return content, torch.rand(1, 3, 48, 48, generator=g)


def test_all_switches_off_is_exactly_gatys(vgg):
    content, style = _pair()
    x = torch.rand_like(content)
    imp = ImprovedEngine(OFF, vgg).loss_fn(content, style)(x)
    gat = GatysEngine(GatysConfig(size=48), vgg).loss_fn(content, style)(x)
    for k in ("content", "style", "tv"):
        assert torch.allclose(imp[k], gat[k], rtol=1e-5), k


def test_cross_gram_hand_values():
    # A: C=1 at 2×2 = [[1,2],[3,4]] pooled to 1×1 → 2.5; B: C=2 at 1×1 = [1, −2]
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = torch.tensor([[[[1.0]], [[-2.0]]]])
    assert torch.allclose(cross_gram(a, b), torch.tensor([[[2.5, -5.0]]]))
    # shift s = −1: (2.5 − 1)·(1 − 1) = 0, (2.5 − 1)·(−2 − 1) = −4.5
    assert torch.allclose(cross_gram(a, b, shift=-1.0), torch.tensor([[[0.0, -4.5]]]))


def test_geometric_weights():
    w = layer_weights(4, True, 2.0, "paper")
    assert w == pytest.approx([8 / 15, 4 / 15, 2 / 15, 1 / 15])
    assert layer_weights(4, True, 2.0, "inetwork") == pytest.approx([1 / 15, 2 / 15, 4 / 15, 8 / 15])
    assert layer_weights(3, False, 2.0, "paper") == pytest.approx([1 / 3] * 3)


def test_each_switch_changes_the_style_term_as_its_formula_says(vgg):
    content, style = _pair()
    feats_x = vgg(torch.rand_like(content))
    feats_s = vgg(style)

    def style_value(cfg):
        term = StyleTerm(cfg)
        targets = term.grams(feats_s)
        scales = [float(t.square().mean()) for t in targets]
        return float(term.loss(feats_x, targets, scales, None)), term

    base, _ = style_value(OFF)
    # all layers: 16 terms instead of 5
    v, term = style_value(replace(OFF, all_layers=True))
    assert len(term.layers) == 16 and v != pytest.approx(base)
    # shift: same as the Gram loss of F − 1 by hand
    v, term = style_value(replace(OFF, shift=-1.0))
    by_hand = sum(
        0.2 * losses.gram_loss(feats_x[k], losses.gram_matrix(feats_s[k], -1.0), -1.0)
        / losses.gram_matrix(feats_s[k], -1.0).square().mean()
        for k in term.layers
    )
    assert v == pytest.approx(float(by_hand), rel=1e-4)
    # geometric weights: shallow layers count more
    v, term = style_value(replace(OFF, geometric_weights=True))
    assert term.weights[0] > term.weights[-1] and v != pytest.approx(base)
    # chain: four adjacent pairs of the five layers, cross-layer Grams
    v, term = style_value(replace(OFF, chain=True))
    assert term.pairs == [("relu1_1", "relu2_1"), ("relu2_1", "relu3_1"), ("relu3_1", "relu4_1"), ("relu4_1", "relu5_1")]
    assert term.grams(feats_s)[0].shape == (1, 64, 128)
    # INetwork preset: differences of adjacent Gram losses, weights growing with depth
    v, term = style_value(replace(OFF, chain=True, geometric_weights=True, preset="inetwork"))
    assert term.pairs is None and len(term.weights) == 4 and term.weights[-1] > term.weights[0]


def test_scale_schedule():
    cfg = ImprovedConfig(size=512, start_size=128, scale_factor=2.0, iterations=20, coarse_iterations=80)
    assert scale_sizes(cfg) == [128, 256, 512]
    assert scale_iterations(cfg, 3) == [80, 40, 20]
    assert scale_sizes(replace(cfg, coarse_to_fine=False)) == [512]
    assert scale_sizes(replace(cfg, size=300))[-1] == 300


def test_multiscale_run_follows_the_schedule(vgg):
    """The engine runs each scale at its size for its iterations, warm-starting the next, and returns the content's size."""
    content, style = _pair(64, 128)
    cfg = replace(OFF, size=128, coarse_to_fine=True, start_size=32, scale_factor=2.0, iterations=2, coarse_iterations=5)
    seen: list[tuple[int, int, tuple[int, ...]]] = []
    out = ImprovedEngine(cfg, vgg).stylize(content, style, on_step=lambda st: seen.append((st.scale, st.iteration, tuple(st.image.shape[-2:]))))
    assert out.shape == content.shape
    sizes, iters = scale_sizes(cfg), scale_iterations(cfg, 3)
    assert sizes == [32, 64, 128] and iters == [5, 3, 2]
    for k, (size, n) in enumerate(zip(sizes, iters)):
        steps = [s for s in seen if s[0] == k]
        assert len(steps) == n and all(max(shape) == size for _, _, shape in steps)
    assert [s[1] for s in seen] == list(range(1, sum(iters) + 1))  # progress counts over all scales


def test_early_stop_rule():
    stop = make_early_stop(0.01, 3)
    assert not stop([10, 9, 8])
    assert not stop([10, 9, 8, 7])  # 30 % better over 3 steps
    assert stop([10, 9.999, 9.998, 9.997])
    # One overshooting step (L-BFGS without a line search) does not end the scale: the best so far counts.
    assert not stop([10, 9, 8, 5000.0])  # the old rule (last against a window ago) stopped here
    assert stop([10, 9, 5000.0, 9.0, 8.999, 8.998])


def test_mask_errors(vgg):
    content, style = _pair()
    with pytest.raises(NSTError, match="aspect ratios differ"):
        ImprovedEngine(OFF, vgg).stylize(content, StyleSet.create([style, style], mask=torch.ones(1, 1, 40, 20)))
    with pytest.raises(NSTError, match="empty region"):
        ImprovedEngine(OFF, vgg).stylize(content, StyleSet.create([style, style], mask=torch.ones(1, 1, 40, 48)))
    with pytest.raises(NSTError, match="exactly two styles"):
        ImprovedEngine(OFF, vgg).stylize(content, StyleSet.create([style], mask=torch.ones(1, 1, 40, 48)))


def test_mask_puts_each_style_in_its_region(vgg):
    content = torch.full((1, 3, 48, 64), 0.5)
    bright, dark = torch.full((1, 3, 48, 48), 0.95), torch.full((1, 3, 48, 48), 0.05)
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., :32] = 1
    cfg = replace(OFF, size=64, iterations=40, style_weight=50.0, content_weight=0.0, tv_weight=0.0, optimizer="adam", lr=0.05)
    out = ImprovedEngine(cfg, vgg).stylize(content, StyleSet.create([bright, dark], mask=mask))
    assert out[..., 4:28].mean() > out[..., 36:60].mean() + 0.1


def test_cli_improved_end_to_end(tmp_path, photo, painting):
    out = tmp_path / "imp.png"
    r = CliRunner().invoke(app, ["improved", str(photo), str(painting), "--style", str(painting), "--style-weights", "0.7,0.3",
                                 "-o", str(out), "--size", "64", "--start-size", "32", "--iterations", "2",
                                 "--coarse-iterations", "3", "--quiet", "--preserve-color", "histogram", "--plot"])
    assert r.exit_code == 0, r.output
    assert out.is_file() and (tmp_path / "imp.json").is_file() and (tmp_path / "imp_losses.png").is_file()
    bad = tmp_path / "bad.png"
    mask = tmp_path / "m.png"
    from PIL import Image

    Image.new("L", (10, 40), 255).save(mask)
    r = CliRunner().invoke(app, ["improved", str(photo), str(painting), str(painting), "--mask", str(mask), "-o", str(bad),
                                 "--size", "64", "--quiet"])
    assert r.exit_code == 2 and "aspect ratios differ" in r.output and not bad.exists()


def test_default_multiscale_run_lowers_an_outside_style_measure(vgg, photo, painting):
    """The defaults' schedule (at a small size) brings the picture closer to the painting by `nst eval`'s
    style distance, a measure the engine does not optimise (other layers' weighting, plain Grams)."""
    from nst_toolkit.evaluate import Evaluator
    from nst_toolkit.images import load_image

    content, style = load_image(photo, 96), load_image(painting, 96)
    cfg = replace(ImprovedConfig(), size=96, start_size=48)
    out = ImprovedEngine(cfg, vgg).stylize(content, style)
    ev = Evaluator()
    before, after = ev(content, content, style), ev(out, content, style)
    assert after["style_distance"] < 0.7 * before["style_distance"]
    assert after["content_distance"] < 1.0  # still the photo's layout


def test_recolour_init_takes_the_styles_colours():
    from nst_toolkit.engines.base import init_image

    content, _ = _pair()
    style = torch.zeros(1, 3, 48, 48)
    style[:, 0] = torch.linspace(0.5, 0.9, 48)  # reddish
    x = init_image("recolour", content, style, 0)
    assert x.shape == content.shape
    assert torch.allclose(x.mean(dim=(2, 3)), style.mean(dim=(2, 3)), atol=0.03)
    assert float((x - content).abs().mean()) > 0.1
