"""Pure URL functions: canonical form, host key, registered domain, scope and filters.

Imported by seeds, frontier, fetch and parse (including the parser processes), so no I/O here.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit, urlunsplit

SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Browsers and search engines give up on URLs much past this length; traps make them longer.
MAX_URL_LENGTH = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def _normalize_path(path: str) -> str:
    """What w3lib leaves: %XX of unreserved characters decoded (so `%2e` is a dot), hex in
    upper case, then dot-segments removed (RFC 3986 6.2.2.2 and 5.2.4)."""
    path = _PERCENT.sub(_percent, path)
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


# An absolute URL that is already nearly canonical: http(s), a plain ASCII host name (LDH labels,
# no IDNA), maybe a port, a path of unreserved characters only, no query, userinfo or fragment.
# Most links of most pages are so; canonicalize() puts them in canonical form without w3lib, with
# the same result (tests/test_urls.py checks the two ways agree).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SIMPLE = re.compile(
    rf"(https?)://((?:{_LABEL}\.)*{_LABEL}\.?)(?::([0-9]{{1,5}}))?(/[A-Za-z0-9._~/-]*)?",
    re.IGNORECASE,
)


def _simple(url: str) -> str | None:
    """The canonical form of a URL that `_SIMPLE` matches, or None (then w3lib decides)."""
    match = _SIMPLE.fullmatch(url)
    if match is None:
        return None
    scheme, host, port, path = match.groups()
    scheme, host = scheme.lower(), host.lower()
    if "xn--" in host:  # punycode is checked by IDNA on the slow path
        return None
    if port is not None:
        number = int(port)
        if number > 65535 or number == 0:
            return None  # the slow path says why
        if number != DEFAULT_PORTS[scheme]:
            host = f"{host}:{number}"
    return f"{scheme}://{host}{_normalize_path(path or '/')}"


class InvalidURL(ValueError):
    """A URL that cannot be admitted; the message says why."""


def canonicalize(url: str) -> str:
    """The canonical form of an absolute http(s) URL, the key of the visited set.

    Scheme and host lower-cased, IDN hosts in punycode, default port and fragment dropped,
    dot-segments removed, percent-encoding normalised, query arguments sorted (as w3lib does).
    Raises InvalidURL for anything else.
    """
    url = url.strip()
    if len(url) <= MAX_URL_LENGTH and (simple := _simple(url)) is not None:
        return simple
    return _canonicalize(url)


def _canonicalize(url: str) -> str:
    """`canonicalize` the long way, through w3lib: for every URL."""
    if _CONTROL.search(url):
        raise InvalidURL("control character in URL")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise InvalidURL(f"scheme {parts.scheme or '(none)'!r} is not http or https")
        if not parts.hostname:
            raise InvalidURL("no host in URL")
        port = parts.port  # raises ValueError on a bad port
        # Checked on the URL as written: w3lib percent-encodes both in the userinfo, which
        # would hide `http://good.example;@evil.example/` and `http://a@b@evil.example/`.
        userinfo = parts.netloc.rpartition("@")[0]
        if ";" in userinfo or "@" in userinfo:
            raise InvalidURL("';' or '@' smuggled in the userinfo part")

        if port == 0:  # "any port" to the system: it would connect to the scheme's default
            raise InvalidURL("port 0 is not a port a server listens on")
        # Imported here: most links take the fast path, and a parser process starts quicker.
        from w3lib.url import canonicalize_url

        canonical = canonicalize_url(url, keep_fragments=False)
        parts = urlsplit(canonical)
    except InvalidURL:
        raise
    except (ValueError, UnicodeError) as exc:
        raise InvalidURL(f"malformed URL: {exc}") from exc
    netloc = parts.netloc.rsplit("@", 1)[-1]
    userinfo = parts.netloc[: -len(netloc)] if "@" in parts.netloc else ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal: keep its brackets
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = _normalize_path(parts.path or "/")
    query = _PERCENT.sub(_percent, parts.query)
    canonical = urlunsplit((scheme, userinfo + host, path, query, ""))
    if len(canonical) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    return canonical


def resolve(base: str, href: str) -> str | None:
    """`href` resolved against `base` and canonicalised, or None if it is not a crawlable URL."""
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    try:
        return canonicalize(urljoin(base, href))
    except (InvalidURL, ValueError):
        return None


@functools.lru_cache(maxsize=65536)
def host_key(url: str) -> str:
    """What "same host" means everywhere: host and non-default port of a canonical URL."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1]


def hostname(url: str) -> str:
    """The host name of a URL, without port or brackets."""
    return urlsplit(url).hostname or ""


@functools.lru_cache(maxsize=1)
def _extractor():  # type: ignore[no-untyped-def]
    import tldextract

    # The public suffix list shipped with tldextract: no download, no cache directory.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@functools.lru_cache(maxsize=4096)
def registered_domain(host: str) -> str:
    """The registrable domain (`a.b.example.co.uk` -> `example.co.uk`); an IP is itself."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    result = _extractor()(host)
    return result.top_domain_under_public_suffix or host


def in_scope(url: str, seed: str, scope: str) -> bool:
    """Whether a link found under `seed` may be followed with the given --scope."""
    if scope == "any":
        return True
    if scope == "host":
        return host_key(url) == host_key(seed)
    return registered_domain(hostname(url)) == registered_domain(hostname(seed))


def passes_filters(
    url: str, allow: Iterable[re.Pattern[str]], deny: Iterable[re.Pattern[str]]
) -> bool:
    """--allow (any must match, if given) and --deny (none may match)."""
    allow = tuple(allow)
    if allow and not any(p.search(url) for p in allow):
        return False
    return not any(p.search(url) for p in deny)


def below_seed(url: str, seed: str) -> bool:
    """--no-parent: whether `url` is in the folder of `seed` or below it (a URL of another
    host is not this rule's business: --scope decides)."""
    if host_key(url) != host_key(seed):
        return True
    folder = urlsplit(seed).path.rpartition("/")[0] + "/"
    return urlsplit(url).path.startswith(folder)


def redact(url: str) -> str:
    """`url` with the password of its login, if any, replaced by `***` (for the output files)."""
    if "@" not in url:
        return url
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
