"""Training data from several sources, mixed, with the zero-shot hold-out applied.

The suggestion model learns what *every* emoji means, not only the 3 airline answers or the
20 TweetEval ones, from three sources of :class:`~emojiqa.datasets.Example` pairs:

* ``cldr``: the CLDR label, keywords and extra keywords of every base emoji in the bundled
  metadata, each as a short text answered by its emoji (≈ 2,000 emojis, ≈ 21,000 texts).
  Skin-tone variants share their base's meaning, so they are mapped to their base key for
  training; the tone is applied at display time (``EmojiRanker.rank(skin_tone=...)``).
  A keyword shared by ``n`` emojis ("face", "flag") is ambiguous, so it weighs ``1 / n``.
* ``tweeteval``: TweetEval emoji prediction, train split (U+FE0F stripped by the loader).
* ``airline``: the airline tweets answered by the seed's 🎉 / 😈 / 😡.

:func:`mix` scales each source's example weights so the sources contribute in the given
proportions. :func:`held_out_keys` is the *new releases* protocol's hold-out: every emoji of
Unicode Emoji version ≥ 14.0 (and every variant of one), which :func:`training_examples` and
:func:`training_emoji_sets` remove entirely — no text and no image of theirs.

Example:
    >>> train = training_examples(hold_out=True)            # doctest: +SKIP
    >>> sets = training_emoji_sets(("twemoji",), hold_out=True)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from .emojis import EmojiInfo, EmojiSet, info_for, load_metadata

if TYPE_CHECKING:
    from .datasets import Example

#: Emojis of this Unicode Emoji version or later are held out by the new-releases protocol.
HELD_OUT_MIN_VERSION = 14.0
#: The sources :func:`training_examples` knows, in a stable order.
SOURCES = ("cldr", "tweeteval", "airline")
#: Default share of the total training weight per source.
DEFAULT_WEIGHTS: Mapping[str, float] = {"cldr": 0.5, "tweeteval": 0.35, "airline": 0.15}


def base_key(key: str) -> str:
    """The key an emoji trains under: its base key for a skin-tone variant, else itself.

    Example:
        >>> base_key("1f44d-1f3fd")
        '1f44d'
    """
    return info_for(key).base_key


@cache
def base_keys() -> tuple[str, ...]:
    """Keys of every base emoji (no skin-tone variants) in the bundled metadata, in order."""
    return tuple(k for k, e in load_metadata().items() if not e.base)


@cache
def held_out_keys(min_version: float = HELD_OUT_MIN_VERSION) -> frozenset[str]:
    """Every key held out by the new-releases protocol.

    A key is held out when its own Unicode Emoji version is ``min_version`` or later, or when it
    is a variant of a base emoji that is (so a tone of a held-out emoji never slips in).

    Example:
        >>> "1fae0" in held_out_keys()   # 🫠 melting face, Emoji 14.0
        True
    """
    meta = load_metadata()

    def new(key: str) -> bool:
        v = meta[key].version if key in meta else None
        return v is not None and v >= min_version

    return frozenset(k for k, e in meta.items() if new(k) or (e.base is not None and new(e.base)))


def is_held_out(key: str, min_version: float = HELD_OUT_MIN_VERSION) -> bool:
    """Whether ``key`` (or its base emoji) is held out by the new-releases protocol."""
    return key in held_out_keys(min_version) or base_key(key) in held_out_keys(min_version)


def cldr_examples(keys: Iterable[str] | None = None, *, keywords: bool = True,
                  exclude: Iterable[str] = ()) -> list[Example]:
    """Short CLDR texts answered by their emoji: label (weight 1) and keywords (1/n).

    Args:
        keys: the emojis to describe (default: every base emoji of the bundled metadata).
            Skin-tone variants are mapped to their base and described once.
        keywords: also add the CLDR keywords and emojilib extra keywords, each weighted
            ``1 / n`` where ``n`` is the number of emojis sharing that keyword.
        exclude: keys to leave out entirely (with their variants).

    Returns:
        ``Example(text, key, weight, source="cldr")`` list, label first for each emoji.

    Example:
        >>> ex = cldr_examples(["1f389"])
        >>> ex[0].text, ex[0].key
        ('party popper', '1f389')
    """
    from .datasets import Example

    meta = load_metadata()
    skip = set(exclude)
    chosen: list[str] = []
    seen: set[str] = set()
    for k in keys if keys is not None else base_keys():
        b = base_key(k)
        if b in seen or b in skip or k in skip:
            continue
        seen.add(b)
        if b in meta and meta[b].label:
            chosen.append(b)
    # how many emojis share each keyword text, over the whole metadata (stable weights)
    shared = Counter(t.lower() for k in base_keys() for t in set(_keyword_texts(meta[k])))
    out: list[Example] = []
    for k in chosen:
        e = meta[k]
        out.append(Example(e.label, k, 1.0, "cldr"))
        if keywords:
            for t in _keyword_texts(e):
                out.append(Example(t, k, 1.0 / max(1, shared[t.lower()]), "cldr"))
    return out


def _keyword_texts(e: EmojiInfo) -> list[str]:
    label = e.label.lower()
    seen: set[str] = set()
    out = []
    for t in (*e.keywords, *e.extra_keywords):
        t = t.strip()
        if t and t.lower() != label and t.lower() not in seen:
            seen.add(t.lower())
            out.append(t)
    return out


def tweeteval_examples(split: str = "train") -> list[Example]:
    """TweetEval emoji prediction texts (U+FE0F stripped), tagged ``source="tweeteval"``."""
    from .datasets import load_tweeteval

    return [replace(x, source="tweeteval") for x in load_tweeteval(split)]


def airline_examples(split: str = "train") -> list[Example]:
    """Airline tweets answered by 🎉 / 😈 / 😡, tagged ``source="airline"``."""
    from .datasets import load_airline

    return [replace(x, source="airline") for x in load_airline(split)]


def mix(sources: Mapping[str, Sequence[Example]],
        weights: Mapping[str, float] | None = None, *,
        class_balance: float = 0.0) -> list[Example]:
    """Concatenate sources, scaling example weights so each source gets its share.

    Within a source the relative weights are kept; across sources the total weight of
    source ``s`` becomes ``weights[s] / sum(weights) × N`` (``N`` = number of examples), so the
    mean weight stays 1 and a loss averaged with these weights mixes the sources as asked.

    Args:
        sources: examples per source name.
        weights: share per source (default :data:`DEFAULT_WEIGHTS`).
        class_balance: the exponent the trainer will apply on top
            (``weight × count(key) ** -class_balance``, see ``RankerConfig.class_balance``);
            the shares are computed so that they still hold after it.

    Example:
        >>> mixed = mix({"cldr": c, "airline": a}, {"cldr": 0.7, "airline": 0.3})  # doctest: +SKIP
    """
    weights = dict(weights if weights is not None else DEFAULT_WEIGHTS)
    for name, w in weights.items():
        if not (w >= 0):
            raise ValueError(f"mixing weight of {name!r} must be >= 0, got {w!r}")
    present = {n: list(xs) for n, xs in sources.items() if xs and weights.get(n, 0) > 0}
    if not present:
        raise ValueError(
            f"nothing to mix: sources {sorted(sources)} with weights {weights} leave no example"
        )
    counts = Counter(x.key for xs in present.values() for x in xs)
    total_w = sum(weights[n] for n in present)
    n_all = sum(len(xs) for xs in present.values())
    out: list[Example] = []
    for name, xs in present.items():
        mass = sum(x.weight * counts[x.key] ** -class_balance for x in xs)
        scale = weights[name] / total_w * n_all / mass
        out += [replace(x, weight=x.weight * scale) for x in xs]
    return out


def remove_held_out(examples: Iterable[Example],
                    min_version: float = HELD_OUT_MIN_VERSION) -> list[Example]:
    """Drop every example whose answer is a held-out emoji or that mentions one.

    An example mentions a held-out emoji when its text contains the emoji's character
    sequence or equals its CLDR label (case-insensitive).
    """
    held = held_out_keys(min_version)
    meta = load_metadata()
    chars = [meta[k].emoji for k in held if k in meta and len(meta[k].emoji) > 0]
    labels = {meta[k].label.lower() for k in held if k in meta and meta[k].label}
    out = []
    for x in examples:
        if x.key in held or base_key(x.key) in held or x.text.lower() in labels:
            continue
        if any(c in x.text for c in chars):
            continue
        out.append(x)
    return out


def training_examples(weights: Mapping[str, float] | None = None, *, hold_out: bool = False,
                      split: str = "train", min_version: float = HELD_OUT_MIN_VERSION,
                      class_balance: float = 0.0, tune_every: int = 0) -> list[Example]:
    """The multi-source training (or validation) set, mixed by ``weights``.

    Args:
        weights: share per source name in :data:`SOURCES`; a source with weight 0 or absent
            is not loaded (default :data:`DEFAULT_WEIGHTS`).
        hold_out: remove every emoji of the new-releases hold-out (version ≥ ``min_version``).
        split: ``"train"``, ``"val"`` or ``"tune"``; the CLDR source has no split and is used
            only for ``"train"`` (its texts are the zero-shot queries of held-out emojis
            otherwise). ``"tune"`` (needs ``tune_every``) is a tuning split whose texts no
            ``"train"`` model with the same ``tune_every`` saw: every ``tune_every``-th
            TweetEval training text (TweetEval's val is where its figure is reported) and
            the airline val split.
        min_version: the hold-out's first Unicode Emoji version.
        class_balance: the trainer's class-balance exponent (see :func:`mix`).
        tune_every: with ``"train"``, leave every ``tune_every``-th TweetEval training text
            out (they are the ``"tune"`` split's); 0 keeps them all.

    Example:
        >>> train = training_examples({"cldr": 1, "airline": 0.2}, hold_out=True)  # doctest: +SKIP
    """
    weights = dict(weights if weights is not None else DEFAULT_WEIGHTS)
    unknown = sorted(set(weights) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; known sources are {list(SOURCES)}")
    if split not in ("train", "val", "tune"):
        raise ValueError(f"split must be 'train', 'val' or 'tune', got {split!r}")
    if int(tune_every) < 0 or (split == "tune" and int(tune_every) < 2):
        raise ValueError(f"tune_every must be >= 0 (>= 2 for the tune split), got {tune_every}")

    def tweets() -> list[Example]:
        if split == "val" or not tune_every:
            return tweeteval_examples(split if split == "val" else "train")
        xs = tweeteval_examples("train")
        return xs[::tune_every] if split == "tune" else [
            x for i, x in enumerate(xs) if i % tune_every]

    loaders = {"cldr": lambda: cldr_examples() if split == "train" else [],
               "tweeteval": tweets,
               "airline": lambda: airline_examples("val" if split == "tune" else split)}
    parts = {n: loaders[n]() for n in SOURCES if weights.get(n, 0) > 0}
    if hold_out:
        parts = {n: remove_held_out(xs, min_version) for n, xs in parts.items()}
    return mix(parts, weights, class_balance=class_balance)


def training_emoji_sets(styles: Sequence[str | EmojiSet] = ("twemoji", "noto", "openmoji"), *,
                        hold_out: bool = False, min_version: float = HELD_OUT_MIN_VERSION,
                        skin_tones: bool = False) -> list[EmojiSet]:
    """The drawings the answer tower trains on, one :class:`EmojiSet` per style.

    Only emojis known to the bundled metadata are kept (OpenMoji's extras have no meaning to
    learn); skin-tone variants are dropped unless ``skin_tones`` (they train as their base);
    with ``hold_out`` every held-out emoji is removed, so none of its images is ever seen.
    """
    meta = load_metadata()
    held = held_out_keys(min_version) if hold_out else frozenset()
    out = []
    for style in styles:
        es = EmojiSet.load(style)
        out.append(es.filter(lambda e: e.key in meta and e.key not in held
                             and base_key(e.key) not in held,
                             skin_tones=skin_tones))
    return out


def candidate_set(style: str | EmojiSet = "twemoji") -> EmojiSet:
    """Every base emoji of a style (≈ 1,979 for Twemoji): the zero-shot candidates."""
    meta = load_metadata()
    return EmojiSet.load(style).filter(lambda e: e.key in meta and not meta[e.key].base)
