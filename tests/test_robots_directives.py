"""Robots directives in pages (<meta name="robots">, <meta name="crawl">) and in X-Robots-Tag
headers: noindex (not saved, links followed), nofollow (links not followed), none (both);
each record says which applied (crawler/fetch/directives.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crawler.engine import Summary
from crawler.fetch.directives import decide, header_directives
from crawler.sitegen import Answer, Site

HOST = "127.0.0.1"
Records = list[dict[str, Any]]
RunCrawl = Callable[..., tuple[Summary, Records]]

# Case -> (<meta> tags, X-Robots-Tag header lines, saved, links followed, record's `robots`).
CASES: dict[str, tuple[str, tuple[str, ...], bool, bool, list[str] | None]] = {
    "plain": ("", (), True, True, None),
    "meta-noindex": ('<meta name="robots" content="noindex">', (), False, True, ["noindex (meta)"]),
    "meta-ua-noindex": (
        '<meta name="crawl" content="NoIndex">',
        (),
        False,
        True,
        ["noindex (meta)"],
    ),
    "meta-nofollow": (
        '<meta name="robots" content="nofollow">',
        (),
        True,
        False,
        ["nofollow (meta)"],
    ),
    "meta-none": ('<meta name="robots" content="none">', (), False, False, ["none (meta)"]),
    "meta-both": (
        '<meta name="robots" content="noindex"><meta name="crawl" content="nofollow">',
        (),
        False,
        False,
        ["noindex (meta)", "nofollow (meta)"],
    ),
    "meta-other-ua": ('<meta name="otherbot" content="noindex, nofollow">', (), True, True, None),
    "header-noindex": ("", ("noindex",), False, True, ["noindex (X-Robots-Tag)"]),
    "header-ua-noindex": ("", ("crawl: noindex",), False, True, ["noindex (X-Robots-Tag)"]),
    "header-nofollow": ("", ("nofollow",), True, False, ["nofollow (X-Robots-Tag)"]),
    "header-none": ("", ("none",), False, False, ["none (X-Robots-Tag)"]),
    "header-ua-none": ("", ("CRAWL: none",), False, False, ["none (X-Robots-Tag)"]),
    "header-other-ua": ("", ("otherbot: noindex, nofollow",), True, True, None),
    # Two header lines: the first for another crawler, the second for all.
    "header-two-lines": (
        "",
        ("otherbot: noindex", "nofollow"),
        True,
        False,
        ["nofollow (X-Robots-Tag)"],
    ),
    "header-unavailable-after": (
        "",
        ("unavailable_after: 25 Jun 2010 15:00:00 PST",),
        True,
        True,
        None,
    ),
}


def page(site: Site, host: str, target: str) -> Answer | None:
    """/case/NAME: a page with the meta tags and headers of CASES[NAME], linking /leaf/NAME."""
    name = target.rsplit("/", 1)[-1]
    if name not in CASES:
        return None
    meta, header_lines, *_ = CASES[name]
    headers = {"Content-Type": "text/html; charset=utf-8"}
    if header_lines:
        headers["X-Robots-Tag"] = "\n".join(header_lines)
    body = f'<html><head><title>{name}</title>{meta}</head><a href="/leaf/{name}">leaf</a></html>'
    return 200, headers, body.encode()


def leaf(site: Site, host: str, target: str) -> Answer:
    return 200, {"Content-Type": "text/html"}, b"<html><title>leaf</title></html>"


@pytest.mark.parametrize("case", list(CASES))
def test_robots_directives_of_meta_tags_and_headers(
    make_site: Callable[..., Site], run_crawl: RunCrawl, tmp_path: Any, case: str
) -> None:
    _, _, saved, followed, robots = CASES[case]
    site = make_site(hosts=(HOST,), pages=2, links=1, routes={"/case": page, "/leaf": leaf})
    url = f"{site.base(HOST)}case/{case}"
    _, records = run_crawl([url], depth=1, threads=2, parsers=1)
    table = {r["url"]: r for r in records}
    record = table[url]
    assert record["ok"] and record["status"] == 200 and record["title"] == case
    assert record["robots"] == robots
    assert (record["path"] is not None) is saved
    out = tmp_path / "out"
    kept = [p for p in (out / "pages").rglob("*") if p.is_file() and "case" in p.parts]
    assert len(kept) == (1 if saved else 0)
    assert (f"{site.base(HOST)}leaf/{case}" in table) is followed
    assert record["links"] == (1 if followed else 0)


def test_header_directives_name_the_user_agent_for_the_rest_of_their_line() -> None:
    lines = ("crawl: noindex, nofollow", "otherbot: none", "noarchive", "max-snippet: 0")
    assert header_directives(lines, "crawl") == (
        "noindex",
        "nofollow",
        "noarchive",
        "max-snippet: 0",
    )
    assert header_directives(lines, "otherbot") == ("none", "noarchive", "max-snippet: 0")
    assert decide((), lines, "otherbot").noindex and decide((), lines, "otherbot").nofollow
    assert not decide((), ("otherbot: none",), "crawl").noindex
