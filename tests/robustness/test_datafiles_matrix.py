"""Bad-input matrix of the data-file boundary: ``datasets.load_table`` (CSV, TSV, JSONL).

Refused files raise exactly :class:`~emojiqa.errors.DataFileError` naming the file, the row or
column and the fix; accepted oddities (BOM, CRLF, quoted newlines, skin tones, U+FE0F variants,
keys, names, sentiments) give the expected ``Example`` rows.
"""

from __future__ import annotations

import pytest

from emojiqa.datasets import load_table
from emojiqa.errors import DataFileError

REFUSED = {
    # file name: (bytes, what, fix)
    "missing-column.csv": (b"text,label\nhi,1f389\n",
                           [r"no emoji column 'emoji'", r"\['text', 'label'\]"],
                           [r"--emoji-column"]),
    "wrong-text-column.csv": (b"txt,emoji\nhi,1f389\n",
                              [r"no text column 'text'"], [r"did you mean 'txt'",
                                                           r"--text-column"]),
    "wrong-emoji-column.csv": (b"text,emojis\nhi,1f389\n",
                               [r"no emoji column 'emoji'"], [r"did you mean 'emojis'"]),
    "case-of-column.csv": (b"Text,Emoji\nhi,1f389\n",
                           [r"no text column 'text'"], [r"did you mean 'Text'"]),
    "wrong-column.tsv": (b"tweet\temoji\nhi\t1f389\n", [r"no text column"],
                         [r"did you mean 'tweet'"]),
    "wrong-column.jsonl": (b'{"txt": "hi", "emoji": "1f389"}\n', [r"no text column 'text'"],
                           [r"did you mean 'txt'"]),
    "empty.csv": (b"", [r"is empty"], [r"header row"]),
    "blank-lines.csv": (b"\n \n\t\n", [r"is empty"], [r"header row"]),
    "empty.jsonl": (b"", [r"is empty"], [r"header row|one object per line"]),
    "header-only.csv": (b"text,emoji\n", [r"header but no data rows"], []),
    "header-only-crlf.csv": (b"text,emoji\r\n\r\n", [r"header but no data rows"], []),
    "latin-1.csv": ("text,emoji\ncafé great,1f389\n".encode("latin-1"),
                    [r"not UTF-8", r"0xe9", r"line 2"], [r"re-save the file as UTF-8"]),
    "cp1252-quotes.csv": ("text,emoji\n\u201cgreat\u201d,1f389\n".encode("cp1252"),
                          [r"not UTF-8", r"line 2"], [r"UTF-8"]),
    "non-utf8.jsonl": (b'{"text": "caf\xe9", "emoji": "1f389"}\n', [r"not UTF-8"],
                       [r"UTF-8"]),
    "not-an-emoji.csv": (b"text,emoji\nfine,1f389\nhi,banana split sundae\n",
                         [r"row 2", r"line 3", r"unknown emoji label 'banana split sundae'"],
                         [r"emoji character", r"key like 1f389", r"positive/neutral"]),
    "empty-label.csv": (b"text,emoji\nhi,\n", [r"row 1", r"unknown emoji label ''"],
                        [r"emoji character"]),
    "near-miss-name.csv": (b"text,emoji\nhi,party poper\n",
                           [r"unknown emoji label 'party poper'"], [r"did you mean.*party"]),
    "text-as-label.csv": (b"text,emoji\nhi,hello world\n", [r"unknown emoji label"],
                          [r"emoji character"]),
    "empty-text.csv": (b"text,emoji\n,1f389\n", [r"row 1", r"empty"], [r"give some words"]),
    "long-text.jsonl": (('{"text": "' + "a" * 10_001 + '", "emoji": "1f389"}\n').encode(),
                        [r"row 1", r"10,001 characters"], [r"shorten|split"]),
    "short-row.csv": (b"text,emoji\nhi,1f389\nlonely\n", [r"line 3", r"1 fields"],
                      [r"delimiter and quoting"]),
    "unclosed-quote.csv": (b'text,emoji\n"hello,1f389\nbye,1f621\n', [r"1 fields"],
                           [r"quoting"]),
    "wrong-delimiter.csv": (b"text;emoji\nhi;1f389\n", [r"no text column 'text'",
                                                        r"text;emoji"], [r"column"]),
    "bad-json.jsonl": (b'{"text": "hi", "emoji": "1f389"}\n{"text": "x", "emoji"\n',
                       [r"line 2", r"not valid JSON"], []),
    "json-array-line.jsonl": (b"[1, 2]\n", [r"line 1", r"JSON object"], []),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_files(name, tmp_path, raises_clearly):
    data, what, fix = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(data)
    raises_clearly(DataFileError, load_table, path, what=[name, *what], fix=fix)


def test_missing_file(tmp_path, raises_clearly):
    raises_clearly(DataFileError, load_table, tmp_path / "nope.csv",
                   what=[r"not found", "nope.csv"], fix=[r"check the path"])


def test_folder_instead_of_file(tmp_path, raises_clearly):
    raises_clearly(DataFileError, load_table, tmp_path, what=[r"not found"])


def test_other_columns_are_used_when_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,tweet,label\n1,hi there,positive\n")
    ex = load_table(path, text_column="tweet", emoji_column="label")
    assert [(e.text, e.key) for e in ex] == [("hi there", "1f389")]


ACCEPTED = {
    # file name: (bytes, [(text, key), ...])
    "bom.csv": (b"\xef\xbb\xbftext,emoji\nhi,1f389\n", [("hi", "1f389")]),
    "bom.jsonl": ('\ufeff{"text": "hi", "emoji": "🎉"}\n'.encode(), [("hi", "1f389")]),
    "bom.tsv": (b"\xef\xbb\xbftext\temoji\nhi\t1f389\n", [("hi", "1f389")]),
    "crlf.csv": (b"text,emoji\r\nhi,1f389\r\nbye,1f621\r\n", [("hi", "1f389"),
                                                               ("bye", "1f621")]),
    "crlf.jsonl": (b'{"text": "hi", "emoji": "1f389"}\r\n\r\n{"text": "b", "emoji": "1f621"}\r\n',
                   [("hi", "1f389"), ("b", "1f621")]),
    "cr-only.csv": (b"text,emoji\rhi,1f389\rbye,1f621\r", [("hi", "1f389"), ("bye", "1f621")]),
    "quoted-newlines.csv": (b'text,emoji\n"line one\nline two",1f389\n"a, b",1f621\n',
                            [("line one line two", "1f389"), ("a, b", "1f621")]),
    # \r and \n each become a space
    "quoted-crlf.csv": (b'text,emoji\r\n"one\r\ntwo",1f389\r\n', [("one  two", "1f389")]),
    "quoted-quotes.csv": (b'text,emoji\n"she said ""wow""",1f389\n',
                          [('she said "wow"', "1f389")]),
    "skin-tones.csv": ("text,emoji\na,👍🏽\nb,👍🏿\nc,👍\nd,1f44d-1f3fb\n".encode(),
                       [("a", "1f44d-1f3fd"), ("b", "1f44d-1f3ff"), ("c", "1f44d"),
                        ("d", "1f44d-1f3fb")]),
    "fe0f-variants.csv": ("text,emoji\na,❤️\nb,❤\nc,☺️\nd,☺\ne,✌🏽\nf,✌️\n".encode(),
                          [("a", "2764"), ("b", "2764"), ("c", "263a"), ("d", "263a"),
                           ("e", "270c-1f3fd"), ("f", "270c")]),
    "zwj-with-and-without-fe0f.csv": ("text,emoji\na,🏳️‍🌈\nb,🏳‍🌈\n".encode(),
                                      [("a", "1f3f3-fe0f-200d-1f308"),
                                       ("b", "1f3f3-fe0f-200d-1f308")]),
    "keys-names-sentiments.csv": (
        b"text,emoji\na,1f389\nb,1F389\nc,party popper\nd,Party Popper\ne,positive\n"
        b"f,NEGATIVE\ng,neutral\nh, 1f389 \n",
        [("a", "1f389"), ("b", "1f389"), ("c", "1f389"), ("d", "1f389"), ("e", "1f389"),
         ("f", "1f621"), ("g", "1f608"), ("h", "1f389")]),
    "nul-and-control-in-text.csv": (b"text,emoji\nh\x01i\x07 there,1f389\n",
                                    [("hi there", "1f389")]),
    "blank-rows-skipped.csv": (b"text,emoji\n\nhi,1f389\n,\n\n", [("hi", "1f389")]),
    "extra-columns.csv": (b"id,text,x,emoji,y\n7,hi,,1f389,z\n", [("hi", "1f389")]),
    "tsv-with-commas.tsv": (b"text\temoji\nhi, you\t1f389\n", [("hi, you", "1f389")]),
    "unicode-text.jsonl": ('{"text": "رحلة 航班 🎉", "emoji": "🎉"}\n'.encode(),
                           [("رحلة 航班 🎉", "1f389")]),
    "json-escapes.jsonl": (b'{"text": "caf\\u00e9 \\ud83c\\udf89", "emoji": "\\ud83c\\udf89"}\n',
                           [("café 🎉", "1f389")]),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_accepted_files(name, tmp_path):
    data, want = ACCEPTED[name]
    path = tmp_path / name
    path.write_bytes(data)
    got = load_table(path)
    assert [(e.text, e.key) for e in got] == want
    assert all(e.source == name for e in got)


def test_fe0f_key_form_labels(tmp_path):
    path = tmp_path / "k.csv"
    path.write_bytes(b"text,emoji\na,2764-fe0f\nb,263A-FE0F\n")
    assert [e.key for e in load_table(path)] == ["2764", "263a"]


def test_huge_csv_cell_names_the_line_and_the_limit(tmp_path, raises_clearly):
    path = tmp_path / "huge.csv"
    path.write_bytes(b"text,emoji\nfine,1f389\n" + b"a" * 200_000 + b",1f389\n")
    raises_clearly(DataFileError, load_table, path, what=["huge.csv", r"line 3"],
                   fix=[r"10,000"])


def test_utf16_file_gets_the_right_advice(tmp_path, raises_clearly):
    path = tmp_path / "u16.csv"
    path.write_bytes("text,emoji\nhi,1f389\n".encode("utf-16"))
    raises_clearly(DataFileError, load_table, path, what=[r"UTF-16"], fix=[r"utf-16"])
