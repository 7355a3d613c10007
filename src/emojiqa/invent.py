"""Invent new emojis for a text: new points of the VAE's latent space the ranker scores high.

:func:`invent` answers a text with emojis nobody has drawn, in one of two ways:

* ``method="blend"`` (the default): the codes of the emojis the ranker puts first for the
  text are mixed two at a time (``a·z_i + (1 - a)·z_j``, ``a`` in :data:`BLEND_WEIGHTS`,
  each mix also moved by a little Gaussian noise), decoded, and scored as the ranker scores
  any new drawing: its pixels plus the learned corrections of the known emojis it looks like
  (:meth:`~emojiqa.ranker.EmojiRanker.encode_emojis` with ``lookalike=True``). The best
  mixes are kept, one per main parent first, so four invented emojis are four different
  ideas: mixes stay where the VAE decodes emoji-like drawings, and what they look like is
  what they are scored by. They are not refined by default: a local search on this score
  (``steps``) lifts it by moving a drawing among the look-alikes it borrows from, with small
  changes to the drawing (``benchmarks/suggest.py`` measures both).
* ``method="prior"``: many codes are drawn from the VAE prior, decoded and scored from their
  pixels alone (best of many), then refined by gradient ascent on the decoded image's score
  through the ranker's answer tower, with a Gaussian prior penalty; without a differentiable
  path, by a derivative-free local search (same objective). The pixel score alone is easy to
  please: this search tends to find the same blob for every text (``benchmarks/suggest.py``
  compares the two methods).

Every invented emoji comes with its score (the ranker's cosine on the final ``uint8`` image,
comparable with the scores of known emojis scored the same way) and its nearest known emoji
in the VAE latent space.

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
from .generate import set_codes

if TYPE_CHECKING:
    from .ranker import RankedEmoji

#: Codes drawn from the prior before refinement, per invented emoji asked for (``prior``).
SAMPLES_PER_RESULT = 64
#: ``blend``: weight of the main parent in each mix of two parents' codes.
BLEND_WEIGHTS = (0.6, 0.75, 0.9)
#: ``blend``: standard deviation of the noise added to a copy of each mix.
BLEND_NOISE = 0.15
#: ``blend``: a mix this close to one already kept (as a share of the parents' median
#: distance) is left for another idea, until every main parent has had its turn.
BLEND_MIN_GAP = 0.35
#: ``blend``: parents are the ranker's first ``max(8, n)`` emojis for the text, at most 16.
BLEND_PARENTS = (8, 16)
METHODS = ("blend", "prior")
#: Refinement steps of each method when not given (``blend``: a search on the look-alike
#: score lifts it with small changes to the drawing, so none).
DEFAULT_STEPS = {"blend": 0, "prior": 60}


@dataclass(frozen=True)
class Invented:
    """One invented emoji: the image, its score for the text and its nearest known emoji;
    for a blend, its recipe: the keys of the two known emojis mixed and the first one's
    weight (``("1f495", "1f49c", 0.75)``; empty for ``prior``)."""

    image: np.ndarray  # (36, 36, 4) uint8 RGBA
    score: float
    nearest: RankedEmoji
    code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    recipe: tuple[str, str, float] | tuple[()] = ()

    @property
    def blend_text(self) -> str | None:
        """The recipe as a person reads it, ``"💕 75% + 💜"`` (None for ``prior``)."""
        if not self.recipe:
            return None
        from .emojis import info_for

        main, other, weight = self.recipe
        return f"{info_for(main).emoji or main} {weight:.0%} + {info_for(other).emoji or other}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: score, nearest emoji, the latent code and the recipe of a blend
        (``{"main", "other", "weight", "text"}``, keys and :attr:`blend_text`, or None; the
        image is left out)."""
        blend = (dict(zip(("main", "other", "weight"), self.recipe, strict=True))
                 | {"text": self.blend_text} if self.recipe else None)
        return {"score": float(self.score), "nearest": self.nearest.to_dict(),
                "code": [float(v) for v in self.code], "blend": blend}


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


