"""Training loop: outputs, exact resume (also after a signal), NaN stop, bad data."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import signal

import numpy as np
import pytest
import torch

from emojiqa import losses
from emojiqa.datasets import Example, load_airline
from emojiqa.errors import ConfigError, TrainingError
from emojiqa.ranker import EmojiRanker, RankerConfig
from emojiqa.train_ranker import train_ranker
from emojiqa.vae import VAE, VAEConfig
from helpers import tiny_ranker_config

CFG = tiny_ranker_config(epochs=2)


@pytest.fixture(scope="module")
def data():
    return load_airline("train")[:64], load_airline("val")[:24]


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8)))


def run(out, data, vae, **kw):
    kw.setdefault("glove", False)
    kw.setdefault("log", lambda s: None)
    return train_ranker(kw.pop("config", CFG), data[0], data[1], out, vae=vae,
                        progress=False, **kw)


def final_weights(out):
    return torch.load(out / "checkpoint.pt", weights_only=True)["net"]


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_outputs_and_reload(tmp_path, data, vae):
    r = run(tmp_path, data, vae)
    for name in ("model/config.json", "model/vocab.json", "model/answers.json",
                 "model/vae/config.json", "checkpoint.pt", "history.json", "loss.png"):
        assert (tmp_path / name).is_file(), name
    r2 = EmojiRanker.from_pretrained(tmp_path)  # a training folder resolves to model/
    texts = [e.text for e in data[1][:5]]
    assert np.allclose(r.encode_text(texts), r2.encode_text(texts), atol=1e-6)
    assert r2.answer_keys == ["1f389", "1f608", "1f621"]


def test_seed_config_trains(tmp_path, data, vae):
    cfg = RankerConfig.named("seed", num_words=100, lstm_hidden=4, epochs=1)
    r = run(tmp_path, data, vae, config=cfg)
    assert len(r.rank("thanks", emojis="answers", top_k=3)) == 3


def test_resume_equals_uninterrupted(tmp_path, data, vae):
    run(tmp_path / "a", data, vae, seed=3)
    run(tmp_path / "b", data, vae, seed=3, epochs=1)
    run(tmp_path / "b", data, vae, seed=3, resume=True)
    assert same(final_weights(tmp_path / "a"), final_weights(tmp_path / "b"))
    ema = [torch.load(tmp_path / x / "checkpoint.pt", weights_only=True)["ema"] for x in "ab"]
    assert ema[0] and all(torch.equal(x, y) for x, y in zip(*ema, strict=True))


def test_signal_writes_checkpoint_and_resume_continues(tmp_path, data, vae, monkeypatch):
    run(tmp_path / "a", data, vae, seed=1)
    calls = {"n": 0}
    real = losses.ranking_loss

    def interrupting(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # handled after this step
        return real(*a, **k)

    monkeypatch.setattr(losses, "ranking_loss", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", data, vae, seed=1)
    monkeypatch.setattr(losses, "ranking_loss", real)
    assert (tmp_path / "b" / "checkpoint.pt").is_file()
    run(tmp_path / "b", data, vae, seed=1, resume=True)
    assert same(final_weights(tmp_path / "a"), final_weights(tmp_path / "b"))


def test_nan_loss_stops_and_keeps_model(tmp_path, data, vae, monkeypatch):
    calls = {"n": 0}
    real = losses.ranking_loss

    def poisoned(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] >= 6 else out

    monkeypatch.setattr(losses, "ranking_loss", poisoned)
    with pytest.raises(TrainingError, match="NaN"):
        run(tmp_path, data, vae)
    r = EmojiRanker.from_pretrained(tmp_path)
    assert np.isfinite(r.encode_text(["hello"])).all()


def test_bad_training_data(tmp_path, data, vae):
    bad = [*data[0][:10], Example("   ", "1f389")]
    with pytest.raises(TrainingError, match="example 10"):
        run(tmp_path / "x", (bad, data[1]), vae)
    with pytest.raises(TrainingError, match="two answers"):
        run(tmp_path / "y", ([Example("a", "1f389")], data[1]), vae)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrainingError, match="cannot write"):
        run(blocker / "out", data, vae)


def test_ngram_table_learns_at_its_own_rate(tmp_path, data, vae):
    # one Adam step moves each weight by about lr * sign(grad): the n-gram table by
    # lr * ngram_lr_scale, everything else by lr, from the same initialisation and batch
    nets = {}
    for scale in (1.0, 10.0):
        cfg = dataclasses.replace(CFG, ngram_lr_scale=scale)
        run(tmp_path / str(scale), data, vae, config=cfg, epochs=1, max_steps=1)
        nets[scale] = final_weights(tmp_path / str(scale))
    a, b = nets[1.0], nets[10.0]
    for k in a:
        if k == "bag.weight":
            step = float((b[k] - a[k]).abs().max())
            assert step == pytest.approx(9 * CFG.lr, rel=0.05)
        else:
            assert torch.equal(a[k], b[k]), k


def test_known_dropout_withholds_corrections(tmp_path, data, vae):
    # the corrections start at zero; a step moves only the rows of answers scored with theirs
    moved = {}
    for p in (0.0, 0.999):
        cfg = dataclasses.replace(CFG, known_dropout=p)
        run(tmp_path / str(p), data, vae, config=cfg, epochs=1, max_steps=1)
        w = final_weights(tmp_path / str(p))["known.weight"]
        moved[p] = int((w.abs().sum(1) > 0).sum())
    assert moved[0.0] == 3  # every answer of the airline table
    assert moved[0.999] == 0  # (seeded: every answer drew "drawing alone")
    with pytest.raises(Exception, match="known_dropout"):
        dataclasses.replace(CFG, known_dropout=1.0)


def test_minilm_finetune(tmp_path, data, vae):
    """MiniLM's own weights learn at minilm_lr (one Adam step moves each by about that), the
    fine-tuned copy travels in the model folder, and before training the tower gives the
    frozen encoder's sentence vectors."""
    from emojiqa.text import MiniLMTower, minilm_encoder

    texts = [e.text for e in data[1][:6]]
    fresh = MiniLMTower().eval()
    with torch.no_grad():
        vec = fresh(*fresh.tokenize(texts, 64)).numpy()
    assert np.allclose(vec, minilm_encoder().embed(texts), atol=1e-5)
    fresh.length_bucket = 2  # a large batch in length buckets: the same vectors
    with torch.no_grad():
        assert np.allclose(fresh(*fresh.tokenize(texts, 64)).numpy(), vec, atol=1e-5)

    cfg = RankerConfig.named("minilm-ft", ngram_buckets=0, side_dim=8, shared_dims=(8,),
                             batch_size=8, latent_stats="answers")
    r = run(tmp_path, data, vae, config=cfg, epochs=1, max_steps=1)
    after = final_weights(tmp_path)
    before = {f"minilm.{k}": v for k, v in fresh.state_dict().items()}
    moved = [float((after[k] - v).abs().max()) for k, v in before.items()
             if v.is_floating_point() and k.endswith("weight") and "LayerNorm" not in k
             and "embeddings" not in k]
    assert moved and max(moved) == pytest.approx(cfg.minilm_lr, rel=0.05)
    r2 = EmojiRanker.from_pretrained(tmp_path)
    assert np.allclose(r.encode_text(texts), r2.encode_text(texts), atol=1e-5)
    with pytest.raises(ConfigError, match="minilm_finetune"):
        RankerConfig(text_tower="cnn", minilm_finetune=True)


