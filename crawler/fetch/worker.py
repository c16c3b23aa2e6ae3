"""Stage 3 of 5: WorkItem -> FetchResult, in `--threads` fetcher threads.

A fetcher takes an item, asks robots.txt, takes a permit of the host's BoundedSemaphore without
blocking (a busy host parks the item, a host under a politeness delay defers it), fetches one hop,
releases the permit, follows redirects as continuation items, schedules retries as deferred
items, sends HTML to a parser process, admits the links, saves the body and writes the record.
Per-item failures become records; only a fault of the loop itself is logged as critical.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count

import requests
from requests.adapters import HTTPAdapter

from ..config import Config
from ..errors import ErrorKind
from ..frontier import Frontier
from ..messages import ParseJob, Record, WorkItem
from ..parse.pool import ParserPool
from ..store.writer import Storage
from ..urls import InvalidURL, canonicalize, host_key, in_scope, resolve
from .hosts import Grant, HostSlot, HostSlots
from .http import FetchResult, fetch, new_session
from .netguard import Guard, host_addresses
from .retry import RetryPolicy
from .robots import RobotsCache

logger = logging.getLogger(__name__)


@dataclass
class Counters:
    """Counters shared by the fetcher threads (under their own lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    requests: int = 0
    internal_faults: int = 0
    stalls: int = 0

    def error(self, kind: str) -> None:
        """Count one record that ended with an error of `kind`."""
        with self.lock:
            self.errors[kind] += 1


@dataclass
class Services:
    """What the fetcher threads share; built and owned by the engine."""

    config: Config
    frontier: Frontier
    hosts: HostSlots
    robots: RobotsCache | None
    parsers: ParserPool
    storage: Storage
    retry: RetryPolicy
    counters: Counters = field(default_factory=Counters)
    job_ids: count[int] = field(default_factory=count)
    adapter: HTTPAdapter | None = None  # one connection pool shared by every thread
    guard: Guard | None = None  # address policy and per-request deadlines
    refusals: dict[str, str | None] = field(default_factory=dict)  # host key -> address refusal


class FetcherThread(threading.Thread):
    """One fetcher: loops over frontier items until it takes the None sentinel."""

    def __init__(self, services: Services, index: int) -> None:
        super().__init__(name=f"fetcher-{index}")
        self.s = services
        # Read by the engine's watchdog: what this thread works on, and since when.
        self.busy_with: str | None = None
        self.busy_since: float | None = None

    def run(self) -> None:
        """The loop: every item taken is accounted for exactly once, whatever happens."""
        frontier = self.s.frontier
        session = new_session(self.s.config.user_agent, self.s.config.per_host, self.s.adapter)
        try:
            while True:
                item = frontier.take()
                if item is None:
                    frontier.done(finished=False)
                    return
                finished = True
                self.busy_with, self.busy_since = item.target, time.monotonic()
                try:
                    finished = self.handle(item, session)
                except BaseException as exc:
                    logger.critical("fetcher fault on %s", item.url, exc_info=True)
                    with self.s.counters.lock:
                        self.s.counters.internal_faults += 1
                    self._record_fault(item, exc)
                finally:
                    self.busy_with = self.busy_since = None
                    if finished:
                        frontier.done()
        finally:
            if self.s.adapter is None:
                session.close()  # a shared adapter is closed by the engine

    def _record_fault(self, item: WorkItem, exc: BaseException) -> None:
        try:
            self.finish(item, None, (ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}"[:500]))
        except Exception:
            logger.critical("could not record the fault of %s", item.url, exc_info=True)

    def handle(self, item: WorkItem, session: requests.Session) -> bool:
        """Work on one item; False when its task was handed on (parked, deferred, requeued)."""
        s = self.s
        url = item.target
        slot = s.hosts.get(host_key(url))
        if s.frontier.stopping:
            s.frontier.shelve(item)
            self._kick(slot)
            return False
        refusal = self._address_refusal(url)
        if refusal is not None:
            # Checked before any connection (the guard checks the real peer again on connect,
            # so a name that changes its address between the two is caught there).
            self._kick(slot)
            self.finish(item, None, (ErrorKind.BLOCKED, refusal), final_url=url)
            return True
        if s.robots is not None:
            verdict = s.robots.check(url, session)
            if not verdict.allowed:
                self._kick(slot)
                if verdict.retry_at is not None and item.attempt <= s.config.retries:
                    # RFC 9309 2.3.1.4: unreachable robots.txt is "disallow for now".
                    s.frontier.defer(item.retry(), verdict.retry_at)
                    return False
                self.finish(item, None, (verdict.kind, verdict.reason), final_url=url)
                return True
            slot.crawl_delay = verdict.crawl_delay
        grant = slot.try_acquire(item, s.hosts.clock())
        if grant is Grant.PARKED:
            return False
        if grant is Grant.LATER:
            s.frontier.defer(item, slot.next_allowed_at)
            return False
        try:
            with s.counters.lock:
                s.counters.requests += 1
            result = fetch(
                session, url, timeout=s.config.timeout, max_bytes=s.config.max_bytes, guard=s.guard
            )
        finally:
            parked = slot.release()
            if parked is not None:
                s.frontier.requeue(parked)
        return self.process(item, result)

    def _address_refusal(self, url: str) -> str | None:
        s = self.s
        if s.guard is None:
            return None
        key = host_key(url)
        with s.counters.lock:
            if key in s.refusals:
                return s.refusals[key]
        policy = s.guard.default_policy
        refusal = next(filter(None, (policy.refusal(ip) for ip in host_addresses(url))), None)
        with s.counters.lock:
            s.refusals[key] = refusal
        return refusal

    def _kick(self, slot: HostSlot) -> None:
        parked = slot.kick()
        if parked is not None:
            self.s.frontier.requeue(parked)

    def process(self, item: WorkItem, result: FetchResult) -> bool:
        """Act on the answer of one hop."""
        s = self.s
        if result.location is not None:
            return self._redirect(item, result)
        kind = result.error_kind
        if s.retry.should_retry(item.attempt, status=result.status, kind=kind):
            with s.counters.lock:
                s.counters.retried += 1
            wait = s.retry.delay(item.attempt, result.retry_after)
            s.frontier.defer(item.retry(), s.hosts.clock() + wait)
            return False
        if kind is not None:
            self.finish(item, result, (kind, result.error_message or kind.value))
            return True
        assert result.body is not None
        links: tuple[str, ...] = ()
        rejected: tuple[str, ...] = ()
        title = None
        error = None
        dropped = 0
        if result.is_html:
            parsed = s.parsers.parse(
                ParseJob(
                    next(s.job_ids),
                    url=result.url,
                    body=result.body,
                    content_type=result.content_type or "",
                )
            )
            if parsed.error is not None:
                error = (ErrorKind.PARSE, parsed.error)
            links, title, rejected = parsed.links, parsed.title, parsed.rejected
            dropped = parsed.links_dropped
        path = s.storage.save_body(result.url, result.body, result.content_type)
        depth_left = s.config.depth is None or item.depth < s.config.depth
        if depth_left:
            for link in links:
                s.frontier.admit(link, item.depth + 1, item.url, item.seed)
            for raw in rejected:
                self._reject(raw, item)
        elif links:
            # Kept for `crawl why`: these links are never offered to the frontier.
            rule = f"--depth {s.config.depth}"
            reason = f"depth {item.depth + 1} is past --depth {s.config.depth}"
            for link in links:
                s.storage.refusals.refused(link, item.depth + 1, item.url, item.seed, rule, reason)
        self.finish(item, result, error, links=len(links), title=title, path=path, dropped=dropped)
        return True

    def _reject(self, raw: str, parent: WorkItem) -> None:
        """Record a link that cannot be admitted (over-long, malformed), once per spelling."""
        if not self.s.frontier.claim(raw):
            return
        try:
            canonicalize(raw)
            reason = "not a crawlable URL"
        except InvalidURL as exc:
            reason = str(exc)
        self.finish(
            WorkItem(raw, parent.depth + 1, parent.url, parent.seed),
            None,
            (ErrorKind.INVALID_URL, reason),
        )

    def _redirect(self, item: WorkItem, result: FetchResult) -> bool:
        s = self.s
        assert result.location is not None
        target = resolve(result.url, result.location)
        error = None
        if target is None:
            error = f"redirect to an unsupported or invalid URL: {result.location[:300]!r}"
        elif target in item.via or target == item.target:
            error = f"redirect loop at {target}"
        elif item.hops >= s.config.max_redirects:
            error = f"more than {s.config.max_redirects} redirects"
        elif item.parent is not None and not in_scope(target, item.seed, s.config.scope):
            error = f"redirect out of --scope {s.config.scope}: {target}"
        if error is not None:
            self.finish(item, result, (ErrorKind.REDIRECT, error), final_url=target)
            return True
        assert target is not None
        if target != item.url and not s.frontier.claim(target):
            # The target is (or will be) crawled under its own record: do not fetch it twice.
            self.finish(item, result, None, final_url=target)
            return True
        seed = target if item.parent is None else None  # a seed that moves takes its scope along
        s.frontier.requeue(item.redirect(target, seed=seed))
        return False

    def finish(
        self,
        item: WorkItem,
        result: FetchResult | None,
        error: tuple[ErrorKind, str] | None,
        *,
        links: int = 0,
        title: str | None = None,
        path: str | None = None,
        final_url: str | None = None,
        dropped: int = 0,
    ) -> None:
        """Write the one record of `item`."""
        write_record(
            self.s,
            item,
            result,
            error,
            links=links,
            title=title,
            path=path,
            final_url=final_url,
            dropped=dropped,
        )


def write_record(
    services: Services,
    item: WorkItem,
    result: FetchResult | None,
    error: tuple[ErrorKind, str] | None,
    *,
    links: int = 0,
    title: str | None = None,
    path: str | None = None,
    final_url: str | None = None,
    dropped: int = 0,
) -> None:
    """Write the one crawl.jsonl record of `item` (fetched or not) and count its error."""
    if error is not None:
        services.counters.error(error[0].value)
    record = Record(
        url=item.url,
        final_url=final_url or (result.url if result is not None else None),
        status=result.status if result is not None else None,
        ok=error is None,
        error={"kind": error[0].value, "message": error[1]} if error is not None else None,
        content_type=result.content_type if result is not None else None,
        bytes=result.size if result is not None else 0,
        sha256=result.sha256 if result is not None else None,
        depth=item.depth,
        parent=item.parent,
        links=links,
        title=title,
        path=path,
        fetched_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        elapsed_ms=result.elapsed_ms if result is not None else 0,
        attempts=item.attempt,
        links_dropped=dropped,
    )
    services.storage.write(record)
