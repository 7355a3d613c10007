"""Web server latency and load: ``/api/suggest`` on a real ``emojiqa serve`` over loopback.

1. Latency: a bounded loop of sequential suggest requests (one at a time), p50/p99 as the
   client sees them and as the server reports (``elapsed_ms``, the model's share).
2. Load: 5,000 suggest requests at concurrency 32 (``--quick``: 300), every response checked
   (HTTP 200 with results); errors counted, p50/p99, throughput, and the server's resident
   memory (RSS) before and after.
3. Uploads: the seconds from start until the server is warm (``/api/health`` says so: the
   look-alike references and VAE codes an upload needs, built beside the server), then 20
   ``/api/score-image`` uploads of bundled Noto drawings, the first timed on its own; and,
   first of all, a server started with ``--no-warm-up``: its memory and its first uploads.
4. The first suggestion in each other style (Noto, OpenMoji): seconds and memory after it.

Everything stays on 127.0.0.1 and is bounded in count and in time (``--max-seconds``). The
client runs on the same machine as the server, so on a 2-core box both share the CPU.

Example:
    python benchmarks/web.py --quick
    python benchmarks/web.py --requests 5000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT,
    add_common_args,
    current_rss_mb,
    latency_summary,
    print_table,
    write_results,
)

BUNDLED = ROOT / "src" / "emojiqa" / "pretrained" / "ranker"


def texts() -> list[str]:
    """The everyday texts of the suggestion benchmark, each also in a few variants."""
    base = [line.strip() for line in
            (ROOT / "benchmarks" / "everyday_texts.txt").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    tails = ["", "!!", " today", " lol", " again?", " 🙏"]
    return [b + t for t in tails for b in base]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_model(folder: Path) -> Path:
    """An untrained tiny ranker, only when no bundled model exists (smoke runs)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_web_api import save_tiny_ranker

    return save_tiny_ranker(folder)


def start_server(model: Path, port: int, threads: int, log: Path, *extra: str
                 ) -> tuple[subprocess.Popen, float]:
    """Start ``emojiqa serve`` (with ``extra`` arguments); returns the process and the
    seconds until it answered ``/api/health`` (it loads the model and builds its candidate
    matrix first)."""
    import httpx

    t0 = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emojiqa", "serve", "--port", str(port), "--model",
             str(model), "--threads", str(threads), *extra],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc, time.perf_counter() - t0
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"emojiqa serve did not start:\n{log.read_text()}")


def wait_warm(url: str, max_seconds: float) -> float | None:
    """Seconds until ``/api/health`` says the server is warm (None: not within the bound)."""
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_seconds:
        if httpx.get(f"{url}/api/health", timeout=5).json().get("warm"):
            return time.perf_counter() - t0
        time.sleep(0.1)
    return None


def uploads(url: str, n: int = 20) -> dict:
    """``n`` score-image uploads of bundled Noto drawings, one at a time: the first's
    latency and the summary of all, errors counted."""
    import httpx

    from emojiqa.emojis import EmojiSet
    from emojiqa.images import array_to_png_bytes

    es = EmojiSet.bundled("noto")
    lat, errors = [], 0
    with httpx.Client(base_url=url, timeout=60) as c:
        for i in range(n):
            png = array_to_png_bytes(es.images[(i * 97) % len(es)])
            t0 = time.perf_counter()
            r = c.post("/api/score-image", files={"file": ("e.png", png, "image/png")})
            lat.append(time.perf_counter() - t0)
            if r.status_code != 200 or not r.json()["texts"]:
                errors += 1
    return {"first_ms": round(lat[0] * 1e3, 1), "errors": errors, **latency_summary(lat)}


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def cold_uploads(model: Path, threads: int, log: Path) -> dict:
    """A server started with ``--no-warm-up``: its memory after start, its first uploads
    (the first builds what uploads need) and its memory after them."""
    port = free_port()
    proc, ready_s = start_server(model, port, threads, log, "--no-warm-up")
    try:
        rss_started = current_rss_mb(proc.pid)
        up = uploads(f"http://127.0.0.1:{port}", n=5)
        return {"ready_s": ready_s, "rss_started_mb": rss_started,
                "rss_after_uploads_mb": current_rss_mb(proc.pid), "score_image": up}
    finally:
        stop(proc)


