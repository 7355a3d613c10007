"""Emoji sets: the bundled Twemoji, Noto and OpenMoji drawings, a user's folder, or generated.

An :class:`EmojiSet` is an ordered list of emoji keys with one 36×36 RGBA ``uint8`` image each.
Keys follow the Twemoji file-name convention: lower-case hex code points without leading zeros
joined by ``-``, with U+FE0F dropped unless the sequence holds a ZWJ (U+200D); e.g. ``1f389``
for 🎉 and ``1f3f3-fe0f-200d-1f308`` for 🏳️‍🌈. Metadata (CLDR label, keywords, group, Unicode
version, skin tone) comes from the bundled ``emoji_meta.json``.

Example:
    >>> es = EmojiSet.bundled("twemoji")
    >>> es.get("🎉").label
    'party popper'
    >>> [e.emoji for e in es.search("cat face", limit=3)]  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .errors import EmojiNotFoundError, ImageError
from .images import EMOJI_SIZE, IMAGE_SUFFIXES, load_image

#: Names of the bundled drawing styles, mapped to their files.
#: How :meth:`EmojiSet.from_folder` begins the warning about a file it skipped.
SKIPPED_IMAGE = "skipping unreadable image "
STYLES = {"twemoji": "twemoji36.npz", "noto": "notosvg36.npz", "openmoji": "openmoji36.npz"}
#: Skin-tone modifiers U+1F3FB..U+1F3FF, by tone number 1..5.
SKIN_TONE_MODIFIERS = {1: "\U0001f3fb", 2: "\U0001f3fc", 3: "\U0001f3fd", 4: "\U0001f3fe",
                       5: "\U0001f3ff"}
SKIN_TONE_NAMES = {"light": 1, "medium-light": 2, "medium": 3, "medium-dark": 4, "dark": 5}
#: Longer search queries are cut to this many characters (no emoji name is longer).
MAX_QUERY_CHARS = 100
_ZWJ = 0x200D
_VS16 = 0xFE0F


def data_path(*parts: str) -> Path:
    """Path of a file bundled in ``emojiqa/data``."""
    return Path(str(resources.files("emojiqa").joinpath("data", *parts)))


def key_from_emoji(emoji: str) -> str:
    """The key of an emoji character sequence, e.g. ``"🎉" → "1f389"``.

    U+FE0F is dropped unless the sequence contains a ZWJ, as in Twemoji's file names.
    """
    if not emoji:
        raise EmojiNotFoundError("empty string is not an emoji; pass a character like 🎉")
    cps = [ord(c) for c in emoji]
    if _ZWJ not in cps:
        cps = [c for c in cps if c != _VS16]
    return "-".join(f"{c:x}" for c in cps)


def emoji_from_key(key: str) -> str:
    """The emoji character sequence of a key, e.g. ``"1f389" → "🎉"``."""
    try:
        return "".join(chr(int(part, 16)) for part in key.split("-"))
    except (ValueError, OverflowError) as exc:  # not hex, or past U+10FFFF / C int range
        raise EmojiNotFoundError(
            f"{key!r} is not an emoji key (hex code points joined by '-', e.g. '1f389')"
        ) from exc


@dataclass(frozen=True)
class EmojiInfo:
    """What is known about one emoji key."""

    key: str
    emoji: str
    label: str = ""
    keywords: tuple[str, ...] = ()
    extra_keywords: tuple[str, ...] = ()
    group: str = ""
    subgroup: str = ""
    version: float | None = None
    skin_tone: tuple[int, ...] = ()
    base: str | None = None
    shortcodes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """The CLDR short name; for a sequence without one (a few Twemoji drawings outside the
        standard set, e.g. 🕴🏻‍♀️) the names of its parts (``person in suit levitating: light
        skin tone, female sign``); the key when no part has a name either."""
        return self.label or _name_of_parts(self.key)

    @property
    def base_key(self) -> str:
        """The key without skin tone (the key itself for emojis without one)."""
        return self.base or self.key

    def texts(self) -> list[str]:
        """Short texts describing the emoji: its label, keywords and extra keywords."""
        out = [self.label] if self.label else []
        out += [k for k in (*self.keywords, *self.extra_keywords) if k]
        return out


@cache
def load_metadata() -> dict[str, EmojiInfo]:
    """The bundled emoji metadata, keyed by emoji key (cached)."""
    raw = json.loads(data_path("emoji", "emoji_meta.json").read_text(encoding="utf-8"))
    out: dict[str, EmojiInfo] = {}
    for key, m in raw.items():
        tone = m.get("skin_tone")
        tones = () if tone is None else tuple(tone) if isinstance(tone, list) else (int(tone),)
        out[key] = EmojiInfo(
            key=key,
            emoji=m.get("emoji") or emoji_from_key(key),
            label=m.get("label") or "",
            keywords=tuple(m.get("keywords") or ()),
            extra_keywords=tuple(k.replace("_", " ") for k in m.get("extra_keywords") or ()),
            group=m.get("group") or "",
            subgroup=m.get("subgroup") or "",
            version=m.get("version"),
            skin_tone=tones,
            base=m.get("base"),
            shortcodes=tuple(m.get("shortcodes") or ()),
        )
    return out


@cache
def _name_of_parts(key: str) -> str:
    """``"first: second, third"`` from the CLDR names of a key's code points (ZWJ and U+FE0F
    left out), or the key itself when the first has no name."""
    meta = load_metadata()
    names = [meta[p].label if p in meta else "" for p in key.split("-")
             if p not in ("200d", "fe0f")]
    if not names or not names[0]:
        return key
    rest = [n for n in names[1:] if n]
    return names[0] + (": " + ", ".join(rest) if rest else "")


def info_for(key: str) -> EmojiInfo:
    """Metadata of ``key``; emojis unknown to the bundled metadata get a bare entry."""
    meta = load_metadata()
    if key in meta:
        return meta[key]
    try:
        emoji = emoji_from_key(key)
    except EmojiNotFoundError:
        emoji = ""
    return EmojiInfo(key=key, emoji=emoji)


def parse_skin_tone(tone: int | str | None) -> int | None:
    """``None``/``"none"`` → None; ``1..5`` or ``"light".."dark"`` → 1..5."""
    if tone is None or tone == "" or str(tone).lower() == "none":
        return None
    if isinstance(tone, str) and tone.lower() in SKIN_TONE_NAMES:
        return SKIN_TONE_NAMES[tone.lower()]
    try:
        value = int(tone)
    except (TypeError, ValueError):
        value = 0
    if value not in SKIN_TONE_MODIFIERS:
        raise ValueError(
            f"skin tone {tone!r} is not valid; use 1-5 or one of "
            f"{', '.join(SKIN_TONE_NAMES)} (or none)"
        )
    return value


def _split_key(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % 5


def _word_start(word: str, text: str) -> bool:
    return text.startswith(word) or f" {word}" in text


@cache
def _ratio(a: str, b: str) -> float:
    # typos rarely hit the first letter: a small bonus for sharing it
    bonus = 0.05 if a[:1] == b[:1] else 0.0
    sm = difflib.SequenceMatcher(None, a, b)
    # cheap upper bounds first: most pairs are far apart and never need the full ratio
    if sm.real_quick_ratio() + bonus < 0.7 or sm.quick_ratio() + bonus < 0.7:
        return 0.0
    return sm.ratio() + bonus


def _norm(text: str) -> str:
    return re.sub(r"[\s_:\-]+", " ", text.lower()).strip()


class EmojiSet:
    """An ordered set of emojis, each a key with a 36×36 RGBA ``uint8`` image.

    Build one with :meth:`bundled`, :meth:`from_folder` or :meth:`from_arrays`. Indexing gives
    :class:`EmojiInfo`; :attr:`images` is the ``(N, 36, 36, 4)`` array in the same order.
    """

    def __init__(self, keys: Sequence[str], images: np.ndarray, style: str = "custom",
                 names: Sequence[str] | None = None) -> None:
        images = np.asarray(images)
        # 36×36 everywhere emojiqa loads images; other square sizes serve tiny test models
        if images.ndim != 4 or images.shape[3] != 4 or images.shape[1] != images.shape[2]:
            raise ImageError(
                f"emoji images must have shape (N, {EMOJI_SIZE}, {EMOJI_SIZE}, 4), "
                f"got {images.shape}"
            )
        if images.dtype != np.uint8:
            raise ImageError(f"emoji images must be uint8 RGBA, got dtype {images.dtype}")
        if len(keys) != len(images):
            raise ValueError(f"{len(keys)} keys for {len(images)} images")
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if list(keys).count(k) > 1)
            raise ValueError(f"duplicate emoji key {dup!r} in the set; keys must be unique")
        self.keys: list[str] = list(keys)
        self.images = images
        self.style = style
        self._names = list(names) if names is not None else None
        self._index = {k: i for i, k in enumerate(self.keys)}
        self._name_idx: dict[str, int] | None = None
        self._tone_idx: dict[tuple[str, int], str] | None = None

    # construction ---------------------------------------------------------------------------
    @classmethod
    def bundled(cls, style: str = "twemoji") -> EmojiSet:
        """One of the bundled drawing styles: ``twemoji`` (4,009), ``noto``, ``openmoji``."""
        style = style.lower()
        if style not in STYLES:
            raise ValueError(
                f"unknown emoji style {style!r}; bundled styles are {', '.join(STYLES)} "
                "(or pass a folder of images)"
            )
        keys, images = _load_bundled(style)
        return cls(keys, images, style=style)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str], progress: bool = True,
                    on_error: str = "raise") -> EmojiSet:
        """Load every PNG/JPEG/WebP/GIF/BMP in ``folder`` (any size) as 36×36 RGBA.

        A file named after an emoji (``1f389.png``, ``🎉.png``) gets that emoji's key and
        metadata; any other file keeps its stem as key and name.

        Args:
            folder: the folder to read (not recursive).
            progress: show a progress bar.
            on_error: ``"raise"`` stops at the first unreadable image; ``"skip"`` warns and
                skips it.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ImageError(f"emoji folder not found: {folder} is not a folder.")
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ImageError(
                f"no images in {folder}: expected files ending in "
                f"{', '.join(IMAGE_SUFFIXES)}. Put your emoji images there, or pass a bundled "
                "style name (twemoji, noto, openmoji)."
            )
        from tqdm.auto import tqdm

        keys: list[str] = []
        images: list[np.ndarray] = []
        names: list[str] = []
        for path in tqdm(files, desc=f"loading {folder.name}", unit="img",
                         disable=not progress or len(files) < 200):
            try:
                arr = load_image(path)
            except ImageError as exc:
                if on_error == "raise":
                    raise ImageError(f"{exc} To go on without it, remove it from {folder} "
                                     "(or skip unreadable files: EmojiSet.from_folder(..., "
                                     "on_error='skip'), emojiqa train-vae "
                                     "--skip-bad-images).") from exc
                import warnings

                warnings.warn(f"{SKIPPED_IMAGE}{path}", stacklevel=2)
                continue
            key = _key_for_stem(path.stem)
            if key in keys:
                key = f"{key}-{len(keys)}"
            keys.append(key)
            names.append(info_for(key).label or path.stem)
            images.append(arr)
        if not images:
            raise ImageError(f"none of the {len(files)} image files in {folder} could be read")
        return cls(keys, np.stack(images), style=f"folder:{folder.name}", names=names)

    @classmethod
    def from_arrays(cls, images: np.ndarray, keys: Sequence[str] | None = None,
                    names: Sequence[str] | None = None, style: str = "generated") -> EmojiSet:
        """An emoji set from RGBA ``uint8`` arrays, e.g. emojis the VAE generated."""
        images = np.asarray(images)
        keys = list(keys) if keys is not None else [f"gen-{i}" for i in range(len(images))]
        return cls(keys, images, style=style, names=names)

    @classmethod
    def concat(cls, sets: Sequence[EmojiSet], style: str | None = None) -> EmojiSet:
        """One set holding every emoji of ``sets`` in order (e.g. all three styles for training).

        A key already taken by an earlier set is prefixed with its set's style
        (``noto:1f389``), so keys stay unique.
        """
        if not sets:
            raise ValueError("concat needs at least one emoji set")
        keys: list[str] = []
        seen: set[str] = set()
        for es in sets:
            for k in es.keys:
                key = k if k not in seen else f"{es.style}:{k}"
                n = 1
                while key in seen:
                    key, n = f"{es.style}:{k}#{n}", n + 1
                seen.add(key)
                keys.append(key)
        images = np.concatenate([es.images for es in sets])
        return cls(keys, images, style=style or "+".join(es.style for es in sets))

    @classmethod
    def load(cls, spec: str | os.PathLike[str] | EmojiSet) -> EmojiSet:
        """A bundled style name, or a folder of images (what ``--emojis`` accepts)."""
        if isinstance(spec, EmojiSet):
            return spec
        if isinstance(spec, str) and spec.lower() in STYLES:
            return cls.bundled(spec)
        if Path(spec).is_dir():
            return cls.from_folder(spec)
        raise ValueError(
            f"{spec!r} is neither a bundled style ({', '.join(STYLES)}) nor a folder of images"
        )

    # access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[EmojiInfo]:
        return (self.info(i) for i in range(len(self)))

    def __contains__(self, query: object) -> bool:
        return isinstance(query, str) and self._find(query) is not None

    def __getitem__(self, i: int) -> EmojiInfo:
        return self.info(i)

    def __repr__(self) -> str:
        return f"EmojiSet(style={self.style!r}, n={len(self)})"

    def info(self, i: int) -> EmojiInfo:
        """Metadata of the i-th emoji."""
        key = self.keys[i]
        info = info_for(key)
        if self._names is not None and info.name == key:  # no name, not even of its parts
            # a drawing of a folder: a stem that spells no emoji (face.png) has no character
            info = EmojiInfo(key=key, emoji=info.emoji if _is_emoji_key(key) else "",
                             label=self._names[i])
        return info

    def name(self, i: int) -> str:
        """Display name of the i-th emoji."""
        return self.info(i).name

    def index(self, query: str) -> int:
        """Position of an emoji given by character (🎉), key (1f389) or name (party popper).

        Raises:
            EmojiNotFoundError: with the closest names as suggestions.
        """
        i = self._find(query)
        if i is None:
            hints = [e.emoji + " " + e.name for e in self.search(query, limit=3)]
            hint = f" Did you mean: {', '.join(hints)}?" if hints else ""
            raise EmojiNotFoundError(
                f"emoji {query!r} is not in the {self.style} set of {len(self)} emojis.{hint} "
                "Give an emoji character, its key (e.g. 1f389) or its name; "
                "`emojiqa emojis QUERY` searches the set."
            )
        return i

    def get(self, query: str) -> EmojiInfo:
        """Metadata of an emoji given by character, key or name."""
        return self.info(self.index(query))

    def image(self, query: str | int) -> np.ndarray:
        """The RGBA image of an emoji given by position, character, key or name."""
        return self.images[query if isinstance(query, int) else self.index(query)]

    def _find(self, query: str) -> int | None:
        q = query.strip()
        if not q:
            return None
        if q in self._index:
            return self._index[q]
        low = q.lower()
        if low in self._index:
            return self._index[low]
        try:
            k = key_from_emoji(q)
        except EmojiNotFoundError:
            k = ""
        if k in self._index:
            return self._index[k]
        return _name_index(self).get(_norm(q.strip(":")))

    # selection ------------------------------------------------------------------------------
    def subset(self, indices: Iterable[int], style: str | None = None) -> EmojiSet:
        """A new set holding the emojis at ``indices``, in that order."""
        idx = list(indices)
        names = [self._names[i] for i in idx] if self._names is not None else None
        return EmojiSet([self.keys[i] for i in idx], self.images[idx] if idx else
                        self.images[:0], style=style or self.style, names=names)

    def filter(self, predicate: Callable[[EmojiInfo], bool] | None = None, *,
               skin_tones: bool = True, groups: Iterable[str] | None = None,
               exclude_groups: Iterable[str] | None = None, keys: Iterable[str] | None = None,
               max_version: float | None = None, min_version: float | None = None) -> EmojiSet:
        """Keep the emojis that pass every given condition.

        Args:
            predicate: any test on :class:`EmojiInfo`.
            skin_tones: ``False`` drops skin-tone variants (keeps the base emojis).
            groups: keep only these CLDR groups (e.g. ``smileys-emotion``).
            exclude_groups: drop these groups (e.g. ``flags``).
            keys: keep only these keys.
            max_version / min_version: Unicode Emoji version bounds (inclusive / inclusive).
        """
        gs = set(groups) if groups else None
        xs = set(exclude_groups or ())
        ks = set(keys) if keys is not None else None
        keep = []
        for i in range(len(self)):
            e = self.info(i)
            if not skin_tones and e.skin_tone:
                continue
            if gs is not None and e.group not in gs:
                continue
            if e.group in xs:
                continue
            if ks is not None and e.key not in ks:
                continue
            if max_version is not None and (e.version is None or e.version > max_version):
                continue
            if min_version is not None and (e.version is None or e.version < min_version):
                continue
            if predicate is not None and not predicate(e):
                continue
            keep.append(i)
        return self.subset(keep)

    def split(self, val_fraction: float = 0.2) -> tuple[EmojiSet, EmojiSet]:
        """Deterministic train/val split by a hash of each key (default 80/20).

        The same emoji falls on the same side in every style and every run.
        """
        if val_fraction != 0.2:
            cut = int(round(val_fraction * 1000))
            val = [i for i, k in enumerate(self.keys)
                   if int(hashlib.sha256(k.encode()).hexdigest(), 16) % 1000 < cut]
        else:
            val = [i for i, k in enumerate(self.keys) if _split_key(k) == 0]
        vs = set(val)
        return self.subset([i for i in range(len(self)) if i not in vs]), self.subset(val)

    def with_skin_tone(self, key: str, tone: int | str | None) -> str:
        """The key of ``key``'s variant in skin tone ``tone`` if this set has it, else ``key``."""
        t = parse_skin_tone(tone)
        if t is None:
            return key
        return _tone_index(self).get((key, t), key)

    def search(self, query: str, limit: int = 20, *, skin_tones: bool = False
               ) -> list[EmojiInfo]:
        """Fuzzy search by name, keyword and shortcode, best match first.

        Exact name and keyword matches rank first, then prefix and substring matches, then
        close spellings (``"hart"`` finds ❤️). Skin-tone variants are left out unless
        ``skin_tones`` is true. At most ``limit`` (an int >= 0) results.

        Raises:
            ValueError: ``limit`` is not a whole number >= 0.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
        q = _norm(query.strip(":"))[:MAX_QUERY_CHARS]
        if not q:
            return []
        try:
            qkey = key_from_emoji(query.strip())
        except EmojiNotFoundError:
            qkey = ""
        words = q.split()
        scored: list[tuple[float, int]] = []
        for i in range(len(self)):
            e = self.info(i)
            if e.skin_tone and not skin_tones:
                continue
            name = _norm(e.name)
            kws = [_norm(k) for k in (*e.keywords, *e.extra_keywords, *e.shortcodes)]
            if e.key == qkey or self.keys[i] == q:
                s = 10.0
            elif name == q:
                s = 9.0
            elif q in kws:
                s = 7.0
            elif name.startswith(q):
                s = 6.0
            elif all(any(_word_start(w, t) for t in [name, *kws]) for w in words):
                s = 5.0 - 0.01 * len(name)
            else:
                # close spellings: words of the name count fully, keywords a little less;
                # among equals the shorter (more basic) name wins, so "hart" finds ❤️ first
                best = max(
                    max(_ratio(q, t) for t in [name, *name.split()]),
                    0.95 * max((_ratio(q, t) for t in kws), default=0.0),
                )
                if best < 0.75:
                    continue
                s = 4.0 * best - 0.01 * len(name)
            scored.append((s, i))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [self.info(i) for _, i in scored[:limit]]

    def train_view(self) -> np.ndarray:
        """Images as float32 ``(N, 4, 36, 36)`` in [0, 1], the VAE's input layout."""
        return to_chw_float(self.images)


