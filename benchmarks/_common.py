"""Shared helpers of the benchmark scripts: machine info, JSON results, tables, timers, memory.

Every script under ``benchmarks/`` prints a plain-text table and writes its figures with
:func:`write_results` to ``benchmarks/results/<name>.json`` (``<name>.quick.json`` with
``--quick``), together with :func:`machine_info` (platform, CPU, threads, device, versions), so
that every number in the README can be traced to the command and the machine that produced it.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_common_args(parser)
    >>> args = parser.parse_args(["--quick"])
    >>> apply_threads(args)  # doctest: +SKIP
    >>> with Timer() as t:
    ...     _ = sum(range(1000))
    >>> t.seconds >= 0
    True
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from emojiqa.storage import atomic_write_text

#: The repository root (benchmarks/..).
ROOT = Path(__file__).resolve().parents[1]
#: Where every benchmark writes its JSON.
RESULTS_DIR = ROOT / "benchmarks" / "results"
#: Cached intermediate artefacts (sentence embeddings, trained benchmark models); not committed.
CACHE_DIR = RESULTS_DIR / "cache"
#: Plots for the README.
IMG_DIR = ROOT / "docs" / "img"
#: The quality chart ``quality.py`` draws and ``make_readme.py`` shows.
QUALITY_FIGURE = IMG_DIR / "quality_macro_f1.png"


# --- arguments -------------------------------------------------------------------------------
def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--quick`` and ``--threads`` (and ``--out``) to a benchmark's parser.

    ``--quick`` is the CI smoke (a minute or two, smaller data); ``--threads`` sets the torch
    intra-op threads (default: 2, the reference machine's cores, or ``EMOJIQA_BENCH_THREADS``).

    Example:
        >>> p = add_common_args(argparse.ArgumentParser())
        >>> p.parse_args(["--threads", "1"]).threads
        1
    """
    parser.add_argument("--quick", action="store_true",
                        help="a small smoke run (CI); writes <name>.quick.json")
    parser.add_argument("--threads", type=int,
                        default=int(os.environ.get("EMOJIQA_BENCH_THREADS", "2")),
                        help="torch intra-op threads (and BLAS threads of numpy/sklearn)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="folder for the JSON results")
    return parser


def apply_threads(args_or_n: argparse.Namespace | int) -> int:
    """Set torch's thread count (and the BLAS env vars for later imports); returns it."""
    n = args_or_n if isinstance(args_or_n, int) else int(getattr(args_or_n, "threads", 2))
    n = max(1, n)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return n


def command_line() -> str:
    """The command that is running, as a user would type it from the repository root."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return " ".join(["python", shlex.quote(str(script)), *map(shlex.quote, sys.argv[1:])])


# --- machine ---------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the host's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    """Platform, Python, CPU model and cores, torch threads, device and library versions.

    Example:
        >>> info = machine_info()
        >>> sorted(info)[:3]
        ['cpu_count', 'cpu_model', 'cuda']
    """
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": cpu_count(),
        "host_cpu_count": os.cpu_count(),
        "date_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # other work on the machine slows every timing down: record how busy it was
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        cuda = torch.cuda.is_available()
        info["cuda"] = cuda
        info["device"] = "cuda" if cuda else "cpu"
        if cuda:
            info["cuda_name"] = torch.cuda.get_device_name(0)
            info["cuda_version"] = torch.version.cuda
    except ImportError:  # pragma: no cover
        info.update(torch_threads=None, cuda=False, device="cpu")
    info["versions"] = {
        name: _version(dist)
        for name, dist in (
            ("emojiqa", "emojiqa"),
            ("torch", "torch"),
            ("numpy", "numpy"),
            ("scikit-learn", "scikit-learn"),
            ("sentence-transformers", "sentence-transformers"),
        )
    }
    return info


def device() -> str:
    """``"cuda"`` when a GPU is available, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# --- results ---------------------------------------------------------------------------------
def _jsonable(obj: Any) -> Any:
    """Make numpy scalars/arrays, paths and non-finite floats JSON-safe."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def results_path(name: str, quick: bool = False, out: Path | None = None) -> Path:
    """``benchmarks/results/<name>.json`` (``<name>.quick.json`` when ``quick``)."""
    return Path(out or RESULTS_DIR) / (f"{name}.quick.json" if quick else f"{name}.json")


def write_results(name: str, data: Mapping[str, Any], quick: bool = False,
                  out: Path | None = None) -> Path:
    """Write a benchmark's figures atomically as JSON, with the machine and the command.

    Args:
        name: the benchmark's name (``"quality"``); the file is ``<name>.json``.
        data: the figures; numpy values are converted, NaN/inf become ``null``.
        quick: a ``--quick`` run (written to ``<name>.quick.json``, not committed).
        out: folder (default ``benchmarks/results``).

    Returns:
        The path written.

    Example:
        >>> write_results("demo", {"rows": [{"a": 1}]}, quick=True)  # doctest: +SKIP
        PosixPath('.../benchmarks/results/demo.quick.json')
    """
    path = results_path(name, quick, out)
    payload = {
        "benchmark": name,
        "quick": bool(quick),
        "command": command_line(),
        "machine": machine_info(),
        **_jsonable(dict(data)),
    }
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    atomic_write_text(path, text)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def read_results(name: str, quick: bool = False, out: Path | None = None) -> dict[str, Any] | None:
    """The JSON a benchmark wrote, or ``None`` when it has not run."""
    path = results_path(name, quick, out)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


# --- tables ----------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 1) -> str:
    """A cell: floats rounded (large ones with thousands separators), None as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) < 0.01 and value != 0 or abs(value) < 1 and digits <= 1:
            return f"{value:.2g}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    return str(value)


