"""Seeds files: good lines kept, bad lines named by file and line, no valid seed is exit 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from crawler.cli import main
from crawler.errors import SeedError
from crawler.seeds import parse_seeds, read_seeds


def test_comments_blanks_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "seeds.txt"
    path.write_text("# a comment\n\nhttp://Example.com:80/a#x\n  http://example.com/a \n")
    seeds = read_seeds(str(path))
    assert seeds.urls == ("http://example.com/a",)
    assert seeds.bad == ()


def test_garbage_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "seeds.txt"
    path.write_text("http://ok.example/\nnot a url\nftp://x.example/\nhttp://\nhttp://b.example/\n")
    seeds = read_seeds(str(path))
    assert seeds.urls == ("http://ok.example/", "http://b.example/")
    assert [(b.file, b.line) for b in seeds.bad] == [(str(path), 2), (str(path), 3), (str(path), 4)]
    assert "scheme 'ftp'" in str(seeds.bad[1])
    assert str(seeds.bad[0]).startswith(f"{path}:2: ")


def test_stdin_is_read_with_a_name() -> None:
    seeds = parse_seeds(io.StringIO("http://a.example/\njunk\n"), "<stdin>")
    assert seeds.urls == ("http://a.example/",)
    assert str(seeds.bad[0]).startswith("<stdin>:2:")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("", "no valid seed"),
        ("# only\n\n", "no valid seed"),
        ("junk\nmore junk\n", "no valid seed"),
    ],
)
def test_unusable_seeds_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "seeds.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SeedError, match=message):
        read_seeds(str(path))


@pytest.mark.parametrize("content", [None, "", "junk\n"])
def test_cli_exits_2_without_a_valid_seed(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "seeds.txt"
    if content is not None:
        path.write_text(content)
    err = io.StringIO()
    code = main([str(path), "--output", str(tmp_path / "out")], stderr=err)
    assert code == 2
    assert "crawl: error:" in err.getvalue() and str(path) in err.getvalue()
    if content == "junk\n":
        assert f"{path}:1:" in err.getvalue()
    assert not (tmp_path / "out" / "crawl.jsonl").exists()


def test_cli_warns_about_bad_lines_and_crawls_the_rest(tmp_path: Path, site) -> None:
    path = tmp_path / "seeds.txt"
    path.write_text(f"{site.seed_urls()[0]}\nnot-a-url\n")
    err = io.StringIO()
    code = main([str(path), "--output", str(tmp_path / "out"), "--depth", "0", "-q"], stderr=err)
    assert code == 0
    assert f"{path}:2:" in err.getvalue()
    assert (tmp_path / "out" / "crawl.jsonl").read_text().count("\n") == 1
