"""Stage 1 of 5: a SEEDS file (or "-" for stdin) -> canonical seed URLs and the bad lines.

Blank lines and `#` comments are skipped; every other line must be one absolute http(s) URL.
A bad line is reported as `FILE:LINE: reason` and the crawl goes on with the good ones.
"""

from __future__ import annotations

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


def parse_seeds(lines: TextIO, name: str) -> Seeds:
    """Read seeds from an open text stream named `name` in messages."""
    urls: dict[str, None] = {}
    bad: list[BadSeed] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if any(ch.isspace() for ch in text):
            bad.append(BadSeed(name, number, text[:200], "more than one word on the line"))
            continue
        try:
            urls.setdefault(canonicalize(text), None)
        except InvalidURL as exc:
            bad.append(BadSeed(name, number, text[:200], str(exc)))
    return Seeds(tuple(urls), tuple(bad))


def read_seeds(path: str) -> Seeds:
    """Read the seeds file at `path` ("-" is standard input); SeedError if none is usable."""
    if path == "-":
        seeds = parse_seeds(sys.stdin, "<stdin>")
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
        detail = f" ({len(seeds.bad)} bad line(s))" if seeds.bad else " (the file has no URL)"
        raise SeedError(f"no valid seed in {path}{detail}", seeds.bad)
    return seeds
