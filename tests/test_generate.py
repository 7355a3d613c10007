"""Generation: seed grids, interpolation, blends, latent arithmetic, nearest known emoji."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emojiqa import EmojiSet
from emojiqa import generate as G
from emojiqa.errors import EmojiNotFoundError
from emojiqa.vae import VAE, VAEConfig


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VAE(VAEConfig.named("default", filters=(4, 8, 8)))


@pytest.fixture(scope="module")
def small(twemoji):
    return twemoji.filter(groups=["animals-nature"])


def test_grid_codes_follow_the_seed():
    assert G.grid_code("A", 1, 2) == [1] * 8 + [2] * 8
    assert G.grid_code("B", 1, 2) == [1, 2] * 8
    assert G.grid_code("C", 1, 2) == [1, 1, 2, 2] * 4
    with pytest.raises(ValueError, match="divisible"):
        G.grid_code("C", 0, 0, latent_dim=6)


def test_seed_grid_shape(vae):
    g = G.seed_grid(vae, "B", ticks=3)
    assert g.shape == (9, 36, 36, 4) and g.dtype == np.uint8


def test_interpolate_ends_are_the_reconstructions(vae, small):
    strip = G.interpolate(vae, "🐱", "🐶", steps=4, emojis=small)
    assert strip.shape == (4, 36, 36, 4)
    rec = vae.reconstruct(np.stack([small.image("🐱"), small.image("🐶")]))
    np.testing.assert_array_equal(strip[[0, -1]], rec)


def test_blend_and_arithmetic(vae, small):
    a = G.blend(vae, ["🐱", "🐶"], emojis=small)
    b = G.latent_arithmetic(vae, "🐱 + 🐶", emojis=small)
    np.testing.assert_array_equal(a, b)
    assert G.parse_expression("🐱 + 0.5*🐶 - cat") == [(1.0, "🐱"), (0.5, "🐶"), (-1.0, "cat")]
    with pytest.raises(EmojiNotFoundError, match="not in"):
        G.blend(vae, ["🐱", "no-such-emoji-xyz"], emojis=small)
    with pytest.raises(ValueError, match="weights"):
        G.blend(vae, ["🐱", "🐶"], weights=[1.0], emojis=small)


def test_nearest_known_finds_itself(vae, small):
    idx = G.nearest_known(vae, small.images[:5], small, k=2)
    assert len(idx) == 5 and all(len(r) == 2 for r in idx)
    assert [r[0] for r in idx] == list(range(5))  # a drawing's own code is its nearest
    assert all(r[1] != r[0] for r in idx)
    few = small.subset([0, 1, 2])
    assert [len(r) for r in G.nearest_known(vae, small.images[:2], few, k=10)] == [3, 3]
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="k must be a positive whole number"):
            G.nearest_known(vae, small.images[:1], small, k=bad)


def test_image_files_work_as_items(vae, twemoji, tmp_path, monkeypatch):
    from PIL import Image

    from emojiqa.errors import ImageError

    cat = tmp_path / "my cat.png"  # a drawing of the user's: here, Twemoji's 🐱 saved to a file
    Image.fromarray(twemoji.image("🐱"), "RGBA").save(cat)
    np.testing.assert_array_equal(G.images_of([str(cat), "🐶", cat]),
                                  np.stack([twemoji.image(e) for e in ("🐱", "🐶", "🐱")]))
    np.testing.assert_array_equal(G.interpolate(vae, str(cat), "🐶", steps=3),
                                  G.interpolate(vae, "🐱", "🐶", steps=3))
    monkeypatch.chdir(tmp_path)  # a relative name: the path has no "-" to split the terms at
    np.testing.assert_array_equal(G.latent_arithmetic(vae, "my cat.png + 🤖"),
                                  G.latent_arithmetic(vae, "🐱 + 🤖"))
    with pytest.raises(ImageError, match="not found"):
        G.blend(vae, [str(tmp_path / "missing.png"), "🐶"])
    with pytest.raises(EmojiNotFoundError):
        G.blend(vae, ["no such emoji name", "🐶"])


def test_images_work_as_items(vae):
    img = np.zeros((36, 36, 4), np.uint8)
    assert G.interpolate(vae, img, img, steps=2).shape == (2, 36, 36, 4)
    es = EmojiSet.from_arrays(np.zeros((2, 36, 36, 4), np.uint8))
    assert G.blend(vae, ["gen-0", "gen-1"], emojis=es).shape == (36, 36, 4)
