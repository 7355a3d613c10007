"""Multi-source training data: contents, sizes, mixing, and the new-releases hold-out."""

from __future__ import annotations

import pytest

from emojiqa import sources as S
from emojiqa.emojis import load_metadata


@pytest.fixture(scope="module")
def held_out_train():
    return S.training_examples(hold_out=True)


def test_base_keys_and_skin_tones():
    assert len(S.base_keys()) == 1979
    assert S.base_key("1f44d-1f3fd") == "1f44d"
    assert S.base_key("1f389") == "1f389"


def test_cldr_examples_cover_every_labelled_base_emoji():
    ex = S.cldr_examples()
    meta = load_metadata()
    labelled = {k for k in S.base_keys() if meta[k].label}
    assert {x.key for x in ex} == labelled
    assert 1900 < len(labelled) < 2000 and len(ex) > 15_000
    party = [x for x in ex if x.key == "1f389"]
    assert party[0].text == "party popper" and party[0].weight == 1.0
    # shared keywords weigh less than the emoji's own label
    flag_kw = [x for x in ex if x.text == "flag"]
    assert flag_kw and all(x.weight < 0.01 for x in flag_kw)
    assert all(x.source == "cldr" and x.text.strip() for x in ex)


def test_skin_tone_variants_train_as_their_base():
    ex = S.cldr_examples(["1f44d-1f3fb", "1f44d-1f3ff", "1f44d"])
    assert {x.key for x in ex} == {"1f44d"}
    assert [x.text for x in ex].count("thumbs up") == 1


def test_mix_gives_each_source_its_share():
    ex = S.training_examples({"cldr": 0.6, "airline": 0.4})
    total = sum(x.weight for x in ex)
    share = sum(x.weight for x in ex if x.source == "airline") / total
    assert share == pytest.approx(0.4)
    assert total == pytest.approx(len(ex))
    with pytest.raises(ValueError, match="unknown source"):
        S.training_examples({"reddit": 1.0})
    with pytest.raises(ValueError, match="nothing to mix"):
        S.mix({"cldr": []}, {"cldr": 1.0})


def test_default_sources_sizes(held_out_train):
    by = {s: sum(1 for x in held_out_train if x.source == s) for s in S.SOURCES}
    assert by["tweeteval"] == 45_000 and by["airline"] == 11_524
    assert 18_000 < by["cldr"] < 21_371


def test_held_out_is_emoji_14_and_later():
    held = S.held_out_keys()
    meta = load_metadata()
    assert "1fae0" in held  # melting face, 14.0
    assert "1f389" not in held
    base_held = [k for k in held if not meta[k].base]
    assert 95 <= len(base_held) <= 110
    assert all(meta[k].version >= 14 for k in base_held)
    assert all(meta[k].version >= 14 or meta[meta[k].base].version >= 14
               for k in held if meta[k].base)


def test_held_out_emojis_never_leak_into_training(held_out_train):
    """Fails if any held-out emoji's key, label or image reaches the training data."""
    held = S.held_out_keys()
    meta = load_metadata()
    labels = {meta[k].label.lower() for k in held if meta[k].label}
    leaks = [x for x in held_out_train
             if x.key in held or S.base_key(x.key) in held or x.text.lower() in labels]
    assert not leaks, f"held-out emojis leaked into training texts: {leaks[:5]}"
    for es in S.training_emoji_sets(hold_out=True):
        bad = [k for k in es.keys if k in held or S.base_key(k) in held]
        assert not bad, f"held-out emoji images leaked into the {es.style} set: {bad[:5]}"
        assert len(es) > 1500


def test_remove_held_out_catches_a_leak():
    from emojiqa.datasets import Example

    planted = [Example("melting face", "1f600"), Example("so hot 🫠 today", "1f525"),
               Example("anything", "1fae0"), Example("fine", "1f389")]
    assert [x.text for x in S.remove_held_out(planted)] == ["fine"]


def test_training_sets_without_hold_out_keep_everything():
    (tw,) = S.training_emoji_sets(("twemoji",))
    assert "1fae0" in tw.keys and not any(e.skin_tone for e in tw)
    assert len(S.candidate_set("twemoji")) == 1979


def test_tune_split_is_left_out_of_train():
    """The bundled model's tuning split: every k-th TweetEval training text (left out of
    train) and the airline val split; never a TweetEval val text."""
    w = {"tweeteval": 1.0, "airline": 1.0}
    train = S.training_examples(w, tune_every=20)
    tune = S.training_examples(w, split="tune", tune_every=20)
    tweets = S.tweeteval_examples("train")
    tune_tw = [x for x in tune if x.source == "tweeteval"]
    assert [x.text for x in tune_tw] == [x.text for x in tweets[::20]]
    assert len(tune_tw) == 2250
    assert sum(1 for x in train if x.source == "tweeteval") == 45_000 - 2250
    # the same texts can repeat in TweetEval: compare positions, not strings
    kept = [x.text for x in train if x.source == "tweeteval"]
    assert kept == [x.text for i, x in enumerate(tweets) if i % 20]
    assert [x.text for x in tune if x.source == "airline"] == [
        x.text for x in S.airline_examples("val")]
    assert sum(1 for x in train if x.source == "airline") == 11_524
    with pytest.raises(ValueError, match="tune_every"):
        S.training_examples(w, split="tune")
    with pytest.raises(ValueError, match="split must be"):
        S.training_examples(w, split="test")
