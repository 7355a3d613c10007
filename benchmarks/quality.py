"""Quality: emojiqa's configs and the peers on the same splits, in one run.

Two tasks (see :func:`peers.load_task`): the airline tweets' canonical split (train, val to
choose settings and stop early, test scored once; answers 🎉 / 😈 / 😡) and TweetEval emoji
prediction (20 classes, U+FE0F stripped; settings and early stopping on a fixed 10 % of train,
scored once on val). For each task it trains the emojiqa configs ``seed``, ``default`` and the
MiniLM text tower with :func:`emojiqa.train_ranker.train_ranker`, scores the bundled model
(``EmojiRanker.from_pretrained()``, trained once by its recipe on all sources), and runs every
peer. An emojiqa model answers a text by ranking the task's class emojis with its cosine score.

Reported per model: accuracy, macro-F1 and recall@5 in %, MRR (0–1), training seconds and
texts/s at inference, plus a table of the quality targets met or missed:

* airline test macro-F1: ``default`` ≥ 78 and beats every peer; best config ≥ 80;
* TweetEval val macro-F1: ``default`` ≥ 27 and beats every peer; bundled model ≥ 28.

Trained benchmark models are kept under ``benchmarks/results/cache/models/`` and reused by a
rerun with the same data and settings (``--retrain`` trains them again).

Example:
    python benchmarks/quality.py            # full run, writes benchmarks/results/quality.json
    python benchmarks/quality.py --quick    # CI smoke: small subsamples, 30 training steps
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CACHE_DIR,
    QUALITY_FIGURE,
    RESULTS_DIR,
    ROOT,
    Timer,
    add_common_args,
    apply_threads,
    command_line,
    print_table,
    read_results,
    results_path,
    stable_hash,
    target,
    write_results,
)
from peers import (  # noqa: E402
    PEER_NAMES,
    TABLE_COLUMNS,
    Task,
    classification_metrics,
    load_task,
    run_peers,
)

#: emojiqa configurations trained by this benchmark (the bundled model is scored as shipped).
CONFIGS = ("seed", "default", "minilm", "minilm-ft", "minilm-ft-wide", "default-wide")
#: Set by --no-train: score only models already trained (by this script or benchmarks/ranker.py).
NO_TRAIN = False
#: Quick mode: training texts per task and epochs.
QUICK_TRAIN = {"airline": 1500, "tweeteval": 2000}
QUICK_EPOCHS = 1
QUICK_STEPS = 30


# --- emojiqa models --------------------------------------------------------------------------
def ranker_config(name: str) -> Any:
    """The :class:`RankerConfig` for ``seed``/``default``/``default-wide``/``minilm``/
    ``minilm-ft`` (MiniLM text tower, frozen / fine-tuned)/``minilm-ft-wide``; ``<name>-wide``
    for another named config is that config with ``minilm-ft-wide``'s wide head."""
    from emojiqa.ranker import RankerConfig

    if name.endswith("-wide") and name not in ("minilm-ft-wide", "default-wide"):
        wide = RankerConfig.named("minilm-ft-wide")
        return dataclasses.replace(RankerConfig.named(name[: -len("-wide")]), name=name,
                                   wide_buckets=wide.wide_buckets, wide_l2=wide.wide_l2,
                                   wide_iters=wide.wide_iters, refit_heads=True)
    return RankerConfig.named(name)


_VAE: dict[str, Any] = {}


def bench_vae() -> tuple[Any, str]:
    """The bundled VAE, or (while none is bundled) an untrained default VAE; (vae, which)."""
    if "vae" not in _VAE:
        from emojiqa.vae import VAE, VAEConfig

        try:
            _VAE["vae"], _VAE["which"] = VAE.from_pretrained(), "bundled"
        except Exception as exc:  # noqa: BLE001 - say so in the results
            import torch

            torch.manual_seed(0)
            _VAE["vae"] = VAE(VAEConfig.named("default"))
            _VAE["which"] = f"untrained default VAE (bundled VAE unavailable: {exc})"
    return _VAE["vae"], _VAE["which"]


