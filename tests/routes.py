"""The tests' pages beyond the generated site: ROUTES, a table from a path's first segment to a
handler, served by `FixtureSite` (crawler.sitegen.Site with these routes).

Nothing in the generated site links to them; tests seed them directly. Two kinds:
- fixtures for the crawl's rules: retries (/flaky, /retry-after, /status), redirects (/loop,
  /chain, /goto), URL spellings (/spellings), sitemaps (/sitemap.xml, /maps), traps (/calendar,
  /deeper), pages linking where they are told (/links), addresses to refuse (/offsite-links);
- hostile pages that attack the client (tests/test_hostile_site.py): compression bombs (/bomb),
  answers dripped a byte at a time (/drip), a page slow to parse (/slow-parse), pages that lie
  about their content (/lies), a terminal-escape title (/evil-title), a cookie handed to another
  host (/cookie-then-away), and names that try to leave the output folder (/hostile-paths).
"""

from __future__ import annotations

import functools
import gzip
import posixpath
import random
import zlib
from collections.abc import Iterable
from html import escape
from itertools import repeat
from typing import Any
from urllib.parse import unquote, urlsplit

from crawler.sitegen import FALLBACK, Answer, Drip, Route, Site

try:  # Scrapy pulls it in; the crawl itself does not depend on it
    import brotli
except ImportError:  # pragma: no cover - then /bomb/br sends gzip bytes under the br label
    brotli = None

# What a /bomb/* body inflates to: far past any sane --max-bytes, from ~50 KB on the wire.
BOMB_BYTES = 50 * 1024 * 1024
# A /drip/* answer sends one byte this often, each well under any read timeout, and gives up by
# itself after DRIP_LIMIT seconds (or when the site closes) so that no server thread is left.
DRIP_INTERVAL = 0.2
DRIP_LIMIT = 60.0
# Distinct links on /slow-parse: several MB that take a parser seconds (about 15 s on the 2-core
# machine), however fast the machine, far over a test's parse timeout.
SLOW_PARSE_LINKS = 300_000
# Links on /lies/many-links: four times MAX_LINKS (crawler/parse/extract.py).
MANY_LINKS = 20_000
NESTING_DEPTH = 100_000
# The title of the /lies/ pages about charsets: it has letters outside ASCII to get wrong.
LIE_TITLE = "Crème brûlée, naïve café"
# The hrefs of /hostile-paths: each tries to leave the output folder or to share a file with
# another one. Each answers a page of its own (see `hostile_path`).
HOSTILE_HREFS: tuple[str, ...] = (
    "/..%2f..%2fescape",
    "/%2e%2e/%2e%2e/x",
    "/a%5c..%5cb",
    "/CON",
    "/aux.txt",
    "/" + "s" * 400,
    "/x%00y",
    "/About",
    "/about",
    "/..%2F..%2F..%2F..%2Ftmp%2Fescaped.html",
    "/%2e%2e%5c%2e%2e%5cescape.html",
    "/nul/./con.txt",
)

HTML = {"Content-Type": "text/html; charset=utf-8"}
TEXT = {"Content-Type": "text/plain"}
XML = {"Content-Type": "application/xml"}
SITEMAP_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def _parts(target: str) -> list[str]:
    return urlsplit(target).path.strip("/").split("/")


def _page(title: str, body: str = "") -> Answer:
    return 200, HTML, f"<html><title>{title}</title>{body}</html>".encode()


def _anchors(hrefs: Iterable[str]) -> str:
    return "".join(f'<a href="{h}">{h}</a>' for h in hrefs)


# -- fixtures for the crawl's rules ------------------------------------------------------------


def flaky(site: Site, host: str, target: str) -> Answer | None:
    """/flaky/N/x answers 503 N times, then 200."""
    parts = _parts(target)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    if site.hits(host, urlsplit(target).path) <= int(parts[1]):
        return 503, TEXT, b"try again\n"
    return _page("recovered")


def retry_after(site: Site, host: str, target: str) -> Answer | None:
    """/retry-after/S/x answers 429 with `Retry-After: S` once, then 200."""
    parts = _parts(target)
    if len(parts) < 2:
        return None
    if site.hits(host, urlsplit(target).path) <= 1:
        return 429, {"Retry-After": parts[1], **TEXT}, b"slow\n"
    return _page("waited")


