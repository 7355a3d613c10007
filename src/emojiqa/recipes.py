"""Recipes: the bundled suggestion model and the zero-shot protocol models, one call each.

:func:`train_bundled` trains the default suggestion model from bundled data only — CLDR texts
of every emoji + TweetEval emoji train + the airline tweets (:mod:`emojiqa.sources`), the three
bundled drawing styles as augmentation, a pixel answer tower with per-emoji corrections (new
emojis borrow the corrections of the training drawings they look like), a GloVe attention +
hashed n-gram text tower (no sentence-transformers at run time) — in 7–14 minutes on 2 idle
CPU cores, and writes it as a float16 self-contained folder (by default into the package,
``emojiqa/pretrained/ranker``).

:func:`train_protocol` trains the models of the zero-shot protocols
(:mod:`emojiqa.zeroshot`): ``new_releases`` (every Emoji ≥ 14.0 emoji held out, no text and
no image of theirs) and ``new_drawings`` (Twemoji drawings only).

Example:
    >>> folder = train_bundled(out_dir="my_model", epochs=1)          # doctest: +SKIP
    >>> from emojiqa.ranker import EmojiRanker
    >>> EmojiRanker.from_pretrained(folder).rank("I just got the job!!")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ModelLoadError
from .sources import DEFAULT_WEIGHTS, training_emoji_sets, training_examples

#: Where the bundled suggestion model lives in the package.
BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained" / "ranker"


def model_folder(path: str | os.PathLike[str] | None = None) -> Path:
    """The ranker folder that ``path`` names: the bundled model for None (a clear error when
    it is missing), a training output folder's ``model/``, or ``path`` itself. Torch-free,
    so the numpy path (:mod:`emojiqa.lite`) and :class:`~emojiqa.ranker.EmojiRanker` resolve
    a folder alike."""
    if path is None:
        if not (BUNDLED_DIR / "config.json").is_file():
            raise ModelLoadError(
                f"the bundled ranker is missing from {BUNDLED_DIR}; reinstall emojiqa, or train "
                "one with `emojiqa train-ranker --out DIR` and pass that folder."
            )
        return BUNDLED_DIR
    folder = Path(path)
    if not (folder / "config.json").exists() and (folder / "model" / "config.json").exists():
        return folder / "model"  # a training output folder
    return folder


#: The drawing styles the bundled model learns from (augmentation).
BUNDLED_STYLES = ("twemoji", "noto", "openmoji")
#: Settings of the bundled model on top of ``RankerConfig.named("default")``: a small pixel
#: tower (its cost per step dominates on CPU), few answers per step, large text batches, a
#: 64-d shared code instead of the seed's 10-d (2,000 emojis crowd a 10-d sphere), every epoch
#: trained (no early stopping: tweet val macro-F1 stalls by epoch 4 while what the model knows
#: of the other 1,900 emojis keeps growing — CLDR-label retrieval R@10 52 % at epoch 4, 92 % at
#: epoch 10 on the new-drawings protocol model, ``benchmarks/ablations.py``; 15 epochs rather
#: than 10: val MRR over the whole answer table 0.485 → 0.493 and CLDR-label MRR 0.57 → 0.70
#: for a quarter more training time, 324 → 408 s), and look-alike
#: corrections for new drawings, their looks compared with a learned look code next to the
#: pixels (weight 0.7, chosen on the even half of the Noto drawings: Noto R@10 37 → 48 %).
#: It also keeps ``default``'s moving average of the weights (``ema=0.99``), measured against
#: the same recipe without it: recipe val MRR 0.494 → 0.497, TweetEval val macro-F1
#: 17.8 → 18.1, CLDR-label R@1 54.8 → 64.8 % (``benchmarks/suggest.py``). Last, a wide head
#: over the tweet sources' 23 emojis, its weight chosen on the tuning split (:data:`TUNE_EVERY`);
#: it keeps 262,144 n-grams, stored in 8 bits (a one-off comparison on the tuning split over the
#: towers: TweetEval macro-F1 27.5 with 131,072 n-grams, 28.3 with 262,144, alike in 8 bits).
BUNDLED_OVERRIDES: Mapping[str, Any] = {
    "name": "bundled",
    "answer_tower": "pixels",
    "known_emojis": True,
    "pixel_channels": (16, 32, 32),
    "max_answers_per_step": 128,
    "batch_size": 256,
    "conv_channels": 128,
    "ngram_buckets": 32768,
    "side_dim": 128,
    "shared_dims": (128, 64),
    "ngram_weighting": "mean",
    "ngram_lr_scale": 1.0,
    "lr": 3e-3,
    "epochs": 15,
    "patience": 0,
    "lookalike_k": 5,
    "lookalike_learned": 0.7,
    "wide_buckets": 524288,
    "wide_max_features": 262144,
    "wide_sources": ("tweeteval", "airline"),
    "wide_mixes": (0.2, 0.0, 0.05, 0.1, 0.4, 0.8, 1.6, 3.2),
    "distill_teachers": 0,
}
#: The zero-shot protocol models (:func:`train_protocol`) are the bundled recipe with the
#: held-out emojis or styles removed, and one difference: they keep the weights as trained
#: (``ema=0.0``), the recipe they were measured with before the bundled model took
#: ``default``'s moving average (which raised its CLDR-label R@1 from 54.8 to 64.8 %);
#: ``train_protocol(..., ema=0.99)`` trains them with it.
PROTOCOL_OVERRIDES: Mapping[str, Any] = {"ema": 0.0, "wide_buckets": 0, "wide_max_features": 0,
                                          "wide_sources": (), "wide_mixes": (
                                              0.2, 0.0, 0.05, 0.1, 0.4, 0.8)}
#: The bundled model validates on a tuning split (:func:`bundled_data`): every 20th TweetEval
#: training text (2,250, left out of its training) and the airline val split; its wide head's
#: weight is chosen there.
TUNE_EVERY = 20
#: The zero-shot protocols :func:`train_protocol` knows.
PROTOCOLS = ("new_releases", "new_drawings")
#: Precomputed emoji vectors of a model's default candidate set (written next to the model).
VECTORS_NAME = "emoji_vectors.safetensors"
VECTORS_KEYS = "emoji_vectors.json"


def bundled_config(**overrides: Any) -> Any:
    """The :class:`~emojiqa.ranker.RankerConfig` of the bundled model (with overrides).

    Example:
        >>> bundled_config().answer_tower
        'pixels'
    """
    from .ranker import RankerConfig

    return dataclasses.replace(RankerConfig.named("default"),
                               **{**BUNDLED_OVERRIDES, **overrides})


def bundled_data(weights: Mapping[str, float] | None = None, *, hold_out: bool = False,
                 val_size: int | None = 3000, class_balance: float = 0.0,
                 tune_every: int = 0) -> tuple[list, list]:
    """``(train, val)`` of the bundled model: the mixed sources, and TweetEval + airline val.

    ``val_size`` keeps a fixed, evenly spaced subset of val for early stopping (speed);
    ``None`` keeps all 6,463 texts. ``tune_every``: val is the tuning split instead
    (:func:`~emojiqa.sources.training_examples`: every ``tune_every``-th TweetEval training
    text, left out of train, and the airline val split), so the wide head's weight is never
    chosen on the TweetEval val texts its figure is reported on.
    """
    train = training_examples(weights, hold_out=hold_out, class_balance=class_balance,
                              tune_every=tune_every)
    val = training_examples({"tweeteval": 1.0, "airline": 1.0}, hold_out=hold_out,
                            split="tune" if tune_every else "val", tune_every=tune_every)
    if val_size and len(val) > val_size:
        step = len(val) / val_size
        val = [val[int(i * step)] for i in range(val_size)]
    return train, val


def _train(config: Any, train: list, val: list, sets: list, out: Path, *, epochs: int | None,
           seed: int, resume: bool, progress: bool, max_steps: int | None,
           glove: Any) -> Any:
    from .train_ranker import train_ranker
    from .vae import VAE

    # the bundled VAE travels in the model folder: `suggest --generate` decodes with it
    return train_ranker(config, train, val, out, emoji_sets=sets, vae=VAE.from_pretrained(),
                        epochs=epochs, seed=seed, resume=resume, progress=progress,
                        max_steps=max_steps, glove=glove)


def train_bundled(out_dir: str | os.PathLike[str] | None = None, *,
                  work_dir: str | os.PathLike[str] | None = None, epochs: int | None = None,
                  seed: int = 0, resume: bool = False, progress: bool = True,
                  weights: Mapping[str, float] | None = None,
                  styles: Sequence[str] = BUNDLED_STYLES, config: Any = None,
                  max_steps: int | None = None, glove: Any = None, half: bool = True) -> Path:
    """Train the bundled suggestion model and write it (float16) to ``out_dir``.

    Args:
        out_dir: destination (default: the package's ``pretrained/ranker``).
        work_dir: checkpoints, curves and the float32 model (default ``runs/bundled``).
        epochs: override the config's epochs.
        seed: random seed.
        resume: continue an interrupted run from ``work_dir``.
        progress: show progress bars.
        weights: source mix (default :data:`emojiqa.sources.DEFAULT_WEIGHTS`).
        styles: drawing styles for augmentation.
        config: a full :class:`~emojiqa.ranker.RankerConfig` instead of :func:`bundled_config`.
        max_steps: cap on steps per epoch (smoke tests).
        glove: passed to :func:`~emojiqa.train_ranker.train_ranker` (None: the GloVe package).
        half: store float16 weights (half the size).

    Returns:
        The folder written.

    Example:
        >>> train_bundled("my_model", epochs=1)   # doctest: +SKIP
    """
    from .storage import atomic_write_json, check_replaceable

    out = Path(out_dir) if out_dir is not None else BUNDLED_DIR
    check_replaceable(out)  # before the minutes of training, not after
    work = Path(work_dir) if work_dir is not None else Path("runs") / "bundled"
    cfg = config if config is not None else bundled_config()
    # a new drawing finds its look-alikes among every style the model learned from
    others = (*cfg.lookalike_styles, *(x for x in styles if x != cfg.emoji_style))
    cfg = dataclasses.replace(cfg, lookalike_styles=tuple(dict.fromkeys(others)))
    mix = dict(weights if weights is not None else DEFAULT_WEIGHTS)
    t0, c0 = time.perf_counter(), time.process_time()
    train, val = bundled_data(mix, class_balance=cfg.class_balance, tune_every=TUNE_EVERY,
                              val_size=None)
    sets = training_emoji_sets(styles)
    ranker = _train(cfg, train, val, sets, work, epochs=epochs, seed=seed, resume=resume,
                    progress=progress, max_steps=max_steps, glove=glove)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    history = json.loads((work / "history.json").read_text()) if (
        work / "history.json").is_file() else {}
    recipe = {"recipe": "emojiqa train-bundled", "seed": seed, "styles": list(styles),
              "weights": mix, "n_train": len(train), "n_val": len(val),
              "tune_every": TUNE_EVERY,
              "train_seconds": round(secs, 1), "cpu_seconds": round(cpu, 1),
              "config": dataclasses.asdict(cfg),
              "history": history}
    ranker.save_pretrained(out, half=half, extra_json={"recipe.json": recipe})
    atomic_write_json(work / "recipe.json", recipe)
    precompute_vectors(out)
    return out


def precompute_vectors(folder: str | os.PathLike[str]) -> Path:
    """Store the model's vectors of every emoji of its default style next to it, and the
    VAE codes (μ) of those drawings.

    Encoding ~4,000 drawings through the pixel tower is most of a cold start; with these
    vectors :func:`use_precomputed_vectors` makes ``emojiqa suggest`` skip it, and with the
    codes ``suggest --generate`` skips embedding them again to blend new emojis from them. Both
    are computed from the saved (possibly float16) weights, so they equal what the loaded model
    computes.

    Example:
        >>> precompute_vectors("my_model")   # doctest: +SKIP
    """
    import numpy as np
    import torch

    from .ranker import EmojiRanker
    from .storage import atomic_write_json, save_tensors

    folder = Path(folder)
    ranker = EmojiRanker.from_pretrained(folder, stored_vectors=False)
    es = ranker.emojis
    vecs = ranker.encode_emojis(es)  # (N, D) normalised, with per-emoji corrections
    tensors = {"vectors": torch.from_numpy(vecs)}
    if ranker.vae is not None:  # the VAE codes invented emojis are blended from
        tensors["codes"] = torch.from_numpy(np.ascontiguousarray(ranker.vae.embed(es)))
    save_tensors(tensors, folder / VECTORS_NAME)
    atomic_write_json(folder / VECTORS_KEYS, {"style": es.style, "keys": es.keys})
    return folder / VECTORS_NAME


def use_precomputed_vectors(ranker: Any, folder: str | os.PathLike[str] | None = None) -> bool:
    """Let ``ranker`` look up, instead of compute, the vectors of its default style's emojis
    stored in ``folder`` (:func:`precompute_vectors`; default: the bundled model's).

    Only a request for the model's own bundled style, normalised, with per-emoji corrections,
    whose keys are all stored is answered from the table; anything else (another style, a
    folder, bare images, ``use_known=False``) is computed as before
    (:meth:`~emojiqa.ranker.EmojiRanker.use_stored_vectors`). The VAE codes stored with them
    (folders written since they were added) go to the ranker's VAE
    (:func:`~emojiqa.generate.use_stored_codes`). Returns whether a table was found.
    :meth:`~emojiqa.ranker.EmojiRanker.from_pretrained` calls it.
    """
    from .storage import load_tensors, read_json

    folder = BUNDLED_DIR if folder is None else model_folder(folder)
    if not (folder / VECTORS_NAME).is_file() or not (folder / VECTORS_KEYS).is_file():
        return False
    meta = read_json(folder / VECTORS_KEYS, what="emoji vector keys")
    tensors = load_tensors(folder / VECTORS_NAME)
    vecs = tensors["vectors"].float().numpy()
    if meta.get("style") != ranker.config.emoji_style or len(meta["keys"]) != len(vecs):
        return False
    ranker.use_stored_vectors(meta["style"], meta["keys"], vecs)
    codes = tensors.get("codes")
    if ranker.vae is not None and codes is not None and codes.shape == (
            len(vecs), ranker.vae.config.latent_dim):
        from .generate import use_stored_codes

        use_stored_codes(ranker.vae, meta["style"], meta["keys"], codes.float().numpy())
    return True


def train_protocol(protocol: str, out_dir: str | os.PathLike[str], *,
                   answer_tower: str = "pixels", epochs: int | None = None, seed: int = 0,
                   resume: bool = False, progress: bool = True, max_steps: int | None = None,
                   styles: Sequence[str] | None = None, glove: Any = None,
                   limit: int | None = None, weights: Mapping[str, float] | None = None,
                   **overrides: Any) -> Path:
    """Train the model of a zero-shot protocol; returns its model folder.

    Args:
        protocol: ``new_releases`` (Emoji ≥ 14.0 held out entirely; all styles unless
            ``styles``) or ``new_drawings`` (Twemoji drawings only, nothing held out).
        out_dir: training folder (the model is written to ``out_dir/model``).
        answer_tower: ``pixels`` or ``latent``.
        epochs / seed / resume / progress / max_steps / glove: as for :func:`train_bundled`.
        styles: drawing styles to train on.
        limit: keep an evenly spaced subset of this many training examples (smoke runs).
        weights: source mix (default :data:`emojiqa.sources.DEFAULT_WEIGHTS`).
        overrides: more :class:`~emojiqa.ranker.RankerConfig` fields.

    Example:
        >>> train_protocol("new_releases", "runs/nr_pixels", epochs=1)   # doctest: +SKIP
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    hold_out = protocol == "new_releases"
    if styles is None:
        styles = BUNDLED_STYLES if hold_out else ("twemoji",)
    if protocol == "new_drawings" and set(styles) != {"twemoji"}:
        raise ValueError("the new-drawings protocol trains on Twemoji drawings only")
    cfg = bundled_config(name=f"{protocol}-{answer_tower}", answer_tower=answer_tower,
                         **{**PROTOCOL_OVERRIDES, **overrides})
    train, val = bundled_data(weights, hold_out=hold_out, class_balance=cfg.class_balance)
    if limit and len(train) > limit:
        train = [train[int(i * len(train) / limit)] for i in range(limit)]
        val = val[: max(50, limit // 10)]
    sets = training_emoji_sets(styles, hold_out=hold_out)
    out = Path(out_dir)
    _train(cfg, train, val, sets, out, epochs=epochs, seed=seed, resume=resume,
           progress=progress, max_steps=max_steps, glove=glove)
    return out / "model"


def copy_model(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy a model folder (e.g. to ship it in the package)."""
    dst = Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst
