"""The labelled everyday texts of the suggestion benchmark and its hit rates."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from emojiqa.emojis import EmojiSet, select_candidates

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def suggest():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("suggest_bench", ROOT / "benchmarks/suggest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_label_is_a_candidate_of_a_ranking(suggest):
    """160 distinct texts, halves of 80; every acceptable emoji is one a ranking can return
    (a typo or an emoji the bundled set lacks fails here, not silently in the benchmark)."""
    rows = suggest.labelled_texts()
    assert len(rows) == 160 and len({t for t, _ in rows}) == 160
    cand = {suggest._plain(k) for k in select_candidates(EmojiSet.load("twemoji")).keys}
    for text, ok in rows:
        assert text and len(ok) >= 5, text
        assert ok <= cand, (text, sorted(ok - cand))


def test_hit_rates_count_the_first_acceptable_answer(suggest):
    rows = [("a", frozenset({"1f600"})), ("b", frozenset({"1f602", "2764"})),
            ("c", frozenset({"1f44d"}))]
    ranked = [["1f600", "x"], ["x", "y", "z", "w", "v", "2764-fe0f"], ["x", "y"]]
    m = suggest.hit_rates(ranked, rows)
    assert m["hit_at_1"] == pytest.approx(100 / 3)
    assert m["hit_at_5"] == pytest.approx(100 / 3)  # the second text's answer is 6th
    assert m["mrr"] == pytest.approx((1 + 1 / 6 + 0) / 3)  # never found: 0
