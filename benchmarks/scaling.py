"""`--scaling`: pages/s against --threads at a fixed latency (IO-bound), then against
--parsers at no latency (CPU-bound); the two tables, their JSON and a two-panel plot.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import defaults as d
from .figures import CrawlFigures, measure_crawl, self_test
from .report import (
    _capacity_rows,
    _ms,
    coverage_status,
    describe,
    plot_scaling,
    save,
    scaling_rows,
)
from .site_server import SiteServer, SiteSpec


def scaling(args: argparse.Namespace, out: Path) -> int:
    """Threads THREADS_SCALE at SCALING_LATENCY, then parsers PARSERS_SCALE at L = 0."""
    latency = d.SCALING_LATENCY if args.latency is None else args.latency
    hosts = args.hosts or d.HOSTS
    parsers = args.parsers or d.SCALING_PARSERS
    page_bytes = args.page_bytes or d.SCALING_PAGE_BYTES
    links = args.links or d.SCALING_LINKS
    threads_figs: list[CrawlFigures] = []
    capacities: dict[str, Any] = {}
    print(
        f"scaling 1/2: --threads {' '.join(map(str, d.THREADS_SCALE))} at L = {_ms(latency)}, "
        f"{hosts} hosts, per-host = threads, parsers {parsers}, {page_bytes} B pages, "
        f"{links} links; pages = max({d.SCALING_MIN_PAGES}, {d.SCALING_SECONDS:g} s at the limit)",
        flush=True,
    )
    for threads in d.THREADS_SCALE:
        if latency > 0:
            pages = max(d.SCALING_MIN_PAGES, round(d.SCALING_SECONDS * threads / latency))
        else:
            pages = d.PAGES
        spec = SiteSpec(pages, hosts, page_bytes, links, args.skew, latency)
        with SiteServer(spec) as server:
            fig = measure_crawl(
                server,
                attempts=args.attempts,
                threads=threads,
                per_host=threads,
                parsers=parsers,
                parser=args.parser,
                max_seconds=args.max_seconds,
                quiet_wait=args.quiet_wait,
            )
            if threads == d.THREADS_SCALE[-1]:
                best = max(f.rate for f in [*threads_figs, fig])
                capacities["threads"] = self_test(server, best, args.selftest_seconds)
        print(f"  threads {threads:>2}: {fig.rate:7.1f} pages/s", flush=True)
        threads_figs.append(fig)
    parser_figs: list[CrawlFigures] = []
    pages = args.pages or d.PARSERS_PAGES
    spec = SiteSpec(
        pages, hosts, args.page_bytes or d.PAGE_BYTES, args.links or d.LINKS, args.skew, 0.0
    )
    threads = args.threads or d.THREADS
    per_host = args.per_host or d.PER_HOST
    print(
        f"scaling 2/2: --parsers {' '.join(map(str, d.PARSERS_SCALE))} at L = 0: "
        f"{describe(spec)}, threads {threads}, per-host {per_host}",
        flush=True,
    )
    with SiteServer(spec) as server:
        for parsers in d.PARSERS_SCALE:
            fig = measure_crawl(
                server,
                attempts=args.attempts,
                threads=threads,
                per_host=per_host,
                parsers=parsers,
                parser=args.parser,
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
    save(
        out / "scaling.json",
        {
            "threads": [f.as_json() for f in threads_figs],
            "parsers": [f.as_json() for f in parser_figs],
            "capacity": capacities,
        },
    )
    return coverage_status([*threads_figs, *parser_figs])
