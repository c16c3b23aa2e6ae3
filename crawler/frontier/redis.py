"""The shared frontier: one crawl run by many workers (machines) around one Redis server.

    worker A ─┐   admit.lua: digests test-and-set, page count, per-host, traps (one step)
    worker B ─┼─> Redis  crawl:NAME:*  take.lua: a ready host's next URL, leased, permit taken
    worker C ─┘          done.lua / handback.lua / defer.lua: end a lease, free the permit
                         reclaim.lua: a silent worker's leases back, exactly once

Every state change is a Lua script, so it is atomic and uses the server's clock (TIME): per-host
permits (`--per-host`) and delays (max of `--delay` and Crawl-delay) hold for the whole fleet,
and no worker's clock matters. In each process a feeder thread takes as many items as there are
idle fetchers into a local `queue.Queue` (its task_done/join still count the local work), and a
heartbeat thread keeps this worker's leases alive and puts back those of silent workers.

Knowing the end: `open` counts queued + deferred + leased items; it goes up only on admission
and down only on `done`, and a page's links are admitted before its `done`: `open == 0` after
the seeds are in (`seeded`) means the crawl is finished, for every worker.

Keys (all under `crawl:NAME:`): meta (options, seeds, seeded), seen:BUCKET (small hashes of the
16-byte digests of canonical URLs, see `digest`), admitted, open, hostcount, qvar, ready (host ->
ms it may be asked), q:HOST (payloads), hs:HOST (active, next, cd), deferred (zset), lease (id ->
worker, host, payload), wl:WORKER, workers (worker -> last heartbeat), lseq, dseq, stats,
reply:TOKEN (a call's answer, for its retry), robots:ORIGIN, robotslock:ORIGIN.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis

from ..config import Config
from ..errors import ErrorKind, FrontierUnavailable, UsageError
from ..fetch.robots import RobotsOutcome
from ..messages import WorkItem
from ..urls import host_key
from . import FrontierStats
from .memory import MAX_QUERY_VARIANTS, refusal_rule, trap_reason

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The options that shape what the crawl does: every worker of one crawl must agree on them.
SHAPING = (
    "scope",
    "depth",
    "allow",
    "deny",
    "max_pages",
    "max_pages_per_host",
    "max_bytes",
    "max_redirects",
    "retries",
    "per_host",
    "delay",
    "user_agent",
    "ignore_robots",
    "sitemaps",
    "lease",
)
DIGEST_BYTES = 16  # 128 bits: no collision expected among 10^12 URLs
# The visited set is 2^20 small hashes (Redis keeps a hash of up to 128 short fields as one
# compact listpack): about 18 bytes a URL instead of about 72 in one big set, while a bucket
# holds fewer than 128 URLs, i.e. up to about 100 M URLs per crawl.
SEEN_BUCKET_BITS = 20
LOCAL_CACHE = 1_000_000  # digests answered, kept to save round trips (cleared when full)
IDLE_POLL = 0.25  # longest wait between two asks when no host is ready
ROBOTS_TTL = 24 * 3600.0  # a robots.txt is kept (and obeyed) this long, as Google does

_PRELUDE = r"""
local P = KEYS[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local PER_HOST = tonumber(redis.call('HGET', P .. 'meta', 'per_host') or '1')
local DELAY = tonumber(redis.call('HGET', P .. 'meta', 'delay_ms') or '0')
-- a host is in `ready` exactly when it has queued items and a free permit
local function touch(h)
  local hk = P .. 'hs:' .. h
  local active = tonumber(redis.call('HGET', hk, 'active') or '0')
  if active < PER_HOST and redis.call('LLEN', P .. 'q:' .. h) > 0 then
    redis.call('ZADD', P .. 'ready', tonumber(redis.call('HGET', hk, 'next') or '0'), h)
  else
    redis.call('ZREM', P .. 'ready', h)
  end
end
-- KEYS[2], when given, keeps this call's reply for REPLY_TTL: a call retried after a lost
-- connection (the script ran, its answer did not arrive) gets the same answer, not a second run
local RK = KEYS[2]
local function split(text)
  local t = {}
  for x in string.gmatch(text, '[^,]+') do t[#t + 1] = x end
  return t
end
local function remember(text)
  if RK then redis.call('SET', RK, text, 'PX', 120000) end
end
local REPLAY = RK and redis.call('GET', RK)
-- end a lease (of `worker`, if given): its permit is freed; returns host, payload or nil
local function release(id, worker)
  local v = redis.call('HGET', P .. 'lease', id)
  if not v then return nil end
  local w, h, p = string.match(v, '^([^\n]*)\n([^\n]*)\n(.*)$')
  if worker and w ~= worker then return nil end
  redis.call('HDEL', P .. 'lease', id)
  redis.call('SREM', P .. 'wl:' .. w, id)
  redis.call('HINCRBY', P .. 'hs:' .. h, 'active', -1)
  touch(h)
  return h, p
end
"""

# ARGV: max_pages (-1: none), per-host budget (-1: none), max query variants, then per URL:
# digest, host, query key ('' if none), shape trap (0/1), seed (0/1), payload.
_ADMIT = r"""
if REPLAY then return split(REPLAY) end
local max_pages, budget, maxq = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local admitted = tonumber(redis.call('GET', P .. 'admitted') or '0')
local new, trapped, out = 0, 0, {}
for i = 4, #ARGV, 6 do
  local d, h, qk, shape, seed, p = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
  local r
  local sk, sf = P .. 'seen:' .. string.sub(d, 1, 3), string.sub(d, 4)
  if redis.call('HEXISTS', sk, sf) == 1 then
    r = 'dup'
  elseif max_pages >= 0 and admitted >= max_pages then
    r = 'full'
  else
    redis.call('HSET', sk, sf, '')
    r = 'new'
    if seed == '0' then
      if shape == '1' then
        r = 'shape'
      elseif budget >= 0 and tonumber(redis.call('HGET', P .. 'hostcount', h) or '0') >= budget then
        r = 'budget'
      elseif qk ~= '' then
        if redis.call('HINCRBY', P .. 'qvar', qk, 1) - 1 >= maxq then r = 'query' end
      end
    end
    if r == 'new' then
      redis.call('HINCRBY', P .. 'hostcount', h, 1)
      admitted = admitted + 1
      new = new + 1
      redis.call('RPUSH', P .. 'q:' .. h, p)
      touch(h)
    else
      trapped = trapped + 1
    end
  end
  out[#out + 1] = r
end
if new > 0 then
  redis.call('SET', P .. 'admitted', admitted)
  redis.call('INCRBY', P .. 'open', new)
end
if trapped > 0 then redis.call('HINCRBY', P .. 'stats', 'trapped', trapped) end
remember(table.concat(out, ','))
return out
"""

# ARGV: worker, how many. Returns {wait hint ms, open, admitted, seeded, id, payload, ...}.
_TAKE = r"""
local worker, n = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
redis.call('ZADD', P .. 'workers', now, worker)
local function header(out, hint)
  out[1] = math.max(hint, 0)
  out[2] = tonumber(redis.call('GET', P .. 'open') or '0')
  out[3] = tonumber(redis.call('GET', P .. 'admitted') or '0')
  out[4] = tonumber(redis.call('HGET', P .. 'meta', 'seeded') or '0')
  return out
end
if REPLAY then
  local out = {0, 0, 0, 0}
  for _, id in ipairs(split(REPLAY)) do
    local v = redis.call('HGET', P .. 'lease', id)
    local w, p = v and string.match(v, '^([^\n]*)\n[^\n]*\n(.*)$')
    if w == worker then
      out[#out + 1] = tonumber(id)
      out[#out + 1] = p
    end
  end
  return header(out, 0)
end
local due = redis.call('ZRANGEBYSCORE', P .. 'deferred', '-inf', now, 'LIMIT', 0, 100)
for _, m in ipairs(due) do
  local h, p = string.match(m, '^[^\n]*\n([^\n]*)\n(.*)$')
  redis.call('ZREM', P .. 'deferred', m)
  redis.call('LPUSH', P .. 'q:' .. h, p)
  touch(h)
end
local out = {0, 0, 0, 0}
local got = 0
while got < n do
  local hs = redis.call('ZRANGEBYSCORE', P .. 'ready', '-inf', now, 'LIMIT', 0, 1)
  if #hs == 0 then break end
  local h = hs[1]
  local p = redis.call('LPOP', P .. 'q:' .. h)
  if p then
    local hk = P .. 'hs:' .. h
    redis.call('HINCRBY', hk, 'active', 1)
    local gap = math.max(DELAY, tonumber(redis.call('HGET', hk, 'cd') or '0'))
    redis.call('HSET', hk, 'next', now + gap)
    local id = redis.call('INCR', P .. 'lseq')
    redis.call('HSET', P .. 'lease', id, worker .. '\n' .. h .. '\n' .. p)
    redis.call('SADD', P .. 'wl:' .. worker, id)
    out[#out + 1] = id
    out[#out + 1] = p
    got = got + 1
  end
  touch(h)
end
local hint = 1000
local r = redis.call('ZRANGE', P .. 'ready', 0, 0, 'WITHSCORES')
if #r > 0 then hint = math.min(hint, tonumber(r[2]) - now) end
local d = redis.call('ZRANGE', P .. 'deferred', 0, 0, 'WITHSCORES')
if #d > 0 then hint = math.min(hint, tonumber(d[2]) - now) end
local ids = {}
for i = 5, #out, 2 do ids[#ids + 1] = out[i] end
remember(table.concat(ids, ','))
return header(out, hint)
"""

# ARGV: lease id, worker. 1 if the lease was this worker's (the item is finished), else 0.
_DONE = r"""
if REPLAY then return tonumber(REPLAY) end
local h = release(ARGV[1], ARGV[2])
if not h then remember('0') return 0 end
redis.call('DECR', P .. 'open')
redis.call('HINCRBY', P .. 'stats', 'finished', 1)
remember('1')
return 1
"""

# ARGV: lease id, worker, host, payload, delay ms (-1: queue at the head now). The item goes on
# (redirect hop, retry, politeness, a stop) with its open task; 0 if the lease was lost.
_HANDBACK = r"""
if REPLAY then return tonumber(REPLAY) end
local h = release(ARGV[1], ARGV[2])
if not h then remember('0') return 0 end
local delay = tonumber(ARGV[5])
if delay < 0 then
  redis.call('LPUSH', P .. 'q:' .. ARGV[3], ARGV[4])
  touch(ARGV[3])
else
  local seq = redis.call('INCR', P .. 'dseq')
  redis.call('ZADD', P .. 'deferred', now_ms() + delay, seq .. '\n' .. ARGV[3] .. '\n' .. ARGV[4])
end
remember('1')
return 1
"""

# ARGV: lease ms, this worker. Puts back the leases of every worker silent longer than the lease,
# their permits freed; atomic, so each lost item goes back once however many workers race.
_RECLAIM = r"""
local now = now_ms()
redis.call('ZADD', P .. 'workers', now, ARGV[2])
local dead = redis.call('ZRANGEBYSCORE', P .. 'workers', '-inf', now - tonumber(ARGV[1]))
local n = 0
for _, w in ipairs(dead) do
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'wl:' .. w)) do
    local h, p = release(id, w)
    if h then
      redis.call('LPUSH', P .. 'q:' .. h, p)
      touch(h)
      n = n + 1
    end
  end
  redis.call('DEL', P .. 'wl:' .. w)
  redis.call('ZREM', P .. 'workers', w)
end
if n > 0 then redis.call('HINCRBY', P .. 'stats', 'reclaimed', n) end
return n
"""

# ARGV: this worker. Hands back every lease it holds (a stop, a close) and leaves the fleet.
_RETIRE = r"""
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', P .. 'wl:' .. ARGV[1])) do
  local h, p = release(id, ARGV[1])
  if h then
    redis.call('LPUSH', P .. 'q:' .. h, p)
    touch(h)
    n = n + 1
  end
end
redis.call('DEL', P .. 'wl:' .. ARGV[1])
redis.call('ZREM', P .. 'workers', ARGV[1])
return n
"""

# ARGV: options JSON, seeds JSON, per_host, delay ms. The first worker records them; a joiner
# gets {0, options, seeds} to compare.
_JOIN = r"""
if redis.call('HSETNX', P .. 'meta', 'options', ARGV[1]) == 1 then
  redis.call('HSET', P .. 'meta', 'seeds', ARGV[2], 'per_host', ARGV[3], 'delay_ms', ARGV[4])
  return {1, ARGV[1], ARGV[2]}
end
return {0, redis.call('HGET', P .. 'meta', 'options'), redis.call('HGET', P .. 'meta', 'seeds')}
"""

# ARGV: lease id, worker. Right before the request: the host's politeness clock starts now (the
# take only held it back), so the gap is kept between request starts whatever the take-to-
# request time. 0 if the lease is no longer this worker's.
_BEGIN = r"""
local v = redis.call('HGET', P .. 'lease', ARGV[1])
if not v then return 0 end
local w, h = string.match(v, '^([^\n]*)\n([^\n]*)\n')
if w ~= ARGV[2] then return 0 end
local hk = P .. 'hs:' .. h
local gap = math.max(DELAY, tonumber(redis.call('HGET', hk, 'cd') or '0'))
if gap > 0 then
  local nxt = now_ms() + gap
  if nxt > tonumber(redis.call('HGET', hk, 'next') or '0') then
    redis.call('HSET', hk, 'next', nxt)
    touch(h)
  end
end
return 1
"""

# ARGV: host, Crawl-delay ms.
_CRAWL_DELAY = r"""
redis.call('HSET', P .. 'hs:' .. ARGV[1], 'cd', ARGV[2])
return 1
"""


_ONCE = frozenset({"admit", "take", "done", "handback"})  # answers kept for a retry


def digest(url: str) -> bytes:
    """The fixed-size key of a canonical URL in the visited set, with its bucket's bits first:
    the first SEEN_BUCKET_BITS bits name a small hash `seen:BUCKET`, the rest is the field."""
    key = hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=DIGEST_BYTES).digest()
    # Zero the bits below the bucket's in the first three bytes, so the script can take them
    # as the bucket's name, and keep the whole digest after them as the field.
    head = int.from_bytes(key[:3], "big") & ~((1 << (24 - SEEN_BUCKET_BITS)) - 1)
    return head.to_bytes(3, "big") + key


def seen_slot(key: bytes) -> tuple[bytes, bytes]:
    """(bucket, field) of a digest in the visited set (as the admission script splits it)."""
    return key[:3], key[3:]


def encode_item(item: WorkItem) -> bytes:
    """The payload of an item in Redis (its lease is not part of it)."""
    fields = [item.url, item.depth, item.parent, item.seed, item.attempt, item.fetch_url]
    fields += [item.hops, list(item.via), item.kind]
    return json.dumps(fields, separators=(",", ":")).encode("ascii")


def decode_item(payload: bytes, lease: int = 0) -> WorkItem:
    """The item of a payload, with the lease it was taken under."""
    url, depth, parent, seed, attempt, fetch_url, hops, via, *rest = json.loads(payload)
    kind = rest[0] if rest else "link"  # how it was reached (--mirror: requisite)
    return WorkItem(url, depth, parent, seed, attempt, fetch_url, hops, tuple(via), lease, kind)


def shaping_options(config: Config) -> dict[str, Any]:
    """The options every worker of one crawl must share, as JSON values."""
    data = config.to_json()
    return {name: json.loads(json.dumps(data[name])) for name in SHAPING}


def option_name(field: str) -> str:
    """`max_pages` -> `--max-pages`."""
    return "--" + field.replace("_", "-")


def _connect(config: Config) -> redis.Redis:
    """A client for --frontier, checked: reachable, password accepted, not a cluster."""
    assert config.frontier is not None
    parts = urlsplit(config.frontier)
    where = f"{parts.hostname}:{parts.port}"
    try:
        client = redis.Redis.from_url(
            config.frontier,
            socket_timeout=min(5.0, config.frontier_timeout),
            socket_connect_timeout=min(5.0, config.frontier_timeout),
            health_check_interval=30,
        )
        client.ping()
        info = client.info("cluster")
    except ValueError as exc:
        raise UsageError(f"--frontier: {exc}") from None
    except redis.AuthenticationError as exc:
        raise UsageError(f"--frontier: Redis at {where} refused the password: {exc}") from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise UsageError(f"--frontier: Redis at {where} refused the password: {exc}") from None
        raise UsageError(f"--frontier: Redis at {where} answered: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise UsageError(f"--frontier: cannot reach Redis at {where}: {exc}") from None
    if info.get("cluster_enabled"):
        client.close()
        raise UsageError(
            f"--frontier: {where} is a Redis Cluster; the crawl needs one Redis server "
            "(its scripts touch keys of many hosts at once)"
        )
    return client


class RedisFrontier:
    """The `Frontier` protocol over a Redis server shared by many workers."""

    def __init__(
        self,
        config: Config,
        seeds: Sequence[str],
        *,
        on_trap: Callable[[WorkItem, str], None] | None = None,
        on_refuse: Callable[[str, int, str | None, str, str, str], None] | None = None,
        client: redis.Redis | None = None,
        worker_id: str | None = None,
    ) -> None:
        assert config.crawl_id is not None
        self._config = config
        self._client = client or _connect(config)
        self._prefix = f"crawl:{config.crawl_id}:"
        self._keys = [self._prefix]
        self.worker = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._on_trap = on_trap
        self._on_refuse = on_refuse  # keeps a refused link's rule for `crawl why`
        self._lock = threading.Lock()  # guards the local counters and the digest cache
        self._answered: set[bytes] = set()
        self._deduped = self._refused = self._trapped = self._finished = 0
        self._round_trips = 0
        self._admitted = 0
        self._open = -1
        self._stopping = False
        self._closed = False
        self._failed: BaseException | None = None
        self._failure_raised = False
        self._outage_since: float | None = None
        self._handed_back: list[WorkItem] = []
        self._local: queue.Queue[WorkItem | None] = queue.Queue()
        self._room = threading.Event()  # a fetcher became free: the feeder may take more
        self._quit = threading.Event()  # close(): the background threads end
        self._finished_event = threading.Event()
        self._drained = threading.Event()
        self._scripts = {
            name: self._client.register_script(_PRELUDE + body)
            for name, body in (
                ("admit", _ADMIT),
                ("take", _TAKE),
                ("done", _DONE),
                ("handback", _HANDBACK),
                ("reclaim", _RECLAIM),
                ("retire", _RETIRE),
                ("join", _JOIN),
                ("crawl_delay", _CRAWL_DELAY),
                ("begin", _BEGIN),
            )
        }
        self._delays: dict[str, float] = {}  # Crawl-delays already told to Redis
        self._feeding = False
        self._join(seeds)
        self._feeder = threading.Thread(target=self._run_feeder, name="frontier-feeder")
        self._heart = threading.Thread(target=self._run_heartbeat, name="frontier-heartbeat")
        self._joiner = threading.Thread(target=self._run_joiner, name="frontier-join", daemon=True)
        self._heart.start()

    # -- talking to Redis ------------------------------------------------------------------

    def _call(self, name: str, *args: Any) -> Any:
        """Run one script (one round trip). A script that changes state gets a reply key, so a
        retry after a lost answer returns the first run's answer instead of running again."""
        script = self._scripts[name]
        keys = self._keys
        if name in _ONCE:
            keys = [self._prefix, f"{self._prefix}reply:{uuid.uuid4().hex}"]
        return self._retry(lambda: script(keys=keys, args=list(args)))

    def _retry(self, command: Callable[[], T]) -> T:
        """Run a command, retrying a lost connection with backoff for --frontier-timeout;
        then FrontierUnavailable (at once for every later call)."""
        backoff = 0.05
        while True:
            if self._failed is not None:
                raise self._failed
            try:
                with self._lock:
                    self._round_trips += 1
                reply = command()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                now = time.monotonic()
                with self._lock:
                    if self._outage_since is None:
                        self._outage_since = now
                        logger.warning(
                            "Redis unreachable (%s); retrying for up to %g s (--frontier-timeout)",
                            exc,
                            self._config.frontier_timeout,
                        )
                    since = self._outage_since
                if now - since >= self._config.frontier_timeout:
                    self._fail(
                        f"Redis unreachable for {self._config.frontier_timeout:g} s "
                        f"(--frontier-timeout): {exc}"
                    )
                    continue
                self._quit.wait(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            with self._lock:
                if self._outage_since is not None:
                    self._outage_since = None
                    logger.warning("Redis is back")
            return reply

    def _fail(self, message: str) -> None:
        with self._lock:
            # An outage is shared by every thread: the first to give up decides for all.
            if self._failed is None:
                self._failed = FrontierUnavailable(message)
                logger.error("%s", message)
        self._room.set()

    def _join(self, seeds: Sequence[str]) -> None:
        options = json.dumps(shaping_options(self._config), sort_keys=True)
        seeds_json = json.dumps(sorted(set(seeds)))
        delay_ms = int(self._config.delay * 1000)
        first, stored, stored_seeds = self._call(
            "join", options, seeds_json, self._config.per_host, delay_ms
        )
        if first:
            logger.info("crawl %s: first worker, options recorded", self._config.crawl_id)
            return
        theirs = json.loads(stored)
        mine = json.loads(options)
        for name in SHAPING:
            if theirs.get(name) != mine.get(name):
                raise UsageError(
                    f"{option_name(name)}: crawl {self._config.crawl_id!r} was started with "
                    f"{theirs.get(name)!r}, this worker has {mine.get(name)!r}"
                )
        if seeds and json.loads(stored_seeds) != json.loads(seeds_json):
            raise UsageError(
                f"SEEDS: crawl {self._config.crawl_id!r} was started with other seeds "
                "(give the same seeds, or none to join)"
            )

    # -- admission -------------------------------------------------------------------------

    def admit(
        self, url: str, depth: int, parent: str | None, seed: str, *, kind: str = "link"
    ) -> bool:
        """Admit one URL (a seed, a sitemap entry, a link, a page requisite)."""
        return self._admit([url], depth, parent, seed, kind) == 1

    def admit_many(self, urls: Iterable[str], depth: int, parent: str, seed: str) -> int:
        """Admit a page's links in one atomic step; returns how many were new."""
        return self._admit(list(urls), depth, parent, seed)

    def _admit(
        self, urls: list[str], depth: int, parent: str | None, seed: str, kind: str = "link"
    ) -> int:
        self._check_open()
        config = self._config
        args: list[Any] = [
            config.max_pages if config.max_pages is not None else -1,
            config.max_pages_per_host if config.max_pages_per_host is not None else -1,
            MAX_QUERY_VARIANTS,
        ]
        asked: list[tuple[WorkItem, bytes, str | None]] = []
        refused = deduped = 0
        batch: set[bytes] = set()
        for url in urls:
            key = digest(url)
            with self._lock:
                known = key in self._answered
            if known or key in batch:
                deduped += 1
                continue
            refusal = refusal_rule(config, url, depth, seed, kind) if parent is not None else None
            if refusal is not None:
                refused += 1
                if self._on_refuse is not None:
                    self._on_refuse(url, depth, parent, seed, *refusal)
                continue
            batch.add(key)
            item = WorkItem(url, depth, parent, seed, kind=kind)
            shape = trap_reason(url) if parent is not None else None
            parts = urlsplit(url)
            qkey = digest(parts.netloc + "\0" + parts.path) if parts.query else b""
            args += [key, host_key(url), qkey, int(shape is not None), int(parent is None)]
            args.append(encode_item(item))
            asked.append((item, key, shape))
        verdicts = self._call("admit", *args) if asked else []
        new = 0
        traps: list[tuple[WorkItem, str]] = []
        with self._lock:
            self._deduped += deduped
            self._refused += refused
            if len(self._answered) > LOCAL_CACHE:
                self._answered.clear()
            for (item, key, shape), verdict in zip(asked, verdicts, strict=True):
                verdict = verdict.decode() if isinstance(verdict, bytes) else verdict
                if verdict == "full":
                    self._refused += 1
                    continue
                self._answered.add(key)
                if verdict == "new":
                    new += 1
                elif verdict == "dup":
                    self._deduped += 1
                else:
                    self._trapped += 1
                    traps.append((item, self._trap_message(verdict, item, shape)))
        if self._on_trap is not None:
            for item, reason in traps:
                self._on_trap(item, reason)
        return new

    def _trap_message(self, verdict: str, item: WorkItem, shape: str | None) -> str:
        if verdict == "budget":
            budget = self._config.max_pages_per_host
            return f"--max-pages-per-host {budget} reached for {host_key(item.url)}"
        if verdict == "query":
            return f"more than {MAX_QUERY_VARIANTS} query strings under one path"
        return shape or "crawler trap"

    def readmit(self, item: WorkItem) -> None:
        """Not used: a shared crawl resumes from Redis, not from a local journal."""
        raise RuntimeError("RedisFrontier.readmit: a shared crawl resumes from Redis")

    def claim(self, url: str) -> bool:
        """Mark a URL reached by a redirect as visited (fleet-wide); False if already seen."""
        key = digest(url)
        with self._lock:
            if key in self._answered:
                return False
        bucket, field = self._seen_key(key)
        added = self._retry(lambda: self._client.hsetnx(bucket, field, b""))
        with self._lock:
            self._answered.add(key)
        return bool(added)

    def seen(self, url: str) -> bool:
        """Whether the URL is in the fleet's visited set."""
        key = digest(url)
        bucket, field = self._seen_key(key)
        return bool(self._retry(lambda: self._client.hexists(bucket, field)))

    def _seen_key(self, key: bytes) -> tuple[bytes, bytes]:
        bucket, field = seen_slot(key)
        return self._prefix.encode() + b"seen:" + bucket, field

    # -- the work loop ---------------------------------------------------------------------

    def take(self) -> WorkItem | None:
        """The next leased item, blocking; None is the sentinel that stops a fetcher."""
        return self._local.get()

    def done(self, item: WorkItem | None = None, *, finished: bool = True) -> None:
        """End the lease of a finished item (a late `done` of a lost lease changes nothing)."""
        try:
            if item is not None and item.lease:
                try:
                    ended = self._call("done", item.lease, self.worker)
                except FrontierUnavailable:
                    return  # the lease stays in Redis and is put back by another worker
                if not ended:
                    logger.warning("lease of %s was lost (reclaimed): crawled again", item.url)
                elif finished:
                    with self._lock:
                        self._finished += 1
        finally:
            self._task_done()

    def requeue(self, item: WorkItem) -> None:
        """Hand an item on (redirect hop, stale permit): back at the head of its host's queue."""
        self._handback(item, -1)

    def defer(self, item: WorkItem, not_before: float) -> None:
        """Hand an item back until `not_before` (time.monotonic), kept on the server's clock."""
        self._handback(item, max(0, int((not_before - time.monotonic()) * 1000)))

    def shelve(self, item: WorkItem) -> None:
        """Hand a taken item back to the fleet instead of crawling it (after a stop)."""
        with self._lock:
            self._handed_back.append(item)
        self._handback(item, -1)

    def _handback(self, item: WorkItem, delay_ms: int) -> None:
        try:
            if item.lease:
                self._call(
                    "handback",
                    item.lease,
                    self.worker,
                    host_key(item.target),
                    encode_item(item),
                    delay_ms,
                )
        except FrontierUnavailable:
            pass  # the lease stays in Redis and is put back by another worker
        finally:
            self._task_done()

    def _task_done(self) -> None:
        self._local.task_done()
        self._room.set()

    def _run_feeder(self) -> None:
        threads = self._config.threads
        while not self._quit.is_set() and not self._stopping:
            if self._failed is not None:
                return
            self._room.clear()
            free = threads - self._local.unfinished_tasks
            if free <= 0:
                self._room.wait(IDLE_POLL)
                continue
            try:
                reply = self._call("take", self.worker, free)
            except FrontierUnavailable:
                return
            hint, open_, admitted, seeded = (int(x) for x in reply[:4])
            with self._lock:
                self._admitted, self._open = admitted, open_
            for i in range(4, len(reply), 2):
                self._local.put(decode_item(reply[i + 1], int(reply[i])))
            if len(reply) > 4:
                continue
            if seeded and open_ == 0:
                self._finished_event.set()
                return
            self._room.wait(min(max(hint, 5) / 1000, IDLE_POLL))

    def _run_heartbeat(self) -> None:
        lease_ms = int(self._config.lease * 1000)
        every = self._config.lease / 4
        while not self._quit.wait(every):
            if self._failed is not None:
                return
            try:
                back = self._call("reclaim", lease_ms, self.worker)
            except FrontierUnavailable:
                return
            if back:
                logger.warning("put back %d URLs of workers silent for over %g s", back, every * 4)

    # -- the crawl's end -------------------------------------------------------------------

    def robots_share(self) -> RedisRobotsShare:
        """robots.txt outcomes kept in Redis for the fleet."""
        return RedisRobotsShare(self)

    def needs_seeds(self) -> bool:
        """Whether the seeds were not yet all admitted (by this or an earlier worker)."""
        return not int(self._retry(lambda: self._client.hget(self._prefix + "meta", "seeded")) or 0)

    def seeded(self) -> None:
        """The seeds and sitemaps are in: the fleet may now see the crawl finish. Starts the
        feeder."""
        self._retry(lambda: self._client.hset(self._prefix + "meta", "seeded", 1))
        self._start_feeder()

    def _start_feeder(self) -> None:
        if not self._feeding:
            self._feeding = True
            self._feeder.start()

    @property
    def paces_hosts(self) -> bool:
        """True: permits and delays are kept in Redis for the fleet."""
        return True

    def starting(self, item: WorkItem) -> bool:
        """Start the host's politeness clock on the server (one round trip, only when the host
        has a delay); False if the lease was lost."""
        if not item.lease:
            return True
        with self._lock:
            paced = self._config.delay > 0 or self._delays.get(host_key(item.target), 0) > 0
        if not paced:
            return True
        try:
            return bool(self._call("begin", item.lease, self.worker))
        except FrontierUnavailable:
            return False

    def crawl_delay(self, host: str, seconds: float) -> None:
        """Record a host's Crawl-delay for the fleet (once per host in this process)."""
        if seconds <= 0:
            return
        with self._lock:
            if self._delays.get(host) == seconds:
                return
            self._delays[host] = seconds
        with contextlib.suppress(FrontierUnavailable):  # the engine sees the outage
            self._call("crawl_delay", host, int(seconds * 1000))

    def stop(self) -> None:
        """Stop taking: what this worker holds is handed back; the fleet goes on."""
        self._stopping = True
        self._room.set()

    @property
    def stopping(self) -> bool:
        """Whether `stop()` was called."""
        return self._stopping

    def shelved(self) -> list[WorkItem]:
        """The items this worker handed back because of a stop."""
        with self._lock:
            return list(self._handed_back)

    def wait(self, timeout: float) -> bool:
        """True once the fleet's crawl is finished (or, after a stop, this worker's part is
        drained). Raises FrontierUnavailable once if Redis stayed away past the timeout."""
        if self._failed is not None and not self._failure_raised:
            self._failure_raised = True
            raise self._failed
        if self._stopping or self._failed is not None:
            if not self._joiner.is_alive() and not self._drained.is_set():
                self._joiner.start()
            return self._drained.wait(timeout)
        self._start_feeder()  # if seeded() was not needed: the crawl was seeded before
        return self._finished_event.wait(timeout)

    def _run_joiner(self) -> None:
        self._local.join()
        self._drained.set()

    def release_workers(self, count: int) -> None:
        """Put one sentinel per fetcher thread."""
        for _ in range(count):
            self._local.put(None)

    def close(self) -> None:
        """Hand back anything still leased to this worker, stop the threads, leave the fleet."""
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._quit.set()
        self._room.set()
        for thread in (self._feeder, self._heart):
            if thread.is_alive():
                thread.join(timeout=self._config.frontier_timeout + 5)
        if self._failed is None:
            try:
                self._call("retire", self.worker)
            except FrontierUnavailable:
                logger.warning("could not hand back this worker's leases; they expire")
        self._client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("RedisFrontier.admit after close")

    def stats(self) -> FrontierStats:
        """This worker's counters; `admitted` is the fleet's."""
        with self._lock:
            return FrontierStats(
                admitted=self._admitted,
                deduped=self._deduped,
                refused=self._refused,
                finished=self._finished,
                queued=self._local.qsize(),
                deferred=0,
                trapped=self._trapped,
                round_trips=self._round_trips,
            )

    def fleet(self) -> dict[str, int]:
        """The fleet's totals as Redis has them (for `crawl merge --frontier`)."""
        return fleet_counts(self._client, self._prefix)

    def __enter__(self) -> RedisFrontier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RedisRobotsShare:
    """robots.txt outcomes under `robots:ORIGIN` (kept ROBOTS_TTL), fetched under a lock
    `robotslock:ORIGIN` that expires, so a worker that dies while fetching blocks nobody."""

    def __init__(self, frontier: RedisFrontier) -> None:
        self._frontier = frontier
        self._client = frontier._client
        self._prefix = frontier._prefix

    def get(self, origin: str) -> RobotsOutcome | None:
        """The stored outcome, or None."""
        raw = self._frontier._retry(lambda: self._client.get(self._prefix + "robots:" + origin))
        if raw is None:
            return None
        data = json.loads(raw)
        return RobotsOutcome(data["state"], data["body"], data["reason"], ErrorKind(data["kind"]))

    def lock(self, origin: str, seconds: float) -> bool:
        """SET NX PX: True if this worker now fetches the origin's robots.txt."""
        key = self._prefix + "robotslock:" + origin
        worker, ms = self._frontier.worker, int(seconds * 1000)
        return bool(self._frontier._retry(lambda: self._client.set(key, worker, nx=True, px=ms)))

    def put(self, origin: str, outcome: RobotsOutcome, ttl: float | None) -> None:
        """Store the outcome for everyone and drop the lock."""
        data = {"state": outcome.state, "body": outcome.body, "reason": outcome.reason}
        data["kind"] = outcome.kind.value
        ms = int((ttl if ttl is not None else ROBOTS_TTL) * 1000)

        def store() -> None:
            pipe = self._client.pipeline(transaction=True)
            pipe.set(self._prefix + "robots:" + origin, json.dumps(data), px=ms)
            pipe.delete(self._prefix + "robotslock:" + origin)
            pipe.execute()

        self._frontier._retry(store)


def fleet_counts(client: redis.Redis, prefix: str) -> dict[str, int]:
    """admitted, open, finished, trapped and reclaimed of one crawl in Redis."""
    stats = {k.decode(): int(v) for k, v in client.hgetall(prefix + "stats").items()}
    return {
        "admitted": int(client.get(prefix + "admitted") or 0),
        "open": int(client.get(prefix + "open") or 0),
        "finished": stats.get("finished", 0),
        "trapped": stats.get("trapped", 0),
        "reclaimed": stats.get("reclaimed", 0),
    }


def connect(config: Config) -> redis.Redis:
    """A checked client for --frontier (UsageError if unreachable, refused, or a cluster)."""
    return _connect(config)
