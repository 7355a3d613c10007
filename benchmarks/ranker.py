"""Ranker benchmark: the seed and default configs against the peers, on the same splits.

Tasks (the same data as ``benchmarks/peers.py``):

* ``airline`` — canonical split; each config trains on train (11,524), early-stops on val
  (1,463, where settings were chosen) and is scored once on test (1,423).
* ``tweeteval`` — 20 emojis, U+FE0F stripped; each config trains on 90 % of train, early-stops
  on a fixed 10 % of train (the peers' tuning rows) and is scored once on val (5,000). A config
  with heads (``wide_buckets``, ``memory_k``) then refits them on all of train, their weights
  kept (``refit_heads``), as the peers are refit on all of train once their settings are
  chosen.

For each config: the seed regime (val hinge, test accuracy, macro-F1, per-class report), the
seed's three example tweets ranked over 🎉 😈 😡, training seconds per epoch and texts/s at
inference (encoding + scoring the evaluation texts, in batches of 1,024), measured in the same
run. The default config is scored with its per-emoji corrections (``known``) and from the
drawing alone (``drawing``). Peers: ``majority``, ``tfidf_lr``, ``tfidf_svm`` (``--minilm`` adds
frozen MiniLM + LR). A config ``<name>,teacher=<other>`` is ``<name>`` distilled from this
script's model of ``<other>`` on the same task (trained on the same train split, early-stopped
on the same tuning split; trained first when this script has none, reused when it has).
Writes ``benchmarks/results/ranker.json`` and prints a table.

Run: ``nice python benchmarks/ranker.py --threads 1`` (about an hour on a busy 2-core
machine); ``--quick`` for CI (subsampled data, one epoch).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    CACHE_DIR,
    IMG_DIR,
    add_common_args,
    apply_threads,
    print_table,
    write_results,
)

SEED_TWEETS = [
    "@united Flight is awful only one lavatory functioning, and people lining up, bumping, "
    "etc. because can't use 1st class bathroom. Ridiculous",
    "@usairways I've called for 3 days and can't get thru. is there some secret method i can "
    "use that doesn't result in you hanging up on me?",
    "@AmericanAir Let's all have a extraordinary week and make it a year to remember "
    "#GoingForGreat 2015 thanks so much American Airlines!!!",
]
QUICK = {"airline": (3000, 600, 600), "tweeteval": (6000, 1000, 1000)}


def tweeteval_fit_tune() -> tuple[list, list]:
    """TweetEval train split into fit (90 %) and tune (10 %) exactly as the peers do."""
    import hashlib

    from emojiqa.datasets import load_tweeteval

    train = load_tweeteval("train")
    bucket = [int(hashlib.sha256(str(i).encode()).hexdigest(), 16) % 10
              for i in range(len(train))]
    return ([e for e, b in zip(train, bucket, strict=True) if b != 0],
            [e for e, b in zip(train, bucket, strict=True) if b == 0])


def load_examples(task: str, quick: bool) -> tuple[list, list, list, str]:
    """(train, early-stopping split, scored split, name of the scored split)."""
    from emojiqa.datasets import load_airline, load_tweeteval

    if task == "airline":
        tr, tu, ev, name = (load_airline("train"), load_airline("val"), load_airline("test"),
                            "test")
    else:
        (tr, tu), ev, name = tweeteval_fit_tune(), load_tweeteval("val"), "val"
    if quick:
        def take(xs: list, k: int) -> list:  # the same rows as peers.Split.take
            if k >= len(xs):
                return xs
            return [xs[i] for i in np.sort(np.random.default_rng(0).permutation(len(xs))[:k])]

        tr, tu, ev = (take(xs, k) for xs, k in zip((tr, tu, ev), QUICK[task], strict=True))
    return tr, tu, ev, name


def get_vae(path: str | None) -> tuple[Any, str]:
    """The VAE answers are embedded with: ``--vae``, the bundled one, or an untrained one."""
    import torch

    from emojiqa.vae import VAE, VAEConfig

    if path:
        return VAE.from_pretrained(path), path
    try:
        return VAE.from_pretrained(), "bundled"
    except Exception:  # noqa: BLE001 - no bundled VAE yet: say so in the results
        torch.manual_seed(0)
        return VAE(VAEConfig.named("default")), "untrained (no bundled VAE found)"


def texts_per_second(ranker: Any, texts: list[str]) -> float:
    """Texts/s for encoding + scoring against the answer table, in batches of 1,024."""
    ranker.answer_scores(texts[:64])  # warm-up (answer matrix, caches)
    t0 = time.perf_counter()
    for i in range(0, len(texts), 1024):
        ranker.answer_scores(texts[i:i + 1024])
    return len(texts) / (time.perf_counter() - t0)


def run_config(name: str, task: str, data: tuple, vae: Any, args: argparse.Namespace
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from emojiqa.metrics import evaluate, plot_confusion
    from emojiqa.ranker import RankerConfig
    from emojiqa.train_ranker import train_ranker

    tr, tu, ev, ev_name = data
    base, *sets = name.split(",")  # e.g. "default,class_balance=1.0"
    over: dict[str, Any] = {}
    teachers = []
    for item in sets:
        k, v = item.split("=", 1)
        if k == "teacher":  # default,teacher=minilm-ft: this script's minilm-ft model teaches
            teachers.append(teacher_model(v, task, data, vae, args))
        else:
            over[k] = json.loads(v)
    cfg = RankerConfig.named(base, **over)
    if (cfg.wide_buckets or cfg.memory_k) and "refit_heads" not in over:
        # as the peers: TweetEval's are refit on all of train once their settings are chosen
        # on the tuning 10 %; airline's are fit on train alone
        cfg = dataclasses.replace(cfg, refit_heads=task == "tweeteval")
    epochs = 1 if args.quick else None
    out = run_folder(name, task, args.quick)
    saved = out / "bench.json"
    if args.reuse and saved.is_file():  # figures of an earlier run of this same script
        got = json.loads(saved.read_text(encoding="utf-8"))
        print("    (reusing the figures of the earlier run in " f"{saved})", flush=True)
        return got["rows"], got["detail"]
    t0 = time.perf_counter()
    ranker = train_ranker(cfg, tr, tu, out, vae=vae, epochs=epochs, seed=args.seed,
                          progress=False, log=lambda s: print(f"    {s}", flush=True),
                          teachers=teachers)
    train_s = time.perf_counter() - t0
    hist = ranker_history(out)
    # with its heads refit on train + tuning split, the model has seen the tuning texts: its
    # figures there would flatter it, so they are left out
    tune_rep = None if cfg.refit_heads else evaluate(ranker, tu)
    rep = evaluate(ranker, ev)
    if not args.quick:
        slug = name.replace(",", "_").replace("=", "")  # default,memory_k=20: default_memory_k20
        plot_confusion(rep, IMG_DIR / f"ranker_confusion_{task}_{slug}.png",
                       title=f"{name} on {task} {ev_name}: macro-F1 {100 * rep['macro_f1']:.1f}")
        if (out / "loss.png").is_file():
            import shutil

            shutil.copyfile(out / "loss.png", IMG_DIR / f"ranker_loss_{task}_{slug}.png")
    tps = texts_per_second(ranker, [e.text for e in ev])
    rows = []
    paths = [("known", True), ("drawing", False)] if cfg.known_emojis else [("", True)]
    for label, use_known in paths:
        r = rep if use_known else evaluate(ranker, ev, use_known=False)
        rows.append({
            "model": f"{name}" + (f" ({label})" if label else ""), "kind": "emojiqa",
            "task": task, "split": ev_name, "accuracy": 100 * r["accuracy"],
            "macro_f1": 100 * r["macro_f1"], "mrr": r["mrr"], "recall_at_5": 100 * r["recall@5"],
            "hinge": r["hinge"], "tune_hinge": tune_rep and tune_rep["hinge"],
            "tune_macro_f1": tune_rep and 100 * tune_rep["macro_f1"],
            "epochs": len(hist.get("train_loss", [])),
            "s_per_epoch": float(np.mean(hist["epoch_s"])) if hist.get("epoch_s") else None,
            "train_seconds": train_s, "texts_per_s": tps, "n_train": len(tr)})
    detail = {"config": name, "task": task, "seed": args.seed, "history": hist, "report": rep,
              "tune_report": tune_rep and {k: v for k, v in tune_rep.items()
                                           if k != "confusion"}}
    if task == "airline":
        scores = ranker.answer_scores(SEED_TWEETS)
        detail["seed_tweets"] = [
            {"text": t, "scores": {ranker.answers[j].emoji: float(s[j])
                                   for j in range(len(ranker.answer_keys))},
             "first": ranker.answers[int(np.argmax(s))].emoji}
            for t, s in zip(SEED_TWEETS, scores, strict=True)]
    from emojiqa.storage import atomic_write_json

    atomic_write_json(saved, {"rows": rows, "detail": detail})
    return rows, detail


def run_folder(name: str, task: str, quick: bool) -> Path:
    """Where this script trains config ``name`` on ``task`` (its model in ``model/``)."""
    return (CACHE_DIR / ("ranker_quick" if quick else "ranker")
            / f"{task}_{name.replace(',', '_').replace('=', '')}")


def teacher_model(name: str, task: str, data: tuple, vae: Any, args: argparse.Namespace
                  ) -> Any:
    """The model this script trains for config ``name`` on ``task`` — trained on the same
    train split and early-stopped on the same tuning split, never shown the scored split —
    to teach another config (``default,teacher=minilm-ft``). A model this script trained
    before is reused (training is seeded: a second run gives the same model); else it is
    trained now, its own rows saved as any config's."""
    from emojiqa.ranker import EmojiRanker

    folder = run_folder(name, task, args.quick)
    if not (folder / "bench.json").is_file() or args.seed != json.loads(
            (folder / "bench.json").read_text(encoding="utf-8"))["detail"].get("seed", 0):
        print(f"    teacher {name}: training it first", flush=True)
        run_config(name, task, data, vae, args)
    print(f"    teacher {name}: {folder / 'model'}", flush=True)
    return EmojiRanker.from_pretrained(folder / "model")


