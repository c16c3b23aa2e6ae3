"""Parser backends: the elements of a page that extraction asks for, in one pass, in C.

A backend reads a page as UTF-8 bytes (encoding.py decodes every other encoding beforehand, the
same for all) and yields the elements whose tag is in `tags`, in document order, as
`(tag, attributes, node)`; `text(node)` is an element's text content (for <title>). The tag
filter runs inside the parser library:

- `lxml` (the default): libxml2's HTML parser builds the tree, `Element.iter(*tags)` walks it in
  C. A page nested deeper than libxml2 builds trees goes through its target interface instead;
- `selectolax`: lexbor (an HTML5-conformant parser) builds the tree, one CSS selector list
  matches the tags in C. The fastest on ordinary pages, but lexbor's time grows with the square
  of the nesting depth (100,000 nested <div> take about 40 s, where lxml takes 0.4 s), and it
  leaves out <template> contents as HTML says (tests/parse/test_backends.py);
- `bs4`: BeautifulSoup on lxml with a SoupStrainer, the path the crawler started with: a
  Python callback per start tag of the page, several times the CPU of the other two.

They agree on links, title and robots directives on every page of the test sites, on real pages
and on the hostile cases (tests/parse/test_backends.py, which names the differences the HTML
standard explains). Backends keep no state between pages, so one instance serves a process.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from lxml import etree

__all__ = ["BACKENDS", "Backend", "Element", "available", "get_backend"]

# (tag name, attributes, the backend's node): what a backend yields for each wanted element.
# Attribute values are str, or None for an attribute written without a value (selectolax).
Element = tuple[str, Mapping[str, Any], Any]


class Backend(Protocol):
    """What extract.py needs of a parser library."""

    name: str

    def elements(self, body: bytes, tags: frozenset[str]) -> Iterator[Element]:
        """The elements of the page (UTF-8 bytes) whose tag is in `tags`, in document order."""
        ...

    def text(self, node: Any) -> str:
        """The text content of an element yielded by `elements`."""
        ...


class LxmlBackend:
    """libxml2's HTML parser through lxml; the tag filter of `iter` runs in C."""

    name = "lxml"

    def elements(self, body: bytes, tags: frozenset[str]) -> Iterator[Element]:
        """The wanted elements of the tree libxml2 builds from `body`."""
        parser = _lxml_parser()
        try:
            root = etree.fromstring(body, parser)
        except (etree.ParserError, etree.XMLSyntaxError, ValueError):  # an empty document
            return
        if root is None:
            return
        if any(error.type == _TOO_DEEP for error in parser.error_log):
            # libxml2 builds no tree deeper than 256 elements (2048 with huge_tree) and drops
            # the rest of the page; HTML has no such limit. Such a page goes through the
            # target interface, which builds no tree: a Python call per tag, as bs4 makes.
            yield from _stream(body, tags)
            return
        # What follows </html> is kept by libxml2 in a second top-level element (HTML puts it
        # in the body): the elements after the root are walked too.
        for top in (root, *root.itersiblings()):
            for element in top.iter(*tags):
                yield element.tag, element.attrib, element

    def text(self, node: Any) -> str:
        """All the text under `node`."""
        if isinstance(node, list):  # from _stream
            return "".join(node)
        return "".join(node.itertext())


_TOO_DEEP = etree.ErrorTypes.ERR_RESOURCE_LIMIT


@functools.lru_cache(maxsize=1)
def _lxml_parser() -> etree.HTMLParser:
    # A parser may be used again for another document once a parse is over (not by two threads
    # at once): each parser process is single-threaded, and so are the tests that call it.
    # Comments and processing instructions are left in the tree: iter(*tags) skips them, and
    # removing them costs more. Ids are not collected: nothing looks elements up by id.
    return etree.HTMLParser(encoding="utf-8", no_network=True, collect_ids=False)


class _Collector:
    """An lxml parser target: keeps the wanted elements, and the text of each (a list)."""

    def __init__(self, tags: frozenset[str]) -> None:
        self.tags = tags
        self.found: list[Element] = []
        self.open: list[tuple[str, list[str]]] = []  # wanted elements not yet closed

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        if tag in self.tags:
            text: list[str] = []
            self.found.append((tag, dict(attrib), text))
            self.open.append((tag, text))

    def end(self, tag: str) -> None:
        if self.open and self.open[-1][0] == tag:
            _, text = self.open.pop()
            if self.open:  # the text of an element is part of its parent's
                self.open[-1][1].extend(text)

    def data(self, data: str) -> None:
        if self.open:
            self.open[-1][1].append(data)

    def close(self) -> list[Element]:
        return self.found


