"""Rebuild four held-out paintings for judging `nst train-fast` from the Debian package gcompris-qt-data.

No base network or shipped model of this project has seen these paintings, so they are used only to
judge how well `nst train-fast` learns a new style; they are never shipped. They come from GCompris
3.1 (gcompris-qt-data 3.1-2): one complete background image (details.rcc), two jigsaw boards put
back together (paintings.rcc) and one background whose cut-out pieces are put back (babyshapes.rcc).
The artworks are public domain, but the package states GPL-3 for its images, so they stay out of
the product. SOURCES.tsv in --out records where each file came from.

    python train/unseen_paintings.py [--deb gcompris-qt-data_3.1-2_all.deb] [--out .data/style_unseen]
"""

from __future__ import annotations

import argparse
import io
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

A = "gcompris/src/activities/"
LICENCE = {
    "details.rcc": "details/resource/image/README: Public domain; debian/copyright stanza for details/resource/image/*:"
                   " GPL-3 (Bruno Coudoin and others)",
    "paintings.rcc": "paintings: WebMuseum (Nicolas Pioch), GPL-3+ per paintings/resource/image/README and"
                     " debian/copyright; artwork itself public domain",
    "babyshapes.rcc": "debian/copyright stanza for babyshapes/resource/*: Copyright 2000, 2008 Bruno Coudoin and"
                      " others, Franck Doucet, GPL-3 (no per-image note); artwork itself public domain",
}
SPECS = [  # output file, rcc, entry (an image, or a board of pieces), title if the package has none, note
    ("vangogh_the_night_cafe.jpg", "details.rcc", "details/resource/image/Van_Gogh_The_Night_Cafe_background.webp",
     'Van Gogh, The Night Cafe (title from file name; README: "based on an original painting by Van Gogh")',
     "complete image, used as is"),
    ("kandinsky_composition_viii.jpg", "paintings.rcc", "paintings/resource/board/board19_0.qml", "",
     "Kandinsky died 1944: public domain in the EU (life+70) since 2015 and in the US (published 1923) since 2019;"
     " not public domain in life+80/+100 countries (e.g. Mexico)"),
    ("gauguin_arearea.jpg", "babyshapes.rcc", "babyshapes/resource/board/board7_0.qml", "",
     "background ships with the pieces cut out (white); pieces put back at board x/y."),
    ("hiroshige_benzaiten_shrine_at_inokashira_in_snow.jpg", "paintings.rcc", "paintings/resource/board/board8_0.qml",
     "", "package title dates it 1760-70, which cannot be right for Hiroshige (1797-1858); the cartouche appears to"
     " read 名所雪月花 (Meisho setsugekka, an 1850s Hiroshige series) - date not verified"),
]
PIECE = re.compile(r'"pixmapfile"\s*:\s*"([^"]+)"\s*,(?:\s*"dropAreaSize"\s*:\s*"[^"]*"\s*,)?'
                   r'\s*"x"\s*:\s*"([\d.]+)"\s*,\s*"y"\s*:\s*"([\d.]+)"')


class Missing(Exception):
    """The package, a resource file or an entry is not there (exit 2)."""


class Rcc:
    """A Qt resource file (rcc format 1-3) held in memory; entries are decompressed when read."""

    def __init__(self, path: Path) -> None:
        self.b, self.name, self.entries = path.read_bytes() if path.is_file() else b"", path.name, {}
        if self.b[:4] != b"qres":
            raise Missing(f"no Qt resource file {path.name} in the package")
        ver, tree, self.data, names = struct.unpack(">IIII", self.b[4:20])
        todo = [(0, "")]
        while todo:  # tree nodes: name offset, flags, then (child count, first child) or (locale, data offset)
            idx, prefix = todo.pop()
            p = tree + idx * (14 if ver < 2 else 22)
            noff, flags, count, first = struct.unpack(">IHII", self.b[p:p + 14])
            n = names + noff
            name = self.b[n + 6:n + 6 + 2 * int.from_bytes(self.b[n:n + 2], "big")].decode("utf-16-be")
            if flags & 2:
                todo += [(c, f"{prefix}{name}/" if idx else "") for c in range(first, first + count)]
            else:
                self.entries[prefix + name] = (flags, self.data + first)

    def read(self, path: str) -> bytes:
        if path not in self.entries:
            raise Missing(f"{self.name} has no entry {path}")
        flags, q = self.entries[path]
        raw = self.b[q + 4:q + 4 + int.from_bytes(self.b[q:q + 4], "big")]
        if flags & 4:
            raise Missing(f"{self.name}: {path} is zstd-compressed, which this script does not read")
        return zlib.decompress(raw[4:]) if flags & 1 else raw

    def image(self, path: str, mode: str = "RGBA") -> Image.Image:
        return Image.open(io.BytesIO(self.read(path))).convert(mode)


