"""New emojis from a trained VAE: the seed's 2-D grids, interpolation, blends, arithmetic.

Every function returns ``uint8`` RGBA images ``(…, 36, 36, 4)``; lay them out with
:func:`emojiqa.images.make_grid`. :func:`nearest_known` names the known emoji closest to each
generated one (by cosine similarity of μ codes).

Example:
    >>> vae = VAE.from_pretrained()                                # doctest: +SKIP
    >>> strip = interpolate(vae, "🐱", "🐶", steps=10)            # (10, 36, 36, 4)
    >>> robot_cat = latent_arithmetic(vae, "🐱 + 🤖")             # (36, 36, 4)
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .emojis import EmojiSet
from .images import is_image_path, load_image

if TYPE_CHECKING:
    from .vae import VAE

#: The seed's three ways of spreading a 2-D point (x, y) over the latent code.
GRID_KINDS = ("A", "B", "C")


def grid_code(kind: str, x: float, y: float, latent_dim: int = 16) -> list[float]:
    """The latent code of point ``(x, y)`` in the seed's grid ``kind``.

    A = 8×[x] + 8×[y]; B = 8×[x, y]; C = 4×[x, x, y, y] (for a 16-d code; other sizes scale).

    Example:
        >>> grid_code("C", 0.0, 1.0)[:8]
        [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    """
    kind = kind.upper()
    if kind not in GRID_KINDS:
        raise ValueError(f"grid kind {kind!r} is not one of {', '.join(GRID_KINDS)}")
    unit = {"A": 2, "B": 2, "C": 4}[kind]
    if latent_dim % unit:
        raise ValueError(f"grid {kind} needs a latent size divisible by {unit}, got {latent_dim}")
    if kind == "A":
        return latent_dim // 2 * [x] + latent_dim // 2 * [y]
    if kind == "B":
        return latent_dim // 2 * [x, y]
    return latent_dim // 4 * [x, x, y, y]


def seed_grid(vae: VAE, kind: str = "A", ticks: int = 20, lo: float = -2.0, hi: float = 2.0
              ) -> np.ndarray:
    """Decode the seed's ``ticks × ticks`` grid ``kind`` over ``linspace(lo, hi, ticks)``.

    Row ``i`` holds the first coordinate ``axis[i]``, column ``j`` the second.

    Returns:
        ``uint8`` ``(ticks * ticks, 36, 36, 4)``, row-major.

    Example:
        >>> grid = seed_grid(vae, "B")  # doctest: +SKIP
        >>> make_grid(grid, ncol=20)     # doctest: +SKIP
    """
    if int(ticks) < 1:
        raise ValueError(f"ticks must be >= 1, got {ticks}")
    axis = np.linspace(lo, hi, int(ticks))
    d = vae.config.latent_dim
    codes = np.array([grid_code(kind, x, y, d) for x in axis for y in axis], np.float32)
    return vae.decode_images(codes)


def _default_set(emojis: EmojiSet | None) -> EmojiSet:
    return emojis if emojis is not None else EmojiSet.bundled("twemoji")


def images_of(items: Sequence[str | os.PathLike[str] | np.ndarray],
              emojis: EmojiSet | None = None) -> np.ndarray:
    """``uint8 (N, 36, 36, 4)`` drawings of the items: an emoji (character, key or name, in
    ``emojis``, default the bundled Twemoji), an image file (a name that is not an emoji and
    is a file, or ends in an image suffix), or a uint8 RGBA image.

    Raises:
        EmojiNotFoundError: a name that is neither an emoji nor a file, with the closest names.
        ImageError: an image file that is missing or cannot be read.
    """
    images = []
    es = None
    for item in items:
        if isinstance(item, str | os.PathLike):
            es = es or _default_set(emojis)
            if isinstance(item, str) and item in es:
                images.append(es.image(item))
            elif is_image_path(item):
                images.append(load_image(item))
            else:
                images.append(es.image(str(item)))  # not found: the closest names
        else:
            arr = np.asarray(item)
            images.append(arr[0] if arr.ndim == 4 and len(arr) == 1 else arr)
    return np.stack(images)


def _codes(vae: VAE, items: Sequence[str | np.ndarray], emojis: EmojiSet | None) -> np.ndarray:
    """μ of each item (:func:`images_of`)."""
    return vae.embed(images_of(items, emojis))  # (N, D)


def interpolate(vae: VAE, a: str | np.ndarray, b: str | np.ndarray, steps: int = 10,
                emojis: EmojiSet | None = None) -> np.ndarray:
    """Decode ``steps`` codes on the straight line from μ(a) to μ(b), both ends included.

    Args:
        vae: a trained VAE.
        a, b: emoji character, key or name (looked up in ``emojis``, default the bundled
            Twemoji), an image file of a drawing, or ``uint8`` RGBA images ``(36, 36, 4)``.
        steps: number of images (>= 2).

    Example:
        >>> interpolate(vae, "🐱", "🐶", steps=10).shape  # doctest: +SKIP
        (10, 36, 36, 4)
    """
    if int(steps) < 2:
        raise ValueError(f"steps must be >= 2 (the two ends), got {steps}")
    za, zb = _codes(vae, [a, b], emojis)
    t = np.linspace(0.0, 1.0, int(steps), dtype=np.float32)[:, None]  # (S, 1)
    return vae.decode_images((1 - t) * za + t * zb)


def blend(vae: VAE, items: Sequence[str | np.ndarray], weights: Sequence[float] | None = None,
          emojis: EmojiSet | None = None) -> np.ndarray:
    """Decode the weighted mean of the codes of ``items`` (default: equal weights); each item
    as :func:`interpolate` takes ``a`` and ``b``.

    Example:
        >>> blend(vae, ["🐱", "🤖"]).shape  # doctest: +SKIP
        (36, 36, 4)
    """
    if not items:
        raise ValueError("blend needs at least one emoji")
    w = np.ones(len(items), np.float32) if weights is None else np.asarray(weights, np.float32)
    if w.shape != (len(items),):
        raise ValueError(f"{len(w)} weights for {len(items)} emojis; give one weight each")
    if not np.isfinite(w).all() or abs(float(w.sum())) < 1e-8:
        raise ValueError(f"weights must be finite and not sum to 0, got {w.tolist()}")
    z = (w[:, None] * _codes(vae, items, emojis)).sum(0) / w.sum()  # (D,)
    return vae.decode_images(z[None])[0]


_TERM = re.compile(r"\s*([+-])\s*")


def parse_expression(expr: str) -> list[tuple[float, str]]:
    """Split ``"🐱 + 🤖 - 😀"`` into ``[(1, "🐱"), (1, "🤖"), (-1, "😀")]``.

    Terms may be emoji characters, keys or names; ``0.5*🐱`` gives a weight.
    """
    text = expr.strip()
    if not text:
        raise ValueError("empty expression; write e.g. '🐱 + 🤖' or 'cat face + robot'")
    parts = _TERM.split(" + " + text if text[0] not in "+-" else text)
    terms: list[tuple[float, str]] = []
    for sign, term in zip(parts[1::2], parts[2::2], strict=True):
        term = term.strip()
        weight = 1.0
        m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*\*\s*(.+)", term)
        if m:
            weight, term = float(m.group(1)), m.group(2).strip()
        if not term:
            raise ValueError(f"missing emoji after {sign!r} in {expr!r}")
        terms.append((weight if sign == "+" else -weight, term))
    return terms


def latent_arithmetic(vae: VAE, expr: str, emojis: EmojiSet | None = None) -> np.ndarray:
    """Decode a signed combination of codes, e.g. ``"🐱 + 🤖 - 😀"``.

    The weighted sum is divided by the sum of the weights (when it is not 0), so
    ``"🐱 + 🤖"`` is the midpoint of the two and ``"👑 - 👨 + 👩"`` the classic analogy.

    Example:
        >>> latent_arithmetic(vae, "🐱 + 🤖").shape  # doctest: +SKIP
        (36, 36, 4)
    """
    terms = parse_expression(expr)
    w = np.array([t[0] for t in terms], np.float32)
    z = (w[:, None] * _codes(vae, [t[1] for t in terms], emojis)).sum(0)  # (D,)
    total = float(w.sum())
    if abs(total) > 1e-8:
        z = z / total  # "a + b" is the midpoint; "a - b + c" keeps unit weight
    return vae.decode_images(z[None])[0]


def nearest_known(vae: VAE, images: np.ndarray, emojis: EmojiSet, k: int = 1
                  ) -> list[list[int]]:
    """Indices in ``emojis`` of the ``k`` known emojis whose μ is closest (cosine) to each image
    (all of them when the set has fewer than ``k``).

    Example:
        >>> es = EmojiSet.bundled("twemoji")                  # doctest: +SKIP
        >>> [es[i].emoji for i in nearest_known(vae, vae.sample(3), es)[0]]
    """
    if len(emojis) == 0:
        raise ValueError("nearest_known needs a non-empty emoji set")
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive whole number, got {k!r}")
    k = min(int(k), len(emojis))
    q = _unit(vae.embed(np.asarray(images)))  # (N, D)
    ref = _unit(set_codes(vae, emojis))  # (M, D)
    sims = q @ ref.T  # (N, M)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return top.tolist()


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


def set_codes(vae: VAE, emojis: EmojiSet) -> np.ndarray:
    """μ of every emoji of ``emojis`` ``(len(emojis), latent_dim)``, embedded once per set and
    kept on the VAE (the last set asked for), for :func:`nearest_known` and
    :func:`emojiqa.invent.invent`; taken from the codes stored for the VAE
    (:func:`use_stored_codes`) when they cover the set."""
    cache = vae.__dict__.setdefault("_code_cache", {})
    key = (id(emojis), len(emojis))
    if key not in cache:
        cache.clear()
        stored = _stored_codes(vae, emojis)
        cache[key] = stored if stored is not None else vae.embed(emojis)
    return cache[key]


def use_stored_codes(vae: VAE, style: str, keys: Sequence[str], codes: np.ndarray) -> None:
    """Let :func:`set_codes` look up, instead of embed, the μ of the drawings of ``style``:
    ``codes`` ``(len(keys), latent_dim)``, one row per key, computed by this VAE (the bundled
    model stores those of its own style next to it, :func:`emojiqa.recipes.precompute_vectors`).
    A set of another style, or with a key not among ``keys``, is embedded as before."""
    codes = np.asarray(codes, dtype=np.float32)
    if codes.shape != (len(keys), vae.config.latent_dim):
        raise ValueError(f"stored codes of shape {codes.shape} do not fit {len(keys)} keys "
                         f"and a {vae.config.latent_dim}-d VAE")
    vae.__dict__["_stored_codes"] = (str(style), {k: i for i, k in enumerate(keys)}, codes)
    vae.__dict__.pop("_code_cache", None)


def _stored_codes(vae: VAE, emojis: EmojiSet) -> np.ndarray | None:
    """The stored codes of ``emojis`` (:func:`use_stored_codes`), or None where they do not
    cover it."""
    stored = vae.__dict__.get("_stored_codes")
    if stored is None or emojis.style != stored[0]:
        return None
    rows = [stored[1].get(k, -1) for k in emojis.keys]
    if not rows or min(rows) < 0:
        return None
    return stored[2][rows]
