"""Fine-tuning a trained ranker (``train_ranker(init_from=...)``, ``--init-from``): every
weight taken over, corrections carried by key, the network's shape fixed, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emojiqa.cli import main
from emojiqa.datasets import Example, load_airline
from emojiqa.errors import ConfigError, TrainingError
from emojiqa.ranker import EmojiRanker
from emojiqa.train_ranker import finetune_config, train_ranker
from emojiqa.vae import VAE, VAEConfig
from helpers import tiny_ranker_config


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8)))


@pytest.fixture(scope="module")
def init_dir(tmp_path_factory, vae):
    """A tiny ranker trained on airline tweets and a few texts of other emojis."""
    out = tmp_path_factory.mktemp("init")
    extra = [Example(t, k) for t, k in (("pizza night", "1f355"), ("i love pizza", "1f355"),
                                        ("so sleepy", "1f634"), ("time for bed", "1f634"))]
    train_ranker(tiny_ranker_config(epochs=2), load_airline("train")[:64] + extra * 4,
                 load_airline("val")[:24], out, vae=vae, progress=False, glove=False,
                 log=lambda s: None)
    return out / "model"


def test_finetune_takes_every_weight_and_the_corrections_by_key(tmp_path, init_dir):
    init = EmojiRanker.from_pretrained(init_dir, stored_vectors=False)
    # new data: two answers the init knows (🍕, 😴) and one it does not (☕)
    train = [Example(t, k) for t, k in (("pizza again", "1f355"), ("need sleep", "1f634"),
                                        ("coffee time", "2615"))] * 8
    cfg = finetune_config(init, epochs=1, lr=0.0)  # lr 0: the weights stay the init's
    logs: list[str] = []
    ft = train_ranker(cfg, train, train[:6], tmp_path, progress=False, log=logs.append,
                      init_from=init_dir)
    assert any("2 of 3 answers keep" in line for line in logs)
    assert ft.answer_keys == ["1f355", "1f634", "2615"]
    assert ft.tokenizer.word_index == init.tokenizer.word_index  # its vocabulary
    src, own = init.net.state_dict(), ft.net.state_dict()
    for k in src:
        if k != "known.weight":
            assert torch.equal(src[k], own[k]), k
    rows = [init.answer_index[k] for k in ("1f355", "1f634")]
    assert torch.equal(own["known.weight"][:2], src["known.weight"][rows])
    assert not own["known.weight"][2].any()  # ☕: new, no correction yet
    texts = ["pizza night", "so sleepy"]  # the same text codes as the init model
    assert np.allclose(ft.encode_text(texts), init.encode_text(texts), atol=1e-6)
    saved = json.loads((tmp_path / "model" / "training.json").read_text())
    assert saved["init_from"] == init.config.name
    assert finetune_config(init).name == f"{init.config.name}-ft"


def test_finetune_learns_from_the_new_data(tmp_path, init_dir):
    init = EmojiRanker.from_pretrained(init_dir, stored_vectors=False)
    train = [Example(t, k) for t, k in (("pizza again", "1f355"), ("need sleep", "1f634"),
                                        ("coffee time", "2615"))] * 16
    ft = train_ranker(finetune_config(init, epochs=3, lr=0.01, patience=0), train, train[:6],
                      tmp_path, progress=False, log=lambda s: None, init_from=init)
    moved = [k for k, v in init.net.state_dict().items() if k != "known.weight"
             and not torch.equal(v, ft.net.state_dict()[k])]
    assert moved  # trained further
    assert EmojiRanker.from_pretrained(tmp_path).answer_keys == ft.answer_keys


def test_finetune_refuses_another_network(tmp_path, init_dir):
    init = EmojiRanker.from_pretrained(init_dir, stored_vectors=False)
    with pytest.raises(ConfigError, match="cannot change"):
        finetune_config(init, side_dim=8)
    with pytest.raises(ConfigError, match="unknown"):
        finetune_config(init, no_such_field=1)
    import dataclasses

    train = load_airline("train")[:32]
    other = dataclasses.replace(init.config, side_dim=init.config.side_dim + 2)
    with pytest.raises(TrainingError, match="another network"):
        train_ranker(other, train, train[:4], tmp_path / "a", progress=False,
                     log=lambda s: None, init_from=init)
    longer = dataclasses.replace(init.config, max_len=init.config.max_len + 1)
    with pytest.raises(TrainingError, match="tokenizer"):
        train_ranker(longer, train, train[:4], tmp_path / "b", progress=False,
                     log=lambda s: None, init_from=init)
    with pytest.raises(TrainingError, match="cannot fine-tune"):
        train_ranker(init.config, train, train[:4], tmp_path / "c", progress=False,
                     log=lambda s: None, init_from=tmp_path / "no_model_here")


def test_cli_init_from(tmp_path, init_dir, capsys):
    out = tmp_path / "ft"
    assert main(["train-ranker", "--init-from", str(init_dir), "--data", "airline",
                 "--limit", "48", "--out", str(out), "--epochs", "1", "--quiet",
                 "--set", "lr=0.001"]) == 0
    cfg = json.loads((out / "model" / "config.json").read_text())["config"]
    assert cfg["name"].endswith("-ft") and cfg["lr"] == 0.001
    for bad in (["--config", "seed"], ["--set", "side_dim=8"]):
        code = main(["train-ranker", "--init-from", str(init_dir), "--out",
                     str(tmp_path / "bad"), "--limit", "8", "--quiet", *bad])
        assert code != 0
    err = capsys.readouterr().err
    assert "--init-from fine-tunes" in err and "cannot change" in err
