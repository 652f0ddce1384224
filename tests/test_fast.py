"""Fast (Johnson) transfer: network, training loop, resume, data, checkpoints, DDP, export, CLI."""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nst_toolkit.checkpoints import load_checkpoint, read_metadata, save_checkpoint
from nst_toolkit.cli import app
from nst_toolkit.data import CropSampler
from nst_toolkit.engines.fast import FastConfig, FastTrainConfig
from nst_toolkit.engines.fast.engine import FastEngine, load_transformer, stylize_padded
from nst_toolkit.engines.fast.train import FastTask
from nst_toolkit.errors import NSTError, WeightsError
from nst_toolkit.nets import TransformerNet
from nst_toolkit.training import fit

from .conftest import one_error_line, run_cli_without_torch


runner = CliRunner()
TINY = replace(FastTrainConfig(), base="none", train_params="all", loss="gram", lr=1e-3, style_weight=10.0, tv_weight=5.0, size=32, batch_size=2, width=8, n_res=1, style_size=48, steps=4, checkpoint_every=2)
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("h,w", [(33, 47), (64, 64), (37, 101)])
def test_output_shape_equals_input_for_odd_sizes(h, w):
    net = TransformerNet(width=8, n_res=1).eval()
    with torch.no_grad():
        assert stylize_padded(net, torch.rand(1, 3, h, w)).shape == (1, 3, h, w)


def test_instance_norm_model_is_deterministic():
    net = TransformerNet(width=8, n_res=1).eval()
    x = torch.rand(2, 3, 40, 40)
    with torch.no_grad():
        a, b = net(x), net(x)
        single = net(x[:1])
    assert torch.equal(a, b)
    assert torch.allclose(a[:1], single, atol=1e-5)  # instance norm: no batch dependence


def _task(folder, style_path, cfg=TINY, vgg=None):
    from nst_toolkit.images import load_image

    return FastTask(cfg, load_image(style_path, cfg.style_size), CropSampler(str(folder), cfg.size), torch.device("cpu"),
                    style_sha256="abc", style_name="painting")


def _fit_and_measure(task, cfg, checkpoint):
    """The task's loss on one fixed batch before and after ``fit`` for ``cfg.steps`` steps."""
    fixed = lambda: float(sum(task.loss_fn(task.model, 10_000).values()))  # same batch before and after
    with torch.no_grad():
        before = fixed()
    fit(task, checkpoint=checkpoint, steps=cfg.steps, lr=cfg.lr, batch_size=cfg.batch_size)
    with torch.no_grad():
        return before, fixed()


def test_training_lowers_the_loss(photo_folder, painting):
    cfg = replace(TINY, steps=30, lr=5e-3)
    before, after = _fit_and_measure(_task(photo_folder, painting, cfg), cfg, photo_folder.parent / "ck.safetensors")
    assert after < 0.8 * before


def test_resume_continues_at_saved_step_with_optimizer_state(tmp_path, photo_folder, painting):
    ck = tmp_path / "ck.safetensors"
    full = _task(photo_folder, painting, replace(TINY, steps=4))
    fit(full, checkpoint=tmp_path / "full.safetensors", steps=4, lr=1e-3, batch_size=2)

    half = _task(photo_folder, painting)
    fit(half, checkpoint=ck, steps=2, lr=1e-3, batch_size=2)
    meta = read_metadata(ck)
    assert meta["step"] == 2 and meta["optimizer"]["param_groups"][0]["lr"] == 1e-3
    tensors, _ = load_checkpoint(ck, "fast")
    assert any(k.startswith("optim.") and k.endswith("exp_avg_sq") for k in tensors)

    resumed = _task(photo_folder, painting)
    seen = []
    reached = fit(resumed, checkpoint=ck, steps=4, lr=1e-3, batch_size=2, resume=True, on_step=lambda s: seen.append(s.step))
    assert seen == [3, 4] and reached == 4
    # Same batches, same Adam moments: identical to the uninterrupted run.
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_corrupt_images_are_skipped_and_counted(photo_folder):
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    (photo_folder / "empty.png").write_bytes(b"")
    s = CropSampler(str(photo_folder), 32)
    assert len(s) == 6 and s.skipped == 2
    b = s.batch(3, seed=0, step=5)
    assert b.shape == (3, 3, 32, 32) and torch.equal(b, s.batch(3, seed=0, step=5))


