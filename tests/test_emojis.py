"""Emoji sets: bundled styles, look-ups, fuzzy search, skin tones, split, folders."""

from __future__ import annotations

import pytest
from PIL import Image

from emojiqa import EmojiSet
from emojiqa.errors import EmojiNotFoundError, ImageError


def test_bundled_styles_and_lookups(twemoji):
    assert len(twemoji) == 4009 and twemoji.images.shape[1:] == (36, 36, 4)
    assert twemoji.get("🎉").key == "1f389"
    assert twemoji.index("1f389") == twemoji.index("party popper") == twemoji.index("🎉")
    with pytest.raises(EmojiNotFoundError, match="Did you mean"):
        twemoji.index("party poper")


@pytest.mark.parametrize("query, first", [("hart", "❤"), ("pizza", "🍕"),
                                          ("thumbs up", "👍"), ("rocket", "🚀")])
def test_fuzzy_search(twemoji, query, first):
    assert twemoji.search(query, limit=3)[0].emoji.startswith(first)


def test_search_limit_is_checked(twemoji):
    assert len(twemoji.search("heart", limit=2)) == 2 and twemoji.search("heart", limit=0) == []
    for bad in (-1, -3, 2.5, True):  # a negative limit listed unrelated emojis
        with pytest.raises(ValueError, match="limit must be a whole number >= 0"):
            twemoji.search("heart", limit=bad)


def test_skin_tone_and_filter(twemoji):
    assert twemoji.with_skin_tone("1f44d", "dark") == "1f44d-1f3ff"
    assert twemoji.with_skin_tone("1f389", 3) == "1f389"  # no tones: unchanged
    plain = twemoji.filter(skin_tones=False)
    assert len(plain) < len(twemoji) and not any(e.skin_tone for e in plain)
    with pytest.raises(ValueError, match="skin tone"):
        twemoji.with_skin_tone("1f44d", 9)


def test_split_is_deterministic_and_disjoint(twemoji):
    tr, va = twemoji.split()
    assert len(tr) + len(va) == len(twemoji)
    assert not set(tr.keys) & set(va.keys)
    assert abs(len(va) / len(twemoji) - 0.2) < 0.03
    assert twemoji.split()[1].keys == va.keys


def test_concat_keeps_keys_unique(twemoji):
    a = twemoji.subset(range(3))
    both = EmojiSet.concat([a, a.subset(range(3), style="noto")])
    assert len(both) == 6 and len(set(both.keys)) == 6 and both.keys[3] == "noto:" + a.keys[0]


