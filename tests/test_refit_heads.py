"""refit_heads: the heads' weights chosen on val, then the heads fit again on train + val."""

from __future__ import annotations

import numpy as np
import pytest

from emojiqa.datasets import Example
from emojiqa.errors import ConfigError, TrainingError
from emojiqa.memory import build_memory
from emojiqa.ranker import EmojiRanker
from emojiqa.text import validate_text
from emojiqa.train_ranker import example_weights, refit_heads
from emojiqa.wide import fit_wide
from helpers import tiny_ranker_config, train_tiny

HEADS = {"wide_buckets": 256, "wide_iters": 20, "memory_k": 5}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same tiny model trained without and with ``refit_heads``."""
    out = tmp_path_factory.mktemp("refit")
    plain, train, val = train_tiny(tiny_ranker_config(**HEADS), out / "plain")
    refit, _, _ = train_tiny(tiny_ranker_config(**HEADS, refit_heads=True), out / "refit")
    return plain, refit, train, val, out / "refit"


def test_mixes_are_chosen_before_the_refit_and_kept(both):
    plain, refit, _, _, _ = both
    assert refit.wide.mix == plain.wide.mix and refit.memory.mix == plain.memory.mix
    texts = ["late again", "thanks!"]  # the towers are trained alike (seeded)
    assert np.allclose(refit.encode_text(texts), plain.encode_text(texts), atol=1e-6)


def test_refit_heads_are_fit_on_train_and_val(both):
    plain, refit, train, val, _ = both
    examples = [e for e in [*train, *val] if e.key in refit.answer_index]
    texts = [validate_text(e.text) for e in examples]  # as training cleans them
    y = np.array([refit.answer_index[e.key] for e in examples])
    c = refit.config
    want = fit_wide(texts, y, len(refit.answer_keys), c.wide_config(),
                    sample_weight=example_weights(examples, c.class_balance).numpy())
    queries = [e.text for e in val[:8]] + ["late again"]
    assert np.allclose(refit.wide.log_probs(queries), want.log_probs(queries), atol=1e-5)
    assert not np.allclose(plain.wide.log_probs(queries), want.log_probs(queries), atol=1e-3)
    mem = build_memory(texts, y, len(refit.answer_keys), c.memory_config())
    assert len(refit.memory) == len(examples) == len(plain.memory) + len(val)
    assert np.allclose(refit.memory.votes(queries), mem.votes(queries))
    # a validation text is now in the memory: its nearest neighbour is itself
    v = val[0]
    votes = refit.memory.votes([v.text])[0]
    assert votes[refit.answer_index[v.key]] > 0


def test_the_refit_model_is_saved_and_loads(both):
    _, refit, _, val, out = both
    again = EmojiRanker.from_pretrained(out)
    texts = [e.text for e in val[:6]]
    assert again.config.refit_heads
    assert np.allclose(again.answer_scores(texts), refit.answer_scores(texts), atol=1e-5)


def test_refit_heads_needs_a_head_and_examples(both):
    with pytest.raises(ConfigError, match="refit_heads"):
        tiny_ranker_config(refit_heads=True)
    _, refit, _, _, _ = both
    with pytest.raises(TrainingError, match="answer table"):
        refit_heads(refit, [Example("pizza time", "1f355")])
    with pytest.raises(TrainingError, match="refit example 0"):
        refit_heads(refit, [Example("   ", refit.answer_keys[0])])
