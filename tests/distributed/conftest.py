"""A real redis-server for the shared-frontier tests, and helpers to run worker processes."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
# The options every test worker shares: small, fast, short leases.
WORKER_OPTIONS = ("--threads", "4", "--parsers", "1", "--timeout", "1", "--lease", "4")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """redis-server on 127.0.0.1 with append-only persistence in a temporary folder."""

    def __init__(self, folder: Path, password: str | None = None, cluster: bool = False) -> None:
        self.folder = folder
        self.port = free_port()
        while cluster and self.port > 55000:  # a cluster node also listens on port + 10000
            self.port = free_port()
        self.password = password
        self.cluster = cluster
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or start again, from the append-only file) and wait until it answers."""
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "everysec"]
        args += ["--save", "", "--daemonize", "no", "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.proc.stderr.read()!r}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    answer = sock.recv(64)
                if answer.startswith((b"+PONG", b"-NOAUTH")):
                    return
            except OSError:
                pass
            time.sleep(0.05)  # a bounded poll for the server's readiness
        raise RuntimeError("redis-server did not answer within 15 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it (SIGTERM: it writes its append-only file and exits)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server for one test (skipped only where the binary is missing)."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    pytest.importorskip("redis", reason="redis-py is not installed: pip install 'crawl[redis]'")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    yield server
    server.stop()


Worker = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Worker]:
    """Start `crawl` worker processes (stderr captured); every one is ended at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def start(
        redis_url: str, crawl_id: str, out: Path, seeds: Sequence[str], *extra: str
    ) -> subprocess.Popen[str]:
        args = [sys.executable, "-m", "crawler", *seeds, "--frontier", redis_url]
        args += ["--crawl-id", crawl_id, "--output", str(out), *WORKER_OPTIONS, *extra]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def finish(proc: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str]:
    """(exit code, stderr) of a worker, waited for at most `timeout`."""
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err
