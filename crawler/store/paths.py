"""URL -> file path under pages/ (and mirror/): natural names, changed only where they must be.

A name is the path a person expects from the URL: `/index.html` is `index.html`, `/docs/` is
`docs/index.html`, percent-escapes are decoded (`/caf%C3%A9.html` is `café.html`), and case,
dots, underscores and non-ASCII letters are kept. `natural_name` changes only what a file system
cannot hold or what would leave the tree:

- `/`, `\\`, `:`, `*`, `?`, `"`, `<`, `>`, `|`, control characters and bytes that are not UTF-8
  become `%XX` (so the query `?a=1` is `%3Fa=1`, part of the last name, never a directory);
- names that Windows reserves (CON, NUL, COM1, ...), `.`, `..` and names ending in a dot or a
  space get that character escaped; an empty segment (`//`) is `%`;
- names over 255 bytes are cut and given `~` and 16 hex digits of a digest (extension kept).

What would collide depends on which URLs exist, so it is settled by a registry (`Names`): the
first URL to take a name keeps it, a later one that would share it (on a case-insensitive or
Unicode-normalising file system too: names are compared NFC-normalised and case-folded) gets
`~1`, `~2`, ... before its extension. That covers `/` beside `/index.html`, `/x` beside `/x/y`
(a file and a directory of one name), `/About.html` beside `/about.html`, and a query string
that decodes to an existing name. A URL is named once, when its body is saved; the registry
records each name in state.db (`on_assign`) and is reloaded from it on `--resume`, so a URL
keeps its name. The mirror (store/mirror.py) uses the same names, with `.html` added to HTML
pages (`.css` to stylesheets) whose name does not already end so; both names are reserved
together, so neither tree ever has two URLs in one file.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from urllib.parse import unquote_to_bytes, urlsplit

MAX_NAME = 255
INDEX = "index.html"
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.IGNORECASE)
# What Windows, macOS or Linux cannot hold in a name (and `%`-free: `%` stays literal).
# U+FFFD is escaped too: in a name it would read as a byte sequence lost in decoding.
_UNSAFE = frozenset('/\\:*?"<>|\ufffd') | {chr(c) for c in range(0x20)} | {"\x7f"}
_HTML_TYPES = frozenset(("text/html", "application/xhtml+xml"))
MAX_EXTENSION = 16  # a longer "extension" after a cut name is not one


def _escape(char: str) -> str:
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogateescape"))


def natural_name(segment: str) -> str:
    """One path segment of a canonical URL as a file name (see the module docstring)."""
    text = unquote_to_bytes(segment).decode("utf-8", "surrogateescape")
    name = "".join(_escape(c) if c in _UNSAFE or "\udc80" <= c <= "\udcff" else c for c in text)
    if not name:
        return "%"
    if _RESERVED.match(name) or set(name) == {"."}:
        name = _escape(name[0]) + name[1:]
    if name.endswith((".", " ")):
        name = name[:-1] + _escape(name[-1])
    return fit(name)


def fit(name: str) -> str:
    """`name` cut to MAX_NAME bytes if longer, with a digest of the whole and its extension."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= MAX_NAME:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    dot = name.rfind(".")
    ext = name[dot:] if dot > 0 and len(name) - dot <= MAX_EXTENSION else ""
    stem = raw[:200].decode("utf-8", "ignore")
    return f"{stem}~{digest}{ext}"


def fold(name: str) -> str:
    """The key two names clash on: equal on a case-insensitive, normalising file system."""
    return unicodedata.normalize("NFC", name).casefold()


def host_dir(url: str) -> str:
    """`<host>[_https][_<port>][_auth<digest>]`.

    `_` is never in a host name, so each `_` tag is unambiguous: http URLs have none (the
    contract's `<host>[_<port>]`), https ones `_https`, a non-default port `_<port>`, and a URL
    with a login `_auth` and a digest of it (the credentials themselves are never written).
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    name = "".join(c if (c.isalnum() and c.isascii()) or c in ".-" else _escape(c) for c in host)
    if _RESERVED.match(name) or not name:
        name = "%" + name
    if name.endswith("."):
        name = name[:-1] + "%2E"
    if parts.scheme == "https":
        name += "_https"
    if parts.port is not None:
        name += f"_{parts.port}"
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        name += "_auth" + hashlib.sha256(userinfo.encode()).hexdigest()[:16]
    return fit(name)


def _split(url: str) -> tuple[list[str], str]:
    """(directory segments, last segment with its query) of a canonical URL."""
    parts = urlsplit(url)
    segments = parts.path.split("/")[1:] if parts.path.startswith("/") else [parts.path]
    if not segments:
        segments = [""]
    last = segments[-1]
    if parts.query or url.endswith("?"):
        last += "?" + parts.query
    return segments[:-1], last


def file_name(last: str) -> str:
    """The natural name of a URL's last segment (with its query): `index.html` for ``."""
    return INDEX if not last else natural_name(last)


