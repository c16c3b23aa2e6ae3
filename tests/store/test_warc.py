"""--warc end to end: valid WARC/1.1 files, exact bytes, revisits, rotation, kill -9, the index."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.fetch.capture import split_response
from crawler.sitegen import Site
from crawler.store.warc import INDEX_FILE, close_leftover, surt
from crawler.store.writer import read_records

from ..conftest import read_jsonl

PAGE = b"<html><head><title>zipped</title></head><body>" + b"<p>words</p>" * 400 + b"</body></html>"
SAME = b"<html><title>same</title><body>one body, two URLs</body></html>"


def _page(path: str) -> bytes:
    return PAGE.replace(b"zipped", b"zipped " + path.encode())


def warc_files(out: Path) -> list[Path]:
    return sorted((out / "warc").glob("*.warc.gz*"))


def blocks(out: Path, kind: str) -> list[bytes]:
    """The blocks of the records of one type, as stored (no HTTP parsing)."""
    found = []
    for path in warc_files(out):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle, no_record_parse=True):
                if record.rec_type == kind:
                    found.append(record.raw_stream.read())
    return found


def read_archive(out: Path) -> list[dict[str, Any]]:
    """Every record of every file, each with its digests checked by warcio's reader."""
    records = []
    for path in warc_files(out):
        assert path.name.endswith(".warc.gz"), f"{path.name} is not closed"
        with open(path, "rb") as handle:
            iterator = ArchiveIterator(handle, check_digests="raise")
            for position, record in enumerate(iterator):
                headers = record.rec_headers
                payload = record.raw_stream.read()  # as stored (content_stream would decode)
                if position == 0:
                    assert record.rec_type == "warcinfo", f"{path.name} starts with {record}"
                    assert headers.get_header("WARC-Filename") == path.name
                assert headers.protocol == "WARC/1.1"
                records.append(
                    {
                        "type": record.rec_type,
                        "id": headers.get_header("WARC-Record-ID"),
                        "uri": headers.get_header("WARC-Target-URI"),
                        "status": (
                            int(record.http_headers.get_statuscode())
                            if record.rec_type in ("response", "revisit")
                            else None
                        ),
                        "headers": dict(headers.headers),
                        "http": record.http_headers,
                        "payload": payload,
                        "file": path.name,
                    }
                )
    return records


def check_archive(out: Path) -> list[dict[str, Any]]:
    """What every archive must satisfy; returns its records."""
    records = read_archive(out)
    ids = {r["id"] for r in records}
    answers = {(r["uri"], r["status"]) for r in records if r["type"] in ("response", "revisit")}
    for record in read_records(out / "crawl.jsonl"):
        if record["status"] is not None:
            urls = {record["url"], record["final_url"]}
            assert any((u, record["status"]) in answers for u in urls), record
    for record in records:
        if record["type"] in ("request", "metadata"):
            assert record["headers"]["WARC-Concurrent-To"] in ids
        if record["type"] == "revisit":
            assert record["headers"]["WARC-Refers-To"] in ids
            assert record["headers"]["WARC-Profile"].endswith("/identical-payload-digest")
        if record["type"] in ("response", "revisit", "request"):
            assert "WARC-IP-Address" in record["headers"]
    # Each index line slices exactly one response or revisit record of its URI out of its file.
    lines = (out / "warc" / INDEX_FILE).read_text().splitlines()
    assert lines == sorted(lines)
    assert len(lines) == sum(r["type"] in ("response", "revisit") for r in records)
    for line in lines:
        key, _, data = line.split(" ", 2)
        entry = __import__("json").loads(data)
        with open(out / "warc" / entry["filename"], "rb") as handle:
            handle.seek(int(entry["offset"]))
            piece = handle.read(int(entry["length"]))
        found = list(ArchiveIterator(io.BytesIO(piece)))
        assert len(found) == 1
        assert found[0].rec_type in ("response", "revisit")
        assert found[0].rec_headers.get_header("WARC-Target-URI") == entry["url"]
        assert key == surt(entry["url"])
    assert not list((out / "warc").glob("*.open"))
    return records


