"""`crawl --mirror` against `wget -m -k -E -p` on one loopback copy of a site, in one run.

    python -m benchmarks.mirror_compare [--root /usr/share/doc/python3.11/html] [--runs 1]

Serves ROOT with Python's http.server on 127.0.0.1 (its own process, a free port), then, in
turn, mirrors it with each tool into a fresh temporary folder and times it (wall clock, the
whole command), and runs the mirror checker (tests/mirror_check.py) on each result: HTML pages,
stylesheets and other files, relative references checked, broken ones, saved targets left
absolute (crawl only: wget writes no list of what it saved), absolute references to the site.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.mirror_check import check_mirror, saved_urls

PYDOCS = Path("/usr/share/doc/python3.11/html")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a bounded wait for the server's port
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("http.server did not start")


def _timed(command: list[str]) -> tuple[float, int]:
    started = time.monotonic()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - started, result.returncode


def main(argv: list[str] | None = None) -> int:
    """Run both tools; print one table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mirror_compare")
    parser.add_argument("--root", type=Path, default=PYDOCS)
    parser.add_argument("--wget", default="wget", help="wget or wget2")
    parser.add_argument("crawl_options", nargs="*", help="more options for crawl (after --)")
    args = parser.parse_args(argv)
    server, url = _serve(args.root)
    rows: dict[str, dict[str, object]] = {}
    work = Path(tempfile.mkdtemp(prefix="mirror-compare-"))
    try:
        out = work / "crawl"
        seconds, code = _timed(
            [
                *(sys.executable, "-m", "crawler", url, "--mirror", "--output", str(out), "-q"),
                *args.crawl_options,
            ]
        )
        mirror = out / "mirror"
        report = check_mirror(mirror, saved_urls(out / "crawl.jsonl"), [url])
        rows["crawl --mirror"] = {"seconds": round(seconds, 2), "exit": code, **report.figures()}
        dest = work / "wget"
        wget = shutil.which(args.wget) or args.wget
        seconds, code = _timed([wget, "-m", "-k", "-E", "-p", "-q", "-P", str(dest), url])
        report = check_mirror(dest, None, [url])
        rows[f"{Path(wget).name} -m -k -E -p"] = {
            "seconds": round(seconds, 2),
            "exit": code,
            **report.figures(),
            "saved targets left absolute": "n/a",
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    names = list(rows)
    keys = list(rows[names[0]])
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in keys:
        print(f"| {key} | " + " | ".join(str(rows[n][key]) for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
