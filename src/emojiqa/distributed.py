"""Distributed training with PyTorch's own engine (``torchrun``) and small helpers.

Under ``torchrun --nproc-per-node N -m emojiqa train-ranker ...`` the environment holds
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; :func:`init_distributed` then joins the process group
(gloo on CPU, NCCL on CUDA). Without them everything runs as a single process and every helper
here is a no-op, so training code can call them unconditionally.

A training loop uses them like this (each rank sees ``1/world_size`` of every epoch, so the
batch size of the config is per process and the global batch is ``world_size`` times it)::

    info = init_distributed()                    # DistInfo(rank, world_size, device)
    model = wrap_ddp(net.to(info.device), info)  # DistributedDataParallel when world_size > 1
    for epoch in range(epochs):
        order = shard_indices(n, info, shuffle=True, seed=seed, epoch=epoch)
        for step in range(0, len(order), batch_size):
            ...                                  # DDP averages the gradients over ranks
        loss = all_reduce_mean(torch.tensor(epoch_loss), info)
        if info.is_main:                         # rank 0 alone logs and writes files
            save_checkpoint(...)
        barrier(info)
    cleanup(info)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """True on rank 0: the only rank that logs and writes files."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when running under torchrun with more than one process."""
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the process group if launched by torchrun; pick the device for this rank.

    Args:
        device: ``None`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``. Under
            torchrun, ``"cuda"`` means this rank's own GPU, ``cuda:LOCAL_RANK``.

    Returns:
        Where this process stands: rank, world size, local rank and device.

    Example:
        >>> info = init_distributed("cpu")   # outside torchrun: a single process
        >>> info.rank, info.world_size, info.is_main
        (0, 1, True)
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and world > 1:
        device = f"cuda:{local}"  # one GPU per process, never all ranks on cuda:0
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=device)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``value`` over ranks (returns ``value`` unchanged in a single process)."""
    if not (info.enabled and dist.is_initialized()):
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def shard_indices(n: int, info: DistInfo, *, shuffle: bool, seed: int, epoch: int
                  ) -> torch.Tensor:
    """This rank's share of ``range(n)`` for one epoch (like ``DistributedSampler``).

    Every rank draws the same permutation from ``seed + epoch`` and takes every
    ``world_size``-th index, padding by wrap-around so all ranks get equal counts.
    """
    if shuffle:
        g = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    if info.world_size == 1:
        return order
    per = -(-n // info.world_size)
    total = per * info.world_size
    if total > n:
        order = torch.cat([order, order[: total - n]])
    return order[info.rank : total : info.world_size]


def wrap_ddp(model: torch.nn.Module, info: DistInfo, **kwargs: Any) -> torch.nn.Module:
    """``model`` wrapped in DistributedDataParallel under torchrun; unchanged otherwise.

    The model must already be on ``info.device``. Keyword arguments go to DDP (e.g.
    ``find_unused_parameters=True`` when some parameters get no gradient on some steps).
    Keep a reference to the plain model for saving: ``unwrap(wrapped)`` returns it.

    Example:
        >>> net = wrap_ddp(torch.nn.Linear(2, 1), init_distributed("cpu"))
        >>> type(net).__name__   # a single process: no wrapper
        'Linear'
    """
    if not (info.enabled and dist.is_initialized()):
        return model
    from torch.nn.parallel import DistributedDataParallel

    if info.device.startswith("cuda"):
        kwargs.setdefault("device_ids", [torch.device(info.device).index])
    return DistributedDataParallel(model, **kwargs)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DistributedDataParallel wrapper (or ``model`` itself)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def cleanup(info: DistInfo) -> None:
    """Leave the process group, once every rank has got here: a rank that tears its gloo
    threads down while another still writes the final model aborted the run at exit
    ("terminate called without an active exception") now and then."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