def _columns(rows: Sequence[Mapping[str, Any]],
             columns: Sequence[str | tuple] | None,
             digits: int) -> list[tuple[str, str, int]]:
    """Normalise columns to ``(key, header, digits)``."""
    if columns is None:
        seen: dict[str, None] = {}
        for r in rows:
            seen.update(dict.fromkeys(r))
        columns = list(seen)
    out = []
    for c in columns:
        if isinstance(c, str):
            out.append((c, c, digits))
        else:
            out.append((c[0], c[1], c[2] if len(c) > 2 else digits))
    return out


def format_table(rows: Sequence[Mapping[str, Any]],
                 columns: Sequence[str | tuple] | None = None,
                 digits: int = 1) -> str:
    """Rows of dicts as an aligned plain-text table (numbers right-aligned).

    Args:
        rows: one dict per row.
        columns: keys to show, in order; a ``(key, header)`` pair renames the header and a
            ``(key, header, digits)`` triple also sets that column's decimals.
            Default: every key, in first-seen order.
        digits: decimals for floats.
    """
    cols = _columns(rows, columns, digits)
    cells = [[fmt(r.get(k), d) for k, _, d in cols] for r in rows]
    numeric = [all(isinstance(r.get(k), (int, float)) or r.get(k) is None for r in rows)
               for k, _, _ in cols]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h, _) in enumerate(cols)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line([h for _, h, _ in cols]), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    return "\n".join(out)


def print_table(rows: Sequence[Mapping[str, Any]],
                columns: Sequence[str | tuple] | None = None,
                title: str | None = None, digits: int = 1) -> None:
    """Print :func:`format_table` (with an optional title line).

    Example:
        >>> print_table([{"peer": "majority", "macro_f1": 25.7}], ["peer", "macro_f1"])
        peer      macro_f1
        --------  --------
        majority      25.7
    """
    if title:
        print(f"\n{title}")
    print(format_table(rows, columns, digits))


