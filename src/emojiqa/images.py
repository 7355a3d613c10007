"""Reading emoji images from files or bytes, and writing emoji grids as PNG.

Any common image (PNG, JPEG, WebP, GIF; any size, mode or bit depth) becomes a 36×36 RGBA
``uint8`` array. Resizing happens in Pillow's RGBA mode, which premultiplies alpha, so edges
are not darkened by the colour of transparent pixels; ``BOX`` filtering leaves no ringing halo.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from .errors import ImageError

#: " <_io.BytesIO object at 0x…>" in Pillow's messages: an address, nothing a user can use.
_IN_MEMORY = re.compile(r" ?<_io\.\w+ object at 0x[0-9a-f]+>")

#: Side of an emoji image, in pixels.
EMOJI_SIZE = 36
#: Smallest accepted input side; below this there is nothing to resize.
MIN_SIDE = 8
#: Largest accepted input, in pixels (guards against decompression bombs).
MAX_PIXELS = 4096 * 4096
#: Largest accepted file or upload, in bytes.
MAX_BYTES = 20 * 2**20
#: File suffixes recognised as images in a folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


def load_image(source: str | os.PathLike[str] | bytes, size: int = EMOJI_SIZE) -> np.ndarray:
    """Read one image and return it as a ``(size, size, 4)`` RGBA ``uint8`` array.

    Non-square images are centred on a transparent square canvas first. Grayscale, palette,
    16-bit, CMYK and animated images (first frame) are converted. Refused, with an
    :class:`~emojiqa.errors.ImageError` that says why: empty, corrupt or truncated files,
    non-images, images under 8×8 and images over 4096×4096 pixels.

    Args:
        source: a file path or the file's bytes.
        size: output side in pixels.

    Example:
        >>> arr = load_image("my_emoji.png")  # doctest: +SKIP
        >>> arr.shape, arr.dtype
        ((36, 36, 4), dtype('uint8'))
    """
    name = "image bytes" if isinstance(source, bytes | bytearray) else str(source)
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"image file not found: {path}. Check the path.")
        if path.stat().st_size > MAX_BYTES:
            raise ImageError(
                f"{name} is {path.stat().st_size / 2**20:.1f} MB; the limit is "
                f"{MAX_BYTES / 2**20:.0f} MB. An emoji needs no more: shrink the image first."
            )
        data = path.read_bytes()
    if not data:
        raise ImageError(f"{name} is empty (0 bytes). Pass a PNG, JPEG, WebP or GIF image.")
    if len(data) > MAX_BYTES:
        raise ImageError(
            f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_BYTES / 2**20:.0f} MB."
        )
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning fires on open; our tighter limit below names the size
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                img = Image.open(io.BytesIO(data))  # parses the header only
            except Image.DecompressionBombError as exc:
                raise ImageError(
                    f"{name} is too large to decode ({exc}); the limit is {MAX_PIXELS:,} pixels "
                    "(a decompression bomb guard). Resize it to at most 4096×4096 first."
                ) from exc
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(
                    f"{name} is {w}×{h} pixels, over the {MAX_PIXELS:,}-pixel limit (a "
                    "decompression bomb guard). Resize it to at most 4096×4096 first."
                )
            img.seek(0)  # first frame of an animation
            img.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            TypeError) as exc:  # TypeError: Pillow on a malformed tag value (a fuzz find)
        raise ImageError(
            f"{name} could not be read as an image ({type(exc).__name__}: "
            f"{_IN_MEMORY.sub('', str(exc))}). It may be "
            "corrupt, truncated or not an image; pass a PNG, JPEG, WebP or GIF file."
        ) from exc
    if min(w, h) < MIN_SIDE:
        raise ImageError(
            f"{name} is {w}×{h} pixels; emojiqa needs at least {MIN_SIDE}×{MIN_SIDE}. "
            "Pass a larger image."
        )
    return image_to_array(img, size)


def image_to_array(img: Image.Image, size: int = EMOJI_SIZE) -> np.ndarray:
    """Convert an open Pillow image of any mode to a square ``(size, size, 4)`` RGBA array."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping at 255
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray((arr / top * 255).round().clip(0, 255).astype(np.uint8), "L")
    rgba = img.convert("RGBA")
    w, h = rgba.size
    # Resize the longer side to `size` first, then centre on a transparent square: padding
    # first would allocate a max(w, h)² canvas (gigabytes for a long thin image).
    scale = size / max(w, h)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    if (tw, th) != (w, h):
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
        rgba = rgba.resize((tw, th), resample)
    if (tw, th) != (size, size):
        canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        canvas.paste(rgba, ((size - tw) // 2, (size - th) // 2))
        rgba = canvas
    return np.asarray(rgba, dtype=np.uint8).copy()


def composite_on(images: np.ndarray, background: tuple[int, int, int] = (255, 255, 255)
                 ) -> np.ndarray:
    """Alpha-composite ``(..., H, W, 4)`` RGBA ``uint8`` images over a solid colour → RGB."""
    rgb = images[..., :3].astype(np.float32)
    a = images[..., 3:4].astype(np.float32) / 255.0
    bg = np.asarray(background, dtype=np.float32)
    return (rgb * a + bg * (1 - a)).round().clip(0, 255).astype(np.uint8)


def make_grid(
    images: np.ndarray | Sequence[np.ndarray],
    ncol: int | None = None,
    scale: int = 2,
    pad: int = 2,
    background: tuple[int, int, int] = (255, 255, 255),
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """Lay RGBA emoji arrays ``(N, H, W, 4)`` out in a grid and upscale it for viewing.

    Args:
        images: emoji images, ``uint8`` RGBA.
        ncol: columns (default: ceil(sqrt(N))).
        scale: nearest-neighbour upscaling factor, so pixels stay crisp.
        pad: gap between cells, in source pixels.
        background: RGB colour behind transparent pixels.
        labels: optional short caption under each cell.
    """
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 4:
        raise ImageError(f"make_grid needs (N, H, W, 4) RGBA images, got shape {arr.shape}")
    n, h, w, _ = arr.shape
    if n == 0:
        raise ImageError("make_grid got no images to lay out")
    ncol = ncol or int(np.ceil(np.sqrt(n)))
    nrow = int(np.ceil(n / ncol))
    label_h = 10 if labels else 0
    cell_w, cell_h = w + pad, h + pad + label_h
    canvas = np.empty((nrow * cell_h + pad, ncol * cell_w + pad, 3), dtype=np.uint8)
    canvas[:] = background
    rgb = composite_on(arr, background)
    for i in range(n):
        r, c = divmod(i, ncol)
        y, x = pad + r * cell_h, pad + c * cell_w
        canvas[y : y + h, x : x + w] = rgb[i]
    out = Image.fromarray(canvas, "RGB")
    out = out.resize((out.width * scale, out.height * scale), Image.Resampling.NEAREST)
    if labels:
        draw = ImageDraw.Draw(out)
        for i, text in enumerate(labels[:n]):
            r, c = divmod(i, ncol)
            y, x = pad + r * cell_h + h + 1, pad + c * cell_w
            draw.text((x * scale, y * scale), str(text)[: max(1, (w * scale) // 6)],
                      fill=(60, 60, 60))
    return out


def is_image_path(item: str | os.PathLike[str]) -> bool:
    """Whether a name given where an emoji is expected means an image file: an existing file,
    or a name ending in an image suffix (a missing one is then a clear "file not found")."""
    return Path(item).is_file() or Path(item).suffix.lower() in IMAGE_SUFFIXES


def check_png_path(path: str | os.PathLike[str]) -> None:
    """``path`` must name a ``.png`` file (a PNG under another name would mislead whatever
    opens it), not a folder.

    Raises:
        ValueError: saying which, and to give a file name ending in .png.
    """
    if Path(path).is_dir():
        raise ValueError(f"{path} is a folder; give a file name ending in .png")
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"{path}: images are written as PNG; give a file name ending in .png")


def save_png(img: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Save a Pillow image as PNG atomically (:func:`check_png_path` first)."""
    from .storage import atomic_write_bytes

    check_png_path(path)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def array_to_png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """One RGBA ``uint8`` array as PNG bytes (transparency kept), optionally upscaled."""
    img = Image.fromarray(np.ascontiguousarray(image), "RGBA")
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
