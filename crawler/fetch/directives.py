"""Robots directives of one page -> whether it is saved and whether its links are followed.

Two sources: `<meta name="robots">` and `<meta name="TOKEN">` (TOKEN: the product token of
--user-agent, `crawl` for `crawl/1.0 (...)`), whose directive tokens the parser returns
(crawler/parse/extract.py), and the `X-Robots-Tag` response headers, read here. A header applies
to every crawler unless it starts with a user-agent token (`X-Robots-Tag: crawl: noindex`): then
only to that one.

`noindex`: the page is not saved, its links are still followed; `nofollow`: its links are not
followed; `none`: both. The record's `robots` field lists the ones that applied, with their
source. Other directives (`noarchive`, `max-snippet:0`, ...) concern search engines and change
nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HEADER = "X-Robots-Tag"
# Directives that take a value after a colon: a header item `name: value` with one of these
# names is a directive, not a user-agent prefix.
_VALUED = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_ACTED_ON = ("noindex", "nofollow", "none")


@dataclass(frozen=True, slots=True)
class Directives:
    """What the robots directives of a page tell the crawl to do."""

    noindex: bool = False
    nofollow: bool = False
    applied: tuple[str, ...] = ()  # for the record: "noindex (meta)", "none (X-Robots-Tag)"

    @property
    def record(self) -> list[str] | None:
        """The `robots` field of the page's record: the directives that applied, or None."""
        return list(self.applied) or None


def header_directives(values: Iterable[str], token: str) -> tuple[str, ...]:
    """The directives of `X-Robots-Tag` header values that apply to the crawler `token`.

    Each value is a comma-separated list; a `name: directive` item whose name is not a
    directive names the user agent for the rest of that value (`crawl: noindex, nofollow`).
    """
    found: dict[str, None] = {}
    for value in values:
        agent: str | None = None
        for item in value.split(","):
            item = item.strip().lower()
            name, colon, rest = item.partition(":")
            if colon and name.strip() not in _VALUED:
                agent, item = name.strip(), rest.strip()
            if item and (agent is None or agent == token):
                found[item] = None
    return tuple(found)


def decide(meta: Iterable[str], header_values: Iterable[str], token: str) -> Directives:
    """The directives of one page: `meta` tokens from the parser (already only those of
    name=robots and name=TOKEN) and the raw `X-Robots-Tag` header values."""
    applied: list[str] = []
    for source, tokens in (
        ("meta", {t.strip().lower() for t in meta}),
        (HEADER, set(header_directives(header_values, token))),
    ):
        applied.extend(f"{d} ({source})" for d in _ACTED_ON if d in tokens)
    acted = {entry.split(" ", 1)[0] for entry in applied}
    return Directives(
        noindex=bool(acted & {"noindex", "none"}),
        nofollow=bool(acted & {"nofollow", "none"}),
        applied=tuple(applied),
    )