class RankedEmoji(NamedTuple):
    """One ranked answer: the emoji's key, character, name and score (immutable; a named
    tuple, so a batch of thousands of texts builds its results quickly)."""

    key: str
    emoji: str
    name: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        return {"key": self.key, "emoji": self.emoji, "name": self.name,
                "score": self.score}


def reorder_places(cos: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Each row's values of ``cos`` handed out in the order of ``cos + extra``: the entry
    with the i-th largest ``cos + extra`` gets the i-th largest ``cos`` (ties keep their
    order). ``(N, M)`` → ``(N, M)`` float32.

    Example:
        >>> reorder_places(np.array([[0.75, 0.5, 0.25]]), np.array([[0.0, 0.0, 1.0]])).tolist()
        [[0.5, 0.25, 0.75]]
    """
    order = np.argsort(-(cos + extra), axis=1, kind="stable")
    out = np.empty(cos.shape, np.float32)
    np.put_along_axis(out, order, -np.sort(-cos, axis=1), axis=1)
    return out


def check_rank_args(top_k: Any, keyword_weight: Any) -> float:
    """Check a ranking's ``top_k`` (a positive int) and keyword-boost weight (a number in
    [0, 1]); returns the weight as a float.

    Raises:
        ValueError: naming the bad argument.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    w = keyword_weight
    if isinstance(w, bool) or not isinstance(w, int | float) or not 0.0 <= w <= 1.0:
        raise ValueError(f"keyword_weight must be a number in [0, 1], got {w!r}")
    return float(w)


