"""Invent new emojis for a text: search the VAE's latent space for what the ranker likes best.

:func:`invent` answers a text with emojis nobody has drawn: it draws many codes from the VAE
prior, decodes and scores them with the ranker (best of many), then refines the best ones by
gradient ascent on the decoded image's score through the ranker's answer tower, with a
Gaussian prior penalty that keeps the codes where the VAE decodes emoji-like images. When the
ranker offers no differentiable path from pixels, the refinement is a derivative-free local
search instead (same objective). Every invented emoji comes with its score (the ranker's cosine
on the final ``uint8`` image, comparable with the scores of known emojis) and its nearest known
emoji in the VAE latent space.

Example:
    >>> from emojiqa.ranker import EmojiRanker
    >>> r = EmojiRanker.from_pretrained()
    >>> new = invent(r, "happy birthday", n=4, generator=torch.Generator().manual_seed(0))
    >>> new[0].image.shape, new[0].nearest.emoji      # doctest: +SKIP
    ((36, 36, 4), '🎂')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .emojis import EmojiSet

if TYPE_CHECKING:
    from .ranker import RankedEmoji

#: Codes drawn from the prior before refinement, per invented emoji asked for.
SAMPLES_PER_RESULT = 64


@dataclass(frozen=True)
class Invented:
    """One invented emoji: the image, its score for the text and its nearest known emoji."""

    image: np.ndarray  # (36, 36, 4) uint8 RGBA
    score: float
    nearest: RankedEmoji
    code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: score, nearest emoji and the latent code (the image is left out)."""
        return {"score": float(self.score), "nearest": self.nearest.to_dict(),
                "code": [float(v) for v in self.code]}


