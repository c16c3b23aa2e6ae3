"""README guarantees that no other test would notice breaking: each test here fails when the
smallest change that breaks its guarantee is made (the mutation is named in the test)."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crawler import cli, engine
from crawler.engine import Summary
from crawler.fetch.http import new_session
from crawler.fetch.retry import RetryPolicy
from crawler.fetch.sitemaps import SitemapReader
from crawler.sitegen import Answer, Site

from .conftest import read_jsonl

Records = list[dict[str, Any]]
RunCrawl = Callable[..., tuple[Summary, Records]]
PROC = Path("/proc")


def by_url(records: Records) -> dict[str, dict[str, Any]]:
    return {r["url"]: r for r in records}


def crawl_command(seeds: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "crawler", str(seeds), "--output", str(out), *extra]


# -- redirects ---------------------------------------------------------------------------------


def test_a_seed_that_redirects_takes_its_scope_along(site: Site, run_crawl: RunCrawl) -> None:
    # Mutation: the redirect continuation keeps the old seed (fetch/worker.py `_redirect`).
    seed = site.base("127.0.0.1") + "goto/other-host"  # -> http://127.0.0.2:PORT/page/1
    moved = site.base("127.0.0.2")
    _, records = run_crawl([seed], depth=1)
    table = by_url(records)
    assert table[seed]["ok"] and table[seed]["final_url"] == moved + "page/1"
    followed = [url for url, r in table.items() if url.startswith(moved) and r["parent"] == seed]
    assert followed, "the links of the seed's new host were not followed under --scope host"


@pytest.mark.parametrize(
    ("where", "kind", "message"),
    [
        ("metadata", "blocked", "169.254.169.254 (metadata)"),
        ("private", "blocked", "10.0.0.1 (private)"),
        ("data", "redirect", "unsupported or invalid URL: 'data:text/html"),
    ],
)
def test_redirects_to_blocked_addresses_and_to_data_are_refused(
    site: Site, run_crawl: RunCrawl, where: str, kind: str, message: str
) -> None:
    seed = site.base("127.0.0.1") + f"goto/{where}"
    _, records = run_crawl([seed], depth=1)
    (record,) = records
    assert record["url"] == seed and not record["ok"]
    assert record["error"]["kind"] == kind and message in record["error"]["message"]
    assert record["path"] is None


# -- the environment is ignored -----------------------------------------------------------------


SITEMAP = (
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{}</loc></url></urlset>'
)


def _moved_sitemap(site: Site, host: str, target: str) -> Answer:
    return 302, {"Location": "/new-sitemap.xml"}, b""


def _sitemap(site: Site, host: str, target: str) -> Answer:
    return 200, {"Content-Type": "application/xml"}, SITEMAP.format(site.base(host) + "a").encode()


def _proxy(site: Site, host: str, target: str) -> Answer:
    return 200, {"Content-Type": "application/xml"}, SITEMAP.format("http://proxy.test/b").encode()


def test_proxies_and_netrc_from_the_environment_are_ignored(
    make_site: Callable[..., Site], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mutation: `session.trust_env = True` in fetch/http.py new_session. requests then sends a
    # redirect it follows (robots.txt, sitemaps) through the environment's proxy, unguarded,
    # with the ~/.netrc password of the host.
    routes = {"/old-sitemap.xml": _moved_sitemap, "/new-sitemap.xml": _sitemap}
    site = make_site(hosts=("127.0.0.1",), routes=routes)
    proxy = make_site(hosts=("127.0.0.2",), routes={"*": _proxy})
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password secret\n")
    netrc.chmod(0o600)
    proxy_url = proxy.base("127.0.0.2").rstrip("/")
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy_url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(netrc))
    origin = site.base("127.0.0.1")
    with new_session("crawl-test/1", 2) as session:
        found = SitemapReader(timeout=5).read(session, [origin + "old-sitemap.xml"])
    assert found.urls == (origin + "a",), found
    assert proxy.total_requests == 0
    assert site.hits("127.0.0.1", "/new-sitemap.xml") == 1
    for headers in site.stats["127.0.0.1"].headers.values():
        assert "Authorization" not in headers


# -- Retry-After --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["100000", "Fri, 31 Dec 2100 23:59:59 GMT"])
def test_retry_after_is_capped_at_120_seconds(value: str) -> None:
    # Mutation: RetryPolicy.retry_after_cap (or the min() in delay) changed.
    assert RetryPolicy().delay(1, value) == 120.0
    assert RetryPolicy().delay(1, "3") == 3.0


# -- exit codes and signals ----------------------------------------------------------------------


def test_an_internal_error_exits_1(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mutation: cli.main maps an unexpected exception to another code (or lets it escape).
    def broken(*args: Any, **kwargs: Any) -> Summary:
        raise RuntimeError("a bug")

    monkeypatch.setattr(engine, "crawl", broken)  # cli imports it when it runs
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(site.seed_urls()[0] + "\n")
    err = io.StringIO()
    assert cli.main([str(seeds), "--output", str(tmp_path / "out"), "-q"], stderr=err) == 1
    assert "internal error" in err.getvalue() and "RuntimeError: a bug" in err.getvalue()


def children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """Whether `pid` no longer exists at all (a zombie still has its /proc entry)."""
    return not (PROC / str(pid)).exists()


@pytest.mark.skipif(not PROC.is_dir(), reason="reads /proc (Linux)")
def test_sigterm_finishes_requests_in_flight_and_leaves_no_process(
    make_site: Callable[..., Site], tmp_path: Path
) -> None:
    # Mutation: SIGTERM not handled like SIGINT in cli._signals (then the process dies at once
    # with -15 and in-flight requests are lost), or a parser process left behind.
    site = make_site(pages=60, links=4, latency=1.0)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    out = tmp_path / "out"
    command = crawl_command(seeds, out, "--threads", "4", "--parsers", "2", "--timeout", "30", "-q")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Past robots.txt of both hosts: pages are being fetched, a second each.
        assert site.wait_for_requests(5, timeout=60), "the crawl made no requests"
        children = children_of(proc.pid)
        assert len(children) >= 2, "no parser processes"
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert took < 20, took  # the in-flight answers take a second; teardown is bounded
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)  # a bounded poll: init reaps what the crawl left, asynchronously
    assert all(gone(pid) for pid in children), "a child process (or zombie) was left"
    # Every request the server received was finished and recorded (a redirect's next hop is
    # kept for --resume instead: its URL is recorded once that hop is fetched).
    records = by_url(read_jsonl(out / "crawl.jsonl"))
    finals = {r["final_url"]: r for r in records.values() if r["final_url"]}
    for host in site.hosts:
        for path in site.stats[host].hits:
            status = site.respond(host, path)
            if path == "/robots.txt" or not isinstance(status, tuple) or status[0] in (301, 302):
                continue
            url = site.base(host).rstrip("/") + path
            record = records.get(url) or finals.get(url)  # a redirect's target: under its source
            assert record is not None and record["status"] == status[0], url


def _wait_for_output(proc: subprocess.Popen[str], text: str, timeout: float) -> bool:
    """Read the process's stderr until `text` appears (bounded)."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            data = os.read(proc.stderr.fileno(), 4096)
            if not data:
                break
            seen += data.decode("utf-8", "replace")
    return text in seen


