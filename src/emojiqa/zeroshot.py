"""Zero-shot evaluation: how well a ranker answers with emojis it never saw in training.

Two protocols and one sanity check, each returning a dict of retrieval metrics next to the
random baseline for the same number of candidates:

* :func:`new_releases` — the ranker was trained with every Emoji ≥ 14.0 emoji held out (see
  :func:`emojiqa.sources.held_out_keys`); each held-out emoji is queried with its CLDR label
  (or its keywords joined into one text) and ranked among **all** base emojis.
* :func:`new_drawings` — the ranker was trained on Twemoji drawings only; each emoji is queried
  with its CLDR label and ranked among the **Noto** (or OpenMoji) drawings, through the pixel
  path alone.
* :func:`cldr_retrieval` — query = label, rank among all base emojis (seen or not).

Metrics (:func:`retrieval_metrics`): recall@1, recall@10, MRR, median rank; the random
baseline is exact: recall@k = k/N, MRR = H_N/N, median rank = (N+1)/2.

Example:
    >>> from emojiqa.ranker import EmojiRanker
    >>> r = EmojiRanker.from_pretrained("runs/heldout")       # doctest: +SKIP
    >>> new_releases(r)["recall@10"]                          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .emojis import EmojiSet, load_metadata
from .sources import HELD_OUT_MIN_VERSION, candidate_set, held_out_keys

#: The answer paths: ``known`` (the answer tower with each seen emoji's own correction; an
#: unseen emoji from its drawing alone), ``lookalike`` (as ``known``, and an emoji without a
#: correction of its own borrows those of the training drawings it looks like), ``pixels``
#: (every emoji from its drawing alone, as if it were new).
ANSWER_PATHS = ("known", "lookalike", "pixels")


def random_baseline(n_candidates: int) -> dict[str, float]:
    """Exact metrics of a uniformly random ranking over ``n_candidates``.

    Example:
        >>> random_baseline(100)["recall@10"]
        0.1
    """
    n = int(n_candidates)
    if n < 1:
        raise ValueError(f"n_candidates must be >= 1, got {n_candidates!r}")
    harmonic = float(np.sum(1.0 / np.arange(1, n + 1)))
    return {"recall@1": 1.0 / n, "recall@10": min(10, n) / n, "mrr": harmonic / n,
            "median_rank": (n + 1) / 2}


def retrieval_metrics(ranks: Sequence[int] | np.ndarray, n_candidates: int) -> dict[str, Any]:
    """Recall@1/10, MRR and median rank of 1-based ``ranks``, with the random baseline.

    Example:
        >>> m = retrieval_metrics([1, 3, 20], n_candidates=100)
        >>> round(m["recall@10"], 3), m["median_rank"]
        (0.667, 3.0)
    """
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        raise ValueError("no queries to evaluate: ranks is empty")
    return {"n_queries": int(r.size), "n_candidates": int(n_candidates),
            "recall@1": float(np.mean(r <= 1)), "recall@10": float(np.mean(r <= 10)),
            "mrr": float(np.mean(1.0 / r)), "median_rank": float(np.median(r)),
            "random": random_baseline(n_candidates)}


def ranks_of_targets(text_vecs: np.ndarray, emoji_vecs: np.ndarray,
                     targets: Sequence[int]) -> np.ndarray:
    """1-based rank of each query's target among all candidates (ties count against it).

    Args:
        text_vecs: ``(Q, D)`` normalised query vectors.
        emoji_vecs: ``(N, D)`` normalised candidate vectors.
        targets: ``Q`` indices into the candidates.
    """
    scores = np.asarray(text_vecs, np.float32) @ np.asarray(emoji_vecs, np.float32).T  # (Q, N)
    idx = np.asarray(targets, dtype=np.int64)
    target = scores[np.arange(len(idx)), idx][:, None]  # (Q, 1)
    return np.sum(scores >= target, axis=1)  # itself included: 1-based, ties pessimistic


def _emoji_vectors(ranker: Any, emojis: EmojiSet, path: str, *, hide_keys: bool = False
                   ) -> np.ndarray:
    """Candidate vectors through ``path`` (see :data:`ANSWER_PATHS`); ``hide_keys`` encodes
    the drawings as bare images, so no candidate can use its own correction."""
    images = np.ascontiguousarray(emojis.images)
    if path == "known":
        return ranker.encode_emojis(images if hide_keys else emojis, lookalike=False)
    if path == "lookalike":
        return ranker.encode_emojis(images if hide_keys else emojis, lookalike=True)
    if path == "pixels":
        return ranker.encode_emojis(images, lookalike=False)
    raise ValueError(f"unknown answer path {path!r}; use one of {ANSWER_PATHS}")


def label_queries(keys: Sequence[str], kind: str = "label") -> tuple[list[str], list[str]]:
    """Query texts for ``keys``: ``label`` (CLDR short name) or ``keywords`` (joined).

    Emojis without that text are skipped; returns ``(texts, keys)`` aligned.
    """
    meta = load_metadata()
    texts, out = [], []
    for k in keys:
        e = meta.get(k)
        if e is None:
            continue
        if kind == "label":
            t = e.label
        elif kind == "keywords":
            t = " ".join(dict.fromkeys(w for w in e.keywords if w.lower() != e.label.lower()))
        else:
            raise ValueError(f"query kind must be 'label' or 'keywords', got {kind!r}")
        if t.strip():
            texts.append(t)
            out.append(k)
    return texts, out


def evaluate_queries(ranker: Any, texts: Sequence[str], target_keys: Sequence[str],
                     candidates: EmojiSet, *, path: str = "known",
                     encode: Callable[[Any, EmojiSet, str], np.ndarray] | None = None,
                     return_ranks: bool = False) -> dict[str, Any]:
    """Rank each target among ``candidates`` for its query text and return the metrics
    (with ``return_ranks``, also ``"ranks"``: each query's 1-based rank, in query order)."""
    if len(texts) != len(target_keys):
        raise ValueError(f"{len(texts)} texts for {len(target_keys)} target keys")
    pos = {k: i for i, k in enumerate(candidates.keys)}
    missing = [k for k in target_keys if k not in pos]
    if missing:
        raise ValueError(f"{len(missing)} target(s) not among the candidates, e.g. {missing[:3]}")
    tv = ranker.encode_text(list(texts), normalize=True)
    ev = (encode or _emoji_vectors)(ranker, candidates, path)
    ranks = ranks_of_targets(tv, ev, [pos[k] for k in target_keys])
    out = retrieval_metrics(ranks, len(candidates))
    out["path"] = path
    if return_ranks:
        out["ranks"] = ranks
    return out


def new_releases(ranker: Any, *, query: str = "label", path: str = "known",
                 candidates: EmojiSet | None = None,
                 min_version: float = HELD_OUT_MIN_VERSION) -> dict[str, Any]:
    """The *new releases* protocol: held-out emojis queried by their CLDR text.

    ``ranker`` must have been trained on :func:`emojiqa.sources.training_examples` and
    :func:`~emojiqa.sources.training_emoji_sets` with ``hold_out=True``. Targets are the
    held-out base emojis; candidates are all base emojis (default: Twemoji, ≈ 1,979).

    Example:
        >>> new_releases(ranker, query="keywords")["median_rank"]   # doctest: +SKIP
    """
    cands = candidates if candidates is not None else candidate_set("twemoji")
    held = held_out_keys(min_version)
    targets = [k for k in cands.keys if k in held]
    texts, keys = label_queries(targets, query)
    out = evaluate_queries(ranker, texts, keys, cands, path=path)
    out.update(protocol="new_releases", query=query, min_version=min_version)
    return out


def new_drawings(ranker: Any, *, style: str = "noto", keys: Sequence[str] | None = None,
                 query: str = "label", path: str = "pixels", return_ranks: bool = False
                 ) -> dict[str, Any]:
    """The *new drawings* protocol: label queries ranked among another artist's drawings.

    ``ranker`` should have been trained on Twemoji images only; the candidates are every base
    emoji drawn in ``style`` (Noto ≈ 1,680, OpenMoji ≈ 1,950) and go in as bare images, so a
    per-emoji code learned from Twemoji cannot stand in for looking at the drawing: ``pixels``
    scores the drawing alone, ``lookalike`` adds the corrections of the Twemoji drawings it
    looks like (found from its pixels, never from its key).

    Args:
        keys: restrict queries to these emojis (default: every candidate with a label).
        path: ``pixels`` or ``lookalike``.
        return_ranks: also return each query's rank (``"ranks"``, in query order).
    """
    if path not in ("pixels", "lookalike"):
        raise ValueError(f"new_drawings path must be 'pixels' or 'lookalike', got {path!r}")
    cands = candidate_set(style)
    texts, qkeys = label_queries(keys if keys is not None else cands.keys, query)
    out = evaluate_queries(ranker, texts, qkeys, cands, path=path,
                           encode=lambda r, es, p: _emoji_vectors(r, es, p, hide_keys=True),
                           return_ranks=return_ranks)
    out.update(protocol="new_drawings", style=style, query=query)
    return out


def cldr_retrieval(ranker: Any, *, path: str = "known", style: str = "twemoji"
                   ) -> dict[str, Any]:
    """Query every base emoji by its CLDR label and rank it among all base emojis."""
    cands = candidate_set(style)
    texts, keys = label_queries(cands.keys, "label")
    out = evaluate_queries(ranker, texts, keys, cands, path=path)
    out.update(protocol="cldr_retrieval", style=style)
    return out


def format_metrics(m: dict[str, Any]) -> str:
    """One line: ``R@1 … R@10 … MRR … median … (random R@10 …, median …)``."""
    rnd = m["random"]
    return (f"R@1 {100 * m['recall@1']:.1f}%  R@10 {100 * m['recall@10']:.1f}%  "
            f"MRR {m['mrr']:.3f}  median rank {m['median_rank']:.0f} of {m['n_candidates']}  "
            f"(random: R@10 {100 * rnd['recall@10']:.1f}%, MRR {rnd['mrr']:.4f}, "
            f"median {rnd['median_rank']:.0f}; n={m['n_queries']})")
