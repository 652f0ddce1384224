"""The layout's rules, checked on the source: layers import downwards only, modules stay small, the commands that
only describe things start without torch, and the text speaks of the code, not of how the work was organised."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "nst_toolkit"
MAX_LINES = 400


def imported_modules(path: Path) -> set[str]:
    """The nst_toolkit modules ``path`` imports, as dotted names relative to the package (``vgg``, ``engines.fast``)."""
    parts = list(path.relative_to(PACKAGE).parts[:-1])  # the package the module is in
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [mod] if node.module else [".".join(base + [a.name]) for a in node.names]
                out.update(n for n in names if n)
            elif node.module and node.module.startswith("nst_toolkit"):
                out.add(node.module.removeprefix("nst_toolkit").lstrip("."))
        elif isinstance(node, ast.Import):
            out.update(a.name.removeprefix("nst_toolkit").lstrip(".") for a in node.names if a.name.startswith("nst_toolkit"))
    return out


def test_imported_modules_reads_relative_imports():
    assert "vgg" in imported_modules(PACKAGE / "features.py")
    assert "engines.registry" in imported_modules(PACKAGE / "engines" / "adain" / "__init__.py")


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("*.py")), ids=lambda p: p.name)
def test_the_cli_reaches_checkpoints_data_and_vgg_only_through_services(path):
    reached = {m for m in imported_modules(path) if m.split(".")[0] in ("checkpoints", "data", "vgg")}
    assert not reached, f"cli/{path.name} imports {sorted(reached)}"


def test_checkpoints_imports_nothing_above_it():
    assert imported_modules(PACKAGE / "checkpoints.py") <= {"__version__", "errors", "io", "resources"}


def test_no_module_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["models"]])
def test_describing_commands_start_without_torch(args):
    code = ("import sys\nfrom nst_toolkit.cli import main\nsys.argv = ['nst', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "False", r.stderr
    assert r.stdout.strip()


def test_engine_packages_register_without_torch():
    code = ("import sys\nfrom nst_toolkit import engines\nnames = engines.names()\n"
            "for s in engines.specs():\n    s.config().validate()\nprint(names, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "['gatys', 'improved', 'fast', 'adain'] False", r.stdout + r.stderr


ORGANISATION_WORDS = re.compile(r"\b([Ss]essions? \d+|[Ss]ittings?\b|[Ii]ssue #?\d+)")


def test_text_speaks_of_the_code_not_of_the_work():
    files = [p for folder in ("nst_toolkit", "tests", "scripts", "train", "docs", "models") for p in (REPO / folder).rglob("*")
             if p.suffix in (".py", ".sh", ".md", ".js", ".html", ".toml")] + [REPO / "README.md", REPO / "pyproject.toml"]
    hits = [f"{p.relative_to(REPO)}:{i}" for p in files if p != Path(__file__)
            for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if ORGANISATION_WORDS.search(line)]
    assert not hits, hits


def test_every_shipped_file_has_a_card_with_its_sha256():
    import hashlib

    cards = (REPO / "models" / "README.md").read_text()
    for path in sorted((REPO / "models").glob("*/*")):
        if path.suffix in (".safetensors", ".onnx"):
            rel = path.relative_to(REPO / "models").as_posix()
            row = next((line for line in cards.splitlines() if line.startswith(f"| `{rel}` |")), None)
            assert row is not None, f"models/README.md has no row for {rel}"
            assert hashlib.sha256(path.read_bytes()).hexdigest() in row, f"{rel}: the card's sha256 is stale"
