"""A minimal Scrapy spider for the comparison: follows same-host links from the seeds, counts pages.

Run by `python -m benchmarks.run --compare` as a subprocess when Scrapy is installed:

    python -m benchmarks.scrapy_spider --concurrency 16 --per-host 4 URL...

Settings: CONCURRENT_REQUESTS=16, CONCURRENT_REQUESTS_PER_DOMAIN=4, ROBOTSTXT_OBEY=False,
LOG_LEVEL=ERROR; links are taken with the `a::attr(href)` selector and followed only on the
host they were found on. It saves nothing. The last line on stdout is JSON: pages parsed,
seconds and CPU seconds from the spider's opening to its closing (imports and reactor start-up
left out), and the process's CPU seconds in all.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response


class SiteSpider(scrapy.Spider):
    """Crawls every page reachable from the seeds on the seeds' own hosts."""

    name = "bench"

    def __init__(self, roots: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = list(roots)
        self.pages = 0

    def parse(self, response: Response) -> Iterator[scrapy.Request]:  # type: ignore[override]
        """Count the page and follow its links that stay on its host."""
        self.pages += 1
        here = urlsplit(response.url).netloc
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href)
            if urlsplit(url).netloc == here:
                yield scrapy.Request(url, callback=self.parse)


def main(argv: list[str] | None = None) -> None:
    """Crawl the seeds with Scrapy and print the JSON result line."""
    parser = argparse.ArgumentParser(description="Scrapy on the benchmark site.")
    parser.add_argument("roots", nargs="+")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--per-host", type=int, default=4)
    args = parser.parse_args(argv)
    process = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.per_host,
            "ROBOTSTXT_OBEY": False,
            "LOG_LEVEL": "ERROR",
            "TELNETCONSOLE_ENABLED": False,
        }
    )
    crawler = process.create_crawler(SiteSpider)
    marks: dict[str, float] = {}

    def opened() -> None:
        marks["wall0"], marks["cpu0"] = time.monotonic(), time.process_time()

    def closed() -> None:
        marks["wall1"], marks["cpu1"] = time.monotonic(), time.process_time()

    crawler.signals.connect(opened, signal=signals.spider_opened)
    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler, roots=args.roots)
    process.start()
    spider = crawler.spider
    result = {
        "pages": getattr(spider, "pages", 0),
        "seconds": marks.get("wall1", 0.0) - marks.get("wall0", 0.0),
        "cpu": marks.get("cpu1", 0.0) - marks.get("cpu0", 0.0),
        "cpu_total": time.process_time(),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
