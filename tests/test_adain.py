"""AdaIN engine: statistics, alpha, interpolation and mask errors, training, checkpoints, CLI."""

import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from nst_toolkit import losses
from nst_toolkit.checkpoints import read_metadata
from nst_toolkit.cli import app
from nst_toolkit.data import CropSampler
from nst_toolkit.engines.adain import AdaINConfig, AdaINTrainConfig
from nst_toolkit.engines.adain.engine import AdaINEngine, load_decoder
from nst_toolkit.engines.adain.train import AdaINTask
from nst_toolkit.errors import NSTError
from nst_toolkit.styles import as_style_set
from nst_toolkit.training import fit

from .conftest import make_photo

runner = CliRunner()


@pytest.fixture(scope="module")
def engine():
    return AdaINEngine(AdaINConfig(model="vgg19"))  # the VGG-19 model


def test_adain_features_take_the_style_statistics(engine):
    c, s = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 48, 80)
    fc = engine.encode(c)
    mu, sd = engine.style_stats(s)
    t = losses.adain(fc, mu, sd)
    tm, ts = losses.mean_std(t)
    live = losses.mean_std(fc)[1] > 1e-1  # a ReLU channel that is zero all over the content has no std to scale
    assert live.float().mean() > 0.5
    assert torch.allclose(tm[live], mu[live], rtol=1e-4, atol=1e-2)
    assert torch.allclose(ts[live], sd[live], rtol=1e-3, atol=1e-2)


def test_efdm_gives_each_channel_the_styles_values_in_the_contents_order():
    g = torch.Generator().manual_seed(0)
    c, s = torch.randn(2, 4, 5, 6, generator=g), torch.randn(1, 4, 6, 5, generator=g) * 3 + 1
    out = losses.efdm(c, losses.sorted_features(s))
    flat = out.reshape(2, 4, -1)
    assert torch.equal(flat.sort(dim=-1).values, losses.sorted_features(s).expand(2, -1, -1))  # the style's values
    assert torch.equal(flat.argsort(dim=-1), c.reshape(2, 4, -1).argsort(dim=-1))  # in the content's order
    # Another size: the style's quantiles (its extremes kept), still in the content's order.
    big = losses.efdm(c, losses.sorted_features(torch.randn(1, 4, 9, 9, generator=g)))
    assert torch.equal(big.reshape(2, 4, -1).argsort(dim=-1), c.reshape(2, 4, -1).argsort(dim=-1))


def test_efdm_transfer_end_to_end(engine, tmp_path):
    efdm = AdaINEngine(replace(engine.config, transfer="efdm"), vgg=engine.vgg)
    c, s = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 48, 80)
    a, b = engine.stylize(c, s), efdm.stylize(c, s)
    assert b.shape == a.shape and 0 <= b.min() and b.max() <= 1 and (a - b).abs().mean() > 1e-3
    with pytest.raises(NSTError, match="no mask"):
        mask = torch.zeros(1, 1, 64, 64)
        mask[..., :32] = 1
        efdm.stylize_with_stats(c, efdm.encode_styles(as_style_set([s, s])), mask=mask)
    with pytest.raises(NSTError, match="cannot go in tiles"):
        AdaINEngine(replace(engine.config, transfer="efdm", tile=32), vgg=engine.vgg).stylize(c, s)
    with pytest.raises(NSTError, match="transfer must be one of"):
        AdaINConfig(transfer="wct").validate()


def test_alpha_zero_reproduces_the_decoded_content():
    c, s = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    eng = AdaINEngine(AdaINConfig(model="vgg19", alpha=0.0))
    with torch.no_grad():
        decoded = eng.decoder(eng.encode(c)).clamp(0, 1)
    assert torch.allclose(eng.stylize(c, s), decoded, atol=1e-5)
    full = AdaINEngine(AdaINConfig(model="vgg19", alpha=1.0), decoder=eng.decoder, vgg=eng.vgg).stylize(c, s)
    assert (full - decoded).abs().mean() > 0.01


def test_shipped_decoder_inverts_the_encoder_roughly(engine):
    """The decoded content resembles the content (the decoder is trained, not random)."""
    from nst_toolkit.images import load_image

    from .conftest import SAMPLES

    from nst_toolkit.nets import AdaINDecoder

    c = load_image(SAMPLES / "machu_picchu.jpg", 128)
    with torch.no_grad():
        fc = engine.encode(c)
        trained = (engine.decoder(fc).clamp(0, 1) - c).abs().mean()
        untrained = (AdaINDecoder()(fc).clamp(0, 1) - c).abs().mean()
    assert trained < 0.15 and trained < 0.5 * untrained


