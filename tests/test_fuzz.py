"""Hostile model files, damaged checkpoints and images through the real CLI.

Each case crafts one malformed file and asserts the contract: exit code 2, exactly one line of
output starting with ``nst: error:`` (naming what is wrong), no traceback, no output file.
"""

from __future__ import annotations

import copy
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from nst_toolkit.checkpoints import load_checkpoint, read_metadata, save_checkpoint, user_models_dir
from nst_toolkit.cli import app
from nst_toolkit.io import stale_temporaries
from nst_toolkit.nets import TransformerNet, mirrored_decoder_widths
from nst_toolkit.resources import shipped_models_dir
from nst_toolkit.training import training_state

from .conftest import make_photo

runner = CliRunner()
ARCH = {"arch": "TransformerNet", "width": 8, "n_res": 1}


def refused(r, out: Path, expect: str) -> None:
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2, r.output
    assert len(lines) == 1 and lines[0].startswith("nst: error:"), r.output
    assert "Traceback" not in r.output and expect in lines[0], r.output
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.*"))


def raw_file(path: Path, header, data: bytes = b"") -> Path:
    """A safetensors-shaped file with any JSON header."""
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def saved(path: Path, obj) -> Path:
    """``obj`` written by torch.save: a zip holding a pickle."""
    torch.save(obj, path)
    return path


def nst_header(meta=None, **tensors) -> dict:
    return {"__metadata__": {"nst": json.dumps(meta or {"engine": "fast", "architecture": ARCH})}, **tensors}


def fast_model(path: Path, arch=ARCH, edit=None, **meta) -> Path:
    """A tiny fast model file; ``edit(tensors)`` may damage its tensors first."""
    tensors = {f"model.{k}": v.clone() for k, v in TransformerNet(8, 1).state_dict().items()}
    if edit is not None:
        edit(tensors)
    save_checkpoint(path, tensors, {"engine": "fast", "architecture": arch, **meta})
    return path


def set_first(value):
    def edit(t):
        t["model.net.0.1.weight"][0, 0, 0, 0] = value
    return edit


