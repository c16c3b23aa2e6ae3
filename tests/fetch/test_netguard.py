"""crawler.fetch.netguard: address kinds, the policy, and the guard on real loopback sockets.

Only 127.0.0.0/8 is ever contacted. Private, link-local and metadata cases are tested on the
policy functions with IP strings; the connection-level checks use loopback servers and a policy
that refuses loopback (the policy of a crawl with a public seed).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from crawler.errors import ErrorKind
from crawler.fetch.http import classify, fetch, new_adapter, new_session
from crawler.fetch.netguard import (
    KINDS,
    AddressPolicy,
    AddressRefused,
    BlockedAddress,
    DeadlineExceeded,
    Guard,
    GuardedAdapter,
    GuardedHTTPConnection,
    GuardedHTTPSConnection,
    classify_ip,
    host_addresses,
    policy_for_seeds,
    refusal_of,
)
from crawler.fetch.robots import RobotsCache
from crawler.fetch.sitemaps import SitemapReader

JOIN_S = 5.0
PUBLIC_SEED = policy_for_seeds(["93.184.215.14"], allow_private=False)  # only compared, never used
LOOPBACK_SEED = policy_for_seeds(["127.0.0.1"], allow_private=False)
LOOPBACK_REFUSAL = "refused address 127.0.0.1 (loopback); use --allow-private"

# -- classify_ip ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        # IPv4
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # CGNAT
        ("100.127.255.254", "private"),
        ("169.254.1.1", "link_local"),
        ("169.254.169.254", "metadata"),
        ("100.100.100.200", "metadata"),  # Alibaba
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.1.2.3", "reserved"),
        ("192.0.2.1", "reserved"),  # documentation
        ("198.18.0.1", "reserved"),  # benchmarking
        ("8.8.8.8", "public"),
        ("172.32.0.1", "public"),
        ("100.128.0.1", "public"),
        # IPv6
        ("::1", "loopback"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link_local"),
        ("fe80::1%eth0", "link_local"),
        ("fd00:ec2::254", "metadata"),
        ("::", "unspecified"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("::7f00:1", "reserved"),  # deprecated IPv4-compatible
        ("2001:4860:4860::8888", "public"),
        # IPv4 carried in IPv6
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:100.64.0.1", "private"),
        ("::ffff:8.8.8.8", "public"),
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_classify_ip(ip, kind):
    assert kind in KINDS
    assert classify_ip(ip) == kind


@pytest.mark.parametrize("bad", ["", "localhost", "1.2.3", "[::1]", "300.1.1.1"])
def test_classify_ip_rejects_non_addresses(bad):
    with pytest.raises(ValueError):
        classify_ip(bad)


# -- AddressPolicy -------------------------------------------------------------------------


def test_public_seed_refuses_loopback_and_private():
    assert AddressPolicy() == PUBLIC_SEED
    assert PUBLIC_SEED.refusal("8.8.8.8") is None
    assert PUBLIC_SEED.refusal("2001:4860:4860::8888") is None
    assert PUBLIC_SEED.refusal("127.0.0.1") == LOOPBACK_REFUSAL
    assert (
        PUBLIC_SEED.refusal("10.0.0.5") == "refused address 10.0.0.5 (private); use --allow-private"
    )
    for ip in ("::1", "::ffff:127.0.0.1", "192.168.0.1", "100.64.0.1", "fd12::1"):
        assert PUBLIC_SEED.refusal(ip) is not None, ip


def test_loopback_seed_allows_loopback_only():
    assert LOOPBACK_SEED.seed_kinds == frozenset({"loopback"})
    for ip in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1", "8.8.8.8"):
        assert LOOPBACK_SEED.refusal(ip) is None, ip
    assert LOOPBACK_SEED.refusal("10.0.0.5") == (
        "refused address 10.0.0.5 (private); use --allow-private"
    )
    assert LOOPBACK_SEED.refusal("169.254.169.254") == (
        "refused address 169.254.169.254 (metadata); use --allow-private"
    )


def test_private_seed_still_refuses_link_local_and_metadata():
    policy = policy_for_seeds(["10.1.2.3", "8.8.8.8"], allow_private=False)
    assert policy.seed_kinds == frozenset({"private"})
    assert policy.refusal("192.168.7.7") is None
    assert policy.refusal("127.0.0.1") is not None
    for ip, kind in [
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.10.10", "link_local"),
        ("fe80::1", "link_local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
    ]:
        assert policy.refusal(ip) == f"refused address {ip} ({kind}); use --allow-private"


def test_seeds_on_refused_kinds_do_not_widen_the_policy():
    policy = policy_for_seeds(["169.254.169.254", "fe80::1", "224.0.0.1"], allow_private=False)
    assert policy.seed_kinds == frozenset()
    assert policy.refusal("169.254.169.254") is not None


@pytest.mark.parametrize(
    "ip", ["127.0.0.1", "10.0.0.5", "169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1", "8.8.8.8"]
)
def test_allow_private_allows_everything(ip):
    assert policy_for_seeds([], allow_private=True).refusal(ip) is None


def test_refusal_of_a_non_address_names_it():
    assert AddressPolicy().refusal("nonsense") == "refused address 'nonsense' (not an IP address)"


def test_policy_for_seeds_rejects_non_addresses():
    with pytest.raises(ValueError):
        policy_for_seeds(["example.com"], allow_private=False)


def test_host_addresses_of_ip_literals():
    assert host_addresses("http://127.0.0.2:8000/x") == ["127.0.0.2"]
    assert host_addresses("https://[::1]/") == ["::1"]
    assert host_addresses("not a url") == []
    assert policy_for_seeds(host_addresses("http://127.0.0.1/"), False) == LOOPBACK_SEED


# -- loopback servers ----------------------------------------------------------------------


class CountingServer:
    """A ThreadingHTTPServer on 127.0.0.1 (HTTP/1.1 keep-alive) counting connections and
    requests."""

    def __init__(self) -> None:
        counts = self
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = JOIN_S  # an idle keep-alive connection ends on its own

            def handle(self) -> None:
                with counts.lock:
                    counts.connections += 1
                super().handle()

            def do_GET(self) -> None:
                with counts.lock:
                    counts.requests += 1
                body = b"hello"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="counting-server", daemon=True)

    def _serve(self) -> None:
        self.ready.set()
        self.server.serve_forever(poll_interval=0.05)

    def start(self) -> CountingServer:
        self.thread.start()
        assert self.ready.wait(JOIN_S)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(JOIN_S)
        assert not self.thread.is_alive()


class RawServer:
    """A TCP server on 127.0.0.1 running `handler(conn, stop)` in a thread per connection, and
    keeping what each connection sent until it closed."""

    def __init__(self, handler: Callable[[socket.socket, threading.Event], None]) -> None:
        self.handler = handler
        self.stop_event = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.accepted = threading.Event()
        self.ready = threading.Event()
        self.acceptor = threading.Thread(target=self._accept, name="raw-server", daemon=True)

    def _accept(self) -> None:
        self.ready.set()
        while not self.stop_event.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()
            self.accepted.set()

    def _run(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client went away
            self.handler(conn, self.stop_event)

    def start(self) -> RawServer:
        self.acceptor.start()
        assert self.ready.wait(JOIN_S)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.acceptor.join(JOIN_S)
        self.listener.close()
        for thread in [self.acceptor, *self.threads]:
            thread.join(JOIN_S)
            assert not thread.is_alive()


DRIP_S = 0.3
DRIP_FOR_S = 8.0  # a broken guard makes a test fail in bounded time instead of hanging


def drip(conn: socket.socket, stop: threading.Event, byte: bytes) -> None:
    """Send `byte` every 0.3 s until the test ends (or DRIP_FOR_S passed)."""
    until = time.monotonic() + DRIP_FOR_S
    while not stop.wait(DRIP_S) and time.monotonic() < until:
        conn.sendall(byte)


def drip_header_bytes(conn: socket.socket, stop: threading.Event) -> None:
    """The status line, then one header byte every 0.3 s, never ending the headers."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    drip(conn, stop, b"X")


