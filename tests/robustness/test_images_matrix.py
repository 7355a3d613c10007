"""Bad-input matrix of the image boundary: ``images.load_image`` and ``EmojiSet.from_folder``.

Refused inputs must raise exactly :class:`~emojiqa.errors.ImageError` with a message naming
the problem and the fix; accepted oddities (grayscale, palette, 16-bit, CMYK, animations)
must come out as a ``(36, 36, 4)`` RGBA ``uint8`` array with the right colours.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emojiqa.emojis import EmojiSet
from emojiqa.errors import ImageError
from emojiqa.images import MAX_BYTES, load_image


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int, height: int) -> bytes:
    """A valid grayscale PNG of ``width``×``height`` zeros, ~100 kB for 10,000×10,000."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def raw_png(width: int, height: int, depth: int, colour: int, pixel: bytes) -> bytes:
    """A PNG of one repeated raw ``pixel`` at any bit depth / colour type Pillow cannot write."""
    row = b"\x00" + pixel * width
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(row * height)) + png_chunk(b"IEND", b""))


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header claims a size but that holds no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


def tiff_with_rational_strip_offsets() -> bytes:
    """A TIFF whose StripOffsets tag is typed RATIONAL (found by the fuzzer: Pillow raised a
    bare ``TypeError`` while seeking to the strip)."""
    data = bytearray(encode(Image.new("RGBA", (24, 24), (255, 0, 0, 255)), "TIFF"))
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, entry)[0] == 273:  # StripOffsets
            struct.pack_into("<HHII", data, entry, 273, 5, 1, 8)  # RATIONAL, 1, at offset 8
    return bytes(data)


RED = (255, 0, 0, 255)
GOOD_PNG = encode(Image.new("RGBA", (40, 40), RED))
NOISE_PNG = encode(Image.fromarray(
    np.random.default_rng(0).integers(0, 256, (40, 40, 4), dtype=np.uint8), "RGBA"))
CORRUPT_MSG = dict(what=[r"corrupt|truncated|not an image"], fix=[r"PNG, JPEG"])

