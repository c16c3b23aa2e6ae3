"""The orchestrator: the only module that knows all five stages.

    SEEDS ──(1 seeds.py)──> Frontier ──queue.Queue──> fetcher threads ──Pipe──> parser processes
                            (2 frontier/)              (3 fetch/)                (4 parse/)
                            visited set + Lock         HostSlot BoundedSemaphore  BeautifulSoup/lxml
                               ^                       requests.Session/thread        │
                               └──── admit(links) <──────────┤ <──── ParseResult ──────┘
                                                             └──> Storage (5 store/): pages/,
                                                                  crawl.jsonl, summary.json, state
                                                                    └──> Mirror (--mirror): mirror/

seeds -> Frontier: the engine admits each seed at depth 0; the Frontier owns the queue and the
visited set. Frontier -> fetchers: each fetcher `take()`s a WorkItem and calls `done()` exactly
once for it (parking, deferring and requeueing hand the open task on). fetchers -> parsers: a
fetcher borrows an idle parser's Pipe end, sends the page bytes, receives links and metadata, and
returns the end. fetchers -> Frontier: links are admitted (one test-and-set under the lock).
fetchers -> Storage: one record per finished URL, under Storage's lock. Storage -> Mirror (with
--mirror): each written record's body is linked or converted into mirror/ by the fetcher that
wrote it; the page requisites came back from the parser with the links and were admitted as
`requisite` items. After the fetchers stop, the mirror's fix-up pass runs (store/mirror.py).

With `--frontier redis://...` the Frontier is the shared one (frontier/redis.py): the same
protocol, its queue a local `queue.Queue` fed with leased items from Redis, where the visited set,
per-host permits and delays, leases and the count of open items live for the whole fleet.

Start order: parser processes first (spawn, before any thread exists), then storage, then the
frontier and the fetcher threads. The main thread waits for `Queue.join()` while it drives the
progress bar; on a stop request it shelves what is left for `--resume`. Then one sentinel per
fetcher, bounded joins, parsers closed, summary and state written.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter

from . import __version__
from .config import Config
from .errors import ExitReason, UsageError
from .fetch.hosts import HostSlots
from .fetch.http import DEADLINE_FACTOR, new_adapter, new_session
from .fetch.netguard import Guard, host_addresses, policy_for_seeds
from .fetch.retry import RetryPolicy
from .fetch.robots import RobotsCache
from .fetch.sitemaps import SitemapReader, sitemap_candidates
from .fetch.worker import Counters, FetcherThread, Services
from .frontier import Frontier, MemoryFrontier
from .messages import WorkItem
from .parse.extract import robots_names
from .parse.pool import ParserPool
from .progress import Progress, Snapshot
from .resume_options import options_to_store
from .sanitize import clean_text
from .store.mirror import Mirror
from .store.records import Recorder
from .store.trouble import output_trouble
from .store.writer import Storage, read_records
from .urls import in_scope, passes_filters, redact

if TYPE_CHECKING:
    from .store.warc import WarcArchive

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
SUMMARY_SEEDS = 10  # seeds listed in summary.json; seed_count says how many there were
# How long teardown may take once the queue has drained: threads, then processes.
JOIN_BUDGET = 10.0


@dataclass(frozen=True, slots=True)
class Summary:
    """The totals of one run, as written to summary.json."""

    exit_reason: ExitReason
    pages: int
    ok: int
    errors: dict[str, int]
    bytes: int
    seconds: float
    pages_per_second: float
    admitted: int
    pending: int
    requests: int
    retried: int
    parser_restarts: int
    internal_faults: int
    stalls: int
    started_at: str
    finished_at: str
    seeds: list[str] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        """All records that ended with an error."""
        return sum(self.errors.values())


class _RedactedSet(set[str]):
    """A set of URLs as crawl.jsonl has them (passwords as `***`): `in` redacts first."""

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and set.__contains__(self, redact(url))


def _resumed(
    config: Config, storage: Storage, recorder: Recorder | None = None
) -> tuple[set[str], list[WorkItem]]:
    """The visited set and the pending items left by an earlier run in config.output; the
    records, bytes and errors of the earlier sessions are counted in `storage` and `recorder`,
    so that the summary of a resumed crawl is the summary of the whole crawl."""
    done: set[str] = set()
    for record in read_records(storage.jsonl_path):
        done.add(record["url"])
        if record.get("final_url"):
            done.add(record["final_url"])
        storage.records += 1
        storage.bytes += record.get("bytes") or 0
        if recorder is not None and record.get("error"):
            recorder.count_earlier(str(record["error"].get("kind")))
    # crawl.jsonl holds no passwords: a journal URL with a login is done if its redacted form is.
    seen, pending = storage.journal.load(_RedactedSet(done))
    return seen | done, pending


def crawl(
    config: Config,
    seeds: Sequence[str],
    *,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    on_started: Callable[[ParserPool], None] | None = None,
    bad_seeds: Sequence[str] = (),
) -> Summary:
    """Crawl from `seeds` (canonical URLs) as `config` says; returns the Summary.

    `stop`, once set, ends the crawl early: in-flight requests finish, the rest is saved for
    `--resume`. `on_started` is called with the parser pool once every worker runs.
    """
    stop = stop or threading.Event()
    started = time.monotonic()

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    faults = ThreadFaults().install()  # a thread of the crawl that dies stops it
    pool = ParserPool(
        config.parsers,
        parse_timeout=config.parse_timeout,
        backend=config.parser,
        robots_names=robots_names(config.user_agent),
    )
    storage: Storage | None = None
    frontier: Frontier | None = None
    threads: list[FetcherThread] = []
    services: Services | None = None
    warc: WarcArchive | None = None
    mirror: Mirror | None = None
    exit_reason = ExitReason.ERROR
    earlier = 0
    try:
        # Inside the try: a failure while starting still closes the processes already started.
        pool.start()
        # A worker of a shared crawl keeps its earlier records: `crawl merge` reads them all.
        storage = Storage(config.output, resume=config.resume or config.frontier is not None)
        mirror = _start_mirror(config, storage)
        # What --resume continues with (crawler/resume_options.py); the first seeds are kept.
        storage.journal.save_options(options_to_store(config))
        storage.journal.save_options({"seeds": [redact(seed) for seed in seeds]}, keep=True)
        recorder = Recorder(storage)
        visited, pending = _resumed(config, storage, recorder) if config.resume else (set(), [])
        earlier = storage.records  # a resumed crawl's summary counts the whole crawl
        frontier = _open_frontier(config, seeds, visited, storage, recorder.trap)
        _keep_options(storage, config, seeds)
        # A shared frontier keeps the politeness clock for the whole fleet (on Redis's clock).
        hosts = HostSlots(config.per_host, config.delay, pace=not frontier.paces_hosts)
        # Seeds on loopback or private addresses (the demo, an intranet) may lead to others of
        # their kind; link-local and metadata addresses stay refused (netguard.py).
        seed_ips = (
            ip for seed in {*seeds, *(i.seed for i in pending)} for ip in host_addresses(seed)
        )
        guard = Guard(default_policy=policy_for_seeds(seed_ips, config.allow_private))
        if config.warc:
            # Every guarded exchange (pages, robots.txt, sitemaps, retries) is archived as it
            # ends, before the record of its URL is written (store/warc.py).
            warc = _open_archive(config)
            guard.archive = warc.exchange
        robots = None
        if not config.ignore_robots:
            # An unreachable robots.txt disallows for now; it is asked again this much later.
            robots = RobotsCache(
                config.user_agent,
                config.timeout,
                unreachable_ttl=5.0,
                guard=guard,
                on_body=storage.refusals.robots_txt,
                share=frontier.robots_share(),
            )
        services = Services(
            config,
            frontier,
            hosts,
            robots,
            pool,
            storage,
            recorder,
            RetryPolicy(config.retries),
            adapter=new_adapter(config.per_host, guard),
            guard=guard,
            warc=warc,
            on_refs=mirror.prepare if mirror is not None else None,
        )
        for item in pending:
            frontier.readmit(item)
        if frontier.needs_seeds():
            for seed in seeds:
                frontier.admit(seed, 0, None, seed)
            if config.sitemaps:
                _admit_sitemaps(config, frontier, robots, seeds, services.adapter, guard)
            frontier.seeded()
        threads = [FetcherThread(services, i) for i in range(config.threads)]
        for thread in threads:
            thread.start()
        if on_started is not None:
            on_started(pool)
        exit_reason = ExitReason.FINISHED
        watchdog = Watchdog(threads, _stall_after(config), services.counters)
        while not frontier.wait(0.1):
            if progress is not None:
                progress.update(_snapshot(services))
            watchdog.check()
            if faults.fault is not None:
                # A thread of the crawl died: its work would never be done and join() never
                # return. Stop as on Ctrl-C (the journal keeps what is left) and report it.
                logger.critical("stopping the crawl: %s", faults.fault)
                frontier.stop()
                exit_reason = ExitReason.ERROR
                break
            if (
                config.max_time is not None
                and not frontier.stopping
                and time.monotonic() - started >= config.max_time
            ):
                logger.warning("--max-time %g s reached: stopping", config.max_time)
                frontier.stop()
                exit_reason = ExitReason.INTERRUPTED
            if stop.is_set() and not frontier.stopping:
                logger.info("stop requested: finishing requests in flight")
                frontier.stop()
                exit_reason = ExitReason.INTERRUPTED
        if services.output_error is not None and exit_reason is not ExitReason.ERROR:
            exit_reason = ExitReason.OUTPUT_ERROR  # stopped as on Ctrl-C: resumable
    except BaseException:
        exit_reason = ExitReason.ERROR
        raise
    finally:
        faults.uninstall()
        if frontier is not None and exit_reason is ExitReason.ERROR and not frontier.stopping:
            frontier.stop()
            frontier.wait(config.timeout * 4)
        _teardown(frontier, threads, pool)
        if mirror is not None:
            _finish_mirror(mirror)
        if services is not None and services.adapter is not None:
            services.adapter.close()
        if services is not None and services.guard is not None:
            services.guard.close()
        if warc is not None:
            try:
                warc.close()
            except Exception:
                logger.exception("closing the web archive failed")
        if progress is not None and services is not None:
            progress.update(_snapshot(services))
            progress.close()
        summary = None
        if services is not None:
            summary = _finish(
                config,
                seeds,
                services,
                pool,
                exit_reason,
                started,
                started_at,
                bad_seeds,
                earlier,
            )
        elif storage is not None:
            storage.close()
    assert summary is not None
    return summary


def _open_archive(config: Config) -> WarcArchive:
    """The web archive of this run, its warcinfo saying who wrote it and how."""
    from importlib.metadata import PackageNotFoundError, version

    from .store.warc import WarcArchive

    try:
        software = f"crawl/{__version__} (warcio {version('warcio')})"
    except PackageNotFoundError:  # a frozen executable may carry no package metadata
        software = f"crawl/{__version__} (warcio)"
    info = {
        "software": software,
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "http-header-user-agent": config.user_agent,
        "robots": "ignore" if config.ignore_robots else "obey",
        "configuration": json.dumps(config.to_json(), ensure_ascii=False),
    }
    return WarcArchive(
        config.output, max_size=config.warc_max_size, info=info, resume=config.resume
    )


class ThreadFaults:
    """Catches an exception that ends any thread while a crawl runs (`threading.excepthook`).

    Fetcher threads turn their faults into records, so this is for what must never happen: a
    thread of the frontier or a fetcher's loop itself dying. The engine then stops the crawl
    with exit reason "error" instead of waiting for work that the dead thread would have done.
    """

    def __init__(self) -> None:
        self.fault: str | None = None
        self._previous = threading.excepthook
        self._before: set[int | None] = set()

    def install(self) -> ThreadFaults:
        """Start catching (the previous hook is restored by `uninstall`)."""
        self._previous = threading.excepthook
        self._before = {t.ident for t in threading.enumerate()}
        threading.excepthook = self._hook
        return self

    def uninstall(self) -> None:
        """Restore the hook that was there before."""
        if threading.excepthook == self._hook:
            threading.excepthook = self._previous

    def _hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.thread is None or args.thread.ident in self._before:
            self._previous(args)  # not a thread of this crawl
            return
        name = args.thread.name
        if self.fault is None:
            self.fault = f"{name} died: {args.exc_type.__name__}: {args.exc_value}"
        logger.critical(
            "%s died", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
        )


def _start_mirror(config: Config, storage: Storage) -> Mirror | None:
    """With --mirror: the mirror, converting each saved page as its record is written."""
    if not config.mirror:
        return None
    mirror = Mirror(config.output)
    if config.resume:
        mirror.load(read_records(storage.jsonl_path))
    storage.on_record = mirror.landed
    return mirror


def _finish_mirror(mirror: Mirror) -> None:
    """The mirror's fix-up pass, at every exit once the fetchers have stopped."""
    try:
        again = mirror.finish()
        logger.info("mirror: %d files converted again in the fix-up pass", again)
    except Exception:
        logger.exception("the mirror's fix-up pass failed")


