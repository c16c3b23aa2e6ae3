"""The printed reports: the table of one crawl, the comparison with other tools, the scaling
tables and their plot. benchmarks/README.md says what each line means.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .defaults import DISTURBED, SERVER_HEADROOM
from .figures import CrawlFigures, ToolFigures
from .measure import MIB
from .site_server import SiteSpec


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"


def _mib(size: int) -> str:
    return f"{size / MIB:.1f}"


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def describe(spec: SiteSpec) -> str:
    """One line: the site."""
    if spec.root is not None:
        return f"{spec.root}: {spec.pages} files reachable from index.html, L = {_ms(spec.latency)}"
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
        f" ({fig.parser or 'default'} backend)"
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


def save(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"results saved: {path}")


def coverage_status(figs: list[CrawlFigures]) -> int:
    """1 (and a line on stderr for each) if a crawl did not fetch every page, else 0."""
    bad = [f for f in figs if f.coverage < 1.0 or f.exit_reason != "finished"]
    for f in bad:
        print(
            f"FAILED: coverage {100 * f.coverage:.1f} % ({f.covered} of {f.pages}), "
            f"crawl {f.exit_reason} (threads {f.threads}, parsers {f.parsers})",
            file=sys.stderr,
        )
    return 1 if bad else 0
