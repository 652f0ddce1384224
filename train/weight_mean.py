"""A weighted mean of the weights of models with one architecture (a "model soup", Wortsman et al. 2022).

    python train/weight_mean.py OUT.safetensors W1 MODEL1 W2 MODEL2 [...]

Two light AdaIN models that share a training history (one leaning to the painting, one to the photo)
average into a model between them; the weights are relative (divided by their sum: 1 1 1 is an equal mean).
OUT keeps the first model's metadata and records each part (weight, sha256, step) under ``weight_mean``. Every
input is loaded through the toolkit's checks. A part may be a training checkpoint (its model's tensors count, its
optimiser state does not): equal weights over the checkpoints of a run's last steps average out the step-to-step
noise of its end point.
"""
import sys
from pathlib import Path

from nst_toolkit.checkpoints import load_checkpoint, save_checkpoint
from nst_toolkit.io import sha256_file
from nst_toolkit.training import model_part


def weight_mean(out: Path, parts: list[tuple[float, Path]]) -> Path:
    if any(w <= 0 for w, _ in parts):
        raise SystemExit("weights must be positive")
    total = sum(w for w, _ in parts)
    parts = [(w / total, path) for w, path in parts]
    acc, meta, record = None, None, []
    for w, path in parts:
        tensors, m = model_part(*load_checkpoint(path))
        if acc is None:
            acc, meta = {k: w * v.double() for k, v in tensors.items()}, m
            dtypes = {k: v.dtype for k, v in tensors.items()}
        elif tensors.keys() != acc.keys() or m.get("architecture") != meta.get("architecture"):
            raise SystemExit(f"{path}: another architecture than {parts[0][1]}")
        else:
            for k in acc:
                acc[k] += w * tensors[k].double()
        record.append({"weight": w, "file": path.name, "sha256": sha256_file(path), "step": m.get("step")})
    return save_checkpoint(out, {k: v.to(dtypes[k]).contiguous() for k, v in acc.items()},
                           {**meta, "weight_mean": record})


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 5 or len(args) % 2 == 0:
        raise SystemExit(__doc__)
    print(weight_mean(Path(args[0]), [(float(w), Path(p)) for w, p in zip(args[1::2], args[2::2])]))