def _keep_options(storage: Storage, config: Config, seeds: Sequence[str]) -> None:
    """What `crawl why` needs to judge a URL by today's rules: the options and the seeds (a
    --resume adds its seeds to those of the first run)."""
    storage.refusals.meta("config", json.dumps(config.to_json()))
    storage.refusals.meta(
        f"seeds-{datetime.now(UTC).isoformat()}", json.dumps([redact(seed) for seed in seeds])
    )


def _open_frontier(
    config: Config,
    seeds: Sequence[str],
    visited: set[str],
    storage: Storage,
    on_trap: Callable[[WorkItem, str], None],
) -> Frontier:
    """The in-memory frontier, or with --frontier the shared one in Redis."""

    def on_refuse(
        url: str, depth: int, parent: str | None, seed: str | None, rule: str, reason: str
    ) -> None:
        logger.info("not followed: %s: %s", url, reason)  # -v, --log
        storage.refusals.refused(url, depth, parent, seed, rule, reason)

    if config.frontier is not None:
        try:
            from .frontier.redis import RedisFrontier  # imports redis-py: only in this mode
        except ModuleNotFoundError as exc:
            raise UsageError(
                f"--frontier: needs redis-py ({exc}): pip install 'crawl[redis]'"
            ) from None

        return RedisFrontier(config, seeds, on_trap=on_trap, on_refuse=on_refuse)
    return MemoryFrontier(
        config,
        visited=visited,
        admitted=len(visited),
        on_admit=storage.admitted,
        on_trap=on_trap,
        on_refuse=on_refuse,
    )


