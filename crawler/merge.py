"""`crawl merge DIR... --output DIR`: join the outputs of the workers of one shared crawl.

Each worker of a `--frontier` crawl writes its own OUTPUT. A URL may have more than one record
there (a worker killed after writing its record but before its `done`, or evicted while slow):
per URL the merge keeps the record of the highest lease, the attempt that committed, since a URL
is only leased again after its earlier lease was lost. The kept records' pages are copied;
summary.json has the fleet's totals. With --frontier the count is checked against Redis.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from .errors import ExitCode
from .store.writer import atomic_write, read_records

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The arguments of `crawl merge`."""
    p = argparse.ArgumentParser(
        prog="crawl merge",
        description="Join the output folders of the workers of one distributed crawl.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="a worker's output folder")
    p.add_argument("--output", type=Path, required=True, metavar="DIR", help="the merged folder")
    p.add_argument(
        "--frontier",
        metavar="URL",
        default=None,
        help="check the merged count against this crawl's Redis (with --crawl-id)",
    )
    p.add_argument("--crawl-id", metavar="NAME", default=None, help="the crawl to check")
    return p


def _rank(record: dict[str, Any], order: int) -> tuple[int, int]:
    lease = record.get("lease")
    return (lease if isinstance(lease, int) else -1, order)


def merge(dirs: Sequence[Path], output: Path) -> dict[str, Any]:
    """Merge the worker folders `dirs` into `output`; returns the summary written."""
    best: dict[str, tuple[tuple[int, int], dict[str, Any], Path]] = {}
    lines = 0
    order = 0
    workers: list[dict[str, Any]] = []
    for folder in dirs:
        for record in read_records(folder / "crawl.jsonl"):
            lines += 1
            order += 1
            rank = _rank(record, order)
            url = record.get("url")
            if not isinstance(url, str):
                continue
            held = best.get(url)
            if held is None or rank > held[0]:
                best[url] = (rank, record, folder)
        summary_path = folder / "summary.json"
        if summary_path.exists():
            try:
                workers.append({"dir": str(folder), **json.loads(summary_path.read_text())})
            except (OSError, json.JSONDecodeError) as exc:
                logger.warning("%s: unreadable summary: %s", summary_path, exc)
    (output / "pages").mkdir(parents=True, exist_ok=True)
    kept = sorted(best.values(), key=lambda entry: entry[0])
    used: dict[str, str] = {}
    errors: Counter[str] = Counter()
    total_bytes = 0
    with open(output / "crawl.jsonl", "w", encoding="utf-8") as out:
        for _, record, folder in kept:
            path = record.get("path")
            if isinstance(path, str) and path:
                record["path"] = _copy_page(folder, path, output, record["url"], used)
            if record.get("error"):
                errors[str(record["error"].get("kind"))] += 1
            total_bytes += int(record.get("bytes") or 0)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    totals = Counter[str]()
    for worker in workers:
        for name in ("requests", "retried", "parser_restarts", "internal_faults", "seconds"):
            value = worker.get(name)
            if isinstance(value, int | float):
                totals[name] += value
    summary: dict[str, Any] = {
        "merged_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "workers": len(dirs),
        "pages": len(kept),
        "ok": len(kept) - sum(errors.values()),
        "errors": dict(errors),
        "bytes": total_bytes,
        "lines_read": lines,
        "duplicates_dropped": lines - len(kept),
        "requests": totals["requests"],
        "retried": totals["retried"],
        "parser_restarts": totals["parser_restarts"],
        "internal_faults": totals["internal_faults"],
        "worker_seconds": round(totals["seconds"], 3),
        "inputs": [str(d) for d in dirs],
    }
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    atomic_write(output / "summary.json", text.encode("utf-8"))
    return summary


def _copy_page(folder: Path, path: str, output: Path, url: str, used: dict[str, str]) -> str:
    """Copy one saved page into the merged tree under the same name (another if two URLs of
    different workers took the same name); returns its path relative to `output`."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or relative.parts[:1] != ("pages",):
        raise ValueError(f"{folder}: a record's path leaves pages/: {path!r}")
    name = path
    n = 1
    while used.get(name, url) != url:
        n += 1
        name = str(relative.with_name(f"{relative.stem}~{n}{relative.suffix}"))
    used[name] = url
    source = folder.joinpath(*relative.parts)
    target = output.joinpath(*PurePosixPath(name).parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return name


def check_frontier(summary: dict[str, Any], frontier: str, crawl_id: str) -> str | None:
    """Compare the merged count with Redis; the mismatch as a sentence, or None."""
    from .config import Config
    from .frontier.redis import connect, fleet_counts

    client = connect(Config(frontier=frontier, crawl_id=crawl_id))
    try:
        counts = fleet_counts(client, f"crawl:{crawl_id}:")
    finally:
        client.close()
    summary["frontier"] = counts
    expected = counts["admitted"] + counts["trapped"]
    invalid = summary["errors"].get("invalid_url", 0)  # claimed spellings, not admitted
    merged = summary["pages"] - invalid
    if counts["open"] != 0:
        return f"crawl {crawl_id!r} is not finished: {counts['open']} URLs still open in Redis"
    if merged != expected:
        return (
            f"the merge has {merged} URLs, Redis admitted {counts['admitted']} "
            f"and trapped {counts['trapped']} ({expected})"
        )
    return None


def main(argv: Sequence[str], *, stderr: TextIO) -> int:
    """`crawl merge`: returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    dirs = [Path(d) for d in args.dirs]
    for folder in dirs:
        if not (folder / "crawl.jsonl").is_file():
            print(f"crawl merge: error: DIR: no crawl.jsonl in {folder}", file=stderr)
            return ExitCode.USAGE
        if folder.resolve() == args.output.resolve():
            print(f"crawl merge: error: --output: {folder} is also an input", file=stderr)
            return ExitCode.USAGE
    if (args.frontier is None) != (args.crawl_id is None):
        print("crawl merge: error: --frontier and --crawl-id go together", file=stderr)
        return ExitCode.USAGE
    try:
        args.output.mkdir(parents=True, exist_ok=True)
        summary = merge(dirs, args.output)
    except (OSError, ValueError) as exc:
        print(f"crawl merge: error: {exc}", file=stderr)
        return ExitCode.INTERNAL_ERROR
    print(
        f"crawl merge: {summary['pages']} URLs from {len(dirs)} workers "
        f"({summary['duplicates_dropped']} repeated records dropped) into {args.output}",
        file=stderr,
    )
    if args.frontier is not None:
        from .errors import UsageError

        try:
            mismatch = check_frontier(summary, args.frontier, args.crawl_id)
        except (UsageError, ValueError) as exc:
            print(f"crawl merge: error: {exc}", file=stderr)
            return ExitCode.USAGE
        text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
        atomic_write(args.output / "summary.json", text.encode("utf-8"))
        if mismatch is not None:
            print(f"crawl merge: mismatch: {mismatch}", file=stderr)
            return ExitCode.INTERNAL_ERROR
        print("crawl merge: the count matches Redis", file=stderr)
    return ExitCode.OK
