"""The wheel a user installs: built from this tree, it carries the bundled models, data, web
page and licences, and answers offline from its own files (slow: builds the wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The wheel stays a quick install (it is about 25 MB with both bundled models and the data).
MAX_WHEEL_MB = 40
#: Files a working install cannot do without.
REQUIRED = (
    "emojiqa/py.typed",
    "emojiqa/pretrained/ranker/config.json",
    "emojiqa/pretrained/ranker/model.safetensors",
    "emojiqa/pretrained/ranker/vocab.json",
    "emojiqa/pretrained/ranker/answers.json",
    "emojiqa/pretrained/ranker/emoji_vectors.safetensors",
    "emojiqa/pretrained/ranker/wide/model.safetensors",
    "emojiqa/pretrained/ranker/look/model.safetensors",
    "emojiqa/pretrained/ranker/vae/model.safetensors",
    "emojiqa/pretrained/vae/config.json",
    "emojiqa/pretrained/vae/model.safetensors",
    "emojiqa/data/NOTICE.md",
    "emojiqa/data/emoji/twemoji36.npz",
    "emojiqa/data/emoji/emoji_meta.json",
    "emojiqa/data/airline/Tweets.csv",
    "emojiqa/web/static/index.html",
    "emojiqa/web/static/app.js",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        "building the wheel failed (it needs setuptools>=77 and wheel installed, as "
        f"pyproject.toml's build-system says):\n{proc.stdout}\n{proc.stderr}")
    (found,) = out.glob("emojiqa-*.whl")
    return found


@pytest.mark.slow
def test_wheel_carries_models_data_web_page_and_licences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, f"the wheel lacks {missing}"
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert f"{info}/licenses/LICENSE" in names
    assert f"{info}/licenses/src/emojiqa/data/NOTICE.md" in names
    assert "MIT" in (ROOT / "LICENSE").read_text()
    # nothing of the development tree travels with it
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[0] in ("tests", "benchmarks", "docs")]
    assert wheel.stat().st_size < MAX_WHEEL_MB * 2**20


@pytest.mark.slow
def test_wheel_answers_offline_from_its_own_files(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import emojiqa; print(emojiqa.__file__); "
            "r = emojiqa.EmojiRanker.from_pretrained(); "
            "print(r.rank('pizza night', top_k=1)[0].emoji); "
            "print(emojiqa.VAE.from_pretrained().sample(1).shape)")
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    where, emoji, shape = proc.stdout.splitlines()[-3:]
    assert Path(where).resolve().is_relative_to(site.resolve())  # not this checkout's copy
    assert emoji == "🍕" and shape == "(1, 36, 36, 4)"
    # the command line of the installed package: the no-torch quick path
    proc = subprocess.run([sys.executable, "-m", "emojiqa", "suggest", "pizza night", "--top-k",
                           "1"], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("🍕")
