"""Training loop of the emoji VAE: a plain loop with checkpoints, plots and a model folder.

Each epoch logs train/val losses split into reconstruction and KL (in the config's own
objective and as the per-element negative ELBO in nats per image), the number of active latent
units, and writes into ``out_dir``:

* ``losses.png`` (loss curves), ``reconstructions.png`` (originals above, reconstructions
  below), ``samples.png`` (draws from the prior), ``metrics.json`` (the history);
* ``model/`` — the model with the best validation loss so far (``save_pretrained`` folder);
* ``checkpoint.pt`` — model, optimizer, position and RNG states, written atomically after every
  epoch and on SIGINT/SIGTERM, so ``resume=True`` continues to the same final weights as an
  uninterrupted run (on CPU).

Under ``torchrun`` the data is sharded over ranks and the model wrapped in
``DistributedDataParallel``; only rank 0 logs and writes.
"""

from __future__ import annotations

import io
import math
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed as D
from .emojis import EmojiSet, to_chw_float
from .errors import TrainingError
from .storage import atomic_write_bytes, atomic_write_json, check_output_dir
from .vae import VAE, VAEConfig, VAEOutput

CHECKPOINT_NAME = "checkpoint.pt"
MODEL_DIR = "model"
#: Losses logged for train and val each epoch.
LOGGED = ("total", "recon", "kl", "nelbo", "elbo_recon", "seed_loss")
N_SHOWN = 16



def _kept(out: Path, st: dict[str, Any], ckpt: Path) -> str:
    """What a stopped run leaves behind, said truthfully."""
    if st["best_epoch"] == 0:
        return ("No model was saved yet: the loss was not finite before the first epoch "
                "ended, so there is nothing to keep.")
    return (f"The last good model is kept in {out / MODEL_DIR} (epoch {st['best_epoch']}) and "
            f"the last checkpoint in {ckpt}.")

