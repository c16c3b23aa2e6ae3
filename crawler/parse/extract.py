"""Pure link and metadata extraction from one HTML page (BeautifulSoup on lxml). No I/O.

Only the tags that carry links or metadata are built (SoupStrainer), which keeps the parser's
CPU per page down. Runs in the parser processes; tested in-process.

Pages are hostile or broken as often as not, so (tests/parse/test_hostile_content.py):

- the encoding: a byte-order mark wins over the Content-Type charset, as in browsers (WHATWG
  "decode"); then the Content-Type charset, unless it is unknown or one that browsers must not
  support (UTF-7, UTF-32, EBCDIC, ...): then bs4 goes on to the <meta> charset, detection,
  UTF-8, windows-1252. Bytes that are invalid in the chosen
  encoding become U+FFFD (libxml2 does so). When bs4 and lxml give up on the bytes (an older
  libxml2 refuses invalid bytes; a <meta charset> holding a NUL makes lxml raise ValueError),
  the page is decoded here with Python's codecs and parsed as text;
- at most MAX_LINKS distinct links are kept, in document order; `links_dropped` says how many
  more distinct followable links the page had;
- the title has whitespace collapsed and terminal escapes and control characters removed
  (crawler.sanitize.clean_text), and is cut to MAX_TITLE characters.
"""

from __future__ import annotations

import codecs
import functools
import re
import warnings
from dataclasses import dataclass
from urllib.parse import urljoin

from bs4 import (
    BeautifulSoup,
    MarkupResemblesLocatorWarning,
    SoupStrainer,
    XMLParsedAsHTMLWarning,
)
from bs4.builder import ParserRejectedMarkup
from bs4.element import Tag
from lxml import etree

from ..sanitize import clean_text
from ..urls import InvalidURL, canonicalize

try:  # what bs4 detects with too; requests depends on it, so it is there
    from charset_normalizer import detect as _detect_charset
except ImportError:  # pragma: no cover - then undeclared non-UTF-8 pages are windows-1252
    _detect_charset = None

MAX_REJECTED = 100
MAX_LINKS = 5000  # distinct links kept from one page; the rest are counted in links_dropped

# Only these tags are built. One pattern rather than a list of names: bs4 tests every rule of a
# strainer on every start tag of the page, and one rule is an eighth of that work.
_WANTED = SoupStrainer(re.compile(r"^(?:a|area|frame|iframe|link|base|meta|title)$"))
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
MAX_TITLE = 1000
MAX_REJECTED_LENGTH = 8192  # how much of a refused URL its record keeps
# bs4 warns on stderr when a page looks like XML, or like a file name or a URL rather than
# markup. The site decides what it serves, so that is no news here, only noise under the progress
# bar (once per parser process): not shown for the pages parsed in this module.
for _category in (XMLParsedAsHTMLWarning, MarkupResemblesLocatorWarning):
    warnings.filterwarnings("ignore", category=_category, module=re.escape(__name__) + r"\Z")
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


def _tokens(value: object) -> set[str]:
    """The lower-cased tokens of a rel/content attribute (bs4 gives rel as a list)."""
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    return {t for t in re.split(r"[\s,]+", str(value or "").lower()) if t}


@dataclass(frozen=True, slots=True)
class Page:
    """What a parser extracts from one page."""

    links: tuple[str, ...]
    title: str | None
    nofollow: bool
    rejected: tuple[str, ...] = ()  # http(s) links that cannot be admitted (too long, bad)
    links_dropped: int = 0  # distinct followable links past MAX_LINKS, not in `links`


def parse_html(
    url: str, body: bytes, content_type: str = "text/html"
) -> tuple[tuple[str, ...], str | None, bool]:
    """(links, title, nofollow) of a page: `parse_page` without the rejected links."""
    page = parse_page(url, body, content_type)
    return page.links, page.title, page.nofollow


def _resolve(base: str, href: str, rejected: list[str]) -> str | None:
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    # What the result depends on: nothing but the href when it is an absolute web URL, only the
    # origin of `base` when it is an absolute path, else all of `base`. Keyed so, the cache
    # below serves the links that every page of a site repeats (menus, footers).
    if href.startswith("/") and not href.startswith("//"):
        scope = base[: base.find("/", base.find("//") + 2)] if "//" in base else base
    elif href[:8].lower().startswith(("http://", "https://")):
        scope = ""
    else:
        scope = base
    link, reject = _join(scope, href)
    if reject is not None and len(rejected) < MAX_REJECTED:
        rejected.append(reject)
    return link


@functools.lru_cache(maxsize=16384)
def _join(base: str, href: str) -> tuple[str | None, str | None]:
    """(canonical link, None), or (None, the URL to record as rejected, or None to ignore)."""
    try:
        absolute = urljoin(base, href) if base else href
    except ValueError:  # urlsplit: "Invalid IPv6 URL" for `http://[::1`; canonicalize says why
        absolute = href
    try:
        return canonicalize(absolute), None
    except (InvalidURL, ValueError):
        web = absolute[:8].lower().startswith(("http://", "https://"))
        return None, absolute[:MAX_REJECTED_LENGTH] if web else None


