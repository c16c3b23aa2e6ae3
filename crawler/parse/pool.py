"""Stage 4 of 5: ParseJob -> ParseResult, in a pool of parser processes.

    fetcher thread --borrow--> idle queue of _Parser --send_bytes(job frame)--> Pipe --> child
    fetcher thread <--recv(links and metadata, a tuple)-- Pipe <-------------------------'
                   --return--> idle queue

The page goes as bytes (ParseJob.to_bytes), never pickled; only links and metadata come back.

Processes come from an explicit spawn context (what Windows and frozen executables use) and are
started before any thread. Each has its own Pipe; an end is lent to one thread at a time, so no
two threads ever use one end together. A thread waits on the pipe *and* the process sentinel: a
child that dies is reaped and replaced and the page is sent once more; a child that takes longer
than `parse_timeout` is killed and replaced and the page is recorded as a parse error.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext, SpawnProcess

from ..messages import ParseJob, ParseResult
from . import child
from .backends import get_backend
from .extract import ROBOTS_META

logger = logging.getLogger(__name__)

IDLE_POLL = 0.5  # how often a thread waiting for an idle parser looks whether the pool closed


class _Outcome(enum.Enum):
    """How one exchange with a parser process ended."""

    OK = "ok"  # a result for this job came back
    DIED = "died"  # the process ended, the pipe broke, or the answer was out of step
    TIMEOUT = "timeout"  # no answer within parse_timeout


@dataclass(slots=True)
class _Parser:
    process: SpawnProcess
    conn: Connection


class ParserPool:
    """`size` parser processes, each fed through its own Pipe."""

    def __init__(
        self,
        size: int,
        *,
        parse_timeout: float = 30.0,
        ctx: SpawnContext | None = None,
        backend: str | None = None,
        robots_names: Collection[str] = (ROBOTS_META,),
    ) -> None:
        if size < 1:
            raise ValueError("ParserPool needs at least one process")
        if backend is not None:
            get_backend(backend)  # an unknown name fails here, not in every child
        self._backend = backend
        self._names = tuple(robots_names)
        self._size = size
        self._timeout = parse_timeout
        # How long a fetcher waits for an idle parser before its page gets a parse error.
        self._idle_wait = parse_timeout * 4 + 10
        self._ctx = ctx or multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Parser] = queue.Queue()
        self._lock = threading.Lock()
        self._all: list[_Parser] = []
        self._closed = False
        self.restarts = 0
        self.parsed = 0

    def __reduce__(self) -> object:
        raise TypeError("ParserPool cannot be pickled: it owns processes and pipes")

    def start(self) -> ParserPool:
        """Start every process (call before starting any thread)."""
        for _ in range(self._size):
            self._idle.put(self._spawn())
        return self

    def _spawn(self) -> _Parser:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=child.main,
            args=(child_end, self._backend, self._names),
            name="crawl-parser",
            daemon=True,
        )
        process.start()
        child_end.close()  # the child holds its own copy; ours would hide EOF
        parser = _Parser(process, parent_end)
        with self._lock:
            self._all.append(parser)
        return parser

    def _replace(self, parser: _Parser) -> _Parser:
        self._reap(parser)
        with self._lock:
            self._all.remove(parser)
            self.restarts += 1
        logger.warning(
            "parser process %s ended (exit code %s); starting another",
            parser.process.pid,
            parser.process.exitcode,
        )
        return self._spawn()

    @staticmethod
    def _reap(parser: _Parser) -> None:
        if parser.process.is_alive():
            parser.process.kill()
        parser.process.join(timeout=5)
        parser.conn.close()

    def pids(self) -> list[int]:
        """The pids of the live parser processes (for tests and diagnostics)."""
        with self._lock:
            return [p.process.pid for p in self._all if p.process.pid is not None]

    def parse(self, job: ParseJob) -> ParseResult:
        """Parse one page in some parser process; failures come back as ParseResult.error."""
        if self._closed:
            raise RuntimeError("ParserPool.parse after close")
        parser = self._borrow()
        if parser is None:
            reason = "the parser pool closed" if self._closed else "no parser process was free"
            return ParseResult(job.job_id, error=f"{reason} within {self._idle_wait:g} s")
        try:
            for attempt in (1, 2):
                outcome, result = self._exchange(parser, job)
                if outcome is _Outcome.OK:
                    assert result is not None
                    with self._lock:
                        self.parsed += 1
                    return result
                parser = self._replace(parser)
                if outcome is _Outcome.TIMEOUT:
                    return ParseResult(
                        job.job_id, error=f"parser took longer than {self._timeout:g} s"
                    )
                if attempt == 2:
                    return ParseResult(job.job_id, error="parser process died twice on this page")
            raise AssertionError("unreachable")
        finally:
            self._idle.put(parser)

    def _borrow(self) -> _Parser | None:
        """An idle parser, or None once the pool is closed or after `_idle_wait` seconds: a
        holder gives its parser back within two parse timeouts, so only a pool that lost its
        processes (or is closing) makes a thread wait that long."""
        deadline = time.monotonic() + self._idle_wait
        while not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                return self._idle.get(timeout=min(remaining, IDLE_POLL))
            except queue.Empty:
                continue
        return None

    def _exchange(self, parser: _Parser, job: ParseJob) -> tuple[_Outcome, ParseResult | None]:
        try:
            parser.conn.send_bytes(job.to_bytes())
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            return _Outcome.DIED, None
        deadline = time.monotonic() + self._timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _Outcome.TIMEOUT, None
            ready = wait([parser.conn, parser.process.sentinel], timeout=remaining)
            if parser.conn in ready:
                try:
                    fields = parser.conn.recv()
                    result = ParseResult(*fields)
                except (EOFError, OSError, TypeError):
                    return _Outcome.DIED, None
                if result.job_id == job.job_id:
                    return _Outcome.OK, result
                return _Outcome.DIED, None  # out of step: start afresh
            if parser.process.sentinel in ready:
                return _Outcome.DIED, None

    def close(self, timeout: float = 5.0) -> None:
        """Stop every process: an empty frame, then a bounded join, then kill."""
        self._closed = True
        deadline = time.monotonic() + timeout
        with self._lock:
            parsers = list(self._all)
            self._all.clear()
        for parser in parsers:
            with contextlib.suppress(BrokenPipeError, OSError):
                parser.conn.send_bytes(b"")
        for parser in parsers:
            parser.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if parser.process.is_alive():
                logger.warning("parser process %s did not stop; killing it", parser.process.pid)
                parser.process.kill()
                parser.process.join(timeout=1)
            parser.conn.close()

    def __enter__(self) -> ParserPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
