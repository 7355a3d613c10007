"""Contrastive losses on hand-computed cases, and the negatives they may use."""

from __future__ import annotations

import math

import pytest
import torch

from emojiqa import losses


def test_seed_hinge_hand_values():
    pos = torch.tensor([0.9, 0.5, 0.1])
    neg = torch.tensor([0.8, 0.1, 0.6])
    # max(0, 0.2 - pos + neg): 0.1, 0 (0.2 - 0.5 + 0.1 < 0), 0.7
    assert torch.allclose(losses.hinge_loss(pos, neg, 0.2), torch.tensor([0.1, 0.0, 0.7]))


def test_hinge_over_k_and_masked():
    pos = torch.tensor([0.5])
    neg = torch.tensor([[0.6, 0.0, 0.4]])
    # per negative: 0.3, 0, 0.1 → mean 0.4 / 3
    assert torch.allclose(losses.hinge_loss(pos, neg), torch.tensor([0.4 / 3]))
    mask = torch.tensor([[True, False, False]])
    assert torch.allclose(losses.hinge_loss(pos, neg, neg_mask=mask), torch.tensor([0.3]))


def test_info_nce_hand_value_and_mask():
    cos = torch.tensor([[0.5, 0.0, -0.5]])
    t = 0.5
    want = -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(0.0) + math.exp(-1.0)))
    got = losses.info_nce(cos, torch.tensor([0]), temperature=t)
    assert got.item() == pytest.approx(want, rel=1e-5)
    allowed = torch.tensor([[False, False, True]])  # answer 1 is a variant of the positive
    want = -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(-1.0)))
    got = losses.info_nce(cos, torch.tensor([0]), temperature=t, allowed=allowed)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_soft_cross_entropy_hand_value_and_renormalised_rows():
    cos = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    # row 1: one-hot = InfoNCE; row 2: half/half of equal logits = log 2; rows not summing
    # to 1 (cut to the answers of a step) are renormalised
    got = losses.soft_cross_entropy(cos, torch.tensor([[2.0, 0.0], [0.3, 0.3]]), 1.0)
    want = torch.tensor([math.log(1 + math.exp(-1.0)), math.log(2.0)])
    torch.testing.assert_close(got, want)


def test_negatives_never_the_positive_or_its_variants():
    base_ids = torch.tensor([0, 0, 1, 2, 2])  # answers 0/1 and 3/4 are skin-tone variants
    targets = torch.tensor([0, 3, 2])
    allowed = losses.negative_mask(targets, base_ids)
    assert allowed.tolist() == [[False, False, True, True, True],
                                [True, True, True, False, False],
                                [True, True, False, True, True]]
    g = torch.Generator().manual_seed(0)
    idx = losses.sample_negatives(allowed, 200, g)
    for b in range(3):
        assert allowed[b, idx[b]].all()


def test_hard_negative_weights_prefer_neighbours():
    z = torch.tensor([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0]])
    w = losses.hard_negative_weights(z, temperature=0.1)
    assert w[0, 0] == 0 and w[0, 1] > w[0, 2]


def test_ranking_loss_dispatch():
    cos = torch.tensor([[0.9, 0.8, 0.0]])
    y = torch.tensor([0])
    allowed = losses.negative_mask(y, torch.arange(3))
    h = losses.ranking_loss("hinge_all", cos, y, allowed, margin=0.2)
    assert torch.allclose(h, torch.tensor([(0.1 + 0.0) / 2]))
    g = torch.Generator().manual_seed(0)
    assert losses.ranking_loss("hinge", cos, y, allowed, generator=g).shape == (1,)
    assert losses.ranking_loss("infonce", cos, y, allowed).shape == (1,)
    with pytest.raises(ValueError, match="unknown loss"):
        losses.ranking_loss("nope", cos, y, allowed)
