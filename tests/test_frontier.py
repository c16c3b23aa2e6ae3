"""crawler.frontier.memory: admission rules, the visited set, task accounting, defer/stop/close."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from crawler.config import (
    DEFAULT_MAX_BYTES,
    DEFAULT_PER_HOST,
    DEFAULT_RETRIES,
    DEFAULT_THREADS,
    DEFAULT_TIMEOUT,
    Config,
)
from crawler.frontier import MemoryFrontier as Frontier
from crawler.messages import WorkItem

SEED = "http://a.example.com/"


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(output=tmp_path)


def make(tmp_path: Path, **options) -> Config:
    return Config(output=tmp_path, **options)


def take_within(frontier: Frontier, timeout: float = 5.0) -> WorkItem | None:
    """frontier.take() in a helper thread, so a missing item fails the test instead of hanging."""
    box: list[WorkItem | None] = []
    thread = threading.Thread(target=lambda: box.append(frontier.take()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert box, f"take() returned nothing within {timeout} s"
    return box[0]


def nudge(frontier: Frontier) -> None:
    """Wake the timer thread after a fake clock was moved (it sleeps on a real timeout)."""
    with frontier._timer_cond:
        frontier._timer_cond.notify()


# -- config --------------------------------------------------------------------------------


def test_config_defaults(tmp_path):
    config = Config(output=tmp_path)
    assert config.output == tmp_path
    assert config.threads == DEFAULT_THREADS
    assert config.per_host == DEFAULT_PER_HOST
    assert config.timeout == DEFAULT_TIMEOUT
    assert config.max_bytes == DEFAULT_MAX_BYTES
    assert config.retries == DEFAULT_RETRIES
    assert config.depth is None
    assert config.max_pages is None
    assert config.scope == "host"
    assert config.allow == () and config.deny == ()
    assert config.allow_re == () and config.deny_re == ()
    assert config.delay == 0.0
    assert config.ignore_robots is False
    with pytest.raises(AttributeError):
        config.depth = 3  # type: ignore[misc]


def test_config_compiles_patterns(tmp_path):
    config = make(tmp_path, allow=(r"/blog/",), deny=(r"\.pdf$",))
    assert [p.pattern for p in config.allow_re] == [r"/blog/"]
    assert [p.pattern for p in config.deny_re] == [r"\.pdf$"]


# -- admission -----------------------------------------------------------------------------


def test_seed_is_admitted_as_a_work_item(config):
    with Frontier(config) as frontier:
        assert frontier.admit(SEED, 0, None, SEED) is True
        assert frontier.seen(SEED)
        assert frontier.take() == WorkItem(SEED, 0, None, SEED)
        stats = frontier.stats()
        assert (stats.admitted, stats.deduped, stats.refused) == (1, 0, 0)


def test_seeds_bypass_the_rules(tmp_path):
    config = make(tmp_path, depth=0, deny=(r"\.example\.com",), allow=(r"^nothing$",))
    with Frontier(config) as frontier:
        # A seed at a depth over the limit, matching --deny and not --allow: still admitted.
        assert frontier.admit(SEED, 5, None, SEED) is True
        # The same URL found as a link would be refused.
        link = "http://a.example.com/x"
        assert frontier.admit(link, 1, SEED, SEED) is False
        assert frontier.stats().refused == 1


def test_admit_dedupes(config):
    with Frontier(config) as frontier:
        assert frontier.admit(SEED, 0, None, SEED) is True
        assert frontier.admit(SEED, 0, None, SEED) is False
        assert frontier.admit(SEED, 1, SEED, SEED) is False
        stats = frontier.stats()
        assert (stats.admitted, stats.deduped, stats.queued) == (1, 2, 1)


def test_visited_set_given_at_start_is_respected(config):
    done_before = {"http://a.example.com/old"}
    with Frontier(config, visited=done_before) as frontier:
        assert frontier.seen("http://a.example.com/old")
        assert frontier.admit("http://a.example.com/old", 1, SEED, SEED) is False
        assert frontier.stats().deduped == 1
    assert done_before == {"http://a.example.com/old"}  # the caller's set is not mutated


def test_admit_is_test_and_set_across_threads(tmp_path):
    threads, count = 16, 1000
    urls = [f"http://a.example.com/p{i}" for i in range(count)]
    barrier = threading.Barrier(threads)
    wins: list[list[str]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    with Frontier(make(tmp_path)) as frontier:

        def admit_all(index: int) -> None:
            try:
                order = urls if index % 2 else list(reversed(urls))
                barrier.wait(timeout=10)
                for url in order:
                    if frontier.admit(url, 1, SEED, SEED):
                        wins[index].append(url)
            except BaseException as exc:
                errors.append(exc)
                raise  # also reported by pytest's thread hook

        pool = [threading.Thread(target=admit_all, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in pool)
        assert not errors, errors

        admitted = [url for won in wins for url in won]
        assert len(admitted) == count
        assert sorted(admitted) == sorted(urls)  # each exactly once
        stats = frontier.stats()
        assert stats.admitted == count
        assert stats.deduped == threads * count - count
        assert stats.refused == 0
        assert stats.queued == count


def test_depth_rule(tmp_path):
    with Frontier(make(tmp_path, depth=1)) as frontier:
        assert frontier.admit("http://a.example.com/d1", 1, SEED, SEED) is True
        assert frontier.admit("http://a.example.com/d2", 2, SEED, SEED) is False
        assert frontier.stats().refused == 1
        assert not frontier.seen("http://a.example.com/d2")


@pytest.mark.parametrize(
    ("scope", "same_host", "sibling", "foreign"),
    [("host", True, False, False), ("domain", True, True, False), ("any", True, True, True)],
)
def test_scope(tmp_path, scope, same_host, sibling, foreign):
    with Frontier(make(tmp_path, scope=scope)) as frontier:
        assert frontier.admit(SEED, 0, None, SEED) is True
        assert frontier.admit("http://a.example.com/x", 1, SEED, SEED) is same_host
        assert frontier.admit("http://b.example.com/x", 1, SEED, SEED) is sibling
        assert frontier.admit("http://other.org/x", 1, SEED, SEED) is foreign


def test_host_scope_includes_port(tmp_path):
    with Frontier(make(tmp_path, scope="host")) as frontier:
        assert frontier.admit("http://a.example.com:8080/x", 1, SEED, SEED) is False


def test_allow_and_deny(tmp_path):
    config = make(tmp_path, scope="any", allow=(r"/blog/", r"/news/"), deny=(r"\.pdf$",))
    with Frontier(config) as frontier:
        assert frontier.admit("http://a.example.com/blog/1", 1, SEED, SEED) is True
        assert frontier.admit("http://other.org/news/2", 1, SEED, SEED) is True
        assert frontier.admit("http://a.example.com/shop/1", 1, SEED, SEED) is False
        assert frontier.admit("http://a.example.com/blog/paper.pdf", 1, SEED, SEED) is False
        assert frontier.stats().refused == 2


def test_deny_only(tmp_path):
    with Frontier(make(tmp_path, deny=(r"/private",))) as frontier:
        assert frontier.admit("http://a.example.com/public", 1, SEED, SEED) is True
        assert frontier.admit("http://a.example.com/private/x", 1, SEED, SEED) is False


def test_max_pages_counts_seeds(tmp_path):
    with Frontier(make(tmp_path, max_pages=2, scope="any")) as frontier:
        assert frontier.admit(SEED, 0, None, SEED) is True
        assert frontier.admit("http://b.example.com/", 0, None, "http://b.example.com/") is True
        assert frontier.admit("http://c.example.com/", 0, None, "http://c.example.com/") is False
        assert frontier.admit("http://a.example.com/x", 1, SEED, SEED) is False
        stats = frontier.stats()
        assert (stats.admitted, stats.refused) == (2, 2)
        # A refused URL is not marked visited.
        assert not frontier.seen("http://c.example.com/")


def test_claim_marks_visited(config):
    with Frontier(config) as frontier:
        target = "http://a.example.com/moved"
        assert frontier.claim(target) is True
        assert frontier.seen(target)
        assert frontier.claim(target) is False
        assert frontier.admit(target, 1, SEED, SEED) is False
        assert frontier.stats().admitted == 0


def test_claim_of_admitted_url_is_false(config):
    with Frontier(config) as frontier:
        frontier.admit(SEED, 0, None, SEED)
        assert frontier.claim(SEED) is False


# -- task accounting -----------------------------------------------------------------------


def test_take_done_then_wait(config):
    urls = [f"http://a.example.com/{i}" for i in range(20)]
    with Frontier(config) as frontier:
        for url in urls:
            assert frontier.admit(url, 0, None, url)
        assert frontier.wait(0.01) is False
        taken = [frontier.take() for _ in urls]
        assert [item.url for item in taken] == urls  # FIFO
        assert frontier.wait(0.01) is False  # taken but not done
        for _ in taken:
            frontier.done()
        assert frontier.wait(1) is True
        stats = frontier.stats()
        assert (stats.finished, stats.queued, stats.deferred) == (20, 0, 0)


def test_done_not_finished_is_not_counted(config):
    with Frontier(config) as frontier:
        frontier.admit(SEED, 0, None, SEED)
        frontier.take()
        frontier.done(finished=False)
        assert frontier.wait(1) is True
        assert frontier.stats().finished == 0


def test_requeue_keeps_one_task_open(config):
    with Frontier(config) as frontier:
        frontier.admit(SEED, 0, None, SEED)
        item = frontier.take()
        frontier.requeue(item.redirect("http://a.example.com/next"))
        assert frontier.wait(0.01) is False
        again = frontier.take()
        assert again.target == "http://a.example.com/next"
        assert again.url == SEED
        frontier.done()
        assert frontier.wait(1) is True


def test_deferred_item_comes_back_real_clock(config):
    with Frontier(config) as frontier:
        frontier.admit(SEED, 0, None, SEED)
        item = frontier.take()
        frontier.defer(item.retry(), time.monotonic() + 0.05)
        assert frontier.wait(0) is False

        again = take_within(frontier)
        assert again is not None
        assert (again.url, again.attempt) == (SEED, 2)
        assert frontier.wait(0.05) is False  # still open until done
        frontier.done()
        assert frontier.wait(1) is True


def test_deferred_item_waits_for_fake_clock(tmp_path):
    clock = FakeClock(0.0)
    with Frontier(make(tmp_path), clock=clock) as frontier:
        frontier.admit(SEED, 0, None, SEED)
        item = frontier.take()
        frontier.defer(item, 5.0)
        nudge(frontier)
        # The clock never moved: the item stays deferred however often the timer looks.
        stats = frontier.stats()
        assert (stats.deferred, stats.queued) == (1, 0)
        assert frontier.wait(0.05) is False

        clock.now = 5.0
        nudge(frontier)
        assert take_within(frontier) == item
        assert frontier.stats().deferred == 0
        assert frontier.wait(0.05) is False
        frontier.done()
        assert frontier.wait(1) is True


def test_deferred_items_come_back_in_time_order(tmp_path):
    clock = FakeClock(0.0)
    with Frontier(make(tmp_path, scope="any"), clock=clock) as frontier:
        urls = ["http://a.example.com/1", "http://a.example.com/2", "http://a.example.com/3"]
        for url in urls:
            frontier.admit(url, 0, None, url)
        items = [frontier.take() for _ in urls]
        for item, when in zip(items, (30.0, 10.0, 20.0), strict=True):
            frontier.defer(item, when)
        assert frontier.stats().deferred == 3
        clock.now = 100.0
        nudge(frontier)
        back = [take_within(frontier) for _ in urls]
        assert back == [items[1], items[2], items[0]]
        for _ in back:
            frontier.done()
        assert frontier.wait(1) is True


# -- stopping ------------------------------------------------------------------------------


def test_stop_shelves_new_admissions_and_shelve_closes_the_task(config):
    with Frontier(config) as frontier:
        frontier.admit(SEED, 0, None, SEED)
        frontier.stop()
        assert frontier.stopping is True

        late = "http://a.example.com/late"
        assert frontier.admit(late, 1, SEED, SEED) is True
        assert frontier.shelved() == [WorkItem(late, 1, SEED, SEED)]
        assert frontier.stats().queued == 1  # only the seed admitted before the stop

        item = frontier.take()
        assert item.url == SEED
        frontier.shelve(item)
        assert [i.url for i in frontier.shelved()] == [late, SEED]
        assert frontier.wait(1) is True
        assert frontier.stats().finished == 0


def test_stop_releases_deferred_items_at_once(tmp_path):
    clock = FakeClock(0.0)
    with Frontier(make(tmp_path), clock=clock) as frontier:
        frontier.admit(SEED, 0, None, SEED)
        item = frontier.take()
        frontier.defer(item, 1_000_000.0)
        frontier.stop()
        assert take_within(frontier) == item
        frontier.shelve(item)
        assert frontier.wait(1) is True


def test_release_workers_puts_sentinels(config):
    with Frontier(config) as frontier:
        frontier.release_workers(3)
        assert frontier.stats().queued == 3
        for _ in range(3):
            assert frontier.take() is None
            frontier.done(finished=False)
        assert frontier.stats().queued == 0
        assert frontier.wait(1) is True


def test_close_is_bounded_and_refuses_admit(config):
    frontier = Frontier(config)
    frontier.admit(SEED, 0, None, SEED)
    frontier.defer(frontier.take(), time.monotonic() + 3600)
    started = time.monotonic()
    frontier.close()
    assert time.monotonic() - started < 2.0
    assert not frontier._timer.is_alive()
    with pytest.raises(RuntimeError):
        frontier.admit("http://a.example.com/after", 1, SEED, SEED)
    frontier.close()  # idempotent


def test_context_manager_closes(config):
    with Frontier(config) as frontier:
        pass
    with pytest.raises(RuntimeError):
        frontier.admit(SEED, 0, None, SEED)
