"""The parser process: ParseJob in, ParseResult out, through its own Pipe end.

The loop ends on EOF or a None sentinel. Any exception, even BaseException, becomes a
ParseResult carrying the traceback text, so nothing is lost in the child's stderr.
"""

from __future__ import annotations

import signal
import traceback
from multiprocessing.connection import Connection

from ..messages import ParseJob, ParseResult
from .extract import parse_page


def run_job(job: ParseJob) -> ParseResult:
    """Parse one page; errors are returned, not raised."""
    try:
        page = parse_page(job.url, job.body, job.content_type)
    except BaseException:  # noqa: BLE001 - the traceback goes home in the result
        return ParseResult(job.job_id, error=traceback.format_exc(limit=20)[-4000:])
    return ParseResult(
        job.job_id,
        page.links,
        page.title,
        page.nofollow,
        rejected=page.rejected,
        links_dropped=page.links_dropped,
    )


def main(conn: Connection) -> None:
    """Entry point of a parser process."""
    # Ctrl-C goes to the whole process group; the parent decides when parsers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        result = run_job(job)
        try:
            conn.send(result)
        except (ValueError, TypeError, AttributeError) as exc:  # unpicklable or too big
            conn.send(ParseResult(job.job_id, error=f"cannot send result: {exc}"))
        except (BrokenPipeError, OSError):
            return
