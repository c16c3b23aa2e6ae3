"""Shared fixtures: a real site on loopback hosts, an in-process crawl, and a hang watchdog."""

from __future__ import annotations

import faulthandler
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest

from crawler import Config, crawl
from crawler.engine import Summary
from crawler.sitegen import Site
from tests.routes import FixtureSite

# A hung test dumps every thread's stack instead of sitting silent until CI's limit. The dump
# goes to a file: the process exits right after it, and what it wrote to its (captured) stderr
# would be lost with pytest's capture. The file is removed when the session ends normally.
WATCHDOG_SECONDS = float(os.environ.get("CRAWL_WATCHDOG_SECONDS", "120"))
WATCHDOG_DIR = Path(os.environ.get("CRAWL_WATCHDOG_DIR") or tempfile.gettempdir())


def watchdog_path() -> Path:
    """Where this test process's watchdog writes the stacks of a hung test."""
    return WATCHDOG_DIR / f"crawl-watchdog-{os.getpid()}.txt"


def pytest_report_header() -> str:
    return f"hang watchdog: {WATCHDOG_SECONDS:g} s per test, stacks to {watchdog_path()}"


@pytest.fixture(scope="session")
def _watchdog_file() -> Iterator[TextIO]:
    path = watchdog_path()
    with open(path, "w", encoding="utf-8") as handle:
        yield handle
    path.unlink(missing_ok=True)  # the session ended: no hang to keep


@pytest.fixture(autouse=True)
def _watchdog(request: pytest.FixtureRequest, _watchdog_file: TextIO) -> Iterator[None]:
    handle = _watchdog_file
    handle.seek(0)
    handle.truncate()
    handle.write(f"{request.node.nodeid}: no progress for {WATCHDOG_SECONDS:g} s\n")
    handle.flush()
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True, file=handle)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def site() -> Iterator[Site]:
    """The generated site (and tests/routes.py) on 127.0.0.1 and 127.0.0.2 (one free port)."""
    with FixtureSite(("127.0.0.1", "127.0.0.2"), pages=40, links=4) as s:
        yield s


@pytest.fixture
def make_site() -> Iterator[Callable[..., Site]]:
    """A factory for sites with other sizes, latency or robots.txt; all closed at the end."""
    sites: list[Site] = []

    def make(**kwargs: Any) -> Site:
        kwargs.setdefault("pages", 40)
        kwargs.setdefault("links", 4)
        hosts = kwargs.pop("hosts", ("127.0.0.1", "127.0.0.2"))
        s = FixtureSite(hosts, **kwargs).start()
        sites.append(s)
        return s

    yield make
    for s in sites:
        s.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a crawl.jsonl, parsed (a bad line fails the test)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def journal_counts(out: Path) -> tuple[int, int]:
    """(admitted, admitted but not finished) as the resume journal in `out` has them."""
    from crawler.store.state import STATE_FILE, Journal

    journal = Journal(out / STATE_FILE, resume=True)
    try:
        return journal.counts()
    finally:
        journal.close()


def pending_in_journal(out: Path) -> int:
    """URLs admitted but not finished, as the resume journal in `out` has them."""
    return journal_counts(out)[1]


@pytest.fixture
def run_crawl(tmp_path: Path) -> Callable[..., tuple[Summary, list[dict[str, Any]]]]:
    """Crawl in-process into a temporary folder; returns (summary, records)."""

    def run(seeds: list[str], **options: Any) -> tuple[Summary, list[dict[str, Any]]]:
        on_started = options.pop("on_started", None)
        options.setdefault("threads", 8)
        options.setdefault("parsers", 2)
        options.setdefault("timeout", 5.0)
        out = options.pop("output", tmp_path / "out")
        config = Config(output=out, **options)
        summary = crawl(config, seeds, on_started=on_started)
        return summary, read_jsonl(out / "crawl.jsonl")

    return run
