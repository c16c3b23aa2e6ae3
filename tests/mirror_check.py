"""The mirror checker: every reference of every mirrored HTML and CSS file, judged offline.

Independent of the code under test (Python's html.parser, its own CSS pattern): each relative
reference must resolve, as a browser resolves it from file:// (fragment and query dropped,
%-escapes decoded, <base href> honoured), to a file inside the mirror; no reference may stay an
absolute URL whose target was saved. Also run on wget's mirror by the measurement (with
`saved=None`: there absolute references to the site's own hosts are counted instead).

    python -m tests.mirror_check OUTPUT/mirror [--jsonl OUTPUT/crawl.jsonl] [--site PREFIX ...]
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from crawler.urls import InvalidURL, canonicalize

_URL_ATTRS = {
    "href": {"a", "area", "link", "base"},
    "src": {"img", "script", "iframe", "frame", "source", "video", "audio", "track", "embed"},
    "poster": {"video"},
    "data": {"object"},
}
_CSS_URL = re.compile(
    r"""/\*.*?\*/|@import\s+["']([^"']*)["']|url\(\s*["']?([^"')]*?)["']?\s*\)""", re.S | re.I
)
_REFRESH = re.compile(r"url\s*=\s*['\"]?([^'\"]*)", re.I)
HTML_SUFFIXES = (".html", ".htm")


@dataclass
class Report:
    """What the checker found in one mirror."""

    html_files: int = 0
    css_files: int = 0
    other_files: int = 0
    references: int = 0  # relative references checked
    broken: list[tuple[str, str]] = field(default_factory=list)  # (file, reference)
    absolute_saved: list[tuple[str, str]] = field(default_factory=list)  # saved, left absolute
    absolute_site: int = 0  # absolute references to the site's hosts (any)
    other_absolute: int = 0  # absolute references with another scheme (file:, ftp:)

    @property
    def ok(self) -> bool:
        """No broken reference and no saved target left absolute."""
        return not self.broken and not self.absolute_saved

    def figures(self) -> dict[str, int]:
        """The counts, for a table."""
        return {
            "pages": self.html_files,
            "stylesheets": self.css_files,
            "other files": self.other_files,
            "relative references": self.references,
            "broken references": len(self.broken),
            "saved targets left absolute": len(self.absolute_saved),
            "absolute references to the site": self.absolute_site,
            "file: and other schemes, as written": self.other_absolute,
        }


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[str] = []
        self.base: str | None = None
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for attr, tags in _URL_ATTRS.items():
            if tag in tags and values.get(attr, "").strip():
                if tag == "base":
                    self.base = self.base or values[attr].strip()
                else:
                    self.refs.append(values[attr].strip())
        if tag == "input" and values.get("type", "").lower() == "image" and values.get("src"):
            self.refs.append(values["src"].strip())
        if tag in ("img", "source") and values.get("srcset"):
            for candidate in values["srcset"].split(","):
                words = candidate.split()
                if words:
                    self.refs.append(words[0])
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            found = _REFRESH.search(values.get("content", ""))
            if found and found.group(1).strip():
                self.refs.append(found.group(1).strip())
        if values.get("style"):
            self.refs.extend(css_refs(values["style"]))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.refs.extend(css_refs(data))


def css_refs(text: str) -> list[str]:
    """The url() and @import references of CSS text."""
    return [
        (m.group(1) or m.group(2)).strip()
        for m in _CSS_URL.finditer(text)
        if (m.group(1) or m.group(2) or "").strip()
    ]


def saved_urls(jsonl: Path) -> set[str]:
    """The URLs whose bodies a crawl saved (as admitted and final), from its crawl.jsonl."""
    saved: set[str] = set()
    for line in jsonl.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("path"):
            saved.add(record["url"])
            if record.get("final_url"):
                saved.add(record["final_url"])
    return saved


def _canonical(url: str) -> str | None:
    try:
        return canonicalize(url)
    except (InvalidURL, ValueError):
        return None


def check_file(
    root: Path,
    path: Path,
    refs: Iterable[str],
    base: str | None,
    report: Report,
    saved: set[str] | None,
    site: tuple[str, ...],
) -> None:
    """Judge the references of one file (see the module docstring)."""
    here = "/" + path.relative_to(root).as_posix()
    base_path = urljoin(here, base) if base and not urlsplit(base).scheme else here
    for ref in refs:
        scheme = urlsplit(ref).scheme.lower()
        if ref.startswith("#") or scheme in ("javascript", "mailto", "data", "tel", "about"):
            continue
        if scheme in ("http", "https") or ref.startswith("//"):
            canonical = _canonical(ref if scheme else "http:" + ref)
            if any(ref.startswith(prefix) for prefix in site):
                report.absolute_site += 1
            if saved is not None and canonical in saved:
                report.absolute_saved.append((here, ref))
            continue
        if scheme:
            report.other_absolute += 1  # file:, ftp:, ... as the site wrote it
            continue
        report.references += 1
        target = ref.split("#", 1)[0].split("?", 1)[0]
        if not target:
            continue  # this very page
        resolved = posixpath.normpath(urljoin(base_path, unquote(target)))
        file = root / resolved.lstrip("/")
        inside = not resolved.startswith("/..") and ".." not in Path(resolved).parts
        if not inside or not file.is_file():
            report.broken.append((here, ref))


def check_mirror(root: Path, saved: set[str] | None = None, site: Iterable[str] = ()) -> Report:
    """Check every HTML and CSS file under `root` (an OUTPUT/mirror folder, or wget's)."""
    report = Report()
    prefixes = tuple(site)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.name.lower()
        if name.startswith(".tmp-"):
            report.broken.append((str(path), "a temporary file left behind"))
            continue
        text = None
        if name.endswith(HTML_SUFFIXES):
            report.html_files += 1
            text = path.read_text(encoding="utf-8", errors="replace")
            parser = _Refs()
            parser.feed(text)
            parser.close()
            check_file(root, path, parser.refs, parser.base, report, saved, prefixes)
        elif name.endswith(".css"):
            report.css_files += 1
            text = path.read_text(encoding="utf-8", errors="replace")
            check_file(root, path, css_refs(text), None, report, saved, prefixes)
        else:
            report.other_files += 1
    return report


def main(argv: list[str] | None = None) -> int:
    """Print the checker's figures for one mirror; exit 1 when it is not consistent."""
    parser = argparse.ArgumentParser(prog="python -m tests.mirror_check")
    parser.add_argument("mirror", type=Path)
    parser.add_argument("--jsonl", type=Path, help="crawl.jsonl: saved targets left absolute")
    parser.add_argument("--site", action="append", default=[], help="the site's URL prefix")
    parser.add_argument("--show", type=int, default=5, help="broken references to print")
    args = parser.parse_args(argv)
    saved = saved_urls(args.jsonl) if args.jsonl else None
    report = check_mirror(args.mirror, saved, args.site)
    print(json.dumps(report.figures(), indent=2))
    for file, ref in (report.broken + report.absolute_saved)[: args.show]:
        print(f"  {file}: {ref}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
