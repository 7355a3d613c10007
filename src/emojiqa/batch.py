"""Streaming batch suggestions: a file of texts in, a file of top-k emojis out.

:func:`suggest_file` reads ``.txt`` (one text a line), ``.csv``/``.tsv`` (one column holds the
text), ``.jsonl`` (one JSON object a line) or ``.parquet`` and writes ``.csv``, ``.jsonl`` or
``.parquet`` with one output row per input row. It never reads the whole input: rows are
streamed in batches of ``batch_size``, so memory stays flat whatever the file size.

Output columns (CSV and Parquet): ``row`` (1-based input row number), ``text`` (or ``id`` when
``id_column`` is given), then for each rank ``i`` in 1..top_k ``emoji_i``, ``key_i``,
``name_i``, ``score_i``. JSONL rows hold ``row``, ``text``/``id`` and a ``suggestions`` list of
``{"emoji", "key", "name", "score"}`` objects, best first.

Interruptions: the output is written under a temporary name (``OUTPUT.part`` for CSV/JSONL, a
folder ``OUTPUT.parts/`` for Parquet) next to a small progress file ``OUTPUT.progress.json``
that is replaced atomically after every batch and records how many rows are done and how many
bytes (or Parquet parts) hold them. With ``resume=True`` a run cuts the part back to that
mark (dropping any half-written batch), skips the rows already done and appends, so no row is
lost or written twice. The finished file is moved into place with ``os.replace``.

Bad rows stop the run with a :class:`~emojiqa.errors.DataFileError` naming the file, the row
(and line) and why: not UTF-8, bad JSON, a missing text field, a text over the length limit,
or an empty text. Empty (or whitespace-only) texts are errors by default because they usually
mean a wrong column or a broken export; pass ``on_empty="keep"`` to write them as rows with no
suggestions instead, and an ``empty`` column (``true`` on those rows) is added to the output.

Example:
    >>> from emojiqa.ranker import EmojiRanker
    >>> ranker = EmojiRanker.from_pretrained()
    >>> stats = suggest_file(ranker, "tweets.csv", "emojis.parquet",
    ...                      text_column="text")  # doctest: +SKIP
    >>> stats["rows"] == stats["written"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .errors import DataFileError, TextError
from .storage import atomic_write_json

#: Input formats by file suffix.
INPUT_FORMATS = {".txt": "txt", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
                 ".ndjson": "jsonl", ".parquet": "parquet"}
#: Output formats by file suffix.
OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
#: Allowed values of ``on_empty``.
ON_EMPTY = ("error", "keep")
#: Column tried first when ``text_column`` is not given.
DEFAULT_TEXT_COLUMN = "text"
_PROGRESS_VERSION = 1


class _Ranker(Protocol):
    def rank(self, text: list[str], top_k: int = 5, **options: Any) -> list[list[Any]]: ...

    def emoji_set(self, emojis: Any) -> Any: ...


@dataclass(frozen=True)
class _Row:
    row: int  # 1-based input row number
    text: str | None  # cleaned text; None for an empty row kept with on_empty="keep"
    raw: str  # the text as read, or the id when id_column is given


def suggest_file(
    ranker: _Ranker,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    text_column: str | None = None,
    top_k: int = 5,
    batch_size: int = 1024,
    resume: bool = False,
    progress: bool = True,
    id_column: str | None = None,
    on_empty: str = "error",
    emojis: str | None = None,
    skin_tone: int | str | None = None,
    groups: Sequence[str] | None = None,
    exclude_groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write the top-k emoji suggestions for every text of a file, streamed in batches.

    Args:
        ranker: a ranker with ``rank(list_of_texts, top_k)`` (an ``EmojiRanker``).
        input_path: ``.txt``, ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson`` or ``.parquet``.
        output_path: ``.csv``, ``.jsonl``/``.ndjson`` or ``.parquet``.
        text_column: column (CSV/TSV/Parquet) or key (JSONL) holding the text; default
            ``"text"``, or the only column when there is one. Not allowed for ``.txt``.
        top_k: suggestions per row.
        batch_size: texts ranked at once; memory is proportional to it, not to the file.
        resume: continue an interrupted run from its progress file instead of starting over.
        progress: show a tqdm progress bar with texts/s on stderr.
        id_column: write this column's value as ``id`` instead of the text.
        on_empty: ``"error"`` (default) stops at the first empty text, naming its row;
            ``"keep"`` writes such rows with no suggestions and ``empty=true``.
        emojis: candidates, as ``rank`` takes them: a bundled style, a folder of images or
            ``"answers"`` (loaded once for the whole file); None: the ranker's own set.
        skin_tone / groups / exclude_groups: as ``EmojiRanker.rank`` takes them.

    Returns:
        Stats: ``rows`` (input rows), ``written`` (rows written by this call), ``resumed_from``
        (rows already done when it started), ``empty`` (empty rows kept), ``seconds``,
        ``texts_per_s``, ``batches``, ``input`` and ``output``.

    Raises:
        DataFileError: unknown format, wrong column, or a bad row (named with its number).

    Example:
        >>> stats = suggest_file(ranker, "texts.txt", "out.jsonl", top_k=3)  # doctest: +SKIP
        >>> stats["rows"] == stats["written"] + stats["resumed_from"]  # doctest: +SKIP
        True
    """
    src, dst = Path(input_path), Path(output_path)
    fmt_in, fmt_out = _check_args(src, dst, text_column, top_k, batch_size, on_empty, id_column)
    from tqdm.auto import tqdm

    options = rank_options(ranker, emojis=emojis, skin_tone=skin_tone, groups=groups,
                           exclude_groups=exclude_groups)
    reader = _open_reader(src, fmt_in, text_column, id_column, batch_size)
    settings = {
        "version": _PROGRESS_VERSION,
        "input": str(src.resolve()),
        "input_size": src.stat().st_size,
        "input_mtime_ns": src.stat().st_mtime_ns,
        "text_column": reader.text_column,
        "id_column": id_column,
        "top_k": top_k,
        "on_empty": on_empty,
        "output_format": fmt_out,
    }
    if options:  # recorded only when set, so progress files of plain runs stay valid
        settings["candidates"] = {"emojis": None if emojis is None else str(emojis),
                                  "skin_tone": skin_tone, "groups": options.get("groups"),
                                  "exclude_groups": options.get("exclude_groups")}
    progress_path = dst.with_name(dst.name + ".progress.json")
    writer = _make_writer(dst, fmt_out, top_k, id_column, on_empty == "keep")
    done = _resume_point(progress_path, settings, writer) if resume else None
    if done is None:
        done = 0
        writer.start()
        atomic_write_json(progress_path, {**settings, "rows_done": 0, **writer.mark()})

    validate = _text_validator()
    stats: dict[str, Any] = {"input": str(src), "output": str(dst), "resumed_from": done,
                             "written": 0, "empty": 0, "batches": 0}
    t0 = time.perf_counter()
    bar = tqdm(total=reader.total, initial=done, unit="text", unit_scale=True,
               disable=not progress, desc=f"suggest {src.name}", dynamic_ncols=True)
    rows_done = done
    try:
        buffer: list[_Row] = []
        for row, raw, ident in reader.rows(skip=done):
            text = _clean(validate, raw, row, src, reader.where(row), on_empty)
            buffer.append(_Row(row, text, ident if id_column else raw))
            if len(buffer) >= batch_size:
                rows_done = _flush(ranker, buffer, top_k, writer, progress_path, settings, stats,
                                   options)
                bar.update(len(buffer))
                buffer = []
        if buffer:
            rows_done = _flush(ranker, buffer, top_k, writer, progress_path, settings, stats,
                               options)
            bar.update(len(buffer))
    finally:
        bar.close()
        writer.close()
    writer.finish()
    progress_path.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    stats.update(rows=rows_done, seconds=round(seconds, 3),
                 texts_per_s=round(stats["written"] / seconds, 1) if seconds > 0 else 0.0)
    return stats


