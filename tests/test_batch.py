"""Streaming batch suggestions: formats, bad rows, empty rows, resume, bounded memory."""

from __future__ import annotations

import csv
import json
import os
import tracemalloc
from pathlib import Path

import pytest
import torch

from emojiqa.batch import suggest_file
from emojiqa.emojis import EmojiSet
from emojiqa.errors import DataFileError
from emojiqa.ranker import EmojiRanker, RankerConfig, RankerNet
from emojiqa.text import Tokenizer, validate_text
from emojiqa.vae import VAE, VAEConfig


def build_tiny_ranker(folder: Path) -> Path:
    """An untrained ranker with a bag-of-n-grams text tower and a 4-d VAE, saved to folder."""
    torch.manual_seed(0)
    vae = VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8, 8)))
    cfg = RankerConfig.named("default", text_tower="bag", ngram_buckets=512, ngram_dim=8,
                             side_dim=8, answer_hidden=(8,), shared_dims=(8, 4), num_words=50)
    tok = Tokenizer(num_words=cfg.num_words, max_len=cfg.max_len).fit(
        ["great flight", "awful delay", "text number"])
    keys = EmojiSet.bundled("twemoji").keys[:40]
    net = RankerNet(cfg, tok.vocab_size, len(keys), vae.config.latent_dim)
    EmojiRanker(cfg, net, tok, keys, vae=vae).save_pretrained(folder)
    return folder


TEXTS = [f"text number {i} {'great' if i % 3 else 'awful'} flight" for i in range(23)]


@pytest.fixture(scope="module")
def ranker_dir(tmp_path_factory) -> Path:
    return build_tiny_ranker(tmp_path_factory.mktemp("ranker") / "tiny")


@pytest.fixture(scope="module")
def ranker(ranker_dir):
    return EmojiRanker.from_pretrained(ranker_dir)


def _expected(ranker, texts, top_k):
    texts = [validate_text(t) for t in texts]  # what suggest_file ranks
    return [[(s.key, s.emoji) for s in res] for res in ranker.rank(texts, top_k=top_k)]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _write_txt(path: Path, texts) -> Path:
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return path


def test_txt_to_csv_matches_rank(tmp_path, ranker):
    src = _write_txt(tmp_path / "in.txt", TEXTS)
    stats = suggest_file(ranker, src, tmp_path / "out.csv", top_k=3, batch_size=5,
                         progress=False)
    assert stats["rows"] == stats["written"] == len(TEXTS)
    assert stats["batches"] == 5 and stats["resumed_from"] == 0
    rows = _read_csv(tmp_path / "out.csv")
    assert list(rows[0]) == ["row", "text"] + [f"{c}_{i}" for i in (1, 2, 3)
                                                for c in ("emoji", "key", "name", "score")]
    assert [int(r["row"]) for r in rows] == list(range(1, len(TEXTS) + 1))
    assert [r["text"] for r in rows] == TEXTS
    want = _expected(ranker, TEXTS, 3)
    got = [[(r[f"key_{i}"], r[f"emoji_{i}"]) for i in (1, 2, 3)] for r in rows]
    assert got == want
    scores = [float(r["score_1"]) for r in rows]
    ref = [res[0].score for res in ranker.rank(TEXTS, top_k=1)]
    assert scores == pytest.approx(ref, abs=1e-5)
    assert not list(tmp_path.glob("out.csv.*")), "temporary files left behind"


def test_csv_column_and_jsonl_output(tmp_path, ranker):
    src = tmp_path / "in.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["tweet_id", "tweet"])
        for i, t in enumerate(TEXTS):
            w.writerow([1000 + i, t.replace("flight", "flight,\n\"delayed\"")])  # quoted newline
    out = tmp_path / "out.jsonl"
    suggest_file(ranker, src, out, text_column="tweet", id_column="tweet_id", top_k=2,
                 batch_size=7, progress=False)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in lines] == [str(1000 + i) for i in range(len(TEXTS))]
    assert [d["row"] for d in lines] == list(range(1, len(TEXTS) + 1))
    texts = [t.replace("flight", "flight,\n\"delayed\"") for t in TEXTS]
    want = _expected(ranker, texts, 2)
    assert [[(s["key"], s["emoji"]) for s in d["suggestions"]] for d in lines] == want
    assert set(lines[0]["suggestions"][0]) == {"emoji", "key", "name", "score"}


