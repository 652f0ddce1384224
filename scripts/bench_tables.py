"""Write docs/benchmarks.md from the benchmark results in bench/: one table per results file.

    python scripts/bench_tables.py            # bench/*.json, bench/*/results.json → docs/benchmarks.md
    python scripts/bench_tables.py --check    # exit 1 if docs/benchmarks.md is not what this would write
    python scripts/bench_tables.py --bench DIR --out FILE

Standard library only. Every table is made from the JSON as it is: records (objects whose values are
numbers, strings or short lists) become rows; the keys of the objects above them (a tool, a clip, a
painting, a recipe) become the leading columns; top-level values that are not records are listed
above the table. bench/benchmarks.ini gives each file a title, a line on what and where it measured,
and the command that wrote it. The command comes from the JSON's own "command" key if it has one,
else from the .ini, else from the usage in the docstring of the script in scripts/ that wrote it.
A file this does not understand (bad JSON, no records) is listed as skipped, never an error; a file
another one lists under "merged" is left to that one.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import json
import sys
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent
WORDS = {"rss": "RSS", "gflop": "GFLOP", "lpips": "LPIPS", "ssim": "SSIM", "cli": "CLI", "fps": "fps"}
UNITS = (("_per_s", " per s"), ("_s", " (s)"), ("_gib", " (GiB)"), ("_mib", " (MiB)"), ("_pct", " (%)"))
SHORT_LIST = 4  # a list of at most this many plain values fits in a cell


def scalar(v: object) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def cell_value(v: object) -> bool:
    return scalar(v) or (isinstance(v, list) and len(v) <= SHORT_LIST and all(scalar(x) for x in v))


def holds_records(v: object) -> bool:
    return isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, dict) for x in v))


def records(node: object, path: tuple[str, ...] = (), top: bool = True) -> list[tuple[tuple[str, ...], dict]]:
    """(path of the keys above it, its values) for every record (an object holding no further objects) under
    ``node``; the top-level object itself is never a record (its plain values describe the whole file)."""
    if isinstance(node, list):
        return [r for x in node if isinstance(x, dict) for r in records(x, path, top=False)]
    if not isinstance(node, dict):
        return []
    nested = [k for k, v in node.items() if holds_records(v)]
    if not nested:
        row = dict(node)  # values too nested for a cell are left out by table(), which says so
        return [(path, row)] if row and not top else []
    return [r for k in nested for r in records(node[k], path + (str(k),), top=False)]


def header(key: str) -> str:
    for suffix, unit in UNITS:
        if key.endswith(suffix) and len(key) > len(suffix):
            key, tail = key[: -len(suffix)], unit
            break
    else:
        tail = ""
    return " ".join(WORDS.get(w, w) for w in key.split("_")) + tail


def fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"
    if isinstance(v, list):
        return ", ".join(fmt(x) for x in v)
    return " ".join(str(v).split()).replace("|", "\\|")


def context(data: object) -> str:
    """The top-level values that are not records: size, threads, photos, … as one line."""
    if not isinstance(data, dict):
        return ""
    parts = []
    for k, v in data.items():
        if holds_records(v) or k in ("command", "merged"):
            continue
        if isinstance(v, list):
            items = [" × ".join(map(fmt, x)) if isinstance(x, list) else fmt(x) for x in v]
            text = ", ".join(items if len(items) <= SHORT_LIST else items[:3] + [f"… ({len(items)} in all)"])
        else:
            text = PurePosixPath(v).name if isinstance(v, str) and v.startswith("/") else fmt(v)
        parts.append(f"{header(k)}: {text}")
    return " · ".join(parts)


def table(rows: list[tuple[tuple[str, ...], dict]], names: list[str], renames: dict[str, str]
          ) -> tuple[str, list[str], list[str]]:
    """A markdown table whose leading columns are the path levels that vary (``names``: one per level, "-" for
    none). Returns the table, the keys left out, and "name: value" for each named level that does not vary."""
    depth = max(len(p) for p, _ in rows)
    paths = [p + ("",) * (depth - len(p)) for p, _ in rows]
    varying = [i for i in range(depth) if len({p[i] for p in paths}) > 1]
    named = {i: names[i] for i in range(min(depth, len(names))) if names[i] != "-"}
    constant = [f"{named[i]}: {fmt(paths[0][i])}" for i in range(depth) if i in named and i not in varying]
    heads = []
    for i in varying:
        if i in named:
            heads.append(named[i])
        else:  # the name of the constant key above it, in the singular ("tools" → "tool")
            above = paths[0][i - 1] if i and i - 1 not in varying else ""
            heads.append(above[:-1] if above.endswith("s") else above or "group")
    keys: list[str] = []
    for _, r in rows:
        keys += [k for k in r if k not in keys]
    shown = [k for k in keys if all(cell_value(r.get(k)) for _, r in rows)]
    numeric = [all(number(r.get(k)) or r.get(k) is None for _, r in rows) for k in shown]  # right-aligned
    lines = [heads + [renames.get(k, header(k)) for k in shown],
             ["---"] * len(heads) + ["---:" if n else "---" for n in numeric]]
    lines += [[fmt(p[i]) for i in varying] + [fmt(r.get(k)) for k in shown] for p, (_, r) in zip(paths, rows)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines), [k for k in keys if k not in shown], constant


def script_usage(bench: Path, rel: str) -> str:
    """The usage line of the scripts/ script that writes ``rel``: the one naming the file, else bench_STEM.py."""
    stem = PurePosixPath(rel).parts[0].removesuffix(".json")
    usages = {}
    for script in sorted(SCRIPTS.glob("bench_*.py")):
        try:
            doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        except (OSError, SyntaxError, ValueError):
            continue
        lines = [" ".join(line.split()) for line in doc.splitlines() if line.strip().startswith("python scripts/")]
        for line in lines:
            if f"{bench.name}/{rel}" in line.split():
                return line
        if lines:
            usages[script.stem.removeprefix("bench_")] = lines[0]
    parts = stem.split("_")
    for n in range(len(parts), 0, -1):
        if "_".join(parts[:n]) in usages:
            return usages["_".join(parts[:n])] + "   # the script's usage: the exact arguments were not recorded"
    return ""


def ini_command(text: str) -> str:
    """The .ini's command: one command a line; a line starting with "-" continues the one before."""
    lines: list[str] = []
    for line in (" ".join(x.split()) for x in text.strip().splitlines()):
        if line.startswith("-") and lines:
            lines[-1] += " \\"
            line = "    " + line
        lines.append(line)
    return "\n".join(lines)


