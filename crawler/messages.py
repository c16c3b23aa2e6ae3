"""The values that cross the arrows of the pipeline: all frozen, all picklable.

Only these (ids, strings, bytes) cross a process boundary; never sessions, locks or loggers.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Any

from .urls import redact


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A URL admitted to the frontier (Frontier -> fetcher threads).

    `fetch_url` differs from `url` while a redirect chain is being followed: each hop is a
    continuation of the same item, so the record keeps the URL as admitted.
    """

    url: str
    depth: int
    parent: str | None
    seed: str
    attempt: int = 1
    fetch_url: str | None = None
    hops: int = 0
    via: tuple[str, ...] = ()
    lease: int = 0  # the shared frontier's lease on this item (0: in-memory frontier)
    kind: str = "link"  # how it was reached: link, requisite (--mirror), sitemap; seeds: link

    @property
    def target(self) -> str:
        """The URL to request next (the admitted URL, or the current redirect hop)."""
        return self.fetch_url or self.url

    def retry(self) -> WorkItem:
        """The same item for its next attempt."""
        return dataclasses.replace(self, attempt=self.attempt + 1)

    def redirect(self, location: str, *, seed: str | None = None) -> WorkItem:
        """The continuation of this item at the next hop of a redirect chain."""
        return dataclasses.replace(
            self,
            fetch_url=location,
            hops=self.hops + 1,
            attempt=1,
            via=(*self.via, self.target),
            seed=seed or self.seed,
        )


@dataclass(frozen=True, slots=True)
class ParseJob:
    """An HTML page sent to a parser process (fetcher thread -> parser, through a Pipe)."""

    job_id: int
    url: str
    body: bytes
    content_type: str
    requisites: bool = False  # --mirror: also the page requisites (crawler/parse/refs.py)

    def to_bytes(self) -> bytes:
        """The job as one frame for `Connection.send_bytes`: a fixed header, the two strings,
        then the body as is. The body is never pickled; the parser reads it from the frame."""
        url = self.url.encode("utf-8", "surrogatepass")
        ctype = self.content_type.encode("utf-8", "surrogatepass")
        return b"".join(
            (
                _JOB_HEADER.pack(self.job_id, len(url), len(ctype), self.requisites),
                url,
                ctype,
                self.body,
            )
        )

    @classmethod
    def from_bytes(cls, frame: bytes) -> ParseJob:
        """The job that `to_bytes` framed."""
        job_id, url_len, ctype_len, requisites = _JOB_HEADER.unpack_from(frame)
        at = _JOB_HEADER.size
        url = frame[at : at + url_len].decode("utf-8", "surrogatepass")
        at += url_len
        ctype = frame[at : at + ctype_len].decode("utf-8", "surrogatepass")
        return cls(job_id, url, frame[at + ctype_len :], ctype, bool(requisites))


# job id (signed), url length, content-type length (bytes), whether requisites are wanted
_JOB_HEADER = struct.Struct("!qII?")


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What a parser sends back: links and metadata only, never the document."""

    job_id: int
    links: tuple[str, ...] = ()
    title: str | None = None
    nofollow: bool = False
    error: str | None = None
    rejected: tuple[str, ...] = ()
    links_dropped: int = 0  # links past the per-page cap, not in `links`
    robots: tuple[str, ...] = ()  # directives of <meta name=robots> and <meta name=UA-TOKEN>
    requisites: tuple[str, ...] = ()  # with --mirror: what the page needs to display
    imports: tuple[str, ...] = ()  # the requisites that are stylesheets it imports
    refs: tuple[Any, ...] = ()  # with --mirror: (base, references resolved), parse/refs.py

    def to_tuple(self) -> tuple[Any, ...]:
        """The result as a plain tuple: cheaper to pickle through the pipe than the dataclass."""
        return (
            self.job_id,
            self.links,
            self.title,
            self.nofollow,
            self.error,
            self.rejected,
            self.links_dropped,
            self.robots,
            self.requisites,
            self.imports,
            self.refs,
        )


@dataclass(frozen=True, slots=True)
class Record:
    """One line of crawl.jsonl: the final state of one admitted URL."""

    url: str
    final_url: str | None
    status: int | None
    ok: bool
    error: dict[str, str] | None
    content_type: str | None
    bytes: int
    sha256: str | None
    depth: int
    parent: str | None
    links: int
    title: str | None
    path: str | None
    fetched_at: str
    elapsed_ms: int
    attempts: int = 1
    links_dropped: int = 0  # links past the per-page cap (crawler.parse.extract.MAX_LINKS)
    # With --frontier: the lease this record was written under; `crawl merge` keeps, per URL,
    # the record of the last lease (the attempt that committed). null without --frontier.
    lease: int | None = None
    via: str = "link"  # how the URL was reached: seed, link, requisite, sitemap
    # The robots directives that applied (meta or X-Robots-Tag): ["noindex (meta)", ...]
    robots: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the dict that is written, field order as in README.md's table."""
        # Not dataclasses.asdict: it deep-copies every value, a cost paid on every page.
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        for name in ("url", "final_url", "parent"):  # passwords never reach crawl.jsonl
            value = data[name]
            if value is not None and "@" in value:
                data[name] = redact(value)
        return data


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(Record))
