"""Canonical URLs, host keys, scope and filters."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler import urls
from crawler.urls import (
    InvalidURL,
    canonicalize,
    host_key,
    in_scope,
    passes_filters,
    registered_domain,
    resolve,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTP://Example.COM:80/a/./b/../c#frag", "http://example.com/a/c"),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("http://example.com/%7euser/a b", "http://example.com/~user/a%20b"),
        ("http://bücher.de/", "http://xn--bcher-kva.de/"),
        ("http://[::1]:8080/", "http://[::1]:8080/"),
    ],
)
def test_canonical_form(raw: str, canonical: str) -> None:
    assert canonicalize(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://example.com/",
        "mailto:a@b.c",
        "javascript:alert(1)",
        "http://",
        "/relative",
        "http://example.com:99999/",
        "http://exa\nmple.com/",
        "http://example.com/" + "a" * 3000,
    ],
)
def test_refused(raw: str) -> None:
    with pytest.raises(InvalidURL):
        canonicalize(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "http://good.example;@evil.example/",
        "http://user;x@evil.example/",
        "http://u:p;q@evil.example/x",
        "http://a@b@evil.example/",
        "http://good.example@x@evil.example/",
    ],
)
def test_semicolon_or_at_smuggled_in_the_userinfo_is_refused(raw: str) -> None:
    with pytest.raises(InvalidURL, match="smuggled in the userinfo"):
        canonicalize(raw)


def test_plain_userinfo_is_kept() -> None:
    assert canonicalize("http://user:pw@h.example/x") == "http://user:pw@h.example/x"


def test_resolve_drops_fragments_and_other_schemes() -> None:
    assert resolve("http://a.example/x/y", "../z#top") == "http://a.example/z"
    assert resolve("http://a.example/", "#top") is None
    assert resolve("http://a.example/", "mailto:x@y") is None
    assert resolve("http://a.example/", "   ") is None


def test_host_key_and_scope() -> None:
    assert host_key("http://a.example:81/x") == "a.example:81"
    assert registered_domain("www.a.example.co.uk") == "example.co.uk"
    assert registered_domain("127.0.0.1") == "127.0.0.1"
    assert in_scope("http://a.example/2", "http://a.example/", "host")
    assert not in_scope("http://b.a.example/", "http://a.example/", "host")
    assert in_scope("http://b.example.com/", "http://a.example.com/", "domain")
    assert in_scope("http://other.org/", "http://a.example/", "any")


def test_filters() -> None:
    allow = (re.compile("/docs/"),)
    deny = (re.compile(r"\.pdf$"),)
    assert passes_filters("http://a/docs/x", allow, deny)
    assert not passes_filters("http://a/docs/x.pdf", allow, deny)
    assert not passes_filters("http://a/blog/", allow, deny)
    assert passes_filters("http://a/blog/", (), deny)


# --- the fast path of canonicalize ---------------------------------------------------------

_URL_PIECES = st.sampled_from(
    ["a", "Z", "0", "9", "-", ".", "_", "~", "/", "..", "./", "%41", "%2f", " ", "?", "#", "é"]
)


@settings(max_examples=3000, deadline=None)
@given(
    scheme=st.sampled_from(["http", "HTTPS", "https", "Http"]),
    host=st.text(st.sampled_from(list("abcXYZ019-.")), min_size=1, max_size=30),
    port=st.one_of(st.none(), st.integers(0, 70000).map(str), st.sampled_from(["0080", ""])),
    path=st.one_of(st.none(), st.lists(_URL_PIECES, max_size=15).map(lambda p: "/" + "".join(p))),
)
def test_fast_canonical_form_is_the_w3lib_one(
    scheme: str, host: str, port: str | None, path: str | None
) -> None:
    url = f"{scheme}://{host}" + (f":{port}" if port is not None else "") + (path or "")
    fast = urls._simple(url)
    if fast is None:
        return  # the long way decides
    assert fast == urls._canonicalize(url)


def test_fast_path_takes_the_common_links() -> None:
    for url in (
        "http://Example.com/docs/library/os.html",
        "https://docs.python.org:443/3/",
        "http://127.0.0.1:8000/p/12",
        "http://h.test",
    ):
        assert urls._simple(url) == urls._canonicalize(url)
    for url in ("http://h/a?b=1", "http://h/%7e", "http://xn--nxasmq6b.test/", "http://u@h/"):
        assert urls._simple(url) is None
