"""Run by pywb's own Python (see test_warc.py): replay one URL from a crawl's archive.

Usage: python pywb_replay.py ARCHIVE_DIR TIMESTAMP URL. pywb reads only the crawl's own
`index.cdxj` (no index of its own is built) and the WARC files beside it; the answer is printed
as one JSON object: status line, headers, and the body in base64.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import tempfile
from pathlib import Path


def main() -> None:
    archive, timestamp, url = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    from pywb.apps.frontendapp import FrontEndApp

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(
            "collections:\n"
            "  crawl:\n"
            f"    index_paths: {archive / 'index.cdxj'}\n"
            f"    archive_paths: {archive}/\n"
        )
        app = FrontEndApp(config_file=str(config))
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": f"/crawl/{timestamp}id_/{url}",
            "QUERY_STRING": "",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "localhost",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
        }
        answer: dict[str, object] = {}

        def start_response(status: str, headers: list[tuple[str, str]], *exc: object) -> None:
            answer["status"] = status
            answer["headers"] = {name.lower(): value for name, value in headers}

        body = b"".join(app(environ, start_response))
        answer["body"] = base64.b64encode(body).decode("ascii")
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
