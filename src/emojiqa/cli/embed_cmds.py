"""``emojiqa embed`` (the ranker's text or emoji vectors, printed or written to a file) and
``emojiqa similar`` (the emojis nearest an emoji or a new drawing among those vectors)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError
from .common import add_parser, check_top_k, print_json


def register(sub: Any) -> None:
    p = add_parser(sub, "embed", "Write the vectors of texts or emojis (the ranker's two "
                   "towers; a text's and an emoji's dot product is the model's cosine) to "
                   ".npy, .safetensors or .jsonl, or print them as JSON lines.")
    p.add_argument("texts", nargs="*", help="texts to embed ('-' reads one text a line from "
                   "stdin)")
    p.add_argument("--input", default=None,
                   help="file of texts: .txt (one a line), .csv/.tsv, .jsonl or .parquet")
    p.add_argument("--text-column", default=None, help="column of --input holding the text")
    p.add_argument("--id-column", default=None,
                   help="column of --input kept as each row's id (instead of its text)")
    p.add_argument("--emojis", default=None, metavar="SET",
                   help="embed emojis instead: a bundled style (twemoji, noto, openmoji), a "
                        "folder of images, or 'answers' (the model's answer table)")
    p.add_argument("--drawing-only", action="store_true",
                   help="with --emojis: code every emoji from its drawing alone, as a new one "
                        "(without the corrections learned for the emojis seen in training)")
    p.add_argument("--out", default=None,
                   help="write here (.npy, .safetensors or .jsonl) instead of printing")
    p.add_argument("--raw", action="store_true",
                   help="the codes as the towers give them, not scaled to unit length")
    p.add_argument("--model", default=None, help="ranker folder (default: the bundled model)")
    p.add_argument("--batch-size", type=int, default=1024, help="texts encoded at once")
    p.set_defaults(func=run_embed)

    q = add_parser(sub, "similar", "The emojis that mean what an emoji (or your drawing) means: "
                   "its nearest neighbours among the ranker's emoji vectors, which answer the "
                   "same texts.")
    q.add_argument("query", help="an emoji (character, key or name) or an image file")
    q.add_argument("--top-k", type=int, default=10, help="how many emojis")
    q.add_argument("--emojis", default=None, metavar="SET",
                   help="candidates: a bundled style, a folder of images or 'answers' "
                        "(default: the model's own set)")
    q.add_argument("--skin-tone", default=None,
                   help="render the results in this tone (1-5, light … dark)")
    q.add_argument("--group", action="append", default=None,
                   help="only emojis of this CLDR group (repeatable)")
    q.add_argument("--exclude-group", action="append", default=None,
                   help="leave out this CLDR group (repeatable), e.g. flags")
    q.add_argument("--model", default=None, help="ranker folder (default: the bundled model)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=run_similar)


def run_embed(args: argparse.Namespace) -> int:
    from ..embed import (
        embed_emojis,
        embed_texts,
        embed_texts_file,
        json_lines,
        vector_format,
        write_vectors,
    )
    from ..ranker import EmojiRanker

    texts = _texts(args)
    sources = [name for name, given in (("texts", texts is not None), ("--input", args.input),
                                        ("--emojis", args.emojis)) if given]
    if len(sources) != 1:
        raise ConfigError("give one thing to embed: texts as arguments (or '-' for stdin), "
                          "--input FILE, or --emojis SET"
                          + (f"; got {' and '.join(sources)}" if sources else ""))
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    if (args.text_column or args.id_column) and not args.input:
        raise ConfigError("--text-column and --id-column read columns of --input FILE")
    if args.drawing_only and not args.emojis:
        raise ConfigError("--drawing-only is for --emojis")
    if args.out:
        vector_format(args.out)  # a wrong suffix is refused before the model loads
    ranker = EmojiRanker.from_pretrained(args.model)
    normalize = not args.raw
    if args.emojis:
        vectors = embed_emojis(ranker, args.emojis, normalize=normalize,
                               use_known=not args.drawing_only)
    elif args.input:
        vectors = embed_texts_file(ranker, args.input, text_column=args.text_column,
                                   id_column=args.id_column, batch_size=args.batch_size,
                                   normalize=normalize, progress=sys.stderr.isatty())
    else:
        vectors = embed_texts(ranker, texts or [], normalize=normalize,
                              batch_size=args.batch_size)
    if not args.out:
        sys.stdout.writelines(json_lines(vectors))
        return 0
    write_vectors(vectors, args.out)
    print(f"{len(vectors):,} {vectors.kind} vectors of {vectors.vectors.shape[1]} numbers "
          f"({'unit length' if normalize else 'raw'}) -> {args.out}", file=sys.stderr)
    return 0


def run_similar(args: argparse.Namespace) -> int:
    from ..embed import similar_emojis
    from ..emojis import parse_skin_tone
    from ..ranker import EmojiRanker

    check_top_k(args.top_k)
    ranker = EmojiRanker.from_pretrained(args.model)
    found = similar_emojis(ranker, args.query, args.top_k, args.emojis,
                           skin_tone=parse_skin_tone(args.skin_tone), groups=args.group,
                           exclude_groups=args.exclude_group)
    if args.json:
        print_json({"query": args.query, "emojis": [r.to_dict() for r in found]})
        return 0
    for r in found:
        print(f"{r.emoji}\t{r.score:+.3f}\t{r.name}\t{r.key}")
    return 0


def _texts(args: argparse.Namespace) -> list[str] | None:
    """The texts given as arguments, or read from stdin (one a line) for ``-``; None when
    none are given."""
    if not args.texts:
        return None
    if args.texts == ["-"]:
        lines = sys.stdin.read().splitlines()
        while lines and not lines[-1].strip():
            lines.pop()  # a trailing blank line is the end of the input, not a text
        if not lines:
            raise ConfigError("no texts on stdin (one text a line)")
        return lines
    if "-" in args.texts:
        raise ConfigError("'-' (read stdin) cannot be mixed with texts given as arguments")
    return list(args.texts)
