"""kill -9 at several moments, then --resume: every URL once, nothing recorded fetched again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.store.writer import read_records

from .conftest import pending_in_journal, read_jsonl


def _crawl(seeds: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawler",
            str(seeds),
            "--output",
            str(out),
            "--threads",
            "8",
            "--parsers",
            "1",
            "-q",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.parametrize(("trigger", "count"), [("requests", 3), ("records", 30), ("records", 110)])
def test_kill_9_then_resume_matches_an_uninterrupted_crawl(
    make_site, tmp_path: Path, trigger: str, count: int
) -> None:
    site = make_site(pages=60, links=4, latency=0.02)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    out = tmp_path / "out"
    proc = _crawl(seeds, out)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # a bounded poll of another process's progress
            done = site.total_requests if trigger == "requests" else _lines(out / "crawl.jsonl")
            if done >= count or proc.poll() is not None:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the crawl ended before it could be killed"

    before = {r["url"]: r for r in read_records(out / "crawl.jsonl")}
    hits_before = {host: dict(stats.hits) for host, stats in site.stats.items()}

    resumed = _crawl(seeds, out, "--resume")
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr

    records = read_jsonl(out / "crawl.jsonl")  # every line whole JSON: a torn tail was dropped
    urls = [r["url"] for r in records]
    assert len(urls) == len(set(urls)), "a URL was recorded twice"
    expected = set().union(*(site.expected(h) for h in site.hosts))
    assert set(urls) == expected
    assert pending_in_journal(out) == 0
    for url, record in before.items():
        for fetched in {url, record.get("final_url") or url}:
            parts = urlsplit(fetched)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            host = parts.hostname
            assert site.stats[host].hits[path] == hits_before[host].get(path, 0), (
                f"{fetched} was recorded before the kill and fetched again"
            )
