"""Error kinds recorded in crawl.jsonl, the exceptions of the library, and the CLI exit codes."""

from __future__ import annotations

import enum


class ErrorKind(enum.StrEnum):
    """The `error.kind` of a crawl.jsonl record (README.md, Output)."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP = "http"
    TOO_LARGE = "too_large"
    REDIRECT = "redirect"
    ROBOTS = "robots"
    INVALID_URL = "invalid_url"
    PARSE = "parse"
    TRAP = "trap"
    BLOCKED = "blocked"
    INTERNAL = "internal"


class ExitReason(enum.StrEnum):
    """Why a crawl ended: `exit_reason` in summary.json."""

    FINISHED = "finished"  # every admitted URL reached a final state
    INTERRUPTED = "interrupted"  # stopped (Ctrl-C, SIGTERM): the rest is saved for --resume
    ERROR = "error"  # an internal error ended the crawl
    OUTPUT_ERROR = "output_error"  # the output could not be written (a full disk): resumable


class ExitCode(enum.IntEnum):
    """Process exit codes (README.md, Exit codes)."""

    OK = 0
    INTERNAL_ERROR = 1
    USAGE = 2
    INTERRUPTED = 130


class CrawlError(Exception):
    """Base of the errors the library raises to its caller."""


class UsageError(CrawlError):
    """Bad input from the user: maps to exit code 2."""


class SeedError(UsageError):
    """The seeds file cannot be read or holds no valid seed; `bad` lists the refused lines."""

    def __init__(self, message: str, bad: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.bad = tuple(bad)


class FrontierUnavailable(CrawlError):
    """The shared frontier (Redis) stayed unreachable past --frontier-timeout: exit 1."""
