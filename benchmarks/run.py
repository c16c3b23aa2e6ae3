"""The crawler benchmark: one command, outside the test suite.

    python -m benchmarks.run [--site synthetic|pydocs] [--pages N --hosts H --latency L
                              --threads T --per-host C --parsers P --parser NAME
                              --page-bytes S --links K --skew F]
                             [--compare] [--parse-only] [--scaling] [--out DIR]

Serves a site from a process of its own (benchmarks/site_server.py) on 127.0.0.1 .. 127.0.0.H
with L seconds added to every answer: the generated one (pages with the weight of real ones), or
with `--site pydocs` the Python 3.11 documentation (benchmarks/corpus.py). Crawls it in this
process with `crawler.crawl()` and prints the figures (figures.py, report.py): pages/s, the
theoretical limit and their ratio, CPU per page of the main process and of the parser processes
apart, new TCP connections per host, peak RSS of the main process and of its process tree,
coverage, other processes' load, and the server's own capacity against the crawl's rate.
`--compare` runs Scrapy and wget2 on the same site (compare.py), `--parse-only` measures the
parser pool alone (parse_bench.py), `--scaling` runs the thread and parser tables and saves a
plot (scaling.py). Every default is in defaults.py. Results are also written as JSON (and PNG)
under --out. benchmarks/README.md explains every figure.

Exit status: 0, or 1 when a crawl did not fetch every page of the site (coverage below 100 %),
or 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import defaults as d

if TYPE_CHECKING:
    from .site_server import SiteSpec

# The parts are imported by main(), not here: the crawl's parser processes (spawn) import this
# module again as their __main__, and what they import stays in their memory.

SITES = ("synthetic", "pydocs")


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m benchmarks.run`."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark the crawler on a site served on loopback hosts.",
    )
    site = parser.add_argument_group("the site")
    site.add_argument(
        "--site",
        choices=SITES,
        default="synthetic",
        help="the generated site (default), or the Python docs of the python3.11-doc package",
    )
    site.add_argument("--pages", type=int, help=f"pages in all (default {d.PAGES})")
    site.add_argument("--hosts", type=int, help=f"hosts 127.0.0.1..127.0.0.H (default {d.HOSTS})")
    site.add_argument(
        "--latency",
        type=float,
        help=f"seconds the server adds to every answer (default {d.LATENCY:g}; "
        f"pydocs {d.PYDOCS_LATENCY:g})",
    )
    site.add_argument("--page-bytes", type=int, help=f"bytes per page (default {d.PAGE_BYTES})")
    site.add_argument("--links", type=int, help=f"links per page, same host (default {d.LINKS})")
    site.add_argument(
        "--skew", type=float, help="share of the pages on the first host (default: even)"
    )
    crawl = parser.add_argument_group("the crawler")
    crawl.add_argument("--threads", type=int, help=f"fetcher threads (default {d.THREADS})")
    crawl.add_argument(
        "--per-host", type=int, help=f"concurrent requests per host (default {d.PER_HOST})"
    )
    crawl.add_argument("--parsers", type=int, help="parser processes (default: crawl's)")
    crawl.add_argument("--parser", help="HTML parser backend (default: crawl's)")
    crawl.add_argument("--warc", action="store_true", help="crawl with --warc (web archives)")
    mode = parser.add_argument_group("what to run (default: one crawl)")
    mode.add_argument("--compare", action="store_true", help="also run Scrapy and wget2")
    mode.add_argument("--parse-only", action="store_true", help="the parser pool alone, 1 and 2")
    mode.add_argument(
        "--scaling",
        action="store_true",
        help=f"threads {'..'.join(map(str, d.THREADS_SCALE[::5]))} at L={d.SCALING_LATENCY:g}, "
        f"parsers {','.join(map(str, d.PARSERS_SCALE))} at L=0",
    )
    parser.add_argument("--out", type=Path, default=d.RESULTS, help=f"results folder ({d.RESULTS})")
    parser.add_argument(
        "--selftest-seconds",
        type=float,
        default=d.SELFTEST_SECONDS,
        help="length of the server self-test",
    )
    parser.add_argument(
        "--rounds", type=int, default=d.ROUNDS, help="rounds of --parse-only (median reported)"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=d.QUIET_WAIT,
        help="before each measurement, wait up to this long for other processes to go quiet",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=d.ATTEMPTS,
        help="measure again, this many times at most, while other processes disturb it",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=d.MAX_SECONDS,
        help="a crawl is stopped after this long",
    )
    return parser


def site_spec(args: argparse.Namespace) -> SiteSpec:
    """The site the options describe; ValueError("--option: reason") if they are wrong."""
    from .site_server import SiteSpec

    if args.site == "pydocs":
        from .corpus import PYDOCS, PYDOCS_MISSING, reachable

        if not (PYDOCS / "index.html").is_file():
            raise ValueError(PYDOCS_MISSING)
        return SiteSpec(
            pages=len(reachable(str(PYDOCS))),
            latency=d.PYDOCS_LATENCY if args.latency is None else args.latency,
            root=str(PYDOCS),
        )
    return SiteSpec(
        pages=args.pages or d.PAGES,
        hosts=args.hosts or d.HOSTS,
        page_bytes=d.PAGE_BYTES if args.page_bytes is None else args.page_bytes,
        links=args.links or d.LINKS,
        skew=args.skew,
        latency=d.LATENCY if args.latency is None else args.latency,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    from crawler.config import DEFAULT_PARSERS, PARSER_BACKENDS

    from .compare import compare
    from .figures import measure_crawl, self_test
    from .parse_bench import parse_only, parse_report
    from .report import coverage_status, crawl_report, save, tools_report
    from .scaling import scaling
    from .site_server import SiteServer

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out: Path = args.out
    if args.parser is not None and args.parser not in PARSER_BACKENDS:
        parser.error(f"--parser: must be one of {', '.join(PARSER_BACKENDS)}")
    try:
        if args.scaling:
            return scaling(args, out)
        spec = site_spec(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.parse_only:
        print(f"parse only: 1 and 2 parser processes, {args.rounds} rounds", flush=True)
        result = parse_only(spec, args.rounds, args.quiet_wait, d.DISTURBED)
        print(parse_report(result, spec))
        save(out / "parse_only.json", {"spec": asdict(spec), **result})
        return 0
    threads = args.threads or d.THREADS
    per_host = args.per_host or d.PER_HOST
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
            parser=args.parser,
            max_seconds=args.max_seconds,
            quiet_wait=args.quiet_wait,
            warc=args.warc,
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
    save(out / ("compare.json" if args.compare else "crawl.json"), data)
    return coverage_status([fig])


if __name__ == "__main__":
    sys.exit(main())
