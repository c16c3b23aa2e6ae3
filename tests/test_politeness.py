"""Politeness and correctness rules, each proven by what the loopback server was sent."""

from __future__ import annotations

import itertools
from pathlib import Path

from crawler.sitegen import Site


def by_url(records: list[dict]) -> dict[str, dict]:
    return {r["url"]: r for r in records}


def starts(site: Site, host: str, prefix: str = "/") -> list[float]:
    return sorted(start for start, _end, path in site.stats[host].log if path.startswith(prefix))


def test_robots_is_fetched_once_per_host_when_16_threads_arrive_together(
    make_site, run_crawl
) -> None:
    site = make_site(robots={"127.0.0.1": "User-agent: *\nDisallow: /page/3\n"})
    base = site.base("127.0.0.1")
    seeds = [f"{base}page/{i}" for i in range(1, 33)]
    _, records = run_crawl(seeds, threads=16, per_host=4, depth=0)
    assert site.stats["127.0.0.1"].hits["/robots.txt"] == 1
    assert len(records) == 32
    assert by_url(records)[f"{base}page/3"]["error"]["kind"] == "robots"
    assert "/page/3" not in site.stats["127.0.0.1"].hits


def test_robots_wildcards_and_longest_match(make_site, run_crawl) -> None:
    robots = "User-agent: *\nDisallow: /page/*5$\nDisallow: /page/\nAllow: /page/1\n"
    site = make_site(robots={"127.0.0.1": robots})
    base = site.base("127.0.0.1")
    seeds = [f"{base}page/{i}" for i in (1, 15, 2, 12, 25)]
    _, records = run_crawl(seeds, depth=0)
    hits = site.stats["127.0.0.1"].hits
    # Allow: /page/1 is longer than Disallow: /page/, so /page/1 and /page/12 are allowed;
    # /page/*5$ is longer still and refuses /page/15. /page/2 and /page/25 are refused.
    assert {p for p in hits if p.startswith("/page/")} == {"/page/1", "/page/12"}
    refused = {u for u, r in by_url(records).items() if r["error"]}
    assert refused == {f"{base}page/{i}" for i in (15, 2, 25)}


def test_robots_user_agent_group_is_matched(make_site, run_crawl, tmp_path: Path) -> None:
    robots = "User-agent: crawl\nDisallow: /page/\n\nUser-agent: *\nDisallow:\n"
    site = make_site(robots={"127.0.0.1": robots})
    base = site.base("127.0.0.1")
    run_crawl([f"{base}page/1"], depth=0, user_agent="crawl/0.1 (test)")
    assert "/page/1" not in site.stats["127.0.0.1"].hits
    run_crawl(
        [f"{base}page/2"],
        depth=0,
        user_agent="othercrawler/1.0",
        output=tmp_path / "other",
    )
    assert site.stats["127.0.0.1"].hits["/page/2"] == 1


def test_unreachable_robots_is_retried_before_giving_up(run_crawl) -> None:
    # Nothing listens on port 9 of 127.0.0.3: robots.txt is unreachable, so the page is
    # disallowed "for now", asked again after a while, then recorded as the network error.
    _, records = run_crawl(["http://127.0.0.3:9/"], retries=1)
    (record,) = records
    assert record["error"]["kind"] == "connection"
    assert "robots.txt unreachable" in record["error"]["message"]
    assert record["attempts"] == 2


def assert_spaced(starts: list[float], delay: float) -> None:
    """The requests started at least `delay` apart, as the server saw them.

    The server shares this process: on a loaded machine it may note one request late and the
    next on time, so one gap alone can look shorter by a scheduling delay. Each gap is allowed
    half of `delay` for that (without politeness, gaps are about 0 here: 4 requests at once);
    over the whole run, where such delays do not add up, the span must hold `delay` per gap but
    for one scheduling delay.
    """
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) >= 3, starts
    assert min(gaps) >= delay * 0.5, gaps
    assert starts[-1] - starts[0] >= delay * len(gaps) - delay * 0.5, gaps