def ranker_history(out: Path) -> dict[str, list[float]]:
    p = out / "history.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def run_peers(task: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The peers' rows for ``task`` (saved, and reused with ``--reuse``)."""
    import peers
    from emojiqa.storage import atomic_write_json

    names = ["majority", "tfidf_lr", "tfidf_svm"] + (["minilm_lr"] if args.minilm else [])
    saved = CACHE_DIR / ("ranker_quick" if args.quick else "ranker") / f"peers_{task}.json"
    if args.reuse and saved.is_file():
        got = json.loads(saved.read_text(encoding="utf-8"))
        if [r["model"] for r in got] == names:
            print(f"    (reusing the peers' figures in {saved})", flush=True)
            return got
    if args.peers_from:  # the same peers, already run on the same splits by another script
        got = json.loads(Path(args.peers_from).read_text(encoding="utf-8"))["rows"]
        rows = [dict(r, source=str(args.peers_from)) for r in got
                if r.get("task") == task and r.get("model") in names]
        print(f"    (peers' figures for {task} taken from {args.peers_from})", flush=True)
        return rows
    ptask = peers.load_task(task, quick=args.quick, sizes=QUICK[task] if args.quick else None)
    rows = peers.run_peers(ptask, names, quick=args.quick)
    atomic_write_json(saved, rows)
    return rows


