"""A full disk, an odd path or a bomb: nothing lost, one clear line.

The full disk is a fake file object put where `io` opens its temporary files (the write raises ENOSPC, or
claims more bytes than it wrote); everything else is real: the real commands, bundled weights, small images.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import struct
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from PIL import Image

from nst_toolkit import io, memory
from nst_toolkit.checkpoints import MAX_TENSORS, read_metadata, save_checkpoint, user_models_dir
from nst_toolkit.errors import NSTError, WeightsError
from nst_toolkit.images import save_image
from nst_toolkit.io import WriteError
from nst_toolkit.report import write_json

from .conftest import make_photo
from .conftest import one_error_line as refused
from .conftest import run_cli as run

OLD = b"the old file, which must survive"


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(io.TMP_SUFFIX)]


class FullDisk:
    """A file object that takes ``room`` bytes, then fails as a full disk does (or, ``lie``: claims to have
    written everything while keeping only those bytes, as a writer that ignores a short write would)."""

    def __init__(self, path: Path, room: int, lie: bool = False):
        self.f = open(path, "wb", buffering=0)
        self.room, self.lie = room, lie

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        take = min(len(data), self.room)
        if take == 0 and not self.lie:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= take
        n = self.f.write(data[:take])
        return len(data) if self.lie else n

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def full_disk(monkeypatch, room: int = 100, lie: bool = False, only: str = "") -> None:
    """Every temporary file ``io`` writes (whose name holds ``only``) lands on a disk with ``room`` bytes left."""
    real = io.open_for_writing

    def fake(tmp: Path):
        return FullDisk(tmp, room, lie) if only in tmp.name else real(tmp)

    monkeypatch.setattr(io, "open_for_writing", fake)


# ------------------------------------------------------------------ B1: checked, synced, atomic writes

@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.bmp", "out.tif", "out.webp"])
@pytest.mark.parametrize("lie", [False, True])
def test_a_full_disk_keeps_the_old_picture_byte_for_byte(tmp_path, monkeypatch, name, lie):
    out = tmp_path / name
    out.write_bytes(OLD)
    full_disk(monkeypatch, lie=lie)
    with pytest.raises(WriteError) as e:
        save_image(torch.rand(1, 3, 40, 40), out)
    msg = str(e.value)
    assert msg.startswith(f"could not write {out}: ") and "\n" not in msg
    assert ("no space left on device" in msg) if not lie else ("of its" in msg and "bytes reached the disk" in msg)
    assert out.read_bytes() == OLD and no_temporaries(tmp_path)


def test_short_writes_that_say_so_are_completed(tmp_path, monkeypatch):
    class Trickle(FullDisk):  # takes at most 7 bytes a call, honestly
        def write(self, data):
            return self.f.write(memoryview(data).cast("B")[:7])

    monkeypatch.setattr(io, "open_for_writing", lambda tmp: Trickle(tmp, 0))
    data = bytes(range(256)) * 3
    io.atomic_write(tmp_path / "x.bin", data)
    assert (tmp_path / "x.bin").read_bytes() == data and no_temporaries(tmp_path)


def test_the_cli_says_full_disk_in_one_line_and_keeps_the_old_output(tmp_path, monkeypatch, photo):
    out = tmp_path / "out.jpg"
    out.write_bytes(OLD)
    full_disk(monkeypatch)
    r = run("fast", photo, "-m", "test_net", "--size", "64", "-o", out)
    refused(r, f"could not write {out}: no space left on device")
    assert out.read_bytes() == OLD and no_temporaries(tmp_path)


def test_checkpoints_json_and_writers_that_report_their_size(tmp_path, monkeypatch):
    ck, js = tmp_path / "m.safetensors", tmp_path / "m.json"
    ck.write_bytes(OLD)
    js.write_bytes(OLD)
    with monkeypatch.context() as m:
        full_disk(m, room=1000)
        with pytest.raises(WriteError, match="no space left on device"):
            save_checkpoint(ck, {"model.w": torch.zeros(1000)}, {"engine": "fast"})
        with pytest.raises(WriteError, match="no space left on device"):
            write_json(js, {"x": "é" * 2000})
    assert ck.read_bytes() == OLD and js.read_bytes() == OLD and no_temporaries(tmp_path)
    # A writer that says how many bytes it meant to write is held to it; one that wrote nothing always fails.
    with pytest.raises(WriteError, match="3 of its 10 bytes"):
        io.atomic_write(ck, lambda tmp: tmp.write_bytes(b"abc") and 10)
    with pytest.raises(WriteError, match="nothing was written"):
        io.atomic_write(ck, lambda tmp: None)
    assert ck.read_bytes() == OLD and no_temporaries(tmp_path)


def test_error_numbers_become_words():
    for number, words in ((errno.ENOSPC, "no space left on device"), (errno.EACCES, "permission denied"),
                          (errno.EISDIR, "it is a folder"), (errno.EROFS, "read-only file system"),
                          (errno.EDQUOT, "disk quota exceeded")):
        e = io.write_failure(Path("out.jpg"), OSError(number, os.strerror(number), "/x/.out.jpg.1-a.nst-tmp"))
        assert str(e) == f"could not write out.jpg: {words}" and isinstance(e, NSTError)


def test_a_clip_that_cannot_be_finished_leaves_the_old_one(tmp_path, monkeypatch):
    pytest.importorskip("av")
    from nst_toolkit import video

    out = tmp_path / "clip.mp4"
    out.write_bytes(OLD)

    def no_room(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(video, "sync_file", no_room)
    with pytest.raises(WriteError, match=f"could not write {out}: no space left on device"):
        with video.ClipWriter(out, 12) as w:
            for _ in range(3):
                w.write(torch.rand(1, 3, 32, 32))
    assert out.read_bytes() == OLD and no_temporaries(tmp_path)


# ------------------------------------------------------------------ B2: a result set whole or not at all

def test_a_run_whose_manifest_cannot_be_written_leaves_no_new_picture(tmp_path, monkeypatch, photo, painting):
    out = tmp_path / "out.png"
    out.write_bytes(OLD)
    full_disk(monkeypatch, only=".out.json.")
    r = run("gatys", photo, painting, "-o", out, "--size", "48", "--iterations", "2", "--gif", "--plot", "--quiet")
    refused(r, f"could not write {tmp_path / 'out.json'}: no space left on device")
    assert out.read_bytes() == OLD  # the new picture did not replace the old one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "painting.jpg", "photo.png"]


# ------------------------------------------------------------------ B3: a folder in the way

@pytest.mark.parametrize("command", ["gatys", "fast", "adain", "features", "eval", "train-fast"])
def test_an_output_path_that_is_a_folder_is_one_line(tmp_path, photo, painting, command):
    name = {"eval": "out.json", "train-fast": "out.safetensors"}.get(command, "out.png")
    out = tmp_path / name
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = {
        "gatys": ["gatys", photo, painting, "--size", "48", "--iterations", "1"],
        "fast": ["fast", photo, "-m", "test_net", "--size", "64"],
        "adain": ["adain", photo, painting, "--size", "64"],
        "features": ["features", photo, "--size", "64"],
        "eval": ["eval", photo, "--style", painting],
        "train-fast": ["train-fast", "--style", painting, "--steps", "1"],
    }[command]
    refused(run(*args, "-o", out), "is a folder")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_folder_named_like_a_stale_temporary_does_not_break_writes(tmp_path, photo):
    out = tmp_path / "out.png"
    squatter = tmp_path / ".out.png.999999.nst-tmp"  # pid 999999 runs no process here
    squatter.mkdir()
    assert io.stale_temporaries(out) == []  # not a file of ours: never removed
    for _ in range(2):
        r = run("fast", photo, "-m", "test_net", "--size", "64", "-o", out, "--quiet")
        assert r.exit_code == 0, r.output
    assert out.is_file() and squatter.is_dir()


# ------------------------------------------------------------------ B4: inputs that are not regular files

@contextmanager
def deadline(seconds: int):
    """Fail instead of hanging: a blocked open() is interrupted by the alarm."""
    def expired(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("case", ["fast", "adain_content", "adain_style", "gatys", "eval", "video", "train_style"])
def test_a_named_pipe_is_refused_at_once(tmp_path, photo, painting, case):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    out = tmp_path / "out.png"
    args = {
        "fast": ["fast", pipe, "-m", "test_net", "-o", out],
        "adain_content": ["adain", pipe, painting, "-o", out],
        "adain_style": ["adain", photo, pipe, "-o", out],
        "gatys": ["gatys", pipe, painting, "-o", out, "--iterations", "1"],
        "eval": ["eval", photo, "--style", pipe],
        "video": ["video", pipe, "-o", tmp_path / "out.mp4", "--model", "test_net"],
        "train_style": ["train-fast", "--style", pipe, "-o", tmp_path / "m.safetensors", "--steps", "1"],
    }[case]
    start = time.monotonic()
    with deadline(30):
        r = run(*args)
    refused(r, f"{pipe}: a named pipe (FIFO), not a regular file")
    assert time.monotonic() - start < 30 and not out.exists()


def test_devices_folders_and_link_loops_say_what_they_are(tmp_path, photo, painting):
    out = tmp_path / "out.png"
    with deadline(30):
        refused(run("fast", "/dev/zero", "-m", "test_net", "-o", out), "/dev/zero: a device, not a regular file")
        refused(run("fast", photo, "-m", "/dev/zero", "-o", out), "/dev/zero: a device, not a regular file")
        refused(run("adain", photo, tmp_path, "-o", out), f"{tmp_path}: is a folder, not an image")
    loop = tmp_path / "loop.safetensors"
    loop.symlink_to(loop.name)
    for model in (loop, tmp_path / "loop"):
        if model != loop:
            model.symlink_to(model.name)
        line = refused(run("fast", photo, "-m", model, "-o", out), "a symbolic link loop")
        assert "no shipped fast model" not in line and "no such" not in line
    with pytest.raises(WeightsError, match="a device, not a regular file"):
        read_metadata("/dev/zero")
    assert not out.exists()


# ------------------------------------------------------------------ B5: sizes that cannot fit

@pytest.mark.parametrize("args,expect", [
    (["fast", "PHOTO", "-m", "test_net", "--size", "100000"], "for the picture itself"),
    (["adain", "PHOTO", "PAINTING", "--size", "100000"], "for the picture itself"),
    (["fast", "PHOTO", "-m", "test_net", "--size", "100000", "--tile", "0"], "in one pass"),
    (["video", "FOLDER", "--model", "test_net", "--size", "100000"], "for the picture itself"),
])
def test_a_huge_size_on_a_one_pass_engine_is_refused_before_any_work(tmp_path, monkeypatch, photo, painting,
                                                                     photo_folder, args, expect):
    monkeypatch.setattr(memory, "available_bytes", lambda: 16 * memory.GIB)  # the same answer on any machine
    fill = {"PHOTO": photo, "PAINTING": painting, "FOLDER": photo_folder}
    out = tmp_path / "out.png" if args[0] != "video" else tmp_path / "out.mp4"
    start = time.monotonic()
    line = refused(run(*[fill.get(a, a) for a in args], "-o", out), expect)
    assert "the largest that fits is about --size" in line and time.monotonic() - start < 30
    assert not out.exists()


def test_the_one_pass_memory_rule():
    gib = memory.GIB
    memory.require_one_pass("fast", 1000, 750, None, 1280.0, available=8 * gib)  # fits: tiles bound the network
    memory.require_one_pass("fast", 1000, 750, 0, 1280.0, available=8 * gib)  # fits untiled too
    with pytest.raises(NSTError, match=r"in one pass needs about .* the largest that fits is about --size \d+ untiled; "
                                       r"without --tile 0 it goes in tiles"):
        memory.require_one_pass("fast", 8000, 6000, 0, 1280.0, available=8 * gib)
    memory.require_one_pass("fast", 8000, 6000, None, 1280.0, available=8 * gib)  # the same size in tiles fits
    with pytest.raises(NSTError, match="for the picture itself"):
        memory.require_one_pass("adain", 100000, 56250, None, 500.0, available=64 * gib)  # 67 GB of input alone


def test_the_python_api_checks_the_size_too(monkeypatch, photo):
    from nst_toolkit import api

    monkeypatch.setattr(memory, "available_bytes", lambda: 16 * memory.GIB)
    with pytest.raises(NSTError, match="the largest that fits is about --size"):
        api.stylize(photo, engine="fast", model="test_net", size=100000)


# ------------------------------------------------------------------ B6: bombs in the training data

def png_claiming(w: int, h: int) -> bytes:
    """A PNG whose header claims w×h pixels (a few dozen bytes; decoding it would allocate w×h×3)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def test_a_bomb_in_the_training_data_is_skipped_without_decoding_or_warning(tmp_path, monkeypatch, recwarn):
    from PIL import ImageFile

    from nst_toolkit.data import CropSampler

    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(3):
        make_photo(72, 64, i).save(folder / f"p{i}.jpg")
    (folder / "bomb.png").write_bytes(png_claiming(12000, 12000))  # 144 megapixels
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or real_load(self))
    sampler = CropSampler(str(folder), 32)
    assert len(sampler) == 3 and sampler.skipped == 1
    assert (12000, 12000) not in decoded
    assert not [w for w in recwarn.list if issubclass(w.category, Image.DecompressionBombWarning)]


