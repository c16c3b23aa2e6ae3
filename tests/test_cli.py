"""The `crawl` command: option validation, exit codes, Ctrl-C, resume, `python -m crawler`."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler import __version__
from crawler.cli import main
from crawler.sitegen import Site

from .conftest import pending_in_journal, read_jsonl


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--threads", "0"], "--threads"),
        (["--threads", "many"], "--threads"),
        (["--parsers", "-1"], "--parsers"),
        (["--per-host", "0"], "--per-host"),
        (["--depth", "-1"], "--depth"),
        (["--max-pages", "0"], "--max-pages"),
        (["--scope", "planet"], "--scope"),
        (["--allow", "("], "--allow"),
        (["--deny", "[a-"], "--deny"),
        (["--delay", "-2"], "--delay"),
        (["--delay", "nan"], "--delay"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "inf"], "--timeout"),
        (["--max-bytes", "0"], "--max-bytes"),
        (["--retries", "-1"], "--retries"),
        (["--max-redirects", "x"], "--max-redirects"),
        (["--user-agent", ""], "--user-agent"),
        (["--quiet", "--verbose"], "--verbose"),
    ],
)
def test_bad_values_exit_2_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")
    err = io.StringIO()
    code = main([str(seeds), *args, "--output", str(tmp_path / "out")], stderr=err)
    assert code == 2
    assert option in err.getvalue() + capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_seeds_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = io.StringIO()
    assert main([], stderr=err) == 2
    assert "SEEDS" in err.getvalue()


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"crawl {__version__}"
    assert main(["--help"]) == 0
    assert "--per-host" in capsys.readouterr().out


def test_seeds_from_stdin(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "-", "--depth", "0", "--output", str(out), "-q"],
        input="\n".join(site.seed_urls()) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert {r["url"] for r in read_jsonl(out / "crawl.jsonl")} == set(site.seed_urls())


def test_summary_line_on_stderr(site: Site, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    err = io.StringIO()
    assert main([str(seeds), "--depth", "1", "--output", str(tmp_path / "o")], stderr=err) == 0
    last = err.getvalue().strip().splitlines()[-1]
    pages = len(read_jsonl(tmp_path / "o" / "crawl.jsonl"))
    assert last.startswith(f"crawl: {pages} pages, ") and last.endswith(" pages/s")


def _wait_for_lines(path: Path, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return True
        time.sleep(0.05)  # a bounded poll of a file written by another process
    return False


def _start(seeds: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawler",
            str(seeds),
            "--output",
            str(out),
            "--threads",
            "4",
            "--parsers",
            "1",
            "--per-host",
            "2",
            "-q",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigint_exits_130_with_valid_output_and_resume_completes(make_site, tmp_path: Path) -> None:
    site = make_site(pages=120, latency=0.05)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    out = tmp_path / "out"
    proc = _start(seeds, out)
    try:
        assert _wait_for_lines(out / "crawl.jsonl", 10, timeout=60), "crawl made no progress"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    first = read_jsonl(out / "crawl.jsonl")  # every line is valid JSON
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_reason"] == "interrupted"
    assert summary["pages"] == len(first)
    assert summary["pending"] > 0, "nothing left to resume"
    assert pending_in_journal(out) == summary["pending"]

    done_before = {r["url"] for r in first}
    hits_before = sum(sum(s.hits.values()) for s in site.stats.values())
    resumed = _start(seeds, out, "--resume")
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    records = read_jsonl(out / "crawl.jsonl")
    urls = [r["url"] for r in records]
    assert len(urls) == len(set(urls)), "a URL was recorded twice"
    expected = set().union(*(site.expected(h) for h in site.hosts))
    assert set(urls) == expected
    assert pending_in_journal(out) == 0
    assert sum(sum(s.hits.values()) for s in site.stats.values()) > hits_before
    assert done_before < set(urls)


def test_resume_without_an_earlier_crawl_is_a_usage_error(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")
    err = io.StringIO()
    assert main([str(seeds), "--resume", "--output", str(tmp_path / "none")], stderr=err) == 2
    assert "--resume" in err.getvalue()


def test_output_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = io.StringIO()
    assert main([str(seeds), "--output", str(blocker / "out")], stderr=err) == 2
    assert "--output" in err.getvalue()


def test_unreachable_seed_is_recorded_not_fatal(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")  # the discard port: nothing listens
    out = tmp_path / "out"
    assert main([str(seeds), "--output", str(out), "-q", "--retries", "0"]) == 0
    (record,) = read_jsonl(out / "crawl.jsonl")
    assert record["ok"] is False and record["error"]["kind"] == "connection"
    assert record["status"] is None


def test_demo_runs_offline(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "--demo", "--output", str(out), "--parsers", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "crawl.jsonl")
    assert len(records) > 500
    assert "pages/s" in result.stderr.splitlines()[-1]
