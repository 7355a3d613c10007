"""The look encoder: which known drawing does a new drawing look like?

A new drawing of an emoji (another artist's style, a user's folder) has no per-emoji correction
of its own; the ranker lends it those of the training drawings it looks most like
(:meth:`emojiqa.ranker.EmojiRanker.lookalikes`). Raw pixels at two scales find the same emoji
among 1,979 Twemoji drawings for 38 % of the Noto drawings. This module learns a better notion
of "looks like" from one style alone: a small CNN trained contrastively (SimCLR, Chen et al.
2020) on the training drawings, where the two views of a drawing differ the way artists
differ — scale, position, a small rotation, a mirror image, colour, saturation and contrast, a
shading gradient, blur, a dark outline, a thicker silhouette — and every other drawing of the
batch is a negative. Its unit codes, concatenated with the pixel features, are what the ranker
compares (``RankerConfig.lookalike_learned`` weighs them).

One :class:`LookConfig` per model; a trained encoder is a folder (``config.json`` +
``model.safetensors``) that lives inside the ranker's folder as ``look/``.

Example:
    >>> enc = train_look_encoder(EmojiSet.bundled("twemoji").images)   # doctest: +SKIP
    >>> enc.embed(EmojiSet.bundled("noto").images[:4]).shape            # doctest: +SKIP
    (4, 128)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, ModelLoadError, TrainingError
from .storage import read_model_folder, write_model_folder

MODEL_TYPE = "look"


@dataclass(frozen=True)
class LookConfig:
    """Every size and setting of a :class:`LookEncoder`.

    Attributes:
        dim: size of the unit code.
        channels: channels of the three convolution stages (36 → 18 → 9 → 3 pixels).
        epochs: training passes over the drawings.
        batch_size: drawings per step (each step contrasts every pair of the batch).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        temperature: of the contrastive softmax.
        flip: probability that a view is mirrored (artists draw some emojis facing the other
            way).
    """

    dim: int = 128
    channels: tuple[int, int, int] = (16, 32, 64)
    epochs: int = 30
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    flip: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if len(self.channels) != 3 or min(self.channels) < 8 or any(c % 8 for c in self.channels):
            raise ConfigError(f"channels must be three multiples of 8, got {self.channels}")
        if self.dim < 2 or self.epochs < 1 or self.batch_size < 2:
            raise ConfigError("dim, epochs and batch_size must be at least 2, 1 and 2")
        if not (self.temperature > 0 and self.lr > 0 and 0.0 <= self.flip <= 1.0):
            raise ConfigError("temperature and lr must be > 0, flip in [0, 1]")


class LookNet(nn.Module):
    """Three conv stages (two 3×3 convolutions each, GroupNorm, SiLU, max-pooling) and a
    linear layer to the ``dim``-d code; ``(N, 4, 36, 36)`` in [0, 1] → unit ``(N, dim)``."""

    def __init__(self, config: LookConfig) -> None:
        super().__init__()
        a, b, c = config.channels
        self.features = nn.Sequential(
            nn.Conv2d(4, a, 3, padding=1), nn.GroupNorm(8, a), nn.SiLU(),
            nn.Conv2d(a, a, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),          # 18
            nn.Conv2d(a, b, 3, padding=1), nn.GroupNorm(8, b), nn.SiLU(),
            nn.Conv2d(b, b, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),          # 9
            nn.Conv2d(b, c, 3, padding=1), nn.GroupNorm(8, c), nn.SiLU(), nn.MaxPool2d(3),  # 3
            nn.Flatten())
        self.head = nn.Linear(c * 9, config.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.features(x)), dim=-1)


def augment(x: torch.Tensor, generator: torch.Generator, flip: float = 0.3) -> torch.Tensor:
    """One random "other artist" view of each ``(N, 4, 36, 36)`` drawing in [0, 1].

    Scale 0.85–1.15, shift ±6 %, rotation ±0.15 rad, a mirror image with probability ``flip``;
    saturation 0.6–1.4, contrast 0.7–1.3, brightness ±0.15, a small random colour mix; a linear
    shading gradient; with probability 0.4 a 3×3 blur, 0.3 a darkened outline, 0.25 a thicker
    silhouette. Colour stays 0 where the result is transparent.
    """
    n, dev = x.shape[0], x.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=dev) * (hi - lo) + lo

    def chance(p: float) -> torch.Tensor:
        return torch.rand(n, generator=generator, device=dev) < p

    s, rot, shift = uniform(0.85, 1.15, n), uniform(-0.15, 0.15, n), uniform(-0.12, 0.12, n, 2)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 1] = s * torch.cos(rot), -s * torch.sin(rot)
    theta[:, 1, 0], theta[:, 1, 1] = s * torch.sin(rot), s * torch.cos(rot)
    theta[:, :, 2] = shift
    theta[:, 0, :2] *= torch.where(chance(flip), -1.0, 1.0)[:, None]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    rgb, alpha = x[:, :3], x[:, 3:]
    gray = rgb.mean(1, keepdim=True)
    rgb = gray + (rgb - gray) * uniform(0.6, 1.4, n, 1, 1, 1)
    mean = rgb.mean((1, 2, 3), keepdim=True)
    rgb = (rgb - mean) * uniform(0.7, 1.3, n, 1, 1, 1) + mean + uniform(-0.15, 0.15, n, 1, 1, 1)
    mix = torch.eye(3, device=dev) + uniform(-0.08, 0.08, n, 3, 3)
    rgb = torch.einsum("nij,njhw->nihw", mix, rgb)
    line = torch.linspace(-1, 1, x.shape[-1], device=dev)
    yy, xx = torch.meshgrid(line, line, indexing="ij")
    d = uniform(-1, 1, n, 2)
    rgb = rgb + uniform(0, 0.25, n, 1, 1, 1) * (d[:, 0, None, None] * xx
                                                 + d[:, 1, None, None] * yy)[:, None]
    kernel = torch.tensor([1.0, 2.0, 1.0], device=dev)
    kernel = (kernel[:, None] * kernel[None]).div(16).expand(4, 1, 3, 3)
    blurred = F.conv2d(F.pad(torch.cat([rgb, alpha], 1), (1, 1, 1, 1), mode="replicate"),
                       kernel, groups=4)
    blur = chance(0.4)[:, None, None, None]
    rgb, alpha = torch.where(blur, blurred[:, :3], rgb), torch.where(blur, blurred[:, 3:], alpha)
    edge = (alpha - F.avg_pool2d(alpha, 3, 1, 1)).clamp(min=0) * 2
    rgb = torch.where(chance(0.3)[:, None, None, None], rgb * (1 - edge), rgb)
    alpha = torch.where(chance(0.25)[:, None, None, None], F.max_pool2d(alpha, 3, 1, 1), alpha)
    return torch.cat([rgb.clamp(0, 1) * (alpha > 0.02), alpha], 1)


def crop_to_content(images: np.ndarray) -> np.ndarray:
    """Each ``uint8 (N, 36, 36, 4)`` drawing cropped to the centred square around its pixels
    with alpha > 10 % and resized back to 36×36 (bilinear); a blank drawing stays as it is."""
    from PIL import Image

    out = np.empty_like(images)
    pad = 36  # room for a square that reaches past the edge (transparent there)
    big = np.zeros((36 + 2 * pad, 36 + 2 * pad, 4), np.uint8)
    for i, image in enumerate(images):
        ys, xs = np.nonzero(image[..., 3] > 25)
        if ys.size == 0:
            out[i] = image
            continue
        side = max(int(ys.max()) + 1 - int(ys.min()), int(xs.max()) + 1 - int(xs.min()))
        cy, cx = (int(ys.min()) + int(ys.max()) + 1) / 2, (int(xs.min()) + int(xs.max()) + 1) / 2
        big[pad:pad + 36, pad:pad + 36] = image
        box = (cx - side / 2 + pad, cy - side / 2 + pad, cx + side / 2 + pad,
               cy + side / 2 + pad)
        crop = Image.fromarray(big, "RGBA").resize((36, 36), Image.Resampling.BILINEAR, box=box)
        out[i] = np.asarray(crop)
    return out


def _to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(
        0, 3, 1, 2).float().div(255.0)


class LookEncoder:
    """A trained :class:`LookNet` with its config: :meth:`embed` gives unit look codes."""

    def __init__(self, config: LookConfig, net: LookNet) -> None:
        self.config = config
        self.net = net.eval()
        self.device = next(net.parameters()).device

    @torch.inference_mode()
    def embed(self, images: np.ndarray, *, cropped: bool = False,
              batch_size: int = 1024) -> np.ndarray:
        """Unit codes ``(N, dim)`` float32 of ``uint8 (N, 36, 36, 4)`` drawings (cropped to
        their visible pixels first, unless ``cropped``)."""
        images = np.asarray(images)
        if not cropped:
            images = crop_to_content(images)
        out = [self.net(_to_tensor(images[i:i + batch_size], self.device)).float().cpu()
               for i in range(0, len(images), batch_size)]
        if not out:
            return np.zeros((0, self.config.dim), np.float32)
        return torch.cat(out).numpy()

    def save_pretrained(self, folder: str | os.PathLike[str], *, half: bool = False,
                        extra_json: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (atomically)."""
        dtype = torch.float16 if half else torch.float32
        tensors = {k: v.detach().to(dtype) for k, v in self.net.state_dict().items()}
        return write_model_folder(folder, model_type=MODEL_TYPE, config=self.config,
                                  tensors=tensors, extra_json=extra_json)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str],
                        device: str | torch.device | None = None) -> LookEncoder:
        """Load a folder written by :meth:`save_pretrained` (on CUDA when available, unless
        ``device``).

        Raises:
            ModelLoadError: the folder or a file is missing, corrupt, or does not fit.
        """
        config, tensors = read_model_folder(folder, model_type=MODEL_TYPE, config_cls=LookConfig)
        net = LookNet(config)
        try:
            net.load_state_dict({k: v.float() for k, v in tensors.items()})
        except RuntimeError as exc:
            raise ModelLoadError(f"{Path(folder) / 'model.safetensors'} does not fit its config "
                                 f"({exc}); re-save the look encoder.") from exc
        dev = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        return cls(config, net.to(dev))


