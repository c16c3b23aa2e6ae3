"""Network guard: which addresses a crawl may connect to, and a hard deadline per request.

Three layers, from pure to wired-in:

1. `classify_ip()` puts one IP address in one of the `KINDS` ("loopback", "private",
   "link_local", "metadata", "unspecified", "multicast", "reserved", "public").
2. `AddressPolicy` says which kinds a crawl may reach: public always; loopback and private only
   if a seed is of that kind (or with `allow_private`); link-local, cloud metadata, unspecified,
   multicast and reserved addresses never (except with `allow_private`).
   `policy_for_seeds()` builds it from the seeds' addresses.
3. `GuardedAdapter` (a requests `HTTPAdapter`) enforces the policy on the socket itself: its
   urllib3 connections check the address they are *connected to* (`getpeername()`), right after
   the TCP handshake and before a single byte (TLS ClientHello or HTTP request) is sent, and
   again each time a pooled connection is reused. Whatever DNS answered (rebinding, a name
   that resolves to 169.254.169.254, a redirect to such a name) the check sees the real peer.
   `Guard` holds the per-thread request context (`with guard.request(policy, deadline_s):`)
   and a reaper thread that shuts down the socket of a request whose total deadline has passed,
   so a server that drips one byte per second (each read under the read timeout) or never
   finishes its headers cannot hold a fetcher thread longer than the deadline.

What a caller of `session.get()` sees (the session has a `GuardedAdapter` mounted):

* a refused address: `BlockedAddress`, a `requests.exceptions.ConnectionError` whose message and
  `.refusal` are the reason, e.g. ``refused address 10.0.0.5 (private); use --allow-private``.
  Inside urllib3 the refusal travels as `AddressRefused` (a `NewConnectionError`, so requests
  does not mistake it for a connect timeout) in `MaxRetryError.reason`; `refusal_of()` finds the
  reason in any exception chain. `guard.last_refusal()` also holds it, per thread.
* a request cut by the deadline: `DeadlineExceeded`, a `requests.exceptions.Timeout`, raised by
  `session.get()` if the cut happened before the response was returned, and otherwise by the
  exit of the `guard.request()` block (a cut body or header block may look complete to
  http.client, so the block's exit is the one reliable place). `guard.timed_out()` tells the
  same, per thread, for the current or last request.

Limits: the peer check applies to direct connections. A request sent through a proxy (from
`proxies=` or the environment) connects to the proxy with urllib3's own classes and is not
checked (the proxy resolves the target). Name resolution itself is not under the deadline.
The TCP handshake with a refused address does happen (nothing is sent over it).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import NewConnectionError
from urllib3.poolmanager import PoolManager

from .capture import Exchange, TeeResponse

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

KINDS = (
    "loopback",
    "private",
    "link_local",
    "metadata",
    "unspecified",
    "multicast",
    "reserved",
    "public",
)
# Kinds a crawl may reach only when one of its seeds is of that kind.
SEED_GRANTED_KINDS = frozenset({"loopback", "private"})
# Kinds refused whatever the seeds (only `allow_private` lets them through).
ALWAYS_REFUSED_KINDS = frozenset({"metadata", "link_local", "unspecified", "multicast", "reserved"})

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, Oracle ...
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
    }
)
_PRIVATE_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_PRIVATE_V6 = (
    ipaddress.IPv6Network("fc00::/7"),  # unique local
    ipaddress.IPv6Network("fec0::/10"),  # site-local (deprecated, still routed as private)
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix, IPv4 in the low bits
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d

REAPER_JOIN_S = 2.0


# -- 1. classification ---------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # checked on every request: a crawl meets few addresses
def classify_ip(ip: str) -> str:
    """The kind of `ip` (one of `KINDS`); raises ValueError if it is not an IP address.

    An IPv6 address that carries an IPv4 address (mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``) is classified as that IPv4 address. A zone
    index (``fe80::1%eth0``) is ignored.
    """
    return _classify(ipaddress.ip_address(ip.split("%", 1)[0]))


def _classify(addr: IPAddress) -> str:
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            return _classify(embedded)
    if addr in METADATA_ADDRESSES:
        return "metadata"
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_multicast:
        return "multicast"
    if addr.is_link_local:
        return "link_local"
    networks = _PRIVATE_V4 if isinstance(addr, ipaddress.IPv4Address) else _PRIVATE_V6
    if any(addr in net for net in networks):
        return "private"
    if isinstance(addr, ipaddress.IPv6Address) and addr in _IPV4_COMPATIBLE:
        return "reserved"
    if addr.is_reserved or not addr.is_global:
        # 0.0.0.0/8, 240.0.0.0/4, broadcast, documentation and benchmarking ranges, 2001::/23 ...
        return "reserved"
    return "public"


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr.sixtofour


# -- 2. policy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a crawl may connect to.

    With `allow_private` everything is allowed. Otherwise public addresses are allowed,
    loopback and private ones only if their kind is in `seed_kinds` (a crawl whose seed is on
    loopback may visit loopback; a public seed may reach neither), and metadata, link-local,
    unspecified, multicast and reserved addresses never.
    """

    allow_private: bool = False
    seed_kinds: frozenset[str] = frozenset()

    def refusal(self, ip: str) -> str | None:
        """None if `ip` may be connected to, else the reason, naming the address and its kind."""
        if self.allow_private:
            return None
        try:
            kind = classify_ip(ip)
        except ValueError:
            return f"refused address {ip!r} (not an IP address)"
        if kind == "public" or (kind in SEED_GRANTED_KINDS and kind in self.seed_kinds):
            return None
        return f"refused address {ip} ({kind}); use --allow-private"


