"""The tqdm bar on stderr (pages done / discovered, rate, errors) and the closing summary line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the bar shows, read from the components' counters."""

    done: int
    discovered: int
    errors: int
    bytes: int


class Progress:
    """A tqdm bar fed with snapshots from the main thread; a no-op when disabled."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self._bar: tqdm | None = None
        if enabled:
            self._bar = tqdm(
                total=0,
                unit="page",
                file=stream,
                dynamic_ncols=True,
                desc="crawl",
                mininterval=0.2,
            )

    def update(self, snap: Snapshot) -> None:
        """Show a new snapshot."""
        if self._bar is None:
            return
        self._bar.total = max(snap.discovered, snap.done)
        self._bar.n = snap.done
        self._bar.set_postfix(errors=snap.errors, MB=f"{snap.bytes / 1e6:.1f}", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """Leave the bar on screen with its last values."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def summary_line(pages: int, errors: int, nbytes: int, seconds: float) -> str:
    """The one line printed on stderr at the end of a crawl."""
    rate = pages / seconds if seconds > 0 else 0.0
    return (
        f"crawl: {_count(pages, 'page')}, {_count(errors, 'error')}, {nbytes / 1e6:.2f} MB, "
        f"{seconds:.2f} s, {rate:.1f} pages/s"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
