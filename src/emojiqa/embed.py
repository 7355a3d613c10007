"""Vectors of texts and emojis from a ranker's two towers, for use outside emojiqa.

A ranker is a dual encoder: its text tower gives a text a code, its answer tower gives an emoji
(any drawing) a code, and the dot product of the two unit codes is the ranker's cosine. These
functions hand those codes out, so the towers can serve search, clustering or another model:

* :func:`embed_texts` — a list of texts;
* :func:`embed_texts_file` — every text of a ``.txt``/``.csv``/``.tsv``/``.jsonl``/``.parquet``
  file, read as :mod:`emojiqa.batch` reads it (a bad row stops it, naming the row);
* :func:`embed_emojis` — an emoji set: a bundled style, a folder of new drawings, the answer
  table;
* :func:`similar_emojis` — the emojis nearest an emoji (or a new drawing) in the answer
  tower's space: those that answer the same texts;
* :func:`write_vectors` — to ``.npy`` (the matrix), ``.safetensors`` (the matrix as
  ``vectors``, with ``kind``, ``dim``, ``normalized`` and, for emojis or with an id column,
  ``ids`` — a JSON list — in its metadata) or ``.jsonl`` (one object a row: ``row`` and
  ``text`` or ``id`` for texts, ``key``, ``emoji`` and ``name`` for emojis, and ``vector``);
  written atomically.

Rows keep the input's order (texts as read, emojis in the set's order). The codes are the
towers' alone: a model's wide head, memory and keyword boost (:meth:`EmojiRanker.rank`'s other
terms) belong to ranking and are not in them.

Example:
    >>> from emojiqa.ranker import EmojiRanker
    >>> ranker = EmojiRanker.from_pretrained()
    >>> texts = embed_texts(ranker, ["so happy", "so sad"])      # doctest: +SKIP
    >>> emojis = embed_emojis(ranker, "twemoji")                 # doctest: +SKIP
    >>> (texts.vectors @ emojis.vectors.T).shape                 # doctest: +SKIP
    (2, 4009)
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataFileError

if TYPE_CHECKING:
    from .emojis import RankedEmoji

#: Output formats of :func:`write_vectors`, by file suffix.
VECTOR_FORMATS = {".npy": "npy", ".safetensors": "safetensors", ".jsonl": "jsonl",
                  ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Vectors:
    """Codes of texts or emojis, one row each.

    Attributes:
        vectors: ``(N, D)`` float32.
        kind: ``"text"`` or ``"emoji"``.
        rows: what each row is: ``{"row", "text"}`` (or ``"id"`` instead of the text) for
            texts, ``{"key", "emoji", "name"}`` for emojis.
        normalized: whether the rows have unit length.
    """

    vectors: np.ndarray
    kind: str
    rows: list[dict[str, Any]]
    normalized: bool

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ids(self) -> list[str] | None:
        """The emojis' keys, or the texts' ids (None for texts without an id column)."""
        if self.kind == "emoji":
            return [r["key"] for r in self.rows]
        return [r["id"] for r in self.rows] if self.rows and "id" in self.rows[0] else None


def embed_texts(ranker: Any, texts: Sequence[str], *, normalize: bool = True,
                batch_size: int = 1024) -> Vectors:
    """The text codes of ``texts`` (each checked as :meth:`EmojiRanker.rank` checks it).

    Raises:
        TextError: an empty, whitespace-only or over-long text, named by its position.
    """
    from .text import validate_texts

    clean = validate_texts(list(texts))
    return Vectors(_encode(ranker, clean, normalize, batch_size), "text",
                   [{"row": i + 1, "text": t} for i, t in enumerate(texts)], normalize)


def embed_texts_file(ranker: Any, input_path: str | os.PathLike[str], *,
                     text_column: str | None = None, id_column: str | None = None,
                     batch_size: int = 1024, normalize: bool = True,
                     progress: bool = True) -> Vectors:
    """The text codes of every row of a file, read as :func:`emojiqa.batch.suggest_file`
    reads it (``.txt`` one text a line; ``.csv``/``.tsv``/``.parquet`` a column;
    ``.jsonl`` a key).

    Args:
        text_column: the column (key) holding the text; default ``"text"``, or the only one.
        id_column: keep this column's value as each row's ``id`` instead of its text.
        batch_size: texts encoded at once.
        normalize: unit-length rows (their dot products are the ranker's cosines).
        progress: show a progress bar on stderr.

    Raises:
        DataFileError: unknown format, a missing column, or a bad row (named by its number:
            not UTF-8, an empty or over-long text, ...).
    """
    from tqdm.auto import tqdm

    from .batch import clean_row, open_input

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    src = Path(input_path)
    reader = open_input(src, text_column=text_column, id_column=id_column,
                        batch_size=batch_size)
    rows: list[dict[str, Any]] = []
    parts: list[np.ndarray] = []
    buffer: list[str] = []
    bar = tqdm(total=reader.total, unit="text", unit_scale=True, disable=not progress,
               desc=f"embed {src.name}", dynamic_ncols=True)
    try:
        for row, raw, ident in reader.rows(skip=0):
            buffer.append(clean_row(raw, row, src, reader))
            rows.append({"row": row, "id": ident} if id_column else {"row": row, "text": raw})
            if len(buffer) >= batch_size:
                parts.append(_encode(ranker, buffer, normalize, batch_size))
                bar.update(len(buffer))
                buffer = []
        if buffer:
            parts.append(_encode(ranker, buffer, normalize, batch_size))
            bar.update(len(buffer))
    finally:
        bar.close()
    if not rows:
        raise DataFileError(f"{src} has no texts to embed")
    return Vectors(np.concatenate(parts), "text", rows, normalize)


def embed_emojis(ranker: Any, emojis: Any = None, *, normalize: bool = True,
                 use_known: bool = True) -> Vectors:
    """The answer tower's codes of every emoji of a set (skin-tone variants included).

    Args:
        emojis: what :meth:`EmojiRanker.emoji_set` takes: an :class:`EmojiSet`, a bundled
            style (``"twemoji"``), a folder of images, ``"answers"`` (the answer table), or
            None (the model's own set).
        normalize: unit-length rows.
        use_known: add the learned corrections of the emojis seen in training (as ranking
            does); False codes every emoji from its drawing alone, as a new one.
    """
    es = ranker.emoji_set(emojis)
    vectors = ranker.encode_emojis(es, normalize=normalize, use_known=use_known)
    rows = [{"key": info.key, "emoji": info.emoji, "name": info.name} for info in es]
    return Vectors(np.ascontiguousarray(vectors, dtype=np.float32), "emoji", rows, normalize)


def similar_emojis(ranker: Any, query: str | os.PathLike[str] | np.ndarray, top_k: int = 10,
                   emojis: Any = None, *, group_skin_tones: bool = True,
                   skin_tone: int | str | None = None, groups: Sequence[str] | None = None,
                   exclude_groups: Sequence[str] | None = None) -> list[RankedEmoji]:
    """The emojis whose answer vectors are nearest ``query``'s: those that answer the same
    texts, by meaning rather than by look (🍕 → 🥟 🥢 🥞 with the bundled model).

    Args:
        query: an emoji of the ranker's set (character, key or name), an image file, or a
            ``uint8 (36, 36, 4)`` RGBA array: a new drawing, coded from its pixels with the
            corrections of the known emojis it looks like.
        top_k: how many emojis.
        emojis / group_skin_tones / skin_tone / groups / exclude_groups: the candidates, as
            :meth:`EmojiRanker.rank` takes them.

    Returns:
        :class:`~emojiqa.emojis.RankedEmoji` best first, the score the cosine of the two
        answer vectors; the query emoji itself (any of its skin tones) is left out.

    Raises:
        EmojiNotFoundError: an unknown emoji, with the closest names.
        ImageError: an image file that cannot be read.
    """
    from .emojis import RankedEmoji, check_rank_args, info_for
    from .images import is_image_path, load_image

    check_rank_args(top_k, 0.0)
    own = None
    if isinstance(query, np.ndarray):
        vec = ranker.encode_emojis(query[None] if query.ndim == 3 else query, lookalike=True)
    elif not isinstance(query, str) or (query not in ranker.emojis and is_image_path(query)):
        vec = ranker.encode_emojis(load_image(query)[None], lookalike=True)
    else:
        i = ranker.emojis.index(query)
        own = info_for(ranker.emojis.keys[i]).base_key
        vec = ranker.encode_emojis(ranker.emojis.subset([i]))
    if len(vec) != 1:
        raise ValueError(f"query must be one emoji; got an array of {len(vec)} images")
    cand, matrix = ranker.candidates(emojis, group_skin_tones=group_skin_tones,
                                     skin_tone=skin_tone, groups=groups,
                                     exclude_groups=exclude_groups)
    scores = matrix @ vec[0]
    keep = np.array([own is None or info_for(k).base_key != own for k in cand.keys], bool)
    order = [int(j) for j in np.argsort(-scores, kind="stable") if keep[j]][:top_k]
    infos = [cand.info(j) for j in order]
    return [RankedEmoji(info.key, info.emoji, info.name, float(scores[j]))
            for info, j in zip(infos, order, strict=True)]


def vector_format(path: str | os.PathLike[str]) -> str:
    """The output format of ``path`` by its suffix (checked before any work is done).

    Raises:
        DataFileError: a suffix :func:`write_vectors` cannot write.
    """
    fmt = VECTOR_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataFileError(f"cannot write vectors to {path}: unknown format "
                            f"{Path(path).suffix!r}; use one of {sorted(VECTOR_FORMATS)}")
    return fmt


def write_vectors(vectors: Vectors, path: str | os.PathLike[str]) -> Path:
    """Write ``vectors`` to ``path`` (``.npy``, ``.safetensors`` or ``.jsonl``), atomically:
    an interrupted write leaves any earlier file as it was."""
    import torch

    from .storage import atomic_write_bytes, save_tensors

    fmt, path = vector_format(path), Path(path)
    if fmt == "npy":
        buf = io.BytesIO()
        np.save(buf, vectors.vectors, allow_pickle=False)
        return atomic_write_bytes(path, buf.getvalue())
    if fmt == "safetensors":
        meta = {"kind": vectors.kind, "dim": str(vectors.vectors.shape[1]),
                "normalized": json.dumps(vectors.normalized)}
        if vectors.ids is not None:
            meta["ids"] = json.dumps(vectors.ids, ensure_ascii=False)
        return save_tensors({"vectors": torch.from_numpy(vectors.vectors)}, path, meta)
    return atomic_write_bytes(path, "".join(json_lines(vectors)).encode("utf-8"))


def json_lines(vectors: Vectors) -> Iterator[str]:
    """Each row as a line of JSON (``\\n``-terminated): what it is, and its ``vector`` (six
    decimals) — the ``.jsonl`` format of :func:`write_vectors`."""
    for row, vec in zip(vectors.rows, vectors.vectors.tolist(), strict=True):
        yield json.dumps({**row, "vector": [round(x, 6) for x in vec]}, ensure_ascii=False) + "\n"


def _encode(ranker: Any, texts: list[str], normalize: bool, batch_size: int) -> np.ndarray:
    return np.ascontiguousarray(ranker.encode_text(texts, normalize=normalize,
                                                   batch_size=batch_size, validated=True),
                                dtype=np.float32)
