"""Regenerate the README's "Results" section from the benchmarks' JSON files.

Reads ``benchmarks/results/<name>.json`` (the full runs; ``--quick`` reads the ``.quick.json``
smoke results instead, for checking the layout), writes ``docs/readme/results.md`` and, when
``README.md`` holds the markers ``<!-- results:start -->`` and ``<!-- results:end -->``,
replaces what lies between them with the same text. Every table is printed under the command
that produced it, with the machine it ran on; quality and speed targets are marked met or
missed as measured.

Example:
    python benchmarks/run_all.py          # the full benchmarks (writes the JSON)
    python benchmarks/make_readme.py      # docs/readme/results.md (+ README.md between markers)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    QUALITY_FIGURE,
    RESULTS_DIR,
    ROOT,
    fmt,
    markdown_table,
)
from emojiqa.storage import atomic_write_text  # noqa: E402

START, END = "<!-- results:start -->", "<!-- results:end -->"
OUT_MD = ROOT / "docs" / "readme" / "results.md"
#: Benchmarks owned elsewhere, rendered generically (their ``rows`` / ``targets`` tables).
OTHER = (("vae", "VAE"), ("ranker", "Ranker"),
         ("tune_ranker", "Choosing the default ranker settings (airline val)"),
         ("tune_ranker_tweeteval", "Choosing the default ranker settings (TweetEval tuning split)"),
         ("suggest", "Suggestions"),
         ("similar", "Emoji vectors: meaning and sentiment"),
         ("ablations", "Ablations of the suggestion model (look match, recipe, look-alikes)"),
         ("new_releases", "New releases: text tower, corrections, fusion"),
         ("web", "Web server"), ("scale", "Batch and distributed scale"),
         ("fuzz", "Robustness (fuzzing)"))


def load(name: str, quick: bool) -> dict[str, Any] | None:
    """A benchmark's JSON (``None`` when it has not been run)."""
    path = RESULTS_DIR / (f"{name}.quick.json" if quick else f"{name}.json")
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if name == "suggest":
        refresh_best_config(data, load("quality", quick))
    return data


def refresh_best_config(suggest: dict[str, Any], quality: Mapping[str, Any] | None) -> None:
    """The suggestion benchmark's best-config targets recomputed with the quality
    benchmark's rows as they are now (a ``--merge`` run may postdate the suggestion run), as
    the quality targets are."""
    from suggest import best_config_targets

    if not suggest.get("classification"):
        return
    fresh = {t["target"].split(" (")[0]: t
             for t in best_config_targets(suggest["classification"], dict(quality or {}))}
    suggest["targets"] = [fresh.get(t["target"].split(" (")[0], t)
                          for t in suggest.get("targets", [])]


def machine_line(data: Mapping[str, Any]) -> str:
    """One line: CPU, cores, torch threads, device, versions, date."""
    m = data.get("machine") or {}
    v = m.get("versions") or {}
    dev = m.get("cuda_name") or m.get("device", "cpu")
    parts = [f"{m.get('cpu_model', '?')} ({m.get('cpu_count', '?')} cores)",
             f"torch threads {m.get('torch_threads', '?')}", f"device {dev}",
             f"Python {m.get('python', '?')}", f"torch {v.get('torch', '?')}",
             f"emojiqa {v.get('emojiqa', '?')}", str(m.get("date_utc", ""))[:10]]
    if m.get("load_average_1m") is not None:
        parts.append(f"load average {m['load_average_1m']} when it finished")
    return "Machine: " + ", ".join(p for p in parts if p) + "."


def command_block(data: Mapping[str, Any]) -> str:
    """The command(s) that wrote the JSON (earlier runs merged into it first)."""
    cmds = [*data.get("commands", []), data.get("command", "?")]
    return "```bash\n" + "\n".join(cmds) + "\n```"


def status_mark(status: str) -> str:
    return {"met": "✅ met", "missed": "❌ missed"}.get(status, status)


def targets_table(rows: Sequence[Mapping[str, Any]]) -> str:
    shown = [{**r, "status": status_mark(str(r.get("status", "")))} for r in rows]
    cols: list[Any] = [("target", "target"), ("value", "measured")]
    if any("bound" in r for r in rows):
        cols.append(("bound", "compared with"))
    cols.append(("status", "status"))
    return markdown_table(shown, cols)


