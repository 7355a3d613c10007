"""Fuzz the image loader and the text path for a bounded time; count inputs and crashes.

Two targets, each run for a fixed time budget with a fixed seed:

* ``image``: :func:`emojiqa.images.load_image` on mutated bytes of valid seed files (PNG in
  RGBA, grayscale, palette and 16-bit; JPEG in RGB and CMYK; animated GIF and WebP; BMP; TIFF).
  Mutations: random byte flips and overwrites with boundary values, truncation, insertion and
  deletion of byte runs, splices of two seeds, and rewritten width/height fields of the PNG
  header (tiny, huge, zero).
* ``text``: random Unicode (every plane, combining marks, controls, NUL, U+FE0F, emojis,
  URLs and @handles, long runs) through :func:`emojiqa.text.validate_text`, the tokenizer and
  :meth:`EmojiRanker.rank` on a tiny untrained ranker (n-gram bag text tower, 4-d VAE).
* ``text-surrogates``: the same with lone UTF-16 surrogates mixed in (not valid Unicode;
  Python strings can still hold them, e.g. from ``surrogateescape`` decoding).

An input either works or raises an :class:`~emojiqa.errors.EmojiqaError`; anything else is a
crash, counted and shown with its exception type. Results: ``benchmarks/results/fuzz.json``
(``fuzz.quick.json`` with ``--quick``, ≤ 60 s).

Example:
    python benchmarks/fuzz.py --quick
    python benchmarks/fuzz.py --seconds 300
"""

from __future__ import annotations

import argparse
import io
import random
import struct
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_args, apply_threads, print_table, write_results  # noqa: E402

INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE)


