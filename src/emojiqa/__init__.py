"""emojiqa: answer text with emojis, including emojis nobody has drawn yet.

The library holds the emoji sets (:mod:`emojiqa.emojis`), the convolutional VAE over emoji
images (:mod:`emojiqa.vae`), the Siamese text–emoji ranker (:mod:`emojiqa.ranker`) and the
tools built on them. The CLI (:mod:`emojiqa.cli`) and the web app (:mod:`emojiqa.web`) are
separate layers over this public API.
"""

from __future__ import annotations

import sys as _sys
import types as _types
from typing import TYPE_CHECKING, Any

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

# Model classes pull in torch: imported on first use, so `import emojiqa` stays light.
_LAZY = {
    "VAE": "vae", "VAEConfig": "vae",
    "EmojiRanker": "ranker", "RankedEmoji": "emojis", "RankerConfig": "ranker",
    "LiteRanker": "lite", "NameMatcher": "names",
    "Example": "datasets", "load_airline": "datasets", "load_tweeteval": "datasets",
    "load_table": "datasets",
    "train_vae": "train_vae", "train_ranker": "train_ranker", "invent": "invent",
    "embed_texts": "embed", "embed_emojis": "embed", "Vectors": "embed",
}

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from .datasets import Example, load_airline, load_table, load_tweeteval
    from .embed import Vectors, embed_emojis, embed_texts
    from .emojis import RankedEmoji
    from .invent import invent
    from .lite import LiteRanker
    from .names import NameMatcher
    from .ranker import EmojiRanker, RankerConfig
    from .train_ranker import train_ranker
    from .train_vae import train_vae
    from .vae import VAE, VAEConfig


def __getattr__(name: str) -> Any:  # PEP 562
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'emojiqa' has no attribute {name!r}")


#: Top-level names that are a function and also the submodule defining it (``emojiqa.invent``
#: is the function of ``emojiqa/invent.py``). Importing a submodule binds it as an attribute
#: of the package, which would make ``emojiqa.invent`` (and ``from emojiqa import invent``)
#: the module once anything had imported it; the package keeps the function under these
#: names instead. The modules stay importable: ``from emojiqa.invent import invent``,
#: ``importlib.import_module("emojiqa.invent")``.
_FUNCTION_MODULES = frozenset(n for n, m in _LAZY.items() if n == m)


class _Package(_types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTION_MODULES and isinstance(value, _types.ModuleType):
            value = getattr(value, name)  # the import system binding the submodule
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

__all__ = [
    "VAE",
    "VAEConfig",
    "EmojiRanker",
    "LiteRanker",
    "NameMatcher",
    "RankedEmoji",
    "RankerConfig",
    "Example",
    "load_airline",
    "load_tweeteval",
    "load_table",
    "train_vae",
    "train_ranker",
    "invent",
    "embed_texts",
    "embed_emojis",
    "Vectors",
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