def test_crawl_delay_spaces_one_host_while_another_runs_at_full_speed(make_site, run_crawl) -> None:
    delay = 0.3
    site = make_site(
        pages=30,
        links=3,
        latency=0.01,
        robots={"127.0.0.1": f"User-agent: *\nCrawl-delay: {delay}\n"},
    )
    slow, fast = site.base("127.0.0.1"), site.base("127.0.0.2")
    seeds = [f"{slow}page/{i}" for i in range(1, 9)] + [f"{fast}page/{i}" for i in range(1, 29)]
    _, records = run_crawl(seeds, depth=0, threads=4, per_host=4)
    assert len(records) == 36
    slow_starts = starts(site, "127.0.0.1", "/page/")
    assert_spaced(slow_starts, delay)
    fast_starts = starts(site, "127.0.0.2", "/page/")
    assert site.stats["127.0.0.2"].max_active > 1
    # The fast host finished while the delayed one was still being walked through.
    assert fast_starts[-1] < slow_starts[-1]
    assert sum(1 for t in fast_starts if t < slow_starts[1]) > 4


def test_delay_option_applies_to_every_host(make_site, run_crawl) -> None:
    site = make_site(pages=10, links=2)
    base = site.base("127.0.0.2")
    run_crawl([f"{base}page/{i}" for i in range(1, 6)], depth=0, delay=0.3, threads=4)
    assert_spaced(starts(site, "127.0.0.2", "/page/"), 0.3)


def test_503_twice_then_200_is_fetched_on_the_third_attempt(make_site, run_crawl) -> None:
    site = make_site()
    url = site.base("127.0.0.1") + "flaky/2/x"
    summary, (record,) = run_crawl([url], retries=2)
    assert record["ok"] and record["status"] == 200 and record["attempts"] == 3
    assert site.stats["127.0.0.1"].hits["/flaky/2/x"] == 3
    assert summary.retried == 2


def test_retries_give_up_after_the_limit(make_site, run_crawl) -> None:
    site = make_site()
    url = site.base("127.0.0.1") + "flaky/5/x"
    _, (record,) = run_crawl([url], retries=1)
    assert not record["ok"] and record["status"] == 503 and record["attempts"] == 2
    assert record["error"]["kind"] == "http"
    assert site.stats["127.0.0.1"].hits["/flaky/5/x"] == 2


def test_retry_after_is_waited_without_holding_a_thread(make_site, run_crawl) -> None:
    site = make_site(pages=20, links=2, latency=0.02)
    waiting = site.base("127.0.0.1") + "retry-after/1/x"
    others = [site.base("127.0.0.2") + f"page/{i}" for i in range(1, 15)]
    _, records = run_crawl([waiting, *others], threads=1, per_host=1, depth=0, retries=2)
    record = by_url(records)[waiting]
    assert record["ok"] and record["attempts"] == 2
    first, second = starts(site, "127.0.0.1", "/retry-after/")
    assert second - first >= 1.0
    # With one fetcher thread, the other host's pages were fetched during the wait.
    during = [t for t in starts(site, "127.0.0.2", "/page/") if first < t < second]
    assert len(during) >= 10


def test_redirect_loop_and_long_chain_are_errors(make_site, run_crawl, tmp_path) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    _, records = run_crawl([f"{base}loop/a", f"{base}chain/11"], output=tmp_path / "a")
    _, more = run_crawl([f"{base}chain/10"], output=tmp_path / "b")
    got = by_url(records + more)
    assert got[f"{base}loop/a"]["error"]["kind"] == "redirect"
    assert "loop" in got[f"{base}loop/a"]["error"]["message"]
    assert got[f"{base}chain/11"]["error"]["kind"] == "redirect"
    assert "more than 10" in got[f"{base}chain/11"]["error"]["message"]
    ten = got[f"{base}chain/10"]
    assert ten["ok"] and ten["final_url"] == f"{base}chain/0" and ten["title"] == "end of chain"
    hits = site.stats["127.0.0.1"].hits
    assert hits["/loop/a"] == 1 and hits["/loop/b"] == 1
    assert hits["/chain/11"] == 1 and hits["/chain/1"] == 2 and hits["/chain/0"] == 1