def policy_for_seeds(seed_ips: Iterable[str], allow_private: bool) -> AddressPolicy:
    """The policy of a crawl whose seeds resolve to `seed_ips` (ValueError if one is not an IP).

    Only the loopback and private kinds of the seeds widen the policy: a seed on a metadata or
    link-local address does not make such addresses reachable (use `allow_private`).
    """
    kinds = frozenset(classify_ip(ip) for ip in seed_ips) & SEED_GRANTED_KINDS
    return AddressPolicy(allow_private=allow_private, seed_kinds=kinds)


def host_addresses(url: str) -> list[str]:
    """The IP addresses the host of `url` resolves to (empty if it does not resolve).

    This asks the system resolver (DNS for a name, nothing for an IP literal); it is meant for
    the few seeds of a crawl, to build its `AddressPolicy`.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not host:
            return []
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        return []
    ips: list[str] = []
    for info in infos:
        ip = str(info[4][0])
        if ip not in ips:
            ips.append(ip)
    return ips


# -- exceptions ----------------------------------------------------------------------------


class AddressRefused(NewConnectionError):
    """Raised inside urllib3 by a guarded connection whose peer the policy refuses.

    A `NewConnectionError` (not an OSError), so urllib3 hands it on unchanged as
    `MaxRetryError.reason` and requests raises a plain ConnectionError (not ConnectTimeout).
    """

    def __init__(self, conn: Any, refusal: str) -> None:
        super().__init__(conn, refusal)
        self.refusal = refusal


class BlockedAddress(requests.exceptions.ConnectionError):
    """What `session.get()` raises through a `GuardedAdapter` when the peer is refused.

    `str(exc)` and `exc.refusal` are the reason; `__cause__` is requests' original error.
    """

    def __init__(self, refusal: str, **kwargs: Any) -> None:
        super().__init__(refusal, **kwargs)
        self.refusal = refusal


class DeadlineExceeded(requests.exceptions.Timeout):
    """A request whose connection the guard cut because its total deadline passed."""


def refusal_of(exc: BaseException) -> str | None:
    """The guard's refusal reason found anywhere in `exc`'s chain, or None.

    Walks `__cause__`, `__context__`, `args` and urllib3's `MaxRetryError.reason`, so it works on
    `BlockedAddress`, on the requests ConnectionError under it, and on urllib3's own errors.
    """
    todo: deque[object] = deque([exc])
    seen: set[int] = set()
    while todo and len(seen) < 100:
        item = todo.popleft()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, AddressRefused | BlockedAddress):
            return item.refusal
        todo.extend((item.__cause__, item.__context__, getattr(item, "reason", None)))
        todo.extend(item.args)
    return None


# -- 3. the per-request context and the reaper ---------------------------------------------


@dataclass(eq=False)
class RequestState:
    """One `guard.request()` block: its policy, deadline and outcome (read it, do not set it)."""

    policy: AddressPolicy
    deadline_s: float | None
    deadline: float | None  # time.monotonic() value, set on entering; None: no deadline
    timed_out: bool = False
    refusal: str | None = None
    # Connection -> a duplicate descriptor of its socket, for the reaper to shut it down at any
    # stage (even during a TLS handshake, before the connection holds its wrapped socket).
    cutters: dict[Any, socket.socket] = field(default_factory=dict, repr=False)
    # With an archive (--warc): the exchanges carried in this block, as they crossed the wire
    # (capture.py); `truncated` is set by a reader that stopped before the end ("length").
    exchanges: list[Exchange] | None = field(default=None, repr=False)
    truncated: str | None = None


class RequestScope:
    """The context manager returned by `Guard.request()`."""

    def __init__(self, guard: Guard, state: RequestState) -> None:
        self._guard = guard
        self._state = state

    @property
    def state(self) -> RequestState:
        """The block's state (its outcome, and with --warc its exchanges)."""
        return self._state

    def __enter__(self) -> RequestState:
        self._guard._enter(self._state)
        return self._state

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        state = self._state
        self._guard._exit(state)
        replace = exc is None or (
            isinstance(exc, Exception) and not isinstance(exc, DeadlineExceeded)
        )
        if state.timed_out and replace:
            raise DeadlineExceeded(_deadline_message(state)) from exc
        return False


