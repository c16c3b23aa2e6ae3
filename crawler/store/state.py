"""The resume journal: every admitted URL and whether it is finished, in OUTPUT/state.db;
and the refusals, robots.txt bodies and options that `crawl why` reads (RefusalLog).

SQLite in WAL mode (embedded, no server): a row is written when a URL is admitted, before it is
queued, and marked done (in batches) after its crawl.jsonl line has been written and flushed.
A `kill -9` at any moment therefore leaves every admitted URL either done in crawl.jsonl or
pending here, and `--resume` crawls exactly the pending ones. crawl.jsonl is the authority on
what is finished: a URL whose line was written before the kill is done even if its row is not yet
marked (resume marks it).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..messages import WorkItem

STATE_FILE = "state.db"
FINISHED_BATCH = 200  # done marks written per transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS urls (
    url TEXT PRIMARY KEY,
    depth INTEGER NOT NULL,
    parent TEXT,
    seed TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
)
"""
# The file name given to each saved URL (store/paths.py), so --resume gives the same names.
_NAMES_SCHEMA = """
CREATE TABLE IF NOT EXISTS names (
    url TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    suffix TEXT NOT NULL DEFAULT ''
)
"""
# How each URL that was not simply a link was reached (requisite, sitemap), for --resume.
_KINDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS kinds (
    url TEXT PRIMARY KEY,
    kind TEXT NOT NULL
)
"""
# The options a crawl started with (name -> JSON value), so that --resume continues the same
# crawl whatever the new command line says; see crawler/resume_options.py.
_OPTIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS options (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""


def load_options(path: Path) -> dict[str, Any] | None:
    """The options stored in the state.db at `path`, or None (no file, or an older one)."""
    if not path.exists():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT name, value FROM options").fetchall()
    except sqlite3.OperationalError:  # no such table: a crawl from before options were kept
        return None
    finally:
        db.close()
    return {name: json.loads(value) for name, value in rows} or None


class Journal:
    """Admitted and finished URLs of one crawl, safe to use from many threads."""

    def __init__(self, path: Path, *, resume: bool = False) -> None:
        if not resume:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a committed row survives the process being killed (not a power cut), which
        # is what --resume promises, without an fsync per URL.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.execute(_OPTIONS_SCHEMA)
        self._db.execute(_NAMES_SCHEMA)
        self._db.execute(_KINDS_SCHEMA)
        self._closed = False
        self._finished: list[tuple[str]] = []  # done marks not yet written

    def admitted(self, item: WorkItem) -> None:
        """Record a newly admitted URL (call before it is queued)."""
        with self._lock:
            self._check()
            self._db.execute(
                "INSERT OR IGNORE INTO urls (url, depth, parent, seed) VALUES (?, ?, ?, ?)",
                (item.url, item.depth, item.parent, item.seed),
            )
            if item.kind != "link":
                self._db.execute(
                    "INSERT OR IGNORE INTO kinds (url, kind) VALUES (?, ?)", (item.url, item.kind)
                )

    def save_options(self, options: dict[str, Any], *, keep: bool = False) -> None:
        """Store the options the crawl runs with (`keep`: do not replace stored values)."""
        verb = "INSERT OR IGNORE" if keep else "INSERT OR REPLACE"
        rows = [(name, json.dumps(value)) for name, value in options.items()]
        with self._lock, self._db:
            self._check()
            self._db.execute("BEGIN")
            self._db.executemany(f"{verb} INTO options (name, value) VALUES (?, ?)", rows)

    def named(self, url: str, path: str, suffix: str) -> None:
        """Record the file name given to a URL (store/paths.py), before its body is written."""
        with self._lock:
            self._check()
            self._db.execute(
                "INSERT OR IGNORE INTO names (url, path, suffix) VALUES (?, ?, ?)",
                (url, path, suffix),
            )

    def names(self) -> list[tuple[str, str, str]]:
        """Every (url, path, suffix) recorded by `named`, in the order they were given."""
        with self._lock:
            self._check()
            rows = self._db.execute("SELECT url, path, suffix FROM names ORDER BY rowid")
            return [(str(u), str(p), str(s)) for u, p, s in rows.fetchall()]

    def finished(self, url: str) -> None:
        """Mark a URL done (call after its record is flushed).

        The marks are written in batches of FINISHED_BATCH, one transaction each: crawl.jsonl is
        the authority on what is done, so a mark lost to a kill costs nothing, and one
        transaction per page was the largest part of the journal's cost.
        """
        with self._lock:
            self._check()
            self._finished.append((url,))
            if len(self._finished) >= FINISHED_BATCH:
                self._flush_finished()

    def _flush_finished(self) -> None:
        if self._finished:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("UPDATE urls SET done = 1 WHERE url = ?", self._finished)
            self._finished.clear()

    def load(self, done: set[str]) -> tuple[set[str], list[WorkItem]]:
        """(every URL admitted so far, the pending items) given the URLs crawl.jsonl holds."""
        with self._lock:
            self._flush_finished()
            rows = self._db.execute(
                "SELECT url, depth, parent, seed, done FROM urls ORDER BY rowid"
            ).fetchall()
            kinds = dict(self._db.execute("SELECT url, kind FROM kinds").fetchall())
        seen = {row[0] for row in rows}
        # Recorded before the kill, not yet marked: mark them now.
        late = [(url,) for url, _, _, _, finished in rows if not finished and url in done]
        if late:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.executemany("UPDATE urls SET done = 1 WHERE url = ?", late)
        pending = [
            WorkItem(url, depth, parent, seed, kind=kinds.get(url, "link"))
            for url, depth, parent, seed, finished in rows
            if not finished and url not in done
        ]
        return seen, pending

    def counts(self) -> tuple[int, int]:
        """(admitted, pending) as the journal has them."""
        with self._lock:
            self._flush_finished()
            total, finished = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(done), 0) FROM urls"
            ).fetchone()
        return int(total), int(total) - int(finished)

    def _check(self) -> None:
        if self._closed:
            raise RuntimeError("Journal used after close")

    def close(self) -> None:
        """Checkpoint the WAL into the database file and close it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._flush_finished()
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()


