"""crawl: a concurrent web crawler; fetcher threads do the IO, parser processes the CPU work.

The library API is `crawl(config, seeds) -> Summary`; the `crawl` command is a thin layer over it.
Names are imported lazily so that a spawned parser process, which imports this package, does not
pay for requests, tqdm and the engine it never uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .config import Config
    from .engine import Summary, crawl
    from .errors import ErrorKind, ExitCode

__all__ = ["Config", "ErrorKind", "ExitCode", "Summary", "__version__", "crawl"]

_HOMES = {
    "Config": "config",
    "Summary": "engine",
    "crawl": "engine",
    "ErrorKind": "errors",
    "ExitCode": "errors",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
