"""ParserPool: real spawned parser processes, one Pipe each, replaced when they die or hang."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import wait
from pathlib import Path

import pytest

from crawler.messages import ParseJob, ParseResult
from crawler.parse.pool import ParserPool

PROC = Path("/proc")
needs_proc = pytest.mark.skipif(not PROC.is_dir(), reason="needs Linux /proc")


def page(n: int, links: int = 5) -> ParseJob:
    """Job `n`: a small page on its own host with `links` links and a title naming `n`."""
    anchors = "".join(f'<a href="/p{n}/l{i}">{i}</a>' for i in range(links))
    body = f"<html><head><title>Page {n}</title></head><body>{anchors}</body></html>"
    return ParseJob(n, f"http://h{n}.example/", body.encode(), "text/html")


def expected_links(n: int, links: int = 5) -> tuple[str, ...]:
    """What page(n, links) links to."""
    return tuple(f"http://h{n}.example/p{n}/l{i}" for i in range(links))


def big_page(job_id: int, size: int = 2_000_000) -> ParseJob:
    """A page of about `size` bytes made of distinct links (seconds of work for bs4)."""
    parts: list[str] = []
    total = 0
    i = 0
    while total < size:
        anchor = f'<a href="/big/{i}">link number {i}</a>\n'
        parts.append(anchor)
        total += len(anchor)
        i += 1
    body = "<html><body>" + "".join(parts) + "</body></html>"
    return ParseJob(job_id, "http://big.example/", body.encode(), "text/html")


def parent_pid_of(pid: int) -> int | None:
    """The PPid of `pid` from /proc, or None if there is no such (un-reaped or live) process."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return None


def process_state(pid: int) -> str | None:
    """The one-letter state of `pid` (R, S, Z, ...) or None if the pid is gone."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return None


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a running (not zombie, not reaped) process."""
    state = process_state(pid)
    return state is not None and state != "Z"


@pytest.fixture
def pool() -> Iterator[ParserPool]:
    with ParserPool(1, parse_timeout=30.0) as p:
        yield p


@pytest.fixture
def pool2() -> Iterator[ParserPool]:
    with ParserPool(2, parse_timeout=30.0) as p:
        yield p


def test_pool_parses_a_page(pool: ParserPool) -> None:
    result = pool.parse(page(7))
    assert result == ParseResult(7, expected_links(7), "Page 7", False, None)
    assert pool.parsed == 1
    assert pool.restarts == 0


def test_pool_reports_nofollow(pool: ParserPool) -> None:
    body = b'<meta name="robots" content="none"><a href="/x">x</a>'
    result = pool.parse(ParseJob(3, "http://a.example/", body, "text/html"))
    assert result.job_id == 3
    assert result.links == ()
    assert result.nofollow is True
    assert result.error is None


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ParserPool(0)


@needs_proc
def test_pids_are_live_children_of_this_process(pool2: ParserPool) -> None:
    pids = pool2.pids()
    assert len(pids) == 2
    assert len(set(pids)) == 2
    assert os.getpid() not in pids
    for pid in pids:
        assert parent_pid_of(pid) == os.getpid()
        assert pid_alive(pid)


@needs_proc
def test_killed_child_is_replaced_and_the_page_still_parses(pool: ParserPool) -> None:
    assert pool.parse(page(1)).error is None  # the child is up and serving
    [old] = pool.pids()
    [parser] = pool._all
    os.kill(old, signal.SIGKILL)
    assert wait([parser.process.sentinel], timeout=10)  # bounded: the kill has landed

    result = pool.parse(page(2))

    assert result.error is None
    assert result.job_id == 2
    assert result.links == expected_links(2)
    assert pool.restarts == 1
    [new] = pool.pids()
    assert new != old
    assert pid_alive(new)
    assert parent_pid_of(new) == os.getpid()
    assert process_state(old) is None  # the dead child was reaped, not left a zombie
    # and the replacement keeps working
    assert pool.parse(page(3)).links == expected_links(3)
    assert pool.restarts == 1


@needs_proc
def test_child_killed_before_its_first_parse(pool: ParserPool) -> None:
    [old] = pool.pids()
    os.kill(old, signal.SIGKILL)
    result = pool.parse(page(4))
    assert result.error is None
    assert result.links == expected_links(4)
    assert pool.restarts == 1
    assert pool.pids() != [old]


@needs_proc
def test_parse_timeout_kills_and_replaces_the_child() -> None:
    job = big_page(99)
    assert len(job.body) >= 2_000_000
    with ParserPool(1, parse_timeout=0.0001) as pool:
        [old] = pool.pids()
        [old_process] = [p.process for p in pool._all]
        started = time.monotonic()
        result = pool.parse(job)
        elapsed = time.monotonic() - started

        assert result.job_id == 99
        assert result.links == ()
        assert result.error is not None
        assert "longer than" in result.error
        assert "0.0001 s" in result.error
        assert elapsed < 10  # the caller was not kept waiting for the parse itself
        assert pool.restarts == 1
        [new] = pool.pids()
        assert new != old
        assert not old_process.is_alive()  # killed and joined before parse returned
        assert process_state(old) is None

        # The replacement is a working parser: give it a timeout it can meet (the only way
        # to change the timeout of a live pool is its private attribute).
        pool._timeout = 30.0
        result = pool.parse(page(5))
        assert result.error is None
        assert result.links == expected_links(5)
        assert pool.pids() == [new]
        assert pool.restarts == 1


