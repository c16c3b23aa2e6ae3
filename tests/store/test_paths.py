"""Natural names: they stay under pages/, fit every file system, and never put two URLs in one
file (also case-folded), through the registry (Names) that settles collisions."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable
from itertools import combinations
from pathlib import PurePosixPath

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from crawler.store.paths import MAX_NAME, Names, fold, host_dir, url_to_path
from crawler.urls import InvalidURL, canonicalize

WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{d}{i}" for d in ("com", "lpt") for i in "0123456789¹²³"
}


def path_of(url: str) -> str:
    """url_to_path of the canonical form of `url`, as a POSIX string."""
    return url_to_path(canonicalize(url)).as_posix()


def named(*urls: str, content_type: str | None = None) -> list[PurePosixPath]:
    """The paths one registry gives the URLs (canonicalised), in order; each checked safe."""
    names = Names()
    paths = [names.assign(canonicalize(u), content_type) for u in urls]
    for path in paths:
        check_path(path)
    return paths


def is_proper_ancestor(p: PurePosixPath, q: PurePosixPath) -> bool:
    """Whether `p` is a directory on the way to `q` (so `p` as a file would clash with `q`)."""
    return len(p.parts) < len(q.parts) and q.parts[: len(p.parts)] == p.parts


def check_component(name: str) -> None:
    """Assert `name` is a safe single file name on POSIX and Windows."""
    assert name, "empty component"
    assert name not in (".", ".."), name
    assert "/" not in name and "\\" not in name, name
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in name), repr(name)
    assert len(name.encode("utf-8")) <= MAX_NAME, (len(name.encode("utf-8")), name[:40])
    stem = name.split(".", 1)[0].lower()
    assert stem not in WINDOWS_RESERVED, name
    assert not name.endswith((".", " ")), name
    assert not set(':*?"<>|') & set(name), name
    assert "\ufffd" not in name and not any("\udc80" <= c <= "\udcff" for c in name), repr(name)


def check_path(path: PurePosixPath) -> None:
    """Assert every component is safe and the path cannot leave OUT/pages."""
    assert path.parts[0] == "pages"
    assert not path.is_absolute()
    assert len(path.parts) >= 3  # pages / host / file
    for name in path.parts:
        check_component(name)
    resolved = os.path.normpath(os.path.join("/out", *path.parts))
    assert resolved.startswith("/out/pages/"), resolved
    assert os.path.normpath(os.path.join("/out", *path.parts[:2])) == f"/out/pages/{path.parts[1]}"


# --- examples ----------------------------------------------------------------------------------


def test_root_is_index_html() -> None:
    assert path_of("http://example.com/") == "pages/example.com/index.html"
    assert path_of("http://example.com") == "pages/example.com/index.html"


def test_directory_url_is_its_index_html() -> None:
    assert path_of("http://example.com/a/b/") == "pages/example.com/a/b/index.html"


def test_x_and_x_slash_and_x_index_html_differ() -> None:
    x, x_slash, x_index = named("http://h/x", "http://h/x/", "http://h/x/index.html")
    assert len({x, x_slash, x_index}) == 3
    assert x_slash.as_posix() == "pages/h/x~1/index.html"  # the file `x` came first
    assert x_index.as_posix() == "pages/h/x~1/index~1.html"  # `/x/` took index.html


def test_file_and_directory_of_one_name_do_not_clash() -> None:
    urls = ["http://h/x", "http://h/x/y", "http://h/v1.2", "http://h/v1.2/z", "http://h/x/"]
    paths = named(*urls)
    assert len(set(paths)) == len(paths)
    for p, q in combinations(paths, 2):
        assert not is_proper_ancestor(p, q), (p, q)
        assert not is_proper_ancestor(q, p), (q, p)


def test_query_strings_are_distinct() -> None:
    urls = [
        "http://h/x",
        "http://h/x?a=1",
        "http://h/x?a=2",
        "http://h/x?a=1&b=2",
        "http://h/?a=1",
        "http://h/x/?a=1",
    ]
    paths = [p.as_posix() for p in named(*urls)]
    assert len(set(paths)) == len(urls)
    assert "?" not in "".join(paths)
    # The query is part of the last name, not a new directory.
    assert path_of("http://h/x?a=1") == "pages/h/x%3Fa=1"


@pytest.mark.parametrize("name", ["CON", "con", "nul.txt", "NUL.tar.gz", "com1", "LPT9", "aux"])
def test_windows_reserved_names_are_encoded(name: str) -> None:
    path = url_to_path(canonicalize(f"http://h/{name}"))
    check_path(path)
    assert path.name.split(".")[0].lower() not in WINDOWS_RESERVED
    # ... also as a directory
    directory = url_to_path(canonicalize(f"http://h/{name}/x")).parts[2]
    check_component(directory)


def test_reserved_name_does_not_clash_with_its_encoding() -> None:
    assert path_of("http://h/CON") == "pages/h/%43ON"
    assert len(set(named("http://h/CON", "http://h/%2543ON", "http://h/con"))) == 3


@pytest.mark.parametrize(
    "url",
    [
        "http://h/..",
        "http://h/../../etc/passwd",
        "http://h/%2e%2e",
        "http://h/%2e%2e/%2e%2e/x",
        "http://h/a/%2E%2E/%2E%2E/%2E%2E/b",
        "http://h/..%2f..%2fx",
        "http://h/%2e%2e%2f%2e%2e%2fx",
        "http://h/...",
        "http://h/./.",
        "http://h/a%5c..%5c..%5cb",
        "http://h/%00",
        "http://h/a%2Fb",
    ],
)
def test_dot_segments_stay_inside(url: str) -> None:
    check_path(url_to_path(canonicalize(url)))


def test_escaped_slash_is_not_a_directory() -> None:
    assert path_of("http://h/a%2Fb") == "pages/h/a%2Fb"
    assert len(set(named("http://h/a%2Fb", "http://h/a/b"))) == 2


def test_empty_segments_are_kept_apart() -> None:
    paths = set(named("http://h/x", "http://h//x", "http://h///x", "http://h/x//"))
    assert len(paths) == 4


def test_long_names_are_cut_to_255_bytes() -> None:
    for n in (255, 256, 300, 1000):
        for seg in ("a" * n, "é" * n, "a." * (n // 2)):
            for url in (f"http://h/{seg}", f"http://h/{seg}/x", f"http://h/x?q={seg}"):
                try:
                    canonical = canonicalize(url)
                except InvalidURL:
                    continue  # over the URL length limit
                check_path(url_to_path(canonical))


def test_long_names_stay_distinct() -> None:
    long = "a" * 400
    paths = set(named(*(f"http://h/{long}{tail}" for tail in ("", "b", "c", ".x", "/"))))
    assert len(paths) == 5
    file_and_dir = named(*(f"http://h/{long}{t}" for t in ("", "/x")))
    assert not is_proper_ancestor(*file_and_dir)


def test_port_gives_host_underscore_port() -> None:
    assert path_of("http://example.com:8080/a") == "pages/example.com_8080/a"
    assert path_of("https://Example.COM:8443/") == "pages/example.com_https_8443/index.html"
    # default ports are dropped by canonicalize
    assert path_of("http://example.com:80/") == "pages/example.com/index.html"
    assert path_of("https://example.com:443/") == "pages/example.com_https/index.html"


def test_host_dir_cannot_collide_with_a_port_dir() -> None:
    # `_` is always escaped in host names, so `a_80` can only be host a, port 80.
    assert host_dir("http://a_80/") != host_dir("http://a:80/")
    assert host_dir(canonicalize("http://a_8080/")) != host_dir(canonicalize("http://a:8080/"))


def test_ipv6_host_is_a_safe_name() -> None:
    path = url_to_path(canonicalize("http://[::1]:8080/x"))
    check_path(path)
    assert path.parts[1].endswith("_8080")


def test_long_host_is_cut_to_255_bytes() -> None:
    # A legal DNS name (labels <= 63, total 253) plus a port: 259 bytes without a cut.
    host = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(host) == 253
    path = url_to_path(canonicalize(f"http://{host}:8080/"))
    check_path(path)


@pytest.mark.parametrize("rest", ["", "x", "a/b.html?q=1", ":8080/x"])
def test_http_and_https_of_one_url_get_different_files(rest: str) -> None:
    sep = "" if rest.startswith(":") else "/"
    http, https = canonicalize(f"http://h{sep}{rest}"), canonicalize(f"https://h{sep}{rest}")
    assert http != https
    assert url_to_path(http) != url_to_path(https)


def test_userinfo_urls_get_different_files() -> None:
    plain, with_user = canonicalize("http://h/x"), canonicalize("http://u:p@h/x")
    assert plain != with_user
    assert url_to_path(plain) != url_to_path(with_user)


# --- natural names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("http://h/index.html", "index.html"),
        ("http://h/docs/", "docs/index.html"),
        ("http://h/c-api/init_config.html", "c-api/init_config.html"),
        ("http://h/%E4%BD%A0%E5%A5%BD.html", "你好.html"),
        ("http://h/About/Team.html", "About/Team.html"),
        ("http://h/archive.Tar.gz", "archive.Tar.gz"),
        ("http://h/a%20b.txt", "a b.txt"),
        ("http://h/.htaccess", ".htaccess"),
        ("http://h/search?q=a%20b&x=1", "search%3Fq=a+b&x=1"),
        ("http://h/x%3Ay", "x%3Ay"),
        ("http://h/100%25", "100%"),
        ("http://h/%FF.bin", "%FF.bin"),
    ],
)
def test_names_are_what_a_person_expects(url: str, path: str) -> None:
    (given,) = named(url)
    assert given.as_posix() == f"pages/h/{path}"


def test_the_mirror_name_of_an_html_page_gets_html_added() -> None:
    names = Names()
    for url, ctype in [
        ("http://h/about", "text/html; charset=utf-8"),
        ("http://h/x.htm", "text/html"),
        ("http://h/style", "text/css"),
        ("http://h/logo.png", "image/png"),
        ("http://h/list?page=2", "text/html"),
    ]:
        names.assign(url, ctype)
    assert [names.mirror_path(u).as_posix() for u in ("http://h/about", "http://h/x.htm")] == [
        "mirror/h/about.html",
        "mirror/h/x.htm",
    ]
    assert names.mirror_path("http://h/style").name == "style.css"
    assert names.mirror_path("http://h/logo.png").name == "logo.png"
    assert names.mirror_path("http://h/list?page=2").name == "list%3Fpage=2.html"


def test_a_page_and_the_html_name_it_would_take_in_the_mirror_stay_apart() -> None:
    names = Names()
    names.assign("http://h/about", "text/html")
    later = names.assign("http://h/about.html", "text/html")
    assert later.name == "about~1.html"
    assert names.mirror_path("http://h/about").name == "about.html"


def test_the_registry_is_replayed_to_the_same_names() -> None:
    rows: list[tuple[str, str, str]] = []
    first = Names(on_assign=lambda *row: rows.append(row))
    urls = [
        "http://h/A",
        "http://h/a",
        "http://h/x",
        "http://h/x/y",
        "http://h/",
        "http://h/index.html",
    ]
    given = [first.assign(u, "text/html") for u in urls]
    again = Names()
    again.load(rows)
    assert [again.get(u) for u in urls] == given
    # A name given after the replay does not take a replayed one.
    assert again.assign("http://h/X/", "text/html") not in given


# --- case-insensitive file systems (macOS, Windows) -------------------------------------------


def assert_apart_case_folded(*urls: str) -> None:
    """The URLs are different pages, and their files stay apart on a case-folding file system:
    no two paths equal case-folded, none a case-folded directory of another."""
    canonical = [canonicalize(u) for u in urls]
    assert len(set(canonical)) == len(urls), "test URLs must be different pages"
    injective_and_no_ancestor(canonical)


def test_upper_and_lower_case_file_names_do_not_clash() -> None:
    upper, lower = named("http://h/A", "http://h/a")
    assert upper.name == "A"  # first come keeps its name
    assert lower.name == "a~1"
    assert_apart_case_folded(
        "http://h/A", "http://h/a", "http://h/aB", "http://h/Ab", "http://h/AB"
    )


def test_index_html_in_any_case_does_not_clash_with_the_directory_index() -> None:
    urls = ["http://h/", "http://h/Index.HTML", "http://h/index.html", "http://h/INDEX.HTML"]
    root, mixed, literal, upper = named(*urls)
    assert root.name == "index.html"
    # The mark goes before the extension, so the saved file still opens as HTML.
    assert (mixed.name, literal.name, upper.name) == (
        "Index~1.HTML",
        "index~2.html",
        "INDEX~3.HTML",
    )
    assert_apart_case_folded(*urls)


def test_upper_and_lower_case_directories_do_not_clash() -> None:
    upper, lower, again = named("http://h/X/", "http://h/x/", "http://h/X/y")
    assert upper.as_posix() == "pages/h/X/index.html"
    assert lower.as_posix() == "pages/h/x~1/index.html"
    assert again.as_posix() == "pages/h/X/y"  # one URL folder, one file folder
    assert_apart_case_folded(
        "http://h/X/", "http://h/x/", "http://h/X", "http://h/x", "http://h/X/y", "http://h/x/Y"
    )


def test_file_and_directory_of_one_name_in_two_cases_do_not_clash() -> None:
    # `/X` (a file) must not be a case-folded directory of `/x/y`, and so on with dots.
    assert_apart_case_folded(
        "http://h/X",
        "http://h/x/y",
        "http://h/x",
        "http://h/X/y",
        "http://h/V1.2",
        "http://h/v1.2/z",
        "http://h/v1.2",
        "http://h/V1.2/z",
        "http://h/.Htaccess",
        "http://h/.htaccess/x",
    )


def test_reserved_names_in_every_case_do_not_clash() -> None:
    urls = [f"http://h/{n}" for n in ("CON", "con", "Con", "cON", "nul.txt", "NUL.TXT", "Nul.txt")]
    assert_apart_case_folded(*urls)
    for path in named(*urls):
        assert path.name.split(".")[0].split("~")[0].lower() not in WINDOWS_RESERVED


def test_unicode_letters_that_fold_together_stay_apart() -> None:
    # These pairs fold together under Unicode rules (é/É, ß/SS, the Kelvin sign and long s,
    # dotted İ, NFC/NFD) but are different URLs: a case-insensitive or normalising file system
    # would merge them, so the registry keeps them apart.
    urls = [
        "http://h/é",
        "http://h/É",
        "http://h/é",  # NFD of é
        "http://h/straße",
        "http://h/STRASSE",
        "http://h/strasse",
        "http://h/\u212a",  # KELVIN SIGN, casefolds to k
        "http://h/k",
        "http://h/K",
        "http://h/\u017f",  # LATIN SMALL LETTER LONG S, casefolds to s
        "http://h/s",
        "http://h/İ",  # LATIN CAPITAL LETTER I WITH DOT ABOVE
        "http://h/i",
        "http://h/ǅ",  # titlecase digraph
        "http://h/Ǆ",
    ]
    assert_apart_case_folded(*urls)
    eacute, big_eacute = named("http://h/é", "http://h/É")
    assert (eacute.name, big_eacute.name) == ("é", "É~1")


def test_long_mixed_case_names_are_cut_and_stay_apart() -> None:
    segments = ("a" * 250, "A" * 250, "aB" * 125, "é" * 200)
    urls = [f"http://h/{seg}{tail}" for seg in segments for tail in ("", "/x")]
    assert_apart_case_folded(*urls)
    for path in named(*urls):
        assert max(len(n.encode()) for n in path.parts) <= MAX_NAME


def test_host_folder_is_already_case_folded() -> None:
    # Host names are lower-cased and escapes written in upper case: no letter that case
    # folding could merge with another.
    for url in ("http://Example.COM/", "https://[::1]:8080/", "http://a_b.Example/"):
        name = host_dir(canonicalize(url))
        assert re.sub("%[0-9A-F]{2}", "", name).islower(), name


# --- properties --------------------------------------------------------------------------------

HOST_CHARS = string.ascii_letters + string.digits + ".-"
hosts = st.text(HOST_CHARS, min_size=1, max_size=40)
ports = st.none() | st.integers(min_value=1, max_value=65535)

SPECIAL_SEGMENTS = [
    ".",
    "..",
    "...",
    "%2e",
    "%2E%2e",
    "%",
    "%%",
    "%zz",
    "%00",
    "%01",
    "%1f",
    "%7f",
    "%2F",
    "%5C",
    "%3F",
    "%23",
    "%25",
    "%7E",
    "~",
    "\\",
    ":",
    "a:b",
    "C:",
    "CON",
    "con.txt",
    "Com1",
    "lpt3.x",
    "NUL",
    "index.html",
    "index%2Ehtml",
    "x~",
    "a.",
    "a..",
    " ",
    "a b",
    "é",
    "日本",
    "\U0001f600",
    "\u202e",
    "a" * 300,
    "b." * 150,
    "%41" * 100,
    "é" * 200,
]
segment_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"), max_size=30
)
segments = st.sampled_from(SPECIAL_SEGMENTS) | segment_text
queries = st.none() | st.sampled_from(["", "a=1", "a=1&b=2", "x", "%00", "q=..%2F"]) | segment_text


@st.composite
def urls(draw: st.DrawFn, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """A URL (not necessarily valid) from the wide segment alphabet."""
    scheme = draw(st.sampled_from(schemes))
    host = draw(hosts)
    port = draw(ports)
    netloc = host if port is None else f"{host}:{port}"
    path = "/".join(draw(st.lists(segments, max_size=6)))
    if draw(st.booleans()):
        path += "/"
    query = draw(queries)
    return f"{scheme}://{netloc}/{path}" + ("" if query is None else f"?{query}")


def canonical_or_reject(url: str) -> str:
    """canonicalize(url), or hypothesis.assume(False) for a URL the crawler would refuse."""
    try:
        return canonicalize(url)
    except InvalidURL:
        assume(False)
        raise AssertionError("unreachable") from None


PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@PROPERTY
@given(urls())
# Hosts of only dots: the strategy's hosts never are, and `..` as a folder name would leave
# pages/ (the host folder is escaped like any other name).
@example("http://../x")
@example("http://./")
@example("http://.../a/..")
@example("http://..:8080/..%2f..%2fx")
# A replacement character written as such (or as its UTF-8 escapes), found once by the strategy.
@example("http://a/x%EF%BF%BD")
@example("http://a/\ufffd")
def test_property_every_component_is_safe(url: str) -> None:
    check_path(url_to_path(canonical_or_reject(url)))


def folded(path: PurePosixPath) -> str:
    """The path as a case-insensitive, normalising file system (macOS, Windows) sees it."""
    return fold(path.as_posix())


def injective_and_no_ancestor(canonical_urls: Iterable[str]) -> None:
    """Assert one registry names `canonical_urls` one-to-one and no file is another's directory,
    both as written and case-folded (two names equal but for case are one file on macOS and
    Windows), in pages/ and in the mirror (where HTML pages get `.html`: every other URL is
    named as an HTML page here)."""
    names = Names()
    ordered = sorted(set(canonical_urls))
    for i, u in enumerate(ordered):
        names.assign(u, "text/html" if i % 2 else None)
    for tree in ("pages", "mirror"):
        check_tree(names, ordered, tree)


def check_tree(names: Names, canonical_urls: list[str], tree: str) -> None:
    """The injectivity and ancestry checks over one tree of the registry's names."""
    by_path: dict[PurePosixPath, str] = {}
    by_folded: dict[str, str] = {}
    for u in canonical_urls:
        p = names.get(u) if tree == "pages" else names.mirror_path(u)
        assert p is not None
        check_path(PurePosixPath("pages", *p.parts[1:]))
        assert p not in by_path, f"{u!r} and {by_path[p]!r} both map to {p}"
        by_path[p] = u
        f = folded(p)
        assert f not in by_folded, f"{u!r} and {by_folded[f]!r} both map to {p}, case-folded"
        by_folded[f] = u
    # A file that is a directory of another file: look up each path's own ancestors.
    for p, u in by_path.items():
        for i in range(3, len(p.parts)):
            ancestor = PurePosixPath(*p.parts[:i])
            assert ancestor not in by_path, (
                f"{by_path[ancestor]!r} is saved as {ancestor}, a directory of {u!r} -> {p}"
            )
            f = folded(ancestor)
            assert f not in by_folded, (
                f"{by_folded[f]!r} is saved as {ancestor} case-folded, a directory of {u!r} -> {p}"
            )