def test_folder_with_no_images_or_bad_files(tmp_path, twemoji):
    with pytest.raises(ImageError, match="no images in"):
        EmojiSet.from_folder(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError, match="no images in"):
        EmojiSet.from_folder(tmp_path)
    Image.fromarray(twemoji.image("🎉"), "RGBA").save(tmp_path / "1f389.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ImageError, match="corrupt") as exc:
        EmojiSet.from_folder(tmp_path)
    assert "remove it from" in str(exc.value) and "on_error='skip'" in str(exc.value)
    assert " object at 0x" not in str(exc.value)  # no memory address in the message
    with pytest.warns(UserWarning, match="skipping"):
        es = EmojiSet.from_folder(tmp_path, on_error="skip", progress=False)
    assert es.keys == ["1f389"] and es.get("🎉").label == "party popper"


@pytest.mark.parametrize("key", ["80000000", "110000", "ffffffffffffffffffff", "1f389-80000000"])
def test_key_past_the_last_code_point_is_refused_clearly(key):
    from emojiqa.emojis import emoji_from_key
    from emojiqa.errors import EmojiNotFoundError

    with pytest.raises(EmojiNotFoundError, match="not an emoji key"):
        emoji_from_key(key)


def test_drawings_outside_the_standard_set_are_named_by_their_parts():
    """A few Twemoji drawings have no CLDR name of their own (🕴🏻‍♀️, 👨‍🎄, ⛷🏽): they are named
    by the names of their code points, never shown as a bare key; a key none of whose parts
    has a name stays the key."""
    from emojiqa.emojis import info_for, load_metadata

    assert info_for("1f574-1f3fb-200d-2640-fe0f").name == (
        "person in suit levitating: light skin tone, female sign")
    assert info_for("1f468-200d-1f384").name == "man: Christmas tree"
    assert info_for("26f7-1f3fd").name == "skier: medium skin tone"
    assert info_for("e50a").name == "e50a"
    assert info_for("1f355").name == "pizza"  # a CLDR name is kept as it is
    unnamed = [k for k, v in load_metadata().items() if v.name == k]
    assert unnamed == ["e50a"]


def test_file_names_that_happen_to_be_hex_are_names_not_code_points(tmp_path):
    """``face.png``, ``cafe.png`` or ``e2.png`` are names (U+FACE, U+CAFE and â are not
    emojis); ``1f600.png``, ``2764-fe0f.png`` and ``🍕.png`` are the emojis they spell."""
    from PIL import Image

    for stem in ("face", "cafe", "e2", "1f600", "2764-fe0f", "🍕", "1f468-200d-1f384"):
        Image.new("RGBA", (36, 36), (200, 30, 30, 255)).save(tmp_path / f"{stem}.png")
    es = EmojiSet.from_folder(tmp_path, progress=False)
    got = {es.keys[i]: (es.info(i).emoji, es.name(i)) for i in range(len(es))}
    assert got["face"] == ("", "face") and got["cafe"] == ("", "cafe") and got["e2"] == ("", "e2")
    assert got["1f600"] == ("😀", "grinning face") and got["2764"] == ("❤", "red heart")
    assert got["1f355"] == ("🍕", "pizza")
    assert got["1f468-200d-1f384"][1] == "man: Christmas tree"


def test_drawings_the_metadata_lists_without_a_base_are_folded_too():
    """Twemoji draws 👨‍🎄 / 👩‍🎄 and ⛷ in five tones, and 🕴 with a gender sign (toneless and
    in five tones), which the metadata lists without a base: grouped rankings fold them like
    any tone (one entry each, drawn in the tone asked for), so five tones of 🕴 never fill a
    top 5 and 🕴 with a gender sign never sits next to 🕴; the zero-shot protocols'
    candidates (the metadata's base emojis) are unchanged."""
    from emojiqa import sources
    from emojiqa.emojis import _unlisted_folds, select_candidates

    es = EmojiSet.load("twemoji")
    unlisted = _unlisted_folds()
    assert len(unlisted) == 27
    assert unlisted["1f574-1f3fb-200d-2640-fe0f"] == ("1f574", 1)
    assert unlisted["1f574-fe0f-200d-2642-fe0f"] == ("1f574", 0)
    assert unlisted["26f7-1f3ff"] == ("26f7", 5)
    assert unlisted["1f468-1f3fc-200d-1f384"] == ("1f468-200d-1f384", 2)
    grouped = select_candidates(es)
    assert not set(unlisted) & set(grouped.keys) and len(grouped) == 1979 - 27
    assert "1f574" in grouped.keys and "1f468-200d-1f384" in grouped.keys
    dark = select_candidates(es, skin_tone=5)
    # the standard 🕴🏿 (not a gendered drawing), and the unlisted tones where nothing else is
    assert "1f574-1f3ff" in dark.keys and "26f7-1f3ff" in dark.keys
    assert "1f468-1f3ff-200d-1f384" in dark.keys
    assert len(dark) == len(grouped)
    assert es.with_skin_tone("1f468-200d-1f384", 2) == "1f468-1f3fc-200d-1f384"
    assert es.with_skin_tone("1f574", 2) == "1f574-1f3fc"
    assert len(sources.candidate_set("twemoji")) == 1979  # the protocols' set
    everything = select_candidates(es, group_skin_tones=False)
    assert set(unlisted) <= set(everything.keys)
