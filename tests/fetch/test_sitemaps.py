"""crawler.fetch.sitemaps: urlsets, indexes, gzip, plain text, caps, loops and hostile documents."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import pytest
import requests
import responses
from protego import Protego

from crawler.fetch.http import new_session
from crawler.fetch.sitemaps import (
    MAX_SITEMAP_BYTES,
    SitemapError,
    SitemapReader,
    SitemapResult,
    parse_sitemap,
    sitemap_candidates,
)

BASE = "http://sitemap.test"
NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XML_TYPE = "application/xml"


def urlset(*locs: str, ns: str | None = NS) -> bytes:
    xmlns = f' xmlns="{ns}"' if ns else ""
    items = "".join(f"<url><loc>{loc}</loc><lastmod>2024-01-01</lastmod></url>" for loc in locs)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset{xmlns}>{items}</urlset>'.encode()


def index(*locs: str, ns: str | None = NS) -> bytes:
    xmlns = f' xmlns="{ns}"' if ns else ""
    items = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    doc = f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex{xmlns}>{items}</sitemapindex>'
    return doc.encode()


def gzip_bomb(uncompressed: int, chunk: int = 1 << 20) -> bytes:
    """`uncompressed` zero bytes gzipped, built chunk by chunk so the test stays small too."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(chunk)
    parts = [compressor.compress(zeros) for _ in range(uncompressed // chunk)]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.fixture
def session():
    s = new_session("mybot/1.0", 4)
    yield s
    s.close()


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def calls(mock: responses.RequestsMock, url: str) -> int:
    return sum(1 for call in mock.calls if call.request.url == url)


def read(session: requests.Session, *start: str, **caps: int) -> SitemapResult:
    return SitemapReader(timeout=5, **caps).read(session, start)


# -- parse_sitemap ---------------------------------------------------------------------------


@pytest.mark.parametrize("ns", [NS, None, "urn:something-else"])
def test_urlset_with_any_namespace_or_none(ns):
    body = urlset(f"{BASE}/a", f"  {BASE}/b\n ", ns=ns)
    assert parse_sitemap(body) == ([f"{BASE}/a", f"{BASE}/b"], [])


def test_prefixed_namespace_and_extensions_are_not_page_urls():
    body = f"""<?xml version="1.0"?>
<sm:urlset xmlns:sm="{NS}" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <sm:url><sm:loc>{BASE}/a?x=1&amp;y=2</sm:loc>
    <image:image><image:loc>{BASE}/img.png</image:loc></image:image></sm:url>
  <!-- <sm:url><sm:loc>{BASE}/commented</sm:loc></sm:url> -->
  <sm:url><sm:loc><![CDATA[{BASE}/cdata]]></sm:loc></sm:url>
  <sm:loc>{BASE}/stray</sm:loc>
  <sm:group><sm:url><sm:loc>{BASE}/nested</sm:loc></sm:url></sm:group>
</sm:urlset>""".encode()
    assert parse_sitemap(body) == ([f"{BASE}/a?x=1&y=2", f"{BASE}/cdata"], [])


def test_sitemapindex_gives_children_only():
    body = index(f"{BASE}/s1.xml", f"{BASE}/s2.xml.gz")
    assert parse_sitemap(body) == ([], [f"{BASE}/s1.xml", f"{BASE}/s2.xml.gz"])


def test_leading_whitespace_and_bom_before_the_xml_declaration():
    body = b"\xef\xbb\xbf\r\n  " + urlset(f"{BASE}/a")
    assert parse_sitemap(body) == ([f"{BASE}/a"], [])


def test_gzip_body_is_inflated_including_multiple_members():
    assert parse_sitemap(gzip.compress(urlset(f"{BASE}/a"))) == ([f"{BASE}/a"], [])
    text = gzip.compress(f"{BASE}/1\n".encode()) + gzip.compress(f"{BASE}/2\n".encode())
    assert parse_sitemap(text) == ([f"{BASE}/1", f"{BASE}/2"], [])


def test_plain_text_sitemap():
    body = f"\ufeff{BASE}/a\r\n\n   {BASE}/b  \n{BASE}/c".encode()
    assert parse_sitemap(body) == ([f"{BASE}/a", f"{BASE}/b", f"{BASE}/c"], [])


def test_plain_text_overlong_lines_are_skipped():
    body = f"{BASE}/a\n".encode() + b"x" * 100_000 + f"\n{BASE}/b\n".encode() + b"y" * 100_000
    assert parse_sitemap(body) == ([f"{BASE}/a", f"{BASE}/b"], [])


@pytest.mark.parametrize(
    "body",
    [
        b"<urlset><url><loc>http://sitemap.test/a</loc></url>",  # unclosed
        b"<urlset><url><loc>a</loc></url></urlset><trailing/>",
        b"<urlset><url><loc>a &nbsp; b</loc></url></urlset>",  # undeclared entity
        b"<html><body><p>Not found</p></body></html>",  # well-formed but not a sitemap
    ],
)
def test_invalid_xml_or_not_a_sitemap_raises(body):
    with pytest.raises(SitemapError) as info:
        parse_sitemap(body)
    assert isinstance(info.value, ValueError)
    assert str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        b"\x1f\x8bnot really gzip at all",
        gzip.compress(urlset(f"{BASE}/a"))[:-30],  # truncated
    ],
)
def test_corrupt_gzip_raises(body):
    with pytest.raises(SitemapError, match="gzip"):
        parse_sitemap(body)


