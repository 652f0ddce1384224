"""Build nst_toolkit/photos/: the built-in training photos of `nst train-fast` (no --data needed).

    python scripts/make_builtin_photos.py --data ../shared/data -o nst_toolkit/photos

Only photos whose licence allows redistribution are kept: public domain, CC0, or CC-BY (the
attribution is written to ATTRIBUTION.md beside them). How each photo's licence is found:

1. MANIFEST.tsv maps our file name to its path in Debian's `gcompris-qt-data` 3.1-2.
2. The upstream README of that folder (licenses/photos_gcompris__<folder>__README*.txt, the nearest
   one above the file) must name the file exactly, with one allowed licence. A file it does not name
   (two README entries carry typos: `audaPalatina`, `screDriver`) or names with CC-BY-SA, GPL or
   anything else is left out.
3. The package's Debian copyright file describes an older image set (its entries name .jpg/.png
   files this version no longer has, mostly other pictures). Its catch-all `Files: *` is not read
   as a per-photo statement, but an entry whose pattern matches the photo's own upstream path
   (a folder glob), or that names the same source picture (same URL), must agree; if it gives a
   licence that is not allowed, the photo counts as unclear and is left out.

Also left out: every `gc_wonders_*` photo (held out for evaluation, train/prepare_data.sh), any
photo of the same source picture as a held-out one, and second copies of one source picture.
Each kept photo is resized so its shorter side is at most SHORT_SIDE px (never enlarged) and saved
as JPEG (quality QUALITY, no metadata). The output is a pure function of the input folder.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

SHORT_SIDE = 288  # enough for the 256-px training crops (CropSampler rescales to 1.25 × crop anyway)
QUALITY = 88
PACKAGE = "gcompris-qt-data 3.1-2"
HELD_OUT = "gc_wonders_*"
MAX_BYTES = 8 * 1024 * 1024
# Where a photo of the Qt resource files sat in the upstream source tree (for the Debian copyright file).
RCC_TO_SRC = {"categorization/": "categorization/resource/images/", "details/": "details/resource/image/"}


@dataclass(frozen=True)
class Entry:
    files: tuple[str, ...]
    licence: str
    author: str
    url: str
    comment: str


def _fields(block: str) -> tuple[dict[str, str], list[str]]:
    """key: value lines (with indented continuations) and the bare lines (file names) of one block."""
    fields: dict[str, str] = {}
    bare: list[str] = []
    key = None
    for line in block.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^([A-Z][A-Za-z-]*):\s*(.*)$", line)
        if m:
            key = m.group(1)
            fields[key] = m.group(2).strip()
        elif line[:1] in " \t" and key:
            fields[key] += "\n" + line.strip()
        else:
            bare.append(line.strip())
    return fields, bare


def read_readme(path: Path) -> list[Entry]:
    """The entries of one upstream README: Copyright / Source / License / Files (inline or below)."""
    out = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        f, bare = _fields(block)
        files = tuple(x for x in (f.get("Files", "").split() + bare) if x)
        if files and "License" in f:
            comment = f.get("Comment") or f.get("Comments") or ""
            out.append(Entry(files, f["License"], f.get("Copyright", ""), f.get("Source", ""), comment))
    return out


def read_debian(path: Path) -> list[Entry]:
    out = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        f, _ = _fields(block)
        if "Files" in f and "License" in f:
            comment = f.get("Comment", "")
            url = next(iter(re.findall(r"https?://\S+", comment)), "")
            out.append(Entry(tuple(f["Files"].split()), f["License"].splitlines()[0].strip(), f.get("Copyright", ""),
                             url, comment))
    return out


def allowed(licence: str) -> str | None:
    """The licence's display name if it allows redistribution here (PD, CC0, CC-BY), else None."""
    s = licence.strip().lower().replace(" ", "-")
    if s in ("public-domain", "publicdomain", "pd"):
        return "public domain"
    if s in ("cc0", "cc0-1.0"):
        return "CC0-1.0"
    m = re.fullmatch(r"cc-by-(\d\.\d)", s)
    return f"CC-BY-{m.group(1)}" if m else None


def readme_for(source: str, readmes: dict[str, Path]) -> tuple[str, Path] | None:
    """The nearest README above ``source``: (its folder, its path)."""
    parts = source.split("/")[:-1]
    for i in range(len(parts), 0, -1):
        folder = "/".join(parts[:i])
        if folder in readmes:
            return folder, readmes[folder]
    return None


def upstream_path(source: str) -> str:
    for rcc, src in RCC_TO_SRC.items():
        if source.startswith(rcc):
            return "src/activities/" + src + source[len(rcc):]
    return "src/activities/" + source


def decide(source: str, readmes: dict[str, Path], debian: list[Entry]) -> tuple[Entry | None, str]:
    """(the README entry, "") for a photo that may be shipped, or (None, why not)."""
    found = readme_for(source, readmes)
    if found is None:
        return None, "no upstream README for its folder"
    folder, readme = found
    rel = source[len(folder) + 1:]
    hits = [e for e in read_readme(readme) if rel in e.files]
    if not hits:
        return None, f"not named in {readme.name}"
    if len({e.licence for e in hits}) > 1:
        return None, f"named twice in {readme.name} with different licences"
    entry = hits[0]
    if allowed(entry.licence) is None:
        return None, f"licence {entry.licence}"
    path = upstream_path(source)
    for d in debian:
        pattern = next((p for p in d.files if p != "*" and fnmatch.fnmatchcase(path, p)), None)
        same_picture = bool(entry.url) and d.url == entry.url
        if (pattern or same_picture) and allowed(d.licence) is None:
            what = pattern or f"the same picture ({d.url})"
            return None, f"unclear: the README says {entry.licence}, the Debian copyright file {d.licence} for {what}"
    return entry, ""


