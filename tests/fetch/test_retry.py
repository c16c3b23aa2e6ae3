"""crawler.fetch.retry: what is retried, after how long; Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.errors import ErrorKind
from crawler.fetch.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
NOW_WALL = NOW.timestamp()


# -- should_retry --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retry_statuses_are_retried_within_budget(status):
    policy = RetryPolicy(retries=2)
    assert policy.should_retry(1, status=status, kind=ErrorKind.HTTP)
    assert policy.should_retry(2, status=status, kind=ErrorKind.HTTP)
    assert not policy.should_retry(3, status=status, kind=ErrorKind.HTTP)


@pytest.mark.parametrize("kind", [ErrorKind.TIMEOUT, ErrorKind.CONNECTION])
def test_network_kinds_are_retried_within_budget(kind):
    policy = RetryPolicy(retries=3)
    for attempt in (1, 2, 3):
        assert policy.should_retry(attempt, status=None, kind=kind)
    assert not policy.should_retry(4, status=None, kind=kind)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, ErrorKind.HTTP),
        (403, ErrorKind.HTTP),
        (200, None),
        (200, ErrorKind.TOO_LARGE),
        (None, ErrorKind.REDIRECT),
        (None, ErrorKind.INVALID_URL),
        (301, None),
    ],
)
def test_other_outcomes_are_not_retried(status, kind):
    assert not RetryPolicy(retries=5).should_retry(1, status=status, kind=kind)


def test_zero_retries_never_retries():
    policy = RetryPolicy(retries=0)
    assert not policy.should_retry(1, status=503, kind=ErrorKind.HTTP)
    assert not policy.should_retry(1, status=None, kind=ErrorKind.TIMEOUT)


def test_retry_statuses_constant():
    assert frozenset({429, 500, 502, 503, 504}) == RETRY_STATUSES


# -- backoff -------------------------------------------------------------------------------


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(base=0.5, cap=30.0)
    rng = random.Random(0)
    waits = [policy.backoff(attempt, rng) for attempt in range(1, 13)]
    for attempt, wait in enumerate(waits, start=1):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling
        assert wait <= policy.cap
    # Equal jitter within [ceiling/2, ceiling]: each early step strictly exceeds the one before.
    assert waits[0] < waits[2] < waits[4] < waits[6]
    assert all(w >= 15.0 for w in waits[7:])  # at the cap: uniform(15, 30)


def test_backoff_is_deterministic_with_seeded_rng():
    policy = RetryPolicy()
    first = [policy.backoff(a, random.Random(0)) for a in range(1, 6)]
    second = [policy.backoff(a, random.Random(0)) for a in range(1, 6)]
    assert first == second


@given(attempt=st.integers(min_value=1, max_value=1000), seed=st.integers(0, 2**32))
def test_backoff_never_exceeds_cap(attempt, seed):
    policy = RetryPolicy(base=0.5, cap=30.0)
    assert 0 < policy.backoff(attempt, random.Random(seed)) <= 30.0


def test_backoff_is_capped_for_huge_attempts():
    assert RetryPolicy(cap=30.0).backoff(1025, random.Random(0)) <= 30.0


# -- parse_retry_after ---------------------------------------------------------------------


def test_delta_seconds():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("0") == 0.0


def test_http_date_in_the_future():
    header = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert header.endswith("GMT")
    assert parse_retry_after(header, now_wall=NOW_WALL) == pytest.approx(90.0)


def test_http_date_in_the_past_is_zero():
    header = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(header, now_wall=NOW_WALL) == 0.0


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "-5", "1.5", "12abc", "Wed, 99 Foo 2015 25:61:00 GMT"],
)
def test_absent_or_garbage_is_none(value):
    assert parse_retry_after(value, now_wall=NOW_WALL) is None


def test_date_without_zone_is_none():
    # "-0000" means "zone unknown": parsedate_to_datetime gives a naive datetime.
    assert parse_retry_after("Wed, 01 May 2024 12:01:00 -0000", now_wall=NOW_WALL) is None


@given(st.integers(min_value=0, max_value=10**9))
def test_any_delta_seconds_round_trips(seconds):
    assert parse_retry_after(str(seconds)) == float(seconds)


@pytest.mark.parametrize("value", ["\u00b2", "\u00b9", "1\u00b3"])
def test_latin1_superscript_digits_are_garbage(value):
    assert parse_retry_after(value) is None


# -- delay ---------------------------------------------------------------------------------


def test_delay_uses_retry_after_seconds():
    assert RetryPolicy().delay(1, "5") == 5.0


def test_delay_caps_retry_after():
    policy = RetryPolicy(retry_after_cap=60.0)
    assert policy.delay(1, "3600") == 60.0
    header = format_datetime(NOW + timedelta(days=1), usegmt=True)
    assert policy.delay(1, header, now_wall=NOW_WALL) == 60.0


def test_delay_with_past_date_is_zero():
    header = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert RetryPolicy().delay(2, header, now_wall=NOW_WALL) == 0.0


@pytest.mark.parametrize("retry_after", [None, "garbage"])
def test_delay_falls_back_to_backoff(retry_after):
    policy = RetryPolicy(base=0.5, cap=30.0)
    for attempt in (1, 2, 3):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= policy.delay(attempt, retry_after) <= ceiling