@PROPERTY
@given(st.lists(urls(schemes=("http", "https")), min_size=2, max_size=8))
def test_property_injective_wide_alphabet(raw: list[str]) -> None:
    canonical: set[str] = set()
    for u in raw:
        try:
            canonical.add(canonicalize(u))
        except InvalidURL:
            continue
    injective_and_no_ancestor(canonical)


SMALL_SEGMENTS = st.sampled_from(
    ["a", "A", "a.b", "a.b~", "b", "index.html", "", "x~", "x", "x.", "%", "%25", "~", ".", "con"]
)
SMALL_QUERIES = st.none() | st.sampled_from(["", "q", "q=1", "a.b", "index.html"])


@st.composite
def same_host_urls(draw: st.DrawFn) -> str:
    """A URL on one host, from a tiny alphabet so that near-clashes are likely."""
    path = "/".join(draw(st.lists(SMALL_SEGMENTS, min_size=1, max_size=4)))
    query = draw(SMALL_QUERIES)
    port = draw(st.sampled_from(["", ":8080"]))
    return f"http://h{port}/{path}" + ("" if query is None else f"?{query}")


@PROPERTY
@given(st.lists(same_host_urls(), min_size=2, max_size=12))
def test_property_injective_same_host(raw: list[str]) -> None:
    injective_and_no_ancestor({canonical_or_reject(u) for u in raw})


