"""Choosing the ranker's ``default`` settings: variants trained and scored on the tuning split.

Each variant is ``RankerConfig.named("default")`` with overrides (``--base`` names another
config to override, e.g. ``minilm-ft``). It trains on the airline
training split (11,524 tweets), early-stops on val (1,463) and is reported by its best val
macro-F1 and the epoch that reached it, with its training seconds per epoch measured in the
same run. The test split is never touched here: settings are chosen on val, and
``benchmarks/ranker.py`` scores the chosen ``default`` once on test. ``--task tweeteval`` does
the same on TweetEval (fit on 90 % of train, tune on the other 10 %) and writes
``tune_ranker_tweeteval.json`` instead of ``tune_ranker.json``.

Variants (``--variants`` takes more, each a comma-separated list of overrides):

* the settings ``default`` had before: the n-gram bag pooled by its mean at the network's
  learning rate, side 128 and the seed's shared tower 100 → 50 → 10;
* ``default`` as it is (bag pooled by idf at 10× the learning rate, side 256, one shared
  layer 256 → 64) and single changes of it.

``teacher='minilm-ft'`` in a variant distils ``benchmarks/ranker.py``'s ``minilm-ft`` model of
the task (trained on the same train split, early-stopped on the same tuning split; trained by
that script first when it has none) into the variant (``train_ranker(..., teachers=...)``).

Example:
    python benchmarks/tune_ranker.py --threads 2
    python benchmarks/tune_ranker.py --task tweeteval --variants "" "epochs=6"
    python benchmarks/tune_ranker.py --variants "" "batch_size=128" --seeds 0 1 2 3 \\
        --out benchmarks/results/seeds     # several seeds per variant, and their mean
    python benchmarks/tune_ranker.py --quick          # CI smoke: 1,500 tweets, 20 steps
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_common_args,
    apply_threads,
    print_table,
    write_results,
)

#: The variants of a full run: overrides of ``RankerConfig.named("default")``.
VARIANTS = (
    # the settings ``default`` had before: n-grams pooled by their mean at the network's
    # learning rate, side 128, the seed's shared tower 100 → 50 → 10
    "ngram_weighting='mean',ngram_lr_scale=1.0,side_dim=128,shared_dims=(100, 50, 10)",
    "",
    "ngram_weighting='mean',ngram_lr_scale=1.0",
    "ngram_lr_scale=1.0",
    "side_dim=128,shared_dims=(100, 50, 10)",
    "shared_dims=(256,)",
    "ngram_buckets=65536",
    "text_tower='bag'",
    "class_balance=0.25",
    "batch_size=128",
)


def parse_overrides(spec: str) -> dict[str, Any]:
    """``"a=1,b=(2, 3)"`` → ``{"a": 1, "b": (2, 3)}`` (values are Python literals).

    Example:
        >>> parse_overrides("lr=3e-3,char_ngrams=(3, 5)")
        {'lr': 0.003, 'char_ngrams': (3, 5)}
    """
    out: dict[str, Any] = {}
    if not spec.strip():
        return out
    tree = ast.parse(f"dict({spec})", mode="eval")
    call = tree.body
    if not isinstance(call, ast.Call) or call.args:
        raise SystemExit(f"bad variant {spec!r}: write name=value pairs separated by commas")
    for kw in call.keywords:
        out[str(kw.arg)] = ast.literal_eval(kw.value)
    return out


def run_variant(spec: str, task: str, data: tuple[list, list], folder: Path,
                quick: bool, seed: int = 0, base: str = "default") -> dict[str, Any]:
    """Train one variant; its best tuning macro-F1, best epoch and seconds per epoch."""
    from emojiqa.ranker import RankerConfig
    from emojiqa.train_ranker import train_ranker
    from quality import bench_vae

    train, tune = data
    over = parse_overrides(spec)
    teacher = over.pop("teacher", None)
    config = RankerConfig.named(base, **over)
    vae, _ = bench_vae()
    teachers = []
    if teacher:  # teacher='minilm-ft': benchmarks/ranker.py's model of it, on the same splits
        import ranker

        args = argparse.Namespace(quick=quick, reuse=True, seed=0)
        teachers.append(ranker.teacher_model(teacher, task, ranker.load_examples(task, quick),
                                             vae, args))
    if folder.exists():
        shutil.rmtree(folder)
    kwargs: dict[str, Any] = {"epochs": 1, "max_steps": 20} if quick else {}
    train_ranker(config, train, tune, folder, vae=vae, progress=False, seed=seed,
                 log=lambda s: None, teachers=teachers, **kwargs)
    hist = json.loads((folder / "history.json").read_text())
    f1 = hist["val_macro_f1"]
    best = max(range(len(f1)), key=f1.__getitem__)
    secs = [float(s) for s in hist["epoch_s"]]
    return {"variant": spec or f"({base} as it is)", "base": base, "task": task, "seed": seed,
            "tune_macro_f1": 100 * f1[best], "tune_accuracy": 100 * hist["val_acc"][best],
            "best_epoch": best + 1, "epochs_run": len(f1),
            "s_per_epoch": sum(secs) / len(secs), "batch_size": config.batch_size,
            "curve": [round(100 * x, 2) for x in f1]}


def load_data(task: str, quick: bool) -> tuple[list, list]:
    """(train, tuning split) of a task."""
    from emojiqa.datasets import load_airline

    if task == "airline":
        train, tune = load_airline("train"), load_airline("val")
    else:
        from ranker import tweeteval_fit_tune

        train, tune = tweeteval_fit_tune()
    if quick:
        train, tune = train[:1500], tune[:300]
    return train, tune


def main(argv: list[str] | None = None) -> int:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--task", choices=("airline", "tweeteval"), default="airline")
    parser.add_argument("--variants", nargs="*", default=None,
                        help='overrides of the --base config, e.g. "lr=3e-3,batch_size=64" '
                             '("" = the config as it is)')
    parser.add_argument("--base", default="default",
                        help="the named config the variants override (default, minilm, "
                             "minilm-ft, seed); results go to tune_ranker[_tweeteval]_<base>."
                             "json unless it is default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="training seeds of each variant (several: one row each, then "
                             "their mean per variant)")
    args = parser.parse_args(argv)
    threads = apply_threads(args)
    variants = list(args.variants) if args.variants is not None else list(VARIANTS)
    if args.quick and args.variants is None:
        variants = variants[:2]
    data = load_data(args.task, args.quick)
    rows, means = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in variants:
            runs = []
            for seed in args.seeds:
                print(f"[{args.task}] {spec or f'({args.base} as it is)'} seed {seed} ...",
                      flush=True)
                runs.append(run_variant(spec, args.task, data, Path(tmp) / "run", args.quick,
                                        seed, args.base))
                print(f"    tune macro-F1 {runs[-1]['tune_macro_f1']:.1f} at epoch "
                      f"{runs[-1]['best_epoch']}/{runs[-1]['epochs_run']}", flush=True)
            rows += runs
            if len(runs) > 1:
                f1s = [r["tune_macro_f1"] for r in runs]
                means.append({"variant": runs[0]["variant"], "task": args.task,
                              "seeds": len(runs), "mean_tune_macro_f1": sum(f1s) / len(f1s),
                              "min_tune_macro_f1": min(f1s), "max_tune_macro_f1": max(f1s)})
    print_table(rows, ["variant", "task", "seed", ("tune_macro_f1", "tune macro-F1", 1),
                       ("tune_accuracy", "tune acc %", 1), "best_epoch", "epochs_run",
                       "batch_size", ("s_per_epoch", "s/epoch", 2)],
                title=f"{args.base} variants on the tuning split")
    if means:
        print_table(means, ["variant", "seeds", ("mean_tune_macro_f1", "mean", 2),
                            ("min_tune_macro_f1", "min", 1), ("max_tune_macro_f1", "max", 1)],
                    title="Mean over seeds")
    split = "val" if args.task == "airline" else "10 % of train"
    name = "tune_ranker" + ("" if args.task == "airline" else "_tweeteval") + (
        "" if args.base == "default" else "_" + args.base.replace("-", "_"))
    write_results(name, {
        "threads": threads, "task": args.task, "base": args.base, "seeds": list(args.seeds),
        "rows": rows,
        "seed_means": means,
        "notes": [f"{args.task}: trained on train, early stopping and scores on {split} "
                  "(the tuning split); test is scored only by benchmarks/ranker.py"],
    }, quick=args.quick, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