def test_hub_dataset_offline_is_a_clear_error():
    with pytest.raises(NSTError, match="cannot load Hugging Face dataset 'someone/photos'.*offline"):
        CropSampler("someone/photos", 32)


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(NSTError, match="no images"):
        CropSampler(str(tmp_path), 32)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    net = TransformerNet(width=8, n_res=1)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, {f"model.{k}": v for k, v in net.state_dict().items()},
                    {"engine": "fast", "architecture": net.architecture(), "style_sha256": "x"})
    loaded, meta = load_transformer(path)
    assert meta["architecture"] == {"arch": "TransformerNet", "width": 8, "n_res": 1} and meta["toolkit_version"]
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(WeightsError, match="is a 'fast' checkpoint, not a 'adain'"):
        load_checkpoint(path, "adain")
    # Wrong shape: metadata claims width 16, tensors are width 8.
    bad = tmp_path / "bad.safetensors"
    save_checkpoint(bad, {f"model.{k}": v for k, v in net.state_dict().items()},
                    {"engine": "fast", "architecture": {"arch": "TransformerNet", "width": 16, "n_res": 1}})
    with pytest.raises(WeightsError, match="shape"):
        load_transformer(bad)
    # A pickle is never unpickled.
    pkl = tmp_path / "evil.safetensors"
    torch.save(net.state_dict(), pkl)
    with pytest.raises(WeightsError, match="not a safetensors checkpoint"):
        load_transformer(pkl)


def test_shipped_models_load_and_stylise():
    for name in ("great_wave", "cafe_terrace", "summertime", "village_street", "church_at_auvers", "girls_at_the_piano"):
        eng = FastEngine(FastConfig(model=name))
        assert eng.meta["engine"] == "fast" and eng.meta["style_sha256"]
        x = torch.rand(1, 3, 36, 52)
        out = eng.stylize(x)
        assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1 and out.std() > 0.01
    with pytest.raises(WeightsError, match="no shipped fast model named 'monet'") as e:
        FastEngine(FastConfig(model="monet"))
    assert "train/" not in str(e.value)  # no recipe makes it
    # the width-12 models left the package: their names point to the recipe that rebuilds them
    with pytest.raises(WeightsError, match=r"'summertime_w12' is not shipped: `bash train/fast_w12.sh summertime`"):
        FastEngine(FastConfig(model="summertime_w12"))


def test_preserve_color_luminance_keeps_chroma():
    from nst_toolkit import colour

    x = torch.rand(1, 3, 40, 40) * 0.4 + 0.3
    out = FastEngine(FastConfig(preserve_color="luminance")).stylize(x)
    chroma_err = (colour.rgb_to_ycbcr(out)[:, 1:] - colour.rgb_to_ycbcr(x)[:, 1:]).abs().mean()
    assert chroma_err < 0.02


