"""Speed and memory of emojiqa itself: ranking latency, throughput, cold start, training speed.

Measured in one run, on one machine (recorded in the JSON):

* **latency** — one text ranked against all 4,009 Twemoji emojis (skin-tone variants not
  grouped, so every emoji is scored), after the model is loaded and the candidate matrix is
  built: p50/p90/p99 over many different texts; also the CLI's default candidates (skin tones
  grouped). Target: p50 ≤ 2 ms.
* **throughput** — texts/s of ``rank(list_of_texts, top_k=5)`` against all 4,009 emojis at
  batch sizes 1, 64 and 1,024, for the GloVe towers (``seed``, ``default``) and the bundled
  model: the median of 3 runs, each on the model loaded afresh and warmed up on one batch;
  the timed batches are texts it has never seen. Target: ≥ 20,000 texts/s for the GloVe towers
  (batch 1,024).
* **cold start** — ``emojiqa suggest "I just got the job!!"`` as a new process: wall time from
  process start to the first line of answer (median of several runs) and the process's peak
  RSS. Targets: ≤ 2 s, ≤ 400 MB.
* **training speed** — VAE seconds per epoch, ``seed`` vs ``default`` (same data, same
  threads; target: default ≥ 3× faster) and ranker seconds per epoch on the airline training
  split, ``seed`` vs ``default`` (target: default no slower); both read from the training
  loops' own per-epoch timings.
* **bundled model** — time to train it end to end, as its recipe recorded it.

Example:
    python benchmarks/speed.py              # full: writes benchmarks/results/speed.json
    python benchmarks/speed.py --quick      # CI smoke (small data, few steps)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CACHE_DIR,
    ROOT,
    Timer,
    add_common_args,
    apply_threads,
    current_rss_mb,
    latency_summary,
    measured_command,
    print_table,
    read_results,
    target,
    time_calls,
    write_results,
)

COLD_TEXT = "I just got the job!!"
#: (batch size, number of batches) per mode.
BATCHES = {"quick": ((1, 30), (64, 3), (1024, 1)), "full": ((1, 300), (64, 20), (1024, 4))}


def _texts(n: int) -> list[str]:
    """Real tweets to rank (airline test, then TweetEval val), cycled to ``n``."""
    from peers import load_pairs

    texts = [t for t, _ in load_pairs("airline", "test")[0]]
    texts += [t for t, _ in load_pairs("tweeteval", "val")[0]]
    return [texts[i % len(texts)] for i in range(n)]


# --- models ----------------------------------------------------------------------------------
#: Ranker: steps timed per config (quick; the full run times whole epochs); VAE: training
#: images (quick, full).
RANKER_STEPS = {"quick": 15, "full": None}
#: Full run: the ranker trains this many whole epochs; seconds per epoch is the median of all
#: but the first (which pays for warm-up: allocations, first calls). One epoch alone swings by
#: ±30 % on a shared 2-core machine.
RANKER_EPOCHS = 4
VAE_IMAGES = {"quick": 128, "full": 1024}


def train_for_speed(config_name: str, quick: bool, folder: Path) -> tuple[Any, dict[str, Any]]:
    """Train a config on the airline training split, timed by the training loop itself.

    Full run: ``RANKER_EPOCHS`` whole epochs over the 11,524 training tweets; the median of
    all but the first.
    Quick run: the first ``RANKER_STEPS["quick"]`` steps, scaled to a whole epoch.
    """
    from emojiqa.datasets import load_airline
    from emojiqa.ranker import RankerConfig
    from emojiqa.train_ranker import train_ranker
    from quality import bench_vae

    train, val = load_airline("train"), load_airline("val")[:200]
    steps = RANKER_STEPS["quick" if quick else "full"]
    epochs = 1 if quick else RANKER_EPOCHS
    vae, which = bench_vae()
    if folder.exists():
        shutil.rmtree(folder)
    # seconds per epoch of one training: the teachers of a distilled config (``default``'s
    # three) are the same network trained the same way first, so its whole run takes
    # (1 + distill_teachers) times as long, and answering costs exactly as much
    config = RankerConfig.named(config_name, patience=0, distill_teachers=0)
    with Timer() as t:
        ranker = train_ranker(config, train, val, folder, vae=vae, epochs=epochs,
                              max_steps=steps, progress=False, seed=0, log=lambda s: None)
    hist = json.loads((folder / "history.json").read_text()) if (
        folder / "history.json").is_file() else {}
    epoch_s = [float(x) for x in hist.get("epoch_s", [])]
    full_steps = -(-len(train) // config.batch_size)
    timed = min(steps or full_steps, full_steps)
    kept = epoch_s[1:] if len(epoch_s) > 1 else epoch_s
    per_step = statistics.median(kept) / timed if kept else None
    return ranker, {
        "config": config_name, "text_tower": config.text_tower, "n_train": len(train),
        "batch_size": config.batch_size, "steps_timed": timed, "epochs_run": len(epoch_s),
        "epoch_seconds": epoch_s,
        "steps_per_epoch": full_steps, "seconds_per_step": per_step,
        "seconds_per_epoch": per_step * full_steps if per_step else None,
        "total_train_seconds": t.seconds, "vae": which,
    }


def vae_epoch_speed(config_name: str, quick: bool, folder: Path) -> dict[str, Any]:
    """Seconds per VAE epoch for a config, from ``train_vae``'s own per-epoch timing.

    One epoch over a fixed slice of the training drawings, scaled to the full training set
    (3,207 Twemoji drawings) by the number of images.
    """
    from emojiqa.emojis import EmojiSet
    from emojiqa.train_vae import train_vae
    from emojiqa.vae import VAEConfig

    es = EmojiSet.bundled("twemoji")
    train, val = es.split(0.2)
    n_full = len(train)
    n = min(VAE_IMAGES["quick" if quick else "full"], n_full)
    train, val = train.subset(range(n)), val.subset(range(min(64, len(val))))
    if folder.exists():
        shutil.rmtree(folder)
    config = VAEConfig.named(config_name)
    with Timer() as t:
        train_vae(config, train, val, folder, epochs=1, progress=False)
    hist = {}
    if (folder / "metrics.json").is_file():
        hist = json.loads((folder / "metrics.json").read_text()).get("history", {})
    secs = [float(x) for x in hist.get("seconds", [])]
    slice_s = secs[-1] if secs else t.seconds
    return {"model": f"VAE {config_name}", "config": config_name, "n_train": n_full,
            "images_timed": n, "batch_size": config.batch_size,
            "steps_per_epoch": -(-n_full // config.batch_size), "epochs": 1,
            "seconds_timed": slice_s, "seconds_per_epoch": slice_s * n_full / n}


# --- inference -------------------------------------------------------------------------------
def latency(ranker: Any, texts: list[str], emojis: Any, group: bool, repeats: int
            ) -> dict[str, Any]:
    """p50/p99 of ``rank(text, top_k=5)`` over different texts (the model loaded, matrix built)."""
    ranker.rank(texts[0], top_k=5, emojis=emojis, group_skin_tones=group)  # build the matrix
    cand, matrix = ranker.candidates(emojis, group_skin_tones=group)
    it = iter(range(10**9))

    def call() -> None:
        ranker.rank(texts[next(it) % len(texts)], top_k=5, emojis=emojis, group_skin_tones=group)

    times = time_calls(call, repeats=repeats, warmup=10, max_seconds=60)
    return {"candidates": len(cand), "dim": int(matrix.shape[1]), **latency_summary(times)}


#: Throughput runs per batch size (each on a freshly loaded model); the table shows the median.
THROUGHPUT_RUNS = {"quick": 1, "full": 3}


def _reloaded(name: str, ranker: Any, work: Path) -> Any:
    """The model ``name`` loaded again from its folder: the same weights, none of the
    memoised text hashes and keyword lookups of earlier runs."""
    from emojiqa.ranker import EmojiRanker

    folder = work / f"ranker-{name}" / "model"
    if name == "bundled":
        return EmojiRanker.from_pretrained()
    return EmojiRanker.from_pretrained(folder) if (folder / "config.json").is_file() else ranker


def throughput(ranker: Any, texts: list[str], emojis: Any, batch: int, n_batches: int
               ) -> dict[str, Any]:
    """Texts/s of ``rank(batch_of_texts, top_k=5)`` against ``emojis`` (all, ungrouped)."""
    import gc

    ranker.rank(texts[:batch], top_k=5, emojis=emojis, group_skin_tones=False)  # warm-up
    gc.collect()  # models of earlier runs freed now, not inside the timed calls
    done = 0
    with Timer() as t:
        for b in range(1, n_batches + 1):  # texts after the warm-up's
            chunk = texts[(b * batch) % len(texts):][:batch]
            if len(chunk) < batch:
                chunk = (chunk + texts)[:batch]
            ranker.rank(chunk, top_k=5, emojis=emojis, group_skin_tones=False)
            done += len(chunk)
            if t.start and time.perf_counter() - t.start > 60:
                break
    return {"batch": batch, "texts": done, "seconds": t.seconds, "texts_per_s": done / t.seconds}


def stages(ranker: Any, texts: list[str], emojis: Any) -> list[dict[str, Any]]:
    """Where the time of one batch goes: text preparation (validation, tokens, hashed
    n-grams), the network, and scoring (product, keyword boost, top-k, results), for a batch
    of texts the process has never seen, then for the same batch again (every token's
    n-gram hashes memoised)."""
    import gc

    import numpy as np
    import torch
    import torch.nn.functional as F

    from emojiqa.text import validate_texts

    cand, matrix = ranker.candidates(emojis, group_skin_tones=False)

    def once() -> tuple[float, float, float]:
        gc.collect()  # a collection owed by earlier work is not charged to this batch
        t0 = time.perf_counter()
        valid = validate_texts(texts)
        batch = ranker.text_batch(valid, validated=True)
        t1 = time.perf_counter()
        with torch.inference_mode():
            q = F.normalize(ranker.net.encode_text(batch), dim=-1).float().cpu().numpy()
        t2 = time.perf_counter()
        ranker.top_of_codes(valid, np.ascontiguousarray(q), cand, matrix, ranker.keyword_weight, 5)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2

    rows = []
    for seen, times in (("new texts", [once()]),
                        ("same texts again (median of 3)", sorted([once() for _ in range(3)],
                                                                  key=sum)[1:2])):
        prep, net, scoring = times[0]
        total = prep + net + scoring
        rows.append({"texts": seen, "batch": len(texts), "prep_ms": 1000 * prep,
                     "net_ms": 1000 * net, "scoring_ms": 1000 * scoring,
                     "total_ms": 1000 * total, "texts_per_s": len(texts) / total})
    return rows


def cold_start(runs: int, model: Path | None, extra: tuple[str, ...] = (),
               path: str = "lite (no torch)") -> dict[str, Any]:
    """``emojiqa suggest TEXT`` in fresh processes: seconds to the first output line, peak RSS.

    ``extra`` arguments are appended (``--emojis twemoji`` asks for the same candidates by
    name, which the full torch ranker serves); ``path`` labels the row.
    """
    exe = shutil.which("emojiqa")
    cmd = [exe] if exe else [sys.executable, "-m", "emojiqa"]
    cmd += ["suggest", COLD_TEXT]
    if model is not None:
        cmd += ["--model", str(model)]
    cmd += list(extra)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    firsts, totals, rss, outputs, errors = [], [], [], [], []
    for _ in range(runs):
        res = measured_command(cmd, env=env)
        if res["returncode"] != 0:
            errors.append(res["stderr"].strip()[-500:])
            continue
        firsts.append(res["first_line_s"])
        totals.append(res["exit_s"])
        rss.append(res["peak_rss_mb"])
        outputs.append(res["stdout"].strip())
    shown = str(model.relative_to(ROOT)) if model and model.is_relative_to(ROOT) else model
    out: dict[str, Any] = {"command": " ".join(["emojiqa", "suggest", repr(COLD_TEXT)]
                                               + (["--model", str(shown)] if model else [])
                                               + list(extra)),
                           "path": path, "runs": len(firsts)}
    if firsts:
        out.update(first_answer_s=statistics.median(firsts), first_answer_min_s=min(firsts),
                   first_answer_max_s=max(firsts), exit_s=statistics.median(totals),
                   peak_rss_mb=max(rss), output=outputs[-1][:400])
    if errors:
        out["errors"] = errors[:2]
    return out


#: Cold runs of ``suggest --generate 4`` per row (each takes seconds).
INVENT_COLD_RUNS = 3


def _without_stored_codes(folder: Path | None, dest: Path) -> Path | None:
    """A copy of the model folder whose stored emoji vectors lack the VAE codes (as folders
    written before they were stored), or None when the folder stores no codes."""
    from emojiqa.recipes import BUNDLED_DIR, VECTORS_NAME
    from emojiqa.storage import load_tensors, save_tensors

    src = folder or BUNDLED_DIR
    if not (src / VECTORS_NAME).is_file():
        return None
    tensors = load_tensors(src / VECTORS_NAME)
    if "codes" not in tensors:
        return None
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    save_tensors({"vectors": tensors["vectors"]}, dest / VECTORS_NAME)
    return dest


def bundled_training_time() -> dict[str, Any]:
    """Time to train the bundled model end to end, as its recipe recorded it."""
    from importlib import resources

    folder = Path(str(resources.files("emojiqa").joinpath("pretrained", "ranker")))
    found: dict[str, Any] = {"source": None, "seconds": None}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        stack = [data]
        while stack:
            d = stack.pop()
            if not isinstance(d, dict):
                continue
            for k, v in d.items():
                if isinstance(v, dict):
                    stack.append(v)
                elif (isinstance(v, (int, float)) and not isinstance(v, bool)
                      and k in ("train_seconds", "total_seconds", "wall_seconds",
                                "elapsed_seconds", "seconds_total")):
                    return {"source": f"{path.name}:{k}", "seconds": float(v),
                            "minutes": float(v) / 60}
    return found


# --- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the speed benchmark; prints tables, writes speed(.quick).json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--skip-training", action="store_true",
                        help="skip the VAE/ranker seconds-per-epoch comparison")
    parser.add_argument("--cold-runs", type=int, default=None, help="cold-start runs")
    args = parser.parse_args(argv)
    threads = apply_threads(args)
    mode = "quick" if args.quick else "full"
    work = CACHE_DIR / "speed"
    work.mkdir(parents=True, exist_ok=True)
    ignore = CACHE_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")

    from emojiqa.emojis import EmojiSet

    all_emojis = EmojiSet.bundled("twemoji")
    texts = _texts(12000 if not args.quick else 2048)
    notes = [f"torch threads {threads}; every emojiqa model runs on "
             f"{'CUDA' if _cuda() else 'CPU'}, float32."]
    results: dict[str, Any] = {"notes": notes}

    # models: seed and default trained here (airline), the bundled one loaded
    rankers: dict[str, Any] = {}
    ranker_rows = []
    for name in ("seed", "default"):
        print(f"training ranker {name} for timing ...", flush=True)
        try:
            r, info = train_for_speed(name, args.quick, work / f"ranker-{name}")
            rankers[name] = r
            ranker_rows.append({"model": f"ranker {name}", **info})
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            ranker_rows.append({"model": f"ranker {name}", "error": f"{type(exc).__name__}: {exc}"})
    bundled_dir: Path | None = None
    try:
        from emojiqa.ranker import EmojiRanker

        with Timer() as load_t:
            rankers["bundled"] = EmojiRanker.from_pretrained()
        results["bundled_load_seconds"] = load_t.seconds
        results["bundled_text_tower"] = rankers["bundled"].config.text_tower
    except Exception as exc:  # noqa: BLE001
        notes.append(f"bundled ranker not available ({type(exc).__name__}: {exc}); cold start "
                     "measured with the default model trained here (--model)")
        if "default" in rankers:
            bundled_dir = work / "ranker-default" / "model"

    # latency: one text vs all 4,009 emojis (and the CLI's grouped default candidates)
    lat_rows = []
    repeats = 50 if args.quick else 1000
    for name, r in rankers.items():
        for group, label in ((False, "all 4,009 (every skin tone)"),
                             (True, "skin tones grouped (CLI default)")):
            try:
                row = latency(r, texts, all_emojis, group, repeats)
                lat_rows.append({"model": name, "candidates_set": label, **row})
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                lat_rows.append({"model": name, "candidates_set": label,
                                 "error": f"{type(exc).__name__}: {exc}"})
    results["latency"] = lat_rows
    print_table(lat_rows, ["model", "candidates_set", "candidates", ("p50_ms", "p50 ms", 3),
                           ("p90_ms", "p90 ms", 3), ("p99_ms", "p99 ms", 3), "n"],
                title="Latency: one text, top 5")

    # throughput at batch 1 / 64 / 1,024 against all 4,009: each run on a freshly loaded
    # model (nothing memoised from the runs before), the median of THROUGHPUT_RUNS runs
    thr_rows = []
    after_runs: dict[str, Any] = {}  # each model as its last batch-1,024 run left it
    for name, r in rankers.items():
        for batch, n_batches in BATCHES[mode]:
            try:
                runs = []
                for _ in range(THROUGHPUT_RUNS[mode]):
                    after_runs[name] = _reloaded(name, r, work)
                    runs.append(throughput(after_runs[name], texts, all_emojis, batch,
                                           n_batches))
                row = sorted(runs, key=lambda x: x["texts_per_s"])[len(runs) // 2]
                row["runs_texts_per_s"] = [x["texts_per_s"] for x in runs]
                row["runs"] = " / ".join(f"{x['texts_per_s']:,.0f}" for x in runs)
                thr_rows.append({"model": name, "text_tower": r.config.text_tower, **row})
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                thr_rows.append({"model": name, "batch": batch,
                                 "error": f"{type(exc).__name__}: {exc}"})
    results["throughput"] = thr_rows
    notes.append(f"throughput: the median of {THROUGHPUT_RUNS[mode]} runs (all listed), each "
                 "on the model loaded afresh and warmed up on one batch; the timed batches "
                 "are the texts after it, never seen by the model")
    print_table(thr_rows, ["model", "text_tower", "batch", "texts", ("texts_per_s", "texts/s")],
                title="Batch throughput against all 4,009 emojis")
    # where a batch's time goes: texts after those the throughput runs used (never seen; the
    # pool holds 6,423 distinct tweets)
    stage_rows = []
    n_used = max(b * (n + 1) for b, n in BATCHES[mode])  # warm-up batch + timed ones
    fresh = _texts(n_used + 200 + 1024)[n_used + 200:]
    for name, r in rankers.items():
        try:
            stage_rows += [{"model": name, **row}
                           for row in stages(after_runs.get(name, r), fresh, all_emojis)]
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            stage_rows.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
    results["stages"] = stage_rows
    print_table(stage_rows, ["model", "texts", "batch", ("prep_ms", "text prep ms", 1),
                             ("net_ms", "network ms", 1), ("scoring_ms", "scoring ms", 1),
                             ("total_ms", "total ms", 1), ("texts_per_s", "texts/s")],
                title="One batch of 1,024, stage by stage")
    results["rss_after_load_mb"] = current_rss_mb()

    # cold start of the CLI
    print("cold start ...", flush=True)
    runs = args.cold_runs or (2 if args.quick else 7)
    cold = cold_start(runs, bundled_dir)
    # the same candidates named with --emojis: served by the full ranker, which loads torch
    full = cold_start(runs, bundled_dir, ("--emojis", "twemoji"), "full ranker (torch)")
    # four invented emojis beside the answer, with the VAE codes of the model's set stored
    # next to it (as shipped) and, in a copy of the folder without them, embedded at start
    inv_runs = max(1, min(runs, INVENT_COLD_RUNS))
    invented = cold_start(inv_runs, bundled_dir, ("--generate", "4"),
                          "full ranker + 4 invented (codes stored)")
    rows = [cold, full, invented]
    bare = _without_stored_codes(bundled_dir, work / "no-codes")
    if bare is not None:
        rows.append(cold_start(inv_runs, bare, ("--generate", "4"),
                               "full ranker + 4 invented (codes embedded at start)"))
    results["cold_start"] = rows
    print_table(rows, ["path", "command", "runs", ("first_answer_s", "first answer s", 2),
                       ("first_answer_max_s", "max s", 2), ("exit_s", "exit s", 2),
                       ("peak_rss_mb", "peak RSS MB", 0)],
                title="Cold start")
    for row in rows:
        if row.get("errors"):
            print("cold start errors:", row["errors"][0])
    if cold.get("output") and full.get("output") and cold["output"] != full["output"]:
        print("warning: the two paths answered differently:", cold["output"], full["output"])

    # training speed per epoch, seed vs default
    train_rows = list(ranker_rows)
    if not args.skip_training:
        for name in ("seed", "default"):
            print(f"VAE {name}: timing epochs ...", flush=True)
            try:
                train_rows.append(vae_epoch_speed(name, args.quick, work / f"vae-{name}"))
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                train_rows.append({"model": f"VAE {name}", "error": f"{type(exc).__name__}: {exc}"})
    results["training"] = train_rows
    print_table(train_rows, ["model", "n_train", "steps_timed", "images_timed",
                             ("seconds_per_epoch", "s/epoch", 2)],
                title="Training speed")
    ranker_how = (f"over its first {RANKER_STEPS[mode]} steps, scaled to a full epoch"
                  if args.quick else f"by the median of epochs 2–{RANKER_EPOCHS} of "
                  f"{RANKER_EPOCHS} whole epochs")
    notes.append(f"training speed: the ranker is timed {ranker_how} on the 11,524 airline "
                 "training tweets (each config with its own batch size); the VAE over one pass "
                 f"of {VAE_IMAGES[mode]} Twemoji drawings, scaled to a full epoch (3,207 "
                 "drawings)")
    results["bundled_training"] = bundled_training_time()
    pace = machine_pace(train_rows, read_results("speed", quick=args.quick, out=args.out))
    if pace:
        notes.append(pace)

    results["targets"] = speed_targets(results)
    print_table(results["targets"], ["target", ("value", "value", 2), "status"], title="Targets")
    results["wall_seconds"] = time.perf_counter() - T0
    write_results("speed", results, quick=args.quick, out=args.out)
    return 0


def machine_pace(train_rows: list[dict[str, Any]], previous: dict[str, Any] | None
                 ) -> str | None:
    """A note comparing this machine's pace with the previous run's: the VAE ``seed`` epoch,
    pure torch work that no emojiqa text code touches, so absolute targets (texts/s) can be
    read against it."""
    def vae_seed(rows: Any) -> float | None:
        for r in rows or []:
            if r.get("model") == "VAE seed" and r.get("seconds_per_epoch"):
                return float(r["seconds_per_epoch"])
        return None

    now, before = vae_seed(train_rows), vae_seed((previous or {}).get("training"))
    if not now or not before:
        return None
    when = ((previous or {}).get("machine") or {}).get("date_utc", "?")
    return (f"machine pace: the VAE seed epoch took {now:.1f} s here and {before:.1f} s in the "
            f"previous run ({when}), so this machine ran {before / now:.2f}× as fast; absolute "
            "figures (texts/s, ms) move with it")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _get(rows: list[dict[str, Any]], key: str, **match: Any) -> float | None:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()) and r.get(key) is not None:
            return float(r[key])
    return None


def speed_targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The speed targets of the benchmark issue, met or missed."""
    out = []
    lat = res.get("latency", [])
    who = "bundled" if any(r.get("model") == "bundled" for r in lat) else "default"
    p50 = _get(lat, "p50_ms", model=who, candidates_set="all 4,009 (every skin tone)")
    out.append({"target": f"one text vs all 4,009 emojis, p50 ≤ 2 ms ({who} model)",
                "value": p50, "status": target(p50, 2.0, "<=")})
    for name in ("seed", "default"):
        v = _get(res.get("throughput", []), "texts_per_s", model=name, batch=1024)
        out.append({"target": f"batch 1,024 throughput ≥ 20,000 texts/s ({name}, GloVe tower)",
                    "value": v, "status": target(v, 20000.0)})
    cold = (res.get("cold_start") or [{}])[0]
    v = cold.get("first_answer_s")
    out.append({"target": "`emojiqa suggest` cold start ≤ 2 s (median)", "value": v,
                "status": target(v, 2.0, "<=")})
    v = cold.get("peak_rss_mb")
    out.append({"target": "`emojiqa suggest` peak RSS ≤ 400 MB", "value": v,
                "status": target(v, 400.0, "<=")})
    tr = res.get("training", [])
    vs, vd = (_get(tr, "seconds_per_epoch", model="VAE seed"),
              _get(tr, "seconds_per_epoch", model="VAE default"))
    ratio = vs / vd if vs and vd else None
    out.append({"target": "VAE default ≥ 3× faster per epoch than seed (speed-up)",
                "value": ratio, "status": target(ratio, 3.0)})
    rs, rd = (_get(tr, "seconds_per_epoch", model="ranker seed"),
              _get(tr, "seconds_per_epoch", model="ranker default"))
    ratio = rs / rd if rs and rd else None
    out.append({"target": "ranker default no slower per epoch than seed (seed s / default s)",
                "value": ratio, "status": target(ratio, 1.0)})
    bt = (res.get("bundled_training") or {}).get("seconds")
    out.append({"target": "bundled model trains end to end in ≤ 15 min (minutes)",
                "value": bt / 60 if bt else None,
                "status": target(bt / 60 if bt else None, 15.0, "<=")})
    return out


if __name__ == "__main__":
    sys.exit(main())
