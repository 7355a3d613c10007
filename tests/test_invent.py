"""Inventing emojis: finite scores, valid images, seeded, better than a random sample, and
blends that mix the text's best known emojis into different ideas."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from emojiqa.emojis import EmojiSet, info_for
from emojiqa.invent import Invented, invent
from emojiqa.ranker import EmojiRanker, RankerConfig, RankerNet
from emojiqa.text import Tokenizer
from emojiqa.vae import VAE, VAEConfig


def tiny_ranker(answer_tower: str = "latent", n_emojis: int = 40) -> EmojiRanker:
    """An untrained ranker over the first emojis of Twemoji, small enough for a test."""
    torch.manual_seed(0)
    es = EmojiSet.bundled("twemoji").filter(skin_tones=False)
    es = es.subset(range(n_emojis))
    vae = VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8, 8)))
    cfg = RankerConfig.named("default", text_tower="bag", ngram_buckets=512, ngram_dim=8,
                             side_dim=8, answer_tower=answer_tower, answer_hidden=(8,),
                             pixel_channels=(4, 8), shared_dims=(8, 4), num_words=50)
    tok = Tokenizer(num_words=cfg.num_words, max_len=cfg.max_len).fit(
        ["happy birthday", "so angry", "pizza night"])
    net = RankerNet(cfg, tok.vocab_size if hasattr(tok, "vocab_size") else 50, len(es),
                    vae.config.latent_dim)
    ranker = EmojiRanker(cfg, net, tok, es.keys, vae=vae)
    ranker._emojis = es
    return ranker


@pytest.mark.parametrize(("tower", "method"), [("latent", "blend"), ("pixels", "blend"),
                                             ("latent", "prior"), ("pixels", "prior")])
def test_invent_gives_valid_images_and_finite_scores(tower, method):
    r = tiny_ranker(tower)
    out = invent(r, "happy birthday", n=3, method=method, steps=5, samples=32,
                 generator=torch.Generator().manual_seed(0))
    assert len(out) == 3 and all(isinstance(x, Invented) for x in out)
    for x in out:
        assert x.image.shape == (36, 36, 4) and x.image.dtype == np.uint8
        assert np.isfinite(x.score) and -1.0 <= x.score <= 1.0
        assert x.nearest.key in r.emojis.keys and np.isfinite(x.nearest.score)
        assert x.code.shape == (4,) and np.isfinite(x.code).all()
    assert [x.score for x in out] == sorted((x.score for x in out), reverse=True)
    # the reported score is the ranker's own score of the final image, scored as the method
    # scores it (blend: as a new drawing with look-alikes; prior: from the pixels alone)
    images = np.stack([x.image for x in out])
    again = r.score_images("happy birthday", images, lookalike=method == "blend")
    assert np.allclose(again, [x.score for x in out], atol=1e-5)
    assert set(out[0].to_dict()) == {"score", "nearest", "code", "blend"}
    for x in out:  # a blend names its two parents (known emojis of the set) and the weight
        if method == "blend":
            main, other, w = x.recipe
            assert {main, other} <= set(r.emojis.keys) and main != other
            assert w in (0.6, 0.75, 0.9) and x.to_dict()["blend"]["weight"] == w
            assert x.blend_text.endswith(f" {w:.0%} + {info_for(other).emoji or other}")
        else:
            assert x.recipe == () and x.to_dict()["blend"] is None


@pytest.mark.parametrize("method", ["blend", "prior"])
def test_invent_is_seeded_and_beats_random_samples(method):
    r = tiny_ranker("pixels")
    a = invent(r, "pizza night", n=2, method=method, steps=10, samples=64,
               generator=torch.Generator().manual_seed(1))
    b = invent(r, "pizza night", n=2, method=method, steps=10, samples=64,
               generator=torch.Generator().manual_seed(1))
    assert np.array_equal(a[0].image, b[0].image) and a[0].score == b[0].score
    rand = r.score_images("pizza night", r.vae.sample(64, torch.Generator().manual_seed(2)),
                          lookalike=method == "blend")
    assert a[0].score >= np.median(rand)


def test_blend_mixes_the_texts_best_known_emojis_one_idea_each():
    inv = importlib.import_module("emojiqa.invent")  # the module (emojiqa.invent: the function)

    r = tiny_ranker("latent")
    text = "so angry"
    parents = [x.key for x in r.rank(text, top_k=inv.BLEND_PARENTS[0])]
    codes, recipes = inv._blend_codes(r, r.vae, text, 4, torch.Generator().manual_seed(0), None)
    codes = codes.numpy()
    z = dict(zip(parents, r.vae.embed(np.stack([r.emojis.image(k) for k in parents])),
                 strict=True))
    for c, (main, other, a) in zip(codes, recipes, strict=True):
        # two of the text's best known emojis, mixed (plus, on some, a little noise)
        assert main in parents and other in parents and main != other
        assert a in inv.BLEND_WEIGHTS
        off = np.linalg.norm(c - (a * z[main] + (1 - a) * z[other]))
        assert off < 1e-5 or off < 4 * inv.BLEND_NOISE * len(c) ** 0.5
    # four different ideas: four main parents, no two codes alike
    assert len({main for main, _, _ in recipes}) == 4
    gaps = np.linalg.norm(codes[:, None] - codes[None], axis=-1)[np.triu_indices(4, 1)]
    assert (gaps > 0).all()


def test_invent_without_gradients_uses_local_search():
    r = tiny_ranker("latent")

    class NoNet:  # a ranker offering only the public scoring API
        vae, config, emojis = r.vae, r.config, r.emojis
        score_images = staticmethod(r.score_images)
        encode_text = staticmethod(r.encode_text)
        encode_emojis = staticmethod(r.encode_emojis)

    out = invent(NoNet(), "so angry", n=2, method="prior", steps=8, samples=16,
                 generator=torch.Generator().manual_seed(0))
    assert len(out) == 2 and all(np.isfinite(x.score) for x in out)


def test_invent_rejects_bad_arguments():
    r = tiny_ranker()
    with pytest.raises(ValueError, match="between 1 and 64"):
        invent(r, "hi", n=0)
    with pytest.raises(ValueError, match="steps"):
        invent(r, "hi", n=1, steps=-1)
    with pytest.raises(ValueError, match="method must be one of blend, prior"):
        invent(r, "hi", n=1, method="magic")
    from emojiqa.errors import TextError

    with pytest.raises(TextError):
        invent(r, "   ", n=1)