def test_injective_on_every_short_path_over_a_small_alphabet() -> None:
    # Exhaustive companion to the property: all paths of up to 3 segments, with and
    # without a query, over the clash-prone alphabet.
    alphabet = ["a", "a.b", "index.html", "", "x~", "a.", "%"]
    raw = {"http://h/"}
    frontier = [""]
    for _ in range(3):
        frontier = [f"{p}/{s}" for p in frontier for s in alphabet]
        raw.update(f"http://h{p}" for p in frontier)
    raw |= {f"{u}?q" for u in raw}
    canonical = {canonicalize(u) for u in raw}
    assert len(canonical) > 500
    injective_and_no_ancestor(canonical)


# Segments that differ only in case, around the dot and `~` rules and the index name.
MIXED_CASE_SEGMENTS = st.sampled_from(
    [
        *("a", "A", "aB", "Ab", "AB", "ab", "x.Y", "X.y", "x.y", "index.html", "INDEX.HTML"),
        *("Index.html", "", "x~", "X~", "a.", "A.", "%41", "%c3%a9", "%C3%89", "é", "É", "CON"),
        *("Con", ".A", ".a", "a~u1", "A~u1", "a%7Eu1", "u1", "U1", "~u", "A" * 60, "aB" * 70),
    ]
)
MIXED_CASE_QUERIES = st.none() | st.sampled_from(["", "q", "Q", "q=A", "Q=a", "a.B", "A.b"])


