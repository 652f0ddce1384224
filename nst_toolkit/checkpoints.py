"""Checkpoints as safetensors with metadata. A file a user hands us is never unpickled.

Finding model files and reading their headers needs no torch (the torch-free `nst adain` path uses
them); torch is imported by the functions that load or save tensors.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from . import __version__
from .errors import WeightsError
from .io import atomic_write, file_problem

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

META_KEY = "nst"  # the whole metadata as JSON under one key; safetensors metadata is str → str


def save_checkpoint(path: str | Path, tensors: Mapping[str, Tensor], metadata: Mapping[str, Any]) -> Path:
    """Write ``tensors`` and ``metadata`` (JSON-able, must name ``engine``) atomically: serialised in memory,
    then written with every byte counted (:func:`~nst_toolkit.io.atomic_write`)."""
    from safetensors.torch import save

    if "engine" not in metadata:
        raise ValueError("checkpoint metadata must name the engine")
    meta = {"toolkit_version": __version__, **metadata}
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    header = {META_KEY: json.dumps(meta, sort_keys=True), "engine": str(meta["engine"])}
    return atomic_write(path, save(flat, metadata=header))


# What a checkpoint may declare, checked before anything is built or allocated.
FLOAT_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}  # safetensors dtype → bytes per element
MAX_HEADER = 100_000_000  # bytes of JSON header
MAX_TENSORS = 10_000  # entries of a header (the largest shipped training checkpoint holds a few hundred)
MAX_WEIGHT = 1e4  # |w| beyond this is an exploded network (shipped models stay below 2)


def _int_in(lo: int, hi: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: type(v) is int and lo <= v <= hi), f"an integer in {lo}..{hi}"


def _number_in(lo: float, hi: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: type(v) in (int, float) and lo < v <= hi), f"a number in ({lo:g}, {hi:g}]"  # NaN compares False


def _ints_in(n: int, lo: int, hi: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, list) and len(v) == n and all(type(x) is int and lo <= x <= hi for x in v),
            f"{n} integers in {lo}..{hi}")


# Known architectures: each field's check and what it must be. Bounds keep any net built from a
# file at a sane size (TransformerNet width 256 with 32 blocks is already ~0.6 G parameters).
ARCHITECTURES: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "TransformerNet": {"width": _int_in(1, 256), "n_res": _int_in(0, 32)},
    "AdaINDecoder": {"feature_scale": _number_in(0.0, 1e3)},
    "LightAdaIN": {"widths": _ints_in(4, 1, 1024)},
    "AdaINStyleNet": {"widths": _ints_in(4, 1, 1024)},
    "StyledAdaINDecoder": {"feature_scale": _number_in(0.0, 1e3)},
}
_BOOL = ((lambda v: type(v) is bool), "true or false")
# Fields an architecture may leave out (older files have none of them).
OPTIONAL_FIELDS: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "LightAdaIN": {"skips": _BOOL, "style_skips": _BOOL, "blocks": _int_in(0, 16), "decoder_widths": _ints_in(6, 1, 1024)},
    "AdaINStyleNet": {"style_skips": _BOOL, "blocks": _int_in(0, 16), "decoder_widths": _ints_in(6, 1, 1024)},
}


# Metadata fields the toolkit reads back, and the JSON type each must have where present.
META_TYPES: dict[str, type] = {"engine": str, "step": int, "architecture": dict, "encoder": dict, "optimizer": dict,
                               "style_name": str, "style_sha256": str}


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: a hostile file must not flood the error line."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 1] + "…"


def _check_entry(path: Path, name: str, entry: Any, data_len: int) -> None:
    """One tensor entry of a safetensors header: a float dtype, a shape, offsets inside the file that fit both."""
    def bad(why: str) -> WeightsError:
        return WeightsError(f"{path}: tensor {_short(name)} {why}")

    if not isinstance(entry, dict):
        raise bad("has no dtype/shape/data_offsets entry")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in FLOAT_DTYPES:
        raise bad(f"has dtype {_short(dtype)}; checkpoints hold float tensors ({', '.join(FLOAT_DTYPES)})")
    if not (isinstance(shape, list) and len(shape) <= 8 and all(type(d) is int and d >= 0 for d in shape)):
        raise bad(f"has a malformed shape {_short(shape)}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_len):
        raise bad(f"lies outside the file's {data_len} data bytes (truncated file or malformed data_offsets)")
    if offsets[1] - offsets[0] != math.prod(shape) * FLOAT_DTYPES[dtype]:
        raise bad(f"declares shape {_short(shape)} but holds {offsets[1] - offsets[0]} bytes")


def _bounded_objects(path: Path) -> Callable[[list], dict]:
    """A JSON ``object_pairs_hook`` that stops the parse at once when the header holds more objects than
    :data:`MAX_TENSORS` entries can (each tensor entry is one object, plus the header and its metadata)."""
    count = 0

    def hook(pairs: list) -> dict:
        nonlocal count
        count += 1
        if count > MAX_TENSORS + 2:
            raise WeightsError(f"{path}: its header declares more than {MAX_TENSORS} tensors; not a model of this toolkit")
        return dict(pairs)

    return hook


def _read_header(path: str | Path) -> tuple[dict[str, dict], dict[str, Any]]:
    """(tensor entries, nst metadata) of a checkpoint from its header alone, every field checked."""
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise WeightsError(f"{path}: {'no such checkpoint' if problem == 'no such file' else problem}")
    not_ours = f"{path}: not a safetensors checkpoint (pickled .pth files are refused)"
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path}: not a safetensors checkpoint (too short)")
        (n,) = struct.unpack("<Q", head)
        if n <= 1 or n > MAX_HEADER:
            raise WeightsError(not_ours)
        if n > size - 8:
            raise WeightsError(f"{path}: truncated file (its header alone needs {n} bytes, the file has {size})")
        try:
            header = json.loads(f.read(n), object_pairs_hook=_bounded_objects(path))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise WeightsError(not_ours) from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: safetensors header is a JSON {_json_kind(header)}, not an object")
    if len(header) > MAX_TENSORS + 1:
        raise WeightsError(f"{path}: its header declares {len(header) - 1} tensors, more than {MAX_TENSORS}")
    raw = header.pop("__metadata__", {})
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise WeightsError(f"{path}: safetensors __metadata__ must map names to strings")
    for name, entry in header.items():
        _check_entry(path, name, entry, size - 8 - n)
    if META_KEY not in raw:
        raise WeightsError(f"{path}: safetensors file without nst metadata; not a checkpoint of this toolkit")
    try:
        meta = json.loads(raw[META_KEY])
    except (ValueError, RecursionError):
        raise WeightsError(f"{path}: its nst metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise WeightsError(f"{path}: its nst metadata is a JSON {_json_kind(meta)}, not an object")
    for key, kind in META_TYPES.items():
        if key in meta and type(meta[key]) is not kind:
            raise WeightsError(f"{path}: metadata {key} must be a JSON {_json_kind(kind())}, not {_short(meta[key])}")
    if meta.get("step", 0) < 0:
        raise WeightsError(f"{path}: metadata step is negative")
    if not isinstance(meta.get("encoder", {}).get("weights", ""), str):
        raise WeightsError(f"{path}: metadata encoder.weights is not a string")
    return header, meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint, read from the safetensors header alone (no tensors loaded).

    The whole header is checked first (see :func:`_read_header`); any flaw is a WeightsError naming the file.
    """
    return _read_header(path)[1]