def train_vae(config: VAEConfig, train: EmojiSet, val: EmojiSet, out_dir: str | Path, *,
              epochs: int | None = None, seed: int = 0, resume: bool = False,
              progress: bool = True, device: str | None = None,
              log: Callable[[str], None] = print, images: bool = True,
              stop_after_steps: int | None = None) -> VAE:
    """Train a :class:`~emojiqa.vae.VAE` and return it (the best epoch by validation loss).

    Args:
        config: the model and optimisation settings.
        train / val: emoji sets to train on and to validate on.
        out_dir: folder for the checkpoint, plots, metrics and ``model/``.
        epochs: total epochs (default ``config.epochs``); with ``resume`` the run continues
            up to this many.
        seed: seeds weights, data order and sampling noise.
        resume: continue from ``out_dir/checkpoint.pt`` when it exists.
        progress: show a tqdm progress bar.
        device: ``cpu``/``cuda``; default CUDA when available.
        log: where epoch summaries go.
        images: write the loss curve, reconstruction and sample PNGs each epoch.
        stop_after_steps: act as if interrupted after this many steps (for tests).

    Raises:
        TrainingError: empty data, unwritable ``out_dir``, or a NaN/inf loss (the last good
            model stays in ``out_dir/model``).

    Example:
        >>> train, val = EmojiSet.bundled("twemoji").split()  # doctest: +SKIP
        >>> vae = train_vae(VAEConfig.named("default"), train, val, "runs/vae", epochs=30)
    """
    epochs = int(epochs if epochs is not None else config.epochs)
    if len(train) == 0 or len(val) == 0:
        raise TrainingError(f"need training and validation emojis, got {len(train)} and "
                            f"{len(val)}; pass a larger emoji set")
    info = D.init_distributed(device)
    out = Path(out_dir)
    if info.is_main:
        check_output_dir(out)
    dev = torch.device(info.device)
    log = log if info.is_main else (lambda _msg: None)

    torch.manual_seed(seed)
    model = VAE(config).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    noise = torch.Generator(device=dev).manual_seed(seed * 1000 + info.rank)
    xtr = torch.from_numpy(_as_input(train, config)).to(dev)  # (N, C, H, W)
    xva = torch.from_numpy(_as_input(val, config)).to(dev)
    steps_per_epoch = math.ceil(len(D.shard_indices(len(xtr), info, shuffle=True, seed=seed,
                                                    epoch=0)) / config.batch_size)
    warm_steps = config.kl_warmup_epochs * steps_per_epoch

    st: dict[str, Any] = {"epoch": 0, "step": 0, "global_step": 0, "sums": {}, "history": {},
                          "best": math.inf, "best_epoch": 0}
    ckpt = out / CHECKPOINT_NAME
    if resume and ckpt.is_file():
        st = _load_checkpoint(ckpt, model, opt, noise)
        log(f"resuming from {ckpt}: epoch {st['epoch'] + 1}, step {st['step']}")
    elif resume:
        log(f"no checkpoint in {out}; starting from scratch")
    net: torch.nn.Module = model
    if info.enabled:
        net = torch.nn.parallel.DistributedDataParallel(model)

    bar = None
    if progress and info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=max(0, epochs - st["epoch"]) * steps_per_epoch - st["step"],
                   unit="step", desc="train-vae")
    with _stop_on_signals() as stop:
        while st["epoch"] < epochs:
            epoch, t0 = st["epoch"], time.perf_counter()
            order = D.shard_indices(len(xtr), info, shuffle=True, seed=seed, epoch=epoch)
            model.train()
            for b in range(st["step"], steps_per_epoch):
                idx = order[b * config.batch_size:(b + 1) * config.batch_size].to(dev)
                x = xtr[idx]
                kl_w = min(1.0, (st["global_step"] + 1) / warm_steps) if warm_steps else 1.0
                losses = model.loss(x, net(x, noise), kl_weight=kl_w)
                if not torch.isfinite(losses["total"]):
                    raise TrainingError(
                        f"loss became {losses['total'].item()} at epoch {epoch + 1}, step "
                        f"{b + 1}; training stopped. {_kept(out, st, ckpt)} Lower the learning "
                        "rate or check the input images."
                    )
                opt.zero_grad(set_to_none=True)
                losses["total"].backward()
                opt.step()
                for k in LOGGED:
                    st["sums"][k] = st["sums"].get(k, 0.0) + losses[k].item() * len(x)
                st["sums"]["n"] = st["sums"].get("n", 0) + len(x)
                st["step"], st["global_step"] = b + 1, st["global_step"] + 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{losses['total'].item():.1f}", epoch=epoch + 1)
                if stop_after_steps is not None and st["global_step"] >= stop_after_steps:
                    stop["signal"] = "stop_after_steps"
                if stop["signal"]:
                    if info.is_main:
                        _save_checkpoint(ckpt, model, opt, noise, st)
                    if bar is not None:
                        bar.close()
                    log(f"{stop['signal']}: checkpoint written to {ckpt} at epoch {epoch + 1}, "
                        f"step {b + 1}; continue with --resume (or resume=True)")
                    raise KeyboardInterrupt(stop["signal"])
            metrics = _epoch_metrics(model, st["sums"], xva, config, seed, info)
            metrics["seconds"] = time.perf_counter() - t0
            if not all(math.isfinite(metrics[k]) for k in ("train_total", "val_total")):
                raise TrainingError(
                    f"the loss became non-finite in epoch {epoch + 1} (val "
                    f"{metrics['val_total']}); training stopped. {_kept(out, st, ckpt)} Lower "
                    "the learning rate or check the input images."
                )
            for k, v in metrics.items():
                st["history"].setdefault(k, []).append(v)
            st.update(epoch=epoch + 1, step=0, sums={})
            score = metrics["val_recon"] + config.beta * metrics["val_kl"]
            if info.is_main:
                if score < st["best"]:
                    st["best"], st["best_epoch"] = score, epoch + 1
                    model.save_pretrained(out / MODEL_DIR,
                                          extra_json={"training.json": _summary(st, config)})
                _write_epoch_files(model, out, st, xva, config, seed, images)
                _save_checkpoint(ckpt, model, opt, noise, st)
            log(f"epoch {epoch + 1}/{epochs}  train {metrics['train_total']:.1f} "
                f"(recon {metrics['train_recon']:.1f}, kl {metrics['train_kl']:.1f})  "
                f"val {metrics['val_total']:.1f} (recon {metrics['val_recon']:.1f}, "
                f"kl {metrics['val_kl']:.1f}, -elbo {metrics['val_nelbo']:.1f})  "
                f"active {metrics['active_units']}/{config.latent_dim}  "
                f"{metrics['seconds']:.1f}s")
    if bar is not None:
        bar.close()
    D.barrier(info)
    best = out / MODEL_DIR
    if (best / "model.safetensors").is_file():
        return VAE.from_pretrained(best, device=dev)
    return model.eval()


# helpers --------------------------------------------------------------------------------------
def _as_input(es: EmojiSet, config: VAEConfig) -> np.ndarray:
    want = (config.image_size, config.image_size, config.channels)
    if es.images.shape[1:] != want:
        raise TrainingError(f"{es!r} holds images of shape {es.images.shape[1:]}, but the "
                            f"config expects {want}; set image_size/channels to match")
    return to_chw_float(es.images)


