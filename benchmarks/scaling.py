"""Scaling: ranking cost vs number of candidate emojis, training time vs number of texts.

* **Candidates** — N candidate emojis, N from 1,000 to 100,000. Up to 10,000 are emojis the
  ranker's VAE generates (``vae.sample``), ranked with ``rank()``: for each N the seconds to
  build the candidate matrix (VAE μ + answer tower, once per set), the latency of ranking one
  text (p50/p99, top 5), texts/s at batch 64, the matrix's size and the resident memory.
  Above 10,000 the matrix holds those codes plus rows drawn from a Gaussian fitted to them
  (generating and encoding 100,000 drawings is a one-off cost measured by the build column),
  and ranking is timed as the library does it: ``encode_text`` + one matmul + top-k.
* **Training texts** — the ``default`` ranker trained on N texts, N from 10,000 to 1,000,000
  (the airline training tweets repeated, so only the amount of data grows). Each N runs in its
  own process: the set-up before the first step (tokenising, n-gram ids, GloVe, answer table)
  is measured whole; an epoch is measured over a fixed number of steps and extrapolated to the
  full epoch (steps per epoch × seconds per step), as the plot says. Peak RSS per N.

Plots: ``docs/img/bench_scaling_candidates.png`` and ``docs/img/bench_scaling_training.png``.

Example:
    python benchmarks/scaling.py            # full: 1k–100k candidates, 10k–1M texts
    python benchmarks/scaling.py --quick    # CI smoke: 1k–10k candidates, 2k–5k texts
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CACHE_DIR,
    IMG_DIR,
    ROOT,
    Timer,
    add_common_args,
    apply_threads,
    current_rss_mb,
    latency_summary,
    peak_rss_mb,
    print_table,
    time_calls,
    write_results,
)

SIZES = {
    "quick": {"candidates": (1000, 2000, 10000), "generated": 2000, "texts": (2000, 5000),
              "steps": 8},
    "full": {"candidates": (1000, 3000, 10000, 30000, 100000), "generated": 10000,
             "texts": (10000, 100000, 1000000), "steps": 20},
}


def get_ranker(quick: bool) -> tuple[Any, str]:
    """The bundled ranker, else a ``default`` ranker trained briefly here (speed is the same)."""
    from emojiqa.ranker import EmojiRanker

    try:
        return EmojiRanker.from_pretrained(), "bundled"
    except Exception as exc:  # noqa: BLE001
        print(f"bundled ranker unavailable ({exc}); training a brief default ranker", flush=True)
    folder = CACHE_DIR / "scaling" / "ranker-default"
    if (folder / "model" / "config.json").is_file():
        try:
            return EmojiRanker.from_pretrained(folder / "model"), "default (brief training)"
        except Exception:  # noqa: BLE001 - stale format: train again
            pass
    from emojiqa.datasets import load_airline
    from emojiqa.ranker import RankerConfig
    from emojiqa.train_ranker import train_ranker
    from quality import bench_vae

    vae, _ = bench_vae()
    r = train_ranker(RankerConfig.named("default", patience=0, distill_teachers=0),
                     load_airline("train")[:2000],
                     load_airline("val")[:200], folder, vae=vae, epochs=1, max_steps=10,
                     progress=False)
    return r, "default (brief training)"


def candidate_scaling(sizes: tuple[int, ...], n_generated: int, quick: bool
                      ) -> tuple[list[dict[str, Any]], str]:
    """Latency, throughput and memory of ranking against N candidate emojis.

    Up to ``n_generated`` candidates are VAE samples put through the ranker's answer tower
    (``ranker.rank(..., emojis=set)``, the real path). Above that, the candidate matrix holds
    those codes plus rows drawn from a Gaussian fitted to them (normalised), and one ranking
    is timed as the library does it: ``encode_text`` + one matmul + top-k.
    """
    import torch

    from emojiqa.emojis import EmojiSet
    from peers import load_pairs

    ranker, which = get_ranker(quick)
    texts = [t for t, _ in load_pairs("airline", "test")[0]]
    gen = torch.Generator().manual_seed(0)
    n_gen = min(n_generated, max(sizes))
    with Timer() as sample_t:
        images = np.concatenate([ranker.vae.sample(min(5000, n_gen - i), generator=gen)
                                 for i in range(0, n_gen, 5000)])  # (n_gen, 36, 36, 4) uint8
    print(f"sampled {n_gen:,} VAE emojis in {sample_t.seconds:.1f} s", flush=True)
    full_set = EmojiSet.from_arrays(images, style="generated")
    codes = None
    rows = []
    repeats = 30 if quick else 300
    for n in sizes:
        rss0 = current_rss_mb()
        try:
            it = iter(range(10**9))
            if n <= n_gen:
                es = full_set if n == n_gen else EmojiSet.from_arrays(images[:n],
                                                                      style=f"generated-{n}")
                with Timer() as build_t:
                    _, matrix = ranker.candidates(es, group_skin_tones=False)  # (N, D)
                if n == n_gen:
                    codes = matrix

                def one() -> None:
                    ranker.rank(texts[next(it) % len(texts)], top_k=5, emojis=es,
                                group_skin_tones=False)

                def batch64() -> None:
                    ranker.rank(texts[:64], top_k=5, emojis=es, group_skin_tones=False)
                how, build_s = "VAE samples through the answer tower, rank()", build_t.seconds
            else:
                if codes is None:
                    _, codes = ranker.candidates(full_set, group_skin_tones=False)
                rng = np.random.default_rng(n)
                extra = rng.multivariate_normal(codes.mean(0), np.cov(codes.T), n - len(codes))
                extra /= np.linalg.norm(extra, axis=1, keepdims=True)
                matrix = np.concatenate([codes, extra.astype(np.float32)])  # (N, D)
                mt = torch.from_numpy(matrix)

                def one() -> None:
                    q = torch.from_numpy(ranker.encode_text([texts[next(it) % len(texts)]]))
                    (q @ mt.T).topk(5, dim=1)

                def batch64() -> None:
                    q = torch.from_numpy(ranker.encode_text(texts[:64]))
                    (q @ mt.T).topk(5, dim=1)
                how, build_s = (f"{len(codes):,} VAE-sample codes + Gaussian rows; encode_text "
                                "+ matmul + top-k", None)
            lat = latency_summary(time_calls(one, repeats=repeats, warmup=3,
                                             max_seconds=30 if quick else 60))
            n_batches = 2 if quick else 10
            with Timer() as thr_t:
                for _ in range(n_batches):
                    batch64()
            rows.append({
                "candidates": n, "how": how, "build_s": build_s, "p50_ms": lat["p50_ms"],
                "p99_ms": lat["p99_ms"], "batch64_texts_per_s": 64 * n_batches / thr_t.seconds,
                "matrix_mb": matrix.nbytes / 2**20,
                "images_mb": n * images[0].nbytes / 2**20,
                "rss_mb": current_rss_mb(), "rss_growth_mb": current_rss_mb() - rss0,
            })
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            rows.append({"candidates": n, "error": f"{type(exc).__name__}: {exc}"})
        print(f"  {rows[-1]}", flush=True)
    return rows, which


def train_one(n: int, steps: int, threads: int) -> dict[str, Any]:
    """(Child process) train ``default`` on N repeated airline texts for ``steps`` steps."""
    from emojiqa.datasets import Example, load_airline
    from emojiqa.ranker import RankerConfig
    from emojiqa.train_ranker import train_ranker
    from quality import bench_vae

    apply_threads(threads)
    base = load_airline("train")
    train = [Example(base[i % len(base)].text, base[i % len(base)].key, source="synthetic")
             for i in range(n)]
    val = load_airline("val")[:200]
    vae, _ = bench_vae()
    # one training's steps (a distilled run trains its teachers the same way first)
    config = RankerConfig.named("default", patience=0, distill_teachers=0)
    with tempfile.TemporaryDirectory() as tmp, Timer() as t:
        train_ranker(config, train, val, Path(tmp) / "run", vae=vae, epochs=1,
                     max_steps=steps, progress=False, log=lambda s: None)
        hist = json.loads((Path(tmp) / "run" / "history.json").read_text())
    step_s = float(hist["epoch_s"][-1]) / steps
    steps_per_epoch = -(-n // config.batch_size)
    return {"texts": n, "setup_s": t.seconds - float(hist["epoch_s"][-1]),
            "seconds_per_step": step_s, "steps_timed": steps,
            "steps_per_epoch": steps_per_epoch, "epoch_s_extrapolated": step_s * steps_per_epoch,
            "peak_rss_mb": peak_rss_mb()}


def training_scaling(sizes: tuple[int, ...], steps: int, threads: int) -> list[dict[str, Any]]:
    """Run :func:`train_one` for each N in a fresh process (clean peak RSS)."""
    rows = []
    for n in sizes:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--train-one", str(n),
               "--steps", str(steps), "--threads", str(threads)]
        print(f"training on {n:,} texts ...", flush=True)
        with Timer() as t:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                  env={**os.environ, "HF_HUB_OFFLINE": "1"})
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode == 0 and line:
            rows.append({**json.loads(line[-1]), "wall_s": t.seconds})
        else:
            why = (f"stopped by signal {-proc.returncode} before it finished"
                   if proc.returncode < 0 else f"exit code {proc.returncode}")
            tail = (proc.stderr or proc.stdout).strip()[-600:]
            rows.append({"texts": n, "error": f"{why}: {tail}" if tail else why})
        print(f"  {rows[-1]}", flush=True)
    return rows


def _save_fig(fig: Any, path: Path) -> Path:
    import io

    from emojiqa.storage import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def plot(cand: list[dict[str, Any]], train: list[dict[str, Any]], quick: bool) -> list[str]:
    """The two PNGs (quick runs draw to ``benchmarks/results/cache`` instead of docs/img)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = CACHE_DIR if quick else IMG_DIR
    out = []
    ok = [r for r in cand if "p50_ms" in r]
    if ok:
        n = [r["candidates"] for r in ok]
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        axes[0].plot(n, [r["p50_ms"] for r in ok], "o-", label="one text, p50")
        axes[0].plot(n, [r["p99_ms"] for r in ok], "s--", label="one text, p99")
        axes[0].plot(n, [64e3 / r["batch64_texts_per_s"] for r in ok], "^-",
                     label="batch of 64, per batch")
        axes[0].set(xscale="log", yscale="log", xlabel="candidate emojis",
                    ylabel="ms", title="Ranking latency (top 5)")
        axes[0].legend(fontsize=8)
        axes[1].plot(n, [r["matrix_mb"] for r in ok], "o-", label="candidate matrix")
        axes[1].plot(n, [r["images_mb"] for r in ok], "s-", label="candidate images")
        axes[1].plot(n, [r["rss_mb"] for r in ok], "^-", label="process RSS")
        axes[1].set(xscale="log", yscale="log", xlabel="candidate emojis",
                    ylabel="MB", title="Memory")
        axes[1].legend(fontsize=8)
        out.append(_save_fig(fig, folder / "bench_scaling_candidates.png"))
        plt.close(fig)
    ok = [r for r in train if "epoch_s_extrapolated" in r]
    if ok:
        n = [r["texts"] for r in ok]
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        axes[0].plot(n, [r["epoch_s_extrapolated"] for r in ok], "o-",
                     label=f"one epoch (extrapolated from {ok[0]['steps_timed']} steps)")
        axes[0].plot(n, [r["setup_s"] for r in ok], "s-", label="set-up before the first step")
        axes[0].set(xscale="log", yscale="log", xlabel="training texts", ylabel="seconds",
                    title="Ranker training time (default)")
        axes[0].legend(fontsize=8)
        axes[1].plot(n, [r["peak_rss_mb"] for r in ok], "o-")
        axes[1].set(xscale="log", xlabel="training texts", ylabel="MB",
                    title="Peak RSS of the training process")
        out.append(_save_fig(fig, folder / "bench_scaling_training.png"))
        plt.close(fig)
    return [str(Path(p).relative_to(ROOT)) for p in out]


