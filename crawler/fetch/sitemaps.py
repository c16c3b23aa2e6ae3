"""Sitemaps (sitemaps.org): the Sitemap lines of robots.txt and /sitemap.xml -> page URLs.

`parse_sitemap()` reads one document: a <urlset>, a <sitemapindex>, either gzipped, or a plain-text
list of URLs. The XML parser resolves no entities and loads nothing from the network (no XXE, no
entity expansion), and gzip is inflated chunk by chunk under a size cap, so a gzip bomb stops at
the cap: nothing is ever held but one chunk and the entries found.

`SitemapReader.read()` fetches sitemaps breadth-first from the candidates, follows indexes
without fetching a sitemap twice, stops at its caps and never raises for network, HTTP or parse
trouble: each problem is recorded against its sitemap URL in the result. Scope, filters and
robots.txt rules for the page URLs are the caller's business.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import requests
from lxml import etree

from ..urls import InvalidURL, canonicalize
from .http import CHUNK, bounded_get
from .netguard import Guard

# The sitemaps.org limit on the uncompressed size of one sitemap file.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_WHITESPACE = b" \t\r\n"
# A plain-text line longer than this cannot be a URL we would admit; it is skipped, not buffered.
_MAX_LINE = 8 * 1024
_ITEM = {"urlset": "url", "sitemapindex": "sitemap"}


class SitemapError(ValueError):
    """A sitemap document that cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class SitemapResult:
    """What `SitemapReader.read()` found.

    `urls`: page URLs, canonical, deduplicated, in the order met. `fetched`: the sitemap URLs
    requested (canonical), in order. `errors`: (sitemap URL, message) for each sitemap that could
    not be fetched or parsed. `truncated`: whether max_sitemaps or max_urls stopped the read.
    """

    urls: tuple[str, ...] = ()
    fetched: tuple[str, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()
    truncated: bool = False


def parse_sitemap(
    body: bytes, *, max_bytes: int = MAX_SITEMAP_BYTES, max_entries: int | None = None
) -> tuple[list[str], list[str]]:
    """(page URLs of a <urlset>, child sitemap URLs of a <sitemapindex>) in document order.

    Elements are matched by local name, whatever their namespace: `urlset/url/loc` and
    `sitemapindex/sitemap/loc` (so extension elements such as `image:loc` are not taken). Values
    are whitespace-stripped, not validated. A body that does not start with `<` is a plain-text
    sitemap, one URL per line. A gzip body (magic bytes 1f 8b) is inflated first. At most
    `max_bytes` of (decompressed) content is read and at most `max_entries` values are kept per
    list, after which parsing stops. Raises SitemapError for invalid XML, a root element that is
    not a sitemap, corrupt gzip, or content over `max_bytes`.
    """
    if body[:2] == GZIP_MAGIC:
        chunks = _gunzip(body, max_bytes)
    else:
        if len(body) > max_bytes:
            raise SitemapError(f"sitemap over {max_bytes} bytes")
        chunks = (body[i : i + CHUNK] for i in range(0, len(body), CHUNK))
    if max_entries is not None and max_entries <= 0:
        return [], []
    limit = max_entries if max_entries is not None else -1
    first, rest = _first_content(chunks)
    if first is None:
        return [], []
    if first[:1] == b"<" or first[:2] in _UTF16_BOMS:
        return _parse_xml(first, rest, limit)
    return _parse_text(first, rest, limit), []


def sitemap_candidates(origin: str, robots_sitemaps: Iterable[str]) -> list[str]:
    """The sitemaps to read for `origin`: robots.txt's Sitemap URLs, then `origin/sitemap.xml`.

    `robots_sitemaps` is what `Protego.sitemaps` gives. Blank entries are dropped and exact
    duplicates removed, order kept; canonicalisation happens in `SitemapReader.read()`.
    """
    candidates: list[str] = []
    for url in (*robots_sitemaps, origin.rstrip("/") + "/sitemap.xml"):
        url = url.strip()
        if url and url not in candidates:
            candidates.append(url)
    return candidates


class SitemapReader:
    """Fetches sitemaps and the indexes under them, breadth-first, within caps."""

    def __init__(
        self,
        *,
        timeout: float,
        max_bytes: int = MAX_SITEMAP_BYTES,
        max_sitemaps: int = 100,
        max_urls: int = 50_000 * 10,
        guard: Guard | None = None,
    ) -> None:
        self._guard = guard  # address policy and deadline, as for pages
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_sitemaps = max_sitemaps
        self._max_urls = max_urls

    def read(self, session: requests.Session, start_urls: Iterable[str]) -> SitemapResult:
        """Read the sitemaps at `start_urls` and every sitemap their indexes list.

        Each sitemap URL is fetched at most once (by canonical form, including where a redirect
        ended), so index loops end. Stops after `max_sitemaps` fetches or `max_urls` page URLs.
        Never raises for network, HTTP or parse problems: they go to `errors`.
        """
        urls: dict[str, None] = {}
        fetched: list[str] = []
        errors: list[tuple[str, str]] = []
        seen: set[str] = set()
        queue: deque[str] = deque()

        def enqueue(url: str) -> None:
            try:
                canonical = canonicalize(url)
            except InvalidURL as exc:
                errors.append((url, f"invalid sitemap URL: {exc}"))
                return
            if canonical not in seen:
                seen.add(canonical)
                queue.append(canonical)

        for url in start_urls:
            enqueue(url)
        truncated = False
        while queue:
            if len(fetched) >= self._max_sitemaps or len(urls) >= self._max_urls:
                truncated = True
                break
            sitemap = queue.popleft()
            fetched.append(sitemap)
            try:
                body, final_url = self._fetch(session, sitemap)
                seen.add(final_url)
                pages, children = parse_sitemap(
                    body, max_bytes=self._max_bytes, max_entries=self._max_urls
                )
            except (_FetchError, SitemapError) as exc:
                errors.append((sitemap, str(exc)))
                continue
            for page in pages:
                if len(urls) >= self._max_urls:
                    truncated = True
                    break
                try:
                    urls[canonicalize(page)] = None
                except InvalidURL:
                    continue
            for child in children:
                enqueue(child)
        return SitemapResult(tuple(urls), tuple(fetched), tuple(errors), truncated)

    def _fetch(self, session: requests.Session, url: str) -> tuple[bytes, str]:
        """(body, canonical final URL) of a 2xx answer, at most max_bytes; else _FetchError."""
        got = bounded_get(
            session,
            url,
            timeout=self._timeout,
            max_bytes=self._max_bytes,
            guard=self._guard,
            follow_redirects=True,
        )
        if got.error is not None:
            raise _FetchError(got.error[1])
        if got.body is None:
            raise _FetchError(f"HTTP {got.status} {got.reason}".strip())
        try:
            final_url = canonicalize(got.url)
        except InvalidURL:
            final_url = url
        return got.body, final_url


class _FetchError(Exception):
    pass


def _gunzip(body: bytes, max_bytes: int) -> Iterator[bytes]:
    """Inflate gzip member after member, CHUNK bytes at a time, never past `max_bytes`."""
    data = body
    total = 0
    while data[:2] == GZIP_MAGIC:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = data
        while True:
            try:
                out = inflater.decompress(pending, CHUNK)
            except zlib.error as exc:
                raise SitemapError(f"corrupt gzip: {exc}") from exc
            total += len(out)
            if total > max_bytes:
                raise SitemapError(f"decompressed sitemap over {max_bytes} bytes")
            if out:
                yield out
            if inflater.eof:
                break
            pending = inflater.unconsumed_tail
            if not pending and len(out) < CHUNK:
                raise SitemapError("truncated gzip")
        # Anything after the last member that is not another member is ignored.
        data = inflater.unused_data


def _first_content(chunks: Iterator[bytes]) -> tuple[bytes | None, Iterator[bytes]]:
    """The first chunk with content, BOM and leading whitespace removed, and the chunks after."""
    start = True
    for chunk in chunks:
        if start and chunk[:3] == _UTF8_BOM:
            chunk = chunk[3:]
        if start and chunk[:2] in _UTF16_BOMS:
            return chunk, chunks
        start = False
        chunk = chunk.lstrip(_WHITESPACE)
        if chunk:
            return chunk, chunks
    return None, chunks


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _parse_xml(first: bytes, rest: Iterator[bytes], limit: int) -> tuple[list[str], list[str]]:
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        load_dtd=False,
    )
    found: dict[str, list[str]] = {"urlset": [], "sitemapindex": []}
    root: etree._Element | None = None
    values: list[str] = []
    item = ""

    def drain() -> bool:
        """Handle the events parsed so far; True once `limit` values were kept."""
        nonlocal root, values, item
        for event, element in parser.read_events():
            if root is None:
                name = _local(element.tag)
                if name not in _ITEM:
                    raise SitemapError(f"root element <{name}> is not <urlset> or <sitemapindex>")
                root, values, item = element, found[name], _ITEM[name]
                continue
            if event != "end":
                continue
            parent = element.getparent()
            if (
                _local(element.tag) == "loc"
                and parent is not None
                and _local(parent.tag) == item
                and parent.getparent() is root
                # A child node here is an unresolved entity: the value is not what it says.
                and len(element) == 0
            ):
                value = (element.text or "").strip()
                if value:
                    values.append(value)
                    if len(values) == limit:
                        return True
            elif parent is root:
                # Done with this <url>/<sitemap>: free it and the ones before it.
                element.clear(keep_tail=False)
                while element.getprevious() is not None:
                    del root[0]
        return False

    try:
        parser.feed(first)
        done = drain()
        for chunk in rest:
            if done:
                break
            parser.feed(chunk)
            done = drain()
        if not done:
            parser.close()
            drain()
    except etree.XMLSyntaxError as exc:
        raise SitemapError(f"invalid XML: {exc}") from exc
    return found["urlset"], found["sitemapindex"]


def _parse_text(first: bytes, rest: Iterator[bytes], limit: int) -> list[str]:
    """One URL per line; lines longer than _MAX_LINE are skipped without being kept."""
    values: list[str] = []
    line = b""
    overlong = False
    for chunk in _chain(first, rest):
        *complete, tail = chunk.split(b"\n")
        for piece in complete:
            if not overlong and len(line) + len(piece) <= _MAX_LINE:
                value = (line + piece).decode("utf-8", errors="replace").strip()
                if value:
                    values.append(value)
                    if len(values) == limit:
                        return values
            line, overlong = b"", False
        if overlong or len(line) + len(tail) > _MAX_LINE:
            line, overlong = b"", True
        else:
            line += tail
    value = line.decode("utf-8", errors="replace").strip()
    if value and not overlong:
        values.append(value)
    return values


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
