"""Crawler traps: the rules that end an endless supply of distinct links, and nothing else.

A trap generates links without end: a calendar (`/events/2024/01` linking the next and previous
month and the next year), pagination with no last page (`/page/1/`, `/page/2/`, ...), ids that
keep growing, relative links that deepen the path, query strings that never repeat. Past a rule,
a URL is recorded as `trap` (with the rule in its message) instead of being crawled:

- shape: more than MAX_PATH_SEGMENTS path segments, or one segment MAX_SEGMENT_REPEATS times;
- query variants: more than MAX_QUERY_VARIANTS distinct query strings under one path;
- chains (`--max-chain`): a URL found on a page of its own *shape* (the same host and the same
  path and query with other numbers: `/page/8/` on `/page/7/`, `/events/2024/02` on
  `/events/2024/01`) continues that page's chain. Once a host has more than `--max-chain` URLs
  of one shape that sit CHAIN_DEPTH or more steps down such a chain, the rest are traps.

The chain rule is what keeps real sites whole: 2,000 leaves linked from one index page are not a
chain (each is found on a page of another shape), nor is a site whose pages link to each other at
random (a breadth-first crawl reaches each page in a few steps); a pagination of a few hundred
pages is a chain shorter than the limit. An endless generator is the only thing that makes
chains of one shape without end.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

from ..config import DEFAULT_MAX_CHAIN

MAX_PATH_SEGMENTS = 32
MAX_SEGMENT_REPEATS = 3  # the same segment this many times: /a/b/a/b/a/b, /x/x/x
MAX_QUERY_VARIANTS = 100  # distinct query strings under one path
# How many steps down a chain a URL must be to count against --max-chain: deeper than a
# breadth-first crawl goes on a linked site, shallower than any endless generator.
CHAIN_DEPTH = 20

_DIGITS = re.compile(r"[0-9]+")


def trap_reason(url: str) -> str | None:
    """Why a URL looks like a crawler trap by its shape alone, or None."""
    path = urlsplit(url).path
    segments = [s for s in path.split("/") if s]
    if len(segments) > MAX_PATH_SEGMENTS:
        return f"path deeper than {MAX_PATH_SEGMENTS} segments"
    if segments:
        segment, times = Counter(segments).most_common(1)[0]
        if times >= MAX_SEGMENT_REPEATS:
            return f"path segment {segment[:50]!r} repeated {times} times"
    return None


def url_shape(url: str) -> str:
    """The shape of a URL: host, path and query with every run of digits as `#`
    (`http://h:8/events/2024/01?p=3` -> `h:8/events/#/#?p=#`): what a generator keeps while it
    counts."""
    parts = urlsplit(url)
    rest = parts.path + ("?" + parts.query if parts.query else "")
    return parts.netloc + _DIGITS.sub("#", rest)


class ChainRule:
    """The `--max-chain` rule's bookkeeping (not thread-safe: the frontier calls it under its
    lock). `limit` None or 0 turns the rule off."""

    def __init__(self, limit: int | None = DEFAULT_MAX_CHAIN, depth: int = CHAIN_DEPTH) -> None:
        self.limit = limit or None
        self.depth = depth
        self._steps: dict[str, int] = {}  # URL -> its step in a chain, for URLs at step >= 1
        self._deep: Counter[str] = Counter()  # shape -> URLs at step >= depth

    def check(self, url: str, parent: str | None) -> tuple[int, str | None]:
        """(the step of `url` in its chain, the trap reason if the rule refuses it)."""
        if parent is None or self.limit is None:
            return 0, None
        shape = url_shape(url)
        if shape != url_shape(parent):
            return 0, None
        step = self._steps.get(parent, 0) + 1
        if step >= self.depth and self._deep[shape] >= self.limit:
            return step, (
                f"--max-chain {self.limit}: more than {self.limit} URLs shaped {shape[:200]}, "
                f"each found {self.depth} or more links down a chain of pages of that shape"
            )
        return step, None

    def admitted(self, url: str, step: int) -> None:
        """Count an admitted URL at `step` of its chain."""
        if step >= 1:
            self._steps[url] = step
        if step >= self.depth:
            self._deep[url_shape(url)] += 1
