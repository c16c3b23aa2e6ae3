"""Stage 4 of 5: the parser processes (pool.py), their entry point (child.py), and extract.py."""

from .extract import parse_html
from .pool import ParserPool

__all__ = ["ParserPool", "parse_html"]
