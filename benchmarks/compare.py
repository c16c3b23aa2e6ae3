"""Other crawlers on the same site and server: Scrapy (benchmarks/scrapy_spider.py) and wget2,
each as a subprocess, measured from outside (wall time, CPU and peak RSS of its process tree,
what the server counted).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .defaults import QUIET_WAIT, TOOL_TIMEOUT
from .figures import ToolFigures
from .measure import RssSampler, children_cpu, machine_cpu, wait_for_quiet
from .site_server import SiteServer


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
    server: SiteServer, concurrency: int, per_host: int, quiet_wait: float = QUIET_WAIT
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


def run_wget2(server: SiteServer, threads: int, quiet_wait: float = QUIET_WAIT) -> ToolFigures:
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
