"""Grow a light AdaIN training checkpoint (issue #12): add reconstruction skip branches and/or residual
blocks in the decoder, so `--resume --skips [--style-skips] [--blocks N]` continues it.

    python train/experiments/add_skips.py IN.safetensors OUT.safetensors [BLOCKS]

The result has the reconstruction skips, the style skips if IN has them, and BLOCKS residual blocks
(default: IN's). New weights start as identities (skip convolutions zero, each block's last convolution
zero): the model's pictures are unchanged at every alpha until it trains. Their Adam moments start at zero
with the step of the others. Used in session 9 on the state after sitting 9 (skips) and in session 10 on
the state after sitting 13 (4 blocks).
"""
import sys
import torch
from nst_toolkit.checkpoints import load_checkpoint, save_checkpoint
from nst_toolkit.nets import LightAdaIN

src, dst = sys.argv[1], sys.argv[2]
tensors, meta = load_checkpoint(src, "adain")
arch = meta["architecture"]
blocks = int(sys.argv[3]) if len(sys.argv) > 3 else arch.get("blocks", 0)
assert arch["arch"] == "LightAdaIN" and blocks >= arch.get("blocks", 0)
net = LightAdaIN.from_architecture({**arch, "skips": True, "blocks": blocks})
names = [n for n, _ in net.named_parameters()]
old = [n for n in names if f"model.{n}" in tensors]
new = [n for n in names if n not in old]
assert names[: len(old)] == old and all(n.startswith(("decoder.skips.", "decoder.blocks.")) for n in new)  # new ones last
step = tensors["optim.0.step"]
params = dict(net.named_parameters())
for i, n in enumerate(new, start=len(old)):
    tensors[f"model.{n}"] = params[n].detach().clone()  # the constructor's: zero where that makes an identity
    tensors[f"optim.{i}.exp_avg"] = torch.zeros_like(params[n])
    tensors[f"optim.{i}.exp_avg_sq"] = torch.zeros_like(params[n])
    tensors[f"optim.{i}.step"] = step.clone()
groups = meta["optimizer"]["param_groups"]
assert len(groups) == 1 and groups[0]["params"] == list(range(len(old)))
groups[0]["params"] = list(range(len(names)))
meta["architecture"] = net.architecture()
meta["training"] = {**meta["training"], "skips": True, "blocks": blocks}
save_checkpoint(dst, tensors, meta)
print(f"{dst}: {len(new)} tensors added at step {meta['step']}")