def mirror_suffix(name: str, content_type: str | None) -> str:
    """What the mirror adds to a file name so a browser reads it right from disk."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    lower = name.lower()
    if mime in _HTML_TYPES and not lower.endswith((".html", ".htm")):
        return ".html"
    if mime == "text/css" and not lower.endswith(".css"):
        return ".css"
    return ""


def url_to_path(url: str) -> PurePosixPath:
    """The natural file of a canonical URL before collisions: `pages/<host>/<path>`.

    Pure; two URLs may get the same one (use `Names` to save files)."""
    dirs, last = _split(url)
    return PurePosixPath("pages", host_dir(url), *map(natural_name, dirs), file_name(last))


def _variant(name: str, k: int) -> str:
    """`name` with `~k` before its extension (k > 0)."""
    if k == 0:
        return name
    dot = name.find(".", 1)
    stem, ext = (name, "") if dot < 0 else (name[:dot], name[dot:])
    return fit(f"{stem}~{k}{ext}")


class _Dir:
    """One folder of the tree: its names (folded) and who owns each."""

    __slots__ = ("dirs", "taken")

    def __init__(self) -> None:
        self.taken: dict[str, object] = {}  # folded name -> owner (a URL, or a folder key)
        self.dirs: dict[str, tuple[str, _Dir]] = {}  # folder key -> (its name, its node)

    def folder(self, key: str, wanted: str, name: str | None = None) -> tuple[str, _Dir]:
        """The sub-folder of `key` (a raw URL prefix), named `wanted` unless that is taken."""
        found = self.dirs.get(key)
        if found is not None:
            return found
        k = 0
        while name is None:
            candidate = _variant(wanted, k)
            if fold(candidate) not in self.taken:
                name = candidate
            k += 1
        self.taken[fold(name)] = key
        node = self.dirs[key] = (name, _Dir())
        return node

    def file(self, url: str, wanted: str, suffix: str) -> str:
        """A name for `url`'s file such that it and `name + suffix` are both free here."""
        k = 0
        while True:
            name = _variant(wanted, k)
            keys = {fold(name), fold(name + suffix)}
            if all(self.taken.get(key, url) == url for key in keys):
                for key in keys:
                    self.taken[key] = url
                return name
            k += 1


class Names:
    """The registry of the names given to URLs: never two URLs in one file, even case-folded.

    `assign(url, content_type)` names a URL once (later calls give the same path);
    `on_assign(url, path, suffix)` is called for each new name (state.db records it), and `load`
    replays what it recorded, so a resumed crawl gives the same names. Thread-safe.
    """

    def __init__(self, on_assign: Callable[[str, str, str], None] | None = None) -> None:
        self._root = _Dir()
        self._paths: dict[str, tuple[PurePosixPath, str]] = {}
        self._lock = threading.Lock()
        self._on_assign = on_assign

    def assign(self, url: str, content_type: str | None = None) -> PurePosixPath:
        """The path (relative to OUTPUT, under pages/) of the body of canonical `url`."""
        with self._lock:
            known = self._paths.get(url)
            if known is not None:
                return known[0]
            dirs, last = _split(url)
            wanted = file_name(last)
            path, suffix = self._place(url, dirs, wanted, mirror_suffix(wanted, content_type))
        if self._on_assign is not None:
            self._on_assign(url, path.as_posix(), suffix)
        return path

    def _place(
        self, url: str, dirs: list[str], wanted: str, suffix: str, given: list[str] | None = None
    ) -> tuple[PurePosixPath, str]:
        host = host_dir(url)
        name, node = self._root.folder(host, host, host)
        names = [name]
        key = host
        for i, segment in enumerate(dirs):
            key += "/" + segment
            name, node = node.folder(key, natural_name(segment), given[i] if given else None)
            names.append(name)
        if given is not None:
            leaf = given[-1]
            for taken in {fold(leaf), fold(leaf + suffix)}:
                node.taken[taken] = url
        else:
            leaf = node.file(url, wanted, suffix)
        path = PurePosixPath("pages", *names, leaf)
        self._paths[url] = (path, suffix)
        return path, suffix

    def load(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Replay names recorded by `on_assign` (url, path, suffix), in the order given."""
        with self._lock:
            for url, path, suffix in rows:
                if url in self._paths:
                    continue
                parts = PurePosixPath(path).parts  # pages, host, dirs..., file
                dirs, _ = _split(url)
                if len(parts) != len(dirs) + 3 or parts[0] != "pages":
                    continue  # not a path this registry gave
                self._place(url, dirs, parts[-1], suffix, list(parts[2:]))

    def get(self, url: str) -> PurePosixPath | None:
        """The path given to `url`, if any."""
        with self._lock:
            known = self._paths.get(url)
        return known[0] if known else None

    def mirror_path(self, url: str) -> PurePosixPath | None:
        """The file of `url` in the mirror: `mirror/<host>/...` with its suffix, if named."""
        with self._lock:
            known = self._paths.get(url)
        if known is None:
            return None
        path, suffix = known
        return to_mirror(path, suffix)


def to_mirror(path: PurePosixPath, suffix: str) -> PurePosixPath:
    """`pages/<host>/.../name` -> `mirror/<host>/.../name<suffix>`."""
    return PurePosixPath("mirror", *path.parts[1:-1], path.parts[-1] + suffix)
