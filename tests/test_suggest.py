"""Suggestions a person can use: whole-set ranking, skin tones grouped, CLI smoke tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emojiqa.cli import main
from emojiqa.emojis import EmojiSet
from emojiqa.ranker import PRETRAINED_DIR, EmojiRanker
from test_invent import tiny_ranker


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ranker")
    tiny_ranker("pixels").save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("style", ["twemoji", "noto", "openmoji"])
def test_every_bundled_emoji_gets_a_finite_score(style):
    r = tiny_ranker("pixels")
    es = EmojiSet.bundled(style)
    q = r.encode_text(["so happy"])
    scores = r.encode_emojis(es) @ q[0]
    assert scores.shape == (len(es),) and np.isfinite(scores).all()


@pytest.mark.skipif(not (PRETRAINED_DIR / "config.json").is_file(),
                    reason="the bundled ranker is not built yet (emojiqa train-bundled)")
def test_bundled_model_scores_every_bundled_emoji():
    r = EmojiRanker.from_pretrained()
    q = r.encode_text(["I just got the job!!"])[0]
    for style in ("twemoji", "noto", "openmoji"):
        es = EmojiSet.bundled(style)
        s = r.encode_emojis(es) @ q
        assert np.isfinite(s).all(), style
    top = r.rank("I just got the job!!", top_k=5)
    assert len(top) == 5 and len({t.key for t in top}) == 5


def test_skin_tones_never_fill_a_top_five():
    r = tiny_ranker("pixels")
    full = EmojiSet.bundled("twemoji")
    thumbs = [k for k in full.keys if k == "1f44d" or k.startswith("1f44d-")]
    assert len(thumbs) == 6
    cands = full.subset([full.index(k) for k in thumbs + ["1f389", "1f621", "1f608", "2764"]])
    # make the thumbs the best answer whatever the text: rank by the thumbs' own direction
    top = r.rank("thumbs up", top_k=5, emojis=cands)
    bases = [k.split("-")[0] for k in (t.key for t in top)]
    assert bases.count("1f44d") <= 1 and len(top) == 5
    toned = r.rank("thumbs up", top_k=10, emojis=cands, skin_tone="dark")
    assert [t.key for t in toned if t.key.startswith("1f44d")] == ["1f44d-1f3ff"]
    raw = r.rank("thumbs up", top_k=10, emojis=cands, group_skin_tones=False)
    assert sum(t.key.startswith("1f44d") for t in raw) == 6


def test_cli_suggest_text_json_and_filters(model_dir, capsys):
    assert main(["suggest", "happy birthday", "--model", model_dir, "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(len(line.split("\t")) == 4 for line in lines)
    assert main(["suggest", "happy birthday", "--model", model_dir, "--json",
                 "--skin-tone", "medium"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["text"] == "happy birthday" and len(out["emojis"]) == 5
    assert set(out["emojis"][0]) == {"key", "emoji", "name", "score"}
    assert main(["suggest", "so angry", "--model", model_dir, "--json",
                 "--exclude-group", "flags", "--emojis", "twemoji", "--top-k", "2"]) == 0
    assert len(json.loads(capsys.readouterr().out)["emojis"]) == 2


def test_cli_suggest_stdin_file_and_errors(model_dir, tmp_path, capsys, monkeypatch):
    import io

    f = tmp_path / "t.txt"
    f.write_text("pizza night\n", encoding="utf-8")
    assert main(["suggest", "--file", str(f), "--model", model_dir, "--top-k", "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin"))
    assert main(["suggest", "-", "--model", model_dir, "--top-k", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["suggest", "   ", "--model", model_dir]) == 2
    assert main(["suggest", "hi", "--model", str(tmp_path / "nope")]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["suggest", "hi", "--model", model_dir, "--top-k", "0"]) == 2
    assert "--top-k must be between 1 and 1000" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["blend", "prior"])
def test_cli_suggest_generate(model_dir, tmp_path, capsys, method):
    png = tmp_path / "new.png"
    assert main(["suggest", "happy birthday", "--model", model_dir, "--generate", "2",
                 "--method", method, "--steps", "3", "--json", "--out", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["generated"]) == 2 and np.isfinite(out["generated"][0]["score"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_show_writes_a_strip(model_dir, tmp_path, capsys):
    from PIL import Image

    png = tmp_path / "strip.png"
    assert main(["show", "I just got the job!!", "so tired 😴", "--out", str(png),
                 "--model", model_dir, "--top-k", "4"]) == 0
    img = Image.open(png)
    assert img.height > 2 * 36 and img.width > 4 * 36
    assert "wrote" in capsys.readouterr().out


def test_cli_image_outputs_must_be_png_files_where_they_can_be_written(model_dir, tmp_path,
                                                                         capsys):
    (tmp_path / "dir").mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out, said in ((tmp_path / "dir", "is a folder; give a file name ending in .png"),
                      (tmp_path / "strip.jpg", "images are written as PNG"),
                      (tmp_path / "noext", "images are written as PNG")):
        for argv in (["show", "so angry", "--out", str(out), "--model", model_dir],
                     ["suggest", "so angry", "--generate", "1", "--out", str(out),
                      "--model", model_dir],
                     ["generate", "sample", "-n", "1", "--out", str(out)]):
            assert main(argv) == 2, argv
            assert said in capsys.readouterr().err, argv
    assert not (tmp_path / "strip.jpg").exists() and not (tmp_path / "noext").exists()
    # a folder that cannot be made: the file and the reason, no traceback
    assert main(["show", "so angry", "--out", str(blocker / "s.png"), "--model",
                 model_dir]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emojiqa: error: ") and str(blocker) in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"]  # nothing left over


def test_cli_batch_mode_delegates(model_dir, tmp_path):
    pytest.importorskip("emojiqa.batch")
    src = tmp_path / "in.txt"
    src.write_text("happy birthday\nso angry\n", encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    assert main(["suggest", "--input", str(src), "--output", str(dst), "--model", model_dir,
                 "--top-k", "2"]) == 0
    assert dst.exists() and dst.read_text(encoding="utf-8").count("\n") >= 2


def test_precomputed_vectors_give_the_same_ranking(model_dir, tmp_path):
    import shutil

    from emojiqa.recipes import VECTORS_NAME, precompute_vectors, use_precomputed_vectors

    folder = tmp_path / "m"
    shutil.copytree(model_dir, folder)
    slow = EmojiRanker.from_pretrained(folder)
    assert not use_precomputed_vectors(slow, folder)  # nothing stored yet
    precompute_vectors(folder)
    assert (folder / VECTORS_NAME).is_file()
    fast = EmojiRanker.from_pretrained(folder)  # loads the stored vectors by itself
    assert fast._stored is not None
    assert EmojiRanker.from_pretrained(folder, stored_vectors=False)._stored is None
    assert use_precomputed_vectors(fast, folder)
    for kw in ({}, {"skin_tone": "dark"}, {"exclude_groups": ["flags"]}):
        a = slow.rank("happy birthday", top_k=5, **kw)
        b = fast.rank("happy birthday", top_k=5, **kw)
        assert [x.key for x in a] == [x.key for x in b]
        assert np.allclose([x.score for x in a], [x.score for x in b], atol=1e-5)
    # anything else is still computed
    noto = EmojiSet.bundled("noto").subset(range(20))
    assert np.allclose(fast.encode_emojis(noto), slow.encode_emojis(noto), atol=1e-6)
    own = fast.emojis.subset(range(20))
    for kw in ({"lookalike": True}, {"lookalike": False}, {"use_known": False},
               {"normalize": False}):
        assert np.allclose(fast.encode_emojis(own, **kw), slow.encode_emojis(own, **kw),
                           atol=1e-6), kw


def test_stored_vae_codes_are_the_codes_the_vae_computes(model_dir, tmp_path):
    """``precompute_vectors`` stores the VAE codes of the model's own set; a loaded model's
    blends and nearest-known lookups take them without embedding the set again, and any other
    set (another style, a set with a key they lack) is still embedded."""
    import shutil

    from emojiqa.generate import set_codes, use_stored_codes
    from emojiqa.recipes import VECTORS_NAME, precompute_vectors
    from emojiqa.storage import load_tensors

    folder = tmp_path / "m"
    shutil.copytree(model_dir, folder)
    precompute_vectors(folder)
    assert load_tensors(folder / VECTORS_NAME)["codes"].shape[0] == len(EmojiSet.bundled(
        "twemoji"))
    fast = EmojiRanker.from_pretrained(folder)
    slow = EmojiRanker.from_pretrained(folder, stored_vectors=False)
    own = fast.emojis
    want = slow.vae.embed(own)
    calls = []
    embed = fast.vae.embed
    fast.vae.embed = lambda x: calls.append(len(x)) or embed(x)  # counts what is embedded
    assert np.allclose(set_codes(fast.vae, own), want, atol=1e-5)
    sub = own.subset(range(5, 25))
    assert np.allclose(set_codes(fast.vae, sub), want[5:25], atol=1e-5)
    assert calls == []  # both from the stored codes
    noto = EmojiSet.bundled("noto").subset(range(10))
    assert np.allclose(set_codes(fast.vae, noto), slow.vae.embed(noto), atol=1e-5)
    assert calls == [10]
    # the same inventions as a model that embeds its set
    from emojiqa.invent import invent

    a = invent(fast, "happy birthday", n=2)
    b = invent(slow, "happy birthday", n=2)
    assert [x.recipe for x in a] == [x.recipe for x in b]
    assert np.allclose([x.score for x in a], [x.score for x in b], atol=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        use_stored_codes(fast.vae, "twemoji", ["1f600"], np.zeros((2, 3)))


def test_cli_answers_candidates_and_batch_filters(model_dir, tmp_path, capsys):
    """``--emojis answers`` ranks the model's answer table (suggest, show, batch), and the
    candidate flags reach the batch path: ``--exclude-group`` leaves no such emoji in a file's
    suggestions."""
    answers = set(EmojiRanker.from_pretrained(model_dir).answer_keys)
    assert main(["suggest", "so angry", "--model", model_dir, "--emojis", "answers",
                 "--json", "--top-k", "3"]) == 0
    got = json.loads(capsys.readouterr().out)["emojis"]
    assert len(got) == 3 and {e["key"] for e in got} <= answers
    assert main(["show", "so angry", "--model", model_dir, "--emojis", "answers",
                 "--out", str(tmp_path / "strip.png")]) == 0
    assert (tmp_path / "strip.png").stat().st_size > 0
    src = tmp_path / "in.txt"
    src.write_text("happy birthday\nso angry\ngo team usa\n", encoding="utf-8")
    for flags, ok in ((["--emojis", "answers"], lambda k, g: k in answers),
                      (["--exclude-group", "flags"], lambda k, g: g != "flags")):
        dst = tmp_path / f"out{len(flags[0])}.jsonl"
        assert main(["suggest", "--input", str(src), "--output", str(dst), "--model",
                     model_dir, "--top-k", "10", *flags]) == 0
        rows = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
        es = EmojiSet.bundled("twemoji")
        for row in rows:
            for s in row["suggestions"]:
                group = es.info(es.index(s["key"])).group if s["key"] in es.keys else None
                assert ok(s["key"], group), (flags, s)
