"""LiteRanker (torch-free ranking) ranks as EmojiRanker does; `suggest` runs without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from emojiqa.errors import TextError
from emojiqa.lite import LiteRanker
from emojiqa.ranker import EmojiRanker
from emojiqa.recipes import precompute_vectors, use_precomputed_vectors
from test_ranker import tiny_ranker

TEXTS = ["I just got the job!!", "happy birthday my love", "pizza night", "so tired",
         "my flight got cancelled again, so angry", "coffee ☕ time", "ok", "!!!",
         "great flight thanks " * 40]
OPTIONS = [{}, {"skin_tone": "dark"}, {"exclude_groups": ["flags"]},
           {"groups": ["smileys-emotion"]}, {"keyword_weight": 0.0}, {"keyword_weight": 0.9}]


#: Scores closer than this are a tie: float32 sums in another order may swap them.
TIE = 1e-6


def same_ranking(lite, full, texts, **opts) -> float:
    """Assert both give the same keys in the same order (emojis whose scores tie within
    :data:`TIE` may swap places); return the largest score gap."""
    a = lite.rank(texts, top_k=10, **opts)
    b = full.rank(texts, top_k=10, **opts)
    gap = 0.0
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra, rb, strict=True):
            if x.key != y.key:  # only a tie may swap: x is where rb has its score, or past it
                assert abs(x.score - y.score) <= TIE, (opts, ra[:3], rb[:3])
                assert any(z.key == x.key and abs(z.score - x.score) <= TIE for z in rb) or (
                    x.score - rb[-1].score <= TIE), (opts, x, rb)
        same = {x.key: x for x in ra}
        assert all((same[y.key].emoji, same[y.key].name) == (y.emoji, y.name)
                   for y in rb if y.key in same)
        gap = max(gap, max(abs(x.score - y.score) for x, y in zip(ra, rb, strict=True)))
    return gap


@pytest.fixture(scope="module")
def bundled():
    full = EmojiRanker.from_pretrained()
    assert use_precomputed_vectors(full)
    lite = LiteRanker.load()
    assert lite is not None, "the bundled model must be served without torch"
    return lite, full


@pytest.mark.parametrize("opts", OPTIONS)
def test_bundled_model_ranks_as_emojiranker(bundled, opts):
    lite, full = bundled
    assert same_ranking(lite, full, TEXTS, **opts) < 1e-5


def test_single_text_and_errors_match(bundled):
    lite, full = bundled
    one = lite.rank("I just got the job!!", top_k=3)
    assert [r.key for r in one] == [r.key for r in full.rank("I just got the job!!", top_k=3)]
    for bad in ("", "   ", "\x00"):
        with pytest.raises(TextError):
            lite.rank(bad)
    with pytest.raises(ValueError, match="top_k"):
        lite.rank("hi", top_k=0)
    with pytest.raises(ValueError, match="keyword_weight"):
        lite.rank("hi", keyword_weight=1.5)
    with pytest.raises(ValueError, match="unknown emoji group"):
        lite.rank("hi", groups=["nope"])
    with pytest.raises(TextError, match="index 1"):
        lite.rank(["fine", ""])
    assert lite.rank([]) == []


@pytest.mark.parametrize("over", [
    {"text_tower": "attention"},
    {"text_tower": "cnn"},
    {"text_tower": "bag", "ngram_weighting": "idf"},
    {"text_tower": "attention", "ngram_buckets": 0},
    {"text_tower": "cnn", "ngram_weighting": "idf", "pad_row": True},
])
def test_tiny_models_of_each_tower_rank_alike(twemoji, tmp_path, over):
    over = dict(over)
    pad_row = over.pop("pad_row", False)
    r = tiny_ranker(twemoji, **over)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        if getattr(r.net, "bag_idf", None) is not None:
            r.net.bag_idf.copy_(1 + torch.rand(r.net.bag_idf.shape, generator=g))
        if pad_row:  # a padding row that is not 0: the tower must read the whole width
            r.net.embedding.weight[0].normal_(generator=g)
    folder = r.save_pretrained(tmp_path / "m")
    precompute_vectors(folder)
    full = EmojiRanker.from_pretrained(folder)
    assert use_precomputed_vectors(full, folder)
    lite = LiteRanker.load(folder)
    assert lite is not None
    texts = ["great flight thanks", "late again awful", "where is my bag", "ok", "zzz qqq",
             "!!!", "great " * 30]
    assert same_ranking(lite, full, texts) < 1e-5
    assert same_ranking(lite, full, texts, keyword_weight=0.0, skin_tone=3) < 1e-5


def test_load_says_none_where_it_cannot_serve(twemoji, tmp_path):
    assert LiteRanker.load(tmp_path / "missing") is None
    r = tiny_ranker(twemoji, text_tower="bilstm", max_len=10, pool=5)
    folder = r.save_pretrained(tmp_path / "bilstm")
    precompute_vectors(folder)
    assert LiteRanker.load(folder) is None  # BiLSTM: not served
    r = tiny_ranker(twemoji)
    folder = r.save_pretrained(tmp_path / "novectors")
    assert LiteRanker.load(folder) is None  # no stored vectors
    precompute_vectors(folder)
    assert LiteRanker.load(folder) is not None
    (folder / "model.safetensors").write_bytes(b"\x00" * 40)
    assert LiteRanker.load(folder) is None  # corrupt weights: EmojiRanker reports them


def run_cli(*args: str) -> subprocess.CompletedProcess:
    code = ("import sys; from emojiqa.cli import main; rc = main(sys.argv[1:]); "
            "print('TORCH', 'torch' in sys.modules, file=sys.stderr); sys.exit(rc)")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, encoding="utf-8", env=env, timeout=120)


def test_suggest_runs_without_torch_and_prints_the_same(bundled):
    _, full = bundled
    out = run_cli("suggest", "I just got the job!!", "--json", "--top-k", "4")
    assert out.returncode == 0, out.stderr
    assert "TORCH False" in out.stderr
    got = json.loads(out.stdout)["emojis"]
    want = full.rank("I just got the job!!", top_k=4)
    assert [e["key"] for e in got] == [r.key for r in want]
    assert np.allclose([e["score"] for e in got], [r.score for r in want], atol=1e-5)
    # what the lite path does not serve still works, through the full ranker
    out = run_cli("suggest", "pizza night", "--emojis", "noto", "--top-k", "2")
    assert out.returncode == 0, out.stderr
    assert "TORCH True" in out.stderr and len(out.stdout.splitlines()) == 2
    bad = run_cli("suggest", "pizza", "--group", "nope")
    assert bad.returncode == 2 and "unknown emoji group" in bad.stderr
    bad = run_cli("suggest", "pizza", "--model", "/nonexistent/model")
    assert bad.returncode == 2 and "not found" in bad.stderr


def test_a_model_with_a_wide_head_ranks_alike(twemoji, tmp_path):
    """The torch-free path adds a wide head's term as EmojiRanker does: over some of the
    answers (``wide_sources``), with skin tones folded into their base, with keywords."""
    from emojiqa.wide import WideConfig, fit_wide

    r = tiny_ranker(twemoji, wide_buckets=256, wide_sources=("airline",))
    keys = list(r.answer_keys)
    texts = ["great flight thanks", "late again awful", "lovely crew", "lost my bag",
             "thumbs up", "so so"] * 3
    y = np.array([0, 1, 0, 1, 0, 1] * 3)
    head = fit_wide(texts, y, 2, WideConfig(buckets=256, iters=20))
    head.columns = np.array([0, len(keys) - 1])  # two of the three answers
    head.mix = 0.7
    r.wide = head
    folder = r.save_pretrained(tmp_path / "m", half=True)
    precompute_vectors(folder)
    full = EmojiRanker.from_pretrained(folder)
    assert use_precomputed_vectors(full, folder)
    lite = LiteRanker.load(folder)
    assert lite is not None and lite.wide is not None
    probe = ["great flight thanks", "late again awful", "thumbs up!!", "zzz", "ok " * 30]
    for opts in ({"keyword_weight": 0.0}, {"skin_tone": "dark"}, {"exclude_groups": ["flags"]}):
        # an untrained tiny model's cosines nearly tie (0.9998…): the same scores to float
        # rounding, and the same keys wherever the next score is not a near-tie
        for ra, rb in zip(lite.rank(probe, top_k=10, **opts), full.rank(probe, top_k=10, **opts),
                          strict=True):
            sa, sb = np.array([x.score for x in ra]), np.array([x.score for x in rb])
            assert np.allclose(sa, sb, atol=1e-5), opts
            apart = np.append(sb[:-1] - sb[1:] > 1e-5, True)
            apart &= np.insert(apart[:-1], 0, True)
            assert [x.key for x, k in zip(ra, apart, strict=True) if k] == [
                x.key for x, k in zip(rb, apart, strict=True) if k], opts
    # the head moves scores: without it the rankings differ
    full.wide = None
    moved = [x.score for x in full.rank(probe[0], top_k=3, keyword_weight=0.0)]
    assert moved != [x.score for x in lite.rank(probe[0], top_k=3, keyword_weight=0.0)]
    (folder / "wide" / "config.json").unlink()  # a broken head: EmojiRanker reports it
    assert LiteRanker.load(folder) is None
