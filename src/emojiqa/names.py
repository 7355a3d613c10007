"""Look-alike names: score an emoji nobody named by the names of the emojis it looks like.

A ranker learns what each emoji it trained on means; an emoji it never saw (a new Unicode
release, a user's folder of drawings) has only its drawing. :class:`NameMatcher` scores such an
emoji in the space of a pretrained sentence encoder (all-MiniLM-L6-v2, the ``minilm`` extra):

* an emoji the ranker trained on is the encoder's vector of its own CLDR name;
* any other emoji is the average of the name vectors of the ``k`` training emojis it looks most
  like (:meth:`emojiqa.ranker.EmojiRanker.lookalikes`: pixel look features and the model's
  learned look code), weighted by the softmax of their look cosines at ``temperature``;
* a text is the encoder's vector of the text; the score is the cosine.

So 🫏 *donkey*, never seen, looks like 🐐 *goat* and 🐕 *dog* and comes first for "donkey",
because the encoder knows those words are near — which a ranker's small shared space (trained
to tell 2,000 emojis apart) does not keep. ``k = 40`` and ``temperature = 0.1`` were chosen on
the Emoji 13.x emojis of the new-releases protocol model, held out of the look-alike
references as if new (``benchmarks/new_releases.py``), never on the Emoji ≥ 14.0 test emojis.

:class:`NameMatcher` has the encoder interface :mod:`emojiqa.zeroshot` uses
(``encode_text``, ``encode_emojis``), so the protocols measure it like a ranker.

Example:
    >>> from emojiqa.ranker import EmojiRanker
    >>> m = NameMatcher(EmojiRanker.from_pretrained())                 # doctest: +SKIP
    >>> m.rank("melting", emojis="new_emojis/")                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, overload

import numpy as np

from .emojis import EmojiSet, RankedEmoji, load_metadata
from .ranker import _unit
from .sources import base_key

#: Look-alikes averaged per unnamed emoji, and the softmax temperature over their look cosines
#: (chosen on the Emoji 13.x pseudo-new emojis, ``benchmarks/new_releases.py``).
NAMES_K = 40
NAMES_TEMPERATURE = 0.1


def minilm_encoder() -> Callable[[Sequence[str]], np.ndarray]:
    """all-MiniLM-L6-v2 (offline, the ``minilm`` extra) as ``texts -> (N, 384)`` vectors: the
    process-wide encoder of the MiniLM text towers, so its cache of texts is shared."""
    from .towers import minilm_encoder as shared

    return shared().embed


class NameMatcher:
    """Scores emojis for texts by their names, or the names of the emojis they look like.

    Args:
        ranker: a trained :class:`~emojiqa.ranker.EmojiRanker`: its answers are the named
            emojis, its :meth:`~emojiqa.ranker.EmojiRanker.lookalikes` find an unnamed emoji's
            look-alikes among them.
        encoder: ``texts -> (N, D)`` sentence vectors (default: :func:`minilm_encoder`).
        k: look-alikes averaged per unnamed emoji.
        temperature: softmax temperature over their look cosines.
        exclude: answer keys to treat as never seen: unnamed, and never anyone's look-alike
            (how ``benchmarks/new_releases.py`` makes the Emoji 13.x emojis pseudo-new).
    """

    def __init__(self, ranker: Any, encoder: Callable[[Sequence[str]], np.ndarray] | None = None,
                 *, k: int = NAMES_K, temperature: float = NAMES_TEMPERATURE,
                 exclude: Collection[str] = ()) -> None:
        if int(k) < 1 or not temperature > 0:
            raise ValueError(f"k must be >= 1 and temperature > 0, got {k} and {temperature}")
        self.ranker = ranker
        self.encoder = encoder if encoder is not None else minilm_encoder()
        self.k, self.temperature = int(k), float(temperature)
        meta = load_metadata()
        names = [meta[base_key(a)].name if base_key(a) in meta else a
                 for a in ranker.answer_keys]
        self.answer_vectors = _unit(np.asarray(self.encoder(names), np.float32))
        self.excluded = np.array([a in exclude or base_key(a) in exclude
                                  for a in ranker.answer_keys], bool)
        self.named = {a: i for i, a in enumerate(ranker.answer_keys) if not self.excluded[i]}
        self.named.update({base_key(a): i for a, i in list(self.named.items())
                           if base_key(a) not in self.named})

    def encode_text(self, texts: str | Sequence[str], normalize: bool = True) -> np.ndarray:
        """``(N, D)`` sentence vectors of the texts (unit length unless ``normalize=False``)."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        v = np.asarray(self.encoder(batch), np.float32)
        return _unit(v) if normalize else v

    def encode_emojis(self, emojis: EmojiSet | np.ndarray, normalize: bool = True, *,
                      use_known: bool = True, lookalike: bool | None = None) -> np.ndarray:
        """``(N, D)`` vectors: a named emoji's own name vector (a set's rows whose key, or base
        key, the ranker trained on, when ``use_known``), every other emoji the look-weighted
        mean of its look-alikes' name vectors. Bare images are all unnamed.

        ``lookalike=False`` is refused: without look-alikes an unnamed emoji has no vector.
        """
        if lookalike is False:
            raise ValueError("a NameMatcher scores unnamed emojis by their look-alikes only; "
                             "use lookalike=True (or None)")
        if isinstance(emojis, EmojiSet):
            images, keys = np.ascontiguousarray(emojis.images), list(emojis.keys)
        else:
            images, keys = np.asarray(emojis), None
        own = np.full(len(images), -1, np.int64)
        if use_known and keys is not None:
            own = np.array([self.named.get(k, self.named.get(base_key(k), -1)) for k in keys],
                           np.int64)
        out = np.zeros((len(images), self.answer_vectors.shape[1]), np.float32)
        out[own >= 0] = self.answer_vectors[own[own >= 0]]
        need = np.flatnonzero(own < 0)
        if len(need):
            idx, w = self._lookalikes(images[need])
            out[need] = np.einsum("nk,nkd->nd", w, self.answer_vectors[idx])
        return _unit(out) if normalize else out

    def _lookalikes(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ranker's ``k`` look-alikes of each image, excluded answers left out."""
        # an answer has up to one reference drawing per style: ask for enough to drop them
        extra = int(self.excluded.sum()) * (1 + len(self.ranker.config.lookalike_styles))
        idx, w = self.ranker.lookalikes(images, self.k + extra, temperature=self.temperature)
        if not extra:
            return idx, w
        keep = ~self.excluded[idx]
        order = np.argsort(~keep, axis=1, kind="stable")[:, : self.k]  # kept ones first
        idx, w = np.take_along_axis(idx, order, 1), np.take_along_axis(w * keep, order, 1)
        return idx, (w / np.maximum(w.sum(1, keepdims=True), 1e-30)).astype(np.float32)

    @overload
    def rank(  # type: ignore[overload-overlap]
            self, text: str, top_k: int = ..., emojis: EmojiSet | str | None = ..., *,
            group_skin_tones: bool = ..., skin_tone: int | str | None = ...,
            groups: Sequence[str] | None = ...,
            exclude_groups: Sequence[str] | None = ...) -> list[RankedEmoji]: ...

    @overload
    def rank(self, text: Sequence[str], top_k: int = ...,
             emojis: EmojiSet | str | None = ..., *, group_skin_tones: bool = ...,
             skin_tone: int | str | None = ..., groups: Sequence[str] | None = ...,
             exclude_groups: Sequence[str] | None = ...) -> list[list[RankedEmoji]]: ...

    def rank(self, text: str | Sequence[str], top_k: int = 5,
             emojis: EmojiSet | str | None = None, *, group_skin_tones: bool = True,
             skin_tone: int | str | None = None, groups: Sequence[str] | None = None,
             exclude_groups: Sequence[str] | None = None
             ) -> list[RankedEmoji] | list[list[RankedEmoji]]:
        """The ``top_k`` emojis answering ``text`` by names, best first, as
        :meth:`EmojiRanker.rank <emojiqa.ranker.EmojiRanker.rank>` gives them (same candidates:
        a set, a bundled style, a folder of images, ``"answers"`` or None for the model's own
        set; skin-tone grouping and group filters; a list of texts gives a list of lists).

        Example:
            >>> NameMatcher(ranker).rank("melting", emojis="new_emojis/")   # doctest: +SKIP
        """
        from .emojis import check_rank_args, group_tuple, parse_skin_tone, select_candidates
        from .text import validate_text, validate_texts

        check_rank_args(top_k, 0.0)
        single = isinstance(text, str)
        texts = [validate_text(text)] if single else validate_texts(text)
        cand = select_candidates(self.ranker.emoji_set(emojis),
                                 group_skin_tones=group_skin_tones,
                                 skin_tone=parse_skin_tone(skin_tone),
                                 groups=group_tuple(groups),
                                 exclude_groups=group_tuple(exclude_groups))
        matrix = self.encode_emojis(cand)
        q = self.encode_text(texts) if texts else np.zeros((0, matrix.shape[1]), np.float32)
        out = self.ranker.top_of_codes(texts, q, cand, matrix, 0.0, min(int(top_k), len(cand)))
        return out[0] if single else out