def _examples(split: Any, classes: list[str], source: str) -> list[Any]:
    from emojiqa.datasets import Example

    return [Example(t, classes[int(y)], source=source) for t, y in
            zip(split.texts, split.labels, strict=True)]


def class_scores(ranker: Any, texts: list[str], classes: list[str]) -> np.ndarray:
    """(N, C) cosine of each text with each class emoji.

    The emoji's drawing is the one in the model's answer table when it was trained with it
    (as ``emojiqa evaluate`` scores it), else its Twemoji drawing.
    """
    from emojiqa.emojis import EmojiSet

    keys = set(getattr(ranker, "answer_keys", ()) or ())
    if all(k in keys for k in classes):  # the drawings the model was trained with
        emojis = ranker.answers
    else:
        emojis = getattr(ranker, "emojis", None)
        if emojis is None or any(k not in emojis for k in classes):
            emojis = EmojiSet.bundled("twemoji")
    subset = emojis.subset([emojis.index(k) for k in classes])
    answers = np.asarray(ranker.encode_emojis(subset), dtype=np.float32)  # (C, D), normalised
    wide = getattr(ranker, "has_heads", False)  # + its wide head's and memory's terms
    out = []
    for i in range(0, len(texts), 1024):
        q = np.asarray(ranker.encode_text(texts[i:i + 1024], normalize=True))  # (B, D)
        out.append(q @ answers.T + (ranker.head_term(texts[i:i + 1024], classes, q) if wide
                                    else 0.0))  # q given: the texts are encoded once
    return np.concatenate(out) if out else np.zeros((0, len(classes)), np.float32)


def score_ranker(ranker: Any, task: Task) -> tuple[dict[str, Any], float]:
    """Metrics of a ranker on the task's evaluation split and its inference seconds."""
    class_scores(ranker, task.eval.texts[:8], task.classes)  # warm-up (lazy loads)
    with Timer() as t:
        scores = class_scores(ranker, task.eval.texts, task.classes)
    return classification_metrics(task.eval.labels, scores), t.seconds


def train_or_load(config_name: str, task: Task, quick: bool, retrain: bool,
                  seed: int = 0) -> tuple[Any, float, dict[str, Any]]:
    """Train a config on the task (or reuse the cached model); (ranker, train seconds, info)."""
    from emojiqa.ranker import EmojiRanker

    config = ranker_config(config_name)
    if config.wide_buckets and config_name.endswith("-wide"):
        return _with_wide_head(config_name, config, task, quick, retrain, seed)
    cfg = dataclasses.asdict(config)
    # a field added since the first release, left at the value that reproduces training
    # without it, is left out: a setting added later does not change an old model's key
    for name, value in type(config).ADDED_FIELDS.items():
        if cfg[name] == value:
            cfg.pop(name)
    if not cfg.get("wide_buckets"):  # the head's settings mean nothing without a head
        cfg.pop("wide_l2", None)
        cfg.pop("wide_iters", None)
    cfg_json = json.dumps(cfg, sort_keys=True, default=str)
    tag = stable_hash([cfg_json, task.name, str(len(task.fit)), str(len(task.tune)),
                       str(quick), str(seed), *task.fit.texts[:50]])
    folder = CACHE_DIR / "models" / f"{task.name}-{config_name}-{tag}"
    meta_path = folder.parent / f"{folder.name}.json"
    if folder.is_dir() and meta_path.is_file() and not retrain:
        meta = json.loads(meta_path.read_text())
        return (EmojiRanker.from_pretrained(folder / "model"), meta["train_seconds"],
                {**meta, "cached": True})
    shared = None if quick or retrain else ranker_bench_model(config_name, config, task)
    if shared is not None:
        return shared
    if NO_TRAIN:
        raise LookupError(f"no trained {config_name} model for {task.name} to reuse, and "
                          "--no-train was given")
    from emojiqa.train_ranker import train_ranker

    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    ignore = CACHE_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    train = _examples(task.fit, task.classes, task.name)
    val = _examples(task.tune, task.classes, task.name)
    vae, which_vae = bench_vae()
    kwargs: dict[str, Any] = {"seed": seed, "progress": False, "vae": vae}
    if quick:
        kwargs["epochs"] = QUICK_EPOCHS
        kwargs["max_steps"] = QUICK_STEPS
    with Timer() as t:
        ranker = train_ranker(config, train, val, folder, **kwargs)
    history = {}
    if (folder / "history.json").is_file():
        history = json.loads((folder / "history.json").read_text())
    epoch_s = history.get("epoch_s") or []
    meta = {"train_seconds": t.seconds, "config": config_name, "n_train": len(train),
            "n_val": len(val), "epochs": len(epoch_s) or kwargs.get("epochs"),
            "epoch_seconds": epoch_s, "vae": which_vae,
            "folder": str(folder.relative_to(CACHE_DIR.parent))}
    meta_path.write_text(json.dumps(meta, indent=2))
    return ranker, t.seconds, {**meta, "cached": False}


