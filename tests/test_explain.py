"""`crawl why`: one crawl that meets every reason a URL is fetched, fails or is refused."""

from __future__ import annotations

import io
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crawler import Config, crawl
from crawler.cli import main
from crawler.explain import explain, robots_rule
from crawler.explain import main as why
from crawler.parse.extract import MAX_LINKS

ROBOTS = (
    b"# rules\nUser-agent: other\nDisallow: /\n\n"
    b"User-agent: *\nAllow: /private/ok\nDisallow: /private\n"
)


def _links(*hrefs: str, extra: str = "", more: str = "") -> bytes:
    anchors = "".join(f'<a href="{h}">{h}</a>\n' for h in hrefs) + more
    return f"<html><head>{extra}<title>t</title></head><body>{anchors}</body></html>".encode()


class _Handler(BaseHTTPRequestHandler):
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.pages.get(self.path, (404, {}, b"missing"))
        self.send_response(status)
        headers = {"Content-Type": "text/html", **headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    many = [f"/many/{i}" for i in range(MAX_LINKS)] + ["/capped"]
    _Handler.pages = {
        "/robots.txt": (200, {"Content-Type": "text/plain"}, ROBOTS),
        "/sitemap.xml": (
            200,
            {"Content-Type": "application/xml"},
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{base}/from-sitemap</loc></url></urlset>".encode(),
        ),
        "/from-sitemap": (200, {}, _links()),
        "/": (
            200,
            {},
            _links(
                "/a",
                "/private/x",
                "/deny-me",
                "http://127.0.0.2:1/other",
                "/missing",
                "/x/x/x/y",
                "/redir",
                "/moved",
                "/meta-nofollow",
                "/many",
                "/over",
                more='<a rel="nofollow" href="/nf">nf</a>',
            ),
        ),
        "/a": (200, {}, _links("/deep")),
        "/redir": (301, {"Location": "/a"}, b""),
        "/moved": (301, {"Location": "/target"}, b""),
        "/target": (200, {}, _links()),
        "/meta-nofollow": (
            200,
            {},
            _links("/hidden", extra='<meta name="robots" content="nofollow">'),
        ),
        "/many": (200, {}, _links(*many)),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    out = tmp_path_factory.mktemp("why") / "out"
    # Admitted: the seed, /from-sitemap, /a, /private/x, /missing, /redir, /moved,
    # /meta-nofollow and /many: nine, so /over is the first past --max-pages.
    config = Config(
        output=out,
        threads=4,
        parsers=1,
        timeout=5.0,
        depth=1,
        max_pages=9,
        deny=("deny-me",),
        sitemaps=True,
        retries=0,
    )
    try:
        crawl(config, [base + "/"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    yield out, base


def _why(out: Path, url: str) -> dict[str, Any]:
    stdout = io.StringIO()
    assert why([url, "--output", str(out), "--json"], stdout=stdout) == 0
    answer: dict[str, Any] = json.loads(stdout.getvalue())
    return answer


@pytest.mark.parametrize(
    ("path", "outcome", "rule", "via"),
    [
        ("/", "fetched", None, ["seed"]),
        ("/a", "fetched", None, ["link", "seed"]),
        ("/from-sitemap", "fetched", None, ["sitemap"]),
        ("/target", "fetched", "the same page as URL {base}/moved", ["redirect", "link", "seed"]),
        ("/redir", "fetched", "the same page as URL {base}/a", ["link", "seed"]),
        ("/missing", "failed", None, ["link", "seed"]),
        (
            "/private/x",
            "refused",
            "{base}/robots.txt group User-agent: *, line 7: Disallow: /private",
            ["link", "seed"],
        ),
        ("/deny-me", "refused", "--deny deny-me", ["link", "seed"]),
        ("http://127.0.0.2:1/other", "refused", "--scope host", ["link", "seed"]),
        ("/x/x/x/y", "refused", "trap: path segment 'x' repeated 3 times", ["link", "seed"]),
        ("/deep", "refused", "--depth 1", ["link", "link", "seed"]),
        ("/over", "refused", "--max-pages 9", ["link", "seed"]),
        ("/nf", "refused", "nofollow", ["link", "seed"]),
        ("/hidden", "refused", "nofollow", ["link", "link", "seed"]),
        (
            "/capped",
            "refused",
            f"the per-page link cap ({MAX_LINKS} links)",
            ["link", "link", "seed"],
        ),
        ("/never", "not seen", None, []),
    ],
)
def test_each_reason_is_explained(
    crawled: tuple[Path, str], path: str, outcome: str, rule: str | None, via: list[str]
) -> None:
    out, base = crawled
    url = path if path.startswith("http") else base + path
    answer = _why(out, url)
    assert answer["outcome"] == outcome, answer
    if rule is None:
        assert answer["rule"] is None or "canonicalisation" in answer["rule"], answer
    else:
        assert answer["rule"].startswith(rule.format(base=base)), answer
    assert [step["via"] for step in answer["chain"]] == via, answer
    if answer["chain"]:
        assert answer["chain"][0]["url"] == url
        assert answer["chain"][-1]["url"] in (base + "/", base + "/from-sitemap")
    has_record = outcome in ("fetched", "failed") or path in ("/private/x", "/x/x/x/y")
    assert (answer["record"] is not None) == has_record, answer
    assert answer["reason"]


def test_any_spelling_finds_the_record(crawled: tuple[Path, str]) -> None:
    out, base = crawled
    port = base.rsplit(":", 1)[1]
    answer = _why(out, f"HTTP://127.0.0.1:{port}/x/./../a")
    assert answer["outcome"] == "fetched"
    assert answer["canonical"] == base + "/a"
    assert answer["record"]["url"] == base + "/a"
    assert answer["rule"] == f"the same page as URL {base}/a after canonicalisation"
    # The default port is dropped: port 80 is the same URL as none.
    assert explain("HTTP://Example.COM:80/a/./b", out)["canonical"] == "http://example.com/a/b"


def test_never_discovered_says_what_todays_rules_decide(crawled: tuple[Path, str]) -> None:
    out, base = crawled
    answer = _why(out, "http://elsewhere.example/page")
    assert answer["outcome"] == "not seen"
    assert answer["rule"] == "--scope host"
    assert "today's rules would refuse" in answer["reason"]
    answer = _why(out, base + "/private/never")
    assert answer["outcome"] == "not seen"
    assert "line 7: Disallow: /private" in answer["rule"]
    assert _why(out, base + "/private/ok")["rule"] is None


def test_human_readable_answer_through_the_cli(
    crawled: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, base = crawled
    assert main(["why", base + "/deep", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "outcome:   refused" in text
    assert "rule:      --depth 1" in text
    assert f"<- {base}/ (depth 0, seed)" in text


def test_works_after_a_kill_with_a_torn_last_line(
    crawled: tuple[Path, str], tmp_path: Path
) -> None:
    out, base = crawled
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "summary.json").unlink()
    with open(copy / "crawl.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"url": "' + base + '/torn", "final_u')
    assert _why(copy, base + "/a")["outcome"] == "fetched"
    assert _why(copy, base + "/torn")["outcome"] == "not seen"
    assert _why(copy, base + "/deep")["rule"] == "--depth 1"


def test_a_folder_without_a_crawl_is_a_clear_usage_error(tmp_path: Path) -> None:
    stderr = io.StringIO()
    assert main(["why", "http://x.example/", "--output", str(tmp_path)], stderr=stderr) == 2
    assert "holds no crawl" in stderr.getvalue()


def test_robots_rule_picks_the_named_group_and_the_longest_match() -> None:
    text = ROBOTS.decode()
    assert robots_rule(text, "crawl/1.0", "http://h/private/x") == ("*", 7, "Disallow: /private")
    assert robots_rule(text, "crawl/1.0", "http://h/private/ok") is None
    assert robots_rule(text, "Other/2", "http://h/a") == ("other", 3, "Disallow: /")
