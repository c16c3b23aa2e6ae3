"""Stage 4 of 5: the parser processes (pool.py), their entry point (child.py), and extract.py."""

from .extract import Page, parse_html, parse_page
from .pool import ParserPool

__all__ = ["Page", "ParserPool", "parse_html", "parse_page"]
