"""Storage, atomic_write and read_records: whole lines, whole files, torn tails survived."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crawler.messages import Record
from crawler.store.paths import url_to_path
from crawler.store.writer import Storage, atomic_write, read_records


def make_record(n: int, *, title: str | None = None, size: int = 10) -> Record:
    """A finished-URL record numbered `n`."""
    return Record(
        url=f"http://h.example/p{n}",
        final_url=f"http://h.example/p{n}",
        status=200,
        ok=True,
        error=None,
        content_type="text/html",
        bytes=size,
        sha256="0" * 64,
        depth=n % 5,
        parent=None,
        links=n % 7,
        title=title if title is not None else f"Page {n}",
        path=f"pages/h.example/p{n}~",
        fetched_at="2024-01-01T00:00:00Z",
        elapsed_ms=n,
        attempts=1,
    )


def temp_files(folder: Path) -> list[Path]:
    """Leftovers of atomic_write (its temporary files start with .tmp-) anywhere under folder."""
    return [p for p in folder.rglob("*") if p.name.startswith(".tmp-") or p.suffix == ".part"]


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with Storage(tmp_path / "out") as s:
        yield s


# --- crawl.jsonl -------------------------------------------------------------------------------


def test_one_json_line_per_record(storage: Storage) -> None:
    records = [make_record(i) for i in range(3)]
    for r in records:
        storage.write(r)
    lines = storage.jsonl_path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # every line ends in a newline
    assert [json.loads(line) for line in lines[:-1]] == [r.to_json() for r in records]
    assert storage.records == 3
    assert storage.bytes == 30


def test_line_keeps_field_order_and_writes_unicode_raw(storage: Storage) -> None:
    storage.write(make_record(1, title="Café ☕ 日本\n2nd line"))
    text = storage.jsonl_path.read_text(encoding="utf-8")
    assert text.count("\n") == 1  # the newline in the title is escaped
    assert "Café ☕ 日本" in text
    assert list(json.loads(text)) == list(Record.__dataclass_fields__)
    assert json.loads(text)["title"] == "Café ☕ 日本\n2nd line"


def test_records_are_flushed_at_once(storage: Storage) -> None:
    storage.write(make_record(1))
    # Read by another handle while the storage is still open: the line is already there.
    assert [r["url"] for r in read_records(storage.jsonl_path)] == ["http://h.example/p1"]


def test_concurrent_writers_never_interleave(storage: Storage) -> None:
    threads, per_thread = 16, 200
    barrier = threading.Barrier(threads)
    long_title = "x" * 5000  # longer lines make a torn or interleaved write more likely

    def work(t: int) -> None:
        barrier.wait(timeout=10)
        for k in range(per_thread):
            n = t * 1000 + k
            storage.write(make_record(n, title=f"{n}:{long_title}", size=n))

    with ThreadPoolExecutor(threads) as executor:
        for future in [executor.submit(work, t) for t in range(threads)]:
            future.result(timeout=60)
    storage.close()

    lines = storage.jsonl_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == threads * per_thread
    parsed = [json.loads(line) for line in lines]  # any interleaving would fail here
    numbers = [int(r["title"].split(":")[0]) for r in parsed]
    expected = [t * 1000 + k for t in range(threads) for k in range(per_thread)]
    assert sorted(numbers) == expected
    for r, n in zip(parsed, numbers, strict=True):
        assert r["url"] == f"http://h.example/p{n}"
        assert r["bytes"] == n
        assert r["title"] == f"{n}:{long_title}"
    # each thread's own records stay in the order it wrote them
    for t in range(threads):
        mine = [n for n in numbers if n // 1000 == t]
        assert mine == sorted(mine)
    assert storage.records == threads * per_thread
    assert storage.bytes == sum(numbers)


def test_write_after_close_raises(tmp_path: Path) -> None:
    s = Storage(tmp_path)
    s.write(make_record(1))
    s.close()
    with pytest.raises(RuntimeError):
        s.write(make_record(2))
    assert len(list(read_records(s.jsonl_path))) == 1
    assert s.records == 1


def test_close_twice_and_context_manager(tmp_path: Path) -> None:
    with Storage(tmp_path) as s:
        s.write(make_record(1))
    s.close()
    with pytest.raises(RuntimeError):
        s.write(make_record(2))


def test_new_storage_starts_a_fresh_jsonl(tmp_path: Path) -> None:
    with Storage(tmp_path) as s:
        s.write(make_record(1))
        s.write(make_record(2))
    with Storage(tmp_path) as s:
        s.write(make_record(3))
    assert [r["url"] for r in read_records(tmp_path / "crawl.jsonl")] == ["http://h.example/p3"]


# --- save_body and write_json ------------------------------------------------------------------


def test_save_body_returns_relative_path_and_writes_the_body(storage: Storage) -> None:
    url = "http://h.example/a/b.html?q=1"
    body = bytes(range(256)) * 10
    relative = storage.save_body(url, body)
    assert relative == url_to_path(url).as_posix()
    assert relative.startswith("pages/h.example/a/")
    assert not Path(relative).is_absolute()
    assert (storage.root / relative).read_bytes() == body
    assert temp_files(storage.root) == []


def test_save_body_file_and_directory_of_one_name(storage: Storage) -> None:
    a = storage.save_body("http://h.example/x", b"file x")
    b = storage.save_body("http://h.example/x/y", b"file x/y")
    c = storage.save_body("http://h.example/x/", b"index of x")
    assert len({a, b, c}) == 3
    assert (storage.root / a).read_bytes() == b"file x"
    assert (storage.root / b).read_bytes() == b"file x/y"
    assert (storage.root / c).read_bytes() == b"index of x"


def test_save_body_replaces_an_earlier_body(storage: Storage) -> None:
    first = storage.save_body("http://h.example/", b"old")
    second = storage.save_body("http://h.example/", b"new")
    assert first == second
    assert (storage.root / first).read_bytes() == b"new"
    assert temp_files(storage.root) == []


def test_save_empty_body(storage: Storage) -> None:
    relative = storage.save_body("http://h.example/empty", b"")
    assert (storage.root / relative).read_bytes() == b""


def test_write_json_replaces_the_file(storage: Storage) -> None:
    storage.write_json("summary.json", {"n": 1, "title": "é"})
    storage.write_json("summary.json", {"n": 2})
    assert json.loads((storage.root / "summary.json").read_text(encoding="utf-8")) == {"n": 2}
    assert temp_files(storage.root) == []


# --- atomic_write ------------------------------------------------------------------------------


def test_atomic_write_creates_parents_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.bin"
    atomic_write(target, b"payload")
    assert target.read_bytes() == b"payload"
    assert os.listdir(target.parent) == ["c.bin"]


def test_atomic_write_failed_rename_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(src: str, dst: str) -> None:
        assert Path(src).read_bytes() == b"new data"  # the temp file was complete
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    target = tmp_path / "file.html"
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(target, b"new data")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_failed_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file.html"
    atomic_write(target, b"old data")

    def boom(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # even a BaseException cleans up

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new data")
    assert target.read_bytes() == b"old data"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "file.html"
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_never_shows_a_partial_file(tmp_path: Path) -> None:
    """A reader polling the final name always sees one whole version, never a mix."""
    target = tmp_path / "f.bin"
    versions = [bytes([v]) * 200_000 for v in range(20)]
    atomic_write(target, versions[0])
    seen: list[bool] = []
    reading = threading.Event()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.append(target.read_bytes() in versions)  # the name exists from here on
            reading.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert reading.wait(timeout=10)
        for data in versions[1:]:
            atomic_write(target, data)
    finally:
        done.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert seen, "the reader never ran"
    assert all(seen), f"{seen.count(False)} of {len(seen)} reads saw a partial file"
    assert target.read_bytes() == versions[-1]
    assert temp_files(tmp_path) == []


# --- read_records and resume -------------------------------------------------------------------


def lines_of(*records: dict[str, object]) -> bytes:
    """Whole crawl.jsonl lines for `records`."""
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def test_read_records_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert list(read_records(tmp_path / "nope.jsonl")) == []


def test_read_records_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "crawl.jsonl"
    path.write_bytes(lines_of({"url": "a"}, {"url": "b"}) + b'{"url": "c", "sta')
    assert list(read_records(path)) == [{"url": "a"}, {"url": "b"}]


def test_read_records_reads_a_file_written_by_storage(tmp_path: Path) -> None:
    with Storage(tmp_path) as s:
        for i in range(5):
            s.write(make_record(i, title=f"é{i}"))
    assert list(read_records(tmp_path / "crawl.jsonl")) == [
        make_record(i, title=f"é{i}").to_json() for i in range(5)
    ]


def test_read_records_skips_a_line_torn_inside_a_utf8_character(tmp_path: Path) -> None:
    path = tmp_path / "crawl.jsonl"
    torn = json.dumps({"url": "c", "title": "é"}, ensure_ascii=False).encode()
    torn = torn[: torn.index("é".encode()) + 1]  # cut between the two bytes of é
    path.write_bytes(lines_of({"url": "a"}) + torn)
    assert list(read_records(path)) == [{"url": "a"}]


def test_resume_truncates_a_torn_tail_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "crawl.jsonl"
    whole = lines_of(make_record(1).to_json(), make_record(2).to_json())
    path.write_bytes(whole + b'{"url": "http://h.example/p3", "fin')
    with Storage(tmp_path, resume=True) as s:
        assert path.read_bytes() == whole  # the tail is gone before anything is appended
        s.write(make_record(4))
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert [json.loads(line)["url"] for line in text.splitlines()] == [
        "http://h.example/p1",
        "http://h.example/p2",
        "http://h.example/p4",
    ]


def test_resume_of_a_file_that_is_only_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "crawl.jsonl"
    path.write_bytes(b'{"url": "http://h.ex')
    with Storage(tmp_path, resume=True) as s:
        s.write(make_record(1))
    assert [r["url"] for r in read_records(path)] == ["http://h.example/p1"]
    assert path.read_text(encoding="utf-8").count("\n") == 1


def test_resume_keeps_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "crawl.jsonl"
    whole = lines_of(make_record(1).to_json())
    path.write_bytes(whole)
    with Storage(tmp_path, resume=True) as s:
        s.write(make_record(2))
    assert path.read_bytes().startswith(whole)
    assert [r["url"] for r in read_records(path)] == [
        "http://h.example/p1",
        "http://h.example/p2",
    ]


def test_resume_without_an_earlier_file(tmp_path: Path) -> None:
    with Storage(tmp_path / "new", resume=True) as s:
        s.write(make_record(1))
    assert len(list(read_records(tmp_path / "new" / "crawl.jsonl"))) == 1