COLUMNS = [("model", "model"), ("task", "task"), ("split", "split"), ("accuracy", "acc %"),
           ("macro_f1", "macro-F1"), ("mrr", "MRR", 3), ("hinge", "hinge", 4),
           ("tune_hinge", "val/tune hinge", 4), ("s_per_epoch", "s/epoch"),
           ("train_seconds", "train s"), ("texts_per_s", "texts/s")]


def main(argv: list[str] | None = None) -> int:
    """Train and score the configs, run the peers, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--tasks", nargs="+", default=["airline", "tweeteval"],
                        choices=["airline", "tweeteval"])
    parser.add_argument("--configs", nargs="*", default=None,
                        help="ranker configs to train, a name with optional overrides "
                             "(default,class_balance=1.0) and teachers trained by this script "
                             "(default,teacher=minilm-ft,distill_teachers=0); none: peers "
                             "only (default: seed default, and with --quick also "
                             "default,teacher=seed,distill_teachers=0)")
    parser.add_argument("--vae", default=None, help="VAE folder (default: the bundled VAE)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minilm", action="store_true", help="also run the MiniLM + LR peer")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peers-from", default=None,
                        help="take peer rows not saved by this script from this results JSON "
                             "(e.g. benchmarks/results/quality.json: same peers, same splits)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse a config's figures saved by an earlier run of this script "
                             "(benchmarks/results/cache/ranker/*/bench.json) instead of "
                             "training it again")
    args = parser.parse_args(argv)
    if args.configs is None:  # the smoke also runs a given teacher
        args.configs = ["seed", "default"] + (
            ["default,teacher=seed,distill_teachers=0"] if args.quick else [])
    threads = apply_threads(args)
    vae, vae_source = get_vae(args.vae)
    rows, details = [], []
    for task in args.tasks:
        data = load_examples(task, args.quick)
        print(f"[{task}] train {len(data[0])}, tune {len(data[1])}, {data[3]} {len(data[2])}",
              flush=True)
        for name in args.configs:
            print(f"[{task}] {name} ...", flush=True)
            r, d = run_config(name, task, data, vae, args)
            rows += r
            details.append(d)
            print(f"    macro-F1 {r[0]['macro_f1']:.1f}", flush=True)
        if not args.no_peers:
            rows += run_peers(task, args)
    print_table(rows, COLUMNS, title="Ranker vs peers")
    for d in details:
        for s in d.get("seed_tweets", []):
            print(f"{d['config']}: {s['first']}  " + "  ".join(
                f"{k} {v:.3f}" for k, v in s["scores"].items()) + f"  {s['text'][:50]}...")
    if args.no_peers or len(args.configs) < 2:
        write_results("ranker_partial", {"rows": rows, "details": details}, quick=True,
                      out=CACHE_DIR)
        return 0
    write_results("ranker", {"threads": threads, "vae": vae_source, "rows": rows,
                             "details": details}, quick=args.quick, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
