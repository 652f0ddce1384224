"""Export trained models: a fast-transfer model to ONNX or TorchScript, a light AdaIN model to its ONNX twin
(:mod:`.engines.adain.onnx`), each with the pad-and-crop wrapper built in."""

from __future__ import annotations

import contextlib
import importlib
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .engines.adain import MULTIPLE
from .engines.fast.engine import load_fast_model, resolve_model
from .errors import NSTError
from .imagefiles import check_writable_dir, load_array
from .io import atomic_write, check_target
from .nets import RowSplitConv2d, StyledAdaINDecoder, TransformerNet
from .resources import builtin_photos, sample_style
from .tiling import pad_to_multiple
from .twins import SOURCE_KEY


def require_onnx() -> None:
    """torch's exporter writes every graph through the onnx package: without it, one line, before any work."""
    try:
        importlib.import_module("onnx")
    except ImportError:
        raise NSTError("exporting to ONNX needs the onnx package: pip install onnx") from None


@contextlib.contextmanager
def quiet_tracer():
    """Silence the tracer's notes that are not the user's business: it cannot fold the crop's slices (they
    depend on the input size, as meant), and torch calls its TorchScript exporter legacy (it is the one
    that writes dynamic sizes for these nets in one call)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


class PaddedTransformer(nn.Module):
    """A fast model that accepts any H×W (reflect-pads to the multiple its strides need, crops back, clamps)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.multiple = int(getattr(net, "MULTIPLE", TransformerNet.MULTIPLE))

    def forward(self, x: Tensor) -> Tensor:
        # Same as engines.fast.stylize_padded, without the callable argument TorchScript cannot compile.
        h, w = x.shape[-2], x.shape[-1]
        return self.net(pad_to_multiple(x, self.multiple))[:, :, :h, :w].clamp(0, 1)


def export_transformer(model: str, output: str | Path, size: int = 512) -> Path:
    """Write ``output`` as ONNX (.onnx, dynamic N/H/W) or TorchScript (.pt / .ts)."""
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in (".onnx", ".pt", ".ts"):
        raise NSTError(f"{output}: export format must be .onnx or .pt (TorchScript)")
    if suffix == ".onnx":
        require_onnx()
    check_target(output)
    check_writable_dir(output.parent)
    net, _ = load_fast_model(resolve_model(model))
    if isinstance(net, StyledAdaINDecoder):
        raise NSTError(f"{model} decodes VGG-19 features (the default train-fast recipe); export-fast writes "
                       "self-contained networks only (TransformerNet or a --base light model)")
    for m in net.modules():
        if isinstance(m, RowSplitConv2d):
            m.row_split = False  # a CPU speed-up for PyTorch's oneDNN kernels; runtimes have their own
    wrapped = PaddedTransformer(net).eval()
    example = torch.rand(1, 3, size, size + 2)
    if suffix == ".onnx":
        def write(tmp: Path) -> None:
            with torch.no_grad(), quiet_tracer():
                torch.onnx.export(
                    wrapped, (example,), str(tmp), input_names=["image"], output_names=["stylized"],
                    dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                  "stylized": {0: "batch", 2: "height", 3: "width"}},
                    opset_version=17, dynamo=False,
                )
    else:
        def write(tmp: Path) -> None:
            with torch.no_grad():
                scripted = torch.jit.script(wrapped)
            scripted.save(str(tmp))
    return atomic_write(output, write)


class AdaINStyleTwin(nn.Module):
    """A style image → its code: the (mean, std) pairs of :meth:`LightAdaIN.style_stats`, flattened into one
    1×K row (per level: the means, then the stds)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, style: Tensor) -> Tensor:
        return torch.cat([t.flatten(1) for pair in self.model.style_stats(style) for t in pair], dim=1)


class AdaINTwin(nn.Module):
    """The light AdaIN model's pass on (content, style code, alpha), as ``AdaINEngine`` computes it: the
    style is encoded once (:class:`AdaINStyleTwin`), however many photos follow."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        widths = model.widths if model.has_style_skips else model.widths[-1:]
        self.split = [w for c in widths for w in (c, c)]

    def forward(self, content: Tensor, code: Tensor, alpha: Tensor) -> Tensor:
        h, w = content.shape[-2], content.shape[-1]
        parts = [t.view(1, -1, 1, 1) for t in code.split(self.split, dim=1)]
        stats = list(zip(parts[0::2], parts[1::2]))
        return self.model.transfer(pad_to_multiple(content, MULTIPLE), stats, alpha)[:, :, :h, :w].clamp(0, 1)


