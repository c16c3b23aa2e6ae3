"""The bytes of one HTTP exchange as they crossed the wire, for the web archive (--warc).

A guarded connection (netguard.py) that carries a request inside a capturing `Guard.request()`
block copies what it sends (`send`) and what http.client reads of the answer (status line,
header lines and the body in its transfer framing, through `_TeeResponse`) into an `Exchange`.
Capture happens below requests and urllib3, so every GET path (pages, robots.txt, sitemaps)
is archived the same way while they go on decoding the body as before. `split_response()`
turns the received bytes into (status line, header lines, body without transfer framing,
complete or not).
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass, field
from typing import Any

_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)[^\r\n]*\r?\n")


@dataclass(eq=False)
class Exchange:
    """One request and what was read of its answer (filled by the connection that carried it)."""

    url: str
    peer: str | None = None
    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)
    truncated: str | None = None  # set by the reader that stopped early: "length", "time"
    record_id: str | None = None  # the WARC response (or revisit) record, once archived


class _Tee:
    """A reader over http.client's socket file that keeps a copy of each byte read."""

    def __init__(self, raw: Any, sink: bytearray) -> None:
        self._raw = raw
        self._sink = sink

    def read(self, *args: Any) -> bytes:
        data: bytes = self._raw.read(*args)
        self._sink += data
        return data

    def read1(self, *args: Any) -> bytes:
        data: bytes = self._raw.read1(*args)
        self._sink += data
        return data

    def readline(self, *args: Any) -> bytes:
        data: bytes = self._raw.readline(*args)
        self._sink += data
        return data

    def readinto(self, buffer: Any) -> int:
        count: int = self._raw.readinto(buffer)
        self._sink += memoryview(buffer)[:count]
        return count

    def peek(self, *args: Any) -> bytes:
        data: bytes = self._raw.peek(*args)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class TeeResponse(http.client.HTTPResponse):
    """http.client's response, reading through a `_Tee` into `exchange.received`."""

    def __init__(self, sock: Any, *args: Any, exchange: Exchange, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = _Tee(self.fp, exchange.received)  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Answer:
    """A received answer taken apart: what a WARC response record is built from."""

    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes  # transfer framing removed, Content-Encoding kept
    complete: bool  # as far as the framing tells
    framed: bool = True  # False: a body ended by closing the connection (no length known)


def split_response(received: bytes | bytearray) -> Answer | None:
    """The answer in `received`, or None if not even its header block arrived."""
    end = received.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(received[:end]).decode("latin-1").split("\r\n")
    rest = bytes(received[end + 4 :])
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    headers: list[tuple[str, str]] = []
    for line in head[1:]:
        if line[:1] in (" ", "\t") and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip(), value.strip()))
    names = {name.lower(): value for name, value in headers}
    framed = True
    if "chunked" in names.get("transfer-encoding", "").lower():
        body, complete = _dechunk(rest)
    else:
        body = rest
        declared = names.get("content-length", "")
        complete = not declared.isdigit() or len(rest) >= int(declared)
        if declared.isdigit():
            body = rest[: int(declared)]
        else:
            framed = False
    reason = parts[2] if len(parts) > 2 else ""
    return Answer(parts[0], int(parts[1]), reason, headers, body, complete, framed)


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    """(the body of a chunked transfer, whether its last chunk arrived)."""
    out = bytearray()
    at = 0
    while True:
        match = _CHUNK_SIZE.match(data, at)
        if match is None:
            return bytes(out), False
        size = int(match.group(1), 16)
        at = match.end()
        if size == 0:
            return bytes(out), True
        out += data[at : at + size]
        if at + size > len(data):
            return bytes(out), False
        at += size
        if data[at : at + 2] == b"\r\n":
            at += 2
        elif data[at : at + 1] == b"\n":
            at += 1
