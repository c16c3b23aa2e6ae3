"""The parser backends agree: same links, title and robots directives, page for page.

A differential test: every page of the synthetic site, a sample of real pages (the Python 3.11
HTML documentation when /usr/share/doc/python3.11/html is installed, else pages generated here
with the shapes of real ones), every hostile-content case of crawler/sitegen.py and a set of
markup that parsers are known to treat differently, each parsed by every backend and compared
with bs4 (the path the crawler started with). Where the HTML standard itself says a backend is
right to differ, the difference is named in KNOWN_DIFFERENCES with the reason, and asserted as
it is, so that it cannot grow unnoticed.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from crawler.config import DEFAULT_PARSER, PARSER_BACKENDS
from crawler.parse.backends import BACKENDS, get_backend
from crawler.parse.extract import MAX_LINKS, Page, parse_page
from crawler.sitegen import Site
from tests.routes import HOSTILE_HREFS, FixtureSite

REFERENCE = "bs4"
NAMES = ("robots", "crawl")  # <meta name=robots> and the default user agent's token
PYDOCS = Path("/usr/share/doc/python3.11/html")
PYDOCS_SAMPLE = 5  # every 5th page of the documentation (about 100 pages)
UTF8 = "text/html; charset=utf-8"

# Markup that HTML parsers are known to disagree on. Each is parsed by every backend; all agree
# unless KNOWN_DIFFERENCES says otherwise.
TRICKY: dict[str, str] = {
    "template": '<template><a href="/tpl">t</a></template><a href="/x">x</a>',
    "noscript": '<noscript><a href="/ns">n</a></noscript><a href="/y">y</a>',
    "svg-a-and-title": '<svg><a href="/svg">s</a><title>svg title</title></svg><title>real</title>',
    "title-in-body": "<body><p>x</p><title>late</title></body>",
    "two-titles": "<title>one</title><title>two</title>",
    "duplicate-attribute": '<a href="/first" href="/second">d</a>',
    "nested-a": '<a href="/outer"><a href="/inner">i</a></a>',
    "base-in-body": '<a href="x">x</a><body><base href="http://b.test/d/"></body>',
    "two-bases": '<base href="http://one.test/"><base href="http://two.test/"><a href=x>x</a>',
    "bare-base": "<base href><a href=x>x</a>",
    "textarea": '<textarea><a href="/ta">no</a></textarea><a href=/y>y</a>',
    "script": '<script>document.write("<a href=/js>")</script><a href=/z>z</a>',
    "comment": '<!-- <a href="/c">c</a> --><a href=/k>k</a>',
    "cdata": '<![CDATA[<a href="/cd">]]><a href=/k>k</a>',
    "unclosed-attribute": '<a href="/u>u</a><a href=/v>v</a>',
    "entities-in-href": '<a href="/a?x=1&amp;y=2&copy=3">e</a><a href="/b?lt=1&lt">f</a>',
    "nul": '<a href="/n\x00ul">n</a><title>t\x00t</title>',
    "meta-robots-for-this-crawler": (
        '<meta name="CRAWL" content="noindex">'
        '<meta name=robots content="max-snippet:10, noarchive">'
    ),
    "meta-robots-for-another-crawler": '<meta name="otherbot" content="nofollow"><a href=/o>o</a>',
    "meta-http-equiv-is-not-a-name": (
        '<meta http-equiv="robots" content="nofollow"><a href=/m>m</a>'
    ),
    "plaintext": "<a href=/p1>1</a><plaintext><a href=/p2>2</a>",
    "xmp": "<xmp><a href=/x1>1</xmp><a href=/x2>",
    "iframe-srcdoc": '<iframe srcdoc="<a href=/sd>s</a>" src="/if"></iframe>',
    "a-in-select": "<select><a href=/sel>s</a></select>",
    "frameset-noframes": (
        "<frameset><frame src=/f1><noframes><a href=/nf>n</a></noframes></frameset>"
    ),
    "title-entities": "<title>a&nbsp;b &amp;amp; &#x1F600; &bogus; &lt</title>",
    "whitespace-in-href": '<a href="  /ws  ">w</a><a href="\t\n/tab\n">t</a>',
    "a-in-math": "<math><mi><a href=/math>m</a></mi></math>",
    "a-in-table": "<table><a href=/tbl>t</a><tr><td><a href=/td>d</a></td></tr></table>",
    "after-html": "<html><body>x</body></html><title>after</title><a href=/after>a</a>",
    "image-map": "<map name=m><area href=/a1 rel=nofollow><area href=/a2 shape=rect></map>",
    "upper-case-rel": '<a href=/r REL="NoFollow">r</a><link REL=Next href=/n>',
    "byte-order-mark-as-text": "\ufeff<title>bom</title>",
    "deep-then-after": "<div>" * 3000 + "<a href=/deep>d</a>" + "</div>" * 3000 + "<a href=/z>",
}

# (case, backend) -> why the HTML standard makes that backend right to differ from bs4.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("template", "selectolax"): (
        "HTML 4.12.3: a <template>'s contents are a separate DocumentFragment, not children of "
        "the element; its links are inert (not in the document). lexbor builds that fragment "
        "and does not search it; libxml2 (lxml, bs4) has no templates and parses the contents "
        "as children."
    ),
}


# (case, backend) -> why that backend is not run on that case (the result is compared on a
# smaller page of the same shape instead).
TOO_SLOW: dict[tuple[str, str], str] = {
    ("/lies/deep-nesting", "selectolax"): (
        "lexbor's time grows with the square of the nesting depth: about 40 s for 100,000 "
        "nested <div> (test_selectolax_agrees_on_deep_nesting_it_can_afford uses 3,000)"
    ),
}


def outcomes(url: str, body: bytes, content_type: str, case: str = "") -> dict[str, Page]:
    """The Page of each backend (those TOO_SLOW for `case` left out)."""
    return {
        name: parse_page(url, body, content_type, backend=name, names=NAMES)
        for name in BACKENDS
        if (case, name) not in TOO_SLOW
    }


def disagreements(
    cases: list[tuple[str, str, bytes, str]],
) -> list[str]:
    """One line per (case, backend) whose Page differs from bs4's, unless it is known."""
    found = []
    for case, url, body, content_type in cases:
        pages = outcomes(url, body, content_type, case)
        reference = pages[REFERENCE]
        for name, page in pages.items():
            if page != reference and (case, name) not in KNOWN_DIFFERENCES:
                found.append(f"{case} [{name}]: {page!r}\n    {REFERENCE}: {reference!r}")
    return found


