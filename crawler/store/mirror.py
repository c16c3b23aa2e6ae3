"""Stage 5, with --mirror: records of saved bodies -> OUTPUT/mirror/, a browsable offline copy.

    fetcher ── Storage.write(record) ──> Mirror.landed ──> mirror/<host>/<path>
                                                           (HTML/CSS converted, the rest linked)
    engine, at every exit ──> Mirror.finish: the pages whose targets landed since, converted again
    `crawl convert DIR` ──> Mirror.rebuild: every saved body, from pages/ and crawl.jsonl

The mirror uses the names of pages/ (store/paths.py), with `.html` added to HTML pages and `.css`
to stylesheets whose name lacks it. In each HTML and CSS file, every reference that the scanner
of parse/refs.py finds (the same scanner that chose the requisites) is rewritten in place, by
byte offsets: to a relative path (fragment kept; `?`, `%`, `#` and spaces escaped) when its target
was saved, else to its absolute URL; <base href> is pointed at the page itself, so relative paths
resolve from the file's own folder. Every other byte stays as received. Other files are hard links
to pages/ (copies where the file system has none); pages/ keeps the bodies exactly as received.

A page is converted when it lands: a link to a page not yet fetched points at its URL for now. The
page remembers those targets, and `finish` (normal end, first Ctrl-C, end of --resume) converts
again the pages whose targets have landed since, so the mirror is consistent at every stop.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin

from ..messages import Record
from ..parse.refs import BASE, Resolved, resolved_refs
from .paths import mirror_suffix, to_mirror
from .writer import atomic_write, read_records

logger = logging.getLogger(__name__)

MIRROR_DIR = "mirror"
# References kept in memory for the fix-up pass (about 200 bytes each); past this, a page still
# waiting for a target is scanned again from pages/ instead.
MAX_KEPT_REFS = 250_000
# Characters left as they are in a relative path; everything else is %-escaped, `%`, `?`, `#`,
# spaces, quotes, `&` (HTML) and parentheses (an unquoted CSS url()) included.
_PATH_SAFE = "-._~!$*+,;=@"
# In an absolute URL written back: escape only what would end or break the value.
_URL_SAFE = "-._~!$&*+,;=@:/?#%[]"


class _Doc:
    """A saved body: where it is, what it is, and its URL (what its references resolve from)."""

    __slots__ = ("content_type", "pages", "url")

    def __init__(self, url: str, pages: PurePosixPath, content_type: str | None) -> None:
        self.url = url
        self.pages = pages
        self.content_type = content_type


def _convertible(content_type: str | None) -> bool:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime in ("text/html", "application/xhtml+xml", "text/css")


def relative(page: PurePosixPath, target: PurePosixPath) -> str:
    """The escaped relative path from the file `page` to the file `target` (both in mirror/)."""
    here = page.parts[:-1]
    there = target.parts
    common = 0
    for a, b in zip(here, there, strict=False):
        if a != b:
            break
        common += 1
    parts = [".."] * (len(here) - common) + [_quoted(part) for part in there[common:]]
    return "/".join(parts)


@functools.lru_cache(maxsize=65536)
def _quoted(name: str) -> str:
    return quote(name, safe=_PATH_SAFE)


class Mirror:
    """The browsable copy in OUTPUT/mirror/ of one crawl; `landed` is safe from many threads."""

    def __init__(self, output: Path) -> None:
        self.root = output
        self._lock = threading.Lock()
        self._saved: dict[str, PurePosixPath] = {}  # URL (as admitted, and final) -> mirror file
        self._docs: dict[PurePosixPath, _Doc] = {}  # mirror file -> its body
        self._waiting: dict[PurePosixPath, set[str]] = {}  # page -> targets missing when converted
        self._stale: set[PurePosixPath] = set()  # files from an earlier run, converted at finish
        # References resolved by a parser process (url -> (base, refs)), until the page lands;
        # then kept for the fix-up pass of pages still waiting, up to MAX_KEPT_REFS in all.
        self._prepared: dict[str, tuple[str, tuple[Resolved, ...]]] = {}
        self._kept: dict[PurePosixPath, tuple[str, tuple[Resolved, ...]]] = {}
        self._kept_count = 0
        self.converted = 0
        self.linked = 0
        self.failures = 0

    # -- what has been saved ------------------------------------------------------------------

    def _add(self, url: str, final_url: str | None, path: str, content_type: str | None) -> _Doc:
        pages = PurePosixPath(path)
        target = to_mirror(pages, mirror_suffix(pages.name, content_type))
        doc = _Doc(final_url or url, pages, content_type)
        with self._lock:
            self._saved[url] = target
            if final_url:
                self._saved[final_url] = target
            self._docs[target] = doc
        return doc

    def load(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Take the saved bodies of an earlier run (crawl.jsonl); `finish` converts them."""
        for record in records:
            path = record.get("path")
            if path:
                self._add(record["url"], record.get("final_url"), path, record.get("content_type"))
        with self._lock:
            self._stale.update(self._docs)

    def lookup(self, url: str) -> PurePosixPath | None:
        """The mirror file of a canonical URL, if its body was saved."""
        with self._lock:
            return self._saved.get(url)

    # -- conversion ---------------------------------------------------------------------------

    def prepare(self, url: str, refs: tuple[Any, ...]) -> None:
        """The references of the page fetched from `url`, resolved by a parser process: its
        conversion then scans and resolves nothing in this process."""
        with self._lock:
            self._prepared[url] = refs  # type: ignore[assignment]

    def landed(self, record: Record) -> None:
        """A URL reached its final state: link or convert its body if it was saved. Never
        raises (a failure is logged and counted: the crawl goes on)."""
        if record.path is None:  # failed or not saved: references to it stay absolute URLs
            if record.final_url is not None:
                with self._lock:  # parsed but not kept (noindex): nothing to convert
                    self._prepared.pop(record.final_url, None)
            return
        try:
            doc = self._add(record.url, record.final_url, record.path, record.content_type)
            with self._lock:
                refs = self._prepared.pop(doc.url, None)
            target = to_mirror(doc.pages, mirror_suffix(doc.pages.name, doc.content_type))
            self._write(target, refs)
        except Exception:
            self.failures += 1
            logger.exception("mirror: could not convert %s", record.url)

    def _write(
        self, target: PurePosixPath, refs: tuple[str, tuple[Resolved, ...]] | None = None
    ) -> None:
        with self._lock:
            doc = self._docs[target]
            kept = self._kept.pop(target, None)
            if kept is not None:
                self._kept_count -= len(kept[1])
        refs = refs or kept
        source = self.root.joinpath(*doc.pages.parts)
        dest = self.root.joinpath(*target.parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not _convertible(doc.content_type):
            _link(source, dest)
            self.linked += 1
            return
        body = source.read_bytes()
        if refs is None:
            refs = resolved_refs(doc.url, body, doc.content_type)
        converted, missing = self.convert(body, refs, target)
        atomic_write(dest, converted, parent_exists=True)
        with self._lock:
            if missing:
                self._waiting[target] = missing
                if self._kept_count + len(refs[1]) <= MAX_KEPT_REFS:
                    self._kept[target] = refs
                    self._kept_count += len(refs[1])
            else:
                self._waiting.pop(target, None)
            self.converted += 1

    def convert(
        self, body: bytes, refs: tuple[str, tuple[Resolved, ...]], target: PurePosixPath
    ) -> tuple[bytes, set[str]]:
        """(the converted body, the targets it references that are not saved yet), given the
        page's base and resolved references (parse/refs.py `resolved_refs`)."""
        base, resolved = refs
        missing: set[str] = set()
        out: list[bytes] = []
        at = 0
        for start, end, text, kind, entities, url in resolved:
            new = self._replacement(kind, text, entities, url, base, target, missing)
            if new is None:
                continue
            out.append(body[at:start])
            out.append(new.encode("ascii"))
            at = end
        out.append(body[at:])
        return b"".join(out), missing

    def _replacement(
        self,
        kind: str,
        text: str,
        entities: bool,
        url: str | None,
        base: str,
        target: PurePosixPath,
        missing: set[str],
    ) -> str | None:
        """What to write in place of one reference, or None to leave its bytes as they are."""
        if kind == BASE:
            return quote(target.name, safe=_PATH_SAFE)  # relative paths resolve from here
        text = text.strip()
        if url is None:
            return None  # a fragment of this page, javascript:, mailto:, data:, ...
        fragment = text.split("#", 1)[1] if "#" in text else None
        dest = self.lookup(url)
        if dest is not None:
            new = relative(target, dest)
            if fragment is not None:
                new += "#" + quote(fragment, safe=_PATH_SAFE + "/?%")
            return new
        missing.add(url)
        absolute = urljoin(base, text)
        if absolute == text:
            return None  # already absolute: unchanged bytes
        new = quote(absolute, safe=_URL_SAFE)
        return new.replace("&", "&amp;") if entities else new

    def finish(self) -> int:
        """The fix-up pass: convert again each page that references a target saved since it
        was converted (and what an earlier run left); returns how many files were written."""
        with self._lock:
            again = set(self._stale)
            self._stale.clear()
            for page, missing in self._waiting.items():
                if any(url in self._saved for url in missing):
                    again.add(page)
        for target in sorted(again):
            try:
                self._write(target)
            except Exception:
                self.failures += 1
                logger.exception("mirror: could not convert %s", target)
        return len(again)

    def rebuild(self) -> int:
        """Convert (or link) every saved body: `crawl convert`."""
        with self._lock:
            self._stale.update(self._docs)
        return self.finish()


def _link(source: Path, dest: Path) -> None:
    """`dest` becomes a hard link to `source` (a copy where hard links are impossible)."""
    with contextlib.suppress(OSError):
        if os.path.samefile(source, dest):
            return  # linked already (a fix-up pass, `crawl convert`)
    tmp = dest.parent / f".tmp-{os.getpid()}-{threading.get_ident()}.part"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    try:
        os.link(source, tmp)
    except OSError:  # another file system, or none that has hard links
        shutil.copyfile(source, tmp)
    try:
        os.replace(tmp, dest)
    finally:
        # rename() of two links to one file does nothing (POSIX): the temporary name stays.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def convert_output(output: Path) -> Mirror:
    """Rebuild OUTPUT/mirror/ from OUTPUT/pages/ and OUTPUT/crawl.jsonl, offline."""
    mirror = Mirror(output)
    mirror.load(read_records(output / "crawl.jsonl"))
    mirror.rebuild()
    return mirror
