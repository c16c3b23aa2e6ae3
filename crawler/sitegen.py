"""A generated web site served on loopback hosts: the demo, the tests and the benchmark use it.

Each host serves `/` and `/page/1` .. `/page/{n-1}`; page i links to page i+1 (so all of a host is
reachable), to pseudo-random other pages in several spellings (relative, absolute, with a
fragment), sometimes to a binary file, a redirect, a missing page, a nofollow trap, another host,
and to non-http schemes. The server adds `latency` to every answer, counts requests per path and
records the largest number of simultaneous requests per host, so tests can check the crawler.
Other pages are added through `routes`, a table from a path's first segment to a handler: the
tests' table (traps, compression bombs, dripped answers, lying pages) lives in tests/routes.py,
outside the package.
"""

from __future__ import annotations

import argparse
import errno
import logging
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO, TypeAlias
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

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

# (status, headers, body); a header value with "\n" is sent as several lines of that header.
Answer: TypeAlias = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True, slots=True)
class Drip:
    """An answer sent slowly: `head` at once, then one item of `tail` every `interval` seconds,
    for at most `limit` seconds (so that no server thread is left behind)."""

    head: bytes
    tail: Iterator[bytes]
    interval: float = 0.2
    limit: float = 60.0


# A route: (site, host, request target with its query) -> the answer, or None for "not mine".
Route: TypeAlias = Callable[["Site", str, str], "Answer | Drip | None"]
# How long `Site.close()` waits for its servers, in all.
CLOSE_BUDGET = 5.0
# The key under which a route answers every path that no other route or page answers.
FALLBACK = "*"


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
        routes: Mapping[str, Route] | None = None,
    ) -> None:
        self.hosts = list(hosts)
        self.pages = pages
        self.links = links
        self.page_bytes = page_bytes
        self.latency = latency
        self.robots = robots or {}
        # First path segment ("/bomb" for /bomb/gzip) -> handler; FALLBACK for the rest.
        self.routes = dict(routes or {})
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

    def respond(self, host: str, path: str) -> Answer | Drip:
        """(status, headers, body), or a Drip, for a GET of `path` (with its query) on `host`."""
        target = path
        path = urlsplit(path).path
        base = self.base(host).rstrip("/")
        if path == "/robots.txt":
            if host in self.robots:
                return 200, {"Content-Type": "text/plain"}, self.robots[host].encode()
            return 404, {"Content-Type": "text/plain"}, b"no robots.txt\n"
        if path == "/":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, self.render(host, 0)
        route = self.routes.get("/" + path.strip("/").split("/")[0])
        answer = route(self, host, target) if route is not None else None
        if answer is not None:
            return answer
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
        fallback = self.routes.get(FALLBACK)
        answer = fallback(self, host, target) if fallback is not None else None
        if answer is not None:
            return answer
        return 404, {"Content-Type": "text/plain"}, b"not found\n"

    def drip(self, out: BinaryIO, answer: Drip) -> None:
        """Send `answer.head`, then the bytes of `answer.tail` one every `answer.interval`,
        until the client hangs up, the site closes or `answer.limit` seconds pass."""
        ends = time.monotonic() + answer.limit
        try:
            out.write(answer.head)
            out.flush()
            for byte in answer.tail:
                if self._closing.wait(answer.interval) or time.monotonic() > ends:
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
        """Stop the servers and wait for their threads, all bounded: `shutdown()` waits for the
        serving loop without a timeout, so it runs in a helper thread joined with one."""
        self._closing.set()
        deadline = time.monotonic() + CLOSE_BUDGET
        stoppers = [
            threading.Thread(target=server.shutdown, name="site-shutdown", daemon=True)
            for server in self._servers
        ]
        for stopper in stoppers:
            stopper.start()
        for thread in [*stoppers, *self._threads]:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("%s did not stop within %g s", thread.name, CLOSE_BUDGET)
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

    def hits(self, host: str, path: str) -> int:
        """Requests `host` received for `path` (as requested, with its query) so far."""
        with self._cond:
            return self.stats[host].hits[path]

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
                answer = site.respond(host, self.path)
            finally:
                # Counted as finished before a byte of the answer leaves: the client cannot
                # have its answer (and start another request) while this one still counts.
                site._end(host, self.path, started)
            if isinstance(answer, Drip):
                self.close_connection = True  # the answer never ends: nothing can follow it
                site.drip(self.wfile, answer)
                return
            status, headers, body = answer
            self.send_response(status)
            for name, value in headers.items():
                # A value with line breaks is sent as that many header lines of one name.
                for line in value.split("\n"):
                    self.send_header(name, line)
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