def check_architecture(meta: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """The metadata's ``architecture``, checked against :data:`ARCHITECTURES` (fields, types, ranges)."""
    spec = meta.get("architecture")
    name = spec.get("arch") if isinstance(spec, dict) else None
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise WeightsError(f"{path}: unknown architecture {_short(name)} (known: {', '.join(ARCHITECTURES)})")
    fields, optional = ARCHITECTURES[name], OPTIONAL_FIELDS.get(name, {})
    unknown = sorted(set(spec) - set(fields) - set(optional) - {"arch"})
    if unknown:
        raise WeightsError(f"{path}: architecture {name} has unknown field {_short(unknown[0])}")
    for key, (ok, what) in {**fields, **optional}.items():
        if key not in spec:
            if key in optional:
                continue
            raise WeightsError(f"{path}: architecture {name} lacks its {key}")
        if not ok(spec[key]):
            raise WeightsError(f"{path}: architecture {name}: {key} must be {what}, not {_short(spec[key])}")
    return dict(spec)


def _check_engine(path: str | Path, meta: Mapping[str, Any], engine: str | None) -> None:
    if engine is not None and meta.get("engine") != engine:
        raise WeightsError(f"{path} is a {_short(meta.get('engine'))} checkpoint, not a '{engine}' one")


def _check_layout(path: str | Path, shapes: Mapping[str, Sequence[int]], expected: Mapping[str, Tensor]) -> None:
    """Exactly the tensor names of ``expected``, each with its shape."""
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"{path} does not fit this architecture: {len(missing)} missing and {len(unexpected)} unexpected tensors"
            + (f" (first missing: {missing[0]})" if missing else f" (first unexpected: {_short(unexpected[0])})")
        )
    for k, shape in shapes.items():
        if tuple(expected[k].shape) != tuple(shape):
            raise WeightsError(f"{path}: tensor {k} has shape {tuple(shape)}, the network expects {tuple(expected[k].shape)}")


