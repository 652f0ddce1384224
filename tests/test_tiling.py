"""Any-size images: tiles with the whole image's statistics give the untiled result; tiling switches on by itself."""

from __future__ import annotations

import pytest
import torch

from nst_toolkit.engines.adain import AdaINConfig
from nst_toolkit.engines.adain.engine import AdaINEngine
from nst_toolkit.engines.fast import FastConfig
from nst_toolkit.engines.fast.engine import FastEngine
from nst_toolkit.errors import NSTError
from nst_toolkit.memory import choose_tile
from nst_toolkit.tiling import run_tiled, tile_spans


def test_tile_spans_cover_and_overlap():
    for length in (100, 511, 512, 1000, 4001):
        spans = tile_spans(length, 256, 32, 8)
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(a % 8 == 0 for a, _ in spans)
        assert all(b1 - a2 >= 32 for (_, b1), (a2, _) in zip(spans, spans[1:]))


def test_run_tiled_is_exact_for_a_pointwise_function():
    x = torch.rand(1, 3, 70, 130)
    out = run_tiled(lambda t: 1 - t, x, tile=32, halo=8, overlap=8, multiple=8)
    assert torch.allclose(out, 1 - x, atol=1e-6)
    with pytest.raises(NSTError, match="tile must be"):
        run_tiled(lambda t: t, x, tile=12, halo=8, overlap=8, multiple=8)


def test_choose_tile():
    assert choose_tile(None, 1000, 100.0, 8) is None  # small: untiled
    assert choose_tile(None, 24_000_000, 400.0, 8, 64) == 872  # 24 MP: tiled by itself, 0.375 GiB a tile
    assert choose_tile(0, 24_000_000, 400.0, 8) is None and choose_tile(300, 10, 1.0, 8) == 296


@pytest.mark.parametrize("engine", ["fast", "adain"])
def test_tiled_equals_untiled(engine):
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 190, 300, generator=g), 3, 1, 1)
    if engine == "fast":
        make = lambda tile: FastEngine(FastConfig(model="test_net", tile=tile))
        run = lambda e: e.stylize(x)
    else:
        s = torch.rand(1, 3, 64, 64, generator=g)
        make = lambda tile: AdaINEngine(AdaINConfig(tile=tile, style_size=64))
        run = lambda e: e.stylize(x, s)
    with torch.inference_mode():
        untiled, tiled = run(make(0)), run(make(96))
    assert (untiled - tiled).abs().max() < 1e-4  # the statement in the README: equal within 1e-4


def test_freed_memory_goes_back_to_the_system():
    """With glibc, `nst fast`/`nst adain` fix the mmap threshold, so freed tile-sized tensors leave the
    resident set. Run in a fresh interpreter, as the command is (this process's heap has a history)."""
    import platform
    import subprocess
    import sys

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    code = """
import sys, torch
from nst_toolkit.memory import return_freed_memory_promptly
if sys.argv[1] == "fix":
    assert return_freed_memory_promptly() is True
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096
keep = []
for _ in range(3):
    parts = []
    for _ in range(48):  # 4-MiB blocks (tile-sized) between small ones that stay
        parts.append(torch.ones(4 << 20, dtype=torch.uint8))
        keep.append(torch.ones(16 << 10, dtype=torch.uint8))
    before = rss()
    del parts
    print((before - rss()) >> 20)
"""
    freed = {mode: [int(v) for v in subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                                   check=True).stdout.split()] for mode in ("fix", "default")}
    assert all(v > 150 for v in freed["fix"]), freed  # every round gives its 192 MiB back
    assert min(freed["default"]) < 100, freed  # glibc's own rule keeps a round's blocks in its heap (the fault fixed)
