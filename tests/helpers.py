"""Tiny models shared by the test modules (importable as ``helpers``: ``tests/`` is on the
path under pytest's default import mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from emojiqa.datasets import load_airline
from emojiqa.ranker import EmojiRanker, RankerConfig
from emojiqa.train_ranker import train_ranker
from emojiqa.vae import VAE, VAEConfig


def tiny_ranker_config(**overrides: Any) -> RankerConfig:
    """``default`` shrunk to seconds on CPU: a CNN text tower of 8 channels, a 128-bucket
    n-gram bag, 8-wide layers, batch 16, one epoch, no teachers (``overrides`` change any
    field)."""
    fields = dict(text_tower="cnn", num_words=200, max_len=10, conv_channels=8,
                  conv_kernels=(2, 3), ngram_buckets=128, ngram_dim=4, side_dim=8,
                  shared_dims=(8, 6), batch_size=16, min_epoch_steps=0, epochs=1,
                  latent_stats="answers", distill_teachers=0)
    return RankerConfig.named("default", **{**fields, **overrides})


def tiny_vae(seed: int = 0) -> VAE:
    """An untrained 4-d VAE (its μ is all a latent answer tower needs in a test)."""
    torch.manual_seed(seed)
    return VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8)))


def train_tiny(config: RankerConfig, out: Path, n_train: int = 80,
               n_val: int = 30) -> tuple[EmojiRanker, list, list]:
    """``config`` trained quietly (no GloVe) on the first airline tweets of train and val;
    the ranker, the training and the validation examples."""
    train, val = load_airline("train")[:n_train], load_airline("val")[:n_val]
    ranker = train_ranker(config, train, val, out, vae=tiny_vae(), progress=False,
                          log=lambda s: None, glove=False)
    return ranker, train, val
