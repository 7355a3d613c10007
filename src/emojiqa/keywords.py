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
and words of fewer than 3 letters or in :data:`STOPWORDS` are ignored. An ``-es`` / ``-ies`` plural
also names the emojis of its singular (``tomatoes`` → ``tomato``, ``berries`` → ``berry``,
``boxes`` → ``box``). A flag of a place of several words is named by the whole place only
(``new zealand`` names 🇳🇿; ``new`` and ``christmas`` name no flag).
:meth:`KeywordIndex.explain` says which words of a text named which emojis.
Emojis without metadata (a user's own images) score 0.

Example:
    >>> from emojiqa.emojis import EmojiSet
    >>> index = KeywordIndex(EmojiSet.load("twemoji"))
    >>> scores = index.scores(["this pizza is amazing"])
    >>> EmojiSet.load("twemoji").keys[int(scores[0].argmax())]
    '1f355'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .emojis import EmojiSet, info_for

#: Weight of a word of the emoji's CLDR name or keywords (the whole one-word name weighs 1).
KEYWORD_WEIGHT = 0.85
#: Weight of a word that is one of the emoji's extra keywords.
EXTRA_WEIGHT = 0.7
#: Default ``keyword_weight`` of :meth:`~emojiqa.ranker.EmojiRanker.rank`: chosen on the dev
#: half of the labelled everyday texts (``benchmarks/suggest.py``: the smallest weight within
#: 0.01 of the best dev MRR of the bundled model).
DEFAULT_KEYWORD_WEIGHT = 0.8
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


#: A word, or the NUL that :meth:`KeywordIndex.add_to` puts between the texts of a batch.
_WORD_OR_BREAK = re.compile(r"\w+|\x00", re.UNICODE)
#: Entry number of the break between two texts (0: a word no emoji carries).
_BREAK = -1
#: Raw words a :class:`KeywordIndex` remembers before it starts a new lookup afresh.
LOOKUP_LIMIT = 200_000
#: Texts whose keyword scores :meth:`KeywordIndex.add_to` sums in one scratch array.
_SCRATCH_ROWS = 256


class _Lookup(dict):
    """Raw lower-cased word → the number of its normal form's index entry (0: no emoji
    carries it; ``_BREAK`` for the NUL between texts), filled by :meth:`learn`."""

    def __init__(self, numbers: dict[str, int]) -> None:
        super().__init__({"\x00": _BREAK})
        self.numbers = numbers

    def learn(self, words: list[str]) -> None:
        """Add the words of ``words`` it does not know yet (each distinct word once)."""
        numbers = self.numbers
        for raw in [w for w in set(words) if w not in self]:
            hit, word = 0, _normal(raw)
            if word is not None:
                hit = numbers.get(word, 0)
                if not hit and raw.endswith("es"):
                    hit = next((numbers[f] for f in _singulars(raw) if f in numbers), 0)
            self[raw] = hit


def explain_ranking(ranked: Sequence[Any], text: str, candidates: EmojiSet, weight: float,
                    index: KeywordIndex | None = None) -> list[dict[str, Any]]:
    """Each ranked emoji's score ``(1 - w) * model + w * keyword_score`` taken apart: the
    model's part (cosine and any head term; None at ``w = 1``), the keyword score and the
    words of ``text`` that named the emoji (at ``w = 0`` they are reported, though they did
    not count).

    Args:
        ranked: the :class:`~emojiqa.emojis.RankedEmoji` results of ``text``.
        text: the text they answer.
        candidates: the candidate set they were ranked among (keyword scores depend on how
            many candidates carry a word).
        weight: the keyword weight ``w`` of that ranking.
        index: the candidates' :class:`KeywordIndex` (built here when None).

    Returns:
        One dict per result: ``model_score``, ``keyword_score``, ``keywords`` (words).
    """
    index = index if index is not None else KeywordIndex(candidates)
    hits = index.explain(text)  # at w = 0 too: the words that would have named it
    where = {k: i for i, k in enumerate(candidates.keys)}
    out = []
    for r in ranked:
        words = hits.get(where.get(r.key, -1), [])
        kw = noisy_or([s for _, s in words])
        model = (r.score - weight * kw) / (1.0 - weight) if weight < 1 else None
        out.append({"model_score": model, "keyword_score": kw,
                    "keywords": [w for w, _ in words]})
    return out


def noisy_or(scores: Sequence[float]) -> float:
    """``1 - prod(1 - s)``: how :class:`KeywordIndex` combines the scores of a text's words."""
    return 1.0 - math.prod(1.0 - s for s in scores)


def _singulars(raw: str) -> list[str]:
    """Singulars of a lower-cased ``-es`` / ``-ies`` plural that dropping the ``s`` misses
    (``tomatoes`` → ``tomato``, ``berries`` → ``berry``, ``glasses`` → ``glass``)."""
    if len(raw) <= 4 or not raw.endswith("es"):
        return []
    return [raw[:-3] + "y", raw[:-2]] if raw.endswith("ies") else [raw[:-2]]


def _place_name(label: str) -> str | None:
    """The lower-cased place of a flag's label, its words separated by single spaces
    (``"flag: St. Kitts & Nevis"`` → ``"st kitts nevis"``), or None for other flags."""
    if not label.startswith("flag: "):
        return None
    return " ".join(re.findall(r"\w+", label[len("flag: "):].lower(), re.UNICODE)) or None


def _phrase_token(phrase: str) -> str:
    """The one word a place of several words becomes: its words run together
    (``"New Zealand"`` → ``"newzealand"``)."""
    return "".join(re.findall(r"\w+", phrase.lower(), re.UNICODE))


class KeywordIndex:
    """Inverted index from normalised words to the candidates whose metadata carries them.

    Entry ``e`` (one per word, numbered from 1) holds its candidates and their
    ``log(1 - score)`` at ``[ptr[e - 1], ptr[e])`` of two flat arrays, so a batch's hits are
    gathered with array indexing rather than one word at a time.
    """

    def __init__(self, emojis: EmojiSet) -> None:
        self.size = len(emojis)
        weights: dict[str, dict[int, float]] = {}
        places: set[str] = set()
        for i, key in enumerate(emojis.keys):
            info = info_for(key)
            name = words_of(info.label)
            place = _place_name(info.label) if info.group == "flags" else None
            drop: set[str] = set()
            if place is not None and len(place.split()) > 1:
                # a flag of a place of several words ("new zealand", "christmas island") is
                # named by the whole name (one token, see _phrase_token), not by each word
                places.add(place)
                token = _normal(_phrase_token(place))
                if token is not None:
                    weights.setdefault(token, {})[i] = 1.0
                drop = set(words_of(place))
            for phrases, w in (((info.label, *info.keywords), KEYWORD_WEIGHT),
                               (info.extra_keywords, EXTRA_WEIGHT)):
                for phrase in phrases:
                    words = words_of(phrase)
                    if drop and (len(words) > 1 or drop.intersection(words)):
                        continue  # "flag new zealand", "new", "zealand"
                    for word in words:
                        row = weights.setdefault(word, {})
                        row[i] = max(row.get(i, 0.0), 1.0 if name == [word] else w)
        #: first word of a place of several words → (its other words, the place's one word),
        #: longest first
        self._places: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for place in sorted(places, key=lambda p: -len(p.split())):
            first, *rest = place.split()
            self._places.setdefault(first, []).append((tuple(rest), _phrase_token(place)))
        # "tomatoes" normalises to "tomatoe": where an emoji carries that form (🥫 lists
        # "tomatoes"), the word also names the emojis of its singular (🍅 "tomato")
        for word in [w for w in weights if len(w) > 4 and w.endswith("e")]:
            for single in _singulars(word + "s"):
                for i, w in weights.get(single, {}).items():
                    weights[word][i] = max(weights[word].get(i, 0.0), w)
        self._numbers = {word: e for e, word in enumerate(weights, 1)}
        cols, logs = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
        for row in weights.values():
            spec = 1.0 / (1.0 + math.log2(len(row)) / 8)
            cols.append(np.fromiter(row.keys(), dtype=np.int64, count=len(row)))
            val = np.fromiter(row.values(), dtype=np.float32, count=len(row)) * spec
            with np.errstate(divide="ignore"):  # a score of 1: log(0) = -inf, exp gives 0
                logs.append(np.log1p(-val).astype(np.float32))
        self._cols, self._logs = np.concatenate(cols), np.concatenate(logs)
        #: end of entry e's slice at ptr[e] (entry 0, no word, is empty)
        self._ptr = np.cumsum([0, *map(len, cols[1:])]).astype(np.int64)
        #: raw lower-cased word → its entry number (0: no emoji carries it), filled on use
        self._lookup = _Lookup(self._numbers)

    def __len__(self) -> int:
        return len(self._numbers)

    def add_to(self, sims: np.ndarray, texts: Sequence[str], weight: float) -> np.ndarray:
        """``sims += weight * scores(texts)`` in place, touching only the non-zero scores.

        The words of the whole batch are found in one pass over its texts joined by NUL (a
        NUL inside a text separates words there anyway, so it becomes a space).

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
        if not len(texts):
            return sims
        joined = "\x00".join(texts)
        if joined.count("\x00") != len(texts) - 1:
            joined = "\x00".join(t.replace("\x00", " ") for t in texts)
        _, words, lookup = self._words(joined)
        nums = np.fromiter(map(lookup.__getitem__, words), dtype=np.int64,
                           count=len(words))
        text_of = np.cumsum(nums == _BREAK)
        hit = nums > 0
        if not hit.any():
            return sims
        # each distinct (text, entry) once: "dog", "dogs" or "dog ... dog" count once
        pairs = np.unique(text_of[hit] * (len(self._ptr) + 1) + nums[hit])
        rows, entries = np.divmod(pairs, len(self._ptr) + 1)
        starts, ends = self._ptr[entries - 1], self._ptr[entries]
        lengths = ends - starts
        at = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(
            int(lengths.sum()))  # flat positions of every hit entry's slice
        pos = self._cols[at] + np.repeat(rows * self.size, lengths)  # sorted by text
        logs, flat, w = self._logs[at], sims.reshape(-1), np.float32(weight)
        # log prod(1 - s) per (text, candidate), summed in a scratch of _SCRATCH_ROWS texts
        # at a time; a candidate hit by several words of a text is in pos several times, and
        # gets the same noisy-or 1 - prod(1 - s) each time, so `+=` adds it once
        block = _SCRATCH_ROWS * self.size
        ends = np.searchsorted(pos, np.arange(block, len(flat) + block, block))
        start = 0
        for b, end in enumerate(ends.tolist()):
            if end > start:
                p = pos[start:end]
                scratch = np.zeros(min(block, len(flat) - b * block), np.float32)
                np.add.at(scratch, p - b * block, logs[start:end])
                flat[p] += w * (1.0 - np.exp(scratch[p - b * block]))
            start = end
        return sims

    def _words(self, text: str) -> tuple[list[str], list[str], _Lookup]:
        """The lower-cased words of ``text`` (NULs between texts kept as words) as written,
        and as looked up: each place of several words run together (:meth:`_join_places`);
        and the lookup that knows every one of them (bounded: past :data:`LOOKUP_LIMIT` words a
        new one starts afresh, so a thread still reading the old one finds its
        words there)."""
        raw = _WORD_OR_BREAK.findall(text.lower())
        words = list(raw)
        if self._places:
            self._join_places(words)
        lookup = self._lookup
        if len(lookup) > LOOKUP_LIMIT:
            lookup = self._lookup = _Lookup(self._numbers)
        lookup.learn(words)
        return raw, words, lookup

    def _join_places(self, words: list[str]) -> None:
        """Each place of several words in ``words`` (lower-cased, NUL between texts) becomes
        its one word followed by blanks, in place ("new", "zealand" → "newzealand", "")."""
        places = self._places
        firsts = np.fromiter(map(places.__contains__, words), dtype=bool, count=len(words))
        for i in np.flatnonzero(firsts).tolist():
            for rest, token in places.get(words[i], ()):  # blanked by a place before it
                if tuple(words[i + 1:i + 1 + len(rest)]) == rest:
                    words[i:i + 1 + len(rest)] = [token] + [""] * len(rest)
                    break

    def explain(self, text: str) -> dict[int, list[tuple[str, float]]]:
        """Which words of ``text`` name which candidates: candidate index → ``(word, score)``
        of each word that names it (lower-cased as written; a place of several words as one
        entry), best first. The candidate's keyword score is the noisy-or of those scores,
        ``1 - prod(1 - score)`` (:func:`noisy_or`), as :meth:`scores` gives it.

        Example:
            >>> index.explain("planting tomatoes")  # doctest: +SKIP
            {1234: [('tomatoes', 0.89)], 987: [('tomatoes', 0.62)]}
        """
        raw, words, lookup = self._words(text.replace("\x00", " "))
        out: dict[int, list[tuple[str, float]]] = {}
        seen: set[int] = set()
        for at, word in enumerate(words):
            entry = lookup[word]
            if entry <= 0 or entry in seen:
                continue
            seen.add(entry)
            span = 1
            if word != raw[at]:  # a place run together from the words after it, now blanks
                while at + span < len(words) and words[at + span] == "":
                    span += 1
            shown = " ".join(raw[at:at + span])
            lo, hi = int(self._ptr[entry - 1]), int(self._ptr[entry])
            for cand, log in zip(self._cols[lo:hi].tolist(), self._logs[lo:hi].tolist(),
                                 strict=True):
                out.setdefault(cand, []).append((shown, float(1.0 - math.exp(log))))
        for hits in out.values():
            hits.sort(key=lambda h: -h[1])
        return out

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), N)`` float32 keyword scores in ``[0, 1]``."""
        return self.add_to(np.zeros((len(texts), self.size), dtype=np.float32), texts, 1.0)