def loop(site: Site, host: str, target: str) -> Answer | None:
    """/loop/a and /loop/b redirect to each other."""
    parts = _parts(target)
    if len(parts) != 2:
        return None
    return 302, {"Location": f"/loop/{'b' if parts[1] == 'a' else 'a'}"}, b""


def chain(site: Site, host: str, target: str) -> Answer | None:
    """/chain/N redirects to /chain/N-1 down to /chain/0, a page."""
    parts = _parts(target)
    if len(parts) != 2 or not parts[1].isdigit():
        return None
    n = int(parts[1])
    if n == 0:
        return _page("end of chain")
    return 301, {"Location": f"{site.base(host)}chain/{n - 1}"}, b""


def spellings(site: Site, host: str, target: str) -> Answer:
    """/spellings links to /spell/a (and /spell/b?...) under several spellings of one URL."""
    port = site.port
    hrefs = [
        "/spell/a",
        "/spell/./a",
        "/SPELL/../spell/a",
        "/spell/%61",
        "spell/a#frag",
        f"http://{host}:{port}/spell/a",
        f"HTTP://{host.upper()}:{port}/spell/x/../a",
        f"http://{host}:{port}/spell/%2e/a",
        "/spell/b?y=2&x=1",
        "/spell/b?x=1&y=2",
    ]
    return _page("spellings", _anchors(hrefs))


def goto(site: Site, host: str, target: str) -> Answer | None:
    """/goto/ftp|file|javascript|other-host|metadata|private|data redirects there (anything
    else: to /)."""
    parts = _parts(target)
    if len(parts) != 2:
        return None
    targets = {
        "ftp": "ftp://127.0.0.1/file",
        "file": "file:///etc/passwd",
        "javascript": "javascript:alert(1)",
        "other-host": site.base(site.hosts[-1]) + "page/1",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "private": "http://10.0.0.1/admin",
        "data": "data:text/html,<a href=http://127.0.0.1/>x</a>",
    }
    return 302, {"Location": targets.get(parts[1], "/")}, b""


def links(site: Site, host: str, target: str) -> Answer | None:
    """/links/a,b%2Fc links to /a and /b/c on this host (comma-separated, percent-decoded)."""
    parts = _parts(target)
    if len(parts) != 2:
        return None
    return _page(
        "links", "".join(f'<a href="/{t}">{t}</a>' for t in map(unquote, parts[1].split(",")))
    )


def sitemap(site: Site, host: str, target: str) -> Answer:
    """/sitemap.xml lists /orphan/1."""
    locs = f"<url><loc>{site.base(host)}orphan/1</loc></url>"
    return 200, XML, f"<urlset {SITEMAP_NS}>{locs}</urlset>".encode()


def maps(site: Site, host: str, target: str) -> Answer | None:
    """/maps/index.xml indexes a plain (/maps/a.xml) and a gzipped (/maps/b.xml.gz) sitemap;
    each lists two /orphan/N pages and one URL on another host (out of scope)."""
    path = urlsplit(target).path
    base = site.base(host)
    if path == "/maps/index.xml":
        entries = "".join(
            f"<sitemap><loc>{base}maps/{n}</loc></sitemap>" for n in ("a.xml", "b.xml.gz")
        )
        return 200, XML, f"<sitemapindex {SITEMAP_NS}>{entries}</sitemapindex>".encode()
    if path not in ("/maps/a.xml", "/maps/b.xml.gz"):
        return None
    first = 2 if path.endswith("a.xml") else 4
    urls = [
        f"{base}orphan/{first}",
        f"{base}orphan/{first + 1}",
        site.base(site.hosts[-1]) + "orphan/99",
    ]
    body = f"<urlset {SITEMAP_NS}>" + "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    data = (body + "</urlset>").encode()
    if path.endswith(".gz"):
        return 200, {"Content-Type": "application/x-gzip"}, gzip.compress(data)
    return 200, XML, data


def orphan(site: Site, host: str, target: str) -> Answer:
    """/orphan/N: a page only the sitemaps list."""
    return _page("orphan")