def _check_args(src: Path, dst: Path, text_column: str | None, top_k: int, batch_size: int,
                on_empty: str, id_column: str | None) -> tuple[str, str]:
    fmt_in = _input_format(src, text_column, id_column)
    fmt_out = OUTPUT_FORMATS.get(dst.suffix.lower())
    if fmt_out is None:
        raise DataFileError(f"cannot write {dst}: unknown output format {dst.suffix!r}; use one "
                            f"of {sorted(OUTPUT_FORMATS)}")
    if dst.exists() and dst.resolve() == src.resolve():
        raise DataFileError(f"output {dst} is the input file; choose another output path")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if on_empty not in ON_EMPTY:
        raise ValueError(f"on_empty must be one of {ON_EMPTY}, got {on_empty!r}")
    return fmt_in, fmt_out


def _input_format(src: Path, text_column: str | None, id_column: str | None) -> str:
    """The input format of ``src``, checked: a known suffix, an existing file, and no
    columns asked of a ``.txt`` file."""
    fmt = INPUT_FORMATS.get(src.suffix.lower())
    if fmt is None:
        raise DataFileError(f"cannot read {src}: unknown input format {src.suffix!r}; use one of "
                            f"{sorted(INPUT_FORMATS)}")
    if not src.is_file():
        raise DataFileError(f"input file not found: {src}")
    if fmt == "txt" and (text_column is not None or id_column is not None):
        raise DataFileError(f"{src} is a .txt file (one text a line): it has no columns, so "
                            "text_column and id_column must not be given")
    return fmt


