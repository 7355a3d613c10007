"""Look-alike names (emojiqa.names): named emojis by their own name, unnamed ones by the names
of their look-alikes; exclusions; the real MiniLM encoder on a tiny ranker."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from emojiqa import zeroshot as Z
from emojiqa.emojis import EmojiSet, load_metadata
from emojiqa.names import NameMatcher
from helpers import tiny_ranker_config, train_tiny


def _bag(texts):
    """A deterministic bag-of-words encoder (each word a fixed random 32-d vector)."""
    out = np.zeros((len(texts), 32), np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i] += np.random.default_rng(zlib.crc32(w.encode())).normal(size=32)
    return out


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def ranker(tmp_path_factory):
    r, _, _ = train_tiny(tiny_ranker_config(), tmp_path_factory.mktemp("names") / "run")
    return r


def test_named_emojis_are_their_own_names(ranker):
    m = NameMatcher(ranker, encoder=_bag)
    meta = load_metadata()
    names = [meta[k].label for k in ranker.answer_keys]
    got = m.encode_emojis(ranker.answers)
    np.testing.assert_allclose(got, _unit(_bag(names)), atol=1e-6)
    # texts go through the same encoder
    np.testing.assert_allclose(m.encode_text(names), got, atol=1e-6)


def test_unnamed_emojis_average_their_lookalikes_names(ranker):
    m = NameMatcher(ranker, encoder=_bag, k=2, temperature=0.05)
    images = EmojiSet.bundled("noto").images[:5]
    idx, w = ranker.lookalikes(images, 2, temperature=0.05)
    want = _unit(np.einsum("nk,nkd->nd", w, m.answer_vectors[idx]))
    np.testing.assert_allclose(m.encode_emojis(images), want, atol=1e-6)
    # a set's row whose key the ranker never trained on is unnamed too
    es = EmojiSet.bundled("twemoji")
    other = [k for k in es.keys if k not in ranker.answer_keys][:3]
    sub = es.subset([es.index(k) for k in other])
    np.testing.assert_allclose(m.encode_emojis(sub), m.encode_emojis(sub.images), atol=1e-6)
    # use_known=False: every emoji by its look-alikes, even a named one
    own = ranker.answers
    idx, w = ranker.lookalikes(own.images, 2, temperature=0.05)
    np.testing.assert_allclose(m.encode_emojis(own, use_known=False),
                               _unit(np.einsum("nk,nkd->nd", w, m.answer_vectors[idx])),
                               atol=1e-6)


def test_excluded_answers_are_unnamed_and_never_lookalikes(ranker):
    gone = ranker.answer_keys[0]
    m = NameMatcher(ranker, encoder=_bag, k=2, exclude={gone})
    idx, w = m._lookalikes(ranker.answers.images)
    assert 0 not in idx  # not even for its own drawing
    np.testing.assert_allclose(w.sum(1), 1, atol=1e-6)
    vec = m.encode_emojis(ranker.answers)
    assert not np.allclose(vec[0], m.answer_vectors[0])  # unnamed: borrowed
    np.testing.assert_allclose(vec[1:], m.answer_vectors[1:], atol=1e-6)


def test_bad_settings_are_refused(ranker):
    with pytest.raises(ValueError, match="k must be"):
        NameMatcher(ranker, encoder=_bag, k=0)
    with pytest.raises(ValueError, match="temperature"):
        NameMatcher(ranker, encoder=_bag, temperature=0)
    with pytest.raises(ValueError, match="look-alikes only"):
        NameMatcher(ranker, encoder=_bag).encode_emojis(ranker.answers, lookalike=False)


def test_minilm_finds_a_bare_drawing_by_the_name_of_its_lookalike(ranker):
    """The real MiniLM encoder: each answer's Twemoji drawing, given as a bare image, has
    itself as nearest look-alike, so a text naming it ranks it first."""
    m = NameMatcher(ranker, k=1)
    bare = EmojiSet(["a", "b", "c"], np.ascontiguousarray(ranker.answers.images))
    meta = load_metadata()
    for i, key in enumerate(ranker.answer_keys):
        assert m.rank(meta[key].label, top_k=1, emojis=bare)[0].key == "abc"[i]
    # and the protocol functions take it like a ranker
    texts, keys = Z.label_queries(list(ranker.answer_keys))
    out = Z.evaluate_queries(m, texts, keys, ranker.answers, path="lookalike")
    assert out["recall@1"] == 1.0


def test_rank_gives_ranked_emojis_like_the_ranker(ranker):
    m = NameMatcher(ranker, encoder=_bag)
    out = m.rank(["party popper", "enraged face"], top_k=2, emojis="answers")
    assert [r.key for r in out[0]][:1] == ["1f389"] and out[1][0].key == "1f621"
    assert out[0][0].score == pytest.approx(1.0, abs=1e-5)  # its own name
    # the whole bundled set: one entry per base emoji, groups filtered, tone applied
    top = m.rank("thumbs up", top_k=5, emojis="twemoji", skin_tone="dark",
                 exclude_groups=["flags"])
    assert len(top) == 5 and len({r.key for r in top}) == 5
    assert not any(r.key.startswith("1f1") and len(r.key) > 6 for r in top)
    with pytest.raises(ValueError):
        m.rank("", emojis="answers")


def test_cli_suggest_names(ranker, tmp_path, capsys):
    """`emojiqa suggest --names` on a model folder and a folder of unnamed drawings."""
    import json

    from PIL import Image

    from emojiqa.cli import main

    model = tmp_path / "model"
    ranker.save_pretrained(model)
    drawings = tmp_path / "drawings"
    drawings.mkdir()
    for name, img in zip(("new_a", "new_b", "new_c"), ranker.answers.images, strict=True):
        Image.fromarray(img, "RGBA").save(drawings / f"{name}.png")
    assert main(["suggest", "enraged face", "--names", "--model", str(model),
                 "--emojis", str(drawings), "--json", "--top-k", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    i = ranker.answer_keys.index("1f621")
    assert out["emojis"][0]["key"] == f"new_{'abc'[i]}" and len(out["emojis"]) == 3
    assert main(["suggest", "x", "--names", "--model", str(model), "--generate", "2"]) == 2
    assert "--names" in capsys.readouterr().err
    assert main(["suggest", "--names", "--model", str(model), "--input", "a.txt",
                 "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "batch mode" in capsys.readouterr().err


def test_cli_evaluate_zero_shot_names(ranker, tmp_path, capsys):
    """`emojiqa evaluate --zero-shot new-releases --names` adds the names path's metrics."""
    import json

    from emojiqa.cli import main

    model = tmp_path / "model"
    ranker.save_pretrained(model)
    assert main(["evaluate", "--model", str(model), "--zero-shot", "new-releases", "--names",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"known", "lookalike", "pixels", "names"} <= set(out)
    assert out["names"]["n_candidates"] == out["known"]["n_candidates"]
    assert out["names"]["n_queries"] == out["known"]["n_queries"] > 0
    assert 0 < out["names"]["mrr"] <= 1
    assert main(["evaluate", "--model", str(model), "--names"]) == 2
    assert "--zero-shot new-releases or new-drawings" in capsys.readouterr().err
