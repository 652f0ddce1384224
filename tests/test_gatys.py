"""The optimisation loop and the Gatys engine on small images with the real weights."""

from dataclasses import replace

import pytest
import torch

from nst_toolkit.engines.gatys import GatysConfig

from nst_toolkit.engines.gatys.engine import GatysEngine
from nst_toolkit.errors import DivergedError, NSTError, WeightsError
from nst_toolkit.optimize import optimize_image

SMALL = replace(GatysConfig(), size=48, iterations=6)


def _pair():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 40, 48, generator=g).clamp(0, 1)
    content = torch.nn.functional.avg_pool2d(content, 3, 1, 1)  # smoother, more photo-like
    style = torch.rand(1, 3, 48, 48, generator=g)
    return content, style


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_decreases_and_output_in_range(vgg, optimizer):
    content, style = _pair()
    cfg = replace(SMALL, optimizer=optimizer, iterations=8 if optimizer == "adam" else 10)
    seen = []
    out = GatysEngine(cfg, vgg).stylize(content, style, on_step=lambda s: seen.append(s.losses["total"]))
    assert out.shape == content.shape
    assert 0 <= out.min() and out.max() <= 1
    assert len(seen) == cfg.iterations
    assert seen[-1] < 0.7 * seen[0]


def test_same_seed_same_output(vgg):
    content, style = _pair()
    cfg = replace(SMALL, init="noise", iterations=3, seed=7)
    a = GatysEngine(cfg, vgg).stylize(content, style)
    b = GatysEngine(cfg, vgg).stylize(content, style)
    c = GatysEngine(replace(cfg, seed=8), vgg).stylize(content, style)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_inputs_are_not_mutated(vgg):
    content, style = _pair()
    c0, s0 = content.clone(), style.clone()
    GatysEngine(replace(SMALL, iterations=2), vgg).stylize(content, style)
    assert torch.equal(content, c0) and torch.equal(style, s0)


def test_style_weight_pulls_towards_style(vgg):
    content, style = _pair()
    weak = GatysEngine(replace(SMALL, style_weight=0.1), vgg)
    strong = GatysEngine(replace(SMALL, style_weight=50.0), vgg)
    fn = weak.loss_fn(content, style)
    a, b = weak.stylize(content, style), strong.stylize(content, style)
    # Measured with one criterion: the strongly styled result has the lower style term.
    assert fn(b)["style"] < fn(a)["style"]


def test_nan_stops_with_last_good_image():
    calls = {"n": 0}
    target = torch.rand(1, 3, 8, 8)

    def loss_fn(x):
        calls["n"] += 1
        bad = calls["n"] >= 4
        return {"mse": ((x - target) ** 2).mean() * (float("nan") if bad else 1.0)}

    with pytest.raises(DivergedError) as info:
        optimize_image(torch.zeros(1, 3, 8, 8), loss_fn, iterations=10, optimizer="adam", lr=0.1)
    assert info.value.last_good is not None and torch.isfinite(info.value.last_good).all()
    assert info.value.iteration == 3


def test_config_validation():
    with pytest.raises(WeightsError, match="unknown VGG-19 layer"):
        GatysConfig(style_layers=("relu1_1", "nope")).validate()
    with pytest.raises(NSTError, match="style-weight must not be negative"):
        GatysConfig(style_weight=-1).validate()
    with pytest.raises(NSTError, match="size must be positive"):
        GatysConfig(size=0).validate()
    with pytest.raises(NSTError, match="init must be"):
        GatysEngine(replace(SMALL, init="zeros")).stylize(*_pair())


def test_the_best_image_seen_is_returned_not_the_last():
    """A loss that rises after its third evaluation: the image it was lowest at comes back."""
    target = torch.full((1, 3, 4, 4), 0.5)
    calls = {"n": 0}

    def loss_fn(x):
        calls["n"] += 1
        penalty = 0.0 if calls["n"] <= 3 else 10.0 * calls["n"]  # every later image scores worse
        return {"mse": ((x - target) ** 2).mean() + penalty}

    seen = []
    out, history = optimize_image(torch.zeros(1, 3, 4, 4), loss_fn, iterations=6, optimizer="adam", lr=0.1,
                                  on_step=lambda s: seen.append(s.image))
    assert len(history) == 6
    assert torch.equal(out, seen[1])  # the image the third evaluation measured (after two steps)
    assert not torch.equal(out, seen[-1])
