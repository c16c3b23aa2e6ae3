"""Process-level measurements for the benchmark: peak RSS of a process tree, CPU of children.

`RssSampler` is a thread that every 50 ms reads the resident set size of a root process and of
all its descendants from /proc (statm; the tree is found through the parent pid in
/proc/PID/stat, looked up every tenth sample since a crawl starts its processes once), keeping
the peak of the root alone and the peak of the sum. It measures its own CPU time so that the
caller can take it out of the main process's figure.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterable

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid`, or 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process so far (from /proc, 1/CLK_TCK resolution)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            parents[int(name)] = int(fields[1])
    return parents


def descendants(root: int, exclude: Iterable[int] = ()) -> list[int]:
    """Every live descendant of `root`, leaving out the subtrees of `exclude`."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    skip = set(exclude)
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in skip:
                found.append(child)
                stack.append(child)
    return found


class RssSampler(threading.Thread):
    """Samples the RSS of `root` and of its process tree until `stop()`; keeps the peaks."""

    def __init__(
        self, root: int | None = None, *, exclude: Iterable[int] = (), interval: float = 0.05
    ) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.root = root if root is not None else os.getpid()
        self.exclude = set(exclude)
        self.interval = interval
        self.peak_root = 0
        self.peak_tree = 0
        self.most_processes = 0
        self.samples = 0
        self.cpu = 0.0
        self.rescan_every = 10
        self._pids: list[int] = []
        self._stop_event = threading.Event()

    def sample(self) -> None:
        """Take one sample now (the process tree is looked up again every tenth sample)."""
        if self.samples % self.rescan_every == 0:
            self._pids = descendants(self.root, self.exclude)
        pids = self._pids
        own = rss_bytes(self.root)
        total = own + sum(rss_bytes(p) for p in pids)
        self.peak_root = max(self.peak_root, own)
        self.peak_tree = max(self.peak_tree, total)
        self.most_processes = max(self.most_processes, 1 + len(pids))
        self.samples += 1

    def run(self) -> None:
        started = time.thread_time()
        try:
            self.sample()
            while not self._stop_event.wait(self.interval):
                self.sample()
        finally:
            self.cpu = time.thread_time() - started

    def stop(self) -> RssSampler:
        """Stop sampling (bounded join) after one last sample; returns self."""
        self._stop_event.set()
        self.join(timeout=5)
        return self

    def __enter__(self) -> RssSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def machine_cpu() -> float:
    """CPU seconds every process on the machine has used since boot (/proc/stat, all CPUs).

    Its growth over a run, less the run's own CPU, is what other processes took meanwhile:
    on a shared machine that is the first thing to check when a figure looks off.
    """
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def wait_for_quiet(
    max_wait: float = 30.0, window: float = 1.0, threshold: float = 0.15
) -> tuple[float, float]:
    """Wait until the machine is nearly idle for `window` seconds (under `threshold` cores busy),
    at most `max_wait` seconds; returns (seconds waited, cores busy in the last window).

    Call it while nothing of the benchmark is running: on a machine shared with other work a
    measurement that starts in the middle of someone's test run measures both.
    """
    started = time.monotonic()
    while True:
        before = machine_cpu()
        time.sleep(window)
        busy = (machine_cpu() - before) / window
        waited = time.monotonic() - started
        if busy < threshold or waited >= max_wait:
            return waited, busy


def children_cpu() -> float:
    """User + system CPU seconds of every child process reaped so far (RUSAGE_CHILDREN)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