def test_redirect_to_other_schemes_is_refused(make_site, run_crawl) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    seeds = [f"{base}goto/{kind}" for kind in ("ftp", "file", "javascript")]
    _, records = run_crawl(seeds)
    assert len(records) == 3
    for record in records:
        assert record["error"]["kind"] == "redirect", record
        assert not record["ok"]


def test_redirect_out_of_scope_is_refused_and_target_not_fetched(make_site, run_crawl) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    _, records = run_crawl([f"{base}links/goto%2Fother-host"], scope="host")
    got = by_url(records)
    assert got[f"{base}goto/other-host"]["error"]["kind"] == "redirect"
    assert "scope" in got[f"{base}goto/other-host"]["error"]["message"]
    assert "/page/1" not in site.stats["127.0.0.2"].hits


def test_redirect_target_is_marked_visited(make_site, run_crawl) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    _, records = run_crawl([f"{base}moved/4"], depth=1)
    got = by_url(records)
    assert got[f"{base}moved/4"]["final_url"] == f"{base}dest/4"
    assert f"{base}dest/4" not in got  # not crawled again under its own name
    assert site.stats["127.0.0.1"].hits["/dest/4"] == 1


def test_each_spelling_of_one_url_is_fetched_once(make_site, run_crawl) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    _, records = run_crawl([f"{base}spellings"])
    hits = site.stats["127.0.0.1"].hits
    assert hits["/spell/a"] == 1
    assert [p for p in hits if p.startswith("/spell/b")] == ["/spell/b?x=1&y=2"]
    assert {r["url"] for r in records} == {
        f"{base}spellings",
        f"{base}spell/a",
        f"{base}spell/b?x=1&y=2",
    }


def test_overlong_links_are_recorded_not_fetched(make_site, run_crawl) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    long = "x" * 2100
    _, records = run_crawl([f"{base}links/{long},page%2F1"], depth=1)
    invalid = [r for r in records if r["error"] and r["error"]["kind"] == "invalid_url"]
    assert len(invalid) == 1
    assert "2048" in invalid[0]["error"]["message"]
    assert not [p for p in site.stats["127.0.0.1"].hits if p.startswith("/" + long)]
    assert site.stats["127.0.0.1"].hits["/page/1"] == 1


def test_sitemaps_from_robots_and_sitemap_xml_are_admitted_in_scope(make_site, run_crawl) -> None:
    site = make_site()
    base = site.base("127.0.0.1")
    site.robots["127.0.0.1"] = (
        f"User-agent: *\nDisallow: /orphan/5\nSitemap: {base}maps/index.xml\n"
    )
    _, records = run_crawl([base], sitemaps=True, depth=0)
    got = by_url(records)
    orphans = {u for u in got if "/orphan/" in u}
    assert orphans == {f"{base}orphan/{n}" for n in (1, 2, 3, 4, 5)}
    assert all(got[u]["depth"] == 0 for u in orphans)
    assert got[f"{base}orphan/5"]["error"]["kind"] == "robots"
    assert "/orphan/99" not in site.stats["127.0.0.2"].hits
    hits = site.stats["127.0.0.1"].hits
    assert hits["/maps/b.xml.gz"] == 1 and hits["/sitemap.xml"] == 1


def test_without_sitemaps_option_no_sitemap_is_read(site: Site, run_crawl) -> None:
    run_crawl(site.seed_urls(), depth=0)
    assert "/sitemap.xml" not in site.stats["127.0.0.1"].hits


def test_each_redirect_hop_is_checked_against_robots(make_site, run_crawl) -> None:
    site = make_site(robots={"127.0.0.1": "User-agent: *\nDisallow: /dest/\n"})
    base = site.base("127.0.0.1")
    _, (record,) = run_crawl([f"{base}moved/4"])
    assert record["error"]["kind"] == "robots" and record["final_url"] == f"{base}dest/4"
    assert "/dest/4" not in site.stats["127.0.0.1"].hits
    assert site.stats["127.0.0.1"].hits["/moved/4"] == 1
