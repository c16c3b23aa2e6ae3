"""The options a crawl keeps across `--resume`.

A crawl's options are stored in its state.db when it starts (crawler/store/state.py). `--resume`
continues with the stored values: an option that shapes the crawl (depth, scope, filters,
politeness, limits) given again with a different value is refused, so that a resumed crawl is
the crawl that was started. The options in SAFE_TO_CHANGE only change how this run works, not
what it crawls, and may differ from one session to the next. An option added after the crawl
was started (a field that is not stored) takes its value from the command line.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .config import Config
from .errors import UsageError

# How this run works, not what it crawls: these may change from one session to the next.
SAFE_TO_CHANGE = frozenset(
    {
        "threads",
        "parsers",
        "timeout",
        "quiet",
        "verbose",
        "max_time",
        "headers",  # secret values are not stored: give --header again with --resume
        "log",
        "parser",
        "parse_timeout",
        "stall_after",
    }
)
# Never stored: where the crawl is and how this run was asked for.
NOT_STORED = frozenset({"output", "resume", "overwrite", "quiet", "verbose", "log"})


def option_name(field: str) -> str:
    """The command-line spelling of a Config field (`max_pages` -> `--max-pages`)."""
    return "--" + field.replace("_", "-")


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def options_to_store(config: Config) -> dict[str, Any]:
    """The options written into state.db when a crawl starts (JSON values)."""
    data = config.to_json()
    return {name: _plain(value) for name, value in data.items() if name not in NOT_STORED}


def _from_json(current: Any, value: Any) -> Any:
    if isinstance(current, tuple) and isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    if isinstance(current, Path) and isinstance(value, str):
        return Path(value)
    return value


def apply_stored(config: Config, stored: dict[str, Any], given: set[str]) -> Config:
    """`config` with the stored options of the crawl being resumed.

    `given` holds the fields set on this command line. One of them that shapes the crawl and
    differs from its stored value is a UsageError naming the option.
    """
    current = config.to_json()
    changes: dict[str, Any] = {}
    fields = {f.name for f in dataclasses.fields(Config)}
    for name, value in stored.items():
        if name not in fields or name in NOT_STORED or name in SAFE_TO_CHANGE:
            continue
        if name in given and _plain(current.get(name)) != value:
            raise UsageError(
                f"{option_name(name)}: the crawl in {config.output} was started with "
                f"{option_name(name)} {_show(value)}; --resume keeps it "
                f"(given {_show(_plain(current.get(name)))})"
            )
        changes[name] = _from_json(getattr(config, name), value)
    return dataclasses.replace(config, **changes) if changes else config


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    return json.dumps(value, ensure_ascii=False)