def markdown_table(rows: Sequence[Mapping[str, Any]],
                   columns: Sequence[str | tuple] | None = None,
                   digits: int = 1) -> str:
    """Rows of dicts as a GitHub Markdown table (columns as in :func:`format_table`)."""
    cols = _columns(rows, columns, digits)
    numeric = [all(isinstance(r.get(k), (int, float)) or r.get(k) is None for r in rows)
               for k, _, _ in cols]
    head = "| " + " | ".join(h for _, h, _ in cols) + " |"
    sep = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    body = ["| " + " | ".join(fmt(r.get(k), d).replace("|", "\\|").replace("\n", " / ")
                              for k, _, d in cols) + " |" for r in rows]
    return "\n".join([head, sep, *body])


# --- time and memory -------------------------------------------------------------------------
class Timer:
    """A ``perf_counter`` stopwatch, as a context manager.

    Example:
        >>> with Timer() as t:
        ...     pass
        >>> t.seconds < 1
        True
    """

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def time_calls(fn: Callable[[], Any], *, repeats: int = 100, warmup: int = 5,
               max_seconds: float | None = None) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then up to ``repeats`` times; seconds per call."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    t_end = None if max_seconds is None else time.perf_counter() + max_seconds
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if t_end is not None and time.perf_counter() > t_end and len(times) >= 5:
            break
    return times


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean in milliseconds and the number of calls."""
    return {
        "n": len(seconds),
        "p50_ms": percentile(seconds, 50) * 1e3,
        "p90_ms": percentile(seconds, 90) * 1e3,
        "p99_ms": percentile(seconds, 99) * 1e3,
        "mean_ms": statistics.fmean(seconds) * 1e3 if seconds else float("nan"),
    }


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory in MB of this process (or of its finished children).

    For this process it reads ``VmHWM`` from ``/proc/self/status`` where there is one: unlike
    ``ru_maxrss``, that high-water mark starts afresh at ``exec``, so a process started by a
    large parent does not report the parent's memory as its own.
    """
    if not children:
        for line in _proc_status("self"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    kb = resource.getrusage(who).ru_maxrss  # kilobytes on Linux
    return kb / 1024


def _proc_status(pid: int | str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return []


#: Runs a command as a child of a small Python process and prints the child's peak RSS (kB)
#: on the last line of stderr. On Linux a child's ``ru_maxrss`` starts at its parent's
#: resident size (it survives ``fork`` + ``exec``), so timing a command straight from a
#: benchmark process that holds models would charge that process's memory to the command.
_LAUNCHER = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "sys.stderr.write('\\nPEAK_RSS_KB=%d\\n' % usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def measured_command(cmd: Sequence[str], env: Mapping[str, str] | None = None,
                     cwd: Path | None = None) -> dict[str, Any]:
    """Run ``cmd`` as a fresh process: seconds to its first stdout line and to its exit, its
    own peak RSS in MB (through :data:`_LAUNCHER`), return code, stdout and stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(env) if env else None, cwd=cwd)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    t_first = time.perf_counter() - t0
    rest = proc.stdout.read()
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.wait()
    t_exit = time.perf_counter() - t0
    peak = float("nan")
    head, sep, tail = err.rpartition("PEAK_RSS_KB=")
    if sep:
        peak = int(tail.strip()) / 1024
        err = head.rstrip("\n")
    return {"first_line_s": t_first, "exit_s": t_exit, "peak_rss_mb": peak,
            "returncode": proc.returncode, "stderr": err,
            "stdout": (first + rest).decode("utf-8", "replace")}


def current_rss_mb(pid: int | str = "self") -> float:
    """Current resident memory in MB, read from ``/proc/<pid>/status`` (NaN elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def target(value: float | None, bound: float, op: str = ">=") -> str:
    """``"met"`` / ``"missed"`` (or ``"n/a"`` without a value) for a target like ``≥ 78``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    ok = value >= bound if op == ">=" else value <= bound
    return "met" if ok else "missed"


def stable_hash(parts: Iterable[str]) -> str:
    """A short sha256 of some strings (cache keys)."""
    import hashlib

    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]
