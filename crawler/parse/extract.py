"""Pure link and metadata extraction from one HTML page, whatever the parser backend. No I/O.

One pass: the backend (backends.py, chosen by `--parser`) yields the elements whose tags some
extraction asked for, in document order, and each element is handed to the extractions that
asked for its tag. `Links` is the one the crawl needs (links, title, robots directives); another
extraction (page requisites, say) is one more class with its own `tags` and `visit`, run in the
same pass by `extract`. Runs in the parser processes; tested in-process.

Pages are hostile or broken as often as not, so (tests/parse/test_extract.py, test_backends.py):

- the encoding is chosen once, the same for every backend (encoding.py); bytes that are invalid
  in it become U+FFFD;
- at most MAX_LINKS distinct links are kept, in document order; `links_dropped` says how many
  more distinct followable links the page had;
- the title has whitespace collapsed and terminal escapes and control characters removed
  (crawler.sanitize.clean_text), and is cut to MAX_TITLE characters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin

from ..config import DEFAULT_PARSER
from ..sanitize import clean_text
from ..urls import InvalidURL, canonicalize
from .backends import Backend, get_backend
from .encoding import utf8

MAX_REJECTED = 100
MAX_LINKS = 5000  # distinct links kept from one page; the rest are counted in links_dropped
MAX_TITLE = 1000
MAX_REJECTED_LENGTH = 8192  # how much of a refused URL its record keeps
MAX_ROBOTS_TOKENS = 64  # robots directives kept from one page
# The backend used when none is named (--parser): see crawler/config.py.
DEFAULT_BACKEND = DEFAULT_PARSER
# <meta name=...> whose content are robots directives for every crawler (and, given a
# user-agent token, those for this crawler).
ROBOTS_META = "robots"
_SPLIT = re.compile(r"[\s,]+")
_PRODUCT = re.compile(r"[A-Za-z0-9_-]+")


def _tokens(value: object) -> list[str]:
    """The lower-cased tokens of a rel/content attribute (space or comma separated)."""
    if not value:
        return []
    return [t for t in _SPLIT.split(str(value).lower()) if t]


def robots_names(user_agent: str = "") -> tuple[str, ...]:
    """The <meta name> values whose directives apply to a crawler sending `user_agent`:
    `robots`, and its product token (`crawl` for `crawl/0.1 (+https://...)`), lower-cased."""
    match = _PRODUCT.match(user_agent.strip())
    token = match.group(0).lower() if match else ""
    return (ROBOTS_META, token) if token and token != ROBOTS_META else (ROBOTS_META,)


@dataclass(frozen=True, slots=True)
class Page:
    """What a parser extracts from one page."""

    links: tuple[str, ...]
    title: str | None
    nofollow: bool
    rejected: tuple[str, ...] = ()  # http(s) links that cannot be admitted (too long, bad)
    links_dropped: int = 0  # distinct followable links past MAX_LINKS, not in `links`
    # Directive tokens of <meta name=robots> and <meta name=USER-AGENT-TOKEN>, lower-cased, in
    # document order, each once: `noindex`, `nofollow`, `none`, `max-snippet:0`, ...
    robots: tuple[str, ...] = ()


class Extraction(Protocol):
    """One thing taken from a page: asks for `tags`, is shown each such element in order."""

    tags: frozenset[str]

    def visit(self, tag: str, attrs: Mapping[str, Any], node: Any, backend: Backend) -> None:
        """Take what is wanted from one element (`backend.text(node)` gives its text)."""
        ...


class Links:
    """Links, title and robots directives: what the crawl needs of every page.

    Links come from a/area href, frame/iframe src and link rel=next/prev, in document order,
    resolved against the first <base href> (which applies to links before it too),
    canonicalised, non-http(s) and fragments dropped, rel=nofollow honoured. The title is the
    first <title>'s text. Robots directives come from <meta name=robots> and the meta names of
    `names` (matched without regard to case).
    """

    tags = frozenset(("a", "area", "frame", "iframe", "link", "base", "meta", "title"))

    def __init__(self, names: Collection[str] = (ROBOTS_META,)) -> None:
        self._names = frozenset(n.lower() for n in names)
        self.hrefs: list[str] = []
        self.base_href: str | None = None
        self.title: str | None = None
        self.robots: dict[str, None] = {}

    def visit(self, tag: str, attrs: Mapping[str, Any], node: Any, backend: Backend) -> None:
        """File one element under what it gives."""
        if tag == "a" or tag == "area":
            href = attrs.get("href")
            if href and not ("rel" in attrs and "nofollow" in _tokens(attrs["rel"])):
                self.hrefs.append(href)
        elif tag == "link":
            href = attrs.get("href")
            if href and {"next", "prev"}.intersection(_tokens(attrs.get("rel"))):
                self.hrefs.append(href)
        elif tag == "frame" or tag == "iframe":
            src = attrs.get("src")
            if src:
                self.hrefs.append(src)
        elif tag == "meta":
            name = attrs.get("name")
            if name and name.lower() in self._names and len(self.robots) < MAX_ROBOTS_TOKENS:
                for token in _tokens(attrs.get("content"))[:MAX_ROBOTS_TOKENS]:
                    self.robots[token] = None
        elif tag == "base":
            if self.base_href is None and "href" in attrs:
                self.base_href = attrs["href"] or ""
        elif tag == "title" and self.title is None:
            text = backend.text(node)
            self.title = " ".join(clean_text(text, limit=len(text)).split())[:MAX_TITLE]

    @property
    def nofollow(self) -> bool:
        """Whether a robots directive forbids following the page's links."""
        return "nofollow" in self.robots or "none" in self.robots

    def page(self, url: str) -> Page:
        """The Page of `url` (its final URL) from what was visited."""
        title = self.title or None
        robots = tuple(self.robots)
        if self.nofollow:
            return Page((), title, True, robots=robots)
        rejected: list[str] = []
        base = url
        if self.base_href is not None:
            base = _resolve(url, self.base_href, []) or url
        links: dict[str, None] = {}
        dropped: set[str] = set()
        resolved: dict[str, str | None] = {}  # href as written -> link: each spelling once
        for href in self.hrefs:
            if href in resolved:
                link = resolved[href]
            else:
                link = resolved[href] = _resolve(base, href, rejected)
            if link is None or link in links:
                continue
            if len(links) < MAX_LINKS:
                links[link] = None
            else:
                dropped.add(link)
        return Page(
            tuple(links), title, False, tuple(dict.fromkeys(rejected)), len(dropped), robots
        )