def test_odd_sizes_and_interpolation(engine):
    c = torch.rand(1, 3, 37, 53)
    s1, s2 = torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40) * 0.2
    stats = [engine.style_stats(s1), engine.style_stats(s2)]
    a = engine.stylize_with_stats(c, stats, [1.0, 0.0])
    b = engine.stylize_with_stats(c, stats, [0.0, 1.0])
    mid = engine.stylize_with_stats(c, stats, [0.5, 0.5])
    assert a.shape == c.shape
    assert (a - b).abs().mean() > 0.02 and (mid - a).abs().mean() > 0.005


@pytest.mark.parametrize("weights,msg", [([0.7, 0.7], "sum to 1"), ([1.0], "got 1 style weights for 2"), ([1.5, -0.5], "negative")])
def test_bad_interpolation_weights(engine, weights, msg):
    c = torch.rand(1, 3, 32, 32)
    stats = [engine.style_stats(torch.rand(1, 3, 32, 32)) for _ in range(2)]
    with pytest.raises(NSTError, match=msg):
        engine.stylize_with_stats(c, stats, weights)


def test_mask_assigns_styles_and_refuses_mismatch(engine):
    c = torch.rand(1, 3, 64, 64)
    stats = [engine.style_stats(torch.ones(1, 3, 32, 32) * 0.9), engine.style_stats(torch.zeros(1, 3, 32, 32) + 0.1)]
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :, :32] = 1
    out = engine.stylize_with_stats(c, stats, mask=mask)
    assert out[..., :, 4:28].mean() > out[..., :, 36:60].mean() + 0.2  # bright style left, dark right
    with pytest.raises(NSTError, match="aspect ratios differ"):
        engine.stylize_with_stats(c, stats, mask=torch.ones(1, 1, 32, 64))
    with pytest.raises(NSTError, match="empty region"):
        engine.stylize_with_stats(c, stats, mask=torch.ones(1, 1, 64, 64))
    with pytest.raises(NSTError, match="exactly two styles"):
        engine.stylize_with_stats(c, stats[:1], mask=mask)


@pytest.fixture()
def styles(tmp_path):
    folder = tmp_path / "styles"
    folder.mkdir()
    for i in range(3):
        make_photo(64, 64, 40 + i).save(folder / f"s{i}.png")
    return folder


def test_training_lowers_the_loss_and_round_trips(tmp_path, photo_folder, styles):
    cfg = replace(AdaINTrainConfig(), size=32, batch_size=2, steps=12, warmup_steps=4, lr=1e-3)
    task = AdaINTask(cfg, CropSampler(str(photo_folder), 32), CropSampler(str(styles), 32), torch.device("cpu"))
    probe = lambda: float(sum(task.loss_fn(task.model, 10_000).values()))
    with torch.no_grad():
        before = probe()
    ck = tmp_path / "dec.safetensors"
    fit(task, checkpoint=ck, steps=cfg.steps, lr=cfg.lr, batch_size=2)
    with torch.no_grad():
        after = probe()
    assert after < before
    dec, meta = load_decoder(ck)
    assert meta["step"] == 12 and meta["encoder"]["layer"] == "relu4_1"
    for a, b in zip(task.model.state_dict().values(), dec.state_dict().values()):
        assert torch.equal(a, b)


def test_cli_adain_folder_and_errors(tmp_path, photo, painting, photo_folder):
    out = tmp_path / "out.png"
    r = runner.invoke(app, ["adain", str(photo), str(painting), "-o", str(out), "--size", "64", "--quiet"])
    assert r.exit_code == 0, r.output and out.is_file()
    r = runner.invoke(app, ["adain", str(photo_folder), str(painting), str(photo), "-o", str(tmp_path / "many"),
                            "--style-weights", "0.5,0.5", "--size", "64", "--quiet", "--preserve-color", "histogram"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "many").glob("*.png"))) == 6
    bad = tmp_path / "bad.png"
    r = runner.invoke(app, ["adain", str(photo), str(painting), str(photo), "-o", str(bad), "--style-weights", "0.5,0.6"])
    assert r.exit_code == 2 and "sum to 1" in r.output and not bad.exists()
    r = runner.invoke(app, ["adain", str(photo), str(painting), "-o", str(bad), "--alpha", "1.5"])
    assert r.exit_code == 2 and "alpha" in r.output and not bad.exists()


