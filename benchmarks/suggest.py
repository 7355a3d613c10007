"""Suggestion quality: the bundled model, the zero-shot protocols, everyday texts, invented emojis.

Measures, in one run (JSON in ``benchmarks/results/suggest.json`` and tables on stdout):

* TweetEval val macro-F1 (20-way, U+FE0F stripped) and airline test macro-F1 (3-way) of the
  bundled model and of any ``--best`` model folders;
* CLDR-name retrieval over all 1,979 base emojis (query = label), through the full answer
  path (pixels + per-emoji correction) and through pixels alone;
* the *new releases* protocol (Emoji ≥ 14.0 held out entirely) and the *new drawings*
  protocol (Twemoji-only training, Noto and OpenMoji candidates) for a pixel and a latent
  (VAE μ) answer tower, each through the per-emoji corrections, the corrections of look-alike
  training drawings (for emojis without their own) and the drawing alone, with the exact random
  baselines; the protocol models are trained here (cached under
  ``benchmarks/results/cache/suggest_models``; ``--retrain`` trains them again);
* hit@1, hit@5 and MRR on 160 everyday texts labelled with the emojis a person would accept
  (``benchmarks/everyday_labelled.tsv``, written before any output was seen; odd lines dev,
  even lines test) for a range of keyword weights — the default is the smallest within 0.01
  of the best dev MRR — for keywords alone, and for MiniLM's cosine to the CLDR names as a peer;
* the bundled model's top 5 for the 20 everyday texts of ``benchmarks/everyday_texts.txt``
  (fixed before any output was seen);
* invented emojis for five of them (``docs/img/suggest_generated.png``) and how the best
  invented score compares with the best known score over all 20 texts;
* the cold start of ``emojiqa suggest "I just got the job!!"`` in a fresh process.

Usage::

    python benchmarks/suggest.py            # full run (trains 4 protocol models by the recipe)
    python benchmarks/suggest.py --quick    # CI smoke: tiny protocol models, few texts
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CACHE_DIR,
    IMG_DIR,
    ROOT,
    add_common_args,
    apply_threads,
    command_line,
    measured_command,
    print_table,
    read_results,
    target,
    write_results,
)

EVERYDAY = ROOT / "benchmarks" / "everyday_texts.txt"
#: Everyday texts with the emojis a person would accept (written before any output was seen).
LABELLED = ROOT / "benchmarks" / "everyday_labelled.tsv"
#: Keyword weights measured on the labelled texts (0: the model alone, 1: keywords alone).
LABELLED_WEIGHTS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: The chosen keyword weight is the smallest whose dev MRR is within this of the best one.
LABELLED_MARGIN = 0.01
MODELS_DIR = CACHE_DIR / "suggest_models"
#: Per-tower settings of the protocol models. The latent tower gets a second hidden layer
#: (its one-layer variant's weights file trips a pickle check of the model loader).
TOWER_OVERRIDES: dict[str, dict[str, Any]] = {"pixels": {}, "latent": {"answer_hidden": (64, 64)}}
#: Texts whose invented emojis go in the README picture (the first five everyday texts).
N_PICTURED = 5
#: Local-search steps tried on the blends (their default is none).
SEARCH_STEPS = 20


def everyday_texts() -> list[str]:
    """The 20 everyday texts, in file order."""
    lines = EVERYDAY.read_text(encoding="utf-8").splitlines()
    return [t.strip() for t in lines if t.strip() and not t.lstrip().startswith("#")]


def classification(ranker: Any, name: str, quick: bool) -> dict[str, Any]:
    """TweetEval val and airline test macro-F1 (and accuracy) of one model."""
    from emojiqa.datasets import load_airline, load_tweeteval
    from emojiqa.metrics import evaluate

    tw, air = load_tweeteval("val"), load_airline("test")
    if quick:
        tw, air = tw[:400], air[:300]
    t0 = time.perf_counter()
    rt = evaluate(ranker, tw)
    ra = evaluate(ranker, air)
    return {"model": name, "tweeteval_val_macro_f1": 100 * rt["macro_f1"],
            "tweeteval_val_acc": 100 * rt["accuracy"],
            "airline_test_macro_f1": 100 * ra["macro_f1"],
            "airline_test_acc": 100 * ra["accuracy"], "n_tweeteval": len(tw), "n_airline": len(air),
            "seconds": round(time.perf_counter() - t0, 1)}


def _row(label: str, m: dict[str, Any], **extra: Any) -> dict[str, Any]:
    rnd = m["random"]
    return {**extra, "path": label, "recall_at_1": 100 * m["recall@1"],
            "recall_at_10": 100 * m["recall@10"], "mrr": m["mrr"],
            "median_rank": m["median_rank"], "n_queries": m["n_queries"],
            "n_candidates": m["n_candidates"], "random_recall_at_10": 100 * rnd["recall@10"],
            "random_mrr": rnd["mrr"], "random_median_rank": rnd["median_rank"]}


def protocol_model(protocol: str, tower: str, args: argparse.Namespace, work: Path) -> Any:
    """Train (or reuse) the model of a zero-shot protocol with an answer tower."""
    from emojiqa.ranker import EmojiRanker
    from emojiqa.recipes import train_protocol

    folder = work / f"{protocol}_{tower}"
    model = folder / "model"
    if args.quick or args.retrain or not (model / "config.json").is_file():
        t0 = time.perf_counter()
        kw: dict[str, Any] = {"epochs": 1, "max_steps": 3, "limit": 3000,
                              "look_epochs": 1} if args.quick else {
            "epochs": args.epochs}
        if args.quick:
            kw["styles"] = ("twemoji",)
        train_protocol(protocol, folder, answer_tower=tower, progress=False,
                       **TOWER_OVERRIDES[tower], **kw)
        print(f"trained {protocol}/{tower} in {time.perf_counter() - t0:.0f} s", flush=True)
    return EmojiRanker.from_pretrained(model)


def zero_shot(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """Both protocols for the pixel and the latent answer tower, every answer path each (and
    look-alike names over each model, :class:`emojiqa.names.NameMatcher`)."""
    from emojiqa import zeroshot as Z
    from emojiqa.errors import EmojiqaError
    from emojiqa.names import NameMatcher, minilm_encoder

    encoder = minilm_encoder()  # one MiniLM for every look-alike-names row

    def scorer(r: Any, path: str) -> tuple[Any, str]:
        """What scores ``path`` and through which protocol path: the names path is a
        :class:`NameMatcher` over the model, measured as its look-alike path."""
        return (NameMatcher(r, encoder), "lookalike") if path == "names" else (r, path)

    rows: list[dict[str, Any]] = []
    for tower in ("pixels", "latent"):
        try:
            r = protocol_model("new_releases", tower, args, work)
        except EmojiqaError as exc:  # report it, measure the rest
            print(f"new_releases/{tower}: {exc}", file=sys.stderr)
            rows.append({"protocol": "new releases", "path": tower, "error": str(exc)[:200]})
        else:
            for path, label in (("known", f"{tower}+known"), ("lookalike", f"{tower}+lookalike"),
                                ("pixels", tower), ("names", f"{tower}+names")):
                by, via = scorer(r, path)
                for query in ("label", "keywords"):
                    m = Z.new_releases(by, query=query, path=via)
                    rows.append(_row(label, m, protocol="new releases", query=query))
        try:
            r = protocol_model("new_drawings", tower, args, work)
        except EmojiqaError as exc:
            print(f"new_drawings/{tower}: {exc}", file=sys.stderr)
            rows.append({"protocol": "new drawings", "path": tower, "error": str(exc)[:200]})
        else:
            for style in ("noto", "openmoji"):
                for path, label in (("pixels", tower), ("lookalike", f"{tower}+lookalike"),
                                    ("names", f"{tower}+names")):
                    by, via = scorer(r, path)
                    m = Z.new_drawings(by, style=style, path=via)
                    rows.append(_row(label, m, protocol=f"new drawings ({style})",
                                     query="label"))
    return rows


def labelled_texts() -> list[tuple[str, frozenset[str]]]:
    """The labelled everyday texts: (text, keys of the emojis a person would accept), keys
    without U+FE0F so that ``🏋‍♀️`` and ``🏋️‍♀️`` are one answer."""
    from emojiqa.emojis import key_from_emoji

    rows = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            text, answers = line.split("\t")
            rows.append((text.strip(), frozenset(_plain(key_from_emoji(e))
                                                 for e in answers.split())))
    return rows


def _plain(key: str) -> str:
    """An emoji key without its U+FE0F parts."""
    return "-".join(p for p in key.split("-") if p != "fe0f")


def hit_rates(ranked: list[list[str]], rows: list[tuple[str, frozenset[str]]]
              ) -> dict[str, float]:
    """hit@1, hit@5 (%) and MRR of full rankings (keys, best first) against acceptable keys:
    the rank of a text is that of its first acceptable emoji (none found: reciprocal 0)."""
    firsts = [next((i for i, k in enumerate(keys) if _plain(k) in ok), math.inf)
              for keys, (_, ok) in zip(ranked, rows, strict=True)]  # inf: never found
    n = max(len(firsts), 1)
    return {"hit_at_1": 100 * sum(f < 1 for f in firsts) / n,
            "hit_at_5": 100 * sum(f < 5 for f in firsts) / n,
            "mrr": sum(1 / (f + 1) for f in firsts) / n}


def labelled(ranker: Any, quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """hit@1 / hit@5 / MRR on the labelled everyday texts (odd lines dev, even lines test) for
    the keyword weights of :data:`LABELLED_WEIGHTS`, keywords alone, and MiniLM's cosine to the
    candidates' CLDR names. The weight chosen is the smallest of those between 0 and 1 whose
    dev MRR is within :data:`LABELLED_MARGIN` of the best."""
    from emojiqa.emojis import info_for, select_candidates
    from emojiqa.keywords import DEFAULT_KEYWORD_WEIGHT

    rows = labelled_texts()
    if quick:
        rows = rows[:8]
    halves = {"dev": rows[0::2], "test": rows[1::2]}
    cand = select_candidates(ranker.emojis)
    n = len(cand)

    def measured(name: str, rank: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"scorer": name}
        for half, part in halves.items():
            m = hit_rates(rank([t for t, _ in part]), part)
            out.update({f"{half}_{k}": v for k, v in m.items()})
        return out

    def by_weight(w: float) -> Any:
        return lambda texts: [[r.key for r in rs] for rs in ranker.rank(
            texts, top_k=n, keyword_weight=w)]

    table = [measured(f"bundled, keyword weight {w:g}" + (" (model alone)" if w == 0 else
                                                            " (keywords alone)" if w == 1
                                                            else ""), by_weight(w))
             for w in LABELLED_WEIGHTS]
    mixes = table[1:-1]
    top = max(r["dev_mrr"] for r in mixes)
    # 80 dev texts cannot tell weights apart by less than LABELLED_MARGIN: among those, the
    # model keeps the most say
    chosen = next(w for w, r in zip(LABELLED_WEIGHTS[1:-1], mixes, strict=True)
                  if r["dev_mrr"] >= top - LABELLED_MARGIN)
    try:
        from emojiqa.names import minilm_encoder

        encode = minilm_encoder()
    except Exception as exc:  # noqa: BLE001 - the peer needs the minilm extra
        print(f"MiniLM peer skipped: {exc}", file=sys.stderr)
    else:
        names = encode([info_for(k).name for k in cand.keys])
        names = names / np.linalg.norm(names, axis=1, keepdims=True)

        def by_names(texts: list[str]) -> list[list[str]]:
            q = encode(texts)
            sims = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ names.T
            return [[cand.keys[i] for i in np.argsort(-row, kind="stable")] for row in sims]

        table.append(measured("MiniLM cosine to the CLDR names (peer)", by_names))
    # each text at the default weight: where its first acceptable emoji came, and the top 5
    ranked = ranker.rank([t for t, _ in rows], top_k=n)
    per_text = []
    for i, ((text, ok), rs) in enumerate(zip(rows, ranked, strict=True)):
        first = next((j for j, r in enumerate(rs) if _plain(r.key) in ok), None)
        per_text.append({"text": text, "half": "dev" if i % 2 == 0 else "test",
                         "first_acceptable_rank": None if first is None else first + 1,
                         "top5": " ".join(r.emoji for r in rs[:5])})
    summary = {"chosen_weight": chosen, "default_weight": DEFAULT_KEYWORD_WEIGHT,
               "n_dev": len(halves["dev"]), "n_test": len(halves["test"]),
               "n_candidates": n, "texts": per_text}
    return table, summary


def top5_table(ranker: Any, texts: list[str]) -> list[dict[str, Any]]:
    """Top 5 as a user gets them (keyword boost on) and from the model's cosine alone."""
    ranked = ranker.rank(texts, top_k=5)
    alone = ranker.rank(texts, top_k=5, keyword_weight=0.0)
    return [{"text": t, "top5": " ".join(r.emoji for r in rs),
             "names": "; ".join(r.name for r in rs), "best_score": rs[0].score,
             "top5_model_only": " ".join(r.emoji for r in ms)}
            for t, rs, ms in zip(texts, ranked, alone, strict=True)]