def test_second_sigint_exits_at_once(make_site: Callable[..., Site], tmp_path: Path) -> None:
    # Mutation: the early exit in cli._signals removed. Every answer takes 10 s here, so a
    # graceful stop (which finishes the requests in flight) takes about that long.
    site = make_site(pages=20, latency=10.0)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    command = crawl_command(seeds, tmp_path / "out", "--timeout", "30", "--parsers", "1", "-q")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert site.wait_for_requests(2, timeout=60)  # robots.txt of both hosts, in flight
        proc.send_signal(signal.SIGINT)
        # Two signals sent together may reach Python's handler once: send the second only
        # once the first was handled (it says so on stderr).
        assert _wait_for_output(proc, "crawl: stopping", timeout=30)
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert took < 6, f"the second Ctrl-C took {took:.1f} s"


# -- the progress bar ----------------------------------------------------------------------------


def _run_with_stderr(command: list[str], *, terminal: bool) -> str:
    """Run `command`, its stderr a pseudo-terminal or a pipe; returns what it wrote there."""
    if not terminal:
        return subprocess.run(command, capture_output=True, text=True, timeout=120).stderr
    leader, follower = pty.openpty()
    # A terminal of 24 x 100 (a new pseudo-terminal has 0 x 0, where tqdm draws nothing).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        proc.kill()
        os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_progress_bar_on_a_terminal_and_not_otherwise(
    site: Site, tmp_path: Path, terminal: bool
) -> None:
    # Mutation: Progress enabled regardless of isatty (or never).
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    stderr = _run_with_stderr(
        crawl_command(seeds, tmp_path / "out", "--depth", "1"), terminal=terminal
    )
    assert "crawl: " in stderr and " pages/s" in stderr  # the summary line, either way
    bar = "page/s" in stderr or "errors=" in stderr
    assert bar is terminal, stderr
