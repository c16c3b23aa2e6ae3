"""The one-file executable built with PyInstaller, exactly as README.md says, really run.

Set CRAWL_EXE to an existing build to skip the build step; `-m "not frozen"` skips the file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler import __version__
from crawler.sitegen import Site
from tests.routes import FixtureSite

from .conftest import read_jsonl

pytestmark = pytest.mark.frozen
ROOT = Path(__file__).resolve().parent.parent


def build_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.split("<!-- build-command -->", 1)[1].splitlines()
    assert lines[1] == "```sh"
    return lines[2]


@pytest.fixture(scope="session")
def exe() -> Path:
    given = os.environ.get("CRAWL_EXE")
    if given:
        return Path(given)
    result = subprocess.run(
        ["bash", "-c", build_command()], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    path = ROOT / "dist" / "crawl"
    assert path.is_file() and os.access(path, os.X_OK)
    return path


def _processes_of(exe: Path) -> list[int]:
    """Pids whose command line starts with the executable (bootloader, app, parsers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue
        if argv0 == str(exe).encode():
            pids.append(int(entry.name))
    return pids


def _no_processes_left(exe: Path, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _processes_of(exe):
            return True
        time.sleep(0.05)  # a bounded poll of /proc
    return False


def test_version_help_and_usage_errors_match_the_package(exe: Path, tmp_path: Path) -> None:
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout.strip()) == (0, f"crawl {__version__}")
    helped = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "--per-host" in helped.stdout
    bad = subprocess.run(
        [str(exe), "x", "--threads", "0"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "--threads" in bad.stderr
    missing = subprocess.run(
        [str(exe), str(tmp_path / "nope.txt"), "--output", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "not found" in missing.stderr


@pytest.fixture
def slow_site() -> Iterator[Site]:
    with FixtureSite(pages=40, links=4, latency=0.01) as site:
        yield site


def test_parsers_work_inside_the_executable(exe: Path, slow_site: Site, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(slow_site.seed_urls()) + "\n")
    out = tmp_path / "out"
    result = subprocess.run(
        [str(exe), str(seeds), "--parsers", "2", "--threads", "8", "--output", str(out), "--warc"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "crawl.jsonl")
    expected = set().union(*(slow_site.expected(h) for h in slow_site.hosts))
    assert {r["url"] for r in records} == expected, "links were not followed"
    assert sum(r["links"] for r in records) > len(records), "pages were not parsed"
    assert not [r for r in records if r["error"] and r["error"]["kind"] == "parse"]
    # A child that re-ran the command line would print a usage error or a second summary.
    assert "usage:" not in result.stderr
    summaries = [line for line in result.stderr.splitlines() if line.endswith(" pages/s")]
    assert len(summaries) == 1, result.stderr
    assert json.loads((out / "summary.json").read_text())["parser_restarts"] == 0
    # warcio is inside the executable: the archive and its index were written.
    assert list((out / "warc").glob("*.warc.gz"))
    index = (out / "warc" / "index.cdxj").read_text().splitlines()
    assert len(index) >= len(records)
    assert _no_processes_left(exe)


def test_ctrl_c_exits_130_and_leaves_no_orphans(exe: Path, tmp_path: Path) -> None:
    with FixtureSite(pages=200, links=4, latency=0.3) as site:
        seeds = tmp_path / "seeds.txt"
        seeds.write_text("\n".join(site.seed_urls()) + "\n")
        proc = subprocess.Popen(
            [str(exe), str(seeds), "--parsers", "2", "--output", str(tmp_path / "out"), "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert site.wait_for_requests(6, timeout=60), "the executable made no request"
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert _no_processes_left(exe), f"orphans: {_processes_of(exe)}"
    read_jsonl(tmp_path / "out" / "crawl.jsonl")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["exit_reason"] == (
        "interrupted"
    )
