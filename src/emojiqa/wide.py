"""The wide head: a converged linear model over a text's n-grams, next to the dual encoder.

A dual encoder trained by SGD with early stopping leaves accuracy on the table that a convex,
fully converged linear fit of the same kind of features keeps (on TweetEval a logistic
regression over TF-IDF n-grams beats every SGD-trained text tower of this size). The wide head
is that fit, inside the model ("wide & deep", Cheng et al. 2016): hashed word 1–2-grams and
character 2–5-grams of each whitespace token, sublinear term frequency times the idf of the
training texts, each of the two blocks L2-normalised, a multinomial logistic regression over the
answer table fitted full-batch with L-BFGS and an L2 penalty. It is trained after the towers, on
the same training texts; its weight ``mix`` is chosen on the validation texts (0 is among the
choices, so it never makes val worse), and a ranker with a wide head scores an answer-table
emoji by ``cosine + mix * log p(emoji | text)``.

The head knows only the emojis of the answer table: other emojis get the text's lowest answer
log-probability, so among them the towers alone decide. The zero-shot protocols
(:mod:`emojiqa.zeroshot`), which are about emojis outside the answer table, score with the
towers alone. One :class:`WideConfig` per head; a
fitted head is a folder (``config.json`` + ``model.safetensors``) inside the ranker's folder as
``wide/``.

Example:
    >>> head = fit_wide(["good", "bad"], np.array([0, 1]), 2, WideConfig(buckets=64, iters=5))
    >>> head.log_probs(["good"]).shape
    (1, 2)
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError, ModelLoadError, TrainingError
from .storage import read_model_folder, write_model_folder
from .text import Tokenizer, ngram_pairs, smoothed_idf

MODEL_TYPE = "wide"


@dataclass(frozen=True)
class WideConfig:
    """Every setting of a :class:`WideHead`.

    Attributes:
        buckets: hash buckets of each block (word n-grams, character n-grams).
        word_ngrams: longest word n-gram.
        char_ngrams: (shortest, longest) character n-gram of each whitespace token.
        l2: L2 penalty on the weights (per weight, added to the mean training loss).
        iters: L-BFGS iterations (full batch).
        mixes: the weights of the log-probability next to the cosine to choose from on
            val; the first is used when there is no val.
    """

    buckets: int = 524288
    word_ngrams: int = 2
    char_ngrams: tuple[int, int] = (2, 5)
    l2: float = 5e-6
    iters: int = 150
    mixes: tuple[float, ...] = (0.2, 0.0, 0.05, 0.1, 0.4, 0.8)

    def __post_init__(self) -> None:
        if int(self.buckets) < 2 or int(self.iters) < 1:
            raise ConfigError(f"WideConfig needs buckets >= 2 and iters >= 1, got "
                              f"{self.buckets} and {self.iters}")
        if not self.l2 >= 0 or not self.mixes or min(self.mixes) < 0:
            raise ConfigError(f"WideConfig needs l2 >= 0 and mixes >= 0, got {self.l2} and "
                              f"{self.mixes}")
        if len(self.char_ngrams) != 2 or self.word_ngrams < 1:
            raise ConfigError(f"WideConfig needs word_ngrams >= 1 and char_ngrams (min, max), "
                              f"got {self.word_ngrams} and {self.char_ngrams}")


class WideHead:
    """A fitted wide head: n-gram features → log-probabilities over the answer table.

    Args:
        config: its :class:`WideConfig`.
        idf: ``(2 * buckets,)`` idf of each bucket (word block, then character block).
        rows: ``(R,)`` the feature rows with weights (the others never occurred in training
            and stay 0).
        weight: ``(R, A)`` weights of those rows.
        bias: ``(A,)``.
        mix: weight of the log-probability next to the cosine.
    """

    def __init__(self, config: WideConfig, idf: np.ndarray, rows: np.ndarray,
                 weight: torch.Tensor, bias: torch.Tensor, mix: float) -> None:
        self.config = config
        self.idf = np.asarray(idf, dtype=np.float32)
        self.mix = float(mix)
        self.rows = np.asarray(rows, dtype=np.int64)
        self._where = row_map(self.rows, 2 * int(config.buckets))  # feature → weight row
        # one zero row at the end: what every feature without weights maps to
        self.weight = torch.cat([weight.float(), torch.zeros(1, weight.shape[1])])
        self.bias = bias.float()
        self._tokenizer = Tokenizer()
        self._cache: dict = {}

    @property
    def n_answers(self) -> int:
        return int(self.bias.shape[0])

    def log_probs(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), A)`` log-probabilities of the answer table."""
        x = features(texts, self.config, self.idf, self._tokenizer, self._cache)
        return self.log_probs_of(x).numpy()

    def log_probs_of(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of a feature matrix from :func:`features`."""
        ids = torch.from_numpy(self._where[x.col_indices().numpy()])
        z = F.embedding_bag(ids, self.weight, x.crow_indices()[:-1], mode="sum",
                            per_sample_weights=x.values()) + self.bias
        return torch.log_softmax(z, dim=1)

    def term(self, texts: Sequence[str]) -> np.ndarray:
        """``mix * log p``: what the head adds to each answer's cosine, ``(N, A)``."""
        return (self.mix * self.log_probs(texts)).astype(np.float32)

    def save_pretrained(self, folder: str | os.PathLike[str], *, half: bool = False) -> Path:
        dtype = torch.float16 if half else torch.float32
        tensors = {"idf": torch.from_numpy(self.idf), "rows": torch.from_numpy(self.rows),
                   "weight": self.weight[:-1].to(dtype).contiguous(), "bias": self.bias,
                   "mix": torch.tensor(self.mix)}
        return write_model_folder(folder, model_type=MODEL_TYPE, config=self.config,
                                  tensors=tensors)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> WideHead:
        config, t = read_model_folder(folder, model_type=MODEL_TYPE, config_cls=WideConfig)
        try:
            return cls(config, t["idf"].float().numpy(), t["rows"].numpy(), t["weight"],
                       t["bias"], float(t["mix"]))
        except (KeyError, RuntimeError, IndexError) as exc:
            raise ModelLoadError(f"{folder} is not a complete wide head ({exc!r}); re-save "
                                 "the model.") from exc


def row_map(rows: np.ndarray, size: int) -> np.ndarray:
    """``(size,)`` each feature's weight row: its index in ``rows``, ``len(rows)`` (the zero
    row) for a feature without weights."""
    where = np.full(size, len(rows), dtype=np.int64)
    where[rows] = np.arange(len(rows))
    return where


def features(texts: Sequence[str], config: WideConfig, idf: np.ndarray | None = None,
             tokenizer: Tokenizer | None = None, cache: dict | None = None) -> torch.Tensor:
    """The sparse ``(len(texts), 2 * buckets)`` CSR feature matrix of the texts: each block
    (word n-grams, character n-grams) sublinear tf × ``idf`` and L2-normalised (counts alone,
    sublinear, when ``idf`` is None)."""
    tok = tokenizer or Tokenizer()
    texts = list(texts)
    words = [tok.words(t) for t in texts]
    b = int(config.buckets)
    lo, hi = config.char_ngrams
    cache = cache if cache is not None else {}
    blocks = []
    for k, (wn, ch) in enumerate(((config.word_ngrams, (lo, 0)), (0, (lo, hi)))):
        rows, ids = ngram_pairs(texts, words, b, wn, ch, cache)
        key = rows * (2 * b) + ids + k * b
        uniq, counts = np.unique(key, return_counts=True)
        blocks.append((uniq // (2 * b), uniq % (2 * b), 1.0 + np.log(counts)))
    r = np.concatenate([x[0] for x in blocks])
    c = np.concatenate([x[1] for x in blocks])
    v = np.concatenate([x[2] for x in blocks]).astype(np.float32)
    if idf is not None:
        v = v * idf[c]
    # each block of each text to unit length
    block = (c >= b).astype(np.int64)
    norm = np.zeros(2 * len(texts))
    np.add.at(norm, r * 2 + block, v.astype(np.float64) ** 2)
    v = (v / np.sqrt(np.maximum(norm[r * 2 + block], 1e-12))).astype(np.float32)
    order = np.lexsort((c, r))
    r, c, v = r[order], c[order], v[order]
    crow = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=len(texts)), out=crow[1:])
    return sparse_csr(torch.from_numpy(crow), torch.from_numpy(c), torch.from_numpy(v),
                      (len(texts), 2 * b))


def sparse_csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor,
               size: tuple[int, int]) -> torch.Tensor:
    """A sparse CSR matrix (torch's notice that CSR support is in beta silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=size)


def fit_wide(texts: Sequence[str], y: np.ndarray, n_answers: int,
             config: WideConfig | None = None, *,
             sample_weight: np.ndarray | None = None,
             val: tuple[Sequence[str], np.ndarray, np.ndarray] | None = None,
             log: Callable[[str], None] | None = None) -> WideHead:
    """Fit a wide head on training texts and their answer indices ``y`` (``0 … A-1``).

    Args:
        sample_weight: ``(N,)`` weight of each training text in the loss (the ranker's
            class-balanced weights); None weighs them equally.
        val: ``(texts, answer indices, cosines (N, A))`` of the validation texts: the head's
            ``mix`` is the :attr:`WideConfig.mixes` value whose ``cosine + mix * log p`` has
            the best macro-F1 on them (the first value wins ties). None keeps the first.
        log: where to print a line about the fit.

    Raises:
        TrainingError: no texts, labels out of range, or a non-finite loss.
    """
    c = config or WideConfig()
    y = np.asarray(y, dtype=np.int64)
    if len(texts) == 0 or len(texts) != len(y):
        raise TrainingError(f"the wide head needs one answer per text, got {len(texts)} texts "
                            f"and {len(y)} answers")
    if y.min() < 0 or y.max() >= n_answers:
        raise TrainingError(f"wide head answers must be in 0..{n_answers - 1}")
    t0 = time.perf_counter()
    tok, cache = Tokenizer(), {}
    counts = features(texts, c, None, tok, cache)
    df = np.bincount(counts.col_indices().numpy(), minlength=2 * int(c.buckets))
    idf = smoothed_idf(df, len(texts)).astype(np.float32)
    x = features(texts, c, idf, tok, cache)
    rows = np.flatnonzero(df)
    where = row_map(rows, 2 * int(c.buckets))
    # the same matrix over the used rows only: (N, R) (every column of x is a used row)
    xr = sparse_csr(x.crow_indices(), torch.from_numpy(where[x.col_indices().numpy()]),
                    x.values(), (len(texts), len(rows)))
    w = torch.ones(len(y)) if sample_weight is None else torch.as_tensor(
        np.asarray(sample_weight, dtype=np.float32))
    w = w / w.mean()
    target = torch.from_numpy(y)
    weight = torch.zeros(len(rows), n_answers, requires_grad=True)
    bias = torch.zeros(n_answers, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=1, max_iter=int(c.iters), history_size=10,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-7,
                            tolerance_change=1e-10)

    def objective() -> torch.Tensor:
        z = xr @ weight + bias
        return (F.cross_entropy(z, target, reduction="none") * w).mean() + c.l2 * (
            weight * weight).sum()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        loss = float(objective())
    if not np.isfinite(loss):
        raise TrainingError("the wide head's loss is not finite; check the texts and labels")
    head = WideHead(c, idf, rows, weight.detach(), bias.detach(), c.mixes[0])
    best = None
    if val is not None and len(val[0]):
        best = best_mix(np.asarray(val[1]), np.asarray(val[2]), head.log_probs(val[0]),
                        c.mixes)
        head.mix = best[1]
    if log is not None:
        log(f"wide head: {len(rows):,} n-gram features, loss {loss:.4f}, mix {head.mix} "
            + (f"(val macro-F1 {100 * best[0]:.2f}) " if best is not None else "")
            + f"in {time.perf_counter() - t0:.0f} s")
    return head


def best_mix(y: np.ndarray, scores: np.ndarray, extra: np.ndarray,
             mixes: Sequence[float]) -> tuple[float, float]:
    """``(macro-F1, mix)`` of the ``mixes`` value whose ``scores + mix * extra`` has the best
    macro-F1 on the answer indices ``y`` (the first value wins ties); ``scores`` and
    ``extra`` are ``(N, A)``."""
    from .metrics import classification_report

    names = [str(i) for i in range(scores.shape[1])]
    best: tuple[float, float] | None = None
    for mix in mixes:
        score = classification_report(y, scores + mix * extra, names)["macro_f1"]
        if best is None or score > best[0]:
            best = (score, float(mix))
    assert best is not None
    return best


def load_if_present(folder: Path) -> Any:
    """The ``wide/`` head inside a ranker folder, or None."""
    return WideHead.from_pretrained(folder / "wide") if (folder / "wide").is_dir() else None
