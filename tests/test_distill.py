"""Knowledge distillation of an ensemble into one ranker (``RankerConfig.distill_teachers``):
teachers trained and kept, soft answers as their mean score says, resume, clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from emojiqa.datasets import load_airline
from emojiqa.errors import ConfigError, TrainingError
from emojiqa.ranker import EmojiRanker, RankerConfig
from emojiqa.storage import config_from_dict, config_to_dict
from emojiqa.train_ranker import distill_targets, finetune_config, teacher_config, train_ranker
from emojiqa.vae import VAE, VAEConfig
from helpers import tiny_ranker_config

CFG = tiny_ranker_config(distill_teachers=2, epochs=2, patience=0)


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8)))


@pytest.fixture(scope="module")
def data():
    return load_airline("train")[:96], load_airline("val")[:32]


def _train(cfg, data, vae, out, logs=None, **kw):
    train, val = data
    return train_ranker(cfg, train, val, out, vae=vae, progress=False, glove=False, seed=3,
                        log=(logs.append if logs is not None else lambda s: None), **kw)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, data, vae):
    out = tmp_path_factory.mktemp("distilled")
    return _train(CFG, data, vae, out), out


def test_teachers_are_trained_kept_and_teach_the_model(distilled, data, vae, tmp_path):
    model, out = distilled
    teachers = [EmojiRanker.from_pretrained(out / "teachers" / str(k) / "model")
                for k in range(2)]
    for k, t in enumerate(teachers):
        assert t.config == teacher_config(CFG)
        assert t.config.distill_teachers == 0 and not t.has_heads
        record = json.loads((out / "teachers" / str(k) / "done.json").read_text())
        assert record["seed"] == 3 + 1000 * (k + 1)
    # two teachers of other seeds learned different weights
    a, b = (t.net.state_dict()["shared.0.weight"] for t in teachers)
    assert not torch.equal(a, b)
    assert json.loads((out / "model" / "training.json").read_text())["distill_teachers"] == 2
    # the same run without teachers is another model: the soft answers changed training
    plain = _train(tiny_ranker_config(epochs=2, patience=0), data, vae, tmp_path / "plain")
    texts = [e.text for e in data[1]]
    assert not np.allclose(plain.answer_scores(texts), model.answer_scores(texts))


def test_soft_answers_are_the_softmax_of_the_teachers_mean_score(distilled, data):
    _, out = distilled
    teachers = [EmojiRanker.from_pretrained(out / "teachers" / str(k) / "model")
                for k in range(2)]
    texts = [e.text for e in data[0][:20]]
    keys = teachers[0].answer_keys
    soft = distill_targets(teachers, texts, keys, 0.15).numpy()
    mean = (teachers[0].answer_scores(texts) + teachers[1].answer_scores(texts)) / 2
    want = np.exp(mean / 0.15 - (mean / 0.15).max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    assert soft.shape == (20, len(keys)) and soft.dtype == np.float32
    np.testing.assert_allclose(soft, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-5)
    # a teacher may answer more emojis than the model learns: its scores of those it does,
    # in the model's order
    sub = [keys[2], keys[0]]
    cols = [2, 0]
    z = mean[:, cols] / 0.15
    want = np.exp(z - z.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(distill_targets(teachers, texts, sub, 0.15).numpy(), want,
                               rtol=1e-5, atol=1e-7)
    with pytest.raises(TrainingError, match="was not trained on 1 of the 4 emojis"):
        distill_targets(teachers, texts, [*keys, "1f355"], 0.15)
    with pytest.raises(TrainingError, match="at least one teacher"):
        distill_targets([], texts, keys, 0.15)


def test_resume_keeps_finished_teachers_and_gives_the_same_model(distilled, data, vae,
                                                                 tmp_path):
    model, out = distilled
    # stopped after the teachers, before the model's first checkpoint
    run = tmp_path / "run"
    shutil.copytree(out / "teachers", run / "teachers")
    logs: list[str] = []
    resumed = _train(CFG, data, vae, run, logs, resume=True)
    assert sum("kept from" in s for s in logs) == 2
    texts = [e.text for e in data[1]]
    np.testing.assert_allclose(resumed.answer_scores(texts), model.answer_scores(texts),
                               rtol=1e-5, atol=1e-6)
    # a finished teacher recorded for other settings is trained again, not kept
    (run / "teachers" / "1" / "done.json").write_text(json.dumps({"config": "{}", "seed": 0}))
    (run / "checkpoint.pt").unlink()
    logs.clear()
    _train(CFG, data, vae, run, logs, resume=True)
    assert sum("kept from" in s for s in logs) == 1
    assert any("teacher 2/2 (seed 2003)" in s for s in logs)
    with pytest.raises(TrainingError, match="no checkpoint .* and no teachers"):
        _train(CFG, data, vae, tmp_path / "empty", resume=True)


def test_settings_are_checked_and_old_folders_load_without_teachers():
    for bad in ({"distill_teachers": -1}, {"distill_weight": 0.0}, {"distill_weight": 1.5},
                {"distill_temperature": 0.0}):
        with pytest.raises(ConfigError, match="distill"):
            RankerConfig.named("default", **bad)
    assert RankerConfig.named("default").distill_teachers == 3
    assert RankerConfig.named("seed").distill_teachers == 0
    saved = config_to_dict(RankerConfig.named("default"))
    for k in ("distill_teachers", "distill_weight", "distill_temperature"):
        saved.pop(k)
    assert config_from_dict(RankerConfig, saved).distill_teachers == 0


def test_given_teachers_teach_as_trained_ones_do(distilled, data, vae, tmp_path):
    """Teachers passed in (their folders) give the very model that training them here gave:
    the same soft answers, the model started from the same random state."""
    model, out = distilled
    folders = [out / "teachers" / str(k) / "model" for k in range(2)]
    cfg = tiny_ranker_config(epochs=2, patience=0)  # no teachers of its own
    logs: list[str] = []
    given = _train(cfg, data, vae, tmp_path / "given", logs, teachers=folders)
    assert any("distilling 2 given teacher(s)" in s for s in logs)
    assert not (tmp_path / "given" / "teachers").exists()
    texts = [e.text for e in data[1]]
    np.testing.assert_allclose(given.answer_scores(texts), model.answer_scores(texts),
                               rtol=1e-5, atol=1e-6)
    record = json.loads((tmp_path / "given" / "model" / "training.json").read_text())
    assert record["teachers"] == [teacher_config(CFG).name] * 2


def test_given_teachers_bad_folder_missing_emoji_and_resume_are_refused(distilled, data, vae,
                                                                        tmp_path):
    _, out = distilled
    folder = out / "teachers" / "0" / "model"
    cfg = tiny_ranker_config(epochs=1, patience=0)
    with pytest.raises(TrainingError, match="cannot load the teacher .*nowhere"):
        _train(cfg, data, vae, tmp_path / "a", teachers=[tmp_path / "nowhere"])
    # a teacher trained on fewer emojis than the data has
    train, val = data
    two = [e for e in train if e.key != train[0].key]
    small = _train(cfg, (two, val), vae, tmp_path / "small")
    with pytest.raises(TrainingError, match="was not trained on 1 of the 3 emojis"):
        _train(cfg, data, vae, tmp_path / "b", teachers=[small])
    # resuming with other teachers than the checkpoint was written with
    _train(cfg, data, vae, tmp_path / "c", teachers=[folder])
    with pytest.raises(TrainingError, match="written with teachers"):
        _train(cfg, data, vae, tmp_path / "c", resume=True)
    with pytest.raises(TrainingError, match="no checkpoint .* and no teachers"):
        _train(cfg, data, vae, tmp_path / "d", resume=True, teachers=[folder])


def test_a_named_teacher_config_is_trained_first_and_teaches_as_a_given_one(data, vae,
                                                                          tmp_path):
    """``teacher_config``: the named config trained first in ``teachers/<name>`` (same data,
    same seed, its own epochs) teaches as the same model passed in as a given teacher does;
    resume keeps it; fine-tuning does not train a new one."""
    cfg = tiny_ranker_config(epochs=2, patience=0, teacher_config="seed")
    logs: list[str] = []
    model = _train(cfg, data, vae, tmp_path / "named", logs)
    folder = tmp_path / "named" / "teachers" / "seed"
    teacher = EmojiRanker.from_pretrained(folder / "model")
    assert teacher.config == RankerConfig.named("seed")
    assert json.loads((folder / "done.json").read_text())["seed"] == 3
    assert any("teacher seed (seed 3)" in s for s in logs)
    texts = [e.text for e in data[1]]
    plain = tiny_ranker_config(epochs=2, patience=0)
    given = _train(plain, data, vae, tmp_path / "given", teachers=[folder / "model"])
    np.testing.assert_allclose(model.answer_scores(texts), given.answer_scores(texts),
                               rtol=1e-5, atol=1e-6)
    # stopped after the teacher: resume keeps it and gives the same model
    run = tmp_path / "run"
    shutil.copytree(tmp_path / "named" / "teachers", run / "teachers")
    logs.clear()
    resumed = _train(cfg, data, vae, run, logs, resume=True)
    assert any("teacher seed: kept from" in s for s in logs)
    np.testing.assert_allclose(resumed.answer_scores(texts), model.answer_scores(texts),
                               rtol=1e-5, atol=1e-6)
    assert finetune_config(model).teacher_config == ""
    assert finetune_config(model, teacher_config="seed").teacher_config == "seed"


def test_the_distilled_config_and_teacher_config_checks():
    c = RankerConfig.named("distilled")
    assert (c.teacher_config, c.distill_teachers, c.wide_buckets, c.refit_heads) == (
        "minilm-ft", 0, 524288, True)
    assert c.text_tower == RankerConfig.named("default").text_tower  # GloVe towers answer
    for bad in ("nope", "distilled"):  # unknown, or a config with a teacher of its own
        with pytest.raises(ConfigError, match="not a config that can teach"):
            RankerConfig.named("default", teacher_config=bad)
    saved = config_to_dict(c)
    saved.pop("teacher_config")  # a folder saved before the field existed
    assert config_from_dict(RankerConfig, saved).teacher_config == ""