def _deadline_message(state: RequestState) -> str:
    return f"no complete answer within {state.deadline_s:g} s (connection cut by the deadline)"


class Guard:
    """Per-thread request context (policy and deadline) and the deadline reaper.

    One Guard serves every thread of a crawl (through one `GuardedAdapter`). Outside a
    `request()` block, connections are checked against `default_policy` (public addresses only
    unless given) and have no deadline. The reaper thread starts with the first block that has a
    deadline; `close()` stops it (after which deadlines are no longer enforced by the reaper,
    addresses still are). Usable as a context manager that closes it.
    """

    def __init__(self, default_policy: AddressPolicy | None = None) -> None:
        self.default_policy = default_policy if default_policy is not None else AddressPolicy()
        self._local = threading.local()
        self._cond = threading.Condition()
        self._active: set[RequestState] = set()  # blocks with a deadline, not yet exited
        self._reaper: threading.Thread | None = None
        # When the reaper will wake next (None: not before it is notified). A new deadline
        # later than that needs no wake-up: every request has the same timeout, so almost none do.
        self._wake_at: float | None = None
        self._closed = False
        # Set by the engine with --warc: called with each exchange that got an answer, when its
        # block exits or the next request of the block begins (capture.py, store/warc.py).
        self.archive: Callable[[Exchange], None] | None = None

    # context --------------------------------------------------------------------------------

    def request(
        self, policy: AddressPolicy | None = None, deadline_s: float | None = None
    ) -> RequestScope:
        """A block for one request in this thread: `policy` (default: `default_policy`) checks
        every connection used inside it, and after `deadline_s` seconds (None: no deadline) its
        connection is shut down. On leaving the block after a cut, `DeadlineExceeded` is raised
        (chained to whatever the request raised), even if the code inside caught an error or
        read a body that looked complete; it is also what `session.get()` raises when the cut
        came before the response. Blocks may nest; the innermost applies. Enter and leave the
        block in the same thread.
        """
        if deadline_s is not None and deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, not {deadline_s!r}")
        chosen = policy if policy is not None else self.default_policy
        state = RequestState(chosen, deadline_s, None)
        if self.archive is not None:
            state.exchanges = []
        return RequestScope(self, state)

    def current(self) -> RequestState | None:
        """The innermost `request()` block of this thread, or None."""
        stack: list[RequestState] = getattr(self._local, "stack", [])
        return stack[-1] if stack else None

    def policy(self) -> AddressPolicy:
        """The policy that applies to a connection made by this thread now."""
        state = self.current()
        return state.policy if state is not None else self.default_policy

    def timed_out(self) -> bool:
        """Whether this thread's current request block (or, outside one, its last) was cut."""
        state = self.current() or getattr(self._local, "last", None)
        return bool(state is not None and state.timed_out)

    def last_refusal(self) -> str | None:
        """The reason of this thread's last refused connection (reset by each new block)."""
        reason: str | None = getattr(self._local, "refusal", None)
        return reason

    @property
    def in_flight(self) -> int:
        """Request blocks with a deadline that have not exited yet (all threads)."""
        with self._cond:
            return len(self._active)

    @property
    def reaper_alive(self) -> bool:
        """Whether the reaper thread is running."""
        return self._reaper is not None and self._reaper.is_alive()

    def _enter(self, state: RequestState) -> None:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        stack.append(state)
        self._local.refusal = None
        if state.deadline_s is None:
            return
        state.deadline = time.monotonic() + state.deadline_s  # counted from entering the block
        with self._cond:
            self._active.add(state)
            if self._reaper is None and not self._closed:
                self._reaper = threading.Thread(
                    target=self._reap, name="netguard-reaper", daemon=True
                )
                self._reaper.start()
            if self._wake_at is None or state.deadline < self._wake_at:
                self._cond.notify_all()

    def _exit(self, state: RequestState) -> None:
        stack: list[RequestState] = self._local.stack
        if state in stack:
            stack.remove(state)
        self._local.last = state
        if state.exchanges:
            last = state.exchanges[-1]
            last.truncated = "time" if state.timed_out else state.truncated
            self._archive(state.exchanges)
        if state.deadline is None:
            return
        with self._cond:
            self._active.discard(state)
            for conn, cutter in state.cutters.items():
                if getattr(conn, "_netguard_owner", None) is state:
                    conn._netguard_owner = None
                cutter.close()
            state.cutters.clear()

    def close(self, timeout: float = REAPER_JOIN_S) -> None:
        """Stop the reaper thread (waits at most `timeout` seconds for it)."""
        with self._cond:
            self._closed = True
            reaper = self._reaper
            self._cond.notify_all()
        if reaper is not None:
            reaper.join(timeout)

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _archive(self, exchanges: list[Exchange]) -> None:
        """Hand the exchanges that got an answer to the archive (in the requesting thread)."""
        archive = self.archive
        for exchange in exchanges:
            if archive is None or not exchange.received or exchange.record_id is not None:
                continue
            try:
                archive(exchange)
            except Exception:
                logger.exception("could not archive the exchange with %s", exchange.url)

    # the reaper -----------------------------------------------------------------------------

    def _reap(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                wake: float | None = None
                for state in self._active:
                    if state.deadline is None or state.timed_out:
                        continue
                    if state.deadline <= now:
                        state.timed_out = True
                        for cutter in state.cutters.values():
                            _cut(cutter)
                    elif wake is None or state.deadline < wake:
                        wake = state.deadline
                self._wake_at = wake
                self._cond.wait(None if wake is None else max(wake - now, 0.001))
                self._wake_at = None

    # called by the guarded connections, in the requesting thread ------------------------------

    def _check(self, sock: socket.socket) -> str | None:
        """The refusal of the peer of `sock` under this thread's policy (recorded), or None."""
        try:
            ip = str(sock.getpeername()[0])
        except OSError as exc:
            reason: str | None = f"refused connection: peer address unknown ({exc})"
        else:
            reason = self.policy().refusal(ip)
        if reason is not None:
            self._local.refusal = reason
            state = self.current()
            if state is not None:
                state.refusal = reason
        return reason

    def _attach(self, conn: Any, sock: socket.socket) -> None:
        """Make `conn` (connected through `sock`) the connection of this thread's request."""
        state = self.current()
        tracked = state is not None and state.deadline is not None
        if not tracked and getattr(conn, "_netguard_owner", None) is None:
            return
        with self._cond:
            previous = getattr(conn, "_netguard_owner", None)
            if previous is not None and previous is not state:
                # Released to the pool by a request whose block has not exited yet: that
                # block's deadline must no longer cut it.
                old = previous.cutters.pop(conn, None)
                if old is not None:
                    old.close()
                conn._netguard_owner = None
            if state is None or state.deadline is None:
                return
            conn._netguard_owner = state
            cutter = state.cutters.get(conn)
            if cutter is None:
                cutter = socket.fromfd(sock.fileno(), sock.family, sock.type)
                state.cutters[conn] = cutter
            if state.timed_out or time.monotonic() >= state.deadline:
                state.timed_out = True
                _cut(cutter)


def _cut(sock: socket.socket) -> None:
    """Shut a socket down both ways: a recv blocked on it in another thread returns at once."""
    with contextlib.suppress(OSError):  # already closed or reset: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)


# -- 4. guarded urllib3 connections, pools, pool manager and the requests adapter ------------


def _admit_new(conn: Any, sock: socket.socket) -> socket.socket:
    """Check a freshly connected socket (before TLS or any byte is sent); close it if refused."""
    guard: Guard | None = conn.netguard
    reason = "no network guard bound to this connection" if guard is None else guard._check(sock)
    if reason is not None or guard is None:
        sock.close()
        raise AddressRefused(conn, reason or "refused")
    guard._attach(conn, sock)
    return sock


def _admit_connected(conn: Any, *, reconnect_if_dead: bool) -> None:
    """Check the peer of a connected connection (a pooled one about to carry a request, or one
    `connect()` just set up); close it and raise AddressRefused if refused."""
    sock: socket.socket | None = conn.sock
    if sock is None:
        return  # not connected yet: `_new_conn` checks it when it connects
    guard: Guard | None = conn.netguard
    if guard is None:
        conn.close()
        raise AddressRefused(conn, "no network guard bound to this connection")
    if reconnect_if_dead:
        try:
            sock.getpeername()
        except OSError:
            conn.close()  # dead: http.client reconnects, and `_new_conn` checks the new socket
            return
    reason = guard._check(sock)
    if reason is not None:
        conn.close()
        raise AddressRefused(conn, reason)
    guard._attach(conn, sock)


def _begin_exchange(conn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Capture the request `conn` is about to send (and its answer) if its block archives."""
    guard: Guard | None = conn.netguard
    state = guard.current() if guard is not None else None
    if guard is None or state is None or state.exchanges is None:
        conn._exchange = None
        conn.response_class = http.client.HTTPResponse
        return
    if state.exchanges:  # an earlier request of this block (a redirect followed) is complete
        guard._archive(state.exchanges)
        state.exchanges.clear()
    target = args[1] if len(args) > 1 else kwargs.get("url", "/")
    scheme, default = ("https", 443) if isinstance(conn, HTTPSConnection) else ("http", 80)
    host = f"[{conn.host}]" if ":" in conn.host else conn.host
    netloc = host if conn.port in (None, default) else f"{host}:{conn.port}"
    exchange = Exchange(f"{scheme}://{netloc}{target}")
    state.exchanges.append(exchange)
    conn._exchange = exchange
    conn.response_class = functools.partial(TeeResponse, exchange=exchange)


def _send_captured(conn: Any, data: Any) -> None:
    """Keep a copy of bytes a capturing connection sends, and the peer they go to."""
    exchange: Exchange | None = getattr(conn, "_exchange", None)
    if exchange is None:
        return
    if exchange.peer is None and conn.sock is not None:
        with contextlib.suppress(OSError):
            exchange.peer = str(conn.sock.getpeername()[0])
    if isinstance(data, bytes | bytearray | memoryview):
        exchange.sent += data


class _GuardedConnectionMixin:
    """The peer check (and, with --warc, the capture) of a guarded urllib3 connection, written
    once for HTTP and HTTPS.

    The check runs in `_new_conn()` (right after the TCP handshake, the one place both HTTP and
    HTTPS connections get their socket, so before a TLS handshake), again in `connect()` as a
    safety net, and in `request()` for a connection reused from the pool.
    """

    netguard: Guard | None = None
    _netguard_owner: RequestState | None = None
    _exchange: Exchange | None = None

    def _new_conn(self) -> socket.socket:
        return _admit_new(self, super()._new_conn())  # type: ignore[misc]

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _admit_connected(self, reconnect_if_dead=False)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _admit_connected(self, reconnect_if_dead=True)
        _begin_exchange(self, args, kwargs)
        super().request(*args, **kwargs)  # type: ignore[misc]

    def send(self, data: Any) -> None:
        super().send(data)  # type: ignore[misc]  # connects first if need be: the peer is known after it
        _send_captured(self, data)


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):  # type: ignore[misc]
    """An urllib3 HTTP connection whose peer is checked against the guard's current policy."""


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):  # type: ignore[misc]
    """An urllib3 HTTPS connection whose peer is checked (before the TLS handshake)."""


class _GuardedPoolMixin:
    """Binds each new connection of a pool to the pool's guard (HTTP and HTTPS alike)."""

    netguard: Guard | None = None

    def _new_conn(self) -> Any:
        conn = super()._new_conn()  # type: ignore[misc]
        conn.netguard = self.netguard
        return conn


class GuardedHTTPConnectionPool(_GuardedPoolMixin, HTTPConnectionPool):
    """A pool of `GuardedHTTPConnection`s bound to the pool's guard."""

    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(_GuardedPoolMixin, HTTPSConnectionPool):
    """A pool of `GuardedHTTPSConnection`s bound to the pool's guard."""

    ConnectionCls = GuardedHTTPSConnection


class GuardedPoolManager(PoolManager):
    """A PoolManager whose http and https pools are the guarded ones, bound to `guard`."""

    def __init__(self, guard: Guard, num_pools: int = 10, **connection_pool_kw: Any) -> None:
        super().__init__(num_pools, **connection_pool_kw)
        self.netguard = guard
        self.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        if isinstance(pool, _GuardedPoolMixin):
            pool.netguard = self.netguard
        return pool


class GuardedAdapter(HTTPAdapter):
    """A requests transport whose every direct connection is checked by `guard`.

    Takes HTTPAdapter's keyword arguments (`max_retries` defaults to 0, so a refused address is
    not connected to again). `send()` turns a refusal into `BlockedAddress` and a cut by the
    deadline into `DeadlineExceeded`.
    """

    def __init__(self, guard: Guard, **kwargs: Any) -> None:
        self.guard = guard  # before HTTPAdapter.__init__, which calls init_poolmanager
        kwargs.setdefault("max_retries", 0)
        super().__init__(**kwargs)

    def init_poolmanager(
        self,
        connections: int,
        maxsize: int,
        block: bool = DEFAULT_POOLBLOCK,
        **pool_kwargs: Any,
    ) -> None:
        """Like HTTPAdapter's, with a `GuardedPoolManager`."""
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = GuardedPoolManager(
            self.guard, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """HTTPAdapter.send, with the guard's refusals and deadline cuts made recognisable."""
        try:
            response = super().send(request, *args, **kwargs)
        except (requests.RequestException, Urllib3HTTPError) as exc:
            reason = refusal_of(exc)
            if reason is not None:
                raise BlockedAddress(reason, request=request) from exc
            state = self.guard.current()
            if state is not None and state.timed_out:
                raise DeadlineExceeded(_deadline_message(state), request=request) from exc
            raise
        state = self.guard.current()
        if state is not None and state.timed_out:
            response.close()
            raise DeadlineExceeded(_deadline_message(state), request=request)
        return response