# -- the corpora -------------------------------------------------------------------------------


def synthetic_cases() -> list[tuple[str, str, bytes, str]]:
    """Every page of the test site (default size, both hosts), and its special pages."""
    site = FixtureSite(("127.0.0.1", "127.0.0.2"), port=8000)
    cases = []
    for host in site.hosts:
        for index in range(site.pages):
            url = site.base(host) + ("" if index == 0 else f"page/{index}")
            cases.append((f"{host} page {index}", url, site.render(host, index), UTF8))
    for path in ("/spellings", "/offsite-links", "/calendar?m=3", "/deeper/", "/links/a,b%2Fc"):
        cases.append(site_case(site, path))
    return cases


def site_case(site: Site, path: str) -> tuple[str, str, bytes, str]:
    """The page the test site answers for `path` on 127.0.0.1, as a case."""
    answer = site.respond("127.0.0.1", path)
    assert isinstance(answer, tuple), path
    status, headers, body = answer
    assert status == 200, path
    return path, site.base("127.0.0.1") + path.lstrip("/"), body, headers.get("Content-Type", "")


def real_cases() -> list[tuple[str, str, bytes, str]]:
    """Every PYDOCS_SAMPLE-th page of the Python docs, or generated pages without them."""
    if PYDOCS.is_dir():
        files = sorted(PYDOCS.rglob("*.html"))[::PYDOCS_SAMPLE]
        assert len(files) >= 50, f"{PYDOCS} holds too few pages"
        return [
            (
                str(f.relative_to(PYDOCS)),
                f"http://docs.test/{f.relative_to(PYDOCS)}",
                f.read_bytes(),
                "text/html",
            )
            for f in files
        ]
    return [
        (f"generated {i}", f"http://gen.test/d{i % 4}/p{i}.html", generated_page(i), "text/html")
        for i in range(60)
    ]