def open_input(path: str | os.PathLike[str], *, text_column: str | None = None,
               id_column: str | None = None, batch_size: int = 1024) -> _Reader:
    """A reader of the texts of a file as :func:`suggest_file` reads them: its
    ``rows(skip)`` yields ``(row, raw text, id)`` one row at a time (1-based rows; the id is
    the text without ``id_column``); ``total`` is the row count where the format knows it.

    Raises:
        DataFileError: unknown format, no such file, or a missing column.
    """
    src = Path(path)
    return _open_reader(src, _input_format(src, text_column, id_column), text_column,
                        id_column, batch_size)


def clean_row(raw: str, row: int, src: Path, reader: _Reader) -> str:
    """The text of row ``row`` of ``src``, checked; a bad one (empty, over-long, ...) is a
    :class:`DataFileError` naming the row and its line."""
    text = _clean(_text_validator(), raw, row, src, reader.where(row), "error",
                  " Fix or remove the row.")
    assert text is not None  # "error" keeps no empty row
    return text


def _text_validator() -> Any:
    from .text import validate_text

    return validate_text


def _clean(validate: Any, raw: str, row: int, src: Path, where: str, on_empty: str,
           empty_hint: str = " Fix or remove the row, or pass on_empty='keep' to write empty "
                             "rows without suggestions.") -> str | None:
    try:
        return validate(raw)
    except TextError as exc:
        if on_empty == "keep" and not _visible(raw):
            return None
        hint = empty_hint if not _visible(raw) else ""
        raise DataFileError(f"{src}: bad row {row}{where}: {exc}.{hint}") from exc


def _visible(raw: str) -> bool:
    return any(c.isprintable() and not c.isspace() and c != "\ufe0f" for c in raw)


def rank_options(ranker: _Ranker, *, emojis: Any = None, skin_tone: int | str | None = None,
                 groups: Sequence[str] | None = None,
                 exclude_groups: Sequence[str] | None = None) -> dict[str, Any]:
    """The candidate options a batch passes to every ``rank`` call: only those set, the
    ``emojis`` spec resolved to its set once (not per batch)."""
    options = {"emojis": None if emojis is None else ranker.emoji_set(emojis),
               "skin_tone": skin_tone, "groups": list(groups) if groups else None,
               "exclude_groups": list(exclude_groups) if exclude_groups else None}
    return {k: v for k, v in options.items() if v is not None}


def _flush(ranker: _Ranker, buffer: list[_Row], top_k: int, writer: _Writer,
           progress_path: Path, settings: dict[str, Any], stats: dict[str, Any],
           options: dict[str, Any]) -> int:
    texts = [r.text for r in buffer if r.text is not None]
    ranked = iter(ranker.rank(texts, top_k=top_k, **options) if texts else [])
    results = [next(ranked) if r.text is not None else None for r in buffer]
    writer.write(buffer, results)
    rows_done = buffer[-1].row
    atomic_write_json(progress_path, {**settings, "rows_done": rows_done, **writer.mark()})
    stats["written"] += len(buffer)
    stats["empty"] += sum(r.text is None for r in buffer)
    stats["batches"] += 1
    return rows_done


