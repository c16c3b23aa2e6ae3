"""Benchmarks of the crawler: `python -m benchmarks.run` (see benchmarks/README.md)."""
