"""Evaluation of a ranker: hinge, accuracy, macro-F1, MRR, recall@k, per-class report, plots.

:func:`evaluate` scores a list of :class:`~emojiqa.datasets.Example` against a candidate set
(by default the emojis that label the data, e.g. 🎉 😈 😡 for the airline tweets) and returns
a JSON-ready dict; :func:`classification_report` does the arithmetic from a score matrix.
Plots (confusion matrix, loss curves) use matplotlib's Agg backend, imported lazily.

Example:
    >>> import numpy as np
    >>> r = classification_report(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), ["a", "b"])
    >>> r["accuracy"], r["macro_f1"]
    (1.0, 1.0)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .datasets import Example
    from .ranker import EmojiRanker


def classification_report(y_true: np.ndarray, scores: np.ndarray, labels: Sequence[str],
                          ks: Sequence[int] = (1, 5)) -> dict[str, Any]:
    """Accuracy, macro-F1, MRR, recall@k and a per-class report from scores.

    Args:
        y_true: ``(N,)`` index of the right candidate.
        scores: ``(N, C)`` score of every candidate (higher is better).
        labels: ``C`` candidate names (used in the per-class report).
        ks: cut-offs for recall@k.

    Returns:
        dict with ``accuracy``, ``macro_f1``, ``mrr``, ``recall@k``, ``per_class`` and
        ``confusion`` (rows: true, columns: predicted). Macro-F1 averages over the classes
        that occur as truth or prediction (as scikit-learn does).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    n, c = scores.shape
    if n == 0:
        raise ValueError("no examples to evaluate")
    pred = scores.argmax(1)
    true_score = scores[np.arange(n), y_true]
    rank = 1 + (scores > true_score[:, None]).sum(1)  # (N,) 1 = best; ties favour the truth
    cm = np.zeros((c, c), dtype=np.int64)
    np.add.at(cm, (y_true, pred), 1)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1)
    predicted = cm.sum(0)
    prec = np.divide(tp, predicted, out=np.zeros(c), where=predicted > 0)
    rec = np.divide(tp, support, out=np.zeros(c), where=support > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(c), where=(prec + rec) > 0)
    present = (support > 0) | (predicted > 0)
    out: dict[str, Any] = {
        "n": int(n),
        "accuracy": float((pred == y_true).mean()),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "mrr": float((1.0 / rank).mean()),
    }
    for k in ks:
        out[f"recall@{k}"] = float((rank <= k).mean())
    out["per_class"] = {
        labels[i]: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                    "support": int(support[i]), "predicted": int(predicted[i])}
        for i in range(c) if present[i]}
    out["confusion"] = cm.tolist()
    out["labels"] = list(labels)
    return out


def seed_hinge(scores: np.ndarray, y_true: np.ndarray, margin: float = 0.2, seed: int = 0
               ) -> float:
    """The seed's validation number: mean ``max(0, margin − cos⁺ + cos⁻)`` with one wrong
    answer per text drawn at random (fixed by ``seed``)."""
    rng = np.random.default_rng(seed)
    n, c = scores.shape
    if c < 2:
        return 0.0
    off = rng.integers(1, c, size=n)
    neg = (y_true + off) % c  # uniform over the c - 1 wrong answers
    pos_s = scores[np.arange(n), y_true]
    neg_s = scores[np.arange(n), neg]
    return float(np.maximum(0.0, margin - pos_s + neg_s).mean())


