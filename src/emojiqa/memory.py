"""The ranker's memory: the answers of the training texts most like a text.

A non-parametric head beside the dual encoder. The training texts are kept as TF-IDF
vectors over hashed word 1–2-grams and character 2–5-grams (the wide head's features,
:func:`emojiqa.wide.features`, with the n-grams found in more than ``max_df`` of the
training texts left out: they weigh little in a cosine and would make every text a
neighbour of every other). For a text, the ``k`` training texts with the highest cosine vote
for their answers with weight ``cosine ** power``; the votes ``D`` (summing to 1) become

    term = mix * log((D + smoothing * prior) / prior ** balance)

which the ranker adds to each answer's cosine (``prior``: the answers' shares of the
training texts). It recalls what the towers' SGD with early stopping does not: near-copies
of training texts (retweets, one venue's posts with one emoji) and rare n-grams. Building it
is one pass over the texts, no training; ``mix`` is chosen on val like the wide head's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, ModelLoadError, TrainingError
from .storage import read_model_folder, write_model_folder
from .text import Tokenizer, smoothed_idf
from .wide import WideConfig, best_mix, features, row_map, sparse_csr

MODEL_TYPE = "memory"
#: Texts scored together: a block's dense ``(block, N)`` cosines stay ~100 MB at N = 25,000.
BLOCK = 1024


@dataclass(frozen=True)
class MemoryConfig:
    """Every setting of a :class:`Memory`.

    Attributes:
        k: neighbours that vote.
        power: a neighbour's vote is its cosine to this power (the nearest count most).
        balance: the votes are divided by ``prior ** balance`` (0: raw votes; 1: votes
            relative to how common each answer is).
        smoothing: share of the prior added to the votes (so no answer's log is -inf).
        max_df: n-grams in more than this share of the training texts are left out.
        buckets: hash buckets of each block (word n-grams, character n-grams).
        mixes: weights of the term to choose from on val (the first without val).
    """

    k: int = 20
    power: float = 4.0
    balance: float = 0.5
    smoothing: float = 0.01
    max_df: float = 0.01
    buckets: int = 524288
    mixes: tuple[float, ...] = (0.02, 0.0, 0.01, 0.05, 0.1, 0.2)

    def __post_init__(self) -> None:
        if int(self.k) < 1 or not self.power > 0 or not self.smoothing > 0:
            raise ConfigError(f"MemoryConfig needs k >= 1, power > 0 and smoothing > 0, got "
                              f"{self.k}, {self.power} and {self.smoothing}")
        if not 0 < self.max_df <= 1 or not self.balance >= 0 or int(self.buckets) < 2:
            raise ConfigError(f"MemoryConfig needs 0 < max_df <= 1, balance >= 0 and "
                              f"buckets >= 2, got {self.max_df}, {self.balance} and "
                              f"{self.buckets}")
        if not self.mixes or min(self.mixes) < 0:
            raise ConfigError(f"MemoryConfig needs mixes >= 0, got {self.mixes}")

    def features_config(self) -> WideConfig:
        """The n-gram settings, as :func:`emojiqa.wide.features` takes them."""
        return WideConfig(buckets=int(self.buckets))


class Memory:
    """Training texts as pruned TF-IDF vectors with their answers.

    Args:
        config: its :class:`MemoryConfig`.
        cols: ``(R,)`` the feature columns kept (sorted).
        idf: ``(R,)`` their idf.
        texts: the ``(N, R)`` CSR matrix of the training texts (unit rows over the kept
            columns, each block normalised as :func:`~emojiqa.wide.features` does).
        labels: ``(N,)`` each training text's answer index.
        prior: ``(A,)`` the answers' shares of the training texts (add-one smoothed).
        mix: weight of the term next to the cosine.
    """

    def __init__(self, config: MemoryConfig, cols: np.ndarray, idf: np.ndarray,
                 texts: torch.Tensor, labels: np.ndarray, prior: np.ndarray,
                 mix: float) -> None:
        self.config = config
        self.cols = np.asarray(cols, dtype=np.int64)
        self.idf = np.asarray(idf, dtype=np.float32)
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.prior = np.asarray(prior, dtype=np.float64)
        self.mix = float(mix)
        self.matrix = texts  # (N, R) CSR
        coo = texts.to_sparse_coo().coalesce()
        self._transposed = _drop_zeros(coo.t().coalesce(), (len(self.cols), texts.shape[0]))
        self._full_idf, self._where = _column_maps(self.cols, self.idf, int(config.buckets))
        self._tokenizer = Tokenizer()
        self._cache: dict = {}

    @property
    def n_answers(self) -> int:
        return int(self.prior.shape[0])

    @property
    def columns(self) -> np.ndarray:
        """``(A,)`` the answer-table index of each answer it knows: the whole table."""
        return np.arange(self.n_answers)

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """The ``(len(texts), R)`` CSR vectors of texts over the kept columns."""
        x = features(texts, self.config.features_config(), self._full_idf, self._tokenizer,
                     self._cache)
        if len(self._cache) > 200_000:  # a long-running server: keep the n-gram cache bounded
            self._cache.clear()
        return _kept(x, self._where, len(self.cols))

    def votes(self, texts: Sequence[str]) -> np.ndarray:
        """``(N, A)`` the answers' shares of each text's ``k`` nearest training texts'
        votes (rows of zeros for a text that shares no kept n-gram with any)."""
        texts = list(texts)
        out = np.zeros((len(texts), self.n_answers), np.float64)
        k = min(int(self.config.k), len(self))
        x = self.vectors(texts)
        crow, col, values = x.crow_indices(), x.col_indices(), x.values()
        for i in range(0, len(texts), BLOCK):
            j = min(i + BLOCK, len(texts))
            a, b = int(crow[i]), int(crow[j])
            block = sparse_csr(crow[i:j + 1] - a, col[a:b], values[a:b], (j - i, len(self.cols)))
            val, idx = _dense(block @ self._transposed).topk(k, dim=1)
            val = val / 2  # two unit blocks: the cosine
            w = val.clamp(min=0).double() ** float(self.config.power)
            d = torch.zeros(len(val), self.n_answers, dtype=torch.float64)
            d.scatter_add_(1, self.labels[idx], w)
            out[i:i + len(val)] = (d / d.sum(1, keepdim=True).clamp(min=1e-12)).numpy()
        return out

    def log_votes(self, texts: Sequence[str]) -> np.ndarray:
        """``log((votes + smoothing * prior) / prior ** balance)``, ``(N, A)``."""
        c = self.config
        return np.log((self.votes(texts) + c.smoothing * self.prior)
                      / self.prior ** c.balance).astype(np.float32)

    def term(self, texts: Sequence[str]) -> np.ndarray:
        """``mix * log_votes``: what the memory adds to each answer's cosine, ``(N, A)``."""
        if self.mix == 0:
            return np.zeros((len(texts), self.n_answers), np.float32)
        return (self.mix * self.log_votes(texts)).astype(np.float32)

    def save_pretrained(self, folder: str | os.PathLike[str], *, half: bool = False) -> Path:
        m = self.matrix
        tensors = {"cols": torch.from_numpy(self.cols), "idf": torch.from_numpy(self.idf),
                   "crow": m.crow_indices(), "col": m.col_indices().to(torch.int32),
                   "values": m.values().to(torch.float16 if half else torch.float32),
                   "labels": self.labels, "prior": torch.from_numpy(self.prior),
                   "mix": torch.tensor(self.mix)}
        return write_model_folder(folder, model_type=MODEL_TYPE, config=self.config,
                                  tensors=tensors)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> Memory:
        config, t = read_model_folder(folder, model_type=MODEL_TYPE, config_cls=MemoryConfig)
        try:
            n, r = t["crow"].numel() - 1, t["cols"].numel()
            matrix = sparse_csr(t["crow"].long(), t["col"].long(), t["values"].float(), (n, r))
            return cls(config, t["cols"].numpy(), t["idf"].float().numpy(), matrix,
                       t["labels"].numpy(), t["prior"].double().numpy(), float(t["mix"]))
        except (KeyError, RuntimeError, IndexError, ValueError) as exc:
            raise ModelLoadError(f"{folder} is not a complete memory ({exc!r}); re-save the "
                                 "model.") from exc


def _column_maps(cols: np.ndarray, idf: np.ndarray,
                 buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """The idf of every feature column (0 where left out) and each column's kept column
    (``len(cols)`` where left out)."""
    full = np.zeros(2 * buckets, dtype=np.float32)
    full[cols] = idf
    return full, row_map(cols, 2 * buckets)


def _kept(x: torch.Tensor, where: np.ndarray, n_cols: int) -> torch.Tensor:
    """A CSR feature matrix over every column as one over the kept columns (the others,
    zero-weighted by their idf of 0, dropped)."""
    x = x.to_sparse_coo().coalesce()
    rows, cols = x.indices()
    cols = torch.from_numpy(where[cols.numpy()])
    keep = (x.values() != 0) & (cols < n_cols)
    size = (x.shape[0], n_cols)
    return _drop_zeros(torch.sparse_coo_tensor(torch.stack([rows[keep], cols[keep]]),
                                               x.values()[keep], size).coalesce(), size)


def _dense(m: torch.Tensor) -> torch.Tensor:
    """A CSR matrix as a dense one (scattered into zeros: quicker than ``to_dense``)."""
    n, width = m.shape
    rows = torch.repeat_interleave(torch.arange(n), m.crow_indices().diff())
    out = torch.zeros(n * width)
    out[rows * width + m.col_indices()] = m.values()
    return out.view(n, width)


def _drop_zeros(coo: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A coalesced COO matrix as CSR, without its explicit zeros."""
    keep = coo.values() != 0
    rows, cols = coo.indices()[:, keep]
    crow = torch.zeros(size[0] + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=size[0]), 0)
    return sparse_csr(crow, cols, coo.values()[keep].float(), size)


def build_memory(texts: Sequence[str], y: np.ndarray, n_answers: int,
                 config: MemoryConfig | None = None, *,
                 val: tuple[Sequence[str], np.ndarray, np.ndarray] | None = None,
                 log: Callable[[str], None] | None = None) -> Memory:
    """A memory of training texts and their answer indices ``y`` (``0 … A-1``).

    Args:
        val: ``(texts, answer indices, scores (N, A))`` of the validation texts: ``mix`` is
            the :attr:`MemoryConfig.mixes` value whose ``scores + mix * log_votes`` has the
            best macro-F1 on them (the first value wins ties). None keeps the first.
        log: where to print a line about it.

    Raises:
        TrainingError: no texts, or answers out of range.
    """
    c = config or MemoryConfig()
    texts, y = list(texts), np.asarray(y, dtype=np.int64)
    if not texts or len(texts) != len(y):
        raise TrainingError(f"the memory needs one answer per text, got {len(texts)} texts "
                            f"and {len(y)} answers")
    if y.min() < 0 or y.max() >= n_answers:
        raise TrainingError(f"memory answers must be in 0..{n_answers - 1}")
    t0 = time.perf_counter()
    fc, tok = c.features_config(), Tokenizer()
    cache: dict[Any, Any] = {}
    counts = features(texts, fc, None, tok, cache)
    df = np.bincount(counts.col_indices().numpy(), minlength=2 * int(c.buckets))
    cols = np.flatnonzero((df > 0) & (df <= c.max_df * len(texts)))
    idf = smoothed_idf(df, len(texts)).astype(np.float32)[cols]
    prior = (np.bincount(y, minlength=n_answers) + 1.0) / (len(y) + n_answers)  # add-one
    full_idf, where = _column_maps(cols, idf, int(c.buckets))
    matrix = _kept(features(texts, fc, full_idf, tok, cache), where, len(cols))
    memory = Memory(c, cols, idf, matrix, y, prior, c.mixes[0])
    best = None
    if val is not None and len(val[0]):
        best = best_mix(np.asarray(val[1]), np.asarray(val[2]), memory.log_votes(val[0]),
                        c.mixes)
        memory.mix = best[1]
    if log is not None:
        log(f"memory: {len(texts):,} texts over {len(cols):,} n-gram features, mix "
            f"{memory.mix} " + (f"(val macro-F1 {100 * best[0]:.2f}) " if best else "")
            + f"in {time.perf_counter() - t0:.0f} s")
    return memory
