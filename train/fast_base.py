"""Train the base network of `nst train-fast`: one TransformerNet for many paintings.

Dumoulin, Shlens & Kudlur 2017: the convolutions are shared, each painting has its own instance-norm
scales and shifts. The base file is the shared network with the mean scales and shifts; from it,
`nst train-fast --style NEW` trains only those few numbers for a new painting.

    python train/fast_base.py --styles .data/style --exclude vangogh_gogh4,... --data .data/content \
        -o ~/.local/share/nst_toolkit/models/fast_base/bank.safetensors --steps 3800 --device cuda

train/fast_base_cpu.sh runs it with the settings of the bank `nst train-fast --base bank` names (which the package
does not carry). Resumable (--resume; the bank and optimiser live in OUT.run/checkpoint.safetensors). The base is
stored as float16, as every model file; the bank of per-painting scales and shifts is written beside it as
OUT.bank.safetensors.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def main() -> None:
    from safetensors.torch import save_file

    from nst_toolkit.checkpoints import save_checkpoint
    from nst_toolkit.data import CropSampler
    from nst_toolkit.engines.fast import FastTrainConfig
    from nst_toolkit.engines.fast.train import StyleBankTask
    from nst_toolkit.images import load_image
    from nst_toolkit.imagefiles import IMAGE_SUFFIXES
    from nst_toolkit.training import fit, half_precision, run_dir_for

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", required=True, help="folder of paintings")
    ap.add_argument("--exclude", default="", help="comma-separated painting names (file stems) to hold out")
    ap.add_argument("--data", required=True, help="folder of training photos")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--style-weight", type=float, default=10.0)
    ap.add_argument("--checkpoint-every", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args()

    dev = torch.device(a.device)
    excluded = {n for n in a.exclude.split(",") if n}
    files = sorted(p for p in Path(a.styles).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.stem not in excluded)
    cfg = FastTrainConfig(size=a.size, batch_size=a.batch_size, lr=a.lr, style_weight=a.style_weight, steps=a.steps,
                          checkpoint_every=a.checkpoint_every)
    sampler = CropSampler(a.data, cfg.size)
    task = StyleBankTask(cfg, [load_image(p, cfg.style_size) for p in files], [p.stem for p in files], sampler, dev)
    out = Path(a.out)
    ckpt = run_dir_for(out) / "checkpoint.safetensors"
    t0, last = time.perf_counter(), [0.0]

    def on_step(s) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"step {s.step}/{s.total} {s.images_per_s:.0f} img/s "
                  + " ".join(f"{k} {v:.3f}" for k, v in s.losses.items()), flush=True)

    step = fit(task, checkpoint=ckpt, steps=cfg.steps, lr=cfg.lr, batch_size=cfg.batch_size,
               checkpoint_every=cfg.checkpoint_every, resume=a.resume, on_step=on_step,
               max_seconds=a.minutes * 60 if a.minutes else None, max_grad_norm=cfg.max_grad_norm)
    meta = task.metadata(step)
    meta["wall_seconds_last_session"] = round(time.perf_counter() - t0, 1)
    meta["device"] = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    save_checkpoint(out, half_precision(task.base_tensors()), meta)  # float16, as every model file
    bank = {f"{task.names[i]}/{n}": b[i].detach().cpu().contiguous()
            for i in range(len(task.names)) for n, b in zip(task.model.names, task.model.bank)}
    save_file(bank, str(out.with_suffix(".bank.safetensors")))
    print(f"step {step}; base → {out}; {len(files)} paintings: {', '.join(task.names)}", flush=True)


if __name__ == "__main__":
    main()
