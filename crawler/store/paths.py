"""Pure URL -> file path under pages/: never leaves pages/, never maps two URLs to one file.

Every path segment is percent-encoded over a strict safe set ([A-Za-z0-9.-]), `%` included, so
the encoding `E` is injective and its output never holds `/`, `\\`, `:`, `_`, NUL, controls,
`~` or any non-ASCII character. `~` is then free to use as a marker:

- a URL ending in `/` is saved as `index.html`; a literal last segment `index.html` is written
  `index%2Ehtml`, so the two never meet;
- case (macOS, Windows: file systems that fold case). Two names that differ only in the case of
  ASCII letters are one file there, so a name whose letters are not all in their usual case gets
  a case tag `~u<hex>`: the hex is a bit mask over its letters (outside E's own `%XX` escapes,
  whose hex digits E always writes in upper case), bit i set when letter i is upper case; the
  hex digits of an escape from the URL (`%C3`, written `%25C3`) are usually upper case, so for
  them it is the other way round. The tag goes before the first dot that does not start the
  name (so `Index.html` is `Index~u1.html` and keeps its extension), else at the end (the
  directory `About` is `About~u1`, the file `About~u1~`). Case-folded, the tagged name still
  gives back the exact name (the folded letters plus the mask), and a name with no tag has
  only letters of its usual case: so two names are never equal once case-folded, and the tag
  is exact (no digest, no chance of a clash). Non-ASCII letters never reach this rule: E has
  percent-encoded them;
- a file and a directory of one name cannot coexist (`/x` and `/x/y`), so whichever of them has
  no dot gets no marker and the other gets a trailing `~`: an extension-less file `x` is `x~`
  (beside the directory `x`), and a directory with a dot, `v1.2`, is `v1.2~` (beside a file
  `v1.2`). The tag neither adds nor removes a dot, so this holds for tagged names too;
- the query, if any, is part of the last segment (`?` encodes as `%3F`);
- names that Windows reserves (CON, NUL, COM1, ...) and names of only dots get their first
  character encoded; names over 255 bytes are cut to 200 and given `~` and 16 hex digits of a
  digest of the whole name.

The three uses of `~` are told apart by shape alone, even case-folded: a long name's `~` is
followed by exactly 16 hex digits and the end of the name; a case tag's `~` by `u` (not a hex
digit); the file/directory marker ends the name.
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
# How E's output splits, as far as case goes: an escape of a `%XX` that was in the URL (E writes
# its `%` as `%25`; its hex digits are upper case in a canonical URL), one of E's own escapes
# (upper-case hex, always), or a run of literal characters (letters usually lower case). The
# split depends only on `%` and on which characters are hex digits, so it is the same once
# case-folded.
_CASE_TOKENS = re.compile(r"%25([0-9A-Fa-f]{2})|%.{0,2}|([^%]+)", re.DOTALL)


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


def _case_mask(name: str) -> int:
    """Bit i set when the i-th letter of `name` (outside E's escapes) is not in its usual case."""
    mask = bit = 0
    for match in _CASE_TOKENS.finditer(name):
        for text, usual_upper in ((match.group(1), True), (match.group(2), False)):
            for char in text or "":
                if "a" <= char <= "z" or "A" <= char <= "Z":
                    if char.isupper() != usual_upper:
                        mask |= 1 << bit
                    bit += 1
    return mask


def _case_tag(name: str) -> str:
    """`name` (an output of E) with its case tag, if any: see the module docstring."""
    mask = _case_mask(name)
    if not mask:
        return name
    tag = f"~u{mask:x}"
    dot = name.find(".", 1)
    return name + tag if dot < 0 else name[:dot] + tag + name[dot:]


def _fit(name: str) -> str:
    if len(name.encode()) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[:200]}~{digest}"


def _dir_name(segment: str) -> str:
    name = _case_tag(_encode(segment))
    return _fit(name + "~" if "." in name else name)


def _file_name(segment: str, query: str | None) -> str:
    if not segment and query is None:
        return INDEX
    name = _encode(segment + ("?" + query if query is not None else ""))
    if name == INDEX:
        return "index%2Ehtml"  # E never yields this, and no directory name equals it
    name = _case_tag(name)  # `index.html` has no tag, and a tagged name holds a `~`
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
