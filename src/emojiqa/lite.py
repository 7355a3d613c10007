"""Torch-free ranking with a trained ranker: what a cold ``emojiqa suggest`` runs.

A ranker answers a text with one product between the text's code and the emoji vectors. The
vectors of the model's own emoji set are stored next to it (``emoji_vectors.safetensors``,
written by ``emojiqa train-bundled``), so per query only the text side has to run.
:class:`LiteRanker` runs it in numpy from the same weights — word embedding, convolution,
attention or max pooling over time, the hashed n-gram bag, the projection and the shared
tower — and ranks as :meth:`emojiqa.ranker.EmojiRanker.rank` does (the same candidates,
keyword boost and top-k), without importing torch, which is most of a cold start on a small
CPU.

It covers the GloVe text towers ``attention`` and ``cnn`` (with or without the n-gram bag)
and the bag alone (``bag``), over the stored vectors, and a wide head (:mod:`emojiqa.wide`,
as the bundled model has: its n-gram features and linear model in numpy, its term added as
:meth:`emojiqa.ranker.EmojiRanker.head_term` adds it). :meth:`LiteRanker.load` returns None
for anything else — a BiLSTM or MiniLM text tower, a memory, a folder without stored
vectors, or a file it cannot read — and callers then use
:class:`~emojiqa.ranker.EmojiRanker`, which also reports what is wrong with a broken folder.

Example:
    >>> lite = LiteRanker.load()          # the bundled model, or None
    >>> lite.rank("I just got the job!!", top_k=3)  # doctest: +SKIP
    [RankedEmoji(key='1f44f', emoji='👏', name='clapping hands', score=0.46), ...]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from .emojis import (
    EmojiSet,
    RankedEmoji,
    check_rank_args,
    group_tuple,
    info_for,
    parse_skin_tone,
    reorder_places,
    select_candidates,
)
from .keywords import DEFAULT_KEYWORD_WEIGHT, KeywordIndex, explain_ranking
from .recipes import VECTORS_KEYS, VECTORS_NAME, model_folder
from .text import (
    Tokenizer,
    dense_idf,
    ngram_batch,
    tfidf_ngrams,
    validate_text,
    validate_texts,
)

#: Text towers :class:`LiteRanker` runs.
LITE_TOWERS = ("attention", "cnn", "bag")


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``torch.nn.Conv1d(padding=k // 2)`` over time, cut to the input's length:
    ``(B, T, D)`` → ``(B, T, C)`` for a ``(C, D, k)`` weight."""
    k = weight.shape[2]
    t = x.shape[1]
    pad = k // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (0, 0)))
    out = np.zeros((x.shape[0], t, weight.shape[0]), np.float32)
    for j in range(k):
        out += xp[:, j:j + t] @ weight[:, :, j].T
    return out + bias


