"""The convolutional variational autoencoder over 36×36 RGBA emoji images.

One :class:`VAEConfig` describes a model; two named configurations exist:

* ``seed`` — a faithful port of the 2017 Keras model: three full-resolution 3×3 ReLU
  convolutions, a "variational layer" from the flattened feature map straight to a 16-d
  (μ, log σ²), a decoder Dense → reshape → three 3×3 ReLU transposed convolutions → Dropout(0.8)
  → a sigmoid transposed convolution, trained on Keras' binary cross-entropy (mean over the 4
  channels, summed over the pixels) + KL with Adam(3e-3) and batches of 16.
* ``default`` — strided convolutions (36 → 18 → 9) with GroupNorm and SiLU, a small linear
  bottleneck, bounded log-variance, and an honest per-element ELBO (cross-entropy summed over
  every channel and pixel + β·KL) with a KL warm-up and free bits so the latent units stay in
  use.

The code of an emoji is μ, never a sample: deterministic and always finite.

Example:
    >>> vae = VAE.from_pretrained()          # the bundled model  # doctest: +SKIP
    >>> codes = vae.embed(EmojiSet.bundled("twemoji"))          # (4009, 16)  # doctest: +SKIP
    >>> new = vae.sample(8, generator=torch.Generator().manual_seed(0))   # (8, 36, 36, 4)
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, ImageError, ModelLoadError
from .storage import check_field_types, read_model_folder, write_model_folder

#: Folder of the bundled pretrained VAE.
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained" / "vae"
MODEL_TYPE = "vae"


@dataclass(frozen=True)
class VAEConfig:
    """Every size and setting of a :class:`VAE`; the model derives all shapes from it.

    Attributes:
        name: label of the configuration (``seed``, ``default`` or your own).
        image_size: side of the square input images, in pixels.
        channels: colour channels (4 for RGBA).
        latent_dim: size of the code μ.
        arch: ``"seed"`` (full-resolution convolutions, as in 2017) or ``"strided"``.
        filters: channels of each encoder convolution (the decoder mirrors them). With
            ``strided`` every layer after the first halves the resolution.
        norm: ``"none"`` or ``"group"`` (GroupNorm, batch-independent).
        activation: ``"relu"`` or ``"silu"``.
        dropout: dropout before the decoder's last layer (the seed's 0.8 drops 80 %).
        objective: ``"keras"`` (BCE averaged over channels and summed over pixels, + KL) or
            ``"elbo"`` (BCE summed over every element + β·KL, in nats per image).
        beta: weight of the KL term.
        kl_warmup_epochs: the KL weight rises linearly from 0 to ``beta`` over these epochs.
        free_bits: per-unit KL floor in nats (Kingma et al. 2016); 0 turns it off.
        logvar_bound: log σ² is clamped to ±this; ``None`` leaves it free (seed).
        keras_init: Glorot-uniform kernels and zero biases, like Keras layers.
        lr: Adam learning rate.
        batch_size: training batch size.
        epochs: default number of training epochs.
    """

    name: str = "default"
    image_size: int = 36
    channels: int = 4
    latent_dim: int = 16
    arch: str = "strided"
    filters: tuple[int, ...] = (32, 64, 64)
    norm: str = "group"
    activation: str = "silu"
    dropout: float = 0.0
    objective: str = "elbo"
    beta: float = 1.0
    kl_warmup_epochs: float = 1.0
    free_bits: float = 0.05
    logvar_bound: float | None = 10.0
    keras_init: bool = False
    lr: float = 2e-3
    batch_size: int = 32
    epochs: int = 30

    def __post_init__(self) -> None:
        check_field_types(self)
        choices = {"arch": ("seed", "strided"), "norm": ("none", "group"),
                   "activation": ("relu", "silu"), "objective": ("keras", "elbo")}
        for fname, allowed in choices.items():
            if getattr(self, fname) not in allowed:
                raise ConfigError(f"VAEConfig.{fname}={getattr(self, fname)!r}; "
                                  f"allowed: {', '.join(allowed)}")
        for fname in ("image_size", "channels", "latent_dim", "batch_size", "epochs"):
            if int(getattr(self, fname)) < 1:
                raise ConfigError(f"VAEConfig.{fname} must be >= 1, got {getattr(self, fname)}")
        if not self.filters or any(int(f) < 1 for f in self.filters):
            raise ConfigError(f"VAEConfig.filters must be positive ints, got {self.filters}")
        if self.arch == "strided":
            down = 2 ** (len(self.filters) - 1)
            if self.image_size % down:
                raise ConfigError(
                    f"VAEConfig: image_size {self.image_size} is not divisible by {down}, the "
                    f"downsampling of {len(self.filters)} strided layers; change image_size "
                    "or the number of filters"
                )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"VAEConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.beta < 0 or self.free_bits < 0 or self.kl_warmup_epochs < 0 or self.lr <= 0:
            raise ConfigError("VAEConfig: beta, free_bits and kl_warmup_epochs must be >= 0 "
                              "and lr > 0")
        if self.logvar_bound is not None and self.logvar_bound <= 0:
            raise ConfigError(f"VAEConfig.logvar_bound must be > 0 or None, got "
                              f"{self.logvar_bound}")

    @classmethod
    def named(cls, name: str, /, **overrides: Any) -> VAEConfig:
        """A named configuration, ``"seed"`` or ``"default"``, with optional field overrides.

        Example:
            >>> VAEConfig.named("seed").filters
            (64, 64, 64)
            >>> VAEConfig.named("default", latent_dim=4, image_size=8).latent_dim
            4
        """
        if name == "default":
            base = cls()
        elif name == "seed":
            base = cls(name="seed", arch="seed", filters=(64, 64, 64), norm="none",
                       activation="relu", dropout=0.8, objective="keras", beta=1.0,
                       kl_warmup_epochs=0.0, free_bits=0.0, logvar_bound=None, keras_init=True,
                       lr=3e-3, batch_size=16, epochs=100)
        else:
            raise ConfigError(f"unknown VAE config {name!r}; named configs are 'seed' and "
                              "'default'")
        if overrides:
            unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
            if unknown:
                raise ConfigError(f"unknown VAEConfig field(s) {unknown}")
            if "filters" in overrides:
                overrides["filters"] = tuple(overrides["filters"])
            base = dataclasses.replace(base, **overrides)
        return base

    @property
    def pixels(self) -> int:
        """Elements per image (C·H·W)."""
        return self.channels * self.image_size * self.image_size


@dataclass
class VAEOutput:
    """What :meth:`VAE.forward` returns; all tensors have batch first."""

    recon: torch.Tensor  # (B, C, H, W) in [0, 1]
    mu: torch.Tensor  # (B, D)
    logvar: torch.Tensor  # (B, D)
    z: torch.Tensor  # (B, D)
    logits: torch.Tensor  # (B, C, H, W), before the sigmoid


def _act(config: VAEConfig) -> nn.Module:
    return nn.SiLU() if config.activation == "silu" else nn.ReLU()


def _norm(config: VAEConfig, ch: int) -> nn.Module:
    if config.norm == "group":
        return nn.GroupNorm(math.gcd(8, ch), ch)
    return nn.Identity()


class VAE(nn.Module):
    """Convolutional VAE; see the module docstring for the two named configurations.

    Args:
        config: the :class:`VAEConfig` (kept as ``self.config``).

    Example:
        >>> vae = VAE(VAEConfig.named("default", image_size=8, latent_dim=4, filters=(8, 8)))
        >>> out = vae(torch.rand(2, 4, 8, 8))
        >>> out.recon.shape, out.mu.shape
        (torch.Size([2, 4, 8, 8]), torch.Size([2, 4]))
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or VAEConfig()
        s, f = c.image_size, [int(x) for x in c.filters]
        if c.arch == "seed":
            enc: list[nn.Module] = []
            ch = c.channels
            for out in f:
                enc += [nn.Conv2d(ch, out, 3, padding=1), nn.ReLU()]
                ch = out
            self.encoder = nn.Sequential(*enc, nn.Flatten())
            self.feat_shape = (c.channels, s, s)  # the seed reshapes to the image shape
            feat = f[-1] * s * s
            self.to_mu = nn.Linear(feat, c.latent_dim)
            self.to_logvar = nn.Linear(feat, c.latent_dim)
            self.from_z = nn.Sequential(nn.Linear(c.latent_dim, c.pixels), nn.ReLU())
            dec: list[nn.Module] = []
            ch = c.channels
            for out in f:
                dec += [nn.ConvTranspose2d(ch, out, 3, padding=1), nn.ReLU()]
                ch = out
            dec += [nn.Dropout(c.dropout), nn.ConvTranspose2d(ch, c.channels, 3, padding=1)]
            self.decoder = nn.Sequential(*dec)
        else:
            enc = [nn.Conv2d(c.channels, f[0], 3, padding=1), _norm(c, f[0]), _act(c)]
            for a, b in zip(f[:-1], f[1:], strict=True):
                enc += [nn.Conv2d(a, b, 4, stride=2, padding=1), _norm(c, b), _act(c)]
            self.encoder = nn.Sequential(*enc, nn.Flatten())
            side = s // 2 ** (len(f) - 1)
            self.feat_shape = (f[-1], side, side)
            feat = f[-1] * side * side
            self.to_mu = nn.Linear(feat, c.latent_dim)
            self.to_logvar = nn.Linear(feat, c.latent_dim)
            self.from_z = nn.Sequential(nn.Linear(c.latent_dim, feat), _act(c))
            dec = []
            rev = f[::-1]
            for a, b in zip(rev[:-1], rev[1:], strict=True):
                dec += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), _norm(c, b), _act(c)]
            if c.dropout:
                dec.append(nn.Dropout(c.dropout))
            dec.append(nn.Conv2d(rev[-1], c.channels, 3, padding=1))
            self.decoder = nn.Sequential(*dec)
        self._init_weights()

    def _init_weights(self) -> None:
        c = self.config
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear) and c.keras_init:
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m in (self.to_mu, self.to_logvar):  # the seed's glorot_normal, zero bias
            nn.init.xavier_normal_(m.weight)
            nn.init.zeros_(m.bias)

    # core -------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return next(self.parameters()).device

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _check_x(self, x: torch.Tensor) -> None:
        c = self.config
        shape = (c.channels, c.image_size, c.image_size)
        if not isinstance(x, torch.Tensor):
            raise ImageError(f"VAE input must be a torch.Tensor, got {type(x).__name__}; use "
                             "vae.embed() for numpy uint8 images")
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise ImageError(f"VAE input must have shape (B, {', '.join(map(str, shape))}), got "
                             f"{tuple(x.shape)}; images are channels-first floats in [0, 1]")
        if not x.is_floating_point():
            raise ImageError(f"VAE input must be a float tensor in [0, 1], got dtype {x.dtype}; "
                             "divide uint8 pixels by 255 (or use vae.embed())")
        if x.numel() and (not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1):
            raise ImageError("VAE input values must be finite and in [0, 1] (got min "
                             f"{x.min().item():.3g}, max {x.max().item():.3g}); divide uint8 "
                             "pixels by 255")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``x`` (B, C, H, W) in [0, 1] to ``(mu, logvar)``, each (B, latent_dim)."""
        self._check_x(x)
        h = self.encoder(x)  # (B, F)
        mu, logvar = self.to_mu(h), self.to_logvar(h)  # (B, D) each
        if self.config.logvar_bound is not None:
            logvar = logvar.clamp(-self.config.logvar_bound, self.config.logvar_bound)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Decode codes (B, D) to pre-sigmoid logits (B, C, H, W)."""
        h = self.from_z(z).view(-1, *self.feat_shape)
        return self.decoder(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode codes (B, D) to images (B, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z = μ + σ·ε with ε ~ N(0, I)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        """Encode, sample z (μ itself in eval mode), decode."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator) if self.training else mu
        logits = self.decode_logits(z)
        return VAEOutput(recon=torch.sigmoid(logits), mu=mu, logvar=logvar, z=z, logits=logits)

    def loss(self, x: torch.Tensor, out: VAEOutput, kl_weight: float = 1.0
             ) -> dict[str, torch.Tensor]:
        """Losses, each averaged over the batch (nats per image).

        Returns a dict with ``total`` (what training minimises: the config's objective with
        the KL weight ``kl_weight·beta`` and free bits), ``recon`` and ``kl`` (the config's
        objective terms), ``seed_loss`` (Keras BCE averaged over channels, summed over pixels,
        + KL: the seed's number), ``nelbo`` (negative ELBO with BCE summed over every element,
        β = 1), ``elbo_recon`` and ``kl_per_unit`` (D,).
        """
        bce = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none")  # (B,C,H,W)
        elbo_recon = bce.sum(dim=(1, 2, 3))  # (B,)
        keras_recon = bce.mean(dim=1).sum(dim=(1, 2))  # (B,)
        kl_units = 0.5 * (out.mu.pow(2) + out.logvar.exp() - 1.0 - out.logvar)  # (B, D)
        kl = kl_units.sum(dim=1)  # (B,)
        kl_per_unit = kl_units.mean(dim=0)  # (D,)
        c = self.config
        recon = keras_recon if c.objective == "keras" else elbo_recon
        if c.objective == "keras":
            kl_term = kl.mean()
            weight = 1.0
        else:
            weight = c.beta * kl_weight
            kl_term = (kl_per_unit.clamp(min=c.free_bits).sum() if c.free_bits > 0
                       else kl.mean())
        return {
            "total": recon.mean() + weight * kl_term,
            "recon": recon.mean(),
            "kl": kl.mean(),
            "seed_loss": (keras_recon + kl).mean(),
            "nelbo": (elbo_recon + kl).mean(),
            "elbo_recon": elbo_recon.mean(),
            "kl_per_unit": kl_per_unit.detach(),
        }

    # numpy-level inference --------------------------------------------------------------------
    def _images_to_tensor(self, images: Any) -> torch.Tensor:
        from .emojis import EmojiSet

        if isinstance(images, EmojiSet):
            images = images.images
        arr = np.asarray(images)
        c = self.config
        want = (c.image_size, c.image_size, c.channels)
        if arr.ndim != 4 or arr.shape[1:] != want:
            raise ImageError(
                f"images must have shape (N, {', '.join(map(str, want))}) (RGBA, channels "
                f"last), got {arr.shape}; load files with emojiqa.load_image, and stack single "
                "images with images[None]"
            )
        if arr.dtype != np.uint8:
            raise ImageError(f"images must be uint8 (0-255), got dtype {arr.dtype}; convert "
                             "floats in [0, 1] with (x * 255).round().astype(np.uint8)")
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
                                ).float().div_(255.0)  # (N, C, H, W)

    @torch.no_grad()
    def embed(self, images: Any, batch_size: int = 512) -> np.ndarray:
        """The code μ of each image, as float32 ``(N, latent_dim)``.

        Args:
            images: ``uint8`` RGBA array ``(N, 36, 36, 4)`` or an :class:`EmojiSet`.
            batch_size: images per forward pass.

        Example:
            >>> vae = VAE(VAEConfig.named("default", image_size=8, latent_dim=4, filters=(8, 8)))
            >>> vae.embed(np.zeros((3, 8, 8, 4), np.uint8)).shape
            (3, 4)
        """
        x = self._images_to_tensor(images)
        self.eval()
        out = [self.encode(x[i:i + batch_size].to(self.device))[0].float().cpu()
               for i in range(0, len(x), batch_size)]
        if not out:
            return np.zeros((0, self.config.latent_dim), np.float32)
        return torch.cat(out).numpy().astype(np.float32)

    @torch.no_grad()
    def decode_images(self, z: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """Decode codes ``(N, latent_dim)`` to ``uint8`` RGBA images ``(N, 36, 36, 4)``."""
        zt = torch.as_tensor(np.asarray(z, dtype=np.float32) if not isinstance(z, torch.Tensor)
                             else z).float()
        if zt.ndim == 1:
            zt = zt[None]
        d = self.config.latent_dim
        if zt.ndim != 2 or zt.shape[1] != d:
            raise ValueError(f"codes must have shape (N, {d}), got {tuple(zt.shape)}")
        if not torch.isfinite(zt).all():
            raise ValueError("codes contain NaN or inf; pass finite latent vectors")
        self.eval()
        out = [self.decode(zt[i:i + batch_size].to(self.device)).cpu()
               for i in range(0, len(zt), batch_size)]
        x = torch.cat(out) if out else torch.zeros(0, self.config.channels,
                                                    self.config.image_size,
                                                    self.config.image_size)
        arr = (x.permute(0, 2, 3, 1).numpy() * 255.0).round().clip(0, 255)
        return arr.astype(np.uint8)  # (N, H, W, C)

    @torch.no_grad()
    def reconstruct(self, images: Any) -> np.ndarray:
        """Decode the μ of each image: ``uint8`` in, ``uint8`` out, same shape."""
        return self.decode_images(self.embed(images))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> np.ndarray:
        """Draw ``n`` new emojis from the prior: ``uint8`` RGBA ``(n, 36, 36, 4)``.

        Example:
            >>> vae = VAE(VAEConfig.named("default", image_size=8, latent_dim=4, filters=(8, 8)))
            >>> vae.sample(2, generator=torch.Generator().manual_seed(0)).shape
            (2, 8, 8, 4)
        """
        if isinstance(n, bool) or int(n) != n or int(n) < 0:
            raise ValueError(f"n must be a whole number >= 0, got {n!r}")
        z = torch.randn(int(n), self.config.latent_dim, generator=generator)
        return self.decode_images(z)

    # persistence ------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike[str], *, half: bool = False,
                        extra_json: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` + ``model.safetensors`` to ``folder`` (atomically).

        Args:
            folder: destination folder (replaced if it exists).
            half: store the weights as float16 (half the size; loaded back as float32).
            extra_json: more JSON files to write next to them (e.g. training metrics).
        """
        dtype = torch.float16 if half else torch.float32
        tensors = {k: v.detach().to(dtype) for k, v in self.state_dict().items()}
        return write_model_folder(folder, model_type=MODEL_TYPE, config=self.config,
                                  tensors=tensors, extra_json=extra_json)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str] | None = None,
                        device: str | torch.device | None = None) -> VAE:
        """Load a folder written by :meth:`save_pretrained`; ``None`` loads the bundled model.

        Raises:
            ModelLoadError: the folder or a file is missing, truncated, or does not fit.
        """
        if folder is None:
            folder = PRETRAINED_DIR
            if not (folder / "model.safetensors").is_file():
                raise ModelLoadError(
                    f"the bundled VAE is missing from {folder}; reinstall emojiqa, or train one "
                    "with `emojiqa train-vae --out DIR` and pass --model DIR"
                )
        config, tensors = read_model_folder(folder, model_type=MODEL_TYPE, config_cls=VAEConfig)
        model = cls(config)
        own = model.state_dict()
        missing = sorted(set(own) - set(tensors))
        unexpected = sorted(set(tensors) - set(own))
        bad = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
        if missing or unexpected or bad:
            raise ModelLoadError(
                f"{folder}: weights do not fit the config (missing {missing[:3]}, unexpected "
                f"{unexpected[:3]}, wrong shape {bad[:3]}); the folder is corrupt or mixed "
                "from two models. Re-save it with save_pretrained."
            )
        floats = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
        model.load_state_dict(floats)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return model.to(device).eval()
