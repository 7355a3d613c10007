"""Property-based tests (hypothesis) of emoji keys, image loading, text and ranking.

Exhaustive where the domain is small (every bundled emoji of every style), bounded random
examples elsewhere, so the module runs in seconds. Every property either holds or the input
is refused with an :class:`~emojiqa.errors.EmojiqaError` — never another exception.
"""

from __future__ import annotations

import io
import json
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from emojiqa.emojis import STYLES, EmojiSet, emoji_from_key, info_for, key_from_emoji
from emojiqa.errors import EmojiNotFoundError, EmojiqaError, ImageError
from emojiqa.images import array_to_png_bytes, load_image

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", params=sorted(STYLES))
def style(request) -> EmojiSet:
    return EmojiSet.bundled(request.param)


# --- emoji keys and characters: exhaustive over every bundled emoji ----------------------------
def test_every_key_round_trips(style):
    bad = [k for k in style.keys if key_from_emoji(emoji_from_key(k)) != k]
    assert not bad, f"{len(bad)} keys of {style.style} do not round-trip: {bad[:5]}"


def test_every_metadata_character_gives_its_key(style):
    bad = [k for k in style.keys if key_from_emoji(info_for(k).emoji) != k]
    assert not bad, bad[:5]


def test_every_emoji_found_by_character_key_and_upper_key(style):
    for i, key in enumerate(style.keys):
        assert style.index(key) == i
        assert style.index(key.upper()) == i
        assert style.index(info_for(key).emoji) == i


def test_every_emoji_found_fully_qualified(style):
    """A character sequence with U+FE0F after every code point (as keyboards send) is found."""
    for i, key in enumerate(style.keys):
        if "200d" in key:
            continue
        qualified = "\ufe0f".join(emoji_from_key(key)) + "\ufe0f"
        assert style.index(qualified) == i, key


def test_every_label_finds_the_emoji_of_that_label(style):
    bad = [(style.info(i).label, style.get(style.info(i).label).label)
           for i in range(len(style))
           if style.info(i).label and style.get(style.info(i).label).label != style.info(i).label]
    assert not bad, bad


def test_bundled_key_counts():
    assert len(EmojiSet.bundled("twemoji")) == 4009
    assert all(len(EmojiSet.bundled(s)) > 3000 for s in STYLES)


# code points as keys carry them: no U+FE0F (dropped outside ZWJ sequences), no surrogates
CODEPOINT = st.integers(1, 0x10FFFF).filter(lambda c: c != 0xFE0F and not 0xD800 <= c < 0xE000)


@FAST
@given(st.lists(CODEPOINT, min_size=1, max_size=8))
def test_key_character_round_trip(cps):
    text = "".join(map(chr, cps))
    key = key_from_emoji(text)
    assert key == key.lower() and " " not in key
    assert emoji_from_key(key) == text
    assert key_from_emoji(emoji_from_key(key)) == key


@FAST
@given(st.lists(CODEPOINT, min_size=1, max_size=6))
def test_fe0f_dropped_outside_zwj_sequences(cps):
    if 0x200D in cps:
        return
    plain = "".join(map(chr, cps))
    assert key_from_emoji("\ufe0f".join(plain) + "\ufe0f") == key_from_emoji(plain)


@FAST
@given(st.text(max_size=30))
def test_emoji_from_key_never_crashes(text):
    try:
        out = emoji_from_key(text)
    except EmojiNotFoundError as exc:
        assert str(exc)
    else:
        assert isinstance(out, str)


LOOKUP = settings(FAST, max_examples=12)  # a miss runs the fuzzy search for hints (~0.3 s)


@LOOKUP
@given(st.text(max_size=12))
def test_lookup_finds_or_refuses_clearly(text):
    es = EmojiSet.bundled("twemoji")
    try:
        i = es.index(text)
    except EmojiNotFoundError as exc:
        assert "is not in the twemoji set" in str(exc)
    else:
        assert 0 <= i < len(es)


@LOOKUP
@given(st.text(max_size=12), st.integers(-5, 30))
def test_search_never_crashes(text, limit):
    if limit < 0:
        with pytest.raises(ValueError, match="limit must be a whole number >= 0"):
            EmojiSet.bundled("twemoji").search(text, limit=limit)
        return
    out = EmojiSet.bundled("twemoji").search(text, limit=limit)
    assert len(out) <= limit