def _score_images(ranker: Any, text: str, images: np.ndarray, lookalike: bool = False
                  ) -> np.ndarray:
    """The ranker's score of each decoded image for ``text``, as ``float64``."""
    # the keyword only when asked: ``prior`` needs no more of a ranker than score_images(text, x)
    scores = (ranker.score_images(text, images, lookalike=True) if lookalike
              else ranker.score_images(text, images))
    return np.asarray(scores, dtype=np.float64)


def _score_codes_numpy(ranker: Any, vae: Any, text: str, z: np.ndarray,
                       lookalike: bool = False) -> np.ndarray:
    return _score_images(ranker, text, vae.decode_images(z), lookalike)


def invent(ranker: Any, text: str, n: int = 4, *, method: str = "blend",
           steps: int | None = None, samples: int | None = None, lr: float = 0.05,
           prior_weight: float = 0.02, generator: torch.Generator | None = None,
           known: EmojiSet | None = None) -> list[Invented]:
    """Invent ``n`` emojis the ranker scores highest for ``text``.

    Args:
        ranker: an :class:`~emojiqa.ranker.EmojiRanker` (uses ``.vae``, ``.score_images``,
            ``.encode_text``, and ``.rank`` for ``blend``; ``prior`` uses a differentiable
            pixel answer path when there is one).
        text: the text to answer.
        n: how many emojis to invent (1–64).
        method: ``blend`` (mixes of the codes of the text's best known emojis, scored as new
            drawings with look-alikes) or ``prior`` (prior samples refined on the pixel
            score); see the module's documentation.
        steps: refinement steps (``prior``: gradient ascent, default 60; ``blend``: a
            derivative-free local search on the same score, default 0: none).
        samples: ``prior``: prior samples drawn first (default ``64 × n``, at least 256).
        lr: step size of the refinement (Adam on the codes; ``blend``: the search's first
            move size is ``4 × lr``).
        prior_weight: weight of the prior penalty ``½‖z‖² / latent_dim`` subtracted from the
            score in ``prior``'s search and in any refinement.
        generator: seeds the prior samples, the blends' noise and the local search.
        known: emojis to take parents from (``blend``) and to find each invention's nearest
            neighbour in (default: the ranker's candidates).

    Returns:
        ``n`` :class:`Invented`, best score first, each with a ``uint8`` image.

    Example:
        >>> out = invent(ranker, "pizza night", n=2)                 # doctest: +SKIP
        >>> out = invent(ranker, "pizza night", n=2, method="prior", steps=20)  # doctest: +SKIP
    """
    n = int(n)
    if not 1 <= n <= 64:
        raise ValueError(f"n must be between 1 and 64 emojis to invent, got {n}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    steps = DEFAULT_STEPS[method] if steps is None else int(steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    from .text import validate_text

    text = validate_text(text)
    vae = ranker.vae
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    lookalike = method == "blend"
    recipes: list[Any] = [()] * n  # (main key, other key, main's weight) per blend
    if method == "blend":
        best, recipes = _blend_codes(ranker, vae, text, n, gen, known)
        if steps:
            best = _refine_search(ranker, vae, text, best, steps, lr, prior_weight, gen,
                                  lookalike=True)
    else:
        best = _prior_codes(ranker, vae, text, n, samples, prior_weight, gen)
        answer = _pixel_answer_fn(ranker)
        if steps and answer is not None:
            best = _refine_gradient(ranker, vae, answer, text, best, steps, lr, prior_weight)
        elif steps:
            best = _refine_search(ranker, vae, text, best, steps, lr, prior_weight, gen)

    codes = best.detach().numpy().astype(np.float32)
    images = vae.decode_images(codes)  # (n, 36, 36, 4) uint8
    scores = _score_images(ranker, text, images, lookalike)
    near = _nearest_known(ranker, vae, text, images, known)
    order = np.argsort(-scores, kind="stable")
    return [Invented(image=images[i], score=float(scores[i]), nearest=near[i], code=codes[i],
                     recipe=recipes[i]) for i in order]


def _prior_codes(ranker: Any, vae: Any, text: str, n: int, samples: int | None,
                 prior_weight: float, gen: torch.Generator) -> torch.Tensor:
    """Best of many: decode prior samples, keep the ``n`` best (penalised) codes."""
    d = vae.config.latent_dim
    n_samples = int(samples) if samples else max(256, SAMPLES_PER_RESULT * n)
    z = torch.randn(n_samples, d, generator=gen)  # (S, D)
    s = _score_codes_numpy(ranker, vae, text, z.numpy())
    obj = s - prior_weight * 0.5 * (z.numpy() ** 2).sum(1) / d
    return torch.from_numpy(z.numpy()[np.argsort(-obj)[:n]].copy())  # (n, D)


def _blend_codes(ranker: Any, vae: Any, text: str, n: int, gen: torch.Generator,
                 known: EmojiSet | None) -> tuple[torch.Tensor, list[tuple[str, str, float]]]:
    """``n`` codes mixed from the codes of the text's best known emojis (the parents), the
    best by the new-drawing score, one per main parent before any parent gives a second;
    and for each, its recipe: ``(main parent's key, other parent's key, main's weight)``."""
    es = known if known is not None else ranker.emojis
    m = min(max(BLEND_PARENTS[0], n), BLEND_PARENTS[1], len(es))
    ranked = ranker.rank(text, top_k=m, emojis=es)
    z = set_codes(vae, es)[[es.index(r.key) for r in ranked]]  # (M, D)
    mixes, recipes = [], []
    for i in range(len(z)):
        for j in range(len(z)):
            if i != j:
                for a in BLEND_WEIGHTS:
                    mixes.append(a * z[i] + (1.0 - a) * z[j])
                    recipes.append((i, j, a))
    if not mixes:  # a single parent: noisy copies of it
        mixes, recipes = [z[0]] * 8, [(0, 0, 1.0)] * 8
    base = np.stack(mixes).astype(np.float32)
    noise = torch.randn(base.shape, generator=gen).numpy() * BLEND_NOISE
    codes = np.concatenate([base, base + noise.astype(np.float32)])
    recipes = recipes * 2
    parent = np.array([i for i, _, _ in recipes])
    scores = _score_codes_numpy(ranker, vae, text, codes, lookalike=True)
    order = np.argsort(-scores, kind="stable")
    # two mixes closer than this look alike (a third of the parents' median distance)
    gaps = np.linalg.norm(z[:, None] - z[None], axis=-1)[np.triu_indices(len(z), 1)]
    near = BLEND_MIN_GAP * float(np.median(gaps)) if len(gaps) else 0.0
    chosen: list[int] = []
    for first_pass in (True, False):  # each main parent once, unlike the others, then any
        for o in order:
            if len(chosen) == n:
                break
            if o in chosen or (first_pass and (parent[o] in parent[chosen] or (
                    chosen and np.linalg.norm(codes[chosen] - codes[o], axis=1).min() < near))):
                continue
            chosen.append(int(o))
    keys = [r.key for r in ranked]
    return (torch.from_numpy(codes[chosen].copy()),
            [(keys[recipes[o][0]], keys[recipes[o][1]], recipes[o][2]) for o in chosen])


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
                   prior_weight: float, gen: torch.Generator, proposals: int = 8, *,
                   lookalike: bool = False) -> torch.Tensor:
    """(1+λ) local search: each step tries ``proposals`` Gaussian moves per code."""
    n, d = z0.shape
    z = z0.numpy().astype(np.float64)

    def objective(c: np.ndarray) -> np.ndarray:
        return (_score_codes_numpy(ranker, vae, text, c.astype(np.float32), lookalike)
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

    full = known if known is not None else ranker.emojis
    keep = [i for i in range(len(full)) if not full.info(i).skin_tone]  # no tone variants
    es = full.subset(keep) if len(keep) < len(full) else full
    codes = set_codes(vae, full)[keep]  # (K, D): the set's codes, embedded once per set
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
