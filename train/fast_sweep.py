"""Choose the CPU recipe of `nst train-fast` (issue #11): adapt a base to paintings under several settings.

For each painting and each variant, trains from the base and saves the trained weights at given
steps (only the instance-norm scales and shifts for --train-params norm, the whole net otherwise, in
float16) into OUT/VARIANT.safetensors as "painting/step/name". scripts/ then rebuilds the models
and judges them on held-out photos. A step here costs the same arithmetic as on the CPU, so the
results say what the 20-minute CPU recipe gives.

    python train/fast_sweep.py --base B --styles DIR --paintings a,b --data DIR --out DIR --device cuda \
        --variant norm128:size=128,batch_size=4,lr=0.01,train_params=norm --save-at 200,400,700
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def main() -> None:
    from safetensors.torch import save_file

    from nst_toolkit.data import CropSampler
    from nst_toolkit.engines.fast import FastTask, FastTrainConfig, norm_parameter_names
    from nst_toolkit.images import load_image
    from nst_toolkit.training import train_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--styles", required=True)
    ap.add_argument("--paintings", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variant", action="append", required=True, help="NAME:field=value,...")
    ap.add_argument("--save-at", default="200,400,700")
    a = ap.parse_args()
    dev = torch.device(a.device)
    save_at = sorted(int(x) for x in a.save_at.split(","))
    Path(a.out).mkdir(parents=True, exist_ok=True)
    samplers: dict[tuple[int, int], CropSampler] = {}
    vgg = None
    for spec in a.variant:
        name, _, kv = spec.partition(":")
        values = {k: _parse(v) for k, v in (p.split("=") for p in kv.split(",") if p)}
        cfg = FastTrainConfig(base=a.base, steps=save_at[-1], **values)
        key = (cfg.size, cfg.photo_size)
        if key not in samplers:
            samplers[key] = CropSampler(a.data, cfg.size, short_side=cfg.photo_size)
        saved = {}
        for painting in a.paintings.split(","):
            path = next(Path(a.styles).glob(f"{painting}.*"))
            task = FastTask(cfg, load_image(path, cfg.style_size), samplers[key], dev, style_name=painting, vgg=vgg)
            vgg = task.vgg  # one loss network for every run (same layers)
            keep = set(norm_parameter_names(task.model)) if cfg.train_params == "norm" else None
            t0 = time.perf_counter()

            def on_step(s, task=task, painting=painting, keep=keep):
                if s.step in save_at:
                    for n, p in task.model.named_parameters():
                        if keep is None or n in keep:
                            saved[f"{painting}/{s.step}/{n}"] = p.detach().to("cpu", torch.float16 if keep is None else torch.float32).clone()
                    print(f"{name} {painting} step {s.step} losses "
                          + " ".join(f"{k} {v:.3f}" for k, v in s.losses.items()), flush=True)

            train_model(task.model, task.loss_fn, steps=cfg.steps, lr=cfg.lr, batch_size=cfg.batch_size,
                        on_step=on_step, max_grad_norm=cfg.max_grad_norm)
            print(f"{name} {painting}: {time.perf_counter() - t0:.1f} s", flush=True)
        save_file(saved, str(Path(a.out) / f"{name}.safetensors"), metadata={"variant": spec, "base": a.base})


def _parse(v: str):
    for t in (int, float):
        try:
            return t(v)
        except ValueError:
            pass
    return v


if __name__ == "__main__":
    main()
