"""What moves the *new releases* protocol: the text tower, the per-emoji corrections, and a
fusion of two models.

The new-releases protocol (:func:`emojiqa.zeroshot.new_releases`) queries the 102 base emojis
of Unicode Emoji ≥ 14.0 — held out of training entirely — by their CLDR label (or keywords)
and ranks them among all 1,979 base emojis. ``benchmarks/suggest.py`` measures it on the
bundled recipe (GloVe attention + n-gram text tower); this script asks what else moves it.
Every model here is the new-releases protocol model with the pixel answer tower, trained as
the bundled recipe trains (all epochs, all three drawing styles), with one change each:

* ``recipe`` — the recipe as it is (GloVe text tower);
* ``minilm`` — the frozen all-MiniLM-L6-v2 text tower (knows words it never saw in training,
  which a held-out emoji's label is full of);
* ``minilm, no corrections`` — the same without per-emoji corrections (``known_emojis=False``):
  the pixel tower alone must carry every emoji's meaning, so it learns to.

For each, the three answer paths of ``suggest.py`` (``known``, ``lookalike``, ``pixels``) and
both queries. Then a **fusion**: each query's scores from the ``lookalike`` path of one model
and the ``pixels`` path of the corrections-free model, standardised over the candidates and
mixed with weight ``w`` on the second; ``w`` is chosen on the even-numbered queries (MRR) and
reported on the odd-numbered ones, which did not choose it, and on all.

Last, **look-alike names** (:class:`emojiqa.names.NameMatcher` over the ``recipe`` model): a
seen emoji is the MiniLM vector of its CLDR name, an unseen one the look-weighted mean of the
name vectors of the ``k`` training emojis it looks like. ``k`` and the softmax temperature are
chosen on a validation protocol that never touches the test emojis: the Emoji 13.x emojis the
model trained on (74) are made pseudo-new — unnamed, and no one's look-alike — and queried by
their labels among all base emojis (MRR); the held-out Emoji ≥ 14.0 emojis are scored with every
setting, the chosen one marked.

Example:
    python benchmarks/new_releases.py --threads 2     # ~27 min on 2 cores (2 trainings when
                                                      # suggest.py's recipe model is cached)
    python benchmarks/new_releases.py --quick         # CI smoke: tiny trainings
"""

from __future__ import annotations

import argparse
import sys
import time
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
    write_results,
)

#: The models compared: (name, RankerConfig overrides of the new-releases protocol model).
MODELS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("recipe", {}),
    ("minilm", {"text_tower": "minilm"}),
    ("minilm, no corrections", {"text_tower": "minilm", "known_emojis": False}),
)
#: Fusion weights tried (on the corrections-free model's pixel scores).
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Look-alike names: look-alikes per unnamed emoji and softmax temperatures tried.
NAMES_KS = (5, 10, 20, 40, 80)
NAMES_TEMPERATURES = (0.02, 0.05, 0.1, 0.2)
#: The validation emojis of the look-alike names: seen Emoji versions made pseudo-new.
PSEUDO_NEW_VERSIONS = (13.0, 14.0)
#: The ``recipe`` model that ``benchmarks/suggest.py`` trained (reused when present).
SUGGEST_MODEL = CACHE_DIR / "suggest_models" / "new_releases_pixels" / "model"


def train(name: str, overrides: dict[str, Any], work: Path, quick: bool, retrain: bool) -> Any:
    """The protocol model with these overrides (trained here, or reused from the cache)."""
    from emojiqa.ranker import EmojiRanker
    from emojiqa.recipes import train_protocol

    if name == "recipe" and not quick and not retrain and (SUGGEST_MODEL / "config.json").is_file():
        print(f"{name}: reusing {SUGGEST_MODEL}", flush=True)
        return EmojiRanker.from_pretrained(SUGGEST_MODEL)
    folder = work / name.replace(", ", "_").replace(" ", "_")
    model = folder / "model"
    if quick or retrain or not (model / "config.json").is_file():
        kw: dict[str, Any] = ({"epochs": 1, "max_steps": 3, "limit": 3000, "look_epochs": 1,
                               "styles": ("twemoji",)} if quick else {})
        with Timer() as t:
            train_protocol("new_releases", folder, answer_tower="pixels", progress=False,
                           **overrides, **kw)
        print(f"{name}: trained in {t.seconds:.0f} s", flush=True)
    return EmojiRanker.from_pretrained(model)


