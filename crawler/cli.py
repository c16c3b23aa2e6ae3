"""The `crawl` command: argparse -> Config -> crawl(); signals; exceptions -> ExitCode.

Usage errors name the option and exit 2. The first Ctrl-C (or SIGTERM) stops admitting work and
lets the crawl save its state (exit 130); a second one exits at once.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

from . import __version__
from .config import (
    DEFAULT_FRONTIER_TIMEOUT,
    DEFAULT_LEASE,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CHAIN,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_PARSER,
    DEFAULT_PARSERS,
    DEFAULT_PER_HOST,
    DEFAULT_RETRIES,
    DEFAULT_THREADS,
    DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT,
    DEFAULT_WARC_MAX_SIZE,
    PARSER_BACKENDS,
    SCOPES,
    Config,
)
from .errors import ExitCode, ExitReason, FrontierUnavailable, SeedError, UsageError
from .sanitize import clean_text

logger = logging.getLogger("crawler")


def _int_at_least(low: int):  # type: ignore[no-untyped-def]
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return convert


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def _size(text: str) -> int:
    """A size in bytes: `1000`, `64K`, `500M`, `1G` (powers of 1024)."""
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
    number, unit = text.strip(), ""
    if number[-1:].upper() in units:
        number, unit = number[:-1], number[-1].upper()
    if not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"expected a size such as 1000, 64K or 1G, got {text!r}")
    return int(number) * units[unit]


def _bounded(field: str):  # type: ignore[no-untyped-def]
    """The argparse type of a bounded option: the same message as config.validate gives."""
    from .config import BOUNDS

    option, bound = BOUNDS[field]

    def convert(text: str) -> float | int:
        try:
            return bound.parse(option, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{option}: ")) from None

    return convert


def _regex(text: str) -> str:
    import re

    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {exc}") from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every option here is documented in README.md (a test checks)."""
    p = argparse.ArgumentParser(
        prog="crawl",
        description="Crawl the web from the URLs in SEEDS (one a line, - for stdin).",
        epilog="Exit codes: 0 finished, 1 internal error, 2 usage or input error, 130 interrupted.",
    )
    p.add_argument(
        "seeds",
        nargs="*",
        metavar="SEEDS",
        help="seed URLs, files of seed URLs (one a line), or - for stdin",
    )
    p.add_argument(
        "--threads",
        type=_bounded("threads"),
        default=DEFAULT_THREADS,
        help=f"fetcher threads (default {DEFAULT_THREADS})",
    )
    p.add_argument(
        "--parsers",
        type=_bounded("parsers"),
        default=DEFAULT_PARSERS,
        help=f"parser processes (default min(4, CPUs) = {DEFAULT_PARSERS})",
    )
    p.add_argument(
        "--parser",
        choices=PARSER_BACKENDS,
        default=DEFAULT_PARSER,
        help=f"HTML parser backend (default {DEFAULT_PARSER}: the fastest with the same results)",
    )
    p.add_argument(
        "--per-host",
        type=_bounded("per_host"),
        default=DEFAULT_PER_HOST,
        help=f"concurrent requests to one host at most (default {DEFAULT_PER_HOST})",
    )
    p.add_argument(
        "--depth",
        type=_bounded("depth"),
        default=None,
        help="link depth from a seed at most (seed = 0; default unlimited)",
    )
    p.add_argument(
        "--max-pages",
        type=_bounded("max_pages"),
        default=None,
        help="stop admitting URLs after N (default unlimited)",
    )
    p.add_argument(
        "--max-pages-per-host",
        type=_bounded("max_pages_per_host"),
        default=None,
        metavar="N",
        help="admit at most N URLs of one host; more are recorded as traps (default unlimited)",
    )
    p.add_argument(
        "--max-chain",
        type=_bounded("max_chain"),
        default=DEFAULT_MAX_CHAIN,
        metavar="N",
        help="crawler traps: at most N URLs of one shape per host deep in a chain of pages of "
        f"that shape (calendars, endless pagination); more are recorded as traps; 0: no limit "
        f"(default {DEFAULT_MAX_CHAIN})",
    )
    p.add_argument(
        "--scope",
        choices=SCOPES,
        default="host",
        help="follow links to the seed's host (default), registered domain, or any",
    )
    p.add_argument(
        "--allow",
        type=_regex,
        action="append",
        default=[],
        metavar="REGEX",
        help="follow only links matching one of these (repeatable)",
    )
    p.add_argument(
        "--deny",
        type=_regex,
        action="append",
        default=[],
        metavar="REGEX",
        help="never follow links matching this (repeatable)",
    )
    p.add_argument(
        "--delay",
        type=_bounded("delay"),
        default=0.0,
        metavar="SECONDS",
        help="least time between two requests to one host (default 0)",
    )
    p.add_argument(
        "--timeout",
        type=_bounded("timeout"),
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"connect and read timeout (default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--max-bytes",
        type=_bounded("max_bytes"),
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help=f"largest body kept (default {DEFAULT_MAX_BYTES})",
    )
    p.add_argument(
        "--retries",
        type=_bounded("retries"),
        default=DEFAULT_RETRIES,
        help=f"retries of transient failures (default {DEFAULT_RETRIES})",
    )
    p.add_argument(
        "--max-redirects",
        type=_bounded("max_redirects"),
        default=DEFAULT_MAX_REDIRECTS,
        help=f"redirect hops followed at most (default {DEFAULT_MAX_REDIRECTS})",
    )
    p.add_argument(
        "--user-agent",
        default=DEFAULT_USER_AGENT,
        metavar="STRING",
        help="User-Agent sent and matched against robots.txt",
    )
    p.add_argument("--ignore-robots", action="store_true", help="do not fetch or obey robots.txt")
    p.add_argument(
        "--allow-private",
        action="store_true",
        help="allow loopback, private, link-local and metadata addresses whatever the seeds",
    )
    p.add_argument(
        "--sitemaps",
        action="store_true",
        help="also admit the URLs of the seeds' sitemaps (robots.txt Sitemap lines, /sitemap.xml)",
    )
    # -- mirror (crawler/store/mirror.py) --
    p.add_argument(
        "--mirror",
        action="store_true",
        help="also fetch page requisites (images, CSS, scripts, media) and keep a browsable copy "
        "in OUTPUT/mirror/ with links converted to the local files",
    )
    p.add_argument(
        "--span-requisites",
        action="store_true",
        help="with --mirror: fetch requisites from any host, as a browser would (--scope still "
        "decides which links are followed)",
    )
    p.add_argument(
        "--warc",
        action="store_true",
        help="also write web archives: OUTPUT/warc/*.warc.gz (WARC/1.1) and OUTPUT/warc/index.cdxj",
    )
    p.add_argument(
        "--warc-max-size",
        type=_size,
        default=DEFAULT_WARC_MAX_SIZE,
        metavar="SIZE",
        help="start a new WARC file past this size: bytes, or with K, M, G (default 1G)",
    )
    p.add_argument(
        "--output",
        type=Path,
        default=Path("output"),
        metavar="DIR",
        help="where everything is written (default output/)",
    )
    p.add_argument("--resume", action="store_true", help="continue the crawl whose state is in DIR")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new crawl in DIR even if it holds one (its files are removed first)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="serve the bundled demo site on 127.0.0.1 and 127.0.0.2 and crawl it",
    )
    _add_frontier_options(p)
    _add_wget_options(p)
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("--quiet", "-q", action="store_true", help="no progress bar, errors only")
    noise.add_argument("--verbose", "-v", action="store_true", help="log more on stderr")
    p.add_argument("--version", action="version", version=f"crawl {__version__}")
    return p


