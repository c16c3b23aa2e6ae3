"""Make server-supplied text safe to print on a terminal or to write into one log line.

Titles, URLs and error messages come from the sites being crawled. Printed as they are, they can
drive the terminal (colours, cursor moves, a new window title, OSC 8 hyperlinks, clearing the
screen) or forge log lines (a CR or LF followed by a fake entry). `clean_text` removes all of
that and keeps ordinary text, in any script, as it is.

Pure, no I/O; imported by the parser processes.
"""

from __future__ import annotations

import re

__all__ = ["clean_text"]

# Whole escape sequences (ECMA-48), removed with their parameters so that no `[31m` debris is
# left behind. 7-bit (ESC ...) and 8-bit (C1) introducers alike:
# - CSI: ESC [ or 0x9B, parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, a final byte
#   0x40-0x7E (colours, cursor movement, erase, ...);
# - control strings: OSC (ESC ] or 0x9D: window title, OSC 8 hyperlinks, clipboard), DCS (ESC P,
#   0x90), SOS (ESC X, 0x98), PM (ESC ^, 0x9E), APC (ESC _, 0x9F), up to and including their
#   terminator BEL or ST (ESC \ or 0x9C);
# - any other escape sequence: ESC, intermediate bytes 0x20-0x2F, one final byte 0x30-0x7E
#   (ESC c resets the terminal, ESC 7 saves the cursor, ESC ( 0 switches the character set).
# What is left of an unterminated or malformed sequence loses its ESC/C1 byte below, so it is
# inert text: no ESC or C1 byte ever reaches the output.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]"
)


def _table() -> dict[int, str | None]:
    """What becomes of each remaining code point that is not plain text."""
    table: dict[int, str | None] = {}
    # Every C0 control, DEL and every C1 control goes (BEL, backspace, a lone ESC, NUL, ...).
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0)):
        table[code] = None
    # ... except the ones that separate words or lines: they become one space each, so that
    # "a\nb" stays two words and no text can start a new line. NEL (0x85), LINE SEPARATOR and
    # PARAGRAPH SEPARATOR end a line for some log readers (and for str.splitlines).
    for char in "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029":
        table[ord(char)] = " "
    # Bidirectional embeddings, overrides and isolates reorder the rest of the line as it is
    # displayed (a URL shown backwards, "Trojan Source"); the marks LRM/RLM are harmless and stay.
    for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)):
        table[code] = None
    # A lone surrogate cannot be encoded as UTF-8: printing it would raise UnicodeEncodeError.
    for code in range(0xD800, 0xE000):
        table[code] = "\ufffd"
    return table


_TABLE = _table()
# Exactly the keys of _TABLE (a test checks it): text without any of them is returned as it is.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean_text(text: str, limit: int = 1000) -> str:
    """`text` without terminal escape sequences or control characters, at most `limit` long.

    Escape sequences (CSI, OSC, DCS/SOS/PM/APC, other ESC sequences, 7-bit or C1) are removed
    whole; tabs, line breaks and other separators become a space; every other control character
    (C0, DEL, C1), bidi embedding/override/isolate characters go; a lone surrogate becomes
    U+FFFD. Everything else, in any script, is kept as it is. The result is cut to `limit`
    characters (code points).
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    if _UNSAFE.search(text) is None:  # the usual case: nothing to do
        return text[:limit]
    return _SEQUENCE.sub("", text).translate(_TABLE)[:limit]
