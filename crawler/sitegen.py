"""A generated web site served on loopback hosts: the demo, the tests and the benchmark use it.

Each host serves `/` and `/page/1` .. `/page/{n-1}`; page i links to page i+1 (so all of a host is
reachable), to pseudo-random other pages in several spellings (relative, absolute, with a
fragment), sometimes to a binary file, a redirect, a missing page, a nofollow trap, another host,
and to non-http schemes. The server adds `latency` to every answer, counts requests per path and
records the largest number of simultaneous requests per host, so tests can check the crawler.
"""

from __future__ import annotations

import argparse
import errno
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

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
        to deeper/ (crawler traps).
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
                import gzip

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
        return None

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
                status, headers, body = site.respond(host, self.path)
            finally:
                # Counted as finished before a byte of the answer leaves: the client cannot
                # have its answer (and start another request) while this one still counts.
                site._end(host, self.path, started)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def demo_site() -> Site:
    """The site `crawl --demo` serves: two hosts, 300 pages each, 20 ms added per answer."""
    return Site(
        ("127.0.0.1", "127.0.0.2"), pages=300, links=8, page_bytes=8000, latency=0.02
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
