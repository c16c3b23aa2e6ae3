"""Stage 5 of 5: FetchResult + ParseResult -> files on disk.

Bodies go under pages/ (paths.py), each written to a temporary file and renamed into place, so
no crash leaves a half-written file under its final name. crawl.jsonl gets one line per finished
URL, written whole under a lock and flushed, then marked done in the resume journal (state.py).
summary.json is replaced atomically.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..messages import Record, WorkItem
from .paths import Names
from .state import STATE_FILE, Journal, RefusalLog
from .trouble import Reserve, output_trouble

logger = logging.getLogger(__name__)


def atomic_write(path: Path, data: bytes, *, parent_exists: bool = False) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    The temporary name is unique to this process and thread (a thread writes one file at a
    time), so it is created with O_EXCL and the mirror's 0644 mode directly, with no retries.
    """
    if not parent_exists:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{os.getpid()}-{threading.get_ident()}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileExistsError:  # left by a killed run that had this pid and thread: never a page
        os.unlink(tmp)
        fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a crawl.jsonl; a torn last line (a kill mid-write) is skipped."""
    if not path.exists():
        return
    with open(path, "rb") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue


def _close_quietly_on_trouble(part: Journal | RefusalLog) -> None:
    """Close a part of state.db; a write error of the output (a full disk) is logged, not
    raised: crawl.jsonl stays the authority on what is done, and the WAL stays valid."""
    try:
        part.close()
    except (OSError, sqlite3.Error) as exc:
        if output_trouble(exc) is None:
            raise
        logger.error("%s: the last changes were not written: %s", STATE_FILE, exc)


class Storage:
    """The output folder of one crawl."""

    def __init__(self, output: Path, *, resume: bool = False) -> None:
        self.root = output
        self.pages = output / "pages"
        self.pages.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = output / "crawl.jsonl"
        if resume:
            self._drop_torn_tail()
        self._lock = threading.Lock()
        self.journal = Journal(output / STATE_FILE, resume=resume)
        self.refusals = RefusalLog(output / STATE_FILE)  # for `crawl why`: after the journal
        # The names given so far (a resumed crawl keeps them), each recorded before its file.
        self.names = Names(on_assign=self.journal.named)
        if resume:
            self.names.load(self.journal.names())
        # Unbuffered: a line is written whole by one call, or cut back off (see `write`).
        self._jsonl = open(self.jsonl_path, "ab" if resume else "wb", buffering=0)  # noqa: SIM115
        self._jsonl_size = self.jsonl_path.stat().st_size
        # Room to finish consistently after a write error (store/trouble.py).
        self.reserve = Reserve(output)
        self._closed = False
        # Folders already made under pages/: a page in one of them needs no mkdir. Two threads
        # racing on a new folder both make it, harmlessly (exist_ok).
        self._folders: set[Path] = set()
        self.records = 0
        self.bytes = 0
        # Called with each record once it is written (--mirror converts the page it names).
        self.on_record: Callable[[Record], None] | None = None

    def _drop_torn_tail(self) -> None:
        if not self.jsonl_path.exists():
            return
        data = self.jsonl_path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.jsonl_path, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def save_body(self, url: str, body: bytes, content_type: str | None = None) -> str:
        """Save a body under pages/; returns its path relative to the output folder.

        `content_type` decides the name the mirror will give the file (`.html` added to an HTML
        page whose name lacks it); the registry keeps both names free of other URLs."""
        relative = self.names.assign(url, content_type)
        target = self.root.joinpath(*relative.parts)
        known = target.parent in self._folders
        atomic_write(target, body, parent_exists=known)
        if not known:
            self._folders.add(target.parent)
        return relative.as_posix()

    def write(self, record: Record) -> None:
        """Append one record to crawl.jsonl: one whole line, flushed."""
        line = (json.dumps(record.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._closed:
                raise RuntimeError("Storage.write after close")
            try:
                view = memoryview(line)
                while view:
                    written = self._jsonl.write(view)
                    if not written:
                        raise OSError(errno.EIO, "crawl.jsonl took no bytes")
                    view = view[written:]
            except OSError:
                # A full disk may take part of the line: cut it off, so crawl.jsonl stays whole
                # lines and the URL stays pending for --resume.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._jsonl.fileno(), self._jsonl_size)
                raise
            self._jsonl_size += len(line)
            self.records += 1
            self.bytes += record.bytes
        self.journal.finished(record.url)
        if self.on_record is not None:
            self.on_record(record)

    def admitted(self, item: WorkItem) -> None:
        """Journal a newly admitted URL, before it is queued."""
        self.journal.admitted(item)

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        """Replace OUTPUT/name with `data` as JSON, atomically."""
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        atomic_write(self.root / name, text.encode("utf-8"))

    def close(self) -> None:
        """Flush and close crawl.jsonl."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._jsonl.close()
                self.reserve.release()
        try:
            _close_quietly_on_trouble(self.refusals)
        finally:
            _close_quietly_on_trouble(self.journal)

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
