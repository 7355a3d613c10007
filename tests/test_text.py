"""Tokenizer (Keras rules), text validation, GloVe loading, n-grams and the text towers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emojiqa.errors import DataFileError, TextError
from emojiqa.text import (
    KERAS_FILTERS,
    MAX_TEXT_CHARS,
    AttentionTower,
    BiLSTMTower,
    CNNTower,
    Tokenizer,
    glove_matrix,
    load_glove_text,
    ngram_batch,
    ngram_ids,
    validate_text,
)


def test_keras_word_rules():
    tok = Tokenizer()
    assert tok.words("Hello, World!! It's @united's #1 flight...") == [
        "hello", "world", "it's", "united's", "1", "flight"]
    assert tok.words("a\tb\nc--d") == ["a", "b", "c", "d"]
    assert "'" not in KERAS_FILTERS  # Keras keeps apostrophes


def test_words_found_by_one_regex_equal_keras_translate_and_split():
    """Words are found with one regex call: the same words as Keras' translate + split, for
    random texts over filtered characters, spaces, other whitespace and non-ASCII, and for
    other filters and splits (a split of several characters takes Keras' own path)."""
    import random

    rng = random.Random(3)
    alphabet = KERAS_FILTERS + "  aAbZ'’é😡\r\u00a0\u2009]^-\\"

    def keras(text: str, filters: str, split: str) -> list[str]:
        text = text.lower().translate(str.maketrans({c: split for c in filters}))
        return [w for w in text.split(split) if w]

    for filters, split in ((KERAS_FILTERS, " "), ("]^-\\", " "), ("", " "), ("!", "a"),
                           (KERAS_FILTERS, "ab")):
        tok = Tokenizer(filters=filters, split=split)
        assert (tok._runs is None) == (len(split) != 1)
        for _ in range(300):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
            assert tok.words(text) == keras(text, filters, split), (filters, split, text)


def test_word_index_by_frequency_ties_first_seen():
    tok = Tokenizer().fit(["b a", "c a", "b a"])
    assert tok.word_index == {"a": 1, "b": 2, "c": 3}
    tok = Tokenizer().fit(["x y z"])
    assert tok.word_index == {"x": 1, "y": 2, "z": 3}


def test_num_words_keeps_indices_below_it():
    tok = Tokenizer(num_words=3).fit(["a a a b b c"])
    assert tok.texts_to_sequences(["c b a unknown"]) == [[2, 1]]
    assert tok.vocab_size == 3


def test_pre_padding_and_pre_truncation():
    tok = Tokenizer(max_len=3).fit(["a b c d e"])
    out = tok.encode(["a b", "a b c d e"])
    assert out.dtype == np.int64
    assert out.tolist() == [[0, 1, 2], [3, 4, 5]]  # keeps the last 3 tokens


def test_batch_encoding_equals_sequences_then_padding():
    """``encode_words`` looks up and places a whole batch at once: the same matrix as the
    Keras steps one text at a time (unknown words and words past num_words dropped, then
    pre-truncation and pre-padding), for empty texts and texts longer than max_len."""
    import random

    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(30)]
    corpus = [" ".join(rng.choices(vocab, k=rng.randint(0, 12))) for _ in range(200)]
    for num_words, max_len in ((None, 5), (10, 3), (2, 8), (50, 1)):
        tok = Tokenizer(num_words=num_words, max_len=max_len).fit(corpus)
        texts = corpus + ["", "nope never", " ".join(vocab * 2)]
        words = [tok.words(t) for t in texts]
        assert np.array_equal(tok.encode_words(words),
                              tok.pad(tok.words_to_sequences(words)))
    assert tok.encode_words([]).shape == (0, 1)


def test_json_round_trip_encodes_identically():
    texts = ["The flight was late!!", "great crew, thanks", "late again?"]
    tok = Tokenizer(num_words=5, max_len=6).fit(texts)
    tok2 = Tokenizer.from_json(tok.to_json())
    assert np.array_equal(tok.encode(texts), tok2.encode(texts))
    assert len(tok.to_json()["words"]) == 4


@pytest.mark.parametrize("bad", ["", "   ", "\t\n", "\x00\x01", "\ufe0f"])
def test_validate_text_rejects_empty(bad):
    with pytest.raises(TextError, match="empty"):
        validate_text(bad)


def test_validate_text_rejects_long_and_non_str():
    with pytest.raises(TextError, match="10,000"):
        validate_text("a" * (1 << 20))
    validate_text("a" * MAX_TEXT_CHARS)
    with pytest.raises(TextError, match="string"):
        validate_text(None)


def test_validate_text_cleans():
    assert validate_text(" hi\x00 there\n\u2764\ufe0f ") == "hi there \u2764"


