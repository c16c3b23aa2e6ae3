"""A real corpus for the benchmark: a folder of HTML files (the Python docs) served as one host.

`python -m benchmarks.run --site pydocs` serves PYDOCS (Debian's python3.11-doc package) through
the same latency server as the generated site and crawls it from `index.html`. `DirectorySite`
answers a path with the file under the folder (never outside it); `reachable` is what a
complete crawl fetches: the files reachable from index.html by the links the crawler follows,
found once by parsing the files (no server), so coverage can be checked as for the generated
site.
"""

from __future__ import annotations

import functools
import mimetypes
import multiprocessing
import posixpath
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

PYDOCS = Path("/usr/share/doc/python3.11/html")
PYDOCS_MISSING = (
    f"--site pydocs: {PYDOCS} is not there; install it with `apt-get install python3.11-doc`"
)
_BASE = "http://corpus.invalid/"


class DirectorySite:
    """The files under `root`, by path; each has an index (for the server's counters)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.files = sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )
        self._index = {name: i for i, name in enumerate(self.files)}

    def lookup(self, path: str) -> int | None:
        """The index of the file a URL path names (`/` and `dir/` are their index.html)."""
        path = unquote(path)
        if path.endswith("/"):
            path += "index.html"
        # Only the names listed at start are served: nothing outside the folder can be.
        return self._index.get(posixpath.normpath("/" + path).lstrip("/"))

    def read(self, index: int) -> tuple[str, bytes]:
        """(Content-Type, bytes) of file `index`."""
        name = self.files[index]
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind.startswith("text/"):
            kind += "; charset=utf-8"
        return kind, (self.root / name).read_bytes()


@functools.cache
def reachable(root: str) -> tuple[str, ...]:
    """The paths (`/index.html`, ...) of the files under `root` that a host-scoped crawl
    from /index.html fetches: linked from a reachable HTML file, and there.

    Found in a process of its own, so that parsing every file leaves nothing in the memory of
    the benchmark's process, whose peak RSS is measured with the crawl's.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_reachable, root).result(timeout=600)


def _reachable(root: str) -> tuple[str, ...]:
    from crawler.parse.extract import parse_page

    site = DirectorySite(root)
    start = site.lookup("/index.html")
    if start is None:
        return ()
    seen = {"/index.html"}
    todo = ["/index.html"]
    while todo:
        path = todo.pop()
        index = site.lookup(path)
        if index is None:
            continue
        kind, body = site.read(index)
        if not kind.startswith("text/html"):
            continue
        for link in parse_page(_BASE + path.lstrip("/"), body, kind).links:
            if not link.startswith(_BASE):
                continue
            target = "/" + link[len(_BASE) :]
            target = urlsplit(target).path  # a query names the same file
            if target not in seen and site.lookup(target) is not None:
                seen.add(target)
                todo.append(target)
    return tuple(sorted(seen))


def folder_pages(root: str) -> list[tuple[str, bytes]]:
    """(URL, body) of every reachable HTML file, for parsing without a server."""
    site = DirectorySite(root)
    pages = []
    for path in reachable(root):
        index = site.lookup(path)
        assert index is not None
        kind, body = site.read(index)
        if kind.startswith("text/html"):
            pages.append((f"http://127.0.0.1{path}", body))
    return pages
