"""Per-origin robots.txt: fetched once (other threads wait for it), cached, parsed with protego.

RFC 9309: 2xx is parsed; 4xx means everything is allowed; 5xx and network errors mean everything
is disallowed for now, retried after `unreachable_ttl`. At most 500 KiB of the body is read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import requests
from protego import Protego

from ..errors import ErrorKind
from .http import bounded_get
from .netguard import Guard

logger = logging.getLogger(__name__)

ROBOTS_MAX_BYTES = 500 * 1024
# Origins whose robots.txt is kept; past this, the oldest loaded ones are forgotten (and fetched
# again if their host comes back), so a crawl of many hosts stays bounded.
MAX_ORIGINS = 10_000


@dataclass(slots=True)
class _Entry:
    ready: threading.Event = field(default_factory=threading.Event)
    parser: Protego | None = None
    allow_all: bool = False
    reason: str = ""
    expires_at: float = float("inf")
    kind: ErrorKind = ErrorKind.ROBOTS


@dataclass(frozen=True, slots=True)
class RobotsVerdict:
    """Whether a URL may be fetched, and the Crawl-delay that applies to its host."""

    allowed: bool
    crawl_delay: float = 0.0
    reason: str = ""
    # A host whose robots.txt cannot be reached at all is recorded as that network error.
    kind: ErrorKind = ErrorKind.ROBOTS
    # Set when robots.txt was unreachable (5xx, network): the time it will be asked again.
    retry_at: float | None = None


class RobotsShare(Protocol):
    """Where the workers of one shared crawl keep each origin's robots.txt (frontier/redis.py):
    one worker fetches it under a lock that expires, the others read its outcome."""

    def get(self, origin: str) -> RobotsOutcome | None:
        """The stored outcome of an origin, or None."""
        ...

    def lock(self, origin: str, seconds: float) -> bool:
        """Take the origin's fetch lock for at most `seconds`; False if another worker has it."""
        ...

    def put(self, origin: str, outcome: RobotsOutcome, ttl: float | None) -> None:
        """Store an outcome (for `ttl` seconds, or the share's default) and drop the lock."""
        ...


@dataclass(frozen=True, slots=True)
class RobotsOutcome:
    """What one fetch of robots.txt found, before parsing: shareable between workers.

    `state` is "allow" (4xx: everything allowed), "body" (2xx: `body` holds the text) or
    "unreachable" (5xx, network: disallow for now, with `kind` and `reason`)."""

    state: str
    body: str = ""
    reason: str = ""
    kind: ErrorKind = ErrorKind.ROBOTS


class RobotsCache:
    """robots.txt of every origin met in the crawl."""

    def __init__(
        self,
        user_agent: str,
        timeout: float,
        *,
        unreachable_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        guard: Guard | None = None,
        max_origins: int = MAX_ORIGINS,
        on_body: Callable[[str, str], None] | None = None,
        share: RobotsShare | None = None,
    ) -> None:
        self._share = share  # a shared crawl's store: robots.txt fetched once for the fleet
        self._guard = guard
        self._on_body = on_body  # (origin, text) of each robots.txt parsed: kept for `crawl why`
        self._user_agent = user_agent
        self._timeout = timeout
        self._unreachable_ttl = unreachable_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}  # insertion order: the oldest first
        self._max_origins = max_origins
        self.fetches = 0

    def check(self, url: str, session: requests.Session) -> RobotsVerdict:
        """The verdict for `url`, fetching its origin's robots.txt first if needed."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            entry = self._entries.get(origin)
            mine = entry is None or (entry.ready.is_set() and entry.expires_at <= self._clock())
            if mine:
                if entry is None and len(self._entries) >= self._max_origins:
                    self._forget_oldest()
                self._entries.pop(origin, None)  # re-inserted last: it is the newest now
                entry = self._entries[origin] = _Entry()
                self.fetches += 1
        assert entry is not None
        if mine:
            try:
                self._load(entry, origin, session)
            finally:
                entry.ready.set()
        elif not entry.ready.wait(self._timeout * 3 + 1):
            return RobotsVerdict(False, reason="robots.txt still loading")
        if entry.allow_all:
            return RobotsVerdict(True)
        if entry.parser is None:
            retry_at = entry.expires_at if entry.expires_at != float("inf") else None
            return RobotsVerdict(False, reason=entry.reason, kind=entry.kind, retry_at=retry_at)
        allowed = entry.parser.can_fetch(url, self._user_agent)
        delay = entry.parser.crawl_delay(self._user_agent) or 0.0
        return RobotsVerdict(allowed, float(delay), "" if allowed else "disallowed by robots.txt")

    def _forget_oldest(self) -> None:
        """Drop the oldest loaded entries down to three quarters of the cap (under the lock;
        one still loading is kept: threads wait on it). A thread holding an entry keeps it."""
        excess = len(self._entries) - self._max_origins * 3 // 4
        for origin in [o for o, e in self._entries.items() if e.ready.is_set()][:excess]:
            del self._entries[origin]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def sitemaps(self, origin: str) -> list[str]:
        """The Sitemap lines of an origin's robots.txt (after a `check` of one of its URLs)."""
        with self._lock:
            entry = self._entries.get(origin)
        if entry is None or not entry.ready.is_set() or entry.parser is None:
            return []
        return list(entry.parser.sitemaps)

    def _load(self, entry: _Entry, origin: str, session: requests.Session) -> None:
        outcome = self.outcome(origin, session)
        if outcome.state == "allow":
            entry.allow_all = True
        elif outcome.state == "body":
            entry.parser = Protego.parse(outcome.body)
            if self._on_body is not None:
                self._on_body(origin, outcome.body)
        else:
            entry.kind, entry.reason = outcome.kind, outcome.reason
            entry.expires_at = self._clock() + self._unreachable_ttl

    def outcome(self, origin: str, session: requests.Session) -> RobotsOutcome:
        """An origin's robots.txt: fetched here, or with a share, fetched once for the fleet
        (a worker that finds the lock taken waits for the outcome, bounded by the lock's life,
        then fetches it itself)."""
        share = self._share
        if share is None:
            return self.fetch_outcome(origin, session)
        hold = self._timeout * 3 + 2  # the longest one fetch may take, and a margin
        deadline = time.monotonic() + hold + 1
        pause = threading.Event()
        while True:
            stored = share.get(origin)
            if stored is not None:
                return stored
            if share.lock(origin, hold):
                outcome = self.fetch_outcome(origin, session)
                ttl = self._unreachable_ttl if outcome.state == "unreachable" else None
                share.put(origin, outcome, ttl)
                return outcome
            if time.monotonic() >= deadline:
                return self.fetch_outcome(origin, session)
            pause.wait(0.05)  # another worker is fetching it: a bounded poll

    def fetch_outcome(self, origin: str, session: requests.Session) -> RobotsOutcome:
        """Fetch an origin's robots.txt over the network."""
        got = bounded_get(
            session,
            origin + "/robots.txt",
            timeout=self._timeout,
            max_bytes=ROBOTS_MAX_BYTES,
            guard=self._guard,
            follow_redirects=True,
            truncate=True,  # RFC 9309 2.5: a crawler may parse only the first 500 KiB
        )
        if got.error is not None:
            kind, message = got.error
            return RobotsOutcome(
                "unreachable", reason=f"robots.txt unreachable: {message}", kind=kind
            )
        status = got.status or 0
        if 400 <= status < 500:
            return RobotsOutcome("allow")
        if got.body is None:
            return RobotsOutcome("unreachable", reason=f"robots.txt answered {status}")
        return RobotsOutcome("body", body=got.body.decode("utf-8", errors="replace"))