def merged_into(bench: Path, files: dict[str, object]) -> dict[str, str]:
    """rel → the file that merged it (a "merged" list of folders, optionally "folder:label")."""
    out = {}
    for rel, data in files.items():
        if isinstance(data, dict) and isinstance(data.get("merged"), list):
            for entry in data["merged"]:
                p = PurePosixPath(str(entry).split(":")[0])
                if p.parts and p.parts[0] == bench.name:
                    p = PurePosixPath(*p.parts[1:])
                out[str(p / "results.json")] = rel
    return out


def render(bench: Path) -> str:
    ini = configparser.ConfigParser(interpolation=None)
    ini.optionxform = str
    try:
        ini.read(bench / "benchmarks.ini", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        print(f"bench_tables: {bench / 'benchmarks.ini'} not read ({e.__class__.__name__})", file=sys.stderr)
    found = sorted(p.relative_to(bench).as_posix() for pattern in ("*.json", "*/results.json", "*/*/results.json")
                   for p in bench.glob(pattern))
    order = [s for s in ini.sections() if s in found] + [f for f in found if f not in ini.sections()]
    files: dict[str, object] = {}
    problems: dict[str, str] = {}
    for rel in order:
        try:
            files[rel] = json.loads((bench / rel).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            problems[rel] = f"not readable as JSON ({e.__class__.__name__})"
    merged = merged_into(bench, files)
    out = ["# Benchmarks", "",
           f"Generated by `python scripts/bench_tables.py` from the results in `{bench.name}/`; edit those "
           f"(or `{bench.name}/benchmarks.ini`: titles, notes, commands), never this page. Each section: what was "
           "measured and on which machine, the table, the command that wrote the file. Times are medians unless "
           "a note says otherwise; style distance, content distance and SSIM are `nst eval`'s, judge numbers come "
           "from an independent VGG-16 judge (Gram distance to the painting, log10, and LPIPS to the photo; lower "
           "is better for all).", ""]
    skipped = []
    for rel in order:
        if rel in merged:
            skipped.append(f"`{bench.name}/{rel}`: merged into `{bench.name}/{merged[rel]}`")
            continue
        if rel in problems:
            skipped.append(f"`{bench.name}/{rel}`: {problems[rel]}")
            continue
        data = files[rel]
        meta = ini[rel] if ini.has_section(rel) else {}
        try:
            rows = records(data)
            if not rows:
                skipped.append(f"`{bench.name}/{rel}`: no records in a structure this script knows")
                continue
            names = [n.strip() for n in meta.get("columns", "").split(",") if n.strip()]
            renames = {}
            if isinstance(data, dict) and isinstance(data.get("measures"), list) and len(data["measures"]) == 2:
                renames = dict(zip(("style", "content"), map(str, data["measures"])))
            body, left_out, constant = table(rows, names, renames)
        except Exception as e:  # an unexpected shape is reported, never fatal
            skipped.append(f"`{bench.name}/{rel}`: not tabulated ({e.__class__.__name__})")
            continue
        command = data.get("command") if isinstance(data, dict) and isinstance(data.get("command"), str) else None
        command = command or ini_command(meta.get("command", ""))
        command = command or script_usage(bench, rel)
        out += [f"## {meta.get('title', rel)}", "", f"`{bench.name}/{rel}`"
                + (f" — {' '.join(meta['about'].split())}" if meta.get("about") else ""), ""]
        line = " · ".join(filter(None, [context(data)] + constant))
        if line:
            out += [line, ""]
        out += [body, ""]
        if left_out:
            out += [f"Left out of the table (nested values): {', '.join(left_out)}.", ""]
        out += ["```bash", command or "# the command was not recorded", "```", ""]
    if skipped:
        out += ["## Files not tabulated", ""] + [f"- {s}" for s in skipped] + [""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=REPO / "bench", help="folder of results (default: bench/)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md", help="page to write")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if --out is not up to date")
    a = ap.parse_args(argv)
    text = render(a.bench)
    if a.check:
        current = a.out.read_text(encoding="utf-8") if a.out.is_file() else None
        if current != text:
            print(f"{a.out} is stale: run python scripts/bench_tables.py", file=sys.stderr)
            return 1
        return 0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
