"""``emojiqa train-vae`` and ``emojiqa generate sample|grid|interpolate|blend``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .common import add_parser, check_png_out


def _at_least(lo: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {value}")
        return value

    return parse


def _load_style(spec: str, skip_bad: bool) -> Any:
    """A bundled style or a folder; with ``skip_bad`` a folder's unreadable files are left
    out and named on stderr."""
    import warnings

    from ..emojis import SKIPPED_IMAGE, STYLES, EmojiSet

    if not skip_bad or spec.lower() in STYLES:
        return EmojiSet.load(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        es = EmojiSet.from_folder(spec, on_error="skip")
    skipped = [str(w.message).removeprefix(SKIPPED_IMAGE) for w in caught
               if str(w.message).startswith(SKIPPED_IMAGE)]
    if skipped:
        shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5
                                          else "")
        print(f"skipped {len(skipped)} unreadable image file(s) in {spec}: {shown}",
              file=sys.stderr)
    return es


def register(sub: Any) -> None:
    p = add_parser(sub, "train-vae", "Train the emoji VAE on bundled styles or your folders.")
    p.add_argument("--config", default="default", choices=["default", "seed"],
                   help="named VAE configuration")
    p.add_argument("--style", action="append", default=None,
                   help="bundled style (twemoji, noto, openmoji) or a folder of images; "
                   "repeat to train on several (default: twemoji)")
    p.add_argument("--epochs", type=_at_least(1), default=None,
                   help="epochs (default: the config's, 30 for default, 100 for seed)")
    p.add_argument("--out", default="runs/vae", help="output folder (model/ goes inside)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--skip-bad-images", action="store_true",
                   help="in a folder, leave out the files that cannot be read as images "
                   "(listed on stderr) instead of stopping at the first")
    p.set_defaults(func=run_train)

    g = add_parser(sub, "generate", "Generate new emojis with the VAE and save them as a PNG "
                   "grid; prints the nearest known emoji of each.")
    gsub = g.add_subparsers(dest="what", metavar="WHAT", required=True)
    s = add_parser(gsub, "sample", "Random draws from the prior.")
    s.add_argument("-n", type=_at_least(1), default=16, help="how many")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    gr = add_parser(gsub, "grid", "The seed's 2-D latent grids A, B, C.")
    gr.add_argument("kind", nargs="?", default="A", choices=["A", "B", "C"], help="grid kind")
    gr.add_argument("--ticks", type=_at_least(1), default=20, help="points per axis")
    gr.add_argument("--lo", type=float, default=-2.0, help="axis start")
    gr.add_argument("--hi", type=float, default=2.0, help="axis end")
    it = add_parser(gsub, "interpolate", "A straight line in latent space between two emojis.")
    it.add_argument("a", help="first emoji (character, key or name) or image file")
    it.add_argument("b", help="last emoji or image file")
    it.add_argument("--steps", type=_at_least(2), default=10, help="images in the strip")
    bl = add_parser(gsub, "blend", "Blend emojis: '🐱 + 🤖', '👑 - 👨 + 👩', or several emojis.")
    bl.add_argument("items", nargs="+",
                    help="an expression, or emojis (or image files) to average")
    bl.add_argument("--weights", type=float, nargs="+", help="one weight per emoji")
    rc = add_parser(gsub, "reconstruct", "Originals (top row) and their reconstructions from "
                    "μ (bottom row).")
    rc.add_argument("items", nargs="*", help="emojis or image files to reconstruct (default: "
                    "16 spread over the validation split)")
    for q in (s, gr, it, bl, rc):
        q.add_argument("--model", default=None, help="VAE folder (default: the bundled model)")
        q.add_argument("--emojis", default="twemoji",
                       help="emoji set for look-ups and nearest known (style or folder)")
        q.add_argument("--out", default=None, help="PNG to write (default: generate_WHAT.png)")
        q.add_argument("--scale", type=_at_least(1), default=3, help="upscaling factor of the PNG")
    g.set_defaults(func=run_generate)


def run_train(args: argparse.Namespace) -> int:
    import os

    import torch

    from .. import distributed
    from ..emojis import EmojiSet
    from ..train_vae import train_vae
    from ..vae import VAEConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    config = VAEConfig.named(args.config)
    trains, vals = [], []
    for spec in args.style or ["twemoji"]:
        tr, va = _load_style(spec, args.skip_bad_images).split()
        trains.append(tr)
        vals.append(va)
    train = EmojiSet.concat(trains) if len(trains) > 1 else trains[0]
    val = EmojiSet.concat(vals) if len(vals) > 1 else vals[0]
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 speaks
    if main_rank:
        print(f"training VAE ({config.name}) on {len(train)} emojis, validating on "
              f"{len(val)}; writing to {args.out}")
    train_vae(config, train, val, args.out, epochs=args.epochs, seed=args.seed,
              resume=args.resume, progress=not args.no_progress)
    distributed.cleanup(distributed.init_distributed())
    if main_rank:
        print(f"model saved in {args.out}/model; use it with --model {args.out}/model")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from .. import generate as G
    from ..emojis import EmojiSet
    from ..images import make_grid, save_png
    from ..vae import VAE

    out = args.out or f"generate_{args.what}.png"
    check_png_out(out)
    vae = VAE.from_pretrained(args.model)
    es = EmojiSet.load(args.emojis)
    ncol = None
    if args.what == "sample":
        images = vae.sample(args.n, generator=torch.Generator().manual_seed(args.seed))
    elif args.what == "grid":
        images, ncol = G.seed_grid(vae, args.kind, args.ticks, args.lo, args.hi), args.ticks
    elif args.what == "interpolate":
        images, ncol = G.interpolate(vae, args.a, args.b, args.steps, emojis=es), args.steps
    elif args.what == "reconstruct":
        if args.items:
            orig = G.images_of(args.items, es)
        else:
            val = es.split()[1]
            orig = val.images[np.linspace(0, len(val) - 1, min(16, len(val))).astype(int)]
        images, ncol = np.concatenate([orig, vae.reconstruct(orig)]), len(orig)
    else:
        expr = " ".join(args.items)
        if args.weights or (len(args.items) > 1 and not any(
                t in ("+", "-") for t in args.items)):
            images = G.blend(vae, args.items, args.weights, emojis=es)[None]
        else:
            images = G.latent_arithmetic(vae, expr, emojis=es)[None]
    save_png(make_grid(images, ncol=ncol, scale=args.scale), out)
    near = [es[i[0]] for i in G.nearest_known(vae, images, es)]
    width = ncol or int(np.ceil(np.sqrt(len(images))))
    print(f"wrote {len(images)} emoji(s) to {out}")
    if len(images) <= 20:
        for i, e in enumerate(near):
            print(f"{i + 1:>3}  nearest known: {e.emoji}  {e.name}")
    else:
        print("nearest known emoji of each cell:")
        for r in range(0, len(near), width):
            print(" ".join(e.emoji for e in near[r:r + width]))
    return 0
