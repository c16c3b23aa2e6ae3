"""Stage 5 of 5: storage of bodies (paths.py) and records (writer.py)."""

from .paths import url_to_path
from .writer import Storage, atomic_write, read_records

__all__ = ["Storage", "atomic_write", "read_records", "url_to_path"]