def test_long_search_query_is_cheap():
    import time

    es = EmojiSet.bundled("twemoji")
    t0 = time.perf_counter()
    try:
        es.search("party " * 50)
    except EmojiqaError:
        pass  # refusing an over-long query is fine too
    assert time.perf_counter() - t0 < 1.0


# --- image loading ------------------------------------------------------------------------------
MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]
FORMATS = {"1": ["PNG", "BMP", "GIF"], "L": ["PNG", "JPEG", "WEBP", "GIF", "BMP"],
           "LA": ["PNG", "WEBP"], "P": ["PNG", "GIF", "BMP"], "RGB": ["PNG", "JPEG", "WEBP", "BMP"],
           "RGBA": ["PNG", "WEBP", "TIFF"], "I;16": ["PNG", "TIFF"], "I": ["TIFF"],
           "F": ["TIFF"], "CMYK": ["JPEG", "TIFF"]}


def _random_image(rng: np.random.Generator, mode: str, w: int, h: int) -> Image.Image:
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    base = Image.fromarray(rgba, "RGBA")
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(0, 65536, (h, w)).astype(np.int32), "I")
    if mode == "F":
        return Image.fromarray(rng.random((h, w)).astype(np.float32) * 255, "F")
    return base.convert(mode)


@settings(max_examples=80, deadline=None)
@given(mode=st.sampled_from(MODES), w=st.integers(8, 90), h=st.integers(8, 90),
       seed=st.integers(0, 2**16), fmt_pick=st.integers(0, 10))
def test_any_mode_size_and_format_loads_as_36x36_rgba(mode, w, h, seed, fmt_pick):
    fmts = FORMATS[mode]
    fmt = fmts[fmt_pick % len(fmts)]
    img = _random_image(np.random.default_rng(seed), mode, w, h)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    try:
        arr = load_image(buf.getvalue())
    except ImageError as exc:  # a format Pillow writes but cannot read back is refused clearly
        pytest.fail(f"{mode} {w}×{h} {fmt} refused: {exc}")
    assert arr.shape == (36, 36, 4) and arr.dtype == np.uint8


@FAST
@given(st.integers(8, 120), st.tuples(*[st.integers(0, 255)] * 3), st.integers(1, 255))
def test_uniform_square_stays_uniform(side, rgb, alpha):
    """No dark halo: resizing a uniform square keeps its colour (premultiplied alpha)."""
    img = Image.new("RGBA", (side, side), (*rgb, alpha))
    arr = load_image(array_to_png_bytes(np.asarray(img)))
    assert np.abs(arr.astype(int) - np.array([*rgb, alpha])).max() <= 1 + 255 // alpha


@FAST
@given(st.integers(0, 2**32 - 1))
def test_36x36_png_round_trip_is_exact(seed):
    a = np.random.default_rng(seed).integers(0, 256, (36, 36, 4), dtype=np.uint8)
    np.testing.assert_array_equal(load_image(array_to_png_bytes(a)), a)


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_load_or_refuse_clearly(data):
    try:
        arr = load_image(data)
    except ImageError:
        return
    assert arr.shape == (36, 36, 4)


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(0, 255))
def test_mutated_png_loads_or_refuses_clearly(seed, n_flips, value):
    rng = np.random.default_rng(seed)
    data = bytearray(array_to_png_bytes(rng.integers(0, 256, (20, 20, 4), dtype=np.uint8)))
    for pos in rng.integers(0, len(data), n_flips):
        data[pos] = value
    try:
        arr = load_image(bytes(data[: rng.integers(1, len(data) + 1)]))
    except EmojiqaError as exc:
        assert type(exc) is ImageError
        return
    assert arr.shape == (36, 36, 4)


# --- text normalisation -------------------------------------------------------------------------
TEXTS = st.text(max_size=200)  # hypothesis leaves out lone surrogates (see the text matrix)


@settings(FAST, max_examples=300)
@given(TEXTS)
def test_validate_text_cleans_or_refuses(text):
    from emojiqa.errors import TextError
    from emojiqa.text import validate_text

    try:
        clean = validate_text(text)
    except TextError as exc:
        assert "empty" in str(exc)
        assert not text.replace("\ufe0f", "").strip() or all(
            unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp") or c == "\ufe0f"
            or c.isspace() for c in text)
        return
    assert clean and clean == clean.strip()
    assert validate_text(clean) == clean  # idempotent
    assert "\ufe0f" not in clean
    assert not any(unicodedata.category(c) == "Cc" for c in clean)
    assert len(clean) <= len(text)


