"""Shared helpers of the bad-input matrix: exact error classes and helpful messages.

Every case of the matrix checks three things: the exact :mod:`emojiqa.errors` class (not a
subclass, not a bare ``ValueError``), that the message names what was wrong, and that it says
what to do about it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest


def check_message(
    exc: BaseException,
    cls: type[BaseException],
    *,
    what: Iterable[str] = (),
    fix: Iterable[str] = (),
) -> str:
    """Assert ``exc`` is exactly ``cls`` and its message matches every regex in what/fix.

    The regexes are searched case-insensitively; ``fix`` patterns are alternatives joined by
    ``|`` inside one pattern when several wordings are fine.
    """
    assert type(exc) is cls, f"expected {cls.__name__}, got {type(exc).__name__}: {exc}"
    msg = str(exc)
    assert msg.strip(), f"{cls.__name__} raised with an empty message"
    for pattern in (*what, *fix):
        assert re.search(pattern, msg, re.IGNORECASE | re.DOTALL), (
            f"message of {cls.__name__} does not match {pattern!r}: {msg}"
        )
    assert "Traceback" not in msg
    return msg


@pytest.fixture()
def check_error() -> Callable[..., str]:
    """:func:`check_message` as a fixture, for errors caught by the test itself."""
    return check_message


@pytest.fixture()
def raises_clearly() -> Callable[..., str]:
    """Call ``fn(*args)`` and check the error it raises; returns the message.

    Example:
        >>> raises_clearly(ImageError, load_image, b"", what=["empty"], fix=["PNG"])
    """

    def run(cls, fn, *args, what=(), fix=(), **kwargs) -> str:
        with pytest.raises(BaseException) as info:
            fn(*args, **kwargs)
        return check_message(info.value, cls, what=what, fix=fix)

    return run


def build_tiny_ranker(folder: Path, text_tower: str = "bag") -> Path:
    """An untrained ranker (4-d VAE, tiny towers) saved to ``folder``; seconds on CPU."""
    import torch

    from emojiqa.emojis import EmojiSet
    from emojiqa.ranker import EmojiRanker, RankerConfig, RankerNet
    from emojiqa.text import Tokenizer
    from emojiqa.vae import VAE, VAEConfig

    torch.manual_seed(0)
    vae = VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8, 8)))
    sizes = (dict(ngram_buckets=512, ngram_dim=8) if text_tower == "bag"
             else dict(ngram_buckets=0, embed_dim=8, lstm_hidden=4, conv_channels=8))
    cfg = RankerConfig.named("default", text_tower=text_tower, side_dim=8, answer_hidden=(8,),
                             shared_dims=(8, 4), num_words=50, **sizes)
    tok = Tokenizer(num_words=cfg.num_words, max_len=cfg.max_len).fit(
        ["great flight", "awful delay", "lost my bag", "thank you so much"])
    keys = EmojiSet.bundled("twemoji").keys[:40]
    net = RankerNet(cfg, tok.vocab_size, len(keys), vae.config.latent_dim)
    EmojiRanker(cfg, net, tok, keys, vae=vae).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_ranker_dirs(tmp_path_factory) -> dict[str, Path]:
    """Folders of two tiny rankers: n-gram bag and BiLSTM text towers."""
    root = tmp_path_factory.mktemp("tiny_rankers")
    return {t: build_tiny_ranker(root / t, t) for t in ("bag", "bilstm")}


@pytest.fixture(scope="session")
def tiny_rankers(tiny_ranker_dirs):
    """The two tiny rankers, loaded on CPU (their candidate matrices cache across tests)."""
    from emojiqa.ranker import EmojiRanker

    return {t: EmojiRanker.from_pretrained(p, device="cpu") for t, p in tiny_ranker_dirs.items()}
