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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter

from ..config import Config, header_pairs
from ..errors import ErrorKind, FrontierUnavailable
from ..frontier import Frontier
from ..messages import ParseJob, WorkItem
from ..parse.extract import robots_names
from ..parse.pool import ParserPool
from ..parse.refs import is_css
from ..store.records import Recorder
from ..store.trouble import output_trouble
from ..store.writer import Storage
from ..urls import InvalidURL, canonicalize, host_key, in_scope, resolve
from .directives import decide
from .hosts import Grant, HostSlot, HostSlots
from .http import FetchResult, fetch, new_session
from .netguard import Guard, host_addresses
from .retry import RetryPolicy
from .robots import RobotsCache

if TYPE_CHECKING:
    from ..store.warc import WarcArchive

logger = logging.getLogger(__name__)

# Host keys whose address verdict is remembered; the oldest are forgotten past this (and looked
# up again if met again), so a crawl of many hosts stays bounded.
MAX_REFUSALS = 10_000


@dataclass
class Counters:
    """Counters shared by the fetcher threads (under their own lock). Errors are counted by
    the Recorder, which sees every record."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    retried: int = 0
    requests: int = 0
    internal_faults: int = 0
    stalls: int = 0


@dataclass
class Services:
    """What the fetcher threads share; built and owned by the engine."""

    config: Config
    frontier: Frontier
    hosts: HostSlots
    robots: RobotsCache | None
    parsers: ParserPool
    storage: Storage
    recorder: Recorder  # writes every record (store/records.py)
    retry: RetryPolicy
    counters: Counters = field(default_factory=Counters)
    job_ids: count[int] = field(default_factory=count)
    adapter: HTTPAdapter | None = None  # one connection pool shared by every thread
    guard: Guard | None = None  # address policy and per-request deadlines
    refusals: dict[str, str | None] = field(default_factory=dict)  # host key -> address refusal
    warc: WarcArchive | None = None  # with --warc: the web archive (metadata records)
    output_error: str | None = None  # the first write error of the output (a full disk)
    # With --mirror: takes a page's resolved references from the parser, before its record.
    on_refs: Callable[[str, tuple[Any, ...]], None] | None = None

    def output_failed(self, reason: str) -> None:
        """The output cannot be written: stop the crawl as on Ctrl-C (said once)."""
        with self.counters.lock:
            first = self.output_error is None
            if first:
                self.output_error = reason
        if first:
            self.storage.reserve.release()  # room for summary.json and the journal
            logger.error("cannot write to %s: %s; stopping", self.config.output, reason)
            self.frontier.stop()


class FetcherThread(threading.Thread):
    """One fetcher: loops over frontier items until it takes the None sentinel."""

    def __init__(self, services: Services, index: int) -> None:
        super().__init__(name=f"fetcher-{index}")
        self.services = services
        # The user-agent token an X-Robots-Tag header may name (`X-Robots-Tag: crawl: noindex`).
        self._ua_token = robots_names(services.config.user_agent)[-1]
        # Read by the engine's watchdog: what this thread works on, and since when.
        self.busy_with: str | None = None
        self.busy_since: float | None = None

    def run(self) -> None:
        """The loop: every item taken is accounted for exactly once, whatever happens.

        A failure while handling one item (any Exception) becomes that item's `internal`
        record and the loop goes on; anything else (SystemExit, KeyboardInterrupt) ends the
        thread, its item left open: the engine sees the thread die and stops the crawl.
        """
        services = self.services
        frontier = services.frontier
        config = services.config
        session = new_session(config.user_agent, config.per_host, services.adapter)
        session.headers.update(header_pairs(config.headers))  # --header
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
                except FrontierUnavailable:
                    # The shared frontier gave up on Redis: no record (the URL is crawled again
                    # when the fleet resumes); the engine ends this worker with exit 1.
                    logger.debug("frontier unavailable while on %s", item.url)
                except Exception as exc:
                    trouble = output_trouble(exc)
                    if trouble is not None:
                        # Not this URL's fault: it stays pending for --resume; the crawl stops.
                        services.output_failed(trouble)
                        frontier.shelve(item)
                        finished = False
                        continue
                    logger.critical("fetcher fault on %s", item.url, exc_info=True)
                    with services.counters.lock:
                        services.counters.internal_faults += 1
                    self._record_fault(item, exc)
                except BaseException:
                    # Not this item's fault: its task stays open (so the crawl cannot look
                    # finished) and the URL pending for --resume; the engine sees the thread die
                    # and stops the crawl with exit 1.
                    finished = False
                    raise
                finally:
                    self.busy_with = self.busy_since = None
                    if finished:
                        frontier.done(item)
        except BaseException:
            logger.critical("%s stopped by an unexpected exception", self.name, exc_info=True)
            with services.counters.lock:
                services.counters.internal_faults += 1
            raise
        finally:
            if services.adapter is None:
                session.close()  # a shared adapter is closed by the engine

    def _record_fault(self, item: WorkItem, exc: BaseException) -> None:
        try:
            self.finish(item, None, (ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}"[:500]))
        except Exception:
            logger.critical("could not record the fault of %s", item.url, exc_info=True)

    def handle(self, item: WorkItem, session: requests.Session) -> bool:
        """Work on one item; False when its task was handed on (parked, deferred, requeued)."""
        services = self.services
        url = item.target
        slot = services.hosts.get(host_key(url))
        if services.frontier.stopping:
            services.frontier.shelve(item)
            self._kick(slot)
            return False
        refusal = self._address_refusal(url)
        if refusal is not None:
            # Checked before any connection (the guard checks the real peer again on connect,
            # so a name that changes its address between the two is caught there).
            self._kick(slot)
            self.finish(item, None, (ErrorKind.BLOCKED, refusal), final_url=url)
            return True
        if services.robots is not None:
            verdict = services.robots.check(url, session)
            if not verdict.allowed:
                self._kick(slot)
                if verdict.retry_at is not None and item.attempt <= services.config.retries:
                    # RFC 9309 2.3.1.4: unreachable robots.txt is "disallow for now".
                    services.frontier.defer(item.retry(), verdict.retry_at)
                    return False
                self.finish(item, None, (verdict.kind, verdict.reason), final_url=url)
                return True
            slot.crawl_delay = verdict.crawl_delay
            if services.frontier.paces_hosts:
                # The shared frontier keeps the fleet's politeness clock: tell it.
                services.frontier.crawl_delay(host_key(url), verdict.crawl_delay)
        if not services.frontier.starting(item):
            # The shared frontier took the lease back (this worker was silent too long):
            # another worker crawls the URL; nothing is fetched or recorded here.
            self._kick(slot)
            return True
        grant = slot.try_acquire(item, services.hosts.clock())
        if grant is Grant.PARKED:
            return False
        if grant is Grant.LATER:
            services.frontier.defer(item, slot.next_allowed_at)
            return False
        try:
            with services.counters.lock:
                services.counters.requests += 1
            config = services.config
            result = fetch(
                session,
                url,
                timeout=config.timeout,
                max_bytes=config.max_bytes,
                guard=services.guard,
            )
        finally:
            parked = slot.release()
            if parked is not None:
                services.frontier.requeue(parked)
        return self.process(item, result)

    def _address_refusal(self, url: str) -> str | None:
        services = self.services
        if services.guard is None:
            return None
        key = host_key(url)
        with services.counters.lock:
            if key in services.refusals:
                return services.refusals[key]
        policy = services.guard.default_policy
        refusal = next(filter(None, (policy.refusal(ip) for ip in host_addresses(url))), None)
        with services.counters.lock:
            services.refusals[key] = refusal
            if len(services.refusals) > MAX_REFUSALS:
                del services.refusals[next(iter(services.refusals))]  # the oldest
        return refusal

    def _kick(self, slot: HostSlot) -> None:
        parked = slot.kick()
        if parked is not None:
            self.services.frontier.requeue(parked)

    def process(self, item: WorkItem, result: FetchResult) -> bool:
        """Act on the answer of one hop."""
        services = self.services
        if result.location is not None:
            self._archive(item, result, (resolve(result.url, result.location) or "",))
            return self._redirect(item, result)
        kind = result.error_kind
        if kind is not None:
            self._archive(item, result, ())
        if services.retry.should_retry(item.attempt, status=result.status, kind=kind):
            with services.counters.lock:
                services.counters.retried += 1
            wait = services.retry.delay(item.attempt, result.retry_after)
            services.frontier.defer(item.retry(), services.hosts.clock() + wait)
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
        needs: tuple[str, ...] = ()  # --mirror: the page requisites, fetched past --depth
        meta: tuple[str, ...] = ()
        stylesheet = services.config.mirror and is_css(result.content_type)
        if result.is_html or stylesheet:
            parsed = services.parsers.parse(
                ParseJob(
                    next(services.job_ids),
                    url=result.url,
                    body=result.body,
                    content_type=result.content_type or "",
                    # A requisite's own requisites are fetched only for a stylesheet (what it
                    # imports, its fonts and images).
                    requisites=services.config.mirror and (item.kind != "requisite" or stylesheet),
                )
            )
            if parsed.error is not None:
                error = (ErrorKind.PARSE, parsed.error)
            links, title, rejected = parsed.links, parsed.title, parsed.rejected
            dropped, meta = parsed.links_dropped, parsed.robots
            needs = parsed.requisites
            if parsed.refs and services.on_refs is not None:
                services.on_refs(result.url, parsed.refs)
        directives = decide(meta, result.robots_tag, self._ua_token)
        if directives.nofollow:  # meta nofollow: the parser gave none; the header's: drop them
            links, rejected = (), ()
        self._archive(item, result, links)
        path = None
        if not directives.noindex:  # a page not kept needs no requisites either
            path = services.storage.save_body(result.url, result.body, result.content_type)
            for need in needs:
                services.frontier.admit(need, item.depth + 1, item.url, item.seed, kind="requisite")
        depth_left = services.config.depth is None or item.depth < services.config.depth
        if item.kind == "requisite":
            pass  # the links of a page requisite are not followed
        elif depth_left:
            # One call per page: the shared frontier admits the batch in one round trip.
            services.frontier.admit_many(links, item.depth + 1, item.url, item.seed)
            for raw in rejected:
                self._reject(raw, item)
        elif links:
            # Kept for `crawl why`: these links are never offered to the frontier.
            rule = f"--depth {services.config.depth}"
            reason = f"depth {item.depth + 1} is past --depth {services.config.depth}"
            for link in links:
                services.storage.refusals.refused(
                    link, item.depth + 1, item.url, item.seed, rule, reason
                )
        self.finish(
            item,
            result,
            error,
            links=len(links),
            title=title,
            path=path,
            dropped=dropped,
            robots=directives.record,
        )
        return True

    def _archive(self, item: WorkItem, result: FetchResult, outlinks: Iterable[str]) -> None:
        """With --warc: the metadata record of an archived answer, before the URL's record."""
        warc = self.services.warc
        if warc is None or result.warc_id is None:
            return
        fields = [("seed", item.seed), ("depth", str(item.depth))]
        if item.parent is not None:
            fields.append(("parent", item.parent))
        if item.via:
            fields.append(("via", item.via[-1]))
        fields += [("hops", str(item.hops)), ("attempt", str(item.attempt))]
        fields += [("outlink", link) for link in outlinks if link]
        try:
            warc.metadata(result.url, result.warc_id, fields)
        except OSError:
            logger.exception("could not archive the metadata of %s", result.url)

    def _reject(self, raw: str, parent: WorkItem) -> None:
        """Record a link that cannot be admitted (over-long, malformed), once per spelling."""
        if not self.services.frontier.claim(raw):
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
        services = self.services
        assert result.location is not None
        target = resolve(result.url, result.location)
        error = None
        if target is None:
            error = f"redirect to an unsupported or invalid URL: {result.location[:300]!r}"
        elif target in item.via or target == item.target:
            error = f"redirect loop at {target}"
        elif item.hops >= services.config.max_redirects:
            error = f"more than {services.config.max_redirects} redirects"
        elif item.parent is not None and not in_scope(target, item.seed, services.config.scope):
            error = f"redirect out of --scope {services.config.scope}: {target}"
        if error is not None:
            self.finish(item, result, (ErrorKind.REDIRECT, error), final_url=target)
            return True
        assert target is not None
        if target != item.url and not services.frontier.claim(target):
            # The target is (or will be) crawled under its own record: do not fetch it twice.
            self.finish(item, result, None, final_url=target)
            return True
        seed = target if item.parent is None else None  # a seed that moves takes its scope along
        services.frontier.requeue(item.redirect(target, seed=seed))
        return False

    def finish(
        self,
        item: WorkItem,
        result: FetchResult | None,
        error: tuple[ErrorKind, str] | None,
        **fields: Any,
    ) -> None:
        """Write the one record of `item` (fields as in Recorder.record)."""
        self.services.recorder.record(item, result, error, **fields)
