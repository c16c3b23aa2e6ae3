"""What keeping refusals for `crawl why` costs (crawler/store/state.py RefusalLog).

    python -m benchmarks.refusals [--calls N] [--distinct D] [--pages P]

1. The table alone: N refused links over D distinct URLs (most links repeat, as menus do) into
   a fresh state.db; prints µs per refused link, rows written, the database size and the peak
   of Python memory (tracemalloc), which must not grow with N.
2. A crawl: the benchmark site (P pages, 30 links each) crawled with --depth 2, so every link
   of a depth-2 page is refused, with the table and with `refused()` made a no-op; prints
   pages/s and main-process CPU of each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from crawler.store import state
from crawler.store.state import STATE_FILE, Journal, RefusalLog


def table(calls: int, distinct: int) -> dict[str, float]:
    """Time `calls` refusals of `distinct` URLs; returns the figures."""
    with tempfile.TemporaryDirectory(prefix="crawl-refusals-") as tmp:
        path = Path(tmp) / STATE_FILE
        journal = Journal(path)
        log = RefusalLog(path)
        tracemalloc.start()
        started = time.perf_counter()
        for n in range(calls):
            url = f"http://example.com/section/{n % distinct}/page.html"
            log.refused(url, 2, "http://example.com/", "http://example.com/", "--depth 1", "r")
        log.flush()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        sent = log.written
        log.close()
        journal.close()
        import sqlite3

        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT COUNT(*) FROM refusals").fetchone()[0]
        size = path.stat().st_size
    return {
        "calls": calls,
        "us_per_call": seconds / calls * 1e6,
        "sent": sent,
        "rows": rows,
        "db_bytes": size,
        "peak_mib": peak / 2**20,
    }


def crawl_cost(pages: int) -> list[tuple[str, float, float]]:
    """(label, pages/s, main CPU s) of a --depth 2 crawl with and without the table."""
    from crawler import Config, crawl

    from .site_server import SiteServer, SiteSpec

    spec = SiteSpec(pages=pages, hosts=4, page_bytes=20_000, links=30, latency=0.01)
    results = []
    original = RefusalLog.refused
    with SiteServer(spec) as server:
        for label, keep in (("with the table", True), ("refused() a no-op", False)):
            state.RefusalLog.refused = original if keep else (lambda *a, **k: None)  # type: ignore[method-assign]
            try:
                with tempfile.TemporaryDirectory(prefix="crawl-refusals-") as tmp:
                    cpu, started = time.process_time(), time.monotonic()
                    summary = crawl(
                        Config(output=Path(tmp) / "o", depth=2, quiet=True), server.roots()
                    )
                    seconds = time.monotonic() - started
                    results.append((label, summary.pages / seconds, time.process_time() - cpu))
            finally:
                state.RefusalLog.refused = original  # type: ignore[method-assign]
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run both measurements and print them."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.refusals")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=1000)
    args = parser.parse_args(argv)
    for calls in (args.calls // 10, args.calls):
        fig = table(calls, min(args.distinct, calls))
        print(
            f"table: {fig['calls']:>9,} refused links, {fig['sent']:>9,} rows sent, "
            f"{fig['rows']:>7,} kept, "
            f"{fig['us_per_call']:.2f} µs each, state.db {fig['db_bytes'] / 2**20:.1f} MiB, "
            f"Python memory peak {fig['peak_mib']:.1f} MiB"
        )
    for label, rate, cpu in crawl_cost(args.pages):
        print(f"crawl --depth 2, {label}: {rate:.1f} pages/s, main CPU {cpu:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