# --- refused inputs: (id, bytes, what/fix patterns) -------------------------------------------
REFUSED = [
    ("zero-bytes", b"", dict(what=[r"empty", r"0 bytes"], fix=[r"PNG"])),
    ("truncated-png", GOOD_PNG[: len(GOOD_PNG) // 2], CORRUPT_MSG),
    ("png-signature-only", GOOD_PNG[:8], CORRUPT_MSG),
    ("corrupt-png-header", GOOD_PNG[:16] + b"\xff" * 40 + GOOD_PNG[56:], CORRUPT_MSG),
    ("corrupt-png-idat", NOISE_PNG[:120] + b"\xff" * 200 + NOISE_PNG[320:], CORRUPT_MSG),
    ("truncated-noise-png", NOISE_PNG[: len(NOISE_PNG) * 3 // 4], CORRUPT_MSG),
    ("truncated-jpeg", encode(Image.new("RGB", (64, 64), "red"), "JPEG")[:100], CORRUPT_MSG),
    ("text-bytes", b"hello, I am a text file\n" * 10, CORRUPT_MSG),
    ("html-bytes", b"<!doctype html><html><body>not an image</body></html>", CORRUPT_MSG),
    ("pdf-bytes", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", CORRUPT_MSG),
    ("1x1", encode(Image.new("RGBA", (1, 1), RED)),
     dict(what=[r"1×1"], fix=[r"at least 8×8", r"larger image"])),
    ("7x200", encode(Image.new("RGBA", (7, 200), RED)),
     dict(what=[r"7×200"], fix=[r"at least 8×8"])),
    ("5000x5000", bomb_png(5000, 5000),
     dict(what=[r"5000×5000", r"decompression bomb|pixel limit"], fix=[r"4096×4096"])),
    ("tiff-rational-strip-offsets", tiff_with_rational_strip_offsets(), CORRUPT_MSG),
    ("header-claims-100000x100000", header_only_png(100_000, 100_000),
     dict(what=[r"100000×100000|decompression bomb|pixel limit|corrupt|truncated"],
          fix=[r"4096|PNG"])),
]


@pytest.mark.parametrize(("data", "patterns"), [r[1:] for r in REFUSED],
                         ids=[r[0] for r in REFUSED])
def test_refused_bytes(data, patterns, raises_clearly):
    raises_clearly(ImageError, load_image, data, **patterns)


def test_decompression_bomb_10000x10000_names_the_limit(check_error):
    data = bomb_png(10_000, 10_000)
    assert len(data) < 200_000  # cheap to make: ~100 kB claiming 100 Mpx
    t0 = time.perf_counter()
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert time.perf_counter() - t0 < 2.0  # refused before decoding 100 Mpx
    check_error(info.value, ImageError, what=[r"10000×10000"], fix=[r"4096×4096"])


def test_decompression_bomb_10000x10000_is_refused_fast(check_error):
    data = bomb_png(10_000, 10_000)
    t0 = time.perf_counter()
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert time.perf_counter() - t0 < 2.0
    check_error(info.value, ImageError, what=[r"decompression bomb|pixel"])


def test_oversized_bytes(raises_clearly):
    data = GOOD_PNG + b"\x00" * (MAX_BYTES + 1)
    raises_clearly(ImageError, load_image, data, what=[r"MB", r"limit"])


# --- refused files on disk -------------------------------------------------------------------
def test_missing_file(tmp_path, raises_clearly):
    path = tmp_path / "nope.png"
    raises_clearly(ImageError, load_image, path, what=[r"not found", "nope.png"],
                   fix=[r"check the path"])


def test_zero_byte_file(tmp_path, raises_clearly):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    raises_clearly(ImageError, load_image, path, what=["empty.png", r"empty"], fix=[r"PNG"])


def test_text_file_named_png(tmp_path, raises_clearly):
    path = tmp_path / "notes.png"
    path.write_text("shopping list: milk, eggs\n", encoding="utf-8")
    raises_clearly(ImageError, load_image, path, what=["notes.png", r"not an image"],
                   fix=[r"PNG, JPEG"])


def test_folder_passed_as_image(tmp_path, raises_clearly):
    raises_clearly(ImageError, load_image, tmp_path, what=[r"not found", tmp_path.name])


def test_oversized_file(tmp_path, raises_clearly):
    path = tmp_path / "huge.png"
    with path.open("wb") as fh:
        fh.write(GOOD_PNG)
        fh.seek(MAX_BYTES + 10)
        fh.write(b"\x00")
    raises_clearly(ImageError, load_image, path, what=["huge.png", r"MB"],
                   fix=[r"shrink"])


# --- accepted oddities: converted to (36, 36, 4) uint8 with the right colours -------------------
def _gray16() -> bytes:
    return encode(Image.fromarray(np.full((40, 40), 40_000, dtype=np.uint16)))


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGBA", (40, 40), c) for c in (RED, (0, 0, 255, 255), (0, 255, 0, 255))]
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                  loop=0, **kwargs)


ACCEPTED = [
    # (id, bytes, expected RGBA at the centre, tolerance)
    ("8x8-minimum", encode(Image.new("RGBA", (8, 8), RED)), RED, 0),
    ("rgba-40", GOOD_PNG, RED, 0),
    ("rgb-no-alpha", encode(Image.new("RGB", (40, 40), (10, 200, 30))), (10, 200, 30, 255), 0),
    ("grayscale-L", encode(Image.new("L", (40, 40), 128)), (128, 128, 128, 255), 0),
    ("grayscale-LA", encode(Image.new("LA", (40, 40), (90, 255))), (90, 90, 90, 255), 0),
    ("1-bit", encode(Image.new("1", (40, 40), 1)), (255, 255, 255, 255), 0),
    ("palette-P", encode(Image.new("RGB", (40, 40), (0, 128, 255)).convert(
        "P", palette=Image.Palette.ADAPTIVE)), (0, 128, 255, 255), 0),
    ("palette-transparency", encode(Image.new("RGBA", (40, 40), (0, 0, 0, 0)).convert("P"),
                                    transparency=0), None, 0),
    ("16-bit-gray", _gray16(), (156, 156, 156, 255), 1),
    ("16-bit-rgba", raw_png(40, 40, 16, 6, b"\xff\xff\x00\x00\x80\x00\xff\xff"),
     (255, 0, 128, 255), 1),
    ("16-bit-rgb", raw_png(40, 40, 16, 2, b"\x00\x00\xff\xff\x00\x00"), (0, 255, 0, 255), 1),
    ("cmyk-jpeg", encode(Image.new("CMYK", (40, 40), (0, 255, 0, 0)), "JPEG", quality=95),
     (255, 0, 255, 255), 8),
    ("rgb-jpeg", encode(Image.new("RGB", (40, 40), (200, 50, 50)), "JPEG", quality=95),
     (200, 50, 50, 255), 8),
    ("animated-gif-first-frame", _animated("GIF"), RED, 0),
    ("animated-webp-first-frame", _animated("WEBP"), RED, 0),
    ("bmp", encode(Image.new("RGB", (40, 40), (1, 2, 3)), "BMP"), (1, 2, 3, 255), 0),
    ("non-square-wide", encode(Image.new("RGBA", (80, 20), RED)), RED, 0),
    ("large-4096x16", encode(Image.new("RGBA", (4096, 16), RED)), None, 0),
    ("1000x1000", encode(Image.new("RGBA", (1000, 1000), RED)), RED, 0),
]


@pytest.mark.parametrize(("data", "centre", "tol"), [a[1:] for a in ACCEPTED],
                         ids=[a[0] for a in ACCEPTED])
def test_accepted_images(data, centre, tol):
    arr = load_image(data)
    assert arr.shape == (36, 36, 4)
    assert arr.dtype == np.uint8
    assert arr.flags.writeable
    if centre is not None:
        got = arr[18, 18].astype(int)
        assert np.abs(got - np.array(centre)).max() <= tol, (got, centre)


def test_non_square_is_centred_on_transparent_canvas():
    arr = load_image(encode(Image.new("RGBA", (80, 20), RED)))
    assert arr[0, 18, 3] == 0 and arr[-1, 18, 3] == 0  # top/bottom padding transparent
    assert tuple(arr[18, 0]) == RED and tuple(arr[18, -1]) == RED


def test_file_and_bytes_agree(tmp_path):
    path = tmp_path / "x.webp"
    data = _animated("WEBP")
    path.write_bytes(data)
    np.testing.assert_array_equal(load_image(path), load_image(data))


# --- folders ---------------------------------------------------------------------------------
def test_missing_folder(tmp_path, raises_clearly):
    raises_clearly(ImageError, EmojiSet.from_folder, tmp_path / "nowhere",
                   what=[r"not found", "nowhere"])


def test_folder_with_no_images(tmp_path, raises_clearly):
    (tmp_path / "readme.txt").write_text("no images here")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "1f389.png").write_bytes(GOOD_PNG)  # not recursive
    raises_clearly(ImageError, EmojiSet.from_folder, tmp_path,
                   what=[r"no images", tmp_path.name], fix=[r"\.png", r"bundled style"])


def test_folder_with_a_bad_image_names_the_file(tmp_path, raises_clearly):
    (tmp_path / "1f389.png").write_bytes(GOOD_PNG)
    (tmp_path / "broken.png").write_bytes(GOOD_PNG[:50])
    raises_clearly(ImageError, EmojiSet.from_folder, tmp_path, progress=False,
                   what=["broken.png"], fix=[r"PNG, JPEG"])


def test_folder_skip_bad_images(tmp_path):
    (tmp_path / "1f389.png").write_bytes(GOOD_PNG)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="broken.png"):
        es = EmojiSet.from_folder(tmp_path, progress=False, on_error="skip")
    assert es.keys == ["1f389"]


def test_folder_of_only_bad_images_skipped(tmp_path, raises_clearly):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_bytes(b"zzz")
    with pytest.warns(UserWarning):
        raises_clearly(ImageError, EmojiSet.from_folder, tmp_path, progress=False,
                       on_error="skip", what=[r"none of the 2"])


N_BIG = 10_000


@pytest.fixture(scope="session")
def big_folder(tmp_path_factory) -> Path:
    """10,000 distinct tiny 8×8 PNGs, written once per session (~2 s)."""
    folder = tmp_path_factory.mktemp("ten_thousand")
    for i in range(N_BIG):
        a = np.zeros((8, 8, 4), dtype=np.uint8)
        a[..., 3] = 255
        a[0, 0, :3] = (i % 256, i // 256, 7)
        Image.fromarray(a, "RGBA").save(folder / f"img{i:05d}.png", compress_level=1)
    return folder


def test_folder_with_10000_images_loads_with_progress(big_folder, capsys):
    t0 = time.perf_counter()
    es = EmojiSet.from_folder(big_folder, progress=True)
    seconds = time.perf_counter() - t0
    assert len(es) == N_BIG
    assert es.images.shape == (N_BIG, 36, 36, 4) and es.images.dtype == np.uint8
    assert es.keys[0] == "img00000" and es.keys[-1] == f"img{N_BIG - 1:05d}"
    err = capsys.readouterr().err
    assert f"{N_BIG}/{N_BIG}" in err, "no progress bar on stderr"
    assert seconds < 60, f"loading {N_BIG} tiny images took {seconds:.1f} s"


# --- long thin images: the square canvas must not blow up -------------------------------------
THIN_CHILD = """
import resource, sys
with open("/proc/self/statm") as fh:
    vm = int(fh.read().split()[0]) * resource.getpagesize()
from emojiqa.errors import ImageError
from emojiqa.images import load_image
cap = vm + 2**30  # 1 GiB more than the loaded libraries: a 3 kB file must fit easily
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    arr = load_image(open(sys.argv[1], "rb").read())
    print("ok", arr.shape, arr.dtype)
except ImageError as exc:
    print("ImageError", exc)
"""


@pytest.mark.parametrize(("w", "h"), [(8, 100_000), (100_000, 8), (16, 48_656)])
def test_long_thin_image_is_cheap(w, h, tmp_path):
    """Long thin images (found by the fuzz run as a 16 GB allocation) load cheaply."""
    import subprocess
    import sys

    path = tmp_path / "thin.png"
    raw = (b"\x00" + b"\x00" * w * 4) * h
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(
        ">IIBBBBB", w, h, 8, 6, 0, 0, 0)) + png_chunk(b"IDAT", zlib.compress(raw, 9))
        + png_chunk(b"IEND", b""))
    assert path.stat().st_size < 100_000
    proc = subprocess.run([sys.executable, "-c", THIN_CHILD, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.startswith(("ok (36, 36, 4) uint8", "ImageError")), proc.stdout
