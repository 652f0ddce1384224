"""Grow a light AdaIN training checkpoint (issue #12): add the skip branches and/or residual blocks, so
`--resume --skips [--blocks N]` continues it.

    python train/experiments/add_skips.py IN.safetensors OUT.safetensors [BLOCKS]

New weights start as identities (skip convolutions zero, each block's last convolution zero): the model's
pictures are unchanged at every alpha until it trains. Their Adam moments start at zero with the step of
the others. Used in session 9 on the state after sitting 9 (train/state/adain_light.safetensors).
"""
import sys
import torch
from nst_toolkit.checkpoints import load_checkpoint, save_checkpoint
from nst_toolkit.nets import LightAdaIN

src, dst = sys.argv[1], sys.argv[2]
blocks = int(sys.argv[3]) if len(sys.argv) > 3 else 0
tensors, meta = load_checkpoint(src, "adain")
arch = meta["architecture"]
assert arch["arch"] == "LightAdaIN" and not arch.get("skips") and not arch.get("blocks")
net = LightAdaIN(tuple(arch["widths"]), skips=True, blocks=blocks)
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