def _admit_sitemaps(
    config: Config,
    frontier: Frontier,
    robots: RobotsCache | None,
    seeds: Sequence[str],
    adapter: HTTPAdapter | None,
    guard: Guard | None = None,
) -> None:
    """Admit at depth 0 the in-scope URLs of each seed origin's sitemaps (before any fetcher
    runs, so the crawl cannot finish before they are in). Read inside a guard block, so that
    with --warc the sitemaps are archived."""
    origins: dict[str, str] = {}
    for seed in seeds:
        parts = urlsplit(seed)
        origins.setdefault(f"{parts.scheme}://{parts.netloc}", seed)
    reader = SitemapReader(timeout=config.timeout, guard=guard)
    with new_session(config.user_agent, config.per_host, adapter) as session:
        for origin, seed in origins.items():
            listed: list[str] = []
            if robots is not None:
                robots.check(origin + "/", session)
                listed = robots.sitemaps(origin)
            with guard.request() if guard is not None else contextlib.nullcontext():
                result = reader.read(session, sitemap_candidates(origin, listed))
            admitted = 0
            for url in result.urls:
                if in_scope(url, seed, config.scope) and passes_filters(
                    url, config.allow_re, config.deny_re
                ):
                    admitted += frontier.admit(url, 0, None, seed, kind="sitemap")
            for sitemap, message in result.errors:
                logger.info("sitemap %s: %s", sitemap, message)
            logger.info(
                "%s: %d sitemaps read, %d URLs admitted", origin, len(result.fetched), admitted
            )