def test_cli_train_adain(tmp_path, photo_folder, photo, painting):
    out = tmp_path / "dec.safetensors"
    r = runner.invoke(app, ["train-adain", "--content", str(photo_folder), "--style", str(photo_folder), "-o", str(out),
                            "--size", "32", "--batch-size", "2", "--steps", "2", "--warmup-steps", "1",
                            "--checkpoint-every", "1", "--val-image", str(photo), "--val-style", str(painting), "--quiet",
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert read_metadata(out)["step"] == 2
    r = runner.invoke(app, ["train-adain", "--content", str(photo_folder), "--style", str(photo_folder), "-o", str(out),
                            "--size", "32", "--batch-size", "2", "--steps", "3", "--resume", "--quiet", "--device", "cpu",
                            "--val-image", str(photo), "--val-style", str(painting)])
    assert r.exit_code == 0, r.output
    assert read_metadata(out)["step"] == 3


def test_cli_train_adain_style_short_side(tmp_path, monkeypatch, photo_folder, photo, painting):
    # --style-short-side sets the scale the paintings are cropped at; the photos keep --size x 1.25
    import nst_toolkit.engines.adain.train as adain_train

    kept = []

    class Recording(CropSampler):
        def __init__(self, source, size, **kw):
            super().__init__(source, size, **kw)
            kept.append(self.short_side)

    monkeypatch.setattr(adain_train, "CropSampler", Recording)
    out = tmp_path / "dec.safetensors"
    r = runner.invoke(app, ["train-adain", "--content", str(photo_folder), "--style", str(photo_folder), "-o", str(out),
                            "--size", "32", "--batch-size", "2", "--steps", "1", "--warmup-steps", "1",
                            "--style-short-side", "56", "--val-image", str(photo), "--val-style", str(painting),
                            "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert kept == [40, 56]  # content first, then style
    assert read_metadata(out)["training"]["style_short_side"] == 56
    r = runner.invoke(app, ["train-adain", "--content", str(photo_folder), "--style", str(photo_folder), "-o", str(out),
                            "--style-short-side", "-1", "--quiet", "--device", "cpu"])
    assert r.exit_code == 2 and "style" in r.output


# ---------------------------------------------------------------- the light model


def test_light_model_shapes_and_adain_statistics():
    from nst_toolkit.nets import LightAdaIN

    net = LightAdaIN((4, 8, 8, 16)).eval()
    c, s = torch.rand(1, 3, 64, 72), torch.rand(1, 3, 48, 40)
    with torch.no_grad():
        fc, fs = net.encoder(c), net.encoder(s)
        assert fc.shape == (1, 16, 8, 9) and net.encoder.embed(fc).shape == (1, 512, 8, 9)
        assert net.decoder(fc).shape == c.shape
        t = losses.adain(fc, *losses.mean_std(fs))
    mu, sd = losses.mean_std(fs)
    tm, ts = losses.mean_std(t)
    live = losses.mean_std(fc)[1] > 1e-3
    assert torch.allclose(tm[live], mu[live], atol=1e-4) and torch.allclose(ts[live], sd[live], rtol=1e-2, atol=1e-3)


def test_light_model_round_trip_alpha_zero_and_training(tmp_path, photo_folder, styles):
    from nst_toolkit.engines.adain.train import LightAdaINTask
    from nst_toolkit.engines.adain.engine import load_adain
    from nst_toolkit.nets import LightAdaIN

    cfg = replace(AdaINTrainConfig(), arch="light", widths=(4, 8, 8, 16), size=32, batch_size=2, steps=12, lr=3e-3)
    task = LightAdaINTask(cfg, CropSampler(str(photo_folder), 32), CropSampler(str(styles), 32), torch.device("cpu"))
    probe = lambda: float(sum(task.loss_fn(task.model, 10_000).values()))
    with torch.no_grad():
        before = probe()
    ck = tmp_path / "light.safetensors"
    fit(task, checkpoint=ck, steps=cfg.steps, lr=cfg.lr, batch_size=2)
    with torch.no_grad():
        after = probe()
    assert after < before
    net, meta = load_adain(ck)
    assert isinstance(net, LightAdaIN) and meta["architecture"] == {"arch": "LightAdaIN", "widths": [4, 8, 8, 16]}
    assert meta["distilled_from"]["sha256"] and meta["training"]["method"] == "distillation"
    for a, b in zip(task.model.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)
    eng = AdaINEngine(AdaINConfig(model=str(ck), alpha=0.0))
    assert eng.vgg is None  # the light model needs no VGG-19
    c, s = torch.rand(1, 3, 40, 48), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        decoded = net.decoder(net.encoder(c)).clamp(0, 1)
    assert torch.allclose(eng.stylize(c, s), decoded, atol=1e-5)


def test_light_distillation_adds_the_papers_loss_when_asked(photo_folder, styles):
    from nst_toolkit.engines.adain.train import LightAdaINTask

    cfg = replace(AdaINTrainConfig(), arch="light", widths=(4, 8, 8, 16), size=32, batch_size=2)
    plain = LightAdaINTask(cfg, CropSampler(str(photo_folder), 32), CropSampler(str(styles), 32), torch.device("cpu"))
    with torch.no_grad():
        assert set(plain.loss_fn(plain.model, 0)) == {"distill", "reconstruct", "embed"}
    cfg = replace(cfg, perceptual_weight=0.5)
    task = LightAdaINTask(cfg, CropSampler(str(photo_folder), 32), CropSampler(str(styles), 32), torch.device("cpu"))
    task.model.load_state_dict(plain.model.state_dict())
    with torch.no_grad():
        terms = task.loss_fn(task.model, 0)
        half = {k: float(v) for k, v in terms.items()}
        full = {k: float(v) for k, v in LightAdaINTask(replace(cfg, perceptual_weight=1.0), task.content, task.style,
                                                       torch.device("cpu")).loss_fn(task.model, 0).items()}
    assert set(terms) == {"distill", "reconstruct", "embed", "content", "style"}
    assert half["content"] > 0 and half["style"] > 0
    assert full["content"] == pytest.approx(2 * half["content"], rel=1e-4)  # linear in the weight
    assert full["distill"] == pytest.approx(half["distill"], rel=1e-5)  # the other terms unchanged
    with pytest.raises(NSTError, match="perceptual-weight must not be negative"):
        replace(cfg, perceptual_weight=-1.0).validate()


def test_style_layers_choose_the_style_terms_layers(vgg, photo_folder, styles):
    from nst_toolkit.engines.adain.train import LightAdaINTask, style_term

    torch.manual_seed(0)
    y, s = torch.rand(2, 3, 48, 48), torch.rand(2, 3, 48, 48)
    fy, fs = vgg(y), vgg(s)
    five = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    deep = float(style_term(fy, fs, ("relu5_1",)))
    assert deep > 0
    assert float(style_term(fy, fs, five)) == pytest.approx((4 * float(style_term(fy, fs)) + deep) / 5, rel=1e-5)
    # the light task computes the layers it is given, through the same VGG-19 pass
    cfg = replace(AdaINTrainConfig(), arch="light", widths=(4, 8, 8, 16), size=32, batch_size=2, perceptual_weight=1.0)
    paper = LightAdaINTask(cfg, CropSampler(str(photo_folder), 32), CropSampler(str(styles), 32), torch.device("cpu"))
    task = LightAdaINTask(replace(cfg, style_layers=five), paper.content, paper.style, torch.device("cpu"))
    task.model.load_state_dict(paper.model.state_dict())
    assert "relu5_1" in task.layers and "relu5_1" not in paper.layers
    with torch.no_grad():
        a, b = paper.loss_fn(paper.model, 0), task.loss_fn(task.model, 0)
    assert float(a["content"]) == pytest.approx(float(b["content"]), rel=1e-5)
    assert float(a["style"]) != pytest.approx(float(b["style"]), rel=1e-3)
    with pytest.raises(NSTError, match="unknown VGG-19 layer"):
        LightAdaINTask(replace(cfg, style_layers=("relu9_1",)), paper.content, paper.style, torch.device("cpu"))
    with pytest.raises(NSTError, match="unknown VGG-19 layer"):  # also when the perceptual loss is off
        LightAdaINTask(replace(cfg, style_layers=("relu9_1",), perceptual_weight=0.0), paper.content, paper.style,
                       torch.device("cpu"))
    with pytest.raises(NSTError, match="style-layers"):
        replace(cfg, style_layers=()).validate()
    # The configuration itself catches a misspelt layer, before torch or any network is loaded.
    code = ("import sys\nfrom nst_toolkit.engines.adain import AdaINTrainConfig\nfrom nst_toolkit.errors import NSTError\n"
            "try:\n    AdaINTrainConfig(style_layers=('relu9_1',)).validate()\n"
            "except NSTError as e:\n    print(e)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "unknown VGG-19 layer 'relu9_1'" in r.stdout


class _Copycat(torch.nn.Module):
    """A student whose stylisation is ``picture`` (the rest of its outputs its own)."""

    def __init__(self, inner, picture):
        super().__init__()
        self.inner, self.encoder, self.picture = inner, inner.encoder, picture

    def forward(self, content, style):
        return (self.picture, *self.inner(content, style)[1:])


def _plain_and_changed(cfg, photo_folder, styles, **changes):
    """Two light distillation tasks on the same crops and weights: ``cfg`` and ``cfg`` with ``changes``."""
    from nst_toolkit.engines.adain.train import LightAdaINTask

    plain = LightAdaINTask(cfg, CropSampler(str(photo_folder), 32), CropSampler(str(styles), 32), torch.device("cpu"))
    task = LightAdaINTask(replace(cfg, **changes), plain.content, plain.style, torch.device("cpu"))
    task.model.load_state_dict(plain.model.state_dict())
    return plain, task


def _pictures_at_step_0(task, cfg):
    """The content crops of step 0, the student's stylisation of them and the teacher's (hand-computed)."""
    c, s = task.content.batch(2, cfg.seed, 0), task.style.batch(2, cfg.seed + 1, 0)
    fc, fs = task.vgg(c, ["relu4_1"])["relu4_1"], task.vgg(s, ["relu4_1"])["relu4_1"]
    return c, task.model(c, s)[0], task.teacher(losses.adain(fc, *losses.mean_std(fs))).clamp(0, 1)


def _check_added_term(photo_folder, styles, field, expected):
    """Light distillation with ``field`` = 3 beside --perceptual-weight 2: its term (``field`` less "_weight")
    equals 2 · 3 · ``expected(task, content, style, stylised)``, every other term is unchanged, a negative
    weight is refused, and the VGG-19 decoder's training adds the term after its warm-up. → (plain, task)."""
    name = field.removesuffix("_weight")
    cfg = replace(AdaINTrainConfig(), arch="light", widths=(4, 8, 8, 16), size=32, batch_size=2, perceptual_weight=2.0)
    plain, task = _plain_and_changed(cfg, photo_folder, styles, **{field: 3.0})
    with torch.no_grad():
        a, b = plain.loss_fn(plain.model, 0), task.loss_fn(task.model, 0)
        c = task.content.batch(2, cfg.seed, 0)
        s = task.style.batch(2, cfg.seed + 1, 0)
        want = 2.0 * 3.0 * expected(task, c, s, task.model(c, s)[0])
    assert name not in a and float(b[name]) == pytest.approx(float(want), rel=1e-5) and float(b[name]) > 0
    assert all(float(a[k]) == pytest.approx(float(b[k]), rel=1e-5) for k in a)
    with pytest.raises(NSTError, match=field.replace("_", "-")):
        replace(cfg, **{field: -1.0}).validate()
    # the VGG-19 decoder's training takes it too, after its warm-up
    vcfg = replace(AdaINTrainConfig(), size=32, batch_size=2, warmup_steps=1, **{field: 3.0})
    vtask = AdaINTask(vcfg, plain.content, plain.style, torch.device("cpu"))
    with torch.no_grad():
        warm, after = vtask.loss_fn(vtask.model, 0), vtask.loss_fn(vtask.model, 1)
    assert name not in warm and float(after[name]) > 0 and set(after) == {"content", "style", name}
    return plain, task


def test_gram_weight_adds_a_gram_term_and_leaves_the_others(photo_folder, styles):
    from nst_toolkit.engines.adain.train import LightAdaINTask, gram_term

    plain, task = _check_added_term(photo_folder, styles, "gram_weight", lambda task, c, s, y: gram_term(
        task.vgg(y, task.layers), task.vgg(s, task.layers), task.cfg.style_layers))
    # --gram-layers moves the Gram loss off --style-layers (relu1_1 ... relu4_1 here), relu5_1 included
    deep = LightAdaINTask(replace(task.cfg, gram_layers=("relu4_1", "relu5_1")), plain.content, plain.style,
                          torch.device("cpu"))
    deep.model.load_state_dict(plain.model.state_dict())
    assert "relu5_1" in deep.layers and "relu5_1" not in task.layers
    with torch.no_grad():
        c, s = deep.content.batch(2, deep.cfg.seed, 0), deep.style.batch(2, deep.cfg.seed + 1, 0)
        y = deep.model(c, s)[0]
        want = 2.0 * 3.0 * gram_term(deep.vgg(y, deep.layers), deep.vgg(s, deep.layers), ["relu4_1", "relu5_1"])
        got, before = deep.loss_fn(deep.model, 0), task.loss_fn(task.model, 0)
    assert float(got["gram"]) == pytest.approx(float(want), rel=1e-5)
    assert float(got["gram"]) != pytest.approx(float(before["gram"]), rel=1e-3)
    assert float(got["style"]) == pytest.approx(float(before["style"]), rel=1e-5)
    with pytest.raises(NSTError, match="relu9_1"):
        replace(task.cfg, gram_layers=("relu9_1",)).validate()


def test_photo_weight_adds_gatys_content_loss_against_the_photo(photo_folder, styles):
    from nst_toolkit.engines.adain.train import photo_term

    def relu4_2(task, x):
        return task.vgg(x, ["relu4_2"])

    plain, task = _check_added_term(photo_folder, styles, "photo_weight", lambda task, c, s, y: photo_term(
        relu4_2(task, y), relu4_2(task, c)["relu4_2"]))
    assert "relu4_2" in task.layers and "relu4_2" not in plain.layers
    with torch.no_grad():
        # relative to the photo's own features: the photo itself scores 0, a flat grey picture about 1 or more
        c = task.content.batch(2, task.cfg.seed, 0)
        fc = relu4_2(task, c)["relu4_2"]
        assert float(photo_term(relu4_2(task, c), fc)) == 0.0
        assert float(photo_term(relu4_2(task, torch.full_like(c, 0.5)), fc)) > 0.5


def test_teacher_gram_weight_adds_a_gram_term_against_the_teachers_picture(photo_folder, styles):
    """--teacher-gram-weight: the relative Gram error at --teacher-gram-layers between the student's stylisation
    and the teacher's of the same pair, not scaled by --perceptual-weight; the teacher runs for it even without
    pixel distillation; it needs the light architecture and known layers."""
    from nst_toolkit.engines.adain.train import gram_term

    cfg = replace(AdaINTrainConfig(), arch="light", widths=(4, 8, 8, 16), size=32, batch_size=2, perceptual_weight=2.0,
                  distill_weight=0.0)
    plain, task = _plain_and_changed(cfg, photo_folder, styles, teacher_gram_weight=3.0,
                                     teacher_gram_layers=("relu5_1",))
    assert "relu5_1" in task.layers and "relu5_1" not in plain.layers
    with torch.no_grad():
        a, b = plain.loss_fn(plain.model, 0), task.loss_fn(task.model, 0)
        _, y, teacher = _pictures_at_step_0(task, cfg)
        want = 3.0 * gram_term(task.vgg(y, ["relu5_1"]), task.vgg(teacher, ["relu5_1"]), ["relu5_1"])
        copied = task.loss_fn(_Copycat(task.model, teacher), 0)
    assert "teacher_gram" not in a and "distill" not in b
    assert float(b["teacher_gram"]) == pytest.approx(float(want), rel=1e-5) and float(b["teacher_gram"]) > 0.01
    assert float(copied["teacher_gram"]) < 1e-6 < float(copied["style"])  # the teacher's picture is its target, not the style
    assert all(float(a[k]) == pytest.approx(float(b[k]), rel=1e-5) for k in a)
    for bad, message in [(dict(teacher_gram_weight=-1.0), "teacher-gram-weight"),
                         (dict(arch="vgg", teacher_gram_weight=1.0), "arch light"),
                         (dict(teacher_gram_layers=("relu9_1",)), "relu9_1"),
                         (dict(teacher_gram_layers=()), "teacher-gram-layers")]:
        with pytest.raises(NSTError, match=message):
            replace(cfg, **bad).validate()


def test_photo_bound_counts_only_where_the_student_is_further_from_the_photo_than_the_teacher(photo_folder, styles):
    """--photo-bound: the photo loss becomes, pair by pair, the excess of the student's content distance (relu4_2,
    relative, as `nst eval`'s) over the teacher's stylisation's (0 where the student is nearer); a student whose
    stylisation is the teacher's picture scores 0; the other terms are unchanged; it needs its weight and the
    light architecture."""
    cfg = replace(AdaINTrainConfig(), arch="light", widths=(4, 8, 8, 16), size=32, batch_size=2, perceptual_weight=2.0,
                  distill_weight=0.0, photo_weight=0.5)
    plain, task = _plain_and_changed(cfg, photo_folder, styles, photo_bound=True)
    assert plain.teacher_layers == [] and task.teacher_layers == ["relu4_2"]
    with torch.no_grad():
        a, b = plain.loss_fn(plain.model, 0), task.loss_fn(task.model, 0)
        c, y, teacher = _pictures_at_step_0(task, cfg)
        fy, ft, fcs = (task.vgg(x, ["relu4_2"])["relu4_2"] for x in (y, teacher, c))

        def content(f):  # nst eval's content distance, image by image
            return ((f - fcs) ** 2).flatten(1).sum(1) / (fcs ** 2).flatten(1).sum(1)

        want = 2.0 * 0.5 * (content(fy) - content(ft)).clamp_min(0).mean()
        copied = task.loss_fn(_Copycat(task.model, teacher), 0)
    assert float(b["photo"]) == pytest.approx(float(want), rel=1e-4) and float(b["photo"]) > 0.01
    assert float(b["photo"]) < float(a["photo"])  # the excess over the teacher's, not the distance itself
    assert float(copied["photo"]) == 0.0 < float(copied["style"])
    assert all(float(a[k]) == pytest.approx(float(b[k]), rel=1e-5) for k in a if k != "photo")
    for bad in [dict(photo_bound=True, photo_weight=0.0), dict(photo_bound=True, arch="vgg"),
                dict(photo_bound=True, perceptual_weight=0.0)]:
        with pytest.raises(NSTError, match="photo-bound"):
            replace(cfg, **bad).validate()


def test_light_distillation_without_the_teachers_pictures(photo_folder, styles):
    from nst_toolkit.engines.adain.train import LightAdaINTask

    cfg = replace(AdaINTrainConfig(), arch="light", widths=(4, 8, 8, 16), size=32, batch_size=2, perceptual_weight=1.0,
                  distill_weight=0.0)
    task = LightAdaINTask(cfg, CropSampler(str(photo_folder), 32), CropSampler(str(styles), 32), torch.device("cpu"))
    calls = []
    task.teacher.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        terms = task.loss_fn(task.model, 0)
    assert set(terms) == {"reconstruct", "embed", "content", "style"} and not calls  # the teacher's decoder never ran
    with torch.no_grad():
        both = LightAdaINTask(replace(cfg, distill_weight=2.0), task.content, task.style,
                              torch.device("cpu")).loss_fn(task.model, 0)
    assert float(both["distill"]) > 0 and float(both["style"]) == pytest.approx(float(terms["style"]), rel=1e-5)


def test_light_skip_branches_are_gated_by_alpha(tmp_path, photo_folder, styles):
    """Reconstruction skips (weighted 1 - alpha), style skips (AdaIN at every encoder level, weighted
    alpha) and residual blocks in the decoder: identities at first, so a grown model starts as the light
    model; trained, saved, loaded and run whole, in tiles, for several styles and as a one-style net."""
    from nst_toolkit.engines.adain.train import LightAdaINTask
    from nst_toolkit.engines.adain.engine import load_adain, masked_adain
    from nst_toolkit.nets import AdaINStyleNet, LightAdaIN
    from nst_toolkit.styles import StyleSet

    plain = LightAdaIN((4, 8, 8, 16)).eval()
    net = LightAdaIN((4, 8, 8, 16), skips=True, style_skips=True, blocks=2).eval()
    assert net.architecture() == {"arch": "LightAdaIN", "widths": [4, 8, 8, 16], "skips": True, "style_skips": True,
                                  "blocks": 2}
    net.load_state_dict(plain.state_dict(), strict=False)
    c, s = torch.rand(1, 3, 40, 48), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        levels = net.encoder.levels(c)
        assert [f.shape[1:] for f in levels] == [(4, 40, 48), (8, 20, 24), (8, 10, 12), (16, 5, 6)]
        assert torch.equal(levels[-1], plain.encoder(c))
        fc = levels[-1]
        moved = [losses.adain(f, *losses.mean_std(g)) for f, g in zip(levels, net.encoder.levels(s))]
        assert torch.equal(net.decoder(fc, content=levels, alpha=0.0), plain.decoder(fc))  # step 0: the light model
        assert torch.equal(net.decoder(moved[-1], transferred=moved), plain.decoder(moved[-1]))

    wide = (8, 12, 6, 10, 4, 6)  # and a decoder wider (and narrower) than the mirrored encoder's
    cfg = replace(AdaINTrainConfig(), arch="light", widths=(4, 8, 8, 16), skips=True, style_skips=True, blocks=2,
                  decoder_widths=wide, size=32, batch_size=2, steps=6, lr=3e-3)
    task = LightAdaINTask(cfg, CropSampler(str(photo_folder), 32), CropSampler(str(styles), 32), torch.device("cpu"))
    last = lambda decoder: [block.body[2][1] for block in decoder.blocks]  # each block's zero-started convolution
    for convs in (task.model.decoder.skips, task.model.decoder.style_skips, last(task.model.decoder)):
        for conv in convs:
            torch.nn.init.zeros_(conv.weight)  # as grown from a trained model: training must move them
    ck = tmp_path / "skips.safetensors"
    fit(task, checkpoint=ck, steps=cfg.steps, lr=cfg.lr, batch_size=2)
    net, meta = load_adain(ck)
    assert net.has_skips and net.has_style_skips and net.blocks == 2 and meta["architecture"] == net.architecture()
    assert net.decoder_widths == wide and meta["architecture"]["decoder_widths"] == list(wide)
    for convs in (net.decoder.skips, net.decoder.style_skips, last(net.decoder)):  # each path trained its set
        assert all(float(conv.weight.detach().abs().sum()) > 0 for conv in convs)
    s2 = torch.rand(1, 3, 32, 24)  # styles of at most style_size: not resized
    with torch.no_grad():
        levels = net.encoder.levels(c)
        fc = levels[-1]
        t = [losses.adain(f, *losses.mean_std(g)) for f, g in zip(levels, net.encoder.levels(s))]
        mix = lambda a: [a * x + (1 - a) * f for x, f in zip(t, levels)]
        want = {1.0: net.decoder(t[-1], transferred=t), 0.0: net.decoder(fc, content=levels, alpha=0.0),
                0.3: net.decoder(mix(0.3)[-1], levels, mix(0.3), 0.3)}
        assert not torch.allclose(want[0.0], net.decoder(fc), atol=1e-3)  # the skips change the reconstruction
        assert not torch.allclose(want[1.0], net.decoder(t[-1]), atol=1e-3)  # and the stylisation
        for alpha, expected in want.items():
            got = AdaINEngine(AdaINConfig(alpha=alpha, style_size=32), decoder=net).stylize(c, s)
            assert torch.allclose(got, expected.clamp(0, 1), atol=1e-5), alpha
        efdm = [losses.efdm(f, losses.sorted_features(g)) for f, g in zip(levels, net.encoder.levels(s))]
        got = AdaINEngine(AdaINConfig(style_size=32, transfer="efdm"), decoder=net).stylize(c, s)
        assert torch.allclose(got, net.decoder(efdm[-1], transferred=efdm).clamp(0, 1), atol=1e-5)
        # two styles mixed: the same weights at every level
        t2 = [losses.adain(f, *losses.mean_std(g)) for f, g in zip(levels, net.encoder.levels(s2))]
        blend = [0.25 * a + 0.75 * b for a, b in zip(t, t2)]
        eng = AdaINEngine(AdaINConfig(style_size=32), decoder=net)
        got = eng.stylize(c, StyleSet.create([s, s2], [0.25, 0.75]))
        assert torch.allclose(got, net.decoder(blend[-1], transferred=blend).clamp(0, 1), atol=1e-5)
        # and under a mask: each level normalised inside its region
        mask = torch.zeros(1, 1, 40, 48)
        mask[..., :20] = 1
        stats = [[losses.mean_std(g) for g in net.encoder.levels(x)] for x in (s, s2)]
        parts = []
        for i, f in enumerate(levels):
            mf = torch.nn.functional.interpolate(mask, size=f.shape[-2:], mode="nearest")
            parts.append(masked_adain(f, mf, stats[0][i]) * mf + masked_adain(f, 1 - mf, stats[1][i]) * (1 - mf))
        got = eng.stylize(c, StyleSet.create([s, s2], mask=mask))
        assert torch.allclose(got, net.decoder(parts[-1], transferred=parts).clamp(0, 1), atol=1e-5)
        big = torch.rand(1, 3, 160, 176)
        for alpha in (0.3, 1.0):
            whole = AdaINEngine(AdaINConfig(alpha=alpha, tile=0), decoder=net).stylize(big, s)
            tiled = AdaINEngine(AdaINConfig(alpha=alpha, tile=64), decoder=net).stylize(big, s)
            assert torch.allclose(whole, tiled, atol=1e-4), alpha
        one_style = AdaINStyleNet.from_light(net, s)  # train-fast --base: the alpha-1 path, style skips included
        assert one_style.architecture() == {"arch": "AdaINStyleNet", "widths": [4, 8, 8, 16], "style_skips": True,
                                            "blocks": 2, "decoder_widths": list(wide)}
        assert torch.allclose(one_style(c), want[1.0], atol=1e-5)
