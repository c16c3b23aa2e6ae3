"""The whole engine against a real site on two loopback hosts."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from pathlib import Path

import pytest

from crawler.parse.pool import ParserPool
from crawler.sitegen import Site

from .conftest import journal_counts


def expected_urls(site: Site, depth: int | None = None) -> set[str]:
    urls: set[str] = set()
    for host in site.hosts:
        urls |= set(site.expected(host, depth))
    return urls


def test_every_reachable_page_is_fetched_exactly_once(site: Site, run_crawl, tmp_path) -> None:
    summary, records = run_crawl(site.seed_urls(), threads=16, parsers=2)

    urls = [r["url"] for r in records]
    assert len(urls) == len(set(urls)), "a URL has two records"
    assert set(urls) == expected_urls(site)
    for host in site.hosts:
        hits = site.stats[host].hits
        repeated = {path: n for path, n in hits.items() if n != 1}
        assert not repeated, f"requested more than once on {host}: {repeated}"
        assert not [p for p in hits if p.startswith("/trap/")], "a rel=nofollow link was followed"
        assert hits["/robots.txt"] == 1
    assert summary.exit_reason == "finished"
    assert summary.pages == len(records)


def test_records_follow_the_output_contract(site: Site, run_crawl, tmp_path) -> None:
    _, records = run_crawl(site.seed_urls())
    by_path = {r["url"].split(str(site.port), 1)[1]: r for r in records if "127.0.0.1" in r["url"]}
    fields = {
        "url",
        "final_url",
        "status",
        "ok",
        "error",
        "content_type",
        "bytes",
        "sha256",
        "depth",
        "parent",
        "links",
        "title",
        "path",
        "fetched_at",
        "elapsed_ms",
    }
    assert all(fields <= set(r) for r in records)

    home = by_path["/"]
    assert home["ok"] and home["status"] == 200 and home["depth"] == 0 and home["parent"] is None
    assert home["title"] == "Page 0 of 127.0.0.1"
    assert home["path"] == f"pages/127.0.0.1_{site.port}/index.html"
    assert (tmp_path / "out" / home["path"]).read_bytes() == site.respond("127.0.0.1", "/")[2]

    binary = by_path["/file/3.bin"]
    assert binary["ok"] and binary["content_type"] == "application/octet-stream"
    assert binary["links"] == 0 and binary["title"] is None, "a non-HTML body was parsed"
    assert (tmp_path / "out" / binary["path"]).read_bytes() == site.respond(
        "127.0.0.1", "/file/3.bin"
    )[2]

    moved = by_path["/moved/4"]
    assert moved["final_url"].endswith("/dest/4") and moved["ok"]
    assert moved["title"] == "Moved 4"

    missing = by_path["/missing/5"]
    assert not missing["ok"] and missing["status"] == 404
    assert missing["error"]["kind"] == "http" and missing["path"] is None


def test_per_host_cap_is_reached_and_never_exceeded(make_site, run_crawl) -> None:
    site = make_site(pages=80, links=6, latency=0.03)
    run_crawl(site.seed_urls(), threads=16, per_host=3, parsers=2)
    for host in site.hosts:
        assert site.stats[host].max_active == 3, host


def test_connections_are_reused_across_threads(make_site, run_crawl) -> None:
    site = make_site(pages=60, links=4, latency=0.01)
    _, records = run_crawl(site.seed_urls(), threads=16, per_host=3)
    assert len(records) > 100
    for host in site.hosts:
        assert 1 <= site.stats[host].connections <= 3, site.stats[host].connections


def test_one_and_four_parsers_give_the_same_link_graph(site: Site, run_crawl, tmp_path) -> None:
    def graph(parsers: int) -> dict[str, tuple[int, str | None]]:
        _, records = run_crawl(site.seed_urls(), parsers=parsers, output=tmp_path / str(parsers))
        return {r["url"]: (r["links"], r["title"], r["final_url"]) for r in records}

    one, four = graph(1), graph(4)
    assert one == four
    assert sum(links for links, *_ in one.values()) > len(one)


def test_killing_a_parser_mid_crawl_loses_nothing(make_site, run_crawl) -> None:
    site = make_site(pages=60, latency=0.01)
    killed: list[int] = []

    def kill_one(pool: ParserPool) -> None:
        def killer() -> None:
            if site.wait_for_requests(30, timeout=30):
                pid = pool.pids()[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        threading.Thread(target=killer, daemon=True).start()

    summary, records = run_crawl(site.seed_urls(), parsers=2, on_started=kill_one)
    assert killed, "the parser was not killed"
    assert summary.parser_restarts >= 1
    assert {r["url"] for r in records} == expected_urls(site)
    kinds = Counter(r["error"]["kind"] for r in records if r["error"])
    assert set(kinds) == {"http"}, kinds  # only the site's deliberate 404s


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_depth_limits_the_crawl(site: Site, run_crawl, depth: int) -> None:
    _, records = run_crawl(site.seed_urls(), depth=depth)
    assert {r["url"] for r in records} == expected_urls(site, depth)
    assert max(r["depth"] for r in records) == depth


def test_max_pages_stops_admitting(site: Site, run_crawl) -> None:
    summary, records = run_crawl(site.seed_urls(), max_pages=7)
    assert len(records) == 7 == summary.admitted


@pytest.mark.parametrize(
    ("scope", "cross"),
    [("host", False), ("domain", False), ("any", True)],
)
def test_scope(make_site, run_crawl, scope: str, cross: bool) -> None:
    site = make_site(pages=10, links=2)
    seed = site.seed_urls()[0]  # only 127.0.0.1; its pages link to 127.0.0.2
    _, records = run_crawl([seed], scope=scope)
    hosts = {r["url"].split("/")[2].split(":")[0] for r in records}
    assert ("127.0.0.2" in hosts) is cross
    assert "127.0.0.1" in hosts


def test_domain_scope_follows_subdomains_not_other_domains(run_crawl) -> None:
    from crawler.urls import in_scope

    assert in_scope("http://b.example.co.uk/", "http://a.example.co.uk/", "domain")
    assert not in_scope("http://example.org/", "http://a.example.co.uk/", "domain")
    assert not in_scope("http://b.example.co.uk/", "http://a.example.co.uk/", "host")


def test_allow_and_deny_filters(site: Site, run_crawl) -> None:
    import re

    _, records = run_crawl(site.seed_urls(), allow=(r"/page/\d+$",), deny=(r"/page/1\d$",))
    followed = {r["url"] for r in records} - set(site.seed_urls())
    assert len(followed) > 10
    assert all(re.search(r"/page/\d+$", u) and not re.search(r"/page/1\d$", u) for u in followed)


def test_robots_disallowed_paths_are_never_requested(make_site, run_crawl) -> None:
    site = make_site(robots={"127.0.0.1": "User-agent: *\nDisallow: /page/2\n"})
    _, records = run_crawl([site.seed_urls()[0]])
    hits = site.stats["127.0.0.1"].hits
    assert not [p for p in hits if p.startswith("/page/2")]
    refused = [r for r in records if r["error"] and r["error"]["kind"] == "robots"]
    assert refused and all("/page/2" in r["url"] for r in refused)


def test_ignore_robots_fetches_everything(make_site, run_crawl) -> None:
    site = make_site(robots={"127.0.0.1": "User-agent: *\nDisallow: /\n"})
    _, records = run_crawl([site.seed_urls()[0]], ignore_robots=True)
    assert "/robots.txt" not in site.stats["127.0.0.1"].hits
    assert all(r["error"] is None or r["error"]["kind"] == "http" for r in records)


def test_summary_json_is_written(site: Site, run_crawl, tmp_path: Path) -> None:
    import json

    summary, records = run_crawl(site.seed_urls())
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data["pages"] == len(records) == summary.pages
    assert data["exit_reason"] == "finished"
    assert data["config"]["threads"] == 8
    # Every admitted URL was journaled, and each is marked finished (0 pending alone would
    # also hold with nothing journaled at all).
    assert journal_counts(tmp_path / "out") == (summary.admitted, 0)
    assert summary.admitted == len(records)
