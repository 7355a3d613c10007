"""The bundled recipe end to end on the real data (slow: its wide head fits on 54,000 tweets)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emojiqa.datasets import load_airline, load_tweeteval
from emojiqa.lite import LiteRanker
from emojiqa.ranker import EmojiRanker
from emojiqa.recipes import TUNE_EVERY, bundled_config, train_bundled


@pytest.mark.slow
def test_bundled_recipe_writes_a_model_with_a_tweet_wide_head(tmp_path):
    out = train_bundled(tmp_path / "model", work_dir=tmp_path / "work", epochs=1, max_steps=2,
                        config=bundled_config(look_epochs=1), progress=False)
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["tune_every"] == TUNE_EVERY and recipe["n_val"] == 2250 + 1463
    r = EmojiRanker.from_pretrained(out)
    # the head knows exactly the tweet sources' emojis: TweetEval's 20 and airline's 3
    tweet_keys = {e.key for e in load_tweeteval("train")} | {e.key for e in load_airline("train")}
    assert {r.answer_keys[i] for i in r.wide.columns} == tweet_keys and len(tweet_keys) == 23
    assert len(r.wide.rows) == bundled_config().wide_max_features
    assert any(r.wide.mix == pytest.approx(m) for m in bundled_config().wide_mixes)
    lite = LiteRanker.load(out)
    assert lite is not None and lite.wide is not None
    texts = ["I just got the job!!", "my flight got cancelled again", "pizza night"]
    a, b = lite.rank(texts, top_k=5), r.rank(texts, top_k=5)
    for ra, rb in zip(a, b, strict=True):
        assert np.allclose([x.score for x in ra], [x.score for x in rb], atol=1e-4)
