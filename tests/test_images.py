"""Image loading: any size and mode becomes 36×36 RGBA; bad files give clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from emojiqa.errors import ImageError
from emojiqa.images import load_image, make_grid


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_grayscale_and_large_images_work(tmp_path):
    gray = Image.fromarray(np.full((50, 50), 200, np.uint8), "L")
    arr = load_image(png_bytes(gray))
    assert arr.shape == (36, 36, 4) and arr[..., 3].min() == 255 and arr[0, 0, 0] == 200
    big = tmp_path / "big.png"
    Image.new("RGBA", (1000, 1000), (255, 0, 0, 255)).save(big)
    arr = load_image(big)
    assert arr.shape == (36, 36, 4) and tuple(arr[18, 18]) == (255, 0, 0, 255)


def test_transparent_edges_are_not_darkened():
    img = np.zeros((72, 72, 4), np.uint8)
    img[:, :36] = (255, 255, 255, 255)  # white left half, transparent black right half
    arr = load_image(png_bytes(Image.fromarray(img, "RGBA")))
    opaque = arr[arr[..., 3] > 0]
    assert opaque[:, :3].min() >= 250


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(ImageError, match="corrupt"):
        load_image(tmp_path / "corrupt.png")
    (tmp_path / "text.png").write_text("I am not an image")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "text.png")
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    tiny = png_bytes(Image.new("RGBA", (4, 4)))
    with pytest.raises(ImageError, match="at least"):
        load_image(tiny)


def test_make_grid_upscales():
    grid = make_grid(np.zeros((5, 36, 36, 4), np.uint8), ncol=5, scale=2)
    assert grid.width == (5 * 38 + 2) * 2


def test_save_png_needs_a_png_file_name_and_names_the_file_it_cannot_write(tmp_path,
                                                                            monkeypatch):
    from PIL import Image

    from emojiqa import storage
    from emojiqa.images import save_png

    img = Image.new("RGB", (4, 4))
    assert save_png(img, tmp_path / "a.PNG").is_file()
    with pytest.raises(ValueError, match="give a file name ending in .png"):
        save_png(img, tmp_path / "a.jpg")
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder") as exc:
        storage.atomic_write_bytes(tmp_path / "d", b"x")
    assert exc.value.filename == str(tmp_path / "d")

    def denied(*_a, **_k):  # a folder this user may not write in (root may write anywhere)
        raise PermissionError(13, "Permission denied", str(tmp_path / ".f.png.x1y2.tmp"))

    monkeypatch.setattr(storage.tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError) as exc:
        storage.atomic_write_bytes(tmp_path / "f.png", b"x")
    assert exc.value.filename == str(tmp_path / "f.png")  # not the temporary file's name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.PNG", "d"]
