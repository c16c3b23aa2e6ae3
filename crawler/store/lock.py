"""One crawl per output folder: OUTPUT/crawl.lock, held for the life of a crawl.

The lock is an advisory `flock` (`msvcrt.locking` on Windows) on the file, taken without
waiting, so it is atomic and the operating system drops it when its process dies, whatever the
way. The file holds the owner's pid, so a refused crawl can say who holds the folder, and a file
left by a process that died (kill -9, a crash) is recognised as stale and taken over with a
message. A clean exit removes the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

LOCK_FILE = "crawl.lock"


class FolderBusy(Exception):
    """Another live process holds the folder's lock; `pid` is it (None if unknown)."""

    def __init__(self, folder: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"{folder} is in use by another crawl ({who})")
        self.pid = pid


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


class FolderLock:
    """The lock of one output folder; `acquire()` or FolderBusy, then `release()` at the end."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock now or raise FolderBusy; a stale lock is taken over with a warning."""
        for _attempt in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            if not _try_lock(fd):
                pid = None
                with contextlib.suppress(OSError, ValueError):
                    pid = _read_pid(fd)
                os.close(fd)
                raise FolderBusy(self.path.parent, pid)
            # The holder may have removed the file between our open and our lock: then we
            # hold a lock on a file nobody else sees; open the folder's file again.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            stale = _read_pid(fd)
            if stale is not None and stale != os.getpid():
                logger.warning(
                    "taking over the lock of %s left by process %d, which is no longer running",
                    self.path.parent,
                    stale,
                )
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            self._fd = fd
            return self
        raise FolderBusy(self.path.parent, None)

    def release(self) -> None:
        """Remove the lock file and drop the lock (the file first, while it is still ours)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
