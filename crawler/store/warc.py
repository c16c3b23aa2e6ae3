"""Stage 5 of 5, the web archive (--warc): Exchange -> WARC/1.1 records, and their CDXJ index.

Files: `OUTPUT/warc/crawl-<UTC timestamp>-<serial>.warc.gz`, one gzip member per record, named
`.open` while written, each starting with a `warcinfo` record and rotated at `max_size` (a record,
and the request/response/metadata of one exchange, are never split across files). Records are
built and written with warcio:

    Exchange (capture.py) ──> request  (the bytes sent)                 ┐ WARC-Concurrent-To
                          └─> response (headers + body as received)     ├ the response (or
                              or revisit (a payload already archived)   │ revisit) record
    worker ────────────────> metadata (seed, parent, hops, outlinks)    ┘

A response keeps the Content-Encoding it came with; Transfer-Encoding is removed and
Content-Length set to the length stored, so the payload digest is well defined. A body not read
to its end is marked `WARC-Truncated` (`length`: --max-bytes or an unwanted body; `time`: the
deadline). Each group of records is serialised outside the lock, then written and flushed under
it, before the URL's crawl.jsonl line. `OUTPUT/warc/index.cdxj` (SURT key, timestamp, JSON) is
rewritten, sorted, when the archive closes; `--resume` first cuts a leftover `.open` file back to
its last whole record, closes it and indexes what the index does not cover.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import io
import json
import logging
import os
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
from warcio.warcwriter import WARCWriter

from ..fetch.capture import Exchange, split_response

logger = logging.getLogger(__name__)

WARC_DIR = "warc"
INDEX_FILE = "index.cdxj"
OPEN_SUFFIX = ".open"
DEFAULT_MAX_SIZE = 1024**3  # 1 GiB, as Heritrix and wget's --warc-max-size use
# Level 1: on the benchmark's pages a ninth of the CPU of level 6 for a quarter more bytes;
# compression is most of what an archived page costs the fetcher threads.
GZIP_LEVEL = 1
# Payloads remembered for revisits, about 200 bytes each: memory stays bounded; past this, a
# repeat of a payload not remembered is stored whole (a response), which is still valid.
MAX_DIGESTS = 500_000
SORT_CHUNK = 100_000  # index lines sorted in memory at a time when index.cdxj is written
_READ = 1024 * 1024  # bytes read at a time when a leftover file is checked


def payload_digest(body: bytes) -> str:
    """`sha1:` and the base32 SHA-1 of `body`, as WARC-Payload-Digest has it."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def surt(url: str) -> str:
    """The SURT key of a URL for the CDXJ index: `com,example)/path?query`, lower-cased."""
    parts = urlsplit(url)
    host = (parts.hostname or "").strip(".")
    if host.startswith("www."):
        host = host[4:]
    # Dotted labels are reversed, IPv4 addresses too (`1,0,0,127`), as the surt package that
    # pywb and the Wayback Machine use does: a key spelt otherwise is never found by them.
    key = host if ":" in host else ",".join(reversed(host.split(".")))
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        key += f":{parts.port}"
    path = parts.path or "/"
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    return (f"{key}){path}" + (f"?{query}" if query else "")).lower()


def _timestamp(warc_date: str) -> str:
    """`2026-12-02T05:54:50.719458Z` -> `20261202055450` (CDXJ's 14 digits)."""
    return "".join(c for c in warc_date if c.isdigit())[:14]