def _check_values(path: str | Path, tensors: Mapping[str, Tensor], bound: float | None = None) -> None:
    """Finite values, and when ``bound`` is given none beyond ±bound."""
    import torch

    for k, v in tensors.items():
        if not bool(torch.isfinite(v).all()):
            raise WeightsError(f"{path}: tensor {k} holds NaN or infinite values")
        if bound is not None and v.numel() and float(v.abs().max()) > bound:
            raise WeightsError(f"{path}: tensor {k} holds values up to {float(v.abs().max()):.3g}, "
                               f"beyond ±{bound:g} (exploded weights)")


def load_checkpoint(path: str | Path, engine: str | None = None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Return (tensors, metadata); refuses files of another engine, malformed headers and non-finite tensors."""
    from safetensors.torch import load_file

    _, meta = _read_header(path)
    _check_engine(path, meta, engine)
    try:
        tensors = load_file(str(path))
    except Exception as e:
        raise WeightsError(f"{path}: corrupt checkpoint ({type(e).__name__})") from None
    _check_values(path, tensors)
    return tensors, meta


def load_into(module: nn.Module, tensors: Mapping[str, Tensor], path: str | Path, prefix: str = "model.") -> None:
    """Strictly load the ``prefix``-ed tensors into ``module``; a mismatch or an exploded weight is one clear line."""
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    _check_layout(path, {k: v.shape for k, v in state.items()}, module.state_dict())
    _check_values(path, state, MAX_WEIGHT)
    module.load_state_dict(state, strict=True)


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimiser's state into tensors (for safetensors) and JSON-able rest."""
    from torch import Tensor

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


ADAM_MOMENTS = ("exp_avg", "exp_avg_sq")  # what torch.optim.Adam (train_model's optimiser) keeps per parameter, with its step


def restore_optimizer(opt: torch.optim.Optimizer, tensors: Mapping[str, Tensor], info: Any, *,
                      require_state: bool = False, source: str | Path = "checkpoint") -> None:
    """Put the state split off by :func:`optimizer_tensors` back into ``opt``, an Adam over the same parameters.

    Checked first, so a damaged checkpoint is one WeightsError and never a failure at the first step:
    the parameter groups must equal ``opt``'s own (the learning rate aside: the loop sets it), and each
    parameter's state is absent (allowed unless ``require_state``: a run saved before its first step)
    or complete, with moments of the parameter's shape.
    """
    from torch import Tensor

    def damaged(why: str) -> WeightsError:
        return WeightsError(f"{source}: optimizer state {why}; cannot resume")

    own = json.loads(json.dumps(opt.state_dict()["param_groups"]))
    groups = info.get("param_groups") if isinstance(info, Mapping) else None
    if not isinstance(groups, list) or len(groups) != len(own) or not all(isinstance(g, dict) for g in groups):
        raise damaged("is missing or its parameter groups are malformed")
    for g, mine in zip(groups, own):
        if g.get("params") != mine["params"] or any(k in g and g[k] != v for k, v in mine.items() if k != "lr"):
            raise damaged("has parameter groups of another optimiser")
    params = [p for group in opt.param_groups for p in group["params"]]
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            parts = key.split(".", 2)
            if len(parts) != 3 or not parts[1].isdecimal() or int(parts[1]) >= len(params):
                raise damaged(f"has a stray tensor {_short(key)}")
            state.setdefault(int(parts[1]), {})[parts[2]] = v
    scalars = info.get("scalars", {})
    if not isinstance(scalars, dict) or not all(
            k.isdecimal() and int(k) < len(params) and isinstance(rest, dict) for k, rest in scalars.items()):
        raise damaged("has malformed scalars")
    for pid, rest in scalars.items():
        state.setdefault(int(pid), {}).update(rest)
    for pid, p in enumerate(params):
        st = state.get(pid, {})
        if not st and not require_state:
            continue
        step = st.get("step")
        if isinstance(step, Tensor):
            step = float(step) if step.numel() == 1 else None
        if type(step) not in (int, float) or not 0 <= step < math.inf:
            raise damaged(f"of parameter {pid} has no valid step")
        for k in ADAM_MOMENTS:
            v = st.get(k)
            if not isinstance(v, Tensor) or v.shape != p.shape:
                raise damaged(f"of parameter {pid} lacks {k} of shape {tuple(p.shape)}")
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError) as e:
        raise damaged(f"does not load ({type(e).__name__})") from None


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
    problem = file_problem(p)
    if p.suffix == ".safetensors" or "/" in name_or_path or p.exists() or problem == "a symbolic link loop, not a file":
        if problem == "no such file":
            raise WeightsError(f"{p}: no such {what} file")
        if problem is not None:
            raise WeightsError(f"{p}: {problem}")
        return p
    for d in dirs:
        cand = d / f"{name_or_path}.safetensors"
        if cand.is_file():
            return cand
    names = sorted({q.stem for d in dirs if d.is_dir() for q in d.glob("*.safetensors")})
    message = f"no {what} named '{name_or_path}' (available: {', '.join(names) or 'none'})"
    from .resources import rebuild_hint

    # model_dirs(KIND)'s folders are named after their kind; a recipe writes a model that is not shipped to the user's
    hint = next((h for d in dirs if (h := rebuild_hint(name_or_path, d.name, user_models_dir(d.name)))), None)
    raise WeightsError(message if hint is None else f"{message}; {hint}")


def load_model(path: str | Path, engine: str, arch: str, build: Callable[[dict[str, Any]], nn.Module]
               ) -> tuple[nn.Module, dict[str, Any]]:
    """Load an ``engine`` checkpoint whose architecture is ``arch``; ``build(architecture)`` makes the net.

    Header, architecture (:data:`ARCHITECTURES`) and tensor names and shapes are checked before any
    tensor is read or any weight allocated (the layout comes from the net built on the meta device);
    the values must be finite and within ±:data:`MAX_WEIGHT`.
    """
    import torch

    entries, meta = _read_header(path)
    _check_engine(path, meta, engine)
    spec = check_architecture(meta, path)
    if spec["arch"] != arch:
        raise WeightsError(f"{path}: architecture {spec['arch']} is not the {engine} engine's {arch}")
    with torch.device("meta"):
        layout = build(spec).state_dict()
    # A model file holds model.* tensors only; a training checkpoint adds optim.* ones (not loaded here).
    shapes = {k.removeprefix("model."): e["shape"] for k, e in entries.items() if not k.startswith("optim.")}
    _check_layout(path, shapes, layout)
    tensors, _ = load_checkpoint(path, engine)
    net = build(spec)
    load_into(net, tensors, path)
    return net.eval(), meta
