"""Parsing alone: a stream of stored pages through the crawler's pipe-fed ParserPool.

`pool_throughput` times `crawler.parse.pool.ParserPool` with 1 or 2 processes, fed by twice as
many threads (what fetcher threads do in a crawl, minus the network). `ceiling_throughput` times
the same pages parsed by `parse_html` in 1 or 2 independent processes with no pipe and no
coordinating thread: what the machine itself allows, so a pool that scales less than 2x can be
told apart from a machine whose two vCPUs do not give two cores' worth of work. Rounds alternate
the measurements so that a noisy neighbour on the host hits both alike; the report gives each
round and the median.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from typing import Any

from .measure import machine_cpu, process_cpu, wait_for_quiet
from .site_server import SitePages, SiteSpec

TARGET = 1.7
WARMUP_PAGES = 8


def backend_costs(pages: list[tuple[str, bytes]], repeats: int = 3) -> list[dict[str, Any]]:
    """CPU ms per page of `parse_page` with each installed backend, in this process, one
    thread: the least of `repeats` passes over `pages`, each with the link cache emptied first
    (a parser process starts with it empty too)."""
    from crawler.parse import extract
    from crawler.parse.backends import BACKENDS, available

    costs = []
    for name in BACKENDS:
        if not available(name):
            continue
        best = float("inf")
        links = 0
        for _ in range(repeats):
            extract._join.cache_clear()
            cpu0 = time.process_time()
            links = sum(
                len(extract.parse_page(url, body, "text/html", backend=name).links)
                for url, body in pages
            )
            best = min(best, time.process_time() - cpu0)
        costs.append({"backend": name, "ms_per_page": 1000 * best / len(pages), "links": links})
    return costs


def pool_throughput(pages: list[tuple[str, bytes]], processes: int) -> dict[str, Any]:
    """Pages/s of a ParserPool of `processes`, fed by 2 x `processes` threads.

    The pool is started and warmed up before the clock starts; main CPU (this process's
    threads) and parser CPU (from /proc of each parser process) are taken over the timed run.
    """
    from crawler.messages import ParseJob
    from crawler.parse.pool import ParserPool

    drivers = 2 * processes
    pool = ParserPool(processes).start()
    failures = 0
    lock = threading.Lock()
    try:
        for i in range(WARMUP_PAGES * processes):
            url, body = pages[i % len(pages)]
            pool.parse(ParseJob(-1 - i, url, body, "text/html"))
        cursor = iter(range(len(pages)))

        def drive() -> None:
            nonlocal failures
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                url, body = pages[index]
                result = pool.parse(ParseJob(index, url, body, "text/html; charset=utf-8"))
                if result.error is not None or not result.links:
                    with lock:
                        failures += 1

        workers = [threading.Thread(target=drive, name=f"drive-{i}") for i in range(drivers)]
        pids = pool.pids()
        parsers0 = sum(process_cpu(pid) for pid in pids)
        machine0 = machine_cpu()
        cpu0 = time.process_time()
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=600)
        seconds = time.monotonic() - started
        main_cpu = time.process_time() - cpu0
        parser_cpu = sum(process_cpu(pid) for pid in pids) - parsers0
        machine = machine_cpu() - machine0
    finally:
        pool.close()
    return {
        "processes": processes,
        "threads": drivers,
        "pages": len(pages),
        "seconds": seconds,
        "rate": len(pages) / seconds,
        "main_cpu": main_cpu,
        "parser_cpu": parser_cpu,
        "busy": (main_cpu + parser_cpu) / seconds,
        "others": max(0.0, machine - main_cpu - parser_cpu) / seconds,
        "failures": failures,
    }


def _ceiling_worker(
    spec: SiteSpec, share: int, part: int, parts: int, barrier: Barrier, conn: Connection
) -> None:
    from crawler.parse.extract import parse_html

    pages = SitePages(spec).all_pages()
    for url, body in pages[:WARMUP_PAGES]:
        parse_html(url, body, "text/html")
    barrier.wait(timeout=60)
    cpu0 = time.process_time()
    for i in range(share):
        url, body = pages[(part + i * parts) % len(pages)]
        parse_html(url, body, "text/html; charset=utf-8")
    conn.send((time.monotonic(), time.process_time() - cpu0))
    conn.close()


def ceiling_throughput(spec: SiteSpec, processes: int) -> dict[str, Any]:
    """Pages/s of `processes` independent processes parsing `spec.pages` pages between them."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    shares = [spec.pages // processes + (i < spec.pages % processes) for i in range(processes)]
    ends: list[Connection] = []
    children = []
    for part, share in enumerate(shares):
        parent_end, child_end = ctx.Pipe(duplex=False)
        child = ctx.Process(
            target=_ceiling_worker,
            args=(spec, share, part, processes, barrier, child_end),
            name="bench-ceiling",
        )
        child.start()
        child_end.close()
        ends.append(parent_end)
        children.append(child)
    try:
        barrier.wait(timeout=120)
        machine0 = machine_cpu()
        started = time.monotonic()
        finished, cpu = [], 0.0
        for end in ends:
            if not end.poll(600):
                raise RuntimeError("a ceiling worker did not finish in 600 s")
            done_at, used = end.recv()
            finished.append(done_at)
            cpu += used
        machine = machine_cpu() - machine0
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
                child.join(timeout=2)
        for end in ends:
            end.close()
    seconds = max(finished) - started
    return {
        "processes": processes,
        "pages": spec.pages,
        "seconds": seconds,
        "rate": spec.pages / seconds,
        "cpu": cpu,
        "busy": cpu / seconds,
        "others": max(0.0, machine - cpu) / seconds,
    }


