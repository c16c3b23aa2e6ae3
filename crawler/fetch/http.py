"""One HTTP exchange: a request streamed under a byte cap and a deadline -> FetchResult.

`classify()` is the one place where requests' exceptions become our ErrorKind. Redirects are
not followed here: the worker follows them hop by hop so that each hop is checked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ..errors import ErrorKind
from ..sanitize import clean_text
from .netguard import Guard, GuardedAdapter, RequestScope, RequestState, refusal_of

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
CHUNK = 64 * 1024
DRAIN_LIMIT = 64 * 1024  # unwanted bodies up to this size are read to keep the connection
# A server that drips bytes can keep every read under --timeout; this bounds the whole exchange.
DEADLINE_FACTOR = 3.0


class _TooLarge(Exception):
    pass


class _Deadline(Exception):
    pass


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one request (one hop)."""

    url: str
    status: int | None = None
    content_type: str | None = None
    body: bytes | None = None
    location: str | None = None
    retry_after: str | None = None
    error_kind: ErrorKind | None = None
    error_message: str | None = None
    elapsed_ms: int = 0
    size: int = 0
    warc_id: str | None = None  # with --warc: the WARC record of this answer (store/warc.py)
    robots_tag: tuple[str, ...] = ()  # each X-Robots-Tag header line (fetch/directives.py)

    @property
    def is_html(self) -> bool:
        """Whether the body is HTML and goes to a parser."""
        return (self.content_type or "").split(";")[0].strip().lower() in HTML_TYPES

    @property
    def sha256(self) -> str | None:
        """The digest of the body kept, if any."""
        return hashlib.sha256(self.body).hexdigest() if self.body is not None else None


def new_adapter(per_host: int, guard: Guard | None = None) -> HTTPAdapter:
    """A transport whose pool keeps at most `per_host` connections to each host.

    One adapter is shared by every fetcher thread's Session: urllib3's PoolManager is
    thread-safe, and as the host semaphore lets at most `per_host` requests run at once, each
    host needs at most that many connections, reused across threads for the whole crawl.
    With a guard, every connection's peer address is checked against the crawl's policy.
    """
    if guard is not None:
        return GuardedAdapter(guard, pool_connections=256, pool_maxsize=per_host, max_retries=0)
    return HTTPAdapter(pool_connections=256, pool_maxsize=per_host, max_retries=0)


def new_session(
    user_agent: str, per_host: int, adapter: HTTPAdapter | None = None
) -> requests.Session:
    """A session for one fetcher thread (sessions are not documented as thread-safe)."""
    session = requests.Session()
    # No proxies, no ~/.netrc credentials from the environment: the address guard must see
    # the real peer, and no credential may be sent to whatever host a link points at.
    session.trust_env = False
    session.headers["User-Agent"] = user_agent
    adapter = adapter or new_adapter(per_host)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _prepare(session: requests.Session, url: str) -> requests.PreparedRequest:
    """The GET that `session.get(url)` would send, without its per-request merging of settings.

    The session carries only headers and cookies (trust_env is off, no auth, no params), so the
    request is prepared from them directly; credentials in the URL are still taken as basic
    auth, and the cookie jar still sends each cookie only to its own domain.
    """
    prepared = requests.PreparedRequest()
    prepared.prepare(method="GET", url=url, headers=session.headers, cookies=session.cookies)
    return prepared


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """Map an exception raised while fetching to (kind, message)."""
    message = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, _TooLarge):
        return ErrorKind.TOO_LARGE, str(exc)
    refusal = refusal_of(exc)
    if refusal is not None:
        return ErrorKind.BLOCKED, refusal
    if isinstance(exc, _Deadline | requests.Timeout):
        return ErrorKind.TIMEOUT, message
    if isinstance(exc, requests.TooManyRedirects):
        return ErrorKind.REDIRECT, message
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.InvalidSchema
        | requests.exceptions.MissingSchema,
    ):
        return ErrorKind.INVALID_URL, message
    unresolved = _unresolved_host(exc)
    if unresolved is not None:  # not urllib3's pool text: the one thing the user must know
        return ErrorKind.CONNECTION, f"cannot resolve {unresolved}"
    if isinstance(exc, requests.ConnectionError) and _caused_by_timeout(exc):
        # requests reports urllib3's read timeout during streaming as a ConnectionError
        # wrapping it (models.Response.iter_content).
        return ErrorKind.TIMEOUT, message
    return ErrorKind.CONNECTION, message


