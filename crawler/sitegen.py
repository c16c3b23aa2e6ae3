"""A generated web site served on loopback hosts: the demo, the tests and the benchmark use it.

Each host serves `/` and `/page/1` .. `/page/{n-1}`; page i links to page i+1 (so all of a host is
reachable), to pseudo-random other pages in several spellings (relative, absolute, with a
fragment), sometimes to a binary file, a redirect, a missing page, a nofollow trap, another host,
and to non-http schemes. The server adds `latency` to every answer, counts requests per path and
records the largest number of simultaneous requests per host, so tests can check the crawler.
Besides, it serves hostile pages that nothing links to (`Site._special`, `Site._hostile`): traps,
compression bombs, answers dripped a byte at a time, pages that lie about their content, and links
to names that try to leave the output folder (tests/test_hostile.py, tests/test_hostile_site.py).
"""

from __future__ import annotations

import argparse
import errno
import functools
import gzip
import posixpath
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import repeat
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

try:  # Scrapy pulls it in; the crawl itself does not depend on it
    import brotli
except ImportError:  # pragma: no cover - then /bomb/br sends gzip bytes under the br label
    brotli = None

_WORDS = [
    "crawl",
    "thread",
    "process",
    "queue",
    "lock",
    "semaphore",
    "pipe",
    "parser",
    "fetch",
    "host",
    "page",
    "link",
    "frontier",
    "robots",
    "delay",
    "retry",
    "redirect",
    "canonical",
    "sitemap",
    "storage",
    "progress",
    "summary",
    "output",
    "depth",
]

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
# another one. Each answers a page of its own (see Site._hostile).
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


@dataclass
class HostStats:
    """What one host's server saw."""

    hits: Counter[str] = field(default_factory=Counter)
    connections: int = 0  # TCP connections accepted
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # last request's, by path
    active: int = 0
    max_active: int = 0
    log: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, path)


