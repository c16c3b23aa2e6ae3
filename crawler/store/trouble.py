"""Write errors on the output (a full disk, a quota, a read-only or failing device).

These are not a fault of one URL: every later write would fail the same way. The fetcher that
meets one leaves its URL unrecorded (so `--resume` crawls it again), the crawl stops as on Ctrl-C,
and the command says it in one line. A small reserve file, made when the crawl starts and removed
at the first such error, leaves room to finish consistently: summary.json and the journal's
checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)

RESERVE_FILE = ".crawl-reserve"
RESERVE_BYTES = 256 * 1024

# errno values that say the output cannot be written, whatever is written next.
_OUTPUT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG, errno.EACCES, errno.EPERM}
)
# What SQLite says for the same troubles (sqlite3 gives no errno).
_SQLITE_WORDS = ("disk is full", "disk i/o error", "readonly database", "unable to open database")


def output_trouble(exc: BaseException) -> str | None:
    """The plain reason (`No space left on device`) when `exc` (or its cause) is a write error
    of the output, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _OUTPUT_ERRNOS:
            return current.strerror or os.strerror(current.errno or 0)
        if isinstance(current, sqlite3.Error):
            text = str(current).lower()
            if "disk is full" in text:
                return os.strerror(errno.ENOSPC)
            if any(word in text for word in _SQLITE_WORDS):
                return f"state.db: {current}"
        current = current.__cause__ or current.__context__
    return None


class Reserve:
    """A few hundred KiB held on the output's device, given back at the first write error."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / RESERVE_FILE
        try:
            with open(self.path, "wb") as handle:
                handle.write(b"\0" * RESERVE_BYTES)
        except OSError as exc:  # already full: nothing to reserve, the crawl will say so
            logger.debug("no reserve on the output: %s", exc)
            with contextlib.suppress(OSError):
                self.path.unlink()

    def release(self) -> None:
        """Give the space back (idempotent)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
