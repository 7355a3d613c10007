"""``emojiqa emojis``: list the emoji set and search it by name and keyword."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import add_parser, print_json


def register(sub: Any) -> None:
    p = add_parser(sub, "emojis", "List the emoji set, or search it by name and keyword "
                   "(fuzzy), with a skin-tone choice.")
    p.add_argument("query", nargs="*", help="words to search for (omit to list all)")
    p.add_argument("--style", default="twemoji",
                   help="bundled style (twemoji, noto, openmoji) or a folder of images")
    p.add_argument("--skin-tone", default=None,
                   help="show people in this tone: 1-5 or light, medium-light, medium, "
                   "medium-dark, dark")
    p.add_argument("--all-tones", action="store_true", help="list every skin-tone variant")
    p.add_argument("--group", action="append", help="only this group (repeatable)")
    p.add_argument("--exclude-group", action="append", help="drop this group (repeatable)")
    p.add_argument("--limit", type=int, default=20,
                   help="results to show when searching (1 to 5000)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..emojis import EmojiSet, check_groups, info_for, parse_skin_tone
    from ..errors import ConfigError

    if not 1 <= args.limit <= 5000:
        raise ConfigError(f"--limit must be between 1 and 5000, got {args.limit}")
    tone = parse_skin_tone(args.skin_tone)
    es = EmojiSet.load(args.style)
    if args.group or args.exclude_group:
        check_groups(es, [*(args.group or ()), *(args.exclude_group or ())])
        es = es.filter(groups=args.group, exclude_groups=args.exclude_group)
    query = " ".join(args.query).strip()
    if query:
        found = es.search(query, limit=args.limit, skin_tones=args.all_tones)
    else:
        found = [e for e in es if args.all_tones or not e.skin_tone]
    rows = []
    for e in found:
        shown = info_for(es.with_skin_tone(e.key, tone)) if tone else e
        rows.append({"emoji": shown.emoji, "key": shown.key, "name": shown.name,
                     "group": e.group, "keywords": list(e.keywords)})
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['emoji']}\t{r['key']}\t{r['name']}")
    if query and not rows:  # as grep: nothing found is exit status 1
        print(f"no emoji matches {query!r}; try fewer or other words, or `emojiqa emojis` "
              f"to list them all", file=sys.stderr)
        return 1
    return 0