def _add_frontier_options(p: argparse.ArgumentParser) -> None:
    """One crawl on many machines: the shared Redis frontier (crawler/frontier/redis.py)."""
    group = p.add_argument_group("many machines (a shared frontier in Redis)")
    group.add_argument(
        "--frontier",
        metavar="URL",
        default=None,
        help="share the crawl through Redis: redis://[:PASSWORD@]HOST:PORT/DB (or rediss://)",
    )
    group.add_argument(
        "--crawl-id", metavar="NAME", default=None, help="the name the workers of one crawl share"
    )
    group.add_argument(
        "--lease",
        type=_positive_seconds,
        default=DEFAULT_LEASE,
        metavar="SECONDS",
        help=f"a worker silent this long has its URLs put back (default {DEFAULT_LEASE:g})",
    )
    group.add_argument(
        "--frontier-timeout",
        type=_positive_seconds,
        default=DEFAULT_FRONTIER_TIMEOUT,
        metavar="SECONDS",
        help="how long to retry an unreachable Redis before exiting 1 "
        f"(default {DEFAULT_FRONTIER_TIMEOUT:g})",
    )


def _add_wget_options(p: argparse.ArgumentParser) -> None:
    """What a wget user reaches for: --max-time, --no-parent, --header, --log."""
    p.add_argument(
        "--max-time",
        type=_bounded("max_time"),
        default=None,
        metavar="SECONDS",
        help="stop the whole crawl after this long, as Ctrl-C does (--resume continues)",
    )
    p.add_argument(
        "--no-parent",
        action="store_true",
        help="do not follow links above the folder of their seed (on the seed's host)",
    )
    p.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="send this header with every page request (repeatable)",
    )
    p.add_argument(
        "--log",
        type=Path,
        default=None,
        metavar="FILE",
        help="also append every message, each URL fetched included, to FILE",
    )