def _stall_after(config: Config) -> float:
    if config.stall_after is not None:
        return config.stall_after
    # The longest one item may take: its request (deadline), robots.txt, and its parse.
    return config.timeout * DEADLINE_FACTOR * 2 + config.parse_timeout + 5


class Watchdog:
    """Run from the main thread: reports (once per item) a fetcher stuck on one item, with
    its stack, so a hang is visible instead of silent."""

    def __init__(self, threads: Sequence[FetcherThread], stall_after: float, counters: Counters):
        self._threads = threads
        self._stall_after = stall_after
        self._counters = counters
        self._reported: dict[str, float] = {}

    def check(self) -> list[str]:
        """Report the stuck fetchers now; returns their names."""
        now = time.monotonic()
        stuck = []
        frames: dict[int, FrameType] | None = None
        for thread in self._threads:
            since, url = thread.busy_since, thread.busy_with
            if since is None or now - since < self._stall_after:
                continue
            if self._reported.get(thread.name) == since:
                continue
            self._reported[thread.name] = since
            stuck.append(thread.name)
            with self._counters.lock:
                self._counters.stalls += 1
            if frames is None:
                frames = _current_frames()
            frame = frames.get(thread.ident or -1)
            stack = "".join(traceback.format_stack(frame, limit=8)) if frame else ""
            logger.warning(
                "%s has made no progress for %.0f s on %s\n%s",
                thread.name,
                now - since,
                clean_text(url or "?", 300),
                stack,
            )
        return stuck