# --- sections --------------------------------------------------------------------------------
QUALITY_COLS = [("model", "model"), ("accuracy", "accuracy %"), ("macro_f1", "macro-F1"),
                ("mrr", "MRR", 3), ("recall_at_5", "recall@5 %"),
                ("train_seconds", "training s"), ("texts_per_s", "texts/s")]


def quality_section(data: Mapping[str, Any]) -> list[str]:
    out = ["### Quality: emojiqa and its peers on the same splits", "",
           command_block(data), "", machine_line(data), ""]
    if QUALITY_FIGURE.is_file():
        out += ["![macro-F1 of every model on both tasks, with the targets]"
                f"({QUALITY_FIGURE.relative_to(ROOT).as_posix()})", "",
                "*Drawn from the JSON at the end of each full run (again: `python "
                "benchmarks/quality.py --plot-only`).*", ""]
    tasks = {t["task"]: t for t in data.get("tasks", [])}
    titles = {"airline": "Airline tweets, canonical test split (🎉 / 😈 / 😡)",
              "tweeteval": "TweetEval emoji prediction, val split (20 emojis, U+FE0F stripped)"}
    for name in ("airline", "tweeteval"):
        rows = [r for r in data.get("rows", []) if r.get("task") == name]
        if not rows:
            continue
        t = tasks.get(name, {})
        out += [f"**{titles[name]}** — trained on {fmt(t.get('n_train'))} texts, scored on "
                f"{fmt(t.get('n_eval'))}. {t.get('notes', '')}.", ""]
        scored = [r for r in rows if "macro_f1" in r]
        scored = sorted(scored, key=lambda r: (r.get("kind") != "emojiqa", -r["macro_f1"]))
        labelled = [{**r, "model": r.get("label") or r["model"]} for r in scored]
        out += [markdown_table(labelled, QUALITY_COLS), ""]
        for r in scored:
            who = r.get("label") or r["model"]
            if r.get("wide_mix") is not None:  # towers reused, the head fitted in the run
                refit = str(r.get("trained_by", "")).endswith("refit on all of train")
                out.append(f"- {who}: the towers of `{r.get('towers_from', '?').split(' (')[0]}` "
                           f"(trained once on these splits, reused), the wide head fitted in "
                           f"this run ({fmt(r.get('wide_seconds'))} s, mix "
                           f"{r['wide_mix']} chosen on the tuning split"
                           + ("; then refit on all of train, as the peers are" if refit else "")
                           + "); train s = both.")
            elif r.get("trained_by") and r["trained_by"] != "this script":
                out.append(f"- {who}: the model trained by `{r['trained_by'].split(' (')[0]}` "
                           "on the same splits with the same config and seed, reused here.")
            for part in str(r.get("notes", "")).split("; "):
                if part.startswith("MiniLM peers fit on") and r.get("model") == "minilm_lr":
                    out.append(f"- {who}: {part} (embedding is the slow part on CPU).")
                elif part.startswith("settings chosen with"):
                    out.append(f"- {who}: {part}.")
            if r.get("note"):
                out.append(f"- {who}: {r['note']}.")
        for r in rows:
            if "macro_f1" not in r:
                out.append(f"- {r['model']}: not measured ({r.get('skipped') or r.get('error')})")
        out.append("")
    from quality import targets  # recomputed from the rows: merged runs may postdate them

    tgt = targets(list(data.get("rows", [])))
    if tgt:
        out += ["Targets (macro-F1 in %):", "", targets_table(tgt), ""]
    out += ["Accuracy, macro-F1 and recall@5 are percentages; MRR is the mean reciprocal rank of "
            "the right emoji among the task's emojis. Peers had their settings chosen on the "
            "tuning split and were scored once; training seconds include feature extraction "
            "(for MiniLM: embedding the training texts at the measured rate).", ""]
    return out