def flatten(c: Image.Image) -> tuple[Image.Image, int]:
    """Trim ragged edges, fill see-through seams from opaque neighbours; return RGB and the seam pixel count."""
    a = np.asarray(c.getchannel("A")) < 128
    t, b, l, r = 0, a.shape[0], 0, a.shape[1]
    while True:  # peel off edge rows/columns that are over 2% see-through
        before = (t, b, l, r)
        t += int(a[t, l:r].mean() > .02)
        b -= int(a[b - 1, l:r].mean() > .02)
        l += int(a[t:b, l].mean() > .02)
        r -= int(a[t:b, r - 1].mean() > .02)
        if (t, b, l, r) == before:
            break
    arr = np.asarray(c.crop((l, t, r, b))).astype(float)
    rgb, al = arr[..., :3], arr[..., 3:] / 255.
    fill, known = rgb.copy(), al[..., 0] > .99
    for _ in range(50):
        if known.all():
            break
        acc, cnt = np.zeros_like(fill), np.zeros(known.shape)
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)):
            k = np.roll(known, (dy, dx), (0, 1))
            acc += np.roll(fill, (dy, dx), (0, 1)) * k[..., None]
            cnt += k
        new = ~known & (cnt > 0)
        fill[new] = acc[new] / cnt[new][:, None]
        known |= new
    out = rgb * al + fill * (1 - al)
    return Image.fromarray(np.clip(out + .5, 0, 255).astype(np.uint8)), int((al[..., 0] < .5).sum())


def painting(rcc: Rcc, entry: str) -> tuple[Image.Image, str, str, int]:
    """The painting, its entry paths, its title in the package and the seam pixels filled."""
    if entry.endswith(".webp"):
        return rcc.image(A + entry, "RGB"), A + entry, "", 0
    res, text = A + entry.split("board/")[0], rcc.read(A + entry).decode()
    title, pieces = re.search(r'qsTr\("(.*)"\)', text), PIECE.findall(text)
    bg = re.search(r'"(image/[^"]+_background\.webp)"', text)  # babyshapes: a background with holes
    size = re.search(r'"width"\s*:\s*(\d+)\s*,\s*"height"\s*:\s*(\d+)', text)  # paintings: an empty board
    if not (title and pieces):
        raise Missing(f"{rcc.name}: {entry} has no title or pieces")
    w, h = map(int, size.groups()) if size else (702, 515)
    canvas = rcc.image(res + bg.group(1)) if bg else Image.new("RGBA", (w, h), (0, 0, 0, 0))
    for f, x, y in pieces:
        im = rcc.image(res + f)
        canvas.alpha_composite(im, (round(float(x) * canvas.width - im.width / 2),
                                    round(float(y) * canvas.height - im.height / 2)))
    if bg:
        stem = bg.group(1).removeprefix("image/").removesuffix("_background.webp")
        return canvas.convert("RGB"), (f"{res}{bg.group(1)} + {len(pieces)} cut-out pieces {stem}_*.webp"
                                       f" placed per {A}{entry}"), title.group(1), 0
    img, gaps = flatten(canvas.crop(canvas.getchannel("A").getbbox()))
    stem = re.sub(r"(_[a-e]\d|-\d|_\d)\.webp$", "", pieces[0][0])
    return img, (f"{A}{entry} + {len(pieces)} jigsaw pieces {res}{stem}*.webp"
                 f" (reassembled at board x/y on {w}x{h} canvas)"), title.group(1), gaps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deb", help="gcompris-qt-data .deb (default: apt-get download it)")
    ap.add_argument("--out", type=Path, default=Path(".data/style_unseen"), help="folder for JPEGs and SOURCES.tsv")
    args = ap.parse_args()
    rows = ["\t".join("file source_rcc entry_path original_size output_size title_artist_from_package"
                      " license_in_package notes".split())]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.deb is None:
                subprocess.run(["apt-get", "download", "gcompris-qt-data"], cwd=tmp, check=True, capture_output=True)
                args.deb = str(next(Path(tmp).glob("gcompris-qt-data_*.deb")))
            subprocess.run(["dpkg", "-x", args.deb, f"{tmp}/x"], check=True, capture_output=True)
            args.out.mkdir(parents=True, exist_ok=True)
            for file, name, entry, title, note in SPECS:
                img, entries, board_title, gaps = painting(Rcc(Path(tmp, "x/usr/share/gcompris-qt/rcc", name)), entry)
                orig = img.size
                img.thumbnail((768, 768), Image.BICUBIC)  # only ever shrinks
                img.save(args.out / file, quality=95)
                note += f"; {gaps} px of seam gaps filled from neighbours" if gaps else ""
                rows.append("\t".join([file, name, entries, "%dx%d" % orig, "%dx%d" % img.size,
                                       title or board_title, LICENCE[name], note]))
                print(f"{args.out / file}  {img.width}x{img.height}  from {name}")
    except (Missing, subprocess.CalledProcessError) as e:
        msg = str(e)
        if isinstance(e, subprocess.CalledProcessError):  # keep the first error line of dpkg or apt-get
            lines = e.stderr.decode().strip().splitlines() or ["failed"]
            msg = f"{' '.join(e.cmd)}: " + next((x for x in lines if x.startswith("E:") or "error" in x), lines[-1])
        print(f"unseen_paintings: error: {msg}", file=sys.stderr)
        raise SystemExit(2)
    (args.out / "SOURCES.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