def parse_only(
    spec: SiteSpec, rounds: int = 5, quiet_wait: float = 30.0, disturbed: float = 0.1
) -> dict[str, Any]:
    """Rounds of: pool with 1 process, pool with 2, independent processes 1 and 2.

    A round during which other processes used more than `disturbed` cores in any of its four
    runs is marked and another is made, until `rounds` clean rounds or 3 x `rounds` in all;
    the medians are over the clean rounds (over all of them if none was clean).
    """
    pages = SitePages(spec).all_pages()
    backends = backend_costs(pages)
    runs: list[dict[str, Any]] = []
    while sum(r["clean"] for r in runs) < rounds and len(runs) < 3 * rounds:
        waited = wait_for_quiet(quiet_wait)[0] if quiet_wait > 0 else 0.0
        pool1 = pool_throughput(pages, 1)
        pool2 = pool_throughput(pages, 2)
        free1 = ceiling_throughput(spec, 1)
        free2 = ceiling_throughput(spec, 2)
        worst = max(r["others"] for r in (pool1, pool2, free1, free2))
        run = {
            "round": len(runs) + 1,
            "pool": [pool1, pool2],
            "ceiling": [free1, free2],
            "pool_speedup": pool2["rate"] / pool1["rate"],
            "ceiling_speedup": free2["rate"] / free1["rate"],
            "waited": waited,
            "clean": worst <= disturbed,
        }
        runs.append(run)
        print(
            f"  round {run['round']}: pool {pool1['rate']:.0f} -> {pool2['rate']:.0f} pages/s "
            f"({run['pool_speedup']:.2f}x); independent processes {free1['rate']:.0f} -> "
            f"{free2['rate']:.0f} ({run['ceiling_speedup']:.2f}x)"
            + ("" if run["clean"] else f"; disturbed (others up to {worst:.2f} cores)"),
            flush=True,
        )
    counted = [r for r in runs if r["clean"]] or runs
    return {
        "cpus": os.cpu_count(),
        "backends": backends,
        "rounds": runs,
        "counted": len([r for r in runs if r["clean"]]),
        "pool_speedup_median": statistics.median(r["pool_speedup"] for r in counted),
        "pool_speedup_best": max(r["pool_speedup"] for r in counted),
        "ceiling_speedup_median": statistics.median(r["ceiling_speedup"] for r in counted),
    }


def parse_report(result: dict[str, Any], spec: SiteSpec) -> str:
    """The parse-only table."""
    if spec.root is not None:
        what = f"parse only: the {spec.pages} pages of {spec.root}"
    else:
        what = f"parse only: {spec.pages} stored pages of {spec.page_bytes} B, {spec.links} links"
    base = {c["backend"]: c["ms_per_page"] for c in result["backends"]}.get("bs4")
    lines = [
        f"{what}, {result['cpus']} CPUs",
        "  backends (parse_page in this process, best of 3 passes, link cache emptied first):",
        *(
            f"  {c['backend']:>10}  {c['ms_per_page']:7.2f} CPU ms/page"
            + (f"  bs4 / this = {base / c['ms_per_page']:.1f}x" if base else "")
            + f"  ({c['links']} links)"
            for c in result["backends"]
        ),
        "  pool = crawler.parse.pool.ParserPool fed through its pipes by 2 threads per process;",
        "  free = parse_html in independent processes, no pipes (what the machine allows)",
        f"  {'round':>5} {'what':>5} {'procs':>5} {'seconds':>8} {'pages/s':>8} {'x 1 proc':>8} "
        f"{'main CPU ms/p':>13} {'parser CPU ms/p':>15} {'cores busy':>10} {'others':>6}",
    ]
    for run in result["rounds"]:
        if not run["clean"]:
            lines.append(f"  round {run['round']} was disturbed by other processes: not counted")
        for what in ("pool", "ceiling"):
            base = run[what][0]["rate"]
            for r in run[what]:
                main = f"{1000 * r['main_cpu'] / r['pages']:.2f}" if what == "pool" else "-"
                cpu = r["parser_cpu"] if what == "pool" else r["cpu"]
                lines.append(
                    f"  {run['round']:>5} {'pool' if what == 'pool' else 'free':>5} "
                    f"{r['processes']:>5} {r['seconds']:>8.2f} {r['rate']:>8.1f} "
                    f"{r['rate'] / base:>8.2f} {main:>13} {1000 * cpu / r['pages']:>15.2f} "
                    f"{r['busy']:>10.2f} {r['others']:>6.2f}"
                    + (f"  ({r['failures']} pages failed)" if r.get("failures") else "")
                )
    median = result["pool_speedup_median"]
    ceiling = result["ceiling_speedup_median"]
    verdict = "met" if median >= TARGET else "NOT met"
    counted = result["counted"]
    which = f"{counted} undisturbed rounds" if counted else "all rounds (none undisturbed!)"
    lines.append(
        f"  2 parser processes / 1, median of {which}: {median:.2f}x "
        f"(target >= {TARGET}x: {verdict}); best {result['pool_speedup_best']:.2f}x"
    )
    lines.append(
        f"  the machine's own 2 / 1 on the same pages (independent processes): {ceiling:.2f}x; "
        f"pool / machine = {median / ceiling:.2f}"
    )
    lines.append(
        "  cores busy = CPU seconds of every process involved / wall seconds: below 2 with two\n"
        "  CPU-bound processes means the machine did not give them two whole cores; others =\n"
        "  cores used meanwhile by processes outside the benchmark (above 0.1: disturbed)"
    )
    return "\n".join(lines)