# --- tokenisation -------------------------------------------------------------------------------
WORDS = st.lists(st.text(st.characters(codec="utf-8"), min_size=1, max_size=12), max_size=30)


@FAST
@given(st.lists(TEXTS, min_size=1, max_size=8), st.integers(1, 30), st.integers(1, 12))
def test_tokenizer_shapes_ranges_and_json_round_trip(corpus, num_words, max_len):
    from emojiqa.text import Tokenizer

    tok = Tokenizer(num_words=num_words, max_len=max_len).fit(corpus)
    ids = tok.encode(corpus)
    assert ids.shape == (len(corpus), max_len) and ids.dtype == np.int64
    assert ids.min(initial=0) >= 0 and ids.max(initial=0) < tok.vocab_size
    again = Tokenizer.from_json(json.loads(json.dumps(tok.to_json())))
    np.testing.assert_array_equal(again.encode(corpus), ids)
    assert again.vocab_size == tok.vocab_size


@FAST
@given(TEXTS)
def test_tokenizer_word_split_is_idempotent(text):
    from emojiqa.text import Tokenizer

    tok = Tokenizer()
    words = tok.words(text)
    assert all(w and " " not in w for w in words)
    assert tok.words(" ".join(words)) == words


@FAST
@given(st.integers(0, 60), st.integers(1, 20))
def test_tokenizer_pads_and_truncates_at_the_front(n_words, max_len):
    from emojiqa.text import Tokenizer

    words = [f"w{i}" for i in range(n_words)]
    tok = Tokenizer(max_len=max_len).fit([" ".join(words)])
    row = tok.encode([" ".join(words)])[0]
    want = [tok.word_index[w] for w in words][-max_len:]
    assert row.tolist() == [0] * (max_len - len(want)) + want


# --- ranking invariants -------------------------------------------------------------------------
QUERY = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
                max_size=60).filter(lambda t: t.replace("\ufe0f", "").strip() and any(
                    unicodedata.category(c)[0] not in "CZ" for c in t))


@settings(FAST, max_examples=40)
@given(QUERY, st.integers(1, 50), st.sampled_from(["bag", "bilstm"]))
def test_rank_scores_order_and_bounds(tiny_rankers, text, top_k, tower):
    ranker = tiny_rankers[tower]
    res = ranker.rank(text, top_k=top_k, emojis="answers")
    assert len(res) == min(top_k, 40)
    scores = [r.score for r in res]
    assert all(np.isfinite(s) and -1 - 1e-5 <= s <= 1 + 1e-5 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert len({r.key for r in res}) == len(res)
    again = ranker.rank(text, top_k=top_k, emojis="answers")
    assert [(r.key, r.score) for r in again] == [(r.key, r.score) for r in res]  # deterministic


@settings(FAST, max_examples=25)
@given(st.lists(QUERY, min_size=1, max_size=5))
def test_rank_fast_path_equals_brute_force(tiny_rankers, texts):
    ranker = tiny_rankers["bag"]
    answers = ranker.answers
    q = ranker.encode_text(texts)  # (B, D), unit rows
    a = ranker.encode_emojis(answers)  # (N, D), unit rows
    brute = q @ a.T
    for row, res in zip(brute, ranker.rank(texts, top_k=5, emojis="answers",
                                                   keyword_weight=0.0), strict=True):
        np.testing.assert_allclose([r.score for r in res], np.sort(row)[::-1][:5], atol=1e-5)


@pytest.mark.parametrize("top_k", [0, -1, -100, 1.5, "3", True, None])
def test_rank_bad_top_k(tiny_rankers, top_k):
    with pytest.raises(ValueError, match="top_k"):
        tiny_rankers["bag"].rank("great flight", top_k=top_k)


def test_rank_top_k_larger_than_the_set(tiny_rankers):
    ranker = tiny_rankers["bag"]
    assert len(ranker.rank("great flight", top_k=10**6, emojis="answers")) == 40
    n = len(ranker.candidates(None)[0])
    assert len(ranker.rank("great flight", top_k=10**6)) == n