def _resume_point(progress_path: Path, settings: dict[str, Any], writer: _Writer
                  ) -> int | None:
    if not progress_path.is_file():
        return None
    try:
        saved = json.loads(progress_path.read_text(encoding="utf-8"))
        done = int(saved["rows_done"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataFileError(f"cannot resume: progress file {progress_path} is unreadable ({exc})."
                            " Delete it and run again without resume.") from exc
    changed = sorted(k for k in {*settings, "candidates"} if saved.get(k) != settings.get(k))
    if changed:
        raise DataFileError(
            f"cannot resume from {progress_path}: {', '.join(changed)} changed since the "
            "interrupted run (the input file or the options differ). Run with the same input "
            "and options, or start over without resume."
        )
    if not writer.restore(saved):
        raise DataFileError(f"cannot resume: the partial output of {progress_path} is missing "
                            "or shorter than recorded. Start over without resume.")
    return done


# --- reading -------------------------------------------------------------------------------


class _Reader:
    """Yields ``(row, text, id)`` for one input file, one row at a time."""

    total: int | None = None
    text_column: str | None = None

    def __init__(self, path: Path, text_column: str | None, id_column: str | None,
                 batch_size: int) -> None:
        self.path, self.id_column, self.batch_size = path, id_column, batch_size
        self.requested = text_column
        self.text_column = text_column
        self.lines: dict[int, int] = {}

    def rows(self, skip: int) -> Iterator[tuple[int, str, str]]:
        raise NotImplementedError

    def where(self, row: int) -> str:
        line = self.lines.get(row)
        return f" (line {line})" if line is not None and line != row else ""

    def error(self, row: int, why: str, line: int | None = None) -> DataFileError:
        at = f" (line {line})" if line is not None and line != row else ""
        return DataFileError(f"{self.path}: bad row {row}{at}: {why}")

    def _decoded_lines(self, start_line: int = 1) -> Iterator[tuple[int, str]]:
        with open(self.path, "rb") as fh:
            for n, data in enumerate(fh, start=1):
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataFileError(
                        f"{self.path}: line {n} is not UTF-8 text (byte {exc.start}: "
                        f"{data[exc.start:exc.start + 4]!r}). Re-save the file as UTF-8."
                    ) from exc
                if n == 1:
                    text = text.removeprefix("\ufeff")
                yield n, text


class _TxtReader(_Reader):
    def rows(self, skip: int) -> Iterator[tuple[int, str, str]]:
        with open(self.path, "rb") as fh:
            for n, data in enumerate(fh, start=1):
                if n <= skip:
                    continue
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise self.error(n, f"not UTF-8 text (byte {exc.start}: "
                                        f"{data[exc.start:exc.start + 4]!r}); re-save the file "
                                        "as UTF-8") from exc
                if n == 1:
                    text = text.removeprefix("\ufeff")
                text = text.rstrip("\r\n")
                yield n, text, text


class _CsvReader(_Reader):
    def __init__(self, path: Path, text_column: str | None, id_column: str | None,
                 batch_size: int, delimiter: str) -> None:
        super().__init__(path, text_column, id_column, batch_size)
        self.delimiter = delimiter
        with open(path, "rb") as fh:
            first = fh.readline()
        try:
            header_line = first.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{path}: the header (line 1) is not UTF-8 text. Re-save the "
                                "file as UTF-8.") from exc
        header = next(csv.reader([header_line], delimiter=delimiter), [])
        if not header:
            raise DataFileError(f"{path} is empty: a {path.suffix} file needs a header line "
                                "naming its columns")
        self.header = header
        self.text_index = header.index(_pick_column(path, header, text_column))
        self.text_column = header[self.text_index]
        self.id_index = header.index(_pick_column(path, header, id_column, what="id_column")) \
            if id_column is not None else self.text_index

    def rows(self, skip: int) -> Iterator[tuple[int, str, str]]:
        csv.field_size_limit(2**31 - 1)
        lines = self._decoded_lines()
        reader = csv.reader((text for _, text in lines), delimiter=self.delimiter, strict=True)
        width = len(self.header)
        try:
            next(reader)  # header
            for row, fields in enumerate(reader, start=1):
                if row <= skip:
                    continue
                self.lines = {row: reader.line_num}
                if len(fields) != width:
                    if not fields:
                        raise self.error(row, "blank line; remove it", reader.line_num)
                    raise self.error(row, f"{len(fields)} fields but the header has {width}; "
                                          "check the quoting and the delimiter", reader.line_num)
                yield row, fields[self.text_index], fields[self.id_index]
        except csv.Error as exc:
            raise DataFileError(f"{self.path}: bad CSV near line {reader.line_num}: {exc}. "
                                "Check the quoting.") from exc


class _JsonlReader(_Reader):
    text_column: str  # always a key: the given one or DEFAULT_TEXT_COLUMN

    def __init__(self, path: Path, text_column: str | None, id_column: str | None,
                 batch_size: int) -> None:
        super().__init__(path, text_column, id_column, batch_size)
        self.text_column = text_column or DEFAULT_TEXT_COLUMN

    def rows(self, skip: int) -> Iterator[tuple[int, str, str]]:
        key = self.text_column
        for row, line in self._decoded_lines():
            if row <= skip:
                continue
            if not line.strip():
                raise self.error(row, "blank line; JSONL needs one JSON object on every line")
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise self.error(row, f"bad JSON ({exc})") from exc
            if not isinstance(obj, dict):
                raise self.error(row, f"a JSON {type(obj).__name__}, not an object like "
                                      f'{{"{key}": "..."}}')
            if key not in obj:
                raise self.error(row, f"no {key!r} key{_closest(key, list(obj))}; keys are "
                                      f"{sorted(obj)[:10]}")
            text = obj[key]
            if not isinstance(text, str):
                raise self.error(row, f"{key!r} is a JSON {type(text).__name__}, not a string")
            ident = text
            if self.id_column is not None:
                if self.id_column not in obj:
                    raise self.error(row, f"no {self.id_column!r} key (id_column)")
                ident = obj[self.id_column]
                ident = ident if isinstance(ident, str) else json.dumps(ident)
            yield row, text, ident


class _ParquetReader(_Reader):
    def __init__(self, path: Path, text_column: str | None, id_column: str | None,
                 batch_size: int) -> None:
        super().__init__(path, text_column, id_column, batch_size)
        pq = _pyarrow_parquet()
        try:
            self.file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises ArrowInvalid/OSError on bad files
            raise DataFileError(f"{path} is not a readable Parquet file ({exc})") from exc
        names = list(self.file.schema_arrow.names)
        self.text_column = _pick_column(path, names, text_column)
        if id_column is not None:
            _pick_column(path, names, id_column, what="id_column")
        self.total = self.file.metadata.num_rows

    def rows(self, skip: int) -> Iterator[tuple[int, str, str]]:
        columns = [self.text_column] + ([self.id_column] if self.id_column else [])
        row = 0
        for batch in self.file.iter_batches(batch_size=self.batch_size, columns=columns):
            n = batch.num_rows
            if row + n <= skip:
                row += n
                continue
            texts = batch.column(0).to_pylist()
            idents = batch.column(1).to_pylist() if self.id_column else texts
            for i in range(max(0, skip - row), n):
                text = texts[i]
                if text is not None and not isinstance(text, str):
                    raise self.error(row + i + 1, f"{self.text_column!r} holds "
                                                  f"{type(text).__name__}, not text")
                ident = idents[i]
                yield row + i + 1, text or "", "" if ident is None else str(ident)
            row += n


def _open_reader(path: Path, fmt: str, text_column: str | None, id_column: str | None,
                 batch_size: int) -> _Reader:
    if fmt == "txt":
        return _TxtReader(path, None, None, batch_size)
    if fmt in ("csv", "tsv"):
        return _CsvReader(path, text_column, id_column, batch_size,
                          delimiter="\t" if fmt == "tsv" else ",")
    if fmt == "jsonl":
        return _JsonlReader(path, text_column, id_column, batch_size)
    return _ParquetReader(path, text_column, id_column, batch_size)


def _pick_column(path: Path, names: Sequence[str], wanted: str | None,
                 what: str = "text_column") -> str:
    if wanted is None:
        if DEFAULT_TEXT_COLUMN in names:
            return DEFAULT_TEXT_COLUMN
        if len(names) == 1:
            return names[0]
        raise DataFileError(f"{path} has columns {list(names)} and none is called "
                            f"{DEFAULT_TEXT_COLUMN!r}: pass {what} (--text-column) to say "
                            "which holds the text")
    if wanted not in names:
        raise DataFileError(f"{path} has no column {wanted!r}{_closest(wanted, names)}; its "
                            f"columns are {list(names)}. Pass the right {what}.")
    return wanted


def _closest(wanted: str, names: Iterable[str]) -> str:
    names = list(names)
    lower = {n.lower(): n for n in names}
    match = lower.get(wanted.lower()) or next(iter(
        difflib.get_close_matches(wanted, names, n=1, cutoff=0.5)), None)
    return f" (did you mean {match!r}?)" if match else ""


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataFileError("Parquet needs pyarrow: pip install 'emojiqa[parquet]'") from exc
    return pq


# --- writing -------------------------------------------------------------------------------


class _Writer:
    """Appends result rows to a partial output, and moves the finished file into place."""

    def __init__(self, dst: Path, top_k: int, id_column: str | None, flag_empty: bool) -> None:
        self.dst, self.top_k, self.flag_empty = dst, top_k, flag_empty
        self.label = "id" if id_column else "text"

    def columns(self) -> list[str]:
        cols = ["row", self.label] + (["empty"] if self.flag_empty else [])
        for i in range(1, self.top_k + 1):
            cols += [f"emoji_{i}", f"key_{i}", f"name_{i}", f"score_{i}"]
        return cols

    def start(self) -> None: ...
    def write(self, rows: list[_Row], results: list[list[Any] | None]) -> None: ...
    def mark(self) -> dict[str, int]: raise NotImplementedError
    def restore(self, saved: dict[str, Any]) -> bool: raise NotImplementedError
    def close(self) -> None: ...
    def finish(self) -> None: ...


class _StreamWriter(_Writer):
    """CSV or JSONL: one growing part file cut back to the recorded byte count on resume."""

    def __init__(self, dst: Path, top_k: int, id_column: str | None, flag_empty: bool,
                 fmt: str) -> None:
        super().__init__(dst, top_k, id_column, flag_empty)
        self.fmt = fmt
        self.part = dst.with_name(dst.name + ".part")
        self.fh: BinaryIO | None = None

    def start(self) -> None:
        self.part.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.part, "wb")  # noqa: SIM115 - closed in close()
        if self.fmt == "csv":
            self._append(_csv_lines([self.columns()]))

    def restore(self, saved: dict[str, Any]) -> bool:
        size = int(saved.get("bytes", -1))
        if not self.part.is_file() or self.part.stat().st_size < size or size < 0:
            return False
        self.fh = open(self.part, "r+b")  # noqa: SIM115 - closed in close()
        self.fh.truncate(size)  # drop a batch written after the last progress mark
        self.fh.seek(size)
        return True

    def write(self, rows: list[_Row], results: list[list[Any] | None]) -> None:
        if self.fmt == "csv":
            lines = []
            for r, res in zip(rows, results, strict=True):
                line: list[Any] = [r.row, r.raw] + (["true" if res is None else "false"]
                                                    if self.flag_empty else [])
                for i in range(self.top_k):
                    s = res[i] if res is not None and i < len(res) else None
                    line += ([s.emoji, s.key, s.name, f"{float(s.score):.6f}"] if s is not None
                             else ["", "", "", ""])
                lines.append(line)
            self._append(_csv_lines(lines))
        else:
            out = io.StringIO()
            for r, res in zip(rows, results, strict=True):
                obj: dict[str, Any] = {"row": r.row, self.label: r.raw}
                if self.flag_empty:
                    obj["empty"] = res is None
                obj["suggestions"] = [
                    {"emoji": s.emoji, "key": s.key, "name": s.name,
                     "score": round(float(s.score), 6)} for s in (res or [])[: self.top_k]
                ]
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self._append(out.getvalue().encode("utf-8"))

    def _append(self, data: bytes) -> None:
        assert self.fh is not None
        self.fh.write(data)
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def mark(self) -> dict[str, int]:
        assert self.fh is not None
        return {"bytes": self.fh.tell()}

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None

    def finish(self) -> None:
        os.replace(self.part, self.dst)


