"""A loopback site made to be mirrored: requisites of every kind, and the names and links that
trip converters up (srcset, CSS url() and @import, a web font, <base>, a meta refresh, query
strings, non-ASCII and mixed-case names, a redirect to a folder, a 404, an off-scope link,
fragments, javascript: links).

Served on 127.0.0.1 (the site) and 127.0.0.2 (another host: an off-scope page and a requisite
that only --span-requisites fetches), each on a free port, with an optional delay per request.
"""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote

HTML = "text/html; charset=utf-8"


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A valid PNG of one colour and the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack("!I", len(data)) + body + struct.pack("!I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _page(title: str, body: str, head: str = "") -> bytes:
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>{title}</title>{head}</head>\n"
        f"<body>\n{body}\n</body></html>\n"
    ).encode()


class MirrorSite:
    """The site's pages: path -> (status, headers, body); `other` is the second host's base."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self.base = ""
        self.other = ""

    def start(self) -> MirrorSite:
        """Serve both hosts (port 0: free ports), each ready before this returns."""
        for host in ("127.0.0.1", "127.0.0.2"):
            server = ThreadingHTTPServer((host, 0), self._handler(host))
            server.daemon_threads = True
            ready = threading.Event()

            def serve(server: ThreadingHTTPServer = server, ready: threading.Event = ready) -> None:
                ready.set()
                server.serve_forever(poll_interval=0.05)

            thread = threading.Thread(target=serve, name=f"mirror-site-{host}", daemon=True)
            thread.start()
            if not ready.wait(5):
                raise RuntimeError("the fixture server did not start")
            self._servers.append(server)
            self._threads.append(thread)
        self.base = f"http://127.0.0.1:{self._servers[0].server_address[1]}/"
        self.other = f"http://127.0.0.2:{self._servers[1].server_address[1]}/"
        return self

    def close(self) -> None:
        """Stop both servers (bounded)."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> MirrorSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- content ------------------------------------------------------------------------------

    def routes(self) -> dict[str, tuple[int, dict[str, str], bytes]]:
        """Every path of the main host."""
        other = self.other
        cafe = quote("café.html")
        nav = (
            '<p><a href="/">home</a> <a href="/docs/#intro">docs</a> '
            f'<a href="/{cafe}">café</a> <a href="/About/Team.html#people">team</a></p>'
        )
        css_link = '<link rel="stylesheet" href="/static/style.css">'
        r: dict[str, tuple[int, dict[str, str], bytes]] = {}

        def page(path: str, title: str, body: str, head: str = css_link) -> None:
            r[path] = (200, {"Content-Type": HTML}, _page(title, nav + body, head))

        page(
            "/",
            "Home",
            f"""<h1 id=top>Home</h1>
<img src="/img/logo.png" srcset="/img/logo.png 1x, /img/logo@2x.png 2x" alt=logo width=40>
<picture><source srcset="img/wide.png 1x" media="(min-width: 1px)">
<img src="img/logo.png"></picture>
<div style="background: url('/img/bg.png'); height: 10px"></div>
<ul>
<li><a href="list?page=2">page two of the list</a></li>
<li><a href="/dir">a folder, without its slash</a></li>
<li><a href="/missing.html">gone</a></li>
<li><a href="{other}elsewhere.html">another host</a> <img src="{other}shared.png" alt=shared></li>
<li><a href="#top">top</a> <a href="javascript:void(0)">js</a>
<a href="mailto:a@example.invalid">mail</a></li>
<li><a href="refresh.html">a meta refresh</a> <a href="media.html">media</a></li>
<li><a href="/Docs%20Folder/read%20me.html">a name with spaces</a></li>
</ul>
<!-- <img src="/img/in-a-comment.png"> -->
<script>var s = "<img src='/img/in-a-script.png'>";</script>
<script src="/static/app.js"></script>""",
            head=css_link + '<link rel="icon" href="/favicon.png">',
        )
        page(
            "/docs/",
            "Docs",
            """<h2 id=intro>Intro</h2><a href="guide.html#part-2">the guide</a>
<img src="diagram.png" alt=diagram>""",
            head=css_link
            + '<base href="/docs/sub/"><style>h2 { background: url(bar.png) }</style>',
        )
        page("/docs/sub/guide.html", "Guide", '<h2 id="part-2">Part 2</h2><a href="../">up</a>')
        page("/About/Team.html", "Team", '<p id=people><img src="../img/Face.PNG"></p>')
        page("/café.html", "Café", '<p>Ünïcödé <img src="/img/%C3%A9t%C3%A9.png"></p>')
        page("/list?page=2", "List 2", '<a href="list?page=3&amp;sort=asc">page 3</a>')
        page("/list?page=3&sort=asc", "List 3", '<a href="/list?page=2">back</a>')
        page("/dir/", "Folder", '<a href="./">itself</a> <a href="../">up</a>')
        page("/Docs Folder/read me.html", "Spaces", '<img src="tiny%20dot.png">')
        page(
            "/refresh.html",
            "Refresh",
            "<p>moving</p>",
            head=css_link + '<meta http-equiv="refresh" content="0; url=/docs/#intro">',
        )
        page(
            "/media.html",
            "Media",
            """<video src="/media/clip.webm" poster="/img/poster.png">
<track src="/media/subs.vtt"></video>
<audio src="/media/sound.ogg"></audio><object data="/media/thing.svg"></object>
<embed src="/media/plugin.bin"><input type="image" src="/img/button.png">""",
        )
        r["/dir"] = (301, {"Location": "/dir/"}, b"")
        r["/static/style.css"] = (
            200,
            {"Content-Type": "text/css"},
            b'@import url("print.css");\n'
            b"body { background: url(../img/bg.png) repeat-x; font-family: Fixture, serif }\n"
            b"@font-face { font-family: Fixture;"
            b' src: url("/fonts/fixture.woff2") format("woff2") }\n'
            b"/* url(/img/in-a-css-comment.png) */\n",
        )
        r["/static/print.css"] = (
            200,
            {"Content-Type": "text/css"},
            b".x { background-image: url('/img/dot.png') }\n",
        )
        r["/static/app.js"] = (200, {"Content-Type": "text/javascript"}, b"var loaded = 1;\n")
        r["/fonts/fixture.woff2"] = (200, {"Content-Type": "font/woff2"}, b"wOF2 not really")
        images = {
            "/img/logo.png": png(40, 20),
            "/img/logo@2x.png": png(80, 40),
            "/img/wide.png": png(8, 2),
            "/img/bg.png": png(4, 4, (240, 240, 200)),
            "/img/dot.png": png(1, 1),
            "/img/Face.PNG": png(12, 14, (20, 120, 20)),
            "/img/été.png": png(9, 7, (20, 20, 200)),
            "/docs/sub/diagram.png": png(30, 10),
            "/docs/sub/bar.png": png(3, 3),
            "/favicon.png": png(16, 16),
            "/Docs Folder/tiny dot.png": png(2, 2),
            "/img/poster.png": png(5, 5),
            "/img/button.png": png(6, 6),
        }
        for path, data in images.items():
            r[path] = (200, {"Content-Type": "image/png"}, data)
        for path, ctype in (
            ("/media/clip.webm", "video/webm"),
            ("/media/subs.vtt", "text/vtt"),
            ("/media/sound.ogg", "audio/ogg"),
            ("/media/thing.svg", "image/svg+xml"),
            ("/media/plugin.bin", "application/octet-stream"),
        ):
            r[path] = (200, {"Content-Type": ctype}, b"fixture " + path.encode())
        return r

    def other_routes(self) -> dict[str, tuple[int, dict[str, str], bytes]]:
        """The second host: an off-scope page and an image."""
        return {
            "/elsewhere.html": (200, {"Content-Type": HTML}, _page("Elsewhere", "<p>far</p>")),
            "/shared.png": (200, {"Content-Type": "image/png"}, png(10, 10)),
        }

    def _handler(self, host: str) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with site._lock:
                    site.hits[f"{host}{self.path}"] += 1
                if site.delay:
                    time.sleep(site.delay)  # the server's latency, not a wait in a test
                routes = site.routes() if host == "127.0.0.1" else site.other_routes()
                status, headers, body = routes.get(
                    unquote(self.path),
                    (404, {"Content-Type": HTML}, _page("Not found", "<p>404</p>")),
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
