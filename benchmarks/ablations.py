"""Ablations behind the suggestion model's design: the look match, the recipe's epochs,
``known_dropout`` and the look-alike settings.

Three parts, each printed as a table and written to ``benchmarks/results/ablations.json``:

* **look** (no training): how often the Twemoji drawing nearest to a Noto (or OpenMoji)
  drawing is the same emoji, for the look features tried — RGBA block means at 18×18 alone,
  18×18 and 9×9 side by side, and the same on each drawing cropped to its visible pixels
  (what :meth:`emojiqa.ranker.EmojiRanker.lookalikes` uses). The features were chosen on the
  even half of the Noto drawings; the odd half is the check.
* **recipe**: the new-drawings protocol model (pixel tower, Twemoji only, the bundled recipe)
  trained 4 epochs, then resumed from its checkpoint to the recipe's 10 (no learning-rate
  schedule, so this is the 10-epoch model), then a run of 10 epochs with
  ``known_dropout=0.25``. For each: CLDR-label retrieval over all 1,979 base emojis with the
  per-emoji corrections and from the drawing alone, Noto new drawings with look-alikes, and
  the tweet val macro-F1 the training loop recorded.
* **lookalike**: ``lookalike_k`` × ``lookalike_temperature`` on the 10-epoch model, Noto
  recall@10 on the even and odd halves (the shipped k = 5, τ = 0.02 were not tuned).
* **look encoder**: the learned look code (:mod:`emojiqa.look`), trained on the 10-epoch
  model's own answer drawings (Twemoji only): the look match of the learned code alone and
  next to the pixel features, and Noto / OpenMoji recall@10 (even / odd halves) for each
  weight ``lookalike_learned`` (0 = pixels alone). The weight is chosen on the even Noto half.

Example:
    python benchmarks/ablations.py --threads 2          # ~15 min on 2 cores (3 trainings)
    python benchmarks/ablations.py --quick              # CI smoke: tiny trainings
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
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

#: (epochs of the first run, epochs after resuming) — the recipe's 10, and 4 where early
#: stopping on tweet val macro-F1 used to stop.
EPOCHS = {"full": (4, 10), "quick": (1, 2)}
#: The look-alike grid of the sweep.
KS = (1, 3, 5, 10, 20)
TAUS = (0.01, 0.02, 0.05)


# --- look match ------------------------------------------------------------------------------
def _pool(x: np.ndarray, side: int) -> np.ndarray:
    f = 36 // side
    return x.reshape(len(x), side, f, side, f, 4).mean((2, 4)).reshape(len(x), -1)


def _unit(x: np.ndarray) -> np.ndarray:
    from emojiqa.ranker import _unit as unit  # the ranker's own (zero rows stay zero)

    return unit(x)


def look_features(images: np.ndarray, kind: str) -> np.ndarray:
    """Look features of ``uint8 (N, 36, 36, 4)`` drawings for one variant of the table."""
    from emojiqa.ranker import _look_features

    if kind == "cropped 18×18 + 9×9":
        return _look_features(images)  # what the ranker ships
    x = images.astype(np.float32) / 255.0
    if kind == "18×18":
        return _pool(x, 18)
    if kind == "18×18 + 9×9":
        return np.concatenate([_unit(_pool(x, 18)), _unit(_pool(x, 9))], 1)
    raise ValueError(kind)


LOOK_KINDS = ("18×18", "18×18 + 9×9", "cropped 18×18 + 9×9")
#: Weights of the learned look code tried (0: the pixel features alone).
LEARNED_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0)


def look_match(style: str, kinds: tuple[str, ...], limit: int | None,
               features: Any = None) -> list[dict[str, Any]]:
    """Nearest Twemoji drawing (of all base emojis) to each drawing of ``style``;
    ``features(images, kind)`` defaults to :func:`look_features`."""
    from emojiqa.sources import candidate_set

    features = features or look_features
    tw, other = candidate_set("twemoji"), candidate_set(style)
    pos = {k: i for i, k in enumerate(tw.keys)}
    rows_of = [i for i, k in enumerate(other.keys) if k in pos]
    if limit:
        rows_of = rows_of[:limit]
    target = np.array([pos[other.keys[i]] for i in rows_of])
    out = []
    for kind in kinds:
        ref = features(tw.images, kind)
        qry = features(other.images[rows_of], kind)
        mean = ref.mean(0)
        sims = _unit(qry - mean) @ _unit(ref - mean).T
        own = sims[np.arange(len(target)), target][:, None]
        ranks = (sims > own).sum(1) + 1
        row: dict[str, Any] = {"style": style, "features": kind, "queries": len(target),
                               "references": len(tw)}
        for half, sel in (("even", slice(0, None, 2)), ("odd", slice(1, None, 2))):
            row[f"{half}_r1"] = 100 * float(np.mean(ranks[sel] <= 1))
            row[f"{half}_r10"] = 100 * float(np.mean(ranks[sel] <= 10))
        out.append(row)
    return out


# --- recipe ----------------------------------------------------------------------------------
def measure(ranker: Any, folder: Path, label: str) -> dict[str, Any]:
    """CLDR retrieval (corrections / drawing alone), Noto look-alikes, tweet val macro-F1."""
    from emojiqa import zeroshot as Z

    hist = json.loads((folder / "history.json").read_text())
    known = Z.cldr_retrieval(ranker, path="known")
    pixels = Z.cldr_retrieval(ranker, path="pixels")
    noto = Z.new_drawings(ranker, style="noto", path="lookalike")
    return {"run": label, "epochs": len(hist["val_macro_f1"]),
            "cldr_known_r10": 100 * known["recall@10"], "cldr_known_median": known["median_rank"],
            "cldr_pixels_r10": 100 * pixels["recall@10"],
            "noto_lookalike_r10": 100 * noto["recall@10"],
            "noto_lookalike_median": noto["median_rank"],
            "val_macro_f1": 100 * float(hist["val_macro_f1"][-1]),
            "val_macro_f1_by_epoch": [round(100 * float(x), 2) for x in hist["val_macro_f1"]]}


def recipe(work: Path, quick: bool) -> tuple[list[dict[str, Any]], Path]:
    """The three runs; returns their rows and the 10-epoch model folder."""
    from emojiqa.ranker import EmojiRanker
    from emojiqa.recipes import train_protocol

    first, last = EPOCHS["quick" if quick else "full"]
    kw: dict[str, Any] = {"max_steps": 3, "limit": 3000, "look_epochs": 1} if quick else {}
    rows = []
    base = work / "recipe"
    if base.exists():
        shutil.rmtree(base)
    with Timer() as t:
        train_protocol("new_drawings", base, answer_tower="pixels", epochs=first,
                       progress=False, **kw)
    print(f"trained {first} epochs in {t.seconds:.0f} s", flush=True)
    rows.append(measure(EmojiRanker.from_pretrained(base / "model"), base,
                        f"recipe, {first} epoch{'s' * (first > 1)}"))
    with Timer() as t:
        train_protocol("new_drawings", base, answer_tower="pixels", epochs=last, resume=True,
                       progress=False, **kw)
    print(f"resumed to {last} epochs in {t.seconds:.0f} s", flush=True)
    rows.append(measure(EmojiRanker.from_pretrained(base / "model"), base,
                        f"recipe, {last} epochs (resumed)"))
    kd = work / "known_dropout"
    if kd.exists():
        shutil.rmtree(kd)
    with Timer() as t:
        train_protocol("new_drawings", kd, answer_tower="pixels", epochs=last,
                       progress=False, known_dropout=0.25, **kw)
    print(f"known_dropout run in {t.seconds:.0f} s", flush=True)
    rows.append(measure(EmojiRanker.from_pretrained(kd / "model"), kd,
                        f"known_dropout 0.25, {last} epochs"))
    return rows, base / "model"


def lookalike_sweep(model: Path, quick: bool) -> list[dict[str, Any]]:
    """Noto R@10 (even / odd halves) over the look-alike grid (pixel look features)."""
    from emojiqa.ranker import EmojiRanker

    ranker = EmojiRanker.from_pretrained(model)
    base = dataclasses.replace(ranker.config, lookalike_learned=0.0)
    rows = []
    grid = [(k, t) for k in (KS[:2] if quick else KS) for t in (TAUS[:1] if quick else TAUS)]
    for k, tau in grid:
        ranker.config = dataclasses.replace(base, lookalike_k=k, lookalike_temperature=tau)
        ranks = _new_drawing_ranks(ranker, "noto")
        rows.append({"k": k, "temperature": tau, "candidates": len(ranks),
                     "even_r10": 100 * float(np.mean(ranks[0::2] <= 10)),
                     "odd_r10": 100 * float(np.mean(ranks[1::2] <= 10)),
                     "median_rank": float(np.median(ranks))})
    return rows


def look_encoder(model: Path, work: Path, quick: bool
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The learned look code on the 10-epoch model: look-match rows and the weight sweep."""
    from emojiqa.look import LookConfig, crop_to_content
    from emojiqa.ranker import EmojiRanker, _look_features
    from emojiqa.train_ranker import train_look

    ranker = EmojiRanker.from_pretrained(model)
    config = LookConfig(channels=(8, 8, 8), epochs=1) if quick else None
    with Timer() as t:
        enc = train_look(ranker, work, seed=0, config=config, log=print)
    print(f"look encoder ready in {t.seconds:.0f} s", flush=True)

    def features(images: np.ndarray, kind: str) -> np.ndarray:
        cropped = crop_to_content(images)
        learned = enc.embed(cropped, cropped=True)
        if kind == "learned code":
            return learned
        w = float(kind.rsplit("× ", 1)[0].split("+ ")[1])
        return np.concatenate([_look_features(cropped, cropped=True), w * learned], 1)

    kinds = ("learned code", *(f"pixels + {w} × learned" for w in LEARNED_WEIGHTS[1:]))
    limit = 300 if quick else None
    match = look_match("noto", kinds, limit, features) + look_match(
        "openmoji", ("learned code", "pixels + 0.7 × learned"), limit, features)
    rows = []
    base = ranker.config
    ranker.look = enc
    for w in LEARNED_WEIGHTS:
        ranker.config = dataclasses.replace(base, lookalike_learned=w)  # rebuilds its refs
        row: dict[str, Any] = {"weight": w}
        for style in ("noto", "openmoji"):
            ranks = _new_drawing_ranks(ranker, style)
            row[f"{style}_even_r10"] = 100 * float(np.mean(ranks[0::2] <= 10))
            row[f"{style}_odd_r10"] = 100 * float(np.mean(ranks[1::2] <= 10))
            row[f"{style}_median"] = float(np.median(ranks))
        rows.append(row)
    return match, rows