class Site:
    """The generated site: its link graph and the servers that serve it."""

    def __init__(
        self,
        hosts: Iterable[str] = ("127.0.0.1", "127.0.0.2"),
        *,
        pages: int = 60,
        links: int = 5,
        page_bytes: int = 2000,
        latency: float = 0.0,
        robots: dict[str, str] | None = None,
        port: int = 0,
        seed: int = 1,
    ) -> None:
        self.hosts = list(hosts)
        self.pages = pages
        self.links = links
        self.page_bytes = page_bytes
        self.latency = latency
        self.robots = robots or {}
        self.seed = seed
        self.port = port
        self.stats = {h: HostStats() for h in self.hosts}
        self._cond = threading.Condition()
        self._total = 0
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()  # set by close(): answers still dripping stop

    # -- the model -------------------------------------------------------------------------

    def base(self, host: str) -> str:
        """The root URL of a host."""
        return f"http://{host}:{self.port}/"

    def seed_urls(self) -> list[str]:
        """One seed per host: its root."""
        return [self.base(h) for h in self.hosts]

    def page_links(self, host: str, index: int) -> list[tuple[str, str, bool]]:
        """(href as written, target URL or "" if not crawlable, followable) of page `index`."""
        rng = random.Random(f"{self.seed}:{host}:{index}")
        base = self.base(host).rstrip("/")
        n = self.pages
        out: list[tuple[str, str, bool]] = []

        def page(j: int) -> str:
            return "/" if j == 0 else f"/page/{j}"

        nxt = (index + 1) % n
        out.append((page(nxt), base + page(nxt), True))
        for _ in range(self.links):
            j = rng.randrange(n)
            style = rng.randrange(4)
            if style == 0:
                href = page(j)
            elif style == 1:
                href = base + page(j)
            elif style == 2:
                href = page(j) + "#section"
            else:
                href = ("../page/" + str(j)) if (index and j) else page(j)
            out.append((href, base + page(j), True))
        if index % 10 == 3:
            out.append((f"/file/{index}.bin", f"{base}/file/{index}.bin", True))
        if index % 15 == 4:
            out.append((f"/moved/{index}", f"{base}/moved/{index}", True))
        if index % 20 == 5:
            out.append((f"/missing/{index}", f"{base}/missing/{index}", True))
        out.append((f"/trap/{index}", f"{base}/trap/{index}", False))  # rel=nofollow
        if len(self.hosts) > 1:
            other = self.hosts[(self.hosts.index(host) + 1) % len(self.hosts)]
            out.append(
                (self.base(other) + f"page/{index}", self.base(other) + f"page/{index}", True)
            )
        out.append(("mailto:someone@example.invalid", "", False))
        out.append(("javascript:void(0)", "", False))
        return out

    def render(self, host: str, index: int) -> bytes:
        """The HTML of page `index` of `host`."""
        rng = random.Random(f"text:{self.seed}:{host}:{index}")
        anchors = []
        for href, _target, followable in self.page_links(host, index):
            rel = "" if followable or not href.startswith("/") else ' rel="nofollow"'
            anchors.append(f'<li><a href="{href}"{rel}>{href}</a></li>')
        head = (
            f"<!doctype html><html><head><meta charset=utf-8>"
            f"<title>Page {index} of {host}</title></head><body>"
            f"<h1>Page {index}</h1><ul>{''.join(anchors)}</ul>"
        )
        filler = []
        size = len(head)
        while size < self.page_bytes:
            para = "<p>" + " ".join(rng.choice(_WORDS) for _ in range(60)) + "</p>"
            filler.append(para)
            size += len(para)
        return (head + "".join(filler) + "</body></html>").encode()

    def respond(self, host: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for a GET of `path` on `host`."""
        target = path
        path = urlsplit(path).path
        base = self.base(host).rstrip("/")
        if path == "/robots.txt":
            if host in self.robots:
                return 200, {"Content-Type": "text/plain"}, self.robots[host].encode()
            return 404, {"Content-Type": "text/plain"}, b"no robots.txt\n"
        if path == "/":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, self.render(host, 0)
        special = self._special(host, path, urlsplit(target).query)
        if special is not None:
            return special
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[1].split(".")[0].isdigit():
            kind, number = parts[0], int(parts[1].split(".")[0])
            if kind == "page" and 0 < number < self.pages:
                return 200, {"Content-Type": "text/html; charset=utf-8"}, self.render(host, number)
            if kind == "file" and number < self.pages:
                body = random.Random(number).randbytes(3000)
                return 200, {"Content-Type": "application/octet-stream"}, body
            if kind == "moved":
                return 301, {"Location": f"{base}/dest/{number}"}, b""
            if kind == "dest":
                body = f'<html><title>Moved {number}</title><a href="/">home</a></html>'.encode()
                return 200, {"Content-Type": "text/html"}, body
        return 404, {"Content-Type": "text/plain"}, b"not found\n"

    def _special(
        self, host: str, path: str, query: str = ""
    ) -> tuple[int, dict[str, str], bytes] | None:
        """Pages that no generated page links to, for tests that seed them directly.

        /flaky/N/x answers 503 N times, then 200; /retry-after/S/x answers 429 with
        `Retry-After: S` once, then 200; /loop/a and /loop/b redirect to each other;
        /chain/N redirects to /chain/N-1 down to /chain/0, a page; /spellings links to
        /spell/a under several spellings of one URL; /goto/ftp|file|javascript|other-host
        redirects there; /links/a,b%2Fc links to /a and /b/c; /status/N answers N;
        /sitemap.xml and /maps/index.xml (an index of a plain and a gzipped sitemap) list
        /orphan/N pages that nothing links to; /calendar?m=N links to ?m=N+1 and /deeper/
        to deeper/ (crawler traps). The hostile pages are in `_hostile`.
        """
        html = {"Content-Type": "text/html; charset=utf-8"}
        parts = path.strip("/").split("/")
        base = self.base(host).rstrip("/")
        if parts[0] == "flaky" and len(parts) >= 2 and parts[1].isdigit():
            with self._cond:
                seen = self.stats[host].hits[path]
            if seen <= int(parts[1]):
                return 503, {"Content-Type": "text/plain"}, b"try again\n"
            return 200, html, b"<html><title>recovered</title></html>"
        if parts[0] == "retry-after" and len(parts) >= 2:
            with self._cond:
                seen = self.stats[host].hits[path]
            if seen <= 1:
                return 429, {"Retry-After": parts[1], "Content-Type": "text/plain"}, b"slow\n"
            return 200, html, b"<html><title>waited</title></html>"
        if parts[0] == "loop" and len(parts) == 2:
            other = "b" if parts[1] == "a" else "a"
            return 302, {"Location": f"/loop/{other}"}, b""
        if parts[0] == "chain" and len(parts) == 2 and parts[1].isdigit():
            n = int(parts[1])
            if n == 0:
                return 200, html, b"<html><title>end of chain</title></html>"
            return 301, {"Location": f"{base}/chain/{n - 1}"}, b""
        if parts[0] == "spellings":
            port = self.port
            spellings = [
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
            links = "".join(f'<a href="{h}">{h}</a>' for h in spellings)
            return 200, html, f"<html><title>spellings</title>{links}</html>".encode()
        if parts[0] == "spell":
            return 200, html, b"<html><title>spelled</title></html>"
        if parts[0] == "goto" and len(parts) == 2:
            targets = {
                "ftp": "ftp://127.0.0.1/file",
                "file": "file:///etc/passwd",
                "javascript": "javascript:alert(1)",
                "other-host": self.base(self.hosts[-1]) + "page/1",
            }
            return 302, {"Location": targets.get(parts[1], "/")}, b""
        if parts[0] == "links" and len(parts) == 2:
            # A page that links to each name in its last segment, comma separated, on this host.
            targets = [unquote(t) for t in parts[1].split(",")]
            links = "".join(f'<a href="/{t}">{t}</a>' for t in targets)
            return 200, html, f"<html><title>links</title>{links}</html>".encode()
        xml = {"Content-Type": "application/xml"}
        ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        if path == "/sitemap.xml":
            locs = f"<url><loc>{base}/orphan/1</loc></url>"
            return 200, xml, f"<urlset {ns}>{locs}</urlset>".encode()
        if path == "/maps/index.xml":
            maps = "".join(
                f"<sitemap><loc>{base}/maps/{n}</loc></sitemap>" for n in ("a.xml", "b.xml.gz")
            )
            return 200, xml, f"<sitemapindex {ns}>{maps}</sitemapindex>".encode()
        if path in ("/maps/a.xml", "/maps/b.xml.gz"):
            first = 2 if path.endswith("a.xml") else 4
            urls = [
                f"{base}/orphan/{first}",
                f"{base}/orphan/{first + 1}",
                self.base(self.hosts[-1]) + "orphan/99",
            ]  # another host: out of scope
            body = f"<urlset {ns}>" + "".join(f"<url><loc>{u}</loc></url>" for u in urls)
            data = (body + "</urlset>").encode()
            if path.endswith(".gz"):
                return 200, {"Content-Type": "application/x-gzip"}, gzip.compress(data)
            return 200, xml, data
        if parts[0] == "calendar":  # a trap: every month links to the next, without end
            month = int(query.split("=", 1)[1]) if query.startswith("m=") else 0
            body = f'<html><title>month {month}</title><a href="?m={month + 1}">next</a></html>'
            return 200, html, body.encode()
        if parts[0] == "deeper":  # a trap: a relative link that grows the path forever
            return 200, html, b'<html><title>deeper</title><a href="deeper/">on</a></html>'
        if parts[0] == "cookie-then-away":  # sets a cookie, then sends the client elsewhere
            away = self.base(self.hosts[-1]) + "page/1"
            return 302, {"Set-Cookie": "session=secret; Path=/", "Location": away}, b""
        if parts[0] == "offsite-links":  # links to addresses a crawl must not reach
            targets = [
                "169.254.169.254/latest/meta-data/",
                "[fe80::1]/",
                "10.0.0.1/",
                "192.168.1.1/",
                "[fd00:ec2::254]/",
            ]
            links = "".join(f'<a href="http://{t}">{t}</a>' for t in targets)
            return 200, html, f"<html><title>offsite</title>{links}</html>".encode()
        if parts[0] == "evil-title":
            title = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m title"
            return 200, html, f"<html><title>{title}</title></html>".encode()
        if parts[0] == "orphan":
            return 200, html, b"<html><title>orphan</title></html>"
        if parts[0] == "status" and len(parts) == 2 and parts[1].isdigit():
            return int(parts[1]), {"Content-Type": "text/plain"}, b"as you asked\n"
        return self._hostile(path)

    def _hostile(self, path: str) -> tuple[int, dict[str, str], bytes] | None:
        """Pages that attack the client (tests/test_hostile_site.py).

        /bomb/gzip, /bomb/deflate and /bomb/br are BOMB_BYTES of zeros compressed (br is gzip
        bytes under the br label when brotli is not installed); /slow-parse is SLOW_PARSE_LINKS
        links, seconds of parsing; /lies/CASE lies about its content (see `_lie`);
        /hostile-paths links to HOSTILE_HREFS, and each of them answers a page whose title is the
        path as requested, however the client spelled it. /drip/* are in `drip_plan`.
        """
        parts = path.strip("/").split("/")
        if parts[0] == "bomb" and len(parts) == 2 and parts[1] in ("gzip", "deflate", "br"):
            headers = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": parts[1]}
            return 200, headers, _bomb(parts[1])
        if path == "/slow-parse":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, _slow_parse_page()
        if parts[0] == "lies" and len(parts) == 2:
            return self._lie(parts[1])
        if path == "/hostile-paths":
            links = "".join(f'<a href="{escape(h)}">{escape(h[:40])}</a>' for h in HOSTILE_HREFS)
            body = f"<html><title>hostile paths</title>{links}</html>".encode()
            return 200, {"Content-Type": "text/html; charset=utf-8"}, body
        if _hostile_key(path) in _HOSTILE_KEYS:
            body = f"<html><title>{escape(path)}</title>{escape(path)}</html>".encode()
            return 200, {"Content-Type": "text/html; charset=utf-8"}, body
        return None

    def _lie(self, case: str) -> tuple[int, dict[str, str], bytes] | None:
        """/lies/CASE: a page whose headers or markup lie, or whose shape is extreme.

        binary-as-html: random bytes as text/html; html-as-octet-stream: a page with links as
        application/octet-stream; no-charset, wrong-charset (windows-1252 bytes said to be UTF-8),
        bad-charset-label (an unknown label, then a <meta charset>), utf-16-bom (UTF-16 with a
        byte-order mark, said to be windows-1252): LIE_TITLE and links to /page/1 and /page/2;
        deep-nesting: a link, NESTING_DEPTH open <div>, a link; many-links: MANY_LINKS links.
        """
        text = (
            f"<html><head><title>{LIE_TITLE}</title></head><body>"
            '<a href="/page/1">one</a> <a href="/page/2">two</a></body></html>'
        )
        cases: dict[str, tuple[str, bytes]] = {
            "binary-as-html": ("text/html; charset=utf-8", random.Random(7).randbytes(4096)),
            "html-as-octet-stream": ("application/octet-stream", text.encode()),
            "no-charset": ("text/html", text.encode()),
            "wrong-charset": ("text/html; charset=utf-8", text.encode("windows-1252")),
            "bad-charset-label": (
                "text/html; charset=x-no-such-charset",
                text.replace("<head>", '<head><meta charset="utf-8">').encode(),
            ),
            "utf-16-bom": (
                "text/html; charset=windows-1252",
                b"\xff\xfe" + text.encode("utf-16-le"),
            ),
        }
        if case == "deep-nesting":
            body = (
                '<html><title>deep</title><a href="/page/1">first</a>'
                + "<div>" * NESTING_DEPTH
                + '<a href="/page/2">deep</a>'
                + "</div>" * NESTING_DEPTH
                + "</html>"
            )
            cases[case] = ("text/html; charset=utf-8", body.encode())
        elif case == "many-links":
            links = "".join(f'<a href="/many/{i}">{i}</a>' for i in range(MANY_LINKS))
            cases[case] = ("text/html; charset=utf-8", f"<title>many</title>{links}".encode())
        if case not in cases:
            return None
        content_type, body = cases[case]
        return 200, {"Content-Type": content_type}, body

    def drip_plan(self, path: str) -> tuple[bytes, Iterator[bytes]] | None:
        """(bytes sent at once, bytes then sent one per DRIP_INTERVAL) for /drip/headers (a
        header that never ends) and /drip/body (a body that never ends); None for other paths."""
        path = urlsplit(path).path
        if path == "/drip/headers":
            return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Drip: ", repeat(b"a")
        if path == "/drip/body":
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: 1000000\r\n\r\n<html><title>drip</title>"
            )
            return head, repeat(b"a")
        return None

    def drip(self, out: BinaryIO, head: bytes, tail: Iterator[bytes]) -> None:
        """Send `head`, then the bytes of `tail` one every DRIP_INTERVAL, until the client hangs
        up, the site closes or DRIP_LIMIT passes."""
        ends = time.monotonic() + DRIP_LIMIT
        try:
            out.write(head)
            out.flush()
            for byte in tail:
                if self._closing.wait(DRIP_INTERVAL) or time.monotonic() > ends:
                    return
                out.write(byte)
                out.flush()
        except OSError:  # the client hung up, or cut the connection at its deadline
            return

    def expected(self, host: str, depth: int | None = None) -> dict[str, int]:
        """Every URL of `host` a host-scoped crawl from its root admits, with its depth."""
        base = self.base(host).rstrip("/")
        seen = {self.base(host): 0}
        frontier = [self.base(host)]
        while frontier:
            nxt = []
            for url in frontier:
                d = seen[url]
                if depth is not None and d >= depth:
                    continue
                for target in self._targets(host, url):
                    if target.startswith(base + "/") and target not in seen:
                        seen[target] = d + 1
                        nxt.append(target)
            frontier = nxt
        return seen

    def _targets(self, host: str, url: str) -> list[str]:
        path = urlsplit(url).path
        if path == "/":
            index = 0
        elif path.startswith("/page/"):
            index = int(path.rsplit("/", 1)[1])
        elif path.startswith(("/moved/", "/dest/")):
            return [self.base(host)]  # the page behind the redirect links home
        else:
            return []
        return [t for _, t, ok in self.page_links(host, index) if ok and t]

    # -- serving ---------------------------------------------------------------------------

    def start(self) -> Site:
        """Serve every host on one port (chosen free if `port` is 0); returns when ready."""
        for _attempt in range(50):
            try:
                self._bind_all()
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                self._close_servers()
                if self.port:
                    raise
        else:
            raise RuntimeError("no free port for every host")
        for server in self._servers:
            ready = threading.Event()
            thread = threading.Thread(
                target=self._serve, args=(server, ready), name="site-server", daemon=True
            )
            thread.start()
            ready.wait(5)
            self._threads.append(thread)
        return self

    @staticmethod
    def _serve(server: ThreadingHTTPServer, ready: threading.Event) -> None:
        ready.set()
        server.serve_forever(poll_interval=0.05)

    def _bind_all(self) -> None:
        port = self.port
        chosen = 0
        for host in self.hosts:
            server = _Server((host, chosen or port), _handler_for(self, host))
            self._servers.append(server)
            chosen = chosen or server.server_address[1]
        self.port = chosen

    def _close_servers(self) -> None:
        for server in self._servers:
            server.server_close()
        self._servers.clear()

    def close(self) -> None:
        """Stop the servers and wait for their threads (bounded)."""
        self._closing.set()
        for server in self._servers:
            server.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        self._close_servers()

    def __enter__(self) -> Site:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- observation -----------------------------------------------------------------------

    def _begin(self, host: str, path: str) -> float:
        with self._cond:
            stats = self.stats[host]
            stats.hits[path] += 1
            stats.active += 1
            stats.max_active = max(stats.max_active, stats.active)
            self._total += 1
            self._cond.notify_all()
        return time.monotonic()

    def _end(self, host: str, path: str, started: float) -> None:
        with self._cond:
            stats = self.stats[host]
            stats.active -= 1
            stats.log.append((started, time.monotonic(), path))

    @property
    def total_requests(self) -> int:
        """Requests received by all hosts."""
        with self._cond:
            return self._total

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Block until the hosts together received `count` requests (bounded)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._total >= count, timeout)


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
    links = "".join(f'<a href="/s/{i}">{i}</a>' for i in range(SLOW_PARSE_LINKS))
    return f"<html><title>slow</title>{links}</html>".encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-request is normal for a crawler being stopped."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _handler_for(site: Site, host: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "crawl-testsite/1"

        def setup(self) -> None:
            super().setup()
            with site._cond:
                site.stats[host].connections += 1

        def do_GET(self) -> None:
            started = site._begin(host, self.path)
            with site._cond:
                site.stats[host].headers[self.path] = dict(self.headers.items())
            try:
                if site.latency:
                    time.sleep(site.latency)
                drip = site.drip_plan(self.path)
                answer = site.respond(host, self.path) if drip is None else None
            finally:
                # Counted as finished before a byte of the answer leaves: the client cannot
                # have its answer (and start another request) while this one still counts.
                site._end(host, self.path, started)
            if drip is not None:
                self.close_connection = True  # the answer never ends: nothing can follow it
                site.drip(self.wfile, *drip)
                return
            assert answer is not None
            status, headers, body = answer
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def demo_site(port: int = 0) -> Site:
    """The site `crawl --demo` serves: two hosts, 300 pages each, 20 ms added per answer
    (on `port`, or a free one if 0)."""
    return Site(
        ("127.0.0.1", "127.0.0.2"), pages=300, links=8, page_bytes=8000, latency=0.02, port=port
    ).start()


def main(argv: list[str] | None = None) -> None:
    """`python -m crawler.sitegen`: serve the generated site until interrupted."""
    parser = argparse.ArgumentParser(description="Serve the generated test site on loopback.")
    parser.add_argument("--hosts", default="127.0.0.1,127.0.0.2")
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--links", type=int, default=8)
    parser.add_argument("--page-bytes", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args(argv)
    site = Site(
        args.hosts.split(","),
        pages=args.pages,
        links=args.links,
        page_bytes=args.page_bytes,
        latency=args.latency,
        port=args.port,
    ).start()
    print("serving " + " ".join(site.seed_urls()), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        site.close()


if __name__ == "__main__":
    main()
