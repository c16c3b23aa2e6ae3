"""crawler.fetch.http: one streamed GET under a byte cap -> FetchResult; classify()."""

from __future__ import annotations

import hashlib
import itertools
import types

import pytest
import requests
import responses
import urllib3

from crawler.errors import ErrorKind
from crawler.fetch import http
from crawler.fetch.http import FetchResult, classify, fetch, new_session

BASE = "http://127.0.0.1:8000"
URL = f"{BASE}/page"
UA = "ua-test"


@pytest.fixture
def session():
    s = new_session(UA, 4)
    yield s
    s.close()


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def get(session, url=URL, *, timeout=5.0, max_bytes=1024 * 1024) -> FetchResult:
    return fetch(session, url, timeout=timeout, max_bytes=max_bytes)


# -- successful bodies ---------------------------------------------------------------------


def test_html_200_keeps_body_with_digest_and_size(session, mock):
    body = b"<html><head><title>t</title></head><body>hello</body></html>"
    mock.get(URL, body=body, content_type="text/html; charset=utf-8")

    result = get(session)

    assert result.url == URL
    assert result.status == 200
    assert result.body == body
    assert result.is_html is True
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    assert result.size == len(body)
    assert result.error_kind is None
    assert result.error_message is None
    assert result.location is None
    assert result.elapsed_ms >= 0


@pytest.mark.parametrize(
    "content_type", ["text/html", "TEXT/HTML; charset=UTF-8", "application/xhtml+xml"]
)
def test_is_html_for_html_media_types(session, mock, content_type):
    mock.get(URL, body=b"<p>x</p>", content_type=content_type)
    assert get(session).is_html is True


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png", "text/plain"])
def test_non_html_body_is_kept_but_not_html(session, mock, content_type):
    body = bytes(range(256)) * 4
    mock.get(URL, body=body, content_type=content_type)

    result = get(session)

    assert result.error_kind is None
    assert result.body == body
    assert result.size == len(body)
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    assert result.is_html is False


def test_missing_content_type_is_not_html():
    result = FetchResult(URL, 200, None, body=b"")
    assert result.is_html is False
    assert result.sha256 == hashlib.sha256(b"").hexdigest()


def test_no_body_means_no_digest():
    assert FetchResult(URL, 404).sha256 is None


def test_empty_200_body_is_ok(session, mock):
    mock.get(URL, body=b"", content_type="text/html")
    result = get(session)
    assert result.error_kind is None
    assert result.body == b""
    assert result.size == 0


# -- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_sets_location_and_no_body(session, mock, status):
    target = f"{BASE}/elsewhere"
    mock.get(URL, status=status, headers={"Location": target}, body=b"moved")

    result = get(session)

    assert result.status == status
    assert result.location == target
    assert result.body is None
    assert result.sha256 is None
    assert result.error_kind is None
    # Not followed: exactly one request was made.
    assert len(mock.calls) == 1


def test_redirect_without_location_is_an_http_error(session, mock):
    mock.get(URL, status=302, body=b"")
    result = get(session)
    assert result.location is None
    assert result.error_kind is ErrorKind.HTTP
    assert result.status == 302


# -- HTTP errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 503, 500, 410])
def test_http_error_status(session, mock, status):
    mock.get(URL, status=status, body=b"nope", content_type="text/html")

    result = get(session)

    assert result.error_kind is ErrorKind.HTTP
    assert result.status == status
    assert str(status) in (result.error_message or "")
    assert result.body is None
    assert result.location is None


def test_retry_after_is_carried_on_503(session, mock):
    mock.get(URL, status=503, headers={"Retry-After": "120"})
    result = get(session)
    assert result.error_kind is ErrorKind.HTTP
    assert result.retry_after == "120"


def test_retry_after_absent_is_none(session, mock):
    mock.get(URL, status=503)
    assert get(session).retry_after is None


# -- byte cap ------------------------------------------------------------------------------


def test_streamed_body_over_cap_is_too_large(session, mock):
    # responses does not add a Content-Length by default: the cap is enforced while reading.
    mock.get(URL, body=b"x" * 1001, content_type="text/html")

    result = get(session, max_bytes=1000)

    assert "Content-Length" not in mock.calls[0].response.headers
    assert result.error_kind is ErrorKind.TOO_LARGE
    assert result.body is None
    assert result.status == 200
    assert result.size > 1000


def test_multi_chunk_body_over_cap_is_too_large(session, mock):
    cap = 3 * http.CHUNK + 10
    mock.get(URL, body=b"y" * (cap + 1), content_type="application/octet-stream")
    result = get(session, max_bytes=cap)
    assert result.error_kind is ErrorKind.TOO_LARGE
    assert result.body is None


def test_declared_content_length_over_cap_is_too_large_without_reading(session, mock):
    # The real body is tiny: only the header can have tripped the cap, and nothing was read.
    mock.get(
        URL,
        body=b"small",
        content_type="text/html",
        headers={"Content-Length": str(10**9)},
    )

    result = get(session, max_bytes=1000)

    assert result.error_kind is ErrorKind.TOO_LARGE
    assert "Content-Length" in (result.error_message or "")
    assert result.body is None
    assert result.size == 0


