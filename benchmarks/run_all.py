"""Run every benchmark script, each in its own process, and report which ones failed.

``python benchmarks/run_all.py --quick`` is the CI smoke: every script with ``--quick`` (a
minute or two each; the whole run stays under 10 minutes on 2 cores). Without ``--quick`` it
runs the full benchmarks that the README's Results section is generated from (``python
benchmarks/make_readme.py`` afterwards); the wall time of each script is printed and saved to
``benchmarks/results/run_all.json``.

A failing script does not stop the others; the exit code is non-zero and the failures are
named at the end. Scripts that do not exist (yet) are listed as missing, not failed.

Example:
    python benchmarks/run_all.py --quick
    python benchmarks/run_all.py --only quality speed --threads 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, print_table, write_results  # noqa: E402

BENCH_DIR = ROOT / "benchmarks"
#: Every benchmark, in the order they run (library parts first, the summaries last).
SCRIPTS = ("vae", "ranker", "tune_ranker", "finetune", "suggest", "similar", "ablations",
           "new_releases", "web", "scale", "fuzz", "quality", "speed", "scaling")
#: Per-script limit in seconds (quick, full): a hung script must not hang CI.
LIMITS = {"quick": 420, "full": 4 * 3600}


def run_script(name: str, quick: bool, threads: int | None, limit: float,
               extra: list[str]) -> dict[str, object]:
    """Run ``benchmarks/<name>.py`` in a subprocess; its status, exit code and wall time."""
    path = BENCH_DIR / f"{name}.py"
    if not path.is_file():
        return {"script": name, "status": "missing", "rc": None, "seconds": 0.0}
    cmd = [sys.executable, str(path.relative_to(ROOT))]
    if quick:
        cmd.append("--quick")
    if threads is not None:
        cmd += ["--threads", str(threads)]
    cmd += extra
    print(f"\n=== {' '.join(cmd[1:])}", flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=limit).returncode
        status = "ok" if rc == 0 else "failed"
    except subprocess.TimeoutExpired:
        rc, status = None, f"timed out after {limit:.0f} s"
    seconds = time.perf_counter() - t0
    print(f"=== {name}: {status} in {seconds:.1f} s", flush=True)
    return {"script": name, "status": status, "rc": rc, "seconds": round(seconds, 1),
            "command": " ".join(["python", *cmd[1:]])}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; 0 when every existing script succeeded."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI smoke of every script")
    parser.add_argument("--threads", type=int, default=None,
                        help="passed on to every script (default: each script's own)")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, default=None,
                        help="run only these scripts")
    parser.add_argument("--skip", nargs="+", choices=SCRIPTS, default=(),
                        help="do not run these scripts")
    parser.add_argument("--limit", type=float, default=None,
                        help="seconds allowed per script (default 420 quick, 4 h full)")
    args, extra = parser.parse_known_args(argv)
    limit = args.limit or LIMITS["quick" if args.quick else "full"]
    names = [n for n in (args.only or SCRIPTS) if n not in args.skip]

    t0 = time.perf_counter()
    rows = [run_script(n, args.quick, args.threads, limit, extra) for n in names]
    total = time.perf_counter() - t0
    print_table(rows, ["script", "status", ("seconds", "seconds")],
                title=f"Benchmarks ({'quick' if args.quick else 'full'}): {total:.0f} s in all")
    write_results("run_all", {"total_seconds": round(total, 1), "scripts": rows},
                  quick=args.quick)
    failed = [r["script"] for r in rows if r["status"] not in ("ok", "missing")]
    missing = [r["script"] for r in rows if r["status"] == "missing"]
    if missing:
        print(f"not present (skipped): {', '.join(missing)}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
