"""Every test of tests/parse that parses runs once per parser backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crawler.parse import extract
from crawler.parse.backends import BACKENDS


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a parser backend, made the default of crawler.parse.extract meanwhile."""
    monkeypatch.setattr(extract, "DEFAULT_BACKEND", request.param)
    yield request.param
