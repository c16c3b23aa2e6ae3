"""Every default of the benchmark, stated once: the command line, the reports and README quote
these names.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

# The generated site (`--site synthetic`) and the crawl.
PAGES = 1000
HOSTS = 4
LATENCY = 0.05  # seconds added to every answer; the Python docs (`--site pydocs`) default to 0
PYDOCS_LATENCY = 0.0
PAGE_BYTES = 40_000
LINKS = 30
THREADS = 16
PER_HOST = 4
# --parsers: as crawl's default, min(4, CPUs) (crawler.config.DEFAULT_PARSERS).

# --scaling: part 1 (threads) and part 2 (parsers).
THREADS_SCALE = (1, 2, 4, 8, 16, 32)
SCALING_LATENCY = 0.1
SCALING_PAGE_BYTES = 4000
SCALING_LINKS = 10
SCALING_PARSERS = 2
SCALING_SECONDS = 4.0  # each row of part 1 has max(200, this long at the limit) pages
SCALING_MIN_PAGES = 200
PARSERS_SCALE = (1, 2, 4)
PARSERS_PAGES = 1500

# Measurement.
SELFTEST_SECONDS = 3.0
SERVER_HEADROOM = 3.0  # the server's self-test must sustain this many times the crawl's rate
ROUNDS = 5  # of --parse-only
QUIET_WAIT = 30.0  # seconds waited for other processes to go quiet before each measurement
ATTEMPTS = 3  # crawls made at most while other processes disturb them
DISTURBED = 0.1  # cores used by other processes above which a measurement is taken again
MAX_SECONDS = 600.0  # a crawl is asked to stop after this long
TOOL_TIMEOUT = 600.0  # Scrapy or wget2 is killed after this long
