"""The memory: neighbours' votes against brute force, its place in the ranker, save → load."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emojiqa.errors import ConfigError, ModelLoadError, TrainingError
from emojiqa.lite import LiteRanker
from emojiqa.memory import Memory, MemoryConfig, build_memory
from emojiqa.ranker import EmojiRanker, RankerConfig, describe, reorder_places
from emojiqa.text import smoothed_idf
from emojiqa.train_ranker import build_memory_head
from emojiqa.wide import features
from helpers import tiny_ranker_config, train_tiny

SMALL = MemoryConfig(k=3, buckets=512, max_df=0.5)
TEXTS = ["great crew and great food", "great flight", "thank you so much",
         "delayed for hours again", "lost my bag", "delayed and lost", "awful delay",
         "so kind thanks"]
Y = np.array([0, 0, 0, 1, 1, 1, 1, 0])


def brute_votes(config: MemoryConfig, texts: list[str], y: np.ndarray, queries: list[str],
                n_answers: int) -> np.ndarray:
    """The memory's votes from dense features, a sort and a loop."""
    fc = config.features_config()
    df = (features(texts, fc).to_dense().numpy() > 0).sum(0)
    keep = (df > 0) & (df <= config.max_df * len(texts))
    idf = (smoothed_idf(df, len(texts)) * keep).astype(np.float32)
    m = features(texts, fc, idf).to_dense().numpy()
    q = features(queries, fc, idf).to_dense().numpy()
    out = np.zeros((len(queries), n_answers))
    for i, row in enumerate(q @ m.T / 2):
        for j in np.argsort(-row, kind="stable")[:config.k]:
            out[i, y[j]] += max(row[j], 0.0) ** config.power
        out[i] /= max(out[i].sum(), 1e-12)
    return out


def test_votes_equal_brute_force():
    mem = build_memory(TEXTS, Y, 2, SMALL)
    queries = ["great crew", "delayed again", "thanks so much", ""]
    got = mem.votes(queries)
    assert np.allclose(got, brute_votes(SMALL, TEXTS, Y, queries, 2), atol=1e-5)
    assert got[0].argmax() == 0 and got[1].argmax() == 1
    assert not got[3].any()  # no n-gram shared with any training text: no votes
    # the term: mix * log((votes + smoothing * prior) / prior ** balance)
    prior = (np.bincount(Y, minlength=2) + 1) / (len(Y) + 2)
    want = SMALL.mixes[0] * np.log((got + SMALL.smoothing * prior) / prior ** SMALL.balance)
    assert np.allclose(mem.term(queries), want, atol=1e-5)


def test_a_copy_of_a_training_text_gets_its_answer():
    mem = build_memory(TEXTS, Y, 3, SMALL)  # answer 2 has no training text
    votes = mem.votes(TEXTS)
    assert (votes.argmax(1) == Y).all()
    assert np.isfinite(mem.term(TEXTS)).all() and not votes[:, 2].any()


def test_common_ngrams_are_left_out():
    texts = ["the cat", "the dog", "the bird", "a fish"]
    mem = build_memory(texts, np.array([0, 1, 2, 3]), 4, dataclasses.replace(SMALL, max_df=0.5))
    # "the" (and its character n-grams) is in 3 of 4 texts: no text is a neighbour by it
    assert not mem.votes(["the"]).any()
    assert mem.votes(["the cat"]).argmax() == 0


def test_mix_is_chosen_on_val():
    # the scores alone are right on val and the votes are wrong: mix 0 keeps them right
    scores = np.array([[0.01, -0.01], [-0.01, 0.01]], np.float32)
    mem = build_memory(TEXTS, 1 - Y, 2, SMALL, val=(["great crew", "delayed again"],
                                                    np.array([0, 1]), scores))
    assert mem.mix == 0.0
    assert not mem.term(["great crew"]).any()
    mem = build_memory(TEXTS, Y, 2, SMALL, val=(["great crew", "delayed again"],
                                                np.array([0, 1]), np.zeros((2, 2))))
    assert mem.mix == SMALL.mixes[0]  # every mix > 0 is right: the first wins the tie


def test_save_load_identical(tmp_path):
    mem = build_memory(TEXTS, Y, 2, SMALL)
    mem.save_pretrained(tmp_path / "memory")
    again = Memory.from_pretrained(tmp_path / "memory")
    probe = ["great", "something never seen", "", "delayed for hours again"]
    assert np.array_equal(mem.term(probe), again.term(probe))
    assert len(again) == len(TEXTS) and again.mix == pytest.approx(mem.mix)
    mem.save_pretrained(tmp_path / "half", half=True)  # float16 values: close
    assert np.allclose(Memory.from_pretrained(tmp_path / "half").term(probe),
                       mem.term(probe), atol=1e-3)
    (tmp_path / "memory" / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError):
        Memory.from_pretrained(tmp_path / "memory")