def export_adain(model: str, output: str | Path | None = None) -> Path:
    """Write a light AdaIN model's ONNX twin (default: beside the model file, where `nst adain` finds it): the
    pass from a style code (``X.onnx``) and the style encoder that makes the code (``X.style.onnx``)."""
    require_onnx()

    from .engines.adain.engine import load_adain, resolve_decoder
    from .engines.adain.onnx import FIXED_INPUTS, INPUTS, STYLE_INPUTS, int8_twin_path, style_twin_path, twin_path
    from .io import sha256_file
    from .nets import LightAdaIN

    source = resolve_decoder(model)
    output = Path(output) if output is not None else twin_path(source)
    if output.suffix.lower() != ".onnx":
        raise NSTError(f"{output}: the twin of an AdaIN model is an .onnx file")
    check_writable_dir(output.parent)
    net, _ = load_adain(source)
    if not isinstance(net, LightAdaIN):
        raise NSTError(f"{source}: only light AdaIN models have an ONNX twin (the VGG-19 model gains nothing from one)")
    net.eval()
    props = {SOURCE_KEY: sha256_file(source), "nst_engine": "adain"}
    style_twin = AdaINStyleTwin(net)
    style_example = torch.rand(1, 3, 48, 40)
    with torch.no_grad():
        code = style_twin(style_example)

    def graph(module: nn.Module, example: tuple, names: tuple[str, ...], outputs: list[str], axes: dict,
              half: bool = True):
        return lambda tmp: write_twin(tmp, module, example, names, outputs, axes, props, half)

    # The style encoder first, the 8-bit pass next: the float pass's file is what `nst adain` looks for first.
    atomic_write(style_twin_path(output), graph(style_twin, (style_example,), STYLE_INPUTS, ["style_code"],
                                                {"style": {2: "style_height", 3: "style_width"}}))
    sizes = {"content": {2: "height", 3: "width"}, "stylized": {2: "height", 3: "width"}}
    content_example = torch.rand(1, 3, 64, 72)

    def int8(tmp: Path) -> None:
        graph(AdaINTwinAtFullStyle(net).eval(), (content_example, code), FIXED_INPUTS, ["stylized"], sizes,
              half=False)(tmp)  # float32 for the quantiser; its float last convolution is stored as float16 after
        import onnxruntime as ort

        encoder = ort.InferenceSession(str(style_twin_path(output)), providers=["CPUExecutionProvider"])
        photos = calibration_photos()
        styles = [sample_style(), *photos[1:]]
        quantize_pass(tmp, [{"content": load_array(p, 512),
                             "style_code": encoder.run(None, {"style": load_array(s, 512)})[0]}
                            for p, s in zip(photos, styles)], props)

    atomic_write(int8_twin_path(output), int8)
    return atomic_write(output, graph(AdaINTwin(net).eval(), (content_example, code, torch.tensor(1.0)), INPUTS,
                                      ["stylized"], sizes))


class AdaINTwinAtFullStyle(nn.Module):
    """:class:`AdaINTwin` at alpha 1 (`nst adain`'s default): no alpha input, and the content skip branches,
    which alpha 1 gates off, left out of the graph."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.twin = AdaINTwin(model)

    def forward(self, content: Tensor, code: Tensor) -> Tensor:
        return self.twin(content, code, 1.0)


HALF_MIN_VALUES = 16  # float32 initializers with fewer values (eps, resize factors, a 3-value bias) stay float32


def store_half(proto: Any) -> int:
    """Store each float32 initializer of ``proto``'s graph with :data:`HALF_MIN_VALUES` values or more (the
    weights and biases) as float16, followed by a Cast back to float32: the file halves, and onnxruntime folds
    the Casts when it opens the session, so the pass computes in float32 at the same speed. The model files
    hold float16 weights already (:func:`~nst_toolkit.training.half_precision`), so for them nothing is
    rounded but what the exporter computed from the weights. Left as they are: the quantisation scales (the
    inputs of QuantizeLinear / DequantizeLinear, which onnxruntime's 8-bit kernels read as constants), graph
    inputs, and values beyond float16's range. Returns the number of initializers stored as float16."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    fixed = {i.name for i in graph.input}
    fixed |= {name for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") for name in n.input}
    taken = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output}
    kept, casts = [], []
    for init in graph.initializer:
        values = numpy_helper.to_array(init) if init.data_type == TensorProto.FLOAT else None
        if (values is None or init.name in fixed or values.size < HALF_MIN_VALUES
                or not np.all(np.abs(values) <= np.finfo(np.float16).max)):
            kept.append(init)
            continue
        name = f"{init.name}.float16"
        while name in taken:
            name += "_"
        taken.add(name)
        kept.append(numpy_helper.from_array(values.astype(np.float16), name))
        casts.append(helper.make_node("Cast", [name], [init.name], to=TensorProto.FLOAT, name=f"{name}.cast"))
    nodes = [*casts, *graph.node]  # each Cast ahead of every node that reads its output: the order stays topological
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(kept)
    graph.node.extend(nodes)
    return len(casts)


def stamp(path: Path, props: dict[str, str], half: bool = True) -> None:
    """Record ``props`` (the source model's sha256, the engine) in the ONNX file's metadata and, with ``half``,
    store its float weights as float16 (:func:`store_half`)."""
    import onnx

    proto = onnx.load(str(path))
    if half:
        store_half(proto)
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(path))


