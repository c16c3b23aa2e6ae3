"""`crawl why URL --output DIR [--json]`: what became of one URL, offline.

Reads OUTPUT/crawl.jsonl (a torn last line is skipped) and OUTPUT/state.db (the resume journal,
the refusals, the robots.txt bodies and the options the crawl ran with), never the network.
The answer: `outcome` (fetched, failed, refused, not seen), `reason`, `rule` (the option and its
value, the robots.txt line, the trap rule...), `chain` (how it was reached, back to a seed) and
`record` (its crawl.jsonl line). Links dropped inside a parser (rel=nofollow, meta robots
nofollow, the per-page link cap) never reach the frontier: they are found by reading the saved
pages that link to the URL.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urljoin, urlsplit

from .errors import ExitCode
from .frontier.memory import refusal_rule, trap_reason
from .store.state import STATE_FILE
from .store.writer import read_records
from .urls import InvalidURL, canonicalize

OUTCOMES = ("fetched", "failed", "refused", "not seen")
# Error kinds that mean a rule kept the URL from being fetched (not a failure of the fetch).
_REFUSED_KINDS = {"robots", "trap", "blocked", "invalid_url"}
# Saved pages read at most when looking for the page that links to a URL never admitted.
MAX_PAGES_SCANNED = 5000
MAX_CHAIN = 100


class NoCrawl(Exception):
    """DIR holds no crawl: neither crawl.jsonl nor state.db."""


@dataclass
class _Crawl:
    """The parts of an output folder `why` reads (state.db opened read-only)."""

    root: Path
    db: sqlite3.Connection | None
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    redirected_to: dict[str, dict[str, Any]] = field(default_factory=dict)

    def query(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self.db is None:
            return None
        try:
            row: tuple[Any, ...] | None = self.db.execute(sql, args).fetchone()
        except sqlite3.OperationalError:  # a table this crawl did not have
            return None
        return row

    def journal(self, url: str) -> tuple[int, str | None, str, int] | None:
        row = self.query("SELECT depth, parent, seed, done FROM urls WHERE url = ?", (url,))
        return None if row is None else (row[0], row[1], row[2], row[3])

    def refusal(self, url: str) -> tuple[str, str, str | None, int, str | None] | None:
        row = self.query(
            "SELECT rule, reason, parent, depth, seed FROM refusals WHERE url = ?", (url,)
        )
        return None if row is None else (row[0], row[1], row[2], row[3], row[4])

    def config(self) -> dict[str, Any]:
        row = self.query("SELECT value FROM explain_meta WHERE key = ?", ("config",))
        if row is not None:
            return dict(json.loads(row[0]))
        summary = self.root / "summary.json"
        if summary.exists():
            return dict(json.loads(summary.read_text(encoding="utf-8")).get("config", {}))
        return {}

    def seeds(self) -> list[str]:
        if self.db is None:
            return []
        try:
            rows = self.db.execute(
                "SELECT value FROM explain_meta WHERE key LIKE 'seeds-%' ORDER BY key"
            ).fetchall()
        except sqlite3.OperationalError:
            rows = []
        seeds: list[str] = []
        for (value,) in rows:
            seeds.extend(s for s in json.loads(value) if s not in seeds)
        if not seeds:
            try:
                seeds = [r[0] for r in self.db.execute("SELECT url FROM urls WHERE parent IS NULL")]
            except sqlite3.OperationalError:
                seeds = []
        return seeds

    def robots_txt(self, origin: str) -> str | None:
        row = self.query("SELECT body FROM robots_txt WHERE origin = ?", (origin,))
        return None if row is None else str(row[0])


def _open(root: Path, wanted: set[str]) -> _Crawl:
    jsonl, state = root / "crawl.jsonl", root / STATE_FILE
    if not jsonl.exists() and not state.exists():
        raise NoCrawl(f"{root} holds no crawl (no crawl.jsonl, no {STATE_FILE})")
    db = None
    if state.exists():
        try:
            db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
            db.execute("SELECT 1 FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError:
            # Read-only WAL needs its -shm file; a copy without it opens as immutable.
            db = sqlite3.connect(f"file:{state}?immutable=1", uri=True)
    crawl = _Crawl(root, db)
    # One pass over crawl.jsonl keeps only the records of the URLs this question may touch.
    for record in read_records(jsonl):
        url, final = record.get("url"), record.get("final_url")
        if url in wanted or (url is not None and url not in crawl.records and final in wanted):
            crawl.records.setdefault(url, record)
        if final in wanted and final != url:
            crawl.redirected_to.setdefault(final, record)
    return crawl


def _record_of(crawl: _Crawl, url: str) -> dict[str, Any] | None:
    record = crawl.records.get(url)
    if record is None and crawl.db is not None:
        # Chains walk up to parents not known when crawl.jsonl was read: read it again for them.
        for found in read_records(crawl.root / "crawl.jsonl"):
            if found.get("url") == url:
                crawl.records[url] = found
                return found
    return record


def _chain(crawl: _Crawl, url: str) -> list[dict[str, Any]]:
    """[{url, depth, via}] from `url` back to its seed."""
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = url
    while current is not None and current not in seen and len(chain) < MAX_CHAIN:
        seen.add(current)
        row = crawl.journal(current)
        if row is not None:
            depth, parent, seed, _ = row
            via = ("seed" if current == seed else "sitemap") if parent is None else "link"
            kind = crawl.query("SELECT kind FROM kinds WHERE url = ?", (current,))
            if kind is not None and kind[0] in ("requisite", "sitemap"):
                via = kind[0]  # the journal's kinds table (--mirror requisites, sitemaps)
            chain.append({"url": current, "depth": depth, "via": via})
            current = parent
            continue
        source = crawl.redirected_to.get(current)
        if source is not None:
            chain.append({"url": current, "depth": source.get("depth"), "via": "redirect"})
            current = source.get("url")
            continue
        refusal = crawl.refusal(current)
        if refusal is not None:
            chain.append({"url": current, "depth": refusal[3], "via": "link"})
            current = refusal[2]
            continue
        record = _record_of(crawl, current)
        if record is None:
            break
        parent = record.get("parent")
        chain.append(
            {"url": current, "depth": record.get("depth"), "via": "link" if parent else "seed"}
        )
        current = parent
    return chain


# -- robots.txt: which group and line decided ------------------------------------------------


def _robots_pattern(path: str) -> re.Pattern[str]:
    anchored = path.endswith("$")
    body = re.escape(path.rstrip("$")).replace(r"\*", ".*")
    return re.compile(body + ("$" if anchored else ""))


def robots_rule(text: str, user_agent: str, url: str) -> tuple[str, int, str] | None:
    """(the group's User-agent, line number, the line) of the robots.txt rule that disallows
    `url` for `user_agent` (RFC 9309: the group naming the agent's product token, else `*`; the
    longest matching path wins, Allow on a tie), or None if no Disallow line applies."""
    token = user_agent.split("/")[0].strip().lower()
    groups: list[tuple[list[str], list[tuple[int, str, str, str]]]] = []
    in_agents = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if not in_agents:
                groups.append(([], []))
            groups[-1][0].append(value)
            in_agents = True
        elif key in ("allow", "disallow") and groups:
            groups[-1][1].append((number, key, value, raw.strip()))
            in_agents = False
        else:
            in_agents = False
    named = [g for g in groups if any(a.lower() != "*" and a.lower() in token for a in g[0])]
    chosen = named or [g for g in groups if "*" in g[0]]
    if not chosen:
        return None
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    best: tuple[int, bool, int, str, str] | None = None  # (length, allow, line, agent, text)
    for agents, rules in chosen:
        for number, key, value, raw in rules:
            if not value or not _robots_pattern(value).match(target):
                continue
            candidate = (len(value), key == "allow", number, ", ".join(agents), raw)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    if best is None or best[1]:
        return None
    return best[3], best[2], best[4]


# -- links dropped inside the parser ----------------------------------------------------------


def _page_links(body: bytes, base: str) -> tuple[bool, list[tuple[str, bool]]]:
    """(meta robots nofollow, [(canonical link, rel=nofollow)] in document order)."""
    import lxml.html

    try:
        root = lxml.html.document_fromstring(body)
    except (ValueError, lxml.etree.ParserError):
        return False, []
    nofollow = False
    for meta in root.iter("meta"):
        content = {t for t in re.split(r"[\s,]+", (meta.get("content") or "").lower()) if t}
        if (meta.get("name") or "").lower() == "robots" and content & {"nofollow", "none"}:
            nofollow = True
    for tag in root.iter("base"):
        if tag.get("href"):
            base = urljoin(base, tag.get("href", ""))
            break
    links: list[tuple[str, bool]] = []
    for tag in root.iter("a", "area", "frame", "iframe", "link"):
        rel = set((tag.get("rel") or "").lower().split())
        if tag.tag == "link" and not rel & {"next", "prev"}:
            continue
        href = tag.get("src") if tag.tag in ("frame", "iframe") else tag.get("href")
        if not href or href.strip().startswith("#"):
            continue
        try:
            links.append((canonicalize(urljoin(base, href.strip())), "nofollow" in rel))
        except (InvalidURL, ValueError):
            continue
    return nofollow, links


def _dropped_by_parser(crawl: _Crawl, url: str) -> dict[str, Any] | None:
    """The saved page that links to `url` and the parser rule that dropped the link, if any."""
    try:
        from .parse.extract import MAX_LINKS
    except ImportError:  # pragma: no cover - the parser's cap moved
        MAX_LINKS = 5000
    segments = [s for s in urlsplit(url).path.split("/") if s]
    needle = segments[-1].encode() if segments else None
    scanned = 0
    for record in read_records(crawl.root / "crawl.jsonl"):
        path = record.get("path")
        if not path or "html" not in (record.get("content_type") or ""):
            continue
        file = crawl.root / path
        try:
            body = file.read_bytes()
        except OSError:
            continue
        if needle is not None and needle not in body:
            continue
        scanned += 1
        if scanned > MAX_PAGES_SCANNED:
            break
        base = record.get("final_url") or record["url"]
        nofollow, links = _page_links(body, base)
        mentions = [rel for link, rel in links if link == url]
        if not mentions:
            continue
        parent = {"parent": record["url"], "depth": (record.get("depth") or 0) + 1}
        if nofollow:
            rule = "nofollow"
            reason = f'<meta name="robots" content="nofollow"> on {record["url"]}'
            return {**parent, "rule": rule, "reason": reason}
        if all(mentions):
            return {**parent, "rule": "nofollow", "reason": f'rel="nofollow" on {record["url"]}'}
        followable = list(dict.fromkeys(link for link, rel in links if not rel))
        if url in followable and followable.index(url) >= MAX_LINKS:
            rule = f"the per-page link cap ({MAX_LINKS} links)"
            reason = f"link {followable.index(url) + 1} of {record['url']}, past the cap"
            return {**parent, "rule": rule, "reason": reason}
    return None


# -- the answer -------------------------------------------------------------------------------


def _config_rules(crawl: _Crawl, url: str) -> tuple[str, str | None]:
    """What today's rules would decide for a URL never discovered: (verdict, rule)."""
    from .config import Config

    options = crawl.config()
    seeds = crawl.seeds()
    try:
        config = Config(
            scope=options.get("scope", "host"),
            allow=tuple(options.get("allow", ())),
            deny=tuple(options.get("deny", ())),
        )
    except (ValueError, TypeError):
        config = Config()
    if url in seeds:
        return "admit (it is a seed)", None
    refusals = [refusal_rule(config, url, 1, seed) for seed in seeds] or [None]
    if all(refusals):
        rule = refusals[0][0] if refusals[0] else None
        return f"refuse: {refusals[0][1] if refusals[0] else ''}".rstrip(": "), rule
    trap = trap_reason(url)
    if trap is not None:
        return f"refuse as a trap: {trap}", "trap: " + trap
    if not options.get("ignore_robots"):
        parts = urlsplit(url)
        text = crawl.robots_txt(f"{parts.scheme}://{parts.netloc}")
        agent = options.get("user_agent") or "crawl"
        found = robots_rule(text, agent, url) if text is not None else None
        if found is not None:
            return "refuse: disallowed by robots.txt", _robots_text(url, found)
    return "admit, if a crawled page linked to it", None


def _robots_text(url: str, found: tuple[str, int, str]) -> str:
    parts = urlsplit(url)
    agents, number, line = found
    origin = f"{parts.scheme}://{parts.netloc}"
    return f"{origin}/robots.txt group User-agent: {agents}, line {number}: {line}"


def explain(url: str, output: Path) -> dict[str, Any]:
    """The answer for `url` (any spelling) about the crawl in `output`; raises NoCrawl."""
    try:
        canonical = canonicalize(url)
    except InvalidURL as exc:
        canonical = None
        problem = str(exc)
    wanted = {url} if canonical is None else {url, canonical}
    crawl = _open(output, wanted)
    try:
        return _explain(crawl, url, canonical, problem if canonical is None else None)
    finally:
        if crawl.db is not None:
            crawl.db.close()


def _explain(crawl: _Crawl, url: str, canonical: str | None, problem: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "url": url,
        "canonical": canonical,
        "outcome": "not seen",
        "reason": None,
        "rule": None,
        "chain": [],
        "record": None,
    }
    key = canonical or url
    record = crawl.records.get(key)
    spelled = canonical is not None and canonical != url
    same_page = f"the same page as URL {canonical} after canonicalisation" if spelled else None
    if record is not None:
        answer["record"] = record
        answer["chain"] = _chain(crawl, key)
        error = record.get("error")
        if error is None:
            answer["outcome"] = "fetched"
            final = record.get("final_url")
            answer["reason"] = f"HTTP {record.get('status')}"
            if final and final != key:
                answer["reason"] += f", redirected to {final}"
                if crawl.journal(final) is not None or final not in crawl.redirected_to:
                    answer["rule"] = f"the same page as URL {final} (its own record)"
            answer["rule"] = answer["rule"] or same_page
            return answer
        kind, message = error.get("kind"), error.get("message")
        answer["reason"] = f"{kind}: {message}"
        if kind in _REFUSED_KINDS:
            answer["outcome"] = "refused"
            answer["rule"] = _refused_rule(crawl, key, kind, message)
        else:
            answer["outcome"] = "failed"
            answer["rule"] = same_page
        return answer
    source = crawl.redirected_to.get(key)
    if source is not None:
        answer["record"] = source
        answer["chain"] = _chain(crawl, key)
        answer["outcome"] = "fetched" if source.get("ok") else "failed"
        answer["reason"] = f"reached by a redirect from {source['url']}, recorded under that URL"
        error = source.get("error")
        if error:
            answer["reason"] += f" ({error.get('kind')}: {error.get('message')})"
        answer["rule"] = f"the same page as URL {source['url']} (redirected to it)"
        return answer
    if problem is not None:
        answer["outcome"] = "refused"
        answer["reason"] = f"not a crawlable URL: {problem}"
        answer["rule"] = "only http(s) URLs with a host, up to 2048 characters"
        return answer
    refusal = crawl.refusal(key)
    if refusal is not None:
        rule, reason, _, _, _ = refusal
        answer.update(outcome="refused", rule=rule, reason=reason, chain=_chain(crawl, key))
        return answer
    pending = crawl.journal(key)
    if pending is not None:
        answer["chain"] = _chain(crawl, key)
        answer["reason"] = (
            "admitted but not crawled yet: the crawl stopped before it (--resume continues it)"
        )
        answer["rule"] = same_page
        return answer
    dropped = _dropped_by_parser(crawl, key)
    if dropped is not None:
        answer.update(outcome="refused", rule=dropped["rule"], reason=dropped["reason"])
        parent_chain = _chain(crawl, dropped["parent"])
        answer["chain"] = [{"url": key, "depth": dropped["depth"], "via": "link"}, *parent_chain]
        return answer
    verdict, rule = _config_rules(crawl, key)
    answer["reason"] = (
        f"never discovered: no crawled page links to it; today's rules would {verdict}"
    )
    answer["rule"] = rule
    return answer


def _refused_rule(crawl: _Crawl, url: str, kind: str, message: str | None) -> str:
    if kind == "robots":
        parts = urlsplit(url)
        text = crawl.robots_txt(f"{parts.scheme}://{parts.netloc}")
        agent = crawl.config().get("user_agent") or "crawl"
        found = robots_rule(text, agent, url) if text is not None else None
        if found is not None:
            return _robots_text(url, found)
        return f"{parts.scheme}://{parts.netloc}/robots.txt ({message})"
    if kind == "trap":
        return f"trap: {message}"
    if kind == "blocked":
        return f"the address policy (--allow-private): {message}"
    return f"only http(s) URLs with a host, up to 2048 characters: {message}"


def format_text(answer: dict[str, Any]) -> str:
    """The answer as a few readable lines."""
    lines = [f"{answer['url']}"]
    if answer.get("canonical") and answer["canonical"] != answer["url"]:
        lines.append(f"  canonical: {answer['canonical']}")
    lines.append(f"  outcome:   {answer['outcome']}")
    if answer.get("reason"):
        lines.append(f"  reason:    {answer['reason']}")
    if answer.get("rule"):
        lines.append(f"  rule:      {answer['rule']}")
    for i, step in enumerate(answer.get("chain") or []):
        label = "  chain:     " if i == 0 else "             <- "
        lines.append(f"{label}{step['url']} (depth {step['depth']}, {step['via']})")
    if answer.get("record") is not None:
        lines.append(f"  record:    {json.dumps(answer['record'], ensure_ascii=False)}")
    return "\n".join(lines)


def main(argv: Sequence[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """`crawl why URL --output DIR [--json]`; returns the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = argparse.ArgumentParser(
        prog="crawl why",
        description="Say what became of URL in the crawl in DIR (offline).",
    )
    parser.add_argument("url", metavar="URL", help="the URL, in any spelling")
    parser.add_argument(
        "--output", type=Path, default=Path("output"), metavar="DIR", help="the crawl's folder"
    )
    parser.add_argument("--json", action="store_true", help="answer as one JSON object")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        answer = explain(args.url, args.output)
    except NoCrawl as exc:
        print(f"crawl why: error: --output: {exc}", file=stderr)
        return ExitCode.USAGE
    if args.json:
        print(json.dumps(answer, ensure_ascii=False), file=stdout)
    else:
        print(format_text(answer), file=stdout)
    return ExitCode.OK
