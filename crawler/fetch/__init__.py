"""Stage 3 of 5: the fetcher threads (worker.py) and their helpers: hosts, robots, retry, http."""

from .worker import Counters, FetcherThread, Services

__all__ = ["Counters", "FetcherThread", "Services"]
