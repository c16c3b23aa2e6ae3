"""Pure: every URL reference of an HTML or CSS document, with its byte offsets. No I/O.

One scanner serves two stages: the parser processes take page requisites from it (`--mirror`),
and the mirror (store/mirror.py) rewrites exactly the bytes it points at, so what is fetched and
what is converted can never disagree, and every byte outside a reference stays as received. It
reads bytes as Latin-1 (one character per byte, so offsets are byte offsets; every ASCII-based
charset keeps `<`, `=`, quotes and `url(` as ASCII) and decodes only the values, in the page's
charset.

HTML: a/area href, frame/iframe src and link href are `link`s; img src/srcset, picture/source
srcset and src, script src, link rel stylesheet/icon/preload/modulepreload/manifest,
video/audio src and poster, track src, object data, embed src, input type=image src, style
attributes and <style> blocks (CSS url() and @import) are `requisite`s; <base href> is `base`,
the URL of a meta refresh `refresh`. Comments, <script> and other raw-text elements are skipped.
CSS: url() and @import, both `requisite`s (`import` for @import).
"""

from __future__ import annotations

import codecs
import functools
import html
import re
from dataclasses import dataclass
from urllib.parse import urljoin

from ..urls import InvalidURL, canonicalize

LINK = "link"
REQUISITE = "requisite"
IMPORT = "import"  # a CSS @import: a requisite whose own references are requisites too
BASE = "base"
REFRESH = "refresh"