@pytest.mark.parametrize("size", [1, 100, http.CHUNK, 2 * http.CHUNK + 7])
def test_body_of_exactly_max_bytes_is_ok(session, mock, size):
    body = b"z" * size
    mock.get(URL, body=body, content_type="text/html")

    result = get(session, max_bytes=size)

    assert result.error_kind is None
    assert result.body == body
    assert result.size == size


def test_declared_content_length_equal_to_cap_is_ok(session, mock):
    body = b"a" * 500
    mock.get(URL, body=body, content_type="text/html", auto_calculate_content_length=True)
    result = get(session, max_bytes=500)
    assert mock.calls[0].response.headers["Content-Length"] == "500"
    assert result.error_kind is None
    assert result.body == body


def test_overall_deadline_gives_timeout(session, mock, monkeypatch):
    # A fake clock local to http.py: the first reading starts the exchange, every later one is
    # far past timeout * DEADLINE_FACTOR.
    ticks = itertools.chain([0.0], itertools.repeat(1000.0))
    monkeypatch.setattr(http, "time", types.SimpleNamespace(monotonic=lambda: next(ticks)))
    mock.get(URL, body=b"<p>drip</p>", content_type="text/html")

    result = get(session, timeout=1.0)

    assert result.error_kind is ErrorKind.TIMEOUT
    assert result.body is None


# -- network trouble -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), ErrorKind.TIMEOUT),
        (requests.exceptions.ReadTimeout("read timed out"), ErrorKind.TIMEOUT),
        (requests.ConnectionError("refused"), ErrorKind.CONNECTION),
        (requests.exceptions.ChunkedEncodingError("broken chunk"), ErrorKind.CONNECTION),
        (requests.exceptions.SSLError("bad handshake"), ErrorKind.CONNECTION),
        (requests.TooManyRedirects("loop"), ErrorKind.REDIRECT),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_network_errors_become_results(session, mock, exc, kind):
    mock.get(URL, body=exc)

    result = get(session)  # never raises

    assert result.error_kind is kind
    assert result.status is None
    assert result.body is None
    assert type(exc).__name__ in (result.error_message or "")


def test_user_agent_header_is_the_sessions(session, mock):
    mock.get(URL, body=b"ok", content_type="text/plain")
    get(session)
    assert session.headers["User-Agent"] == UA
    assert mock.calls[0].request.headers["User-Agent"] == UA


def test_new_session_mounts_adapter_without_retries():
    s = new_session("other-ua/1.0", 3)
    try:
        assert s.headers["User-Agent"] == "other-ua/1.0"
        for prefix in ("http://", "https://"):
            adapter = s.get_adapter(prefix + "127.0.0.1/")
            assert adapter.max_retries.total == 0
            assert adapter._pool_maxsize == 3
    finally:
        s.close()


def test_superscript_content_length_does_not_raise(session, mock):
    mock.get(URL, body=b"hi", content_type="text/html", headers={"Content-Length": "\u00b2"})
    result = get(session)
    assert result.error_kind is None
    assert result.body == b"hi"


# -- classify ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (requests.Timeout("t"), ErrorKind.TIMEOUT),
        (requests.exceptions.ConnectTimeout("t"), ErrorKind.TIMEOUT),
        (requests.exceptions.ReadTimeout("t"), ErrorKind.TIMEOUT),
        (requests.TooManyRedirects("Exceeded 30 redirects."), ErrorKind.REDIRECT),
        (requests.exceptions.InvalidURL("bad"), ErrorKind.INVALID_URL),
        (requests.exceptions.InvalidSchema("ftp"), ErrorKind.INVALID_URL),
        (
            requests.ConnectionError(
                urllib3.exceptions.ReadTimeoutError(None, "/", "Read timed out.")  # type: ignore[arg-type]
            ),
            ErrorKind.TIMEOUT,
        ),
        # Recognised by the exception it wraps, never by the words of its message.
        (requests.ConnectionError("the upstream said: timed out"), ErrorKind.CONNECTION),
        (requests.ConnectionError("Connection refused"), ErrorKind.CONNECTION),
        (requests.exceptions.ChunkedEncodingError("eof"), ErrorKind.CONNECTION),
        (requests.exceptions.ContentDecodingError("gzip"), ErrorKind.CONNECTION),
        (requests.RequestException("other"), ErrorKind.CONNECTION),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_classify(exc, kind):
    got_kind, message = classify(exc)
    assert got_kind is kind
    assert message.startswith(type(exc).__name__ + ": ")
    assert str(exc) in message


def test_classify_internal_too_large_and_deadline():
    kind, message = classify(http._TooLarge("body over --max-bytes 5"))
    assert (kind, message) == (ErrorKind.TOO_LARGE, "body over --max-bytes 5")
    assert classify(http._Deadline("slow"))[0] is ErrorKind.TIMEOUT


def test_classify_message_is_capped():
    _, message = classify(requests.ConnectionError("x" * 2000))
    assert len(message) == 500