def calendar(site: Site, host: str, target: str) -> Answer:
    """/calendar?m=N links to ?m=N+1: a trap, every month links to the next, without end."""
    query = urlsplit(target).query
    month = int(query.split("=", 1)[1]) if query.startswith("m=") else 0
    return _page(f"month {month}", f'<a href="?m={month + 1}">next</a>')


def deeper(site: Site, host: str, target: str) -> Answer:
    """/deeper/...: a trap, a relative link that grows the path forever."""
    return _page("deeper", '<a href="deeper/">on</a>')


def status(site: Site, host: str, target: str) -> Answer | None:
    """/status/N answers status N."""
    parts = _parts(target)
    if len(parts) != 2 or not parts[1].isdigit():
        return None
    return int(parts[1]), TEXT, b"as you asked\n"


def offsite_links(site: Site, host: str, target: str) -> Answer:
    """/offsite-links links to addresses a crawl must not reach."""
    targets = [
        "169.254.169.254/latest/meta-data/",
        "[fe80::1]/",
        "10.0.0.1/",
        "192.168.1.1/",
        "[fd00:ec2::254]/",
    ]
    return _page("offsite", _anchors(f"http://{t}" for t in targets))


# -- hostile pages -----------------------------------------------------------------------------


def cookie_then_away(site: Site, host: str, target: str) -> Answer:
    """/cookie-then-away sets a cookie, then sends the client to another host."""
    away = site.base(site.hosts[-1]) + "page/1"
    return 302, {"Set-Cookie": "session=secret; Path=/", "Location": away}, b""


def evil_title(site: Site, host: str, target: str) -> Answer:
    """/evil-title: a title full of terminal escape sequences."""
    return _page("\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m title")


def bomb(site: Site, host: str, target: str) -> Answer | None:
    """/bomb/gzip, /bomb/deflate and /bomb/br: BOMB_BYTES of zeros, compressed (br is gzip
    bytes under the br label when brotli is not installed)."""
    parts = _parts(target)
    if len(parts) != 2 or parts[1] not in ("gzip", "deflate", "br"):
        return None
    return 200, {**HTML, "Content-Encoding": parts[1]}, _bomb(parts[1])


def drip(site: Site, host: str, target: str) -> Drip | None:
    """/drip/headers: a header that never ends; /drip/body: a body that never ends. One byte
    every DRIP_INTERVAL, for DRIP_LIMIT seconds at most."""
    path = urlsplit(target).path
    if path == "/drip/headers":
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Drip: "
    elif path == "/drip/body":
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: 1000000\r\n\r\n<html><title>drip</title>"
        )
    else:
        return None
    return Drip(head, repeat(b"a"), interval=DRIP_INTERVAL, limit=DRIP_LIMIT)


def slow_parse(site: Site, host: str, target: str) -> Answer | None:
    """/slow-parse: SLOW_PARSE_LINKS links, seconds of parsing."""
    if urlsplit(target).path != "/slow-parse":
        return None
    return 200, HTML, _slow_parse_page()


def lies(site: Site, host: str, target: str) -> Answer | None:
    """/lies/CASE: a page whose headers or markup lie, or whose shape is extreme.

    binary-as-html: random bytes as text/html; html-as-octet-stream: a page with links as
    application/octet-stream; no-charset, wrong-charset (windows-1252 bytes said to be UTF-8),
    bad-charset-label (an unknown label, then a <meta charset>), utf-16-bom (UTF-16 with a
    byte-order mark, said to be windows-1252): LIE_TITLE and links to /page/1 and /page/2;
    deep-nesting: a link, NESTING_DEPTH open <div>, a link; many-links: MANY_LINKS links.
    """
    parts = _parts(target)
    if len(parts) != 2:
        return None
    case = parts[1]
    text = (
        f"<html><head><title>{LIE_TITLE}</title></head><body>"
        '<a href="/page/1">one</a> <a href="/page/2">two</a></body></html>'
    )
    cases: dict[str, tuple[str, Any]] = {
        "binary-as-html": ("text/html; charset=utf-8", lambda: random.Random(7).randbytes(4096)),
        "html-as-octet-stream": ("application/octet-stream", text.encode),
        "no-charset": ("text/html", text.encode),
        "wrong-charset": ("text/html; charset=utf-8", lambda: text.encode("windows-1252")),
        "bad-charset-label": (
            "text/html; charset=x-no-such-charset",
            lambda: text.replace("<head>", '<head><meta charset="utf-8">').encode(),
        ),
        "utf-16-bom": (
            "text/html; charset=windows-1252",
            lambda: b"\xff\xfe" + text.encode("utf-16-le"),
        ),
        "deep-nesting": (
            "text/html; charset=utf-8",
            lambda: (
                '<html><title>deep</title><a href="/page/1">first</a>'
                + "<div>" * NESTING_DEPTH
                + '<a href="/page/2">deep</a>'
                + "</div>" * NESTING_DEPTH
                + "</html>"
            ).encode(),
        ),
        "many-links": (
            "text/html; charset=utf-8",
            lambda: (
                "<title>many</title>"
                + "".join(f'<a href="/many/{i}">{i}</a>' for i in range(MANY_LINKS))
            ).encode(),
        ),
    }
    if case not in cases:
        return None
    content_type, make = cases[case]
    return 200, {"Content-Type": content_type}, make()


