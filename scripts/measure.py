"""One command's wall time and peak resident memory (GNU time), shared by the benchmark scripts."""

from __future__ import annotations

import subprocess
import time


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in GiB). A failing command ends the benchmark with its stderr."""
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "maxrss_kib %M", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall, int(proc.stderr.strip().splitlines()[-1].split()[-1]) / 2**20