@functools.lru_cache(maxsize=256)
def _usable(label: str) -> str | None:
    """The name to give lxml for an encoding `label` from a header or a page, or None when the
    label is to be ignored: unknown to libxml2, or an encoding browsers must not support."""
    label = label.strip().lower()
    if not label or _FORBIDDEN_LABEL.search(label):
        return None
    try:
        if codecs.lookup(label).name in _FORBIDDEN_CODECS:
            return None
    except LookupError:
        pass  # Python does not know it; libxml2 (iconv) may
    if label in _WINDOWS_1252:
        label = "windows-1252"
    try:
        etree.HTMLParser(encoding=label)  # cheap: the name is checked, nothing is parsed
    except (LookupError, ValueError):  # unknown; not even a name (a NUL in it)
        return None
    return label


def _detect(body: bytes) -> str | None:
    """charset_normalizer's guess (as bs4 makes it), on the first DETECT_BYTES only."""
    if _detect_charset is None:
        return None
    guess = _detect_charset(body[:DETECT_BYTES]).get("encoding")
    if not isinstance(guess, str):
        return None
    return _usable(guess) or _usable(guess.replace("_", "-"))


def _encoding(body: bytes, content_type: str) -> str:
    """The encoding to read `body` in, always one that lxml knows.

    In order: a byte-order mark; the Content-Type charset; an XML declaration or a <meta>
    charset in the first PRESCAN_BYTES (UTF-16 there means UTF-8: the page was readable as
    ASCII); UTF-8 if the whole page is valid UTF-8; charset detection; windows-1252. Labels
    that browsers ignore are skipped. bs4 would find the <meta> and detect by itself, but its
    <meta> search is quadratic on a page full of `<meta ` (minutes for a few megabytes), so it is
    always handed an encoding here and never gets to search.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    header = _CHARSET.search(content_type or "")
    if header is not None and (name := _usable(header.group(1))):
        return name
    head = body[:PRESCAN_BYTES]
    declared = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    if declared is not None and (name := _usable(declared.group(1).decode("ascii"))):
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


def _decode(body: bytes, encoding: str) -> str:
    """`body` as text whatever it holds, by Python's codecs: in `encoding` if Python knows it as
    a text encoding, else in UTF-8; what does not decode becomes U+FFFD. Never raises."""
    try:
        return body.decode(encoding, errors="replace")
    except (LookupError, UnicodeError):  # unknown to Python, not a text encoding, no "replace"
        return body.decode("utf-8", errors="replace")


def _soup(body: bytes, content_type: str) -> BeautifulSoup:
    """The strained soup of a page, whatever its bytes and whatever its Content-Type says."""
    encoding = _encoding(body, content_type)
    try:
        return BeautifulSoup(body, "lxml", parse_only=_WANTED, from_encoding=encoding)
    except (ParserRejectedMarkup, ValueError):
        # ParserRejectedMarkup: lxml refused the bytes in every encoding bs4 tried (an older
        # libxml2 stops at an invalid byte). ValueError: lxml refused a charset "name" that bs4
        # cut out of the page itself (`<meta charset=` then a NUL). Either way: decode the bytes
        # here, and let lxml parse text.
        return BeautifulSoup(_decode(body, encoding), "lxml", parse_only=_WANTED)


def parse_page(url: str, body: bytes, content_type: str = "text/html") -> Page:
    """Links, title and robots meta of a page fetched from `url` (its final URL).

    Links come from a/area href, frame/iframe src and link rel=next/prev, resolved against
    <base href>, canonicalised, non-http(s) and fragments dropped, rel=nofollow honoured; with
    <meta name=robots content=nofollow|none> no link is returned and `nofollow` is True. At most
    MAX_LINKS distinct links are returned, the first in document order; `links_dropped` counts
    the distinct followable links after them.
    """
    soup = _soup(body, content_type)
    rejected: list[str] = []
    base = url
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag):
        base = _resolve(url, str(base_tag["href"]), []) or url

    nofollow = False
    for meta in soup.find_all("meta"):
        if str(meta.get("name", "")).lower() in ("robots",) and _tokens(meta.get("content")) & {
            "nofollow",
            "none",
        }:
            nofollow = True

    title = None
    title_tag = soup.find("title")
    if isinstance(title_tag, Tag):
        text = title_tag.get_text()
        title = " ".join(clean_text(text, limit=len(text)).split())[:MAX_TITLE] or None

    if nofollow:
        return Page((), title, True)

    links: dict[str, None] = {}
    dropped: set[str] = set()
    resolved: dict[str, str | None] = {}  # href as written -> link: each spelling resolved once
    for tag in soup.find_all(["a", "area", "frame", "iframe", "link"]):
        name = tag.name
        if name in ("a", "area"):
            if "nofollow" in _tokens(tag.get("rel")):
                continue
            href = tag.get("href")
        elif name == "link":
            if not _tokens(tag.get("rel")) & {"next", "prev"}:
                continue
            href = tag.get("href")
        else:
            href = tag.get("src")
        if not href:
            continue
        href = str(href)
        if href in resolved:
            link = resolved[href]
        else:
            link = resolved[href] = _resolve(base, href, rejected)
        if link is None or link in links:
            continue
        if len(links) < MAX_LINKS:
            links[link] = None
        else:
            dropped.add(link)
    return Page(tuple(links), title, False, tuple(dict.fromkeys(rejected)), len(dropped))
