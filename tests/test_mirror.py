"""--mirror end to end on the loopback fixture site (tests/mirror_site.py), judged by the checker
(tests/mirror_check.py): requisites, natural names, converted references, bytes kept, hard links,
and a mirror that is consistent after SIGINT, --resume and kill -9 + `crawl convert`."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.cli import main
from crawler.parse.refs import document_refs
from crawler.store.mirror import convert_output

from .conftest import read_jsonl
from .mirror_check import check_mirror, saved_urls
from .mirror_site import MirrorSite

RunCrawl = Callable[..., tuple[Any, list[dict[str, Any]]]]


@pytest.fixture
def mirror_site() -> Iterator[MirrorSite]:
    with MirrorSite() as site:
        yield site


def host_folder(site: MirrorSite) -> str:
    return "127.0.0.1_" + site.base.rsplit(":", 1)[1].strip("/")


def assert_consistent(out: Path) -> None:
    """The checker passes on OUT/mirror against OUT/crawl.jsonl."""
    report = check_mirror(out / "mirror", saved_urls(out / "crawl.jsonl"))
    assert report.ok, (report.broken, report.absolute_saved)
    assert report.references > 0


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root`, by relative path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_fixture_site_mirrors_whole_and_consistent(
    mirror_site: MirrorSite, run_crawl: RunCrawl, tmp_path: Path
) -> None:
    summary, records = run_crawl([mirror_site.base], mirror=True)
    out = tmp_path / "out"
    assert summary.exit_reason == "finished"
    assert_consistent(out)
    site = out / "mirror" / host_folder(mirror_site)
    # Natural names, with .html added where a page's name lacks it.
    for name in (
        "index.html",
        "docs/index.html",
        "docs/sub/guide.html",
        "About/Team.html",
        "café.html",
        "list%3Fpage=2.html",
        "list%3Fpage=3&sort=asc.html",
        "dir/index.html",
        "Docs Folder/read me.html",
        "Docs Folder/tiny dot.png",
        "static/style.css",
        "static/print.css",
        "fonts/fixture.woff2",
        "img/logo@2x.png",
        "img/wide.png",
        "img/Face.PNG",
        "img/été.png",
        "docs/sub/bar.png",
        "media/subs.vtt",
        "img/button.png",
    ):
        assert (site / name).is_file(), name
    by_url = {r["url"]: r for r in records}
    base = mirror_site.base
    assert by_url[base]["via"] == "seed"
    assert by_url[base + "docs/"]["via"] == "link"
    assert by_url[base + "static/print.css"]["via"] == "requisite"  # imported by style.css
    assert by_url[base + "fonts/fixture.woff2"]["via"] == "requisite"
    assert by_url[base + "dir"]["final_url"] == base + "dir/"
    assert by_url[base + "missing.html"]["status"] == 404
    # Not requisites: what comments, scripts and CSS comments mention; another host's image
    # (--scope host, no --span-requisites) and the off-scope page.
    for never in ("in-a-comment.png", "in-a-script.png", "in-a-css-comment.png"):
        assert not any(never in hit for hit in mirror_site.hits), never
    assert not any(hit.startswith("127.0.0.2") for hit in mirror_site.hits)

    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'srcset="img/logo.png 1x, img/logo@2x.png 2x"' in index
    assert 'href="list%253Fpage=2.html"' in index  # `%` in the name, escaped
    assert 'href="dir/index.html"' in index  # the redirect's target
    assert 'href="docs/index.html#intro"' in index  # fragment kept
    assert f'href="{base}missing.html"' in index  # failed: its absolute URL
    assert f'href="{mirror_site.other}elsewhere.html"' in index  # off-scope: stays absolute
    assert 'href="#top"' in index and 'href="javascript:void(0)"' in index
    docs = (site / "docs/index.html").read_text(encoding="utf-8")
    assert '<base href="index.html">' in docs and 'href="sub/guide.html#part-2"' in docs
    assert "url(sub/bar.png)" in docs
    refresh = (site / "refresh.html").read_text(encoding="utf-8")
    assert 'content="0; url=docs/index.html#intro"' in refresh

    for record in records:
        if record["path"] is None:
            continue
        saved = out / record["path"]
        # pages/ keeps the bodies exactly as received.
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == record["sha256"]
        if record["content_type"] in ("image/png", "font/woff2", "text/javascript"):
            mirrored = site / Path(record["path"]).relative_to(Path("pages") / site.name)
            assert os.stat(mirrored).st_ino == os.stat(saved).st_ino  # a hard link

    # Outside the references, every byte stays as received.
    page = out / by_url[base]["path"]
    body = page.read_bytes()
    converted = (site / "index.html").read_bytes()
    at = 0
    cursor = 0
    for ref in document_refs(body, "text/html"):
        piece = body[at : ref.start]
        found = converted.find(piece, cursor)
        assert found == cursor or (at == 0 and found == 0), piece[:80]
        cursor = found + len(piece)
        at = ref.end
        # skip the replacement: up to the next piece
        nxt = body[ref.end : ref.end + 1]
        cursor = converted.find(nxt, cursor) if nxt else len(converted)
    assert converted.endswith(body[at:])
    assert b'<!-- <img src="/img/in-a-comment.png"> -->' in converted
    assert b"var s = \"<img src='/img/in-a-script.png'>\";" in converted

    # `crawl convert` rebuilds the same mirror offline.
    before = tree(out / "mirror")
    for path in (out / "mirror").rglob("*.html"):
        path.unlink()
    stderr = io.StringIO()
    assert main(["convert", str(out)], stderr=stderr) == 0, stderr.getvalue()
    assert tree(out / "mirror") == before


def test_requisites_are_fetched_one_step_past_depth_and_not_followed(
    mirror_site: MirrorSite, run_crawl: RunCrawl, tmp_path: Path
) -> None:
    _, records = run_crawl([mirror_site.base], mirror=True, depth=0)
    vias = {r["url"].removeprefix(mirror_site.base): r["via"] for r in records}
    assert vias.pop("") == "seed"
    assert set(vias.values()) == {"requisite"}, vias  # no link followed at --depth 0
    # ... but the stylesheet's import and font, two steps down, are there.
    assert {"static/style.css", "static/print.css", "fonts/fixture.woff2", "img/dot.png"} <= set(
        vias
    )
    assert_consistent(tmp_path / "out")


def test_span_requisites_fetches_another_hosts_requisites_only(
    mirror_site: MirrorSite, run_crawl: RunCrawl, tmp_path: Path
) -> None:
    _, records = run_crawl([mirror_site.base], mirror=True, span_requisites=True)
    other = [r for r in records if r["url"].startswith(mirror_site.other)]
    assert [(r["url"], r["via"]) for r in other] == [
        (mirror_site.other + "shared.png", "requisite")
    ]
    out = tmp_path / "out"
    assert_consistent(out)
    index = (out / "mirror" / host_folder(mirror_site) / "index.html").read_text("utf-8")
    port = mirror_site.other.rsplit(":", 1)[1].strip("/")
    assert f'src="../127.0.0.2_{port}/shared.png"' in index


def test_convert_needs_a_crawl_folder(tmp_path: Path) -> None:
    stderr = io.StringIO()
    assert main(["convert", str(tmp_path / "none")], stderr=stderr) == 2
    assert "crawl.jsonl" in stderr.getvalue()


def test_span_requisites_needs_mirror(tmp_path: Path) -> None:
    stderr = io.StringIO()
    code = main(
        ["http://127.0.0.1:9/", "--span-requisites", "--output", str(tmp_path)], stderr=stderr
    )
    assert code == 2
    assert "--span-requisites" in stderr.getvalue()


def test_the_checker_finds_broken_and_absolute_references(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    (root / "h").mkdir(parents=True)
    (root / "h" / "a.png").write_bytes(b"png")
    (root / "h" / "index.html").write_text(
        '<img src="a.png"><img src="b.png"><a href="http://h/saved">x</a>'
        '<a href="../../outside.html">o</a><a href="#x">f</a>'
    )
    report = check_mirror(root, {"http://h/saved"})
    assert report.references == 3
    assert [ref for _, ref in report.broken] == ["b.png", "../../outside.html"]
    assert [ref for _, ref in report.absolute_saved] == ["http://h/saved"]


# -- interruptions (the crawler in its own process) ------------------------------------------


def _crawl(url: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "crawler", url, "--output", str(out), "--mirror", "-q"),
            *("--threads", "2", "--parsers", "1", *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _stop_after(proc: subprocess.Popen[str], out: Path, records: int, sig: int) -> None:
    """Send `sig` once crawl.jsonl has `records` lines (a bounded poll of another process)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if _lines(out / "crawl.jsonl") >= records:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the crawl ended before it could be stopped"
    proc.send_signal(sig)


@pytest.fixture
def slow_site() -> Iterator[MirrorSite]:
    with MirrorSite(delay=0.05) as site:
        yield site


def test_sigint_then_resume_gives_the_uninterrupted_mirror(
    slow_site: MirrorSite, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    proc = _crawl(slow_site.base, whole)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err

    out = tmp_path / "out"
    proc = _crawl(slow_site.base, out)
    try:
        _stop_after(proc, out, 10, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert_consistent(out)  # the partial mirror, after the fix-up pass
    assert len(read_jsonl(out / "crawl.jsonl")) < len(read_jsonl(whole / "crawl.jsonl"))

    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler", "--resume", "--output", str(out), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert_consistent(out)
    assert tree(out / "mirror") == tree(whole / "mirror")


def test_kill_9_then_convert_gives_a_consistent_mirror(
    slow_site: MirrorSite, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = _crawl(slow_site.base, out)
    try:
        _stop_after(proc, out, 12, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "convert", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "pages converted" in result.stderr
    assert_consistent(out)
    mirror = convert_output(out)  # again: the same files
    assert mirror.failures == 0
