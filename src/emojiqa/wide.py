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

The head knows only its own emojis (the whole answer table, or, with ``wide_sources``, the
emojis of those sources' texts: :attr:`WideHead.columns`). It reorders them among the
places the towers gave them, by ``cosine + mix * log p``, and never moves them against the
rest (:meth:`emojiqa.ranker.EmojiRanker.head_term`), so other emojis keep the towers'
judgement. ``max_features`` keeps only the most frequent n-grams (the others are dropped from
the features, before their L2 normalisation), which bounds the head's size. The zero-shot protocols
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError, ModelLoadError, TrainingError
from .storage import read_model_folder, write_model_folder
from .text import Tokenizer, dense_idf, smoothed_idf, tfidf_ngrams

MODEL_TYPE = "wide"


@dataclass(frozen=True)
class WideConfig:
    """Every setting of a :class:`WideHead`.

    Attributes:
        buckets: hash buckets of each block (word n-grams, character n-grams).
        max_features: keep only this many n-gram features, the most frequent in training
            (by the number of texts they occur in); the others are left out of every text.
            0: every n-gram seen in training.
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
    max_features: int = 0

    #: Fields added after the first release, with the value a head saved before them had.
    ADDED_FIELDS: ClassVar[Mapping[str, Any]] = MappingProxyType({"max_features": 0})

    def __post_init__(self) -> None:
        if int(self.buckets) < 2 or int(self.iters) < 1 or int(self.max_features) < 0:
            raise ConfigError(f"WideConfig needs buckets >= 2, iters >= 1 and max_features "
                              f">= 0, got {self.buckets}, {self.iters} and "
                              f"{self.max_features}")
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
        idf: ``(2 * buckets,)`` idf of each bucket (word block, then character block); 0 for
            a feature left out (``max_features``).
        rows: ``(R,)`` the feature rows with weights, ascending (the others never occurred
            in training, or were left out, and stay 0).
        weight: ``(R, A)`` weights of those rows.
        bias: ``(A,)``.
        mix: weight of the log-probability next to the cosine.
        columns: ``(A,)`` the ranker's answer-table index of each of the head's answers
            (default ``0 … A-1``: the whole table).
    """

    def __init__(self, config: WideConfig, idf: np.ndarray, rows: np.ndarray,
                 weight: torch.Tensor, bias: torch.Tensor, mix: float,
                 columns: np.ndarray | None = None) -> None:
        self.config = config
        self.idf = np.asarray(idf, dtype=np.float32)
        self.mix = float(mix)
        self.columns = (np.arange(int(bias.shape[0])) if columns is None
                        else np.asarray(columns, dtype=np.int64))
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
        """Write ``config.json`` + ``model.safetensors``: the weights of the rows, their idf
        and the one idf every other feature has. ``half``: the idf in float16 and the weights
        in 8 bits, each row as int8 times its own float16 scale (``max |w| / 127``): a
        quarter of float32, with log-probabilities within a few hundredths."""
        dtype = torch.float16 if half else torch.float32
        other = np.setdiff1d(np.arange(len(self.idf)), self.rows, assume_unique=True)[:1]
        idx = np.int32 if len(self.idf) < 2 ** 31 else np.int64
        tensors = {"idf": torch.from_numpy(self.idf[self.rows]).to(dtype),
                   "idf_other": torch.tensor(float(self.idf[other[0]]) if len(other) else 0.0),
                   "rows": torch.from_numpy(self.rows.astype(idx)), "bias": self.bias,
                   "mix": torch.tensor(self.mix), "columns": torch.from_numpy(self.columns)}
        weight = self.weight[:-1]
        if half:
            scale = (weight.abs().amax(1) / 127).half()
            safe = scale.float().clamp_min(1e-30)[:, None]
            tensors["weight"] = torch.round(weight / safe).clamp(-127, 127).to(torch.int8)
            tensors["weight_scale"] = scale
        else:
            tensors["weight"] = weight.contiguous()
        return write_model_folder(folder, model_type=MODEL_TYPE, config=self.config,
                                  tensors=tensors)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> WideHead:
        config, t = read_model_folder(folder, model_type=MODEL_TYPE, config_cls=WideConfig)
        try:
            rows = t["rows"].numpy().astype(np.int64)
            idf = dense_idf(t["idf"].float().numpy(), rows, t.get("idf_other"),
                            2 * int(config.buckets))
            columns = t["columns"].numpy() if "columns" in t else None
            weight = t["weight"].float()
            if "weight_scale" in t:  # 8-bit rows, each times its scale
                weight = weight * t["weight_scale"].float()[:, None]
            return cls(config, idf, rows, weight, t["bias"], float(t["mix"]), columns)
        except (KeyError, RuntimeError, IndexError, ValueError) as exc:
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
    """The sparse ``(len(texts), 2 * buckets)`` CSR feature matrix of the texts
    (:func:`emojiqa.text.tfidf_ngrams`: each block sublinear tf × ``idf``, L2-normalised;
    counts alone, sublinear, when ``idf`` is None)."""
    tok = tokenizer or Tokenizer()
    texts = list(texts)
    lo, hi = config.char_ngrams
    crow, col, val = tfidf_ngrams(texts, [tok.words(t) for t in texts], int(config.buckets),
                                  config.word_ngrams, (lo, hi), idf, cache)
    return sparse_csr(torch.from_numpy(crow), torch.from_numpy(col), torch.from_numpy(val),
                      (len(texts), 2 * int(config.buckets)))


def sparse_csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor,
               size: tuple[int, int]) -> torch.Tensor:
    """A sparse CSR matrix (torch's notice that CSR support is in beta silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=size)


class _Product:
    """``X @ W`` for a fixed sparse ``X`` (CSR parts), differentiable in ``W``: the backward
    pass multiplies by a transpose of ``X`` built once, several times faster than autograd
    through a CSR product on CPU."""

    def __init__(self, crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor,
                 size: tuple[int, int]) -> None:
        self.x = sparse_csr(crow, col, values, size)
        self.xt = self.x.to_sparse_coo().t().coalesce().to_sparse_csr()

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return _SparseMatmul.apply(weight, self)


class _SparseMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, weight: torch.Tensor, product: _Product) -> torch.Tensor:
        ctx.product = product
        return product.x @ weight

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return ctx.product.xt @ grad, None


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
    tok = Tokenizer()
    cache: dict[Any, Any] = {}
    counts = features(texts, c, None, tok, cache)
    df = np.bincount(counts.col_indices().numpy(), minlength=2 * int(c.buckets))
    idf = smoothed_idf(df, len(texts)).astype(np.float32)
    rows = np.flatnonzero(df)
    if c.max_features and len(rows) > c.max_features:  # the most frequent, ties by index
        rows = np.sort(rows[np.argsort(-df[rows], kind="stable")[: int(c.max_features)]])
        kept = np.zeros(len(idf), bool)
        kept[rows] = True
        idf[~kept] = 0.0  # a left-out feature is 0 in every text, and out of its norm
    x = features(texts, c, idf, tok, cache)
    where = row_map(rows, 2 * int(c.buckets))
    # the same matrix over the kept rows only: (N, R) (a left-out feature's entries are 0 and
    # go to the zero row R, cut off by the product below)
    cols = where[x.col_indices().numpy()]
    keep = cols < len(rows)
    text_of = np.repeat(np.arange(len(texts)), np.diff(x.crow_indices().numpy()))
    crow = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(text_of[keep], minlength=len(texts)), out=crow[1:])
    product = _Product(torch.from_numpy(crow), torch.from_numpy(cols[keep]),
                       x.values()[torch.from_numpy(keep)], (len(texts), len(rows)))
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
        z = product(weight) + bias
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