def test_parse_after_close_raises() -> None:
    pool = ParserPool(1).start()
    assert pool.parse(page(1)).error is None
    pool.close()
    with pytest.raises(RuntimeError):
        pool.parse(page(2))


def test_parse_after_context_exit_raises() -> None:
    with ParserPool(1) as pool:
        pass
    with pytest.raises(RuntimeError):
        pool.parse(page(2))


def test_pool_cannot_be_pickled(pool: ParserPool) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(pool)
    with pytest.raises(TypeError):
        pickle.dumps(ParserPool(1))  # not started: still refused


@needs_proc
def test_close_leaves_no_live_child() -> None:
    pool = ParserPool(2).start()
    assert pool.parse(page(1)).error is None
    processes = [p.process for p in pool._all]
    pids = pool.pids()
    assert len(processes) == 2
    assert all(p.is_alive() for p in processes)

    started = time.monotonic()
    pool.close(timeout=5.0)

    assert time.monotonic() - started < 5.0  # they stopped on the sentinel, not on a kill
    assert pool.pids() == []
    assert not any(p.is_alive() for p in processes)
    assert all(p.exitcode == 0 for p in processes)
    for pid in pids:
        assert process_state(pid) is None  # reaped: not even a zombie


@needs_proc
def test_close_after_a_restart_stops_the_replacement_too(pool: ParserPool) -> None:
    [old] = pool.pids()
    os.kill(old, signal.SIGKILL)
    assert pool.parse(page(1)).error is None
    [new] = pool.pids()
    assert pid_alive(new)
    pool.close()
    assert process_state(new) is None  # close joined it
    assert process_state(old) is None


def test_close_twice_is_harmless(pool: ParserPool) -> None:
    pool.close()
    pool.close()
    assert pool.pids() == []


def test_concurrent_parses_get_their_own_results(pool2: ParserPool) -> None:
    threads, per_thread = 8, 25
    barrier = threading.Barrier(threads)

    def work(t: int) -> list[tuple[int, ParseResult]]:
        barrier.wait(timeout=10)
        out = []
        for k in range(per_thread):
            n = t * 1000 + k
            out.append((n, pool2.parse(page(n, links=1 + n % 7))))
        return out

    with ThreadPoolExecutor(threads) as executor:
        futures = [executor.submit(work, t) for t in range(threads)]
        results = [pair for f in futures for pair in f.result(timeout=60)]

    assert len(results) == threads * per_thread
    for n, result in results:
        assert result.error is None, result.error
        assert result.job_id == n
        assert result.title == f"Page {n}"
        assert result.links == expected_links(n, links=1 + n % 7)
    assert pool2.parsed == threads * per_thread
    assert pool2.restarts == 0
    assert len(pool2.pids()) == 2


def test_a_job_frame_round_trips_its_body_as_is() -> None:
    body = bytes(range(256)) * 100 + b"<a href='/x'>"
    job = ParseJob(2**40, "http://h.example/caf%C3%A9?q=1", body, "text/html; charset=é")
    frame = job.to_bytes()
    assert body in frame  # the body travels as is, not pickled
    assert ParseJob.from_bytes(frame) == job


@pytest.mark.parametrize("backend", ["selectolax", "bs4"])
def test_the_backend_and_robots_names_reach_the_child(backend: str) -> None:
    body = (
        b'<title>r</title><meta name="Crawl" content="noindex, max-snippet:0">'
        b'<meta name="otherbot" content="nofollow"><template><a href="/t">t</a></template>'
    )
    job = ParseJob(1, "http://h.example/", body, "text/html")
    with ParserPool(1, backend=backend, robots_names=("robots", "crawl")) as pool:
        result = pool.parse(job)
    assert result.error is None
    assert result.robots == ("noindex", "max-snippet:0")
    # selectolax leaves <template> contents out (as HTML says), bs4 does not: which ran shows.
    assert result.links == (() if backend == "selectolax" else ("http://h.example/t",))


def test_an_unknown_backend_is_refused_before_any_process_starts() -> None:
    with pytest.raises(ValueError, match="unknown parser backend"):
        ParserPool(1, backend="nope")


def test_a_thread_waiting_for_a_parser_returns_when_the_pool_closes() -> None:
    pool = ParserPool(1, parse_timeout=5).start()
    held = pool._idle.get(timeout=10)  # the only parser is busy (held by "another thread")
    got: list[ParseResult] = []
    waiter = threading.Thread(target=lambda: got.append(pool.parse(page(1))))
    try:
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive(), "parse() did not wait for a parser"
        pool.close(timeout=5)
        waiter.join(timeout=10)  # it polls every IDLE_POLL s
        assert not waiter.is_alive(), "parse() still waits on a closed pool"
    finally:
        pool._idle.put(held)
        pool.close(timeout=5)
    (result,) = got
    assert result.error is not None and "closed" in result.error


def test_a_thread_waits_for_a_parser_at_most_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ParserPool(1, parse_timeout=0.1).start()
    monkeypatch.setattr(pool, "_idle_wait", 0.5)
    held = pool._idle.get(timeout=10)
    try:
        started = time.monotonic()
        result = pool.parse(page(2))
        assert time.monotonic() - started < 5
    finally:
        pool._idle.put(held)
        pool.close(timeout=5)
    assert result.error == "no parser process was free within 0.5 s"
