"""The wide head: its features, its fit, its place in the ranker's scores, save → load."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from emojiqa.datasets import Example, load_airline
from emojiqa.errors import ConfigError, ModelLoadError, TrainingError
from emojiqa.metrics import evaluate
from emojiqa.ranker import EmojiRanker, RankerConfig
from emojiqa.train_ranker import fit_wide_head, train_ranker
from emojiqa.vae import VAE, VAEConfig
from emojiqa.wide import WideConfig, WideHead, features, fit_wide
from helpers import tiny_ranker_config, train_tiny

SMALL = WideConfig(buckets=256, iters=30)
CFG = tiny_ranker_config(wide_buckets=256, wide_iters=30)


def test_features_blocks_unit_length_sublinear_and_idf():
    texts = ["good good good day", "bad day", "!!!"]
    x = features(texts, SMALL).to_dense().numpy()
    b = SMALL.buckets
    for row in x:  # each non-empty block of each text has unit length
        for block in (row[:b], row[b:]):
            assert np.linalg.norm(block) == pytest.approx(1.0, abs=1e-5) or not block.any()
    assert not x[2, :b].any() and x[2, b:].any()  # "!!!": no word, but character n-grams
    # sublinear: "good" three times weighs 1 + log 3 against "day" once
    words = x[0, :b]
    assert sorted(set(np.round(words[words > 0] / words[words > 0].min(), 4)))[-1] == (
        pytest.approx(1 + np.log(3), abs=1e-3))
    idf = np.full(2 * b, 2.0, dtype=np.float32)
    assert np.allclose(features(texts, SMALL, idf).to_dense().numpy(), x, atol=1e-6)


def test_fit_separates_and_mix_is_chosen_on_val():
    texts = ["what a great day", "great news", "awful service", "awful delay again"] * 5
    y = np.array([0, 0, 1, 1] * 5)
    head = fit_wide(texts, y, 2, SMALL)
    assert head.log_probs(["great", "awful"]).argmax(1).tolist() == [0, 1]
    assert head.mix == SMALL.mixes[0]  # no val: the first
    # the cosines alone are right and the head is wrong on val: mix 0 keeps them right
    cos = np.array([[0.01, -0.01], [-0.01, 0.01]], np.float32)
    head = fit_wide(texts, 1 - y, 2, SMALL, val=(["great", "awful"], np.array([0, 1]), cos))
    assert head.mix == 0.0
    head = fit_wide(texts, y, 2, SMALL, val=(["great", "awful"], np.array([0, 1]),
                                             np.zeros((2, 2), np.float32)))
    assert head.mix == SMALL.mixes[0]  # every mix > 0 is right: the first wins the tie


def test_save_load_identical(tmp_path):
    texts = ["a good one", "a bad one", "fine", "meh"]
    head = fit_wide(texts, np.array([0, 1, 0, 1]), 2, SMALL)
    head.save_pretrained(tmp_path / "wide")
    again = WideHead.from_pretrained(tmp_path / "wide")
    probe = ["good", "something never seen", ""]
    assert np.array_equal(head.log_probs(probe), again.log_probs(probe))
    assert again.mix == pytest.approx(head.mix)
    (tmp_path / "wide" / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError):
        WideHead.from_pretrained(tmp_path / "wide")


def test_bad_input():
    with pytest.raises(TrainingError, match="one answer per text"):
        fit_wide([], np.array([], dtype=np.int64), 2, SMALL)
    with pytest.raises(TrainingError, match="must be in"):
        fit_wide(["a", "b"], np.array([0, 5]), 2, SMALL)
    with pytest.raises(ConfigError):
        WideConfig(buckets=1)
    with pytest.raises(ConfigError):
        RankerConfig.named("default", wide_buckets=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("wide")
    r, train, val = train_tiny(CFG, out)
    return r, out, train, val


def test_train_ranker_fits_and_saves_the_head(trained):
    r, out, _, _ = trained
    assert (out / "model" / "wide" / "config.json").is_file()
    assert r.wide is not None and r.wide.mix in CFG.wide_config().mixes
    again = EmojiRanker.from_pretrained(out)
    texts = ["the flight was late again", "thank you so much!"]
    assert np.allclose(r.answer_scores(texts), again.answer_scores(texts), atol=1e-5)
    a, b = r.rank(texts, top_k=3), again.rank(texts, top_k=3)
    assert [[x.key for x in row] for row in a] == [[x.key for x in row] for row in b]


def test_scores_add_the_head_term(trained):
    r, _, _, val = trained
    r.wide.mix = 0.3  # a visible weight whatever val chose
    texts = [e.text for e in val[:6]]
    cos = r.encode_text(texts) @ r.encode_emojis(r.answers).T
    lp = r.wide.log_probs(texts)
    assert np.allclose(r.answer_scores(texts), cos + 0.3 * lp, atol=1e-5)
    assert np.allclose(r.answer_scores(texts, use_known=False),
                       r.encode_text(texts) @ r.encode_emojis(r.answers, use_known=False).T,
                       atol=1e-6)
    rep = evaluate(r, val)
    keys = rep["candidates"]
    order = [r.answer_index[k] for k in keys]
    full = r.answer_scores([e.text for e in val])[:, order]
    y = np.array([keys.index(e.key) for e in val])
    assert rep["accuracy"] == pytest.approx(float((full.argmax(1) == y).mean()))


def test_rank_fast_path_equals_brute_force_with_head(trained):
    r, _, _, _ = trained
    r.wide.mix = 0.3
    cand = r.emojis.subset(list(range(40)) + [r.emojis.index(k) for k in r.answer_keys])
    texts = ["delayed for hours", "great crew", "ok"]
    got = r.rank(texts, top_k=5, emojis=cand, group_skin_tones=False, keyword_weight=0.0)
    q = r.encode_text(texts)
    s = q @ r.encode_emojis(cand).T  # (T, N)
    lp = 0.3 * r.wide.log_probs(texts)  # (T, A)
    for t in range(len(texts)):
        for j, k in enumerate(cand.keys):
            s[t, j] += lp[t, r.answer_index[k]] if k in r.answer_index else lp[t].min()
    want = [[cand.keys[j] for j in np.argsort(-row, kind="stable")[:5]] for row in s]
    assert [[x.key for x in row] for row in got] == want
    assert np.allclose([[x.score for x in row] for row in got],
                       np.sort(s, axis=1)[:, ::-1][:, :5], atol=1e-5)


def test_fit_wide_head_on_a_loaded_model_matches_training(trained, tmp_path):
    r, out, train, val = trained
    again = EmojiRanker.from_pretrained(out)
    again.wide = None
    head = fit_wide_head(again, train, val)
    texts = ["late again", "lovely"]
    assert np.allclose(head.log_probs(texts), r.wide.log_probs(texts), atol=1e-4)
    # examples whose emoji is not in the answer table are left out, not an error
    extra = [Example("pizza time", "1f355")]
    fit_wide_head(again, list(train) + extra, list(val) + extra)


def test_named_config():
    for name in ("minilm-ft", "default"):
        c = RankerConfig.named(f"{name}-wide")
        assert c.wide_buckets == 524288 and c.refit_heads
        assert dataclasses.replace(c, name=name, wide_buckets=0,
                                   refit_heads=False) == RankerConfig.named(name)


def test_describe_reports_the_head(trained):
    from emojiqa.ranker import describe

    r = trained[0]
    d = describe(r)["wide_head"]
    assert d["ngrams"] == len(r.wide.rows) and d["parameters"] == len(r.wide.rows) * 3 + 3


def test_interrupted_head_fit_resumes_to_the_same_model(tmp_path, monkeypatch):
    import emojiqa.wide as wide_mod

    torch.manual_seed(0)
    vae = VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8)))
    train, val = load_airline("train")[:64], load_airline("val")[:24]
    cfg = dataclasses.replace(CFG, epochs=2)

    def run(out, **kw):
        return train_ranker(cfg, train, val, out, vae=vae, progress=False, log=lambda s: None,
                            glove=False, seed=2, **kw)

    whole = run(tmp_path / "a")
    real = wide_mod.fit_wide

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(wide_mod, "fit_wide", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b")
    assert not (tmp_path / "b" / "model" / "wide").exists()  # the towers alone, intact
    monkeypatch.setattr(wide_mod, "fit_wide", real)
    again = run(tmp_path / "b", resume=True)  # no epoch more: the head is fitted and saved
    hist = [json.loads((tmp_path / x / "history.json").read_text()) for x in "ab"]
    assert hist[0]["val_macro_f1"] == hist[1]["val_macro_f1"]  # the same epochs, no more
    texts = ["late again", "thanks!"]
    assert np.allclose(again.answer_scores(texts), whole.answer_scores(texts), atol=1e-5)
    loaded = EmojiRanker.from_pretrained(tmp_path / "b")
    assert loaded.wide is not None
    assert np.allclose(loaded.answer_scores(texts), whole.answer_scores(texts), atol=1e-5)
