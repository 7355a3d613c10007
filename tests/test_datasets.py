"""Canonical airline split, TweetEval loading and user tables with their error messages."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from emojiqa.datasets import Example, load_airline, load_table, load_tweeteval
from emojiqa.errors import DataFileError


def test_canonical_airline_split_sizes():
    sizes = {s: len(load_airline(s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 11524, "val": 1463, "test": 1423}
    test = Counter(e.key for e in load_airline("test"))
    assert test == {"1f621": 895, "1f608": 294, "1f389": 234}


def test_airline_split_is_disjoint():
    ids = [{e.text for e in load_airline(s)} for s in ("train", "val", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_tweeteval_strips_fe0f():
    val = load_tweeteval("val")
    assert len(val) == 5000
    assert not any("\ufe0f" in e.text for e in val)
    assert len({e.key for e in val}) == 20
    with pytest.raises(ValueError, match="split"):
        load_tweeteval("test")


def test_example_is_frozen():
    e = Example("hi", "1f389")
    assert e.weight == 1.0
    with pytest.raises(AttributeError):
        e.text = "x"  # type: ignore[misc]


def test_table_formats_and_label_kinds(tmp_path, twemoji):
    csv = tmp_path / "a.csv"
    csv.write_bytes("\ufefftext,emoji\r\n\"multi\nline\",🎉\r\nsad day,1f621\r\n"
                    "ok,party popper\r\nmeh,neutral\r\nlove,❤️\r\nthumbs,👍🏽\r\n"
                    "flag,🏳‍🌈\r\n".encode())
    ex = load_table(csv, emojis=twemoji)
    assert [e.key for e in ex] == ["1f389", "1f621", "1f389", "1f608", "2764", "1f44d-1f3fd",
                                   "1f3f3-fe0f-200d-1f308"]
    assert ex[0].text == "multi line" and ex[0].source == "a.csv"
    tsv = tmp_path / "b.tsv"
    tsv.write_text("t\te\nhello\tpositive\n", encoding="utf-8")
    assert load_table(tsv, "t", "e", emojis=twemoji)[0].key == "1f389"
    jl = tmp_path / "c.jsonl"
    jl.write_text(json.dumps({"text": "x y", "emoji": "😡"}) + "\n\n", encoding="utf-8")
    assert load_table(jl, emojis=twemoji)[0].key == "1f621"


def test_table_label_of_one_emoji_repeated_or_of_several(tmp_path, twemoji):
    p = tmp_path / "r.csv"
    p.write_text("text,emoji\nparty,🎉🎉\nlove,❤️ ❤️\nyes,👍🏽👍🏽\nfam,👨‍👩‍👧👨‍👩‍👧\n",
                 encoding="utf-8")
    assert [e.key for e in load_table(p, emojis=twemoji)] == [
        "1f389", "2764", "1f44d-1f3fd", "1f468-200d-1f469-200d-1f467"]
    p.write_text("text,emoji\nparty,🎉\nyes,🎉😂\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"row 2 .*holds 2 different emojis \(🎉 😂\); "
                                            r"give one emoji per row"):
        load_table(p, emojis=twemoji)
    p.write_text("text,emoji\nyes,🎉x\n", encoding="utf-8")  # not all emojis: unknown
    with pytest.raises(DataFileError, match=r"unknown emoji label '🎉x'"):
        load_table(p, emojis=twemoji)


def test_table_errors(tmp_path, twemoji):
    p = tmp_path / "d.csv"
    with pytest.raises(DataFileError, match="not found"):
        load_table(p, emojis=twemoji)
    p.write_text("", encoding="utf-8")
    with pytest.raises(DataFileError, match="empty"):
        load_table(p, emojis=twemoji)
    p.write_text("text,emoji\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="no data rows"):
        load_table(p, emojis=twemoji)
    p.write_text("tweet,emoji\nhi,🎉\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="Did you mean 'tweet'"):
        load_table(p, emojis=twemoji)
    p.write_text("text,emoji\nhi,🎉\nyo,notanemoji_zz\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"row 2 .*'notanemoji_zz'"):
        load_table(p, emojis=twemoji)
    p.write_text("text,emoji\n   ,🎉\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="row 1 .*empty"):
        load_table(p, emojis=twemoji)
    p.write_bytes(b"text,emoji\nok,x\ncaf\xe9,y\n")
    with pytest.raises(DataFileError, match=r"byte offset 19 \(line 3\)"):
        load_table(p, emojis=twemoji)
    j = tmp_path / "e.jsonl"
    j.write_text('{"text": "a", "emoji": "🎉"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DataFileError, match="line 2"):
        load_table(j, emojis=twemoji)