def extract(
    body: bytes,
    content_type: str,
    extractions: Iterable[Extraction],
    backend: str | Backend | None = None,
) -> None:
    """Run every extraction over the page in one pass of `backend` (a name or a Backend;
    None: DEFAULT_BACKEND)."""
    if backend is None:
        backend = DEFAULT_BACKEND
    chosen = get_backend(backend) if isinstance(backend, str) else backend
    extractions = tuple(extractions)
    by_tag: dict[str, list[Extraction]] = {}
    for extraction in extractions:
        for tag in extraction.tags:
            by_tag.setdefault(tag, []).append(extraction)
    body = utf8(body, content_type)
    if len(extractions) == 1:  # the common case: no list to walk per element
        visit = extractions[0].visit
        for tag, attrs, node in chosen.elements(body, frozenset(by_tag)):
            visit(tag, attrs, node, chosen)
        return
    for tag, attrs, node in chosen.elements(body, frozenset(by_tag)):
        for extraction in by_tag[tag]:
            extraction.visit(tag, attrs, node, chosen)


def parse_page(
    url: str,
    body: bytes,
    content_type: str = "text/html",
    *,
    backend: str | None = None,
    names: Collection[str] = (ROBOTS_META,),
) -> Page:
    """Links, title and robots directives of a page fetched from `url` (its final URL).

    See `Links`. With a robots directive `nofollow` or `none` no link is returned and
    `nofollow` is True. At most MAX_LINKS distinct links are returned, the first in document
    order; `links_dropped` counts the distinct followable links after them.
    """
    links = Links(names)
    extract(body, content_type, (links,), backend)
    return links.page(url)


def parse_html(
    url: str, body: bytes, content_type: str = "text/html", *, backend: str | None = None
) -> tuple[tuple[str, ...], str | None, bool]:
    """(links, title, nofollow) of a page: `parse_page` without the rest."""
    page = parse_page(url, body, content_type, backend=backend)
    return page.links, page.title, page.nofollow


def _resolve(base: str, href: str, rejected: list[str]) -> str | None:
    href = href.strip()
    if not href or href[0] == "#":
        return None
    hash_at = href.find("#")
    if hash_at > 0:  # the fragment is dropped from the link: one cache entry for `x#a`, `x#b`
        href = href[:hash_at]
    # What the result depends on: nothing but the href when it is an absolute web URL, only the
    # origin of `base` for an absolute path, its directory for a relative path, and all of it
    # for a query. Keyed so, the cache below serves the links that the pages of a site repeat
    # (menus, footers, the links between the pages of one folder).
    first = href[0]
    if first == "/":
        if href.startswith("//"):
            scope = base[: base.find("//")] if "//" in base else base  # the scheme
        else:
            scope = base[: base.find("/", base.find("//") + 2)] if "//" in base else base
    elif first == "?":
        scope = base
    elif href[:8].lower().startswith(("http://", "https://")):
        scope = ""
    else:
        path_end = base.find("?")
        slash = base.rfind("/", 0, path_end if path_end >= 0 else len(base))
        scope = base[: slash + 1] if slash > base.find("//") + 1 else base
    link, reject = _join(scope, href)
    if reject is not None and len(rejected) < MAX_REJECTED:
        rejected.append(reject)
    return link


@functools.lru_cache(maxsize=16384)
def _join(base: str, href: str) -> tuple[str | None, str | None]:
    """(canonical link, None), or (None, the URL to record as rejected, or None to ignore)."""
    try:
        absolute = urljoin(base, href) if base else href
    except ValueError:  # urlsplit: "Invalid IPv6 URL" for `http://[::1`; canonicalize says why
        absolute = href
    try:
        return canonicalize(absolute), None
    except (InvalidURL, ValueError):
        web = absolute[:8].lower().startswith(("http://", "https://"))
        return None, absolute[:MAX_REJECTED_LENGTH] if web else None