SPEED_TABLES = (
    ("latency", "Latency of one text, top 5 (after load)",
     [("model", "model"), ("candidates_set", "candidates"), ("candidates", "n"),
      ("p50_ms", "p50 ms", 2), ("p90_ms", "p90 ms", 2), ("p99_ms", "p99 ms", 2),
      ("n", "calls")]),
    ("throughput", "Batch throughput against all 4,009 emojis",
     [("model", "model"), ("text_tower", "text tower"), ("batch", "batch"),
      ("texts", "texts"), ("texts_per_s", "texts/s"), ("runs", "runs (texts/s)")]),
    ("stages", "Where the time of one batch of 1,024 goes (after the throughput runs)",
     [("model", "model"), ("texts", "texts"), ("prep_ms", "text prep ms", 1),
      ("net_ms", "network ms", 1), ("scoring_ms", "scoring ms", 1),
      ("total_ms", "total ms", 1), ("texts_per_s", "texts/s")]),
    ("cold_start", "Cold start of `emojiqa suggest` (new process → first answer)",
     [("path", "path"), ("command", "command"), ("runs", "runs"),
      ("first_answer_s", "median s", 2), ("first_answer_min_s", "min s", 2),
      ("first_answer_max_s", "max s", 2), ("exit_s", "exit s", 2),
      ("peak_rss_mb", "peak RSS MB", 0)]),
    ("training", "Training speed",
     [("model", "model"), ("n_train", "epoch size"), ("steps_per_epoch", "steps/epoch"),
      ("steps_timed", "steps timed"), ("images_timed", "images timed"),
      ("seconds_per_epoch", "s/epoch", 2)]),
)


def speed_section(data: Mapping[str, Any]) -> list[str]:
    out = ["### Speed and memory", "", command_block(data), "", machine_line(data), ""]
    for key, title, cols in SPEED_TABLES:
        rows = data.get(key)
        if isinstance(rows, list) and rows and isinstance(rows[0], Mapping):
            out += [f"**{title}**", "", markdown_table(rows, cols), ""]
    cold = (data.get("cold_start") or [{}])[0]
    if cold.get("output"):
        first = cold["output"].splitlines()[0].replace("\t", "  ")
        out += [f"First line of its answer: `{first}`", ""]
    bt = data.get("bundled_training") or {}
    if bt.get("seconds"):
        out += [f"Training the bundled model end to end took {fmt(bt['seconds'] / 60)} minutes "
                f"(recorded by its recipe in `{bt.get('source')}`).", ""]
    if data.get("targets"):
        out += ["Targets:", "", targets_table(data["targets"]), ""]
    for note in data.get("notes", []) or []:
        out.append(f"- {note}")
    out.append("")
    return out


def scaling_section(data: Mapping[str, Any]) -> list[str]:
    out = ["### Scaling", "", command_block(data), "", machine_line(data), ""]
    for key, title in (("candidates", "Ranking latency and memory vs number of candidate emojis"),
                       ("training", "Training time vs number of training texts")):
        rows = data.get(key)
        if isinstance(rows, list) and rows:
            out += [f"**{title}**", "", markdown_table(rows, _scalar_columns(rows)), ""]
    for img in data.get("plots", []) or []:
        rel = os.path.relpath(ROOT / img, ROOT)
        out += [f"![{Path(img).stem}]({rel})", ""]
    for note in data.get("notes", []) or []:
        out.append(f"- {note}")
    out.append("")
    return out


def _scalar_columns(rows: Sequence[Mapping[str, Any]], limit: int = 9) -> list[Any]:
    """The columns whose every value is a number, a string, a bool or missing (a column
    that holds a dict or list in any row is left to the JSON), in first-seen order."""
    seen: dict[str, bool] = {}
    for r in rows:
        for k, v in r.items():
            scalar = isinstance(v, (str, int, float, bool)) or v is None
            seen[k] = seen.get(k, True) and scalar
    cols = [k for k, scalar in seen.items()
            if scalar and any(r.get(k) is not None for r in rows)
            and k not in ("kind", "command", "note", "notes")]
    return [(k, k.replace("_", " ")) for k in cols[:limit]]


