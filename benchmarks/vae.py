"""VAE benchmark: the ``seed`` and ``default`` configs trained side by side on one split.

Two studies, on the bundled Twemoji with the deterministic 80/20 split:

* ``collapse`` — for each of 8 init seeds and both configs, one short training run (default
  1 epoch: the seed config's encoder dies in epoch 1 when it dies), then the number of active
  latent units out of 16 (Burda et al. 2016: variance of μ over the val images > 0.01) and the
  KL of each unit. A seed-config run whose last convolution outputs only zeros on a probe batch
  is stopped early and counted as dead: with every ReLU at 0 no gradient reaches the encoder
  again, so the rest of the epoch cannot revive it.
* ``curve`` — one init seed per config (for the seed config the first init seed whose encoder
  survives epoch 1; dead ones are listed), both trained epoch by epoch in the same process,
  alternating, up to 20 epochs: val loss in the seed's objective (BCE averaged over channels,
  summed over pixels, + KL) and as the per-element negative ELBO (nats/image), seconds per
  epoch, parameters, % non-finite codes over all Twemoji.

Results are written after every run/epoch, so a cut-short run still leaves its figures.

Usage:
    python benchmarks/vae.py --threads 1                    # everything (long on 2 cores)
    python benchmarks/vae.py --part collapse --threads 1    # one study
    python benchmarks/vae.py --quick                        # CI smoke, < 1 min
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_args, apply_threads, print_table, read_results, write_results
from emojiqa import EmojiSet
from emojiqa.emojis import to_chw_float
from emojiqa.vae import VAE, VAEConfig, VAEOutput

CONFIGS = ("seed", "default")


class Run:
    """One model in training: its optimiser, data order and KL warm-up."""

    def __init__(self, name: str, seed: int, xtr: torch.Tensor, overrides: dict[str, Any]):
        self.config = VAEConfig.named(name, **overrides)
        torch.manual_seed(seed)
        self.model = VAE(self.config)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.config.lr)
        self.noise = torch.Generator().manual_seed(seed * 1000)
        self.seed, self.xtr, self.epoch, self.step = seed, xtr, 0, 0
        self.steps_per_epoch = math.ceil(len(xtr) / self.config.batch_size)

    def train_epoch(self, probe: torch.Tensor | None = None, check_every: int = 25,
                    max_steps: int | None = None) -> dict:
        """One epoch (or its first ``max_steps`` steps); with ``probe``, stop early once the
        encoder is dead. Returns timing."""
        c, m = self.config, self.model
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.xtr), generator=g)
        warm = c.kl_warmup_epochs * self.steps_per_epoch
        m.train()
        t0 = time.perf_counter()
        dead_at = None
        for b in range(self.steps_per_epoch):
            x = self.xtr[order[b * c.batch_size:(b + 1) * c.batch_size]]
            kl_w = min(1.0, (self.step + 1) / warm) if warm else 1.0
            loss = m.loss(x, m(x, self.noise), kl_weight=kl_w)["total"]
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            if probe is not None and (b + 1) % check_every == 0 and encoder_dead(m, probe):
                dead_at = self.step
                break
            if max_steps is not None and b + 1 >= max_steps:
                break
        self.epoch += 1
        return {"seconds": time.perf_counter() - t0, "dead_at_step": dead_at,
                "steps": b + 1}


def encoder_dead(model: VAE, probe: torch.Tensor) -> bool:
    """True when the encoder's last activation is 0 for every probe image (seed arch)."""
    with torch.no_grad():
        model.eval()
        h = model.encoder(probe)  # (B, F)
        model.train()
    return bool((h.abs().max() == 0).item())


@torch.no_grad()
def evaluate(model: VAE, xva: torch.Tensor, xall: torch.Tensor | None) -> dict[str, Any]:
    """Val losses (one fixed-noise sample of z), active units, per-unit KL, non-finite codes."""
    model.eval()
    g = torch.Generator().manual_seed(7919)
    sums: dict[str, float] = {}
    mus, kl_units = [], torch.zeros(model.config.latent_dim)
    for i in range(0, len(xva), 256):
        x = xva[i:i + 256]
        mu, logvar = model.encode(x)
        z = model.reparameterize(mu, logvar, g)
        logits = model.decode_logits(z)
        out = model.loss(x, VAEOutput(torch.sigmoid(logits), mu, logvar, z, logits))
        for k in ("seed_loss", "nelbo", "kl"):
            sums[k] = sums.get(k, 0.0) + out[k].item() * len(x)
        kl_units += out["kl_per_unit"] * len(x)
        mus.append(mu)
    mu = torch.cat(mus)
    var = mu.var(dim=0)
    out = {
        "val_seed_loss": sums["seed_loss"] / len(xva),
        "val_nelbo": sums["nelbo"] / len(xva),
        "val_kl": sums["kl"] / len(xva),
        "active_units": int((var > 0.01).sum()),
        "kl_per_unit": [round(v, 3) for v in (kl_units / len(xva)).tolist()],
    }
    if xall is not None:
        codes = torch.cat([model.encode(xall[i:i + 512])[0] for i in range(0, len(xall), 512)])
        out["nonfinite_codes_pct"] = 100.0 * float((~torch.isfinite(codes)).any(1).float().mean())
    return out


