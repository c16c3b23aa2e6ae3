"""The figures of one crawl: run `crawler.crawl()` against the served site and measure it.

`run_crawl` crawls in this process and returns `CrawlFigures` (rate, the theoretical limit, CPU
of the main process and of the parsers apart, peak RSS of the process tree, the server's
counters, other processes' load); `measure_crawl` crawls again while other processes disturb
the measurement; `self_test` measures the server's own capacity. `ToolFigures` are the same
for another crawler (compare.py).
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .defaults import ATTEMPTS, DISTURBED, MAX_SECONDS, QUIET_WAIT
from .measure import RssSampler, children_cpu, machine_cpu, wait_for_quiet
from .site_server import SiteServer, SiteSpec, measure_capacity


@dataclass(frozen=True, slots=True)
class Limit:
    """The theoretical limit: the slower of the thread pool and the busiest host."""

    rate: float | None  # pages/s; None when L = 0 (no latency bound)
    threads_seconds: float  # P·L / threads
    host_seconds: float  # max over hosts of P_h·L / per-host

    @staticmethod
    def of(spec: SiteSpec, threads: int, per_host: int) -> Limit:
        """The limit of crawling `spec` with `threads` threads and `per_host` per host."""
        latency = spec.latency
        by_threads = spec.pages * latency / threads
        by_hosts = max(n * latency / per_host for n in spec.pages_per_host())
        slowest = max(by_threads, by_hosts)
        return Limit(spec.pages / slowest if slowest > 0 else None, by_threads, by_hosts)


@dataclass(slots=True)
class CrawlFigures:
    """Everything measured in one crawl of the site."""

    spec: dict[str, Any]
    threads: int
    per_host: int
    parsers: int
    pages: int  # generated
    records: int
    covered: int  # generated pages recorded ok
    errors: dict[str, int]
    exit_reason: str
    seconds: float  # crawl() call to return
    engine_seconds: float  # Summary.seconds
    main_cpu: float
    parser_cpu: float
    sampler_cpu: float
    rss_main: int
    rss_tree: int
    processes: int
    parser_restarts: int
    server: dict[str, Any]
    limit: Limit
    other_cpu: float = 0.0  # CPU seconds used meanwhile by processes outside the benchmark
    waited: float = 0.0  # seconds waited for the machine to go quiet before starting
    attempts: int = 1  # crawls made to get one that other processes did not disturb
    capacity: dict[str, Any] | None = None
    parser: str = ""  # the --parser backend

    @property
    def others(self) -> float:
        """Cores used by processes outside the benchmark during the crawl."""
        return self.other_cpu / self.seconds if self.seconds > 0 else 0.0

    @property
    def rate(self) -> float:
        """Pages per second over the whole crawl() call (parser start-up included)."""
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_window(self) -> float:
        """Seconds from the first request to the last answer, on the server's clock."""
        first, last = self.server.get("first_at"), self.server.get("last_at")
        return (last - first) if first is not None and last is not None else 0.0

    @property
    def server_rate(self) -> float:
        """Pages per second between the first request and the last answer."""
        served = sum(h["pages"] for h in self.server["hosts"])
        return served / self.server_window if self.server_window > 0 else 0.0

    @property
    def ratio(self) -> float | None:
        """pages/s over the limit."""
        return self.rate / self.limit.rate if self.limit.rate else None

    @property
    def coverage(self) -> float:
        """Share of the generated pages recorded ok."""
        return self.covered / self.pages if self.pages else 0.0

    def as_json(self) -> dict[str, Any]:
        """The figures, derived ones included, as plain data."""
        data = asdict(self)
        data.update(
            rate=self.rate,
            ratio=self.ratio,
            coverage=self.coverage,
            server_rate=self.server_rate,
            main_cpu_ms_per_page=1000 * self.main_cpu / max(1, self.records),
            parser_cpu_ms_per_page=1000 * self.parser_cpu / max(1, self.records),
        )
        return data


@dataclass(slots=True)
class ToolFigures:
    """Another crawler's run on the same site."""

    name: str
    command: list[str]
    returncode: int | None
    seconds: float  # wall time of the subprocess
    inner_seconds: float | None  # the tool's own timing, when it reports one
    cpu: float  # CPU seconds of the subprocess tree (RUSAGE_CHILDREN)
    rss_tree: int
    server: dict[str, Any]
    note: str = ""
    other_cpu: float = 0.0  # CPU seconds used meanwhile by processes outside the benchmark
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """Distinct pages of the site it fetched (server side)."""
        return sum(h["distinct_pages"] for h in self.server["hosts"])

    @property
    def rate(self) -> float:
        """Pages per second, wall time of the process."""
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_rate(self) -> float:
        """Pages per second between its first request and last answer (server clock)."""
        first, last = self.server.get("first_at"), self.server.get("last_at")
        if first is None or last is None or last <= first:
            return 0.0
        return sum(h["pages"] for h in self.server["hosts"]) / (last - first)