class _ParquetWriter(_Writer):
    """Parquet: one small part file per batch, merged into one file (streamed) at the end."""

    def __init__(self, dst: Path, top_k: int, id_column: str | None, flag_empty: bool) -> None:
        super().__init__(dst, top_k, id_column, flag_empty)
        self.pq = _pyarrow_parquet()
        import pyarrow as pa

        self.pa = pa
        self.parts_dir = dst.with_name(dst.name + ".parts")
        self.parts = 0
        fields = [pa.field("row", pa.int64()), pa.field(self.label, pa.string())]
        if flag_empty:
            fields.append(pa.field("empty", pa.bool_()))
        for i in range(1, top_k + 1):
            fields += [pa.field(f"emoji_{i}", pa.string()), pa.field(f"key_{i}", pa.string()),
                       pa.field(f"name_{i}", pa.string()), pa.field(f"score_{i}", pa.float32())]
        self.schema = pa.schema(fields)

    def start(self) -> None:
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        self.parts_dir.mkdir(parents=True)
        self.parts = 0

    def restore(self, saved: dict[str, Any]) -> bool:
        parts = int(saved.get("parts", -1))
        if parts < 0 or not self.parts_dir.is_dir():
            return False
        for i in range(parts):
            if not self._part(i).is_file():
                return False
        for extra in self.parts_dir.iterdir():  # parts of a batch not recorded as done
            if extra.name not in {self._part(i).name for i in range(parts)}:
                extra.unlink()
        self.parts = parts
        return True

    def _part(self, i: int) -> Path:
        return self.parts_dir / f"part-{i:07d}.parquet"

    def write(self, rows: list[_Row], results: list[list[Any] | None]) -> None:
        cols: dict[str, list[Any]] = {"row": [r.row for r in rows],
                                      self.label: [r.raw for r in rows]}
        if self.flag_empty:
            cols["empty"] = [res is None for res in results]
        cols.update(result_columns(results, self.top_k))
        table = self.pa.table(cols, schema=self.schema)
        path = self._part(self.parts)
        tmp = path.with_name(path.name + ".tmp")
        self.pq.write_table(table, tmp)
        os.replace(tmp, path)
        self.parts += 1

    def mark(self) -> dict[str, int]:
        return {"parts": self.parts}

    def close(self) -> None: ...

    def finish(self) -> None:
        tmp = self.dst.with_name(f".{self.dst.name}.tmp")
        rows_per_group = 65536
        pending: list[Any] = []
        pending_rows = 0
        with self.pq.ParquetWriter(tmp, self.schema) as out:
            for i in range(self.parts):  # one part in memory at a time (plus a row group)
                table = self.pq.read_table(self._part(i), schema=self.schema)
                pending.append(table)
                pending_rows += table.num_rows
                if pending_rows >= rows_per_group:
                    out.write_table(self.pa.concat_tables(pending))
                    pending, pending_rows = [], 0
            if pending or self.parts == 0:
                out.write_table(self.pa.concat_tables(pending) if pending
                                else self.schema.empty_table())
        os.replace(tmp, self.dst)
        shutil.rmtree(self.parts_dir, ignore_errors=True)


