"""Retry policy as an immutable value: what is retried, after how long. Pure; clock injected."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from ..errors import ErrorKind

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_KINDS = frozenset({ErrorKind.TIMEOUT, ErrorKind.CONNECTION})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`retries` further attempts, exponential backoff with equal jitter, Retry-After honoured."""

    retries: int = 2
    base: float = 0.5
    cap: float = 30.0
    retry_after_cap: float = 120.0

    def should_retry(self, attempt: int, *, status: int | None, kind: ErrorKind | None) -> bool:
        """Whether attempt number `attempt` (1-based) that ended so is followed by another."""
        if attempt > self.retries:
            return False
        return (status in RETRY_STATUSES) or (kind in RETRY_KINDS)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt number `attempt`: equal jitter (uniform between half
        the exponential ceiling and the ceiling), so a retry never comes at once."""
        # The exponent is bounded first: 2 ** 1024 does not fit in a float.
        ceiling = min(self.cap, self.base * (2.0 ** min(attempt - 1, 64)))
        return (rng or random).uniform(ceiling / 2, ceiling)

    def delay(
        self, attempt: int, retry_after: str | None, *, now_wall: float | None = None
    ) -> float:
        """The wait before the next attempt: Retry-After if the server gave one, else backoff."""
        parsed = parse_retry_after(retry_after, now_wall=now_wall)
        if parsed is not None:
            return min(parsed, self.retry_after_cap)
        return self.backoff(attempt)


def parse_retry_after(value: str | None, *, now_wall: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    now = time.time() if now_wall is None else now_wall
    return max(0.0, when.timestamp() - now)