def test_bad_input():
    with pytest.raises(TrainingError, match="one answer per text"):
        build_memory([], np.array([], dtype=np.int64), 2, SMALL)
    with pytest.raises(TrainingError, match="must be in"):
        build_memory(["a", "b"], np.array([0, 5]), 2, SMALL)
    for bad in ({"k": 0}, {"max_df": 0.0}, {"max_df": 1.5}, {"power": 0.0},
                {"mixes": ()}, {"mixes": (-0.1,)}):
        with pytest.raises(ConfigError):
            MemoryConfig(**bad)
    with pytest.raises(ConfigError):
        RankerConfig.named("default", memory_k=20, memory_max_df=2.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("memory")
    r, train, val = train_tiny(tiny_ranker_config(memory_k=5), out)
    return r, out, train, val


def test_train_ranker_builds_saves_and_scores_with_the_memory(trained):
    r, out, train, val = trained
    assert (out / "model" / "memory" / "config.json").is_file()
    assert r.memory is not None and r.memory.mix in r.memory.config.mixes
    assert len(r.memory) == len(train) and r.memory.config.k == 5
    r.memory.mix = 0.3  # a visible weight whatever val chose
    texts = [e.text for e in val[:6]] + [train[0].text]
    cos = r.encode_text(texts) @ r.encode_emojis(r.answers).T
    # the answers in the order of cosine + mix * log votes, on the towers' places
    term = reorder_places(cos, 0.3 * r.memory.log_votes(texts)) - cos
    assert np.allclose(r.answer_scores(texts), cos + term, atol=1e-5)
    assert np.array_equal(np.argsort(-(cos + term), 1, kind="stable"), np.argsort(
        -(cos + 0.3 * r.memory.log_votes(texts)), 1, kind="stable"))
    # rank over emojis beyond the answer table: those keep the towers' score
    cand = r.emojis.subset(list(range(30)) + [r.emojis.index(k) for k in r.answer_keys])
    got = r.rank(texts, top_k=5, emojis=cand, group_skin_tones=False, keyword_weight=0.0)
    s = r.encode_text(texts) @ r.encode_emojis(cand).T
    for t in range(len(texts)):
        for j, k in enumerate(cand.keys):
            s[t, j] += term[t, r.answer_index[k]] if k in r.answer_index else 0.0
    want = [[cand.keys[j] for j in np.argsort(-row, kind="stable")[:5]] for row in s]
    assert [[x.key for x in row] for row in got] == want
    r.memory.save_pretrained(out / "model" / "memory")  # the 0.3 saved, then loaded
    again = EmojiRanker.from_pretrained(out)
    assert np.allclose(again.answer_scores(texts), r.answer_scores(texts), atol=1e-5)
    assert describe(again)["memory"] == {"texts": len(train), "ngrams": len(r.memory.cols),
                                         "k": 5, "mix": pytest.approx(0.3)}
    assert LiteRanker.load(out) is None  # the torch-free path does not cover a memory


def test_build_memory_head_leaves_out_unknown_emojis(trained):
    from emojiqa.datasets import Example

    r, _, train, val = trained
    again = EmojiRanker.from_pretrained(trained[1])
    extra = [Example("pizza time", "1f355")]
    mem = build_memory_head(again, list(train) + extra, list(val) + extra)
    assert len(mem) == len(train)


def test_memory_answers_that_do_not_fit_the_table_are_refused(trained, tmp_path):
    import shutil

    _, out, _, _ = trained
    shutil.copytree(out / "model", tmp_path / "model")
    bad = build_memory(TEXTS, Y, 2, SMALL)  # 2 answers; the table has 3
    shutil.rmtree(tmp_path / "model" / "memory")
    bad.save_pretrained(tmp_path / "model" / "memory")
    with pytest.raises(ModelLoadError, match="answers"):
        EmojiRanker.from_pretrained(tmp_path / "model")


def test_interrupted_memory_build_resumes_to_the_same_model(tmp_path, monkeypatch):
    import emojiqa.memory as memory_mod

    cfg = tiny_ranker_config(memory_k=5, epochs=2)
    whole, _, _ = train_tiny(cfg, tmp_path / "a", n_train=64, n_val=24)
    real = memory_mod.build_memory

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(memory_mod, "build_memory", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_tiny(cfg, tmp_path / "b", n_train=64, n_val=24)
    assert not (tmp_path / "b" / "model" / "memory").exists()  # the towers alone, intact
    monkeypatch.setattr(memory_mod, "build_memory", real)
    from emojiqa.datasets import load_airline
    from emojiqa.train_ranker import train_ranker

    again = train_ranker(cfg, load_airline("train")[:64], load_airline("val")[:24],
                         tmp_path / "b", vae=whole.vae, progress=False, log=lambda s: None,
                         glove=False, resume=True)  # no epoch more: the memory is built
    texts = ["late again", "thanks!"]
    assert np.allclose(again.answer_scores(texts), whole.answer_scores(texts), atol=1e-5)
    loaded = EmojiRanker.from_pretrained(tmp_path / "b")
    assert loaded.memory is not None
    assert np.allclose(loaded.answer_scores(texts), whole.answer_scores(texts), atol=1e-5)