def _with_wide_head(config_name: str, config: Any, task: Task, quick: bool, retrain: bool,
                    seed: int) -> tuple[Any, float, dict[str, Any]]:
    """A ``<config>-wide`` model: the towers of ``<config>`` (trained or cached: they train
    exactly alike, the wide settings enter only after the last epoch), then the wide head
    fitted as ``train_ranker`` fits it. Train seconds = the towers' + the head's."""
    from emojiqa.train_ranker import fit_wide_head, refit_heads

    base_name = config_name[: -len("-wide")]
    base = ranker_config(base_name)
    if dataclasses.replace(config, name=base.name, wide_buckets=0, wide_l2=base.wide_l2,
                           wide_iters=base.wide_iters, refit_heads=False) != base:
        raise ValueError(f"{config_name} is not {base_name} plus a wide head")
    ranker, seconds, meta = train_or_load(base_name, task, quick, retrain, seed)
    # refit on all of train where the peers are (TweetEval), not where they are fit on
    # train alone (airline)
    refit = task.train is not task.fit
    ranker.config = dataclasses.replace(config, refit_heads=refit)
    train = _examples(task.fit, task.classes, task.name)
    val = _examples(task.tune, task.classes, task.name)
    with Timer() as t:
        fit_wide_head(ranker, train, val, log=print)
        if refit:
            refit_heads(ranker, _examples(task.train, task.classes, task.name), log=print)
    towers = meta.get("trained_by") or f"the cached {base_name} model of this script"
    return ranker, seconds + t.seconds, {
        **meta, "config": config_name, "wide_seconds": t.seconds, "wide_mix": ranker.wide.mix,
        "towers_from": f"{base_name} ({meta.get('folder', '')})",
        "trained_by": f"{base_name} towers: {towers}; wide head fitted in this run"
                      + ("; refit on all of train" if refit else "")}


def ranker_bench_model(config_name: str, config: Any, task: Task
                       ) -> tuple[Any, float, dict[str, Any]] | None:
    """The model ``benchmarks/ranker.py`` trained for this config on this task, if it matches.

    That script trains ``seed`` and ``default`` on exactly these splits (same fit / tune rows,
    seed 0) and keeps them under ``benchmarks/results/cache/ranker/<task>_<config>/``; reusing
    them saves training each config twice. Used only when the saved config equals the current
    one and the model was trained on as many texts as this task's training split.
    """
    from emojiqa.ranker import EmojiRanker
    from emojiqa.storage import config_from_dict

    folder = CACHE_DIR / "ranker" / f"{task.name}_{config_name}"
    model, bench = folder / "model", folder / "bench.json"
    if not (model / "config.json").is_file() or not bench.is_file():
        return None
    try:
        # fields added since the model was saved take the values it was trained with
        saved = config_from_dict(type(config), json.loads(
            (model / "config.json").read_text()).get("config", {}))
        rows = json.loads(bench.read_text()).get("rows", [])
        if saved != config or not rows:
            return None
        if rows[0].get("n_train") != len(task.fit):
            return None
        ranker = EmojiRanker.from_pretrained(model)
    except Exception:  # noqa: BLE001 - anything off: train here instead
        return None
    hist = {}
    if (folder / "history.json").is_file():
        hist = json.loads((folder / "history.json").read_text())
    epoch_s = hist.get("epoch_s") or []
    return ranker, float(rows[0]["train_seconds"]), {
        "config": config_name, "n_train": len(task.fit), "n_val": len(task.tune),
        "epochs": len(epoch_s) or rows[0].get("epochs"), "epoch_seconds": epoch_s,
        "folder": str(folder.relative_to(CACHE_DIR.parent)), "cached": True,
        "trained_by": "python benchmarks/ranker.py (same splits, same config, seed 0)"}