def generated_page(seed: int) -> bytes:
    """A page with the parts of real ones: head with metadata, navigation, prose with inline
    links, a table, relative and absolute links with fragments and queries, entities, a form,
    inline SVG, scripts and comments; some pages have a <base> or robots directives."""
    rng = random.Random(seed)
    words = [
        "the",
        "crawl",
        "parser",
        "thread",
        "page",
        "link",
        "&amp;",
        "caf&eacute;",
        "na&iuml;ve",
    ]

    def prose(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    def href() -> str:
        return rng.choice(
            [
                f"../d{rng.randrange(4)}/p{rng.randrange(60)}.html",
                f"p{rng.randrange(60)}.html#s{rng.randrange(9)}",
                f"/d{rng.randrange(4)}/p{rng.randrange(60)}.html?q={rng.randrange(5)}&amp;b=1",
                f"https://other{rng.randrange(3)}.test/x/{rng.randrange(99)}",
                "#top",
                "mailto:a@b.test",
                "javascript:void(0)",
                f"./p{rng.randrange(60)}.html",
            ]
        )

    head = [f"<title>Page {seed} &mdash; {prose(4)}</title>", '<meta charset="utf-8">']
    head.append('<link rel="stylesheet" href="/s.css"><link rel="next" href="next.html">')
    if seed % 7 == 3:
        head.append('<base href="/d9/">')
    if seed % 11 == 5:
        head.append('<meta name="robots" content="noindex, NoFollow">')
    nav = "".join(f'<li><a href="{href()}">{prose(2)}</a></li>' for _ in range(12))
    paragraphs = "".join(
        f"<p>{prose(40)} <a href='{href()}'>{prose(2)}</a> <em>{prose(5)}</em></p>"
        for _ in range(15)
    )
    rows = "".join(
        f"<tr><td>{i}</td><td><a href={href()}>{prose(1)}</a></td><td>{prose(6)}</td></tr>"
        for i in range(10)
    )
    body = (
        f"<!DOCTYPE html><html lang=en><head>{''.join(head)}</head><body>"
        f"<nav><ul>{nav}</ul></nav><!-- <a href='/commented'> -->"
        f"<main><h1>{prose(3)}</h1>{paragraphs}<table>{rows}</table>"
        "<form action='/search'><input name=q></form>"
        '<svg width="10"><a href="/svg-link"><rect/></a></svg>'
        "<iframe src='/frame.html'></iframe><area href='/area' rel='nofollow'>"
        "</main><script>var a = '<a href=\"/in-script\">';</script></body></html>"
    )
    return body.encode()


def hostile_cases() -> list[tuple[str, str, bytes, str]]:
    """The hostile content of the test site (lying headers and markup, extremes, hostile
    paths), compressed bombs read as HTML, and garbage bytes."""
    site = FixtureSite(("127.0.0.1",), port=8000)
    lies = (
        *("binary-as-html", "html-as-octet-stream", "no-charset", "wrong-charset"),
        *("bad-charset-label", "utf-16-bom", "deep-nesting", "many-links"),
    )
    paths = [f"/lies/{case}" for case in lies]
    paths += ["/hostile-paths", "/evil-title", *HOSTILE_HREFS]
    cases = [site_case(site, path) for path in paths]
    # /slow-parse at a tenth of its size: the same shape, without bs4's seconds of work.
    links = "".join(f'<a href="/s/{i}">{i}</a>' for i in range(MAX_LINKS * 6))
    cases.append(
        (
            "slow-parse/10",
            "http://127.0.0.1:8000/slow-parse",
            f"<title>slow</title>{links}".encode(),
            UTF8,
        )
    )
    cases.append(("gzip bytes", "http://127.0.0.1:8000/bomb", gzip.compress(bytes(100_000)), UTF8))
    garbage = [
        b"",
        b"\x00" * 100,
        bytes(range(256)) * 20,
        b"\xff\xfe\x00<\x00a\x00",
        b"<a href='/x'>\x80\x81\xfe\xff</a>",
        b"<<<>>><a href=><title><title></a></a></a>",
        b"\xef\xbb\xbf<title>bom</title>",
        "<title>\ud800</title>".encode("utf-8", "surrogatepass"),
        b"<title>\x81\x8d\x8f\x90\x9d</title><a href=/c1>c</a>",
        b'<meta charset="\x00"><title>nul charset</title><a href=/n>n</a>',
        b"<meta " * 2000 + b"<title>metas</title>",
    ]
    for i, body in enumerate(garbage):
        for content_type in ("text/html", UTF8, "text/html; charset=no-such-codec"):
            cases.append((f"garbage {i} ({content_type})", "http://g.test/a/b", body, content_type))
    return cases


# -- the tests ---------------------------------------------------------------------------------


def test_every_backend_is_a_parser_option_and_the_default_is_one() -> None:
    assert set(BACKENDS) == set(PARSER_BACKENDS)
    assert DEFAULT_PARSER in BACKENDS and REFERENCE in BACKENDS
    with pytest.raises(ValueError, match="unknown parser backend 'html5'"):
        get_backend("html5")


def test_backends_agree_on_every_page_of_the_synthetic_site() -> None:
    cases = synthetic_cases()
    assert len(cases) > 120
    assert disagreements(cases) == []


def test_backends_agree_on_real_pages() -> None:
    cases = real_cases()
    assert disagreements(cases) == []
    # Not vacuous: the pages have links and titles, and some links are to other folders.
    pages = [parse_page(url, body, ctype, names=NAMES) for _, url, body, ctype in cases]
    assert sum(len(p.links) for p in pages) > 20 * len(pages)
    assert all(p.title for p in pages[:20])


def test_backends_agree_on_hostile_content() -> None:
    assert disagreements(hostile_cases()) == []


@pytest.mark.parametrize("case", sorted(TRICKY))
def test_backends_agree_on_tricky_markup_or_differ_as_the_standard_says(case: str) -> None:
    url = "http://example.com/dir/page.html"
    pages = outcomes(url, TRICKY[case].encode("utf-8"), UTF8)
    for name, page in pages.items():
        if (case, name) in KNOWN_DIFFERENCES:
            assert page != pages[REFERENCE], f"{case} [{name}] no longer differs: update the table"
        else:
            assert page == pages[REFERENCE], f"{case} [{name}]"


def test_the_template_difference_is_exactly_the_template_contents() -> None:
    url = "http://example.com/dir/page.html"
    pages = outcomes(url, TRICKY["template"].encode(), UTF8)
    assert pages["selectolax"].links == ("http://example.com/x",)
    assert pages[REFERENCE].links == ("http://example.com/tpl", "http://example.com/x")


def test_robots_directives_of_both_meta_names_in_document_order() -> None:
    body = TRICKY["meta-robots-for-this-crawler"].encode()
    for name, page in outcomes("http://example.com/", body, UTF8).items():
        assert page.robots == ("noindex", "max-snippet:10", "noarchive"), name
        assert page.nofollow is False
    body = TRICKY["meta-robots-for-another-crawler"].encode()
    for name, page in outcomes("http://example.com/", body, UTF8).items():
        assert page.robots == () and page.links == ("http://example.com/o",), name


def test_content_after_the_html_end_tag_is_read() -> None:
    # libxml2 keeps it in a second top-level element; HTML puts it in the body.
    body = TRICKY["after-html"].encode()
    for name, page in outcomes("http://example.com/", body, UTF8).items():
        assert page.title == "after" and page.links == ("http://example.com/after",), name


def test_nesting_past_the_libxml2_depth_limit_loses_nothing() -> None:
    case, url, body, ctype = site_case(FixtureSite(("127.0.0.1",), port=8000), "/lies/deep-nesting")
    for name, page in outcomes(url, body, ctype, case).items():
        assert page.links == (
            "http://127.0.0.1:8000/page/1",
            "http://127.0.0.1:8000/page/2",
        ), name


def test_selectolax_agrees_on_deep_nesting_it_can_afford() -> None:
    body = "<title>deep</title><a href=/1>1</a>" + "<div>" * 3000 + "<a href=/2>2</a>"
    pages = outcomes("http://example.com/", body.encode(), UTF8)
    assert pages["selectolax"] == pages[REFERENCE]
    assert pages[REFERENCE].links == ("http://example.com/1", "http://example.com/2")


def test_a_crawl_with_each_backend_writes_the_same_records(site: Site, run_crawl, tmp_path) -> None:
    def essentials(parser: str) -> dict[str, tuple[object, ...]]:
        _, records = run_crawl(site.seed_urls(), parser=parser, output=tmp_path / parser)
        return {r["url"]: (r["ok"], r["links"], r["title"], r["error"]) for r in records}

    reference = essentials(REFERENCE)
    assert len(reference) > 80
    for name in BACKENDS:
        if name != REFERENCE:
            assert essentials(name) == reference, name
