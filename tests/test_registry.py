"""The engine registry, config-derived options, the shared style and colour rules, and the toy-engine
example of docs/ARCHITECTURE.md: an engine added in a few lines runs through compare and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import typer
from typer.testing import CliRunner

from nst_toolkit import colour, compare, engines, options
from nst_toolkit.cli import build_app
from nst_toolkit.engines.base import EngineBase
from nst_toolkit.errors import NSTError
from nst_toolkit.options import option
from nst_toolkit.styles import StyleSet, as_style_set, blend_weights

runner = CliRunner()


# ---------------------------------------------------------------- the worked example: a toy engine


@dataclass(frozen=True)
class ToyConfig:
    size: int = option(64, "Longest side of the output, px.")
    strength: float = option(0.5, "How far each pixel moves towards the styles' mean colour, 0 … 1.")


class ToyEngine(EngineBase):
    name = "toy"

    def __init__(self, config: ToyConfig = ToyConfig()):
        self.config = config

    def stylize(self, content, styles, *, on_step=None):
        s = as_style_set(styles)
        mean = sum(w * im.mean(dim=(2, 3), keepdim=True) for w, im in zip(s.weights, s.images))
        return content * (1 - self.config.strength) + mean * self.config.strength


@pytest.fixture()
def toy():
    spec = engines.register(engines.EngineSpec(name="toy", config=ToyConfig, build=ToyEngine, kind="one-pass",
                                               uses_vgg=False, summary="Move every pixel towards the style's mean colour."))
    yield spec
    engines.unregister("toy")


def test_toy_engine_runs_through_compare_and_the_cli(toy, tmp_path, photo, painting):
    from PIL import Image

    from nst_toolkit.images import load_image

    c, s = load_image(photo), load_image(painting)
    (cell,) = compare.run_compare(c, s, methods=["toy"], size=64, settings={"strength": "1"})[0]
    assert cell.settings == {"strength": "1"} and cell.metrics["style_distance"] >= 0
    assert torch.allclose(cell.image, s.mean(dim=(2, 3), keepdim=True).expand_as(c), atol=1e-6)  # strength 1 reached it

    app = build_app()
    out = tmp_path / "toy.png"
    r = runner.invoke(app, ["toy", str(photo), str(painting), "-o", str(out), "--strength", "0", "--quiet"])
    assert r.exit_code == 0, r.output
    assert torch.allclose(load_image(out), c, atol=1 / 255)  # strength 0: the content itself
    r = runner.invoke(app, ["compare", str(photo), str(painting), "-o", str(tmp_path / "cmp"), "--methods", "toy,adain",
                            "--size", "64", "--quiet"])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "cmp" / "toy.png").size == (64, 48)


def test_registry_refuses_duplicates_and_unknown_names(toy):
    with pytest.raises(ValueError, match="already registered"):
        engines.register(engines.EngineSpec(name="toy", config=ToyConfig, build=ToyEngine, summary="again"))
    with pytest.raises(NSTError, match="unknown engine 'nope'"):
        engines.get("nope")
    assert engines.names()[:4] == ["gatys", "improved", "fast", "adain"] and "toy" in engines.names()


# ---------------------------------------------------------------- every engine alike


@pytest.mark.parametrize("name", ["gatys", "improved", "fast", "adain"])
def test_every_config_field_is_a_cli_option_and_a_compare_key(name):
    spec = engines.get(name)
    fields = options.settable_fields(spec.config)
    assert fields and all(f.metadata["help"].strip() for f in fields)
    cmd = typer.main.get_command(build_app()).commands[name]
    cli_names = {p.name for p in cmd.params}
    assert {f.name for f in fields} <= cli_names
    assert compare.fields_of(name) == {f.name for f in fields}
    assert "preserve_color" in compare.fields_of(name)  # colour control: every engine, one field
    spec.config()  # the defaults build


def test_train_commands_expose_every_training_field():
    from nst_toolkit.engines.adain import AdaINTrainConfig
    from nst_toolkit.engines.fast import FastTrainConfig

    cmds = typer.main.get_command(build_app()).commands
    for command, cls in (("train-fast", FastTrainConfig), ("train-adain", AdaINTrainConfig)):
        params = {p.name for p in cmds[command].params}
        assert {f.name for f in options.settable_fields(cls)} <= params, command


def test_coerce_follows_the_field_types():
    from nst_toolkit.engines.gatys import GatysConfig

    cfg = options.build_config(GatysConfig, {"content_layers": "relu3_1, relu4_2", "style_weight": "2",
                                             "lr": "none", "normalize_layers": "false", "iterations": 7,
                                             "style_layer_weights": "1,2,3,4,5"})
    assert cfg.content_layers == ("relu3_1", "relu4_2") and cfg.style_weight == 2.0 and cfg.lr is None
    assert cfg.normalize_layers is False and cfg.iterations == 7 and cfg.style_layer_weights == (1, 2, 3, 4, 5)
    with pytest.raises(NSTError, match="style-weight must be a number"):
        options.build_config(GatysConfig, {"style_weight": "lots"})
    with pytest.raises(NSTError, match="no option flux"):
        options.build_config(GatysConfig, {"flux": 1})


def test_one_blending_rule_and_one_mask_rule():
    assert blend_weights(None, 4) == (0.25,) * 4
    assert blend_weights([0.7, 0.3], 2) == (0.7, 0.3)
    for bad, msg in (([0.7, 0.7], "sum to 1"), ([1.5, -0.5], "negative"), ([1.0], "got 1 style weights for 2")):
        with pytest.raises(NSTError, match=msg):
            blend_weights(bad, 2)
    s = torch.rand(1, 3, 8, 8)
    with pytest.raises(NSTError, match="exclude each other"):
        StyleSet.create([s, s], [0.5, 0.5], mask=torch.ones(1, 1, 8, 8))
    with pytest.raises(NSTError, match="exactly two styles"):
        StyleSet.create([s, s, s], mask=torch.ones(1, 1, 8, 8))
    with pytest.raises(NSTError, match="N×3×H×W"):
        StyleSet.create([torch.rand(3, 8, 8)])


def test_compare_set_preserve_color_reaches_every_engine(photo, painting):
    """The old CLI applied colour preservation only where it wrapped gatys/improved itself."""
    from nst_toolkit.images import load_image

    c, s = load_image(photo), load_image(painting)
    rows = compare.run_compare(c, s, methods=["gatys", "adain"], size=64,
                               settings={"preserve_color": "luminance", "iterations": 2})
    for cell in rows[0]:
        chroma = (colour.rgb_to_ycbcr(cell.image)[:, 1:] - colour.rgb_to_ycbcr(c)[:, 1:]).abs().mean()
        assert chroma < 0.03, cell.method