def truncated(path: Path) -> Path:
    fast_model(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# name: (make the --model file in tmp_path, words the error line must hold)
FAST_CASES = {
    "header_list": (lambda p: raw_file(p, [1, 2]), "header is a JSON array"),
    "header_null": (lambda p: raw_file(p, None), "header is a JSON null"),
    "header_string": (lambda p: raw_file(p, "abc"), "header is a JSON string"),
    "metadata_number": (lambda p: raw_file(p, {"__metadata__": {"nst": "5"}}), "nst metadata is a JSON integer"),
    "metadata_not_strings": (lambda p: raw_file(p, {"__metadata__": {"nst": 5}}), "__metadata__"),
    "metadata_missing": (lambda p: raw_file(p, {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
                         "without nst metadata"),
    "metadata_bad_json": (lambda p: raw_file(p, {"__metadata__": {"nst": "{oops"}}), "not valid JSON"),
    "engine_number": (lambda p: raw_file(p, nst_header({"engine": 7})), "metadata engine"),
    "entry_not_object": (lambda p: raw_file(p, nst_header(**{"model.x": 3})), "no dtype/shape"),
    "dtype_int": (lambda p: raw_file(p, nst_header(**{"model.x": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}}),
                                      b"\0" * 16), "dtype 'I64'"),
    "huge_shape": (lambda p: raw_file(p, nst_header(**{"model.net.0.1.weight": {
        "dtype": "F32", "shape": [10**6, 10**6, 9, 9], "data_offsets": [0, 16]}}), b"\0" * 16), "declares shape"),
    "offsets_outside": (lambda p: raw_file(p, nst_header(**{"model.x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})),
                        "lies outside"),
    "truncated": (truncated, "lies outside"),
    "header_cut": (lambda p: write(p, struct.pack("<Q", 500) + b'{"__meta'), "truncated file"),
    "empty": (lambda p: write(p, b""), "too short"),
    "text": (lambda p: write(p, "hello, I am not a model\n"), "not a safetensors checkpoint"),
    "torch_zip": (lambda p: saved(p, TransformerNet(8, 1).state_dict()), "pickled .pth files are refused"),
    "pickle": (lambda p: write(p, pickle.dumps({"model": [1, 2, 3]}, protocol=2)), "pickled .pth files are refused"),
    "no_architecture": (lambda p: raw_file(p, nst_header({"engine": "fast"})), "unknown architecture None"),
    "arch_unknown": (lambda p: fast_model(p, {"arch": "Foo"}), "unknown architecture 'Foo'"),
    "arch_not_object": (lambda p: fast_model(p, [1]), "metadata architecture must be a JSON object"),
    "width_text": (lambda p: fast_model(p, {**ARCH, "width": "abc"}), "width must be an integer in 1..256"),
    "width_negative": (lambda p: fast_model(p, {**ARCH, "width": -4}), "width must be an integer in 1..256, not -4"),
    "width_huge": (lambda p: fast_model(p, {**ARCH, "width": 10**6}), "width must be"),
    "width_bool": (lambda p: fast_model(p, {**ARCH, "width": True}), "width must be"),
    "n_res_huge": (lambda p: fast_model(p, {**ARCH, "n_res": 10**6}), "n_res must be an integer in 0..32"),
    "n_res_missing": (lambda p: fast_model(p, {"arch": "TransformerNet", "width": 8}), "lacks its n_res"),
    "arch_extra_field": (lambda p: fast_model(p, {**ARCH, "depth": 3}), "unknown field 'depth'"),
    "wrong_shapes": (lambda p: fast_model(p, {**ARCH, "width": 16}), "has shape"),
    "missing_tensor": (lambda p: fast_model(p, edit=lambda t: t.pop("model.net.0.1.bias")), "1 missing"),
    "extra_tensor": (lambda p: fast_model(p, edit=lambda t: t.update({"model.extra": torch.zeros(2)})), "first unexpected"),
    "stray_tensor": (lambda p: fast_model(p, edit=lambda t: t.update({"junk": torch.zeros(2)})), "first unexpected: 'junk'"),
    "nan_weight": (lambda p: fast_model(p, edit=set_first(float("nan"))), "NaN or infinite"),
    "inf_weight": (lambda p: fast_model(p, edit=set_first(float("inf"))), "NaN or infinite"),
    "huge_weight": (lambda p: fast_model(p, edit=set_first(1e6)), "exploded weights"),
    "adain_file": (lambda p: write(p, (shipped_models_dir() / "adain" / "vgg19.safetensors").read_bytes()),
                   "is a 'adain' checkpoint, not a 'fast' one"),
}


@pytest.mark.parametrize("case", FAST_CASES)
def test_fast_refuses_malformed_model(tmp_path, photo, case):
    make, expect = FAST_CASES[case]
    model = make(tmp_path / "m.safetensors")
    out = tmp_path / "out.png"
    r = runner.invoke(app, ["fast", str(photo), "--model", str(model), "-o", str(out)])
    refused(r, out, expect)


def decoder_file(path: Path, scale=0.01, value=None) -> Path:
    tensors, meta = load_checkpoint(shipped_models_dir() / "adain" / "vgg19.safetensors", "adain")
    if value is not None:
        bias = sorted(k for k in tensors if k.endswith(".bias"))[0]
        tensors[bias] = tensors[bias].float().index_fill_(0, torch.tensor([0]), value)  # float32: -1e5 is past float16
    save_checkpoint(path, tensors, {**meta, "architecture": {"arch": "AdaINDecoder", "feature_scale": scale}})
    return path


def light_file(path: Path, skips, **fields) -> Path:
    """The shipped light model without its reconstruction skips' tensors, its architecture claiming ``skips``
    (and ``fields``)."""
    tensors, meta = load_checkpoint(shipped_models_dir() / "adain" / "light.safetensors", "adain")
    tensors = {k: v for k, v in tensors.items() if not k.startswith("model.decoder.skips.")}
    save_checkpoint(path, tensors, {**meta, "architecture": {**meta["architecture"], "skips": skips, **fields}})
    return path


def shipped_light_arch() -> dict:
    return read_metadata(shipped_models_dir() / "adain" / "light.safetensors")["architecture"]


def wider_than_shipped() -> list[int]:
    """The shipped light decoder's widths, each doubled: the file's tensors are too narrow for them."""
    arch = shipped_light_arch()
    return [2 * w for w in arch.get("decoder_widths") or mirrored_decoder_widths(arch["widths"])]


ADAIN_CASES = {
    "light_skips_text": (lambda p: light_file(p, "yes"), "skips must be true or false, not 'yes'"),
    "light_skips_without_tensors": (lambda p: light_file(p, True), "6 missing and 0 unexpected tensors"),
    "light_blocks_huge": (lambda p: light_file(p, False, blocks=10**6), "blocks must be"),
    "light_blocks_without_tensors": (lambda p: light_file(p, False, blocks=shipped_light_arch().get("blocks", 0) + 1),
                                     "4 missing"),
    "light_decoder_widths_short": (lambda p: light_file(p, True, decoder_widths=[1, 2]), "decoder_widths must be 6 integers"),
    "light_decoder_widths_wider_than_tensors": (lambda p: light_file(p, False, decoder_widths=wider_than_shipped()),
                                                "the network expects"),
    "scale_text": (lambda p: decoder_file(p, "abc"), "feature_scale must be a number in (0, 1000]"),
    "scale_zero": (lambda p: decoder_file(p, 0), "feature_scale must be"),
    "scale_huge": (lambda p: decoder_file(p, 1e9), "feature_scale must be"),
    "nan_weight": (lambda p: decoder_file(p, value=float("nan")), "NaN or infinite"),
    "huge_weight": (lambda p: decoder_file(p, value=-1e5), "exploded weights"),
    "fast_file": (lambda p: fast_model(p), "is a 'fast' checkpoint, not a 'adain' one"),
    "encoder_weights_number": (lambda p: raw_file(p, nst_header({"engine": "adain", "encoder": {"weights": 3}})),
                               "encoder.weights"),
}


@pytest.mark.parametrize("case", ADAIN_CASES)
def test_adain_refuses_malformed_decoder(tmp_path, photo, painting, case):
    make, expect = ADAIN_CASES[case]
    model = make(tmp_path / "d.safetensors")
    out = tmp_path / "out.png"
    r = runner.invoke(app, ["adain", str(photo), str(painting), "--model", str(model), "-o", str(out), "--size", "64"])
    refused(r, out, expect)


def vgg_nan(p: Path) -> Path:
    from safetensors.torch import save_file

    save_file({"0.weight": torch.full((64, 3, 3, 3), float("nan")), "0.bias": torch.zeros(64)}, str(p.with_suffix(".safetensors")))
    return p.with_suffix(".safetensors")


VGG_CASES = {
    "torch_zip_of_other_net": (lambda p: saved(p, TransformerNet(8, 1).state_dict()), "not a VGG-19 state_dict"),
    "torch_zip_nested": (lambda p: saved(p, {"state_dict": {"0.weight": torch.zeros(1)}, "epoch": 3}),
                         "unexpected entry 'state_dict'"),
    "torch_zip_not_tensor": (lambda p: saved(p, {"0.weight": [1, 2], "0.bias": 3}), "not a float tensor"),
    "torch_zip_list": (lambda p: saved(p, [torch.zeros(1)]), "does not hold a state_dict"),
    "pickle": (lambda p: write(p, pickle.dumps({"0.weight": 1}, protocol=2)), "cannot read VGG-19 weights"),
    "garbage": (lambda p: write(p, b"\x00garbage" * 10), "cannot read VGG-19 weights"),
    "nan": (vgg_nan, "NaN or infinite"),
}


@pytest.mark.parametrize("case", VGG_CASES)
def test_gatys_refuses_malformed_vgg_weights(tmp_path, photo, painting, case):
    make, expect = VGG_CASES[case]
    weights = make(tmp_path / "vgg.pth")
    out = tmp_path / "out.png"
    r = runner.invoke(app, ["gatys", str(photo), str(painting), "--vgg-weights", str(weights), "-o", str(out),
                            "--size", "48", "--iterations", "1"])
    refused(r, out, expect)


def float_tiff(p: Path, value: float) -> Path:
    a = np.full((48, 64), 0.5, dtype=np.float32)
    a[3, 5] = value
    p = p.with_suffix(".tif")
    Image.fromarray(a, "F").save(p)
    return p


def truncated_png(p: Path) -> Path:
    make_photo(64, 48).save(p)
    p.write_bytes(p.read_bytes()[:200])
    return p


IMAGE_CASES = {
    "float_tiff_nan": (lambda p: float_tiff(p, float("nan")), "NaN or infinite pixels"),
    "float_tiff_inf": (lambda p: float_tiff(p, float("inf")), "NaN or infinite pixels"),
    "truncated_png": (truncated_png, "cannot decode"),
    "text_file": (lambda p: write(p, "not an image\n"), "not an image file"),
}


@pytest.mark.parametrize("engine", ["gatys", "fast"])
@pytest.mark.parametrize("case", IMAGE_CASES)
def test_malformed_image_is_refused(tmp_path, painting, case, engine):
    make, expect = IMAGE_CASES[case]
    bad = make(tmp_path / "bad.png")
    out = tmp_path / "out.png"
    args = (["gatys", str(bad), str(painting), "--size", "48", "--iterations", "1"] if engine == "gatys"
            else ["fast", str(bad), "-m", "test_net"])
    r = runner.invoke(app, [*args, "-o", str(out)])
    refused(r, out, expect)


# Resume cases share one photo folder, style and a valid training checkpoint of `train-fast --width 8
# --n-res 1` after one step, which each case copies and damages.
TRAIN_ARCH = {"arch": "TransformerNet", "width": 8, "n_res": 1}


@pytest.fixture(scope="module")
def train_inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    (d / "photos").mkdir()
    for i in range(4):
        make_photo(72 + 4 * i, 64, 10 + i).save(d / "photos" / f"p{i}.jpg")
    make_photo(56, 56, 2).save(d / "style.png")
    net = TransformerNet(8, 1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.rand(1, 3, 32, 32)).mean().backward()
    opt.step()
    tensors, info = training_state(net, opt)
    return d, tensors, {"engine": "fast", "architecture": TRAIN_ARCH, "step": 1, "optimizer": info}


def train_fast_resume(tmp_path: Path, train_inputs, edit) -> tuple:
    d, tensors, meta = train_inputs
    tensors, meta = {k: v.clone() for k, v in tensors.items()}, copy.deepcopy(meta)
    edit(tensors, meta)
    model = tmp_path / "mine.safetensors"
    save_checkpoint(tmp_path / "mine.run" / "checkpoint.safetensors", tensors, meta)
    r = runner.invoke(app, ["train-fast", "--style", str(d / "style.png"), "--data", str(d / "photos"), "-o", str(model),
                            "--size", "32", "--batch-size", "2", "--steps", "2", "--width", "8", "--n-res", "1", "--base", "none", "--train-params", "all",
                            "--style-size", "48", "--val-image", str(d / "style.png"), "--checkpoint-every", "0",
                            "--resume", "--quiet", "--device", "cpu"])
    return r, model


def drop_optim(tensors, meta):
    for k in [k for k in tensors if k.startswith("optim.")]:
        del tensors[k]


RESUME_CASES = {
    "step_missing": (lambda t, m: m.pop("step"), "step must be a non-negative integer"),
    "step_text": (lambda t, m: m.update(step="x"), "metadata step must be a JSON integer"),
    "step_negative": (lambda t, m: m.update(step=-3), "step is negative"),
    "optimizer_missing": (lambda t, m: m.pop("optimizer"), "no optimizer state"),
    "optimizer_text": (lambda t, m: m.update(optimizer="garbage"), "metadata optimizer must be a JSON object"),
    "param_groups_garbage": (lambda t, m: m["optimizer"].update(param_groups="x"), "parameter groups are malformed"),
    "betas_garbage": (lambda t, m: m["optimizer"]["param_groups"][0].update(betas="x"), "another optimiser"),
    "optim_tensors_missing": (drop_optim, "of parameter 0 has no valid step"),
    "optim_wrong_shape": (lambda t, m: t.update({"optim.0.exp_avg": torch.zeros(3)}), "lacks exp_avg"),
    "optim_stray": (lambda t, m: t.update({"optim.x": torch.zeros(3)}), "stray tensor 'optim.x'"),
    "optim_nan": (lambda t, m: t["optim.0.exp_avg_sq"].fill_(float("nan")), "NaN or infinite"),
    "scalars_garbage": (lambda t, m: m["optimizer"].update(scalars=[1]), "malformed scalars"),
    "model_tensor_missing": (lambda t, m: t.pop("model.net.0.1.bias"), "1 missing"),
    # Resumed with --steps 2, a checkpoint at step 5 would become a model stamped step 5 without any training.
    "step_beyond_steps": (lambda t, m: m.update(step=5), "is at step 5, beyond --steps 2"),
}


@pytest.mark.parametrize("case", RESUME_CASES)
def test_train_fast_resume_refuses_damaged_checkpoint(tmp_path, train_inputs, case):
    edit, expect = RESUME_CASES[case]
    r, model = train_fast_resume(tmp_path, train_inputs, edit)
    refused(r, model, expect)


def test_undamaged_resume_checkpoint_resumes(tmp_path, train_inputs):
    """The control for the cases above: the same checkpoint, undamaged, continues to step 2."""
    r, model = train_fast_resume(tmp_path, train_inputs, lambda t, m: None)
    assert r.exit_code == 0, r.output
    assert load_checkpoint(model, "fast")[1]["step"] == 2


def test_models_lists_the_rest_and_marks_a_malformed_file(tmp_path):
    folder = user_models_dir("fast")
    folder.mkdir(parents=True, exist_ok=True)
    bad, odd = folder / "zz_fuzz_header.safetensors", folder / "zz_fuzz_width.safetensors"
    try:
        raw_file(bad, [1, 2])
        fast_model(odd, {**ARCH, "width": "abc"})
        r = runner.invoke(app, ["models"])
        assert r.exit_code == 0 and "Traceback" not in r.output, r.output
        rows = r.output.splitlines()
        assert any("test_net" in row and "TransformerNet" in row for row in rows)
        assert any("vgg19" in row and "AdaINDecoder" in row for row in rows)
        assert [row for row in rows if "zz_fuzz_header" in row and "unreadable:" in row and "JSON array" in row]
        assert [row for row in rows if "zz_fuzz_width" in row and "unreadable:" in row and "width must be" in row]
    finally:
        bad.unlink(missing_ok=True)
        odd.unlink(missing_ok=True)


def test_stale_temporary_of_a_killed_run_is_removed(tmp_path, photo):
    out = tmp_path / "out.png"
    stale = tmp_path / ".out.png.999999.nst-tmp"
    stale.write_bytes(b"")
    assert stale_temporaries(out) == [stale]  # pid 999999 runs no process here
    r = runner.invoke(app, ["fast", str(photo), "-m", "test_net", "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert out.is_file() and not stale.exists() and not list(tmp_path.glob(".out.png.*"))