def bundled_train_seconds() -> float | None:
    """Training seconds of the bundled model as its recipe recorded them (if it did)."""
    try:
        from importlib import resources

        folder = Path(str(resources.files("emojiqa").joinpath("pretrained", "ranker")))
    except Exception:  # noqa: BLE001
        return None
    for name in ("training.json", "train_log.json", "recipe.json", "metrics.json",
                 "history.json"):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue
            for key in ("train_seconds", "total_seconds", "wall_seconds", "seconds",
                        "elapsed_seconds"):
                if isinstance(data, dict) and isinstance(data.get(key), (int, float)):
                    return float(data[key])
    return None


def emojiqa_rows(task: Task, configs: list[str], quick: bool, retrain: bool,
                 bundled: bool) -> list[dict[str, Any]]:
    """Train/score every emojiqa config (and the bundled model) on a task; errors become rows."""
    rows: list[dict[str, Any]] = []
    for name in configs:
        print(f"[{task.name}] emojiqa {name} ...", flush=True)
        base = {"model": f"emojiqa {name}", "kind": "emojiqa", "config": name,
                "task": task.name, "split": task.eval_split}
        t0 = time.perf_counter()
        try:
            ranker, train_s, info = train_or_load(name, task, quick, retrain)
            m, infer_s = score_ranker(ranker, task)
            rows.append({**base, **m, "train_seconds": train_s,
                         "texts_per_s": len(task.eval) / infer_s,
                         "n_train": info["n_train"], "epochs": info["epochs"],
                         "epoch_seconds": info.get("epoch_seconds"), "vae": info.get("vae"),
                         "cached_model": info["cached"],
                         "trained_by": info.get("trained_by", "this script"),
                         **{k: info[k] for k in ("wide_mix", "wide_seconds", "towers_from")
                            if k in info}})
        except (ImportError, LookupError) as exc:
            rows.append({**base, "skipped": f"not available here: {exc}"})
        except Exception as exc:  # noqa: BLE001 - report, keep going
            traceback.print_exc()
            rows.append({**base, "error": f"{type(exc).__name__}: {exc}"})
        rows[-1]["wall_seconds"] = time.perf_counter() - t0
        r = rows[-1]
        print(f"    {r.get('macro_f1', r.get('skipped') or r.get('error'))}", flush=True)
    if bundled:
        print(f"[{task.name}] emojiqa bundled ...", flush=True)
        base = {"model": "emojiqa bundled", "kind": "emojiqa", "config": "bundled",
                "task": task.name, "split": task.eval_split}
        try:
            from emojiqa.ranker import EmojiRanker

            ranker = EmojiRanker.from_pretrained()
            m, infer_s = score_ranker(ranker, task)
            rows.append({**base, **m, "train_seconds": bundled_train_seconds(),
                         "texts_per_s": len(task.eval) / infer_s,
                         "note": "trained once by its recipe on all sources (not on this "
                                 "task alone); the airline test and TweetEval val texts are "
                                 "not in its training data"})
        except ImportError as exc:
            rows.append({**base, "skipped": f"not available here: {exc}"})
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            rows.append({**base, "error": f"{type(exc).__name__}: {exc}"})
        r = rows[-1]
        print(f"    {r.get('macro_f1', r.get('skipped') or r.get('error'))}", flush=True)
    return rows


