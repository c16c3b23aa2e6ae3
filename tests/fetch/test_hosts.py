"""crawler.fetch.hosts: per-host permits, politeness clock and parked items."""

from __future__ import annotations

import os
import threading
import time
from collections import deque

import pytest

from crawler.fetch.hosts import Grant, HostSlot, HostSlots
from crawler.messages import WorkItem

# Give up the GIL while a permit is held, so that other threads really contend for the slot.
_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


def item(n: int | str) -> WorkItem:
    url = f"http://127.0.0.1:8000/p{n}"
    return WorkItem(url, depth=1, parent="http://127.0.0.1:8000/", seed="http://127.0.0.1:8000/")


# -- permits and parking -------------------------------------------------------------------


def test_per_host_two_grants_then_parks():
    slot = HostSlot("127.0.0.1:8000", per_host=2)
    a, b, c = item("a"), item("b"), item("c")

    assert slot.try_acquire(a, now=0.0) is Grant.GO
    assert slot.try_acquire(b, now=0.0) is Grant.GO
    assert slot.active == 2
    assert slot.try_acquire(c, now=0.0) is Grant.PARKED
    assert slot.active == 2
    assert list(slot.parked) == [c]

    assert slot.release() is c  # the releaser hands the parked item back
    assert slot.active == 1
    assert not slot.parked
    assert slot.release() is None
    assert slot.active == 0


def test_parked_items_come_back_in_fifo_order():
    slot = HostSlot("h", per_host=1)
    assert slot.try_acquire(item(0), 0.0) is Grant.GO
    waiting = [item(i) for i in range(1, 4)]
    for w in waiting:
        assert slot.try_acquire(w, 0.0) is Grant.PARKED
    assert slot.release() is waiting[0]
    # The permit is free again: the handed-back item gets it.
    assert slot.try_acquire(waiting[0], 0.0) is Grant.GO
    assert slot.release() is waiting[1]


def test_release_frees_a_permit():
    slot = HostSlot("h", per_host=1)
    assert slot.try_acquire(item(1), 0.0) is Grant.GO
    slot.release()
    assert slot.try_acquire(item(2), 0.0) is Grant.GO


def test_double_release_raises_value_error():
    slot = HostSlot("h", per_host=2)
    assert slot.try_acquire(item(1), 0.0) is Grant.GO
    slot.release()
    with pytest.raises(ValueError):
        slot.release()


def test_release_without_acquire_raises_value_error():
    with pytest.raises(ValueError):
        HostSlot("h", per_host=1).release()


# -- politeness ----------------------------------------------------------------------------


def test_delay_spaces_request_starts():
    slot = HostSlot("h", per_host=2, delay=1.0)

    assert slot.try_acquire(item(1), now=0.0) is Grant.GO
    assert slot.next_allowed_at == 1.0
    assert slot.try_acquire(item(2), now=0.5) is Grant.LATER
    # LATER neither takes a permit nor parks the item.
    assert slot.active == 1
    assert not slot.parked
    assert slot.try_acquire(item(2), now=1.0) is Grant.GO
    assert slot.next_allowed_at == 2.0
    assert slot.active == 2


def test_later_is_answered_before_parking():
    slot = HostSlot("h", per_host=1, delay=1.0)
    assert slot.try_acquire(item(1), 0.0) is Grant.GO
    assert slot.try_acquire(item(2), 0.5) is Grant.LATER
    assert not slot.parked
    assert slot.try_acquire(item(2), 1.0) is Grant.PARKED


def test_no_delay_leaves_clock_alone():
    slot = HostSlot("h", per_host=4)
    for i in range(4):
        assert slot.try_acquire(item(i), now=100.0) is Grant.GO
    assert slot.next_allowed_at == 0.0


@pytest.mark.parametrize(
    ("delay", "crawl_delay", "expected"),
    [(1.0, 3.0, 3.0), (2.0, 0.5, 2.0), (0.0, 1.5, 1.5)],
)
def test_larger_of_delay_and_crawl_delay_wins(delay, crawl_delay, expected):
    slot = HostSlot("h", per_host=2, delay=delay)
    slot.crawl_delay = crawl_delay
    assert slot.try_acquire(item(1), now=10.0) is Grant.GO
    assert slot.next_allowed_at == 10.0 + expected
    assert slot.try_acquire(item(2), now=10.0 + expected - 0.01) is Grant.LATER
    assert slot.try_acquire(item(2), now=10.0 + expected) is Grant.GO