def write_twin(path: Path, module: nn.Module, example: tuple, inputs: tuple[str, ...], outputs: list[str],
               axes: dict, props: dict[str, str], half: bool = True) -> None:
    """Export ``module`` (opset 17, dynamic ``axes``) to ``path`` and stamp it with ``props``; ``half``: its float
    weights stored as float16 (False for a graph that is quantised next: the quantiser reads float32 weights)."""
    with torch.no_grad(), quiet_tracer():
        torch.onnx.export(module, example, str(path), input_names=list(inputs), output_names=outputs,
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    stamp(path, props, half)


CALIBRATION_PHOTOS = 8  # built-in photos (content, and as styles beside the sample painting) that set the int8 ranges


def calibration_photos() -> list[Path]:
    from .imagefiles import IMAGE_SUFFIXES

    return sorted(p for p in builtin_photos().iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:CALIBRATION_PHOTOS]


def quantize_pass(path: Path, feeds: list[dict], props: dict[str, str]) -> None:
    """Rewrite the float ONNX graph at ``path`` with 8-bit convolutions (onnxruntime's static QDQ quantisation:
    per-channel int8 weights, uint8 activations whose ranges come from running the graph on ``feeds``); the
    float weights left (the last convolution's) are stored as float16 when it is stamped."""
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    feeds = list(feeds)

    class Photos(CalibrationDataReader):
        def get_next(self) -> dict | None:
            return feeds.pop() if feeds else None

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(path), str(pre), skip_symbolic_shape=True)
        # The last convolution writes the picture: 8 bits there would band smooth skies into steps of its range
        # / 255 (about 1/75 here), so it stays float.
        last = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Conv"][-1:]
        quantize_static(str(pre), str(path), Photos(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["Conv"],
                        nodes_to_exclude=last)
    stamp(path, props)


def export_fast_twin(model: str) -> list[Path]:
    """Write a fast model's ONNX twin beside its file, where `nst fast` finds it: for a model grown from the light
    AdaIN model ``X.int8.onnx`` (the pass with the style built in, 8-bit convolutions), for a TransformerNet
    ``X.onnx`` (float). The twin records the sha256 of the model file."""
    require_onnx()
    from .engines.fast.onnx import INPUTS, twin_paths
    from .io import sha256_file
    from .nets import AdaINStyleNet

    source = resolve_model(model)
    net, _ = load_fast_model(source)
    if isinstance(net, StyledAdaINDecoder):
        raise NSTError(f"{model} decodes VGG-19 features; only self-contained networks (TransformerNet or a light "
                       "model) have an ONNX twin")
    for m in net.modules():
        if isinstance(m, RowSplitConv2d):
            m.row_split = False
    wrapped = PaddedTransformer(net).eval()
    props = {SOURCE_KEY: sha256_file(source), "nst_engine": "fast"}
    sizes = {"image": {2: "height", 3: "width"}, "stylized": {2: "height", 3: "width"}}
    int8_path, float_path = twin_paths(source)

    def write_float(tmp: Path, half: bool = True) -> None:
        write_twin(tmp, wrapped, (torch.rand(1, 3, 64, 72),), INPUTS, ["stylized"], sizes, props, half)

    if isinstance(net, AdaINStyleNet):
        def write_int8(tmp: Path) -> None:
            write_float(tmp, half=False)  # the quantiser reads float32 weights
            quantize_pass(tmp, [{"image": load_array(p, 512)} for p in calibration_photos()], props)

        float_path.unlink(missing_ok=True)  # the 8-bit twin serves every call; an older float one is stale
        return [atomic_write(int8_path, write_int8)]
    int8_path.unlink(missing_ok=True)  # an older twin of another network must not be taken for this one's
    return [atomic_write(float_path, write_float)]