class WarcArchive:
    """The web archive of one run: thread-safe; `exchange` is the guard's archive hook."""

    def __init__(
        self,
        root: Path,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        info: dict[str, str] | None = None,
        resume: bool = False,
    ) -> None:
        self.folder = root / WARC_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self._max_size = max_size
        self._info = dict(info or {})
        self._lock = threading.Lock()
        self._local = threading.local()
        self._stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        self._serial = 0
        self._handle: io.BufferedWriter | None = None
        self._name = ""  # the file being written, without .open
        self._size = 0
        self._bare_size = 0  # its size with nothing but the warcinfo record
        # The CDXJ lines of this run go to disk as records are written (memory stays flat);
        # they are sorted into index.cdxj when the archive closes.
        self._index_part = self.folder / f".index-{self._stamp}.part"
        self._index: io.TextIOWrapper | None = None
        self._covered: set[str] = set()  # files this run wrote
        # payload digest -> (record id, URI, date) of the first response that carried it
        self._digests: dict[str, tuple[str, str, str]] = {}
        self._closed = False
        self.records = 0
        self.revisits = 0
        # A killed run's index lines are not trusted: its files are indexed again at close.
        for part in self.folder.glob(".index-*.part*"):
            part.unlink()
        if resume:
            for leftover in sorted(self.folder.glob(f"*.warc.gz{OPEN_SUFFIX}")):
                close_leftover(leftover)
        else:
            for old in self.folder.glob("*.warc.gz*"):
                old.unlink()
            (self.folder / INDEX_FILE).unlink(missing_ok=True)

    # -- the hooks -------------------------------------------------------------------------

    def exchange(self, exchange: Exchange) -> None:
        """Archive one exchange that got an answer: request, then response or revisit."""
        answer = split_response(exchange.received)
        if answer is None:
            return
        writer = self._writer()
        body = answer.body
        digest = payload_digest(body)
        headers = [
            (name, value)
            for name, value in answer.headers
            if name.lower() not in ("transfer-encoding", "content-length")
        ]
        headers.append(("Content-Length", str(len(body))))
        http_headers = StatusAndHeaders(
            f"{answer.status} {answer.reason}".strip(), headers, protocol=answer.version
        )
        date = writer.curr_warc_date()
        common = {"WARC-Date": date}  # after WARC-Type, -Record-ID and -Target-URI (_first)
        if exchange.peer:
            common["WARC-IP-Address"] = exchange.peer
        # The framing says whether the body is whole; the reader says why it stopped early.
        if answer.framed:
            truncated = None if answer.complete else exchange.truncated or "disconnect"
        else:
            truncated = exchange.truncated
        with self._lock:
            earlier = self._digests.get(digest) if body and not truncated else None
        if earlier is not None and 200 <= answer.status < 300:
            record = writer.create_revisit_record(
                exchange.url,
                digest,
                earlier[1],
                earlier[2],
                http_headers=http_headers,
                warc_headers_dict={**_first("revisit", exchange.url), **common}
                | {"WARC-Refers-To": earlier[0]},
            )
            mime, kind = "warc/revisit", "revisit"
        else:
            extra = {**_first("response", exchange.url), **common, "WARC-Payload-Digest": digest}
            if truncated:
                extra["WARC-Truncated"] = truncated
            record = writer.create_warc_record(
                exchange.url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=http_headers,
                warc_headers_dict=extra,
            )
            content_type = next(
                (v for n, v in answer.headers if n.lower() == "content-type"), "unknown"
            )
            mime, kind = content_type.split(";")[0].strip().lower() or "unknown", "response"
        record_id = record.rec_headers.get_header("WARC-Record-ID")
        request = writer.create_warc_record(
            exchange.url,
            "request",
            payload=io.BytesIO(bytes(exchange.sent)),
            length=len(exchange.sent),
            warc_headers_dict={**_first("request", exchange.url), **common}
            | {"WARC-Concurrent-To": record_id},
        )
        members = [_member(writer, record), _member(writer, request)]
        entry = {
            "url": exchange.url,
            "mime": mime,
            "status": str(answer.status),
            "digest": digest.removeprefix("sha1:"),
        }
        with self._lock:
            offset, name = self._write(members)
            if self._index is None:
                self._index = open(self._index_part, "w", encoding="utf-8")  # noqa: SIM115
            self._index.write(_cdxj(exchange.url, date, entry, members[0], offset, name) + "\n")
            self._covered.add(name)
            fresh = kind == "response" and body and not truncated and 200 <= answer.status < 300
            if fresh and len(self._digests) < MAX_DIGESTS:
                self._digests.setdefault(digest, (record_id, exchange.url, date))
            if kind == "revisit":
                self.revisits += 1
        exchange.record_id = record_id

    def metadata(self, url: str, concurrent_to: str, fields: Iterable[tuple[str, str]]) -> None:
        """A metadata record (application/warc-fields) tied to the response `concurrent_to`."""
        text = "".join(f"{name}: {_one_line(value)}\r\n" for name, value in fields)
        payload = text.encode("utf-8")
        writer = self._writer()
        record = writer.create_warc_record(
            url,
            "metadata",
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_content_type="application/warc-fields",
            warc_headers_dict={**_first("metadata", url), "WARC-Concurrent-To": concurrent_to},
        )
        member = _member(writer, record)
        with self._lock:
            self._write([member])

    def _writer(self) -> WARCWriter:
        """This thread's warcio writer (making one asks the system for the host name)."""
        writer: WARCWriter | None = getattr(self._local, "writer", None)
        if writer is None:
            writer = self._local.writer = WARCWriter(None, gzip=False, warc_version="1.1")
        return writer

    # -- files -----------------------------------------------------------------------------

    def _write(self, members: list[bytes]) -> tuple[int, str]:
        """Write one group of records (lock held); returns the offset of the first and the
        file's final name."""
        if self._closed:
            raise RuntimeError("WarcArchive write after close")
        size = sum(len(m) for m in members)
        # Rotate unless the file holds nothing but its warcinfo (a group larger than the
        # limit still goes in whole: a record is never split).
        full = self._size > self._bare_size and self._size + size > self._max_size
        if self._handle is not None and full:
            self._close_file()
        if self._handle is None:
            self._open_file()
        assert self._handle is not None
        offset = self._size
        for member in members:
            self._handle.write(member)
        self._handle.flush()
        self._size += size
        self.records += len(members)
        return offset, self._name

    def _open_file(self) -> None:
        self._name = f"crawl-{self._stamp}-{self._serial:05d}.warc.gz"
        self._serial += 1
        path = self.folder / (self._name + OPEN_SUFFIX)
        self._handle = open(path, "wb")  # noqa: SIM115 - closed by _close_file
        writer = self._writer()
        info = writer.create_warcinfo_record(self._name, self._info)
        member = _member(writer, info)
        self._handle.write(member)
        self._handle.flush()
        self._size = self._bare_size = len(member)
        self.records += 1

    def _close_file(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        os.replace(self.folder / (self._name + OPEN_SUFFIX), self.folder / self._name)

    def close(self) -> None:
        """Close the file being written and rewrite index.cdxj, sorted."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_file()
            if self._index is not None:
                self._index.close()
        index = self.folder / INDEX_FILE
        covered = set(self._covered)
        sources: list[Iterable[str]] = []
        if index.exists():
            covered |= {_filename(line) for line in _lines(index)}
            sources.append(_lines(index))
        if self._index is not None:
            sources.append(_lines(self._index_part))
        left = [p for p in sorted(self.folder.glob("*.warc.gz")) if p.name not in covered]
        sources += [index_file(path) for path in left]  # files a killed run did not index
        _write_sorted(sources, index)
        self._index_part.unlink(missing_ok=True)


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line.rstrip("\n")


def _filename(line: str) -> str:
    return str(json.loads(line.split(" ", 2)[2])["filename"])


def _write_sorted(sources: Iterable[Iterable[str]], target: Path) -> None:
    """Sort the lines of `sources` into `target` (atomically), duplicates dropped, holding at
    most SORT_CHUNK lines in memory: sorted runs spill to temporary files, then merge."""
    runs: list[IO[str]] = []
    chunk: list[str] = []
    try:
        for source in sources:
            for line in source:
                chunk.append(line + "\n")
                if len(chunk) >= SORT_CHUNK:
                    chunk.sort()
                    run = tempfile.TemporaryFile("w+", encoding="utf-8", dir=target.parent)  # noqa: SIM115 - closed below
                    run.writelines(chunk)
                    run.seek(0)
                    runs.append(run)
                    chunk = []
        chunk.sort()
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            previous = None
            for line in heapq.merge(*runs, chunk):
                if line != previous:
                    out.write(line)
                previous = line
        os.replace(tmp, target)
    finally:
        for run in runs:
            run.close()


def _first(kind: str, url: str) -> dict[str, str]:
    """The headers every record starts with, in the order readers expect."""
    record_id = StatusAndHeadersParser.make_warc_id()
    return {"WARC-Type": kind, "WARC-Record-ID": record_id, "WARC-Target-URI": url}


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _member(writer: WARCWriter, record: Any) -> bytes:
    """One record, serialised by warcio, as one gzip member (compressed here at GZIP_LEVEL:
    warcio's own gzip uses level 9, many times the CPU for a few per cent less)."""
    buffer = io.BytesIO()
    writer.out = buffer
    writer.write_record(record)
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(buffer.getbuffer()) + compressor.flush()


def _cdxj(url: str, date: str, entry: dict[str, str], member: bytes, offset: int, name: str) -> str:
    fields = {**entry, "length": str(len(member)), "offset": str(offset), "filename": name}
    return f"{surt(url)} {_timestamp(date)} {json.dumps(fields, ensure_ascii=False)}"


def index_file(path: Path) -> Iterator[str]:
    """The CDXJ lines of the response and revisit records of one closed WARC file."""
    with open(path, "rb") as handle:
        iterator = ArchiveIterator(handle)
        for record in iterator:
            kind = record.rec_type
            headers = record.rec_headers
            if kind not in ("response", "revisit"):
                iterator.read_to_end(record)
                continue
            url = headers.get_header("WARC-Target-URI")
            date = headers.get_header("WARC-Date")
            digest = headers.get_header("WARC-Payload-Digest") or ""
            http = record.http_headers
            status = http.get_statuscode() if http is not None else "-"
            mime = (http.get_header("Content-Type") or "unknown") if http is not None else ""
            if kind == "revisit":
                mime = "warc/revisit"
            iterator.read_to_end(record)
            entry = {
                "url": url,
                "mime": mime.split(";")[0].strip().lower() or "unknown",
                "status": status,
                "digest": digest.removeprefix("sha1:"),
                "length": str(iterator.get_record_length()),
                "offset": str(iterator.get_record_offset()),
                "filename": path.name,
            }
            yield f"{surt(url)} {_timestamp(date)} {json.dumps(entry, ensure_ascii=False)}"


def close_leftover(path: Path) -> int:
    """Cut a `.open` file left by a killed run back to its last whole gzip member (one record
    each), then give it its final name; returns the bytes kept (the file is removed if none)."""
    good = 0
    with open(path, "rb") as handle:
        offset = 0
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = b""
        while True:
            if not pending:
                pending = handle.read(_READ)
                if not pending:
                    break
            try:
                inflater.decompress(pending)  # one record: at most --max-bytes and its headers
            except zlib.error:
                break
            offset += len(pending) - len(inflater.unused_data)
            if inflater.eof:
                good = offset
                pending = inflater.unused_data
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                pending = b""
    final = path.with_name(path.name.removesuffix(OPEN_SUFFIX))
    if good == 0:
        path.unlink()
        return 0
    with open(path, "r+b") as handle:
        handle.truncate(good)
    os.replace(path, final)
    logger.info("closed %s at its last whole record (%d bytes)", final.name, good)
    return good
