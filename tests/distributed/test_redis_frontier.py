"""The shared Redis frontier (crawler/frontier/redis.py) against a real redis-server."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import random
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.config import Config
from crawler.frontier.redis import RedisFrontier, decode_item
from crawler.merge import main as merge_main

from .conftest import RedisServer, Worker, finish

HOST = "http://h.example/"
URLS = [f"{HOST}p/{i}" for i in range(5000)]


def _config(tmp: Path, server: RedisServer, crawl_id: str, **options) -> Config:
    options.setdefault("timeout", 1.0)
    options.setdefault("lease", 4.0)
    return Config(output=tmp, frontier=server.url, crawl_id=crawl_id, **options)


def _admitter(url: str, crawl_id: str, order_seed: int, results) -> None:  # type: ignore[no-untyped-def]
    config = Config(frontier=url, crawl_id=crawl_id, timeout=1.0, lease=4.0)
    urls = list(URLS)
    random.Random(order_seed).shuffle(urls)
    frontier = RedisFrontier(config, [HOST])
    try:
        new = sum(
            frontier.admit_many(urls[i : i + 250], 1, HOST, HOST) for i in range(0, 5000, 250)
        )
    finally:
        frontier.close()
    results.put(new)


def test_eight_processes_admitting_the_same_urls_admit_each_once(redis_server, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_admitter, args=(redis_server.url, "adm", n, results)) for n in range(8)
    ]
    for proc in procs:
        proc.start()
    counts = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
        assert proc.exitcode == 0
    client = redis_server.client()
    assert sum(counts) == 5000
    assert int(client.get("crawl:adm:admitted")) == 5000
    assert sum(client.hlen(key) for key in client.scan_iter(b"crawl:adm:seen:*")) == 5000
    assert int(client.get("crawl:adm:open")) == 5000
    queued = client.lrange("crawl:adm:q:h.example", 0, -1)
    assert sorted(decode_item(p).url for p in queued) == sorted(URLS)


def test_two_workers_reclaiming_a_dead_worker_put_each_url_back_once(redis_server, tmp_path):
    config = _config(tmp_path, redis_server, "reclaim")
    owner = RedisFrontier(config, [HOST], worker_id="owner")
    rivals = [RedisFrontier(config, [], worker_id=f"rival-{i}") for i in range(2)]
    client = redis_server.client()
    try:
        assert owner.admit_many(URLS[:200], 1, HOST, HOST) == 200
        # A worker named "dead" leases 100 URLs (per-host cap lifted), then falls silent.
        client.hset("crawl:reclaim:meta", "per_host", 1000)
        reply = owner._call("take", "dead", 100)
        assert len(reply[4:]) == 200
        client.zadd("crawl:reclaim:workers", {"dead": 0})
        returned: list[int] = []
        barrier = threading.Barrier(4)

        def reclaim(frontier: RedisFrontier) -> None:
            barrier.wait(timeout=10)
            for _ in range(5):
                returned.append(frontier._call("reclaim", 4000, frontier.worker))

        threads = [threading.Thread(target=reclaim, args=(r,)) for r in rivals for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        queued = [decode_item(p).url for p in client.lrange("crawl:reclaim:q:h.example", 0, -1)]
        assert sum(returned) <= 100
        assert int(client.hget("crawl:reclaim:stats", "reclaimed")) == 100
        assert Counter(queued) == Counter(URLS[:200])  # each URL queued exactly once
        assert client.hlen("crawl:reclaim:lease") == 0
        assert int(client.hget("crawl:reclaim:hs:h.example", "active")) == 0
        assert int(client.get("crawl:reclaim:open")) == 200
    finally:
        for frontier in (owner, *rivals):
            frontier.close()


def test_a_late_done_from_an_evicted_worker_changes_nothing(redis_server, tmp_path):
    config = _config(tmp_path, redis_server, "late")
    slow = RedisFrontier(config, [HOST], worker_id="slow")
    other = RedisFrontier(config, [], worker_id="other")
    client = redis_server.client()
    try:
        slow.admit(URLS[0], 1, HOST, HOST)
        lease, payload = slow._call("take", "slow", 1)[4:6]
        client.zadd("crawl:late:workers", {"slow": 0})
        assert other._call("reclaim", 4000, "other") == 1
        assert slow._call("done", lease, "slow") == 0
        assert int(client.get("crawl:late:open")) == 1
        assert client.lrange("crawl:late:q:h.example", 0, -1) == [payload]
    finally:
        slow.close()
        other.close()


def _records(folder: Path) -> list[dict]:
    lines = (folder / "crawl.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _leases_of(client, crawl_id: str, pid: int) -> int:  # type: ignore[no-untyped-def]
    total = 0
    for key in client.scan_iter(f"crawl:{crawl_id}:wl:*"):
        if f":{pid}:" in key.decode():
            total += client.scard(key)
    return total


def test_three_workers_one_killed_finish_with_every_url_once_and_polite(
    redis_server, make_site, start_worker: Worker, tmp_path
):
    hosts = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    site = make_site(hosts=hosts, pages=25, links=4, latency=0.05)
    delay, per_host = 0.15, 2
    opts = ("--delay", str(delay), "--per-host", str(per_host))
    outs = [tmp_path / f"w{i}" for i in range(3)]
    procs = [start_worker(redis_server.url, "kill", out, site.seed_urls(), *opts) for out in outs]
    client = redis_server.client()
    deadline = time.monotonic() + 60
    while _leases_of(client, "kill", procs[0].pid) == 0:  # kill it while it holds leases
        assert procs[0].poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    procs[0].kill()
    procs[0].wait(timeout=10)
    for proc in procs[1:]:
        code, err = finish(proc)
        assert code == 0, err
    assert int(client.hget("crawl:kill:stats", "reclaimed")) >= 1
    merged = tmp_path / "merged"
    args = [*map(str, outs), "--output", str(merged)]
    assert (
        merge_main(
            [*args, "--frontier", redis_server.url, "--crawl-id", "kill"],
            stderr=sys.stderr,
        )
        == 0
    )
    records = _records(merged)
    urls = Counter(r["url"] for r in records)
    assert urls and max(urls.values()) == 1
    # Every page a server answered is in the merge, once.
    answered = {
        f"http://{h}:{site.port}{urlsplit(p).path}"
        for h in hosts
        for p in site.stats[h].hits
        if p != "/robots.txt" and not p.startswith("/dest/")
    }
    assert answered <= set(urls)
    for record in records:
        if record["path"]:
            assert (merged / record["path"]).is_file()
    # Politeness held for the fleet, measured at the servers (page requests).
    for h in hosts:
        stats = site.stats[h]
        assert stats.max_active <= per_host
        starts = sorted(s for s, _, p in stats.log if p != "/robots.txt")
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        # The clock starts right before each request (frontier/redis.py _BEGIN); what is left
        # is the time from that answer to the request reaching the server.
        assert min(gaps) >= delay * 0.75, (h, min(gaps))


def test_a_503_503_200_host_does_not_end_the_crawl_early(
    make_site, redis_server, start_worker: Worker, tmp_path
):
    site = make_site(hosts=("127.0.0.1",), pages=3, links=1)
    seed = site.base("127.0.0.1") + "flaky/2/x"
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [start_worker(redis_server.url, "flaky", out, [seed], "--retries", "2") for out in outs]
    for proc in procs:
        code, err = finish(proc)
        assert code == 0, err
    records = [r for out in outs for r in _records(out)]
    assert [(r["status"], r["ok"], r["attempts"]) for r in records] == [(200, True, 3)]
    assert site.stats["127.0.0.1"].hits["/flaky/2/x"] == 3


def test_a_joiner_with_other_options_exits_2_naming_the_option_and_a_finished_crawl_exits_0(
    make_site, redis_server, start_worker: Worker, tmp_path
):
    site = make_site(hosts=("127.0.0.1",), pages=4, links=1)
    seeds = site.seed_urls()
    code, err = finish(
        start_worker(redis_server.url, "opts", tmp_path / "a", seeds, "--depth", "2")
    )
    assert code == 0, err
    code, err = finish(
        start_worker(redis_server.url, "opts", tmp_path / "b", seeds, "--depth", "3")
    )
    assert code == 2
    assert "--depth" in err and "opts" in err
    requests = site.total_requests
    code, err = finish(
        start_worker(redis_server.url, "opts", tmp_path / "c", seeds, "--depth", "2")
    )
    assert code == 0, err
    assert site.total_requests == requests  # finished: nothing fetched again
    assert _records(tmp_path / "c") == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--frontier", "redis://127.0.0.1:1/0", "--crawl-id", "x", "--lease", "2"], "--lease"),
        (["--frontier", "http://127.0.0.1:1/0", "--crawl-id", "x"], "--frontier"),
        (["--frontier", "redis://127.0.0.1/0", "--crawl-id", "x"], "--frontier"),
        (["--frontier", "redis://127.0.0.1:1/0"], "--crawl-id"),
        (["--crawl-id", "x"], "--crawl-id"),
        (["--frontier", "redis://127.0.0.1:1/0", "--crawl-id", "x"], "cannot reach Redis"),
    ],
)
def test_bad_frontier_options_exit_2_with_one_clear_line(tmp_path, options, named, capsys):
    from crawler.cli import main

    code = main(["http://127.0.0.1:9/", "--output", str(tmp_path / "o"), *options])
    err = capsys.readouterr().err
    assert code == 2
    assert named in err


@pytest.mark.parametrize(
    ("server_options", "named"),
    [({"password": "right"}, "refused the password"), ({"cluster": True}, "Redis Cluster")],
)
def test_a_wrong_password_or_a_cluster_exits_2(tmp_path, capsys, server_options, named):
    from crawler.cli import main

    from .conftest import REDIS_SERVER

    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder, **server_options)
    server.start()
    try:
        url = f"redis://:wrong@127.0.0.1:{server.port}/0" if server.password else server.url
        code = main(
            [
                "http://127.0.0.1:9/",
                "--output",
                str(tmp_path / "o"),
                "--frontier",
                url,
                "--crawl-id",
                "x",
            ]
        )
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert code == 2
    assert named in err
    assert len(err.strip().splitlines()) == 1


def _merge_once(outs: list[Path], merged: Path, server: RedisServer, crawl_id: str) -> Counter:
    """Merge with the Redis check (exit 0 asserted); the URLs of the merge, counted."""
    args = [*map(str, outs), "--output", str(merged)]
    code = merge_main([*args, "--frontier", server.url, "--crawl-id", crawl_id], stderr=sys.stderr)
    assert code == 0
    urls = Counter(r["url"] for r in _records(merged))
    assert urls and max(urls.values()) == 1
    return urls


def test_ctrl_c_on_one_worker_hands_its_urls_back_and_exits_130_while_the_other_finishes(
    make_site, redis_server, start_worker: Worker, tmp_path
):
    robots = {"127.0.0.1": "User-agent: *\nDisallow: /page/7\n"}
    site = make_site(pages=30, links=4, latency=0.05, robots=robots)
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [start_worker(redis_server.url, "int", out, site.seed_urls()) for out in outs]
    assert site.wait_for_requests(15, timeout=60)
    procs[0].send_signal(signal.SIGINT)
    code, err = finish(procs[0])
    assert code == 130, err
    assert "handed back" in err
    code, err = finish(procs[1])
    assert code == 0, err
    # A merge that misses a worker's folder does not match Redis: exit 1.
    assert _records(outs[0])
    partial = [str(outs[1]), "--output", str(tmp_path / "partial")]
    partial += ["--frontier", redis_server.url, "--crawl-id", "int"]
    assert merge_main(partial, stderr=sys.stderr) == 1
    urls = _merge_once(outs, tmp_path / "merged", redis_server, "int")
    base = site.base("127.0.0.1")
    assert urls[base + "page/7"] == 1  # recorded (refused by robots.txt), once
    # robots.txt was fetched once for the fleet, not once per worker.
    assert [site.stats[h].hits["/robots.txt"] for h in site.hosts] == [1, 1]


def test_redis_away_for_a_few_seconds_then_back_the_crawl_completes_exactly_once(
    make_site, redis_server, start_worker: Worker, tmp_path
):
    site = make_site(pages=30, links=4, latency=0.05)
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [
        start_worker(redis_server.url, "away", out, site.seed_urls(), "--frontier-timeout", "30")
        for out in outs
    ]
    assert site.wait_for_requests(15, timeout=60)
    redis_server.stop()
    threading.Event().wait(2.0)  # the outage itself: two seconds without Redis
    redis_server.start()
    errs = []
    for proc in procs:
        code, err = finish(proc)
        assert code == 0, err
        errs.append(err)
    assert any("Redis unreachable" in err for err in errs)
    _merge_once(outs, tmp_path / "merged", redis_server, "away")


def test_redis_away_past_the_frontier_timeout_exits_1_and_a_restart_finishes_exactly_once(
    make_site, redis_server, start_worker: Worker, tmp_path
):
    site = make_site(pages=30, links=4, latency=0.05)
    outs = [tmp_path / "a", tmp_path / "b"]
    opts = ("--frontier-timeout", "2")
    procs = [start_worker(redis_server.url, "gone", out, site.seed_urls(), *opts) for out in outs]
    assert site.wait_for_requests(15, timeout=60)
    redis_server.stop()
    for proc in procs:
        code, err = finish(proc, timeout=60)
        assert code == 1, err
        assert "--frontier-timeout" in err
        assert "Traceback" not in err
    redis_server.start()
    procs = [start_worker(redis_server.url, "gone", out, site.seed_urls(), *opts) for out in outs]
    for proc in procs:
        code, err = finish(proc)
        assert code == 0, err
    _merge_once(outs, tmp_path / "merged", redis_server, "gone")


def test_every_worker_killed_and_redis_restarted_from_its_aof_two_new_workers_finish_once(
    make_site, redis_server, start_worker: Worker, tmp_path
):
    site = make_site(pages=30, links=4, latency=0.05)
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [start_worker(redis_server.url, "aof", out, site.seed_urls()) for out in outs]
    client = redis_server.client()
    deadline = time.monotonic() + 60
    while client.hlen("crawl:aof:lease") == 0:  # killed while holding leases
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)
    redis_server.stop(signal.SIGKILL)
    assert (redis_server.folder / "appendonlydir").is_dir()
    redis_server.start()
    procs = [start_worker(redis_server.url, "aof", out, site.seed_urls()) for out in outs]
    for proc in procs:
        code, err = finish(proc)
        assert code == 0, err
    _merge_once(outs, tmp_path / "merged", redis_server, "aof")
    assert int(redis_server.client().hget("crawl:aof:stats", "reclaimed")) >= 1
