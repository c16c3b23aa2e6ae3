"""parse_html: links, title and nofollow of one page, in-process (no parser processes)."""

from __future__ import annotations

import pytest

from crawler.parse.extract import MAX_TITLE, parse_html

pytestmark = pytest.mark.usefixtures("backend")

PAGE = "http://example.com/dir/page.html"


def links_of(html: str, url: str = PAGE, content_type: str = "text/html") -> tuple[str, ...]:
    """The links parse_html finds in `html` (asserting it did not see a robots nofollow)."""
    links, _title, nofollow = parse_html(url, html.encode("utf-8"), content_type)
    assert nofollow is False
    return links


def title_of(body: bytes, content_type: str = "text/html") -> str | None:
    """The title parse_html finds in `body`."""
    return parse_html(PAGE, body, content_type)[1]


# --- which tags give links -------------------------------------------------------------------


def test_a_and_area_href() -> None:
    html = '<a href="/a">a</a><map><area href="/area" alt=""></map>'
    assert links_of(html) == ("http://example.com/a", "http://example.com/area")


def test_frame_and_iframe_src() -> None:
    assert links_of('<iframe src="/if"></iframe>') == ("http://example.com/if",)
    html = '<frameset><frame src="/f1"><frame src="f2"></frameset>'
    assert links_of(html) == ("http://example.com/f1", "http://example.com/dir/f2")


def test_link_rel_next_and_prev_but_not_stylesheet() -> None:
    html = (
        '<head><link rel="stylesheet" href="/style.css">'
        '<link rel="next" href="/p2"><link rel="prev" href="/p0">'
        '<link rel="icon" href="/favicon.ico"></head>'
    )
    assert links_of(html) == ("http://example.com/p2", "http://example.com/p0")


def test_link_rel_is_a_token_list() -> None:
    html = '<link rel="alternate next" href="/p2"><link rel="NEXT" href="/p3">'
    assert links_of(html) == ("http://example.com/p2", "http://example.com/p3")


def test_src_and_href_on_the_wrong_tag_are_ignored() -> None:
    html = '<a src="/a-src">x</a><iframe href="/if-href"></iframe><img src="/img.png">'
    assert links_of(html) == ()


def test_tags_without_the_attribute_or_empty_are_skipped() -> None:
    assert links_of('<a name="top">x</a><a href="">y</a><a href="   ">z</a><iframe></iframe>') == ()


# --- resolution --------------------------------------------------------------------------------


def test_relative_links_resolve_against_the_page_url() -> None:
    html = '<a href="sib.html">1</a><a href="../up">2</a><a href="//other.org/x">3</a>'
    assert links_of(html) == (
        "http://example.com/dir/sib.html",
        "http://example.com/up",
        "http://other.org/x",
    )


def test_absolute_base_href() -> None:
    html = '<head><base href="https://cdn.example.org/root/"></head><a href="x">x</a>'
    assert links_of(html) == ("https://cdn.example.org/root/x",)


def test_relative_base_href_resolves_against_the_page_url() -> None:
    html = '<head><base href="../other/"></head><a href="x">x</a><a href="/abs">y</a>'
    assert links_of(html) == ("http://example.com/other/x", "http://example.com/abs")


def test_base_href_applies_to_links_before_it_too() -> None:
    html = '<a href="x">x</a><base href="http://b.example/sub/">'
    assert links_of(html) == ("http://b.example/sub/x",)


def test_non_http_base_href_falls_back_to_the_page_url() -> None:
    html = '<base href="javascript:void(0)"><a href="x">x</a>'
    assert links_of(html) == ("http://example.com/dir/x",)


def test_links_are_canonicalised() -> None:
    html = '<a href="HTTP://Example.COM:80/a/./b/../c?b=2&a=1">x</a>'
    assert links_of(html) == ("http://example.com/a/c?a=1&b=2",)


@pytest.mark.parametrize(
    "href",
    [
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "JavaScript:void(0)",
        "ftp://example.com/file",
        "data:text/html,<a href=x>",
        "tel:+123",
        "file:///etc/passwd",
    ],
)
def test_non_http_schemes_are_dropped(href: str) -> None:
    html = f'<a href="{href}">x</a><a href="/kept">k</a>'
    assert links_of(html) == ("http://example.com/kept",)


def test_fragments_are_dropped() -> None:
    html = '<a href="/a#one">1</a><a href="/a#two">2</a><a href="b#x">3</a>'
    assert links_of(html) == ("http://example.com/a", "http://example.com/dir/b")


def test_fragment_only_hrefs_are_ignored() -> None:
    # `#top` would resolve to the page itself; it is skipped, not returned as the page URL.
    assert links_of('<a href="#top">t</a><a href="  #x">u</a><a href="#">v</a>') == ()


def test_duplicates_collapse_keeping_first_seen_order() -> None:
    html = (
        '<a href="/c">1</a><a href="/a">2</a><a href="/c">3</a>'
        '<a href="http://example.com/a#frag">4</a><a href="/b">5</a><iframe src="/c"></iframe>'
    )
    assert links_of(html) == (
        "http://example.com/c",
        "http://example.com/a",
        "http://example.com/b",
    )