def generated(ranker: Any, texts: list[str], quick: bool, picture: Path | None
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Invent emojis for every text with both methods; compare the best invented and best
    known scores. Each method's emojis are scored as the method scores them (``blend``: as a
    new drawing with look-alikes; ``prior``: from the pixels alone), and both also with
    look-alikes, so the two methods meet on one scale."""
    import numpy as np
    import torch

    from emojiqa.invent import DEFAULT_STEPS, invent

    rows, pictured = [], []
    n = 2 if quick else 4
    steps = {m: 3 if quick else s for m, s in DEFAULT_STEPS.items()}
    for i, text in enumerate(texts):
        new, secs = {}, {}
        for method in ("blend", "prior"):
            t0 = time.perf_counter()
            new[method] = invent(ranker, text, n=n, method=method, steps=steps[method],
                                 generator=torch.Generator().manual_seed(i))
            secs[method] = time.perf_counter() - t0
        prior_alike = ranker.score_images(text, np.stack([x.image for x in new["prior"]]),
                                          lookalike=True)
        # the blends again with a local search on their score (same seed, so the same start):
        # how much it lifts the score, and how much it changes the drawings (mean |Δ| of the
        # RGBA values, 0–255, each searched drawing against the blend it started from)
        searched = invent(ranker, text, n=n, method="blend", steps=SEARCH_STEPS,
                          generator=torch.Generator().manual_seed(i))
        start = np.stack([x.code for x in new["blend"]])
        moved = [np.abs(x.image.astype(np.float64) - new["blend"][int(np.argmin(
            np.linalg.norm(start - x.code, axis=1)))].image).mean() for x in searched]
        # model scores on both sides: the invented emojis have no keywords to boost
        known = ranker.rank(text, top_k=3, keyword_weight=0.0)
        # as if every emoji were new
        by_pixels = ranker.rank(text, top_k=1, use_known=False, keyword_weight=0.0)[0]
        best = new["blend"][0]
        rows.append({"text": text, "best_known": known[0].score,
                     "best_known_emoji": known[0].emoji,
                     "best_known_pixels_only": by_pixels.score,
                     "best_generated": best.score,
                     "generated_minus_known": best.score - known[0].score,
                     "nearest_of_best": best.nearest.emoji,
                     "blend_of_best": best.blend_text,
                     "best_prior": new["prior"][0].score,
                     "best_prior_lookalike": float(np.max(prior_alike)),
                     "best_blend_searched": searched[0].score,
                     "searched_pixel_change": float(np.mean(moved)),
                     "seconds": round(secs["blend"], 1),
                     "seconds_prior": round(secs["prior"], 1)})
        if i < N_PICTURED:
            es = ranker.emojis
            pictured.append((text, np.stack([es.image(r.key) for r in known]
                                            + [x.image for x in new["blend"]]
                                            + [x.image for x in new["prior"]])))
    if picture is not None and pictured:
        _picture(pictured, picture, n_known=3, n_new=n)
    diffs = [r["generated_minus_known"] for r in rows]

    def mean(key: str) -> float:
        return statistics.mean(r[key] for r in rows)

    summary = {"texts": len(rows), "mean_best_known": mean("best_known"),
               "mean_best_generated": mean("best_generated"),
               "mean_best_known_pixels_only": mean("best_known_pixels_only"),
               "mean_best_prior": mean("best_prior"),
               "mean_best_prior_lookalike": mean("best_prior_lookalike"),
               "mean_best_blend_searched": mean("best_blend_searched"),
               "mean_searched_pixel_change": mean("searched_pixel_change"),
               "search_steps": SEARCH_STEPS,
               "mean_generated_minus_known": statistics.mean(diffs),
               "generated_beats_known": sum(d > 0 for d in diffs), "per_text": n,
               "steps": steps, "mean_seconds": mean("seconds"),
               "mean_seconds_prior": mean("seconds_prior")}
    return rows, summary


def _picture(rows: list[tuple[str, Any]], path: Path, n_known: int, n_new: int,
             scale: int = 3) -> None:
    """Each row: the text, its top known emojis, then the emojis each method invented
    (``blend``, then ``prior``), panels a gap apart."""
    from PIL import Image, ImageDraw, ImageFont

    from emojiqa.images import make_grid, save_png

    try:
        font: Any = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1: the bitmap font only
        font = ImageFont.load_default()
    titles = ("best known", "invented: blend (default)", "invented: prior search")
    cuts = [0, n_known, n_known + n_new, n_known + 2 * n_new]
    panels = [(t, [make_grid(imgs[a:b], ncol=b - a, scale=scale)
                   for a, b in zip(cuts, cuts[1:], strict=False)]) for t, imgs in rows]
    label_w = int(max(font.getlength(t) for t, _ in panels)) + 24
    gap, head = 24, 22
    widths = [max(p[k].width for _, p in panels) for k in range(len(titles))]
    height = head + sum(p[0].height for _, p in panels)
    canvas = Image.new("RGB", (label_w + sum(widths) + gap * (len(widths) - 1), height),
                       (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    xs = [label_w + sum(widths[:k]) + gap * k for k in range(len(widths))]
    for x, title in zip(xs, titles, strict=True):
        draw.text((x, 3), title, fill=(90, 90, 90), font=font)
    y = head
    for text, grids in panels:
        draw.text((8, y + grids[0].height // 2 - 8), text, fill=(30, 30, 30), font=font)
        for x, grid in zip(xs, grids, strict=True):
            canvas.paste(grid, (x, y))
        y += grids[0].height
    save_png(canvas, path)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def best_config_targets(cls_rows: list[dict[str, Any]], quality: dict[str, Any] | None
                        ) -> list[dict[str, Any]]:
    """The targets on the best config of each task: the best of this run's models
    (``cls_rows``) and every emojiqa config the quality benchmark trained for that task alone
    (same splits; its results JSON ``quality``)."""
    best = {task: max((r[f"{task}_{split}_macro_f1"], r["model"]) for r in cls_rows)
            for task, split in (("tweeteval", "val"), ("airline", "test"))}
    for r in (quality or {}).get("rows", []):
        if (r.get("kind") == "emojiqa" and r.get("macro_f1") is not None
                and r["task"] in best and r["macro_f1"] > best[r["task"]][0]):
            best[r["task"]] = (r["macro_f1"], f"{r['model']} (quality.json)")
    return [{"target": f"{title}, best config ≥ {bound} ({best[task][1]})",
             "value": best[task][0], "bound": bound, "status": target(best[task][0], bound)}
            for task, title, bound in (("tweeteval", "TweetEval val macro-F1", 28),
                                       ("airline", "airline test macro-F1", 80))]


def cold_start(model: str | None, repeats: int) -> dict[str, Any]:
    """Wall time of ``emojiqa suggest`` in a fresh process (median of ``repeats``)."""
    cmd = [sys.executable, "-m", "emojiqa", "suggest", "I just got the job!!"]
    if model:
        cmd += ["--model", model]
    times, exits, rss, out = [], [], [], ""
    for _ in range(repeats):
        res = measured_command(cmd, cwd=ROOT)
        times.append(res["first_line_s"])  # process start → first answer, as speed.py
        exits.append(res["exit_s"])
        rss.append(res["peak_rss_mb"])
        out = res["stdout"] if res["returncode"] == 0 else res["stderr"]
    import os

    return {"command": 'emojiqa suggest "I just got the job!!"',
            "median_s": statistics.median(times), "min_s": min(times), "runs": repeats,
            "exit_median_s": statistics.median(exits),
            "peak_rss_mb": max(rss),
            "load_average_1min": os.getloadavg()[0],
            "output": " ".join(line.split("\t")[0] for line in out.strip().splitlines())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--model", default=None, help="bundled model folder (default: package)")
    parser.add_argument("--best", action="append", default=[],
                        help="another model folder to score as a candidate best config")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of the protocol models (default: the bundled recipe's, "
                             "emojiqa.recipes.BUNDLED_OVERRIDES)")
    parser.add_argument("--retrain", action="store_true", help="retrain the protocol models")
    parser.add_argument("--skip-zeroshot", action="store_true",
                        help="train no protocol models; keep the zero-shot rows of the last "
                             "run that measured them (marked from_earlier_run)")
    args = parser.parse_args(argv)
    apply_threads(args)
    from emojiqa.ranker import EmojiRanker
    from emojiqa.zeroshot import cldr_retrieval

    quick = args.quick
    bundled = EmojiRanker.from_pretrained(args.model)
    texts = everyday_texts()
    data: dict[str, Any] = {}

    cls_rows = [classification(bundled, "bundled", quick)]
    if bundled.wide is not None:  # what its wide head adds, in the same run
        head, bundled.wide = bundled.wide, None
        cls_rows.append(classification(bundled, "bundled, towers alone", quick))
        bundled.wide = head
    for folder in args.best:
        cls_rows.append(classification(EmojiRanker.from_pretrained(folder), folder, quick))
    print_table(cls_rows, ["model", ("tweeteval_val_macro_f1", "TweetEval val F1"),
                           ("airline_test_macro_f1", "airline test F1"), "seconds"],
                title="Classification (macro-F1, %)")
    data["classification"] = cls_rows

    cldr_rows = [_row(label, cldr_retrieval(bundled, path=path), model="bundled")
                 for path, label in (("known", "pixels+known"), ("pixels", "pixels"))]
    print_table(cldr_rows, ["model", "path", ("recall_at_1", "R@1 %"),
                            ("recall_at_10", "R@10 %"), ("mrr", "MRR", 3), "median_rank",
                            ("random_recall_at_10", "random R@10 %", 2)],
                title="CLDR-name retrieval (query = label, among all base emojis)")
    data["cldr_retrieval"] = cldr_rows

    zs: list[dict[str, Any]] = []
    if not args.skip_zeroshot:
        with tempfile.TemporaryDirectory() as tmp:
            zs = zero_shot(args, Path(tmp) if quick else MODELS_DIR)
        print_table(zs, ["protocol", "path", "query", ("recall_at_1", "R@1 %"),
                         ("recall_at_10", "R@10 %"), ("mrr", "MRR", 3), "median_rank",
                         "n_queries", "n_candidates", ("random_recall_at_10", "rand R@10 %", 2),
                         ("random_median_rank", "rand median")],
                    title="Zero-shot protocols")
    else:  # keep the protocol figures of the last run that measured them, marked as such
        prev = read_results("suggest", quick, args.out) or {}
        zs = [{**r, "from_earlier_run": True, "command": r.get("command") or prev.get("command"),
               "date_utc": r.get("date_utc") or (prev.get("machine") or {}).get("date_utc")}
              for r in prev.get("zero_shot", [])]
        if zs:
            data["notes"] = [f"zero-shot protocols: figures of the run of "
                             f"{str(zs[0]['date_utc'])[:10]} (`{zs[0]['command']}`); this run "
                             "was started with --skip-zeroshot"]
    if not args.skip_zeroshot:
        zs = [{**r, "command": command_line()} for r in zs]
    data["zero_shot"] = zs

    lab_rows, lab_summary = labelled(bundled, quick)
    print_table(lab_rows, ["scorer", ("dev_hit_at_1", "dev hit@1 %"),
                           ("dev_hit_at_5", "dev hit@5 %"), ("dev_mrr", "dev MRR", 3),
                           ("test_hit_at_1", "test hit@1 %"), ("test_hit_at_5", "test hit@5 %"),
                           ("test_mrr", "test MRR", 3)],
                title=f"Labelled everyday texts ({lab_summary['n_dev']} dev / "
                      f"{lab_summary['n_test']} test, {lab_summary['n_candidates']} candidates; "
                      f"weight chosen on dev MRR: {lab_summary['chosen_weight']:g}, default "
                      f"{lab_summary['default_weight']:g})")
    data["labelled"] = lab_rows
    data["labelled_summary"] = lab_summary

    shown = texts[:5] if quick else texts
    everyday = top5_table(bundled, shown)
    print_table(everyday, ["text", "top5", ("best_score", "score", 3),
                           ("top5_model_only", "model only (keyword_weight=0)")],
                title="Everyday texts: the bundled model's top 5")
    data["everyday"] = everyday

    gen_rows, gen_summary = generated(bundled, shown[:2] if quick else shown, quick,
                                      None if quick else IMG_DIR / "suggest_generated.png")
    print_table(gen_rows, ["text", "best_known_emoji", ("best_known", "known", 3),
                           ("best_known_pixels_only", "known, pixels only", 3),
                           ("best_generated", "blend", 3), "nearest_of_best",
                           "blend_of_best",
                           ("best_prior", "prior (pixels)", 3),
                           ("best_prior_lookalike", "prior (look-alikes)", 3),
                           ("best_blend_searched", "blend + search", 3),
                           ("searched_pixel_change", "search's mean |Δpixel|", 2)],
                title="Invented vs known (cosine score for the text)")
    data["generated"] = gen_rows
    data["generated_summary"] = gen_summary

    cs = cold_start(args.model, 1 if quick else 5)
    print_table([cs], ["command", ("median_s", "first answer s", 2), ("min_s", "min s", 2),
                       ("exit_median_s", "exit s", 2),
                       ("load_average_1min", "load avg"), "output"], title="Cold start")
    data["cold_start"] = [cs]

    paths = [t + s for t in ("pixels", "latent")
             for s in ("", "+known", "+lookalike", "+names")]

    def best(protocol: str, key: str, lower: bool = False) -> tuple[float | None, str]:
        """The best label-query ``key`` of ``protocol`` over every tower and path, and where
        it came from (the first such path when several tie)."""
        found = [(r[key], r["path"]) for p in paths for r in zs
                 if (r["protocol"], r["path"], r.get("query")) == (protocol, p, "label")
                 and r.get(key) is not None]
        if not found:
            return None, "none measured"
        pick = min if lower else max
        value = pick(v for v, _ in found)
        return value, next(p for v, p in found if v == value)

    nr_med, nr_med_path = best("new releases", "median_rank", lower=True)
    nr_r10, nr_r10_path = best("new releases", "recall_at_10")
    nd_r10, nd_r10_path = best("new drawings (noto)", "recall_at_10")
    targets = [
        {"target": "TweetEval val macro-F1, bundled model ≥ 28",
         "value": cls_rows[0]["tweeteval_val_macro_f1"], "bound": 28,
         "status": target(cls_rows[0]["tweeteval_val_macro_f1"], 28)},
        *best_config_targets(cls_rows, read_results("quality", quick)),
        {"target": f"new releases: median rank ≤ 50 (best tower and path, label query: "
                   f"{nr_med_path})",
         "value": nr_med, "bound": 50, "status": target(nr_med, 50, "<=")},
        {"target": f"new releases: recall@10 ≥ 25 % (best tower and path, label query: "
                   f"{nr_r10_path})",
         "value": nr_r10, "bound": 25, "status": target(nr_r10, 25)},
        {"target": f"new drawings (Noto): recall@10 ≥ 40 % ({nd_r10_path})", "value": nd_r10,
         "bound": 40,
         "status": target(nd_r10, 40)},
        {"target": "cold start of `emojiqa suggest` < 2 s (first answer)", "value": cs["median_s"],
         "bound": 2, "status": target(cs["median_s"], 2, "<=")},
    ]
    print_table(targets, ["target", ("value", "measured", 2), "status"], title="Targets")
    data["targets"] = targets
    write_results("suggest", data, quick=quick, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
