"""In-process smoke tests of `emojiqa train-ranker` and `emojiqa evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emojiqa.cli import main
from emojiqa.cli.ranker_cmds import file_split
from emojiqa.datasets import load_table
from emojiqa.vae import VAE, VAEConfig

TINY = ["--set", "text_tower=cnn", "--set", "conv_channels=8", "--set", "num_words=200",
        "--set", "max_len=10", "--set", "ngram_buckets=128", "--set", "ngram_dim=4",
        "--set", "side_dim=8", "--set", "shared_dims=[8,6]", "--set", "batch_size=16",
        "--set", "latent_stats=answers"]


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("vae") / "vae"
    VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8))).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def trained(tmp_path_factory, vae_dir):
    out = tmp_path_factory.mktemp("run") / "run"
    glove = out.parent / "glove.txt"
    glove.write_text("the " + " ".join(["0.1"] * 50) + "\n", encoding="utf-8")
    rc = main(["train-ranker", "--config", "default", "--data", "airline", "--out", str(out),
               "--epochs", "1", "--limit", "48", "--vae", str(vae_dir), "--glove", str(glove),
               "--quiet", *TINY])
    assert rc == 0
    return out


def test_train_ranker_writes_model(trained):
    assert (trained / "model" / "config.json").is_file()
    assert (trained / "loss.png").is_file()


def test_train_ranker_stores_the_emoji_vectors(trained):
    """The CLI stores the vectors of the model's emoji set next to it, so a cold `suggest
    --model` takes the torch-free path; it ranks as the full ranker does."""
    from emojiqa.lite import LiteRanker
    from emojiqa.ranker import EmojiRanker
    from emojiqa.recipes import VECTORS_NAME

    folder = trained / "model"
    assert (folder / VECTORS_NAME).is_file()
    lite = LiteRanker.load(folder)
    assert lite is not None
    full = EmojiRanker.from_pretrained(folder, stored_vectors=False)
    a, b = lite.rank("so angry", top_k=5), full.rank("so angry", top_k=5)
    assert [x.key for x in a] == [x.key for x in b]
    assert np.allclose([x.score for x in a], [x.score for x in b], atol=1e-5)


def test_evaluate_json_and_pngs(trained, tmp_path, capsys):
    rc = main(["evaluate", "--model", str(trained), "--data", "airline", "--split", "val",
               "--limit", "30", "--json", "--out", str(tmp_path)])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n"] == 30 and 0 <= rep["macro_f1"] <= 1 and "hinge" in rep
    assert set(rep["candidates"]) <= {"1f389", "1f608", "1f621"}
    assert (tmp_path / "confusion_val.png").is_file()
    rc = main(["evaluate", "--model", str(trained), "--data", "airline", "--limit", "10",
               "--no-known"])
    assert rc == 0 and "macro-F1" in capsys.readouterr().out


def test_train_from_file_and_errors(tmp_path, vae_dir, capsys):
    f = tmp_path / "d.csv"
    rows = ["tweet,label"] + [f"text number {i} {'good' if i % 2 else 'bad'},"
                              f"{'positive' if i % 2 else 'negative'}" for i in range(60)]
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "o"
    rc = main(["train-ranker", "--data", str(f), "--text-column", "tweet", "--emoji-column",
               "label", "--out", str(out), "--epochs", "1", "--vae", str(vae_dir), "--quiet",
               "--glove", str(f.with_suffix(".txt")), *TINY])
    assert rc == 2 and "GloVe file not found" in capsys.readouterr().err
    rc = main(["train-ranker", "--data", str(f), "--out", str(out), "--vae", str(vae_dir),
               *TINY])
    err = capsys.readouterr().err
    assert rc == 2 and "no text column 'text'" in err and "tweet" in err
    rc = main(["evaluate", "--model", str(tmp_path / "nope"), "--data", "airline"])
    assert rc == 2 and "not found" in capsys.readouterr().err
    rc = main(["evaluate", "--model", str(tmp_path / "nope"), "--data", "tweeteval",
               "--split", "test"])
    assert rc == 2


def test_evaluate_on_an_empty_split_of_a_small_file_says_so(trained, tmp_path, capsys):
    f = tmp_path / "small.csv"
    f.write_text("text,emoji\nwhat a party,🎉\nso sad,😡\n", encoding="utf-8")
    split = file_split(load_table(str(f), "text", "emoji"), "test")
    assert split == []  # both rows hash outside the test tenth
    rc = main(["evaluate", "--model", str(trained), "--data", str(f)])
    err = capsys.readouterr().err
    assert rc == 2 and "the test split of" in err and "use --split all" in err
    rc = main(["evaluate", "--model", str(trained), "--data", str(f), "--split", "all",
               "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["n"] == 2
    g = tmp_path / "tiny.csv"  # both rows hash into the test tenth: no training rows
    g.write_text("text,emoji\nso angry,😡\nparty time,🎉\n", encoding="utf-8")
    rc = main(["train-ranker", "--data", str(g), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "the train split of" in err and "more rows" in err


def test_evaluate_zero_shot(trained, capsys):
    rc = main(["evaluate", "--model", str(trained), "--zero-shot", "new-releases", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"known", "lookalike", "pixels"}
    assert res["known"]["n_candidates"] > 1000 and 0 <= res["known"]["mrr"] <= 1


def test_train_with_wide_head_then_suggest_and_evaluate(tmp_path, vae_dir, capsys):
    out = tmp_path / "wide"
    glove = tmp_path / "glove.txt"
    glove.write_text("the " + " ".join(["0.1"] * 50) + "\n", encoding="utf-8")
    rc = main(["train-ranker", "--config", "default-wide", "--data", "airline", "--out",
               str(out), "--epochs", "1", "--limit", "48", "--vae", str(vae_dir), "--glove",
               str(glove), *TINY, "--set", "wide_buckets=256", "--set", "wide_iters=10"])
    assert rc == 0, capsys.readouterr().err
    assert "heads refit on" in capsys.readouterr().err  # default-wide refits on train + val
    assert (out / "model" / "wide" / "model.safetensors").is_file()
    saved = json.loads((out / "model" / "config.json").read_text())["config"]
    assert saved["name"] == "default-wide" and saved["refit_heads"] is True
    capsys.readouterr()
    rc = main(["suggest", "--model", str(out), "--emojis", "answers", "--json", "--top-k", "3",
               "the flight was late"])
    assert rc == 0
    got = json.loads(capsys.readouterr().out)
    assert len(got["emojis"]) == 3 and {e["key"] for e in got["emojis"]} == {
        "1f389", "1f608", "1f621"}
    rc = main(["evaluate", "--model", str(out), "--data", "airline", "--limit", "10",
               "--json"])
    assert rc == 0 and 0 <= json.loads(capsys.readouterr().out)["macro_f1"] <= 1


def test_train_with_a_given_teacher(trained, tmp_path, vae_dir, capsys):
    """`--teacher DIR` distils a trained model into a new one; a folder that is no model is
    refused by name before any training."""
    glove = tmp_path / "glove.txt"
    glove.write_text("the " + " ".join(["0.1"] * 50) + "\n", encoding="utf-8")
    common = ["train-ranker", "--data", "airline", "--epochs", "1", "--limit", "48", "--vae",
              str(vae_dir), "--glove", str(glove), "--quiet", *TINY, "--set",
              "distill_teachers=0"]
    out = tmp_path / "student"
    rc = main([*common, "--out", str(out), "--teacher", str(trained / "model") + "/"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "distilling 1 given teacher(s): default" in err
    record = json.loads((out / "model" / "training.json").read_text())
    assert record["teachers"] == ["default"] and record["distill_teachers"] == 0
    rc = main([*common, "--out", str(tmp_path / "x"), "--teacher", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot load the teacher" in err and "nowhere" in err
    assert not (tmp_path / "x" / "model").exists()
    # a named teacher config: trained first in OUT/teachers/<name>, then it teaches
    named = tmp_path / "named"
    rc = main([*common, "--out", str(named), "--set", "teacher_config=seed"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "teacher seed (seed 0)" in err
    assert (named / "teachers" / "seed" / "model" / "model.safetensors").is_file()
    rc = main([*common, "--out", str(tmp_path / "y"), "--set", "teacher_config=nope"])
    err = capsys.readouterr().err
    assert rc == 2 and "teacher_config='nope' is not a config that can teach" in err
