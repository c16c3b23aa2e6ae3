"""The reference scanner: what it finds in HTML and CSS, at which bytes, and what it skips."""

from __future__ import annotations

from crawler.parse.refs import (
    BASE,
    IMPORT,
    LINK,
    REFRESH,
    REQUISITE,
    document_refs,
    html_refs,
    requisites,
)


def spans(body: bytes, content_type: str = "text/html") -> list[tuple[str, str, bytes]]:
    """(kind, text, the bytes at its span) of each reference."""
    return [(r.kind, r.text, body[r.start : r.end]) for r in document_refs(body, content_type)]


def test_every_requisite_element_is_found() -> None:
    body = b"""<html><head><link rel=stylesheet href=a.css><link rel="shortcut icon" href=i.ico>
<link rel=modulepreload href=m.js><link rel=manifest href=m.json><link rel=next href=n.html>
<script src=s.js></script></head><body><img src=i.png srcset="x1.png 1x, x2.png 2x">
<picture><source srcset="p.webp 100w,p2.webp 200w"></picture>
<video src=v.mp4 poster=p.jpg><track src=t.vtt></video><audio src=a.ogg></audio>
<object data=o.svg></object><embed src=e.swf><input type=image src=b.png><input src=no.png>
<a href=page.html>x</a><iframe src=f.html></iframe></body></html>"""
    found = spans(body)
    assert [t for k, t, _ in found if k == REQUISITE] == [
        *("a.css", "i.ico", "m.js", "m.json", "s.js", "i.png", "x1.png", "x2.png"),
        *("p.webp", "p2.webp", "v.mp4", "p.jpg", "t.vtt", "a.ogg", "o.svg", "e.swf", "b.png"),
    ]
    assert [t for k, t, _ in found if k == LINK] == ["n.html", "page.html", "f.html"]
    for _, text, raw in found:
        assert raw.decode() == text  # the span is exactly the value


def test_css_in_style_blocks_attributes_and_files() -> None:
    body = b"""<style>@import "i.css"; a{background:url( 'b.png' )} /* url(no.png) */</style>
<div style="background:url(&quot;q.png&quot;); x: url(u.png)"></div>"""
    found = spans(body)
    assert [(k, t) for k, t, _ in found] == [
        (IMPORT, "i.css"),
        (REQUISITE, "b.png"),
        (REQUISITE, "q.png"),  # its span is inside the &quot;s
        (REQUISITE, "u.png"),
    ]
    assert found[2][2] == b"q.png"
    css = b'@import url(x.css);\n@font-face{src:url("f.woff2") format("woff2")}\n/* url(n) */'
    assert [(k, t) for k, t, _ in spans(css, "text/css")] == [
        (IMPORT, "x.css"),
        (REQUISITE, "f.woff2"),
    ]


def test_comments_scripts_and_raw_text_are_skipped() -> None:
    body = b"""<!-- <img src=c.png> --><script>document.write('<img src=s.png>')</script>
<textarea><img src=t.png></textarea><title><a href=x></title><img src=real.png>"""
    assert [t for _, t, _ in spans(body)] == ["real.png"]


def test_base_refresh_entities_and_non_ascii() -> None:
    body = (
        '<base href="/d/"><meta http-equiv=Refresh content="3; URL=\'next.html\'">'
        '<a href="caf\u00e9.html?a=1&amp;b=2#f">x</a>'
    ).encode()
    found = spans(body)
    assert [(k, t) for k, t, _ in found] == [
        (BASE, "/d/"),
        (REFRESH, "next.html"),
        (LINK, "caf\u00e9.html?a=1&b=2#f"),
    ]
    assert found[2][2] == "caf\u00e9.html?a=1&amp;b=2#f".encode()


def test_requisites_resolve_against_base_and_name_imports() -> None:
    body = b'<base href="http://h/s/"><link rel=stylesheet href=a.css><img src="/i.png#x">'
    assert requisites("http://h/p/", body, "text/html") == (
        ("http://h/s/a.css", "http://h/i.png"),
        (),
    )
    css = b'@import "b.css"; x{background:url(i.png)}'
    assert requisites("http://h/s/a.css", css, "text/css") == (
        ("http://h/s/b.css", "http://h/s/i.png"),
        ("http://h/s/b.css",),
    )


def test_a_page_that_is_not_markup_has_no_references() -> None:
    assert document_refs(b"<img src=x.png>", "image/png") == []
    assert html_refs(b"") == []
    assert html_refs(b"<img src=") == []
    assert html_refs(b"<a href='unclosed") == []
