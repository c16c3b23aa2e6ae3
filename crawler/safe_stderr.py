"""Standard streams that cannot change a crawl's outcome.

A crawl started with stderr closed, on a pipe whose reader has gone, or on a full device must
still crawl, write its output and exit with the code of the crawl: messages are a courtesy.
`SafeStream` swallows the write errors of the stream it wraps (and stops writing after the
first); `standard_fds` gives closed descriptors 0-2 a /dev/null, so that no file the crawl opens
becomes "stderr" by accident; `quiet_exit` keeps the interpreter's last flush from failing.
"""

from __future__ import annotations

import io
import os
import sys
from typing import TextIO


class SafeStream(io.TextIOBase):
    """A text stream over `stream` whose writes never raise (a broken stream goes quiet)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self._stream = stream
        self.broken = stream is None

    def write(self, text: str) -> int:
        """Write and flush `text`; a failure is swallowed and ends further writes."""
        if not self.broken:
            try:
                assert self._stream is not None
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):  # EPIPE, ENOSPC, EBADF, a closed file
                self.broken = True
        return len(text)

    def flush(self) -> None:
        """Flush the stream, quietly."""
        if not self.broken:
            try:
                assert self._stream is not None
                self._stream.flush()
            except (OSError, ValueError):
                self.broken = True

    def isatty(self) -> bool:
        """Whether the stream is a terminal (False once broken)."""
        try:
            return not self.broken and self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def writable(self) -> bool:
        """Always: writes to a broken stream are dropped."""
        return True

    @property
    def wrapped(self) -> TextIO | None:
        """The stream written to."""
        return self._stream


def standard_fds() -> None:
    """Open /dev/null on whichever of the descriptors 0, 1 and 2 is closed."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def quiet_exit() -> None:
    """Before the interpreter exits: if stdout or stderr can no longer be flushed, point it at
    /dev/null, so the final flush does not turn a crawl's exit code into 120."""
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
