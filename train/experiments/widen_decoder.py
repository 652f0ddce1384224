"""Widen a light AdaIN training checkpoint's decoder (issue #12, session 11) — and, given encoder widths,
its encoder (session 13) — so `--resume --decoder-widths W1,...,W6 [--widths C1,C2,C3,C4]` continues it with
more channels.

    python train/experiments/widen_decoder.py IN.safetensors OUT.safetensors W1,W2,W3,W4,W5,W6 [C1,C2,C3,C4]

Function-preserving growth: every old weight keeps its value; a widened convolution's new output channels
get the constructor's random weights (so they compute something from the start), and every weight *from*
a new channel into an old one is zero, as are the new rows of the skip branches' 1x1 convolutions — the
pictures are unchanged at every alpha until it trains, and the zero weights get gradients at once (the
new channels are not zero). Adam moments of the new entries start at zero with the step of the others.
"""
import sys
import torch
from nst_toolkit.checkpoints import load_checkpoint, save_checkpoint
from nst_toolkit.nets import LightAdaIN

src, dst, spec = sys.argv[1], sys.argv[2], sys.argv[3]
enc_spec = sys.argv[4] if len(sys.argv) > 4 else None
tensors, meta = load_checkpoint(src, "adain")
arch = meta["architecture"]
assert arch["arch"] == "LightAdaIN"
old = LightAdaIN.from_architecture(arch)
wide = tuple(int(w) for w in spec.split(","))
assert len(wide) == 6 and all(w >= o for w, o in zip(wide, old.decoder_widths)), (wide, old.decoder_widths)
enc = tuple(int(w) for w in enc_spec.split(",")) if enc_spec else old.widths
assert len(enc) == 4 and all(w >= o for w, o in zip(enc, old.widths)), (enc, old.widths)
torch.manual_seed(0)
net = LightAdaIN.from_architecture({**arch, "widths": list(enc), "decoder_widths": list(wide)})
names = [n for n, _ in net.named_parameters()]
assert names == [n for n, _ in old.named_parameters()]


def padded(t: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """``fill`` (the new shape) with ``t`` in its leading corner."""
    out = fill.detach().clone()
    out[tuple(slice(0, s) for s in t.shape)] = t
    return out


grown = 0
for i, (n, p) in enumerate(net.named_parameters()):
    t = tensors[f"model.{n}"]
    if t.shape == p.shape:
        continue
    grown += 1
    fill = p.detach().clone()
    if p.dim() == 4:  # from new input channels into old output channels: zero
        fill[: t.shape[0], t.shape[1]:] = 0
    if ".skips." in n or ".style_skips." in n:  # the skip branches start at zero in every channel
        fill.zero_()
    tensors[f"model.{n}"] = padded(t, fill)
    for k in ("exp_avg", "exp_avg_sq"):
        tensors[f"optim.{i}.{k}"] = padded(tensors[f"optim.{i}.{k}"], torch.zeros_like(p))
meta["architecture"] = net.architecture()
meta["training"] = {**meta["training"], "widths": list(enc), "decoder_widths": list(wide)}
save_checkpoint(dst, tensors, meta)
print(f"{dst}: {grown} tensors widened at step {meta['step']}, decoder widths {old.decoder_widths} -> {wide}, "
      f"encoder widths {old.widths} -> {enc}")
