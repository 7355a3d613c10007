"""The ``emojiqa`` command line: a thin layer over the library.

``main(argv)`` parses arguments, runs one subcommand and returns an exit code; errors that
emojiqa raises on purpose are printed as one clear line (no traceback) with exit code 2.
Each group of subcommands lives in its own module with a ``register(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from ..errors import EmojiqaError
from .common import HelpFormatter

#: Modules under ``emojiqa.cli`` that add subcommands, in help order.
COMMAND_MODULES = (
    "emoji_cmds",
    "vae_cmds",
    "ranker_cmds",
    "suggest_cmds",
    "embed_cmds",
    "serve_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="emojiqa",
        description="Answer text with emojis, including emojis nobody has drawn yet.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"emojiqa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 usage, 2 error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except (EmojiqaError, ValueError) as exc:
        # emojiqa's own errors and argument checks (ValueError naming the bad value) are
        # messages for the user, not tracebacks
        print(f"emojiqa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emojiqa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # e.g. `emojiqa emojis | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # a file the command reads or writes: a folder given as a file, no permission, a
        # full disk — the file and the reason, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"emojiqa: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