_REQUISITE_RELS = frozenset(
    ("stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "modulepreload", "manifest")
)
_RAW_TEXT = frozenset(("script", "textarea", "title", "xmp", "iframe", "noembed", "noframes"))
# One start tag whole (its attribute text in group 2; quoted values may hold `>`), or a comment
# (to its end), an end tag, a doctype or a processing instruction. Each alternative starts with
# a different character, and `<` ends an unquoted run, so a failed match is short.
_TAG = re.compile(
    r"""<(?:!--(?:.*?-->|.*\Z)|([A-Za-z][^\s/>]*)((?:[^>"'<]|"[^"]*"|'[^']*')*)>|[/!?][^>]*>)""",
    re.DOTALL,
)
_WANTED_TAGS = frozenset(
    (
        *("a", "area", "frame", "iframe", "base", "link", "img", "source", "script", "track"),
        *("embed", "video", "audio", "object", "input", "meta", "style"),
    )
)
_STYLE_ATTR = re.compile(r"style", re.IGNORECASE)
_STYLE_END = re.compile(r"</style\s*>", re.IGNORECASE)
_ATTR = re.compile(
    r"""[\s/]*([^\s"'>/=][^\s"'>/=]*)(?:\s*=\s*("([^"]*)"|'([^']*)'|([^\s>"'][^\s>]*)))?"""
)
_CSS_TOKEN = re.compile(
    r"""/\*.*?(?:\*/|\Z)"""  # a comment
    r"""|@import\s+(?:"([^"\n]*)"|'([^'\n]*)')"""  # @import "x"
    r"""|(@import\s+)?url\(\s*(?:"([^"\n]*)"|'([^'\n]*)'|([^\s)"']*))\s*\)""",  # [@import] url(x)
    re.DOTALL | re.IGNORECASE,
)
_REFRESH_URL = re.compile(r"""^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(['"]?)(.*?)\1\s*$""", re.I)
_CHARSET = re.compile(rb"charset\s*=\s*[\"']?([\w.:-]{1,40})", re.IGNORECASE)
_CSS_CHARSET = re.compile(rb'^@charset\s+"([\w.:-]{1,40})"')


@dataclass(frozen=True, slots=True)
class Ref:
    """One URL reference: `text` (decoded, as written) at bytes [start, end) of the document.

    `quoted` is False for an unquoted attribute value or url(): what replaces it there must not
    hold spaces or quotes."""

    start: int
    end: int
    text: str
    kind: str
    quoted: bool = True
    entities: bool = True  # in an HTML attribute (write `&` as `&amp;`), not in CSS text


def charset_of(body: bytes, content_type: str | None, *, css: bool = False) -> str:
    """The charset to read URL values in: Content-Type, then <meta>/@charset, then UTF-8."""
    declared = _CHARSET.search((content_type or "").encode("latin-1", "replace"))
    if declared is None:
        declared = _CSS_CHARSET.match(body[:1024]) if css else _CHARSET.search(body[:4096])
    if declared is not None:
        try:
            name = codecs.lookup(declared.group(1).decode("ascii", "replace")).name
        except LookupError:
            return "utf-8"
        # A page that declares UTF-16 yet reads as ASCII here is UTF-8 (HTML's prescan rule).
        return "utf-8" if "utf-16" in name or "utf-32" in name else name
    return "utf-8"


def _value(raw: str, encoding: str, *, entities: bool) -> str:
    text = raw.encode("latin-1").decode(encoding, "replace")
    return html.unescape(text) if entities else text


def _srcset(value: str, offset: int, encoding: str, out: list[Ref]) -> None:
    """The URLs of a srcset attribute value (HTML's candidate parsing, offsets kept)."""
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        start = i
        while i < n and not value[i].isspace():
            i += 1
        url = value[start:i]
        end = i
        if url.endswith(","):
            url, end = url.rstrip(","), start + len(url.rstrip(","))
        else:  # descriptors run to the next comma outside parentheses
            depth = 0
            while i < n and (value[i] != "," or depth):
                depth += {"(": 1, ")": -1}.get(value[i], 0)
                i += 1
        if url:
            text = _value(url, encoding, entities=True)
            out.append(Ref(offset + start, offset + end, text, REQUISITE))


def css_refs(
    text: str, offset: int = 0, encoding: str = "utf-8", *, entities: bool = False
) -> list[Ref]:
    """The url() and @import references of CSS `text` (Latin-1 view of the bytes)."""
    out: list[Ref] = []
    for match in _CSS_TOKEN.finditer(text):
        for group in (1, 2, 4, 5, 6):
            if match.group(group) is not None:
                kind = IMPORT if group in (1, 2) or match.group(3) else REQUISITE
                raw = match.group(group)
                start, end = match.span(group)
                if entities and group == 6:  # url(&quot;x&quot;) in a style attribute
                    for quote in ("&quot;", "&#34;", "&#39;", "&apos;"):
                        if (
                            raw.startswith(quote)
                            and raw.endswith(quote)
                            and len(raw) > 2 * len(quote)
                        ):
                            raw = raw[len(quote) : -len(quote)]
                            start, end = start + len(quote), end - len(quote)
                            break
                if raw.strip():
                    value = _value(raw, encoding, entities=entities).strip()
                    out.append(Ref(offset + start, offset + end, value, kind, group != 6, entities))
                break
    return out


def _attributes(raw: str, offset: int) -> dict[str, tuple[str, int, int, bool]]:
    """name -> (value, start, end, quoted) of the attributes in a start tag's text; the first
    of a repeated name wins, as in browsers."""
    attrs: dict[str, tuple[str, int, int, bool]] = {}
    for attr in _ATTR.finditer(raw):
        key = attr.group(1).lower()
        if key in attrs:
            continue
        if attr.group(2) is None:
            attrs[key] = ("", offset + attr.end(), offset + attr.end(), False)
            continue
        group = 3 if attr.group(3) is not None else 4 if attr.group(4) is not None else 5
        attrs[key] = (
            attr.group(group),
            offset + attr.start(group),
            offset + attr.end(group),
            group != 5,
        )
    return attrs


def html_refs(body: bytes, content_type: str | None = None) -> list[Ref]:
    """Every reference of an HTML page, in document order."""
    encoding = charset_of(body, content_type)
    text = body.decode("latin-1")
    out: list[Ref] = []
    pos = 0
    n = len(text)
    search = _TAG.search
    while pos < n:
        match = search(text, pos)
        if match is None:
            break
        pos = match.end()
        name = match.group(1)
        if name is None:  # a comment, an end tag, a doctype, a processing instruction
            continue
        name = name.lower()
        raw = match.group(2)
        # Only the tags that can hold a reference have their attributes read: most tags of a
        # page (span, div, p) are passed over by the one pattern above.
        if name in _WANTED_TAGS or (("tyle" in raw or "TYLE" in raw) and _STYLE_ATTR.search(raw)):
            _tag_refs(name, _attributes(raw, match.start(2)), encoding, out)
        if name == "style":
            close = _STYLE_END.search(text, pos)
            stop = n if close is None else close.start()
            out.extend(css_refs(text[pos:stop], pos, encoding))
            pos = stop
        elif name in _RAW_TEXT:
            close = re.compile(rf"</{name}[\s/>]", re.I).search(text, pos)
            pos = n if close is None else close.start()
    return out


def _tag_refs(
    name: str, attrs: dict[str, tuple[str, int, int, bool]], encoding: str, out: list[Ref]
) -> None:
    def add(attr: str, kind: str) -> None:
        found = attrs.get(attr)
        if found is not None and found[0].strip():
            raw, start, _, quoted = found
            # Leading and trailing spaces are not part of the URL: keep them out of the span.
            lead = len(raw) - len(raw.lstrip())
            trail = len(raw.rstrip())
            text = _value(raw[lead:trail], encoding, entities=True)
            out.append(Ref(start + lead, start + trail, text, kind, quoted))

    if name in ("a", "area"):
        add("href", LINK)
    elif name in ("frame", "iframe"):
        add("src", LINK)
    elif name == "base":
        add("href", BASE)
    elif name == "link":
        rels = set(attrs.get("rel", ("",))[0].lower().split())
        add("href", REQUISITE if rels & _REQUISITE_RELS else LINK)
    elif name in ("img", "source"):
        add("src", REQUISITE)
        if "srcset" in attrs:
            raw, start, _, _ = attrs["srcset"]
            _srcset(raw, start, encoding, out)
    elif name in ("script", "track", "embed"):
        add("src", REQUISITE)
    elif name in ("video", "audio"):
        add("src", REQUISITE)
        add("poster", REQUISITE)
    elif name == "object":
        add("data", REQUISITE)
    elif name == "input" and attrs.get("type", ("",))[0].strip().lower() == "image":
        add("src", REQUISITE)
    elif name == "meta" and attrs.get("http-equiv", ("",))[0].strip().lower() == "refresh":
        found = attrs.get("content")
        if found is not None:
            raw, start, _, quoted = found
            parsed = _REFRESH_URL.match(raw)
            if parsed is not None and parsed.group(2).strip():
                s, e = parsed.span(2)
                text = _value(raw[s:e], encoding, entities=True).strip()
                out.append(Ref(start + s, start + e, text, REFRESH, quoted))
    if "style" in attrs:
        raw, start, _, _ = attrs["style"]
        out.extend(css_refs(raw, start, encoding, entities=True))


def document_refs(body: bytes, content_type: str | None) -> list[Ref]:
    """The references of an HTML page or a stylesheet; none for anything else."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime == "text/css":
        encoding = charset_of(body, content_type, css=True)
        return css_refs(body.decode("latin-1"), 0, encoding)
    if mime in ("text/html", "application/xhtml+xml"):
        return html_refs(body, content_type)
    return []


def is_css(content_type: str | None) -> bool:
    """Whether a Content-Type is a stylesheet."""
    return (content_type or "").split(";", 1)[0].strip().lower() == "text/css"


def resolve_ref(base: str, text: str) -> str | None:
    """The canonical URL a reference points at (fragment dropped), or None (not http(s))."""
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    # What the result depends on, so that the cache below serves the references every page of
    # a site repeats: nothing but the text for an absolute URL, the origin for `/x` and `//x`,
    # the folder for a relative path, all of the base for `?q`.
    head = text[:12].lower()
    if head.startswith(("http://", "https://")):
        scope = ""
    elif text.startswith("/"):
        scope = base[: base.find("/", base.find("//") + 2) + 1] if "//" in base else base
    elif text.startswith("?") or ":" in head.split("/", 1)[0]:
        scope = base  # a query, or another scheme (javascript:, mailto:)
    else:
        scope = base[: base.rfind("/") + 1] if base.count("/") >= 3 else base
    return _resolve(scope, text)


@functools.lru_cache(maxsize=65536)
def _resolve(scope: str, text: str) -> str | None:
    try:
        return canonicalize(urljoin(scope, text) if scope else text)
    except (InvalidURL, ValueError):
        return None


def base_of(url: str, refs: list[Ref]) -> str:
    """What a page's relative references resolve against: its first <base href>, or its URL."""
    for ref in refs:
        if ref.kind == BASE:
            return resolve_ref(url, ref.text) or url
    return url


# A reference as it crosses the pipe: (start, end, text, kind, entities, canonical URL or None).
Resolved = tuple[int, int, str, str, bool, "str | None"]


def resolved_refs(
    url: str, body: bytes, content_type: str | None
) -> tuple[str, tuple[Resolved, ...]]:
    """(base, every reference with the canonical URL it points at) of a page or stylesheet
    fetched from `url`: what the mirror needs to convert it without scanning it again."""
    refs = document_refs(body, content_type)
    base = base_of(url, refs)
    return base, tuple(
        (
            r.start,
            r.end,
            r.text,
            r.kind,
            r.entities,
            None if r.kind == BASE else resolve_ref(base, r.text),
        )
        for r in refs
    )


def requisites_of(url: str, refs: tuple[Resolved, ...]) -> tuple[tuple[str, ...], ...]:
    """(requisites, CSS imports) among resolved references: in document order, each once."""
    found: dict[str, None] = {}
    imports: dict[str, None] = {}
    for _, _, _, kind, _, target in refs:
        if kind in (REQUISITE, IMPORT) and target is not None and target != url:
            found[target] = None
            if kind == IMPORT:
                imports[target] = None
    return tuple(found), tuple(imports)


def requisites(url: str, body: bytes, content_type: str | None) -> tuple[tuple[str, ...], ...]:
    """(requisites, CSS imports) of a page or stylesheet fetched from `url`: canonical, in
    document order, each once. An import is a stylesheet whose own references are fetched."""
    return requisites_of(url, resolved_refs(url, body, content_type)[1])
