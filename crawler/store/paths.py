"""Pure URL -> file path under pages/: never leaves pages/, never maps two URLs to one file.

Every path segment is percent-encoded over a strict safe set ([A-Za-z0-9._-]), `%` included, so
the encoding `E` is injective and its output never holds `/`, `\\`, `:`, NUL, controls or `~`.
`~` is then free to use as a marker:

- a URL ending in `/` is saved as `index.html`; a literal last segment `index.html` is written
  `index%2Ehtml`, so the two never meet;
- a file and a directory of one name cannot coexist (`/x` and `/x/y`), so whichever of them has
  no dot gets no marker and the other gets a trailing `~`: an extension-less file `x` is `x~`
  (beside the directory `x`), and a directory with a dot, `v1.2`, is `v1.2~` (beside a file
  `v1.2`);
- the query, if any, is part of the last segment (`?` encodes as `%3F`);
- names that Windows reserves (CON, NUL, COM1, ...) and names of only dots get their first
  character encoded; names over 255 bytes are cut and given a digest of the whole name.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.IGNORECASE)
MAX_NAME = 255
INDEX = "index.html"


def _encode(text: str) -> str:
    out = []
    for byte in text.encode("utf-8", errors="surrogatepass"):
        out.append(chr(byte) if byte in _SAFE else f"%{byte:02X}")
    name = "".join(out)
    if not name:
        return "%"  # an empty segment (`//`): E never yields a lone %
    if _RESERVED.match(name) or set(name) == {"."}:
        name = f"%{ord(name[0]):02X}{name[1:]}"
    if name.endswith("."):
        name = name[:-1] + "%2E"  # Windows drops trailing dots
    return name


def _fit(name: str) -> str:
    if len(name.encode()) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[:200]}~{digest}"


def _dir_name(segment: str) -> str:
    name = _encode(segment)
    return _fit(name + "~" if "." in name else name)


def _file_name(segment: str, query: str | None) -> str:
    if not segment and query is None:
        return INDEX
    name = _encode(segment + ("?" + query if query is not None else ""))
    if name == INDEX:
        return "index%2Ehtml"  # E never yields this, and no directory name equals it
    return _fit(name if "." in name else name + "~")


def host_dir(url: str) -> str:
    """`<host>[_https][_<port>][_auth<digest>]`: the host encoded as a segment.

    `_` is never in `E`, so each `_` tag is unambiguous: http URLs have none (the contract's
    `<host>[_<port>]`), https ones `_https`, a non-default port `_<port>`, and a URL with a
    login `_auth` and a digest of it (the credentials themselves are never written to disk).
    """
    parts = urlsplit(url)
    name = _encode((parts.hostname or "").lower())
    if parts.scheme == "https":
        name += "_https"
    if parts.port is not None:
        name += f"_{parts.port}"
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        name += "_auth" + hashlib.sha256(userinfo.encode()).hexdigest()[:16]
    return _fit(name)


def url_to_path(url: str) -> PurePosixPath:
    """The file of a canonical URL, relative to the output folder: `pages/<host>/<path>`."""
    parts = urlsplit(url)
    segments = parts.path.split("/")[1:] if parts.path.startswith("/") else [parts.path]
    if not segments:
        segments = [""]
    query = parts.query if parts.query or url.endswith("?") else None
    names = [_dir_name(s) for s in segments[:-1]]
    names.append(_file_name(segments[-1], query))
    return PurePosixPath("pages", host_dir(url), *names)
