"""Shared fixtures: tiny data so the suite runs in seconds on CPU."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def twemoji():
    from emojiqa import EmojiSet

    return EmojiSet.bundled("twemoji")


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