def test_wrong_column_names_the_closest(tmp_path, ranker):
    src = tmp_path / "in.tsv"
    src.write_text("id\tTweet_Text\n1\thello\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"no column 'tweet_text'.*did you mean 'Tweet_Text'"):
        suggest_file(ranker, src, tmp_path / "o.csv", text_column="tweet_text", progress=False)
    with pytest.raises(DataFileError, match="pass text_column"):
        suggest_file(ranker, src, tmp_path / "o.csv", progress=False)
    with pytest.raises(DataFileError, match="unknown output format"):
        suggest_file(ranker, src, tmp_path / "o.xlsx", text_column="Tweet_Text")


def test_parquet_in_and_out(tmp_path, ranker):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"n": list(range(len(TEXTS))), "text": TEXTS}), src,
                   row_group_size=4)
    out = tmp_path / "out.parquet"
    stats = suggest_file(ranker, src, out, top_k=4, batch_size=6, progress=False)
    assert stats["rows"] == len(TEXTS)
    table = pq.read_table(out)
    assert table.column("row").to_pylist() == list(range(1, len(TEXTS) + 1))
    assert table.column("text").to_pylist() == TEXTS
    got = list(zip(*[table.column(f"key_{i}").to_pylist() for i in range(1, 5)], strict=True))
    assert [list(g) for g in got] == [[k for k, _ in r] for r in _expected(ranker, TEXTS, 4)]
    assert str(table.schema.field("score_1").type) == "float"
    assert not (tmp_path / "out.parquet.parts").exists()


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("bad.txt", b"fine\nalso fine\n\xff\xfe broken\n", r"bad row 3: not UTF-8"),
        ("bad.jsonl", b'{"text": "a"}\n{"text": "b"\n', r"bad row 2: bad JSON"),
        ("bad.jsonl", b'{"text": "a"}\n{"txt": "b"}\n', r"bad row 2: no 'text' key"),
        ("bad.jsonl", b'{"text": "a"}\n{"text": 3}\n', r"bad row 2: 'text' is a JSON int"),
        ("bad.csv", b"text,x\na,1\nb\n", r"bad row 2 \(line 3\): 1 fields but the header has 2"),
        ("bad.csv", b"text\na\n\xc3\n", r"line 3 is not UTF-8"),
        ("empty.txt", b"a\n\nb\n", r"bad row 2: .*on_empty='keep'"),
        ("empty.jsonl", b'{"text": "a"}\n{"text": "   "}\n', r"bad row 2: "),
        ("long.txt", b"a\n" + b"x" * 10_001 + b"\n", r"bad row 2: "),
    ],
)
def test_first_bad_row_is_named(tmp_path, ranker, name, content, pattern):
    src = tmp_path / name
    src.write_bytes(content)
    with pytest.raises(DataFileError, match=pattern):
        suggest_file(ranker, src, tmp_path / "out.csv", progress=False)
    assert not (tmp_path / "out.csv").exists()


def test_empty_rows_kept_with_a_flag(tmp_path, ranker):
    src = _write_txt(tmp_path / "in.txt", ["hello", "", "  \t", "bye"])
    stats = suggest_file(ranker, src, tmp_path / "out.csv", on_empty="keep", top_k=2,
                         progress=False)
    assert stats["empty"] == 2 and stats["rows"] == 4
    rows = _read_csv(tmp_path / "out.csv")
    assert [r["empty"] for r in rows] == ["false", "true", "true", "false"]
    assert rows[1]["key_1"] == "" and rows[1]["score_1"] == ""
    assert rows[3]["key_1"] == _expected(ranker, ["bye"], 1)[0][0][0]