def standard_scores(ranker: Any, texts: list[str], cands: Any, path: str) -> np.ndarray:
    """(queries, candidates) cosines through an answer path, standardised per query."""
    tv = ranker.encode_text(texts, normalize=True)
    images = np.ascontiguousarray(cands.images)
    ev = ranker.encode_emojis(images if path == "pixels" else cands,
                              lookalike=path == "lookalike")
    s = tv @ ev.T
    return (s - s.mean(1, keepdims=True)) / (s.std(1, keepdims=True) + 1e-8)


def ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each query's target (ties count against it)."""
    own = scores[np.arange(len(targets)), targets][:, None]
    return (scores >= own).sum(1)


def look_alike_names(ranker: Any, cands: Any, held: frozenset[str], quick: bool
                     ) -> list[dict[str, Any]]:
    """Look-alike names over ``ranker``: every (k, temperature) on the pseudo-new val emojis
    and on the held-out test emojis (label query; the chosen setting also with keywords)."""
    from emojiqa import zeroshot as Z
    from emojiqa.emojis import load_metadata
    from emojiqa.names import NameMatcher, minilm_encoder

    encoder = minilm_encoder()
    meta = load_metadata()
    lo, hi = PSEUDO_NEW_VERSIONS
    pseudo = {k for k in ranker.answer_keys
              if meta[k].version is not None and lo <= meta[k].version < hi}
    val_texts, val_keys = Z.label_queries([k for k in cands.keys if k in pseudo], "label")
    out: list[dict[str, Any]] = []
    settings = [(k, t) for k in NAMES_KS for t in NAMES_TEMPERATURES]
    for k, t in settings[:2] if quick else settings:
        val = Z.evaluate_queries(NameMatcher(ranker, encoder, k=k, temperature=t,
                                             exclude=pseudo),
                                 val_texts, val_keys, cands, path="lookalike")
        test = Z.new_releases(NameMatcher(ranker, encoder, k=k, temperature=t), query="label",
                              path="lookalike", candidates=cands)
        # the README's generated table shows the first 9 columns: val, then test figures
        out.append({"k": k, "temperature": t, "chosen": False, "val_mrr": val["mrr"],
                    "val_median_rank": val["median_rank"], "query": "label",
                    "recall_at_10": 100 * test["recall@10"], "mrr": test["mrr"],
                    "median_rank": test["median_rank"],
                    "val_recall_at_10": 100 * val["recall@10"], "n_val": val["n_queries"],
                    "recall_at_1": 100 * test["recall@1"], "n_queries": test["n_queries"],
                    "n_candidates": test["n_candidates"]})
    best = max(out, key=lambda r: r["val_mrr"])
    best["chosen"] = True
    kw = Z.new_releases(NameMatcher(ranker, encoder, k=best["k"],
                                    temperature=best["temperature"]),
                        query="keywords", path="lookalike", candidates=cands)
    out.append({**best, "query": "keywords", "recall_at_1": 100 * kw["recall@1"],
                "recall_at_10": 100 * kw["recall@10"], "mrr": kw["mrr"],
                "median_rank": kw["median_rank"], "n_queries": kw["n_queries"]})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--retrain", action="store_true", help="retrain every model")
    args = parser.parse_args(argv)
    threads = apply_threads(args)
    from emojiqa import zeroshot as Z
    from emojiqa.sources import held_out_keys

    t0 = time.perf_counter()
    work = CACHE_DIR / ("new_releases.quick" if args.quick else "new_releases")
    cands = Z.candidate_set("twemoji")
    held = held_out_keys(Z.HELD_OUT_MIN_VERSION)
    pos = {k: i for i, k in enumerate(cands.keys)}
    rows: list[dict[str, Any]] = []
    scores: dict[tuple[str, str, str], np.ndarray] = {}
    targets: dict[str, np.ndarray] = {}
    rankers: dict[str, Any] = {}
    for name, overrides in MODELS:
        ranker = rankers[name] = train(name, overrides, work, args.quick, args.retrain)
        for query in ("label", "keywords"):
            texts, keys = Z.label_queries([k for k in cands.keys if k in held], query)
            targets[query] = np.array([pos[k] for k in keys])
            for path in ("known", "lookalike", "pixels"):
                s = standard_scores(ranker, texts, cands, path)
                scores[name, path, query] = s
                m = Z.retrieval_metrics(ranks(s, targets[query]), len(cands))
                rows.append({"model": name, "path": path, "query": query,
                             "recall_at_1": 100 * m["recall@1"],
                             "recall_at_10": 100 * m["recall@10"], "mrr": m["mrr"],
                             "median_rank": m["median_rank"], "n_queries": len(texts),
                             "n_candidates": len(cands),
                             "random_median_rank": m["random"]["median_rank"]})
    cols = ["model", "path", "query", ("recall_at_1", "R@1 %", 1), ("recall_at_10", "R@10 %", 1),
            ("mrr", "MRR", 3), "median_rank", "n_queries"]
    print_table(rows, cols, title="New releases: text tower and corrections (pixel tower)")

    fused: list[dict[str, Any]] = []
    pixel_only = "minilm, no corrections"
    for first in ("recipe", "minilm"):
        for query in ("label", "keywords"):
            a, b = scores[first, "lookalike", query], scores[pixel_only, "pixels", query]
            tgt = targets[query]
            even, odd = np.arange(0, len(tgt), 2), np.arange(1, len(tgt), 2)
            by_w = {w: ranks((1 - w) * a + w * b, tgt) for w in WEIGHTS}
            best = max(WEIGHTS, key=lambda w: float(np.mean(1 / by_w[w][even])))
            for w in WEIGHTS:
                r = by_w[w]
                fused.append({
                    "fusion": f"{first} lookalike + {pixel_only} pixels", "query": query,
                    "weight": w, "chosen": w == best,
                    "even_mrr": float(np.mean(1 / r[even])),
                    "odd_mrr": float(np.mean(1 / r[odd])),
                    "odd_recall_at_10": 100 * float(np.mean(r[odd] <= 10)),
                    "odd_median_rank": float(np.median(r[odd])),
                    "recall_at_10": 100 * float(np.mean(r <= 10)),
                    "median_rank": float(np.median(r))})
    print_table(fused, ["fusion", "query", "weight", "chosen", ("even_mrr", "even MRR", 3),
                        ("odd_mrr", "odd MRR", 3), ("odd_recall_at_10", "odd R@10 %", 1),
                        "odd_median_rank", ("recall_at_10", "all R@10 %", 1),
                        ("median_rank", "all median")],
                title="Fusion: look-alike path + corrections-free pixel path "
                      "(weight chosen on even queries)")
    names = look_alike_names(rankers["recipe"], cands, held, args.quick)
    print_table(names, ["k", "temperature", "chosen", ("val_mrr", "val MRR", 3),
                        ("val_recall_at_10", "val R@10 %", 1), "val_median_rank", "query",
                        ("recall_at_10", "test R@10 %", 1), ("mrr", "test MRR", 3),
                        "median_rank"],
                title="Look-alike names (MiniLM), k × temperature chosen on the Emoji 13.x "
                      "pseudo-new emojis (val); test = Emoji ≥ 14.0")
    path = write_results("new_releases", {"threads": threads, "rows": rows, "fusion": fused,
                                          "names": names,
                                          "wall_seconds": time.perf_counter() - t0},
                         quick=args.quick, out=args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
