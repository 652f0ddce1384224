"""Export a fast-transfer model to ONNX or TorchScript, with the pad-and-crop wrapper built in."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from .engines.fast import load_transformer, resolve_model
from .errors import NSTError
from .images import check_writable_dir
from .io import atomic_write, pad_to_multiple
from .nets import RowSplitConv2d, TransformerNet


class PaddedTransformer(nn.Module):
    """TransformerNet that accepts any H×W (reflect-pads to a multiple of 4, crops back, clamps)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.multiple = TransformerNet.MULTIPLE

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
    check_writable_dir(output.parent)
    net, _ = load_transformer(resolve_model(model))
    for m in net.modules():
        if isinstance(m, RowSplitConv2d):
            m.row_split = False  # a CPU speed-up for PyTorch's oneDNN kernels; runtimes have their own
    wrapped = PaddedTransformer(net).eval()
    example = torch.rand(1, 3, size, size + 2)
    if suffix == ".onnx":
        def write(tmp: Path) -> None:
            with torch.no_grad():
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