def generic_section(name: str, title: str, data: Mapping[str, Any]) -> list[str]:
    """Any other benchmark: its command, machine, and its ``rows`` / ``targets`` tables."""
    out = [f"### {title}", "", command_block(data), "", machine_line(data), ""]
    shown = False
    for key, value in data.items():
        if key in ("machine", "targets") or not isinstance(value, list) or not value:
            continue
        cols = _scalar_columns(value) if all(isinstance(r, Mapping) for r in value) else []
        numeric = any(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                      for k, _ in cols for r in value)
        if numeric:  # a list of names alone (its figures nested deeper) is left to the JSON
            out += [f"**{key.replace('_', ' ')}**", "", markdown_table(value, cols), ""]
            shown = True
    if data.get("targets"):
        out += ["Targets:", "", targets_table(data["targets"]), ""]
        shown = True
    notes = data.get("notes")
    if isinstance(notes, str | list) and notes:
        out += [f"- {n}" for n in ([notes] if isinstance(notes, str) else notes)] + [""]
    if not shown:
        scalars = {k: v for k, v in data.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if scalars:
            out += [markdown_table([scalars], list(scalars)), ""]
    doc = ROOT / "docs" / "readme" / f"{name}.md"
    if doc.is_file():
        out += [f"Details: [docs/readme/{name}.md](docs/readme/{name}.md).", ""]
    return out


def build(quick: bool = False) -> str:
    """The Markdown of the Results section."""
    suffix = " --quick" if quick else ""
    lines = ["## Results", "",
             "Every number below was measured by the command printed above its table and "
             "written to `benchmarks/results/`; this section is generated from those files by "
             f"`python benchmarks/make_readme.py{suffix}`. Run everything again with "
             f"`python benchmarks/run_all.py{suffix}`.", ""]
    run_all = load("run_all", quick)
    if run_all:
        ran = [r["script"] for r in run_all.get("scripts", []) if r.get("status") != "missing"]
        failed = [r["script"] for r in run_all.get("scripts", [])
                  if r.get("status") not in ("ok", "missing")]
        lines += [f"The last `{run_all.get('command', 'python benchmarks/run_all.py')}` ran "
                  f"{', '.join(ran) or 'nothing'} in "
                  f"{fmt(run_all.get('total_seconds', 0) / 60)} minutes"
                  + (f"; failed: {', '.join(failed)}" if failed else "")
                  + f" ({machine_line(run_all)[9:-1]}).", ""]
    walls = []
    for name in ("quality", "speed", "scaling", *(n for n, _ in OTHER)):
        data = load(name, quick)
        if data and isinstance(data.get("wall_seconds"), (int, float)):
            args = str(data.get("command", "")).split(f"{name}.py", 1)[-1].strip()
            walls.append({"benchmark": f"`benchmarks/{name}.py`",
                          "args": f"`{args}`" if args else "–",
                          "minutes": data["wall_seconds"] / 60,
                          "load": (data.get("machine") or {}).get("load_average_1m")})
    if walls:
        lines += ["Wall time of each benchmark's last run, with its arguments (a `--merge` run "
                  "re-measures only the models it names and keeps the other rows), and the "
                  "machine's 1-minute load average when it finished (above 2 the 2 cores were "
                  "shared with other work and every timing is slower than on an idle machine):",
                  "",
                  markdown_table(walls, [("benchmark", "script"), ("args", "last run"),
                                         ("minutes", "minutes"), ("load", "load average")]),
                  ""]
    missing = []
    for name, fn in (("quality", quality_section), ("speed", speed_section),
                     ("scaling", scaling_section)):
        data = load(name, quick)
        if data is None:
            missing.append(name)
            continue
        lines += fn(data)
    for name, title in OTHER:
        data = load(name, quick)
        if data is None:
            missing.append(name)
            continue
        lines += generic_section(name, title, data)
    if quick:
        lines += ["*These are `--quick` smoke figures on small subsamples, not results.*", ""]
    if missing:
        lines += [f"Not yet run: {', '.join(f'`benchmarks/{m}.py`' for m in missing)}.", ""]
    return "\n".join(lines).rstrip() + "\n"


# --- the tables of the README's suggestion section ------------------------------------------
def _num(v: Any, nd: int = 1) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


def suggest_regions(d: Mapping[str, Any]) -> dict[str, str]:
    """The measured tables of the suggestion section, from ``suggest.json``, by marker name
    (``<!-- suggest-NAME:start -->`` … ``<!-- suggest-NAME:end -->`` in README.md)."""
    out: dict[str, str] = {}
    m = d.get("machine") or {}
    lines = [f"On {m.get('cpu_model', '?')}, {m.get('cpu_count', '?')} cores (load average "
             f"{m.get('load_average_1m', '?')} when it finished); every figure is the model "
             "alone (no keyword boost) unless a column says otherwise; the same tables are in "
             "Results → Suggestions.", ""]
    bundled = [c for c in d.get("classification", [])
               if str(c.get("model", "")).startswith("bundled")]
    if bundled:
        lines += ["**Classification** (macro-F1 %, 20-way TweetEval val with U+FE0F stripped; "
                  "3-way airline test)", "",
                  "| model | TweetEval val F1 | TweetEval acc | airline test F1 | airline acc |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {c['model']} | {_num(c.get('tweeteval_val_macro_f1'))} | "
                  f"{_num(c.get('tweeteval_val_acc'))} | {_num(c.get('airline_test_macro_f1'))} "
                  f"| {_num(c.get('airline_test_acc'))} |" for c in bundled]
        lines.append("")
    lines += ["**CLDR-name retrieval** (query = CLDR label, rank among all 1,979 base emojis)",
              "", "| path | R@1 % | R@10 % | MRR | median rank | random R@10 % | random median |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in d.get("cldr_retrieval", []):
        lines.append(f"| {r['path']} | {_num(r['recall_at_1'])} | {_num(r['recall_at_10'])} | "
                     f"{_num(r['mrr'], 3)} | {_num(r['median_rank'], 0)} | "
                     f"{_num(r['random_recall_at_10'], 2)} | {_num(r['random_median_rank'], 0)} |")
    lines += ["", "**Zero-shot protocols.** Paths: `+known` — each seen emoji with its own "
              "correction, an unseen one from its drawing alone; `+lookalike` — as `+known`, and "
              "an emoji without a correction of its own borrows those of the 5 training drawings "
              "it looks most like (pixels and the learned look code; on *new drawings* every "
              "candidate goes in as a bare image, so only looks can find them); no suffix — "
              "every emoji from its drawing alone; `+names` — look-alike names "
              "(`emojiqa.names`): text and emojis in MiniLM's space, each seen emoji the vector "
              "of its CLDR name, every other one the look-weighted mean of the name vectors of "
              "the 40 training drawings it looks most like (that model's look features; its "
              "towers are not used).", "",
              "| protocol | tower + path | query | R@1 % | R@10 % | MRR | median rank | queries | "
              "candidates | random R@10 % | random median |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in d.get("zero_shot", []):
        if "error" in r:
            lines.append(f"| {r.get('protocol')} | {r.get('path')} | error: {r['error']} |"
                         + " |" * 8)
            continue
        lines.append(f"| {r['protocol']} | {r['path']} | {r['query']} | "
                     f"{_num(r['recall_at_1'])} | {_num(r['recall_at_10'])} | {_num(r['mrr'], 3)}"
                     f" | {_num(r['median_rank'], 0)} | {r['n_queries']} | {r['n_candidates']} | "
                     f"{_num(r['random_recall_at_10'], 2)} | {_num(r['random_median_rank'], 0)} |")
    out["tables"] = "\n".join(lines) + "\n"
    ev = ["| text | top 5 (as `emojiqa suggest` gives them) | score | model alone "
          "(`--keyword-weight 0`) |", "|---|---|---:|---|"]
    ev += [f"| {r['text']} | {r['top5']} | {r['best_score']:.3f} | {r['top5_model_only']} |"
           for r in d.get("everyday", [])]
    out["everyday"] = "\n".join(ev) + "\n"
    ls = d.get("labelled_summary")
    if ls:
        lab = ["| scorer | dev hit@1 % | dev hit@5 % | dev MRR | test hit@1 % | test hit@5 % | "
               "test MRR |", "|---|---:|---:|---:|---:|---:|---:|"]
        lab += [f"| {r['scorer']} | {_num(r['dev_hit_at_1'])} | {_num(r['dev_hit_at_5'])} | "
                f"{_num(r['dev_mrr'], 3)} | {_num(r['test_hit_at_1'])} | "
                f"{_num(r['test_hit_at_5'])} | {_num(r['test_mrr'], 3)} |"
                for r in d.get("labelled", [])]
        lab += ["", f"{ls['n_dev']} dev and {ls['n_test']} test texts, {ls['n_candidates']} "
                f"candidates (skin tones grouped). Keyword weight chosen on dev (the smallest "
                f"within 0.01 of the best dev MRR): {ls['chosen_weight']:g}; the default is "
                f"{ls['default_weight']:g}."]
        out["labelled"] = "\n".join(lab) + "\n"
    g = ["| text | best known | its score | best known, pixels only | invented: blend | "
         "blended from | nearest known | invented: prior search (pixels) | the same, with "
         "look-alikes |", "|---|---|---:|---:|---:|---|---|---:|---:|"]
    g += [f"| {r['text']} | {r['best_known_emoji']} | {r['best_known']:.3f} | "
          f"{r['best_known_pixels_only']:.3f} | {r['best_generated']:.3f} | "
          f"{r.get('blend_of_best') or '–'} | "
          f"{r['nearest_of_best']} | {_num(r.get('best_prior'), 3)} | "
          f"{_num(r.get('best_prior_lookalike'), 3)} |" for r in d.get("generated", [])]
    gs = d.get("generated_summary")
    if gs:
        g += ["", f"Mean over the {gs['texts']} texts: best known {gs['mean_best_known']:.3f} "
              f"(pixels only {gs['mean_best_known_pixels_only']:.3f}); best invented by blending "
              f"{gs['mean_best_generated']:.3f} (scored as a new drawing with look-alikes), by "
              f"the prior search {_num(gs.get('mean_best_prior'), 3)} from its pixels and "
              f"{_num(gs.get('mean_best_prior_lookalike'), 3)} with look-alikes; the blended "
              f"emoji beats the best known one for {gs['generated_beats_known']} of "
              f"{gs['texts']} texts. Seconds per text (4 emojis): blend "
              f"{_num(gs.get('mean_seconds'))}, prior search {_num(gs.get('mean_seconds_prior'))}."]
        if gs.get("mean_best_blend_searched") is not None:
            g += ["", f"The blends with {gs['search_steps']} steps of local search on their score "
                  f"(`--steps {gs['search_steps']}`): best {gs['mean_best_blend_searched']:.3f} "
                  f"against {gs['mean_best_generated']:.3f}, with the drawings changed by "
                  f"{gs['mean_searched_pixel_change']:.2f} of 255 per RGBA value on average."]
    out["generated"] = "\n".join(g) + "\n"
    t = []
    for cs in d.get("cold_start", [])[:1]:
        t += [f"**Cold start** of `emojiqa suggest \"I just got the job!!\"`: median "
              f"{cs['median_s']:.2f} s to the first answer, best {cs['min_s']:.2f} s, "
              f"{cs['exit_median_s']:.2f} s to exit, over {cs['runs']} runs.", ""]
    t += ["| target | measured | status |", "|---|---:|---|"]
    t += [f"| {r['target']} | {_num(r['value'], 2)} | {status_mark(r['status'])} |"
          for r in d.get("targets", [])]
    out["targets"] = "\n".join(t) + "\n"
    return out


def splice_region(readme: Path, name: str, text: str) -> bool:
    """Replace the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if start not in content or end not in content or content.index(start) > content.index(end):
        return False
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(readme, f"{head}{start}\n{text}{end}{tail}")
    return True


def splice(readme: Path, section: str) -> bool:
    """Replace the text between the results markers of ``readme``; False without markers."""
    return splice_region(readme, "results", section)


def main(argv: list[str] | None = None) -> int:
    """Write docs/readme/results.md (and splice README.md); prints where it wrote."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="render the --quick smoke results (to check the layout)")
    parser.add_argument("--out", type=Path, default=OUT_MD)
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--no-splice", action="store_true", help="leave README.md alone")
    args = parser.parse_args(argv)
    section = build(args.quick)
    # image links are relative to the repository root (README.md); from docs/readme/ they
    # need ../../ in front
    rel = os.path.relpath(ROOT, args.out.parent)
    doc_text = section.replace("](docs/", f"]({rel}/docs/")
    atomic_write_text(args.out, doc_text)
    print(f"wrote {args.out}")
    if not args.no_splice and not args.quick and splice(args.readme, section):
        print(f"updated {args.readme} between {START} and {END}")
    data = load("suggest", args.quick)
    if data and not args.no_splice and not args.quick:
        for name, text in suggest_regions(data).items():
            if splice_region(args.readme, f"suggest-{name}", text):
                print(f"updated {args.readme}: suggest-{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