def _new_drawing_ranks(ranker: Any, style: str) -> np.ndarray:
    """Rank of each drawing of ``style`` for its CLDR label (the new-drawings protocol with
    look-alikes, per query, in query order)."""
    from emojiqa import zeroshot as Z

    return np.asarray(Z.new_drawings(ranker, style=style, path="lookalike",
                                     return_ranks=True)["ranks"])


def main(argv: list[str] | None = None) -> int:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--skip-training", action="store_true",
                        help="the look table only (no training)")
    args = parser.parse_args(argv)
    threads = apply_threads(args)
    results: dict[str, Any] = {"threads": threads}
    t0 = time.perf_counter()

    limit = 300 if args.quick else None
    look = look_match("noto", LOOK_KINDS, limit) + look_match(
        "openmoji", LOOK_KINDS[-1:], limit)
    results["look"] = look
    print_table(look, ["style", "features", "queries", ("even_r1", "even R@1", 1),
                       ("even_r10", "even R@10", 1), ("odd_r1", "odd R@1", 1),
                       ("odd_r10", "odd R@10", 1)],
                title="Look match: nearest Twemoji drawing is the same emoji (%)")
    if not args.skip_training:
        work = CACHE_DIR / ("ablations.quick" if args.quick else "ablations")
        rows, model = recipe(work, args.quick)
        results["recipe"] = rows
        print_table(rows, ["run", "epochs", ("cldr_known_r10", "CLDR R@10 %", 1),
                           ("cldr_known_median", "CLDR median", 0),
                           ("cldr_pixels_r10", "CLDR pixels R@10 %", 1),
                           ("noto_lookalike_r10", "Noto look-alike R@10 %", 1),
                           ("val_macro_f1", "tweet val F1", 1)],
                    title="New-drawings protocol model (pixel tower)")
        sweep = lookalike_sweep(model, args.quick)
        results["lookalike"] = sweep
        print_table(sweep, ["k", "temperature", ("even_r10", "Noto even R@10 %", 1),
                            ("odd_r10", "Noto odd R@10 %", 1), ("median_rank", "median", 0)],
                    title="Look-alike k × temperature (10-epoch model)")
        match, weights = look_encoder(model, work / "recipe", args.quick)
        results["look_learned"] = match
        results["lookalike_learned"] = weights
        print_table(match, ["style", "features", "queries", ("even_r1", "even R@1", 1),
                            ("even_r10", "even R@10", 1), ("odd_r1", "odd R@1", 1),
                            ("odd_r10", "odd R@10", 1)],
                    title="Look match with the learned look code (%)")
        print_table(weights, ["weight", ("noto_even_r10", "Noto even R@10 %", 1),
                              ("noto_odd_r10", "Noto odd R@10 %", 1),
                              ("noto_median", "Noto median", 0),
                              ("openmoji_even_r10", "OpenMoji even R@10 %", 1),
                              ("openmoji_odd_r10", "OpenMoji odd R@10 %", 1)],
                    title="lookalike_learned: weight of the learned look code (k = 5, τ = 0.02)")
    results["wall_seconds"] = time.perf_counter() - t0
    path = write_results("ablations", results, quick=args.quick, out=args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
