"""Stage 2 of 5: admitted URLs -> WorkItems for the fetcher threads.

`Frontier` is the protocol the engine and the fetchers are written against; two implementations:
- memory.py: `MemoryFrontier`, a `queue.Queue` + visited set + `threading.Lock` (the default);
- redis.py: the shared frontier of a crawl run by many workers (`--frontier redis://...`).

Every `take()` is matched by exactly one `done()`, `requeue()`, `defer()` or `shelve()`: an item
handed on keeps its task open, so `wait()` is true only when every admitted URL is finished.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..messages import WorkItem

if TYPE_CHECKING:
    from ..fetch.robots import RobotsShare


@dataclass(frozen=True, slots=True)
class FrontierStats:
    """A snapshot of the frontier's counters."""

    admitted: int
    deduped: int
    refused: int
    finished: int
    queued: int
    deferred: int
    trapped: int = 0
    round_trips: int = 0  # to the shared frontier's server (0 for the in-memory frontier)


class Frontier(Protocol):
    """What the engine and the fetcher threads may ask of a frontier."""

    def admit(
        self, url: str, depth: int, parent: str | None, seed: str, *, kind: str = "link"
    ) -> bool:
        """Admit a canonical URL unless a rule refuses it or it was seen: one test-and-set.

        `kind` is how it was reached (`link`, `requisite`, `sitemap`); a requisite (--mirror)
        is admitted past --depth, and from any host with --span-requisites."""
        ...

    def admit_many(self, urls: Iterable[str], depth: int, parent: str, seed: str) -> int:
        """Admit a page's links (one round trip for a shared frontier); returns how many."""
        ...

    def readmit(self, item: WorkItem) -> None:
        """Queue an item admitted by an earlier run (--resume): already visited, not yet done."""
        ...

    def claim(self, url: str) -> bool:
        """Mark a URL reached by a redirect as visited; False if it was already seen."""
        ...

    def seen(self, url: str) -> bool:
        """Whether the URL is in the visited set."""
        ...

    def take(self) -> WorkItem | None:
        """The next item, blocking; None is the sentinel that stops a fetcher."""
        ...

    def done(self, item: WorkItem | None = None, *, finished: bool = True) -> None:
        """Account for one `take()` of `item`: exactly once per item taken and not handed on."""
        ...

    def requeue(self, item: WorkItem) -> None:
        """Put back an item whose task is still open (parked, redirected), closing that task."""
        ...

    def defer(self, item: WorkItem, not_before: float) -> None:
        """Hold an item (task still open) until `not_before` (time.monotonic), then requeue."""
        ...

    def shelve(self, item: WorkItem) -> None:
        """Keep a taken item for later instead of crawling it (after a stop); closes it."""
        ...

    @property
    def paces_hosts(self) -> bool:
        """True when the frontier keeps the per-host politeness clock itself (for a fleet)."""
        ...

    def starting(self, item: WorkItem) -> bool:
        """Called right before `item`'s request: a frontier that paces hosts starts the host's
        politeness clock now. False if the item is no longer this worker's (lease lost)."""
        ...

    def crawl_delay(self, host: str, seconds: float) -> None:
        """Tell the frontier a host's robots.txt Crawl-delay (used when it paces hosts)."""
        ...

    def robots_share(self) -> RobotsShare | None:
        """Where robots.txt outcomes are shared with other workers (None: not shared)."""
        ...

    def needs_seeds(self) -> bool:
        """Whether the seeds (and sitemaps) must be admitted by this process."""
        ...

    def seeded(self) -> None:
        """Say the seeds and sitemaps are in: before this, the crawl cannot be finished."""
        ...

    def stop(self) -> None:
        """Stop crawling: admissions and what is still queued are kept for a later run."""
        ...

    @property
    def stopping(self) -> bool:
        """Whether `stop()` was called."""
        ...

    def shelved(self) -> list[WorkItem]:
        """The admitted items this process did not crawl because of a stop."""
        ...

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` for the crawl to finish; True once every item is done."""
        ...

    def release_workers(self, count: int) -> None:
        """Put one sentinel per fetcher thread, after the crawl has finished or stopped."""
        ...

    def close(self) -> None:
        """Release what the frontier holds; it refuses use afterwards."""
        ...

    def stats(self) -> FrontierStats:
        """A consistent snapshot of the counters."""
        ...


# Imported after the protocol: memory.py imports FrontierStats from here.
from .memory import MemoryFrontier, trap_reason  # noqa: E402

__all__ = ["Frontier", "FrontierStats", "MemoryFrontier", "trap_reason"]