# -- concurrency ---------------------------------------------------------------------------


def test_stress_never_more_than_per_host_active_and_nothing_stranded():
    per_host, threads, cycles = 3, 16, 500
    slot = HostSlot("h", per_host=per_host)
    lock = threading.Lock()
    state = {"active": 0, "max": 0, "went": 0, "parked": 0}
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def attempt(it: WorkItem, pending: deque[WorkItem]) -> None:
        if slot.try_acquire(it, now=0.0) is not Grant.GO:
            with lock:
                state["parked"] += 1
            return  # parked: a releaser will hand it back
        with lock:
            state["active"] += 1
            state["went"] += 1
            state["max"] = max(state["max"], state["active"])
        _yield()
        with lock:
            state["active"] -= 1
        handed_back = slot.release()
        if handed_back is not None:
            pending.append(handed_back)

    def worker(index: int) -> None:
        try:
            pending: deque[WorkItem] = deque()
            barrier.wait(timeout=10)
            for n in range(cycles):
                if pending:
                    attempt(pending.popleft(), pending)
                attempt(item(f"{index}-{n}"), pending)
            while pending:
                attempt(pending.popleft(), pending)
        except BaseException as exc:
            errors.append(exc)
            raise  # also reported by pytest's thread hook

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in pool), "stress threads did not finish"
    assert not errors, errors

    assert 1 <= state["max"] <= per_host
    assert state["parked"] > 0, "no contention: the stress test exercised nothing"
    assert state["active"] == 0
    assert slot.active == 0
    assert not slot.parked
    # Every item got its turn exactly once: none stranded, none run twice.
    assert state["went"] == threads * cycles
    # All permits are free again.
    for i in range(per_host):
        assert slot.try_acquire(item(f"end-{i}"), 0.0) is Grant.GO


# -- registry ------------------------------------------------------------------------------


def test_host_slots_get_is_per_key():
    clock = lambda: 42.0  # noqa: E731
    slots = HostSlots(per_host=3, delay=0.25, clock=clock)

    a = slots.get("a.example:80")
    assert slots.get("a.example:80") is a
    b = slots.get("b.example")
    assert b is not a
    assert len(slots) == 2
    assert (a.key, a.per_host, a.delay) == ("a.example:80", 3, 0.25)
    assert slots.clock() == 42.0


def test_host_slots_get_is_thread_safe():
    slots = HostSlots(per_host=1)
    barrier = threading.Barrier(8)
    got: list[HostSlot] = []
    lock = threading.Lock()

    def grab() -> None:
        barrier.wait(timeout=10)
        s = slots.get("same")
        with lock:
            got.append(s)

    pool = [threading.Thread(target=grab) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=10)
    assert len(got) == 8
    assert all(s is got[0] for s in got)
    assert len(slots) == 1


def test_idle_slots_are_collected_in_a_crawl_of_many_hosts():
    now = [0.0]
    slots = HostSlots(per_host=1, clock=lambda: now[0], max_slots=10, idle_after=5.0)
    busy = slots.get("busy")
    assert busy.try_acquire(item("busy"), now[0]) is Grant.GO
    parked = slots.get("parked")
    assert parked.try_acquire(item("p1"), now[0]) is Grant.GO
    assert parked.try_acquire(item("p2"), now[0]) is Grant.PARKED
    assert parked.release() is not None  # p2 handed back; the host is free but p2 is due
    polite = slots.get("polite")
    polite.delay = 1000.0
    assert polite.try_acquire(item("polite"), now[0]) is Grant.GO
    polite.release()  # idle, but may not be asked again for 1000 s: forgetting it would cheat
    for n in range(1000):
        now[0] += 1.0
        slots.get(f"host-{n}")
    assert len(slots) <= 20  # bounded: about twice max_slots at most
    assert slots.collected >= 980
    # The busy and the polite slots are the same objects as before.
    assert slots.get("busy") is busy
    assert slots.get("polite") is polite


def test_a_recently_used_slot_is_not_collected():
    now = [0.0]
    slots = HostSlots(per_host=1, clock=lambda: now[0], max_slots=2, idle_after=5.0)
    a = slots.get("a")
    slots.get("b")
    now[0] = 3.0
    slots.get("c")  # a and b were used 3 s ago: too recent to forget
    assert slots.get("a") is a