@st.composite
def mixed_case_urls(draw: st.DrawFn) -> str:
    """A URL on one host whose segments and query differ mostly in case."""
    path = "/".join(draw(st.lists(MIXED_CASE_SEGMENTS, min_size=1, max_size=4)))
    if draw(st.booleans()):
        path += "/"
    query = draw(MIXED_CASE_QUERIES)
    return f"http://h/{path}" + ("" if query is None else f"?{query}")


@PROPERTY
@given(st.lists(mixed_case_urls(), min_size=2, max_size=12))
def test_property_injective_case_folded(raw: list[str]) -> None:
    canonical = {canonical_or_reject(u) for u in raw}
    injective_and_no_ancestor(canonical)  # checks the case-folded paths too
    for u in canonical:
        check_path(url_to_path(u))


def test_injective_case_folded_on_every_short_path_over_a_mixed_case_alphabet() -> None:
    # Exhaustive: all paths of up to 3 segments over an alphabet of case variants, file and
    # directory, with and without a query, stay apart case-folded.
    alphabet = ["a", "A", "x.Y", "X.y", "x.y", "index.html", "Index.HTML", "", "B~"]
    raw = {"http://h/"}
    frontier = [""]
    for _ in range(3):
        frontier = [f"{p}/{s}" for p in frontier for s in alphabet]
        raw.update(f"http://h{p}" for p in frontier)
    raw |= {f"{u}?Q" for u in raw} | {f"{u}?q" for u in raw}
    canonical = {canonicalize(u) for u in raw}
    assert len(canonical) > 2000
    injective_and_no_ancestor(canonical)
