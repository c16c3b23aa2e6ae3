"""Stage 1 of 5: SEEDS (URLs, files of URLs, "-" for stdin) -> canonical seed URLs, bad lines.

Each SEEDS argument that holds `://` is a URL; any other is a file of URLs, one a line (`-` is
standard input). In a file, blank lines and `#` comments are skipped, a UTF-8 byte-order mark is
ignored, and every other line must be one absolute http(s) URL. A bad line is reported as
`FILE:LINE: reason` and the crawl goes on with the good ones; past MAX_BAD_SHOWN bad lines (a
binary or garbage file) the rest are only counted, in `Seeds.more_bad`.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from typing import TextIO

from .errors import SeedError
from .urls import InvalidURL, canonicalize


@dataclass(frozen=True, slots=True)
class BadSeed:
    """One line of the seeds file that is not a valid seed."""

    file: str
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}: {self.text!r}"


@dataclass(frozen=True, slots=True)
class Seeds:
    """The valid seeds, in file order without duplicates, and the lines that were refused."""

    urls: tuple[str, ...]
    bad: tuple[BadSeed, ...]
    more_bad: int = 0  # bad lines past MAX_BAD_SHOWN, counted but not kept

    def warnings(self) -> list[str]:
        """The warnings to show for the bad lines: a few, then one line for the rest."""
        lines = [f"bad seed skipped: {b}" for b in self.bad]
        if self.more_bad:
            lines.append(f"{self.more_bad} more bad seed lines skipped")
        return lines


# A binary or garbage file is a mistake, not a list of seeds: a few lines say so.
MAX_BAD_SHOWN = 5


def parse_seeds(lines: TextIO, name: str) -> Seeds:
    """Read seeds from an open text stream named `name` in messages."""
    urls: dict[str, None] = {}
    bad: list[BadSeed] = []
    more_bad = 0
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if number == 1:
            text = text.lstrip("\ufeff").strip()  # a byte-order mark, as Notepad writes it
        if not text or text.startswith("#"):
            continue
        reason = None
        if any(ch.isspace() for ch in text):
            reason = "more than one word on the line"
        else:
            try:
                urls.setdefault(canonicalize(text), None)
            except InvalidURL as exc:
                reason = str(exc)
        if reason is not None:
            if len(bad) < MAX_BAD_SHOWN:
                bad.append(BadSeed(name, number, text[:200], reason))
            else:
                more_bad += 1
    return Seeds(tuple(urls), tuple(bad), more_bad)


def read_seed_args(items: list[str]) -> Seeds:
    """The seeds of the SEEDS arguments: URLs, files, `-`; SeedError if none is usable."""
    urls: dict[str, None] = {}
    bad: list[BadSeed] = []
    more_bad = 0
    for item in items:
        if "://" in item:
            seeds = parse_seeds(io.StringIO(item), "<command line>")
            if not seeds.urls:
                raise SeedError(f"not a valid seed URL: {item!r}", seeds.bad)
        else:
            seeds = read_seeds(item)
        urls.update(dict.fromkeys(seeds.urls))
        bad.extend(seeds.bad)
        more_bad += seeds.more_bad
    return Seeds(tuple(urls), tuple(bad[:MAX_BAD_SHOWN]), more_bad + len(bad[MAX_BAD_SHOWN:]))


def read_seeds(path: str) -> Seeds:
    """Read the seeds file at `path` ("-" is standard input); SeedError if none is usable."""
    if path == "-":
        if sys.stdin is None or sys.stdin.closed:
            raise SeedError("-: standard input is closed: no seeds to read")
        try:
            seeds = parse_seeds(sys.stdin, "<stdin>")
        except OSError as exc:
            raise SeedError(f"-: cannot read standard input: {exc.strerror}") from exc
    else:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                seeds = parse_seeds(handle, path)
        except FileNotFoundError as exc:
            raise SeedError(f"seeds file not found: {path}") from exc
        except IsADirectoryError as exc:
            raise SeedError(f"seeds file is a directory: {path}") from exc
        except OSError as exc:
            raise SeedError(f"cannot read seeds file {path}: {exc.strerror}") from exc
    if not seeds.urls:
        count = len(seeds.bad) + seeds.more_bad
        detail = f" ({count} bad line(s))" if count else " (the file has no URL)"
        raise SeedError(f"no valid seed in {path}{detail}", seeds.bad)
    return seeds
