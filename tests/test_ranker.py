"""EmojiRanker: fast path vs brute force, skin-tone grouping, filters, save → load, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emojiqa.errors import ConfigError, ModelLoadError, TextError
from emojiqa.ranker import EmojiRanker, RankedEmoji, RankerConfig, RankerNet
from emojiqa.text import Tokenizer
from emojiqa.vae import VAE, VAEConfig

KEYS = ["1f389", "1f608", "1f621"]
TEXTS = ["great flight thanks", "late again awful", "where is my bag", "ok"]


def tiny_ranker(twemoji, **over) -> EmojiRanker:
    torch.manual_seed(0)
    kw = dict(num_words=50, max_len=8, conv_channels=8, ngram_buckets=64, ngram_dim=4,
              side_dim=8, shared_dims=(8, 6))
    cfg = RankerConfig.named("default", **{**kw, **over})
    vae = VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8)))
    tok = Tokenizer(num_words=cfg.num_words, max_len=cfg.max_len).fit(TEXTS)
    net = RankerNet(cfg, tok.vocab_size, len(KEYS), vae.config.latent_dim)
    if net.known is not None:
        torch.nn.init.normal_(net.known.weight)
    net.eval()
    imgs = np.stack([twemoji.image(k) for k in KEYS])
    return EmojiRanker(cfg, net, tok, KEYS, vae=vae, answer_images=imgs)


@pytest.fixture(scope="module")
def ranker(twemoji):
    return tiny_ranker(twemoji)


def brute_force(ranker: EmojiRanker, text: str, es) -> np.ndarray:
    """Score each (text, emoji) pair on its own, no matrix, no cache."""
    out = []
    with torch.no_grad():
        q = ranker.net.encode_text(ranker.text_batch([text]))[0]
        for i in range(len(es)):
            x = ranker.answer_inputs(es.images[i:i + 1])
            a = ranker.net.encode_answers(x, ranker.known_index([es.keys[i]]))[0]
            out.append(float(torch.nn.functional.cosine_similarity(q, a, dim=0)))
    return np.array(out)


def test_rank_matches_brute_force(ranker, twemoji):
    es = twemoji.subset(range(0, 4009, 37)).filter(skin_tones=False)
    res = ranker.rank("late again awful", top_k=5, emojis=es, keyword_weight=0.0)
    ref = brute_force(ranker, "late again awful", es)
    order = np.argsort(-ref, kind="stable")[:5]
    assert [r.key for r in res] == [es.keys[i] for i in order]
    assert np.allclose([r.score for r in res], ref[order], atol=1e-5)
    assert all(isinstance(r, RankedEmoji) and -1 <= r.score <= 1 for r in res)
    assert res[0].to_dict()["key"] == res[0].key


def test_rank_with_keyword_boost_matches_brute_force(ranker, twemoji):
    from emojiqa.keywords import KeywordIndex

    named = [twemoji.index(k) for k in ("1f355", "2615")]  # 🍕 ☕
    es = twemoji.subset([*range(0, 4009, 37), *named]).filter(skin_tones=False)
    text = "late again, awful coffee and pizza"
    kw = KeywordIndex(es).scores([text])[0]
    assert kw.max() > 0  # the text names some of these emojis
    ref = 0.7 * brute_force(ranker, text, es) + 0.3 * kw
    res = ranker.rank(text, top_k=5, emojis=es, keyword_weight=0.3)
    order = np.argsort(-ref, kind="stable")[:5]
    assert [r.key for r in res] == [es.keys[i] for i in order]
    assert np.allclose([r.score for r in res], ref[order], atol=1e-5)
    assert all(-1 <= r.score <= 1 for r in res)


def test_rank_answers_and_lists(ranker):
    one = ranker.rank("great flight thanks", top_k=3, emojis="answers")
    assert sorted(r.key for r in one) == sorted(KEYS)
    many = ranker.rank(["great flight thanks", "ok"], top_k=2, emojis="answers")
    assert len(many) == 2 and all(len(m) == 2 for m in many)
    alone = ranker.rank("great flight thanks", top_k=2, emojis="answers")
    assert [r.key for r in many[0]] == [r.key for r in alone]
    assert np.allclose([r.score for r in many[0]], [r.score for r in alone], atol=1e-5)
    with pytest.raises(ValueError, match="top_k"):
        ranker.rank("ok", top_k=0)


def test_known_corrections_only_for_seen(ranker, twemoji):
    es = twemoji.subset([twemoji.index(k) for k in KEYS])
    with_known = ranker.encode_emojis(es)
    as_new = ranker.encode_emojis(es, use_known=False)
    as_images = ranker.encode_emojis(es.images)
    assert not np.allclose(with_known, as_new)
    assert np.allclose(as_new, as_images, atol=1e-6)
    assert np.allclose(np.linalg.norm(with_known, axis=1), 1, atol=1e-5)


def test_score_images(ranker, twemoji):
    s = ranker.score_images("so happy", twemoji.images[:7])
    assert s.shape == (7,) and np.all(np.abs(s) <= 1 + 1e-6)


def test_skin_tones_grouped_and_filters(ranker, twemoji):
    res = ranker.rank("thumbs", top_k=50)
    assert all(not twemoji.get(r.key).skin_tone for r in res)
    toned = ranker.rank("thumbs", top_k=2000, skin_tone="medium")
    keys = {r.key for r in toned}
    assert "1f44d-1f3fd" in keys and "1f44d" not in keys
    flags = ranker.rank("hello", top_k=10, groups=["flags"])
    assert all(twemoji.get(r.key).group == "flags" for r in flags)
    noflags = ranker.rank("hello", top_k=3000, exclude_groups=["flags"])
    assert all(twemoji.get(r.key).group != "flags" for r in noflags)
    with pytest.raises(ValueError, match="unknown emoji group"):
        ranker.rank("hello", groups=["nope"])
    # one group as a plain string is that group (it was taken letter by letter)
    assert ranker.rank("hello", top_k=10, groups="flags") == flags
    assert ranker.rank("hello", top_k=3000, exclude_groups="flags") == noflags


def test_bad_text(ranker):
    with pytest.raises(TextError):
        ranker.rank("   ")
    with pytest.raises(TextError, match="limit"):
        ranker.rank("a" * (1 << 20))


@pytest.mark.parametrize("over", [{}, {"text_tower": "bilstm", "max_len": 10, "pool": 5},
                                  {"text_tower": "cnn", "answer_tower": "pixels",
                                   "pixel_channels": (4, 8)}])
def test_save_load_identical(twemoji, tmp_path, over):
    r = tiny_ranker(twemoji, **over)
    before = r.rank(TEXTS, top_k=3, emojis="answers")
    r.save_pretrained(tmp_path / "m")
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json", "answers.json", "vae"} <= names
    r2 = EmojiRanker.from_pretrained(tmp_path / "m")
    assert r2.config == r.config and r2.answer_keys == KEYS
    assert np.allclose(r2.encode_text(TEXTS), r.encode_text(TEXTS), atol=1e-6)
    assert r2.rank(TEXTS, top_k=3, emojis="answers") == before


def test_config_errors(tmp_path):
    assert RankerConfig.named("seed").answer_hidden == ()
    assert RankerConfig.named("default").answer_hidden == (64,)
    minilm = RankerConfig.named("minilm")
    assert (minilm.text_tower, minilm.ngram_lr_scale) == ("minilm", 1.0)
    assert minilm.shared_dims == RankerConfig.named("default").shared_dims
    with pytest.raises(ConfigError,
                       match="choose one of seed, default, default-wide, distilled, minilm"):
        RankerConfig.named("bert")
    with pytest.raises(ConfigError, match="text_tower"):
        RankerConfig(text_tower="gpt")
    with pytest.raises(ConfigError, match="fields"):
        RankerConfig.named("seed", nope=1)
    # each value of the kind its field takes (--set passes strings, NaN, floats for ints)
    for field, value, need in (("batch_size", "abc", "a whole number"),
                               ("epochs", 2.5, "a whole number"),
                               ("margin", float("nan"), "a finite number"),
                               ("lr", float("inf"), "a finite number"),
                               ("ema", True, "a finite number"),
                               ("known_emojis", 1, "true or false"),
                               ("name", 5, "text")):
        with pytest.raises(ConfigError, match=f"RankerConfig.{field} must be {need}, got "):
            RankerConfig.named("default", **{field: value})
    with pytest.raises(ConfigError, match="lr and margin must be >= 0"):
        RankerConfig(lr=-1.0)
    assert RankerConfig.named("default", name="mine", lr=1).name == "mine"  # an int is a number
    with pytest.raises(ModelLoadError, match="not found"):
        EmojiRanker.from_pretrained(tmp_path / "missing")


@pytest.mark.parametrize("tower", ["attention", "cnn", "bilstm"])
def test_large_batches_encode_like_one_text_at_a_time(twemoji, tower):
    """Length buckets (and the batched n-grams) change nothing: a batch bigger than a
    bucket gives each text the code it gets alone."""
    over = {"text_tower": tower, "max_len": 10, "pool": 5} if tower == "bilstm" else {
        "text_tower": tower}
    r = tiny_ranker(twemoji, **over)
    r.net.length_bucket = 4
    words = ["great", "flight", "thanks", "late", "again", "awful", "where", "is", "my", "bag"]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 14))) for _ in range(23)]
    texts += ["zzz unknown words only", "ok"]
    batch = r.encode_text(texts)
    alone = np.concatenate([r.encode_text([t]) for t in texts])
    assert np.allclose(batch, alone, atol=1e-5)


def test_rank_of_a_list_matches_each_text_alone_with_the_boost(twemoji):
    ranker = tiny_ranker(twemoji)
    es = twemoji.subset([*range(0, 4009, 53), twemoji.index("1f355")])
    texts = ["pizza pizza again", "late again awful", "where is my bag, pizzas?", "ok"] * 3
    texts += ["great flight thanks", "late"]
    many = ranker.rank(texts, top_k=4, emojis=es, keyword_weight=0.5)
    assert len(many) == len(texts)
    for t, got in zip(texts, many, strict=True):
        alone = ranker.rank(t, top_k=4, emojis=es, keyword_weight=0.5)
        assert [r.key for r in got] == [r.key for r in alone]
        assert np.allclose([r.score for r in got], [r.score for r in alone], atol=1e-5)


def test_training_bag_and_trim_give_the_embedding_bag_gradients(twemoji):
    """The training path (distinct ids + counts as a sparse mean, batch trimmed to its
    longest text) computes the same features and gradients as nn.EmbeddingBag over every id
    at the full width."""
    from emojiqa.train_ranker import _batch, _text_tensors

    r = tiny_ranker(twemoji, ngram_weighting="mean")
    net = r.net.train()
    texts = ["great flight thanks thanks", "late again awful where is my bag", "ok", "zzz", ""]
    raw = r.text_batch(texts[:-1]) | {}
    ids = torch.cat([raw["bag_ids"], torch.zeros(1, dtype=torch.long)])  # "": padding only
    offsets = torch.cat([raw["bag_offsets"], torch.tensor([len(raw["bag_ids"])])])
    tt = _text_tensors(r, texts)
    batch = _batch(tt, torch.arange(len(texts)), torch.device("cpu"))
    assert len(batch["bag_ids"]) < len(ids)  # repeated n-grams were merged into counts

    def grads(fn):
        net.zero_grad(set_to_none=True)
        out = fn()
        (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
        return out.detach(), {k: p.grad.clone() for k, p in net.named_parameters()
                               if p.grad is not None}

    fast, g_fast = grads(lambda: net._bag(batch["bag_ids"], batch["bag_offsets"],
                                          batch["bag_counts"]))
    ref, g_ref = grads(lambda: net.bag(ids, offsets))
    assert torch.allclose(fast, ref, atol=1e-6) and (fast[-1] == 0).all()
    assert torch.allclose(g_fast["bag.weight"], g_ref["bag.weight"], atol=1e-6)

    tokens = raw["tokens"]
    trimmed, g_trim = grads(lambda: net._token_features(tokens))
    full, g_full = grads(lambda: net.tower(net.embedding(tokens), tokens != 0))
    assert torch.allclose(trimmed, full, atol=1e-5)
    for k in g_full:
        assert torch.allclose(g_trim[k], g_full[k], atol=1e-5), k


def test_idf_bag_training_path_matches_inference_and_a_hand_computed_case(twemoji, tmp_path):
    """``ngram_weighting="idf"``: the training path (distinct ids + counts, sparse) and the
    inference path (EmbeddingBag with per-occurrence weights) give the same features and
    gradients, equal to sum(count * idf * v) / sqrt(sum(count * idf^2)) computed by hand;
    the idf survives save → load."""
    from emojiqa.train_ranker import _batch, _text_tensors

    r = tiny_ranker(twemoji, ngram_weighting="idf")
    net = r.net.train()
    net.bag_idf.copy_(torch.linspace(1.0, 5.0, net.bag_idf.numel()))
    texts = ["great flight thanks thanks", "late again awful where is my bag", "ok", "zzz"]
    raw = r.text_batch(texts)
    tt = _text_tensors(r, texts)
    batch = _batch(tt, torch.arange(len(texts)), torch.device("cpu"))

    def grads(fn):
        net.zero_grad(set_to_none=True)
        out = fn()
        (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
        return out.detach(), net.bag.weight.grad.clone()

    train, g_train = grads(lambda: net._bag(batch["bag_ids"], batch["bag_offsets"],
                                            batch["bag_counts"]))
    infer, g_infer = grads(lambda: net._bag(raw["bag_ids"], raw["bag_offsets"]))
    assert torch.allclose(train, infer, atol=1e-6)
    assert torch.allclose(g_train, g_infer, atol=1e-6)
    ends = [*raw["bag_offsets"].tolist(), len(raw["bag_ids"])]
    with torch.no_grad():
        for i in range(len(texts)):
            ids = raw["bag_ids"][ends[i]:ends[i + 1]]
            ids = ids[ids != 0]
            w = net.bag_idf[ids]
            want = (w[:, None] * net.bag.weight[ids]).sum(0) / w.square().sum().sqrt()
            assert torch.allclose(infer[i], want, atol=1e-5)
    net.eval()
    r.save_pretrained(tmp_path / "m")
    r2 = EmojiRanker.from_pretrained(tmp_path / "m")
    assert torch.equal(r2.net.bag_idf, net.bag_idf)
    assert np.allclose(r2.encode_text(texts), r.encode_text(texts), atol=1e-6)


def test_idf_is_set_from_the_training_texts(tmp_path):
    """train_ranker sets each bucket's smoothed idf, log((1 + N) / (1 + df)) + 1, from the
    training texts: an n-gram in every text gets 1, one in no text log(N + 1) + 1."""
    import math

    from emojiqa.datasets import Example
    from emojiqa.train_ranker import train_ranker

    keys = ["1f389", "1f621"]
    train = [Example(f"flight {w}", keys[i % 2]) for i, w in
             enumerate(["great", "awful", "thanks", "late", "love", "worst"] * 3)]
    cfg = RankerConfig.named("default", text_tower="bag", ngram_weighting="idf",
                             ngram_buckets=256, ngram_dim=4, side_dim=8, shared_dims=(8, 6),
                             epochs=1, patience=0, distill_teachers=0)
    vae = VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8)))
    r = train_ranker(cfg, train, train[:4], tmp_path / "run", vae=vae, progress=False,
                     glove=False, log=lambda s: None)
    idf = r.net.bag_idf
    n = len(train)
    flight = int(r.text_batch(["flight"])["bag_ids"][0])  # the word 1-gram, in every text
    assert math.isclose(float(idf[flight]), 1.0, rel_tol=1e-6)
    assert math.isclose(float(idf.max()), math.log(n + 1) + 1, rel_tol=1e-6)
    assert float(idf.min()) >= 1.0 - 1e-6


def test_models_saved_before_added_fields_still_load(twemoji, tmp_path):
    """A model folder written before ``ngram_lr_scale`` / ``ngram_weighting`` existed loads
    with the values of that time (``RankerConfig.ADDED_FIELDS``), not today's defaults; any
    other missing field is still an error."""
    import json

    r = tiny_ranker(twemoji, **RankerConfig.ADDED_FIELDS)
    assert r.config.ngram_weighting != RankerConfig().ngram_weighting
    r.save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    data = json.loads(path.read_text())
    for name in RankerConfig.ADDED_FIELDS:
        del data["config"][name]
    path.write_text(json.dumps(data))
    r2 = EmojiRanker.from_pretrained(tmp_path / "m")
    assert r2.config == r.config
    assert r2.rank(TEXTS, top_k=2, emojis="answers") == r.rank(TEXTS, top_k=2, emojis="answers")
    del data["config"]["lr"]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"missing field\(s\) \['lr'\]"):
        EmojiRanker.from_pretrained(tmp_path / "m")


def test_emoji_set_names_what_rank_ranks(ranker, twemoji, tmp_path):
    """``emoji_set``: None → the model's own set, "answers" → the answer table, a style or a
    folder → that set, an EmojiSet as is; anything else is refused with what it accepts."""
    assert ranker.emoji_set(None) is ranker.emojis
    assert ranker.emoji_set("answers").keys == KEYS
    assert ranker.emoji_set("noto").style == "noto"
    assert ranker.emoji_set(twemoji) is twemoji
    with pytest.raises(ValueError, match="neither a bundled style"):
        ranker.emoji_set(str(tmp_path / "missing"))


def test_lookalikes_find_the_drawing_itself(twemoji):
    r = tiny_ranker(twemoji, lookalike_k=2)
    idx, w = r.lookalikes(r.answers.images)
    assert idx.shape == w.shape == (3, 2)
    assert list(idx[:, 0]) == [0, 1, 2]  # each answer drawing looks most like itself
    assert np.allclose(w.sum(1), 1) and np.all(w[:, 0] >= w[:, 1])
    idx1, w1 = r.lookalikes(twemoji.images[:5], k=1)
    assert idx1.shape == (5, 1) and np.allclose(w1, 1)


def test_lookalike_borrows_corrections_for_unseen_only(twemoji):
    import dataclasses

    r = tiny_ranker(twemoji, lookalike_k=1)
    seen = r.answers
    # a bare copy of a training drawing borrows exactly that answer's correction (k = 1)
    bare = r.encode_emojis(np.ascontiguousarray(seen.images), lookalike=True)
    assert np.allclose(bare, r.encode_emojis(seen), atol=1e-5)
    assert not np.allclose(bare, r.encode_emojis(np.ascontiguousarray(seen.images)))
    # seen emojis keep their own correction whatever the switch says
    assert np.allclose(r.encode_emojis(seen, lookalike=True),
                       r.encode_emojis(seen, lookalike=False), atol=1e-6)
    # an unseen emoji of a set borrows by default when the config asks for it ...
    es = twemoji.subset(range(0, 400, 40)).filter(skin_tones=False)
    assert not any(k in KEYS for k in es.keys)
    on = r.encode_emojis(es)
    assert not np.allclose(on, r.encode_emojis(es, lookalike=False))
    # ... and scores from its pixels alone when it does not (old models: lookalike_k = 0)
    r.config = dataclasses.replace(r.config, lookalike_k=0)
    assert np.allclose(r.encode_emojis(es), r.encode_emojis(es, use_known=False), atol=1e-6)
    with pytest.raises(ConfigError, match="lookalike"):
        RankerConfig.named("default", lookalike_k=-1)


def test_lookalike_styles_add_their_drawings_as_references(twemoji):
    from emojiqa.emojis import EmojiSet

    noto = EmojiSet.bundled("noto")
    plain, styled = tiny_ranker(twemoji, lookalike_k=1), tiny_ranker(
        twemoji, lookalike_k=1, lookalike_styles=("noto",))
    drawn = np.stack([noto.image(k) for k in KEYS])  # another artist's drawings of the answers
    idx, w = styled.lookalikes(drawn)
    assert list(idx[:, 0]) == [0, 1, 2] and np.allclose(w, 1)  # found among the references
    assert styled._lookalike_ref[2].tolist() == [0, 1, 2, 0, 1, 2]  # each answer, twice
    plain.lookalikes(drawn)
    assert plain._lookalike_ref[2].tolist() == [0, 1, 2]
    with pytest.raises(ConfigError, match="lookalike_styles"):
        RankerConfig.named("default", lookalike_styles=("crayon",))
