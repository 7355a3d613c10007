"""Distributed training: the helpers alone, and 2 CPU processes under torchrun (gloo).

The torchrun tests train the same tiny model twice, once as one process with a global batch of
``2 * B`` and once as 2 processes with ``B`` each, and check that the weights agree. With DDP
averaging the gradients of equal halves of the same global batch, the only difference left is
the order of floating-point sums, so the tolerance is ``atol=1e-4`` on weights after a few
dozen Adam steps (observed differences are below 1e-6). The VAE draws its sampling noise per
rank, so its DDP run matches one process only in distribution: its losses agree within 1 %
(observed 0.1 %).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emojiqa.distributed import (
    DistInfo,
    all_reduce_mean,
    barrier,
    cleanup,
    init_distributed,
    shard_indices,
    unwrap,
    wrap_ddp,
)

# One script, run alone (``single``) or under torchrun (``ddp``): trains, then rank 0 writes.
SCRIPT = r'''
import json
import os
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
mode, what, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
B = 8 if mode == "ddp" else 16  # per process: the global batch is 16 either way


def helpers():
    from emojiqa import distributed as D

    info = D.init_distributed("cpu")
    assert (info.world_size == 2) == (mode == "ddp"), info
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = x @ torch.arange(1.0, 6.0) + 0.1 * torch.randn(64)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    model = D.wrap_ddp(net, info)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    losses = []
    for epoch in range(3):
        order = D.shard_indices(64, info, shuffle=True, seed=1, epoch=epoch)
        total = 0.0
        for s in range(0, len(order), B):
            idx = order[s:s + B]
            loss = torch.nn.functional.mse_loss(model(x[idx])[:, 0], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(float(D.all_reduce_mean(torch.tensor(total / len(order)), info)))
        D.barrier(info)
    if info.is_main:
        weights = {k: v.tolist() for k, v in D.unwrap(model).state_dict().items()}
        (out / "result.json").write_text(json.dumps({"weights": weights, "losses": losses,
                                                     "world": info.world_size}))
    # no D.cleanup here: train_ranker below joins this same process group and leaves it


def ranker():
    from emojiqa.datasets import Example
    from emojiqa.ranker import RankerConfig
    from emojiqa.train_ranker import train_ranker
    from emojiqa.vae import VAE

    keys = ["1f389", "1f608", "1f621", "1f600"]
    words = ["great party", "mischief tonight", "so angry", "happy smile"]
    train = [Example(f"{words[i % 4]} number {i}", keys[i % 4]) for i in range(64)]
    cfg = RankerConfig.named("default", text_tower="bag", ngram_buckets=256, ngram_dim=8,
                             side_dim=8, answer_hidden=(8,), shared_dims=(8, 4), dropout=0.0,
                             loss="infonce", class_balance=0.0, batch_size=B, epochs=3,
                             patience=0, early_stop="loss",
                             distill_teachers=int(os.environ.get("TINY_TEACHERS", "1")))
    vae = VAE.from_pretrained(out.parent / "vae")
    train_ranker(cfg, train, [], out / os.environ.get("TINY_RUN", "run"), vae=vae,
                 glove=False, seed=0, progress=False, device="cpu",
                 epochs=int(os.environ.get("TINY_EPOCHS", "3")),
                 resume=os.environ.get("TINY_RESUME") == "1")


def vae():
    from emojiqa.emojis import EmojiSet
    from emojiqa.train_vae import train_vae
    from emojiqa.vae import VAEConfig

    es = EmojiSet.bundled("twemoji")
    cfg = VAEConfig.named("default", latent_dim=4, filters=(8, 8, 8), batch_size=B)
    train_vae(cfg, es.subset(range(64)), es.subset(range(64, 80)), out / "vae_run", epochs=2,
              seed=0, progress=False, device="cpu", images=False)


for name in what.split(","):  # the VAE before the ranker, which leaves the process group
    {"helpers": helpers, "vae": vae, "ranker": ranker}[name]()
'''


def _run(tmp_path: Path, mode: str, what: str, **env_extra: str) -> subprocess.CompletedProcess:
    script = tmp_path / "train_tiny.py"
    script.write_text(SCRIPT)
    out = tmp_path / mode
    out.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **env_extra}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", "2"] if mode == "ddp" else [sys.executable]
    proc = subprocess.run([*launcher, str(script), mode, what, str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


# --- the helpers in one process --------------------------------------------------------------


def test_single_process_helpers_are_no_ops(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = init_distributed("cpu")
    assert info == DistInfo(0, 1, 0, "cpu") and info.is_main and not info.enabled
    t = torch.tensor([1.5, 2.0])
    assert all_reduce_mean(t, info) is t
    net = torch.nn.Linear(2, 1)
    assert wrap_ddp(net, info) is net and unwrap(net) is net
    barrier(info)
    cleanup(info)


@pytest.mark.parametrize(("n", "world"), [(10, 2), (11, 2), (7, 3), (3, 4)])
def test_shards_cover_every_index_with_equal_counts(n, world):
    shards = [shard_indices(n, DistInfo(rank=r, world_size=world), shuffle=True, seed=3,
                            epoch=1) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # equal steps on every rank: no DDP hang
    assert len(shards[0]) == -(-n // world)
    assert set(torch.cat(shards).tolist()) == set(range(n))
    single = shard_indices(n, DistInfo(), shuffle=True, seed=3, epoch=1)
    if n % world == 0:  # interleaved: step s of every rank together = step s of one process
        batch = 2
        for s in range(0, len(shards[0]), batch):
            together = sorted(torch.cat([sh[s:s + batch] for sh in shards]).tolist())
            assert together == sorted(single[s * world:(s + batch) * world].tolist())


def test_shards_change_with_the_epoch_and_not_with_the_rank_count():
    a = shard_indices(20, DistInfo(), shuffle=True, seed=0, epoch=0)
    b = shard_indices(20, DistInfo(), shuffle=True, seed=0, epoch=1)
    assert not torch.equal(a, b)
    assert torch.equal(shard_indices(5, DistInfo(), shuffle=False, seed=0, epoch=0),
                       torch.arange(5))


# --- 2 CPU processes under torchrun ----------------------------------------------------------


@pytest.fixture()
def tiny_vae(tmp_path):
    from emojiqa.vae import VAE, VAEConfig

    torch.manual_seed(0)
    VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8, 8))).save_pretrained(
        tmp_path / "vae")


def test_torchrun_ddp_matches_one_process(tmp_path, tiny_vae):
    """Own helpers on a small MLP, ``train_vae`` and ``train_ranker``: 2 gloo processes vs 1."""
    _run(tmp_path, "single", "helpers,vae,ranker")
    proc = _run(tmp_path, "ddp", "helpers,vae,ranker")

    one = json.loads((tmp_path / "single" / "result.json").read_text())
    two = json.loads((tmp_path / "ddp" / "result.json").read_text())
    assert (one["world"], two["world"]) == (1, 2)
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-4)
    for k, v in one["weights"].items():
        torch.testing.assert_close(torch.tensor(two["weights"][k]), torch.tensor(v),
                                   atol=1e-4, rtol=1e-4)

    assert proc.stdout.count("epoch 3/3") == 2, "only rank 0 logs (the teacher, the model)"
    a = torch.load(tmp_path / "single" / "run" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "ddp" / "run" / "checkpoint.pt", weights_only=True)
    for k, v in a["net"].items():
        torch.testing.assert_close(b["net"][k], v, atol=1e-4, rtol=1e-4, msg=k)
    ha = json.loads((tmp_path / "single" / "run" / "history.json").read_text())
    hb = json.loads((tmp_path / "ddp" / "run" / "history.json").read_text())
    assert hb["train_loss"] == pytest.approx(ha["train_loss"], rel=1e-4)
    assert (tmp_path / "ddp" / "run" / "model" / "model.safetensors").is_file()
    assert not list((tmp_path / "ddp" / "run").glob("*.tmp"))

    # the VAE draws its reparameterisation noise per rank, so it matches only in distribution
    va = json.loads((tmp_path / "single" / "vae_run" / "metrics.json").read_text())
    vb = json.loads((tmp_path / "ddp" / "vae_run" / "metrics.json").read_text())
    for k in ("train_total", "val_total"):  # observed: within 0.1 %
        assert vb["history"][k] == pytest.approx(va["history"][k], rel=1e-2), k
    assert (tmp_path / "ddp" / "vae_run" / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_torchrun_resume_continues_where_it_stopped(tmp_path, tiny_vae):
    """2 epochs, then ``resume`` to 3 under torchrun == 3 epochs straight (rank 0 checkpoint)."""
    _run(tmp_path, "ddp", "ranker", TINY_RUN="straight", TINY_TEACHERS="0")
    _run(tmp_path, "ddp", "ranker", TINY_RUN="resumed", TINY_EPOCHS="2",
         TINY_TEACHERS="0")
    proc = _run(tmp_path, "ddp", "ranker", TINY_RUN="resumed", TINY_RESUME="1",
                TINY_TEACHERS="0")
    assert proc.stdout.count("resuming from epoch 3") == 1
    a = torch.load(tmp_path / "ddp" / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "ddp" / "resumed" / "checkpoint.pt", weights_only=True)
    for k, v in a["net"].items():
        torch.testing.assert_close(b["net"][k], v, atol=1e-6, rtol=1e-6, msg=k)
