"""The user's own mistakes (issue 12): one test per mistake, run as the user meets it.

Each test runs `python -m crawler` in a subprocess against a real site on loopback addresses,
unless the mistake can only be reached from inside (then the library is driven in-process).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.store.writer import read_records

from .conftest import read_jsonl

FAST = ("--threads", "4", "--parsers", "1")


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "crawler", *args]


def _run(*args: str, timeout: float = 90, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("capture_output", True)
    return subprocess.run(_cmd(*args), text=True, timeout=timeout, **kwargs)


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _interrupt_after(proc: subprocess.Popen[str], jsonl: Path, lines: int) -> str:
    """SIGINT once `jsonl` has `lines` lines (a bounded poll of another process's output)."""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if _lines(jsonl) >= lines:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, f"the crawl was not interrupted: {stderr}"
    return stderr


def _urls(out: Path) -> list[str]:
    return [r["url"] for r in read_jsonl(out / "crawl.jsonl")]


# -- 1. --resume keeps the crawl's options ---------------------------------------------------


def test_resume_forgets_how_the_crawl_was_started(make_site, tmp_path: Path) -> None:
    site = make_site(pages=80, links=4, latency=0.03)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    shaping = ("--depth", "2", "--deny", "/page/7", "--delay", "0.02")
    whole = tmp_path / "whole"
    assert _run(str(seeds), "--output", str(whole), *FAST, "-q", *shaping).returncode == 0

    out = tmp_path / "out"
    proc = _start(str(seeds), "--output", str(out), *FAST, "-q", *shaping)
    stderr = _interrupt_after(proc, out / "crawl.jsonl", 3)
    assert f"--resume --output {out}" in stderr

    changed = _run("--resume", "--output", str(out), "--depth", "5")
    assert changed.returncode == 2
    assert "--depth" in changed.stderr and "2" in changed.stderr

    # The hint as printed, SEEDS left out; a safe option (--threads) may change.
    resumed = _run("--resume", "--output", str(out), "--threads", "2", "-q")
    assert resumed.returncode == 0, resumed.stderr
    urls = _urls(out)
    assert len(urls) == len(set(urls))
    assert set(urls) == set(_urls(whole))


def test_demo_resume_serves_the_same_port(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = _start("--demo", "--output", str(out), *FAST, "--max-pages", "40", "-q")
    _interrupt_after(proc, out / "crawl.jsonl", 5)
    resumed = _run("--demo", "--resume", "--output", str(out), *FAST, "-q")
    assert resumed.returncode == 0, resumed.stderr
    records = list(read_records(out / "crawl.jsonl"))
    assert len(records) == 40, "--max-pages was not kept"
    assert all(r["ok"] for r in records), [r["error"] for r in records if not r["ok"]]
    assert len({r["url"].split("/")[2].split(":")[1] for r in records}) == 1
    assert json.loads((out / "summary.json").read_text())["exit_reason"] == "finished"


# -- 2. one crawl per folder -----------------------------------------------------------------


def test_two_crawls_into_one_folder(make_site, tmp_path: Path) -> None:
    site = make_site(pages=60, links=4, latency=0.05)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    out = tmp_path / "out"
    first = _start(str(seeds), "--output", str(out), *FAST, "-q")
    try:
        deadline = time.monotonic() + 60
        while _lines(out / "crawl.jsonl") < 1 and first.poll() is None:  # bounded poll
            assert time.monotonic() < deadline, "the first crawl made no progress"
            time.sleep(0.01)
        second = _run(str(seeds), "--output", str(out), *FAST, "-q")
        assert second.returncode == 2
        assert f"process {first.pid}" in second.stderr
        resumed = _run("--resume", "--output", str(out), "-q")
        assert resumed.returncode == 2 and f"process {first.pid}" in resumed.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130

    again = _run(str(seeds), "--output", str(out), *FAST, "-q")
    assert again.returncode == 2
    assert "--resume" in again.stderr and "--overwrite" in again.stderr
    (out / "pages" / "left-over.html").write_text("old")
    fresh = _run(str(seeds), "--output", str(out), *FAST, "-q", "--overwrite", "--depth", "0")
    assert fresh.returncode == 0, fresh.stderr
    assert sorted(_urls(out)) == sorted(site.seed_urls())
    assert not (out / "pages" / "left-over.html").exists()
    assert not (out / "crawl.lock").exists()

    # A lock left by a process that died is taken over, with a message.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    (out / "crawl.lock").write_text(f"{dead.pid}\n")
    taken = _run(str(seeds), "--output", str(out), *FAST, "--overwrite", "--depth", "0")
    assert taken.returncode == 0, taken.stderr
    assert f"process {dead.pid}" in taken.stderr and "no longer running" in taken.stderr


# -- 3. option values that take the machine down ---------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--parsers", "10000"),
        ("--threads", "100000"),
        ("--per-host", "99999999999"),
        ("--delay", "1e308"),
        ("--timeout", "1e308"),
        ("--max-bytes", "1e99"),
        ("--retries", "1000000"),
        ("--max-redirects", "100000"),
    ],
)
def test_option_values_that_take_the_machine_down(tmp_path: Path, option: str, value: str) -> None:
    out = tmp_path / "out"
    result = _run("http://127.0.0.1:9/", option, value, "--output", str(out), timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"{option}: must be" in result.stderr and "at most" in result.stderr
    assert not out.exists(), "something started before the value was checked"


def test_a_thread_that_dies_stops_the_crawl(site, tmp_path: Path, monkeypatch) -> None:
    from crawler import Config, crawl
    from crawler.frontier.memory import MemoryFrontier

    def dies(self: MemoryFrontier) -> None:
        raise RuntimeError("the timer thread broke")

    # The timer thread requeues deferred items (--delay): dead, the queue would never drain.
    monkeypatch.setattr(MemoryFrontier, "_run_timer", dies)
    config = Config(output=tmp_path / "out", threads=4, parsers=1, delay=0.2, timeout=5)
    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(crawl(config, site.seed_urls())))
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive(), "the crawl hung after a thread died"
    (summary,) = result
    assert summary.exit_reason == "error"
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["exit_reason"] == "error"


