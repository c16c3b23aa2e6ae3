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
# --frontier (the shared Redis frontier): a worker silent this long has its URLs put back. Well
# above the longest request (REQUEST_DEADLINE_FACTOR x --timeout), which heartbeats do not cover.
DEFAULT_LEASE = 60.0
# How long a worker keeps retrying an unreachable Redis before it gives up (exit 1).
DEFAULT_FRONTIER_TIMEOUT = 30.0
REQUEST_DEADLINE_FACTOR = 3.0  # = fetch.http.DEADLINE_FACTOR (kept here: config does no I/O)
_CRAWL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


# --max-chain: URLs of one shape per host that may sit deep in a chain of pages of that shape
# (crawler/frontier/traps.py). Ends calendars and endless pagination after about this many
# pages, above any pagination a real site has in one listing (a few hundred pages).
DEFAULT_MAX_CHAIN = 1000


@dataclass(frozen=True, slots=True)
class Bound:
    """The values an option accepts: checked before anything starts, one message for all."""

    low: float
    high: float | None  # None: safe at any size
    seconds: bool = False  # a number of seconds (float), else a whole number
    low_open: bool = False  # the low end itself is refused (`--timeout 0`)

    def describe(self) -> str:
        """What the option accepts, as the usage error says it."""
        kind = "a number of seconds" if self.seconds else "a whole number"
        low = f"more than {self.low:g}" if self.low_open else f"at least {self.low:g}"
        high = f" and at most {self.high:g}" if self.high is not None else ""
        return f"must be {kind}, {low}{high}"

    def parse(self, option: str, text: str) -> float | int:
        """`text` as a value of `option`; ValueError("--option: must be ...") if it is not one."""
        try:
            value: float | int = float(text) if self.seconds else int(text)
        except (ValueError, OverflowError):
            raise ValueError(f"{option}: {self.describe()}, got {text!r}") from None
        self.check(option, value, shown=text)
        return value

    def check(self, option: str, value: float | int, *, shown: str | None = None) -> None:
        """ValueError("--option: must be ...") for a value out of bounds (NaN and inf too)."""
        above_low = value > self.low if self.low_open else value >= self.low
        below_high = value < float("inf") if self.high is None else value <= self.high
        if not (above_low and below_high):
            raise ValueError(f"{option}: {self.describe()}, got {shown or value}")


# Upper bounds: past them an option only takes the machine (or the crawl) down. README lists them.
MAX_THREADS = 512  # each a thread with its own session and sockets
MAX_PARSERS = 64  # each a Python process (~20-40 MB); more than cores only adds switches
MAX_PER_HOST = 64  # sizes the connection pool; no polite crawler opens more to one host
MAX_DELAY = 86_400.0  # one day between two requests to a host
MAX_TIMEOUT = 3_600.0  # one hour for a connect or a read
MAX_MAX_BYTES = 1024**3  # 1 GiB: a body is held in memory while it is fetched and parsed
MAX_RETRIES = 20
MAX_MAX_REDIRECTS = 50
MAX_MAX_TIME = 30 * 86_400.0  # thirty days for a whole crawl