def test_size_cap_applies_to_plain_and_decompressed_bodies():
    body = urlset(*(f"{BASE}/{i}" for i in range(100)))
    with pytest.raises(SitemapError, match="over 1000 bytes"):
        parse_sitemap(body, max_bytes=1000)
    with pytest.raises(SitemapError, match="decompressed sitemap over 1000 bytes"):
        parse_sitemap(gzip.compress(body), max_bytes=1000)
    assert len(parse_sitemap(body, max_bytes=len(body))[0]) == 100


def test_max_entries_stops_parsing():
    body = urlset(*(f"{BASE}/{i}" for i in range(100)))
    assert parse_sitemap(body, max_entries=3) == ([f"{BASE}/0", f"{BASE}/1", f"{BASE}/2"], [])
    text = "\n".join(f"{BASE}/{i}" for i in range(100)).encode()
    assert parse_sitemap(text, max_entries=2) == ([f"{BASE}/0", f"{BASE}/1"], [])


def test_gzip_bomb_stops_at_the_cap_in_small_memory():
    bomb = gzip_bomb(200 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(SitemapError, match=f"over {MAX_SITEMAP_BYTES} bytes"):
            parse_sitemap(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 80 * 1024 * 1024


def test_xml_gzip_bomb_also_stops_at_the_cap():
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    spaces = b" " * (1 << 20)
    parts = [compressor.compress(b"<urlset><url><loc>")]
    parts += [compressor.compress(spaces) for _ in range(60)]
    parts.append(compressor.flush())
    with pytest.raises(SitemapError):
        parse_sitemap(b"".join(parts))


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE urlset [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>\n<urlset><url><loc>http://sitemap.test/&lol9;</loc></url>"
    + b"<url><loc>http://sitemap.test/ok</loc></url></urlset>"
)


def test_billion_laughs_does_not_expand():
    tracemalloc.start()
    try:
        try:
            pages, children = parse_sitemap(BILLION_LAUGHS)
        except SitemapError:
            pages, children = [], []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert children == []
    assert all("lol" not in page and len(page) < 100 for page in pages)
    assert peak < 10 * 1024 * 1024


def test_loc_with_an_unresolved_entity_is_skipped_not_truncated():
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE urlset [<!ENTITY e "x">]>\n'
        b"<urlset><url><loc>http://sitemap.test/&e;/page</loc></url>"
        b"<url><loc>http://sitemap.test/plain</loc></url></urlset>"
    )
    assert parse_sitemap(body) == ([f"{BASE}/plain"], [])


def xxe(target: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE urlset [<!ENTITY x SYSTEM "{target}">]>\n'
        f"<urlset><url><loc>&x;</loc></url><url><loc>{BASE}/ok</loc></url></urlset>"
    ).encode()


def test_external_entity_is_not_resolved(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{BASE}/leaked-secret")
    pages, _ = parse_sitemap(xxe(secret.as_uri()))
    assert pages == [f"{BASE}/ok"]
    pages, _ = parse_sitemap(xxe("file:///etc/passwd"))
    assert pages == [f"{BASE}/ok"]
    assert not any("root:" in page for page in pages)


# -- sitemap_candidates ----------------------------------------------------------------------


def test_candidates_robots_first_then_sitemap_xml_deduplicated():
    robots = Protego.parse(
        f"User-agent: *\nDisallow:\nSitemap: {BASE}/news.xml\n"
        f"Sitemap: {BASE}/sitemap.xml\nSitemap: {BASE}/news.xml\nSitemap: {BASE}/b.xml.gz\n"
    )
    assert sitemap_candidates(BASE, robots.sitemaps) == [
        f"{BASE}/news.xml",
        f"{BASE}/sitemap.xml",
        f"{BASE}/b.xml.gz",
    ]
    assert sitemap_candidates(BASE + "/", []) == [f"{BASE}/sitemap.xml"]
    assert sitemap_candidates(BASE, ["", "  "]) == [f"{BASE}/sitemap.xml"]


# -- SitemapReader ---------------------------------------------------------------------------


def test_reader_urlset(session, mock):
    mock.get(f"{BASE}/sitemap.xml", body=urlset(f"{BASE}/a", f"{BASE}/b"), content_type=XML_TYPE)
    result = read(session, f"{BASE}/sitemap.xml")
    assert result == SitemapResult(
        urls=(f"{BASE}/a", f"{BASE}/b"), fetched=(f"{BASE}/sitemap.xml",), errors=()
    )


def test_reader_index_with_gzipped_and_plain_children(session, mock):
    mock.get(
        f"{BASE}/sitemap.xml",
        body=index(f"{BASE}/one.xml.gz", f"{BASE}/two.xml"),
        content_type=XML_TYPE,
    )
    mock.get(
        f"{BASE}/one.xml.gz",
        body=gzip.compress(urlset(f"{BASE}/1a", f"{BASE}/1b", ns=None)),
        content_type="application/x-gzip",
    )
    mock.get(f"{BASE}/two.xml", body=urlset(f"{BASE}/2a", f"{BASE}/1a"), content_type=XML_TYPE)
    result = read(session, f"{BASE}/sitemap.xml")
    assert result.urls == (f"{BASE}/1a", f"{BASE}/1b", f"{BASE}/2a")
    assert result.fetched == (f"{BASE}/sitemap.xml", f"{BASE}/one.xml.gz", f"{BASE}/two.xml")
    assert result.errors == ()
    assert result.truncated is False


def test_reader_content_encoding_gzip_is_decoded(session, mock):
    mock.get(
        f"{BASE}/sitemap.xml",
        body=gzip.compress(urlset(f"{BASE}/a")),
        content_type=XML_TYPE,
        headers={"Content-Encoding": "gzip"},
    )
    assert read(session, f"{BASE}/sitemap.xml").urls == (f"{BASE}/a",)


def test_reader_index_loop_fetches_each_sitemap_once(session, mock):
    a, b = f"{BASE}/a.xml", f"{BASE}/b.xml"
    mock.get(a, body=index(b, f"{BASE}/A.XML#frag", a), content_type=XML_TYPE)
    mock.get(b, body=index(a, b), content_type=XML_TYPE)
    mock.get(f"{BASE}/A.XML", body=urlset(f"{BASE}/page"), content_type=XML_TYPE)
    result = read(session, a, b, a)
    assert result.fetched == (a, b, f"{BASE}/A.XML")  # paths are case-sensitive
    assert calls(mock, a) == 1
    assert calls(mock, b) == 1
    assert result.urls == (f"{BASE}/page",)
    assert result.errors == ()


def test_reader_redirect_target_is_not_fetched_again(session, mock):
    old, new = f"{BASE}/old.xml", f"{BASE}/new.xml"
    mock.get(old, status=301, headers={"Location": new})
    mock.get(new, body=index(new), content_type=XML_TYPE)
    result = read(session, old)
    assert result.fetched == (old,)
    assert calls(mock, new) == 1
    assert result.errors == ()


def test_reader_records_404_connection_error_and_invalid_xml(session, mock):
    children = [f"{BASE}/missing.xml", f"{BASE}/down.xml", f"{BASE}/bad.xml", f"{BASE}/ok.xml"]
    mock.get(f"{BASE}/sitemap.xml", body=index(*children), content_type=XML_TYPE)
    mock.get(children[0], status=404)
    mock.get(children[1], body=requests.ConnectionError("connection refused"))
    mock.get(children[2], body=b"<urlset><url><loc>x</url></urlset>", content_type=XML_TYPE)
    mock.get(children[3], body=urlset(f"{BASE}/fine"), content_type=XML_TYPE)
    result = read(session, f"{BASE}/sitemap.xml")
    assert result.urls == (f"{BASE}/fine",)
    assert result.fetched == (f"{BASE}/sitemap.xml", *children)
    errors = dict(result.errors)
    assert list(errors) == children[:3]
    assert "404" in errors[children[0]]
    assert "connection refused" in errors[children[1]]
    assert "invalid XML" in errors[children[2]]


def test_reader_unmocked_host_is_an_error_not_an_exception(session, mock):
    result = read(session, "http://127.0.0.1:9/sitemap.xml", "not a url", "ftp://x/s.xml")
    assert result.urls == ()
    assert result.fetched == ("http://127.0.0.1:9/sitemap.xml",)
    assert [url for url, _ in result.errors] == [
        "not a url",
        "ftp://x/s.xml",
        "http://127.0.0.1:9/sitemap.xml",
    ]


def test_reader_body_over_max_bytes_is_an_error(session, mock):
    body = urlset(*(f"{BASE}/{i}" for i in range(1000)))
    mock.get(f"{BASE}/big.xml", body=body, content_type=XML_TYPE)
    mock.get(f"{BASE}/small.xml", body=urlset(f"{BASE}/s"), content_type=XML_TYPE)
    result = read(session, f"{BASE}/big.xml", f"{BASE}/small.xml", max_bytes=10_000)
    assert result.urls == (f"{BASE}/s",)
    assert result.errors[0][0] == f"{BASE}/big.xml"
    assert "10000 bytes" in result.errors[0][1]


def test_reader_gzip_bomb_stops_at_the_cap_in_small_memory(session, mock):
    mock.get(
        f"{BASE}/bomb.xml.gz", body=gzip_bomb(200 * 1024 * 1024), content_type="application/x-gzip"
    )
    mock.get(f"{BASE}/ok.xml", body=urlset(f"{BASE}/ok"), content_type=XML_TYPE)
    tracemalloc.start()
    try:
        result = read(session, f"{BASE}/bomb.xml.gz", f"{BASE}/ok.xml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 80 * 1024 * 1024
    assert result.urls == (f"{BASE}/ok",)
    assert result.errors == (
        (f"{BASE}/bomb.xml.gz", f"decompressed sitemap over {MAX_SITEMAP_BYTES} bytes"),
    )


def test_reader_hostile_xml_does_not_leak_or_expand(session, mock, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{BASE}/leaked-secret")
    mock.get(f"{BASE}/xxe.xml", body=xxe(secret.as_uri()), content_type=XML_TYPE)
    mock.get(f"{BASE}/passwd.xml", body=xxe("file:///etc/passwd"), content_type=XML_TYPE)
    mock.get(f"{BASE}/lol.xml", body=BILLION_LAUGHS, content_type=XML_TYPE)
    result = read(session, f"{BASE}/xxe.xml", f"{BASE}/passwd.xml", f"{BASE}/lol.xml")
    assert result.urls[0] == f"{BASE}/ok"
    assert not any("leaked" in url or "root" in url or "lol" in url for url in result.urls)
    assert all(len(url) < 100 for url in result.urls)


def test_reader_plain_text_sitemap(session, mock):
    mock.get(
        f"{BASE}/sitemap.txt",
        body=f"{BASE}/a\n{BASE}/b\n\n{BASE}/a\n",
        content_type="text/plain",
    )
    result = read(session, f"{BASE}/sitemap.txt")
    assert result.urls == (f"{BASE}/a", f"{BASE}/b")


def test_reader_canonicalises_and_skips_invalid_urls(session, mock):
    mock.get(
        f"{BASE}/sitemap.xml",
        body=urlset(
            "HTTP://Sitemap.TEST:80/a#f",
            "ftp://sitemap.test/file",
            "garbage",
            "/relative/path",
            "http://sitemap.test/b?z=1&amp;a=2",
            "http://sitemap.test/a",
            "http://sitemap.test:8080/c",
        ),
        content_type=XML_TYPE,
    )
    result = read(session, f"{BASE}/sitemap.xml")
    assert result.urls == (
        f"{BASE}/a",
        f"{BASE}/b?a=2&z=1",
        "http://sitemap.test:8080/c",
    )
    assert result.errors == ()


def test_reader_max_sitemaps(session, mock):
    children = [f"{BASE}/s{i}.xml" for i in range(5)]
    mock.get(f"{BASE}/sitemap.xml", body=index(*children), content_type=XML_TYPE)
    for i, child in enumerate(children):
        mock.get(child, body=urlset(f"{BASE}/p{i}"), content_type=XML_TYPE)
    result = read(session, f"{BASE}/sitemap.xml", max_sitemaps=3)
    assert result.fetched == (f"{BASE}/sitemap.xml", *children[:2])
    assert result.urls == (f"{BASE}/p0", f"{BASE}/p1")
    assert result.truncated is True
    assert len(mock.calls) == 3


def test_reader_max_urls(session, mock):
    mock.get(
        f"{BASE}/s1.xml", body=urlset(*(f"{BASE}/p{i}" for i in range(10))), content_type=XML_TYPE
    )
    mock.get(f"{BASE}/s2.xml", body=urlset(f"{BASE}/q"), content_type=XML_TYPE)
    result = read(session, f"{BASE}/s1.xml", f"{BASE}/s2.xml", max_urls=4)
    assert result.urls == tuple(f"{BASE}/p{i}" for i in range(4))
    assert result.fetched == (f"{BASE}/s1.xml",)
    assert result.truncated is True


def test_reader_breadth_first(session, mock):
    mock.get(f"{BASE}/root.xml", body=index(f"{BASE}/i1.xml", f"{BASE}/u2.xml"))
    mock.get(f"{BASE}/i1.xml", body=index(f"{BASE}/u3.xml"))
    mock.get(f"{BASE}/u2.xml", body=urlset(f"{BASE}/two"))
    mock.get(f"{BASE}/u3.xml", body=urlset(f"{BASE}/three"))
    result = read(session, f"{BASE}/root.xml")
    assert result.fetched == tuple(f"{BASE}/{n}.xml" for n in ("root", "i1", "u2", "u3"))
    assert result.urls == (f"{BASE}/two", f"{BASE}/three")
