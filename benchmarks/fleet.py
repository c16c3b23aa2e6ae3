"""One worker against three on a shared Redis frontier, and what Redis holds per URL.

    python -m benchmarks.fleet [--pages 1200 --hosts 12 --latency 0.1 --threads 8 --workers 1,3]
    python -m benchmarks.fleet --memory 1000000

Starts its own redis-server (a free port, append-only, a temporary folder) and the benchmark
site (benchmarks/site_server.py) on 127.0.0.1 .. 127.0.0.H, runs N `crawl --frontier` worker
processes at once for each N, then `crawl merge --frontier` to check every page is there once.
It reports pages/s, the Redis round trips per page (each worker counts its own, summary.json
`frontier.round_trips`) and the commands Redis executed per page (INFO commandstats, the
commands run inside the scripts included). `--memory N` measures Redis's memory per visited URL
(N digests added to the visited set).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .site_server import SiteServer, SiteSpec

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Redis:
    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(folder)]
        args += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        import redis

        self.client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=15)


def _commands(client: Any) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info",))


def _cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_fleet(args: argparse.Namespace, workers: int, redis: _Redis, work: Path) -> dict[str, Any]:
    """One crawl of the site by `workers` processes; its figures."""
    spec = SiteSpec(
        pages=args.pages,
        hosts=args.hosts,
        latency=args.latency,
        page_bytes=args.page_bytes,
        links=args.links,
    )
    crawl_id = f"bench{workers}-{int(time.time())}"
    with SiteServer(spec) as site:
        redis.client.config_resetstat()
        cpu0 = _cpu(redis.client)
        outs = [work / f"{crawl_id}-w{i}" for i in range(workers)]
        base = [sys.executable, "-m", "crawler", *site.roots(), "--frontier", redis.url]
        base += ["--crawl-id", crawl_id, "--threads", str(args.threads), "--parsers", "1"]
        base += ["--per-host", str(args.per_host), "-q"]
        started = time.monotonic()
        procs = [subprocess.Popen([*base, "--output", str(out)]) for out in outs]
        codes = [proc.wait(timeout=args.max_seconds) for proc in procs]
        seconds = time.monotonic() - started
        commands = _commands(redis.client)
        cpu = _cpu(redis.client) - cpu0
        memory = int(redis.client.info("memory")["used_memory"])
        served = site.stats()
    merged = work / f"{crawl_id}-merged"
    merge = [sys.executable, "-m", "crawler", "merge", *map(str, outs), "--output", str(merged)]
    merge += ["--frontier", redis.url, "--crawl-id", crawl_id]
    merge_code = subprocess.run(merge, check=False).returncode
    summaries = [json.loads((out / "summary.json").read_text()) for out in outs]
    pages = json.loads((merged / "summary.json").read_text())["pages"]
    trips = sum(s["frontier"]["round_trips"] for s in summaries)
    return {
        "workers": workers,
        "exit_codes": codes,
        "merge_exit": merge_code,
        "pages": pages,
        "seconds": round(seconds, 2),
        "pages_per_second": round(pages / seconds, 1),
        "round_trips_per_page": round(trips / pages, 2),
        "redis_commands_per_page": round(commands / pages, 1),
        "redis_cpu_ms_per_page": round(cpu * 1000 / pages, 3),
        "redis_used_memory": memory,
        "requests_served": sum(h["requests"] for h in served["hosts"]),
        "pages_by_worker": [s["pages"] for s in summaries],
    }


def measure_memory(count: int, redis: _Redis) -> dict[str, Any]:
    """Redis memory per URL of the visited set: the frontier's layout (digests in small hashes)
    filled as 100 M URLs fill its 2^20 buckets (so `count` URLs go into count/95 buckets), and
    one plain set of the same digests for comparison."""
    from crawler.frontier.redis import SEEN_BUCKET_BITS, digest

    client = redis.client
    fill = 100_000_000 / 2**SEEN_BUCKET_BITS
    buckets = max(1, round(count / fill))
    result: dict[str, Any] = {"urls": count, "buckets": buckets, "urls_per_bucket": round(fill)}
    for layout in ("buckets", "one_set"):
        client.flushall()
        before = int(client.info("memory")["used_memory"])
        pipe = client.pipeline(transaction=False)
        for n in range(count):
            key = digest(f"http://h{n % 1000}.example/p/{n}")
            if layout == "buckets":
                bucket = int.from_bytes(key[3:7], "big") % buckets
                pipe.hset(b"crawl:mem:seen:" + bucket.to_bytes(3, "big"), key[3:], b"")
            else:
                pipe.sadd("crawl:mem:seen", key[3:])
            if n % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()
        after = int(client.info("memory")["used_memory"])
        result[f"bytes_per_url_{layout}"] = round((after - before) / count, 1)
    # A queued URL: its payload (URL, depth, parent, seed) in its host's list.
    from crawler.frontier.redis import encode_item
    from crawler.messages import WorkItem

    client.flushall()
    before = int(client.info("memory")["used_memory"])
    queued = min(count, 200_000)
    pipe = client.pipeline(transaction=False)
    for n in range(queued):
        host = f"h{n % 1000}.example"
        parent = f"https://{host}/section/{n // 7}/index.html"
        item = WorkItem(f"https://{host}/section/{n // 7}/article-{n}.html", 3, parent, host)
        pipe.rpush(f"crawl:mem:q:{host}", encode_item(item))
        if n % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    after = int(client.info("memory")["used_memory"])
    result["bytes_per_queued_url"] = round((after - before) / queued, 1)
    result["payload_bytes"] = len(encode_item(item))
    client.flushall()
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line; prints one JSON line per measurement."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__)
    p.add_argument("--pages", type=int, default=1200)
    p.add_argument("--hosts", type=int, default=12)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--page-bytes", type=int, default=4000)
    p.add_argument("--links", type=int, default=10)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--per-host", type=int, default=4)
    p.add_argument("--workers", default="1,3", help="comma-separated fleet sizes")
    p.add_argument("--max-seconds", type=float, default=600)
    p.add_argument("--memory", type=int, default=0, help="measure memory per URL with N URLs")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crawl-fleet-") as tmp:
        work = Path(tmp)
        (work / "redis").mkdir()
        redis = _Redis(work / "redis")
        try:
            if args.memory:
                print(json.dumps(measure_memory(args.memory, redis)), flush=True)
                return 0
            for workers in (int(n) for n in args.workers.split(",")):
                print(json.dumps(run_fleet(args, workers, redis, work)), flush=True)
        finally:
            redis.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