# Config field -> (option, bound). Options with no upper bound are safe at any size.
BOUNDS: dict[str, tuple[str, Bound]] = {
    "threads": ("--threads", Bound(1, MAX_THREADS)),
    "parsers": ("--parsers", Bound(1, MAX_PARSERS)),
    "per_host": ("--per-host", Bound(1, MAX_PER_HOST)),
    "depth": ("--depth", Bound(0, None)),
    "max_pages": ("--max-pages", Bound(1, None)),
    "max_pages_per_host": ("--max-pages-per-host", Bound(1, None)),
    "max_chain": ("--max-chain", Bound(0, None)),  # 0: no chain rule
    "delay": ("--delay", Bound(0, MAX_DELAY, seconds=True)),
    "timeout": ("--timeout", Bound(0, MAX_TIMEOUT, seconds=True, low_open=True)),
    "max_bytes": ("--max-bytes", Bound(1, MAX_MAX_BYTES)),
    "retries": ("--retries", Bound(0, MAX_RETRIES)),
    "max_redirects": ("--max-redirects", Bound(0, MAX_MAX_REDIRECTS)),
    "max_time": ("--max-time", Bound(0, MAX_MAX_TIME, seconds=True, low_open=True)),
}


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a crawl needs to know; README.md, Usage, says what each option means."""

    output: Path = Path("output")
    threads: int = DEFAULT_THREADS
    parsers: int = DEFAULT_PARSERS
    parser: str = DEFAULT_PARSER
    per_host: int = DEFAULT_PER_HOST
    depth: int | None = None
    max_pages: int | None = None
    max_pages_per_host: int | None = None
    max_chain: int = DEFAULT_MAX_CHAIN  # 0: no chain rule (crawler/frontier/traps.py)
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
    # --mirror: page requisites too, and a browsable copy in OUTPUT/mirror/ (store/mirror.py);
    # --span-requisites: requisites from any host, whatever --scope says.
    mirror: bool = False
    span_requisites: bool = False
    resume: bool = False
    # The shared frontier (crawler/frontier/redis.py); None: the in-memory one.
    frontier: str | None = None
    crawl_id: str | None = None
    lease: float = DEFAULT_LEASE
    frontier_timeout: float = DEFAULT_FRONTIER_TIMEOUT
    quiet: bool = False
    verbose: bool = False
    # What a wget user reaches for (issue 12): a deadline for the whole crawl (seconds, None for
    # none), links only below the seed's folder, extra request headers ("Name: value").
    max_time: float | None = None
    no_parent: bool = False
    headers: tuple[str, ...] = ()
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
        # Credentials never reach the output files: the values of these headers are hidden.
        data["headers"] = [
            f"{name}: ***" if name.lower() in SECRET_HEADERS else f"{name}: {value}"
            for name, value in header_pairs(self.headers)
        ]
        return data


SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def header_pairs(headers: tuple[str, ...]) -> list[tuple[str, str]]:
    """("Name", "value") of each --header "Name: value" (validated by `validate`)."""
    pairs = []
    for header in headers:
        name, _, value = header.partition(":")
        pairs.append((name.strip(), value.strip()))
    return pairs


def validate(config: Config) -> None:
    """Raise ValueError("--option: reason") for the first bad value."""
    for header in config.headers:
        name, colon, _value = header.partition(":")
        if (
            not colon
            or not _HEADER_NAME.fullmatch(name.strip())
            or any(c in header for c in "\r\n\0")
        ):
            raise ValueError(f"--header: must be one line 'Name: value', got {header!r}")
    for name, (option, bound) in BOUNDS.items():
        value = getattr(config, name, None)
        if value is not None:
            bound.check(option, value)
    if config.warc_max_size < 1:
        raise ValueError(f"--warc-max-size: must be at least 1 byte, got {config.warc_max_size}")
    if config.parser not in PARSER_BACKENDS:
        raise ValueError(
            f"--parser: must be one of {', '.join(PARSER_BACKENDS)}, got {config.parser!r}"
        )
    if config.scope not in SCOPES:
        raise ValueError(f"--scope: must be one of {', '.join(SCOPES)}, got {config.scope!r}")
    if config.span_requisites and not config.mirror:
        raise ValueError("--span-requisites: needs --mirror")
    if not config.user_agent.strip() or any(c in config.user_agent for c in "\r\n\0"):
        raise ValueError("--user-agent: must be a non-empty single line")
    _validate_frontier(config)
    for option, patterns in (("--allow", config.allow), ("--deny", config.deny)):
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{option}: invalid regular expression {pattern!r}: {exc}"
                ) from exc


def _validate_frontier(config: Config) -> None:
    """The --frontier options: a redis:// or rediss:// URL, a crawl id, a lease above the
    request deadline."""
    from urllib.parse import urlsplit

    if config.frontier is None:
        if config.crawl_id is not None:
            raise ValueError("--crawl-id: only with --frontier")
        return
    shape = "redis://[:PASSWORD@]HOST:PORT/DB or rediss://..."
    try:
        parts = urlsplit(config.frontier)
        port, path = parts.port, parts.path.strip("/")
    except ValueError as exc:
        raise ValueError(f"--frontier: expected {shape}, got {config.frontier!r}: {exc}") from None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"--frontier: expected {shape}, got {config.frontier!r}")
    if port is None or (path and not path.isdigit()) or parts.query or parts.fragment:
        raise ValueError(f"--frontier: expected {shape}, got {config.frontier!r}")
    if config.crawl_id is None:
        raise ValueError("--crawl-id: required with --frontier (the name the workers share)")
    if not _CRAWL_ID.fullmatch(config.crawl_id):
        raise ValueError(
            f"--crawl-id: letters, digits, '.', '_' and '-' (at most 64), got {config.crawl_id!r}"
        )
    if config.resume:
        raise ValueError(
            "--resume: not with --frontier (start the worker again with the same --crawl-id)"
        )
    deadline = config.timeout * REQUEST_DEADLINE_FACTOR
    if not config.lease > deadline or config.lease == float("inf"):
        raise ValueError(
            f"--lease: must be longer than the request deadline "
            f"({REQUEST_DEADLINE_FACTOR:g} x --timeout = {deadline:g} s), got {config.lease:g}"
        )
    if not config.frontier_timeout > 0 or config.frontier_timeout == float("inf"):
        raise ValueError(
            f"--frontier-timeout: must be a finite number of seconds > 0, "
            f"got {config.frontier_timeout}"
        )