class _Interrupt:
    """Wraps a ranker and raises KeyboardInterrupt on its ``fail_at``-th call."""

    def __init__(self, ranker, fail_at: int) -> None:
        self.ranker, self.fail_at, self.calls = ranker, fail_at, 0

    def rank(self, texts, top_k=5, **options):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        return self.ranker.rank(texts, top_k=top_k, **options)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_resume_after_interrupt_neither_loses_nor_duplicates(tmp_path, ranker, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    src = _write_txt(tmp_path / "in.txt", TEXTS)
    ref = tmp_path / f"ref{suffix}"
    suggest_file(ranker, src, ref, top_k=2, batch_size=4, progress=False)

    out = tmp_path / f"out{suffix}"
    with pytest.raises(KeyboardInterrupt):
        suggest_file(_Interrupt(ranker, 3), src, out, top_k=2, batch_size=4, progress=False)
    assert not out.exists()
    progress = json.loads((tmp_path / f"out{suffix}.progress.json").read_text())
    assert progress["rows_done"] == 8
    if suffix != ".parquet":  # a batch half-written after the last mark is cut away on resume
        with open(tmp_path / f"out{suffix}.part", "ab") as fh:
            fh.write(b"9,half a row")
    with pytest.raises(DataFileError, match="top_k changed"):
        suggest_file(ranker, src, out, top_k=3, batch_size=4, resume=True, progress=False)
    stats = suggest_file(ranker, src, out, top_k=2, batch_size=4, resume=True, progress=False)
    assert stats["resumed_from"] == 8 and stats["written"] == len(TEXTS) - 8
    assert stats["rows"] == len(TEXTS)
    assert out.read_bytes() == ref.read_bytes() if suffix != ".parquet" else _same_parquet(
        out, ref)
    assert not (tmp_path / f"out{suffix}.progress.json").exists()


def _same_parquet(a: Path, b: Path) -> bool:
    import pyarrow.parquet as pq

    assert pq.read_table(a).equals(pq.read_table(b))
    return True


def test_resume_without_progress_starts_over(tmp_path, ranker):
    src = _write_txt(tmp_path / "in.txt", TEXTS[:3])
    stats = suggest_file(ranker, src, tmp_path / "o.jsonl", resume=True, progress=False)
    assert stats["resumed_from"] == 0 and stats["rows"] == 3


def test_memory_does_not_grow_with_the_input(tmp_path, ranker):
    class Memo:  # the real ranker's answers for the few distinct texts, looked up fast
        def __init__(self):
            clean = [validate_text(t) for t in TEXTS]
            self.answers = dict(zip(clean, ranker.rank(clean, top_k=1), strict=True))

        def rank(self, texts, top_k=5):
            return [self.answers[t] for t in texts]

    memo = Memo()

    def peak(n: int) -> int:
        src = _write_txt(tmp_path / f"in{n}.txt", (TEXTS[i % len(TEXTS)] for i in range(n)))
        tracemalloc.start()
        suggest_file(memo, src, tmp_path / f"out{n}.csv", top_k=1, batch_size=100,
                     progress=False)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(500), peak(10_000)
    assert large < 1.5 * small + 100_000, (small, large)


@pytest.mark.ray
def test_ray_data_gives_the_same_suggestions_as_the_single_process_path(tmp_path, ranker,
                                                                     ranker_dir):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    pq = pytest.importorskip("pyarrow.parquet")
    from emojiqa.ray_data import suggest_dataset

    texts = [t + (" ✈️" if i % 4 == 0 else "") for i, t in enumerate(TEXTS * 3)]
    src = _write_txt(tmp_path / "in.txt", texts)
    suggest_file(ranker, src, tmp_path / "single.parquet", top_k=3, batch_size=16,
                 progress=False)
    single = pq.read_table(tmp_path / "single.parquet").to_pylist()

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        ds = ray.data.from_items([{"row": i + 1, "text": t} for i, t in enumerate(texts)],
                                 override_num_blocks=4)
        out = suggest_dataset(ds, ranker_dir, top_k=3, batch_size=8, num_workers=2)
        got = sorted(out.take_all(), key=lambda r: r["row"])
        filtered = suggest_dataset(ds, ranker_dir, top_k=3, batch_size=8, num_workers=2,
                                   emojis="noto", exclude_groups=["flags"])
        got_filtered = sorted(filtered.take_all(), key=lambda r: r["row"])
    finally:
        ray.shutdown()
    suggest_file(ranker, src, tmp_path / "filtered.parquet", top_k=3, batch_size=16,
                 progress=False, emojis="noto", exclude_groups=["flags"])
    want = pq.read_table(tmp_path / "filtered.parquet").to_pylist()
    assert [[r[f"key_{i}"] for i in (1, 2, 3)] for r in got_filtered] == [
        [r[f"key_{i}"] for i in (1, 2, 3)] for r in want]
    assert [r["row"] for r in got] == [r["row"] for r in single]
    for a, b in zip(got, single, strict=True):
        for i in (1, 2, 3):
            assert (a[f"emoji_{i}"], a[f"key_{i}"], a[f"name_{i}"]) == (
                b[f"emoji_{i}"], b[f"key_{i}"], b[f"name_{i}"])
            # float32 scores: equal up to rounding (batches of another size sum differently)
            assert float(a[f"score_{i}"]) == pytest.approx(b[f"score_{i}"], abs=1e-6)


def test_candidate_options_match_rank_and_guard_resume(tmp_path, ranker):
    """``emojis`` / ``skin_tone`` / ``groups`` / ``exclude_groups`` reach ``rank`` for every
    batch (the same suggestions as ``rank`` with them), and a resume with other options is
    refused instead of mixing two candidate sets in one output."""
    src = _write_txt(tmp_path / "in.txt", TEXTS)
    noto = EmojiSet.bundled("noto")
    cases = [
        ({"emojis": "answers"}, {"emojis": ranker.answers}),
        ({"emojis": "noto", "exclude_groups": ["flags"]},
         {"emojis": noto, "exclude_groups": ["flags"]}),
        ({"groups": ["smileys-emotion"], "skin_tone": 3},
         {"groups": ["smileys-emotion"], "skin_tone": 3}),
    ]
    texts = [validate_text(t) for t in TEXTS]
    for i, (options, rank_options) in enumerate(cases):
        out = tmp_path / f"out{i}.jsonl"
        suggest_file(ranker, src, out, top_k=3, batch_size=5, progress=False, **options)
        got = [[s["key"] for s in json.loads(line)["suggestions"]]
               for line in out.read_text(encoding="utf-8").splitlines()]
        want = [[s.key for s in res] for res in ranker.rank(texts, top_k=3, **rank_options)]
        assert got == want, options
    answers = {json.loads(line)["suggestions"][0]["key"]
               for line in (tmp_path / "out0.jsonl").read_text(encoding="utf-8").splitlines()}
    assert answers <= set(ranker.answer_keys)

    out = tmp_path / "cut.jsonl"
    with pytest.raises(KeyboardInterrupt):
        suggest_file(_Interrupt(ranker, 2), src, out, top_k=2, batch_size=4, progress=False,
                     exclude_groups=["flags"])
    with pytest.raises(DataFileError, match="candidates changed"):
        suggest_file(ranker, src, out, top_k=2, batch_size=4, resume=True, progress=False)
    stats = suggest_file(ranker, src, out, top_k=2, batch_size=4, resume=True, progress=False,
                         exclude_groups=["flags"])
    assert stats["resumed_from"] == 4 and stats["rows"] == len(TEXTS)


def test_ray_worker_applies_candidate_options(ranker_dir, ranker):
    """The Ray actor (called directly, no cluster) ranks with the candidate options it was
    built with, loading a style or the answer table once."""
    import numpy as np

    from emojiqa.ray_data import RankerWorker

    texts = TEXTS[:6]
    for options, rank_options in (({"emojis": "answers"}, {"emojis": ranker.answers}),
                                  ({"exclude_groups": ["flags"], "skin_tone": 2},
                                   {"exclude_groups": ["flags"], "skin_tone": 2})):
        worker = RankerWorker(str(ranker_dir), "text", 3, "error", options)
        out = worker({"text": np.array(texts, dtype=object)})
        want = ranker.rank([validate_text(t) for t in texts], top_k=3, **rank_options)
        assert [list(out[f"key_{i}"]) for i in (1, 2, 3)] == [
            [row[i - 1].key for row in want] for i in (1, 2, 3)]
