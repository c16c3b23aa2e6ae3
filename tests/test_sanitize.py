"""clean_text: server-supplied text that cannot drive a terminal or forge a log line."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.sanitize import _TABLE, _UNSAFE, clean_text

ESC = "\x1b"
BEL = "\x07"
ST = "\x1b\\"


def assert_inert(text: str) -> None:
    """No character a terminal or a log reader acts on: no C0/C1 control, no line break."""
    for char in text:
        assert unicodedata.category(char) not in ("Cc", "Cs", "Zl", "Zp"), repr(text)
        assert char not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", repr(text)
    assert len(text.splitlines()) <= 1, repr(text)
    text.encode("utf-8")  # printable on a UTF-8 terminal without UnicodeEncodeError


# --- escape sequences --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (f"{ESC}[31mred{ESC}[0m plain", "red plain"),
        (f"{ESC}[1;38;5;196mbold{ESC}[m", "bold"),
        (f"{ESC}[38;2;255;0;0mtruecolor{ESC}[39;49m", "truecolor"),
        (f"{ESC}[?1049h{ESC}[?25lhidden cursor", "hidden cursor"),  # private parameters
    ],
)
def test_colour_codes_are_removed(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    "sequence",
    [
        f"{ESC}[2J",  # erase the screen
        f"{ESC}[H",  # cursor home
        f"{ESC}[10;20H",  # cursor to row 10, column 20
        f"{ESC}[3A",  # cursor up 3: overwrite the lines above
        f"{ESC}[K",  # erase to end of line
        f"{ESC}[1 q",  # cursor shape (an intermediate byte)
        f"{ESC}7",  # save cursor
        f"{ESC}8",  # restore cursor
        f"{ESC}c",  # full reset
        f"{ESC}(0",  # DEC line-drawing character set
        f"{ESC}#8",  # fill the screen with E
        f"{ESC}M",  # reverse index
    ],
)
def test_cursor_movement_and_other_escape_sequences_are_removed(sequence: str) -> None:
    assert clean_text(f"before{sequence}after") == "beforeafter"


def test_osc_8_hyperlink_keeps_only_the_visible_text() -> None:
    for end in (ST, BEL):
        raw = f"see {ESC}]8;;https://evil.example/{end}the docs{ESC}]8;;{end} now"
        assert clean_text(raw) == "see the docs now"


def test_title_setting_osc_is_removed() -> None:
    for osc in ("0", "1", "2"):
        assert clean_text(f"{ESC}]{osc};pwned{BEL}Real title") == "Real title"
        assert clean_text(f"Real {ESC}]{osc};pwned{ST}title") == "Real title"
    # Clipboard write (OSC 52) and the C1 form of OSC, terminated by the C1 ST.
    assert clean_text(f"a{ESC}]52;c;ZWNobyBwd25lZA=={BEL}b") == "ab"
    assert clean_text("a\x9d0;pwned\x9cb") == "ab"


def test_device_control_and_other_strings_are_removed() -> None:
    for intro in ("P", "X", "^", "_"):  # DCS, SOS, PM, APC
        assert clean_text(f"a{ESC}{intro}payload;1;2{ST}b") == "ab"
    assert clean_text("a\x90payload\x9cb") == "ab"  # C1 DCS ... C1 ST


def test_unterminated_osc_leaves_inert_text() -> None:
    # A terminal would swallow the rest waiting for BEL/ST; here ESC goes, the rest is text.
    out = clean_text(f"a{ESC}]0;never ends")
    assert out == "a0;never ends"
    assert_inert(out)


def test_bare_esc_and_truncated_sequences() -> None:
    assert clean_text(f"a{ESC}") == "a"
    assert clean_text(f"{ESC}a") == ""  # ESC a is a (complete) escape sequence
    assert clean_text(f"a{ESC}{ESC}b") == "a"  # ESC ESC: the second starts `ESC b`
    assert clean_text(f"a{ESC}[31") == "a31"  # CSI cut short: no final byte
    assert clean_text(f"x{ESC}[") == "x"
    assert_inert(clean_text(f"{ESC}{ESC}[31m[31m{ESC}"))


def test_bel_and_other_c0_controls_are_removed() -> None:
    assert clean_text(f"ding{BEL}dong") == "dingdong"
    assert clean_text("a\x00b\x08c\x7fd\x0ee\x1af") == "abcdef"  # NUL, BS, DEL, SO, SUB


def test_c1_csi_is_removed_with_its_parameters() -> None:
    assert clean_text("\x9b31mred\x9b0m") == "red"
    assert clean_text("a\x9b2Jb") == "ab"


def test_other_c1_controls_are_removed() -> None:
    c1 = "".join(chr(c) for c in range(0x80, 0xA0) if c != 0x85)
    assert clean_text(f"a{c1}b") == "ab"
    assert clean_text("a\x85b") == "a b"  # NEL is a line break: a space


# --- log-line injection --------------------------------------------------------------------------


def test_cr_lf_cannot_forge_a_log_line() -> None:
    raw = "Home\r\n2024-01-01 12:00:00 ERROR admin password reset\rOK"
    out = clean_text(raw)
    assert out == "Home  2024-01-01 12:00:00 ERROR admin password reset OK"
    line = f"INFO fetched title={out}"
    assert line.splitlines() == [line]
    assert_inert(out)


@pytest.mark.parametrize("sep", ["\n", "\r", "\t", "\v", "\f", "\x1c", "\x1e", "\u2028", "\u2029"])
def test_separators_become_spaces(sep: str) -> None:
    assert clean_text(f"a{sep}b") == "a b"


def test_bidi_overrides_are_removed_but_marks_kept() -> None:
    # U+202E would show "moc.elgoog//:sptth" reversed: the override goes, the text stays.
    assert clean_text("click \u202ecod.exe") == "click cod.exe"
    assert clean_text("\u2066a\u2069 \u202ab\u202c") == "a b"
    assert clean_text("a\u200eb\u200fc") == "a\u200eb\u200fc"  # LRM, RLM: harmless marks


def test_lone_surrogate_becomes_replacement_character() -> None:
    out = clean_text("a\ud800b\udfffc")
    assert out == "a\ufffdb\ufffdc"
    out.encode("utf-8")


# --- what is kept --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "Café crème — l'été à Paris",
        "日本語のページ「テスト」",
        "مرحبا بالعالم",  # Arabic (right to left, no bidi controls needed)
        "שלום עולם",
        "Ελληνικά · Русский · हिन्दी · ไทย",
        "emoji 👩‍💻 (ZWJ) 🇫🇷 flags, ✓ done",
        "math: ∑ x² ≤ ∞, quotes “” \u2018\u2019 « »",
        "ASCII only: <b>&amp;</b> [31m is just text",
        "",
    ],
)
def test_normal_unicode_text_is_unchanged(title: str) -> None:
    assert clean_text(title) == title


# --- truncation ----------------------------------------------------------------------------------


def test_truncation_to_limit() -> None:
    assert clean_text("x" * 5000) == "x" * 1000  # the default limit
    assert clean_text("abcdef", limit=3) == "abc"
    assert clean_text("abc", limit=0) == ""
    assert clean_text("é" * 10, limit=4) == "éééé"  # characters, not bytes


def test_truncation_counts_the_cleaned_text() -> None:
    # The sequences are removed first, so the limit is spent on visible text only.
    assert clean_text(f"{ESC}[31m" * 100 + "visible", limit=7) == "visible"


def test_negative_limit_is_an_error() -> None:
    with pytest.raises(ValueError, match="limit"):
        clean_text("x", limit=-1)


def test_unsafe_pattern_matches_exactly_the_table() -> None:
    # The fast path returns text with no _UNSAFE match unchanged: it must cover every key.
    assert {c for c in range(0x110000) if _UNSAFE.match(chr(c))} == set(_TABLE)


def test_a_megabyte_is_cleaned_quickly() -> None:
    import time

    raw = f"é{ESC}[31mred{ESC}[0m\r\n{ESC}]0;t{BEL}\x9b1m" * 50_000
    started = time.perf_counter()
    out = clean_text(raw, limit=len(raw))
    assert time.perf_counter() - started < 1.0
    assert out == "éred  " * 50_000


# --- property ----------------------------------------------------------------------------------

hostile_text = st.text(
    st.sampled_from(
        [
            *(ESC, BEL, "\x9b", "\x9c", "\x9d", "\x90", "\x85", "[", "]", "\\", ";", "0", "1"),
            *("m", "H", "\r", "\n", "\t", "\x00", "\x7f", "\u202e", "\u2028", "\ud800"),
            *("a", "é", "日", " "),
        ]
    ),
    max_size=60,
)


@settings(max_examples=500, deadline=None, database=None)
@given(hostile_text | st.text(max_size=60), st.integers(min_value=0, max_value=80))
def test_property_output_is_always_inert_and_short(raw: str, limit: int) -> None:
    out = clean_text(raw, limit)
    assert_inert(out)
    assert len(out) <= limit
    assert clean_text(out, limit) == out  # idempotent
