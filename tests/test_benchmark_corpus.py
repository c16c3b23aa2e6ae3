"""The benchmark's real-corpus site (benchmarks/corpus.py): a folder served as one host."""

from __future__ import annotations

from pathlib import Path

import requests

from benchmarks.corpus import DirectorySite, reachable
from benchmarks.site_server import SiteServer, SiteSpec


def make_folder(root: Path) -> None:
    """index -> a/page (-> ../b.html#x, style.css by <link>), orphan.html linked from nowhere."""
    (root / "a").mkdir()
    (root / "index.html").write_text('<title>i</title><a href="a/page.html">a</a>')
    (root / "a" / "page.html").write_text(
        '<link rel="stylesheet" href="../style.css"><a href="../b.html#x">b</a>'
        '<a href="../missing.html">m</a><a href="../script.py">py</a>'
    )
    (root / "b.html").write_text("<title>b</title><a href='index.html?q=1'>home</a>")
    (root / "script.py").write_text("print('hi')\n")
    (root / "style.css").write_text("body{}")
    (root / "orphan.html").write_text("<title>nobody links here</title>")


def test_reachable_is_what_a_host_scoped_crawl_from_index_fetches(tmp_path: Path) -> None:
    make_folder(tmp_path)
    assert reachable(str(tmp_path)) == ("/a/page.html", "/b.html", "/index.html", "/script.py")


def test_lookup_serves_only_the_files_of_the_folder(tmp_path: Path) -> None:
    make_folder(tmp_path)
    site = DirectorySite(tmp_path)
    assert site.files[site.lookup("/") or 0] == "index.html"
    assert site.lookup("/a/../b.html") == site.lookup("/b.html") is not None
    assert site.lookup("/../../etc/passwd") is None
    assert site.lookup("/a/") is None  # no a/index.html
    kind, body = site.read(site.lookup("/script.py") or 0)
    assert kind.startswith("text/x-python") and body == b"print('hi')\n"


def test_the_server_serves_the_folder_and_counts_distinct_files(tmp_path: Path) -> None:
    make_folder(tmp_path)
    spec = SiteSpec(pages=len(reachable(str(tmp_path))), root=str(tmp_path))
    with SiteServer(spec) as server:
        (seed,) = server.roots()
        assert seed.endswith("/index.html")
        with requests.Session() as session:
            page = session.get(seed, timeout=10)
            assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
            assert session.get(seed, timeout=10).status_code == 200
            assert session.get(seed.replace("index", "nothing"), timeout=10).status_code == 404
        (host,) = server.stats()["hosts"]
    assert (host["pages"], host["distinct_pages"], host["other"]) == (2, 1, 1)
    assert spec.page_urls(server.port)[0] == seed.replace("index.html", "a/page.html")
