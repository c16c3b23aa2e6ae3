"""The crawler benchmark: one command, outside the test suite.

    python -m benchmarks.run [--pages N --hosts H --latency L --threads T --per-host C
                              --parsers P --page-bytes S --links K --skew F]
                             [--compare] [--parse-only] [--scaling] [--out DIR]

Generates a site (benchmarks/site_server.py), serves it from a process of its own on
127.0.0.1 .. 127.0.0.H with L seconds added to every answer, crawls it in this process with
`crawler.crawl()` and prints: pages/s, the theoretical limit and their ratio, CPU per page of
the main process and of the parser processes apart, new TCP connections per host, peak RSS of
the main process and of its process tree, coverage, and the server's own capacity (self-test)
against the crawl's rate. `--compare` runs Scrapy and wget2 on the same site when installed,
`--parse-only` measures the parser pool alone, `--scaling` runs the thread and parser tables
and saves a plot. Results are also written as JSON (and PNG) under --out. benchmarks/README.md
explains every figure.

Exit status: 0, or 1 when a crawl did not fetch every page of the site (coverage below 100 %),
or 2 on a usage error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .measure import MIB, RssSampler, children_cpu, machine_cpu, wait_for_quiet
from .parse_bench import parse_only, parse_report
from .site_server import SiteServer, SiteSpec, measure_capacity

RESULTS = Path(__file__).resolve().parent / "results"
THREADS_SCALE = (1, 2, 4, 8, 16, 32)
PARSERS_SCALE = (1, 2, 4)
SERVER_HEADROOM = 3.0
# Cores used by other processes during a measurement above which it is taken again.
DISTURBED = 0.1
TOOL_TIMEOUT = 600.0


# -- figures -----------------------------------------------------------------------------------


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
    max_seconds: float = 600.0,
    quiet_wait: float = 30.0,
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
            timeout=max(10.0, 5 * spec.latency),
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
    )


def measure_crawl(server: SiteServer, *, attempts: int = 3, **options: Any) -> CrawlFigures:
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


# -- printing ----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"


def _mib(size: int) -> str:
    return f"{size / MIB:.1f}"


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def describe(spec: SiteSpec) -> str:
    """One line: the site."""
    counts = spec.pages_per_host()
    shape = " ".join(str(n) for n in counts)
    skew = f", skew {spec.skew:g}" if spec.skew is not None else ""
    return (
        f"{spec.pages} pages on {spec.hosts} hosts ({shape}{skew}), {spec.page_bytes} B, "
        f"{spec.links} links/page, L = {_ms(spec.latency)}"
    )


def _table(rows: Sequence[tuple[str, str, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    return "\n".join(
        f"  {label:<{width}}  {value:>{value_width}}  {note}".rstrip()
        for label, value, note in rows
    )


def _capacity_rows(capacity: dict[str, Any] | None, rate: float) -> list[tuple[str, str, str]]:
    if capacity is None:
        return []
    if "error" in capacity:
        return [("server self-test", "failed", capacity["error"])]
    times = capacity["rate"] / rate if rate > 0 else float("inf")
    verdict = "yes" if times >= SERVER_HEADROOM else "NO: the figures above may be server-bound"
    busy = 100 * capacity["server_cpu"] / max(1e-9, capacity["server_wall"])
    errors = f", {capacity['error_count']} client errors" if capacity.get("error_count") else ""
    return [
        (
            "server self-test pages/s",
            f"{capacity['rate']:.0f}",
            f"{capacity['connections']} keep-alive clients at the same L, "
            f"{capacity['seconds']:g} s; server CPU {busy:.0f} % of a core{errors}",
        ),
        (
            "server capacity / crawl",
            f"{times:.1f}x",
            f">= {SERVER_HEADROOM:g}x: {verdict}",
        ),
    ]


def _other_row(fig: CrawlFigures) -> tuple[str, str, str]:
    verdict = "the figures are disturbed" if fig.others > DISTURBED else "quiet"
    waited = f"; waited {fig.waited:.0f} s for quiet first" if fig.waited > 1 else ""
    tries = f"; best of {fig.attempts} crawls" if fig.attempts > 1 else ""
    return (
        "other processes' CPU",
        f"{fig.others:.2f} cores",
        f"used meanwhile outside this benchmark (shared machine): {verdict}{waited}{tries}",
    )


def crawl_report(fig: CrawlFigures) -> str:
    """The table of one crawl."""
    spec = SiteSpec(**fig.spec)
    limit = fig.limit
    n = max(1, fig.records)
    hosts = spec.addresses()
    conns = ", ".join(
        f"{a} {h['connections']}" for a, h in zip(hosts, fig.server["hosts"], strict=True)
    )
    most_open = max(h["max_open"] for h in fig.server["hosts"])
    requests = sum(h["requests"] for h in fig.server["hosts"])
    served = sum(h["pages"] for h in fig.server["hosts"])
    if limit.rate is None:
        limit_note = "none at L = 0 (only CPU bounds the rate)"
    else:
        limit_note = (
            f"= P / max(P*L/threads = {limit.threads_seconds:.2f} s, "
            f"max_h P_h*L/per-host = {limit.host_seconds:.2f} s)"
        )
    error_note = ", ".join(f"{k} {v}" for k, v in sorted(fig.errors.items())) or "none"
    busy = 100 * fig.server["cpu"] / max(1e-9, fig.server["wall"])
    rows = [
        (
            "pages/s",
            f"{fig.rate:.1f}",
            f"{fig.records} pages in {fig.seconds:.2f} s (crawl() call)",
        ),
        ("limit pages/s", _f(limit.rate), limit_note),
        ("ratio", _f(fig.ratio, 2), "pages/s / limit"),
        (
            "pages/s, server clock",
            f"{fig.server_rate:.1f}",
            f"first request to last answer: {fig.server_window:.2f} s",
        ),
        (
            "coverage",
            f"{100 * fig.coverage:.1f} %",
            f"{fig.covered} of {fig.pages} generated pages ok; {fig.records} records, "
            f"errors: {error_note}",
        ),
        (
            "main CPU ms/page",
            f"{1000 * fig.main_cpu / n:.2f}",
            f"{fig.main_cpu:.2f} s, all threads of this process (RSS sampler's "
            f"{fig.sampler_cpu:.2f} s left out)",
        ),
        (
            "parser CPU ms/page",
            f"{1000 * fig.parser_cpu / n:.2f}",
            f"{fig.parser_cpu:.2f} s in {fig.parsers} processes, their start-up included",
        ),
        (
            "new TCP connections/host",
            str(sum(h["connections"] for h in fig.server["hosts"])),
            conns,
        ),
        ("most connections open", str(most_open), f"at once on a host (per-host {fig.per_host})"),
        (
            "requests / pages served",
            f"{requests} / {served}",
            "robots.txt (404) is the difference" if requests - served == spec.hosts else "",
        ),
        (
            "peak RSS main / tree MiB",
            f"{_mib(fig.rss_main)} / {_mib(fig.rss_tree)}",
            f"tree = this process and its children ({fig.processes} at most), server left out",
        ),
        (
            "server CPU",
            f"{busy:.0f} %",
            f"of one core during the crawl; answers late by {_ms(round(fig.server['lag_mean'], 4))}"
            f" on average, {_ms(round(fig.server['lag_max'], 4))} at most",
        ),
    ]
    rows.append(_other_row(fig))
    rows += _capacity_rows(fig.capacity, fig.rate)
    if fig.exit_reason != "finished":
        rows.append(("crawl ended", fig.exit_reason, ""))
    if fig.parser_restarts:
        rows.append(("parser restarts", str(fig.parser_restarts), ""))
    head = (
        f"crawl: {describe(spec)}\n"
        f"       threads {fig.threads}, per-host {fig.per_host}, parsers {fig.parsers}"
    )
    return head + "\n" + _table(rows)


def tools_report(fig: CrawlFigures, tools: list[ToolFigures], skipped: list[str]) -> str:
    """The comparison table: crawl against the other tools, same site, same run."""
    head = (
        f"  {'tool':<8} {'pages':>6} {'seconds':>8} {'pages/s':>8} {'crawl/x':>8} "
        f"{'pages/s*':>9} {'crawl/x*':>9} {'CPU ms/p':>9} {'RSS MiB':>8} {'others':>6}  conns/host"
    )
    lines = [
        "compare (same site, same server; * = first request to last answer, server clock;",
        "         others = cores used meanwhile outside the benchmark, above 0.1: disturbed)",
        head,
    ]
    crawl_cpu = 1000 * (fig.main_cpu + fig.parser_cpu) / max(1, fig.records)
    crawl_conns = " ".join(str(h["connections"]) for h in fig.server["hosts"])
    lines.append(
        f"  {'crawl':<8} {fig.covered:>6} {fig.seconds:>8.2f} {fig.rate:>8.1f} {'1.00':>8} "
        f"{fig.server_rate:>9.1f} {'1.00':>9} {crawl_cpu:>9.2f} {_mib(fig.rss_tree):>8} "
        f"{fig.others:>6.2f}  {crawl_conns}"
    )
    for tool in tools:
        ratio = fig.rate / tool.rate if tool.rate > 0 else float("inf")
        ratio_server = fig.server_rate / tool.server_rate if tool.server_rate > 0 else float("inf")
        cpu = 1000 * tool.cpu / max(1, tool.pages)
        conns = " ".join(str(h["connections"]) for h in tool.server["hosts"])
        lines.append(
            f"  {tool.name:<8} {tool.pages:>6} {tool.seconds:>8.2f} {tool.rate:>8.1f} "
            f"{ratio:>8.2f} {tool.server_rate:>9.1f} {ratio_server:>9.2f} {cpu:>9.2f} "
            f"{_mib(tool.rss_tree):>8} {tool.other_cpu / max(1e-9, tool.seconds):>6.2f}  {conns}"
        )
        if tool.note:
            lines.append(f"           {tool.note}")
    for reason in skipped:
        lines.append(f"  {reason}")
    return "\n".join(lines)


# -- other crawlers ----------------------------------------------------------------------------


def _run_tool(
    name: str,
    command: list[str],
    server: SiteServer,
    cwd: Path,
    timeout: float,
    quiet_wait: float,
) -> tuple[ToolFigures, str]:
    if quiet_wait > 0:
        wait_for_quiet(quiet_wait)
    server.reset()
    children0 = children_cpu()
    machine0 = machine_cpu()
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    note = ""
    with RssSampler(process.pid) as sampler:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate(timeout=10)
            note = f"killed after {timeout:g} s"
    seconds = time.monotonic() - started
    cpu = children_cpu() - children0
    stats = server.stats()
    others = max(0.0, machine_cpu() - machine0 - cpu - stats["cpu"] - sampler.cpu)
    if process.returncode and not note:
        note = f"exit {process.returncode}: {stderr.strip()[-300:]}"
    figures = ToolFigures(
        name=name,
        command=command,
        returncode=process.returncode,
        seconds=seconds,
        inner_seconds=None,
        cpu=cpu,
        rss_tree=sampler.peak_tree,
        server=stats,
        note=note,
        other_cpu=others,
    )
    return figures, stdout


def run_scrapy(
    server: SiteServer, concurrency: int, per_host: int, quiet_wait: float = 30.0
) -> ToolFigures:
    """The Scrapy spider of benchmarks/scrapy_spider.py on the site, as a subprocess."""
    root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        "-m",
        "benchmarks.scrapy_spider",
        "--concurrency",
        str(concurrency),
        "--per-host",
        str(per_host),
        *server.roots(),
    ]
    figures, stdout = _run_tool("scrapy", command, server, root, TOOL_TIMEOUT, quiet_wait)
    lines = stdout.strip().splitlines()
    if lines:
        try:
            inner = json.loads(lines[-1])
        except json.JSONDecodeError:
            inner = {}
        figures.extra = inner
        figures.inner_seconds = inner.get("seconds")
        if inner.get("seconds"):
            cpu_each = 1000 * inner["cpu"] / max(1, inner["pages"])
            figures.note = figures.note or (
                f"wall seconds include Python and Scrapy start-up; on its own clock (spider "
                f"open to close) {inner['pages']} responses in {inner['seconds']:.2f} s = "
                f"{inner['pages'] / inner['seconds']:.1f}/s, {cpu_each:.2f} CPU ms each"
            )
    return figures


def run_wget2(server: SiteServer, threads: int, quiet_wait: float = 30.0) -> ToolFigures:
    """wget2 --recursive on the site (saves the pages, as crawl does)."""
    binary = shutil.which("wget2")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="wget2-bench-") as tmp:
        command = [
            binary,
            "--recursive",
            "--level=inf",
            f"--max-threads={threads}",
            "--no-robots",
            "-q",
            "-P",
            tmp,
            *server.roots(),
        ]
        figures, _ = _run_tool("wget2", command, server, Path(tmp), TOOL_TIMEOUT, quiet_wait)
    if not figures.note:
        figures.note = "no per-host cap in wget2: --max-threads connections may go to one host"
    return figures


def compare(
    server: SiteServer, threads: int, per_host: int, quiet_wait: float
) -> tuple[list[ToolFigures], list[str]]:
    """Run whichever of Scrapy and wget2 is installed on the same site."""
    tools: list[ToolFigures] = []
    skipped: list[str] = []
    if importlib.util.find_spec("scrapy") is not None:
        print(f"... scrapy (CONCURRENT_REQUESTS={threads}, PER_DOMAIN={per_host})", flush=True)
        tools.append(run_scrapy(server, threads, per_host, quiet_wait))
    else:
        skipped.append("scrapy: not installed (pip install scrapy)")
    if shutil.which("wget2") is not None:
        print(f"... wget2 (--max-threads {threads})", flush=True)
        tools.append(run_wget2(server, threads, quiet_wait))
    else:
        skipped.append("wget2: not on PATH (apt-get install wget2)")
    return tools, skipped


# -- the scaling tables ------------------------------------------------------------------------


def scaling_rows(figs: list[CrawlFigures], key: str) -> str:
    """One scaling table; `key` is the column that varies."""
    lines = [
        f"  {key:>8} {'per-host':>8} {'pages':>6} {'seconds':>8} {'pages/s':>8} {'limit':>7} "
        f"{'ratio':>6} {'main ms/p':>9} {'parser ms/p':>11} {'conns/host':>10} {'RSS tree':>9} "
        f"{'coverage':>8} {'others':>6}"
    ]
    for f in figs:
        conns = max(h["connections"] for h in f.server["hosts"])
        lines.append(
            f"  {getattr(f, key):>8} {f.per_host:>8} {f.records:>6} {f.seconds:>8.2f} "
            f"{f.rate:>8.1f} {_f(f.limit.rate):>7} {_f(f.ratio, 2):>6} "
            f"{1000 * f.main_cpu / max(1, f.records):>9.2f} "
            f"{1000 * f.parser_cpu / max(1, f.records):>11.2f} {conns:>10} "
            f"{_mib(f.rss_tree):>9} {100 * f.coverage:>7.1f}% {f.others:>6.2f}"
        )
    return "\n".join(lines)


def plot_scaling(
    threads_figs: list[CrawlFigures], parser_figs: list[CrawlFigures], path: Path
) -> str:
    """Save the two-panel PNG; returns what happened, for the report."""
    if importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed (pip install matplotlib): no plot saved"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    xs = [f.threads for f in threads_figs]
    left.plot(xs, [f.rate for f in threads_figs], "o-", label="crawl")
    left.plot(xs, [f.limit.rate or 0 for f in threads_figs], "--", color="gray", label="limit")
    left.set_xscale("log", base=2)
    left.set_yscale("log", base=2)
    left.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    left.set_xticks(xs, [str(x) for x in xs])
    left.set_xlabel("--threads")
    left.set_ylabel("pages/s")
    if threads_figs:
        latency = threads_figs[0].spec["latency"]
        left.set_title(f"threads at L = {_ms(latency)} (per-host = threads)")
    left.legend()
    left.grid(True, which="both", alpha=0.3)
    ps = [f.parsers for f in parser_figs]
    right.bar([str(p) for p in ps], [f.rate for f in parser_figs], color="tab:orange")
    for i, f in enumerate(parser_figs):
        right.annotate(f"{f.rate:.0f}", (i, f.rate), ha="center", va="bottom")
    right.set_xlabel("--parsers")
    right.set_ylabel("pages/s")
    if parser_figs:
        spec = parser_figs[0].spec
        right.set_title(
            f"parsers at L = 0 ({spec['page_bytes'] // 1000} KB pages, "
            f"{parser_figs[0].threads} threads, {os.cpu_count()} CPUs)"
        )
    right.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot saved: {path}"


def scaling(args: argparse.Namespace, out: Path) -> int:
    """Threads 1..32 at L = 100 ms, then parsers 1, 2, 4 at L = 0."""
    latency = 0.1 if args.latency is None else args.latency
    hosts = args.hosts or 4
    threads_figs: list[CrawlFigures] = []
    capacities: dict[str, Any] = {}
    print(
        f"scaling 1/2: --threads {' '.join(map(str, THREADS_SCALE))} at L = {_ms(latency)}, "
        f"{hosts} hosts, per-host = threads, parsers {args.parsers or 2}, "
        f"{args.page_bytes or 4000} B pages, {args.links or 10} links; "
        f"pages = max(200, 4 s at the limit)",
        flush=True,
    )
    for threads in THREADS_SCALE:
        pages = max(200, round(4 * threads / latency)) if latency > 0 else 1000
        spec = SiteSpec(pages, hosts, args.page_bytes or 4000, args.links or 10, args.skew, latency)
        with SiteServer(spec) as server:
            fig = measure_crawl(
                server,
                attempts=args.attempts,
                threads=threads,
                per_host=threads,
                parsers=args.parsers or 2,
                max_seconds=args.max_seconds,
                quiet_wait=args.quiet_wait,
            )
            if threads == THREADS_SCALE[-1]:
                best = max(f.rate for f in [*threads_figs, fig])
                capacities["threads"] = self_test(server, best, args.selftest_seconds)
        print(f"  threads {threads:>2}: {fig.rate:7.1f} pages/s", flush=True)
        threads_figs.append(fig)
    parser_figs: list[CrawlFigures] = []
    pages = args.pages or 1500
    spec = SiteSpec(pages, hosts, args.page_bytes or 40_000, args.links or 30, args.skew, 0.0)
    threads = args.threads or 16
    per_host = args.per_host or 4
    print(
        f"scaling 2/2: --parsers {' '.join(map(str, PARSERS_SCALE))} at L = 0: {describe(spec)}, "
        f"threads {threads}, per-host {per_host}",
        flush=True,
    )
    with SiteServer(spec) as server:
        for parsers in PARSERS_SCALE:
            fig = measure_crawl(
                server,
                attempts=args.attempts,
                threads=threads,
                per_host=per_host,
                parsers=parsers,
                max_seconds=args.max_seconds,
                quiet_wait=args.quiet_wait,
            )
            print(f"  parsers {parsers}: {fig.rate:7.1f} pages/s", flush=True)
            parser_figs.append(fig)
        best = max(f.rate for f in parser_figs)
        capacities["parsers"] = self_test(server, best, args.selftest_seconds)
    print()
    print(f"threads (L = {_ms(latency)}, {hosts} hosts, per-host = threads, limit = threads/L)")
    print(scaling_rows(threads_figs, "threads"))
    for row in _capacity_rows(capacities["threads"], max(f.rate for f in threads_figs)):
        print(f"  {row[0]}: {row[1]} ({row[2]})")
    print()
    print(f"parsers (L = 0, {describe(spec)}, threads {threads}, per-host {per_host})")
    print(scaling_rows(parser_figs, "parsers"))
    for row in _capacity_rows(capacities["parsers"], max(f.rate for f in parser_figs)):
        print(f"  {row[0]}: {row[1]} ({row[2]})")
    print()
    print(plot_scaling(threads_figs, parser_figs, out / "scaling.png"))
    _save(
        out / "scaling.json",
        {
            "threads": [f.as_json() for f in threads_figs],
            "parsers": [f.as_json() for f in parser_figs],
            "capacity": capacities,
        },
    )
    return _coverage_status([*threads_figs, *parser_figs])


# -- the command -------------------------------------------------------------------------------


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"results saved: {path}")


def _coverage_status(figs: list[CrawlFigures]) -> int:
    bad = [f for f in figs if f.coverage < 1.0 or f.exit_reason != "finished"]
    for f in bad:
        print(
            f"FAILED: coverage {100 * f.coverage:.1f} % ({f.covered} of {f.pages}), "
            f"crawl {f.exit_reason} (threads {f.threads}, parsers {f.parsers})",
            file=sys.stderr,
        )
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m benchmarks.run`."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark the crawler on a generated site served on loopback hosts.",
    )
    site = parser.add_argument_group("the site")
    site.add_argument("--pages", type=int, help="pages in all (default 1000)")
    site.add_argument("--hosts", type=int, help="hosts 127.0.0.1..127.0.0.H (default 4)")
    site.add_argument(
        "--latency", type=float, help="seconds the server adds to every answer (default 0.05)"
    )
    site.add_argument("--page-bytes", type=int, help="bytes per page (default 40000)")
    site.add_argument("--links", type=int, help="links per page, same host (default 30)")
    site.add_argument(
        "--skew", type=float, help="share of the pages on the first host (default: even)"
    )
    crawl = parser.add_argument_group("the crawler")
    crawl.add_argument("--threads", type=int, help="fetcher threads (default 16)")
    crawl.add_argument("--per-host", type=int, help="concurrent requests per host (default 4)")
    crawl.add_argument("--parsers", type=int, help="parser processes (default: crawl's)")
    mode = parser.add_argument_group("what to run (default: one crawl)")
    mode.add_argument("--compare", action="store_true", help="also run Scrapy and wget2")
    mode.add_argument("--parse-only", action="store_true", help="the parser pool alone, 1 and 2")
    mode.add_argument(
        "--scaling", action="store_true", help="threads 1..32 at L=0.1, parsers 1,2,4 at L=0"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder ({RESULTS})")
    parser.add_argument(
        "--selftest-seconds", type=float, default=3.0, help="length of the server self-test"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of --parse-only (median reported)"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each measurement, wait up to this long for other processes to go quiet",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="measure again, this many times at most, while other processes disturb it",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=600.0, help="a crawl is stopped after this long"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out: Path = args.out
    try:
        if args.scaling:
            return scaling(args, out)
        spec = SiteSpec(
            pages=args.pages or 1000,
            hosts=args.hosts or 4,
            page_bytes=40_000 if args.page_bytes is None else args.page_bytes,
            links=args.links or 30,
            skew=args.skew,
            latency=0.05 if args.latency is None else args.latency,
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.parse_only:
        print(f"parse only: 1 and 2 parser processes, {args.rounds} rounds", flush=True)
        result = parse_only(spec, args.rounds, args.quiet_wait, DISTURBED)
        print(parse_report(result, spec))
        _save(out / "parse_only.json", {"spec": asdict(spec), **result})
        return 0
    from crawler.config import DEFAULT_PARSERS

    threads = args.threads or 16
    per_host = args.per_host or 4
    parsers = args.parsers or DEFAULT_PARSERS
    for option, value in (("--threads", threads), ("--per-host", per_host), ("--parsers", parsers)):
        if value < 1:
            parser.error(f"{option}: must be at least 1, got {value}")
    with SiteServer(spec) as server:
        fig = measure_crawl(
            server,
            attempts=args.attempts,
            threads=threads,
            per_host=per_host,
            parsers=parsers,
            max_seconds=args.max_seconds,
            quiet_wait=args.quiet_wait,
        )
        fig.capacity = self_test(server, fig.rate, args.selftest_seconds)
        print(crawl_report(fig), flush=True)
        data: dict[str, Any] = {"crawl": fig.as_json()}
        if args.compare:
            print()
            tools, skipped = compare(server, threads, per_host, args.quiet_wait)
            print(tools_report(fig, tools, skipped))
            data["compare"] = [asdict(t) | {"rate": t.rate, "pages": t.pages} for t in tools]
            data["skipped"] = skipped
    _save(out / ("compare.json" if args.compare else "crawl.json"), data)
    return _coverage_status([fig])


if __name__ == "__main__":
    sys.exit(main())