def test_resume_after_early_stop_trains_no_further_epoch(tmp_path, data, vae, monkeypatch):
    tr = importlib.import_module("emojiqa.train_ranker")  # the module, not the function

    calls = {"n": 0}

    def worse_each_epoch(*a, **k):  # val macro-F1 falls: early stop after the 2nd epoch
        calls["n"] += 1
        return {"val_loss": 1.0, "val_hinge": 0.1, "val_acc": 0.5, "val_mrr": 0.5,
                "val_macro_f1": 1.0 - 0.1 * calls["n"]}

    monkeypatch.setattr(tr, "_val_metrics", worse_each_epoch)
    cfg = dataclasses.replace(CFG, epochs=6, patience=1)
    run(tmp_path, data, vae, config=cfg)
    assert len(json.loads((tmp_path / "history.json").read_text())["val_macro_f1"]) == 2
    run(tmp_path, data, vae, config=cfg, resume=True)
    assert len(json.loads((tmp_path / "history.json").read_text())["val_macro_f1"]) == 2


def test_plateau_lr_goes_back_to_the_best_weights_at_lower_rates(tmp_path, data, vae,
                                                                   monkeypatch):
    tr = importlib.import_module("emojiqa.train_ranker")  # the module, not the function

    scores = iter([0.5, 0.4, 0.3, 0.2])  # improves once, then never: 3 epochs with patience 2

    def falling(*a, **k):
        return {"val_loss": 1.0, "val_hinge": 0.1, "val_acc": 0.5, "val_mrr": 0.5,
                "val_macro_f1": next(scores)}

    monkeypatch.setattr(tr, "_val_metrics", falling)
    cfg = dataclasses.replace(CFG, epochs=6, patience=2, plateau_lr=0.25)
    lines: list[str] = []
    run(tmp_path, data, vae, config=cfg, log=lines.append)
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    hist = json.loads((tmp_path / "history.json").read_text())
    assert len(hist["val_macro_f1"]) == 3  # stopped by patience as before
    # one roll-back after epoch 2 (epoch 3 then stops the run): rates x 0.25 once
    lrs = [g["lr"] for g in ck["opt"]["param_groups"]]
    assert lrs == pytest.approx([CFG.lr * 0.25, CFG.lr * CFG.ngram_lr_scale * 0.25])
    assert sum("back to epoch 1's weights" in x for x in lines) == 1
    with pytest.raises(ConfigError, match="plateau_lr"):
        RankerConfig(plateau_lr=0.0)


