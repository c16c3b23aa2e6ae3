"""Pure link and metadata extraction from one HTML page (BeautifulSoup on lxml). No I/O.

Only the tags that carry links or metadata are built (SoupStrainer), which keeps the parser's
CPU per page down. Runs in the parser processes; tested in-process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

from bs4 import BeautifulSoup, SoupStrainer
from bs4.element import Tag

from ..urls import InvalidURL, canonicalize

MAX_REJECTED = 100

_WANTED = SoupStrainer(["a", "area", "frame", "iframe", "link", "base", "meta", "title"])
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
MAX_TITLE = 1000
MAX_REJECTED_LENGTH = 8192  # how much of a refused URL its record keeps


def _tokens(value: object) -> set[str]:
    """The lower-cased tokens of a rel/content attribute (bs4 gives rel as a list)."""
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    return {t for t in re.split(r"[\s,]+", str(value or "").lower()) if t}


@dataclass(frozen=True, slots=True)
class Page:
    """What a parser extracts from one page."""

    links: tuple[str, ...]
    title: str | None
    nofollow: bool
    rejected: tuple[str, ...] = ()  # http(s) links that cannot be admitted (too long, bad)


def parse_html(
    url: str, body: bytes, content_type: str = "text/html"
) -> tuple[tuple[str, ...], str | None, bool]:
    """(links, title, nofollow) of a page: `parse_page` without the rejected links."""
    page = parse_page(url, body, content_type)
    return page.links, page.title, page.nofollow


def _resolve(base: str, href: str, rejected: list[str]) -> str | None:
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    absolute = urljoin(base, href)
    try:
        return canonicalize(absolute)
    except (InvalidURL, ValueError):
        web = absolute[:8].lower().startswith(("http://", "https://"))
        if web and len(rejected) < MAX_REJECTED:
            rejected.append(absolute[:MAX_REJECTED_LENGTH])
        return None


def parse_page(url: str, body: bytes, content_type: str = "text/html") -> Page:
    """Links, title and robots meta of a page fetched from `url` (its final URL).

    Links come from a/area href, frame/iframe src and link rel=next/prev, resolved against
    <base href>, canonicalised, non-http(s) and fragments dropped, rel=nofollow honoured; with
    <meta name=robots content=nofollow|none> no link is returned and `nofollow` is True.
    """
    match = _CHARSET.search(content_type or "")
    soup = BeautifulSoup(
        body, "lxml", parse_only=_WANTED, from_encoding=match.group(1) if match else None
    )
    rejected: list[str] = []
    base = url
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag):
        base = _resolve(url, str(base_tag["href"]), []) or url

    nofollow = False
    for meta in soup.find_all("meta"):
        if str(meta.get("name", "")).lower() in ("robots",) and _tokens(meta.get("content")) & {
            "nofollow",
            "none",
        }:
            nofollow = True

    title = None
    title_tag = soup.find("title")
    if isinstance(title_tag, Tag):
        title = " ".join(title_tag.get_text().split())[:MAX_TITLE] or None

    if nofollow:
        return Page((), title, True)

    links: dict[str, None] = {}
    for tag in soup.find_all(["a", "area", "frame", "iframe", "link"]):
        name = tag.name
        if name in ("a", "area"):
            if "nofollow" in _tokens(tag.get("rel")):
                continue
            href = tag.get("href")
        elif name == "link":
            if not _tokens(tag.get("rel")) & {"next", "prev"}:
                continue
            href = tag.get("href")
        else:
            href = tag.get("src")
        if not href:
            continue
        link = _resolve(base, str(href), rejected)
        if link is not None:
            links.setdefault(link, None)
    return Page(tuple(links), title, False, tuple(dict.fromkeys(rejected)))
