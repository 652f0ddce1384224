"""What trained models there are, for people: the listing of `nst models`, where a trained model goes by default,
and the names a model used to have. Reads file headers only (no torch), through the registry's entries."""

from __future__ import annotations

from pathlib import Path

from .checkpoints import check_architecture, model_dirs, model_files, read_metadata, resolve_model_file, user_models_dir
from .engines import registry
from .errors import NSTError
from .resources import REBUILD, shipped_models_dir


def default_model_path(engine: str, name: str) -> Path:
    """Where `nst train-*` writes a model of ``engine`` called ``name`` when no -o is given."""
    return user_models_dir(engine) / f"{name}.safetensors"


def resolve_alias(engine: str, model: str) -> tuple[str, str | None]:
    """``model`` under its current name, and a one-line notice when the user typed an old name (else None)."""
    spec = registry.get(engine)
    new = spec.model_aliases.get(model)
    if new is None:
        return model, None
    return new, f"note: the {engine} model '{model}' is now called '{new}'; using '{new}'"


def megabytes(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def twin_files(model: Path) -> list[Path]:
    """The ONNX twins beside a model file (``X.onnx``, ``X.style.onnx``, ``X.int8.onnx``), by name."""
    return sorted([*model.parent.glob(f"{model.stem}.onnx"), *model.parent.glob(f"{model.stem}.*.onnx")])


def describe_models() -> list[str]:
    """`nst models`: one line per model file of every registered engine that uses trained models (its size, its
    ONNX twins and theirs on the next line), each engine's default marked and followed by the reason for it where
    the engine gives one; then the package's total, and what the source repository's train/ recipes rebuild
    (:data:`~nst_toolkit.resources.REBUILD`), each with where its file is now.

    A file that cannot be read is listed with its one-line reason instead of stopping the listing.
    """
    rows = []
    for spec in registry.specs():
        if spec.model_kind is None:
            continue
        default = getattr(spec.config(), "model", None)
        for where, p in model_files(spec.model_kind):
            try:
                m = read_metadata(p)
                check_architecture(m, p)
            except NSTError as e:
                rows.append(f"{spec.name:6} {where:8} {p.stem:28} unreadable: {e}")
                continue
            arch = m.get("architecture") if isinstance(m.get("architecture"), dict) else {}
            tr = m.get("training") if isinstance(m.get("training"), dict) else {}
            how = "  distilled" if m.get("distilled_from") else ""
            width = f"(w={arch['width']})" if "width" in arch else ""
            mark = "*" if where == "shipped" and p.stem == default else " "
            rows.append(
                f"{spec.name:6} {where:8}{mark}{p.stem:28} {megabytes(p):>8}  step {str(m.get('step', '?')):>6}  "
                f"{arch.get('arch', '?')}{width}  size {tr.get('size', '?')}{how}  "
                f"style {m.get('style_name', '-') or '-'}  v{m.get('toolkit_version', '?')}  {p}"
            )
            twins = twin_files(p)
            if twins:
                rows.append(f"{'':16}{'ONNX twins:':28} " + ", ".join(f"{t.name} {megabytes(t)}" for t in twins))
        if spec.default_note:
            rows.append(f"{'':6} * {spec.name} default '{default}': {spec.default_note}")
    return rows + package_total() + rebuild_rows()


def package_total() -> list[str]:
    """One line: how many model files and ONNX twins the installed package carries, and their size."""
    folder = shipped_models_dir()
    models, twins = sorted(folder.glob("*/*.safetensors")), sorted(folder.glob("*/*.onnx"))
    size = sum(p.stat().st_size for p in [*models, *twins])
    return [f"in the package: {len(models)} model files and {len(twins)} ONNX twins, {size / 1e6:.1f} MB ({folder})"]


def rebuild_rows() -> list[str]:
    """What the source repository's train/ recipes rebuild: name, kind, whether the file is shipped, here (the
    user's models folder) or absent, the recipe and its rough time on a 2-core CPU."""
    rows = ["rebuilt by the recipes in the source repository's train/ folder (run from its root; times on a 2-core CPU):"]
    for r in REBUILD:
        shipped, local = (d / f"{r.name}.safetensors" for d in model_dirs(r.kind))
        status = "shipped" if shipped.is_file() else "local" if local.is_file() else "absent"
        rows.append(f"  {r.name:20} {r.kind:10} {status:8} {r.command:44} about {r.cpu_time}")
    return rows


def activation_bytes_per_pixel(engine: str, config: object) -> float | None:
    """Peak activation memory per pixel of a one-pass engine's untiled pass with ``config``'s model, from the
    measurements the engine packages publish and the model file's header (no torch); None when not known
    (no model file, an unreadable one: building the engine then says why)."""
    from .engines import registry

    spec = registry.get(engine)
    model = getattr(config, "model", None)
    if spec.kind != "one-pass" or spec.model_kind is None or not isinstance(model, str) or model == registry.ALL_MODELS:
        return None
    try:
        arch = read_metadata(resolve_model_file(model, model_dirs(spec.model_kind), "model")).get("architecture")
    except NSTError:
        return None
    from .engines import adain, fast

    name = arch.get("arch") if isinstance(arch, dict) else None
    if name == "TransformerNet" and type(arch.get("width", 32)) is int:
        return fast.BYTES_PER_PIXEL_PER_WIDTH * arch.get("width", 32)
    if name in ("LightAdaIN", "AdaINStyleNet"):
        return adain.BYTES_PER_PIXEL["light"]
    if name in ("AdaINDecoder", "StyledAdaINDecoder"):
        return adain.BYTES_PER_PIXEL["vgg"]
    return None