def style_switches(url: str, pid: int) -> list[dict]:
    """The first suggestion in each other bundled style (its candidates are built then):
    seconds and the server's memory after it."""
    import httpx

    out = []
    for style in ("noto", "openmoji"):
        t0 = time.perf_counter()
        r = httpx.post(f"{url}/api/suggest", json={"text": "happy birthday", "style": style},
                       timeout=120)
        out.append({"style": style, "status": r.status_code,
                    "seconds": round(time.perf_counter() - t0, 3),
                    "rss_mb_after": current_rss_mb(pid)})
    return out


def sequential(url: str, items: list[str], n: int, max_seconds: float) -> dict:
    import httpx

    client_s, server_ms, errors = [], [], 0
    t_end = time.perf_counter() + max_seconds
    with httpx.Client(base_url=url, timeout=30) as c:
        for i in range(n):
            t0 = time.perf_counter()
            r = c.post("/api/suggest", json={"text": items[i % len(items)], "top_k": 8})
            client_s.append(time.perf_counter() - t0)
            if r.status_code == 200 and r.json()["results"]:
                server_ms.append(r.json()["elapsed_ms"] / 1e3)
            else:
                errors += 1
            if time.perf_counter() > t_end:
                break
    return {"client": latency_summary(client_s), "server": latency_summary(server_ms),
            "errors": errors}