def main(argv: list[str] | None = None) -> int:
    """Run the scaling benchmark; tables, PNGs and scaling(.quick).json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--skip-candidates", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--train-one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help="training steps timed per N")
    args = parser.parse_args(argv)
    threads = apply_threads(args)
    if args.train_one is not None:
        print(json.dumps(train_one(args.train_one, args.steps or 10, threads)))
        return 0
    sizes = SIZES["quick" if args.quick else "full"]
    results: dict[str, Any] = {"notes": []}
    cand: list[dict[str, Any]] = []
    if not args.skip_candidates:
        cand, which = candidate_scaling(sizes["candidates"], sizes["generated"], args.quick)
        results["notes"].append(
            f"candidates: the {which} ranker; up to {sizes['generated']:,} candidates are "
            "emojis sampled from its VAE and ranked with rank(); beyond that the candidate "
            "matrix is those codes plus rows drawn from a Gaussian fitted to them, timed as "
            "encode_text + matmul + top-k; latency after the matrix is built")
        print_table(cand, ["candidates", ("build_s", "build s", 2), ("p50_ms", "p50 ms", 3),
                           ("p99_ms", "p99 ms", 3), ("batch64_texts_per_s", "texts/s @64"),
                           ("matrix_mb", "matrix MB", 2), ("rss_mb", "RSS MB", 0)],
                    title="Ranking vs number of candidates")
    train: list[dict[str, Any]] = []
    if not args.skip_training:
        steps = args.steps or sizes["steps"]
        train = training_scaling(sizes["texts"], steps, threads)
        results["notes"].append(
            f"training: default config, airline training tweets repeated to N texts (repeats "
            f"make the set-up cheaper than N distinct texts would); one epoch extrapolated "
            f"from {steps} timed steps (steps per epoch × seconds per step); set-up measured "
            f"whole")
        print_table(train, ["texts", ("setup_s", "set-up s"), ("seconds_per_step", "s/step", 3),
                            ("epoch_s_extrapolated", "epoch s (extrap.)"),
                            ("peak_rss_mb", "peak RSS MB", 0)],
                    title="Training vs number of texts")
    results["candidates"] = cand
    results["training"] = train
    results["plots"] = plot(cand, train, args.quick)
    results["wall_seconds"] = time.perf_counter() - T0
    write_results("scaling", results, quick=args.quick, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
