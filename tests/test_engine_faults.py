"""The engine when its own parts fail: nothing leaks, nothing is swallowed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crawler import Config, crawl
from crawler.engine import Summary
from crawler.fetch.worker import FetcherThread
from crawler.parse.pool import ParserPool
from crawler.sitegen import Site

RunCrawl = Callable[..., tuple[Summary, list[dict[str, Any]]]]


def test_a_failure_while_starting_the_parsers_leaves_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mutation: ParserPool.start() called before engine.crawl's try (the first child leaks).
    started: list[Any] = []
    real_spawn = ParserPool._spawn

    def spawn(pool: ParserPool) -> Any:
        if started:
            raise OSError("no more processes")
        parser = real_spawn(pool)
        started.append(parser.process)
        return parser

    monkeypatch.setattr(ParserPool, "_spawn", spawn)
    with pytest.raises(OSError, match="no more processes"):
        crawl(Config(output=tmp_path / "out", parsers=2), ["http://127.0.0.1:9/"])
    (process,) = started
    assert not process.is_alive()
    assert process.exitcode is not None  # joined (reaped), not left a zombie


# The thread dies on purpose: pytest's report of an exception that ended a thread is expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_base_exception_in_a_fetcher_stops_the_crawl_instead_of_being_swallowed(
    site: Site, run_crawl: RunCrawl, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mutation: the fetcher loop catches BaseException and goes on (each item would become an
    # `internal` record and the crawl would say "finished").
    real_handle = FetcherThread.handle
    raised = threading.Event()

    def handle(self: FetcherThread, item: Any, session: Any) -> bool:
        if item.parent is not None and not raised.is_set():
            raised.set()
            raise KeyboardInterrupt  # not an Exception: not a fault of this item alone
        return real_handle(self, item, session)

    monkeypatch.setattr(FetcherThread, "handle", handle)
    summary, _ = run_crawl(site.seed_urls()[:1], threads=2)
    assert raised.is_set()
    assert summary.exit_reason == "error"
    assert summary.internal_faults >= 1