def build_config(args: argparse.Namespace) -> Config:
    """Config from parsed arguments; ValueError names the option."""
    return Config(
        output=args.output,
        threads=args.threads,
        parsers=args.parsers,
        parser=args.parser,
        per_host=args.per_host,
        depth=args.depth,
        max_pages=args.max_pages,
        max_pages_per_host=args.max_pages_per_host,
        max_chain=args.max_chain,
        scope=args.scope,
        allow=tuple(args.allow),
        deny=tuple(args.deny),
        delay=args.delay,
        timeout=args.timeout,
        max_bytes=args.max_bytes,
        retries=args.retries,
        max_redirects=args.max_redirects,
        user_agent=args.user_agent,
        ignore_robots=args.ignore_robots,
        allow_private=args.allow_private,
        sitemaps=args.sitemaps,
        warc=args.warc,
        warc_max_size=args.warc_max_size,
        mirror=args.mirror,
        span_requisites=args.span_requisites,
        resume=args.resume,
        frontier=args.frontier,
        crawl_id=args.crawl_id,
        lease=args.lease,
        frontier_timeout=args.frontier_timeout,
        quiet=args.quiet,
        verbose=args.verbose,
        max_time=args.max_time,
        no_parent=args.no_parent,
        headers=tuple(args.header),
    )