def test_load_glove_text(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("the 0.1 0.2\nflight -1 2.5\n", encoding="utf-8")
    words, vecs = load_glove_text(p)
    assert words == ["the", "flight"] and vecs.shape == (2, 2) and vecs.dtype == np.float32
    tok = Tokenizer().fit(["flight flight zzz"])
    mat, cover = glove_matrix(tok, (words, vecs))
    assert mat.shape == (3, 2) and np.allclose(mat[1], [-1, 2.5]) and np.all(mat[0] == 0)
    assert cover == 0.5
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2\nb 1\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="line 2"):
        load_glove_text(bad)


def test_ngram_ids_stable_and_in_range():
    a = ngram_ids("Great flight!!", 1000, ["great", "flight"])
    b = ngram_ids("Great flight!!", 1000, ["great", "flight"], cache={})
    assert np.array_equal(a, b)
    assert a.min() >= 1 and a.max() < 1000
    assert ngram_ids("", 1000, []).tolist() == [0]


def test_ngram_ids_do_not_depend_on_what_the_cache_saw():
    """A word n-gram and a whitespace token with the same spelling ("as" → "was") never
    share a cache entry, so a text's ids are the same whatever came before it."""
    fresh = ngram_ids("it was bad", 1000, ["it", "was", "bad"], cache={})
    cache: dict = {}
    ngram_ids("so as to", 1000, ["so", "as", "to"], cache=cache)  # word "as": key "was"
    assert np.array_equal(ngram_ids("it was bad", 1000, ["it", "was", "bad"], cache=cache),
                          fresh)


def test_ngram_ids_are_pinned():
    """The hashing is part of every trained model with an n-gram bag: these ids must never
    change (they are those the shipped models were trained with)."""
    assert ngram_ids("Good bad!", 1000, ["good", "bad"]).tolist() == [
        687, 822, 781, 171, 774, 362, 152, 466, 742, 686, 664, 789, 415, 247, 74, 446, 815,
        218, 473, 875, 639, 32, 958, 991, 886, 496, 293, 85, 643, 310, 242]


def test_ngram_cache_is_per_setting_and_bounded(monkeypatch):
    """One cache serves several bucket counts without mixing their ids, and a long-lived
    cache starts over past NGRAM_CACHE_LIMIT entries instead of growing without end."""
    import emojiqa.text as text_mod

    tok = Tokenizer()
    texts = [f"word{i} and more words {i % 7}" for i in range(200)]
    words = [tok.words(t) for t in texts]
    shared: dict = {}
    for buckets in (1000, 5003):
        ids, offsets = ngram_batch(texts, words, buckets, 2, (2, 5), shared)
        fresh_ids, fresh_offsets = ngram_batch(texts, words, buckets, 2, (2, 5), {})
        assert np.array_equal(ids, fresh_ids) and np.array_equal(offsets, fresh_offsets)
    monkeypatch.setattr(text_mod, "NGRAM_CACHE_LIMIT", 50)
    bounded: dict = {}
    ids, _ = ngram_batch(texts, words, 1000, 2, (2, 5), bounded)
    assert np.array_equal(ids, ngram_batch(texts, words, 1000, 2, (2, 5), {})[0])
    # memo tables stay within the limit; the word table of a batch holds that batch's words
    # (all needed at once) and starts over when the next batch's new words would pass it
    assert all(len(table) <= 50 for key, table in bounded.items() if key[0] != "word-table")
    others = [f"other{i} words" for i in range(40)]
    ngram_batch(others, [tok.words(t) for t in others], 1000, 2, (2, 5), bounded)
    assert len(bounded["word-table", 999]) == 41
    assert np.array_equal(ngram_batch(texts, words, 1000, 2, (2, 5), bounded)[0], ids)


def test_word_pair_ids_from_the_crc_of_their_words():
    """A batch's word-pair ids come from its words' CRC-32s (CRC-32 is linear): equal to
    hashing each pair's text, for non-ASCII words and words longer than any seen before."""
    import random
    import zlib

    import emojiqa.text as text_mod

    rng = random.Random(1)
    alphabet = "abcxyz'’é😡🇺🇸✈\u0301"
    vocab = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    vocab += ["q" * 200, "r" * 3000]
    for m in (999, 16383):
        table = text_mod._WordTable(m)
        for _ in range(3):  # the table grows between batches (past its first allocation)
            a = [rng.choice(vocab) for _ in range(1000)]
            b = [rng.choice(vocab) for _ in range(1000)]
            rows = table.rows_of(a + b, 2000)
            got = table.bigram(rows[:1000], rows[1000:])
            want = [zlib.crc32(f"w{x} {y}".encode()) % m + 1 for x, y in zip(a, b, strict=True)]
            assert got.tolist() == want
            assert table.unigram[rows].tolist() == [zlib.crc32(f"w{x}".encode()) % m + 1
                                                    for x in a + b]
    x, y = np.array([0x12345678, 0xFFFFFFFF], np.uint32), np.array([0x9ABCDEF0, 1], np.uint32)
    assert text_mod._multmodp(x, y).tolist() == [text_mod._multmodp_int(int(p), int(q))
                                                 for p, q in zip(x, y, strict=True)]