def train_look_encoder(images: np.ndarray, config: LookConfig | None = None, *, seed: int = 0,
                       device: str | torch.device | None = None, progress: bool = False,
                       log: Callable[[str], None] | None = None) -> LookEncoder:
    """Train a look encoder on ``uint8 (N, 36, 36, 4)`` drawings (N ≥ 2), one style is
    enough: each step pulls two augmented views of a drawing together and pushes the other
    drawings of the batch away (symmetric InfoNCE). Deterministic for a seed and device.

    Raises:
        TrainingError: fewer than two drawings, or the loss stops being finite.
    """
    config = config or LookConfig()
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (36, 36, 4) or len(images) < 2:
        raise TrainingError(f"the look encoder needs at least 2 drawings of shape (36, 36, 4), "
                            f"got {images.shape}")
    dev = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    gen = torch.Generator(device=dev).manual_seed(seed)
    net = LookNet(config).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    x_all = _to_tensor(crop_to_content(images), dev)
    n, bs = len(x_all), min(config.batch_size, len(x_all))
    steps = max(1, n // bs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs * steps, desc="look encoder", unit="step")
    t0 = time.perf_counter()
    net.train()
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=gen, device=dev)
        total = 0.0
        for step in range(steps):
            x = x_all[order[step * bs:(step + 1) * bs]]
            z1 = net(augment(x, gen, config.flip))
            z2 = net(augment(x, gen, config.flip))
            logits = z1 @ z2.T / config.temperature
            target = torch.arange(len(x), device=dev)
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingError(f"look encoder: the loss became {value} at epoch "
                                    f"{epoch + 1}; lower LookConfig.lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += value
            if bar is not None:
                bar.update(1)
        if log is not None:
            log(f"look encoder epoch {epoch + 1}/{config.epochs} loss {total / steps:.4f} "
                f"({time.perf_counter() - t0:.0f} s)")
    if bar is not None:
        bar.close()
    return LookEncoder(config, net.eval())
