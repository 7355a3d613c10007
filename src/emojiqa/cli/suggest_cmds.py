"""``emojiqa suggest``, ``emojiqa show`` and ``emojiqa train-bundled``.

``suggest`` answers a text with the best emojis of the whole set (one entry per base emoji,
skin tone applied on request), optionally with new emojis invented by the VAE, or streams a
whole file through the ranker in batches. ``show`` draws the top emojis of each text as a PNG
strip. ``train-bundled`` retrains the default suggestion model from the bundled data.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError
from .common import add_parser, check_png_out, check_top_k, print_json, read_text_arg


def register(sub: Any) -> None:
    p = add_parser(sub, "suggest", "Answer a text with emojis from the whole emoji set "
                   "(text as argument, --file, or stdin), or a whole file with --input.")
    p.add_argument("text", nargs="?", default=None, help="the text ('-' reads stdin)")
    p.add_argument("--file", default=None, help="read the text from this file ('-' = stdin)")
    _common_rank_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--names", action="store_true",
                   help="rank by look-alike names (the minilm extra): an emoji the model knows "
                        "by its CLDR name, a new drawing (--emojis DIR) by the names of the "
                        "emojis it looks like; the best zero-shot path for new emojis")
    p.add_argument("--explain", action="store_true",
                   help="take each score apart: the model's part, the keyword score and the "
                        "words of the text that named the emoji")
    p.add_argument("--generate", type=int, default=0, metavar="N",
                   help="also invent N new emojis with the VAE")
    p.add_argument("--method", choices=("blend", "prior"), default="blend",
                   help="how --generate invents: blend (mixes of the text's best known "
                        "emojis' codes, scored with look-alikes) or prior (prior samples "
                        "refined on the pixel score)")
    p.add_argument("--steps", type=int, default=None,
                   help="refinement steps of --generate (default: 0 for blend, 60 for prior)")
    p.add_argument("--seed", type=int, default=0, help="seed of --generate")
    p.add_argument("--out", default=None,
                   help="with --generate: write the invented emojis as a PNG here")
    g = p.add_argument_group("batch mode (streams a file, resumable)")
    g.add_argument("--input", default=None,
                   help="file of texts: .txt (one a line), .csv/.tsv, .jsonl or .parquet")
    g.add_argument("--output", default=None, help="where to write the suggestions")
    g.add_argument("--text-column", default=None, help="column holding the text")
    g.add_argument("--id-column", default=None,
                   help="column copied to the output as the row's id (instead of the text)")
    g.add_argument("--keep-empty", action="store_true",
                   help="write empty texts with no suggestions instead of stopping there")
    g.add_argument("--batch-size", type=int, default=1024, help="texts per batch")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.set_defaults(func=run_suggest)

    s = add_parser(sub, "show", "Draw the top emojis of each text as a PNG strip.")
    s.add_argument("texts", nargs="+", help="one or more texts")
    s.add_argument("--out", required=True, help="PNG file to write")
    _common_rank_args(s)
    s.add_argument("--generate", type=int, default=0, metavar="N",
                   help="append N invented emojis to each row")
    s.add_argument("--seed", type=int, default=0, help="seed of --generate")
    s.add_argument("--scale", type=int, default=3, help="pixel upscaling factor")
    s.set_defaults(func=run_show)

    t = add_parser(sub, "train-bundled", "Train the default suggestion model from the bundled "
                   "data (CLDR texts + TweetEval + airline; about 7–14 min on 2 CPU cores).")
    t.add_argument("--out", default=None,
                   help="output folder (default: the package's pretrained/ranker)")
    t.add_argument("--work-dir", default=None, help="folder for checkpoints and curves")
    t.add_argument("--epochs", type=int, default=None,
                   help="override the recipe's epochs (default: the recipe's)")
    t.add_argument("--seed", type=int, default=0, help="random seed")
    t.add_argument("--resume", action="store_true", help="resume from the work folder")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train_bundled)


def _common_rank_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="ranker folder (default: the bundled model)")
    p.add_argument("--emojis", default=None,
                   help="candidates: a bundled style (twemoji, noto, openmoji), a folder of "
                   "images, or 'answers' (the emojis the model was trained on; default: the "
                   "model's own set)")
    p.add_argument("--top-k", type=int, default=5, help="how many emojis to return")
    p.add_argument("--skin-tone", default=None,
                   help="render people in this tone: 1-5 or light, medium-light, medium, "
                   "medium-dark, dark")
    p.add_argument("--group", action="append", default=None,
                   help="only emojis of this group, e.g. smileys-emotion (repeatable)")
    p.add_argument("--exclude-group", action="append", default=None,
                   help="leave out this group, e.g. flags (repeatable)")
    p.add_argument("--keyword-weight", type=float, default=None, metavar="W",
                   help="weight in [0, 1] of the boost for emojis whose CLDR name or keywords "
                   "the text says (default 0.8; 0 = the model's score alone)")


def _load(args: argparse.Namespace) -> Any:
    from ..ranker import EmojiRanker

    ranker = EmojiRanker.from_pretrained(args.model)  # with the folder's stored vectors, if any
    weight = _keyword_weight(args)
    if weight is not None:
        ranker.keyword_weight = weight
    return ranker


def _keyword_weight(args: argparse.Namespace) -> float | None:
    """``--keyword-weight``, checked (None: the model's default)."""
    weight = getattr(args, "keyword_weight", None)
    if weight is not None and not 0.0 <= weight <= 1.0:
        raise ValueError(f"--keyword-weight must be in [0, 1], got {weight}")
    return weight


def _rank(ranker: Any, texts: str | list[str], args: argparse.Namespace) -> Any:
    from ..emojis import parse_skin_tone

    check_top_k(args.top_k)
    return ranker.rank(texts, top_k=args.top_k, emojis=_emoji_set(ranker, args),
                       group_skin_tones=True,
                       skin_tone=parse_skin_tone(args.skin_tone), groups=args.group,
                       exclude_groups=args.exclude_group)


def _emoji_set(ranker: Any, args: argparse.Namespace) -> Any:
    """The ``--emojis`` set (None: the model's own), loaded once per command: ranking and
    explaining then share it, and the ranker's caches keyed by it."""
    if not args.emojis:
        return None
    if getattr(args, "_emoji_set", None) is None:
        args._emoji_set = ranker.emoji_set(args.emojis)
    return args._emoji_set


def _rank_lite(text: str, args: argparse.Namespace) -> tuple[Any, Any]:
    """The ranking without torch (:mod:`emojiqa.lite`) and the lite ranker, or ``(None,
    None)`` where it cannot serve this model (then the full ranker answers, and reports a
    broken folder)."""
    from ..emojis import parse_skin_tone
    from ..lite import LiteRanker

    check_top_k(args.top_k)
    lite = LiteRanker.load(args.model)
    if lite is None:
        return None, None
    try:
        return lite.rank(text, top_k=args.top_k, skin_tone=parse_skin_tone(args.skin_tone),
                         groups=args.group, exclude_groups=args.exclude_group,
                         keyword_weight=_keyword_weight(args)), lite
    except LookupError:  # a candidate without a stored vector
        return None, None


def run_suggest(args: argparse.Namespace) -> int:
    if args.input or args.output:
        return _run_batch(args)
    check_png_out(args.out)
    from ..text import validate_text

    if args.names and args.generate:
        raise ConfigError("--names ranks known and new drawings; it cannot score --generate's "
                          "invented emojis (they have no look-alikes' names to borrow): use one")
    if args.names and args.explain:
        raise ConfigError("--explain takes apart the model's score and the keyword boost; "
                          "--names ranks by names alone: use one")
    text = validate_text(read_text_arg(args.text, args.file).strip())
    ranked, ranker = (None, None) if args.generate or args.emojis or args.names else (
        _rank_lite(text, args))
    if args.names:
        from ..emojis import parse_skin_tone
        from ..names import NameMatcher

        check_top_k(args.top_k)
        ranker = _load(args)
        ranked = NameMatcher(ranker).rank(
            text, top_k=args.top_k, emojis=args.emojis or None,
            skin_tone=parse_skin_tone(args.skin_tone), groups=args.group,
            exclude_groups=args.exclude_group)
    elif ranked is None:
        ranker = _load(args)
        ranked = _rank(ranker, text, args)
    invented = []
    if args.generate:
        import torch

        from ..invent import invent

        # blended from (and compared with) the emojis ranked: --emojis noto invents in Noto's
        # style, --emojis DIR from the folder's own drawings
        invented = invent(ranker, text, n=args.generate, method=args.method, steps=args.steps,
                          generator=torch.Generator().manual_seed(args.seed),
                          known=_emoji_set(ranker, args))
        if args.out:
            from ..images import make_grid, save_png

            save_png(make_grid([x.image for x in invented], ncol=len(invented), scale=4),
                     args.out)
    why = _explain(ranker, text, ranked, args) if args.explain else [{} for _ in ranked]
    if args.json:
        out: dict[str, Any] = {"text": text, "emojis": [{**r.to_dict(), **w}
                                                        for r, w in zip(ranked, why,
                                                                        strict=True)]}
        if args.generate:
            out["generated"] = [x.to_dict() for x in invented]
        print_json(out)
        return 0
    for r, w in zip(ranked, why, strict=True):
        line = f"{r.emoji}\t{r.score:+.3f}\t{r.name}\t{r.key}"
        if w:
            model = "–" if w["model_score"] is None else f"{w['model_score']:+.3f}"
            named = (": " + ", ".join(w["keywords"])) if w["keywords"] else ""
            line += f"\tmodel {model}, keywords {w['keyword_score']:.3f}{named}"
        print(line)
    for i, x in enumerate(invented, 1):
        n = x.nearest
        mix = f"\tblend of {x.blend_text}" if x.recipe else ""
        print(f"new #{i}\t{x.score:+.3f}\tnearest known: {n.emoji} {n.name} ({n.score:+.3f})"
              f"{mix}")
    if invented and args.out:
        print(f"invented emojis written to {args.out}", file=sys.stderr)
    return 0


def _explain(ranker: Any, text: str, ranked: Any, args: argparse.Namespace
             ) -> list[dict[str, Any]]:
    """The ranker's (full or lite) ``explain`` of one text's results, with the arguments they
    were ranked with."""
    from ..emojis import parse_skin_tone

    tone = parse_skin_tone(args.skin_tone)
    return ranker.explain(text, ranked, _emoji_set(ranker, args), skin_tone=tone,
                          groups=args.group,
                          exclude_groups=args.exclude_group,
                          keyword_weight=_keyword_weight(args))


def _run_batch(args: argparse.Namespace) -> int:
    if not (args.input and args.output):
        raise ConfigError("batch mode needs both --input FILE and --output FILE")
    if getattr(args, "names", False):
        raise ConfigError("--names is not available in batch mode (--input/--output); "
                          "rank one text at a time with it")
    check_top_k(args.top_k)
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    from ..batch import suggest_file
    from ..emojis import parse_skin_tone

    stats = suggest_file(_load(args), args.input, args.output, text_column=args.text_column,
                         top_k=args.top_k, batch_size=args.batch_size, resume=args.resume,
                         progress=sys.stderr.isatty(), id_column=args.id_column,
                         on_empty="keep" if args.keep_empty else "error",
                         emojis=args.emojis, skin_tone=parse_skin_tone(args.skin_tone),
                         groups=args.group, exclude_groups=args.exclude_group)
    if args.json:
        print_json(stats)
    else:
        print(", ".join(f"{k}: {v}" for k, v in stats.items()))
    return 0


def run_show(args: argparse.Namespace) -> int:
    import numpy as np

    from ..text import validate_text

    check_png_out(args.out)
    texts = [validate_text(t) for t in args.texts]
    ranker = _load(args)
    ranked = _rank(ranker, texts, args)
    es = _emoji_set(ranker, args)
    es = ranker.emojis if es is None else es
    rows = []
    for text, rs in zip(texts, ranked, strict=True):
        imgs = [es.image(r.key) if r.key in es.keys else _blank() for r in rs]
        if args.generate:
            import torch

            from ..invent import invent

            imgs += [x.image for x in invent(ranker, text, n=args.generate, known=es,
                                             generator=torch.Generator().manual_seed(args.seed))]
        rows.append((text, np.stack(imgs)))
    from ..images import save_png

    save_png(_strip(rows, scale=args.scale), args.out)
    print(f"wrote {args.out} ({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


def _blank() -> Any:
    import numpy as np

    from ..images import EMOJI_SIZE

    return np.zeros((EMOJI_SIZE, EMOJI_SIZE, 4), np.uint8)


def _strip(rows: list[tuple[str, Any]], scale: int = 3) -> Any:
    """One row per text: the text on the left, its emojis to the right, on white."""
    from PIL import Image, ImageDraw, ImageFont

    from ..images import make_grid

    grids = [make_grid(imgs, ncol=len(imgs), scale=scale) for _, imgs in rows]
    size = max(12, 5 * scale)
    try:  # Pillow's own scalable font (needs FreeType); the small bitmap font otherwise
        font: Any = ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        font = ImageFont.load_default()
    # the default fonts know Latin-1 only; anything else becomes '?'
    shown = [(t if len(t) <= 48 else t[:45] + "...").encode("latin-1", "replace")
             .decode("latin-1") for t, _ in rows]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = int(max(measure.textlength(t, font=font) for t in shown)) + 24
    width = label_w + max(g.width for g in grids)
    height = sum(g.height for g in grids)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    y = 0
    for text, g in zip(shown, grids, strict=True):
        draw.text((12, y + g.height // 2), text, fill=(30, 30, 30), font=font, anchor="lm")
        canvas.paste(g, (label_w, y))
        y += g.height
    return canvas


def run_train_bundled(args: argparse.Namespace) -> int:
    from ..recipes import train_bundled

    folder = train_bundled(out_dir=args.out, work_dir=args.work_dir, epochs=args.epochs,
                           seed=args.seed, resume=args.resume, progress=not args.quiet)
    print(f"bundled suggestion model written to {folder}")
    return 0