def _unresolved_host(exc: BaseException) -> str | None:
    """The host name whose lookup failed, if that is what `exc` wraps (a DNS failure)."""
    from urllib3.exceptions import NameResolutionError

    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NameResolutionError):
            return str(getattr(current, "_host", "") or "the host")
        todo.extend((*current.args, getattr(current, "reason", None)))
        todo.extend((current.__cause__, current.__context__))
    return None


def _caused_by_timeout(exc: BaseException) -> bool:
    """Whether a timeout exception is among what `exc` wraps (its args, cause or context)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            # A subclass of ConnectTimeoutError in urllib3 2, for any failed connect (refused
            # too): a timeout only when what it wraps is one.
            todo.extend(current.args)
            continue
        if isinstance(current, urllib3.exceptions.TimeoutError | TimeoutError):
            return True
        todo.extend((*current.args, current.__cause__, current.__context__))
    return False


@dataclass(frozen=True, slots=True)
class Reply:
    """What one `bounded_get` got: the answer's status and headers, its body when it was read
    (2xx only), or the error that ended the exchange (`(kind, message)`)."""

    url: str  # the URL that answered (after redirects, when they are followed)
    status: int | None = None
    reason: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    size: int = 0  # bytes of (decoded) body read
    truncated: bool = False  # the body was cut at max_bytes (truncate=True)
    error: tuple[ErrorKind, str] | None = None
    elapsed_ms: int = 0
    warc_id: str | None = None  # with --warc: the WARC record of this answer (store/warc.py)
    robots_tag: tuple[str, ...] = ()  # each X-Robots-Tag header line, as sent


def bounded_get(
    session: requests.Session,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    guard: Guard | None = None,
    follow_redirects: bool = False,
    truncate: bool = False,
    cap_label: str | None = None,
) -> Reply:
    """GET `url` under the crawl's bounds: the one path every request of a crawl takes (pages,
    robots.txt, sitemaps). Never raises for network trouble: it is in `Reply.error`.

    Bounds: each connect and read waits at most `timeout`; the whole exchange at most `timeout *
    DEADLINE_FACTOR` (with a `guard`, its reaper cuts the connection then, even while the server
    drips its headers; the body loop checks the same deadline); the (decoded) body at most
    `max_bytes`: over it is a `too_large` error, or with `truncate` the body is cut there; the
    peer address is checked by the guard on connect (and, with --warc, the exchange archived
    when the guard's block exits). Only a 2xx body is read: another answer is drained (a small
    one, to keep its connection) and returned with its headers (a redirect's Location, a
    Retry-After). Redirects are followed only with `follow_redirects`.
    """
    deadline_s = timeout * DEADLINE_FACTOR
    scope = guard.request(None, deadline_s) if guard else None
    reply = _get(
        session,
        url,
        scope,
        timeout=timeout,
        max_bytes=max_bytes,
        follow_redirects=follow_redirects,
        truncate=truncate,
        label=cap_label or f"{max_bytes} bytes",
    )
    exchanges = scope.state.exchanges if scope is not None else None
    if exchanges and exchanges[-1].record_id is not None:
        # With --warc, the guard archived the exchange when its block exited.
        reply = dataclasses.replace(reply, warc_id=exchanges[-1].record_id)
    return reply


def _get(
    session: requests.Session,
    url: str,
    scope: RequestScope | None,
    *,
    timeout: float,
    max_bytes: int,
    follow_redirects: bool,
    truncate: bool,
    label: str,
) -> Reply:
    started = time.monotonic()
    deadline_s = timeout * DEADLINE_FACTOR
    deadline = started + deadline_s
    status: int | None = None
    reason = ""
    headers: Mapping[str, str] = {}
    answered = url
    robots_tag: tuple[str, ...] = ()
    size = 0
    truncated = False
    try:
        with (
            scope if scope is not None else contextlib.nullcontext() as state,
            session.send(
                _prepare(session, url),
                timeout=timeout,
                stream=True,
                allow_redirects=follow_redirects,
                proxies={},
            ) as response,
        ):
            status, reason, headers = response.status_code, response.reason or "", response.headers
            robots_tag = _header_lines(response, "X-Robots-Tag")
            answered = response.url or url
            if not 200 <= status < 300:
                _cut_short(state)  # for the archive, if drain leaves part of the body unread
                drain(response)
                return Reply(answered, status, reason, headers, elapsed_ms=_ms(started))
            declared = headers.get("Content-Length", "")
            over = declared.isascii() and declared.isdigit() and int(declared) > max_bytes
            if over and not truncate:
                _cut_short(state)
                raise _TooLarge(f"Content-Length {declared} is over {label}")
            chunks: list[bytes] = []
            # iter_content decodes gzip/deflate, so the cap applies to the decoded size.
            for chunk in response.iter_content(CHUNK):
                if size + len(chunk) > max_bytes:
                    _cut_short(state)
                    if not truncate:
                        size += len(chunk)
                        raise _TooLarge(f"body over {label}")
                    chunks.append(chunk[: max_bytes - size])
                    size, truncated = max_bytes, True
                    break
                size += len(chunk)
                if time.monotonic() > deadline:
                    _cut_short(state, "time")
                    raise _Deadline(f"no complete answer within {deadline_s:g} s")
                chunks.append(chunk)
            body = b"".join(chunks)
    except (requests.RequestException, _TooLarge, _Deadline) as exc:
        return Reply(
            answered,
            status,
            reason,
            headers,
            size=size,
            error=classify(exc),
            elapsed_ms=_ms(started),
        )
    return Reply(
        answered,
        status,
        reason,
        headers,
        body,
        size,
        truncated,
        elapsed_ms=_ms(started),
        robots_tag=robots_tag,
    )


def _header_lines(response: requests.Response, name: str) -> tuple[str, ...]:
    """Every value of header `name`, one per header line (requests joins them with commas,
    which would mix a `X-Robots-Tag: otherbot: noindex` with the next line)."""
    raw = getattr(response.raw, "headers", None)
    getlist = getattr(raw, "getlist", None)
    if getlist is not None:
        return tuple(getlist(name))
    value = response.headers.get(name)
    return (value,) if value is not None else ()


def fetch(
    session: requests.Session,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    guard: Guard | None = None,
) -> FetchResult:
    """GET `url` once (`bounded_get`), without following redirects; never raises for network
    trouble. With a `guard` (netguard.py) the peer address is checked on connect and the whole
    exchange is cut at the deadline, even when the server drips its headers a byte at a time.
    """
    got = bounded_get(
        session,
        url,
        timeout=timeout,
        max_bytes=max_bytes,
        guard=guard,
        cap_label=f"--max-bytes {max_bytes}",
    )
    content_type = got.headers.get("Content-Type")
    common = {"elapsed_ms": got.elapsed_ms, "warc_id": got.warc_id}
    if got.error is not None:
        kind, message = got.error
        return FetchResult(
            url,
            got.status,
            content_type,
            error_kind=kind,
            error_message=message,
            size=got.size,
            **common,
        )
    if got.status in REDIRECT_STATUSES and "Location" in got.headers:
        return FetchResult(
            url, got.status, content_type, location=got.headers["Location"], **common
        )
    if got.body is None:
        return FetchResult(
            url,
            got.status,
            content_type,
            retry_after=got.headers.get("Retry-After"),
            error_kind=ErrorKind.HTTP,
            error_message=clean_text(f"HTTP {got.status} {got.reason}".strip()),
            **common,
        )
    return FetchResult(
        url,
        got.status,
        content_type,
        body=got.body,
        size=got.size,
        robots_tag=got.robots_tag,
        **common,
    )


def _cut_short(state: RequestState | None, reason: str = "length") -> None:
    """Tell the archive why the body was not read to its end (WARC-Truncated)."""
    if state is not None:
        state.truncated = reason


def drain(response: requests.Response) -> None:
    """Read a small unwanted body so its connection goes back to the pool (closing a response
    with unread data closes the connection, and the next request would open a new one)."""
    declared = response.headers.get("Content-Length", "")
    if not (declared.isascii() and declared.isdigit()) or int(declared) > DRAIN_LIMIT:
        return
    read = 0
    for chunk in response.iter_content(CHUNK):
        read += len(chunk)
        if read > DRAIN_LIMIT:
            return


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