# --- targets ---------------------------------------------------------------------------------
def _f1(rows: list[dict[str, Any]], task: str, model: str) -> float | None:
    for r in rows:
        if r["task"] == task and r["model"] == model:
            return r.get("macro_f1")
    return None


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The quality targets of the ranker and suggestion issues, met or missed."""
    out = []

    def best(task: str, kind: str) -> tuple[float | None, str]:
        cands = [(r["macro_f1"], r["model"]) for r in rows
                 if r["task"] == task and r["kind"] == kind and r.get("macro_f1") is not None]
        return max(cands) if cands else (None, "–")

    for task, split, default_bound, other, other_bound in (
            ("airline", "test", 78.0, "best", 80.0),
            ("tweeteval", "val", 27.0, "bundled", 28.0)):
        d = _f1(rows, task, "emojiqa default")
        peer_f1, peer = best(task, "peer")
        missing = [p for p in PEER_NAMES if _f1(rows, task, p) is None]
        out.append({"target": f"{task} {split} macro-F1, default ≥ {default_bound:g}",
                    "value": d, "status": target(d, default_bound)})
        status = ("n/a" if d is None or peer_f1 is None
                  else "met" if d > peer_f1 else "missed")
        if status == "met" and missing:  # not every peer measured: cannot claim it
            status = f"n/a (not measured: {', '.join(missing)})"
        out.append({"target": f"{task} {split} macro-F1, default beats every peer "
                              f"(best peer measured: {peer})",
                    "value": d, "bound": peer_f1, "status": status})
        if other == "best":
            v, who = best(task, "emojiqa")
            out.append({"target": f"{task} {split} macro-F1, best emojiqa config ≥ "
                                  f"{other_bound:g} ({who})",
                        "value": v, "status": target(v, other_bound)})
        else:
            v = _f1(rows, task, "emojiqa bundled")
            out.append({"target": f"{task} {split} macro-F1, bundled model ≥ {other_bound:g}",
                        "value": v, "status": target(v, other_bound)})
            v, who = best(task, "emojiqa")
            out.append({"target": f"{task} {split} macro-F1, best emojiqa config ≥ "
                                  f"{other_bound:g} ({who})",
                        "value": v, "status": target(v, other_bound)})
    return out


#: The order models are run in: the cheap and most telling first, so that a run cut short
#: by ``--budget-minutes`` still holds the comparisons that matter.
ORDER = (
    ("airline", "peer", "majority"), ("airline", "peer", "tfidf_lr"),
    ("airline", "peer", "tfidf_svm"), ("airline", "peer", "hashed_lr"),
    ("airline", "emojiqa", "default"),
    ("airline", "emojiqa", "seed"), ("airline", "emojiqa", "bundled"),
    ("airline", "peer", "minilm_lr"), ("airline", "peer", "zeroshot_minilm"),
    ("tweeteval", "peer", "majority"), ("tweeteval", "peer", "tfidf_lr"),
    ("tweeteval", "emojiqa", "bundled"), ("tweeteval", "emojiqa", "default"),
    ("tweeteval", "peer", "tfidf_svm"), ("tweeteval", "peer", "hashed_lr"),
    ("tweeteval", "emojiqa", "seed"),
    ("tweeteval", "peer", "zeroshot_minilm"), ("tweeteval", "peer", "minilm_lr"),
    ("airline", "emojiqa", "minilm"), ("tweeteval", "emojiqa", "minilm"),
    ("airline", "emojiqa", "minilm-ft"), ("tweeteval", "emojiqa", "minilm-ft"),
    ("airline", "emojiqa", "minilm-ft-wide"), ("tweeteval", "emojiqa", "minilm-ft-wide"),
    ("airline", "emojiqa", "default-wide"), ("tweeteval", "emojiqa", "default-wide"),
)


def _merged(rows: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``previous`` rows not measured again in this run, then this run's rows.

    A row this run skipped (budget, missing extra) never replaces an earlier measurement.
    """
    measured_before = {(r["task"], r["model"]): r for r in previous if "macro_f1" in r}
    mine = []
    for r in rows:
        old = measured_before.get((r["task"], r["model"]))
        mine.append(old if "macro_f1" not in r and old is not None else r)
    done = {(r["task"], r["model"]) for r in mine}
    kept = [{**r, "from_earlier_run": True} for r in previous
            if (r["task"], r["model"]) not in done]
    return kept + [r if r.get("command") else {**r, "command": command_line()} for r in mine]