def _pixel_answer_fn(ranker: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A differentiable map from images (B, 4, H, W) in [0, 1] to normalised answer vectors
    (the path a new emoji takes: no per-emoji correction), if the ranker's network is there."""
    net = getattr(ranker, "net", None)
    if net is None or not hasattr(net, "encode_answers"):
        return None
    latent = getattr(ranker.config, "answer_tower", "pixels") == "latent"

    def answer(x: torch.Tensor) -> torch.Tensor:
        inputs = ranker.vae.encode(x)[0] if latent else x  # (B, L) μ or (B, 4, H, W)
        return torch.nn.functional.normalize(net.encode_answers(inputs, None), dim=-1)

    return answer


def _score_codes_numpy(ranker: Any, vae: Any, text: str, z: np.ndarray) -> np.ndarray:
    return np.asarray(ranker.score_images(text, vae.decode_images(z)), dtype=np.float64)


def invent(ranker: Any, text: str, n: int = 4, *, steps: int = 60, samples: int | None = None,
           lr: float = 0.05, prior_weight: float = 0.02, generator: torch.Generator | None = None,
           known: EmojiSet | None = None) -> list[Invented]:
    """Invent ``n`` emojis the ranker scores highest for ``text``.

    Args:
        ranker: an :class:`~emojiqa.ranker.EmojiRanker` (uses ``.vae``, ``.score_images``,
            ``.encode_text``, ``.rank`` and, when present, a differentiable pixel answer path).
        text: the text to answer.
        n: how many emojis to invent (1–64).
        steps: refinement steps (0 = best of many samples only).
        samples: prior samples drawn first (default ``64 × n``, at least 256).
        lr: step size of the refinement (Adam on the codes).
        prior_weight: weight of the prior penalty ``½‖z‖² / latent_dim`` subtracted from the
            score; keeps codes where decoded images look like emojis.
        generator: seeds the prior samples (and the derivative-free search).
        known: emojis to find each invention's nearest neighbour in (default: the ranker's
            candidates).

    Returns:
        ``n`` :class:`Invented`, best score first, each with a ``uint8`` image.

    Example:
        >>> out = invent(ranker, "pizza night", n=2, steps=20)   # doctest: +SKIP
    """
    n = int(n)
    if not 1 <= n <= 64:
        raise ValueError(f"n must be between 1 and 64 emojis to invent, got {n}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    from .text import validate_text

    text = validate_text(text)
    vae = ranker.vae
    d = vae.config.latent_dim
    n_samples = int(samples) if samples else max(256, SAMPLES_PER_RESULT * n)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)

    # 1. best of many: decode prior samples, keep the n best (penalised) codes
    z = torch.randn(n_samples, d, generator=gen)  # (S, D)
    s = _score_codes_numpy(ranker, vae, text, z.numpy())
    obj = s - prior_weight * 0.5 * (z.numpy() ** 2).sum(1) / d
    best = torch.from_numpy(z.numpy()[np.argsort(-obj)[:n]].copy())  # (n, D)

    # 2. refine: gradient ascent through the answer tower, or a local search without one
    answer = _pixel_answer_fn(ranker)
    if steps and answer is not None:
        best = _refine_gradient(ranker, vae, answer, text, best, steps, lr, prior_weight)
    elif steps:
        best = _refine_search(ranker, vae, text, best, steps, lr, prior_weight, gen)

    codes = best.detach().numpy().astype(np.float32)
    images = vae.decode_images(codes)  # (n, 36, 36, 4) uint8
    scores = np.asarray(ranker.score_images(text, images), dtype=np.float64)
    near = _nearest_known(ranker, vae, text, images, known)
    order = np.argsort(-scores, kind="stable")
    return [Invented(image=images[i], score=float(scores[i]), nearest=near[i], code=codes[i])
            for i in order]


def _refine_gradient(ranker: Any, vae: Any, answer: Callable[[torch.Tensor], torch.Tensor],
                     text: str, z0: torch.Tensor, steps: int, lr: float,
                     prior_weight: float) -> torch.Tensor:
    d = z0.shape[1]
    t = torch.as_tensor(np.asarray(ranker.encode_text([text], normalize=True)),
                        dtype=torch.float32)[0]  # (E,)
    modules = [m for m in (vae, getattr(ranker, "net", None)) if isinstance(m, torch.nn.Module)]
    was = [(m, m.training) for m in modules]
    for m in modules:
        m.eval()  # no dropout while climbing
    dev = next(vae.parameters()).device
    t = t.to(dev)
    z = z0.clone().to(dev).requires_grad_(True)
    m1, m2 = torch.zeros_like(z), torch.zeros_like(z)  # Adam moments (torch.optim's import
    b1, b2, eps = 0.9, 0.999, 1e-8                      # costs seconds on a cold start)
    best_z, best_obj = z.detach().clone(), torch.full((len(z0),), -float("inf"), device=dev)
    with torch.enable_grad():
        for step in range(1, steps + 1):
            x = vae.decode(z)  # (n, 4, H, W) in [0, 1]
            a = answer(x)  # (n, E) normalised
            score = a @ t  # (n,)
            obj = score - prior_weight * 0.5 * (z ** 2).sum(1) / d
            with torch.no_grad():
                better = obj > best_obj
                best_obj = torch.where(better, obj, best_obj)
                best_z[better] = z[better].detach()
            (g,) = torch.autograd.grad(obj.sum(), z)  # ascent, for the codes only
            with torch.no_grad():
                m1.mul_(b1).add_(g, alpha=1 - b1)
                m2.mul_(b2).addcmul_(g, g, value=1 - b2)
                step_size = lr * (1 - b2 ** step) ** 0.5 / (1 - b1 ** step)
                z.add_(step_size * m1 / (m2.sqrt() + eps))
    for m, mode in was:
        m.train(mode)
    return best_z.detach().cpu()


def _refine_search(ranker: Any, vae: Any, text: str, z0: torch.Tensor, steps: int, lr: float,
                   prior_weight: float, gen: torch.Generator, proposals: int = 8
                   ) -> torch.Tensor:
    """(1+λ) local search: each step tries ``proposals`` Gaussian moves per code."""
    n, d = z0.shape
    z = z0.numpy().astype(np.float64)

    def objective(c: np.ndarray) -> np.ndarray:
        return (_score_codes_numpy(ranker, vae, text, c.astype(np.float32))
                - prior_weight * 0.5 * (c ** 2).sum(1) / d)

    cur = objective(z)
    sigma = max(lr * 4, 0.05)
    for _ in range(max(1, steps // 4)):
        noise = torch.randn(n, proposals, d, generator=gen).numpy() * sigma
        cand = (z[:, None, :] + noise).reshape(-1, d)  # (n·P, D)
        obj = objective(cand).reshape(n, proposals)
        j = obj.argmax(1)
        take = obj[np.arange(n), j] > cur
        z[take] = cand.reshape(n, proposals, d)[np.arange(n), j][take]
        cur[take] = obj[np.arange(n), j][take]
        sigma *= 0.9
    return torch.from_numpy(z.astype(np.float32))


def _nearest_known(ranker: Any, vae: Any, text: str, images: np.ndarray,
                   known: EmojiSet | None) -> list[RankedEmoji]:
    """Nearest known emoji of each image by VAE code, with the ranker's score for ``text``."""
    from .ranker import RankedEmoji

    es = known if known is not None else ranker.emojis
    es = es.filter(skin_tones=False) if any(e.skin_tone for e in es) else es
    codes = vae.embed(es.images)  # (K, D)
    mine = vae.embed(images)  # (n, D)
    d2 = ((mine[:, None, :] - codes[None, :, :]) ** 2).sum(-1)  # (n, K)
    idx = d2.argmin(1)
    t = np.asarray(ranker.encode_text([text], normalize=True))[0]  # (E,)
    uniq, inv = np.unique(idx, return_inverse=True)  # a subset cannot repeat a key
    sc = np.asarray(ranker.encode_emojis(es.subset([int(i) for i in uniq])) @ t,
                    np.float64)[inv.reshape(-1)]
    out = []
    for j, i in enumerate(idx):
        e = es.info(int(i))
        out.append(RankedEmoji(key=e.key, emoji=e.emoji, name=e.name, score=float(sc[j])))
    return out
