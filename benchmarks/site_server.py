"""The benchmark's web site and its server: asyncio HTTP/1.1 on loopback hosts, in its own process.

`SiteSpec` is the generated site: P pages of S bytes spread over H hosts (127.0.0.1 .. 127.0.0.H,
one port), a `skew` share of them on the first host. Page i of a host is `/` for i = 0 and
`/p/i` otherwise; it links to page i+1 (so the whole host is reachable from its root) and to
K-1 pseudo-random other pages of the same host, then is padded with text to S bytes.

`SiteServer` runs the server in a process of its own (multiprocessing, spawn): one asyncio event
loop, one listening socket per host address, keep-alive and Content-Length, and every answer
delayed by L seconds with an asyncio timer (`loop.call_later`, the same as `await
asyncio.sleep(L)` without a coroutine per request), so thousands of requests can wait at once on
one thread. It counts, per host, new TCP connections, requests, pages served (and which ones,
for coverage), the most connections open at once, and its own CPU time and timer lateness; the
parent reads and resets the counters through a Pipe.

`measure_capacity` is the self-test: an asyncio client in another process keeps many keep-alive
connections busy with page requests for a few seconds and reports the rate the server sustained.

`python -m benchmarks.site_server --pages 200 --hosts 2 --latency 0.05` serves a site until
Ctrl-C and prints its seed URLs (handy for trying other crawlers by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import multiprocessing
import random
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from .corpus import DirectorySite

READY_TIMEOUT = 30.0
CONTROL_TIMEOUT = 10.0
MAX_HEAD = 64 * 1024
_HTML_OK = b"200 OK\r\nContent-Type: text/html; charset=utf-8"

_TEXT = (
    "crawl thread process queue lock semaphore pipe parser fetch host page link frontier robots "
    "delay retry redirect canonical sitemap storage progress summary output depth latency socket "
    "keep-alive connection benchmark throughput"
)
_WORDS = _TEXT.split()


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """The generated site: its size, shape and the latency its server adds."""

    pages: int
    hosts: int = 1
    page_bytes: int = 40_000
    links: int = 30
    skew: float | None = None
    latency: float = 0.0
    seed: int = 1
    root: str | None = None  # a folder of files served as host 1 instead (benchmarks/corpus.py)

    def __post_init__(self) -> None:
        if self.root is not None and self.hosts != 1:
            raise ValueError(f"--hosts: a folder is served as one host, got {self.hosts}")
        if not 1 <= self.hosts <= 254:
            raise ValueError(f"--hosts: must be 1..254, got {self.hosts}")
        if self.pages < self.hosts:
            raise ValueError(f"--pages: at least one per host ({self.hosts}), got {self.pages}")
        if self.links < 1:
            raise ValueError(f"--links: must be at least 1, got {self.links}")
        if self.page_bytes < 0:
            raise ValueError(f"--page-bytes: must be 0 or more, got {self.page_bytes}")
        if not 0 <= self.latency < 60:
            raise ValueError(f"--latency: must be 0 <= L < 60 seconds, got {self.latency}")
        if self.skew is not None and not 0 < self.skew < 1:
            raise ValueError(f"--skew: must be a share strictly between 0 and 1, got {self.skew}")
        counts = self.pages_per_host()
        if min(counts) < 1:
            raise ValueError(f"--skew {self.skew} leaves a host without pages: {counts}")

    def addresses(self) -> list[str]:
        """The loopback address of each host: 127.0.0.1 .. 127.0.0.H."""
        return [f"127.0.0.{i + 1}" for i in range(self.hosts)]

    def pages_per_host(self) -> list[int]:
        """How many pages each host has: even, or `skew` of them on the first host."""
        if self.hosts == 1:
            return [self.pages]
        if self.skew is None:
            first = self.pages // self.hosts + (1 if self.pages % self.hosts else 0)
            rest = self.pages - first
        else:
            first = round(self.pages * self.skew)
            rest = self.pages - first
        others = self.hosts - 1
        return [first] + [rest // others + (1 if i < rest % others else 0) for i in range(others)]

    def roots(self, port: int) -> list[str]:
        """The seed URL of every host (canonical form: host, port, `/`; a folder's index.html)."""
        if self.root is not None:
            return [f"http://127.0.0.1:{port}/index.html"]
        return [f"http://{a}:{port}/" for a in self.addresses()]

    def page_urls(self, port: int) -> list[str]:
        """Every page of the site as a canonical URL: what a complete crawl fetches."""
        if self.root is not None:
            from .corpus import reachable

            return [f"http://127.0.0.1:{port}{path}" for path in reachable(self.root)]
        urls = []
        for address, count in zip(self.addresses(), self.pages_per_host(), strict=True):
            urls.append(f"http://{address}:{port}/")
            urls.extend(f"http://{address}:{port}/p/{i}" for i in range(1, count))
        return urls


def page_path(index: int) -> str:
    """The path of page `index` of a host."""
    return "/" if index == 0 else f"/p/{index}"


class SitePages:
    """Renders the pages of a SiteSpec with the weight of real pages.

    A page is a document head (charset, viewport, description, inline style), a header with the
    site's navigation, an article of prose paragraphs with inline markup (em, strong, code,
    abbr, links), a data table and a smaller one, a definition list, a figure with a caption, an
    aside and a footer: about 280 tags in 40 KB, like the documentation and news pages of the
    web. Its `links` links (to page i+1, then pseudo-random pages of the same host) are spread
    over the navigation, the prose, the tables and the footer. The blocks of markup are built
    once per site; a page is their concatenation with its own links, so the server renders it
    in microseconds.
    """

    def __init__(self, spec: SiteSpec) -> None:
        self.spec = spec
        self.counts = spec.pages_per_host()
        rng = random.Random(f"filler:{spec.seed}")
        self._paragraphs = [_paragraph(rng) for _ in range(_BLOCKS)]
        self._tables = [_table(rng, rows) for rows in (10, 5)]
        self._extras = _extras(rng)

    def links(self, host: int, index: int) -> list[int]:
        """The pages (of the same host) that page `index` of `host` links to: next, then random."""
        count = self.counts[host]
        rng = random.Random(f"{self.spec.seed}:{host}:{index}")
        return [(index + 1) % count] + [rng.randrange(count) for _ in range(self.spec.links - 1)]

    def render(self, host: int, index: int) -> bytes:
        """The HTML of page `index` of host number `host` (0-based): about `page_bytes` long
        (at least the head, navigation and footer, with every link)."""
        anchors = [
            f'<a href="{page_path(j)}">{_WORDS[j % len(_WORDS)]} {j}</a>'
            for j in self.links(host, index)
        ]
        # A third of the links in the navigation, a sixth in the footer, the rest in the text.
        nav_n = max(1, len(anchors) // 3)
        foot_n = len(anchors) // 6
        nav, text_links = anchors[:nav_n], anchors[nav_n : len(anchors) - foot_n]
        foot = anchors[len(anchors) - foot_n :]
        head = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Page {index} of host {host + 1} &mdash; benchmark site</title>"
            f'<meta name="description" content="Page {index}, generated for the benchmark.">'
            f'<style>{_STYLE}</style></head>\n<body><header><p class="brand">Benchmark site'
            "</p><nav><ul>"
            + "".join(f"<li>{a}</li>" for a in nav)
            + f"</ul></nav></header>\n<main><article><h1>Page {index}</h1>\n"
        ).encode()
        tail = (
            "</article><aside><h2>See also</h2><p>Related pages are listed in the footer.</p>"
            "</aside></main>\n<footer><ul>"
            + "".join(f"<li>{a}</li>" for a in foot)
            + "</ul><p>&copy; benchmark &middot; generated</p></footer></body></html>\n"
        ).encode()
        budget = self.spec.page_bytes - len(head) - len(tail)
        # Blocks: paragraphs, a table after the third and another after the twelfth (if the
        # page is that long), the extras after the eighth. Links go one or more to a paragraph.
        paragraphs = max(1, budget // _PARAGRAPH_BYTES)
        per_paragraph = -(-len(text_links) // paragraphs)
        parts = [head]
        first = (host * 7919 + index * 104729) % _BLOCKS  # where this page's text starts
        size = 0
        i = 0
        while (size < budget or text_links) and i < 10_000:
            piece = self._paragraphs[(first + i) % _BLOCKS]
            parts.append(piece)
            size += len(piece) + 6
            if text_links:
                mine, text_links = text_links[:per_paragraph], text_links[per_paragraph:]
                link_text = (" See " + ", ".join(mine) + ".").encode()
                parts.append(link_text)
                size += len(link_text)
            parts.append(b"</p>\n")
            if i == 3 or i == 12:
                parts.append(self._tables[i // 12])
                size += len(parts[-1])
            elif i == 8:
                parts.append(self._extras)
                size += len(parts[-1])
            i += 1
        parts.append(tail)
        return b"".join(parts)

    def all_pages(self) -> list[tuple[str, bytes]]:
        """(path-like name, body) of every page, for parsing without a server."""
        if self.spec.root is not None:
            from .corpus import folder_pages

            return folder_pages(self.spec.root)
        return [
            (f"http://127.0.0.{h + 1}{page_path(i)}", self.render(h, i))
            for h, count in enumerate(self.counts)
            for i in range(count)
        ]


_BLOCKS = 64  # distinct paragraphs per site
_PARAGRAPH_BYTES = 1000  # about, with its link
_STYLE = "body{font:16px/1.5 sans-serif;max-width:50em;margin:auto}table{border-collapse:collapse}"


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _paragraph(rng: random.Random) -> bytes:
    """A paragraph of about 900 bytes with one or two inline elements, without its `</p>`."""
    sentences = [_sentence(rng, rng.randrange(10, 18)) for _ in range(7)]
    marks = ("em", "strong", "code", "abbr")
    for k in range(rng.randrange(1, 3)):
        at = rng.randrange(len(sentences))
        tag = marks[(k + rng.randrange(4)) % 4]
        word = rng.choice(_WORDS)
        extra = ' title="a term"' if tag == "abbr" else ""
        sentences[at] += f" <{tag}{extra}>{word}</{tag}>"
    return ("<p>" + " ".join(sentences)).encode()


def _table(rng: random.Random, rows: int) -> bytes:
    """A data table of `rows` rows and 4 columns, with a caption and a header row."""
    head = "".join(f"<th>{rng.choice(_WORDS)}</th>" for _ in range(4))
    body = "".join(
        "<tr>"
        + f"<td>{rng.choice(_WORDS)}</td>"
        + "".join(f"<td>{rng.randrange(10_000)}</td>" for _ in range(3))
        + "</tr>"
        for _ in range(rows)
    )
    return (
        f"<h2>{_sentence(rng, 3)}</h2><table><caption>{_sentence(rng, 5)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n"
    ).encode()


def _extras(rng: random.Random) -> bytes:
    """A definition list, a figure and a code block: markup real pages have besides prose."""
    items = "".join(f"<dt>{rng.choice(_WORDS)}</dt><dd>{_sentence(rng, 9)}</dd>" for _ in range(4))
    code = "\n".join(" ".join(rng.choice(_WORDS) for _ in range(6)) for _ in range(4))
    return (
        f"<dl>{items}</dl><figure><pre><code>{code}</code></pre>"
        f"<figcaption>{_sentence(rng, 6)}</figcaption></figure>\n"
    ).encode()


# -- the server process ------------------------------------------------------------------------


@dataclass(slots=True)
class HostCounters:
    """What one host saw since the last reset."""

    connections: int = 0
    requests: int = 0
    pages: int = 0
    other: int = 0
    bytes: int = 0
    open: int = 0
    max_open: int = 0
    inflight: int = 0
    max_inflight: int = 0
    served: bytearray = field(default_factory=bytearray)

    def clear(self, pages: int) -> None:
        """Zero the counts; what is open or in flight right now stays counted."""
        self.connections = self.requests = self.pages = self.other = self.bytes = 0
        self.max_open = self.open
        self.max_inflight = self.inflight
        self.served = bytearray(pages)

    def snapshot(self) -> dict[str, int]:
        """The counts as plain data."""
        return {
            "connections": self.connections,
            "requests": self.requests,
            "pages": self.pages,
            "other": self.other,
            "bytes": self.bytes,
            "max_open": self.max_open,
            "max_inflight": self.max_inflight,
            "distinct_pages": len(self.served) - self.served.count(0),
        }


class _State:
    """The counters of the whole server, reset by the parent between measurements."""

    def __init__(self, spec: SiteSpec) -> None:
        self.spec = spec
        self.site = SitePages(spec)
        self.folder = DirectorySite(spec.root) if spec.root is not None else None
        self.hosts = [HostCounters() for _ in spec.addresses()]
        self.reset()

    def reset(self) -> None:
        counts = [len(self.folder.files)] if self.folder is not None else self.site.counts
        for host, count in zip(self.hosts, counts, strict=True):
            host.clear(count)
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.lag_sum = 0.0
        self.lag_max = 0.0
        self.answers = 0
        self.cpu0 = time.process_time()
        self.wall0 = time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        return {
            "hosts": [h.snapshot() for h in self.hosts],
            "first_at": self.first_at,
            "last_at": self.last_at,
            "lag_mean": self.lag_sum / self.answers if self.answers else 0.0,
            "lag_max": self.lag_max,
            "cpu": time.process_time() - self.cpu0,
            "wall": time.monotonic() - self.wall0,
        }

    def respond(self, host: int, target: bytes) -> tuple[bytes, bytes]:
        """(status line and type, body) for a GET of `target` on `host`."""
        path = target.split(b"?", 1)[0]
        if path.startswith((b"http://", b"https://")):
            slash = path.find(b"/", path.find(b"//") + 2)
            path = path[slash:] if slash >= 0 else b"/"
        if self.folder is not None:
            return self._file(host, path)
        index = -1
        if path == b"/":
            index = 0
        elif path.startswith(b"/p/") and path[3:].isdigit():
            index = int(path[3:])
        counters = self.hosts[host]
        if 0 <= index < self.site.counts[host] and (index == 0 or path[3:4] != b"0"):
            counters.pages += 1
            counters.served[index] = 1
            return _HTML_OK, self.site.render(host, index)
        counters.other += 1
        return b"404 Not Found\r\nContent-Type: text/plain", b"not found\n"

    def _file(self, host: int, path: bytes) -> tuple[bytes, bytes]:
        assert self.folder is not None
        counters = self.hosts[host]
        index = self.folder.lookup(path.decode("utf-8", "replace"))
        if index is None:
            counters.other += 1
            return b"404 Not Found\r\nContent-Type: text/plain", b"not found\n"
        kind, body = self.folder.read(index)
        counters.pages += 1
        counters.served[index] = 1
        return b"200 OK\r\nContent-Type: " + kind.encode(), body


class _HttpProtocol(asyncio.Protocol):
    """One client connection: requests answered in order, each after the latency."""

    def __init__(self, state: _State, host: int) -> None:
        self.state = state
        self.host = host
        self.counters = state.hosts[host]
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.queue: deque[bytes] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.busy = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = self.counters
        c.connections += 1
        c.open += 1
        c.max_open = max(c.max_open, c.open)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.counters.open -= 1
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.counters.inflight -= 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            self.queue.append(bytes(self.buffer[:end]))
            del self.buffer[: end + 4]
        if len(self.buffer) > MAX_HEAD and self.transport is not None:
            self.transport.close()
            return
        if not self.busy:
            self._next()

    def _next(self) -> None:
        if not self.queue or self.closed:
            return
        head = self.queue.popleft()
        self.busy = True
        c = self.counters
        c.requests += 1
        c.inflight += 1
        c.max_inflight = max(c.max_inflight, c.inflight)
        now = self.loop.time()
        if self.state.first_at is None:
            self.state.first_at = time.monotonic()
        latency = self.state.spec.latency
        if latency > 0:
            self.timer = self.loop.call_later(latency, self._answer, head, now + latency)
        else:
            self._answer(head, now)

    def _answer(self, head: bytes, due: float) -> None:
        self.timer = None
        state = self.state
        lag = self.loop.time() - due
        state.lag_sum += lag
        state.lag_max = max(state.lag_max, lag)
        state.answers += 1
        self.counters.inflight -= 1
        line, _, headers = head.partition(b"\r\n")
        parts = line.split()
        method, target, version = [*parts, b"", b"", b""][:3]
        lowered = headers.lower()
        if version == b"HTTP/1.1":
            keep = b"connection: close" not in lowered
        else:
            keep = b"connection: keep-alive" in lowered
        if method in (b"GET", b"HEAD"):
            status, body = state.respond(self.host, target)
        else:
            self.counters.other += 1
            status, body = b"405 Method Not Allowed\r\nContent-Type: text/plain", b"GET only\n"
        response = b"HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n" % (
            status,
            len(body),
            b"keep-alive" if keep else b"close",
        )
        self.counters.bytes += len(body)
        state.last_at = time.monotonic()
        assert self.transport is not None
        self.transport.write(response if method == b"HEAD" else response + body)
        self.busy = False
        if not keep:
            self.transport.close()
            self.closed = True
        else:
            self._next()


async def _serve(spec: SiteSpec, port: int, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    state = _State(spec)
    servers: list[asyncio.Server] = []
    for _attempt in range(50):
        chosen = port
        try:
            for host, address in enumerate(spec.addresses()):
                server = await loop.create_server(
                    lambda host=host: _HttpProtocol(state, host),  # type: ignore[misc]
                    host=address,
                    port=chosen,
                    reuse_address=True,
                    backlog=1024,
                )
                servers.append(server)
                chosen = chosen or server.sockets[0].getsockname()[1]
            break
        except OSError as exc:
            for server in servers:
                server.close()
            servers.clear()
            if exc.errno != errno.EADDRINUSE or port:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
                return
    else:
        conn.send(("error", "no port free on every host"))
        return
    done = asyncio.Event()

    def on_control() -> None:
        try:
            while conn.poll():
                command = conn.recv()
                if command == "stats":
                    conn.send(state.snapshot())
                elif command == "reset":
                    state.reset()
                    conn.send("ok")
                else:
                    done.set()
                    return
        except (EOFError, OSError):  # the parent is gone: stop serving
            done.set()

    loop.add_reader(conn.fileno(), on_control)
    conn.send(("ready", chosen))
    try:
        await done.wait()
    finally:
        loop.remove_reader(conn.fileno())
        for server in servers:
            server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.wait_closed() for s in servers)), timeout=2.0)


def server_main(spec: SiteSpec, port: int, conn: Connection) -> None:
    """Entry point of the server process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the server stops
    try:
        asyncio.run(_serve(spec, port, conn))
    finally:
        conn.close()


class SiteServer:
    """The site served from a process of its own; always use as a context manager."""

    def __init__(self, spec: SiteSpec, port: int = 0) -> None:
        self.spec = spec
        self.port = port
        self._ctx = multiprocessing.get_context("spawn")
        self._conn: Connection | None = None
        self.process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> SiteServer:
        """Start the process and wait (bounded) until every host listens."""
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        self.process = self._ctx.Process(
            target=server_main, args=(self.spec, self.port, child_end), name="bench-site"
        )
        self.process.start()
        child_end.close()
        self._conn = parent_end
        if not parent_end.poll(READY_TIMEOUT):
            self.close()
            raise RuntimeError(f"the site server did not start within {READY_TIMEOUT:g} s")
        try:
            kind, value = parent_end.recv()
        except (EOFError, OSError):
            kind, value = "error", f"the process ended (exit code {self.process.exitcode})"
        if kind != "ready":
            self.close()
            raise RuntimeError(f"the site server failed: {value}")
        self.port = int(value)
        return self

    @property
    def pid(self) -> int | None:
        """The server process id."""
        return self.process.pid if self.process is not None else None

    def roots(self) -> list[str]:
        """The seed URLs: each host's root."""
        return self.spec.roots(self.port)

    def _ask(self, command: str) -> Any:
        if self._conn is None:
            raise RuntimeError("the site server is not running")
        self._conn.send(command)
        if not self._conn.poll(CONTROL_TIMEOUT):
            raise RuntimeError(f"the site server did not answer {command!r}")
        return self._conn.recv()

    def stats(self) -> dict[str, Any]:
        """The counters since the last reset (see `_State.snapshot`)."""
        result: dict[str, Any] = self._ask("stats")
        return result

    def reset(self) -> None:
        """Zero the counters (connections already open stay counted as open)."""
        self._ask("reset")

    def close(self) -> None:
        """Stop the process: a stop command, a bounded join, then terminate and kill."""
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send("stop")
        if self.process is not None and self.process.pid is not None:
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(timeout=2)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(timeout=2)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the self-test: how fast can the server go? ------------------------------------------------


async def _client(
    address: str,
    port: int,
    paths: list[bytes],
    window: tuple[float, float],
    counts: list[int],
    seed: int,
) -> None:
    start, stop = window
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(address, port)
    host = f"{address}:{port}".encode()
    try:
        while time.monotonic() < stop:
            path = paths[rng.randrange(len(paths))]
            writer.write(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if time.monotonic() >= start:
                counts[0] += 1
                counts[1] += length
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _load(
    spec: SiteSpec, port: int, connections: int, seconds: float, warmup: float
) -> dict[str, Any]:
    counts = [0, 0]
    start = time.monotonic() + warmup
    window = (start, start + seconds)
    addresses = spec.addresses()
    per_host = [[page_path(i).encode() for i in range(n)] for n in spec.pages_per_host()]
    tasks = [
        asyncio.create_task(
            _client(
                addresses[i % len(addresses)],
                port,
                per_host[i % len(addresses)],
                window,
                counts,
                i,
            )
        )
        for i in range(connections)
    ]
    cpu0 = time.process_time()
    results = await asyncio.wait_for(
        asyncio.gather(*tasks, return_exceptions=True), timeout=warmup + seconds + 30
    )
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return {
        "responses": counts[0],
        "bytes": counts[1],
        "seconds": seconds,
        "rate": counts[0] / seconds,
        "connections": connections,
        "client_cpu": time.process_time() - cpu0,
        "errors": errors[:3],
        "error_count": len(errors),
    }


def _capacity_main(
    spec: SiteSpec, port: int, connections: int, seconds: float, warmup: float, conn: Connection
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(asyncio.run(_load(spec, port, connections, seconds, warmup)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which prints it
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def measure_capacity(
    server: SiteServer, *, connections: int = 64, seconds: float = 3.0, warmup: float = 0.5
) -> dict[str, Any]:
    """The server's sustained rate (answers/s) under `connections` keep-alive clients.

    The clients run in a process of their own (asyncio, one connection per task, random pages,
    spread over the hosts). Returns the client's counts plus the server's CPU share over the
    same time (`server_cpu` seconds), so a client-bound figure can be told from a server-bound
    one. Bounded: the client process is killed if it overruns by 30 s.
    """
    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_capacity_main,
        args=(server.spec, server.port, connections, seconds, warmup, child_end),
        name="bench-load",
    )
    server.reset()
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(warmup + seconds + 45):
            return {"error": "the load client did not finish in time"}
        result: dict[str, Any] = parent_end.recv()
    finally:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=2)
        parent_end.close()
    stats = server.stats()
    result["server_cpu"] = stats["cpu"]
    result["server_wall"] = stats["wall"]
    result["lag_mean"] = stats["lag_mean"]
    result["lag_max"] = stats["lag_max"]
    return result


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.site_server`: serve a generated site until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--page-bytes", type=int, default=40_000)
    parser.add_argument("--links", type=int, default=30)
    parser.add_argument("--skew", type=float, default=None)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    spec = SiteSpec(args.pages, args.hosts, args.page_bytes, args.links, args.skew, args.latency)
    with SiteServer(spec, args.port) as server:
        print("serving " + " ".join(server.roots()), flush=True)
        try:
            while server.process is not None and server.process.is_alive():
                server.process.join(timeout=1.0)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
