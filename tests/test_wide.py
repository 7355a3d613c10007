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
from helpers import tiny_ranker_config, tiny_vae, train_tiny

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


def test_a_head_saved_before_max_features_existed_loads(tmp_path):
    texts = ["a good one", "a bad one", "fine", "meh"]
    head = fit_wide(texts, np.array([0, 1, 0, 1]), 2, SMALL)
    head.save_pretrained(tmp_path / "wide")
    path = tmp_path / "wide" / "config.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    del saved["config"]["max_features"]  # as the first heads were written
    path.write_text(json.dumps(saved), encoding="utf-8")
    again = WideHead.from_pretrained(tmp_path / "wide")
    assert again.config.max_features == 0
    assert np.array_equal(head.log_probs(texts), again.log_probs(texts))


def test_bad_input():
    with pytest.raises(TrainingError, match="one answer per text"):
        fit_wide([], np.array([], dtype=np.int64), 2, SMALL)
    with pytest.raises(TrainingError, match="must be in"):
        fit_wide(["a", "b"], np.array([0, 5]), 2, SMALL)
    with pytest.raises(ConfigError):
        WideConfig(buckets=1)
    with pytest.raises(ConfigError):
        RankerConfig.named("default", wide_buckets=1)
    for bad in ("tweeteval", ("tweeteval", ""), (3,)):  # a bare string would match substrings
        with pytest.raises(ConfigError, match="wide_sources"):
            RankerConfig.named("default", wide_sources=bad)
    assert RankerConfig.named("default", wide_sources=("airline",)).wide_sources == ("airline",)


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


def placed(cos, extra):
    """Brute force: each row's cosines handed out in the order of cosine + extra."""
    out = np.empty_like(cos)
    for i in range(len(cos)):
        order = sorted(range(cos.shape[1]), key=lambda j: -(cos[i, j] + extra[i, j]))
        for place, j in enumerate(order):
            out[i, j] = sorted(cos[i], reverse=True)[place]
    return out


def test_scores_add_the_head_term(trained):
    r, _, _, val = trained
    r.wide.mix = 0.3  # a visible weight whatever val chose
    texts = [e.text for e in val[:6]]
    cos = r.encode_text(texts) @ r.encode_emojis(r.answers).T
    lp = r.wide.log_probs(texts)
    # the answers in the order of cosine + mix * log p, on the towers' places
    got = r.answer_scores(texts)
    assert np.allclose(got, placed(cos, 0.3 * lp), atol=1e-5)
    assert np.allclose(np.sort(got, 1), np.sort(cos, 1), atol=1e-6)
    want = np.argsort(-(cos + 0.3 * lp), 1, kind="stable")
    assert np.array_equal(np.argsort(-got, 1, kind="stable"), want)
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
    cos = q @ r.encode_emojis(r.answers).T  # (T, A)
    lp = placed(cos, 0.3 * r.wide.log_probs(texts)) - cos  # (T, A)
    for t in range(len(texts)):
        for j, k in enumerate(cand.keys):  # an emoji the head does not know: the towers alone
            s[t, j] += lp[t, r.answer_index[k]] if k in r.answer_index else 0.0
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
    assert d["answers"] == 3


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


def test_max_features_keeps_the_most_frequent_and_drops_the_rest(tmp_path):
    texts = ["good day", "good night", "good morning", "bad day", "awful", "bad night"] * 3
    y = np.array([0, 0, 0, 1, 1, 1] * 3)
    full = fit_wide(texts, y, 2, SMALL)
    cfg = dataclasses.replace(SMALL, max_features=10)
    head = fit_wide(texts, y, 2, cfg)
    assert len(head.rows) == 10 < len(full.rows)
    df = np.bincount(features(texts, SMALL).col_indices().numpy(), minlength=2 * SMALL.buckets)
    assert df[head.rows].min() >= np.sort(df[full.rows])[-10]  # the 10 most frequent
    left_out = np.setdiff1d(full.rows, head.rows)
    assert not head.idf[left_out].any() and head.idf[head.rows].all()
    # a left-out feature is 0 in every text and out of the norm
    x = features(["awful"], cfg, head.idf).to_dense().numpy()[0]
    assert not x[left_out].any()
    for block in (x[: SMALL.buckets], x[SMALL.buckets:]):
        assert np.linalg.norm(block) == pytest.approx(1.0, abs=1e-5) or not block.any()
    head.save_pretrained(tmp_path / "w", half=True)
    again = WideHead.from_pretrained(tmp_path / "w")
    assert np.array_equal(again.rows, head.rows)
    assert np.allclose(again.log_probs(texts[:6]), head.log_probs(texts[:6]), atol=2e-2)
    assert np.array_equal(again.idf == 0, head.idf == 0)