class _Exact(BaseHTTPRequestHandler):
    """Serves PAGE gzipped (chunked, or with Content-Length) and SAME twice; keeps the raw
    bytes of every request head it received."""

    protocol_version = "HTTP/1.1"
    received: list[bytes] = []

    def do_GET(self) -> None:
        head = self.raw_requestline + b"".join(
            f"{name}: {value}\r\n".encode("latin-1") for name, value in self.headers.items()
        )
        self.received.append(head + b"\r\n")
        zipped = gzip.compress(_page(self.path), mtime=0)
        if self.path == "/":
            links = '<a href="/chunked">c</a><a href="/length">l</a>'
            links += '<a href="/same/1">1</a><a href="/same/2">2</a>'
            self._send(200, f"<html><title>root</title>{links}</html>".encode())
        elif self.path == "/length":
            self._send(200, zipped, ("Content-Encoding", "gzip"))
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for at in range(0, len(zipped), 300):
                piece = zipped[at : at + 300]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/same/"):
            self._send(200, SAME)
        else:
            self._send(404, b"no such page")

    def _send(self, status: int, body: bytes, *extra: tuple[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def exact_server() -> Iterator[str]:
    _Exact.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exact)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_bytes_as_on_the_wire(exact_server: str, run_crawl: Callable[..., Any], tmp_path: Path):
    base = exact_server
    _, crawled = run_crawl([base + "/"], warc=True, threads=1)
    out = tmp_path / "out"
    records = check_archive(out)
    responses = {r["uri"]: r for r in records if r["type"] == "response"}
    for path in ("/chunked", "/length"):
        zipped = gzip.compress(_page(path), mtime=0)
        response = responses[base + path]
        # The payload is the entity as sent (still gzipped), without the chunk framing.
        assert response["payload"] == zipped
        assert response["http"].get_header("Content-Encoding") == "gzip"
        assert response["http"].get_header("Transfer-Encoding") is None
        assert response["http"].get_header("Content-Length") == str(len(zipped))
        assert response["headers"]["WARC-IP-Address"] == "127.0.0.1"
    # Parsing and the saved page used the decoded body.
    by_url = {r["url"]: r for r in crawled}
    assert (out / by_url[base + "/chunked"]["path"]).read_bytes() == _page("/chunked")
    assert by_url[base + "/length"]["title"] == "zipped /length"
    # The request records are the bytes the server received, each once, robots.txt included.
    assert sorted(blocks(out, "request")) == sorted(_Exact.received)
    assert any(r["uri"] == base + "/robots.txt" and r["status"] == 404 for r in records)
    # One body at two URLs: a response, then a revisit that refers to it.
    same = [
        r
        for r in records
        if r["uri"] in (base + "/same/1", base + "/same/2") and r["status"] is not None
    ]
    assert sorted(r["type"] for r in same) == ["response", "revisit"]
    revisit = next(r for r in same if r["type"] == "revisit")
    original = next(r for r in same if r["type"] == "response")
    assert revisit["headers"]["WARC-Refers-To"] == original["id"]
    assert revisit["headers"]["WARC-Refers-To-Target-URI"] == original["uri"]
    assert revisit["headers"]["WARC-Payload-Digest"] == original["headers"]["WARC-Payload-Digest"]
    metadata = [r for r in records if r["type"] == "metadata" and r["uri"] == base + "/"]
    assert len(metadata) == 1
    assert f"outlink: {base}/chunked".encode() in metadata[0]["payload"]
    assert f"seed: {base}/".encode() in metadata[0]["payload"]


def _answers(out: Path) -> Counter[tuple[str, str]]:
    records = check_archive(out)
    kinds = {"revisit": "answer", "response": "answer"}
    return Counter((kinds.get(r["type"], r["type"]), r["uri"]) for r in records)


def test_a_tiny_max_size_rotates_files_with_the_same_records(
    make_site: Callable[..., Site], run_crawl: Callable[..., Any], tmp_path: Path
) -> None:
    site = make_site(pages=12, links=3)
    seeds = list(site.seed_urls())
    run_crawl(seeds, warc=True, output=tmp_path / "one", threads=2)
    run_crawl(seeds, warc=True, output=tmp_path / "many", threads=2, warc_max_size=4000)
    assert len(warc_files(tmp_path / "one")) == 1
    assert len(warc_files(tmp_path / "many")) > 5
    one, many = _answers(tmp_path / "one"), _answers(tmp_path / "many")
    assert one.pop(("warcinfo", None)) == 1
    assert many.pop(("warcinfo", None)) == len(warc_files(tmp_path / "many"))
    assert one == many


def test_kill_9_then_resume_leaves_valid_closed_files(make_site, tmp_path: Path) -> None:
    site = make_site(pages=60, links=4, latency=0.02)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(site.seed_urls()) + "\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "crawler", str(seeds), "--output", str(out), "--warc"]
    command += ["--threads", "4", "--parsers", "1", "-q", "--warc-max-size", "20K"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        jsonl = out / "crawl.jsonl"
        while time.monotonic() < deadline:  # a bounded poll of another process's progress
            if (
                jsonl.exists() and jsonl.read_bytes().count(b"\n") >= 30
            ) or proc.poll() is not None:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, "the crawl ended before it could be killed"
    assert list((out / "warc").glob("*.open")), "the kill left no file open"
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    check_archive(out)
    assert len(read_jsonl(out / "crawl.jsonl")) >= 120


def test_a_torn_open_file_is_cut_back_to_its_last_whole_record(tmp_path: Path) -> None:
    members = [gzip.compress(b"WARC/1.1 one"), gzip.compress(b"WARC/1.1 two")]
    path = tmp_path / "crawl-1-00000.warc.gz.open"
    path.write_bytes(members[0] + members[1] + gzip.compress(b"three")[:9])
    assert close_leftover(path) == len(members[0]) + len(members[1])
    assert not path.exists()
    assert (tmp_path / "crawl-1-00000.warc.gz").read_bytes() == members[0] + members[1]


def test_split_response_removes_the_chunk_framing_and_sees_a_cut() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
    whole = split_response(head + b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n")
    assert whole is not None and whole.body == b"abcde" and whole.complete
    cut = split_response(head + b"3\r\nabc\r\n5\r\nde")
    assert cut is not None and cut.body == b"abcde" and not cut.complete
    length = split_response(b"HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nmiss")
    assert length is not None and length.status == 404 and not length.complete
    assert split_response(b"HTTP/1.1 200 OK\r\nX-Drip: aaa") is None


def test_hostile_pages_leave_valid_archives(make_site, run_crawl, tmp_path: Path) -> None:
    site = make_site(hosts=("127.0.0.1",))
    base = site.seed_urls()[0].rstrip("/")
    urls = [
        f"{base}/bomb/gzip",
        f"{base}/bomb/deflate",
        f"{base}/drip/body",
        f"{base}/drip/headers",
        f"{base}/lies/binary-as-html",
        f"{base}/lies/html-as-octet-stream",
        f"{base}/slow-parse",
        f"{base}/page/1",
    ]
    _, crawled = run_crawl(urls, depth=0, max_bytes=2 * 1024 * 1024, timeout=1.0, warc=True)
    records = check_archive(tmp_path / "out")
    responses = {r["uri"]: r for r in records if r["type"] == "response"}
    # Over --max-bytes (declared) and cut by the deadline (the drip): stored as truncated. A
    # bomb is small on the wire: what is stored is the whole compressed body.
    assert responses[f"{base}/slow-parse"]["headers"]["WARC-Truncated"] == "length"
    assert responses[f"{base}/slow-parse"]["payload"] == b""
    assert responses[f"{base}/drip/body"]["headers"]["WARC-Truncated"] == "time"
    assert f"{base}/drip/headers" not in responses  # no answer: nothing to archive
    kinds = {r["url"]: (r["error"] or {}).get("kind") for r in crawled}
    assert kinds[f"{base}/bomb/gzip"] == kinds[f"{base}/slow-parse"] == "too_large"
    assert kinds[f"{base}/drip/body"] == "timeout"
    assert kinds[f"{base}/page/1"] is None


# pywb pins redis-py 2.x, which cannot share a virtual environment with the redis extra, so it
# lives in a venv of its own: .ci/run makes it (`python3 -m venv .venv-pywb &&
# .venv-pywb/bin/pip install pywb`); CRAWL_PYWB_PYTHON may name another interpreter.
_PYWB_VENV = Path(__file__).resolve().parents[2] / ".venv-pywb"
PYWB_PYTHON = Path(os.environ.get("CRAWL_PYWB_PYTHON", _PYWB_VENV / "bin" / "python"))


def test_surt_keys_are_spelt_as_pywb_spells_them() -> None:
    # Values from pywb's own canonicalize() (the surt package).
    assert surt("http://127.0.0.1:35871/") == "1,0,0,127:35871)/"
    assert surt("http://www.Example.com:8080/a?b=1") == "com,example:8080)/a?b=1"
    assert surt("https://example.com/") == "com,example)/"


@pytest.mark.skipif(
    not PYWB_PYTHON.exists(),
    reason=f"pywb's interpreter {PYWB_PYTHON} is missing: python3 -m venv .venv-pywb && "
    ".venv-pywb/bin/pip install pywb (.ci/run does this)",
)
def test_pywb_replays_pages_through_the_index_the_crawl_wrote(
    exact_server: str, run_crawl: Callable[..., Any], tmp_path: Path
) -> None:
    _, crawled = run_crawl([exact_server + "/"], warc=True, depth=1, threads=1)
    archive = tmp_path / "out" / "warc"
    by_url = {record["url"]: record for record in crawled}
    script = Path(__file__).with_name("pywb_replay.py")
    # "/" is a response record, "/length" a gzipped one, and one of /same/1 and /same/2 is a
    # revisit that pywb must resolve to the response it refers to.
    for path in ("/", "/length", "/same/1", "/same/2"):
        url = exact_server + path
        when = "".join(c for c in by_url[url]["fetched_at"] if c.isdigit())[:14]
        shown = subprocess.run(
            [str(PYWB_PYTHON), str(script), str(archive), when, url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr[-2000:]
        answer = json.loads(shown.stdout.strip().splitlines()[-1])
        assert answer["status"].startswith("200"), (path, answer["status"])
        body = base64.b64decode(answer["body"])
        if answer["headers"].get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        assert hashlib.sha256(body).hexdigest() == by_url[url]["sha256"], path


def test_the_index_is_sorted_through_runs_on_disk(monkeypatch, tmp_path: Path) -> None:
    from crawler.store import warc

    monkeypatch.setattr(warc, "SORT_CHUNK", 3)
    lines = [f"key{n % 7} {n:03d}" for n in range(20)]
    target = tmp_path / "index.cdxj"
    warc._write_sorted([iter(lines[:12]), iter(lines[8:])], target)
    assert target.read_text().splitlines() == sorted(set(lines))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.cdxj"]


def test_mirror_requisites_are_archived_too(run_crawl, tmp_path: Path) -> None:
    from ..mirror_site import MirrorSite

    with MirrorSite() as site:
        _, crawled = run_crawl([site.base], warc=True, mirror=True)
    records = check_archive(tmp_path / "out")  # every record with a status has its answer
    requisites = [r for r in crawled if r.get("via") == "requisite" and r["status"]]
    assert requisites, "the site has page requisites"
    archived = {r["uri"] for r in records if r["type"] in ("response", "revisit")}
    assert {r["final_url"] or r["url"] for r in requisites} <= archived
