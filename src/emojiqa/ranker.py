"""The Siamese question–answer ranker: how well does an emoji answer a text?

A text goes through a *text tower* (GloVe words → BiLSTM / CNN / attention, optionally with a
bag of hashed n-grams, or MiniLM sentence vectors) and a projection; an emoji goes through an
*answer tower* over its VAE code μ (standardised with statistics stored in the model — the
seed's ``scale``) or over its 36×36 RGBA pixels. Emojis seen in training also get a learned
per-emoji correction added to that code; new emojis fall back to the tower alone. Both sides
then pass through one *shared tower* (the seed: Dense 100 → 50 → 10; ``default``: one
Dense 256 → 64; tanh last) and are compared by cosine.

The ``seed`` config reproduces the 2017 notebook, bug included: its answer tower was meant to
be Dense(64) → Dense(10) but the second line overwrote the first, so it is one Dense(10, ReLU)
(``answer_hidden=()``). The ``default`` config fixes it (``answer_hidden=(64,)``).

Example:
    >>> ranker = EmojiRanker.from_pretrained()  # doctest: +SKIP
    >>> [r.emoji for r in ranker.rank("I just got the job!!", top_k=3)]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, overload

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .emojis import (
    STYLES,
    EmojiSet,
    RankedEmoji,
    check_rank_args,
    group_tuple,
    info_for,
    reorder_places,
    select_candidates,
    to_chw_float,
)
from .errors import ConfigError, ModelLoadError
from .keywords import DEFAULT_KEYWORD_WEIGHT, KeywordIndex, explain_ranking
from .look import crop_to_content
from .recipes import BUNDLED_DIR, model_folder, use_precomputed_vectors
from .storage import check_field_types, read_json, read_model_folder, write_model_folder
from .text import Tokenizer, ngram_batch, validate_text, validate_texts
from .towers import (
    AttentionTower,
    BiLSTMTower,
    CNNTower,
    MiniLMEncoder,
    MiniLMTower,
    minilm_encoder,
)

MODEL_TYPE = "ranker"
PRETRAINED_DIR = BUNDLED_DIR
TEXT_TOWERS = ("bilstm", "cnn", "attention", "bag", "minilm")
ANSWER_TOWERS = ("latent", "pixels")
LOSSES = ("hinge", "hinge_all", "infonce")
NGRAM_WEIGHTINGS = ("mean", "idf")
#: The named configs (:meth:`RankerConfig.named`).
CONFIG_NAMES = ("seed", "default", "default-wide", "distilled", "minilm", "minilm-ft",
                "minilm-ft-wide")


@dataclass(frozen=True)
class RankerConfig:
    """Every size and training setting of a ranker (kept as ``ranker.config``).

    Attributes:
        name: ``seed``, ``default`` or a user's name.
        text_tower: ``bilstm`` (the seed), ``cnn``, ``attention``, ``bag`` (n-grams only) or
            ``minilm`` (all-MiniLM-L6-v2, optional extra; frozen unless
            ``minilm_finetune``).
        minilm_finetune: train MiniLM's own weights with the rest (``minilm`` tower only);
            the model folder then holds the fine-tuned copy (about 45 MB in float16).
        minilm_lr / minilm_max_len: its learning rate, and the word pieces a text keeps.
        num_words: tokenizer vocabulary (Keras ``num_words``; the seed: 2,000).
        max_len: tokens per text, pre-padded / pre-truncated (the seed: 20).
        embed_dim: word-vector size (GloVe 6B 50-d bundled; the seed used 100-d).
        embed_trainable: fine-tune the word vectors (the seed: yes).
        lstm_hidden / pool: the seed's BiLSTM(50) and MaxPool1D(10).
        conv_channels / conv_kernels: the ``cnn`` and ``attention`` towers.
        ngram_buckets: hashed word/char n-gram bag size (0 = no bag).
        ngram_dim / word_ngrams / char_ngrams: the bag's vector size and n-gram ranges.
        ngram_lr_scale: the n-gram table's learning rate is ``lr * ngram_lr_scale``.
        ngram_weighting: how a text's n-gram vectors are pooled: ``mean`` (fastText) or
            ``idf`` (each occurrence weighted by its bucket's inverse document frequency over
            the training texts, the weights L2-normalised per text: a linear layer over the
            text's TF-IDF vector, as TF-IDF + logistic regression sees it).
        side_dim: size of each side before the shared tower (the seed: 10).
        answer_tower: ``latent`` (VAE μ) or ``pixels`` (small CNN over RGBA).
        answer_hidden: hidden Dense sizes of the latent tower (the seed, bug kept: ``()``).
        pixel_channels: conv channels of the pixel tower.
        pixel_init_from_vae: copy matching conv weights from the VAE encoder.
        latent_stats: standardise μ over the ``answers`` (the seed) or ``all`` emojis.
        known_emojis: learn a per-emoji correction for emojis seen in training.
        known_dropout: probability that an answer is scored without its correction in a
            training step (per answer, per step), so the drawing alone must also rank it
            well: without it the corrections learn every answer and the drawing path, the
            only one an emoji never seen in training has, learns nothing.
        lookalike_k / lookalike_temperature: an emoji with no correction of its own (never
            seen in training, or a seen emoji's new drawing) borrows the corrections of the
            ``lookalike_k`` training drawings it looks most like (cosine of centred RGBA pixels
            at 18×18 and 9×9, cropped to the drawing), softmax-weighted at this
            temperature; 0 scores it from its pixels alone. Used at inference only.
        lookalike_styles: bundled styles whose drawings of the answers are also look
            references (the styles the model trained on besides the answer table's own
            drawings; a drawing in one of those styles then finds its emoji).
        lookalike_learned: weight of a learned look code (:mod:`emojiqa.look`, the model
            folder's ``look/``) next to the pixel features when comparing looks; 0 compares
            pixels alone. The recipes train the encoder on the answer table's drawings.
        look_epochs: training epochs of that look encoder (:class:`~emojiqa.look.LookConfig`).
        shared_dims: the shared tower (the seed: 100, 50, 10; tanh on the last).
        dropout: dropout on each side's features (training only).
        loss / margin / num_negatives / temperature / hard_negatives: see :mod:`losses`.
        max_answers_per_step: with the pixel tower, score at most this many answers per step
            (the batch's positives plus random others); the latent tower uses the whole table.
        class_balance: weight examples by (answer frequency) ** -class_balance.
        lr / weight_decay / clipnorm / batch_size / epochs: optimisation (Adam; clipnorm
            clips each gradient tensor, as Keras does).
        min_epoch_steps: on little data, batches shrink (to no fewer than 8 texts) so that an
            epoch has at least this many steps (``default``: 16; 0 keeps ``batch_size``
            whatever the data): 250 texts in batches of 256 are one step an epoch, and early
            stopping ends such a run before it has learned much (see
            :func:`emojiqa.train_ranker.epoch_batch_size`).
        patience: early stopping after this many epochs without val improvement; 0 trains
            every epoch and keeps the last (the seed).
        early_stop: ``loss`` (val loss) or ``macro_f1`` (val macro-F1 over the answer table).
        plateau_lr: after an epoch without val improvement (and before ``patience`` stops
            the run), go back to the best weights so far and go on at the learning rates
            times this factor; 1.0 goes on from the last weights at the same rates.
        ema: keep an exponential moving average of the trainable weights and validate,
            keep and ship it instead of the weights as trained (0.0). Its decay per step is
            ``min(ema, (1 + t) / (10 + t))`` after ``t`` steps (TensorFlow's warm-up), so a
            short run averages over its last tenth or so and a long one over about
            ``1 / (1 - ema)`` steps.
        emoji_style: bundled style of the default candidate set.
        wide_buckets: hash buckets of each block of the wide head (:mod:`emojiqa.wide`: a
            converged linear model over the text's n-grams, fitted after the towers, whose
            log-probability is added to an answer's cosine at a weight chosen on val);
            0: no wide head.
        wide_l2 / wide_iters: its L2 penalty and L-BFGS iterations.
        wide_mixes: the weights of its log-probability next to the cosine, one chosen on
            val (the first without val).
        wide_max_features: the wide head keeps only this many n-grams, the most frequent in
            training (a bound on its size); 0: all.
        wide_sources: fit the wide head on the training texts of these sources only
            (``Example.source``, e.g. ``("tweeteval", "airline")``): it then knows only
            their emojis and moves score among those alone (see :meth:`EmojiRanker.head_term`);
            empty: every training text, the whole answer table.
        memory_k: neighbours of the memory (:mod:`emojiqa.memory`: the training texts
            nearest a text, by TF-IDF cosine, vote for their answers; the log of the votes
            is added to an answer's cosine at a weight chosen on val); 0: no memory.
        memory_max_df: the memory leaves out n-grams found in more than this share of the
            training texts.
        refit_heads: once the heads' weights next to the cosine are chosen on val, fit the
            wide head and the memory again on train + val, keeping those weights, so the
            heads finally learn from every labelled text (needs a head).
        distill_teachers: train this many copies of the towers first (other seeds, no heads,
            each kept in ``<out>/teachers/<k>``), then the model itself against the softmax
            of their mean cosine over the answer table as well as the true answers (knowledge
            distillation of an ensemble into one model: the ensemble's quality at one model's
            cost at inference, for ``1 + distill_teachers`` times the training); 0: none.
        distill_weight: share of the teachers' soft answers in the loss (the rest is
            ``loss`` on the true answers).
        distill_temperature: temperature of the softmax over the teachers' mean cosine.
        teacher_config: a named config (:meth:`named`, e.g. ``"minilm-ft"``) trained first
            on the same data and seed (in ``<out>/teachers/<name>``) whose soft answers then
            teach this model beside any ``distill_teachers`` — a slow, strong model distilled
            into fast towers by one training command; empty: none.
    """

    #: Fields added after the first release, with the value that reproduces how a model saved
    #: before them was trained: a folder without them loads with these
    #: (:func:`~emojiqa.storage.config_from_dict`).
    ADDED_FIELDS: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"ngram_lr_scale": 1.0, "ngram_weighting": "mean", "known_dropout": 0.0,
         "lookalike_k": 0, "lookalike_temperature": 0.02, "lookalike_styles": (),
         "lookalike_learned": 0.0, "look_epochs": 30, "minilm_finetune": False,
         "minilm_lr": 5e-5, "minilm_max_len": 64, "wide_buckets": 0, "wide_l2": 5e-6,
         "wide_iters": 150, "plateau_lr": 1.0, "ema": 0.0, "memory_k": 0,
         "memory_max_df": 0.01, "refit_heads": False, "wide_max_features": 0,
         "wide_sources": (), "wide_mixes": (0.2, 0.0, 0.05, 0.1, 0.4, 0.8),
         "min_epoch_steps": 0, "distill_teachers": 0, "distill_weight": 0.9,
         "distill_temperature": 0.15, "teacher_config": ""})

    name: str = "default"
    text_tower: str = "attention"
    num_words: int = 20000
    max_len: int = 30
    embed_dim: int = 50
    embed_trainable: bool = True
    minilm_finetune: bool = False
    minilm_lr: float = 5e-5
    minilm_max_len: int = 64
    lstm_hidden: int = 50
    pool: int = 10
    conv_channels: int = 64
    conv_kernels: tuple[int, ...] = (2, 3, 4)
    ngram_buckets: int = 16384
    ngram_dim: int = 32
    word_ngrams: int = 2
    char_ngrams: tuple[int, int] = (2, 5)
    ngram_lr_scale: float = 10.0
    ngram_weighting: str = "idf"
    side_dim: int = 256
    answer_tower: str = "latent"
    answer_hidden: tuple[int, ...] = (64,)
    pixel_channels: tuple[int, ...] = (32, 64, 64)
    pixel_init_from_vae: bool = False
    latent_stats: str = "all"
    known_emojis: bool = True
    known_dropout: float = 0.0
    lookalike_k: int = 0
    lookalike_temperature: float = 0.02
    lookalike_styles: tuple[str, ...] = ()
    lookalike_learned: float = 0.0
    look_epochs: int = 30
    shared_dims: tuple[int, ...] = (64,)
    dropout: float = 0.2
    loss: str = "infonce"
    margin: float = 0.2
    num_negatives: int = 1
    temperature: float = 0.1
    hard_negatives: bool = False
    max_answers_per_step: int = 512
    class_balance: float = 0.5
    lr: float = 2e-3
    weight_decay: float = 0.0
    clipnorm: float = 1.0
    batch_size: int = 256
    min_epoch_steps: int = 0
    epochs: int = 15
    patience: int = 2
    early_stop: str = "macro_f1"
    plateau_lr: float = 1.0
    ema: float = 0.0
    emoji_style: str = "twemoji"
    wide_buckets: int = 0
    wide_l2: float = 5e-6
    wide_iters: int = 150
    wide_mixes: tuple[float, ...] = (0.2, 0.0, 0.05, 0.1, 0.4, 0.8)
    wide_max_features: int = 0
    wide_sources: tuple[str, ...] = ()
    memory_k: int = 0
    memory_max_df: float = 0.01
    refit_heads: bool = False
    distill_teachers: int = 0
    distill_weight: float = 0.9
    distill_temperature: float = 0.15
    teacher_config: str = ""

    def __post_init__(self) -> None:
        check_field_types(self)
        choices = {"text_tower": TEXT_TOWERS, "answer_tower": ANSWER_TOWERS, "loss": LOSSES,
                   "latent_stats": ("answers", "all"), "early_stop": ("loss", "macro_f1"),
                   "ngram_weighting": NGRAM_WEIGHTINGS}
        for fname, allowed in choices.items():
            if getattr(self, fname) not in allowed:
                raise ConfigError(f"RankerConfig.{fname}={getattr(self, fname)!r} is not "
                                  f"valid; choose one of {', '.join(allowed)}")
        for fname in ("num_words", "max_len", "embed_dim", "side_dim", "batch_size", "epochs"):
            if int(getattr(self, fname)) < 1:
                raise ConfigError(f"RankerConfig.{fname} must be >= 1, got "
                                  f"{getattr(self, fname)}")
        if not self.shared_dims:
            raise ConfigError("RankerConfig.shared_dims needs at least one layer size")
        if self.text_tower == "bilstm" and self.max_len < self.pool:
            raise ConfigError(f"max_len={self.max_len} must be >= pool={self.pool}")
        if self.text_tower == "bag" and self.ngram_buckets < 2:
            raise ConfigError("text_tower='bag' needs ngram_buckets >= 2")
        if not self.lr >= 0 or not self.margin >= 0:  # lr 0 keeps the weights (fine-tuning)
            raise ConfigError(f"RankerConfig.lr and margin must be >= 0, got {self.lr} and "
                              f"{self.margin}")
        if not self.ngram_lr_scale > 0:
            raise ConfigError(f"ngram_lr_scale must be > 0, got {self.ngram_lr_scale}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 < self.plateau_lr <= 1.0:
            raise ConfigError(f"plateau_lr must be in (0, 1], got {self.plateau_lr}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must be in [0, 1), got {self.ema}")
        if not 0.0 <= self.known_dropout < 1.0:
            raise ConfigError(f"known_dropout must be in [0, 1), got {self.known_dropout}")
        bad = [x for x in self.lookalike_styles if x not in STYLES]
        if bad:
            raise ConfigError(f"lookalike_styles {bad} are not bundled styles; choose from "
                              f"{', '.join(STYLES)}")
        if int(self.lookalike_k) < 0 or not self.lookalike_temperature > 0:
            raise ConfigError("lookalike_k must be >= 0 and lookalike_temperature > 0, got "
                              f"{self.lookalike_k} and {self.lookalike_temperature}")
        if not self.lookalike_learned >= 0 or int(self.look_epochs) < 1:
            raise ConfigError(f"lookalike_learned must be >= 0 and look_epochs >= 1, got "
                              f"{self.lookalike_learned} and {self.look_epochs}")
        if self.minilm_finetune and self.text_tower != "minilm":
            raise ConfigError(f"minilm_finetune needs text_tower='minilm', got "
                              f"{self.text_tower!r}")
        if not self.minilm_lr > 0 or int(self.minilm_max_len) < 4:
            raise ConfigError(f"minilm_lr must be > 0 and minilm_max_len >= 4, got "
                              f"{self.minilm_lr} and {self.minilm_max_len}")
        if isinstance(self.wide_sources, str) or not all(
                isinstance(x, str) and x for x in self.wide_sources):
            raise ConfigError(f"wide_sources must be a list of source names, e.g. "
                              f"--set 'wide_sources=[\"tweeteval\"]', got {self.wide_sources!r}")
        if self.wide_buckets:
            self.wide_config()  # checks its settings
        if self.memory_k:
            self.memory_config()
        if self.refit_heads and not (self.wide_buckets or self.memory_k):
            raise ConfigError("refit_heads=True needs a head to refit: set wide_buckets "
                              "(the wide head) or memory_k (the memory)")
        if int(self.distill_teachers) < 0 or not 0.0 < self.distill_weight <= 1.0 or not (
                self.distill_temperature > 0):
            raise ConfigError(f"distill_teachers must be >= 0, distill_weight in (0, 1] and "
                              f"distill_temperature > 0, got {self.distill_teachers}, "
                              f"{self.distill_weight} and {self.distill_temperature}")
        if len(self.char_ngrams) != 2:
            raise ConfigError(f"char_ngrams must be (min, max), got {self.char_ngrams}")
        if self.teacher_config and (self.teacher_config not in CONFIG_NAMES
                                    or RankerConfig.named(self.teacher_config).teacher_config):
            plain = [n for n in CONFIG_NAMES if not RankerConfig.named(n).teacher_config]
            raise ConfigError(f"teacher_config={self.teacher_config!r} is not a config that can "
                              f"teach; choose one of {', '.join(plain)}")

    @classmethod
    def named(cls, name: str, /, **overrides: Any) -> RankerConfig:
        """A named configuration with optional overrides.

        ``seed``: the 2017 notebook (BiLSTM over GloVe, Dense(10) answer tower, hinge with
        one random wrong answer, margin 0.2, Adam 1e-3 clipnorm 1, batch 64, 3 epochs).
        ``default``: GloVe + conv attention pooling + hashed n-gram bag pooled by idf
        (a linear layer over the text's TF-IDF n-grams, the table at 10x the learning rate),
        fixed answer tower, per-emoji corrections, one wide shared layer (256 → 64, tanh)
        instead of the seed's 100 → 50 → 10, InfoNCE over the answer table, class-balanced,
        dropout 0.2, Adam 2e-3, batch 256 (as good as 128 on both tuning splits and a
        third faster per epoch), early stopping on val macro-F1 of the weights' moving
        average (``ema=0.99``), which is kept; trained against the soft answers of three
        teachers of its own kind as well as the true answers (``distill_teachers=3``: four
        trainings in all).
        ``minilm``: ``default`` with frozen all-MiniLM-L6-v2 sentence vectors in place of the
        GloVe tower (the ``minilm`` extra), the n-gram table at the network's learning rate
        (at 10x it overfits beside MiniLM: airline val 75.6 vs 77.0) and batch 128 (the
        settings it was measured with).
        ``minilm-ft-wide``: ``minilm-ft`` with a wide head (:mod:`emojiqa.wide`) over
        2 × 524,288 hashed n-gram buckets: the towers train exactly as ``minilm-ft``'s, then
        the head is fitted (L-BFGS, ~3 minutes on TweetEval on 2 cores), weighed on val and
        fitted again on train + val (``refit_heads``). ``default-wide``: ``default`` with
        the same head, the same way.
        ``distilled``: ``default-wide`` taught by a ``minilm-ft`` model it trains first on
        the same data (``teacher_config``) instead of three copies of itself: MiniLM's
        judgement in GloVe towers with a linear head when answering (needs the ``minilm``
        extra to train, not to answer; the teacher's training is most of the time).
        ``minilm-ft``: ``minilm`` with MiniLM itself fine-tuned (Adam 5e-5 for it, 1e-3 for
        the rest) and no n-gram bag beside it (with the bag: airline val 79.1, without: 80.8),
        batch 32, at most 3 epochs, keeping the best on val macro-F1. About 50 training
        texts/s on 2 CPU cores (4 minutes per airline epoch, 10 per TweetEval epoch).

        Example:
            >>> RankerConfig.named("seed").answer_hidden
            ()
        """
        if name == "seed":
            base = cls(name="seed", text_tower="bilstm", num_words=2000, max_len=20,
                       ngram_buckets=0, ngram_weighting="mean", ngram_lr_scale=1.0,
                       side_dim=10, shared_dims=(100, 50, 10), answer_hidden=(),
                       latent_stats="answers",
                       known_emojis=False, dropout=0.0, loss="hinge", margin=0.2,
                       num_negatives=1, class_balance=0.0, lr=1e-3, clipnorm=1.0,
                       batch_size=64, epochs=3, patience=0, early_stop="loss")
        elif name == "default":
            base = cls(ema=0.99, min_epoch_steps=16, distill_teachers=3)
        elif name == "minilm":  # needs the minilm extra
            base = cls(name="minilm", text_tower="minilm", ngram_lr_scale=1.0, batch_size=128)
        elif name == "minilm-ft":  # needs the minilm extra; no n-gram bag beside it
            base = cls(name="minilm-ft", text_tower="minilm", minilm_finetune=True,
                       ngram_buckets=0, ngram_lr_scale=1.0, batch_size=32, lr=1e-3, epochs=3,
                       patience=1)
        elif name in ("minilm-ft-wide", "default-wide"):
            base = dataclasses.replace(cls.named(name[: -len("-wide")]), name=name,
                                       wide_buckets=524288, refit_heads=True)
        elif name == "distilled":  # needs the minilm extra to train
            base = dataclasses.replace(cls.named("default-wide"), name=name,
                                       distill_teachers=0, teacher_config="minilm-ft")
        else:
            raise ConfigError(f"unknown ranker config {name!r}; choose one of "
                              f"{', '.join(CONFIG_NAMES)}")
        try:
            return dataclasses.replace(base, **overrides)
        except TypeError as exc:
            fields = sorted(f.name for f in dataclasses.fields(cls))
            raise ConfigError(f"{exc}; RankerConfig fields are {fields}") from exc

    def wide_config(self) -> Any:
        """The :class:`~emojiqa.wide.WideConfig` of this config's wide head."""
        from .wide import WideConfig

        return WideConfig(buckets=int(self.wide_buckets), l2=float(self.wide_l2),
                          iters=int(self.wide_iters), mixes=tuple(self.wide_mixes),
                          max_features=int(self.wide_max_features))

    def memory_config(self) -> Any:
        """The :class:`~emojiqa.memory.MemoryConfig` of this config's memory."""
        from .memory import MemoryConfig

        return MemoryConfig(k=int(self.memory_k), max_df=float(self.memory_max_df))


# ------------------------------------------------------------------------------------------
# the network


class PixelTower(nn.Module):
    """A small CNN over RGBA emojis: conv 3×3, then stride-2 4×4 convs, global average pool.

    Input ``(N, 4, 36, 36)`` in [0, 1]; output ``(N, channels[-1])``. The layout mirrors the
    VAE encoder's so its weights can initialise this tower.
    """

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        ch = [int(c) for c in channels]
        layers: list[nn.Module] = [nn.Conv2d(4, ch[0], 3, padding=1), nn.GroupNorm(
            min(8, ch[0]), ch[0]), nn.SiLU()]
        for a, b in zip(ch[:-1], ch[1:], strict=True):
            layers += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.GroupNorm(min(8, b), b),
                       nn.SiLU()]
        self.net = nn.Sequential(*layers)
        self.out_dim = ch[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean((2, 3))  # (N, C)

    def init_from(self, vae: nn.Module) -> int:
        """Copy the VAE encoder's conv weights where shapes match; returns layers copied."""
        ours = [m for m in self.net if isinstance(m, nn.Conv2d)]
        theirs = [m for m in getattr(vae, "encoder", nn.Sequential()).modules()
                  if isinstance(m, nn.Conv2d)]
        n = 0
        for a, b in zip(ours, theirs, strict=False):
            if a.weight.shape == b.weight.shape:
                a.weight.data.copy_(b.weight.data)
                if a.bias is not None and b.bias is not None:
                    a.bias.data.copy_(b.bias.data)
                n += 1
        return n


class RankerNet(nn.Module):
    """Text tower, answer tower, per-emoji corrections and the shared tower.

    Args:
        config: the :class:`RankerConfig`.
        vocab_size: rows of the word-embedding matrix.
        n_answers: size of the answer table (per-emoji corrections).
        latent_dim: size of the VAE code (latent tower).
    """

    latent_mean: torch.Tensor  # buffers of the latent tower (registered in __init__)
    latent_std: torch.Tensor
    bag_idf: torch.Tensor  # the n-gram bag's idf (registered with ngram_weighting="idf")

    def __init__(self, config: RankerConfig, vocab_size: int, n_answers: int,
                 latent_dim: int) -> None:
        super().__init__()
        c = self.config = config
        feat = 0
        self.embedding: nn.Embedding | None = None
        self.tower: nn.Module | None = None
        self.tower_dim = 0  # the word tower's output size
        if c.text_tower in ("bilstm", "cnn", "attention"):
            self.embedding = nn.Embedding(vocab_size, c.embed_dim, padding_idx=0)
            self.embedding.weight.requires_grad_(c.embed_trainable)
            if c.text_tower == "bilstm":
                self.tower = BiLSTMTower(c.embed_dim, c.lstm_hidden, c.max_len, c.pool)
            elif c.text_tower == "cnn":
                self.tower = CNNTower(c.embed_dim, c.conv_channels, c.conv_kernels)
            else:
                self.tower = AttentionTower(c.embed_dim, c.conv_channels)
            self.tower_dim = int(self.tower.out_dim)
            feat += self.tower_dim
        elif c.text_tower == "minilm":
            feat += MiniLMEncoder.dim
        self.minilm = MiniLMTower() if c.minilm_finetune else None
        idf = c.ngram_weighting == "idf"
        self.bag = (nn.EmbeddingBag(c.ngram_buckets, c.ngram_dim, mode="sum" if idf else "mean",
                                    padding_idx=0) if c.ngram_buckets else None)
        if self.bag is not None:
            nn.init.normal_(self.bag.weight, std=0.1)
            feat += c.ngram_dim
        if self.bag is not None and idf:  # per-bucket idf, set from the training texts
            self.register_buffer("bag_idf", torch.ones(c.ngram_buckets))
        self.text_proj = nn.Linear(feat, c.side_dim)
        if c.answer_tower == "latent":
            self.register_buffer("latent_mean", torch.zeros(latent_dim))
            self.register_buffer("latent_std", torch.ones(latent_dim))
            dims = [latent_dim, *c.answer_hidden, c.side_dim]
            self.pixels = None
        else:
            self.pixels = PixelTower(c.pixel_channels)
            dims = [self.pixels.out_dim, *c.answer_hidden, c.side_dim]
        self.answer_mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:],
                                                                         strict=True))
        self.known = nn.Embedding(n_answers, c.side_dim) if c.known_emojis else None
        if self.known is not None:
            nn.init.zeros_(self.known.weight)
        sd = [c.side_dim, *c.shared_dims]
        self.shared = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sd[:-1], sd[1:],
                                                                    strict=True))
        self.drop = nn.Dropout(c.dropout)

    def _shared(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.shared):
            x = layer(x)
            x = torch.tanh(x) if i == len(self.shared) - 1 else F.relu(x)
        return x

    #: Texts per length bucket when a large batch is encoded in eval mode.
    length_bucket: int = 128

    def _token_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` pre-padded token ids → the embedding tower's features.

        In eval mode a large batch of the convolutional towers is cut into buckets of texts of
        similar length, each trimmed to its longest text: the leading columns dropped hold
        only padding, whose word vector is 0, the same zeros the convolution pads with, and
        the masks drop them from the pooling, so the features are those of the whole batch,
        at a fraction of the cost (tweets fill about half of ``max_len`` on average). A small
        batch (and every training batch) is one bucket. The BiLSTM reads the padding, so it
        always sees the whole width.
        """
        embedding, tower = self.embedding, self.tower
        assert embedding is not None and tower is not None, "a config with a word tower"
        mask = tokens != 0
        n = tokens.shape[0]
        if self.config.text_tower == "bilstm" or bool(embedding.weight[0].any()):
            return tower(embedding(tokens), mask)  # padding read (or not 0)
        lengths = mask.sum(1)
        if self.training or n <= self.length_bucket:  # one bucket: trim to the longest text
            width = max(1, int(lengths.max())) if n else tokens.shape[1]
            tokens, mask = tokens[:, -width:], mask[:, -width:]
            return tower(embedding(tokens), mask)
        order = torch.argsort(lengths, descending=True)
        out = torch.empty(n, self.tower_dim, dtype=embedding.weight.dtype,
                          device=tokens.device)
        for start in range(0, n, self.length_bucket):
            idx = order[start:start + self.length_bucket]
            width = max(1, int(lengths[idx[0]]))
            sub = tokens[idx, -width:]
            out[idx] = tower(embedding(sub), sub != 0)
        return out

    def _bag(self, ids: torch.Tensor, offsets: torch.Tensor,
             counts: torch.Tensor | None = None) -> torch.Tensor:
        """Mean of the n-gram vectors of each text (padding id 0 left out; no id: 0), or with
        ``ngram_weighting="idf"`` their sum weighted by ``bag_idf``, the weights of a text
        L2-normalised over its n-gram occurrences.

        ``ids``/``offsets`` as ``nn.EmbeddingBag`` takes them (what :meth:`EmojiRanker.
        text_batch` gives), which computes the mean; with idf, one bag sums the idf-weighted
        vectors and a second the squared idf, whose root each sum is divided by. With
        ``counts`` (training batches, see
        :func:`emojiqa.train_ranker`) each text's ids are sorted and distinct and
        ``counts`` holds how often each occurs; the mean is then a sparse ``(B, buckets)``
        CSR matrix (``count / total`` at each id, 0 at padding) times the table: the same
        values and gradients, and the backward is one sparse-dense product instead of the
        bag's per-id bookkeeping (2–3× faster on CPU).
        """
        bag = self.bag
        assert bag is not None, "a config with an n-gram bag"
        weight = bag.weight
        idf: torch.Tensor | None = getattr(self, "bag_idf", None)
        if counts is None:  # inference
            if idf is None:
                return bag(ids, offsets)
            # two bags, no per-id bookkeeping
            idf = torch.cat([idf.new_zeros(1), idf[1:]])  # padding weighs 0
            norm = F.embedding_bag(ids, (idf * idf)[:, None], offsets, mode="sum")  # (B, 1)
            return bag(ids, offsets, per_sample_weights=idf[ids]) / norm.sqrt().clamp(
                min=1e-12)
        n = offsets.numel()
        ends = torch.cat([offsets, offsets.new_tensor([ids.numel()])])
        seg = torch.repeat_interleave(torch.arange(n, device=ids.device), ends.diff())
        # each id's weight: its count, 0 for padding
        real = counts.to(weight.dtype) * (ids != 0)
        if idf is None:
            total = torch.zeros(n, dtype=weight.dtype, device=ids.device).index_add_(0, seg, real)
            vals = real / total.clamp(min=1)[seg]
        else:  # count * idf, normalised by the L2 norm over occurrences: sqrt(sum count idf^2)
            w = idf[ids]
            norm = torch.zeros(n, dtype=w.dtype, device=ids.device).index_add_(
                0, seg, real * w * w)
            vals = real * w / norm.sqrt().clamp(min=1e-12)[seg]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support.*")
            mean = torch.sparse_csr_tensor(ends, ids, vals,
                                           (n, weight.shape[0]), check_invariants=False)
        return mean @ weight

    def encode_text(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Prepared text batch → ``(B, shared_dims[-1])`` codes (not normalised)."""
        parts = []
        if self.embedding is not None:
            parts.append(self._token_features(batch["tokens"]))
        if "minilm" in batch:
            parts.append(batch["minilm"])  # (B, 384), frozen
        if self.minilm is not None:
            parts.append(self.minilm(batch["minilm_ids"], batch["minilm_mask"]))  # (B, 384)
        if self.bag is not None:
            parts.append(self._bag(batch["bag_ids"], batch["bag_offsets"],
                                   batch.get("bag_counts")))  # (B, ngram_dim)
        x = self.drop(torch.cat(parts, 1))
        return self._shared(F.relu(self.text_proj(x)))  # (B, D)

    def encode_answers(self, inputs: torch.Tensor, known_idx: torch.Tensor | None = None,
                       borrowed: tuple[torch.Tensor, torch.Tensor] | None = None
                       ) -> torch.Tensor:
        """Answer inputs → ``(N, shared_dims[-1])`` codes (not normalised).

        Args:
            inputs: ``(N, latent_dim)`` raw VAE μ, or ``(N, 4, 36, 36)`` pixels in [0, 1].
            known_idx: ``(N,)`` index in the answer table, ``-1`` for emojis never seen in
                training (no correction); ``None`` → no corrections at all.
            borrowed: ``(idx, weights)``, both ``(N, k)``: rows without a correction of their
                own (``known_idx`` -1 or ``None``) add ``Σ weights · correction[idx]``, the
                corrections of the answers they look like.
        """
        if self.pixels is None:
            x = (inputs - self.latent_mean) / self.latent_std  # (N, L), the seed's `scale`
        else:
            x = self.pixels(inputs)  # (N, C)
        for layer in self.answer_mlp:
            x = F.relu(layer(x))
        seen = None
        if self.known is not None and known_idx is not None:
            seen = known_idx >= 0
            corr = self.known(known_idx.clamp_min(0)) * seen[:, None].to(x.dtype)
            x = x + corr
        if self.known is not None and borrowed is not None:
            idx, w = borrowed
            corr = (w.to(x.dtype)[:, :, None] * self.known(idx)).sum(1)  # (N, side)
            if seen is not None:
                corr = corr * (~seen)[:, None].to(x.dtype)
            x = x + corr
        return self._shared(self.drop(x))

    def forward(self, batch: dict[str, torch.Tensor], answer_inputs: torch.Tensor,
                known_idx: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised ``(B, D)`` text codes and ``(N, D)`` answer codes."""
        q = F.normalize(self.encode_text(batch), dim=-1)
        a = F.normalize(self.encode_answers(answer_inputs, known_idx), dim=-1)
        return q, a


# ------------------------------------------------------------------------------------------
# the user-facing ranker


class EmojiRanker:
    """Ranks emojis for texts: a trained :class:`RankerNet` with its tokenizer, answer table
    and VAE.

    Args:
        config: the :class:`RankerConfig`.
        net: the network.
        tokenizer: the fitted :class:`~emojiqa.text.Tokenizer`.
        answer_keys: keys of the emojis seen in training (the answer table), in net order.
        vae: the VAE giving μ (required by the latent tower).
        answer_images: ``uint8 (N, 36, 36, 4)`` images of the answer table.
        look: the learned look encoder (:class:`~emojiqa.look.LookEncoder`) that
            ``config.lookalike_learned`` weighs; None compares looks by pixels alone.
        wide: the fitted wide head (:class:`~emojiqa.wide.WideHead`), or None.
        memory: the memory of training texts (:class:`~emojiqa.memory.Memory`), or None.
    """

    def __init__(self, config: RankerConfig, net: RankerNet, tokenizer: Tokenizer,
                 answer_keys: Sequence[str], vae: Any = None,
                 answer_images: np.ndarray | None = None, look: Any = None,
                 wide: Any = None, memory: Any = None) -> None:
        if config.answer_tower == "latent" and vae is None:
            raise ConfigError("the latent answer tower needs a VAE; pass vae=")
        self.config = config
        self.net = net
        self.tokenizer = tokenizer
        self.answer_keys = list(answer_keys)
        self.answer_index = {k: i for i, k in enumerate(self.answer_keys)}
        self.vae = vae
        self._answer_images = answer_images
        self._emojis: EmojiSet | None = None
        self._ngram_cache: dict = {}
        self._matrix_cache: dict[tuple, tuple[EmojiSet, Any]] = {}  # see _cached
        self._keyword_cache: dict[tuple, tuple[EmojiSet, Any]] = {}
        self._meta_cache: dict[tuple, tuple[EmojiSet, Any]] = {}
        #: Keyword-boost weight :meth:`rank` uses when it is given none (0 turns it off).
        self.keyword_weight: float = DEFAULT_KEYWORD_WEIGHT
        self._answer_set: EmojiSet | None = None
        self._lookalike_ref: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._lookalike_key: tuple = ()  # what _lookalike_ref was built for (identities)
        self.look = look
        self.wide = wide
        self.memory = memory
        self._head_cols: tuple[tuple[str, ...], np.ndarray] | None = None
        self._head_vecs: tuple[tuple[int, ...], np.ndarray] | None = None
        #: ``(style, key → row, vectors)``: stored vectors of one style's emojis (see
        #: :meth:`use_stored_vectors`), or None.
        self._stored: tuple[str, dict[str, int], np.ndarray] | None = None
        self.device = next(net.parameters()).device

    def use_stored_vectors(self, style: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Answer :meth:`encode_emojis` from ``vectors`` (``(N, D)``, unit rows, one per key)
        for a set of ``style`` whose keys are all among ``keys``, asked with the defaults
        (normalised, with the per-emoji corrections, look-alikes as the config says); any
        other request is computed. :meth:`from_pretrained` calls it with the vectors stored
        next to a model (:func:`~emojiqa.recipes.precompute_vectors`), which are what this
        model computes for its own emoji set: ranking it then encodes no drawing. They stand
        for the weights as loaded: to train a loaded model further, load it with
        ``stored_vectors=False``."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} stored vectors")
        self._stored = (str(style), {k: i for i, k in enumerate(keys)}, vectors)
        self._matrix_cache.clear()

    # candidate sets --------------------------------------------------------------------------
    @property
    def emojis(self) -> EmojiSet:
        """The default candidate set: the bundled drawings of ``config.emoji_style``."""
        if self._emojis is None:
            self._emojis = EmojiSet.bundled(self.config.emoji_style)
        return self._emojis

    @property
    def answers(self) -> EmojiSet:
        """The answer table (the emojis seen in training) as an :class:`EmojiSet`."""
        if self._answer_set is None:
            images = self._answer_images
            if images is None:
                es = self.emojis
                images = np.stack([es.image(es.index(k)) for k in self.answer_keys])
            self._answer_set = EmojiSet(self.answer_keys, images, style="answers")
        return self._answer_set

    # inputs ---------------------------------------------------------------------------------
    def text_batch(self, texts: Sequence[str], *, validated: bool = False
                   ) -> dict[str, torch.Tensor]:
        """Tensors the text tower needs for ``texts`` (validated unless ``validated``)."""
        texts = list(texts) if validated else [validate_text(t) for t in texts]
        c = self.config
        batch: dict[str, torch.Tensor] = {}
        words = ([self.tokenizer.words(t) for t in texts]
                 if self.net.embedding is not None or c.ngram_buckets else [])
        if self.net.embedding is not None:
            batch["tokens"] = torch.from_numpy(self.tokenizer.encode_words(words)).to(self.device)
        if self.net.minilm is not None:
            ids, mask = self.net.minilm.tokenize(texts, c.minilm_max_len)
            batch["minilm_ids"], batch["minilm_mask"] = ids.to(self.device), mask.to(self.device)
        elif c.text_tower == "minilm":
            batch["minilm"] = torch.from_numpy(minilm_encoder().embed(texts)).to(self.device)
        if c.ngram_buckets:
            bag_ids, offsets = ngram_batch(texts, words, c.ngram_buckets, c.word_ngrams,
                                           c.char_ngrams, self._ngram_cache)
            batch["bag_ids"] = torch.from_numpy(bag_ids).to(self.device)
            batch["bag_offsets"] = torch.from_numpy(offsets).to(self.device)
        return batch

    def answer_inputs(self, images: np.ndarray) -> torch.Tensor:
        """Answer-tower inputs for ``uint8 (N, 36, 36, 4)`` images: VAE μ or pixels."""
        images = _check_images(images)
        if self.config.answer_tower == "latent":
            return torch.from_numpy(self.vae.embed(images)).to(self.device)  # (N, L)
        return torch.from_numpy(to_chw_float(images)).to(self.device)  # (N, 4, 36, 36)

    def known_index(self, keys: Sequence[str]) -> torch.Tensor:
        """``(N,)`` answer-table index of each key, -1 for keys never seen in training."""
        return torch.tensor([self.answer_index.get(k, -1) for k in keys], dtype=torch.long,
                            device=self.device)

    def lookalikes(self, images: np.ndarray, k: int | None = None, *,
                   temperature: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The answers each image looks most like: ``(idx, weights)``, both ``(N, k)``.

        Looks are compared as the cosine of centred RGBA pixels at 18×18 and 9×9, each drawing
        first cropped to its visible pixels, next to the learned look code weighted by
        ``config.lookalike_learned`` when the model has a look encoder (:meth:`look_features`);
        the references are the answer table's own drawings and those of
        ``config.lookalike_styles`` (an answer drawn in several styles can appear more than
        once). Weights are the softmax of those cosines at
        ``temperature`` (default ``config.lookalike_temperature``). ``k`` defaults to
        ``config.lookalike_k`` (at least 1).

        Example:
            >>> idx, w = ranker.lookalikes(EmojiSet.bundled("noto").images[:2])  # doctest: +SKIP
            >>> [ranker.answer_keys[i] for i in idx[:, 0]]                       # doctest: +SKIP
        """
        settings = (float(self.config.lookalike_learned), tuple(self.config.lookalike_styles))
        key = self._lookalike_key  # (*settings, look encoder, answer set): built for others?
        if (self._lookalike_ref is None or key[:2] != settings or key[2] is not self.look
                or key[3] is not self.answers):
            drawings, owners = [self.answers.images], [np.arange(len(self.answer_keys))]
            for style in self.config.lookalike_styles:
                es = EmojiSet.bundled(style)
                pos = {key: i for i, key in enumerate(es.keys)}
                have = [(a, pos[key]) for a, key in enumerate(self.answer_keys) if key in pos]
                if have:
                    drawings.append(es.images[[i for _, i in have]])
                    owners.append(np.array([a for a, _ in have]))
            ref = self.look_features(np.concatenate(drawings))
            mean = ref.mean(0)
            ref -= mean  # in place: the references are tens of MB
            ref /= np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
            self._lookalike_ref = (mean, ref, np.concatenate(owners))
            self._lookalike_key = (*settings, self.look, self.answers)
        mean, ref, owner = self._lookalike_ref
        k = max(1, min(int(k if k is not None else self.config.lookalike_k), len(ref)))
        sims = _unit(self.look_features(_check_images(images)) - mean) @ ref.T  # (N, R)
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, idx, 1)
        order = np.argsort(-top, axis=1)
        idx, top = np.take_along_axis(idx, order, 1), np.take_along_axis(top, order, 1)
        tau = self.config.lookalike_temperature if temperature is None else temperature
        w = np.exp((top - top[:, :1]) / tau)
        return owner[idx].astype(np.int64), (w / w.sum(1, keepdims=True)).astype(np.float32)

    def look_features(self, images: np.ndarray) -> np.ndarray:
        """The features :meth:`lookalikes` compares: the pixel look features of each drawing
        (cropped to its visible pixels) and, with a look encoder and
        ``config.lookalike_learned`` > 0, its learned look code times that weight.
        Drawings go through in blocks of :data:`LOOK_BLOCK` into one array, which bounds
        the memory taken on the way (the references of all the bundled drawings in three
        styles are about 40 MB of features)."""
        w = float(self.config.lookalike_learned)
        if w > 0 and self.look is None:
            raise ModelLoadError("this ranker's config weighs a learned look code "
                                 f"(lookalike_learned={w}) but it has no look encoder; "
                                 "load it from a folder with look/ or set ranker.look")
        images = np.asarray(images)
        out = None
        for i in range(0, max(len(images), 1), LOOK_BLOCK):
            cropped = crop_to_content(images[i:i + LOOK_BLOCK])
            feats = _look_features(cropped, cropped=True)
            if w > 0:
                feats = np.concatenate([feats, w * self.look.embed(cropped, cropped=True)], 1)
            if out is None:  # one array for all, filled block by block
                out = np.empty((len(images), feats.shape[1]), np.float32)
            out[i:i + LOOK_BLOCK] = feats
        assert out is not None
        return out

    # encoders -------------------------------------------------------------------------------
    @torch.inference_mode()
    def encode_text(self, texts: str | Sequence[str], normalize: bool = True,
                    batch_size: int = 1024, *, validated: bool = False) -> np.ndarray:
        """Text codes ``(N, D)`` float32 (unit length when ``normalize``).

        Example:
            >>> ranker.encode_text(["great flight"]).shape  # doctest: +SKIP
            (1, 10)
        """
        if isinstance(texts, str):
            texts = [texts]
        self.net.eval()
        out = []
        for i in range(0, len(texts), batch_size):
            q = self.net.encode_text(self.text_batch(texts[i:i + batch_size],
                                                     validated=validated))
            out.append(F.normalize(q, dim=-1) if normalize else q)
        if not out:
            return np.zeros((0, self.config.shared_dims[-1]), np.float32)
        return torch.cat(out).float().cpu().numpy()

    @torch.no_grad()
    def encode_emojis(self, emojis: EmojiSet | np.ndarray, normalize: bool = True, *,
                      use_known: bool = True, lookalike: bool | None = None,
                      batch_size: int = 1024) -> np.ndarray:
        """Emoji codes ``(N, D)`` float32 for an :class:`EmojiSet` or ``uint8`` images.

        Args:
            emojis: a set (its keys find the per-emoji corrections of emojis seen in
                training) or bare images (no corrections: treated as new emojis).
            normalize: unit-length rows.
            use_known: add the learned corrections of seen emojis; False scores every emoji
                from its drawing alone, as if it were new.
            lookalike: emojis without a correction of their own borrow those of the answers
                they look like (:meth:`lookalikes`). ``None``: for the rows of a set, when
                ``use_known`` and the config sets ``lookalike_k``; bare images only when
                asked with ``True``.
        """
        if (self._stored is not None and isinstance(emojis, EmojiSet) and normalize
                and use_known and lookalike is None and emojis.style == self._stored[0]):
            row = self._stored[1]
            if all(k in row for k in emojis.keys):
                return self._stored[2][[row[k] for k in emojis.keys]]
        if isinstance(emojis, EmojiSet):
            images, keys = emojis.images, emojis.keys
        else:
            images, keys = _check_images(emojis), None
        if lookalike is None:
            lookalike = use_known and keys is not None and self.config.lookalike_k > 0
        lookalike = bool(lookalike) and self.net.known is not None
        self.net.eval()
        out = []
        for i in range(0, len(images), batch_size):
            x = self.answer_inputs(images[i:i + batch_size])
            known = (self.known_index(keys[i:i + batch_size])
                     if use_known and keys is not None else None)
            borrowed = None
            need = (np.arange(len(x)) if known is None
                    else np.flatnonzero(known.cpu().numpy() < 0))
            if lookalike and len(need):  # only rows without a correction of their own borrow
                found_idx, found_w = self.lookalikes(images[i:i + batch_size][need])
                idx = np.zeros((len(x), found_idx.shape[1]), np.int64)
                w = np.zeros((len(x), found_w.shape[1]), np.float32)  # 0: borrows nothing
                idx[need], w[need] = found_idx, found_w
                borrowed = (torch.from_numpy(idx).to(self.device),
                            torch.from_numpy(w).to(self.device))
            a = self.net.encode_answers(x, known, borrowed)
            out.append(F.normalize(a, dim=-1) if normalize else a)
        if not out:
            return np.zeros((0, self.config.shared_dims[-1]), np.float32)
        return torch.cat(out).float().cpu().numpy()

    def score_images(self, text: str, images: np.ndarray, *, lookalike: bool = False
                     ) -> np.ndarray:
        """Cosine in [-1, 1] of ``text`` with each ``uint8 (N, 36, 36, 4)`` image, scored as
        new emojis: from the pixels alone, or with ``lookalike`` also borrowing the learned
        corrections of the known emojis each image looks like (:meth:`lookalikes`; a model
        without corrections scores the pixels alone either way).

        Example:
            >>> ranker.score_images("so happy", ranker.vae.sample(4)).shape  # doctest: +SKIP
            (4,)
        """
        q = self.encode_text([text])  # (1, D)
        a = self.encode_emojis(np.asarray(images), lookalike=lookalike)  # (N, D)
        return (a @ q[0]).astype(np.float32)

    def answer_scores(self, texts: Sequence[str], *, use_known: bool = True) -> np.ndarray:
        """Scores ``(N_texts, N_answers)`` of texts with the answer table: the cosine, plus
        the wide head's and the memory's terms when the model has them (and ``use_known``)."""
        q = self.encode_text(texts)
        a = self.encode_emojis(self.answers, use_known=use_known)
        s = q @ a.T
        if use_known and self.has_heads:
            s = s + self.head_term(texts, self.answer_keys, q)
        return s

    @property
    def has_heads(self) -> bool:
        """Whether the model has a wide head or a memory (terms added to the cosine)."""
        return self.wide is not None or self.memory is not None

    def head_term(self, texts: Sequence[str], keys: Sequence[str],
                  q: np.ndarray | None = None) -> np.ndarray:
        """What the wide head and the memory add to the cosine of each text and emoji key,
        ``(N, K)`` (zeros without either).

        Each head knows some answers: the memory and a wide head fitted on every training
        text the whole answer table, a wide head with ``wide_sources`` the emojis of those
        sources (:attr:`~emojiqa.wide.WideHead.columns`). The heads reorder the answers they
        know among the places the towers gave them: for each text, the known answers are
        ordered by ``cosine + mix * log p`` (each head that knows an answer adding its term),
        and the i-th of that order takes the i-th best cosine among them. So a classifier
        over the known answers decides by cosine and heads together, while every place in a
        ranking over all emojis stays where the towers put it — the heads never lift their
        emojis over others, nor sink them under others, as a group. Other keys keep their
        cosine (term 0); a key whose base emoji is known counts as known (a skin tone).
        ``q``: the texts' unit codes, when already encoded.
        """
        texts = list(texts)
        if not self.has_heads:
            return np.zeros((len(texts), len(keys)), np.float32)
        n = len(self.answer_keys)
        term = np.zeros((len(texts), n + 1), np.float32)  # the last column: not known
        known = np.zeros(n + 1, bool)
        for h in (self.wide, self.memory):
            if h is not None:
                term[:, h.columns] += h.term(texts)
                known[h.columns] = True
        u = np.flatnonzero(known)
        q = self.encode_text(texts) if q is None else q
        s = q @ self._known_vectors(tuple(u.tolist())).T  # (N, U) the towers' cosines
        term[:, u] = reorder_places(s, term[:, u]) - s
        return term[:, self._head_columns(tuple(keys))]

    def _known_vectors(self, cols: tuple[int, ...]) -> np.ndarray:
        """Unit vectors of the answer-table entries ``cols`` (cached per ``cols``: the towers
        of a model with heads are trained)."""
        if self._head_vecs is None or self._head_vecs[0] != cols:
            keys = [self.answer_keys[i] for i in cols]
            images = np.stack([self.answers.image(i) for i in cols])
            vecs = self.encode_emojis(EmojiSet(keys, images, style="answers"))
            self._head_vecs = (cols, vecs)
        return self._head_vecs[1]

    def _head_columns(self, keys: tuple[str, ...]) -> np.ndarray:
        """For each key its answer-table column, or ``len(answer_keys)`` (none)."""
        from .emojis import info_for

        if self._head_cols is not None and self._head_cols[0] == keys:
            return self._head_cols[1]
        n = len(self.answer_keys)
        col = np.array([self.answer_index.get(k, self.answer_index.get(
            info_for(k).base_key, n)) for k in keys], dtype=np.int64)
        self._head_cols = (keys, col)
        return col

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The best answer-table key for each text."""
        s = self.answer_scores(texts)
        return [self.answer_keys[i] for i in s.argmax(1)]

    # ranking --------------------------------------------------------------------------------
    def emoji_set(self, emojis: EmojiSet | str | os.PathLike[str] | None = None) -> EmojiSet:
        """The emoji set ``emojis`` names: an :class:`EmojiSet` as is, ``None`` the model's own
        set (:attr:`emojis`), ``"answers"`` the answer table, else a bundled style or a folder
        of images (what ``--emojis`` accepts)."""
        if emojis is None:
            return self.emojis
        if isinstance(emojis, str) and emojis == "answers":
            return self.answers
        return EmojiSet.load(emojis)

    def candidates(self, emojis: EmojiSet | str | None = None, *, group_skin_tones: bool = True,
                   skin_tone: int | str | None = None, groups: Sequence[str] | None = None,
                   exclude_groups: Sequence[str] | None = None, use_known: bool = True
                   ) -> tuple[EmojiSet, np.ndarray]:
        """The candidate set and its normalised code matrix ``(N, D)`` (cached)."""
        from .emojis import parse_skin_tone

        es = self.emoji_set(emojis)
        tone = parse_skin_tone(skin_tone)
        gs, xs = group_tuple(groups), group_tuple(exclude_groups)

        def build() -> tuple[EmojiSet, np.ndarray]:
            cand = select_candidates(es, group_skin_tones=group_skin_tones, skin_tone=tone,
                                     groups=gs, exclude_groups=xs)
            return cand, self.encode_emojis(cand, use_known=use_known)

        return _cached(self._matrix_cache, es,
                       (len(es), group_skin_tones, tone, gs, xs, use_known), build)

    @overload
    def rank(  # type: ignore[overload-overlap]
            self, text: str, top_k: int = ..., emojis: EmojiSet | str | None = ..., *,
            group_skin_tones: bool = ..., skin_tone: int | str | None = ...,
            groups: Sequence[str] | None = ..., exclude_groups: Sequence[str] | None = ...,
            use_known: bool = ..., keyword_weight: float | None = ...
            ) -> list[RankedEmoji]: ...

    @overload
    def rank(self, text: Sequence[str], top_k: int = ...,
             emojis: EmojiSet | str | None = ..., *, group_skin_tones: bool = ...,
             skin_tone: int | str | None = ..., groups: Sequence[str] | None = ...,
             exclude_groups: Sequence[str] | None = ..., use_known: bool = ...,
             keyword_weight: float | None = ...) -> list[list[RankedEmoji]]: ...

    def rank(self, text: str | Sequence[str], top_k: int = 5,
             emojis: EmojiSet | str | None = None, *, group_skin_tones: bool = True,
             skin_tone: int | str | None = None, groups: Sequence[str] | None = None,
             exclude_groups: Sequence[str] | None = None, use_known: bool = True,
             keyword_weight: float | None = None
             ) -> list[RankedEmoji] | list[list[RankedEmoji]]:
        """The ``top_k`` emojis answering ``text``, best first (one matmul + top-k).

        Args:
            text: a text, or a list of texts (gives a list of lists).
            top_k: how many emojis per text.
            emojis: candidates: an :class:`EmojiSet`, a bundled style name, a folder of
                images, ``"answers"`` (the answer table) or None (``self.emojis``).
            group_skin_tones: one entry per base emoji (skin-tone variants folded in).
            skin_tone: render grouped emojis in this tone (1–5 or ``light`` … ``dark``).
            groups / exclude_groups: keep / drop CLDR groups (e.g. ``flags``).
            use_known: use the per-emoji corrections of emojis seen in training.
            keyword_weight: weight ``w`` of the keyword boost (:mod:`emojiqa.keywords`): the
                score is ``(1 - w) * cosine + w * keyword_score``, so a text that names an
                emoji ("pizza", "coffee") finds it even where the model knows it poorly.
                ``None``: the ranker's ``keyword_weight`` attribute (default
                :data:`~emojiqa.keywords.DEFAULT_KEYWORD_WEIGHT`); 0: the model's cosine alone.
                A model with a wide head or a memory reorders their emojis among the
                places of their cosines (:meth:`head_term`, with ``use_known``; its term is
                scaled by ``1 - w`` as the cosine is).

        Example:
            >>> ranker.rank("I just got the job!!", top_k=3)  # doctest: +SKIP
            [RankedEmoji(key='1f389', emoji='🎉', name='party popper', score=0.98), ...]
        """
        w = check_rank_args(top_k, self.keyword_weight if keyword_weight is None
                            else keyword_weight)
        single = isinstance(text, str)
        texts = [validate_text(text)] if single else validate_texts(text)
        cand, matrix = self.candidates(emojis, group_skin_tones=group_skin_tones,
                                       skin_tone=skin_tone, groups=groups,
                                       exclude_groups=exclude_groups, use_known=use_known)
        k = min(top_k, len(cand))
        q = (self.encode_text(texts, validated=True) if texts
             else np.zeros((0, matrix.shape[1]), np.float32))
        heads = (self.head_term(texts, cand.keys, q) if use_known and self.has_heads
                 and texts else None)
        out = self.top_of_codes(texts, q, cand, matrix, w, k, heads)
        return out[0] if single else out

    def explain(self, text: str, ranked: Sequence[RankedEmoji],
                emojis: EmojiSet | str | None = None, *, group_skin_tones: bool = True,
                skin_tone: int | str | None = None, groups: Sequence[str] | None = None,
                exclude_groups: Sequence[str] | None = None,
                keyword_weight: float | None = None) -> list[dict[str, Any]]:
        """Each of ``ranked`` (what :meth:`rank` gave for ``text`` with the same arguments)
        taken apart: the model's part of its score, the keyword score and the words of the
        text that named it (:func:`~emojiqa.keywords.explain_ranking`).

        Example:
            >>> found = ranker.rank("pizza night")                       # doctest: +SKIP
            >>> ranker.explain("pizza night", found)[0]                  # doctest: +SKIP
            {'model_score': 0.41, 'keyword_score': 0.89, 'keywords': ['pizza']}
        """
        w = check_rank_args(1, self.keyword_weight if keyword_weight is None
                            else keyword_weight)
        cand, _ = self.candidates(emojis, group_skin_tones=group_skin_tones,
                                  skin_tone=skin_tone, groups=groups,
                                  exclude_groups=exclude_groups)
        return explain_ranking(ranked, validate_text(text), cand, w, self._keyword_index(cand))

    def top_of_codes(self, texts: list[str], q: np.ndarray, cand: EmojiSet,
                     matrix: np.ndarray, w: float, k: int, heads: np.ndarray | None = None
                     ) -> list[list[RankedEmoji]]:
        """The ``k`` best of the candidates ``cand`` for each text, from codes already
        computed: the texts' unit codes ``q`` ``(N, D)`` against the candidates' ``matrix``
        ``(len(cand), D)``, with the keyword boost at weight ``w`` (0: none) and the wide
        head's and memory's ``(N, len(cand))`` term ``heads``. :meth:`rank` is this after
        encoding; :class:`~emojiqa.names.NameMatcher` calls it with its own codes."""
        if w > 0:
            q = q * np.float32(1.0 - w)  # (1 - w) * cos, folded into the (B, D) side
            if heads is not None:  # the heads' places are cosines: scaled alike
                heads = heads * np.float32(1.0 - w)
        # the product in torch, not numpy: numpy's BLAS threads would contend with torch's
        # for the same cores (on 2 cores a third slower per batch)
        qt = torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32))
        mt = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32)).T
        keywords = self._keyword_index(cand) if w > 0 and texts else None
        vals, idx = torch.zeros(len(texts), k), torch.zeros(len(texts), k, dtype=torch.long)
        for i in range(0, len(texts), TOP_BLOCK):  # a block's scores stay in the CPU's cache
            scores = qt[i:i + TOP_BLOCK] @ mt  # (block, N), contiguous
            if heads is not None:
                scores += torch.from_numpy(heads[i:i + TOP_BLOCK])
            if keywords is not None:  # + w * keyword score, added in place where it is not 0
                keywords.add_to(scores.numpy(), texts[i:i + TOP_BLOCK], w)
            if k:
                vals[i:i + TOP_BLOCK], idx[i:i + TOP_BLOCK] = scores.topk(k, dim=1)
        meta = self._meta(cand)
        new, cls = tuple.__new__, RankedEmoji  # what RankedEmoji._make does, without its checks
        return [[new(cls, (*meta[i], v)) for v, i in zip(row_v, row_i, strict=True)]
                for row_v, row_i in zip(vals.tolist(), idx.tolist(), strict=True)]

    def _meta(self, cand: EmojiSet) -> list[tuple[str, str, str]]:
        """``(key, emoji, name)`` of each candidate, built once per candidate set."""
        def build() -> list[tuple[str, str, str]]:
            infos = (cand.info(i) for i in range(len(cand)))
            return [(info.key, info.emoji, info.name) for info in infos]

        return _cached(self._meta_cache, cand, (), build)

    def _keyword_index(self, cand: EmojiSet) -> KeywordIndex:
        """The (cached) :class:`~emojiqa.keywords.KeywordIndex` of a candidate set."""
        return _cached(self._keyword_cache, cand, (), lambda: KeywordIndex(cand))

    # persistence ----------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike[str], *, half: bool = False,
                        extra_json: dict[str, Any] | None = None) -> Path:
        """Write the self-contained model folder: ``config.json``, ``model.safetensors``,
        ``vocab.json``, ``answers.json`` and ``vae/``.

        Answer-table images missing from the bundled style are stored in the weights.
        """
        import tempfile

        dtype = torch.float16 if half else torch.float32
        tensors = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach())
                   for k, v in self.net.state_dict().items()}
        es = self.emojis
        stored = [k for k in self.answer_keys if k not in es.keys]
        if stored:
            tensors["stored_answer_images"] = torch.from_numpy(
                np.stack([self.answers.image(k) for k in stored]))
        answers = {"keys": self.answer_keys, "stored": stored}
        extra = {"vocab.json": self.tokenizer.to_json(), "answers.json": answers,
                 **(extra_json or {})}
        with tempfile.TemporaryDirectory() as tmp:
            dirs = {}
            if self.vae is not None:
                self.vae.save_pretrained(Path(tmp) / "vae", half=half)
                dirs["vae"] = Path(tmp) / "vae"
            if self.look is not None:
                self.look.save_pretrained(Path(tmp) / "look", half=half)
                dirs["look"] = Path(tmp) / "look"
            for name, head in (("wide", self.wide), ("memory", self.memory)):
                if head is not None:
                    head.save_pretrained(Path(tmp) / name, half=half)
                    dirs[name] = Path(tmp) / name
            return write_model_folder(folder, model_type=MODEL_TYPE, config=self.config,
                                      tensors=tensors, extra_json=extra, extra_dirs=dirs)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str] | None = None,
                        device: str | torch.device | None = None, *,
                        stored_vectors: bool = True) -> EmojiRanker:
        """Load a folder written by :meth:`save_pretrained` (or a ``train-ranker --out``
        folder); ``None`` loads the bundled model.

        ``stored_vectors``: when the folder holds the vectors of the model's own emoji set
        (``emoji_vectors.safetensors``, as the bundled model does), rank that set from them
        (:meth:`use_stored_vectors`) instead of encoding its 4,009 drawings on the first
        call; False always computes.

        Raises:
            ModelLoadError: the folder or a file is missing, corrupt, or does not fit.
        """
        folder = model_folder(path)
        config, tensors = read_model_folder(folder, model_type=MODEL_TYPE,
                                            config_cls=RankerConfig)
        tok = Tokenizer.from_json(read_json(folder / "vocab.json", what="vocabulary"))
        answers = read_json(folder / "answers.json", what="answer table")
        try:
            keys, stored = list(answers["keys"]), list(answers.get("stored", []))
        except (KeyError, TypeError) as exc:
            raise ModelLoadError(f"{folder / 'answers.json'} is malformed ({exc!r})") from exc
        vae = None
        if (folder / "vae").is_dir():
            from .vae import VAE

            vae = VAE.from_pretrained(folder / "vae", device=device)
        elif config.answer_tower == "latent":
            raise ModelLoadError(f"{folder} has no vae/ folder, but its latent answer tower "
                                 "needs the VAE it was trained with; re-save the model.")
        if config.lookalike_learned > 0 and not (folder / "look").is_dir():
            raise ModelLoadError(f"{folder} has no look/ folder, but its config weighs a "
                                 "learned look code (lookalike_learned); re-save the model.")
        stored_images = tensors.pop("stored_answer_images", None)
        if stored and stored_images is None:
            raise ModelLoadError(f"{folder / 'answers.json'} lists {len(stored)} answers whose "
                                 "drawings the model stores, but model.safetensors has none "
                                 "(stored_answer_images); re-save the model.")
        vocab = tensors["embedding.weight"].shape[0] if "embedding.weight" in tensors else 1
        latent_dim = vae.config.latent_dim if vae is not None else 1
        net = RankerNet(config, vocab, len(keys), latent_dim)
        try:
            net.load_state_dict({k: v.float() if v.is_floating_point() else v
                                 for k, v in tensors.items()})
        except RuntimeError as exc:
            raise ModelLoadError(f"{folder / 'model.safetensors'} does not fit its config "
                                 f"({exc}); re-save the model.") from exc
        dev = torch.device(device) if device is not None else (
            torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
        net.to(dev).eval()
        look = None
        if (folder / "look").is_dir():
            from .look import LookEncoder

            look = LookEncoder.from_pretrained(folder / "look", device=dev)
        wide = None
        if (folder / "wide").is_dir():
            from .wide import WideHead

            wide = WideHead.from_pretrained(folder / "wide")
        memory = None
        if (folder / "memory").is_dir():
            from .memory import Memory

            memory = Memory.from_pretrained(folder / "memory")
        for name, head in (("wide", wide), ("memory", memory)):
            if head is None:
                continue
            cols = head.columns
            if ((name == "memory" and head.n_answers != len(keys))  # the whole table
                    or len(cols) != head.n_answers or len(set(cols.tolist())) != len(cols)
                    or (len(cols) and not (0 <= cols.min() and cols.max() < len(keys)))):
                raise ModelLoadError(f"{folder / name} scores {head.n_answers} answers that "
                                     f"do not fit the answer table of {len(keys)}; re-save "
                                     "the model.")
        ranker = cls(config, net, tok, keys, vae=vae, look=look, wide=wide, memory=memory)
        if stored and stored_images is not None:  # (checked above: both or neither)
            es = ranker.emojis
            lookup = dict(zip(stored, stored_images.numpy(), strict=True))
            ranker._answer_images = np.stack(
                [lookup[k] if k in lookup else es.image(es.index(k)) for k in keys])
            ranker._answer_set = None
        if stored_vectors:
            use_precomputed_vectors(ranker, folder)
        return ranker


_T = TypeVar("_T")


#: Drawings whose look features :meth:`EmojiRanker.look_features` computes together.
LOOK_BLOCK = 256
#: Texts scored together in :meth:`EmojiRanker.rank`: the product, keyword boost and top-k
#: of a block of 128 texts against 4,009 emojis (2 MB) stay in the CPU's cache; a batch of
#: 1,024 at once spends ~3 ms more on 2 cores going back to memory.
TOP_BLOCK = 128


def _cached(cache: dict[tuple, tuple[Any, Any]], owner: EmojiSet, key: tuple,
            build: Callable[[], _T]) -> _T:
    """``build()`` for ``owner`` (an emoji set) and ``key``, kept in ``cache``.

    Entries are keyed by the owner's ``id`` and checked by identity, so a recycled id never
    returns another set's value; the cache is emptied when it passes 16 entries.
    """
    hit = cache.get((id(owner), *key))
    if hit is not None and hit[0] is owner:
        return hit[1]
    value = build()
    if len(cache) > 16:
        cache.clear()
    cache[(id(owner), *key)] = (owner, value)
    return value


def _look_features(images: np.ndarray, *, cropped: bool = False) -> np.ndarray:
    """``(N, 1620)`` float32 features for comparing looks: each drawing cropped to the square
    around its visible pixels (alpha > 10 %) and scaled back to 36×36, so artists who draw
    larger or off-centre still match, then its RGBA at 18×18 and at 9×9 (block means), each
    scale flattened and scaled to unit length, side by side. On the even half of the Noto
    drawings, the nearest Twemoji drawing is the same emoji for 38 % of them (31 % without
    the crop, 26 % at 18×18 alone)."""
    x = images if cropped else crop_to_content(images)
    x = x.astype(np.float32).reshape(len(x), 18, 2, 18, 2, 4).mean((2, 4)) / 255.0
    coarse = x.reshape(len(x), 9, 2, 9, 2, 4).mean((2, 4))
    return np.concatenate([_unit(x.reshape(len(x), 18 * 18 * 4)),
                           _unit(coarse.reshape(len(x), 9 * 9 * 4))], 1)


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero)."""
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def _check_images(images: Any) -> np.ndarray:
    from .errors import ImageError
    from .images import EMOJI_SIZE

    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1:] != (EMOJI_SIZE, EMOJI_SIZE, 4):
        raise ImageError(f"emoji images must be uint8 (N, {EMOJI_SIZE}, {EMOJI_SIZE}, 4), got "
                         f"shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ImageError(f"emoji images must be uint8, got {arr.dtype}")
    return arr


def describe(ranker: EmojiRanker) -> dict[str, Any]:
    """A short summary of a ranker (config name, towers, answers, parameters, wide head,
    memory)."""
    c = ranker.config
    wide, memory = ranker.wide, ranker.memory
    return {"name": c.name, "text_tower": c.text_tower, "answer_tower": c.answer_tower,
            "answers": len(ranker.answer_keys),
            "examples": [info_for(k).emoji for k in ranker.answer_keys[:20]],
            "parameters": sum(p.numel() for p in ranker.net.parameters()),
            "wide_head": None if wide is None else {
                "ngrams": len(wide.rows), "answers": len(wide.columns), "mix": wide.mix,
                "parameters": int(wide.weight[:-1].numel() + wide.bias.numel())},
            "memory": None if memory is None else {
                "texts": len(memory), "ngrams": len(memory.cols), "k": memory.config.k,
                "mix": memory.mix}}