def collapse_study(data, seeds, epochs, max_steps, overrides, results, save,
                   configs=CONFIGS, key="collapse") -> None:
    xtr, xva, xall = data
    probe = xva[:64]
    rows = results.setdefault(key, [])
    results[f"{key}_budget"] = {"epochs": epochs, "max_steps": max_steps}
    for seed in seeds:
        for name in configs:
            run = Run(name, seed, xtr, overrides)
            secs, dead = 0.0, None
            for _ in range(epochs):
                info = run.train_epoch(probe if run.config.arch == "seed" else None,
                                       max_steps=max_steps)
                secs += info["seconds"]
                if info["dead_at_step"]:
                    dead = info["dead_at_step"]
                    break
            ev = evaluate(run.model, xva, None)
            rows.append({"config": name, "init_seed": seed, "epochs": epochs,
                         "steps": run.step, "dead_at_step": dead, "seconds": round(secs, 1),
                         **ev})
            print(f"collapse {name} seed {seed}: active {ev['active_units']}/16, "
                  f"val seed-loss {ev['val_seed_loss']:.1f}, -elbo {ev['val_nelbo']:.1f}"
                  + (f", dead at step {dead}" if dead else ""), flush=True)
            save()


def curve_study(data, epochs, max_seeds, overrides, results, save) -> None:
    """Both configs epoch by epoch; the seed config uses its first init seed that lives."""
    xtr, xva, xall = data
    probe = xva[:64]
    runs = {n: Run(n, 0, xtr, overrides) for n in CONFIGS}
    curve = results["curve"] = {n: {"init_seed": 0, "params":
                                    runs[n].model.num_parameters(), "epochs": [],
                                    "dead_seeds_skipped": []}
                                for n in CONFIGS}
    for epoch in range(1, epochs + 1):
        for n in CONFIGS:  # alternate, so both see the same machine load
            info = runs[n].train_epoch(probe if epoch == 1 and n == "seed" else None)
            while info["dead_at_step"] and runs[n].seed + 1 < max_seeds:
                curve[n]["dead_seeds_skipped"].append(runs[n].seed)
                print(f"curve {n}: init seed {runs[n].seed} died at step "
                      f"{info['dead_at_step']}; trying the next", flush=True)
                runs[n] = Run(n, runs[n].seed + 1, xtr, overrides)
                curve[n]["init_seed"] = runs[n].seed
                info = runs[n].train_epoch(probe)
            ev = evaluate(runs[n].model, xva, xall)
            curve[n]["epochs"].append({"epoch": epoch, "seconds": round(info["seconds"], 2),
                                       **ev})
            print(f"curve {n} epoch {epoch}: val seed-loss {ev['val_seed_loss']:.1f}, "
                  f"-elbo {ev['val_nelbo']:.1f}, active {ev['active_units']}, "
                  f"{info['seconds']:.1f}s", flush=True)
        save()