def hostile_paths(site: Site, host: str, target: str) -> Answer:
    """/hostile-paths links to each of HOSTILE_HREFS."""
    anchors = "".join(f'<a href="{escape(h)}">{escape(h[:40])}</a>' for h in HOSTILE_HREFS)
    return _page("hostile paths", anchors)


def hostile_path(site: Site, host: str, target: str) -> Answer | None:
    """Each of HOSTILE_HREFS, however the client spelled it: a page whose title is the path
    as requested."""
    path = urlsplit(target).path
    if _hostile_key(path) not in _HOSTILE_KEYS:
        return None
    return _page(escape(path), escape(path))


def _hostile_key(path: str) -> str:
    """What a hostile path is served under, however a client spells it: decoded, its dot
    segments removed, lower-cased (so /About and /about are one key, with pages of their own)."""
    return posixpath.normpath(unquote(path)).lower()


_HOSTILE_KEYS = frozenset(_hostile_key(h) for h in HOSTILE_HREFS)


@functools.cache
def _bomb(encoding: str) -> bytes:
    """BOMB_BYTES of zeros compressed for `Content-Encoding: encoding`; made once a process.
    HTTP's deflate is the zlib format. Without brotli, br gets gzip bytes (no client that
    lacks brotli can decode br anyway, and one that has it fails on these)."""
    zeros = bytes(BOMB_BYTES)
    if encoding == "deflate":
        return zlib.compress(zeros, 9)
    if encoding == "br" and brotli is not None:
        return bytes(brotli.compress(zeros, quality=5))
    return gzip.compress(zeros, 9, mtime=0)


@functools.cache
def _slow_parse_page() -> bytes:
    """SLOW_PARSE_LINKS distinct links in one page (about 9 MB); made once a process."""
    anchors = "".join(f'<a href="/s/{i}">{i}</a>' for i in range(SLOW_PARSE_LINKS))
    return f"<html><title>slow</title>{anchors}</html>".encode()


# Path (its first segment) -> handler. A handler answers None for a path it does not serve.
ROUTES: dict[str, Route] = {
    "/flaky": flaky,
    "/retry-after": retry_after,
    "/loop": loop,
    "/chain": chain,
    "/spellings": spellings,
    "/spell": lambda site, host, target: _page("spelled"),
    "/goto": goto,
    "/links": links,
    "/sitemap.xml": sitemap,
    "/maps": maps,
    "/orphan": orphan,
    "/calendar": calendar,
    "/deeper": deeper,
    "/status": status,
    "/offsite-links": offsite_links,
    "/cookie-then-away": cookie_then_away,
    "/evil-title": evil_title,
    "/bomb": bomb,
    "/drip": drip,
    "/slow-parse": slow_parse,
    "/lies": lies,
    "/hostile-paths": hostile_paths,
    FALLBACK: hostile_path,
}


class FixtureSite(Site):
    """The generated site with every page of ROUTES (unless `routes` says otherwise)."""

    def __init__(self, hosts: Iterable[str] = ("127.0.0.1", "127.0.0.2"), **kwargs: Any) -> None:
        kwargs.setdefault("routes", ROUTES)
        super().__init__(hosts, **kwargs)