def test_resume_a_checkpoint_from_before_a_config_field_existed(tmp_path, data, vae):
    run(tmp_path / "a", data, vae, seed=3)
    run(tmp_path / "b", data, vae, seed=3, epochs=1)
    ck_path = tmp_path / "b" / "checkpoint.pt"
    ck = torch.load(ck_path, weights_only=True)
    saved = json.loads(ck["config"])
    del saved["plateau_lr"]  # written by a version without the field
    ck["config"] = json.dumps(saved)
    torch.save(ck, ck_path)
    run(tmp_path / "b", data, vae, seed=3, resume=True)
    assert same(final_weights(tmp_path / "a"), final_weights(tmp_path / "b"))
    # a field that differs from the value it was trained with is another config
    saved["plateau_lr"] = 0.5
    ck = torch.load(ck_path, weights_only=True)
    ck["config"] = json.dumps(saved)
    torch.save(ck, ck_path)
    with pytest.raises(TrainingError, match="another config"):
        run(tmp_path / "b", data, vae, seed=3, resume=True)
    ck["config"] = "{not json"
    torch.save(ck, ck_path)
    with pytest.raises(TrainingError, match="another config"):
        run(tmp_path / "b", data, vae, seed=3, resume=True)


def test_ema_keeps_the_averaged_weights(tmp_path, data, vae):
    assert CFG.ema == 0.99  # ``default`` averages its weights
    cfg = dataclasses.replace(CFG, patience=0)  # keep the last epoch
    r = run(tmp_path, data, vae, config=cfg)
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    trained = [(n, p) for n, p in r.net.named_parameters() if p.requires_grad]
    assert len(trained) == len(ck["ema"])
    # the model is the moving average, not the last step's weights (which training goes on
    # from, in the checkpoint)
    assert all(torch.equal(p.detach(), e) for (_, p), e in zip(trained, ck["ema"], strict=True))
    assert not all(torch.equal(ck["net"][n], e) for (n, _), e in zip(trained, ck["ema"],
                                                                     strict=True))
    saved = EmojiRanker.from_pretrained(tmp_path)
    texts = [e.text for e in data[1][:5]]
    assert np.allclose(r.encode_text(texts), saved.encode_text(texts), atol=1e-6)
    # without it, the kept weights are the trained ones
    plain = run(tmp_path / "plain", data, vae, config=dataclasses.replace(cfg, ema=0.0))
    ck = torch.load(tmp_path / "plain" / "checkpoint.pt", weights_only=True)
    assert same({n: p.detach() for n, p in plain.net.named_parameters()},
                {n: ck["net"][n] for n, _ in plain.net.named_parameters()})
    with pytest.raises(ConfigError, match="ema"):
        RankerConfig(ema=1.0)


def test_little_data_gets_smaller_batches(tmp_path, data, vae):
    """``min_epoch_steps``: an epoch of few texts is cut into at least that many batches (down
    to 8 texts each); a config without it keeps its batch size."""
    from emojiqa.train_ranker import epoch_batch_size

    default = RankerConfig.named("default")
    assert default.min_epoch_steps == 16 and RankerConfig.named("seed").min_epoch_steps == 0
    assert epoch_batch_size(default, 250) == 15
    assert epoch_batch_size(default, 11_524) == 256  # the airline split: unchanged
    assert epoch_batch_size(default, 40) == 8  # never below 8 texts
    assert epoch_batch_size(RankerConfig.named("seed"), 250) == 64
    assert epoch_batch_size(dataclasses.replace(default, batch_size=4), 10) == 4
    logs: list[str] = []
    run(tmp_path, data, vae, config=dataclasses.replace(CFG, min_epoch_steps=8), log=logs.append)
    assert any("batches of 8 instead of 16" in line for line in logs)
    logs.clear()
    run(tmp_path / "b", data, vae, log=logs.append)
    assert not any("batches of" in line for line in logs)