def test_bulk_char_ngrams_equal_the_one_token_path(monkeypatch):
    """A batch's new tokens are hashed together in numpy: the same ids, in the same order,
    as hashing each token alone (edge cases: 1 character, repeats, 60+ chars, the wrapping
    characters themselves, characters of 2–4 UTF-8 bytes and combining marks, n-gram ranges
    other than the default; a batch with over 128 characters beyond ASCII hashes its other
    tokens one by one)."""
    import random
    import string

    import emojiqa.text as text_mod

    rng = random.Random(0)
    tokens = ["a", "ab", "aaaaaaa", "ababab", "<", ">", "<>", "x" * 61, "y" * 80, "don't",
              *("".join(rng.choice(string.ascii_lowercase[:6] + "!'#@1")
                        for _ in range(rng.randint(1, 25))) for _ in range(300))]
    tokens += ["café", "i’ll", "…", "😡😡", "🇺🇸", "e\u0301", "ab😡c…" * 12,
               *("".join(rng.choice("ab’…é😡✈\u0301\u200d") for _ in range(rng.randint(1, 9)))
                 for _ in range(100))]
    for lo, hi in ((2, 5), (1, 3), (3, 3), (4, 6)):
        for m in (999, 16383):
            got = text_mod._char_ngram_bytes_many(tokens, m, lo, hi)
            want = [np.array(text_mod._char_ngram_ids(t, m, lo, hi), dtype="<i8").tobytes()
                    for t in tokens]
            assert got == want, (lo, hi, m)
    tok = Tokenizer()
    texts = [" ".join(rng.sample(tokens, 5)) + " café 😡" for _ in range(64)]
    words = [tok.words(t) for t in texts]
    bulk = ngram_batch(texts, words, 16384, 2, (2, 5), {})
    monkeypatch.setattr(text_mod, "BULK_MIN_TEXTS", 10**9)
    one_by_one = ngram_batch(texts, words, 16384, 2, (2, 5), {})
    assert all(np.array_equal(a, b) for a, b in zip(bulk, one_by_one, strict=True))
    many = [f"x{chr(0x4e00 + i)}y a{chr(0x4e00 + i)}" for i in range(200)]  # 200 wide chars
    many_words = [tok.words(t) for t in many]
    slow = ngram_batch(many, many_words, 16384, 2, (2, 5), {})
    monkeypatch.setattr(text_mod, "BULK_MIN_TEXTS", 16)
    fast = ngram_batch(many, many_words, 16384, 2, (2, 5), {})
    assert all(np.array_equal(a, b) for a, b in zip(fast, slow, strict=True))
    with pytest.raises(ValueError, match="128"):
        text_mod._char_ngram_bytes_many([chr(0x4e00 + i) for i in range(129)], 999, 2, 5)


def test_ngram_batch_is_the_texts_ids_concatenated():
    tok = Tokenizer()
    texts = ["Great flight!!", "", "late, late again 😡", "a b c d"]
    words = [tok.words(t) for t in texts]
    ids, offsets = ngram_batch(texts, words, 1000, 2, (2, 5), {})
    each = [ngram_ids(t, 1000, w) for t, w in zip(texts, words, strict=True)]
    assert np.array_equal(ids, np.concatenate(each))
    assert offsets.tolist() == np.cumsum([0, *map(len, each[:-1])]).tolist()
    assert offsets.dtype == np.int64 and ids.dtype == np.int64
    empty_ids, empty_offsets = ngram_batch([], [], 1000)
    assert len(empty_ids) == 0 and len(empty_offsets) == 0


def test_towers_shapes_and_padding():
    emb = torch.randn(3, 20, 8)
    mask = torch.ones(3, 20, dtype=torch.bool)
    mask[2] = False  # an all-padding text gives finite zeros
    assert BiLSTMTower(8, 5, 20, 10)(emb, mask).shape == (3, 20)
    out = CNNTower(8, 6, (2, 3))(emb, mask)
    assert out.shape == (3, 12) and torch.isfinite(out).all() and (out[2] == 0).all()
    out = AttentionTower(8, 6)(emb, mask)
    assert out.shape == (3, 12) and torch.isfinite(out).all()