def drip_body(with_length: bool) -> Callable[[socket.socket, threading.Event], None]:
    """Complete headers, then the body one byte every 0.3 s."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        length = b"Content-Length: 1000\r\n" if with_length else b"Connection: close\r\n"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + length + b"\r\n")
        drip(conn, stop, b"a")

    return handler


def drip_tls_handshake(conn: socket.socket, stop: threading.Event) -> None:
    """Read the ClientHello, announce a 16 KiB handshake record, then drip its bytes."""
    conn.settimeout(JOIN_S)
    conn.recv(65536)
    conn.sendall(b"\x16\x03\x03\x40\x00")
    drip(conn, stop, b"\x00")


@pytest.fixture
def server() -> Iterator[CountingServer]:
    srv = CountingServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def make(handler: Callable[[socket.socket, threading.Event], None]) -> RawServer:
        srv = RawServer(handler).start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def guard() -> Iterator[Guard]:
    g = Guard()
    yield g
    g.close()
    assert not g.reaper_alive


@pytest.fixture
def session(guard: Guard) -> Iterator[requests.Session]:
    s = requests.Session()
    s.trust_env = False  # no proxy from the environment: the connections must be ours
    adapter = GuardedAdapter(guard, pool_maxsize=4)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    yield s
    s.close()


# -- the address check at connection level -------------------------------------------------


def test_adapter_pools_use_guarded_connections(session):
    adapter = session.get_adapter("http://127.0.0.1/")
    assert isinstance(adapter, GuardedAdapter)
    http_pool = adapter.poolmanager.connection_from_url("http://127.0.0.1:9/")
    https_pool = adapter.poolmanager.connection_from_url("https://127.0.0.1:9/")
    assert issubclass(http_pool.ConnectionCls, GuardedHTTPConnection)
    assert issubclass(https_pool.ConnectionCls, GuardedHTTPSConnection)
    assert http_pool.netguard is adapter.guard
    assert https_pool.netguard is adapter.guard


def test_public_seed_is_refused_at_connect_and_nothing_reaches_the_server(server, guard, session):
    with pytest.raises(BlockedAddress) as info, guard.request(PUBLIC_SEED, deadline_s=5):
        session.get(server.url, timeout=2)
    exc = info.value
    assert isinstance(exc, requests.ConnectionError)
    assert not isinstance(exc, requests.Timeout)
    assert str(exc) == exc.refusal == LOOPBACK_REFUSAL
    assert refusal_of(exc) == LOOPBACK_REFUSAL
    # Under it, requests' own error; deeper, urllib3's MaxRetryError caused by AddressRefused.
    original = exc.__cause__
    assert type(original) is requests.ConnectionError
    assert refusal_of(original) == LOOPBACK_REFUSAL
    assert isinstance(original.args[0].reason, AddressRefused)
    assert guard.last_refusal() == LOOPBACK_REFUSAL
    assert not guard.timed_out()
    # What the fetch step records.
    kind, message = classify(exc)
    assert kind is ErrorKind.BLOCKED  # classify() gives refusals their own kind
    assert LOOPBACK_REFUSAL in message
    assert server.requests == 0

    # The same URL under the policy of a loopback seed.
    with guard.request(LOOPBACK_SEED, deadline_s=5):
        response = session.get(server.url, timeout=2)
    assert response.status_code == 200
    assert response.text == "hello"
    assert guard.last_refusal() is None
    assert server.requests == 1


def test_https_is_refused_before_the_tls_handshake(raw_server, guard, session):
    received: list[bytes] = []
    closed = threading.Event()

    def record(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(JOIN_S)
        while chunk := conn.recv(4096):
            received.append(chunk)
        closed.set()

    srv = raw_server(record)
    with pytest.raises(BlockedAddress), guard.request(PUBLIC_SEED):
        session.get(f"https://127.0.0.1:{srv.port}/", timeout=2)
    assert closed.wait(JOIN_S)
    assert received == []  # not even a ClientHello


def test_pooled_connection_is_not_reused_under_a_refusing_policy(server, guard, session):
    with guard.request(LOOPBACK_SEED):
        assert session.get(server.url, timeout=2).status_code == 200
    with guard.request(LOOPBACK_SEED):
        assert session.get(server.url, timeout=2).status_code == 200
    assert (server.connections, server.requests) == (1, 2)  # the connection was pooled

    with (
        pytest.raises(BlockedAddress, match=re.escape("127.0.0.1 (loopback)")),
        guard.request(PUBLIC_SEED),
    ):
        session.get(server.url, timeout=2)
    assert (server.connections, server.requests) == (1, 2)  # refused before sending anything

    # The refused connection was closed: allowed again, a new one is opened.
    with guard.request(LOOPBACK_SEED):
        assert session.get(server.url, timeout=2).status_code == 200
    assert (server.connections, server.requests) == (2, 3)


def test_outside_a_block_the_default_policy_applies(server, guard, session):
    with pytest.raises(BlockedAddress):
        session.get(server.url, timeout=2)  # Guard() defaults to public addresses only
    assert server.requests == 0
    with Guard(default_policy=LOOPBACK_SEED) as open_guard:
        adapter = GuardedAdapter(open_guard)
        with requests.Session() as s:
            s.mount("http://", adapter)
            assert s.get(server.url, timeout=2).status_code == 200
    assert server.requests == 1


def test_the_policy_is_per_thread(server, guard, session):
    outcome: list[BaseException | int] = []

    def other_thread() -> None:
        try:
            outcome.append(session.get(server.url, timeout=2).status_code)
        except requests.RequestException as exc:
            outcome.append(exc)

    with guard.request(LOOPBACK_SEED):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(JOIN_S)
        assert not thread.is_alive()
        assert session.get(server.url, timeout=2).status_code == 200
    assert len(outcome) == 1
    assert isinstance(outcome[0], BlockedAddress)


# -- the total deadline --------------------------------------------------------------------


def timed_get(
    guard: Guard, session: requests.Session, url: str, timeout: float = 1.0
) -> tuple[BaseException, float]:
    """GET `url` under a loopback policy, read timeout 1 s and deadline 1.5 s; read the body."""
    started = time.monotonic()
    with (
        pytest.raises(DeadlineExceeded) as info,
        guard.request(LOOPBACK_SEED, deadline_s=1.5),
        session.get(url, timeout=(timeout, timeout), stream=True) as response,
    ):
        for _ in response.iter_content(64 * 1024):
            pass
    return info.value, time.monotonic() - started


def assert_timed_out(guard: Guard, exc: BaseException, elapsed: float) -> None:
    # Not before the 1.5 s deadline; well before the server stops dripping (DRIP_FOR_S), with
    # room for a loaded machine to wake the reaper late.
    assert 1.4 <= elapsed < DRIP_FOR_S - 1, elapsed
    assert isinstance(exc, requests.Timeout)
    assert guard.timed_out()
    assert classify(exc)[0] is ErrorKind.TIMEOUT
    assert guard.in_flight == 0


def test_headers_dripped_forever_are_cut_at_the_deadline(raw_server, guard, session):
    srv = raw_server(drip_header_bytes)
    exc, elapsed = timed_get(guard, session, f"http://127.0.0.1:{srv.port}/")
    assert_timed_out(guard, exc, elapsed)


def test_cut_before_the_response_is_raised_by_get_and_by_the_block(raw_server, guard, session):
    srv = raw_server(drip_header_bytes)
    started = time.monotonic()
    # The outer raises gets the block's exit: caught inside the block, a cut is still reported.
    with (
        pytest.raises(DeadlineExceeded),
        guard.request(LOOPBACK_SEED, deadline_s=1.5),
        pytest.raises(DeadlineExceeded),
    ):
        session.get(f"http://127.0.0.1:{srv.port}/", timeout=(1, 1))
    assert_timed_out(guard, DeadlineExceeded(), time.monotonic() - started)


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "close-delimited"])
def test_body_dripped_is_cut_at_the_deadline(raw_server, guard, session, with_length):
    # Close-delimited, the cut looks like the end of the body to http.client: the block's exit
    # still reports the timeout, so a truncated body is never taken as complete.
    srv = raw_server(drip_body(with_length))
    exc, elapsed = timed_get(guard, session, f"http://127.0.0.1:{srv.port}/")
    assert_timed_out(guard, exc, elapsed)


def test_tls_handshake_dripped_is_cut_at_the_deadline(raw_server, guard, session):
    # CPython bounds a whole TLS handshake by the socket timeout, so that is 4 s here to show
    # the cut: it comes while the connection does not hold its TLS socket yet, and the guard's
    # own descriptor of the socket is what gets shut down.
    srv = raw_server(drip_tls_handshake)
    exc, elapsed = timed_get(guard, session, f"https://127.0.0.1:{srv.port}/", timeout=4.0)
    assert_timed_out(guard, exc, elapsed)


def test_fast_request_is_unaffected(server, guard, session):
    for _ in range(3):
        started = time.monotonic()
        with guard.request(LOOPBACK_SEED, deadline_s=2.0) as state:
            response = session.get(server.url, timeout=(1, 1))
        assert time.monotonic() - started < 2.0
        assert response.text == "hello"
        assert not state.timed_out
        assert not guard.timed_out()
    assert guard.reaper_alive
    assert guard.in_flight == 0
    assert (server.connections, server.requests) == (1, 3)


def test_timed_out_is_per_thread(raw_server, guard, session):
    srv = raw_server(drip_header_bytes)
    timed_get(guard, session, f"http://127.0.0.1:{srv.port}/")
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(guard.timed_out()))
    thread.start()
    thread.join(JOIN_S)
    assert seen == [False]
    assert guard.timed_out()


def test_reaper_starts_lazily_and_stops_on_close(server):
    guard = Guard(default_policy=LOOPBACK_SEED)
    adapter = GuardedAdapter(guard)
    with requests.Session() as s:
        s.mount("http://", adapter)
        with guard.request():
            s.get(server.url, timeout=2)
        assert not guard.reaper_alive  # no deadline yet, no thread
        with guard.request(deadline_s=5):
            s.get(server.url, timeout=2)
        assert guard.reaper_alive
        guard.close()
        assert not guard.reaper_alive
        # A closed guard still checks addresses.
        with pytest.raises(BlockedAddress), guard.request(AddressPolicy(), deadline_s=5):
            s.get(server.url, timeout=2)


def test_deadline_must_be_positive(guard):
    with pytest.raises(ValueError):
        guard.request(deadline_s=0)


# -- one bounded GET for pages, robots.txt and sitemaps ------------------------------------


@pytest.fixture
def loopback() -> Iterator[tuple[Guard, requests.Session]]:
    """A guard whose default policy allows loopback, and a crawl session through it."""
    g = Guard(default_policy=LOOPBACK_SEED)
    s = new_session("crawl-test", 2, new_adapter(2, g))
    yield g, s
    s.close()
    g.close()


@pytest.mark.parametrize("handler", [drip_header_bytes, drip_body(True)], ids=["headers", "body"])
@pytest.mark.parametrize("reader", ["page", "robots.txt", "sitemap"])
def test_pages_robots_and_sitemaps_are_cut_at_the_same_deadline(
    raw_server, loopback, reader, handler
):
    # All three go through http.bounded_get: read timeout 0.5 s, so the deadline is 1.5 s,
    # while the server drips a byte every 0.3 s (each read is within the read timeout).
    guard, session = loopback
    origin = f"http://127.0.0.1:{raw_server(handler).port}"
    started = time.monotonic()
    if reader == "page":
        result = fetch(session, origin + "/", timeout=0.5, max_bytes=10**6, guard=guard)
        message = result.error_message or ""
        assert result.error_kind is ErrorKind.TIMEOUT
    elif reader == "robots.txt":
        verdict = RobotsCache("crawl-test", 0.5, guard=guard).check(origin + "/", session)
        message = verdict.reason
        assert not verdict.allowed and verdict.kind is ErrorKind.TIMEOUT
    else:
        found = SitemapReader(timeout=0.5, guard=guard).read(session, [origin + "/sitemap.xml"])
        ((_, message),) = found.errors
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < DRIP_FOR_S - 1, elapsed
    assert "within 1.5 s" in message, message
