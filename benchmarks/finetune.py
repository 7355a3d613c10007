"""Fine-tuning a suggestion model on little data vs training ``default`` from scratch.

A user with a few hundred labelled texts can train ``default`` from GloVe
(``emojiqa train-ranker --data my.csv``) or fine-tune a model that already knows every emoji
and tweets (``emojiqa train-ranker --data my.csv --init-from bundled``). This script measures
both on the airline task (canonical split; 🎉 / 😈 / 😡) with the training split cut to
250, 1,000, 4,000 and all 11,524 tweets (a random subset per seed), early stopping on val,
scoring test once per model.

The model fine-tuned is the bundled recipe trained **without the airline tweets** (CLDR
texts + TweetEval at the recipe's shares, no wide head), so that the airline figures measure
transfer rather than a model that has already read the airline training split: the shipped
model has, and is measured too (``--init bundled``), labelled as such. The init model is
trained once and cached (about 10 minutes on 2 cores).

The fine-tuning settings (``emojiqa.train_ranker.FINETUNE_DEFAULTS``) were chosen on val
with 1,000 tweets; table "Fine-tuning settings" measures them against the init model's own
training settings there, seeds 0–2. ``default`` from GloVe is measured without its teachers
(``distill_teachers=0``: one training, as the fine-tuning runs are), with its batches
cut so that an epoch has at least 16 steps (``min_epoch_steps``) and with a fixed batch of
256 (``min_epoch_steps=0``, as before); table "Batches on little data" compares
``min_epoch_steps`` 0 / 8 / 16 / 32 on val at 250, 1,000 and 2,000 tweets.

Table "What it knows of every emoji" scores the same models (1,000 and all training tweets)
on CLDR-label retrieval among all base emojis, beside the init model itself.

Example:
    python benchmarks/finetune.py --threads 2
    python benchmarks/finetune.py --threads 2 --tables knowledge   # that table alone
    python benchmarks/finetune.py --quick       # CI smoke: the shipped model, tiny subsets
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CACHE_DIR,
    Timer,
    add_common_args,
    apply_threads,
    print_table,
    read_results,
    write_results,
)

#: Training-split sizes (all = 11,524).
SIZES = (250, 1000, 4000, None)
SEEDS = (0, 1, 2)
#: Where the fine-tuning settings were chosen (val, this many training tweets).
TUNE_SIZE = 1000
#: ``min_epoch_steps`` values and training sizes of the table "Batches on little data".
MIN_STEPS = (0, 8, 16, 32)
MIN_STEPS_SIZES = (250, 1000, 2000)
#: The init model: the bundled recipe's sources without airline, at the recipe's shares.
INIT_WEIGHTS = {"cldr": 0.59, "tweeteval": 0.41}
INIT_DIR = CACHE_DIR / "finetune" / "no_airline"


def init_model(which: str, quick: bool) -> tuple[Any, str]:
    """The model to fine-tune and how it was made."""
    from emojiqa.ranker import EmojiRanker

    if which == "bundled" or quick:
        return (EmojiRanker.from_pretrained(stored_vectors=False),
                "the shipped model (trained on the airline training split among its sources)")
    model = INIT_DIR / "model"
    if not (model / "config.json").is_file():
        from emojiqa.recipes import bundled_config, train_bundled

        print("training the init model (bundled recipe without airline, no wide head) ...",
              flush=True)
        cfg = bundled_config(wide_buckets=0, wide_max_features=0, wide_sources=())
        train_bundled(model, work_dir=INIT_DIR / "work", weights=INIT_WEIGHTS, config=cfg,
                      progress=False)
    return (EmojiRanker.from_pretrained(model, stored_vectors=False),
            "the bundled recipe without the airline tweets (CLDR texts + TweetEval), no wide "
            "head")


def subset(train: list, n: int | None, seed: int) -> list:
    return list(train) if n is None or n >= len(train) else random.Random(seed).sample(
        list(train), n)


def run(kind: str, train: list, val: list, test: list, seed: int, init: Any, folder: Path,
        quick: bool, knowledge: bool = False, **overrides: Any) -> dict[str, Any]:
    """Train one model (``scratch``: ``default`` from GloVe; ``finetune``: from ``init``);
    its best val macro-F1 and its test figures (and, with ``knowledge``, its CLDR-label
    retrieval)."""
    from emojiqa.metrics import evaluate
    from emojiqa.ranker import RankerConfig
    from emojiqa.train_ranker import finetune_config, train_ranker
    from quality import bench_vae

    if folder.exists():
        shutil.rmtree(folder)
    kw: dict[str, Any] = {"epochs": 1, "max_steps": 3} if quick else {}
    with Timer() as t:
        if kind == "scratch":
            # `default` as these tables were measured: without teachers (distill_teachers)
            ranker = train_ranker(RankerConfig.named("default", **{"distill_teachers": 0,
                                                                  **overrides}), train, val,
                                  folder, vae=bench_vae()[0], progress=False, seed=seed,
                                  log=lambda s: None, **kw)
        else:
            ranker = train_ranker(finetune_config(init, **overrides), train, val, folder,
                                  progress=False, seed=seed, log=lambda s: None,
                                  init_from=init, **kw)
    hist = json.loads((folder / "history.json").read_text())
    f1 = hist["val_macro_f1"]
    best = max(range(len(f1)), key=f1.__getitem__)
    rep = evaluate(ranker, test)
    out = {"val_macro_f1": 100 * f1[best], "best_epoch": best + 1, "epochs_run": len(f1),
           "test_macro_f1": 100 * rep["macro_f1"], "test_accuracy": 100 * rep["accuracy"],
           "train_seconds": t.seconds}
    if knowledge:
        out.update(cldr_figures(ranker))
    return out


def cldr_figures(ranker: Any) -> dict[str, float]:
    """What a model knows of every emoji: CLDR-label retrieval among all base emojis."""
    from emojiqa.zeroshot import cldr_retrieval

    m = cldr_retrieval(ranker)
    return {"cldr_r10": 100 * m["recall@10"], "cldr_r1": 100 * m["recall@1"],
            "cldr_mrr": m["mrr"], "cldr_median": m["median_rank"]}


#: Training sizes of the table "What it knows of every emoji" (None: all).
KNOWLEDGE_SIZES = (1000, None)


def knowledge(init: Any, train: list, val: list, test: list, seeds: list[int], work: Path,
              quick: bool) -> list[dict[str, Any]]:
    """Airline test and CLDR-label retrieval of the init model, of a fine-tuned model and of
    ``default`` from GloVe."""
    from emojiqa.metrics import evaluate

    rows = [{"model": "the init model, not fine-tuned", "n_train": 0, "seeds": 1,
             "test_macro_f1": 100 * evaluate(init, test)["macro_f1"], **cldr_figures(init)}]
    models = (("default from GloVe (as shipped)", "scratch", {}),
              ("fine-tuned", "finetune", {}))
    for n in (KNOWLEDGE_SIZES if not quick else (60,)):
        for label, kind, extra in models:
            part = [subset(train, n, s) for s in seeds]
            runs = [run(kind, part[i], val, test, s, init, work / "k", quick, knowledge=True,
                        **extra) for i, s in enumerate(seeds)]
            row = mean_row(label, len(part[0]), runs, (
                "test_macro_f1", "cldr_r1", "cldr_r10", "cldr_mrr", "cldr_median"), 3)
            rows.append(row)
            print(f"{label:>46} n={row['n_train']:>6}: test {row['test_macro_f1']:.1f} "
                  f"CLDR R@10 {row['cldr_r10']:.1f}", flush=True)
    return rows


def mean_row(label: str, n_train: int, runs: list[dict[str, Any]], keys: tuple[str, ...],
             digits: int) -> dict[str, Any]:
    """One table row: the mean over seeds of each of ``keys``, with every run's value."""
    row: dict[str, Any] = {"model": label, "n_train": n_train, "seeds": len(runs)}
    for key in keys:
        vals = [r[key] for r in runs]
        row[key] = statistics.mean(vals)
        row[key + "_runs"] = [round(v, digits) for v in vals]
    return row