# -- refusals, for `crawl why` (crawler/explain.py) ------------------------------------------

_REFUSALS_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS refusals (
        url TEXT PRIMARY KEY,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        parent TEXT,
        depth INTEGER NOT NULL,
        seed TEXT
    )""",
    "CREATE TABLE IF NOT EXISTS robots_txt (origin TEXT PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS explain_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
REFUSAL_BATCH = 500  # rows buffered before one transaction writes them
REFUSAL_FLUSH_S = 1.0  # nor kept longer than this (a kill loses at most this much)
# Most refused links repeat on every page (menus, footers): a URL refused lately is not written
# again. The set is cleared when full, so memory stays bounded whatever the crawl refuses.
RECENT_REFUSALS = 50_000


class RefusalLog:
    """The first refusal of each URL (rule, parent, depth), the robots.txt bodies read and the
    crawl's options, in state.db beside the journal: what `crawl why` reads. Thread-safe.

    Opened after the Journal (which creates or empties state.db); its own connection, in WAL
    mode like the journal's. Rows are written in batches, so the cost per refused link is a
    set lookup and, for a new URL, a list append.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _REFUSALS_SCHEMA:
            self._db.execute(statement)
        self._pending: list[tuple[str, str, str, str | None, int, str | None]] = []
        self._recent: set[str] = set()
        self._flushed_at = clock()
        self._closed = False
        self.written = 0

    def refused(
        self, url: str, depth: int, parent: str | None, seed: str | None, rule: str, reason: str
    ) -> None:
        """Keep the refusal of `url` unless one was kept before (the first one wins)."""
        with self._lock:
            if self._closed or url in self._recent:
                return
            if len(self._recent) >= RECENT_REFUSALS:
                self._recent.clear()
            self._recent.add(url)
            self._pending.append((url, rule, reason, parent, depth, seed))
            if (
                len(self._pending) >= REFUSAL_BATCH
                or self._clock() - self._flushed_at > REFUSAL_FLUSH_S
            ):
                self._flush()

    def robots_txt(self, origin: str, body: str) -> None:
        """Keep the robots.txt body of `origin` as it was read (the last one read wins)."""
        with self._lock:
            if not self._closed:
                self._db.execute(
                    "INSERT OR REPLACE INTO robots_txt (origin, body) VALUES (?, ?)",
                    (origin, body),
                )

    def meta(self, key: str, value: str) -> None:
        """Keep one fact about the crawl (its options, its seeds) as text."""
        with self._lock:
            if not self._closed:
                self._db.execute(
                    "INSERT OR REPLACE INTO explain_meta (key, value) VALUES (?, ?)", (key, value)
                )

    def _flush(self) -> None:
        self._flushed_at = self._clock()
        if not self._pending:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO refusals (url, rule, reason, parent, depth, seed) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                self._pending,
            )
        self.written += len(self._pending)
        self._pending.clear()

    def flush(self) -> None:
        """Write the buffered rows now."""
        with self._lock:
            if not self._closed:
                self._flush()

    def close(self) -> None:
        """Write what is buffered and close."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._flush()
            finally:
                self._db.close()
