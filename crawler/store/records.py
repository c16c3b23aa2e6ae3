"""Stage 5 of 5, the record: one finished WorkItem (and its FetchResult) -> one crawl.jsonl line.

The Recorder is the one place a record is built and written, handed by the engine to the
frontier (for URLs it refuses as traps) and to the fetcher threads (for everything else). It
counts the records that end with an error, by kind, for the progress bar and summary.json.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..errors import ErrorKind
from ..messages import Record, WorkItem
from .writer import Storage

if TYPE_CHECKING:
    from ..fetch.http import FetchResult

logger = logging.getLogger(__name__)


class Recorder:
    """Writes the one record of each admitted URL through `storage`, counting errors."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock = threading.Lock()
        self._errors: Counter[str] = Counter()

    def errors(self) -> dict[str, int]:
        """Records that ended with an error so far, by kind (a snapshot)."""
        with self._lock:
            return dict(self._errors)

    def error_count(self) -> int:
        """Records that ended with an error so far."""
        with self._lock:
            return sum(self._errors.values())

    def count_earlier(self, kind: str) -> None:
        """Count an error recorded by an earlier session of the crawl (--resume)."""
        with self._lock:
            self._errors[kind] += 1

    def trap(self, item: WorkItem, reason: str) -> None:
        """Record a URL that the frontier refused as a crawler trap, with the rule that fired."""
        self.record(item, None, (ErrorKind.TRAP, reason))

    def record(
        self,
        item: WorkItem,
        result: FetchResult | None,
        error: tuple[ErrorKind, str] | None,
        *,
        links: int = 0,
        title: str | None = None,
        path: str | None = None,
        final_url: str | None = None,
        dropped: int = 0,
        robots: list[str] | None = None,
    ) -> None:
        """Write the one crawl.jsonl record of `item` (fetched or not) and count its error."""
        if error is not None:
            with self._lock:
                self._errors[error[0].value] += 1
        record = Record(
            url=item.url,
            final_url=final_url or (result.url if result is not None else None),
            status=result.status if result is not None else None,
            ok=error is None,
            error={"kind": error[0].value, "message": error[1]} if error is not None else None,
            content_type=result.content_type if result is not None else None,
            bytes=result.size if result is not None else 0,
            sha256=result.sha256 if result is not None else None,
            depth=item.depth,
            parent=item.parent,
            links=links,
            title=title,
            path=path,
            fetched_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            elapsed_ms=result.elapsed_ms if result is not None else 0,
            attempts=item.attempt,
            links_dropped=dropped,
            lease=item.lease or None,
            via=_via(item),
            robots=robots,
        )
        self.storage.write(record)
        if logger.isEnabledFor(logging.INFO):  # -v, --log: each URL as it ends
            outcome = f"{error[0].value}: {error[1]}" if error is not None else "ok"
            logger.info(
                "%s %s, %d bytes, %d ms: %s",
                record.status if record.status is not None else "---",
                record.url,
                record.bytes,
                record.elapsed_ms,
                outcome,
            )


def _via(item: WorkItem) -> str:
    """How the URL of `item` was reached, as crawl.jsonl says it (`kind`, or seed/link)."""
    if item.kind != "link":
        return item.kind
    return "seed" if item.parent is None else "link"