# ------------------------------------------------------------------ B7: headers with too many tensors

def test_a_header_with_too_many_tensors_is_refused_at_once(tmp_path):
    entries = ",".join(f'"t{i}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}' for i in range(1_670_000))
    meta = json.dumps({"__metadata__": {"nst": json.dumps({"engine": "fast"})}})[1:-1]
    header = ("{" + meta + "," + entries + "}").encode()
    folder = user_models_dir("fast")
    folder.mkdir(parents=True, exist_ok=True)
    bomb = folder / "zz_many_tensors.safetensors"
    bomb.write_bytes(struct.pack("<Q", len(header)) + header)
    try:
        start = time.monotonic()
        with pytest.raises(WeightsError, match=f"more than {MAX_TENSORS} tensors"):
            read_metadata(bomb)
        assert time.monotonic() - start < 2.0
        r = run("models")
        assert r.exit_code == 0 and [row for row in r.output.splitlines()
                                     if "zz_many_tensors" in row and "unreadable:" in row and "tensors" in row], r.output
    finally:
        bomb.unlink()


# ------------------------------------------------------------------ B8: honest training checkpoints

def test_an_interrupted_last_save_reports_the_checkpoint_that_is_on_disk(tmp_path, monkeypatch, photo_folder, painting):
    from nst_toolkit import checkpoints

    real = checkpoints.save_checkpoint

    def killed_at_the_last_step(path, tensors, metadata):  # SIGTERM lands while the final checkpoint is written
        if metadata.get("step") == 3 and "optimizer" in metadata:
            raise KeyboardInterrupt
        return real(path, tensors, metadata)

    monkeypatch.setattr(checkpoints, "save_checkpoint", killed_at_the_last_step)
    model = tmp_path / "m.safetensors"
    r = run("train-fast", "--style", painting, "--data", photo_folder, "-o", model, "--size", "32", "--batch-size", "2",
            "--steps", "3", "--width", "8", "--n-res", "1", "--base", "none", "--train-params", "all",
            "--checkpoint-every", "2", "--style-size", "48", "--val-image", painting, "--quiet", "--device", "cpu")
    assert r.exit_code == 130, r.output
    ck = tmp_path / "m.run" / "checkpoint.safetensors"
    assert read_metadata(ck)["step"] == 2 and not model.exists()
    assert f"the checkpoint of step 2 is in {ck}" in r.output and "step 3" not in r.output