# --- nofollow ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", ["nofollow", "NoFollow", "external nofollow", "nofollow noopener"])
def test_rel_nofollow_links_are_skipped(rel: str) -> None:
    html = f'<a rel="{rel}" href="/skip">s</a><a rel="external" href="/keep">k</a>'
    assert links_of(html) == ("http://example.com/keep",)


def test_rel_nofollow_on_area_is_skipped() -> None:
    html = '<map><area rel="nofollow" href="/skip"><area href="/keep"></map>'
    assert links_of(html) == ("http://example.com/keep",)


def test_rel_nofollow_on_one_tag_does_not_hide_the_same_url_elsewhere() -> None:
    html = '<a rel="nofollow" href="/x">s</a><a href="/x">k</a>'
    assert links_of(html) == ("http://example.com/x",)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("robots", "nofollow"),
        ("robots", "NOFOLLOW"),
        ("ROBOTS", "noindex, nofollow"),
        ("Robots", "noindex,NoFollow"),
        ("robots", "none"),
        ("robots", "NONE"),
        ("robots", "None"),
    ],
)
def test_meta_robots_nofollow_or_none_gives_no_links(name: str, content: str) -> None:
    html = (
        f'<html><head><title>T</title><meta name="{name}" content="{content}"></head>'
        '<body><a href="/a">a</a><iframe src="/b"></iframe></body></html>'
    )
    links, title, nofollow = parse_html(PAGE, html.encode(), "text/html")
    assert links == ()
    assert nofollow is True
    assert title == "T"  # the title is still reported


@pytest.mark.parametrize("content", ["noindex", "NOINDEX", "index, follow", "all", ""])
def test_meta_robots_without_nofollow_keeps_links(content: str) -> None:
    html = f'<meta name="robots" content="{content}"><a href="/a">a</a>'
    assert links_of(html) == ("http://example.com/a",)


def test_meta_nofollow_for_another_name_is_ignored() -> None:
    html = '<meta name="description" content="nofollow"><a href="/a">a</a>'
    assert links_of(html) == ("http://example.com/a",)


def test_meta_nofollow_as_a_substring_is_not_a_token() -> None:
    html = '<meta name="robots" content="nofollowing"><a href="/a">a</a>'
    assert links_of(html) == ("http://example.com/a",)


# --- title -------------------------------------------------------------------------------------


def test_title_whitespace_is_collapsed() -> None:
    assert title_of(b"<title>\n   Hello \t\r\n  big   world  </title>") == "Hello big world"


def test_no_title_is_none() -> None:
    assert title_of(b"<html><body><p>no title here</p></body></html>") is None


def test_blank_title_is_none() -> None:
    assert title_of(b"<title>  \n\t </title>") is None


def test_title_entities_are_decoded() -> None:
    assert title_of(b"<title>Tom &amp; Jerry &lt;3</title>") == "Tom & Jerry <3"


def test_long_title_is_cut() -> None:
    title = title_of(b"<title>" + b"x" * (MAX_TITLE * 3) + b"</title>")
    assert title is not None
    assert len(title) == MAX_TITLE


# --- encodings and garbage ---------------------------------------------------------------------


def test_charset_from_content_type_latin1() -> None:
    body = "<title>Café crème</title>".encode("iso-8859-1")
    assert title_of(body, "text/html; charset=iso-8859-1") == "Café crème"
    assert title_of(body, 'text/html; charset="ISO-8859-1"') == "Café crème"


def test_charset_from_content_type_wins_over_a_guess() -> None:
    # Valid UTF-8 bytes, declared as latin-1: the declaration is what decides.
    body = "<title>café</title>".encode()
    assert title_of(body, "text/html; charset=iso-8859-1") == "cafÃ©"
    assert title_of(body, "text/html; charset=utf-8") == "café"
    # 0xE9 is é in latin-1 but й in windows-1251.
    assert title_of(b"<title>caf\xe9</title>", "text/html;charset=windows-1251") == "cafй"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00" * 100,
        bytes(range(256)) * 20,
        b"\xff\xfe\x00<\x00a\x00",
        b"<a href='/x'>\x80\x81\xfe\xff</a>",
        b"<<<>>><a href=><title><title></a></a></a>",
        b"\xef\xbb\xbf<title>bom</title>",
        "<title>\ud800</title>".encode("utf-8", "surrogatepass"),
    ],
)
@pytest.mark.parametrize(
    "content_type", ["text/html", "text/html; charset=utf-8", "text/html; charset=no-such-codec"]
)
def test_garbage_does_not_raise(body: bytes, content_type: str) -> None:
    links, title, nofollow = parse_html(PAGE, body, content_type)
    assert isinstance(links, tuple)
    assert all(link.startswith(("http://", "https://")) for link in links)
    assert title is None or isinstance(title, str)
    assert nofollow is False


def test_bogus_charset_still_finds_links() -> None:
    body = b"<title>ok</title><a href='/x'>x</a>"
    links, title, _ = parse_html(PAGE, body, "text/html; charset=no-such-codec")
    assert links == ("http://example.com/x",)
    assert title == "ok"


def test_result_is_hashable_and_plain() -> None:
    # It crosses a process boundary in a ParseResult: plain str tuples, not bs4 objects.
    links, title, _ = parse_html(PAGE, b"<title>t</title><a href=/a>a</a>", "text/html")
    assert all(type(link) is str for link in links)
    assert type(title) is str
    hash(links)
