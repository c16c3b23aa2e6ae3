"""Hostile and broken sites: traps end by themselves, lies are handled, nothing is lost."""

from __future__ import annotations

from crawler.sitegen import Site


def test_query_string_explosion_is_recorded_as_trap(make_site, run_crawl) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    summary, records = run_crawl([f"{base}calendar?m=0"])
    hits = [p for p in site.stats["127.0.0.1"].hits if p.startswith("/calendar")]
    traps = [r for r in records if r["error"] and r["error"]["kind"] == "trap"]
    assert len(traps) == 1 and "query strings" in traps[0]["error"]["message"]
    assert len(hits) == 101  # the seed, then 100 query variants admitted, then the trap
    assert summary.exit_reason == "finished"


def test_repeated_path_segments_are_recorded_as_trap(make_site, run_crawl) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    _, records = run_crawl([f"{base}deeper/"])
    traps = [r for r in records if r["error"] and r["error"]["kind"] == "trap"]
    assert len(traps) == 1 and "repeated 3 times" in traps[0]["error"]["message"]
    assert traps[0]["url"] == f"{base}deeper/deeper/deeper/"
    assert len(records) == 3


def test_per_host_page_budget(site: Site, run_crawl) -> None:
    _, records = run_crawl(site.seed_urls(), max_pages_per_host=10)
    for host in site.hosts:
        mine = [r for r in records if f"//{host}:" in r["url"]]
        crawled = [r for r in mine if not (r["error"] and r["error"]["kind"] == "trap")]
        assert len(crawled) == 10
        assert any(r["error"] and r["error"]["kind"] == "trap" for r in mine)
        assert sum(n for p, n in site.stats[host].hits.items() if p != "/robots.txt") == 10


def test_watchdog_reports_a_fetcher_that_makes_no_progress(make_site, run_crawl, caplog) -> None:
    import logging

    site = make_site(latency=1.5)
    caplog.set_level(logging.WARNING, logger="crawler")
    summary, records = run_crawl([site.base("127.0.0.1") + "page/1"], depth=0, stall_after=0.3)
    assert len(records) == 1 and records[0]["ok"]
    assert summary.stalls == 1
    (message,) = [r.getMessage() for r in caplog.records if "no progress" in r.getMessage()]
    assert "fetcher-" in message and "/page/1" in message and "File " in message


def test_links_to_metadata_link_local_and_private_addresses_are_refused(
    make_site, run_crawl
) -> None:
    # IP literals in links of a loopback page: the check needs no DNS and runs before any
    # connection, so nothing is ever sent to these addresses.
    forbidden = [
        "169.254.169.254/latest/meta-data/",
        "[fe80::1]/",
        "10.0.0.1/",
        "192.168.1.1/",
        "[fd00:ec2::254]/",
    ]
    site = make_site()
    seed = site.base("127.0.0.1") + "offsite-links"
    _, records = run_crawl([seed], scope="any", depth=1)
    blocked = {r["url"]: r for r in records if r["error"] and r["error"]["kind"] == "blocked"}
    assert set(blocked) == {f"http://{f}" for f in forbidden}
    assert all("--allow-private" in r["error"]["message"] for r in blocked.values())
    assert all(r["elapsed_ms"] == 0 and r["status"] is None for r in blocked.values())
    assert next(r for r in records if r["url"] == seed)["ok"]  # a loopback seed is allowed


def test_cookies_do_not_follow_a_redirect_to_another_host(make_site, run_crawl) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    _, (record,) = run_crawl([f"{base}cookie-then-away"], scope="any", depth=0)
    assert record["ok"] and record["final_url"].startswith(site.base("127.0.0.2"))
    sent = {k.lower(): v for k, v in site.stats["127.0.0.2"].headers["/page/1"].items()}
    assert "cookie" not in sent and "authorization" not in sent


def test_credentials_in_a_seed_do_not_follow_a_redirect_to_another_host(
    make_site, run_crawl
) -> None:
    site = make_site()
    seed = site.base("127.0.0.1").replace("http://", "http://user:secret@") + "goto/other-host"
    _, (record,) = run_crawl([seed], depth=0)
    assert record["final_url"].startswith(site.base("127.0.0.2"))
    first = {k.lower() for k in site.stats["127.0.0.1"].headers["/goto/other-host"]}
    assert "authorization" in first  # sent to the host it was given for
    sent = {k.lower() for k in site.stats["127.0.0.2"].headers["/page/1"]}
    assert "authorization" not in sent


def test_terminal_escapes_from_the_server_are_stripped(make_site, run_crawl) -> None:
    site = make_site()
    _, (record,) = run_crawl([site.base("127.0.0.1") + "evil-title"], depth=0)
    assert record["ok"]
    assert "\x1b" not in record["title"] and "\x07" not in record["title"]
    assert "red" in record["title"] and "title" in record["title"]
