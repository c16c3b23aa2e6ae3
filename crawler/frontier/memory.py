"""The in-memory frontier of one process (the default): a queue.Queue, a set and a Lock.

MemoryFrontier owns what is to be crawled and what has been seen: a `queue.Queue` of WorkItems, the
visited set under a `threading.Lock`, and the depth, scope, filter and page-count rules. Every
`take()` is matched by exactly one `done()`: an item that is parked or deferred keeps its task
open until it is put back, so `Queue.join()` returns only when every admitted URL is finished.
The engine talks to it only through the `Frontier` protocol (frontier/__init__.py).

The admission rules live here: `refusal_rule` (depth, scope, filters) and, for crawler traps
(traps.py), `trap_reason` (the URL's shape), the chain rule (--max-chain), the per-host budget
and the query variants in `admit`.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from ..config import Config
from ..messages import WorkItem
from ..urls import below_seed, host_key, in_scope, passes_filters
from . import FrontierStats
from .traps import MAX_QUERY_VARIANTS, ChainRule, trap_reason


def refusal_rule(
    config: Config, url: str, depth: int, seed: str, kind: str = "link"
) -> tuple[str, str] | None:
    """(rule, reason) of the option that refuses a discovered link, or None if it may go in:
    --depth, then --scope, then --allow and --deny (what `crawl why` reports). A page
    requisite (--mirror) is fetched past --depth, and --span-requisites lifts --scope for it."""
    requisite = kind == "requisite"
    if config.depth is not None and depth > config.depth and not requisite:
        return f"--depth {config.depth}", f"depth {depth} is past --depth {config.depth}"
    if not (requisite and config.span_requisites) and not in_scope(url, seed, config.scope):
        return f"--scope {config.scope}", f"outside the --scope {config.scope} of seed {seed}"
    if config.no_parent and not requisite and not below_seed(url, seed):
        return "--no-parent", f"above the folder of seed {seed}"
    if config.allow_re and not passes_filters(url, config.allow_re, ()):
        patterns = " ".join(config.allow)
        return f"--allow {patterns}", "matches no --allow pattern"
    for pattern, regex in zip(config.deny, config.deny_re, strict=True):
        if regex.search(url):
            return f"--deny {pattern}", f"matches --deny {pattern}"
    return None


class MemoryFrontier:
    """The to-do queue and the visited set of one crawl, in this process."""

    def __init__(
        self,
        config: Config,
        *,
        visited: set[str] | None = None,
        admitted: int = 0,
        on_admit: Callable[[WorkItem], None] | None = None,
        on_trap: Callable[[WorkItem, str], None] | None = None,
        on_refuse: Callable[[str, int, str | None, str, str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_trap = on_trap  # records a trapped URL (once: it is marked visited)
        # Keeps (url, depth, parent, seed, rule, reason) of a refused link for `crawl why`.
        self._on_refuse = on_refuse
        self._per_host: Counter[str] = Counter()
        self._queries: dict[tuple[str, str], int] = {}
        self._trapped = 0
        self._chains = ChainRule(config.max_chain)  # --max-chain, under self._lock
        self._config = config
        self._on_admit = on_admit  # the resume journal: called before the item is queued
        self._clock = clock
        self._queue: queue.Queue[WorkItem | None] = queue.Queue()
        self._lock = threading.Lock()  # guards _visited and the counters below
        self._visited: set[str] = set(visited or ())
        self._admitted = admitted
        self._deduped = 0
        self._refused = 0
        self._finished = 0
        self._stopping = False
        self._closed = False
        self._shelved: list[WorkItem] = []  # admitted but not crawled because of a stop
        # Deferred items (retries, politeness) wait in a heap for the timer thread.
        self._timer_cond = threading.Condition()
        self._heap: list[tuple[float, int, WorkItem]] = []
        self._seq = itertools.count()
        self._timer = threading.Thread(target=self._run_timer, name="frontier-timer", daemon=True)
        self._drained = threading.Event()
        self._joiner = threading.Thread(target=self._run_joiner, name="frontier-join", daemon=True)
        self._timer.start()

    # -- admission -------------------------------------------------------------------------

    def admit(
        self, url: str, depth: int, parent: str | None, seed: str, *, kind: str = "link"
    ) -> bool:
        """Admit a canonical URL unless a rule refuses it or it was seen: one test-and-set."""
        self._check_open()
        config = self._config
        with self._lock:
            # Most links of a page were seen before: answer them before any rule is evaluated
            # (the test-and-set below stays the authority when two threads race for a new URL).
            if url in self._visited:
                self._deduped += 1
                return False
        # Seeds are the user's choice: the rules apply to discovered links only.
        refusal = refusal_rule(config, url, depth, seed, kind) if parent is not None else None
        if refusal is not None:
            with self._lock:
                self._refused += 1
            if self._on_refuse is not None:
                self._on_refuse(url, depth, parent, seed, *refusal)
            return False
        item = WorkItem(url, depth, parent, seed, kind=kind)
        shape = trap_reason(url) if parent is not None else None
        parts = urlsplit(url)
        host, query_key = host_key(url), (parts.netloc, parts.path)
        with self._lock:
            if url in self._visited:
                self._deduped += 1
                return False
            full = config.max_pages is not None and self._admitted >= config.max_pages
            if full:
                self._refused += 1
            else:
                self._visited.add(url)
                trap = shape if parent is not None else None
                if parent is not None and trap is None:
                    budget = config.max_pages_per_host
                    if budget is not None and self._per_host[host] >= budget:
                        trap = f"--max-pages-per-host {budget} reached for {host}"
                    elif parts.query:
                        variants = self._queries.get(query_key, 0)
                        if variants >= MAX_QUERY_VARIANTS:
                            trap = f"more than {MAX_QUERY_VARIANTS} query strings under one path"
                        self._queries[query_key] = variants + 1
                step = 0
                if trap is None:
                    step, trap = self._chains.check(url, parent)
                if trap is not None:
                    self._trapped += 1
                else:
                    self._chains.admitted(url, step)
                    self._per_host[host] += 1
                    self._admitted += 1
                stopping = self._stopping
                if stopping and trap is None:
                    self._shelved.append(item)
        if full:
            if self._on_refuse is not None:
                rule = f"--max-pages {config.max_pages}"
                reason = f"{config.max_pages} URLs were admitted before it"
                self._on_refuse(url, depth, parent, seed, rule, reason)
            return False
        if trap is not None:
            if self._on_trap is not None:
                self._on_trap(item, trap)
            return False
        if self._on_admit is not None:
            self._on_admit(item)
        if not stopping:
            self._queue.put(item)
        return True

    def admit_many(self, urls: Iterable[str], depth: int, parent: str, seed: str) -> int:
        """Admit a page's links one by one; returns how many were admitted."""
        return sum(self.admit(url, depth, parent, seed) for url in urls)

    def readmit(self, item: WorkItem) -> None:
        """Queue an item admitted by an earlier run (--resume): already visited, not yet done."""
        self._check_open()
        with self._lock:
            self._visited.add(item.url)
        self._queue.put(item)

    def claim(self, url: str) -> bool:
        """Mark a URL reached by a redirect as visited; False if it was already seen."""
        with self._lock:
            if url in self._visited:
                return False
            self._visited.add(url)
            return True

    def seen(self, url: str) -> bool:
        """Whether the URL is in the visited set."""
        with self._lock:
            return url in self._visited

    # -- the work loop ---------------------------------------------------------------------

    def take(self) -> WorkItem | None:
        """The next item, blocking; None is the sentinel that stops a fetcher."""
        return self._queue.get()

    def done(self, item: WorkItem | None = None, *, finished: bool = True) -> None:
        """Account for one `take()`: exactly once per item taken."""
        if finished:
            with self._lock:
                self._finished += 1
        self._queue.task_done()

    def requeue(self, item: WorkItem) -> None:
        """Put back an item whose task is still open (parked or deferred), closing that task."""
        self._queue.put(item)
        self._queue.task_done()

    def defer(self, item: WorkItem, not_before: float) -> None:
        """Hold an item (task still open) until the clock reaches `not_before`, then requeue it."""
        with self._timer_cond:
            heapq.heappush(self._heap, (not_before, next(self._seq), item))
            self._timer_cond.notify()

    def shelve(self, item: WorkItem) -> None:
        """Keep a taken item for `--resume` instead of crawling it (after a stop); closes it."""
        with self._lock:
            self._shelved.append(item)
        self._queue.task_done()

    def _run_timer(self) -> None:
        while True:
            with self._timer_cond:
                while True:
                    if self._closed:
                        return
                    now = self._clock()
                    if self._heap and (self._stopping or self._heap[0][0] <= now):
                        _, _, item = heapq.heappop(self._heap)
                        break
                    timeout = self._heap[0][0] - now if self._heap else None
                    self._timer_cond.wait(timeout)
            self.requeue(item)

    # -- stopping --------------------------------------------------------------------------

    @property
    def paces_hosts(self) -> bool:
        """False: the fetchers' HostSlots keep politeness in this process."""
        return False

    def starting(self, item: WorkItem) -> bool:
        """True: the host's slot starts its politeness clock when it grants the permit."""
        return True

    def crawl_delay(self, host: str, seconds: float) -> None:
        """Nothing to do: the host's slot keeps its Crawl-delay."""

    def robots_share(self) -> None:
        """None: one process's RobotsCache is all there is."""
        return None

    def needs_seeds(self) -> bool:
        """Always: one process admits its own seeds."""
        return True

    def seeded(self) -> None:
        """Nothing to do: the fetchers start after the seeds are in."""

    def stop(self) -> None:
        """Stop crawling: new admissions and everything still queued are shelved for resume."""
        with self._lock:
            self._stopping = True
        with self._timer_cond:
            self._timer_cond.notify()

    @property
    def stopping(self) -> bool:
        """Whether `stop()` was called."""
        return self._stopping

    def shelved(self) -> list[WorkItem]:
        """The admitted items that were not crawled because of a stop."""
        with self._lock:
            return list(self._shelved)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` for `Queue.join()` to return; True once every task is done."""
        if not self._joiner.is_alive() and not self._drained.is_set():
            self._joiner.start()
        return self._drained.wait(timeout)

    def _run_joiner(self) -> None:
        self._queue.join()
        self._drained.set()

    def release_workers(self, count: int) -> None:
        """Put one sentinel per fetcher thread, after the queue has drained."""
        for _ in range(count):
            self._queue.put(None)

    def close(self) -> None:
        """Stop the timer thread; the frontier refuses use afterwards."""
        with self._timer_cond:
            self._closed = True
            self._timer_cond.notify()
        self._timer.join(timeout=5)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Frontier.admit after close")

    def stats(self) -> FrontierStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return FrontierStats(
                admitted=self._admitted,
                deduped=self._deduped,
                refused=self._refused,
                finished=self._finished,
                queued=self._queue.qsize(),
                deferred=len(self._heap),
                trapped=self._trapped,
            )

    def __enter__(self) -> MemoryFrontier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