# -- 4. a full disk ----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted for the test (needs root, as CI has)."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk(make_site, small_disk: Path) -> None:
    site = make_site(pages=50, links=4, page_bytes=16000)
    seeds = small_disk.parent / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    out = small_disk / "out"
    full = _run(str(seeds), "--output", str(out), *FAST)
    assert full.returncode == 1, full.stderr
    assert "No space left on device" in full.stderr, full.stderr
    assert "Traceback" not in full.stderr and len(full.stderr.splitlines()) < 10, full.stderr
    before = read_jsonl(out / "crawl.jsonl")  # whole lines only
    assert 0 < len(before) < 100
    assert not [r for r in before if r["error"] and r["error"]["kind"] == "internal"]

    # Space freed: --resume finishes the crawl, every URL exactly once.
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    resumed = _run("--resume", "--output", str(out), *FAST, "-q")
    assert resumed.returncode == 0, resumed.stderr
    records = read_jsonl(out / "crawl.jsonl")
    urls = [r["url"] for r in records]
    assert len(urls) == len(set(urls)), "a URL was recorded twice"
    assert set(urls) == set().union(*(site.expected(h) for h in site.hosts))
    assert not [r for r in records if r["error"] and r["error"]["kind"] == "internal"]
    assert json.loads((out / "summary.json").read_text())["exit_reason"] == "finished"


# -- 5. an output folder that cannot be used -------------------------------------------------


def test_unwritable_output_folder(tmp_path: Path) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    result = _run("http://127.0.0.1:9/", "--output", str(afile))
    assert result.returncode == 2, result.stderr
    assert "--output" in result.stderr and "not a directory" in result.stderr
    assert "Traceback" not in result.stderr and afile.read_text() == "x"

    locked = tmp_path / "read-only"
    locked.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(locked)], capture_output=True
    )
    if mounted.returncode != 0:  # not root: a folder without write permission does it
        locked.chmod(0o555)
    try:
        result = _run("http://127.0.0.1:9/", "--output", str(locked))
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "-l", str(locked)], check=False)
        else:
            locked.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "--output" in result.stderr and "not writable" in result.stderr
    assert "Traceback" not in result.stderr


# -- 7. stderr and stdin -----------------------------------------------------------------------