# -- one crawl ---------------------------------------------------------------------------------


def run_crawl(
    server: SiteServer,
    *,
    threads: int,
    per_host: int,
    parsers: int,
    parser: str | None = None,
    max_seconds: float = MAX_SECONDS,
    quiet_wait: float = QUIET_WAIT,
    warc: bool = False,
) -> CrawlFigures:
    """Crawl the served site in this process and measure it.

    Main-process CPU is `time.process_time()` (every thread) less the RSS sampler's own share;
    the parsers' CPU is the growth of RUSAGE_CHILDREN, which counts them once the pool has
    joined them at the end of crawl() (the server process is alive, so not counted). A timer
    asks the crawl to stop after `max_seconds`, so a wedged run still ends. Before starting it
    waits up to `quiet_wait` seconds for other processes on the machine to go quiet.
    """
    from crawler import Config, crawl

    spec = server.spec
    waited = wait_for_quiet(quiet_wait)[0] if quiet_wait > 0 else 0.0
    server.reset()
    stop = threading.Event()
    watchdog = threading.Timer(max_seconds, stop.set)
    watchdog.daemon = True
    with tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmp:
        output = Path(tmp) / "out"
        config = Config(
            output=output,
            threads=threads,
            parsers=parsers,
            per_host=per_host,
            quiet=True,
            **({"parser": parser} if parser else {}),
            timeout=max(10.0, 5 * spec.latency),
            warc=warc,
        )
        sampler = RssSampler(exclude=[server.pid] if server.pid else [])
        children0 = children_cpu()
        machine0 = machine_cpu()
        cpu0 = time.process_time()
        started = time.monotonic()
        sampler.start()
        watchdog.start()
        try:
            summary = crawl(config, server.roots(), stop=stop)
        finally:
            watchdog.cancel()
            seconds = time.monotonic() - started
            sampler.stop()
        main_cpu = time.process_time() - cpu0 - sampler.cpu
        parser_cpu = children_cpu() - children0
        stats = server.stats()
        machine = machine_cpu() - machine0
        records = [
            json.loads(line)
            for line in (output / "crawl.jsonl").read_text(encoding="utf-8").splitlines()
        ]
    expected = set(spec.page_urls(server.port))
    covered = len(expected & {r["url"] for r in records if r["ok"]})
    return CrawlFigures(
        spec=asdict(spec),
        threads=threads,
        per_host=per_host,
        parsers=parsers,
        pages=spec.pages,
        records=len(records),
        covered=covered,
        errors=dict(summary.errors),
        exit_reason=summary.exit_reason,
        seconds=seconds,
        engine_seconds=summary.seconds,
        main_cpu=main_cpu,
        parser_cpu=parser_cpu,
        sampler_cpu=sampler.cpu,
        rss_main=sampler.peak_root,
        rss_tree=sampler.peak_tree,
        processes=sampler.most_processes,
        parser_restarts=summary.parser_restarts,
        server=stats,
        limit=Limit.of(spec, threads, per_host),
        other_cpu=max(0.0, machine - main_cpu - sampler.cpu - parser_cpu - stats["cpu"]),
        waited=waited,
        parser=config.parser,
    )


def measure_crawl(server: SiteServer, *, attempts: int = ATTEMPTS, **options: Any) -> CrawlFigures:
    """`run_crawl` again while other processes disturbed it, `attempts` crawls at most; the
    least disturbed one is returned (with the number of crawls made)."""
    best: CrawlFigures | None = None
    for attempt in range(1, max(1, attempts) + 1):
        fig = run_crawl(server, **options)
        fig.attempts = attempt
        if best is None or fig.others < best.others:
            best = fig
        if fig.others <= DISTURBED:
            break
        print(
            f"  (crawl {attempt} disturbed: other processes used {fig.others:.2f} cores"
            + ("; again)" if attempt < attempts else ")"),
            flush=True,
        )
    assert best is not None
    return best


def capacity_connections(rate: float, latency: float) -> int:
    """Enough keep-alive clients to ask for six times `rate` at `latency` (64 at least)."""
    return int(min(512, max(64, math.ceil(6 * rate * latency))))


def self_test(server: SiteServer, rate: float, seconds: float) -> dict[str, Any]:
    """The server's capacity at the site's latency, sized against a crawl `rate`."""
    connections = capacity_connections(rate, server.spec.latency)
    result = measure_capacity(server, connections=connections, seconds=seconds)
    result["crawl_rate"] = rate
    return result
