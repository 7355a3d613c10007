"""Question–answer data for the ranker: airline tweets, TweetEval emoji, or a user's table.

Every loader returns a list of :class:`Example` — a text and the key of the emoji that answers
it. Three sources are built in:

- :func:`load_airline` — Twitter US Airline Sentiment with the project's *canonical split*
  (train 11,524 / val 1,463 / test 1,423), sentiments mapped to the seed's answers
  🎉 (positive), 😈 (neutral), 😡 (negative);
- :func:`load_tweeteval` — TweetEval emoji prediction (20 emojis), with U+FE0F stripped from
  every text (the emoji's left-over variation selector leaks the label);
- :func:`load_table` — a CSV, TSV or JSONL file with a text column and an emoji column.

Example:
    >>> train = load_airline("train")
    >>> len(train), train[0].key
    (11524, '1f621')
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .emojis import EmojiSet, data_path, emoji_from_key, key_from_emoji
from .errors import DataFileError, EmojiNotFoundError, TextError

#: The seed's answers for the airline sentiment labels.
SENTIMENT_KEYS = {"positive": "1f389", "neutral": "1f608", "negative": "1f621"}
SPLITS = ("train", "val", "test")
_VS16 = "\ufe0f"


@dataclass(frozen=True)
class Example:
    """One training or evaluation pair: a text and the key of the emoji answering it.

    Attributes:
        text: the question text.
        key: emoji key (e.g. ``"1f389"``), see :mod:`emojiqa.emojis`.
        weight: weight of this example in the loss (multi-source training).
        source: where it came from (``"airline"``, ``"tweeteval"``, a file name...).
    """

    text: str
    key: str
    weight: float = 1.0
    source: str = ""


def _check_split(split: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if split not in allowed:
        raise ValueError(f"split={split!r} is not valid; choose one of {', '.join(allowed)}")


def airline_bucket(tweet_id: str) -> int:
    """The canonical split bucket of a tweet id: 9 → test, 8 → val, else train."""
    return int(hashlib.sha256(tweet_id.encode()).hexdigest(), 16) % 10


def load_airline(split: str = "train", path: str | os.PathLike[str] | None = None
                 ) -> list[Example]:
    """The airline tweets of one split of the canonical split.

    The split (see the data README): read as UTF-8 with ``tweet_id`` as a string; drop every
    row of a ``tweet_id`` whose rows disagree on ``airline_sentiment``; keep the first row of
    each ``tweet_id``, then the first row of each exact ``text``; bucket
    ``int(sha256(tweet_id).hexdigest(), 16) % 10``: 9 → test, 8 → val, else train.

    Args:
        split: ``"train"`` (11,524), ``"val"`` (1,463) or ``"test"`` (1,423).
        path: another copy of ``Tweets.csv`` (default: the bundled one).

    Returns:
        Examples in file order, keyed 🎉 ``1f389`` / 😈 ``1f608`` / 😡 ``1f621``.

    Example:
        >>> sum(e.key == "1f621" for e in load_airline("test"))
        895
    """
    _check_split(split, SPLITS)
    path = Path(path) if path is not None else data_path("airline", "Tweets.csv")
    rows = _read_csv_rows(path, delimiter=",")
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    for need in ("tweet_id", "airline_sentiment", "text"):
        if need not in col:
            raise DataFileError(f"{path} has no {need!r} column; is it the airline Tweets.csv?")
    ti, si, xi = col["tweet_id"], col["airline_sentiment"], col["text"]
    labels: dict[str, set[str]] = {}
    for r in body:
        labels.setdefault(r[ti], set()).add(r[si])
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    want = {"test": 9, "val": 8}
    out = []
    for r in body:
        tid, sentiment, text = r[ti], r[si], r[xi]
        if len(labels[tid]) > 1 or tid in seen_ids:
            continue
        seen_ids.add(tid)
        if text in seen_texts:
            continue
        seen_texts.add(text)
        bucket = airline_bucket(tid)
        in_split = bucket == want[split] if split in want else bucket < 8
        if in_split:
            out.append(Example(text=text, key=SENTIMENT_KEYS[sentiment], source="airline"))
    return out


def tweeteval_keys() -> list[str]:
    """The 20 TweetEval emoji keys in label order (label ``i`` → ``keys[i]``)."""
    lines = data_path("tweeteval_emoji", "mapping.txt").read_text(encoding="utf-8").splitlines()
    keys = []
    for line in lines:
        if line.strip():
            _, emoji, *_ = line.split("\t")
            keys.append(key_from_emoji(emoji))
    return keys


def load_tweeteval(split: str = "train") -> list[Example]:
    """TweetEval emoji prediction (English), with U+FE0F stripped from every text.

    Args:
        split: ``"train"`` (45,000) or ``"val"`` (5,000). The official test split is not
            bundled: tune on val.

    Example:
        >>> val = load_tweeteval("val")
        >>> len(val), any("\\ufe0f" in e.text for e in val)
        (5000, False)
    """
    _check_split(split, ("train", "val"))
    keys = tweeteval_keys()
    texts = data_path("tweeteval_emoji", f"{split}_text.txt").read_text(encoding="utf-8")
    labels = data_path("tweeteval_emoji", f"{split}_labels.txt").read_text(encoding="utf-8")
    texts_l = texts.split("\n")
    labels_l = [x for x in labels.split("\n") if x.strip()]
    texts_l = texts_l[: len(labels_l)]
    return [Example(text=t.replace(_VS16, "").strip(), key=keys[int(y)], source="tweeteval")
            for t, y in zip(texts_l, labels_l, strict=True)]


# ------------------------------------------------------------------------------------------
# user tables


def _decode(data: bytes, path: Path) -> str:
    for bom, enc in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                     (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if data.startswith(bom):
            raise DataFileError(
                f"{path} is {enc} text (it starts with a {enc} byte-order mark), not UTF-8. "
                f"Re-save it as UTF-8, e.g. `iconv -f {enc.lower()} -t utf-8 IN > OUT`."
            )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataFileError(
            f"{path} is not UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start} "
            f"(line {line}) cannot be decoded. Re-save the file as UTF-8 (e.g. "
            "`iconv -f latin1 -t utf-8`)."
        ) from exc


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataFileError(f"data file not found: {path}. Check the path.")
    data = path.read_bytes()
    if not data.strip():
        raise DataFileError(f"{path} is empty; it needs a header row and at least one data row.")
    return data


def _read_csv_rows(path: Path, delimiter: str) -> list[list[str]]:
    text = _decode(_read_bytes(path), path)
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r]
    except csv.Error as exc:
        raise DataFileError(f"{path} is not valid CSV/TSV: {exc}") from exc
    if not rows:
        raise DataFileError(f"{path} is empty; it needs a header row and at least one data row.")
    return rows


def _column(header: list[str], name: str, path: Path, what: str) -> int:
    if name in header:
        return header.index(name)
    close = difflib.get_close_matches(name, header, n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DataFileError(
        f"{path} has no {what} column {name!r}; its columns are {header}.{hint} "
        f"Pass the right name with --{what}-column."
    )


def _label_lookup(emojis: EmojiSet, by_char: Mapping[str, str]) -> Callable[[str], str]:
    """Emoji label → key in ``emojis`` (KeyError when unknown); ``by_char``:
    :func:`_emoji_chars` of the set."""
    stripped = {k.replace("-fe0f", ""): k for k in emojis.keys}

    def lookup(value: str) -> str:
        v = value.strip()
        low = v.lower()
        if "-fe0f" in low and "200d" not in low:
            low = low.replace("-fe0f", "")  # key form as emoji-data / OpenMoji file names
            v = low
        if low in SENTIMENT_KEYS:
            return SENTIMENT_KEYS[low]
        try:
            return emojis.keys[emojis.index(v)]
        except EmojiNotFoundError:
            pass
        try:
            k = key_from_emoji(v).replace("-fe0f", "")
        except EmojiNotFoundError:
            k = ""
        if k in stripped:
            return stripped[k]
        several = _several_emojis(v, by_char)
        if several and len(set(several)) == 1:  # the same emoji repeated ("🎉🎉"): that one
            return several[0]
        raise KeyError(v)

    return lookup


def _emoji_chars(emojis: EmojiSet) -> dict[str, str]:
    """Each emoji of the set as characters (without U+FE0F) → its key."""
    return {emoji_from_key(k).replace("\ufe0f", ""): k for k in emojis.keys}


def _several_emojis(value: str, by_char: Mapping[str, str]) -> list[str]:
    """The keys of the emojis ``value`` is made of, one after another (spaces and U+FE0F
    between or inside them ignored; longest match first), or ``[]`` when something else is
    in it. ``by_char``: emoji characters (without U+FE0F) → key."""
    rest = "".join(value.replace("\ufe0f", "").split())
    longest = max(map(len, by_char), default=0)
    keys = []
    while rest:
        n = next((n for n in range(min(longest, len(rest)), 0, -1) if rest[:n] in by_char), 0)
        if not n:
            return []
        keys.append(by_char[rest[:n]])
        rest = rest[n:]
    return keys


def load_table(path: str | os.PathLike[str], text_column: str = "text",
               emoji_column: str = "emoji", emojis: EmojiSet | None = None,
               source: str | None = None) -> list[Example]:
    """Examples from a CSV, TSV or JSONL file with a text column and an emoji column.

    The emoji may be a character (``🎉``, with or without U+FE0F or a skin tone), a key
    (``1f389``), a name (``party popper``), or an airline sentiment (``positive`` / ``neutral``
    / ``negative`` → 🎉 / 😈 / 😡). The format follows the suffix (``.tsv``/``.tab`` → TSV,
    ``.jsonl``/``.ndjson``/``.json`` → one JSON object per line, anything else → CSV). A UTF-8
    byte-order mark, CRLF line ends and quoted newlines are fine.

    Args:
        path: the file.
        text_column: name of the text column.
        emoji_column: name of the emoji column.
        emojis: the emoji set labels are looked up in (default: bundled Twemoji).
        source: the ``source`` of the examples (default: the file name).

    Raises:
        DataFileError: missing file or column, empty file, header only, non-UTF-8 bytes,
            bad JSON, an empty text or an unknown emoji label — naming the row and value.

    Example:
        >>> load_table("my.csv", text_column="tweet", emoji_column="label")  # doctest: +SKIP
    """
    path = Path(path)
    emojis = emojis if emojis is not None else EmojiSet.bundled("twemoji")
    src = source if source is not None else path.name
    suffix = path.suffix.lower()
    records: list[tuple[int, str, str]] = []  # (line, text, label)
    if suffix in (".jsonl", ".ndjson", ".json"):
        text = _decode(_read_bytes(path), path)
        keys_seen: list[str] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path} line {lineno} is not valid JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise DataFileError(f"{path} line {lineno}: expected a JSON object per line")
            keys_seen = list(obj)
            for name, what in ((text_column, "text"), (emoji_column, "emoji")):
                if name not in obj:
                    _column(keys_seen, name, path, what)
            records.append((lineno, str(obj[text_column] or ""), str(obj[emoji_column] or "")))
        if not records:
            raise DataFileError(f"{path} holds no JSON lines; it needs one object per line.")
    else:
        delimiter = "\t" if suffix in (".tsv", ".tab") else ","
        text = _decode(_read_bytes(path), path)
        try:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            header = next(reader, None)
            if not header:
                raise DataFileError(f"{path} is empty; it needs a header row and data rows.")
            header = [h.strip() for h in header]
            ti = _column(header, text_column, path, "text")
            ei = _column(header, emoji_column, path, "emoji")
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) <= max(ti, ei):
                    raise DataFileError(
                        f"{path} line {reader.line_num}: {len(row)} fields, but the header "
                        f"has {len(header)}; check the delimiter and quoting."
                    )
                records.append((reader.line_num, row[ti], row[ei]))
        except csv.Error as exc:
            if "field limit" in str(exc):
                raise DataFileError(
                    f"{path} line {reader.line_num}: a field is over "
                    f"{csv.field_size_limit():,} characters ({exc}). Texts are limited to "
                    "10,000 characters: shorten or split that row (or check the quoting — an "
                    "unclosed quote swallows the rest of the file)."
                ) from exc
            raise DataFileError(f"{path} is not valid CSV/TSV: {exc}") from exc
        if not records:
            raise DataFileError(f"{path} has a header but no data rows.")
    from .text import validate_text

    by_char = _emoji_chars(emojis)
    lookup = _label_lookup(emojis, by_char)
    out = []
    for row_no, (line_no, text_value, label) in enumerate(records, 1):
        try:
            clean = validate_text(text_value)
        except TextError as exc:
            raise DataFileError(f"{path} row {row_no} (line {line_no}): {exc}") from exc
        try:
            key = lookup(label)
        except KeyError:
            several = _several_emojis(label, by_char)
            if len(several) > 1:
                shown = " ".join(emoji_from_key(k) for k in several)
                raise DataFileError(
                    f"{path} row {row_no} (line {line_no}): the emoji label {label!r} holds "
                    f"{len(several)} different emojis ({shown}); give one emoji per row "
                    "(repeat the text on a row of its own for each)."
                ) from None
            hints = [e.emoji + " " + e.name for e in emojis.search(label, limit=3)]
            hint = f" Did you mean: {', '.join(hints)}?" if hints else ""
            raise DataFileError(
                f"{path} row {row_no} (line {line_no}): unknown emoji label {label!r}.{hint} "
                "Use an emoji character, a key like 1f389, a name like 'party popper', or "
                "positive/neutral/negative."
            ) from None
        out.append(Example(text=clean, key=key, source=src))
    return out


def label_counts(examples: Iterable[Example]) -> dict[str, int]:
    """How many examples each emoji key answers, most frequent first."""
    counts: dict[str, int] = {}
    for e in examples:
        counts[e.key] = counts.get(e.key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
