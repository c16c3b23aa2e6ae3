"""A page's bytes as UTF-8, decoded once here for every parser backend. Pure, no I/O.

The encoding: a byte-order mark wins over the Content-Type charset, as in browsers (WHATWG
"decode"); then the Content-Type charset, unless it is unknown or one that browsers must not
support (UTF-7, UTF-32, EBCDIC, ...); then an XML declaration or a <meta> charset near the top;
UTF-8 when the bytes are valid UTF-8; charset detection (charset_normalizer, as bs4 does);
windows-1252. A page in any encoding but UTF-8 is decoded by Python's codecs, invalid bytes
becoming U+FFFD, and handed on as UTF-8, so every backend reads exactly the same text: libxml2
(lxml, and bs4 on lxml) stops at the first invalid byte of a non-UTF-8 page and drops the rest,
where browsers go on. bs4 never gets to search for a <meta> itself either (its search is
quadratic on a page full of `<meta `).
"""

from __future__ import annotations

import codecs
import functools
import re

__all__ = ["choose_encoding", "decode", "utf8"]

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
# "User agents must not support the CESU-8, UTF-7, BOCU-1, SCSU, EBCDIC, and UTF-32 encodings"
# (HTML, 13.2.3.3): a page that claims one is read as if it claimed nothing. libxml2 (iconv)
# knows UTF-7 and EBCDIC, and finds no tag at all in an ASCII page read that way. Python's names
# for them, and a pattern for the labels Python does not know.
_FORBIDDEN_CODECS = frozenset(
    (
        *("utf-7", "utf-32", "utf-32-le", "utf-32-be"),
        *("cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140"),
    )
)
_FORBIDDEN_LABEL = re.compile(r"utf-?7|utf-?32|cesu|bocu|scsu|ebcdic|ibm-?1047")
# Labels that browsers read as windows-1252 (WHATWG Encoding): servers say latin-1 or ASCII and
# send curly quotes and dashes in 0x80-0x9F, which true ISO-8859-1 makes C1 controls.
_WINDOWS_1252 = frozenset(
    (
        *("ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1"),
        *("iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1"),
        *("latin-1", "us-ascii", "windows-1252", "x-cp1252"),
    )
)
_UTF16 = re.compile(r"utf-?16|ucs-?2|unicode(?!-1-1-utf-8)|csunicode|iso-10646-ucs-2")
PRESCAN_BYTES = 8192  # where an XML declaration or <meta> charset counts (browsers: 1024)
DETECT_BYTES = 1 << 20  # what charset detection reads
# Linear time: every repetition is bounded.
_XML_ENCODING = re.compile(
    rb"\s{0,256}<\?xml\s[^>]{0,256}?encoding\s*=\s*[\"']([\w.:-]{1,64})", re.IGNORECASE
)
_META_CHARSET = re.compile(
    rb"<meta[\s/][^>]{0,1024}?charset\s*=\s*[\"']?\s*([\w.:-]{1,64})", re.IGNORECASE
)
# Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one). WHATWG
# knows only the UTF-8 and UTF-16 ones; a UTF-32 mark is kept as bs4 reads it without a charset.
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32be"),
    (b"\xff\xfe\x00\x00", "utf-32le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16le"),
    (b"\xfe\xff", "utf-16be"),
)


@functools.lru_cache(maxsize=256)
def usable(label: str) -> str | None:
    """The name of the encoding `label` (from a header or a page) to decode with, or None when
    the label is to be ignored: unknown to Python, or an encoding browsers must not support."""
    label = label.strip().lower()
    if not label or _FORBIDDEN_LABEL.search(label):
        return None
    try:
        info = codecs.lookup(label)
    except LookupError:  # what Python cannot decode is not used (it decodes for every backend)
        return None
    if info.name in _FORBIDDEN_CODECS or not getattr(info, "_is_text_encoding", True):
        return None
    if label in _WINDOWS_1252:
        label = "windows-1252"
    return label


def _detect(body: bytes) -> str | None:
    """charset_normalizer's guess (as bs4 makes it), on the first DETECT_BYTES only."""
    try:  # what bs4 detects with too; requests depends on it. Imported here: few pages need it.
        from charset_normalizer import detect
    except ImportError:  # pragma: no cover - then undeclared non-UTF-8 pages are windows-1252
        return None
    guess = detect(body[:DETECT_BYTES]).get("encoding")
    if not isinstance(guess, str):
        return None
    return usable(guess) or usable(guess.replace("_", "-"))


def choose_encoding(body: bytes, content_type: str) -> str:
    """The encoding to read `body` in, always one that Python knows.

    In order: a byte-order mark; the Content-Type charset; an XML declaration or a <meta>
    charset in the first PRESCAN_BYTES (UTF-16 there means UTF-8: the page was readable as
    ASCII); UTF-8 if the whole page is valid UTF-8; charset detection; windows-1252. Labels
    that browsers ignore are skipped.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    header = _CHARSET.search(content_type or "")
    if header is not None and (name := usable(header.group(1))):
        return name
    head = body[:PRESCAN_BYTES]
    declared = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    if declared is not None and (name := usable(declared.group(1).decode("ascii"))):
        return "utf-8" if _UTF16.match(name) else name
    if body.isascii():
        return "utf-8"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    return _detect(body) or "windows-1252"


def _c1_controls(error: UnicodeError) -> tuple[str, int]:
    """The five bytes that windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are the
    C1 controls of the same number in browsers (WHATWG index-windows-1252) and in libxml2."""
    assert isinstance(error, UnicodeDecodeError)
    return "".join(map(chr, error.object[error.start : error.end])), error.end


codecs.register_error("crawl-windows-1252", _c1_controls)


def decode(body: bytes, encoding: str) -> str:
    """`body` as text whatever it holds, by Python's codecs: in `encoding` if Python knows it as
    a text encoding, else in UTF-8; what does not decode becomes U+FFFD (in windows-1252, the
    C1 control of the same number). Never raises."""
    try:
        if codecs.lookup(encoding).name == "cp1252":
            return body.decode("cp1252", errors="crawl-windows-1252")
        return body.decode(encoding, errors="replace")
    except (LookupError, UnicodeError):  # unknown to Python, not a text encoding, no "replace"
        return body.decode("utf-8", errors="replace")


def utf8(body: bytes, content_type: str) -> bytes:
    """The page as UTF-8 bytes: `body` itself when it is in UTF-8 (invalid bytes are left for
    the parser, which makes them U+FFFD), else decoded (`decode`) and encoded again."""
    encoding = choose_encoding(body, content_type)
    if encoding == "utf-8":
        return body
    return decode(body, encoding).encode("utf-8", "replace")
