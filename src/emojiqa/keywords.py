"""Keyword boost: words of a text that name an emoji in its CLDR metadata.

The ranker scores an emoji by what its answer tower learned; a model trained mostly on tweets
knows the 20 emojis people tweet most far better than 🍕 or ☕. Every emoji also comes with
words — its CLDR name, keywords and extra keywords — and a text that says "pizza" is asking
for 🍕 whatever the model learned. :class:`KeywordIndex` turns those words into a score in
``[0, 1]`` per candidate, which :meth:`emojiqa.ranker.EmojiRanker.rank` mixes with the cosine:
``(1 - w) * cosine + w * keyword_score`` (``w`` = ``keyword_weight``, 0 switches it off, and
the mix stays in ``[-1, 1]``).

A word scores 1 when it is the emoji's whole name, 0.85 when it is a word of a longer name or
one of its keywords, and 0.7 when it is one of the extra keywords (so "pizza" names 🍕 before
🍄‍🟫, which lists it as a keyword, and "dog" names 🐕 before 🌭), times its specificity
``1 / (1 + log2(n) / 8)`` where ``n`` is how many candidates carry it (``dog`` names a
handful of emojis, ``face`` hundreds). An emoji's score combines the text's words as
``1 - prod(1 - s_word)``, so two words that both name ☕ count more than one.
Words are lower-cased, split on anything but letters and digits, a plural ``s`` is dropped,
and words of fewer than 3 letters or in :data:`STOPWORDS` are ignored.
Emojis without metadata (a user's own images) score 0.

Example:
    >>> from emojiqa.emojis import EmojiSet
    >>> index = KeywordIndex(EmojiSet.load("twemoji"))
    >>> scores = index.scores(["this pizza is amazing"])
    >>> EmojiSet.load("twemoji").keys[int(scores[0].argmax())]
    '1f355'
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

import numpy as np

from .emojis import EmojiSet, info_for

#: Weight of a word of the emoji's CLDR name or keywords (the whole one-word name weighs 1).
KEYWORD_WEIGHT = 0.85
#: Weight of a word that is one of the emoji's extra keywords.
EXTRA_WEIGHT = 0.7
#: Default ``keyword_weight`` of :meth:`~emojiqa.ranker.EmojiRanker.rank`.
DEFAULT_KEYWORD_WEIGHT = 0.6
#: Words that say nothing about which emoji answers (besides words of 1–2 letters).
STOPWORDS = frozenset("""
about after again all also and any are around back because been before being but can cant
could did didnt does doesnt doing dont down each even ever every for from get getting got had
has have having her here hers him his how into its just know let like made make many more
most much must never not now off once one only other our out over own really same see she
should since some still such than that the their them then there these they thing things
this those through too under until very want was way well were what when where which while
who why will with would yet you your yours today tonight day days time everyone
someone anyone everybody somebody thank thanks please lol omg
""".split())
_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


def words_of(text: str) -> list[str]:
    """The normalised words of ``text`` that can match a keyword.

    Example:
        >>> words_of("My dogs are the CUTEST!!")
        ['dog', 'cutest']
    """
    out = []
    for w in _SPLIT.split(text.lower()):
        w = _normal(w)
        if w is not None:
            out.append(w)
    return out


def _normal(w: str) -> str | None:
    """One lower-cased word, normalised, or None when it cannot match a keyword."""
    if len(w) < 3 or w.isdigit() or w in STOPWORDS:
        return None
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return w


class _Lookup(dict):
    """Raw lower-cased word → the index entry of its normal form (None: no emoji carries
    it), computed on first use."""

    def __init__(self, index: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        super().__init__()
        self.index = index

    def __missing__(self, raw: str) -> tuple[np.ndarray, np.ndarray] | None:
        word = _normal(raw)
        hit = self[raw] = self.index.get(word) if word is not None else None
        return hit


class KeywordIndex:
    """Inverted index from normalised words to the candidates whose metadata carries them."""

    def __init__(self, emojis: EmojiSet) -> None:
        self.size = len(emojis)
        weights: dict[str, dict[int, float]] = {}
        for i, key in enumerate(emojis.keys):
            info = info_for(key)
            name = words_of(info.label)
            for phrases, w in (((info.label, *info.keywords), KEYWORD_WEIGHT),
                               (info.extra_keywords, EXTRA_WEIGHT)):
                for phrase in phrases:
                    for word in words_of(phrase):
                        row = weights.setdefault(word, {})
                        row[i] = max(row.get(i, 0.0), 1.0 if name == [word] else w)
        self._index: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for word, row in weights.items():
            spec = 1.0 / (1.0 + math.log2(len(row)) / 8)
            idx = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
            val = np.fromiter(row.values(), dtype=np.float32, count=len(row)) * spec
            with np.errstate(divide="ignore"):  # a score of 1: log(0) = -inf, exp gives 0
                self._index[word] = (idx, np.log1p(-val).astype(np.float32))
        #: raw lower-cased word → its index entry (None: no emoji carries it), filled on use
        self._lookup = _Lookup(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def _hits(self, text: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(candidates, log(1 - score))`` of each distinct word of ``text`` that names a
        candidate."""
        lookup = self._lookup
        if len(lookup) > 200_000:
            lookup.clear()
        hits = list(filter(None, map(lookup.__getitem__, dict.fromkeys(
            _SPLIT.split(text.lower())))))
        if len(hits) < 2:
            return hits
        return list({id(h): h for h in hits}.values())  # "dog", "dogs": the entry once

    def add_to(self, sims: np.ndarray, texts: Sequence[str], weight: float) -> np.ndarray:
        """``sims += weight * scores(texts)`` in place, touching only the non-zero scores.

        Args:
            sims: C-contiguous float32 ``(len(texts), N)`` scores (e.g. cosines).
            texts: the texts.
            weight: the multiplier of the keyword scores.

        Returns:
            ``sims``.
        """
        if sims.shape != (len(texts), self.size) or sims.dtype != np.float32 or not (
                sims.flags.c_contiguous and sims.flags.writeable):
            raise ValueError(f"sims must be a writeable C-contiguous float32 array of shape "
                             f"{(len(texts), self.size)}, got {sims.dtype} {sims.shape}")
        per_text = list(map(self._hits, texts))
        hits = list(itertools.chain.from_iterable(per_text))
        if not hits:
            return sims
        cols, logs = zip(*hits, strict=True)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64) * self.size,
                         np.fromiter(map(len, per_text), np.int64, len(per_text)))
        pos = np.concatenate(cols) + np.repeat(rows, np.fromiter(map(len, cols), np.int64,
                                                                 len(cols)))
        # log prod(1 - s) per distinct (text, candidate), summed in float64 by bincount
        uniq, inv = np.unique(pos, return_inverse=True)
        acc = np.bincount(inv, weights=np.concatenate(logs), minlength=len(uniq))
        flat = sims.reshape(-1)
        # noisy-or 1 - prod(1 - s)
        flat[uniq] += np.float32(weight) * (1.0 - np.exp(acc)).astype(np.float32)
        return sims

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), N)`` float32 keyword scores in ``[0, 1]``."""
        return self.add_to(np.zeros((len(texts), self.size), dtype=np.float32), texts, 1.0)
