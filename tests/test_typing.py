"""The package is typed (``py.typed``): a type checker sees the real classes behind the lazy
top-level names and the right result type of ``rank`` for one text and for a list."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import emojiqa

ROOT = Path(__file__).resolve().parents[1]

#: What a typed user writes; mypy must accept every line.
GOOD = '''
from typing import assert_type

import emojiqa
from emojiqa.embed import similar_emojis
from emojiqa.lite import LiteRanker
from emojiqa.ranker import RankedEmoji

r = emojiqa.EmojiRanker.from_pretrained()
assert_type(r, emojiqa.EmojiRanker)
assert_type(r.rank("so happy"), list[RankedEmoji])
assert_type(r.rank(["so happy", "so sad"], top_k=3), list[list[RankedEmoji]])
name: str = r.rank("pizza night")[0].name
lite = LiteRanker.load()
if lite is not None:
    assert_type(lite.rank("so happy"), list[RankedEmoji])
    assert_type(lite.rank(("so happy", "so sad")), list[list[RankedEmoji]])
assert_type(emojiqa.NameMatcher(r).rank("donkey"), list[RankedEmoji])
assert_type(similar_emojis(r, "🍕"), list[RankedEmoji])
vae = emojiqa.VAE.from_pretrained()
assert_type(vae, emojiqa.VAE)
'''
#: A mistake mypy must find: one text gives a flat list.
BAD = '''
import emojiqa
from emojiqa.ranker import RankedEmoji

rows: list[list[RankedEmoji]] = emojiqa.EmojiRanker.from_pretrained().rank("so happy")
'''


def _type_checking_imports() -> dict[str, str]:
    """name -> module of every import inside ``if TYPE_CHECKING:`` in emojiqa/__init__.py."""
    tree = ast.parse((ROOT / "src" / "emojiqa" / "__init__.py").read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and (
                node.test.id == "TYPE_CHECKING"):
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1
                found.update({a.name: str(imp.module) for a in imp.names})
    return found


def test_every_lazy_name_is_imported_for_type_checkers():
    assert _type_checking_imports() == dict(emojiqa._LAZY)


def test_top_level_functions_stay_functions_after_their_modules_are_imported():
    # invent, train_vae and train_ranker are each a function and the submodule defining it;
    # importing the submodule (as the package itself does inside) must not make the top-level
    # name the module, and `from emojiqa import ...` must give the function the first time too
    code = (
        "import emojiqa, importlib, types\n"
        "from emojiqa import invent, train_vae\n"
        "import emojiqa.train_ranker, emojiqa.invent\n"
        "from emojiqa.train_ranker import fit_wide_head\n"
        "from emojiqa import train_ranker\n"
        "for f in (invent, train_vae, train_ranker, emojiqa.invent, emojiqa.train_vae,\n"
        "          emojiqa.train_ranker):\n"
        "    assert isinstance(f, types.FunctionType), f\n"
        "mod = importlib.import_module('emojiqa.train_ranker')\n"
        "assert isinstance(mod, types.ModuleType) and mod.fit_wide_head is fit_wide_head\n"
        "assert mod.train_ranker is emojiqa.train_ranker\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.slow
def test_public_api_types_check_with_mypy(tmp_path):
    try:  # a test extra: missing, it is a failure, not a skip
        import mypy  # noqa: F401
    except ImportError:
        pytest.fail("mypy is missing: pip install -e '.[test]'")
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(BAD, encoding="utf-8")

    def mypy_on(path: Path) -> subprocess.CompletedProcess[str]:
        # emojiqa's own modules are read for their types but not reported on
        return subprocess.run(
            [sys.executable, "-m", "mypy", str(path), "--follow-imports=silent",
             "--ignore-missing-imports", "--no-error-summary", "--cache-dir",
             str(tmp_path / "cache")], capture_output=True, text=True, timeout=600)

    ok = mypy_on(good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = mypy_on(bad)
    assert wrong.returncode == 1 and "bad.py:5: error" in wrong.stdout, wrong.stdout
