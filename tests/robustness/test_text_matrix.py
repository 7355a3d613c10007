"""Bad-input matrix of the text boundary: ``text.validate_text`` and ``EmojiRanker.rank``.

Refused texts raise exactly :class:`~emojiqa.errors.TextError` with a message naming the
problem and the fix, through both entry points. Accepted oddities (only emojis, only URLs,
mixed scripts, control characters, NUL bytes) are cleaned and ranked: ``top_k`` results with
finite scores in [-1, 1] and a clean text that is valid UTF-8.
"""

from __future__ import annotations

import math
import unicodedata

import pytest

from emojiqa.errors import TextError
from emojiqa.text import MAX_TEXT_CHARS, validate_text

TOWERS = ["bag", "bilstm"]

EMPTY = dict(what=[r"empty"], fix=[r"give some words"])
REFUSED = {
    "empty": ("", EMPTY),
    "space": (" ", EMPTY),
    "whitespace-only": (" \t\n\r  \u3000\xa0", EMPTY),
    "line-separators-only": ("\u2028\u2029\u0085", EMPTY),
    "control-only": ("\x00\x01\x07\x1b\x7f", EMPTY),
    "nul-only": ("\x00" * 100, EMPTY),
    "fe0f-only": ("\ufe0f\ufe0f", EMPTY),
    "1-MB": ("a" * 2**20, dict(what=[r"1,048,576 characters", r"limit is 10,000"],
                               fix=[r"shorten|split"])),
    "1-MB-of-emojis": ("🎉" * 2**18, dict(what=[r"262,144 characters", r"10,000"],
                                          fix=[r"shorten|split"])),
    "one-over-the-limit": ("a" * (MAX_TEXT_CHARS + 1),
                           dict(what=[r"10,001 characters"], fix=[r"shorten|split"])),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_validate_text_refuses(case, raises_clearly):
    text, patterns = REFUSED[case]
    raises_clearly(TextError, validate_text, text, **patterns)


@pytest.mark.parametrize("tower", TOWERS)
@pytest.mark.parametrize("case", list(REFUSED))
def test_rank_refuses(case, tower, tiny_rankers, raises_clearly):
    text, patterns = REFUSED[case]
    raises_clearly(TextError, tiny_rankers[tower].rank, text, top_k=3, **patterns)


@pytest.mark.parametrize("value", [None, 5, 3.5, ["a list"], b"bytes", {"text": "hi"}],
                         ids=["None", "int", "float", "list", "bytes", "dict"])
def test_validate_text_refuses_non_strings(value, raises_clearly):
    raises_clearly(TextError, validate_text, value, what=[r"must be a string",
                                                          type(value).__name__])


ACCEPTED = {
    # name: (text, expected clean text or None to only check properties)
    "plain": ("great flight, thanks!", "great flight, thanks!"),
    "exactly-the-limit": ("a" * MAX_TEXT_CHARS, None),
    "only-emojis": ("🎉😡🎉👍🏽❤️", "🎉😡🎉👍🏽❤"),
    "only-urls": ("https://example.com/a?b=1 http://t.co/xyz www.x.org", None),
    "only-handles": ("@united @AmericanAir #fail", None),
    "arabic": ("رحلة رائعة شكرا", "رحلة رائعة شكرا"),
    "cjk": ("航班延误了三个小时 最悪のフライト 비행기", None),
    "mixed-scripts": ("great رحلة 航班 🎉 полёт", None),
    "rtl-override": ("\u202egnorw", None),
    "combining-marks": ("h̸̢̛e̵̡l̶l̷o̴", None),
    "control-characters": ("\x07bell\x1b[31mred\x1b[0m", "bell[31mred[0m"),
    "nul-bytes": ("lost\x00 my\x00 bag", "lost my bag"),
    "tabs-and-newlines": ("line one\nline\ttwo\r\n", "line one line two"),
    "fe0f-stripped": ("I love it \u2764\ufe0f ", "I love it ❤"),
    "one-character": ("?", "?"),
    "astral-only": ("\U0001f600", "\U0001f600"),
}


def _check_clean(text: str, clean: str) -> None:
    assert clean == clean.strip() and clean
    assert len(clean) <= len(text)
    assert "\ufe0f" not in clean
    assert not any(unicodedata.category(c) == "Cc" for c in clean)
    clean.encode("utf-8")  # valid Unicode, writable anywhere


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_validate_text_accepts_and_cleans(case):
    text, want = ACCEPTED[case]
    clean = validate_text(text)
    _check_clean(text, clean)
    if want is not None:
        assert clean == want
    assert validate_text(clean) == clean  # idempotent


def test_control_characters_are_removed_not_kept():
    assert validate_text("\x07bell\x1b[31mred") == "bell[31mred"


@pytest.mark.parametrize("tower", TOWERS)
@pytest.mark.parametrize("case", list(ACCEPTED))
def test_rank_accepts(case, tower, tiny_rankers):
    text, _ = ACCEPTED[case]
    res = tiny_rankers[tower].rank(text, top_k=3)
    assert len(res) == 3
    for r in res:
        assert math.isfinite(r.score) and -1.0 - 1e-5 <= r.score <= 1.0 + 1e-5
        assert r.key and r.emoji
    assert [r.score for r in res] == sorted((r.score for r in res), reverse=True)


@pytest.mark.parametrize("tower", TOWERS)
def test_rank_batch_of_odd_texts_equals_one_by_one(tower, tiny_rankers):
    ranker = tiny_rankers[tower]
    texts = [t for t, _ in ACCEPTED.values()]
    batch = ranker.rank(texts, top_k=2)
    for text, res in zip(texts, batch, strict=True):
        single = ranker.rank(text, top_k=2)
        assert [r.key for r in res] == [r.key for r in single]
        assert [r.score for r in res] == pytest.approx([r.score for r in single], abs=1e-5)


# --- invalid surrogates: refused or cleaned, never a crash -----------------------------------
SURROGATES = {
    "lone-high": "hello \ud83d world",
    "lone-low": "hello \ude00 world",
    "only-surrogate": "\ud800",
    "reversed-pair": "\ude00\ud83d",
}
def _surrogate_ok(fn, text):
    try:
        out = fn(text)
    except TextError as exc:
        assert "surrogate" in str(exc).lower() or "unicode" in str(exc).lower(), str(exc)
        return
    if isinstance(out, str):
        out.encode("utf-8")


@pytest.mark.parametrize("case", list(SURROGATES))
def test_validate_text_invalid_surrogates(case):
    _surrogate_ok(validate_text, SURROGATES[case])


@pytest.mark.parametrize("tower", TOWERS)
@pytest.mark.parametrize("case", list(SURROGATES))
def test_rank_invalid_surrogates(case, tower, tiny_rankers):
    _surrogate_ok(lambda t: tiny_rankers[tower].rank(t, top_k=2), SURROGATES[case])


def test_valid_surrogate_pair_in_utf16_form_is_an_emoji():
    # a proper astral character is never split into surrogates by Python
    assert validate_text("\U0001f389") == "🎉"


# --- invisible-only texts --------------------------------------------------------------------
@pytest.mark.parametrize("text", ["\u200b\u200b", "\u2060", "\ufeff", "\u200d\u200d"],
                         ids=["zwsp", "word-joiner", "bom", "zwj"])
def test_invisible_only_text_is_empty(text, raises_clearly):
    raises_clearly(TextError, validate_text, text, **EMPTY)


# --- how rank() takes its input --------------------------------------------------------------
@pytest.mark.parametrize("tower", TOWERS)
def test_rank_empty_list_gives_empty_list(tower, tiny_rankers):
    assert tiny_rankers[tower].rank([], top_k=3) == []


def test_rank_list_names_the_bad_item(tiny_rankers, raises_clearly):
    raises_clearly(TextError, tiny_rankers["bag"].rank, ["fine", "also fine", "  "],
                   what=[r"empty", r"\b2\b|third"])


@pytest.mark.parametrize("value", [None, b"bytes", 42], ids=["None", "bytes", "int"])
def test_rank_refuses_non_text(value, tiny_rankers, raises_clearly):
    raises_clearly(TextError, tiny_rankers["bag"].rank, value,
                   what=[r"string", type(value).__name__])
