"""emojiqa: answer text with emojis, including emojis nobody has drawn yet.

The library holds the emoji sets (:mod:`emojiqa.emojis`), the convolutional VAE over emoji
images (:mod:`emojiqa.vae`), the Siamese text–emoji ranker (:mod:`emojiqa.ranker`) and the
tools built on them. The CLI (:mod:`emojiqa.cli`) and the web app (:mod:`emojiqa.web`) are
separate layers over this public API.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .emojis import EmojiInfo, EmojiSet, emoji_from_key, key_from_emoji  # noqa: E402
from .errors import (  # noqa: E402
    ConfigError,
    DataFileError,
    EmojiNotFoundError,
    EmojiqaError,
    ImageError,
    ModelLoadError,
    TextError,
    TrainingError,
)
from .images import load_image  # noqa: E402

__all__ = [
    "ConfigError",
    "DataFileError",
    "EmojiInfo",
    "EmojiNotFoundError",
    "EmojiSet",
    "EmojiqaError",
    "ImageError",
    "ModelLoadError",
    "TextError",
    "TrainingError",
    "__version__",
    "emoji_from_key",
    "key_from_emoji",
    "load_image",
]