def size_tables(init: Any, train: list, val: list, test: list, seeds: list[int], work: Path,
                quick: bool, *, sizes: tuple[int | None, ...], n_tune: int,
                min_steps: tuple[int, ...], min_sizes: tuple[int, ...]
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Tables "Fine-tuning settings", "Batches on little data" and the airline comparison
    by training-set size."""
    from emojiqa.train_ranker import FINETUNE_DEFAULTS

    c = init.config
    own = {"batch_size": c.batch_size, "ngram_lr_scale": c.ngram_lr_scale, "epochs": c.epochs,
           "patience": c.patience or 2}
    tune_rows, step_rows, rows = [], [], []
    for label, settings in (("the init model's training settings", own),
                            ("FINETUNE_DEFAULTS", dict(FINETUNE_DEFAULTS))):
        vals = [run("finetune", subset(train, n_tune, s), val, test, s, init, work / "m",
                    quick, **settings)["val_macro_f1"] for s in seeds]
        tune_rows.append({"settings": label, "values": ", ".join(
            f"{k}={v}" for k, v in settings.items()), "n_train": n_tune,
            "seeds": len(seeds), "mean_val_macro_f1": statistics.mean(vals),
            "val_runs": [round(v, 2) for v in vals]})
        print(f"{label}: mean val macro-F1 {tune_rows[-1]['mean_val_macro_f1']:.1f}",
              flush=True)
    for k in min_steps:  # default's batch rule on little data
        row: dict[str, Any] = {"min_epoch_steps": k, "seeds": len(seeds)}
        for n in min_sizes:
            vals = [run("scratch", subset(train, n, s), val, test, s, init, work / "m",
                        quick, min_epoch_steps=k)["val_macro_f1"] for s in seeds]
            row[f"val_{n}"] = statistics.mean(vals)
        row["mean_val_macro_f1"] = statistics.mean(row[f"val_{n}"] for n in min_sizes)
        step_rows.append(row)
        print(f"min_epoch_steps {k}: mean val macro-F1 {row['mean_val_macro_f1']:.1f}",
              flush=True)
    models = (("default from GloVe (as shipped)", "scratch", {}),
              ("default from GloVe, batch 256 always", "scratch", {"min_epoch_steps": 0}),
              ("fine-tuned", "finetune", {}))
    for n in sizes:
        part = [subset(train, n, s) for s in seeds]
        for label, kind, extra in models:
            runs = [run(kind, part[i], val, test, s, init, work / "m", quick, **extra)
                    for i, s in enumerate(seeds)]
            rows.append(mean_row(label, len(part[0]), runs, (
                "val_macro_f1", "test_macro_f1", "test_accuracy", "train_seconds"), 2))
            print(f"{label:>24} n={len(part[0]):>6}: val {rows[-1]['val_macro_f1']:.1f}"
                  f" test {rows[-1]['test_macro_f1']:.1f}", flush=True)
    return tune_rows, step_rows, rows


def main(argv: list[str] | None = None) -> int:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--init", choices=("no-airline", "bundled"), default="no-airline",
                        help="the model fine-tuned (default: the recipe without airline)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--tables", nargs="+", choices=("sizes", "knowledge"),
                        default=["sizes", "knowledge"],
                        help="which tables to measure (the others are kept from the last run)")
    args = parser.parse_args(argv)
    threads = apply_threads(args)
    from emojiqa.datasets import load_airline

    train, val, test = load_airline("train"), load_airline("val"), load_airline("test")
    sizes: tuple[int | None, ...] = SIZES
    seeds = list(args.seeds)
    min_steps, min_sizes = MIN_STEPS, MIN_STEPS_SIZES
    if args.quick:
        train, val, test = train[:600], val[:100], test[:100]
        sizes, seeds, min_steps, min_sizes = (60, None), [0], (0, 16), (120,)
    init, how = init_model(args.init, args.quick)
    from emojiqa.train_ranker import FINETUNE_DEFAULTS

    previous = read_results("finetune", quick=args.quick, out=args.out) or {}
    tune_rows, step_rows, rows, know_rows = (previous.get(k, []) for k in (
        "tune_rows", "min_epoch_steps_rows", "rows", "knowledge_rows"))
    n_tune = TUNE_SIZE if not args.quick else 60
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "knowledge" in args.tables:
            know_rows = knowledge(init, train, val, test, seeds, work, args.quick)
        if "sizes" in args.tables:
            tune_rows, step_rows, rows = size_tables(
                init, train, val, test, seeds, work, args.quick, sizes=sizes, n_tune=n_tune,
                min_steps=min_steps, min_sizes=min_sizes)
    print_table(tune_rows, ["settings", "values", "n_train", "seeds",
                            ("mean_val_macro_f1", "mean val F1", 1)],
                title=f"Fine-tuning settings (val, {n_tune} training tweets)")
    print_table(step_rows, ["min_epoch_steps", *[(f"val_{n}", f"val F1 at {n}", 1)
                                                 for n in min_sizes],
                            ("mean_val_macro_f1", "mean", 1)],
                title="Batches on little data: default's min_epoch_steps (val, mean of seeds)")
    print_table(rows, ["model", "n_train", "seeds", ("val_macro_f1", "val F1", 1),
                       ("test_macro_f1", "test F1", 1), ("test_accuracy", "test acc %", 1),
                       ("train_seconds", "train s", 1)],
                title="Airline: fine-tuned vs from scratch (means over seeds)")
    print_table(know_rows, ["model", "n_train", "seeds", ("test_macro_f1", "airline test F1", 1),
                            ("cldr_r1", "CLDR R@1 %", 1), ("cldr_r10", "CLDR R@10 %", 1),
                            ("cldr_mrr", "CLDR MRR", 3), ("cldr_median", "median rank", 1)],
                title="What it knows of every emoji (CLDR labels, all base emojis)")
    write_results("finetune", {
        "threads": threads, "init": how, "finetune_defaults": dict(FINETUNE_DEFAULTS),
        "tune_rows": tune_rows, "min_epoch_steps_rows": step_rows,
        "rows": rows, "seeds": seeds, "knowledge_rows": know_rows,
        "notes": ["airline canonical split; training split subsampled per seed; early "
                  "stopping and the fine-tuning settings on val; test scored once per "
                  "model",
                  f"init model: {how}"],
    }, quick=args.quick, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