def test_export_parity(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from nst_toolkit.export import export_transformer

    x = torch.rand(1, 3, 45, 61)
    ref = FastEngine(FastConfig(model="test_net")).stylize(x)
    onnx_path = export_transformer("test_net", tmp_path / "m.onnx", size=64)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(sess.run(None, {"image": x.numpy()})[0])
    assert got.shape == ref.shape and (got - ref).abs().max() < 1e-3
    ts = torch.jit.load(str(export_transformer("test_net", tmp_path / "m.pt", size=64)))
    assert (ts(x) - ref).abs().max() < 1e-4


def test_cli_train_fast_then_fast_and_models(tmp_path, photo_folder, painting, photo):
    model = tmp_path / "mine.safetensors"
    r = runner.invoke(app, ["train-fast", "--style", str(painting), "--data", str(photo_folder), "-o", str(model),
                            "--size", "32", "--batch-size", "2", "--steps", "3", "--width", "8", "--checkpoint-every", "2",
                            "--base", "none", "--train-params", "all",
                            "--val-image", str(photo), "--style-size", "48", "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    meta = read_metadata(model)
    assert meta["step"] == 3 and meta["training"]["width"] == 8 and "optimizer" not in meta
    assert (tmp_path / "mine.run" / "preview_000002.jpg").is_file()
    out = tmp_path / "styled"
    r = runner.invoke(app, ["fast", str(photo), str(photo_folder), "-m", str(model), "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert len(list(out.glob("*.png"))) == 7
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0 and "great_wave" in r.output and "cafe_terrace" in r.output
    assert any("test_net" in line and "local" in line and "TransformerNet(w=12)" in line for line in r.output.splitlines())
    r = runner.invoke(app, ["fast", str(photo), "-m", "nosuch", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "no shipped fast model" in r.output and not (tmp_path / "x.png").exists()


def test_ddp_two_cpu_processes_keep_identical_weights(tmp_path, photo_folder, painting):
    """torchrun, 2 ranks with gloo: each reads its own shard; the saved model loads and both ranks agree."""
    out = tmp_path / "ddp.safetensors"
    dump = tmp_path / "rank{rank}.pt"
    script = tmp_path / "run.py"
    script.write_text(
        "import os, torch, torch.distributed as dist\n"
        "from nst_toolkit import training\n"
        "orig = training.train_model\n"
        "def wrapped(model, *a, **k):\n"
        "    opt = orig(model, *a, **k)\n"
        f"    torch.save({{n: p.detach().clone() for n, p in model.state_dict().items()}}, r'{dump}'.format(rank=dist.get_rank()))\n"
        "    return opt\n"
        "training.train_model = wrapped\n"
        "from nst_toolkit.cli import app\n"
        "app()\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", str(script),
           "train-fast", "--style", str(painting), "--data", str(photo_folder), "-o", str(out), "--size", "32",
           "--batch-size", "2", "--steps", "3", "--width", "8", "--style-size", "48", "--val-image", str(painting),
           "--base", "none", "--train-params", "all",
           "--checkpoint-every", "0", "--quiet", "--device", "cpu"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    net, meta = load_transformer(out)
    assert meta["step"] == 3
    # the model file stores the trained weights as float16
    assert torch.equal(net.state_dict()["net.0.1.weight"], r0["net.0.1.weight"].half().float())


def test_row_split_output_conv_matches_plain_convolution():
    import torch.nn.functional as F

    from nst_toolkit.nets import RowSplitConv2d

    conv = RowSplitConv2d(12, 3, 9)
    x = torch.rand(2, 12, 41, 57)
    conv.eval()
    with torch.no_grad():
        fast = conv(x)
        plain = F.conv2d(x, conv.weight, conv.bias)
    assert fast.shape == plain.shape == (2, 3, 33, 49)
    assert (fast - plain).abs().max() < 1e-4 * plain.abs().max()
    assert isinstance(TransformerNet(8, 1).net[-1][1], RowSplitConv2d)  # the Johnson net's last layer uses it


def test_slim_transformer_keeps_the_important_channels():
    from nst_toolkit.nets import slim_transformer

    big = TransformerNet(width=8, n_res=2).eval()
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(slim_transformer(big, 8).eval()(x), big(x))  # full width: the same network
        # Silence first-layer channels 0–3 (zero gain and offset after instance norm): they carry
        # nothing, so a width-4 slim net must keep exactly channels 4–7 of the first layer.
        big.net[1].weight[:4] = 0
        big.net[1].bias[:4] = 0
    small = slim_transformer(big, 4)
    assert small.width == 4 and small.architecture()["n_res"] == 2
    assert torch.equal(small.net[0][1].weight, big.net[0][1].weight[4:])
    assert torch.equal(small.net[1].weight, big.net[1].weight[4:])
    with pytest.raises(ValueError, match="slim width"):
        slim_transformer(big, 9)


def test_distillation_approaches_the_teacher(photo_folder):
    from nst_toolkit.engines.fast.train import DistillTask

    from nst_toolkit.nets import init_seeded

    teacher = init_seeded(TransformerNet(width=8, n_res=1), 0).eval()  # the same teacher whatever ran before
    cfg = replace(TINY, width=4, steps=40, lr=5e-3)
    meta = {"style_sha256": "s" * 64, "style_name": "teacher_style", "architecture": teacher.architecture(), "step": 7}
    task = DistillTask(cfg, teacher, meta, CropSampler(str(photo_folder), cfg.size), torch.device("cpu"), teacher_sha256="t")
    with torch.no_grad():
        before = float(task.loss_fn(task.model, 10_000)["distill"])
    fit(task, checkpoint=photo_folder.parent / "d.safetensors", steps=cfg.steps, lr=cfg.lr, batch_size=cfg.batch_size)
    with torch.no_grad():
        after = float(task.loss_fn(task.model, 10_000)["distill"])
    assert after < 0.7 * before
    m = task.metadata(40)
    assert m["style_sha256"] == "s" * 64 and m["distilled_from"]["sha256"] == "t" and m["architecture"]["width"] == 4
    with pytest.raises(NSTError, match="must not exceed the teacher"):
        DistillTask(replace(cfg, width=16), teacher, meta, task.sampler, torch.device("cpu"))


def test_cli_train_fast_distils_a_teacher(tmp_path, photo_folder, photo, painting):
    teacher = tmp_path / "teacher.safetensors"
    net = TransformerNet(width=8, n_res=1)
    save_checkpoint(teacher, {f"model.{k}": v for k, v in net.state_dict().items()},
                    {"engine": "fast", "architecture": net.architecture(), "style_sha256": "f" * 64, "style_name": "wave", "step": 9})
    out = tmp_path / "student.safetensors"
    common = ["--data", str(photo_folder), "--size", "32", "--batch-size", "2", "--steps", "2", "--width", "4",
              "--checkpoint-every", "0", "--val-image", str(photo), "--quiet", "--device", "cpu"]
    r = runner.invoke(app, ["train-fast", "--teacher", str(teacher), "-o", str(out), *common])
    assert r.exit_code == 0, r.output
    student, meta = load_transformer(out)
    assert student.width == 4 and meta["style_sha256"] == "f" * 64 and meta["training"]["method"] == "distillation"
    r = runner.invoke(app, ["train-fast", "--teacher", str(teacher), "--style", str(painting), "-o", str(tmp_path / "x.safetensors"), *common])
    assert r.exit_code == 2 and "either --style" in r.output and not (tmp_path / "x.safetensors").exists()


def test_style_bank_rows_are_styles_and_the_base_is_their_mean(photo_folder, painting):
    from nst_toolkit.engines.fast.train import StyleBank, StyleBankTask, norm_parameter_names
    from nst_toolkit.images import load_image

    bank = StyleBank(TransformerNet(width=8, n_res=1), n_styles=3)
    names = norm_parameter_names(bank.net)
    assert len(names) == 2 * (5 + 2 * 1)  # weight and bias of 5 norms outside the blocks, 2 per block
    with torch.no_grad():
        for b in bank.bank:
            b[1].uniform_(0.5, 1.5)
    x = torch.rand(1, 3, 32, 32)
    plain = TransformerNet(width=8, n_res=1)
    plain.load_state_dict(bank.net.state_dict())
    with torch.no_grad():
        for n, b in zip(names, bank.bank):
            plain.get_parameter(n).copy_(b[1])
        assert torch.allclose(bank(x, 1), plain(x), atol=1e-5)
        assert not torch.allclose(bank(x, 0), bank(x, 1), atol=1e-3)
        base = bank.base()
        for n, b in zip(names, bank.bank):
            assert torch.allclose(base.get_parameter(n), b.mean(0))
    # training moves each style's own row only
    cfg = replace(TINY, steps=2)
    style = load_image(painting, cfg.style_size)
    task = StyleBankTask(cfg, [style, style.flip(-1)], ["a", "b"], CropSampler(str(photo_folder), cfg.size), torch.device("cpu"))
    before = [b.detach().clone() for b in task.model.bank]
    fit(task, checkpoint=photo_folder.parent / "bank.safetensors", steps=1, lr=1e-2, batch_size=2)  # step 0: style 0
    moved = [not torch.equal(b0, b) for b0, b in zip(before, task.model.bank)]
    assert all(not torch.equal(b0[0], b[0]) for b0, b in zip(before, task.model.bank))
    assert all(torch.equal(b0[1], b[1]) for b0, b in zip(before, task.model.bank)) and all(moved)


def test_norm_only_training_from_a_base_keeps_the_convolutions(tmp_path, photo_folder, painting):
    from nst_toolkit.engines.fast.train import norm_parameter_names

    base = TransformerNet(width=8, n_res=1)
    base_file = save_checkpoint(tmp_path / "base.safetensors", {f"model.{k}": v for k, v in base.state_dict().items()},
                                {"engine": "fast", "architecture": base.architecture(), "step": 7,
                                 "training": {"styles": ["x", "y"]}})
    cfg = replace(TINY, base=str(base_file), train_params="norm", width=32, steps=20, lr=2e-2)
    task = _task(photo_folder, painting, cfg)
    assert task.model.width == 8  # the base's architecture, not --width
    before, after = _fit_and_measure(task, cfg, tmp_path / "ck.safetensors")
    assert after < 0.9 * before
    norms = set(norm_parameter_names(task.model))
    trained = base.state_dict()
    for k, v in task.model.state_dict().items():
        assert torch.equal(v, trained[k]) != (k in norms), k  # only the norms moved
    meta = read_metadata(tmp_path / "ck.safetensors")
    assert meta["base"]["step"] == 7 and meta["base"]["styles"] == ["x", "y"] and len(meta["base"]["sha256"]) == 64
    with pytest.raises(NSTError, match="train-params must be one of all, norm"):
        replace(cfg, train_params="some").validate()
    with pytest.raises(WeightsError, match="no base network named"):
        _task(photo_folder, painting, replace(cfg, base="nosuch"))


def test_vgg19_recipe_specialises_the_adain_decoder_to_the_painting(tmp_path, photo_folder, painting, photo):
    """`nst train-fast --base vgg19`: the VGG-19 AdaIN decoder with the painting's relu4_1 statistics built in
    (so it starts as `nst adain --model vgg19` with that painting), trained on the AdaIN loss for that painting."""
    from nst_toolkit.engines.adain import AdaINConfig
    from nst_toolkit.engines.adain.engine import AdaINEngine
    from nst_toolkit.engines.fast.engine import load_fast_model
    from nst_toolkit.images import load_image
    from nst_toolkit.nets import StyledAdaINDecoder

    defaults = FastTrainConfig()
    assert (defaults.base, defaults.loss, defaults.train_params) == ("light", "adain", "all")  # the default recipe
    cfg = replace(defaults, base="vgg19", lr=1e-4, style_weight=2.0, size=32, batch_size=2, style_size=48, steps=10,
                  photo_size=0)
    task = _task(photo_folder, painting, cfg)
    assert isinstance(task.model, StyledAdaINDecoder)
    x = load_image(photo, 64)
    with torch.no_grad():
        start = task.render(task.model.eval(), x)
        adain = AdaINEngine(AdaINConfig(model="vgg19", style_size=48)).stylize(x, [load_image(painting, 48)])
    assert torch.allclose(start, adain, atol=1e-5)  # step 0 is exactly `nst adain` with this painting
    before, after = _fit_and_measure(task, cfg, tmp_path / "ck.safetensors")
    assert after < 0.9 * before

    model = tmp_path / "mine.safetensors"
    r = runner.invoke(app, ["train-fast", "--style", str(painting), "--data", str(photo_folder), "-o", str(model),
                            "--base", "vgg19", "--size", "32", "--batch-size", "2", "--steps", "2", "--style-size", "48",
                            "--checkpoint-every", "1", "--val-image", str(photo), "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    net, meta = load_fast_model(model)
    assert isinstance(net, StyledAdaINDecoder) and meta["step"] == 2 and meta["encoder"]["layer"] == "relu4_1"
    assert meta["base"]["name"] == "vgg19" and meta["base"]["architecture"]["arch"] == "AdaINDecoder"
    assert meta["training"]["loss"] == "adain" and meta["style_sha256"] and meta["data"]["images"] == 6
    assert (tmp_path / "mine.run" / "preview_000001.jpg").is_file()
    out = tmp_path / "out.png"
    r = runner.invoke(app, ["fast", str(photo), "--model", str(model), "-o", str(out), "--quiet", "--device", "cpu"])
    assert r.exit_code == 0 and out.is_file(), r.output
    big = torch.nn.functional.interpolate(x, size=(120, 160), mode="bilinear", align_corners=False)
    tiled = FastEngine(FastConfig(model=str(model), tile=64)).stylize(big)
    whole = FastEngine(FastConfig(model=str(model), tile=0)).stylize(big)
    assert (tiled - whole).abs().max() < 2e-3  # tiles share the whole image's AdaIN statistics
    r = runner.invoke(app, ["export-fast", str(model), "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 2 and "self-contained networks only" in r.output
    with pytest.raises(NSTError, match="train-params norm needs a style-bank base"):
        _task(photo_folder, painting, replace(cfg, train_params="norm"))


def test_light_base_grows_a_style_net_from_the_light_adain_model(tmp_path, photo_folder, painting, photo):
    """--base light: the light AdaIN model's encoder and decoder with the painting's statistics, all trained."""
    from nst_toolkit.engines.adain import AdaINConfig
    from nst_toolkit.engines.adain.engine import AdaINEngine, load_adain
    from nst_toolkit.engines.fast.engine import load_fast_model
    from nst_toolkit.engines.fast.train import resolve_base
    from nst_toolkit.images import load_image
    from nst_toolkit.nets import AdaINStyleNet

    cfg = replace(FastTrainConfig(), base="light", size=32, batch_size=2, style_size=48, steps=12, photo_size=0, lr=5e-4)
    task = _task(photo_folder, painting, cfg)
    assert isinstance(task.model, AdaINStyleNet) and all(p.requires_grad for p in task.model.parameters())
    light, _ = load_adain(resolve_base("light"))
    x = load_image(photo, 64)
    with torch.no_grad():
        start = task.render(task.model.eval(), x)
        adain = AdaINEngine(AdaINConfig(style_size=48), decoder=light).stylize(x, [load_image(painting, 48)])
    assert torch.allclose(start, adain, atol=1e-5)  # step 0 is exactly the light AdaIN model with this painting
    before, after = _fit_and_measure(task, cfg, tmp_path / "ck.safetensors")
    assert after < 0.9 * before
    model = tmp_path / "light.safetensors"
    fit(task, checkpoint=tmp_path / "ck2.safetensors", steps=1, lr=1e-4)
    from nst_toolkit.training import finalize

    finalize(tmp_path / "ck2.safetensors", model, "fast")
    net, meta = load_fast_model(model)
    assert isinstance(net, AdaINStyleNet) and meta["base"]["name"] == "light"
    y = FastEngine(FastConfig(model=str(model))).stylize(x)
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1
    r = runner.invoke(app, ["export-fast", str(model), "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output


def test_style_bank_base_is_still_a_recipe(tmp_path, photo_folder, painting, photo):
    """--base bank: a style bank (a TransformerNet) fine-tuned with Johnson's loss. The package carries none: without
    one the option is one line naming the recipe; with one in the user's models (as train/fast_base_cpu.sh writes it)
    the name finds it."""
    from nst_toolkit.checkpoints import user_models_dir
    from nst_toolkit.training import half_precision
    from nst_toolkit.engines.fast.train import StyleBankTask, resolve_base
    from nst_toolkit.images import load_image

    r = runner.invoke(app, ["train-fast", "--style", str(painting), "--data", str(photo_folder), "--base", "bank",
                            "-o", str(tmp_path / "no.safetensors"), "--steps", "1", "--val-image", str(photo)])
    one_error_line(r, "'bank' is not shipped: `bash train/fast_base_cpu.sh` in the source repository rebuilds it into "
                      f"{user_models_dir('fast_base')} (about 56 h on a 2-core CPU)")
    bank_cfg = replace(TINY, base="none", loss="gram", width=8, n_res=1, size=32)
    styles = [load_image(painting, 48), load_image(photo, 48)]
    bank = StyleBankTask(bank_cfg, styles, ["a", "b"], CropSampler(str(photo_folder), 32), torch.device("cpu"))
    fit(bank, checkpoint=tmp_path / "bank_ck.safetensors", steps=2, lr=1e-2, batch_size=2)
    path = user_models_dir("fast_base") / "bank.safetensors"
    save_checkpoint(path, half_precision(bank.base_tensors()), bank.metadata(2))  # as train/fast_base.py does
    try:
        assert resolve_base("bank") == path
        cfg = replace(TINY, base="bank", size=32, steps=12, photo_size=0)
        task = _task(photo_folder, painting, cfg)
        assert isinstance(task.model, TransformerNet) and task.model.width == 8
        before, after = _fit_and_measure(task, cfg, tmp_path / "ck.safetensors")
        assert after < before
        meta = read_metadata(tmp_path / "ck.safetensors")
        assert meta["base"]["name"] == "bank" and meta["base"]["styles"] == ["a", "b"]
    finally:
        path.unlink()


def test_train_fast_has_the_cpu_recipes_time_budget():
    import typer

    cmd = typer.main.get_command(app).commands["train-fast"]
    budget = next(p for p in cmd.params if p.name == "max_minutes")
    assert budget.default == 18.0  # the default recipe ends within 20 minutes, start-up and saving included
    adain = next(p for p in typer.main.get_command(app).commands["train-adain"].params if p.name == "max_minutes")
    assert adain.default is None


def test_train_fast_as_typed_makes_a_light_model_with_its_twin(tmp_path, photo_folder, painting, photo):
    """`nst train-fast --style P` with the default recipe: a network grown from the light AdaIN model, its 8-bit
    ONNX twin beside it, and `nst fast` runs that twin in onnxruntime; the twin agrees with the torch engine."""
    import numpy as np

    from nst_toolkit.engines.fast.engine import load_fast_model
    from nst_toolkit.engines.fast.onnx import runner as twin_runner, twin_paths
    from nst_toolkit.images import load_image
    from nst_toolkit.nets import AdaINStyleNet

    model = tmp_path / "mine.safetensors"
    r = runner.invoke(app, ["train-fast", "--style", str(painting), "--data", str(photo_folder), "-o", str(model),
                            "--size", "32", "--batch-size", "2", "--steps", "2", "--style-size", "48",
                            "--checkpoint-every", "0", "--val-image", str(photo), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    net, meta = load_fast_model(model)
    assert isinstance(net, AdaINStyleNet) and meta["base"]["name"] == "light" and meta["training"]["lr"] == 3e-4
    int8, fp32 = twin_paths(model)
    assert int8.is_file() and not fp32.is_file() and "without torch" in r.output
    assert "steered by the content budget" in r.output and meta["style_control"]["history"][0][0] == 0
    cfg = FastConfig(model=str(model), size=64)
    got = twin_runner(cfg, [photo], [])(photo)
    with torch.no_grad():
        want = FastEngine(cfg).stylize(load_image(photo, 64)).numpy()
    assert got.shape == want.shape and np.abs(got - want).mean() < 0.05  # 8 bits on a 64-px test picture: 0.033
    out = tmp_path / "out.png"
    r = run_cli_without_torch("fast", photo, "-m", model, "-o", out)
    assert r.returncode == 0 and "onnxruntime" in r.stderr and out.is_file(), r.stderr
    # a twin of another version of the model file is ignored: the torch engine runs
    model.write_bytes(model.read_bytes())  # same bytes: still the twin's
    assert twin_runner(cfg, [photo], []) is not None
    train_again = runner.invoke(app, ["train-fast", "--style", str(painting), "--data", str(photo_folder), "-o",
                                      str(tmp_path / "other.safetensors"), "--size", "32", "--batch-size", "2", "--steps",
                                      "1", "--style-size", "48", "--checkpoint-every", "0", "--val-image", str(photo),
                                      "--quiet", "--device", "cpu", "--seed", "3"])
    assert train_again.exit_code == 0, train_again.output
    model.write_bytes((tmp_path / "other.safetensors").read_bytes())  # the model changed, its twin did not
    assert twin_runner(cfg, [photo], []) is None


LIGHT_TINY = replace(FastTrainConfig(), base="light", size=32, batch_size=2, style_size=48, photo_size=0, lr=5e-4,
                     checkpoint_every=0)


def test_content_budget_steers_the_style_weight_within_its_bounds(photo_folder, painting):
    """The style weight grows while the model is closer to the photos than the budget's share of its start's
    distance, shrinks while it is further, stays within x0.5 … x4 of --style-weight, and scales the style term."""
    task = _task(photo_folder, painting, replace(LIGHT_TINY, steps=12))
    budget = task.budget
    start = budget.start_distance
    assert start > 0 and abs(budget.distance(task.model) / start - 1) < 1e-6  # the start is its own yardstick
    w0 = task.cfg.style_weight
    budget.distance = lambda model: 0.5 * start  # much closer to the photos than the budget's 0.92
    budget.steer(100, task.model)
    assert task.style_weight == pytest.approx(1.25 * w0)  # one check changes it by x1.25 at most
    for step in range(125, 1000, 25):
        budget.steer(step, task.model)
    assert task.style_weight == pytest.approx(4 * w0)
    budget.distance = lambda model: 1.2 * start  # further than the budget: back down, to x0.5 at the least
    for step in range(1000, 2000, 25):
        budget.steer(step, task.model)
    assert task.style_weight == pytest.approx(0.5 * w0)
    assert task.metadata(7)["style_control"]["history"][0] == [100, 0.5, pytest.approx(1.25 * w0)]
    assert [s for s in range(12) if budget.due(s)] == [4]  # from a third of the run, every 25 steps
    with torch.no_grad():
        half = task.loss_fn(task.model, 1)["style"]
        budget.weight = w0
        full = task.loss_fn(task.model, 1)["style"]
    assert float(half) == pytest.approx(0.5 * float(full), rel=1e-5)


def test_content_budget_off_and_for_other_bases(photo_folder, painting):
    assert _task(photo_folder, painting, replace(LIGHT_TINY, content_budget=0.0)).budget is None
    assert _task(photo_folder, painting, TINY).budget is None  # a random TransformerNet does not start as adain


def test_resume_keeps_the_steered_style_weight(tmp_path, photo_folder, painting):
    """A run interrupted after the weight moved resumes with that weight: identical to the uninterrupted run."""
    cfg = replace(LIGHT_TINY, steps=6)  # steered at step 2 (a third of the steps)
    full = _task(photo_folder, painting, cfg)
    fit(full, checkpoint=tmp_path / "full.safetensors", steps=6, lr=cfg.lr, batch_size=2)
    assert [h[0] for h in full.budget.history] == [2] and full.style_weight != cfg.style_weight
    ck = tmp_path / "ck.safetensors"
    fit(_task(photo_folder, painting, cfg), checkpoint=ck, steps=4, lr=cfg.lr, batch_size=2)
    resumed = _task(photo_folder, painting, cfg)
    fit(resumed, checkpoint=ck, steps=6, lr=cfg.lr, batch_size=2, resume=True)
    assert resumed.style_weight == full.style_weight and resumed.budget.history == full.budget.history
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