async def load(url: str, items: list[str], n: int, concurrency: int, max_seconds: float
               ) -> dict:
    import httpx

    lat: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    issued = 0
    t_start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(c: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < n and time.perf_counter() - t_start < max_seconds:
            i = issued
            issued += 1
            t0 = time.perf_counter()
            try:
                r = await c.post("/api/suggest", json={"text": items[i % len(items)],
                                                       "top_k": 8})
                ok = r.status_code == 200 and len(r.json()["results"]) == 8
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                if not ok:
                    errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            lat.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as c:
        await asyncio.gather(*(worker(c) for _ in range(concurrency)))
    wall = time.perf_counter() - t_start
    return {"requests": len(lat), "asked": n, "concurrency": concurrency,
            "errors": len(errors), "first_errors": errors[:5], "status_counts": statuses,
            "wall_s": round(wall, 2), "throughput_rps": round(len(lat) / wall, 1),
            "stopped_by_time": len(lat) < n, **latency_summary(lat)}


def hostile_checks(port: int) -> list[dict]:
    """Bad requests against the live server: status, and no trace or path in the answer."""
    import http.client

    big = b"{" + b" " * (3 * 2**20) + b"}"
    cases = [
        ("oversized body", "POST", "/api/suggest", big, 413),
        ("malformed JSON", "POST", "/api/suggest", b'{"text": "hi",', 422),
        ("empty text", "POST", "/api/suggest", b'{"text": "  "}', 422),
        ("text over the limit", "POST", "/api/suggest",
         ('{"text": "%s"}' % ("a" * 5000)).encode(), 413),
        ("unknown route", "GET", "/api/nope", None, 404),
        ("traversal ../", "GET", "/static/../app.py", None, 404),
        ("traversal %2e%2e%2f", "GET", "/static/%2e%2e%2fapp.py", None, 404),
        ("traversal to /etc", "GET", "/static/../../../../etc/passwd", None, 404),
        ("not an image", "POST", "/api/score-image", None, 422),
    ]
    out = []
    for name, method, path, body, want in cases:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"content-type": "application/json"}
        if name == "not an image":
            body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
                    b"filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\nhello\r\n--b--\r\n")
            headers = {"content-type": "multipart/form-data; boundary=b"}
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            text = r.read().decode("utf-8", "replace")
            status = r.status
        except OSError as exc:
            status, text = None, f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        leaked = any(bad in text for bad in ("Traceback", 'File "', "/work/", "site-packages",
                                              "def create_app", "root:x:"))
        out.append({"case": name, "status": status, "expected": want,
                    "ok": status == want and not leaked, "leak": leaked})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--model", type=Path, default=None,
                        help="ranker folder (default: the bundled model)")
    parser.add_argument("--requests", type=int, default=None,
                        help="load-test requests (default 5000; --quick 300)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-requests", type=int, default=None,
                        help="sequential requests (default 500; --quick 100)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="time bound of each phase (default 600; --quick 60)")
    args = parser.parse_args()
    n_load = args.requests or (300 if args.quick else 5000)
    n_seq = args.latency_requests or (100 if args.quick else 500)
    max_s = args.max_seconds or (60.0 if args.quick else 600.0)

    with tempfile.TemporaryDirectory() as tmp:
        if args.model is not None:
            model, model_name = args.model, str(args.model)
        elif (BUNDLED / "config.json").exists():
            model, model_name = BUNDLED, "bundled"
        else:
            model, model_name = tiny_model(Path(tmp) / "ranker"), "tiny untrained (no bundled)"
        cold = cold_uploads(model, args.threads, Path(tmp) / "cold.log")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc, ready_s = start_server(model, port, args.threads, Path(tmp) / "serve.log")
        try:
            rss = {"started": current_rss_mb(proc.pid)}
            items = texts()
            import httpx

            warm_after = wait_warm(url, max_s)
            warm_s = None if warm_after is None else ready_s + warm_after
            rss["warm_up_done"] = current_rss_mb(proc.pid)
            up = uploads(url)

            for t in items[:5]:  # warm-up: builds the candidate matrix once
                httpx.post(f"{url}/api/suggest", json={"text": t}, timeout=120)
            rss["warm"] = current_rss_mb(proc.pid)
            switches = style_switches(url, proc.pid)
            seq = sequential(url, items, n_seq, max_s)
            rss["before_load"] = current_rss_mb(proc.pid)
            ld = asyncio.run(load(url, items, n_load, args.concurrency, max_s))
            rss["after_load"] = current_rss_mb(proc.pid)
            checks = hostile_checks(port)
            alive = proc.poll() is None and httpx.get(f"{url}/api/health").status_code == 200
        finally:
            stop(proc)

    rows = [
        {"phase": "sequential (client)", "requests": seq["client"]["n"], "conc": 1,
         "errors": seq["errors"], "p50_ms": seq["client"]["p50_ms"],
         "p99_ms": seq["client"]["p99_ms"], "rps": None},
        {"phase": "sequential (server)", "requests": seq["server"]["n"], "conc": 1,
         "errors": seq["errors"], "p50_ms": seq["server"]["p50_ms"],
         "p99_ms": seq["server"]["p99_ms"], "rps": None},
        {"phase": "load", "requests": ld["requests"], "conc": ld["concurrency"],
         "errors": ld["errors"], "p50_ms": ld["p50_ms"], "p99_ms": ld["p99_ms"],
         "rps": ld["throughput_rps"]},
    ]
    print_table(rows, ["phase", "requests", "conc", "errors", "p50_ms", "p99_ms", "rps"],
                title=f"POST /api/suggest on 127.0.0.1, model: {model_name}")
    print(f"server ready (model loaded, candidates built) {ready_s:.2f} s after it was started")
    print("server warm (what an upload needs, built beside it) "
          + ("not within the bound" if warm_s is None else f"{warm_s:.2f} s after it was started"))
    print(f"/api/score-image after warm-up: first {up['first_ms']} ms, "
          f"p50 {up['p50_ms']:.1f} ms, p99 {up['p99_ms']:.1f} ms over {up['n']} uploads, "
          f"{up['errors']} errors")
    cu = cold["score_image"]
    print(f"with --no-warm-up: ready {cold['ready_s']:.2f} s, RSS {cold['rss_started_mb']:.0f} MB;"
          f" first /api/score-image {cu['first_ms']} ms, RSS after {cu['n']} uploads "
          f"{cold['rss_after_uploads_mb']:.0f} MB")
    print_table([{"when": k, "rss_mb": v} for k, v in rss.items()], title="server memory (RSS)")
    print_table(switches, ["style", "status", "seconds", "rss_mb_after"],
                title="first suggestion in another style")
    print_table(checks, ["case", "status", "expected", "ok"], title="bad requests, live server")
    if ld["errors"]:
        print("first errors:", *ld["first_errors"], sep="\n  ")
    write_results("web", {"model": model_name, "threads": args.threads,
                          "load_average_after": list(os.getloadavg()),
                          "sequential": seq, "load": ld, "server_rss_mb": rss,
                          "server_ready_s": ready_s, "server_warm_s": warm_s,
                          "score_image": up, "no_warm_up": cold,
                          "style_switches": switches,
                          "server_alive_after": alive, "hostile_checks": checks,
                          "rows": rows}, quick=args.quick,
                  out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
