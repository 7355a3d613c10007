"""Helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default after its help, unless the help already says what it is
    or there is none to show (``None``, a flag's ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


def add_parser(sub: Any, name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
    """Add a subcommand whose help shows the defaults."""
    return sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter,
                          **kw)


def check_top_k(k: int) -> None:
    """``--top-k`` must be 1 to 1000."""
    from ..errors import ConfigError

    if not 1 <= k <= 1000:
        raise ConfigError(f"--top-k must be between 1 and 1000, got {k}")


def check_png_out(path: Any) -> None:
    """An image output (``--out``) must be a ``.png`` file name, not a folder
    (:func:`emojiqa.images.check_png_path`): checked before the work that fills it."""
    from ..errors import ConfigError
    from ..images import check_png_path

    if path is None:
        return
    try:
        check_png_path(path)
    except ValueError as exc:
        raise ConfigError(f"--out {exc}") from exc


def print_json(obj: Any) -> None:
    """Print ``obj`` as UTF-8 JSON on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def read_text_arg(text: str | None, file: str | None) -> str:
    """The text to work on: the argument, a file (``-`` for stdin), or stdin when piped."""
    from ..errors import TextError

    if text is not None and text != "-":
        return text
    if file and file != "-":
        try:
            with open(file, encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError as exc:
            raise TextError(f"text file not found: {file}") from exc
        except UnicodeDecodeError as exc:
            raise TextError(f"{file} is not UTF-8 text ({exc}); re-save it as UTF-8") from exc
    if not sys.stdin.isatty() or text == "-" or file == "-":
        return sys.stdin.read()
    raise TextError("no text given: pass it as an argument, with --file, or on stdin")
