"""Crawler traps that repeat no segment and have no query string end by themselves with the
defaults (the --max-chain rule, crawler/frontier/traps.py), and real sites are not cut."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from crawler.config import DEFAULT_MAX_CHAIN
from crawler.engine import Summary
from crawler.frontier.traps import CHAIN_DEPTH, ChainRule, url_shape
from crawler.sitegen import Answer, Site

HOST = "127.0.0.1"
LEAVES = 2000
PAGINATION = 400  # "a few hundred pages", each linking the next

Records = list[dict[str, Any]]
RunCrawl = Callable[..., tuple[Summary, Records]]


def _page(title: str, hrefs: list[str]) -> Answer:
    links = "".join(f'<a href="{h}">{h}</a>' for h in hrefs)
    body = f"<html><title>{title}</title>{links}</html>".encode()
    return 200, {"Content-Type": "text/html; charset=utf-8"}, body


def _numbers(target: str) -> list[int]:
    parts = urlsplit(target).path.strip("/").split("/")[1:]
    return [int(p) for p in parts if p.isdigit()]


def events(site: Site, host: str, target: str) -> Answer | None:
    """/events/YYYY/MM: a calendar in the path, linking the next and previous month and the
    next year, for ever."""
    numbers = _numbers(target)
    if len(numbers) != 2:
        return None
    year, month = numbers
    prev_y, prev_m = (year, month - 1) if month > 1 else (year - 1, 12)
    next_y, next_m = (year, month + 1) if month < 12 else (year + 1, 1)
    hrefs = [
        f"/events/{prev_y}/{prev_m:02d}",
        f"/events/{next_y}/{next_m:02d}",
        f"/events/{year + 1}/{month:02d}",
    ]
    return _page(f"{year}-{month:02d}", hrefs)


def bar(path: str, n: int, last: int | None = None) -> list[str]:
    """A pagination bar: the first page and the next five (up to `last`)."""
    ahead = range(n + 1, n + 6 if last is None else min(n + 6, last + 1))
    return [f"/{path}/1/", *(f"/{path}/{i}/" for i in ahead)]


def endless(site: Site, host: str, target: str) -> Answer | None:
    """/endless/N/: pagination without a last page."""
    numbers = _numbers(target)
    if len(numbers) != 1:
        return None
    return _page(f"page {numbers[0]}", bar("endless", numbers[0]))


def item(site: Site, host: str, target: str) -> Answer | None:
    """/item/N: ids that keep growing (each page links a bigger one)."""
    numbers = _numbers(target)
    if len(numbers) != 1:
        return None
    n = numbers[0]
    return _page(f"item {n}", [f"/item/{n + 1}", f"/item/{n + 10}"])


def pages(site: Site, host: str, target: str) -> Answer | None:
    """/pages/N/ for N in 1..PAGINATION: a real pagination, each page linking the next."""
    numbers = _numbers(target)
    if len(numbers) != 1 or not 1 <= numbers[0] <= PAGINATION:
        return None
    return _page(f"page {numbers[0]}", bar("pages", numbers[0], PAGINATION))


def leaves(site: Site, host: str, target: str) -> Answer | None:
    """/leaves links /leaf/1 .. /leaf/LEAVES; each leaf links back."""
    if urlsplit(target).path == "/leaves":
        return _page("index", [f"/leaf/{i}" for i in range(1, LEAVES + 1)])
    return None


def leaf(site: Site, host: str, target: str) -> Answer | None:
    numbers = _numbers(target)
    if len(numbers) != 1 or not 1 <= numbers[0] <= LEAVES:
        return None
    return _page(f"leaf {numbers[0]}", ["/leaves"])


ROUTES = {
    "/events": events,
    "/endless": endless,
    "/item": item,
    "/pages": pages,
    "/leaves": leaves,
    "/leaf": leaf,
}


@pytest.fixture
def base(make_site: Callable[..., Site]) -> str:
    site = make_site(hosts=(HOST,), pages=2, links=1, routes=ROUTES)
    return site.base(HOST)


def traps(records: Records) -> Records:
    return [r for r in records if r["error"] and r["error"]["kind"] == "trap"]


@pytest.mark.parametrize(
    ("seed", "shape"),
    [
        ("events/2024/01", "/events/#/#"),
        ("endless/1/", "/endless/#/"),
        ("item/1", "/item/#"),
    ],
    ids=["path-calendar", "endless-pagination", "growing-ids"],
)
def test_endless_generators_end_by_themselves_with_the_defaults(
    base: str, run_crawl: RunCrawl, seed: str, shape: str
) -> None:
    # --max-pages only so that a broken rule fails the test instead of crawling for ever.
    summary, records = run_crawl([base + seed], max_pages=3 * DEFAULT_MAX_CHAIN)
    assert summary.exit_reason == "finished"
    trapped = traps(records)
    assert trapped, "nothing was recorded as a trap"
    for record in trapped:
        message = record["error"]["message"]
        assert message.startswith(f"--max-chain {DEFAULT_MAX_CHAIN}:"), message
        assert shape in message
    fetched = [r for r in records if r["ok"]]
    # The limit, plus the pages less than CHAIN_DEPTH steps down a chain (a calendar reaches
    # about 13 months per step: one back, one forward, a year forward).
    assert DEFAULT_MAX_CHAIN < len(fetched) <= DEFAULT_MAX_CHAIN + 13 * CHAIN_DEPTH + 1


def test_a_page_linking_2000_leaves_under_one_pattern_is_crawled_completely(
    base: str, run_crawl: RunCrawl
) -> None:
    _, records = run_crawl([base + "leaves"])
    assert not traps(records)
    ok = {r["url"] for r in records if r["ok"]}
    assert ok == {base + "leaves"} | {f"{base}leaf/{i}" for i in range(1, LEAVES + 1)}


def test_a_pagination_of_a_few_hundred_pages_is_crawled_completely(
    base: str, run_crawl: RunCrawl
) -> None:
    _, records = run_crawl([base + "pages/1/"])
    assert not traps(records)
    ok = {r["url"] for r in records if r["ok"]}
    assert ok == {f"{base}pages/{i}/" for i in range(1, PAGINATION + 1)}


def test_max_chain_tunes_the_rule(base: str, run_crawl: RunCrawl) -> None:
    limit = 50
    _, records = run_crawl([base + "pages/1/"], max_chain=limit)
    trapped = traps(records)
    assert trapped
    for record in trapped:
        assert record["error"]["message"].startswith(f"--max-chain {limit}:")
    assert limit < len([r for r in records if r["ok"]]) < PAGINATION


# -- the rule itself -----------------------------------------------------------------------


def test_the_shape_of_a_url_is_its_host_path_and_query_with_numbers_as_hashes() -> None:
    assert url_shape("http://h:8/events/2024/01?p=3&q=x") == "h:8/events/#/#?p=#&q=x"
    assert url_shape("http://h/page/7/") == url_shape("http://h/page/12345/")
    assert url_shape("http://h/page/7/") != url_shape("http://other/page/7/")
    assert url_shape("http://127.0.0.1/p/1") != url_shape("http://127.0.0.2/p/1")


def test_only_urls_deep_in_a_chain_of_their_shape_count() -> None:
    rule = ChainRule(limit=3, depth=2)
    parent, step = "http://h/index", 0
    for n in range(1, 100):  # leaves of one index page: never a chain
        assert rule.check(f"http://h/leaf/{n}", parent) == (0, None)
        rule.admitted(f"http://h/leaf/{n}", 0)
    trapped_at = None
    for n in range(1, 20):  # a chain: /list/1 -> /list/2 -> ...
        url = f"http://h/list/{n}"
        step, reason = rule.check(url, parent)
        if reason is not None:
            trapped_at = n
            assert reason.startswith("--max-chain 3:") and "h/list/#" in reason
            break
        rule.admitted(url, step)
        parent = url
    # /list/1 is found on /index (step 0), /list/2 at step 1, /list/3.. at step >= 2 count:
    # /list/3, /list/4, /list/5 are the three allowed, /list/6 is the first trap.
    assert trapped_at == 6


def test_max_chain_0_turns_the_rule_off() -> None:
    rule = ChainRule(limit=0, depth=1)
    parent = "http://h/list/0"
    for n in range(1, 5000):
        url = f"http://h/list/{n}"
        step, reason = rule.check(url, parent)
        assert reason is None
        rule.admitted(url, step)
        parent = url


def grow(site: Site, host: str, target: str) -> Answer:
    """/grow/1/2/3/...: each page links one segment deeper, no segment ever repeated (up to 40
    segments, so that a crawl without the rule ends too)."""
    segments = urlsplit(target).path.strip("/").split("/")
    return _page(f"{len(segments)} deep", [f"{len(segments)}/"] if len(segments) < 40 else [])


def test_more_than_32_segments_is_a_trap(
    make_site: Callable[..., Site], run_crawl: RunCrawl
) -> None:
    site = make_site(hosts=(HOST,), pages=2, links=1, routes={"/grow": grow})
    summary, records = run_crawl([site.base(HOST) + "grow/"])
    assert summary.exit_reason == "finished"
    (trap,) = traps(records)
    assert trap["error"]["message"] == "path deeper than 32 segments"
    assert len(urlsplit(trap["url"]).path.strip("/").split("/")) == 33
    assert len([r for r in records if r["ok"]]) == 32  # /grow/ .. /grow/1/.../31/
