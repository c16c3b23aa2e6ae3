"""A real browser opens the mirror from file://: headless Chromium (Debian's chromium and
chromium-driver, through Selenium pointed at /usr/bin/chromedriver, so Selenium Manager never
downloads anything). Every resource must load (Chromium's own network log) and every image
must have its natural size. One browser session, a few pages."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from .mirror_site import MirrorSite

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PAGES = (
    "index.html",
    "docs/index.html",
    "café.html",
    "About/Team.html",
    "Docs Folder/read me.html",
    "refresh.html",
)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
WebDriverWait = pytest.importorskip("selenium.webdriver.support.wait").WebDriverWait


def _missing() -> str | None:
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists() and shutil.which(Path(binary).name) is None:
            return f"{binary} is not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR."""
    width, height = struct.unpack("!II", path.read_bytes()[16:24])
    return width, height


def network_events(driver: Any) -> list[dict[str, Any]]:
    """The Network.* events of Chromium's performance log since the last call."""
    events = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"].startswith("Network."):
            events.append(message)
    return events


def test_mirrored_pages_load_every_resource_in_chromium(
    browser: Any, run_crawl: Callable[..., tuple[Any, list[dict[str, Any]]]], tmp_path: Path
) -> None:
    with MirrorSite() as site:
        run_crawl([site.base], mirror=True, span_requisites=True)
    # The servers are closed: whatever the pages load, they load from disk.
    host = "127.0.0.1_" + site.base.rsplit(":", 1)[1].strip("/")
    root = tmp_path / "out" / "mirror" / host
    network_events(browser)  # drop what the browser did at start
    images_seen = 0
    everything: list[str] = []
    for page in PAGES:
        browser.get((root / page).as_uri())
        wait = WebDriverWait(browser, 20)
        if page == "refresh.html":  # the meta refresh, converted, leads to the docs page
            wait.until(lambda b: b.current_url.endswith("/docs/index.html#intro"))
        wait.until(lambda b: b.execute_script("return document.readyState") == "complete")
        images = browser.execute_script(
            "return Array.from(document.images).map("
            "i => [i.currentSrc, i.complete, i.naturalWidth, i.naturalHeight])"
        )
        for src, complete, width, height in images:
            assert src.startswith("file://"), (page, src)
            assert complete and width > 0, (page, src)
            assert (width, height) == png_size(Path(unquote(urlsplit(src).path))), (page, src)
            images_seen += 1
        sheets = browser.execute_script(
            "return Array.from(document.styleSheets).map(s => s.href || 'inline')"
        )
        assert sheets, page
        events = network_events(browser)
        requested = [
            e["params"]["request"]["url"]
            for e in events
            if e["method"] == "Network.requestWillBeSent"
        ]
        failed = [e["params"] for e in events if e["method"] == "Network.loadingFailed"]
        assert not failed, (page, failed)
        assert requested, page
        everything += requested
        assert all(url.startswith(("file://", "data:")) for url in requested), (page, requested)
    assert images_seen >= 8
    # What style.css imports and the font it names were loaded, from disk; so was the image
    # from the other host (--span-requisites).
    loaded = {unquote(url).rsplit("/mirror/", 1)[-1] for url in everything}
    port = site.other.rsplit(":", 1)[1].strip("/")
    assert {
        f"{host}/static/print.css",
        f"{host}/fonts/fixture.woff2",
        f"127.0.0.2_{port}/shared.png",
    } <= loaded
    browser.get((root / "index.html").as_uri())
    background = browser.execute_script("return getComputedStyle(document.body).backgroundImage")
    assert background.startswith('url("file://') and background.endswith('img/bg.png")')