def summary_rows(results: dict[str, Any], marks=(1, 5, 20)) -> list[dict[str, Any]]:
    rows = []
    curve = results.get("curve", {})
    coll = results.get("collapse", [])
    for n in CONFIGS:
        c = curve.get(n, {})
        eps = {e["epoch"]: e for e in c.get("epochs", [])}
        runs = [r for r in coll if r["config"] == n]
        row: dict[str, Any] = {"config": n, "params": c.get("params")}
        for m in marks:
            e = eps.get(m)
            row[f"seed-loss@{m}"] = round(e["val_seed_loss"], 1) if e else None
            row[f"-elbo@{m}"] = round(e["val_nelbo"], 1) if e else None
        secs = [e["seconds"] for e in eps.values()]
        row["s/epoch"] = round(float(np.median(secs)), 1) if secs else None
        row["nonfinite %"] = (round(eps[max(eps)]["nonfinite_codes_pct"], 2) if eps else None)
        row["active units (8 seeds)"] = " ".join(str(r["active_units"]) for r in runs) or None
        row["dead seeds"] = (sum(1 for r in runs if r["active_units"] == 0) if runs else None)
        full = [r for r in results.get("collapse_epoch", []) if r["config"] == n]
        row["dead after 1 epoch"] = (f"{sum(1 for r in full if r['active_units'] == 0)}"
                                     f"/{len(full)}" if full else None)
        rows.append(row)
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The README tables of a results file."""
    lines = ["| config | params | s/epoch | " + " | ".join(
        f"val seed-loss / -ELBO @{m}" for m in (1, 5, 20)) + " | non-finite codes |",
        "|---|---|---|---|---|---|---|"]
    for r in results.get("summary", []):
        cells = [f"{r.get(f'seed-loss@{m}') or '–'} / {r.get(f'-elbo@{m}') or '–'}"
                 for m in (1, 5, 20)]
        nf = r.get("nonfinite %")
        lines.append(f"| {r['config']} | {r['params'] or '–'} | {r['s/epoch'] or '–'} | "
                     + " | ".join(cells) + f" | {'–' if nf is None else f'{nf} %'} |")
    curve = results.get("curve", {})
    if curve:
        by = {n: {e["epoch"]: e for e in curve.get(n, {}).get("epochs", [])} for n in CONFIGS}
        lines += ["", "| epoch | seed: val seed-loss / -ELBO | s | default: val seed-loss / "
                  "-ELBO | s | active units (seed, default) |", "|---|---|---|---|---|---|"]
        for ep in sorted(set(by["seed"]) | set(by["default"])):
            a, b = by["seed"].get(ep), by["default"].get(ep)

            def cell(e):
                return (f"{e['val_seed_loss']:.1f} / {e['val_nelbo']:.1f} | {e['seconds']:.0f}"
                        if e else "– | –")

            lines.append(f"| {ep} | {cell(a)} | {cell(b)} | "
                         f"{a['active_units'] if a else '–'}, {b['active_units'] if b else '–'} |")
    lines += ["", "| config | init seed | steps | active units / 16 | val seed-loss | "
              "val -ELBO | KL per unit (nats) |", "|---|---|---|---|---|---|---|"]
    for r in results.get("collapse", []):
        kl = " ".join(f"{v:.1f}" for v in r["kl_per_unit"])
        dead = f" (dead at step {r['dead_at_step']})" if r.get("dead_at_step") else ""
        lines.append(f"| {r['config']} | {r['init_seed']} | {r['steps']} | "
                     f"{r['active_units']}{dead} | {r['val_seed_loss']:.1f} | "
                     f"{r['val_nelbo']:.1f} | {kl} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--part", choices=["all", "collapse", "curve"], default="all")
    p.add_argument("--epochs", type=int, default=20, help="epochs of the curve study")
    p.add_argument("--collapse-epochs", type=int, default=1)
    p.add_argument("--collapse-steps", type=int, default=None,
                   help="stop each collapse run after this many steps (default: whole epochs)")
    p.add_argument("--seeds", type=int, default=8, help="init seeds of the collapse study")
    p.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS),
                   help="configs of the collapse study")
    p.add_argument("--tag", default="", help="store the collapse study as collapse_TAG")
    p.add_argument("--markdown", action="store_true",
                   help="print the README tables of the saved results and exit")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown(read_results("vae", args.quick, args.out) or {}))
        return 0
    apply_threads(args)
    es = EmojiSet.bundled("twemoji")
    overrides: dict[str, Any] = {}
    name = "vae"
    if args.quick:  # tiny subset and models: a smoke run of the whole pipeline
        es = es.subset(range(0, len(es), 80))
        overrides = {"filters": (4, 8, 8)}
        args.epochs, args.seeds, args.collapse_epochs = 2, 2, 1
    train, val = es.split()
    data = (torch.from_numpy(to_chw_float(train.images)), torch.from_numpy(
        to_chw_float(val.images)), torch.from_numpy(to_chw_float(es.images)))
    results: dict[str, Any] = {}
    results.update({"n_train": len(train), "n_val": len(val), "n_all": len(es),
                    "threads": args.threads})

    ckey = f"collapse_{args.tag}" if args.tag else "collapse"
    mine = {"all": (ckey, f"{ckey}_budget", "curve"),
            "collapse": (ckey, f"{ckey}_budget"), "curve": ("curve",)}

    def save() -> None:
        # the two studies may run as two processes: merge with what the other one wrote
        merged = dict(read_results(name, args.quick, args.out) or {})
        merged.update({k: v for k, v in results.items() if k in mine[args.part]
                       or k.startswith("wall_seconds") or k.startswith("n_")
                       or k == "threads"})
        merged["summary"] = summary_rows(merged)
        for k in ("benchmark", "quick", "command", "machine"):
            merged.pop(k, None)
        results["summary"] = merged["summary"]
        write_results(name, merged, args.quick, args.out)

    t0 = time.perf_counter()
    if args.part in ("all", "collapse"):
        collapse_study(data, range(args.seeds), args.collapse_epochs, args.collapse_steps,
                       overrides, results, save, configs=args.configs, key=ckey)
    if args.part in ("all", "curve"):
        curve_study(data, args.epochs, args.seeds, overrides, results, save)
    results[f"wall_seconds_{args.part}{'_' + args.tag if args.tag else ''}"] = round(
        time.perf_counter() - t0, 1)
    save()
    print_table(results["summary"], list(results["summary"][0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
