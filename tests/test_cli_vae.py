"""In-process smoke tests of `emojiqa train-vae`, `generate ...` and `emojis`."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from emojiqa.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory, twemoji):
    """A few emojis as PNG files (a small set keeps nearest-known look-ups fast)."""
    d = tmp_path_factory.mktemp("imgs")
    for e in ["🐱", "🐶", "🤖", "🎉", "😀", "❤️", "🍕", "🚀", "🌈", "👍"]:
        key = twemoji.get(e).key
        Image.fromarray(twemoji.image(key), "RGBA").save(d / f"{key}.png")
    return d


def test_train_vae_tiny_then_generate_with_it(tmp_path, folder, capsys):
    out = tmp_path / "run"
    assert main(["train-vae", "--style", str(folder), "--epochs", "1", "--out", str(out),
                 "--no-progress", "--threads", "1"]) == 0
    assert (out / "model" / "model.safetensors").is_file()
    assert (out / "losses.png").is_file() and (out / "reconstructions.png").is_file()
    assert main(["generate", "sample", "-n", "2", "--model", str(out / "model"),
                 "--emojis", str(folder), "--out", str(tmp_path / "s.png")]) == 0
    assert "nearest known" in capsys.readouterr().out


def test_generate_takes_image_files_as_items(tmp_path, folder, twemoji, capsys):
    cat = str(folder / f"{twemoji.get('🐱').key}.png")
    for argv in (["interpolate", cat, "🐶", "--steps", "3"], ["reconstruct", cat, "🐶"],
                 ["blend", cat, "🤖"]):
        out = tmp_path / f"{argv[0]}.png"
        assert main(["generate", *argv, "--out", str(out)]) == 0, capsys.readouterr().err
        assert out.is_file()
    assert "nearest known: 🐱" in capsys.readouterr().out  # the reconstructed drawing's
    assert main(["generate", "reconstruct", str(tmp_path / "missing.png")]) == 2
    assert "image file not found" in capsys.readouterr().err


def test_train_vae_on_a_folder_with_unreadable_files(tmp_path, folder, capsys):
    import shutil

    mixed = tmp_path / "mixed"
    shutil.copytree(folder, mixed)
    (mixed / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (mixed / "empty.jpg").write_bytes(b"")
    argv = ["train-vae", "--style", str(mixed), "--epochs", "1", "--out",
            str(tmp_path / "run"), "--no-progress", "--threads", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "broken.png could not be read" in err and "--skip-bad-images" in err
    assert main([*argv, "--skip-bad-images"]) == 0
    out = capsys.readouterr()
    assert "skipped 2 unreadable image file(s)" in out.err and "broken.png" in out.err
    assert "on 8 emojis, validating on 2" in out.out  # the 10 readable drawings


@pytest.mark.parametrize("argv, n", [
    (["sample", "-n", "4"], 4),
    (["grid", "C", "--ticks", "3"], 9),
    (["interpolate", "🐱", "🐶", "--steps", "3"], 3),
    (["blend", "🐱 + 🤖"], 1),
    (["blend", "cat face", "robot", "--weights", "1", "2"], 1),
    (["reconstruct", "🐱", "🐶"], 4),
])
def test_generate_on_bundled_model(tmp_path, folder, capsys, argv, n):
    png = tmp_path / "g.png"
    assert main(["generate", *argv, "--out", str(png), "--scale", "2",
                 "--emojis", str(folder)]) == 0
    img = Image.open(png)
    assert img.width > 36 and img.height > 36
    assert f"wrote {n} emoji" in capsys.readouterr().out


def test_generate_nearest_known_in_all_twemoji(tmp_path, capsys):
    assert main(["generate", "interpolate", "🐱", "🐶", "--steps", "2",
                 "--out", str(tmp_path / "i.png")]) == 0
    out = capsys.readouterr().out
    assert "nearest known: 🐱" in out and "nearest known: 🐶" in out


def test_generate_unknown_emoji_is_a_clear_error(tmp_path, capsys):
    assert main(["generate", "interpolate", "🐱", "no-such-emoji-zz", "--out",
                 str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "not in the twemoji set" in err and "emojiqa emojis" in err


def test_generate_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["generate", "sample", "--model", str(tmp_path / "none")]) == 2
    assert "model folder not found" in capsys.readouterr().err


def test_emojis_search_list_and_skin_tone(capsys):
    assert main(["emojis", "hart", "--limit", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("❤")
    assert main(["emojis", "thumbs", "up", "--skin-tone", "dark", "--limit", "1"]) == 0
    assert "1f44d-1f3ff" in capsys.readouterr().out
    assert main(["emojis", "--group", "flags", "--json"]) == 0
    assert '"group": "flags"' in capsys.readouterr().out


def test_emojis_no_match_and_bad_options_are_clear(capsys):
    # as grep: nothing found is exit status 1, said on stderr (JSON still prints its list)
    assert main(["emojis", "zzzqqq"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "no emoji matches 'zzzqqq'" in err and "emojiqa emojis" in err
    assert main(["emojis", "zzzqqq", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == []
    for bad in ("0", "-3"):
        assert main(["emojis", "heart", "--limit", bad]) == 2
        assert f"--limit must be between 1 and 5000, got {bad}" in capsys.readouterr().err
    assert main(["emojis", "--group", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown emoji group(s) ['nosuch']" in err and "smileys-emotion" in err
    assert main(["emojis", "--exclude-group", "flag"]) == 2
    assert "unknown emoji group(s) ['flag']" in capsys.readouterr().err