def _given(argv: Sequence[str] | None) -> set[str]:
    """The destinations of the options set on this command line (not left at their default)."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def _resumed_config(config: Config, given: set[str]) -> Config:
    """`config` with the options the crawl in its output folder was started with."""
    from .resume_options import apply_stored
    from .store.state import STATE_FILE, load_options

    stored = load_options(config.output / STATE_FILE)
    return config if stored is None else apply_stored(config, stored, given)


def _demo_port(config: Config) -> int:
    """The port of the demo being resumed (its pages' folder names hold it), or 0 for any."""
    from urllib.parse import urlsplit

    from .store.state import STATE_FILE, load_options

    if not config.resume:
        return 0
    stored = load_options(config.output / STATE_FILE) or {}
    seeds = stored.get("seeds") or []
    return (urlsplit(seeds[0]).port or 0) if seeds else 0


class _TqdmHandler(logging.Handler):
    """Log lines written through tqdm so they do not tear the progress bar."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            # Server-supplied text (URLs, titles, error messages) must not drive the terminal.
            lines = self.format(record).split("\n")
            tqdm.write("\n".join(clean_text(line, 10_000) for line in lines), file=self.stream)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


@contextmanager
def _signals(stop: threading.Event, stderr: TextIO) -> Iterator[None]:
    """First SIGINT/SIGTERM sets `stop`; a second one exits at once with 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os._exit(ExitCode.INTERRUPTED)
        stop.set()
        print("\ncrawl: stopping; saving state (again to quit at once)", file=stderr, flush=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def convert_main(argv: Sequence[str], *, stderr: TextIO) -> int:
    """`crawl convert DIR`: rebuild DIR/mirror/ from DIR/pages/ and DIR/crawl.jsonl, offline."""
    from .store.mirror import MIRROR_DIR, convert_output

    parser = argparse.ArgumentParser(
        prog="crawl convert",
        description="Rebuild DIR/mirror/ (the browsable copy of a --mirror crawl) from DIR/pages/ "
        "and DIR/crawl.jsonl, without the network: after a kill -9, or to convert again.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="the output folder of a crawl")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not (args.dir / "crawl.jsonl").is_file():
        print(f"crawl convert: error: DIR: no crawl.jsonl in {args.dir}", file=stderr)
        return ExitCode.USAGE
    mirror = convert_output(args.dir)
    print(
        f"crawl convert: {mirror.converted} pages converted, {mirror.linked} files linked "
        f"in {args.dir / MIRROR_DIR}" + (f", {mirror.failures} failed" if mirror.failures else ""),
        file=stderr,
    )
    return ExitCode.INTERNAL_ERROR if mirror.failures else ExitCode.OK


def main(argv: Sequence[str] | None = None, *, stderr: TextIO | None = None) -> int:
    """Run the command; returns the exit code."""
    from .safe_stderr import SafeStream

    # Messages never change the outcome: a closed, broken or full stderr only goes quiet.
    stderr = SafeStream(stderr or sys.stderr)  # type: ignore[assignment]
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["why"]:  # a seeds file of that name is given as ./why (README.md)
        from .explain import main as why

        return why(words[1:], stderr=stderr)
    if words[:1] == ["merge"]:  # a seeds file of that name is given as ./merge
        from .merge import main as merge_main

        return merge_main(words[1:], stderr=stderr)
    if words[:1] == ["convert"] and not Path("convert").is_file():
        return convert_main(words[1:], stderr=stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error or --help
        return int(exc.code or 0)
    if args.demo and args.seeds:
        parser.print_usage(stderr)
        print("crawl: error: --demo: takes no SEEDS", file=stderr)
        return ExitCode.USAGE
    if not args.demo and not args.seeds and not args.resume:
        parser.print_usage(stderr)
        print("crawl: error: SEEDS: seed URLs or a seeds file (or - for stdin) needed", file=stderr)
        return ExitCode.USAGE
    try:
        config = build_config(args)
        if config.resume:
            config = _resumed_config(config, _given(argv))
    except UsageError as exc:
        print(f"crawl: error: {exc}", file=stderr)
        return ExitCode.USAGE
    except ValueError as exc:
        parser.print_usage(stderr)
        print(f"crawl: error: {exc}", file=stderr)
        return ExitCode.USAGE

    handler = _TqdmHandler(stderr)
    handler.setFormatter(logging.Formatter("crawl: %(levelname)s: %(message)s"))
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    handler.setLevel(level)
    logger.addHandler(handler)
    logger.setLevel(level)
    log_file = None
    if args.log is not None:
        try:
            log_file = logging.FileHandler(args.log, encoding="utf-8")
        except OSError as exc:
            logger.removeHandler(handler)
            print(f"crawl: error: --log: cannot open {args.log}: {exc.strerror}", file=stderr)
            return ExitCode.USAGE
        log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log_file.setLevel(logging.INFO)
        logger.addHandler(log_file)
        logger.setLevel(logging.INFO)
    try:
        return _run(args, config, stderr)
    except UsageError as exc:
        print(f"crawl: error: {exc}", file=stderr)
        return ExitCode.USAGE
    except FrontierUnavailable as exc:
        print(f"crawl: error: {exc}", file=stderr)
        return ExitCode.INTERNAL_ERROR
    except Exception as exc:
        from .store.trouble import output_trouble

        trouble = output_trouble(exc)
        if trouble is not None:  # before the crawl could start, or while it ended
            print(f"crawl: error: cannot write to {args.output}: {trouble}", file=stderr)
            return ExitCode.INTERNAL_ERROR
        logger.critical("internal error", exc_info=True)
        return ExitCode.INTERNAL_ERROR
    finally:
        logger.removeHandler(handler)
        if log_file is not None:
            logger.removeHandler(log_file)
            log_file.close()


def _run(args: argparse.Namespace, config: Config, stderr: TextIO) -> int:
    from .seeds import read_seed_args

    site = None
    if args.demo:
        from .sitegen import demo_site

        try:
            site = demo_site(_demo_port(config))
        except OSError as exc:
            raise UsageError(f"--demo: cannot serve the demo again on its port: {exc}") from exc
        seeds_urls: tuple[str, ...] = tuple(site.seed_urls())
        bad: tuple[str, ...] = ()
        print(f"crawl: demo site serving {', '.join(seeds_urls)}", file=stderr)
    elif not args.seeds:  # --resume: the crawl's own seeds are in its state
        seeds_urls, bad = (), ()
    else:
        try:
            seeds = read_seed_args(args.seeds)
        except SeedError as exc:
            for line in exc.bad:
                print(f"crawl: {line}", file=stderr)
            raise
        for line in seeds.warnings():
            print(f"crawl: warning: {line}", file=stderr)
        seeds_urls, bad = seeds.urls, tuple(str(b) for b in seeds.bad)
        if (
            config.max_pages is not None
            and len(seeds_urls) > config.max_pages
            and not config.resume
        ):
            print(
                f"crawl: warning: --max-pages {config.max_pages}: {len(seeds_urls)} seeds given,"
                f" {len(seeds_urls) - config.max_pages} of them left out",
                file=stderr,
            )
    try:
        _usable_folder(config.output)
        if config.resume and not (config.output / "crawl.jsonl").exists():
            raise UsageError(f"--resume: no earlier crawl in {config.output}")
        with _folder_lock(config.output):
            if not config.resume and not _same_shared_crawl(config):
                _fresh_folder(config.output, overwrite=args.overwrite)
            return _crawl(args, config, seeds_urls, bad, stderr)
    finally:
        if site is not None:
            site.close()


def _usable_folder(output: Path) -> None:
    """Make OUTPUT if need be; a usage error if it is not a folder or cannot be written."""
    import tempfile

    if output.exists() and not output.is_dir():
        raise UsageError(f"--output: {output} is not a directory")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output: cannot create {output}: {exc.strerror}") from exc
    try:  # root passes every permission check, so ask the folder itself
        with tempfile.TemporaryFile(dir=output):
            pass
    except OSError as exc:
        raise UsageError(f"--output: {output} is not writable: {exc.strerror}") from exc


@contextmanager
def _folder_lock(output: Path) -> Iterator[None]:
    """Hold OUTPUT's lock for the whole crawl: one crawl per folder."""
    from .store.lock import FolderBusy, FolderLock

    lock = FolderLock(output)
    try:
        lock.acquire()
    except FolderBusy as exc:
        raise UsageError(f"--output: {exc}") from exc
    try:
        yield
    finally:
        lock.release()


# What a crawl writes in its folder: removed by --overwrite, and nothing else.
_CRAWL_FILES = ("crawl.jsonl", "summary.json", "state.db", "state.db-wal", "state.db-shm")
_CRAWL_DIRS = ("pages", "mirror", "warc")


def _same_shared_crawl(config: Config) -> bool:
    """A worker of a --frontier crawl started again in its own folder keeps its records (for
    `crawl merge`): the folder's crawl has the same --crawl-id."""
    from .store.state import STATE_FILE, load_options

    if config.frontier is None:
        return False
    stored = load_options(config.output / STATE_FILE) or {}
    return stored.get("crawl_id") == config.crawl_id


def _fresh_folder(output: Path, *, overwrite: bool) -> None:
    """Refuse a folder that holds a crawl unless --overwrite, which removes that crawl."""
    import shutil

    held = [name for name in _CRAWL_FILES if (output / name).exists()]
    if not held:
        return
    if not overwrite:
        raise UsageError(
            f"--output: {output} holds a crawl ({held[0]}); continue it with --resume, "
            "or start again with --overwrite"
        )
    for name in _CRAWL_FILES:
        (output / name).unlink(missing_ok=True)
    for name in _CRAWL_DIRS:
        if (output / name).is_dir():
            shutil.rmtree(output / name)


def _crawl(
    args: argparse.Namespace,
    config: Config,
    seeds_urls: tuple[str, ...],
    bad: tuple[str, ...],
    stderr: TextIO,
) -> int:
    from .engine import crawl
    from .progress import Progress, summary_line

    stop = threading.Event()
    progress = Progress(stderr, enabled=not args.quiet and stderr.isatty())
    with _signals(stop, stderr):
        summary = crawl(config, seeds_urls, stop=stop, progress=progress, bad_seeds=bad)
    if not args.quiet:
        print(
            summary_line(summary.pages, summary.error_count, summary.bytes, summary.seconds),
            file=stderr,
        )
    if summary.exit_reason is ExitReason.FINISHED and summary.pages > 0 and summary.ok == 0:
        # Exit 0 (failed URLs are in the output), but the one thing to know is said plainly.
        print(
            f"crawl: nothing could be fetched: every seed failed (see {config.output}/crawl.jsonl)",
            file=stderr,
        )
    if summary.exit_reason is ExitReason.OUTPUT_ERROR:
        print(
            f"crawl: error: {config.output} could not be written (above); the crawl stopped"
            f" with its state saved: free space, then continue with --resume"
            f" --output {config.output}",
            file=stderr,
        )
        return ExitCode.INTERNAL_ERROR
    if summary.exit_reason is ExitReason.ERROR:
        print(
            "crawl: error: the crawl stopped on an internal fault (above); its state is saved:"
            f" continue with --resume --output {config.output}",
            file=stderr,
        )
        return ExitCode.INTERNAL_ERROR
    if summary.exit_reason is ExitReason.INTERRUPTED and not stop.is_set():
        print(
            f"crawl: --max-time {config.max_time:g} s reached; continue with --resume"
            f" --output {config.output}",
            file=stderr,
        )
        return ExitCode.INTERRUPTED
    if summary.exit_reason is ExitReason.INTERRUPTED:
        if config.frontier is not None:
            print("crawl: interrupted; this worker's URLs were handed back", file=stderr)
            return ExitCode.INTERRUPTED
        print(f"crawl: interrupted; continue with --resume --output {config.output}", file=stderr)
        return ExitCode.INTERRUPTED
    return ExitCode.OK


def entry_point() -> None:
    """The `crawl` console script and the frozen executable."""
    multiprocessing.freeze_support()
    from .safe_stderr import quiet_exit, standard_fds

    standard_fds()
    code = main()
    quiet_exit()
    raise SystemExit(code)
