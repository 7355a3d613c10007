"""Metrics arithmetic on hand cases, and the plots."""

from __future__ import annotations

import numpy as np
import pytest

from emojiqa.metrics import classification_report, plot_confusion, plot_history, seed_hinge


def test_report_hand_case():
    y = np.array([0, 0, 1, 2])
    s = np.array([[0.9, 0.1, 0.0],   # right
                  [0.2, 0.8, 0.1],   # wrong: truth rank 2
                  [0.1, 0.7, 0.2],   # right
                  [0.5, 0.4, 0.1]])  # wrong: truth rank 3
    r = classification_report(y, s, ["a", "b", "c"], ks=(1, 2))
    assert r["accuracy"] == 0.5
    assert r["mrr"] == pytest.approx((1 + 0.5 + 1 + 1 / 3) / 4)
    assert r["recall@2"] == 0.75
    # a: P 1/2 R 1/2 F 1/2; b: P 1/2 R 1 F 2/3; c: P 0 R 0 F 0
    assert r["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert r["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert r["per_class"]["c"]["support"] == 1


def test_seed_hinge_two_answers():
    s = np.array([[0.9, 0.8], [0.1, 0.5]])
    y = np.array([0, 1])
    assert seed_hinge(s, y, 0.2) == pytest.approx((0.1 + 0.0) / 2)


def test_plots(tmp_path):
    y = np.array([0, 1])
    r = classification_report(y, np.eye(2), ["🎉", "😡"])
    r["candidates"] = ["1f389", "1f621"]
    p = plot_confusion(r, tmp_path / "cm.png")
    assert p.read_bytes()[:4] == b"\x89PNG"
    p = plot_history({"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, tmp_path / "l.png")
    assert p.read_bytes()[:4] == b"\x89PNG"