def _stream(body: bytes, tags: frozenset[str]) -> Iterator[Element]:
    parser = etree.HTMLParser(encoding="utf-8", target=_Collector(tags), no_network=True)
    try:
        found: list[Element] = etree.fromstring(body, parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return
    yield from found


class SelectolaxBackend:
    """lexbor through selectolax: an HTML5 tree, one CSS selector list matched in C."""

    name = "selectolax"

    def elements(self, body: bytes, tags: frozenset[str]) -> Iterator[Element]:
        """The wanted elements of the HTML5 tree lexbor builds from `body`."""
        from selectolax.lexbor import LexborHTMLParser

        for node in LexborHTMLParser(body).css(_selector(tags)):
            yield node.tag, node.attributes, node

    def text(self, node: Any) -> str:
        """All the text under `node`."""
        return str(node.text(deep=True))


@functools.lru_cache(maxsize=16)
def _selector(tags: frozenset[str]) -> str:
    return ", ".join(sorted(tags))


class Bs4Backend:
    """BeautifulSoup on lxml, only the wanted tags built (SoupStrainer): `--parser bs4`."""

    name = "bs4"

    def elements(self, body: bytes, tags: frozenset[str]) -> Iterator[Element]:
        """The wanted tags of the strained soup of `body`."""
        from bs4 import BeautifulSoup
        from bs4.builder import ParserRejectedMarkup
        from bs4.element import Tag

        strainer = _strainer(tags)
        # multi_valued_attributes=None: rel stays one string, as the other backends give it.
        options = {"parse_only": strainer, "multi_valued_attributes": None}
        try:
            soup = BeautifulSoup(body, "lxml", from_encoding="utf-8", **options)
        except (ParserRejectedMarkup, ValueError):
            # An older libxml2 stops at an invalid byte, and bs4 then gives up: the text
            # decoded here (invalid bytes made U+FFFD) goes in instead.
            soup = BeautifulSoup(body.decode("utf-8", "replace"), "lxml", **options)
        for tag in soup.find_all(strainer):
            if isinstance(tag, Tag):
                yield tag.name, tag.attrs, tag

    def text(self, node: Any) -> str:
        """All the text under `node`."""
        return str(node.get_text())


@functools.lru_cache(maxsize=16)
def _strainer(tags: frozenset[str]) -> Any:
    from bs4 import MarkupResemblesLocatorWarning, SoupStrainer, XMLParsedAsHTMLWarning

    # bs4 warns on stderr when a page looks like XML, or like a file name or a URL rather than
    # markup. The site decides what it serves, so that is no news here, only noise under the
    # progress bar (once per parser process).
    for category in (XMLParsedAsHTMLWarning, MarkupResemblesLocatorWarning):
        warnings.filterwarnings("ignore", category=category, module=r"bs4(\.|\Z)|crawler\.parse")
    # One pattern rather than a list of names: bs4 tests every rule of a strainer on every
    # start tag of the page, and one rule is a fraction of that work.
    names = "|".join(sorted(re.escape(t) for t in tags))
    return SoupStrainer(re.compile(f"^(?:{names})$"))


BACKENDS: dict[str, Backend] = {
    backend.name: backend for backend in (LxmlBackend(), SelectolaxBackend(), Bs4Backend())
}
_MODULES = {"lxml": "lxml", "selectolax": "selectolax", "bs4": "bs4"}


def available(name: str) -> bool:
    """Whether the library of backend `name` is installed."""
    return name in _MODULES and importlib.util.find_spec(_MODULES[name]) is not None


def get_backend(name: str) -> Backend:
    """The backend called `name` (one of BACKENDS); ValueError for any other name, or when its
    library is not installed."""
    if name not in BACKENDS:
        raise ValueError(f"unknown parser backend {name!r}: one of {', '.join(BACKENDS)}")
    if not available(name):
        raise ValueError(f"parser backend {name!r} needs {_MODULES[name]}: pip install {name}")
    return BACKENDS[name]