def test_half_stores_8_bit_rows_with_a_scale_each(tmp_path):
    from safetensors.numpy import load_file

    texts = ["good day", "good night", "bad day", "awful", "bad night", "fine"] * 3
    head = fit_wide(texts, np.array([0, 0, 1, 1, 1, 2] * 3), 3, SMALL)
    head.save_pretrained(tmp_path / "h", half=True)
    t = load_file(str(tmp_path / "h" / "model.safetensors"))
    w = head.weight[:-1].numpy()
    assert t["weight"].dtype == np.int8 and t["weight_scale"].dtype == np.float16
    assert np.abs(t["weight"]).max(1).tolist() == [127] * len(w)  # each row uses its range
    back = t["weight"].astype(np.float32) * t["weight_scale"].astype(np.float32)[:, None]
    assert np.abs(back - w).max() <= np.abs(w).max() / 127
    again = WideHead.from_pretrained(tmp_path / "h")
    assert np.allclose(again.weight[:-1].numpy(), back)
    assert np.allclose(again.log_probs(texts[:6]), head.log_probs(texts[:6]), atol=2e-2)
    head.save_pretrained(tmp_path / "f")  # float32 by default: exact
    assert np.array_equal(WideHead.from_pretrained(tmp_path / "f").log_probs(texts[:6]),
                          head.log_probs(texts[:6]))


def test_fast_product_gradient_is_the_dense_one():
    from emojiqa.wide import _Product

    rng = np.random.default_rng(0)
    dense = (rng.random((7, 5)) < 0.4) * rng.random((7, 5))
    dense[3] = 0  # a row without entries
    xs = torch.from_numpy(dense.astype(np.float32)).to_sparse_csr()
    prod = _Product(xs.crow_indices(), xs.col_indices(), xs.values(), (7, 5))
    w = torch.randn(5, 3, requires_grad=True)
    g = torch.randn(7, 3)
    (prod(w) * g).sum().backward()
    x = torch.from_numpy(dense.astype(np.float32))
    assert torch.allclose(prod(w.detach()), x @ w.detach(), atol=1e-6)
    assert torch.allclose(w.grad, x.T @ g, atol=1e-5)


def test_a_head_over_some_sources_knows_their_emojis_only(tmp_path):
    """``wide_sources``: the head learns from those sources' texts, knows their emojis, and
    leaves every other emoji's score to the towers; the known emojis keep the towers'
    places, reordered by cosine + mix * log p."""
    air = load_airline("train")[:60]
    other = [Example(t, k, 1.0, "cldr") for t, k in (
        ("pizza", "1f355"), ("slice of pizza", "1f355"), ("red heart", "2764"),
        ("love", "2764"), ("rocket", "1f680"), ("space", "1f680"))] * 4
    train = [dataclasses.replace(e, source="airline") for e in air] + other
    val = [dataclasses.replace(e, source="airline") for e in load_airline("val")[:20]]
    cfg = dataclasses.replace(CFG, wide_sources=("airline",), wide_max_features=50)
    r = train_ranker(cfg, train, val, tmp_path / "m", vae=tiny_vae(), progress=False,
                     log=lambda s: None, glove=False)
    air_keys = sorted({e.key for e in air})
    assert sorted(r.answer_keys[i] for i in r.wide.columns) == air_keys
    assert r.wide.n_answers == 3 and len(r.wide.rows) == 50
    r.wide.mix = 0.5
    texts = ["pizza tonight", "the flight was late again"]
    keys = list(r.answer_keys)
    q = r.encode_text(texts)
    cos = q @ r.encode_emojis(r.answers).T
    got = cos + r.head_term(texts, keys)
    head = [r.answer_index[k] for k in air_keys]
    rest = [i for i in range(len(keys)) if i not in head]
    assert np.allclose(got[:, rest], cos[:, rest], atol=1e-6)
    lp = r.wide.log_probs(texts)  # the order among the head's emojis: cosine + mix * log p
    assert np.allclose(got[:, head], placed(cos[:, head], 0.5 * lp), atol=1e-6)
    again = EmojiRanker.from_pretrained(tmp_path / "m")
    assert np.array_equal(again.wide.columns, r.wide.columns)
    again.wide.mix = 0.5
    assert np.allclose(again.answer_scores(texts), got, atol=1e-4)
    bad = dataclasses.replace(CFG, wide_sources=("tweeteval",))
    with pytest.raises(TrainingError, match="wide head's sources"):
        train_ranker(bad, train, val, tmp_path / "bad", vae=tiny_vae(), progress=False,
                     log=lambda s: None, glove=False)
