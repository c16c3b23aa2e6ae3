"""crawler.fetch.robots: per-origin robots.txt, fetched once, cached, RFC 9309 status rules."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import responses

from crawler.fetch.http import new_session
from crawler.fetch.robots import ROBOTS_MAX_BYTES, RobotsCache

ORIGIN = "http://127.0.0.1:8000"
ROBOTS = f"{ORIGIN}/robots.txt"
UA = "mybot/1.0"

RULES = "User-agent: *\nDisallow: /private\nAllow: /private/ok\nCrawl-delay: 2\n"


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def session():
    s = new_session(UA, 4)
    yield s
    s.close()


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def robots_calls(mock: responses.RequestsMock, url: str = ROBOTS) -> int:
    return sum(1 for call in mock.calls if call.request.url == url)


# -- parsing -------------------------------------------------------------------------------


def test_rules_allow_disallow_and_crawl_delay(session, mock):
    mock.get(ROBOTS, body=RULES, content_type="text/plain")
    cache = RobotsCache(UA, timeout=5)

    denied = cache.check(f"{ORIGIN}/private/x", session)
    assert denied.allowed is False
    assert denied.reason
    assert denied.crawl_delay == 2.0

    ok = cache.check(f"{ORIGIN}/private/ok", session)
    assert ok.allowed is True
    assert ok.reason == ""
    assert ok.crawl_delay == 2.0

    public = cache.check(f"{ORIGIN}/public", session)
    assert public.allowed is True
    assert public.crawl_delay == 2.0

    # One origin, one fetch, whatever the number of checks.
    assert cache.fetches == 1
    assert robots_calls(mock) == 1


def test_no_crawl_delay_is_zero(session, mock):
    mock.get(ROBOTS, body="User-agent: *\nDisallow: /x\n")
    verdict = RobotsCache(UA, timeout=5).check(f"{ORIGIN}/y", session)
    assert verdict.allowed is True
    assert verdict.crawl_delay == 0.0


def test_user_agent_specific_group(mock):
    body = "User-agent: mybot\nDisallow: /\nCrawl-delay: 5\n\nUser-agent: *\nDisallow: /other\n"
    mock.get(ROBOTS, body=body)
    with new_session(UA, 4) as s1, new_session("otherbot/2.0", 4) as s2:
        mine = RobotsCache("mybot/1.0", timeout=5)
        theirs = RobotsCache("otherbot/2.0", timeout=5)

        verdict = mine.check(f"{ORIGIN}/page", s1)
        assert verdict.allowed is False
        assert verdict.crawl_delay == 5.0

        assert theirs.check(f"{ORIGIN}/page", s2).allowed is True
        assert theirs.check(f"{ORIGIN}/other", s2).allowed is False
        assert theirs.check(f"{ORIGIN}/other", s2).crawl_delay == 0.0


def test_each_origin_has_its_own_robots(session, mock):
    other = "http://127.0.0.1:8001"
    mock.get(ROBOTS, body="User-agent: *\nDisallow: /\n")
    mock.get(f"{other}/robots.txt", body="User-agent: *\nAllow: /\n")
    cache = RobotsCache(UA, timeout=5)

    assert cache.check(f"{ORIGIN}/a", session).allowed is False
    assert cache.check(f"{other}/a", session).allowed is True
    assert cache.fetches == 2


def test_robots_request_carries_the_session_user_agent(session, mock):
    mock.get(ROBOTS, body="")
    RobotsCache(UA, timeout=5).check(f"{ORIGIN}/", session)
    assert mock.calls[0].request.headers["User-Agent"] == UA


# -- status rules --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 401, 403, 410])
def test_4xx_allows_everything(session, mock, status):
    mock.get(ROBOTS, status=status)
    cache = RobotsCache(UA, timeout=5)
    for path in ("/", "/private/x", "/anything"):
        verdict = cache.check(f"{ORIGIN}{path}", session)
        assert verdict.allowed is True
        assert verdict.crawl_delay == 0.0
    assert cache.fetches == 1


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_disallows_everything_until_ttl(session, mock, status):
    clock = FakeClock(100.0)
    mock.get(ROBOTS, status=status)
    mock.get(ROBOTS, body="User-agent: *\nDisallow: /private\n")  # the second answer
    cache = RobotsCache(UA, timeout=5, unreachable_ttl=30.0, clock=clock)

    verdict = cache.check(f"{ORIGIN}/public", session)
    assert verdict.allowed is False
    assert str(status) in verdict.reason

    clock.now = 129.9  # still within the TTL: the cached refusal stands
    assert cache.check(f"{ORIGIN}/public", session).allowed is False
    assert cache.fetches == 1
    assert robots_calls(mock) == 1

    clock.now = 130.0  # TTL over: fetched again
    assert cache.check(f"{ORIGIN}/public", session).allowed is True
    assert cache.check(f"{ORIGIN}/private", session).allowed is False
    assert cache.fetches == 2
    assert robots_calls(mock) == 2


def test_good_robots_is_not_refetched_as_time_passes(session, mock):
    clock = FakeClock(0.0)
    mock.get(ROBOTS, body=RULES)
    cache = RobotsCache(UA, timeout=5, unreachable_ttl=1.0, clock=clock)
    cache.check(f"{ORIGIN}/a", session)
    clock.now = 10_000.0
    cache.check(f"{ORIGIN}/b", session)
    assert cache.fetches == 1


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("refused"),
        requests.exceptions.ConnectTimeout("slow"),
        requests.exceptions.ChunkedEncodingError("cut"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_network_error_disallows(session, mock, exc):
    clock = FakeClock(0.0)
    mock.get(ROBOTS, body=exc)
    cache = RobotsCache(UA, timeout=5, unreachable_ttl=60.0, clock=clock)

    verdict = cache.check(f"{ORIGIN}/page", session)

    assert verdict.allowed is False
    assert "unreachable" in verdict.reason
    assert type(exc).__name__ in verdict.reason

    # Retried after the TTL, like a 5xx.
    mock.replace(responses.GET, ROBOTS, body="")
    clock.now = 60.0
    assert cache.check(f"{ORIGIN}/page", session).allowed is True
    assert cache.fetches == 2


# -- concurrency ---------------------------------------------------------------------------


def test_fetched_once_when_many_threads_check_at_once(session, mock):
    threads = 16

    def slow(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        # A slow server: all the other threads ask while this one is still loading, so they
        # must wait for it (an answer at once would let them find it loaded already).
        time.sleep(0.5)
        return 200, {}, RULES

    mock.add_callback(responses.GET, ROBOTS, callback=slow)
    cache = RobotsCache(UA, timeout=5)
    barrier = threading.Barrier(threads)
    verdicts: dict[int, bool] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def check(i: int) -> None:
        try:
            with new_session(UA, 4) as own:
                barrier.wait(timeout=10)
                path = "/private/x" if i % 2 else f"/public/{i}"
                verdict = cache.check(f"{ORIGIN}{path}", own)
            with lock:
                verdicts[i] = verdict.allowed
        except BaseException as exc:
            with lock:
                errors.append(exc)
            raise  # also reported by pytest's thread hook

    pool = [threading.Thread(target=check, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=15)
    assert not any(t.is_alive() for t in pool), "robots threads did not finish"
    assert not errors, errors

    assert robots_calls(mock) == 1
    assert cache.fetches == 1
    assert verdicts == {i: i % 2 == 0 for i in range(threads)}


# -- size cap ------------------------------------------------------------------------------


def _comments(size: int) -> str:
    line = "# " + "c" * 60 + "\n"
    return line * (size // len(line) + 1)


def test_body_over_500_kib_is_cut(session, mock):
    body = "User-agent: *\nDisallow: /early\n" + _comments(600 * 1024) + "Disallow: /late\n"
    assert len(body.encode()) > ROBOTS_MAX_BYTES
    mock.get(ROBOTS, body=body)
    cache = RobotsCache(UA, timeout=5)

    # The rule before the cut still applies; the one after 600 KiB was never read.
    assert cache.check(f"{ORIGIN}/early", session).allowed is False
    assert cache.check(f"{ORIGIN}/late", session).allowed is True


def test_body_under_the_cap_is_read_whole(session, mock):
    body = "User-agent: *\nDisallow: /early\n" + _comments(300 * 1024) + "Disallow: /late\n"
    assert len(body.encode()) < ROBOTS_MAX_BYTES
    mock.get(ROBOTS, body=body)
    cache = RobotsCache(UA, timeout=5)
    assert cache.check(f"{ORIGIN}/late", session).allowed is False


# -- a crawl of many hosts -----------------------------------------------------------------


def test_robots_entries_stay_bounded_and_a_forgotten_one_is_fetched_again(session, mock):
    origins = [f"http://127.0.0.{n}:8000" for n in range(1, 21)]
    for origin in origins:
        mock.get(f"{origin}/robots.txt", body=RULES)
    cache = RobotsCache(UA, timeout=5, max_origins=4)
    for origin in origins:
        assert cache.check(f"{origin}/private/x", session).allowed is False
        assert cache.check(f"{origin}/public", session).allowed is True
        assert len(cache) <= 4
    assert cache.fetches == 20
    cache.check(f"{origins[-1]}/again", session)  # still kept: not fetched again
    assert cache.fetches == 20
    cache.check(f"{origins[0]}/again", session)  # forgotten long ago: fetched again
    assert cache.fetches == 21
    assert robots_calls(mock, f"{origins[0]}/robots.txt") == 2
