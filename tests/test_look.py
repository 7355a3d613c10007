"""The look encoder: augmentations, training, persistence, and its place in the ranker."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch

from emojiqa.datasets import load_airline
from emojiqa.errors import ConfigError, ModelLoadError, TrainingError
from emojiqa.look import LookConfig, LookEncoder, augment, crop_to_content, train_look_encoder
from emojiqa.ranker import EmojiRanker, RankerConfig
from emojiqa.train_ranker import train_ranker
from emojiqa.vae import VAE, VAEConfig
from helpers import tiny_ranker_config

TINY = LookConfig(dim=8, channels=(8, 8, 16), epochs=2, batch_size=8)


def test_config_checks():
    with pytest.raises(ConfigError, match="channels"):
        LookConfig(channels=(8, 12, 16))
    with pytest.raises(ConfigError, match="temperature"):
        LookConfig(temperature=0)
    assert LookConfig(channels=[8, 8, 8]).channels == (8, 8, 8)  # JSON lists come back


def test_augment_is_a_seeded_view_in_range(twemoji):
    x = torch.from_numpy(twemoji.images[:16]).permute(0, 3, 1, 2).float() / 255
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    c = augment(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert float((a[:, :3] * (a[:, 3:] <= 0.02)).abs().max()) == 0  # no colour where clear


def test_crop_to_content_centres_and_fills(twemoji):
    small = np.zeros((1, 36, 36, 4), np.uint8)
    small[0, 2:10, 20:28] = 255  # an 8×8 square in a corner
    out = crop_to_content(small)[0]
    assert out[..., 3].mean() > 200  # it now fills the frame
    blank = np.zeros((1, 36, 36, 4), np.uint8)
    assert np.array_equal(crop_to_content(blank), blank)
    assert crop_to_content(twemoji.images[:0]).shape == (0, 36, 36, 4)


def test_training_is_deterministic_and_round_trips(tmp_path, twemoji):
    images = twemoji.images[:16]
    a = train_look_encoder(images, TINY, seed=3)
    b = train_look_encoder(images, TINY, seed=3)
    za, zb = a.embed(images), b.embed(images)
    assert za.shape == (16, 8) and np.allclose(np.linalg.norm(za, axis=1), 1, atol=1e-5)
    assert np.array_equal(za, zb)
    a.save_pretrained(tmp_path / "look")
    back = LookEncoder.from_pretrained(tmp_path / "look")
    assert back.config == TINY and np.allclose(back.embed(images), za, atol=1e-6)
    assert a.embed(images[:0]).shape == (0, 8)


def test_training_teaches_it_what_stays_the_same(twemoji):
    """Trained, the encoder finds a drawing from an "other artist" view of it far more often
    than the same network untrained."""
    images = twemoji.images[::40][:64]
    config = dataclasses.replace(TINY, dim=16, epochs=25, batch_size=32)
    trained = train_look_encoder(images, config, seed=0)
    torch.manual_seed(0)
    untrained = LookEncoder(config, type(trained.net)(config))
    x = torch.from_numpy(crop_to_content(images)).permute(0, 3, 1, 2).float() / 255
    views = (augment(x, torch.Generator().manual_seed(9)).permute(0, 2, 3, 1) * 255).round()
    views = views.clamp(0, 255).to(torch.uint8).numpy()

    def found(enc: LookEncoder) -> float:
        sims = enc.embed(views, cropped=True) @ enc.embed(images).T
        return float(np.mean(sims.argmax(1) == np.arange(len(images))))

    assert found(trained) > found(untrained) + 0.2


def test_bad_input_and_corrupt_folders(tmp_path, twemoji):
    with pytest.raises(TrainingError, match="at least 2"):
        train_look_encoder(twemoji.images[:1], TINY)
    with pytest.raises(TrainingError, match="at least 2"):
        train_look_encoder(np.zeros((4, 36, 36, 3), np.uint8), TINY)
    with pytest.raises(ModelLoadError, match="not found"):
        LookEncoder.from_pretrained(tmp_path / "nothing")
    train_look_encoder(twemoji.images[:4], TINY).save_pretrained(tmp_path / "look")
    (tmp_path / "look" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError):
        LookEncoder.from_pretrained(tmp_path / "look")


def test_train_ranker_adds_a_look_encoder_that_the_ranker_uses(tmp_path, twemoji):
    torch.manual_seed(0)
    vae = VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8)))
    cfg = tiny_ranker_config(latent_stats="all", lookalike_k=1, lookalike_learned=0.5,
                             look_epochs=3)
    train, val = load_airline("train")[:48], load_airline("val")[:16]
    r = train_ranker(cfg, train, val, tmp_path, vae=vae, glove=False, progress=False,
                     log=lambda s: None)
    assert (tmp_path / "model" / "look" / "config.json").is_file()
    assert json.loads((tmp_path / "look" / "trained_on.json").read_text())["n_images"] == 3
    back = EmojiRanker.from_pretrained(tmp_path)
    assert back.look is not None
    feats = back.look_features(twemoji.images[:5])
    assert feats.shape == (5, 1620 + back.look.config.dim)
    assert np.allclose(feats, r.look_features(twemoji.images[:5]), atol=1e-5)
    idx, w = back.lookalikes(back.answers.images, k=1)
    assert idx[:, 0].tolist() == [0, 1, 2]  # each drawing is its own look-alike
    assert back._lookalike_ref[1].shape[1] == 1620 + back.look.config.dim
    # the cached references follow the settings: pixels alone once the weight is 0
    back.config = dataclasses.replace(back.config, lookalike_learned=0.0)
    back.lookalikes(back.answers.images[:1])
    assert back._lookalike_ref[1].shape[1] == 1620
    # ... and the encoder itself: kept while nothing changes, rebuilt for another encoder
    back.config = dataclasses.replace(back.config, lookalike_learned=0.5)
    back.lookalikes(back.answers.images[:1])
    built = back._lookalike_ref
    back.lookalikes(back.answers.images[:1])
    assert back._lookalike_ref is built
    back.look = copy.deepcopy(back.look)
    back.lookalikes(back.answers.images[:1])
    assert back._lookalike_ref is not built
    # a resumed run reuses the finished encoder instead of training it again
    said: list[str] = []
    train_ranker(cfg, train, val, tmp_path, vae=vae, glove=False, progress=False,
                 resume=True, log=said.append)
    assert any("reusing" in s for s in said)
    # a folder whose config asks for the encoder but lacks it is refused, clearly
    import shutil

    shutil.rmtree(tmp_path / "model" / "look")
    with pytest.raises(ModelLoadError, match="look"):
        EmojiRanker.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="lookalike_learned"):
        RankerConfig.named("default", lookalike_learned=-1)
    with pytest.raises(ConfigError, match="look_epochs"):
        RankerConfig.named("default", look_epochs=0)