def group_tuple(groups: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Groups as a tuple (one name alone is one group, not its letters); None for none.

    Example:
        >>> group_tuple("flags"), group_tuple(["flags", "symbols"]), group_tuple([])
        (('flags',), ('flags', 'symbols'), None)
    """
    if not groups:
        return None
    return (groups,) if isinstance(groups, str) else tuple(groups)


def check_groups(es: EmojiSet, groups: Sequence[str]) -> None:
    """Every one of ``groups`` must be a CLDR group of ``es``.

    Raises:
        ValueError: naming the unknown ones and listing the groups the set has.
    """
    if groups:
        known_groups = {e.group for e in es}
        bad = [g for g in groups if g not in known_groups]
        if bad:
            raise ValueError(f"unknown emoji group(s) {bad}; groups in this set are "
                             f"{sorted(g for g in known_groups if g)}")


def select_candidates(es: EmojiSet, *, group_skin_tones: bool = True,
                      skin_tone: int | None = None, groups: Sequence[str] | None = None,
                      exclude_groups: Sequence[str] | None = None) -> EmojiSet:
    """The candidates of a ranking drawn from ``es``: one entry per base emoji when
    ``group_skin_tones`` (drawn in ``skin_tone`` when given, a parsed tone 1–5), only the CLDR
    ``groups`` and none of ``exclude_groups``.

    Raises:
        ValueError: a group the set does not have (the message lists those it has).
    """
    gs, xs = group_tuple(groups), group_tuple(exclude_groups)
    check_groups(es, (*(gs or ()), *(xs or ())))
    cand = es
    if group_skin_tones or gs or xs:
        unlisted, present = _unlisted_folds(), set(es.keys)

        def not_folded(e: EmojiInfo) -> bool:  # a drawing the metadata lists without a base
            return unlisted.get(e.key, ("", 0))[0] not in present

        cand = es.filter(not_folded if group_skin_tones else None,
                         skin_tones=not group_skin_tones, groups=gs, exclude_groups=xs)
    if group_skin_tones and skin_tone is not None:
        cand = es.subset([es.index(es.with_skin_tone(k, skin_tone)) for k in cand.keys])
    return cand


def to_chw_float(images: np.ndarray) -> np.ndarray:
    """``(N, H, W, 4)`` uint8 → ``(N, 4, H, W)`` float32 in [0, 1]."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def to_hwc_uint8(images: np.ndarray) -> np.ndarray:
    """``(N, 4, H, W)`` float in [0, 1] → ``(N, H, W, 4)`` uint8."""
    arr = np.asarray(images, dtype=np.float32).transpose(0, 2, 3, 1)
    return (arr * 255).round().clip(0, 255).astype(np.uint8)


@cache
def _load_bundled(style: str) -> tuple[list[str], np.ndarray]:
    with np.load(data_path("emoji", STYLES[style]), allow_pickle=False) as d:
        return [str(k) for k in d["codepoints"]], d["images"].astype(np.uint8)


#: Code points an emoji sequence is made of (besides U+1F000 and up): symbols and dingbats,
#: joiner, variation selector, keycap, tags, ©, ®, and the few CJK and wavy-dash emojis.
_EMOJI_RANGES = ((0x2000, 0x2BFF), (0xE0020, 0xE007F), (0x1F000, 0x10FFFF))
_EMOJI_SINGLES = frozenset({0x200D, 0xFE0F, 0x20E3, 0x3030, 0x303D, 0x3297, 0x3299, 0xA9,
                            0xAE, 0x23, 0x2A, *range(0x30, 0x3A)})


def _is_emoji_key(key: str) -> bool:
    """Whether ``key`` (hex code points joined by ``-``) can be an emoji: a key of the bundled
    metadata, or code points of the emoji blocks only — so a file named ``face.png`` or
    ``cafe.png`` is a name, not U+FACE or U+CAFE."""
    if key in load_metadata():
        return True
    try:
        cps = [int(p, 16) for p in key.split("-")]
    except ValueError:
        return False
    return bool(cps) and cps[0] not in (0x200D, 0xFE0F, 0x20E3) and all(
        c in _EMOJI_SINGLES or any(lo <= c <= hi for lo, hi in _EMOJI_RANGES) for c in cps)


def _key_for_stem(stem: str) -> str:
    s = stem.strip().lower()
    if re.fullmatch(r"[0-9a-f]{2,6}(-[0-9a-f]{2,6})*", s) and _is_emoji_key(s):
        return s.replace("-fe0f", "") if "200d" not in s else s
    if s and all(ord(c) > 0x2000 for c in stem.strip()):
        try:
            return key_from_emoji(stem.strip())
        except EmojiNotFoundError:
            pass
    return stem


def _name_index(es: EmojiSet) -> dict[str, int]:
    if es._name_idx is None:
        names: dict[str, int] = {}
        infos = [es.info(i) for i in range(len(es))]
        # exact names first, so another emoji's shortcode (:pencil: is 📝) never shadows one
        for i, e in enumerate(infos):
            names.setdefault(_norm(e.name), i)
        for i, e in enumerate(infos):
            for n in e.shortcodes:
                names.setdefault(_norm(n), i)
        es._name_idx = names
    return es._name_idx


def _tone_index(es: EmojiSet) -> dict[tuple[str, int], str]:
    if es._tone_idx is None:
        ent: dict[tuple[str, int], str] = {}
        unlisted = _unlisted_folds()
        for i in range(len(es)):
            e = es.info(i)
            if e.base and e.skin_tone and len(set(e.skin_tone)) == 1:
                ent.setdefault((e.base, e.skin_tone[0]), e.key)
        for key in es.keys:  # the standard tones first, these where there is none
            if key in unlisted and unlisted[key][1]:
                ent.setdefault(unlisted[key], key)
        es._tone_idx = ent
    return es._tone_idx


#: Skin-tone modifier code points → tone 1–5.
_TONE_PARTS = {"1f3fb": 1, "1f3fc": 2, "1f3fd": 3, "1f3fe": 4, "1f3ff": 5}


#: Gender signs, joined to a person by U+200D (with U+FE0F after the sign).
_GENDER_PARTS = frozenset({"2640", "2642"})


@cache
def _unlisted_folds() -> dict[str, tuple[str, int]]:
    """Drawings the metadata lists without a base that grouped rankings fold into another
    emoji, as they fold listed skin tones: key → (the emoji it folds into, its tone 0–5).
    Twemoji draws a few sequences outside the standard set: 👨‍🎄 / 👩‍🎄 and ⛷ in five tones
    (each folds into its toneless drawing), and 🕴 with a gender sign, toneless and in five
    tones (12 keys; the standard set has only 🕴 and its tones, so they fold into 🕴). Rankings
    fold them (:func:`select_candidates`, :meth:`EmojiSet.with_skin_tone`); the zero-shot
    protocols' candidates, the metadata's base emojis, still count them."""
    meta = load_metadata()
    out: dict[str, tuple[str, int]] = {}
    for key, e in meta.items():
        if e.base or e.label:
            continue
        parts = key.split("-")
        tones = [p for p in parts if p in _TONE_PARTS]
        gender = [p for p in parts if p in _GENDER_PARTS]
        if len(tones) > 1 or not (tones or gender):
            continue
        tone = _TONE_PARTS[tones[0]] if tones else 0
        # a gender sign on a person the standard set draws without one: fold into that person
        rest = [p for p in parts if p not in _TONE_PARTS and not (
            gender and (p in _GENDER_PARTS or p in ("200d", "fe0f")))]
        for base in ("-".join(rest), "-".join([rest[0], "fe0f", *rest[1:]])):
            if base in meta and base != key:
                out[key] = (base, tone)
                break
    return out
