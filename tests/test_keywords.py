"""Keyword boost: words of a text that name an emoji in its CLDR metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emojiqa.cli import main
from emojiqa.emojis import EmojiSet
from emojiqa.keywords import KeywordIndex, words_of
from emojiqa.ranker import EmojiRanker


@pytest.fixture(scope="module")
def twemoji() -> EmojiSet:
    return EmojiSet.load("twemoji")


@pytest.fixture(scope="module")
def index(twemoji) -> KeywordIndex:
    return KeywordIndex(twemoji)


def test_words_are_lowered_split_singular_and_filtered():
    assert words_of("My DOGS are the cutest!!") == ["dog", "cutest"]
    assert words_of("a an it is so 42 ok") == []
    assert words_of("glass of wine") == ["glass", "wine"]  # "ss" keeps its s


@pytest.mark.parametrize(("text", "key"), [
    ("this pizza is amazing", "1f355"),
    ("good morning, coffee first", "2615"),
    ("happy birthday cake time", "1f382"),
])
def test_a_text_that_names_an_emoji_scores_it_highest(index, twemoji, text, key):
    s = index.scores([text])[0]
    assert s.shape == (len(twemoji),) and s.dtype == np.float32
    assert twemoji.keys[int(s.argmax())] == key
    assert 0 < s.max() <= 1 and s.min() >= 0


@pytest.mark.parametrize(("word", "named", "listed"), [
    ("pizza", "1f355", "1f344-200d-1f7eb"),  # 🍕 "pizza" vs 🍄‍🟫, whose keywords list it
    ("dog", "1f415", "1f32d"),  # 🐕 "dog" vs 🌭 "hot dog"
])
def test_a_whole_name_beats_a_keyword_or_a_word_of_a_longer_name(index, twemoji, word, named,
                                                                   listed):
    s = index.scores([word])[0]
    assert s[twemoji.index(named)] > s[twemoji.index(listed)] > 0


def test_more_specific_words_weigh_more(index, twemoji):
    s = index.scores(["face", "pizza"])
    assert (s[0] > 0).sum() > 50  # "face" names hundreds of emojis ...
    assert s[0].max() < s[1].max()  # ... so it says less than "pizza"


def test_texts_without_keywords_score_zero_everywhere(index):
    assert not index.scores(["the and of it so", "xqzv"]).any()


def test_emojis_without_metadata_score_zero(tmp_path):
    from PIL import Image

    for name in ("mine.png", "other.png"):
        Image.new("RGBA", (36, 36), (200, 30, 30, 255)).save(tmp_path / name)
    es = EmojiSet.load(tmp_path)
    assert not KeywordIndex(es).scores(["pizza coffee dog"]).any()


def test_bundled_model_finds_named_emojis_and_weight_zero_is_the_model_alone():
    ranker = EmojiRanker.from_pretrained()
    boosted = ranker.rank("this pizza is amazing", top_k=5)
    assert boosted[0].emoji == "🍕"
    alone = ranker.rank("this pizza is amazing", top_k=5, keyword_weight=0.0)
    cand, matrix = ranker.candidates()
    q = ranker.encode_text(["this pizza is amazing"])
    # the model alone: its cosine plus its wide head's term
    ref = np.sort(matrix @ q[0] + ranker.head_term(["this pizza is amazing"], cand.keys, q)[0]
                  )[::-1][:5]
    assert np.allclose([r.score for r in alone], ref, atol=1e-5)
    # a text that names no emoji keeps the model's order
    plain = ranker.rank("xqzv blorp", top_k=5)
    assert [r.key for r in plain] == [r.key for r in ranker.rank("xqzv blorp", top_k=5,
                                                                 keyword_weight=0.0)]


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan"), "0.5", True])
def test_bad_keyword_weight_is_refused(weight):
    ranker = EmojiRanker.from_pretrained()
    with pytest.raises(ValueError, match="keyword_weight"):
        ranker.rank("pizza", keyword_weight=weight)


def test_cli_keyword_weight(capsys):
    assert main(["suggest", "this pizza is amazing", "--json", "--top-k", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["emojis"][0]["emoji"] == "🍕"
    assert main(["suggest", "this pizza is amazing", "--json", "--keyword-weight", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["emojis"][0]["emoji"] != "🍕"
    assert main(["suggest", "pizza", "--keyword-weight", "2"]) == 2
    assert "--keyword-weight must be in [0, 1]" in capsys.readouterr().err


def test_sparse_mix_matches_the_dense_noisy_or(index, twemoji):
    """``add_to`` equals ``sims + w * (1 - prod over words (1 - s_word))`` computed densely,
    word by word, including repeated words and plurals that count once."""
    texts = ["coffee and pizza, more coffee!", "dogs dog DOG", "xqzv", "face with tears"]
    rng = np.random.default_rng(0)
    sims = rng.uniform(-1, 1, (len(texts), len(twemoji))).astype(np.float32)
    want = sims.copy()
    for r, text in enumerate(texts):
        miss = np.ones(len(twemoji))
        for word in set(words_of(text)):
            miss *= 1.0 - KeywordIndex(twemoji).scores([word])[0]
        want[r] += 0.4 * (1.0 - miss)
    got = index.add_to(sims.copy(), texts, 0.4)
    assert np.allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match="float32"):
        index.add_to(np.zeros((2, len(twemoji))), texts[:2], 0.4)


def test_batch_words_stay_within_their_text(index, twemoji):
    """A batch is scored in one pass over its joined texts: each text's scores are those it
    gets alone, a NUL inside a text separates words as a space does, and an empty list is
    fine."""
    texts = ["coffee", "", "pizza\x00dog", "hot dogs", "xqzv coffee"]
    together = index.scores(texts)
    alone = np.concatenate([index.scores([t]) for t in texts])
    assert np.array_equal(together, alone)
    assert np.array_equal(together[2], index.scores(["pizza dog"])[0])
    assert not together[1].any() and together[0].any()
    assert index.scores([]).shape == (0, len(twemoji))


@pytest.mark.parametrize(("text", "key"), [
    ("planting tomatoes", "1f345"),  # 🍅 "tomato", though 🥫 lists "tomatoes" itself
    ("fresh strawberries", "1f353"),  # 🍓 "strawberry"
    ("moving boxes", "1f4e6"),  # 📦 "box"
])
def test_es_and_ies_plurals_name_their_singular(index, twemoji, text, key):
    s = index.scores([text])[0]
    assert s[twemoji.index(key)] == s.max() > 0


def test_a_flag_is_named_by_its_whole_place_not_by_each_word(index, twemoji):
    """"christmas" names 🎄, not the flag of Christmas Island; "new" no flag of New Zealand
    or New Caledonia; the whole place, written as a text may write it, names its flag."""
    s = index.scores(["can't wait for christmas", "happy new year", "off to New Zealand!",
                      "St. Kitts & Nevis", "the United States and the United Kingdom",
                      "christmas", "island"])
    cx, nz = twemoji.index("1f1e8-1f1fd"), twemoji.index("1f1f3-1f1ff")
    assert s[0, cx] == 0 and s[0, twemoji.index("1f384")] > 0
    assert s[1, nz] == 0 and s[1, twemoji.index("1f1f3-1f1e8")] == 0
    assert s[2, nz] == s[2].max() == 1.0
    assert s[3, twemoji.index("1f1f0-1f1f3")] == 1.0
    assert s[4, twemoji.index("1f1fa-1f1f8")] == s[4, twemoji.index("1f1ec-1f1e7")] == 1.0
    assert s[5, cx] == s[6, cx] == 0  # a place is not read across two texts of a batch
    assert index.scores(["france"])[0, twemoji.index("1f1eb-1f1f7")] > 0  # one-word places
    # a place inside another place's words ("new" of "papua new guinea" starts "new zealand")
    png = index.scores(["papua new guinea new zealand"])[0]
    assert png[twemoji.index("1f1f5-1f1ec")] == png[nz] == 1.0


def test_cli_help_states_the_default_keyword_weight():
    import contextlib
    import io

    from emojiqa.keywords import DEFAULT_KEYWORD_WEIGHT

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main(["suggest", "--help"])
    # argparse wraps help text: compared without line breaks
    assert f"(default {DEFAULT_KEYWORD_WEIGHT:g};" in " ".join(buf.getvalue().split())


def test_explain_names_the_words_behind_every_keyword_score(index, twemoji):
    """``explain`` gives the same candidates and, by noisy-or, the same scores as ``scores``,
    with the words as written and a place of several words as one."""
    from emojiqa.keywords import noisy_or

    for text in ["planting tomatoes", "pizza pizza and coffee", "off to New Zealand",
                 "papua new guinea", "xqzv", ""]:
        ex, s = index.explain(text), index.scores([text])[0]
        assert set(ex) == set(np.flatnonzero(s).tolist()), text
        for i, words in ex.items():
            assert noisy_or([w for _, w in words]) == pytest.approx(float(s[i]), abs=1e-5)
    [(word, score)] = index.explain("planting tomatoes")[twemoji.index("1f345")]
    assert word == "tomatoes" and 0 < score <= 1
    assert index.explain("off to New Zealand")[twemoji.index("1f1f3-1f1ff")][0][0] == \
        "new zealand"


def test_explain_ranking_takes_each_score_apart():
    """model part + keyword part give the score back; the model part is the score the same
    emoji gets from the model alone; the words are those that named it."""
    from emojiqa.emojis import select_candidates
    from emojiqa.keywords import explain_ranking

    ranker = EmojiRanker.from_pretrained()
    text = "this pizza is amazing"
    ranked = ranker.rank(text, top_k=5, keyword_weight=0.7)
    cand = select_candidates(ranker.emojis)
    why = explain_ranking(ranked, text, cand, 0.7)
    alone = {r.key: r.score for r in ranker.rank(text, top_k=len(cand), keyword_weight=0.0)}
    assert ranked[0].emoji == "🍕" and why[0]["keywords"] == ["pizza"]
    for r, w in zip(ranked, why, strict=True):
        assert 0.3 * w["model_score"] + 0.7 * w["keyword_score"] == pytest.approx(r.score,
                                                                                 abs=1e-5)
        assert w["model_score"] == pytest.approx(alone[r.key], abs=1e-4)
        assert bool(w["keywords"]) == (w["keyword_score"] > 0)
    assert explain_ranking(ranked, text, cand, 1.0)[0]["model_score"] is None
    # the model alone: its score is all model, and the naming words are still said
    alone_ranked = ranker.rank(text, top_k=len(cand), keyword_weight=0.0)
    pizza = next(r for r in alone_ranked if r.emoji == "🍕")
    [w0] = explain_ranking([pizza], text, cand, 0.0)
    assert w0["model_score"] == pytest.approx(pizza.score) and w0["keywords"] == ["pizza"]


def test_cli_explain(capsys):
    assert main(["suggest", "this pizza is amazing", "--explain", "--top-k", "2"]) == 0
    first = capsys.readouterr().out.splitlines()[0].split("\t")
    assert first[0] == "🍕" and first[-1].startswith("model ") and first[-1].endswith(": pizza")
    assert main(["suggest", "this pizza is amazing", "--explain", "--json",
                 "--keyword-weight", "0.5", "--emojis", "twemoji"]) == 0
    e = json.loads(capsys.readouterr().out)["emojis"][0]
    assert e["keywords"] == ["pizza"]
    assert 0.5 * e["model_score"] + 0.5 * e["keyword_score"] == pytest.approx(e["score"],
                                                                             abs=1e-5)
    assert main(["suggest", "pizza", "--explain", "--names"]) == 2
    assert "--explain" in capsys.readouterr().err


def test_the_word_lookup_starts_afresh_without_losing_a_reader(index, twemoji, monkeypatch):
    """Past LOOKUP_LIMIT remembered words the index starts a new lookup; texts scored across
    the switch (and from several threads, as the web server does) score as before."""
    import threading

    import emojiqa.keywords as K

    texts = ["pizza night", "my dogs are the cutest", "off to new zealand"]
    want = index.scores(texts)
    monkeypatch.setattr(K, "LOOKUP_LIMIT", 5)
    old = index._lookup
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(40):  # new words each call push the lookup past the limit
                s = index.scores([*texts, f"zz{seed}x{i} qq{seed}y{i}"])
                assert np.array_equal(s[:3], want)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert index._lookup is not old and len(index._lookup) < 100  # a few batches at most
