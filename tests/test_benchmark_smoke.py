"""The benchmark command runs end to end on a tiny site and prints every figure it promises.

Not a performance test: the figures are not checked against targets, only that they are there
and that the crawl fetched every page of the generated site (coverage 100 %).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_command_prints_every_figure(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--pages",
        "40",
        "--hosts",
        "2",
        "--latency",
        "0.01",
        "--threads",
        "4",
        "--parsers",
        "1",
        "--page-bytes",
        "2000",
        "--links",
        "5",
        "--selftest-seconds",
        "1",
        "--quiet-wait",
        "0",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    out = done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^  pages/s +\d+\.\d ", out, re.MULTILINE), out
    assert re.search(r"^  limit pages/s +400\.0 ", out, re.MULTILINE), out  # 4 threads / 10 ms
    assert re.search(r"^  ratio +\d+\.\d\d ", out, re.MULTILINE), out
    assert re.search(r"^  coverage +100\.0 % +40 of 40 generated pages ok", out, re.MULTILINE), out
    for label in (
        "main CPU ms/page",
        "parser CPU ms/page",
        "new TCP connections/host",
        "peak RSS main / tree MiB",
        "server capacity / crawl",
    ):
        assert label in out, (label, out)
    assert (tmp_path / "crawl.json").exists()
