"""crawler.fetch.worker: what the fetcher threads remember stays bounded."""

from __future__ import annotations

import types

import pytest

from crawler.fetch import worker
from crawler.fetch.netguard import AddressPolicy, Guard
from crawler.fetch.worker import Counters, FetcherThread


def test_address_verdicts_are_remembered_for_a_bounded_number_of_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker, "MAX_REFUSALS", 5)
    with Guard(default_policy=AddressPolicy()) as guard:  # public only: loopback is refused
        services = types.SimpleNamespace(guard=guard, counters=Counters(), refusals={})
        fetcher = types.SimpleNamespace(services=services)
        for n in range(1, 30):
            refusal = FetcherThread._address_refusal(fetcher, f"http://127.0.0.{n}:8000/x")  # type: ignore[arg-type]
            assert refusal is not None and f"127.0.0.{n} (loopback)" in refusal
            assert len(services.refusals) <= 5
    assert list(services.refusals) == [f"127.0.0.{n}:8000" for n in range(25, 30)]