def build(data: Path, out: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    lic = data / "licenses"
    readmes = {}
    for p in sorted(lic.glob("photos_gcompris__*README*.txt")):
        folder = re.sub(r"__README[^.]*\.txt$", "", p.name.removeprefix("photos_gcompris__")).replace("__", "/")
        readmes[folder] = p
    debian = read_debian(lic / "gcompris-qt-data.copyright.txt")
    with open(data / "MANIFEST.tsv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["split"] == "content"]
    rows.sort(key=lambda r: r["file"])
    kept, dropped = [], []
    held_urls = set()
    for r in rows:
        if fnmatch.fnmatchcase(r["file"], HELD_OUT):
            entry, _ = decide(r["source"], readmes, debian)
            if entry is not None and entry.url:
                held_urls.add(entry.url)
    seen_urls: dict[str, str] = {}
    for r in rows:
        name, source = r["file"], r["source"]
        if fnmatch.fnmatchcase(name, HELD_OUT):
            dropped.append((name, "held out for evaluation"))
            continue
        entry, why = decide(source, readmes, debian)
        if entry is None:
            dropped.append((name, why))
        elif entry.url in held_urls:
            dropped.append((name, "the same picture as a held-out photo"))
        elif entry.url in seen_urls:
            dropped.append((name, f"the same picture as {seen_urls[entry.url]}"))
        else:
            seen_urls[entry.url] = name
            kept.append({"file": name, "source": source, "entry": entry})
    if out.exists():  # replace a previous build, and nothing else
        strangers = [p.name for p in out.iterdir() if p.suffix != ".jpg" and p.name != "ATTRIBUTION.md"]
        if strangers:
            raise SystemExit(f"{out} holds other files ({', '.join(strangers[:3])}); not replacing it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for k in kept:
        with Image.open(data / "content" / k["file"]) as im:
            im = im.convert("RGB")
            s = min(1.0, SHORT_SIDE / min(im.size))
            if s < 1:
                im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
            im.save(out / k["file"], "JPEG", quality=QUALITY, optimize=True)
            k["size"] = im.size
    write_attribution(out, kept, dropped)
    return kept, dropped


def _cell(s: str) -> str:
    return " ".join(s.split()).replace("|", "\\|")


def write_attribution(out: Path, kept: list[dict], dropped: list[tuple[str, str]]) -> None:
    total = sum((out / k["file"]).stat().st_size for k in kept)
    lines = [
        "# Built-in training photos",
        "",
        f"The photos `nst train-fast` uses when no `--data` is given: {len(kept)} photos, {total / 1e6:.1f} MB.",
        f"Made by `scripts/make_builtin_photos.py` from photos of Debian's `{PACKAGE}` (its upstream,",
        "GCompris, took them from Wikimedia Commons and similar sites; *author* is its Copyright field), keeping only those whose",
        "licence allows redistribution: public domain, CC0, or CC-BY with the attribution below. Licences are",
        "those of the upstream README in each photo's folder; photos whose licence was unclear, CC-BY-SA or GPL,",
        "and the photos held out for evaluation, were left out.",
        "",
        "Changes to every photo: GCompris's own edits (see *upstream changes*), then resized so the shorter side",
        f"is at most {SHORT_SIDE} px and re-encoded as JPEG (quality {QUALITY}).",
        "",
        "| file | source (package: original path) | author | licence | original | upstream changes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for k in kept:
        e: Entry = k["entry"]
        lines.append(f"| `{k['file']}` | {PACKAGE}: `{k['source']}` | {_cell(e.author) or 'unknown'} | "
                     f"{allowed(e.licence)} | {_cell(e.url) or '-'} | {_cell(e.comment) or '-'} |")
    lines += ["", "Licence texts: CC0-1.0 https://creativecommons.org/publicdomain/zero/1.0/ ; CC-BY-2.0",
              "https://creativecommons.org/licenses/by/2.0/ ; CC-BY-3.0 https://creativecommons.org/licenses/by/3.0/ .",
              ""]
    (out / "ATTRIBUTION.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parents[1] / "nst_toolkit" / "photos")
    ap.add_argument("-v", "--verbose", action="store_true", help="List every left-out photo and why.")
    a = ap.parse_args()
    kept, dropped = build(a.data, a.out)
    total = sum(p.stat().st_size for p in a.out.iterdir())
    reasons: dict[str, int] = {}
    for name, why in dropped:
        key = re.sub(r" for .*| in .*|: .*| as .*", "", why)
        reasons[key] = reasons.get(key, 0) + 1
        if a.verbose:
            print(f"  left out {name}: {why}")
    print(f"kept {len(kept)} photos ({total / 1e6:.2f} MB) in {a.out}; left out {len(dropped)}: "
          + ", ".join(f"{n} {k}" for k, n in sorted(reasons.items(), key=lambda x: -x[1])))
    if total > MAX_BYTES:
        raise SystemExit(f"{a.out} is {total / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB budget")


if __name__ == "__main__":
    main()