def _report(rows: list[dict[str, Any]], tasks: list[dict[str, Any]], args: argparse.Namespace,
            t0: float, final: bool) -> None:
    extra: dict[str, Any] = {}
    if args.merge:
        # read the file again every time: another run may be merging into it meanwhile
        prev = read_results("quality", args.quick, args.out) or {}
        rows = _merged(rows, prev.get("rows", []))
        names = {d["task"] for d in tasks}
        tasks = tasks + [d for d in prev.get("tasks", []) if d["task"] not in names]
        cmds = [*prev.get("commands", []), prev.get("command")]
        extra["commands"] = [c for i, c in enumerate(cmds)
                             if c and c != command_line() and c not in cmds[:i]]
    tgt = targets(rows)
    if final:
        cols = [("model", "model"), *TABLE_COLUMNS[1:]]
        for d in tasks:
            name = d["task"]
            print_table([r for r in rows if r["task"] == name and "macro_f1" in r], cols,
                        title=f"Quality on {name}")
            for r in rows:
                if r["task"] == name and "macro_f1" not in r:
                    print(f"  {r['model']}: {r.get('skipped') or r.get('error')}")
        print_table(tgt, ["target", "value", "status"], title="Targets")
    write_results("quality", {"tasks": tasks, "rows": rows, "targets": tgt,
                              "complete": final, "wall_seconds": time.perf_counter() - t0,
                              **extra}, quick=args.quick, out=args.out)


#: Targets drawn on it: (the default config's, the best config's) macro-F1 per task.
FIGURE_TARGETS = {"airline": (78.0, 80.0), "tweeteval": (27.0, 28.0)}