def _masked_max(h: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Max over the tokens of each text (0 for a text with none): ``(B, T, C)`` → ``(B, C)``."""
    neg = np.finfo(np.float32).min
    mx = np.where(mask[..., None], h, neg).max(1)
    return np.where(mask.any(1, keepdims=True), mx, np.float32(0))


class _LiteWide:
    """A saved wide head (``wide/``) in numpy: ``mix * log p`` over its answers."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file

        c = json.loads((folder / "config.json").read_text(encoding="utf-8"))["config"]
        t = load_file(str(folder / "model.safetensors"))
        self.buckets = int(c["buckets"])
        self.word_ngrams = int(c["word_ngrams"])
        self.char_ngrams = (int(c["char_ngrams"][0]), int(c["char_ngrams"][1]))
        self.rows = t["rows"].astype(np.int64)
        self.idf = dense_idf(t["idf"], self.rows, t.get("idf_other"), 2 * self.buckets)
        self.weight = t["weight"].astype(np.float32)
        if "weight_scale" in t:  # 8-bit rows, each times its scale
            self.weight *= t["weight_scale"].astype(np.float32)[:, None]
        self.bias = t["bias"].astype(np.float32)
        self.mix = float(t["mix"])
        self.columns = (t["columns"].astype(np.int64) if "columns" in t
                        else np.arange(len(self.bias)))
        self._tokenizer = Tokenizer()
        self._cache: dict = {}

    def term(self, texts: Sequence[str]) -> np.ndarray:
        """``(N, A)`` ``mix * log p`` of the head's answers."""
        crow, col, val = tfidf_ngrams(texts, [self._tokenizer.words(x) for x in texts],
                                      self.buckets, self.word_ngrams, self.char_ngrams,
                                      self.idf, self._cache)
        at = np.minimum(np.searchsorted(self.rows, col), len(self.rows) - 1)
        hit = self.rows[at] == col
        z = np.tile(self.bias, (len(texts), 1))
        text_of = np.repeat(np.arange(len(texts)), np.diff(crow))
        np.add.at(z, text_of[hit], val[hit, None] * self.weight[at[hit]])
        z -= z.max(1, keepdims=True)
        return (self.mix * (z - np.log(np.exp(z).sum(1, keepdims=True)))).astype(np.float32)


class LiteRanker:
    """A trained ranker's text side in numpy, ranking against its stored emoji vectors.

    Build it with :meth:`load`. ``keyword_weight`` is the keyword-boost weight :meth:`rank`
    uses when it is given none, as on :class:`~emojiqa.ranker.EmojiRanker`.
    """

    def __init__(self, config: dict[str, Any], weights: dict[str, np.ndarray],
                 tokenizer: Tokenizer, vector_keys: Sequence[str], vectors: np.ndarray,
                 style: str) -> None:
        self.config = config
        self.w = weights
        self.tokenizer = tokenizer
        self.row = {k: i for i, k in enumerate(vector_keys)}
        self.vectors = vectors
        self.style = style
        self.keyword_weight: float = DEFAULT_KEYWORD_WEIGHT
        self._ngram_cache: dict = {}
        self._emojis: EmojiSet | None = None
        self._cand: dict[tuple, tuple[EmojiSet, np.ndarray]] = {}
        self._keyword_index: dict[tuple, KeywordIndex] = {}
        self.wide: _LiteWide | None = None
        self._wide_vectors = np.zeros((0, vectors.shape[1]), np.float32)
        self._wide_cols: dict[tuple, np.ndarray] = {}
        self._answer_index: dict[str, int] = {}
        n_shared = sum(1 for k in weights if k.startswith("shared.") and k.endswith(".weight"))
        self._shared = [(weights[f"shared.{i}.weight"], weights[f"shared.{i}.bias"])
                        for i in range(n_shared)]

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> LiteRanker | None:
        """The ranker folder ``path`` (None: the bundled model) as a :class:`LiteRanker`, or
        None where it cannot serve it (see the module docstring); never raises."""
        try:
            return cls._load(model_folder(path))
        except Exception:  # noqa: BLE001 — EmojiRanker reads the folder and names the problem
            return None

    @classmethod
    def _load(cls, folder: Path) -> LiteRanker | None:
        from safetensors.numpy import load_file

        header = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        c = header["config"]
        if (header.get("model_type") != "ranker" or c.get("text_tower") not in LITE_TOWERS
                or c.get("minilm_finetune") or c.get("memory_k")
                or (folder / "memory").exists()
                or bool(c.get("wide_buckets")) != (folder / "wide").is_dir()):
            return None
        meta = json.loads((folder / VECTORS_KEYS).read_text(encoding="utf-8"))
        vectors = load_file(str(folder / VECTORS_NAME))["vectors"].astype(np.float32)
        keys = list(meta["keys"])
        if meta.get("style") != c.get("emoji_style") or len(keys) != len(vectors):
            return None
        weights = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v)
                   for k, v in load_file(str(folder / "model.safetensors")).items()}
        need = ["text_proj.weight", "text_proj.bias", "shared.0.weight"]
        if c["text_tower"] != "bag":
            need += ["embedding.weight"]
            need += (["tower.conv.weight", "tower.proj.weight", "tower.v.weight"]
                     if c["text_tower"] == "attention" else ["tower.convs.0.weight"])
        if c.get("ngram_buckets"):
            need.append("bag.weight")
        if any(k not in weights for k in need):
            return None
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        lite = cls(c, weights, Tokenizer.from_json(vocab), keys, vectors, meta["style"])
        if (folder / "wide").is_dir():
            answers = json.loads((folder / "answers.json").read_text(encoding="utf-8"))["keys"]
            wide = _LiteWide(folder / "wide")
            known = [answers[i] for i in wide.columns]
            if (any(k not in lite.row for k in known) or len(wide.columns) != len(wide.bias)
                    or len(set(wide.columns.tolist())) != len(wide.columns)):
                return None
            lite.wide = wide
            lite._wide_vectors = vectors[[lite.row[k] for k in known]]
            # each answer-table key → its place among the head's answers (-1: not one)
            place = np.full(len(answers), -1, np.int64)
            place[wide.columns] = np.arange(len(wide.columns))
            lite._answer_index = {k: int(place[i]) for i, k in enumerate(answers)}
        return lite

    # the text side ----------------------------------------------------------------------------
    def _tower(self, tokens: np.ndarray) -> np.ndarray:
        """``(B, T)`` pre-padded token ids → the tower's features, as the torch towers give
        them (leading all-padding columns dropped: padding embeds to 0, which is what the
        convolution pads with, and the pooling masks it)."""
        w = self.w
        emb_w = w["embedding.weight"]
        mask = tokens != 0
        if not emb_w[0].any():
            width = max(1, int(mask.sum(1).max())) if len(tokens) else tokens.shape[1]
            tokens, mask = tokens[:, -width:], mask[:, -width:]
        emb = emb_w[tokens]  # (B, T, D)
        if self.config["text_tower"] == "attention":
            h = _relu(_conv1d(emb, w["tower.conv.weight"], w["tower.conv.bias"]))
            scores = (np.tanh(h @ w["tower.proj.weight"].T + w["tower.proj.bias"])
                      @ w["tower.v.weight"].T)[..., 0]  # (B, T)
            scores = np.where(mask, scores, -np.inf)
            top = scores.max(1, keepdims=True)
            top = np.where(np.isfinite(top), top, 0)
            e = np.where(mask, np.exp(scores - top), 0)
            att_w = e / np.maximum(e.sum(1, keepdims=True), 1e-30)
            att = np.einsum("bt,btc->bc", att_w, h)
            return np.concatenate([att, _masked_max(h, mask)], 1)
        outs = []
        i = 0
        while f"tower.convs.{i}.weight" in w:
            h = _relu(_conv1d(emb, w[f"tower.convs.{i}.weight"], w[f"tower.convs.{i}.bias"]))
            outs.append(_masked_max(h, mask))
            i += 1
        return np.concatenate(outs, 1)

    def _bag(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Mean (or idf-weighted, L2-normalised) n-gram vector of each text, padding left out."""
        table = self.w["bag.weight"]
        idf = self.w.get("bag_idf") if self.config.get("ngram_weighting") == "idf" else None
        out = np.zeros((len(offsets), table.shape[1]), np.float32)
        ends = np.append(offsets[1:], len(ids))
        for i, (a, b) in enumerate(zip(offsets, ends, strict=True)):
            own = ids[a:b]
            own = own[own != 0]
            if not len(own):
                continue
            if idf is None:
                out[i] = table[own].mean(0)
            else:
                wt = idf[own]
                out[i] = (wt @ table[own]) / max(float(np.sqrt((wt * wt).sum())), 1e-12)
        return out

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Unit text codes ``(N, D)`` float32 of already validated texts."""
        c = self.config
        words = [self.tokenizer.words(t) for t in texts]
        parts = []
        if c["text_tower"] != "bag":
            parts.append(self._tower(self.tokenizer.encode_words(words)))
        if c.get("ngram_buckets"):
            ids, offsets = ngram_batch(texts, words, c["ngram_buckets"], c["word_ngrams"],
                                       tuple(c["char_ngrams"]), self._ngram_cache)
            parts.append(self._bag(np.asarray(ids), np.asarray(offsets)))
        x = _relu(np.concatenate(parts, 1) @ self.w["text_proj.weight"].T
                  + self.w["text_proj.bias"])
        for i, (weight, bias) in enumerate(self._shared):
            x = x @ weight.T + bias
            x = np.tanh(x) if i == len(self._shared) - 1 else _relu(x)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return (x / np.maximum(norm, 1e-12)).astype(np.float32)

    # ranking ----------------------------------------------------------------------------------
    @property
    def emojis(self) -> EmojiSet:
        """The model's own emoji set: the bundled drawings its vectors were stored for."""
        if self._emojis is None:
            self._emojis = EmojiSet.bundled(self.style)
        return self._emojis

    def _candidates(self, key: tuple) -> tuple[EmojiSet, np.ndarray]:
        """The candidates for ``key`` = (skin tone, groups, excluded groups) and their rows of
        the stored vectors (cached)."""
        if key not in self._cand:
            tone, groups, exclude = key
            cand = select_candidates(self.emojis, group_skin_tones=True, skin_tone=tone,
                                     groups=groups, exclude_groups=exclude)
            missing = [k for k in cand.keys if k not in self.row]
            if missing:
                raise LookupError(f"no stored vector for {len(missing)} candidates, e.g. "
                                  f"{missing[0]}; rank with EmojiRanker")
            self._cand[key] = (cand, self.vectors[[self.row[k] for k in cand.keys]])
        return self._cand[key]

    @overload
    def rank(  # type: ignore[overload-overlap]
            self, text: str, top_k: int = ..., *, skin_tone: int | str | None = ...,
            groups: Sequence[str] | None = ..., exclude_groups: Sequence[str] | None = ...,
            keyword_weight: float | None = ...) -> list[RankedEmoji]: ...

    @overload
    def rank(self, text: Sequence[str], top_k: int = ..., *,
             skin_tone: int | str | None = ..., groups: Sequence[str] | None = ...,
             exclude_groups: Sequence[str] | None = ...,
             keyword_weight: float | None = ...) -> list[list[RankedEmoji]]: ...

    def rank(self, text: str | Sequence[str], top_k: int = 5, *,
             skin_tone: int | str | None = None, groups: Sequence[str] | None = None,
             exclude_groups: Sequence[str] | None = None,
             keyword_weight: float | None = None
             ) -> list[RankedEmoji] | list[list[RankedEmoji]]:
        """The ``top_k`` emojis of the model's own set answering ``text``, best first, one
        entry per base emoji: what ``EmojiRanker.rank(text, top_k, skin_tone=...,
        groups=..., exclude_groups=..., keyword_weight=...)`` returns.

        Raises:
            TextError: an empty or invalid text. ValueError: a bad ``top_k``, weight or group.
            LookupError: a candidate without a stored vector (rank with ``EmojiRanker``).
        """
        w = check_rank_args(top_k, self.keyword_weight if keyword_weight is None
                            else keyword_weight)
        single = isinstance(text, str)
        texts = [validate_text(text)] if single else validate_texts(text)
        key = (parse_skin_tone(skin_tone), group_tuple(groups), group_tuple(exclude_groups))
        cand, matrix = self._candidates(key)
        k = min(top_k, len(cand))
        q = self.encode_text(texts) if texts else np.zeros((0, matrix.shape[1]), np.float32)
        heads = self._head_term(texts, q, cand, key) if self.wide is not None and texts else None
        if w > 0:
            q = q * np.float32(1.0 - w)
            if heads is not None:  # the heads' places are cosines: scaled alike
                heads = heads * np.float32(1.0 - w)
        scores = np.ascontiguousarray(q @ matrix.T, dtype=np.float32)  # (B, N)
        if heads is not None:
            scores += heads
        if w > 0 and texts:
            if key not in self._keyword_index:
                self._keyword_index[key] = KeywordIndex(cand)
            self._keyword_index[key].add_to(scores, texts, w)
        out = []
        for row in scores:
            idx = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
            idx = idx[np.argsort(-row[idx], kind="stable")]
            out.append([RankedEmoji(*self._meta(cand, int(i)), float(row[i])) for i in idx])
        return out[0] if single else out

    def explain(self, text: str, ranked: Sequence[RankedEmoji], emojis: None = None, *,
                skin_tone: int | str | None = None, groups: Sequence[str] | None = None,
                exclude_groups: Sequence[str] | None = None,
                keyword_weight: float | None = None) -> list[dict[str, Any]]:
        """Each of ``ranked`` (what :meth:`rank` gave for ``text`` with the same arguments)
        taken apart, as ``EmojiRanker.explain`` does (``emojis``: the model's own set only)."""
        w = check_rank_args(1, self.keyword_weight if keyword_weight is None
                            else keyword_weight)
        key = (parse_skin_tone(skin_tone), group_tuple(groups), group_tuple(exclude_groups))
        cand, _ = self._candidates(key)
        if key not in self._keyword_index:
            self._keyword_index[key] = KeywordIndex(cand)
        return explain_ranking(ranked, validate_text(text), cand, w, self._keyword_index[key])

    def _head_term(self, texts: list[str], q: np.ndarray, cand: EmojiSet, key: tuple
                   ) -> np.ndarray:
        """The wide head's ``(B, N)`` term over the candidates: its emojis reordered among
        the places the towers gave them, 0 for the others
        (:meth:`emojiqa.ranker.EmojiRanker.head_term`)."""
        assert self.wide is not None
        if key not in self._wide_cols:  # as EmojiRanker._head_columns: a tone → its base
            a, n = self._answer_index, len(self.wide.columns)
            col = [a.get(k, a.get(info_for(k).base_key, -1)) for k in cand.keys]
            self._wide_cols[key] = np.array([n if c < 0 else c for c in col], np.int64)
        s = q @ self._wide_vectors.T  # (B, A) the towers' cosines
        placed = reorder_places(s, self.wide.term(texts))
        term = np.concatenate([placed - s, np.zeros((len(texts), 1), np.float32)], 1)
        return term[:, self._wide_cols[key]]

    @staticmethod
    def _meta(cand: EmojiSet, i: int) -> tuple[str, str, str]:
        info = cand.info(i)
        return info.key, info.emoji, info.name
