"""The errors emojiqa raises.

Every error names what was wrong and what to do about it. All of them derive from
:class:`EmojiqaError`, so a caller (the CLI, the web app) can catch one class and show the
message as it is. Each also derives from the matching built-in class (``ValueError``,
``LookupError``, ``OSError``, ``RuntimeError``) so generic handlers keep working.
"""

from __future__ import annotations


class EmojiqaError(Exception):
    """Base class of every error emojiqa raises on purpose."""


class ImageError(EmojiqaError, ValueError):
    """An image (file, bytes or array) could not be used as an emoji."""


class TextError(EmojiqaError, ValueError):
    """A text query is empty, too long or otherwise unusable."""


class EmojiNotFoundError(EmojiqaError, LookupError):
    """An emoji given by character, key or name is not in the emoji set."""

    def __str__(self) -> str:  # LookupError/KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataFileError(EmojiqaError, ValueError):
    """A training or input data file (CSV, TSV, JSONL, text) is malformed."""


class ConfigError(EmojiqaError, ValueError):
    """A configuration (dataclass or config.json) has unknown, missing or invalid fields."""


class ModelLoadError(EmojiqaError, OSError):
    """A model folder is missing, incomplete, corrupt, unsafe or from another version."""


class TrainingError(EmojiqaError, RuntimeError):
    """Training cannot start or cannot go on (NaN loss, unwritable output folder...)."""
