"""The parser process: ParseJob in, ParseResult out, through its own Pipe end.

A job arrives as one byte frame (ParseJob.to_bytes: the body is never pickled) and the result
goes back as a plain tuple of links and metadata. The loop ends on EOF or an empty frame. Any
exception, even BaseException, becomes a ParseResult carrying the traceback text, so nothing is
lost in the child's stderr.
"""

from __future__ import annotations

import ctypes
import signal
import traceback
from collections.abc import Callable, Collection
from multiprocessing.connection import Connection

from ..messages import ParseJob, ParseResult
from .extract import ROBOTS_META, parse_page
from .refs import is_css, requisites_of, resolved_refs

TRIM_EVERY = 32  # pages between two returns of freed memory to the system


def run_job(
    job: ParseJob, backend: str | None = None, names: Collection[str] = (ROBOTS_META,)
) -> ParseResult:
    """Parse one page with `backend`, robots directives from the meta `names` (with --mirror,
    also its requisites, or a stylesheet's); errors are returned, not raised."""
    try:
        needs: tuple[tuple[str, ...], ...] = ((), ())
        refs: tuple[object, ...] = ()
        if job.requisites:
            base, resolved = resolved_refs(job.url, job.body, job.content_type)
            needs = requisites_of(job.url, resolved)
            refs = (base, resolved)  # the mirror converts the page from these
        if is_css(job.content_type):
            return ParseResult(job.job_id, requisites=needs[0], imports=needs[1], refs=refs)
        page = parse_page(job.url, job.body, job.content_type, backend=backend, names=names)
    except BaseException:  # noqa: BLE001 - the traceback goes home in the result
        return ParseResult(job.job_id, error=traceback.format_exc(limit=20)[-4000:])
    return ParseResult(
        job.job_id,
        page.links,
        page.title,
        page.nofollow,
        rejected=page.rejected,
        links_dropped=page.links_dropped,
        robots=page.robots,
        requisites=needs[0],
        imports=needs[1],
        refs=refs,
    )


def _memory_returner() -> Callable[[], object]:
    """glibc's malloc_trim(0), or a no-op elsewhere. A parser builds and frees a tree per page;
    glibc keeps the freed memory for later, so a process that once parsed big pages would stay
    that big. Trimmed every TRIM_EVERY pages, it stays near the size of its imports."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):  # not glibc
        return lambda: None
    return lambda: trim(0)


def main(
    conn: Connection, backend: str | None = None, names: Collection[str] = (ROBOTS_META,)
) -> None:
    """Entry point of a parser process: `backend` parses (None: the default), robots
    directives come from the <meta> `names`."""
    # Ctrl-C goes to the whole process group; the parent decides when parsers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    trim = _memory_returner()
    jobs = 0
    while True:
        jobs += 1
        if jobs % TRIM_EVERY == 0:
            trim()
        try:
            frame = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not frame:  # the stop sentinel
            return
        job = ParseJob.from_bytes(frame)
        result = run_job(job, backend, names)
        try:
            conn.send(result.to_tuple())
        except (ValueError, TypeError, AttributeError) as exc:  # unpicklable or too big
            conn.send(ParseResult(job.job_id, error=f"cannot send result: {exc}").to_tuple())
        except (BrokenPipeError, OSError):
            return
