"""Per-host slots: the concurrency cap, the politeness clock and the items parked on a busy host.

`host_key()` (urls.py) is the one definition of "same host". A fetcher never blocks on a busy
host: `try_acquire` either grants a permit of the host's `BoundedSemaphore`, parks the item on the
host's deque (all permits taken), or names the time before which the host may not be asked.
Whoever releases a permit takes one parked item back to the frontier, under the same lock as the
parking; a requeued item that then leaves without a permit (stop, robots) hands on to the next
one (`kick`). So a parked item is never stranded. Idle slots are collected once there are many.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..messages import WorkItem


class Grant(enum.Enum):
    """The answer of `HostSlot.try_acquire`."""

    GO = "go"  # a permit is held: fetch now, release afterwards
    PARKED = "parked"  # all permits are taken: the item waits on the host's deque
    LATER = "later"  # politeness: not before `slot.next_allowed_at`


@dataclass(slots=True)
class HostSlot:
    """One host: its semaphore (--per-host), politeness clock and parked items."""

    key: str
    per_host: int
    delay: float = 0.0
    sem: threading.BoundedSemaphore = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_allowed_at: float = 0.0
    crawl_delay: float = 0.0
    parked: deque[WorkItem] = field(default_factory=deque)
    active: int = 0
    last_used: float = 0.0  # when `HostSlots.get` last handed it out (for idle collection)

    def idle(self, now: float) -> bool:
        """Nothing in flight, nothing parked, no politeness wait left: forgetting the slot
        changes nothing (its robots Crawl-delay is set again before its next request)."""
        with self.lock:
            return self.active == 0 and not self.parked and self.next_allowed_at <= now

    pace: bool = True  # False: a shared frontier keeps the politeness clock for the fleet

    def __post_init__(self) -> None:
        self.sem = threading.BoundedSemaphore(self.per_host)

    def try_acquire(self, item: WorkItem, now: float) -> Grant:
        """Take a permit for `item`, or park it, or say it must wait; never blocks."""
        with self.lock:
            if now < self.next_allowed_at:
                return Grant.LATER
            if not self.sem.acquire(blocking=False):
                self.parked.append(item)
                return Grant.PARKED
            self.active += 1
            gap = max(self.delay, self.crawl_delay) if self.pace else 0.0
            if gap > 0:
                # Politeness counts between request starts, across all threads.
                self.next_allowed_at = now + gap
            return Grant.GO

    def kick(self) -> WorkItem | None:
        """A parked item to requeue if a permit is free: called by a fetcher that leaves the
        host without taking a permit, so the hand-over chain of parked items never breaks."""
        with self.lock:
            if self.parked and self.active < self.per_host:
                return self.parked.popleft()
            return None

    def release(self) -> WorkItem | None:
        """Give the permit back; returns a parked item that the caller must requeue."""
        with self.lock:
            self.sem.release()  # first: a double release raises before the count is touched
            self.active -= 1
            return self.parked.popleft() if self.parked else None


# A long crawl meets many hosts; past this many slots, idle ones are collected.
MAX_SLOTS = 10_000
# A slot unused this long may be collected: longer than a fetcher holds one between `get` and
# `try_acquire` (a robots.txt fetch, bounded by its deadline), so no two slots of one host live.
IDLE_AFTER = 300.0


class HostSlots:
    """The registry of host slots, created on first use; idle ones are collected when there
    are more than `max_slots` (a long crawl of many hosts stays bounded)."""

    def __init__(
        self,
        per_host: int,
        delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_slots: int = MAX_SLOTS,
        idle_after: float = IDLE_AFTER,
        pace: bool = True,
    ) -> None:
        self._per_host = per_host
        self._delay = delay
        self._pace = pace
        self.clock = clock
        self._lock = threading.Lock()
        self._slots: dict[str, HostSlot] = {}
        self._max_slots = max_slots
        self._idle_after = idle_after
        self._collect_at = max_slots  # the size at which the next collection runs
        self.collected = 0

    def get(self, key: str) -> HostSlot:
        """The slot of a host key, created if new."""
        now = self.clock()
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                if len(self._slots) >= self._collect_at:
                    self._collect(now)
                slot = self._slots[key] = HostSlot(
                    key, self._per_host, self._delay, pace=self._pace
                )
            slot.last_used = now
            return slot

    def _collect(self, now: float) -> None:
        """Forget the idle slots (under the registry lock). When few are idle, the next
        collection waits until the registry doubles, so the cost stays linear."""
        stale = now - self._idle_after
        idle = [k for k, s in self._slots.items() if s.last_used <= stale and s.idle(now)]
        for key in idle:
            del self._slots[key]
        self.collected += len(idle)
        self._collect_at = max(self._max_slots, 2 * len(self._slots))

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)