def test_stderr_closed_broken_or_full_and_stdin_closed(site, tmp_path: Path) -> None:
    seed = site.seed_urls()[0]
    crawl = [*_cmd(seed), "--depth", "1", *FAST]

    closed = subprocess.run(
        ["sh", "-c", 'exec "$@" 2>&-', "sh", *crawl, "--output", str(tmp_path / "closed")],
        timeout=90,
    )
    assert closed.returncode == 0

    with open("/dev/full", "w") as full:
        on_full = subprocess.run([*crawl, "--output", str(tmp_path / "full")], stderr=full)
    assert on_full.returncode == 0

    broken = subprocess.Popen(
        [*crawl, "--output", str(tmp_path / "pipe"), "-v"], stderr=subprocess.PIPE
    )
    assert broken.stderr is not None
    broken.stderr.close()  # the reader goes away before the first message
    assert broken.wait(timeout=90) == 0

    expected = len(_urls(tmp_path / "closed"))
    assert expected > 1
    for name in ("full", "pipe"):
        assert len(_urls(tmp_path / name)) == expected

    no_stdin = subprocess.run(
        ["sh", "-c", 'exec "$@" <&-', "sh", *_cmd("-"), "--output", str(tmp_path / "stdin")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_stdin.returncode == 2
    assert "standard input is closed" in no_stdin.stderr and "Traceback" not in no_stdin.stderr


# -- 8. seeds as people write them -------------------------------------------------------------


def test_seeds_as_people_write_them(site, tmp_path: Path) -> None:
    first, second = site.seed_urls()
    # URLs on the command line, as with wget.
    out = tmp_path / "args"
    result = _run(first, second, "--depth", "0", "--output", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    assert sorted(_urls(out)) == sorted([first, second])

    # A byte-order mark, as Notepad writes it.
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + f"{first}\r\n{second}\r\n".encode())
    result = _run(str(bom), "--depth", "0", "--output", str(tmp_path / "bom"), *FAST)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert sorted(_urls(tmp_path / "bom")) == sorted([first, second])

    # A binary file given by mistake: a few warnings, one line for the rest.
    binary = tmp_path / "binary.txt"
    binary.write_bytes(
        f"{first}\n".encode() + bytes(range(256)) * 40 + b"\n" * 300 + b"\x00z\n" * 300
    )
    result = _run(str(binary), "--depth", "0", "--output", str(tmp_path / "bin"), *FAST)
    assert result.returncode == 0, result.stderr
    assert len(result.stderr.splitlines()) <= 10, result.stderr
    assert "more bad seed lines skipped" in result.stderr

    # Port 0 is refused, not sent to port 80.
    result = _run("http://127.0.0.1:0/", "--output", str(tmp_path / "zero"))
    assert result.returncode == 2 and "port 0" in result.stderr

    # --max-pages below the number of seeds says how many were left out.
    many = tmp_path / "many.txt"
    many.write_text("".join(f"{first}page/{i}\n" for i in range(1, 6)))
    result = _run(str(many), "--max-pages", "2", "--output", str(tmp_path / "max"), *FAST)
    assert result.returncode == 0, result.stderr
    assert "5 seeds given, 3 of them left out" in result.stderr
    assert len(_urls(tmp_path / "max")) == 2


# -- 6. credentials --------------------------------------------------------------------------


def test_credentials_in_plain_text(site, tmp_path: Path) -> None:
    base = site.base("127.0.0.1")
    seed = base.replace("http://", "http://alice:s3cr3t-pw@")
    out = tmp_path / "out"
    result = _run(seed, "--depth", "1", "--output", str(out), *FAST, "-q")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "crawl.jsonl")
    assert len(records) > 1 and records[0]["url"].startswith("http://alice:***@")
    for name in ("crawl.jsonl", "summary.json"):
        assert "s3cr3t-pw" not in (out / name).read_text(), f"the password is in {name}"
    from crawler.store.state import STATE_FILE, load_options

    assert "s3cr3t-pw" not in json.dumps(load_options(out / STATE_FILE))


# -- 9. telling the user what happened --------------------------------------------------------


def test_telling_the_user_what_happened(make_site, tmp_path: Path, monkeypatch) -> None:
    site = make_site(pages=40, links=4, latency=0.05)
    first = site.seed_urls()[0]
    # -v: each URL fetched (status, size, time) and each refusal.
    verbose = _run(
        first, "--depth", "1", "--deny", "/page/2$", "-v", "--output", str(tmp_path / "v")
    )
    assert verbose.returncode == 0, verbose.stderr
    assert f"200 {first}, " in verbose.stderr and " bytes, " in verbose.stderr
    assert "not followed: " in verbose.stderr and "outside the --scope" in verbose.stderr

    # Every seed failed: exit 0, one plain line; and "1 error", not "1 errors".
    dead = _run("http://127.0.0.1:9/", "--retries", "0", "--output", str(tmp_path / "dead"))
    assert dead.returncode == 0, dead.stderr
    assert "every seed failed" in dead.stderr
    assert "crawl: 1 page, 1 error, " in dead.stderr

    # One option, one wording, whichever way its value is wrong.
    words = [_run(first, "--delay", v).stderr.splitlines()[-1] for v in ("-1", "abc", "1e308")]
    assert all("--delay: must be a number of seconds, at least 0 and at most" in w for w in words)

    # summary.json counts the seeds, it does not list 10,000 of them.
    many = tmp_path / "many.txt"
    many.write_text("".join(f"{first}page/{i}\n" for i in range(1, 31)))
    listed = _run(str(many), "--depth", "0", "--output", str(tmp_path / "many"), *FAST, "-q")
    assert listed.returncode == 0, listed.stderr
    summary = json.loads((tmp_path / "many" / "summary.json").read_text())
    assert summary["seed_count"] == 30 and len(summary["seeds"]) <= 10

    # A resumed crawl's summary counts the whole crawl.
    out = tmp_path / "resumed"
    stopped = _run(first, "--output", str(out), *FAST, "--max-time", "1", "-q")
    assert stopped.returncode == 130, stopped.stderr
    resumed = _run("--resume", "--output", str(out), *FAST)
    assert resumed.returncode == 0, resumed.stderr
    total = len(read_jsonl(out / "crawl.jsonl"))
    assert json.loads((out / "summary.json").read_text())["pages"] == total
    assert f"crawl: {total} pages, " in resumed.stderr

    # A name that does not resolve reads as such (the lookup is faked: no DNS query leaves).
    import socket

    from crawler import Config, crawl

    real = socket.getaddrinfo

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "nosuchhost.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    config = Config(output=tmp_path / "dns", threads=2, parsers=1, retries=0, ignore_robots=True)
    crawl(config, ["http://nosuchhost.test/"])
    (record,) = read_jsonl(tmp_path / "dns" / "crawl.jsonl")
    assert record["error"]["message"] == "cannot resolve nosuchhost.test", record["error"]


# -- 10. what a wget user reaches for -----------------------------------------------------------


def test_what_a_wget_user_reaches_for(make_site, tmp_path: Path) -> None:
    site = make_site(pages=40, links=4, latency=0.05)
    host = "127.0.0.1"
    base = site.base(host)
    log = tmp_path / "crawl.log"
    out = tmp_path / "out"
    # --no-parent from a seed in /page/: the site's / is above it; --header on every page.
    result = _run(
        f"{base}page/1",
        "--no-parent",
        "--depth",
        "2",
        "--header",
        "X-Token: abc",
        "--header",
        "Accept-Language: fr",
        "--log",
        str(log),
        "--output",
        str(out),
        *FAST,
        "-q",
    )
    assert result.returncode == 0, result.stderr
    urls = _urls(out)
    assert len(urls) > 3
    assert all(url.startswith(f"{base}page/") for url in urls), urls
    assert "/" not in site.stats[host].hits
    sent = site.stats[host].headers["/page/1"]
    assert sent.get("X-Token") == "abc" and sent.get("Accept-Language") == "fr"
    # --log: every URL fetched, whatever -q says on stderr.
    text = log.read_text()
    assert all(f" {url}, " in text for url in urls)

    # --max-time: ends as Ctrl-C does, and --resume finishes the crawl.
    slow = tmp_path / "slow"
    stopped = _run(site.seed_urls()[1], "--max-time", "0.5", "--output", str(slow), *FAST)
    assert stopped.returncode == 130, stopped.stderr
    assert "--max-time 0.5 s reached" in stopped.stderr and "--resume" in stopped.stderr
    resumed = _run("--resume", "--output", str(slow), *FAST, "-q")
    assert resumed.returncode == 0, resumed.stderr
    done = _urls(slow)
    assert len(done) == len(set(done)) and set(done) == set(site.expected(site.hosts[1]))