def result_columns(results: Sequence[Sequence[Any] | None], top_k: int
                   ) -> dict[str, list[Any]]:
    """Suggestions as flat columns ``emoji_i``, ``key_i``, ``name_i``, ``score_i`` (i = 1..k).

    ``results`` holds one ranked list per row (``None`` for an empty row kept without
    suggestions); missing entries are ``None``. The Parquet output and the Ray Data path
    (:mod:`emojiqa.ray_data`) both use it, so they write the same thing.

    Example:
        >>> result_columns([ranker.rank("ok", top_k=2)], top_k=2)["key_1"]  # doctest: +SKIP
        ['1f44d']
    """
    cols: dict[str, list[Any]] = {}
    for i in range(top_k):
        picked = [res[i] if res is not None and i < len(res) else None for res in results]
        cols[f"emoji_{i + 1}"] = [s.emoji if s else None for s in picked]
        cols[f"key_{i + 1}"] = [s.key if s else None for s in picked]
        cols[f"name_{i + 1}"] = [s.name if s else None for s in picked]
        cols[f"score_{i + 1}"] = [float(s.score) if s else None for s in picked]
    return cols


def _make_writer(dst: Path, fmt: str, top_k: int, id_column: str | None, flag_empty: bool
                 ) -> _Writer:
    if fmt == "parquet":
        return _ParquetWriter(dst, top_k, id_column, flag_empty)
    return _StreamWriter(dst, top_k, id_column, flag_empty, fmt)


def _csv_lines(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")
