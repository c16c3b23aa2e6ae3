"""The crawl configuration: one frozen value built by the CLI and passed down. No I/O here."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import __version__

Scope = Literal["host", "domain", "any"]
SCOPES: tuple[str, ...] = ("host", "domain", "any")

DEFAULT_THREADS = 16
# Parsing is CPU-bound: more processes than cores only adds context switches.
DEFAULT_PARSERS = min(4, os.cpu_count() or 1)
# Four connections per host is what browsers and well-mannered crawlers stay under.
DEFAULT_PER_HOST = 4
DEFAULT_TIMEOUT = 10.0
# Ten MiB covers nearly every real HTML page and keeps one hostile body from filling memory.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_RETRIES = 2
# Ten hops is what browsers and requests allow (RFC 9110 leaves it to the client).
DEFAULT_MAX_REDIRECTS = 10
# A parser that takes longer than this on one page is killed and replaced.
DEFAULT_PARSE_TIMEOUT = 30.0
# HTML parser backends (crawler/parse/backends.py). The default is the fastest one that gives the
# same links, titles and robots directives as bs4 on every test page (tests/parse/).
PARSER_BACKENDS: tuple[str, ...] = ("lxml", "selectolax", "bs4")
DEFAULT_PARSER = "lxml"
DEFAULT_USER_AGENT = f"crawl/{__version__} (+https://example.invalid/crawl)"
# WARC files are rotated past this size, as Heritrix and wget (--warc-max-size) do.
DEFAULT_WARC_MAX_SIZE = 1024**3


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a crawl needs to know; see DESIGN.md for the meaning of each option."""

    output: Path = Path("output")
    threads: int = DEFAULT_THREADS
    parsers: int = DEFAULT_PARSERS
    parser: str = DEFAULT_PARSER
    per_host: int = DEFAULT_PER_HOST
    depth: int | None = None
    max_pages: int | None = None
    max_pages_per_host: int | None = None
    scope: Scope = "host"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    delay: float = 0.0
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    retries: int = DEFAULT_RETRIES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    parse_timeout: float = DEFAULT_PARSE_TIMEOUT
    # The watchdog reports a fetcher busy on one item for longer than this (None: derived
    # from --timeout and the parse timeout, the longest an item can legitimately take).
    stall_after: float | None = None
    user_agent: str = DEFAULT_USER_AGENT
    ignore_robots: bool = False
    allow_private: bool = False
    sitemaps: bool = False
    warc: bool = False  # write OUTPUT/warc/*.warc.gz and index.cdxj (store/warc.py)
    warc_max_size: int = DEFAULT_WARC_MAX_SIZE
    resume: bool = False
    quiet: bool = False
    verbose: bool = False
    allow_re: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)
    deny_re: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        validate(self)
        object.__setattr__(self, "allow_re", tuple(re.compile(p) for p in self.allow))
        object.__setattr__(self, "deny_re", tuple(re.compile(p) for p in self.deny))

    def to_json(self) -> dict[str, Any]:
        """The configuration as written into summary.json."""
        data = asdict(self)
        data.pop("allow_re")
        data.pop("deny_re")
        data["output"] = str(self.output)
        data["allow"] = list(self.allow)
        data["deny"] = list(self.deny)
        return data


def validate(config: Config) -> None:
    """Raise ValueError("--option: reason") for the first bad value."""
    positive = {
        "--threads": config.threads,
        "--parsers": config.parsers,
        "--per-host": config.per_host,
        "--max-bytes": config.max_bytes,
    }
    for option, value in positive.items():
        if value < 1:
            raise ValueError(f"{option}: must be at least 1, got {value}")
    if config.depth is not None and config.depth < 0:
        raise ValueError(f"--depth: must be 0 or more, got {config.depth}")
    if config.max_pages is not None and config.max_pages < 1:
        raise ValueError(f"--max-pages: must be at least 1, got {config.max_pages}")
    if config.max_pages_per_host is not None and config.max_pages_per_host < 1:
        raise ValueError(
            f"--max-pages-per-host: must be at least 1, got {config.max_pages_per_host}"
        )
    if config.warc_max_size < 1:
        raise ValueError(f"--warc-max-size: must be at least 1 byte, got {config.warc_max_size}")
    if config.retries < 0:
        raise ValueError(f"--retries: must be 0 or more, got {config.retries}")
    if config.max_redirects < 0:
        raise ValueError(f"--max-redirects: must be 0 or more, got {config.max_redirects}")
    if not config.delay >= 0 or config.delay == float("inf"):
        raise ValueError(f"--delay: must be a finite number of seconds >= 0, got {config.delay}")
    if not config.timeout > 0 or config.timeout == float("inf"):
        raise ValueError(f"--timeout: must be a finite number of seconds > 0, got {config.timeout}")
    if config.parser not in PARSER_BACKENDS:
        raise ValueError(
            f"--parser: must be one of {', '.join(PARSER_BACKENDS)}, got {config.parser!r}"
        )
    if config.scope not in SCOPES:
        raise ValueError(f"--scope: must be one of {', '.join(SCOPES)}, got {config.scope!r}")
    if not config.user_agent.strip() or any(c in config.user_agent for c in "\r\n\0"):
        raise ValueError("--user-agent: must be a non-empty single line")
    for option, patterns in (("--allow", config.allow), ("--deny", config.deny)):
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{option}: invalid regular expression {pattern!r}: {exc}"
                ) from exc