# --- image seeds and mutations -------------------------------------------------------------------
def image_seeds() -> list[bytes]:
    """Small valid files of every format and mode the loader converts."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgba = Image.fromarray(rng.integers(0, 256, (24, 24, 4), dtype=np.uint8), "RGBA")

    def enc(img, fmt, **kw) -> bytes:
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        return buf.getvalue()

    frames = [Image.new("RGBA", (16, 16), c) for c in ((255, 0, 0, 255), (0, 0, 255, 128))]
    return [
        enc(rgba, "PNG"),
        enc(rgba.convert("L"), "PNG"),
        enc(rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        enc(Image.fromarray(rng.integers(0, 65536, (20, 20), dtype=np.uint16)), "PNG"),
        enc(rgba.convert("RGB"), "JPEG", quality=80),
        enc(rgba.convert("CMYK"), "JPEG", quality=80),
        enc(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        enc(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True),
        enc(rgba.convert("RGB"), "BMP"),
        enc(rgba, "TIFF"),
    ]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def mutate_image(seeds: list[bytes], r: random.Random) -> bytes:
    """One mutated input from the seeds."""
    data = bytearray(r.choice(seeds))
    op = r.randrange(7)
    if op == 0:  # flip bits
        for _ in range(r.randint(1, 16)):
            data[r.randrange(len(data))] ^= 1 << r.randrange(8)
    elif op == 1:  # boundary bytes
        for _ in range(r.randint(1, 8)):
            data[r.randrange(len(data))] = r.choice(INTERESTING)
    elif op == 2:  # truncate
        del data[r.randint(0, len(data) - 1):]
    elif op == 3:  # insert a run
        pos = r.randrange(len(data) + 1)
        data[pos:pos] = bytes([r.randrange(256)]) * r.randint(1, 64)
    elif op == 4:  # delete a run
        pos = r.randrange(len(data))
        del data[pos:pos + r.randint(1, 64)]
    elif op == 5:  # splice two seeds
        other = r.choice(seeds)
        cut = r.randrange(min(len(data), len(other)))
        data = data[:cut] + other[cut:]
    elif data[:8] == b"\x89PNG\r\n\x1a\n":  # rewrite the PNG header's size, valid CRC
        w, h = (r.choice([0, 1, 7, 8, 36, 4096, 4097, 65535, 10_000, 2**31 - 1])
                for _ in range(2))
        ihdr = struct.pack(">II", w, h) + bytes(data[24:29])
        data = data[:8] + _png_chunk(b"IHDR", ihdr) + data[33:]
    else:
        data[r.randrange(len(data))] = r.randrange(256)
    return bytes(data)


# --- text generation -------------------------------------------------------------------------
PIECES = ["🎉", "😡", "👍🏽", "❤️", "🏳️‍🌈", "\ufe0f", "\u200d", "\x00", "\x1b[31m", "\t", "\r\n",
          "https://example.com/a?b=1", "@united", "#fail", "رحلة", "航班", "полёт", "ẞİı",
          "\u202e", "\u0301\u0301\u0301", "\ufeff", "\u200b", "  ", "!!!", "a" * 50]


def random_text(r: random.Random, surrogates: bool) -> str:
    """A random string mixing code points of every plane with tricky pieces."""
    out = []
    for _ in range(r.choice([1, 2, 5, 20, 100])):
        roll = r.random()
        if roll < 0.35:
            out.append(r.choice(PIECES))
        elif roll < 0.6:
            out.append(chr(r.randint(0x20, 0x7E)))
        elif roll < 0.95 or not surrogates:
            cp = r.choice([r.randint(0, 0x2FF), r.randint(0, 0xFFFF), r.randint(0, 0x10FFFF)])
            if 0xD800 <= cp <= 0xDFFF and not surrogates:
                cp = 0xFFFD
            out.append(chr(cp))
        else:
            out.append(chr(r.randint(0xD800, 0xDFFF)))
    if r.random() < 0.02:
        out.append("x" * r.choice([9_990, 10_001, 50_000]))
    return "".join(out)


# --- targets --------------------------------------------------------------------------------------
def build_tiny_ranker(folder: Path):
    """An untrained ranker with an n-gram bag text tower and a 4-d VAE (seconds on CPU)."""
    import torch

    from emojiqa.emojis import EmojiSet
    from emojiqa.ranker import EmojiRanker, RankerConfig, RankerNet
    from emojiqa.text import Tokenizer
    from emojiqa.vae import VAE, VAEConfig

    torch.manual_seed(0)
    vae = VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8, 8)))
    cfg = RankerConfig.named("default", text_tower="bag", ngram_buckets=512, ngram_dim=8,
                             side_dim=8, answer_hidden=(8,), shared_dims=(8, 4), num_words=50)
    tok = Tokenizer(num_words=cfg.num_words, max_len=cfg.max_len).fit(
        ["great flight", "awful delay", "lost my bag", "thank you so much"])
    keys = EmojiSet.bundled("twemoji").keys[:40]
    net = RankerNet(cfg, tok.vocab_size, len(keys), vae.config.latent_dim)
    EmojiRanker(cfg, net, tok, keys, vae=vae).save_pretrained(folder)
    return EmojiRanker.from_pretrained(folder, device="cpu")


def run_target(name: str, make: Callable[[random.Random], object],
               call: Callable[[object], object], seconds: float, seed: int) -> dict:
    """Feed inputs from ``make`` to ``call`` for ``seconds``; count outcomes."""
    from emojiqa.errors import EmojiqaError

    r = random.Random(seed)
    outcomes: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    examples: list[dict] = []
    slowest, slowest_input = 0.0, ""
    t_end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() < t_end:
        item = make(r)
        n += 1
        t1 = time.perf_counter()
        try:
            call(item)
            outcomes["ok"] += 1
        except EmojiqaError as exc:
            outcomes[type(exc).__name__] += 1
        except Exception as exc:  # noqa: BLE001 - a crash is exactly what we count
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            key = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            crashes[key] += 1
            if len(examples) < 5 and crashes[key] == 1:
                examples.append({"error": key, "message": str(exc)[:200],
                                 "input": repr(item)[:200],
                                 "where": traceback.format_exc(limit=-2).splitlines()[-3:]})
        if time.perf_counter() - t1 > slowest:
            slowest, slowest_input = time.perf_counter() - t1, repr(item)[:300]
    total = time.perf_counter() - t0
    return {"target": name, "inputs": n, "seconds": round(total, 1),
            "inputs_per_s": round(n / total, 1) if total else 0.0,
            "crashes": sum(crashes.values()), "ok": outcomes.get("ok", 0),
            "refused": sum(v for k, v in outcomes.items() if k != "ok"),
            "outcomes": dict(outcomes), "crash_types": dict(crashes),
            "crash_examples": examples, "slowest_input_s": round(slowest, 3),
            "slowest_input": slowest_input}


def limit_memory(extra_gb: float) -> int:
    """Cap this process's address space at its current size + ``extra_gb`` (Linux).

    A decoder that tries to allocate more then raises ``MemoryError`` (counted as a crash)
    instead of pulling the whole machine into the out-of-memory killer.
    """
    import resource

    with open("/proc/self/statm") as fh:
        vm_bytes = int(fh.read().split()[0]) * resource.getpagesize()
    cap = vm_bytes + int(extra_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--seconds", type=float, default=None,
                        help="time budget per target (default 300, 12 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the input generator")
    parser.add_argument("--memory-gb", type=float, default=3.0,
                        help="address space allowed on top of the loaded libraries")
    parser.add_argument("--targets", nargs="+", default=["image", "text", "text-surrogates"],
                        choices=["image", "text", "text-surrogates"])
    args = parser.parse_args(argv)
    apply_threads(args)
    warnings.simplefilter("ignore")  # Pillow warns on every odd TIFF tag; outcomes are counted
    budget = args.seconds if args.seconds is not None else (12.0 if args.quick else 300.0)

    from emojiqa.images import load_image
    from emojiqa.ranker import EmojiRanker  # noqa: F401 - load torch before the memory cap
    from emojiqa.text import validate_text

    limit_memory(args.memory_gb)

    rows = []
    if "image" in args.targets:
        seeds = image_seeds()
        rows.append(run_target("image", lambda r: mutate_image(seeds, r), load_image, budget,
                               args.seed))
    text_targets = [t for t in args.targets if t.startswith("text")]
    if text_targets:
        with tempfile.TemporaryDirectory() as tmp:
            ranker = build_tiny_ranker(Path(tmp) / "ranker")
            ranker.rank("warm up", top_k=3, emojis="answers")

            def text_path(text: str) -> None:
                clean = validate_text(text)
                ranker.tokenizer.encode([clean])
                res = ranker.rank(text, top_k=3, emojis="answers")
                assert len(res) == 3 and all(-1.0001 <= x.score <= 1.0001 for x in res)

            for t in text_targets:
                rows.append(run_target(t, lambda r, s=t.endswith("surrogates"):
                                       random_text(r, s), text_path, budget, args.seed))

    print_table(rows, ["target", "inputs", "seconds", "inputs_per_s", "ok", "refused",
                       "crashes", "slowest_input_s"], title="fuzz run")
    for row in rows:
        for kind, count in row["crash_types"].items():
            print(f"  {row['target']}: {count} × {kind}")
    write_results("fuzz", {"seconds_per_target": budget, "seed": args.seed, "rows": rows,
                           "total_inputs": sum(r["inputs"] for r in rows),
                           "total_crashes": sum(r["crashes"] for r in rows)}, quick=args.quick,
                  out=args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
