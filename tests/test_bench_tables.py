"""scripts/bench_tables.py: tables from a results folder, unknown files skipped, docs/benchmarks.md current."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_tables.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_tables_from_a_fake_bench_folder(tmp_path):
    bench = tmp_path / "bench"
    (bench / "nested").mkdir(parents=True)
    rows = [{"net": "tiny", "size": 256, "median_s": 0.125}, {"net": "wide", "size": 512, "median_s": 1.5}]
    (bench / "speed.json").write_text(json.dumps({"threads": 2, "rows": rows}))
    (bench / "tools.json").write_text(json.dumps({"tools": {"ours": {"fps": 2.0}, "theirs": {"fps": 1.0}}}))
    (bench / "nested" / "results.json").write_text(json.dumps([{"engine": "fast", "peak_rss_gib": 1.57}]))
    (bench / "broken.json").write_text("{not json")
    (bench / "odd.json").write_text(json.dumps({"answer": 42}))
    (bench / "benchmarks.ini").write_text("[speed.json]\ntitle = Speed of the tiny nets\n"
                                          "command = python scripts/bench_speed.py --runs 5\n"
                                          "    --json bench/speed.json\n")
    out = tmp_path / "docs" / "benchmarks.md"

    done = run("--bench", str(bench), "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "## Speed of the tiny nets" in text
    assert "| net | size | median (s) |" in text and "| tiny | 256 | 0.125 |" in text
    assert "python scripts/bench_speed.py --runs 5 \\\n    --json bench/speed.json" in text
    assert "| tool | fps |" in text and "| ours | 2 |" in text
    assert "| fast | 1.57 |" in text
    assert "`bench/broken.json`: not readable as JSON" in text
    assert "`bench/odd.json`: no records" in text

    assert run("--bench", str(bench), "--out", str(out), "--check").returncode == 0
    out.write_text(text + "edited by hand\n")
    assert run("--bench", str(bench), "--out", str(out), "--check").returncode == 1


def test_committed_benchmarks_page_is_current():
    done = run("--check")
    assert done.returncode == 0, done.stderr + "\nrun: python scripts/bench_tables.py"
