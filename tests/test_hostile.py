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
