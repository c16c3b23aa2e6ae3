"""The test machinery itself: the site's close() is bounded, the hang watchdog leaves a file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from crawler.sitegen import CLOSE_BUDGET, Site

ROOT = Path(__file__).resolve().parent.parent


def test_close_is_bounded_even_when_a_server_never_served() -> None:
    site = Site(("127.0.0.1",), pages=2)
    site._bind_all()  # bound, but no serving thread: BaseServer.shutdown() would wait for ever
    closer = threading.Thread(target=site.close, daemon=True)
    closer.start()
    closer.join(timeout=CLOSE_BUDGET + 5)
    assert not closer.is_alive(), "Site.close() is still waiting"


def test_a_hung_test_leaves_its_stacks_in_a_file(tmp_path: Path) -> None:
    hang = tmp_path / "test_hang.py"
    hang.write_text("import threading\n\n\ndef test_hangs():\n    threading.Event().wait()\n")
    env = {**os.environ, "CRAWL_WATCHDOG_SECONDS": "2", "CRAWL_WATCHDOG_DIR": str(tmp_path)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.conftest",
    ]
    proc = subprocess.run(
        [*command, str(hang)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    (dump,) = tmp_path.glob("crawl-watchdog-*.txt")
    text = dump.read_text()
    assert text.startswith(f"{hang}::test_hangs: no progress for 2 s") or "test_hangs" in text
    assert "Timeout (0:00:02)!" in text
    assert "line 5 in test_hangs" in text  # the stack of the hung test itself
