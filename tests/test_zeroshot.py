"""Zero-shot protocols and retrieval metrics, on a ranker stand-in with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from emojiqa import zeroshot as Z
from emojiqa.emojis import load_metadata


def test_random_baseline_is_exact():
    r = Z.random_baseline(4)
    assert r["recall@1"] == 0.25 and r["recall@10"] == 1.0
    assert r["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert r["median_rank"] == 2.5
    with pytest.raises(ValueError):
        Z.random_baseline(0)


def test_metrics_and_ranks():
    m = Z.retrieval_metrics([1, 3, 20], 100)
    assert m["recall@1"] == pytest.approx(1 / 3) and m["median_rank"] == 3
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 20) / 3)
    t = np.eye(3, dtype=np.float32)
    e = np.array([[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1]], np.float32)
    assert list(Z.ranks_of_targets(t, e, [0, 1, 2])) == [1, 1, 1]
    assert list(Z.ranks_of_targets(t, e, [1, 0, 0])) == [2, 3, 3]  # ties count against
    with pytest.raises(ValueError):
        Z.retrieval_metrics([], 10)


class _Oracle:
    """Text → one-hot of the emoji whose label it is; emoji → one-hot of its key."""

    def __init__(self, shuffle: bool = False):
        meta = load_metadata()
        self.keys = sorted(meta)
        self.pos = {k: i for i, k in enumerate(self.keys)}
        self.by_label = {meta[k].label: k for k in self.keys if meta[k].label}
        self.by_kw = {" ".join(dict.fromkeys(w for w in meta[k].keywords
                                             if w.lower() != meta[k].label.lower())): k
                      for k in self.keys}
        self.shuffle = shuffle

    def encode_text(self, texts, normalize=True):
        out = np.zeros((len(texts), len(self.keys)), np.float32)
        for i, t in enumerate(texts):
            k = self.by_label.get(t) or self.by_kw.get(t)
            out[i, self.pos[k]] = 1
        return out

    def encode_emojis(self, emojis, lookalike=False):
        keys = emojis.keys if hasattr(emojis, "keys") else None
        if keys is None:  # pixel path: an oracle that cannot see, all scores tie
            return np.ones((len(emojis), len(self.keys)), np.float32) / np.sqrt(len(self.keys))
        out = np.zeros((len(keys), len(self.keys)), np.float32)
        for i, k in enumerate(keys):
            out[i, self.pos[k]] = 1
        return out


def test_new_releases_with_a_perfect_ranker():
    m = Z.new_releases(_Oracle())
    assert m["recall@1"] == 1.0 and m["n_candidates"] == 1979
    assert 95 <= m["n_queries"] <= 110
    assert m["random"]["median_rank"] == 990
    kw = Z.new_releases(_Oracle(), query="keywords")
    assert kw["recall@1"] > 0.8  # a few keyword lists are shared
    blind = Z.new_releases(_Oracle(), path="pixels")
    assert blind["median_rank"] == 1979  # ties count against the target


def test_new_drawings_and_cldr_retrieval():
    m = Z.new_drawings(_Oracle(), style="noto")
    assert m["n_candidates"] == 1678 and m["recall@1"] == 0.0  # the oracle cannot see
    # the keys stay hidden on the lookalike path too: no candidate's own code can answer
    assert Z.new_drawings(_Oracle(), style="noto", path="lookalike")["recall@1"] == 0.0
    with pytest.raises(ValueError, match="path"):
        Z.new_drawings(_Oracle(), path="known")
    c = Z.cldr_retrieval(_Oracle())
    assert c["recall@1"] == 1.0 and c["n_queries"] > 1900
    assert "R@10 100.0%" in Z.format_metrics(c)


def test_ranks_per_query_on_request():
    ranks = Z.new_releases(_Oracle())  # no ranks unless asked: results stay small JSON
    assert "ranks" not in ranks
    texts, keys = Z.label_queries(["1f600", "1f44d", "1f389"])
    cands = Z.candidate_set("twemoji")
    m = Z.evaluate_queries(_Oracle(), texts, keys, cands, return_ranks=True)
    assert m["ranks"].tolist() == [1, 1, 1]
    blind = Z.new_drawings(_Oracle(), style="noto", return_ranks=True)
    assert len(blind["ranks"]) == blind["n_queries"]
    assert float(np.median(blind["ranks"])) == blind["median_rank"]
