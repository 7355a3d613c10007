"""What the emoji vectors know: meaning (CLDR subgroups) and sentiment of nearest neighbours.

The bundled ranker's answer vectors (what ``emojiqa similar`` and ``emojiqa embed --emojis``
give) against the other ways to put emojis in a space, over the same emojis (the model's
own set, one drawing per base emoji, as ``emojiqa similar`` ranks them):

* **answer vectors** — the answer tower with the corrections learned for known emojis;
* **answer vectors, drawing only** — the answer tower from the pixels alone (``--drawing-only``);
* **VAE μ** — the bundled VAE's 16-d codes (what emojis look like);
* **random** — the expectation for neighbours drawn at random.

Two questions:

* *Meaning*: the share of each emoji's 1 / 5 nearest neighbours (cosine) in its own CLDR
  subgroup (``face-negative``, ``food-asian``, ...), over every base emoji; flags (a quarter
  of the subgroup ``country-flag`` alone) are left out of queries and neighbours.
* *Sentiment* (the 2017 notebook's first future-work item: "emoji embeddings that are
  conscious of sentiment"): over the emojis with at least ``--min-esr`` occurrences in the
  Emoji Sentiment Ranking (Kralj Novak et al. 2015, bundled), the Spearman correlation of an
  emoji's sentiment score with the mean score of its 5 nearest neighbours among them, and of
  a ridge probe's predicted score (5-fold cross-validated, ridge penalty chosen inside each
  training fold) with the score.

Example:
    python benchmarks/similar.py              # writes benchmarks/results/similar.json
    python benchmarks/similar.py --quick      # CI smoke (a subset of the emojis)
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_args, apply_threads, print_table, write_results  # noqa: E402

#: Nearest neighbours per query.
K = 5
#: Ridge penalties the sentiment probe chooses from (inside each training fold).
ALPHAS = (0.1, 1.0, 10.0, 100.0)


def spaces(quick: bool) -> tuple[Any, dict[str, np.ndarray]]:
    """The candidate set and the unit vectors of each space over it."""
    from emojiqa.ranker import EmojiRanker
    from emojiqa.vae import VAE

    ranker = EmojiRanker.from_pretrained()
    cand, answer = ranker.candidates(None)  # one drawing per base emoji, as `similar` ranks
    if quick:
        cand = cand.subset(range(0, len(cand), 4))
        answer = ranker.encode_emojis(cand)
    drawn = ranker.encode_emojis(cand, use_known=False)
    vae = ranker.vae if ranker.vae is not None else VAE.from_pretrained()
    mu = vae.embed(cand)
    mu = (mu - mu.mean(0)) / np.linalg.norm(mu - mu.mean(0), axis=1, keepdims=True)
    return cand, {"answer vectors": answer, "answer vectors, drawing only": drawn,
                  "VAE μ": mu.astype(np.float32)}


def neighbours(vectors: np.ndarray, pool: np.ndarray, k: int = K) -> np.ndarray:
    """``(len(pool), k)`` indices into ``pool`` of each pool row's nearest others."""
    v = vectors[pool]
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def meaning(cand: Any, vecs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Share of the nearest neighbours in the query's CLDR subgroup, per space."""
    infos = list(cand)
    pool = np.array([i for i, e in enumerate(infos) if e.group != "flags" and e.subgroup])
    sub = np.array([infos[i].subgroup for i in pool])
    same = sub[:, None] == sub[None, :]
    np.fill_diagonal(same, False)
    rows = []
    for name, v in vecs.items():
        nn = neighbours(v, pool)
        hit = same[np.arange(len(pool))[:, None], nn]
        rows.append({"space": name, "emojis": len(pool), "subgroup_at_1": 100 * hit[:, 0].mean(),
                     "subgroup_at_5": 100 * hit.mean()})
    chance = 100 * same.sum(1).mean() / (len(pool) - 1)
    rows.append({"space": "random", "emojis": len(pool), "subgroup_at_1": chance,
                 "subgroup_at_5": chance})
    return rows


def esr_scores(min_n: int) -> dict[str, float]:
    """Emoji key → Emoji Sentiment Ranking score, for emojis seen at least ``min_n`` times."""
    from emojiqa.emojis import data_path

    with open(data_path("emoji", "emoji_sentiment.csv"), encoding="utf-8") as fh:
        return {r["key"]: float(r["esr_score"]) for r in csv.DictReader(fh)
                if r["esr_n"] and int(r["esr_n"]) >= min_n}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def probe(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Cross-validated ridge predictions of ``y`` from ``x`` (penalty chosen by an inner
    split of each training fold)."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(y)) % folds
    out = np.zeros(len(y))

    def fit(xa: np.ndarray, ya: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
        mx, my = xa.mean(0), ya.mean()
        xc = xa - mx
        w = np.linalg.solve(xc.T @ xc + alpha * np.eye(xa.shape[1]), xc.T @ (ya - my))
        return w, my - mx @ w

    for f in range(folds):
        tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        inner = rng.permutation(tr)
        cut = len(inner) * 4 // 5
        a, b = inner[:cut], inner[cut:]
        best = max(ALPHAS, key=lambda al: spearman(x[b] @ fit(x[a], y[a], al)[0]
                                                   + fit(x[a], y[a], al)[1], y[b]))
        w, c = fit(x[tr], y[tr], best)
        out[te] = x[te] @ w + c
    return out


def sentiment(cand: Any, vecs: dict[str, np.ndarray], min_n: int) -> list[dict[str, Any]]:
    """How well each space keeps the emojis' sentiment (Emoji Sentiment Ranking)."""
    scores = esr_scores(min_n)
    pool = np.array([i for i, k in enumerate(cand.keys) if k in scores])
    y = np.array([scores[cand.keys[i]] for i in pool])
    rows = []
    for name, v in vecs.items():
        nn = neighbours(v, pool)
        rows.append({"space": name, "emojis": len(pool),
                     "neighbours_rho": spearman(y, y[nn].mean(1)),
                     "probe_rho": spearman(y, probe(v[pool], y))})
    rng = np.random.default_rng(0)
    rand = np.array([rng.choice(np.delete(np.arange(len(pool)), i), K, replace=False)
                     for i in range(len(pool))])
    rows.append({"space": "random", "emojis": len(pool),
                 "neighbours_rho": spearman(y, y[rand].mean(1)), "probe_rho": None})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints two tables, writes similar(.quick).json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--min-esr", type=int, default=20,
                        help="occurrences an emoji needs in the Emoji Sentiment Ranking")
    args = parser.parse_args(argv)
    apply_threads(args)
    cand, vecs = spaces(args.quick)
    mean_rows = meaning(cand, vecs)
    print_table(mean_rows, ["space", "emojis", ("subgroup_at_1", "same subgroup @1 %"),
                            ("subgroup_at_5", "same subgroup @5 %")],
                title="Meaning: nearest neighbours in the query's CLDR subgroup (flags left out)")
    sent_rows = sentiment(cand, vecs, args.min_esr)
    print_table(sent_rows, ["space", "emojis", ("neighbours_rho", "neighbours' sentiment ρ", 3),
                            ("probe_rho", "ridge probe ρ", 3)],
                title=f"Sentiment: Spearman ρ with the Emoji Sentiment Ranking score "
                      f"(emojis seen ≥ {args.min_esr} times)")
    write_results("similar", {"k": K, "min_esr": args.min_esr, "candidates": len(cand),
                              "meaning": mean_rows, "sentiment": sent_rows}, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