def plot_quality(data: dict[str, Any], path: Path = QUALITY_FIGURE) -> Path | None:
    """Horizontal bars of macro-F1 per model, one panel per task (emojiqa configs coloured,
    peers grey), with the default config's target (dashed) and the best config's (dotted)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emojiqa.storage import atomic_write_bytes

    rows = [r for r in data.get("rows", []) if "macro_f1" in r]
    tasks = [t for t in ("airline", "tweeteval") if any(r["task"] == t for r in rows)]
    if not tasks:
        return None
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.6 * len(tasks), 4.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        mine = sorted((r for r in rows if r["task"] == task), key=lambda r: r["macro_f1"])
        names = [r.get("label") or r["model"] for r in mine]
        colours = ["#d9822b" if r.get("kind") == "emojiqa" else "#9aa0a6" for r in mine]
        ax.barh(range(len(mine)), [r["macro_f1"] for r in mine], color=colours)
        top = max(max(r["macro_f1"] for r in mine), FIGURE_TARGETS[task][1])
        for i, r in enumerate(mine):  # the value inside the bar's end (after a short bar)
            inside = r["macro_f1"] > 0.1 * top
            ax.text(r["macro_f1"] + (-0.01 if inside else 0.01) * top, i,
                    f"{r['macro_f1']:.1f}", va="center", ha="right" if inside else "left",
                    fontsize=7, color="white" if inside else "black")
        ax.set_yticks(range(len(mine)), names, fontsize=8)
        default_t, best_t = FIGURE_TARGETS[task]
        ax.axvline(default_t, color="#444", ls="--", lw=1, label=f"default target {default_t:g}")
        ax.axvline(best_t, color="#444", ls=":", lw=1, label=f"best-config target {best_t:g}")
        split = mine[0].get("split", "")
        ax.set_title(f"{task} {split}: macro-F1 (%)", fontsize=10)
        ax.set_xlim(0, top * 1.05)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("emojiqa configs (orange) and peers (grey), same splits", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    """Run the quality benchmark; prints the tables and writes quality(.quick).json.

    The JSON is rewritten after every model, so an interrupted run keeps what it measured.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--tasks", nargs="+", default=["airline", "tweeteval"],
                        choices=["airline", "tweeteval"])
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS),
                        help="emojiqa configs to train (seed, default, minilm, minilm-ft, "
                             "minilm-ft-wide, default-wide)")
    parser.add_argument("--peers", nargs="*", default=list(PEER_NAMES), choices=PEER_NAMES)
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled model")
    parser.add_argument("--retrain", action="store_true",
                        help="train again even when a cached benchmark model exists")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of the existing JSON for models not run now")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="start no new model after this many minutes (the rest are "
                             "listed as not run)")
    parser.add_argument("--no-train", action="store_true",
                        help="only score models already trained (cached here or by "
                             "benchmarks/ranker.py); list the others as not measured")
    parser.add_argument("--plot-only", action="store_true",
                        help=f"only redraw {QUALITY_FIGURE.relative_to(ROOT)} from the "
                             "last full run's JSON")
    args = parser.parse_args(argv)
    if args.plot_only:
        drawn = plot_quality(read_results("quality", out=args.out) or {})
        print(f"wrote {drawn}" if drawn else "no full-run results to draw")
        return 0
    if args.quick and args.configs == list(CONFIGS):
        # the MiniLM tower embeds every text at ~175 texts/s on 2 cores: too slow for a smoke
        # run (the MiniLM peers still run), fine-tuning it ~50 texts/s; name them with
        # --configs to include them
        args.configs = [c for c in args.configs
                        if c not in ("minilm", "minilm-ft", "minilm-ft-wide")]
    apply_threads(args)
    global NO_TRAIN
    NO_TRAIN = args.no_train

    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    tasks: dict[str, Task] = {}
    peer_tasks: dict[str, Task] = {}
    for name in args.tasks:
        tasks[name] = load_task(name, quick=args.quick)
        peer_tasks[name] = tasks[name]
        if args.quick:  # the emojiqa configs train on a smaller subsample still
            peer_tasks[name] = load_task(name, quick=True)
            tasks[name].fit = tasks[name].fit.take(QUICK_TRAIN[name])
    described = [t.describe() for t in tasks.values()]
    wanted = set(args.configs) | ({"bundled"} if not args.no_bundled else set())
    for task_name, kind, name in ORDER:
        if task_name not in tasks or name not in (wanted if kind == "emojiqa" else args.peers):
            continue
        minutes = (time.perf_counter() - t0) / 60
        if args.budget_minutes is not None and minutes > args.budget_minutes:
            model = f"emojiqa {name}" if kind == "emojiqa" else name
            rows.append({"model": model, "kind": kind, "task": task_name,
                         "split": tasks[task_name].eval_split,
                         "skipped": f"not run: the {args.budget_minutes:g}-minute budget of "
                                    "this run was spent"})
            continue
        if kind == "emojiqa":
            configs = [] if name == "bundled" else [name]
            rows += emojiqa_rows(tasks[task_name], configs, args.quick, args.retrain,
                                 name == "bundled")
        else:
            rows += run_peers(peer_tasks[task_name], [name], quick=args.quick)
        _report(rows, described, args, t0, final=False)
    _report(rows, described, args, t0, final=True)
    if not args.quick and Path(args.out).resolve() == RESULTS_DIR.resolve():
        plot_quality(read_results("quality") or {})  # the README's picture follows the JSON
    elif args.quick:  # the smoke draws it too, beside its JSON
        plot_quality(read_results("quality", True, args.out) or {},
                     results_path("quality", True, args.out).with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
