"""Image loading for each format and mode, EXIF, bad files, saving, grids."""

import numpy as np
import pytest
import torch
from PIL import Image

from nst_toolkit import imagefiles, images, io
from nst_toolkit.errors import ImageError

from .conftest import make_photo


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tif"), ("GIF", "gif")])
def test_formats_load_as_rgb_float(tmp_path, fmt, ext):
    src = make_photo(60, 40, 3)
    p = tmp_path / f"x.{ext}"
    src.save(p, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    t = images.load_image(p)
    assert t.shape == (1, 3, 40, 60) and t.dtype == torch.float32
    assert 0 <= t.min() and t.max() <= 1
    ref = torch.from_numpy(np.asarray(src, dtype=np.float32) / 255).permute(2, 0, 1)
    tol = 0.2 if fmt == "GIF" else 0.08  # GIF is palettised, JPEG/WebP are lossy
    assert (t[0] - ref).abs().mean() < tol


def test_gif_first_frame(tmp_path):
    red, blue = Image.new("RGB", (40, 40), (255, 0, 0)), Image.new("RGB", (40, 40), (0, 0, 255))
    p = tmp_path / "anim.gif"
    red.save(p, save_all=True, append_images=[blue])
    t = images.load_image(p)
    assert t[0, 0].mean() > 0.9 and t[0, 2].mean() < 0.1


def test_sixteen_bit_png_keeps_precision(tmp_path):
    a = np.full((40, 40), 257 * 100 + 128, dtype=np.uint16)  # between two 8-bit levels
    p = tmp_path / "deep.png"
    Image.fromarray(a).save(p)
    t = images.load_image(p)
    assert torch.allclose(t, torch.full_like(t, (257 * 100 + 128) / 65535), atol=1e-6)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA"])
def test_modes_become_rgb(tmp_path, mode):
    img = make_photo(40, 36, 4).convert(mode)
    p = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    img.save(p)
    t = images.load_image(p)
    assert t.shape == (1, 3, 36, 40)


def test_transparent_pixels_become_white(tmp_path):
    img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    p = tmp_path / "clear.png"
    img.save(p)
    assert torch.allclose(images.load_image(p), torch.ones(1, 3, 40, 40))


def test_exif_orientation_applied(tmp_path):
    img = make_photo(60, 40, 5)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif.tobytes())
    assert images.load_image(p).shape == (1, 3, 60, 40)


def test_resize_by_longest_side(tmp_path):
    p = tmp_path / "x.png"
    make_photo(200, 100).save(p)
    assert images.load_image(p, size=64).shape == (1, 3, 32, 64)


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda d: d / "missing.png", "no such file"),
        (lambda d: (d / "notes.png").write_text("hello") and d / "notes.png", "not an image"),
        (lambda d: d, "folder"),
    ],
)
def test_bad_inputs(tmp_path, make, msg):
    with pytest.raises(ImageError, match=msg):
        images.load_image(make(tmp_path))


def test_truncated_image(tmp_path):
    p = tmp_path / "cut.jpg"
    make_photo(200, 200).save(p, quality=95)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="cannot decode"):
        images.load_image(p)


def test_too_small_images_are_refused(tmp_path):
    p = tmp_path / "tiny.png"
    make_photo(20, 20).save(p)
    with pytest.raises(ImageError, match="at least 32 px"):
        images.load_image(p)
    q = tmp_path / "strip.png"
    make_photo(400, 40).save(q)
    with pytest.raises(ImageError, match="at size 128"):
        images.load_image(q, size=128)  # 128×13 after resizing


def test_non_positive_size(photo):
    with pytest.raises(ImageError, match="positive"):
        images.load_image(photo, size=0)


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    make_photo(100, 100).save(p)
    monkeypatch.setattr(imagefiles, "MAX_PIXELS", 5000)
    with pytest.raises(ImageError, match="decompression bomb"):
        images.load_image(p)


def test_save_png_and_jpeg_round_trip(tmp_path):
    t = torch.rand(1, 3, 20, 30)
    images.save_image(t, tmp_path / "a.png")
    assert (images.load_image(tmp_path / "a.png", min_side=1) - t).abs().max() <= 0.5 / 255 + 1e-6
    images.save_image(t, tmp_path / "b.jpg")
    assert Image.open(tmp_path / "b.jpg").format == "JPEG"
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_save_refuses_unknown_format_and_bad_folder(tmp_path):
    t = torch.rand(1, 3, 8, 8)
    with pytest.raises(ImageError, match="unknown output format"):
        images.save_image(t, tmp_path / "x.xyz")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(ImageError, match="not writable"):
        images.save_image(t, blocker / "out.png")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    def boom(tmp):
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.atomic_write(tmp_path / "out.png", boom)
    assert list(tmp_path.iterdir()) == []


def test_grid_layout():
    cells = [torch.rand(1, 3, 30, 40) for _ in range(5)]
    g = images.make_grid(cells, ["a", "b", "c", "d", "e"], ncols=3, cell=50, pad=5)
    assert g.width == 3 * 55 + 5
    no_labels = images.make_grid(cells, ncols=3, cell=50, pad=5)
    assert no_labels.height == 2 * 55 + 5 and g.height > no_labels.height