@torch.no_grad()
def _epoch_metrics(model: VAE, sums: dict[str, float], xva: torch.Tensor, config: VAEConfig,
                   seed: int, info: D.DistInfo) -> dict[str, Any]:
    """Train averages of the epoch and validation losses (one fixed-noise sample of z)."""
    n = max(1, sums.get("n", 0))
    out: dict[str, Any] = {
        f"train_{k}": float(D.all_reduce_mean(torch.tensor(sums.get(k, 0.0) / n), info))
        for k in LOGGED}
    model.eval()
    g = torch.Generator(device=xva.device).manual_seed(seed + 7919)
    tot: dict[str, float] = {}
    mus, kl_units = [], torch.zeros(config.latent_dim, device=xva.device)
    for i in range(0, len(xva), 256):
        x = xva[i:i + 256]
        mu, logvar = model.encode(x)
        z = model.reparameterize(mu, logvar, g)  # a sample of q(z|x): an honest ELBO estimate
        logits = model.decode_logits(z)
        o = VAEOutput(recon=torch.sigmoid(logits), mu=mu, logvar=logvar, z=z, logits=logits)
        losses = model.loss(x, o)
        for k in LOGGED:
            tot[k] = tot.get(k, 0.0) + losses[k].item() * len(x)
        kl_units += losses["kl_per_unit"] * len(x)
        mus.append(mu)
    for k in LOGGED:
        out[f"val_{k}"] = tot[k] / len(xva)
    mu = torch.cat(mus)  # (N, D)
    var = mu.var(dim=0) if len(mu) > 1 else torch.zeros(config.latent_dim)
    out["active_units"] = int((var > 0.01).sum())
    out["val_kl_per_unit"] = [round(v, 4) for v in (kl_units / len(xva)).tolist()]
    return out


def _summary(st: dict[str, Any], config: VAEConfig) -> dict[str, Any]:
    h = st["history"]
    i = st["best_epoch"] - 1
    return {"config": config.name, "epochs_trained": st["epoch"], "best_epoch":
            st["best_epoch"], **{k: v[i] for k, v in h.items() if k.startswith("val_")}}


def _write_epoch_files(model: VAE, out: Path, st: dict[str, Any], xva: torch.Tensor,
                       config: VAEConfig, seed: int, images: bool) -> None:
    from .images import make_grid, save_png
    from .plots import plot_losses

    h = st["history"]
    atomic_write_json(out / "metrics.json", {"config": config.name, "epochs": st["epoch"],
                                             "best_epoch": st["best_epoch"], "history": h})
    if not images:
        return
    plot_losses({f"{s} {k}": h[f"{s}_{k}"] for s in ("train", "val") for k in ("total", "kl")},
                out / "losses.png", title=f"VAE ({config.name}) — {config.objective} objective")
    n = min(N_SHOWN, len(xva))
    x = xva[np.linspace(0, len(xva) - 1, n).round().astype(int)]  # spread over the set
    orig = (x.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    rec = model.decode_images(model.encode(x)[0])
    save_png(make_grid(np.concatenate([orig, rec]), ncol=n, scale=3), out / "reconstructions.png")
    samples = model.sample(64, generator=torch.Generator().manual_seed(seed))
    save_png(make_grid(samples, ncol=8, scale=3), out / "samples.png")
    model.train()


def _save_checkpoint(path: Path, model: VAE, opt: torch.optim.Optimizer,
                     noise: torch.Generator, st: dict[str, Any]) -> None:
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "noise":
             noise.get_state(), "torch_rng": torch.get_rng_state(),
             "meta": _jsonable(st)}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def _load_checkpoint(path: Path, model: VAE, opt: torch.optim.Optimizer,
                     noise: torch.Generator) -> dict[str, Any]:
    try:
        raw = io.BytesIO(path.read_bytes())
        state = torch.load(raw, map_location=model.device, weights_only=True)  # no pickles
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        noise.set_state(state["noise"].cpu() if noise.device.type == "cpu" else state["noise"])
        torch.set_rng_state(state["torch_rng"].cpu())
        return dict(state["meta"])
    except (RuntimeError, KeyError, EOFError, ValueError, OSError) as exc:
        raise TrainingError(
            f"cannot resume from {path} ({type(exc).__name__}: {exc}); it is corrupt or from a "
            "different config. Delete it to start over, or pass the same --config as before."
        ) from exc


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and math.isinf(obj):
        return 1e308
    return obj


@contextmanager
def _stop_on_signals() -> Iterator[dict[str, str | None]]:
    """Turn SIGINT/SIGTERM into a flag the loop checks after each step."""
    flag: dict[str, str | None] = {"signal": None}

    def handler(signum: int, _frame: Any) -> None:
        flag["signal"] = signal.Signals(signum).name

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: leave signals alone
            pass
    try:
        yield flag
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
