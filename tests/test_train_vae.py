"""The VAE training loop: outputs, resume equals uninterrupted, NaN stop, interruption."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emojiqa import EmojiSet
from emojiqa.errors import TrainingError
from emojiqa.train_vae import train_vae
from emojiqa.vae import VAE, VAEConfig

CFG = VAEConfig.named("default", image_size=8, latent_dim=4, filters=(4, 8), batch_size=8,
                      kl_warmup_epochs=0.5)


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (40, 8, 8, 4), dtype=np.uint8)
    es = EmojiSet([f"k{i}" for i in range(40)], imgs, style="tiny")
    return es.subset(range(32)), es.subset(range(32, 40))


def weights(vae: VAE) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in vae.state_dict().items()}


def test_outputs_and_metrics(tmp_path, sets):
    vae = train_vae(CFG, *sets, tmp_path, epochs=2, progress=False, log=lambda m: None)
    for f in ("losses.png", "reconstructions.png", "samples.png", "metrics.json",
              "checkpoint.pt", "model/config.json", "model/model.safetensors"):
        assert (tmp_path / f).is_file(), f
    h = json.loads((tmp_path / "metrics.json").read_text())["history"]
    for k in ("train_recon", "train_kl", "val_recon", "val_kl", "val_nelbo", "val_seed_loss"):
        assert len(h[k]) == 2
    assert isinstance(vae, VAE)


def test_resume_equals_uninterrupted(tmp_path, sets):
    full = train_vae(CFG, *sets, tmp_path / "a", epochs=3, progress=False, log=lambda m: None,
                     images=False)
    with pytest.raises(KeyboardInterrupt):  # interrupted mid-epoch 2, as by Ctrl-C
        train_vae(CFG, *sets, tmp_path / "b", epochs=3, progress=False, log=lambda m: None,
                  stop_after_steps=6, images=False)
    resumed = train_vae(CFG, *sets, tmp_path / "b", epochs=3, resume=True, progress=False,
                        log=lambda m: None, images=False)
    a, b = weights(full), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_with_clear_error(tmp_path, sets):
    cfg = VAEConfig.named("default", image_size=8, latent_dim=4, filters=(4, 8), lr=1e30,
                          logvar_bound=None, free_bits=0.0)
    kept = "training stopped.*(last good model|No model was saved yet)"
    with pytest.raises(TrainingError, match=kept):
        train_vae(cfg, *sets, tmp_path, epochs=50, progress=False, log=lambda m: None,
                  images=False)


def test_empty_or_unwritable(tmp_path, sets):
    with pytest.raises(TrainingError, match="need training"):
        train_vae(CFG, sets[0].subset([]), sets[1], tmp_path, epochs=1, progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrainingError, match="cannot write"):
        train_vae(CFG, *sets, blocker / "out", epochs=1, progress=False)
