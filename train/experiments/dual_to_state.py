"""Turn a DualLight experiment (adain_light_dual.py) into a light AdaIN training checkpoint with both sets of
skip branches, so `train/adain_light.sh --resume` (`--skips --style-skips`) continues it (issue #12).

    python train/experiments/dual_to_state.py DUAL.safetensors BASE_STATE.safetensors OUT.safetensors STEP [JSON]

BASE_STATE gives the metadata (teacher, data, training options); STEP is the step the new checkpoint
records (the base's step plus the experiment's); JSON, the options the experiment trained with, goes into the
metadata's training record. The experiment kept no optimiser state, so Adam restarts:
its moments are zero at Adam step 0 (what a fresh optimiser holds after its first step, minus that step).
"""
import json, sys
import torch
from safetensors.torch import load_file
from nst_toolkit.checkpoints import load_checkpoint, save_checkpoint
from nst_toolkit.nets import LightAdaIN

dual, base, out, step = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
exp = load_file(dual)
base_tensors, meta = load_checkpoint(base, "adain")
net = LightAdaIN(tuple(meta["architecture"]["widths"]), skips=True, style_skips=True)
state = {}
for k in net.state_dict():
    src = "sty." + k.removeprefix("decoder.style_skips.") if k.startswith("decoder.style_skips.") else "base." + k
    state[k] = exp[src] if src in exp else base_tensors["model." + k]  # the embedding: the experiment saved it too
missing = [k for k in net.state_dict() if ("sty." + k.removeprefix("decoder.style_skips.") if k.startswith("decoder.style_skips.") else "base." + k) not in exp]
assert not missing, missing
net.load_state_dict(state)
tensors = {f"model.{k}": v.contiguous() for k, v in net.state_dict().items()}
params = list(net.named_parameters())
for i, (_, p) in enumerate(params):
    tensors[f"optim.{i}.exp_avg"] = torch.zeros_like(p)
    tensors[f"optim.{i}.exp_avg_sq"] = torch.zeros_like(p)
    tensors[f"optim.{i}.step"] = torch.tensor(0.0)
meta["optimizer"]["param_groups"][0]["params"] = list(range(len(params)))
meta["optimizer"]["scalars"] = {}
meta["architecture"] = net.architecture()
meta["training"] = {**meta["training"], "skips": True, "style_skips": True,
                    **(json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}),
                    "grown_by": "train/experiments/adain_light_dual.py, dual_to_state.py (Adam restarted)"}
meta["step"] = step
save_checkpoint(out, tensors, meta)
print(f"{out}: step {step}, {len(params)} parameters, Adam restarted")
