"""Distributed batch suggestions on Ray Data: a Dataset of texts in, suggestion columns out.

:func:`suggest_dataset` maps a ``ray.data.Dataset`` through a pool of actors, each of which
loads the ranker **once** and then ranks batch after batch (``map_batches`` with a callable
class), so a cluster of many machines annotates a corpus in parallel. The output rows keep
every input column and add the same flat columns as :func:`emojiqa.batch.suggest_file`:
``emoji_i``, ``key_i``, ``name_i``, ``score_i`` for i = 1..top_k (best first).

Ray is an optional extra (``pip install 'emojiqa[ray]'``) imported only when called. Start
or join the cluster yourself (``ray.init()`` or ``ray.init(address="auto")``); every node must
be able to load the model, so pass ``model=None`` (the bundled ranker) or a folder on storage
that all nodes see. Like any Ray Data map, the output order is not guaranteed unless
``ray.data.DataContext.get_current().execution_options.preserve_order`` is set: keep an id
column to join the results back.

Example:
    >>> import ray
    >>> ray.init(num_cpus=2, include_dashboard=False)  # doctest: +SKIP
    >>> ds = ray.data.read_parquet("s3://bucket/tweets/")  # doctest: +SKIP
    >>> out = suggest_dataset(ds, text_column="text", top_k=3, num_workers=2)  # doctest: +SKIP
    >>> out.write_parquet("s3://bucket/tweets-emojis/")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .batch import ON_EMPTY, result_columns
from .errors import DataFileError, TextError

#: What ``model`` may be: ``None`` (bundled ranker), a ranker folder, or a picklable
#: zero-argument function returning a ranker.
ModelSpec = str | os.PathLike[str] | Callable[[], Any] | None


class RankerWorker:
    """One Ray actor: loads the ranker once, then ranks every batch it is given.

    Args:
        model: ``None`` (bundled ranker), a ranker folder, or a zero-argument function that
            returns an object with ``rank(list_of_texts, top_k)``.
        text_column: the column holding the texts.
        top_k: suggestions per row.
        on_empty: ``"error"`` or ``"keep"`` (empty rows get no suggestions), as in
            :func:`emojiqa.batch.suggest_file`.
        options: candidate options for ``rank`` (``emojis`` as a bundled style, a folder or
            ``"answers"``, loaded once per worker; ``skin_tone``, ``groups``,
            ``exclude_groups``).
    """

    def __init__(self, model: ModelSpec, text_column: str, top_k: int, on_empty: str,
                 options: dict[str, Any] | None = None) -> None:
        from .batch import rank_options
        from .text import validate_text

        self.ranker = load_ranker(model)
        self.validate = validate_text
        self.text_column, self.top_k, self.on_empty = text_column, top_k, on_empty
        self.options = rank_options(self.ranker, **(options or {}))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.text_column not in batch:
            raise DataFileError(f"the dataset has no column {self.text_column!r}; its columns "
                                f"are {sorted(batch)}. Pass text_column.")
        raw = batch[self.text_column]  # (B,) object array of str
        texts: list[str | None] = []
        for i, text in enumerate(raw.tolist()):
            try:
                texts.append(self.validate("" if text is None else text))
            except TextError as exc:
                if self.on_empty == "keep" and not (text or "").strip():
                    texts.append(None)
                    continue
                raise DataFileError(f"bad text at position {i} of a batch ({str(text)[:60]!r}):"
                                    f" {exc}") from exc
        clean = [t for t in texts if t is not None]
        ranked = iter(self.ranker.rank(clean, top_k=self.top_k, **self.options)
                      if clean else [])
        results = [next(ranked) if t is not None else None for t in texts]
        out = dict(batch)
        if self.on_empty == "keep":
            out["empty"] = np.array([r is None for r in results], dtype=bool)
        for name, values in result_columns(results, self.top_k).items():
            if name.startswith("score_"):  # (B,) float32, NaN where there is no suggestion
                out[name] = np.array([np.nan if v is None else v for v in values], np.float32)
            else:
                out[name] = np.array(values, dtype=object)
        return out


def load_ranker(model: ModelSpec) -> Any:
    """The ranker for ``model``: bundled (``None``), a folder, or a loader function's result."""
    if callable(model):
        return model()
    from .ranker import EmojiRanker

    return EmojiRanker.from_pretrained(None if model is None else os.fspath(model))


def suggest_dataset(
    ds: Any,
    model: ModelSpec = None,
    *,
    text_column: str = "text",
    top_k: int = 5,
    batch_size: int = 256,
    num_workers: int = 2,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    on_empty: str = "error",
    emojis: str | os.PathLike[str] | None = None,
    skin_tone: int | str | None = None,
    groups: Sequence[str] | None = None,
    exclude_groups: Sequence[str] | None = None,
) -> Any:
    """Add the top-k emoji suggestions of ``text_column`` to every row of a Ray Dataset.

    Lazy like every Ray Data transform: nothing runs until the result is consumed
    (``write_parquet``, ``iter_batches``, ``take_all``...).

    Args:
        ds: a ``ray.data.Dataset`` with a string column ``text_column``.
        model: ``None`` for the bundled ranker, a ranker folder every node can read, or a
            picklable zero-argument function returning a ranker; loaded once per worker.
        text_column: the column holding the texts.
        top_k: suggestions per row.
        batch_size: rows ranked at once by a worker.
        num_workers: actors in the pool (each holds one copy of the model).
        num_cpus: CPUs reserved per actor.
        num_gpus: GPUs reserved per actor (the ranker then runs on CUDA).
        on_empty: ``"error"`` stops at an empty text; ``"keep"`` adds a boolean ``empty``
            column and leaves those rows without suggestions.
        emojis: candidates: a bundled style, a folder every node can read, or ``"answers"``
            (the ranker's answer table); None: the ranker's own set.
        skin_tone / groups / exclude_groups: as ``EmojiRanker.rank`` takes them.

    Returns:
        A ``ray.data.Dataset`` with the input columns plus ``emoji_i``, ``key_i``, ``name_i``
        and ``score_i`` (float32) for i = 1..top_k.

    Example:
        >>> ds = ray.data.from_items([{"id": 1, "text": "got the job!!"}])  # doctest: +SKIP
        >>> suggest_dataset(ds, top_k=1).take_all()[0]["emoji_1"]  # doctest: +SKIP
        '🎉'
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be an integer >= 1, got {num_workers!r}")
    if on_empty not in ON_EMPTY:
        raise ValueError(f"on_empty must be one of {ON_EMPTY}, got {on_empty!r}")
    try:
        import ray.data
    except ImportError as exc:
        raise ImportError("suggest_dataset needs Ray Data: pip install 'emojiqa[ray]'") from exc
    return ds.map_batches(
        RankerWorker,
        fn_constructor_args=(model, text_column, top_k, on_empty, {
            "emojis": None if emojis is None else os.fspath(emojis), "skin_tone": skin_tone,
            "groups": groups, "exclude_groups": exclude_groups}),
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=num_workers),
        num_cpus=num_cpus,
        num_gpus=num_gpus or None,
    )
