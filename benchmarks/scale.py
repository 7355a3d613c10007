"""Scale: streaming batch suggestions at 10k, 100k and 1M texts, and Ray Data against one process.

* **Streaming** — ``emojiqa.batch.suggest_file`` on a ``.txt`` file of N texts (the airline
  training tweets repeated, each made unique with its row number so no cache can help), top 5
  written to CSV. Each N runs in its own process, so the peak resident memory (``ru_maxrss``)
  belongs to that N alone. The table also shows the memory once the model is loaded and the
  peak reached while loading it (building the candidate matrix of every emoji), before the
  first text; ``growth_mb`` is the peak beyond that. Flat memory = the same peak whatever N.
* **Ray Data** — the same M texts through ``emojiqa.ray_data.suggest_dataset`` on a local
  Ray cluster of 2 CPUs (2 actors, 1 torch thread each) and through ``suggest_file`` in one
  process (2 torch threads), in the same run; the ratio is Ray's texts/s over the single
  process's. Ray's cluster start is reported apart and not counted.

Example:
    python benchmarks/scale.py             # full: 10k, 100k, 1M texts; Ray on 10k
    python benchmarks/scale.py --quick     # CI smoke: 2k, 10k texts; Ray on 2k
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_common_args,
    apply_threads,
    current_rss_mb,
    peak_rss_mb,
    print_table,
    write_results,
)

NAME = "scale"


def tweets() -> list[str]:
    """The canonical airline training tweets (bundled package data)."""
    from emojiqa.datasets import load_airline

    return [e.text for e in load_airline("train")]


def write_texts(path: Path, n: int, base: list[str]) -> Path:
    """``n`` lines: the tweets over and over, each ended with its row number (all unique)."""
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(base[i % len(base)].replace("\n", " ") + f" ({i + 1})\n")
    return path


def load_ranker(model: str | None) -> Any:
    from emojiqa.ranker import EmojiRanker

    return EmojiRanker.from_pretrained(model)


def stream_worker(args: argparse.Namespace) -> None:
    """Child process: one streaming run; prints its figures as JSON on the last line."""
    apply_threads(args.threads)
    from emojiqa.batch import suggest_file

    ranker = load_ranker(args.model)
    ranker.rank(["warm up"], top_k=5)  # build the candidate matrix before timing
    loaded, load_peak = current_rss_mb(), peak_rss_mb()  # loading has its own peak
    stats = suggest_file(ranker, args.input, args.output, top_k=5,
                         batch_size=args.batch_size, progress=False)
    print(json.dumps({"texts_per_s": stats["texts_per_s"], "seconds": stats["seconds"],
                      "rows": stats["rows"], "rss_loaded_mb": loaded,
                      "peak_rss_loading_mb": load_peak, "peak_rss_mb": peak_rss_mb()}))


def run_stream(n: int, base: list[str], tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    src = write_texts(tmp / f"texts_{n}.txt", n, base)
    out = tmp / f"out_{n}.csv"
    cmd = [sys.executable, __file__, "--worker-stream", "--input", str(src), "--output",
           str(out), "--threads", str(args.threads), "--batch-size", str(args.batch_size)]
    if args.model:
        cmd += ["--model", args.model]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"streaming run of {n} texts failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    row = {"texts": n, "input_mb": src.stat().st_size / 2**20,
           "output_mb": out.stat().st_size / 2**20, **res,
           "growth_mb": res["peak_rss_mb"] - res.get("peak_rss_loading_mb", res["rss_loaded_mb"])}
    src.unlink()
    out.unlink()
    return row


def run_ray(m: int, base: list[str], tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Ray Data on 2 local CPUs vs one process over the same texts, in this run."""
    apply_threads(2)
    import ray

    from emojiqa.batch import suggest_file
    from emojiqa.ray_data import suggest_dataset

    src = write_texts(tmp / "ray_texts.txt", m, base)
    texts = src.read_text(encoding="utf-8").splitlines()
    ranker = load_ranker(args.model)
    ranker.rank(["warm up"], top_k=5)
    t0 = time.perf_counter()
    suggest_file(ranker, src, tmp / "single.parquet", top_k=5, batch_size=args.batch_size,
                 progress=False)
    single_s = time.perf_counter() - t0

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t0
    try:
        ds = ray.data.from_items([{"row": i + 1, "text": t} for i, t in enumerate(texts)],
                                 override_num_blocks=8)
        ds = ds.materialize()  # input in the object store before the clock starts
        t0 = time.perf_counter()
        out = suggest_dataset(ds, args.model, top_k=5, batch_size=args.batch_size,
                              num_workers=2, num_cpus=1)
        out.write_parquet(str(tmp / "ray_out"))
        ray_s = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return {"texts": m, "single_process_texts_per_s": m / single_s,
            "ray_2cpu_texts_per_s": m / ray_s, "ray_over_single": single_s / ray_s,
            "ray_init_s": init_s, "single_s": single_s, "ray_s": ray_s,
            "note": "Ray time includes starting the 2 actors and loading the model in each"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--model", default=None,
                        help="ranker folder (default: the bundled model)")
    parser.add_argument("--batch-size", type=int, default=1024, help="texts per batch")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="streaming sizes (default 10k 100k 1M; --quick 2k 10k)")
    parser.add_argument("--ray-texts", type=int, default=None,
                        help="texts for the Ray comparison (default 10k; --quick 2k; 0 skips)")
    parser.add_argument("--worker-stream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_stream:
        stream_worker(args)
        return 0
    apply_threads(args)
    sizes = args.sizes or ([2_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000])
    ray_n = args.ray_texts if args.ray_texts is not None else (2_000 if args.quick else 10_000)
    base = tweets()
    load_before = os.getloadavg()[0]  # other work on the machine slows every figure here
    rows: list[dict[str, Any]] = []
    ray_row: dict[str, Any] | None = None

    def save(complete: bool) -> None:  # after every step, so a long run keeps what it has
        write_results(NAME, {"model": args.model or "bundled", "batch_size": args.batch_size,
                             "threads": args.threads, "complete": complete,
                             "streaming": rows, "ray": ray_row,
                             "load_average_1min": {"start": load_before,
                                                   "end": os.getloadavg()[0]}},
                      quick=args.quick, out=args.out)

    with tempfile.TemporaryDirectory(prefix="emojiqa-scale-") as d:
        tmp = Path(d)
        small = [n for n in sizes if n < 1_000_000]
        for n in [*small, "ray", *[n for n in sizes if n >= 1_000_000]]:
            if n == "ray":  # before the long 1M run
                if ray_n:
                    try:
                        ray_row = run_ray(ray_n, base, tmp, args)
                    except ImportError as exc:
                        print(f"  Ray comparison skipped: {exc} (pip install 'emojiqa[ray]')")
                    else:
                        print(f"  Ray: {ray_row['ray_over_single']:.2f} x one process",
                              flush=True)
            else:
                rows.append(run_stream(n, base, tmp, args))
                print(f"  {n:>9,} texts: {rows[-1]['texts_per_s']:,.0f} texts/s, peak RSS "
                      f"{rows[-1]['peak_rss_mb']:.0f} MB", flush=True)
            save(complete=False)
    print_table(rows, ["texts", "texts_per_s", "seconds", "rss_loaded_mb", "peak_rss_loading_mb",
                       "peak_rss_mb", "growth_mb", "input_mb", "output_mb"],
                title="Streaming batch suggestions (suggest_file, top 5 to CSV, one process)")
    if ray_row:
        print_table([ray_row], ["texts", "single_process_texts_per_s", "ray_2cpu_texts_per_s",
                                "ray_over_single", "ray_init_s"],
                    title="Ray Data on 2 local CPUs vs one process")
    save(complete=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
