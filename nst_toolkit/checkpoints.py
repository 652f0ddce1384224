"""Checkpoints as safetensors with metadata. A file a user hands us is never unpickled."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from . import __version__
from .errors import NSTError, WeightsError
from .io import atomic_write

META_KEY = "nst"  # the whole metadata as JSON under one key; safetensors metadata is str → str


def save_checkpoint(path: str | Path, tensors: Mapping[str, Tensor], metadata: Mapping[str, Any]) -> Path:
    """Write ``tensors`` and ``metadata`` (JSON-able, must name ``engine``) atomically."""
    from safetensors.torch import save_file

    if "engine" not in metadata:
        raise ValueError("checkpoint metadata must name the engine")
    meta = {"toolkit_version": __version__, **metadata}
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    header = {META_KEY: json.dumps(meta, sort_keys=True), "engine": str(meta["engine"])}
    return atomic_write(path, lambda tmp: save_file(flat, str(tmp), metadata=header))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint, read from the safetensors header alone (no tensors loaded)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint")
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path}: not a safetensors checkpoint (too short)")
        (n,) = struct.unpack("<Q", head)
        if n <= 1 or n > 100_000_000:
            raise WeightsError(f"{path}: not a safetensors checkpoint (pickled .pth files are refused)")
        try:
            header = json.loads(f.read(n))
            meta = json.loads(header.get("__metadata__", {}).get(META_KEY, "null"))
        except (ValueError, UnicodeDecodeError):
            raise WeightsError(f"{path}: not a safetensors checkpoint (pickled .pth files are refused)") from None
    if not isinstance(meta, dict):
        raise WeightsError(f"{path}: safetensors file without nst metadata; not a checkpoint of this toolkit")
    return meta


def load_checkpoint(path: str | Path, engine: str | None = None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Return (tensors, metadata); refuses files of another engine with a clear message."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    if engine is not None and meta.get("engine") != engine:
        raise WeightsError(f"{path} is a '{meta.get('engine')}' checkpoint, not a '{engine}' one")
    try:
        tensors = load_file(str(path))
    except Exception as e:
        raise WeightsError(f"{path}: corrupt checkpoint ({type(e).__name__})") from None
    return tensors, meta


def load_into(module: nn.Module, tensors: Mapping[str, Tensor], path: str | Path, prefix: str = "model.") -> None:
    """Strictly load the ``prefix``-ed tensors into ``module``; a mismatch is one clear line."""
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"{path} does not fit this architecture: {len(missing)} missing and {len(unexpected)} unexpected tensors"
            + (f" (first missing: {missing[0]})" if missing else "")
        )
    for k, v in state.items():
        if expected[k].shape != v.shape:
            raise WeightsError(f"{path}: tensor {k} has shape {tuple(v.shape)}, the network expects {tuple(expected[k].shape)}")
    module.load_state_dict(state, strict=True)


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimiser's state into tensors (for safetensors) and JSON-able rest."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"optim.{pid}.{k}"] = v
            else:
                scalars.setdefault(str(pid), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: Mapping[str, Tensor], info: Mapping[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for pid, rest in info.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(rest)
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def user_models_dir(engine: str) -> Path:
    """Where `nst train-*` saves by default and `--model NAME` also looks: $NST_HOME/models/ENGINE,
    else $XDG_DATA_HOME (or ~/.local/share)/nst_toolkit/models/ENGINE."""
    base = os.environ.get("NST_HOME") or str(
        Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "nst_toolkit"
    )
    return Path(base) / "models" / engine


def model_dirs(engine: str) -> tuple[Path, Path]:
    """Shipped models first, then the user's."""
    from .resources import shipped_models_dir

    return shipped_models_dir() / engine, user_models_dir(engine)


def model_files(engine: str) -> list[tuple[str, Path]]:
    """Every model file of ``engine`` as ("shipped" | "local", path): shipped first, each folder by name."""
    return [(where, p) for where, folder in zip(("shipped", "local"), model_dirs(engine)) if folder.is_dir()
            for p in sorted(folder.glob("*.safetensors"))]


def resolve_model_file(name_or_path: str, dirs: Sequence[Path], what: str) -> Path:
    """A file path, or a model NAME looked up as NAME.safetensors in ``dirs`` (in order)."""
    p = Path(name_or_path)
    if p.suffix == ".safetensors" or "/" in name_or_path or p.exists():
        if not p.is_file():
            raise WeightsError(f"{p}: no such {what} file")
        return p
    for d in dirs:
        cand = d / f"{name_or_path}.safetensors"
        if cand.is_file():
            return cand
    names = sorted({q.stem for d in dirs if d.is_dir() for q in d.glob("*.safetensors")})
    raise WeightsError(f"no {what} named '{name_or_path}' (available: {', '.join(names) or 'none'})")


def load_model(path: str | Path, engine: str, arch: str, build: Callable[[dict[str, Any]], nn.Module]
               ) -> tuple[nn.Module, dict[str, Any]]:
    """Load an ``engine`` checkpoint whose architecture is ``arch``; ``build(architecture)`` makes the net."""
    tensors, meta = load_checkpoint(path, engine)
    spec = meta.get("architecture") or {}
    if spec.get("arch") != arch:
        raise WeightsError(f"{path}: unknown architecture {spec.get('arch')!r}, expected {arch}")
    net = build(spec)
    load_into(net, tensors, path)
    return net.eval(), meta


def describe_models() -> list[str]:
    """One line per model file of every registered engine that uses trained models (`nst models`).

    A file that cannot be read is listed with its one-line reason instead of stopping the listing.
    """
    from .engines import registry

    rows = []
    for spec in registry.specs():
        if spec.model_kind is None:
            continue
        for where, p in model_files(spec.model_kind):
            try:
                m = read_metadata(p)
            except NSTError as e:
                rows.append(f"{spec.name:6} {where:8} {p.stem:28} unreadable: {e}")
                continue
            arch = m.get("architecture") if isinstance(m.get("architecture"), dict) else {}
            tr = m.get("training") if isinstance(m.get("training"), dict) else {}
            how = "  distilled" if m.get("distilled_from") else ""
            width = f"(w={arch['width']})" if "width" in arch else ""
            rows.append(
                f"{spec.name:6} {where:8} {p.stem:28} step {str(m.get('step', '?')):>6}  {arch.get('arch', '?')}{width}  "
                f"size {tr.get('size', '?')}{how}  style {m.get('style_name', '-') or '-'}  v{m.get('toolkit_version', '?')}  {p}"
            )
    return rows