def _current_frames() -> dict[int, FrameType]:
    """`sys._current_frames()` with the garbage collector paused, asked only for a stuck thread.

    On CPython 3.11 it builds its dict while holding the interpreter's lock on the thread list;
    a collection inside it can run a finalizer (urllib3 closing a dropped pool's sockets) that
    releases the GIL, and a thread exiting meanwhile takes the GIL and then waits for that lock:
    both wait for ever. The stress runs of issue 11 caught exactly this (main thread in a
    finalizer's `socket.close` under `Watchdog.check`, every other thread waiting) twice.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return sys._current_frames()
    finally:
        if paused:
            gc.enable()


def _snapshot(services: Services) -> Snapshot:
    errors = services.recorder.error_count()
    return Snapshot(
        done=services.storage.records,
        discovered=services.frontier.stats().admitted,
        errors=errors,
        bytes=services.storage.bytes,
    )


def _teardown(frontier: Frontier | None, threads: list[FetcherThread], pool: ParserPool) -> None:
    """Stop threads and processes, each step bounded by one shared deadline; log and go on."""
    deadline = time.monotonic() + JOIN_BUDGET
    if frontier is not None:
        try:
            frontier.release_workers(len(threads))
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    logger.error("%s did not stop in time", thread.name)
        except Exception:
            logger.exception("stopping the fetcher threads failed")
        try:
            frontier.close()
        except Exception:
            logger.exception("closing the frontier failed")
    try:
        pool.close(timeout=max(1.0, deadline - time.monotonic()))
    except Exception:
        logger.exception("closing the parser pool failed")


def _finish(
    config: Config,
    seeds: Sequence[str],
    services: Services,
    pool: ParserPool,
    exit_reason: ExitReason,
    started: float,
    started_at: str,
    bad_seeds: Sequence[str],
    earlier: int = 0,
) -> Summary:
    storage, frontier, counters = services.storage, services.frontier, services.counters
    seconds = time.monotonic() - started
    shelved = frontier.shelved()
    errors = services.recorder.errors()
    with counters.lock:
        requests, retried, faults = counters.requests, counters.retried, counters.internal_faults
        stalls = counters.stalls
    pages = storage.records
    summary = Summary(
        exit_reason=exit_reason,
        pages=pages,
        ok=pages - sum(errors.values()),
        errors=errors,
        bytes=storage.bytes,
        seconds=round(seconds, 3),
        pages_per_second=round((pages - earlier) / seconds, 2) if seconds > 0 else 0.0,
        admitted=frontier.stats().admitted,
        pending=len(shelved),
        requests=requests,
        retried=retried,
        parser_restarts=pool.restarts,
        internal_faults=faults,
        stalls=stalls,
        started_at=started_at,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seeds=list(seeds),
    )
    try:
        data: dict[str, Any] = asdict(summary)
        data["version"] = __version__
        data["bad_seeds"] = list(bad_seeds)
        # 10,000 seeds are not a summary: their number, the first few (the rest are in state.db).
        data["seed_count"] = len(seeds)
        data["seeds"] = [redact(seed) for seed in seeds[:SUMMARY_SEEDS]]
        data["config"] = config.to_json()
        data["frontier"] = asdict(frontier.stats())
        try:
            storage.write_json(SUMMARY_FILE, data)
        except OSError as exc:
            trouble = output_trouble(exc)
            if trouble is None:
                raise
            logger.error("%s not written: %s", SUMMARY_FILE, trouble)
    finally:
        storage.close()
    return summary
