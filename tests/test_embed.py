"""Text and emoji vectors: the ranker's cosine, files in every format, bad input, the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emojiqa.cli import main
from emojiqa.embed import (
    embed_emojis,
    embed_texts,
    embed_texts_file,
    similar_emojis,
    write_vectors,
)
from emojiqa.emojis import EmojiSet
from emojiqa.errors import DataFileError
from emojiqa.ranker import EmojiRanker
from emojiqa.storage import load_tensors
from test_batch import build_tiny_ranker

TEXTS = ["great flight", "awful delay, again", "text number 3"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_ranker(tmp_path_factory.mktemp("embed") / "model")


@pytest.fixture(scope="module")
def ranker(model_dir) -> EmojiRanker:
    return EmojiRanker.from_pretrained(model_dir)


@pytest.fixture()
def table(tmp_path) -> Path:
    path = tmp_path / "texts.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "body"])
        w.writerows([[f"t{i}", t] for i, t in enumerate(TEXTS)])
    return path


def test_dot_products_are_the_rankers_cosines(ranker):
    es = EmojiSet.bundled("twemoji").subset(range(60))
    q, a = embed_texts(ranker, TEXTS), embed_emojis(ranker, es)
    assert q.vectors.shape == (3, 4) and a.vectors.shape == (60, 4)
    np.testing.assert_allclose(np.linalg.norm(q.vectors, axis=1), 1, atol=1e-5)
    cos = q.vectors @ a.vectors.T
    ranked = ranker.rank(TEXTS, top_k=5, emojis=es, group_skin_tones=False, keyword_weight=0)
    for row, found in zip(cos, ranked, strict=True):
        best = np.argsort(-row, kind="stable")[:5]
        assert [a.rows[i]["key"] for i in best] == [r.key for r in found]
        np.testing.assert_allclose(row[best], [r.score for r in found], atol=1e-5)
    assert a.ids == list(es.keys) and a.rows[0]["emoji"] and a.rows[0]["name"]
    raw = embed_texts(ranker, TEXTS, normalize=False)
    np.testing.assert_allclose(raw.vectors / np.linalg.norm(raw.vectors, axis=1, keepdims=True),
                               q.vectors, atol=1e-5)
    drawn = embed_emojis(ranker, es, use_known=False)
    np.testing.assert_allclose(drawn.vectors, ranker.encode_emojis(es, use_known=False))


@pytest.mark.parametrize("suffix", [".npy", ".safetensors", ".jsonl"])
def test_file_of_texts_round_trips(ranker, table, tmp_path, suffix):
    got = embed_texts_file(ranker, table, text_column="body", id_column="id", progress=False,
                           batch_size=2)
    want = embed_texts(ranker, TEXTS).vectors
    np.testing.assert_allclose(got.vectors, want, atol=1e-6)
    assert got.ids == ["t0", "t1", "t2"]
    out = write_vectors(got, tmp_path / f"v{suffix}")
    if suffix == ".npy":
        back = np.load(out, allow_pickle=False)
    elif suffix == ".safetensors":
        back = load_tensors(out)["vectors"].numpy()
        from safetensors import safe_open

        with safe_open(str(out), "np") as fh:
            meta = fh.metadata()
        assert json.loads(meta["ids"]) == ["t0", "t1", "t2"] and meta["kind"] == "text"
    else:
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [(r["row"], r["id"]) for r in rows] == [(1, "t0"), (2, "t1"), (3, "t2")]
        back = np.array([r["vector"] for r in rows])
    np.testing.assert_allclose(back, want, atol=1e-5)
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically, nothing left behind


def test_bad_files_are_named(ranker, table, tmp_path):
    with pytest.raises(DataFileError, match=r"no column 'text'.*'body'"):
        embed_texts_file(ranker, table, text_column="text", progress=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("text\nfine\n   \n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad row 2 \(line 3\).*empty.*Fix or remove"):
        embed_texts_file(ranker, bad, progress=False)
    big = tmp_path / "big.txt"
    big.write_text("ok\n" + "a" * 1_000_001 + "\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="bad row 2"):
        embed_texts_file(ranker, big, progress=False)
    with pytest.raises(DataFileError, match="no column"):
        embed_texts_file(ranker, tmp_path / "bad.csv", text_column="body", progress=False)
    with pytest.raises(DataFileError, match="input file not found"):
        embed_texts_file(ranker, tmp_path / "missing.csv", progress=False)
    with pytest.raises(DataFileError, match="unknown format '.txt'"):
        write_vectors(embed_texts(ranker, ["a"]), tmp_path / "v.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataFileError, match="no texts to embed"):
        embed_texts_file(ranker, tmp_path / "empty.txt", progress=False)


def test_cli_prints_and_writes(model_dir, table, tmp_path, capsys, monkeypatch):
    assert main(["embed", "great flight", "so sad", "--model", str(model_dir)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["great flight", "so sad"]
    assert len(rows[0]["vector"]) == 4

    monkeypatch.setattr("sys.stdin", io.StringIO("one\ntwo\n\n"))
    assert main(["embed", "-", "--model", str(model_dir)]) == 0
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == [
        "one", "two"]

    out = tmp_path / "v.safetensors"
    assert main(["embed", "--input", str(table), "--text-column", "body", "--out", str(out),
                 "--model", str(model_dir)]) == 0
    assert "3 text vectors of 4 numbers" in capsys.readouterr().err
    assert load_tensors(out)["vectors"].shape == (3, 4)

    out = tmp_path / "e.jsonl"
    assert main(["embed", "--emojis", "twemoji", "--drawing-only", "--out", str(out),
                 "--model", str(model_dir)]) == 0
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"key", "emoji", "name", "vector"}


@pytest.mark.parametrize("argv, message", [
    ([], "give one thing to embed"),
    (["hi", "--emojis", "twemoji"], "got texts and --emojis"),
    (["hi", "--out", "v.csv"], "unknown format '.csv'"),
    (["hi", "--text-column", "body"], "read columns of --input"),
    (["hi", "--drawing-only"], "--drawing-only is for --emojis"),
    (["hi", "-"], "cannot be mixed"),
    (["  "], "text is empty"),
])
def test_cli_refuses_bad_requests(model_dir, capsys, argv, message):
    assert main(["embed", *argv, "--model", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_similar_emojis_are_the_nearest_answer_vectors(ranker, tmp_path):
    from emojiqa.emojis import info_for
    from emojiqa.images import save_png

    cand, matrix = ranker.candidates(None)
    query = "1f44d"  # 👍: its skin tones are left out with it
    found = similar_emojis(ranker, "👍", top_k=8)
    vec = ranker.encode_emojis(ranker.emojis.subset([ranker.emojis.index(query)]))[0]
    brute = sorted(((float(s), k) for s, k in zip(matrix @ vec, cand.keys, strict=True)
                    if info_for(k).base_key != query), key=lambda x: -x[0])[:8]
    assert [r.key for r in found] == [k for _, k in brute]
    np.testing.assert_allclose([r.score for r in found], [s for s, _ in brute], atol=1e-5)
    assert all(info_for(r.key).base_key != query for r in found)
    # a new drawing, as an array or a file: coded from its pixels with look-alikes
    image = EmojiSet.bundled("noto").image("🍕")
    by_array = similar_emojis(ranker, image, top_k=5, exclude_groups=["flags"])
    save_png(Image.fromarray(image, "RGBA"), tmp_path / "pizza.png")
    by_file = similar_emojis(ranker, str(tmp_path / "pizza.png"), top_k=5,
                             exclude_groups=["flags"])
    assert [r.key for r in by_array] == [r.key for r in by_file]
    assert all(info_for(r.key).group != "flags" for r in by_array)
    assert all(np.isfinite(r.score) for r in by_array)
    assert [r.score for r in by_array] == sorted((r.score for r in by_array), reverse=True)
    with pytest.raises(ValueError, match="top_k"):
        similar_emojis(ranker, "👍", top_k=0)


def test_cli_similar(model_dir, tmp_path, capsys):
    assert main(["similar", "👍", "--top-k", "3", "--model", str(model_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(len(line.split("\t")) == 4 for line in lines)
    assert main(["similar", "party popper", "--json", "--model", str(model_dir)]) == 0
    assert len(json.loads(capsys.readouterr().out)["emojis"]) == 10
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    for argv, message in ((["nosuchemojiname"], "is not in the"),
                          ([str(bad)], "could not be read as an image"),
                          ([str(tmp_path / "missing.png")], "image file not found"),
                          (["👍", "--top-k", "0"], "--top-k must be")):
        assert main(["similar", *argv, "--model", str(model_dir)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