def evaluate(ranker: EmojiRanker, examples: Sequence[Example], *,
             candidates: Sequence[str] | None = None, use_known: bool = True,
             margin: float | None = None) -> dict[str, Any]:
    """Score ``examples`` with ``ranker`` against a candidate set of emojis.

    Args:
        ranker: the trained ranker.
        examples: texts with their right emoji.
        candidates: emoji keys to choose among (default: the sorted keys labelling
            ``examples``); keys outside the answer table are scored from their drawing.
        use_known: use the per-emoji corrections of emojis seen in training.
        margin: hinge margin (default: the model's).

    Returns:
        :func:`classification_report` plus ``hinge`` and ``candidates`` (emoji characters).

    Example:
        >>> evaluate(ranker, load_airline("val"))["macro_f1"]  # doctest: +SKIP
    """
    from .emojis import EmojiSet, info_for

    if not examples:
        raise ValueError("no examples to evaluate")
    keys = list(candidates) if candidates is not None else sorted({e.key for e in examples})
    pos = {k: i for i, k in enumerate(keys)}
    missing = sorted({e.key for e in examples} - set(pos))
    if missing:
        raise ValueError(f"labels {missing} are not among the candidates")
    answers = ranker.answers
    base = ranker.emojis
    images = np.stack([answers.image(answers.index(k)) if k in ranker.answer_index
                       else base.image(base.index(k)) for k in keys])
    cand = EmojiSet(keys, images, style="candidates")
    texts = [e.text for e in examples]
    q = ranker.encode_text(texts)
    a = ranker.encode_emojis(cand, use_known=use_known)
    scores = q @ a.T  # (N, C) cosines
    if use_known and ranker.has_heads:  # + the wide head's and memory's terms
        scores = scores + ranker.head_term(texts, keys, q)
    y = np.array([pos[e.key] for e in examples])
    labels = [info_for(k).emoji or k for k in keys]
    rep = classification_report(y, scores, labels, ks=(1, 5))
    rep["hinge"] = seed_hinge(scores, y, margin if margin is not None else ranker.config.margin)
    rep["candidates"] = keys
    return rep


def format_report(rep: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`evaluate`'s result."""
    lines = [f"n={rep['n']}  accuracy {100 * rep['accuracy']:.1f}%  macro-F1 "
             f"{100 * rep['macro_f1']:.1f}  MRR {rep['mrr']:.3f}  recall@1 "
             f"{100 * rep['recall@1']:.1f}%  recall@5 {100 * rep['recall@5']:.1f}%  "
             f"hinge {rep['hinge']:.4f}",
             f"{'class':<8}{'prec':>7}{'recall':>8}{'f1':>7}{'support':>9}{'predicted':>10}"]
    for label, r in rep["per_class"].items():
        lines.append(f"{label:<8}{100 * r['precision']:7.1f}{100 * r['recall']:8.1f}"
                     f"{100 * r['f1']:7.1f}{r['support']:9d}{r['predicted']:10d}")
    return "\n".join(lines)


def _save_fig(fig: Any, path: str | os.PathLike[str]) -> Path:
    import io

    from .storage import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def plot_confusion(rep: dict[str, Any], path: str | os.PathLike[str], title: str = "",
                   max_classes: int = 30) -> Path:
    """Confusion-matrix PNG (row-normalised colours, counts written in cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager  # noqa: F401  (fonts may lack emoji glyphs)

    cm = np.asarray(rep["confusion"], dtype=np.float64)[:max_classes, :max_classes]
    from .emojis import info_for

    keys = [info_for(k).name[:18] if k in rep.get("candidates", ()) else k
            for k in rep.get("candidates", rep["labels"])[:max_classes]]  # fonts lack emoji
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = 2.5 + 0.45 * len(keys)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(keys)), keys, rotation=90, fontsize=7)
    ax.set_yticks(range(len(keys)), keys, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(keys) <= 12:
        for i in range(len(keys)):
            for j in range(len(keys)):
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title or f"accuracy {100 * rep['accuracy']:.1f}%, "
                          f"macro-F1 {100 * rep['macro_f1']:.1f}")
    try:
        return _save_fig(fig, path)
    finally:
        plt.close(fig)


def plot_history(history: dict[str, list[float]], path: str | os.PathLike[str],
                 title: str = "") -> Path:
    """Loss/metric curves per epoch as PNG (``emojiqa.plots.plot_losses`` when present)."""
    try:
        from .plots import plot_losses
    except ImportError:
        pass
    else:
        return plot_losses(history, path, title=title)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in history.items():
        if values:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.legend()
    ax.set_title(title)
    try:
        return _save_fig(fig, path)
    finally:
        plt.close(fig)
