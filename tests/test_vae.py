"""The VAE: shapes, finite codes, save/load, determinism, input validation, bundled model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emojiqa.errors import ConfigError, ImageError, ModelLoadError
from emojiqa.vae import VAE, VAEConfig

TINY = dict(image_size=8, latent_dim=4, filters=(4, 8))


def tiny(name: str = "default", **kw) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig.named(name, **{**TINY, **kw}))


def test_named_configs():
    seed = VAEConfig.named("seed")
    assert seed.lr == 3e-3 and seed.batch_size == 16 and seed.dropout == 0.8
    assert VAE(seed).num_parameters() == 2_897_124  # the Keras model's count
    default = VAEConfig.named("default")
    assert VAE(default).num_parameters() < 600_000
    with pytest.raises(ConfigError, match="unknown VAE config"):
        VAEConfig.named("huge")
    with pytest.raises(ConfigError, match="not divisible"):
        VAEConfig.named("default", image_size=9)
    with pytest.raises(ConfigError, match="VAEConfig.beta must be a finite number, got nan"):
        VAEConfig.named("default", beta=float("nan"))
    with pytest.raises(ConfigError, match="VAEConfig.latent_dim must be a whole number"):
        VAEConfig.named("default", latent_dim="16")
    assert seed.logvar_bound is None and VAEConfig.named("default", name="mine").name == "mine"


@pytest.mark.parametrize("name", ["seed", "default"])
def test_shapes_and_finite_mu(name):
    vae = tiny(name, filters=(4, 4, 4) if name == "seed" else (4, 8))
    x = torch.rand(3, 4, 8, 8)
    out = vae(x)
    assert out.recon.shape == (3, 4, 8, 8) and out.mu.shape == (3, 4)
    assert 0 <= out.recon.min() and out.recon.max() <= 1
    losses = vae.loss(x, out)
    assert {"total", "recon", "kl", "nelbo", "seed_loss"} <= set(losses)
    assert torch.isfinite(losses["total"])
    codes = vae.embed(np.random.default_rng(0).integers(0, 256, (5, 8, 8, 4), dtype=np.uint8))
    assert codes.shape == (5, 4) and codes.dtype == np.float32 and np.isfinite(codes).all()
    assert vae.decode_images(codes).shape == (5, 8, 8, 4)


def test_logvar_is_bounded():
    vae = tiny()
    with torch.no_grad():
        vae.to_logvar.bias.fill_(1e6)
    _, logvar = vae.encode(torch.rand(2, 4, 8, 8))
    assert logvar.max() <= vae.config.logvar_bound


def test_embed_is_deterministic_mu_and_sample_is_seeded():
    vae = tiny()
    imgs = np.full((2, 8, 8, 4), 128, np.uint8)
    np.testing.assert_array_equal(vae.embed(imgs), vae.embed(imgs))
    a = vae.sample(3, generator=torch.Generator().manual_seed(1))
    b = vae.sample(3, generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 8, 8, 4) and a.dtype == np.uint8
    assert vae.sample(0).shape == (0, 8, 8, 4)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="whole number"):
            vae.sample(bad)


def test_save_load_identical(tmp_path):
    vae = tiny()
    vae.save_pretrained(tmp_path / "m")
    back = VAE.from_pretrained(tmp_path / "m", device="cpu")
    assert back.config == vae.config
    z = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    np.testing.assert_array_equal(back.decode_images(z), vae.decode_images(z))
    vae.save_pretrained(tmp_path / "h", half=True)
    half = VAE.from_pretrained(tmp_path / "h", device="cpu")
    assert next(half.parameters()).dtype == torch.float32


def test_bad_inputs_say_what_to_do():
    vae = tiny()
    with pytest.raises(ImageError, match="shape"):
        vae.embed(np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(ImageError, match="uint8"):
        vae.embed(np.zeros((1, 8, 8, 4), np.float32))
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        vae.encode(torch.full((1, 4, 8, 8), 255.0))
    with pytest.raises(ValueError, match="shape"):
        vae.decode_images(np.zeros((2, 3), np.float32))


def test_missing_or_truncated_model_file(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        VAE.from_pretrained(tmp_path / "nope")
    tiny().save_pretrained(tmp_path / "m")
    w = tmp_path / "m" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match="truncated"):
        VAE.from_pretrained(tmp_path / "m")
    w.unlink()
    with pytest.raises(ModelLoadError, match="not found"):
        VAE.from_pretrained(tmp_path / "m")


def test_bundled_model_codes_are_finite(twemoji):
    vae = VAE.from_pretrained(device="cpu")
    assert vae.config.latent_dim == 16
    codes = vae.embed(twemoji.subset(range(0, len(twemoji), 50)))
    assert np.isfinite(codes).all()
