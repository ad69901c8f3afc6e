"""Candidate pictures as files: thumbnails, JPEGs and a labelled contact sheet.

Every file is encoded in memory and written through
:func:`thumbsel.files.write_bytes`, so a reader never finds half a JPEG (not
even on a full disk), and a failed write leaves an existing file alone. The
bytes depend only on the pixels and the arguments: Pillow writes no
timestamp or EXIF block unless asked to, and the label font is the one
bundled with Pillow (no font file is looked up on the system).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from thumbsel.files import write_bytes

__all__ = [
    "GAP",
    "MARGIN",
    "MAX_THUMBNAIL_RATIO",
    "label_strip_height",
    "make_thumbnail",
    "save_jpeg",
    "write_contact_sheet",
]

RGBArray = npt.NDArray[np.uint8]
Font = ImageFont.ImageFont | ImageFont.FreeTypeFont

MARGIN = 16
"""Pixels of background around the grid of a contact sheet."""
GAP = 10
"""Pixels of background between two tiles of a contact sheet."""

BACKGROUND = (24, 24, 27)
"""Dark neutral grey behind the tiles: pictures read true against it."""
STRIP = (39, 39, 44)
"""The label strip under each tile, a step lighter than the background."""
TEXT = (228, 228, 231)
ACCENT = (251, 191, 36)
"""Colour of a label's first word (the rank, ``#1``)."""


def _check_picture(picture: npt.ArrayLike) -> RGBArray:
    array = np.asarray(picture)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB picture, got {array.dtype} {tuple(array.shape)}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"picture is empty: {tuple(array.shape)}")
    return np.ascontiguousarray(array)


def _image(picture: RGBArray) -> Image.Image:
    # The ``mode`` argument of ``fromarray`` is deprecated; (H, W, 3) uint8 is RGB.
    return Image.fromarray(picture)


def to_display(picture: npt.ArrayLike, size: tuple[int, int]) -> RGBArray:
    """``picture`` resized to ``size`` = ``(width, height)`` (Lanczos); itself when it is
    that size already, as it is unless the video has non-square pixels."""
    array = _check_picture(picture)
    if (array.shape[1], array.shape[0]) == tuple(size):
        return array
    resized = _image(array).resize((int(size[0]), int(size[1])), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)


MAX_THUMBNAIL_RATIO = 2
"""A thumbnail is at most this many times as tall as it is wide."""


def make_thumbnail(picture: npt.ArrayLike, width: int = 320) -> RGBArray:
    """``picture`` scaled to ``width`` pixels wide, keeping its aspect ratio (Lanczos).

    A picture taller than :data:`MAX_THUMBNAIL_RATIO` times its width is scaled
    to ``MAX_THUMBNAIL_RATIO * width`` high instead (narrower than ``width``), so
    a 16x4000 video gives a 3x640 thumbnail, not one 80,000 pixels high. Sides
    are rounded to the nearest pixel and are at least 1.
    """
    array = _check_picture(picture)
    if width < 1:
        raise ValueError(f"thumbnail width must be positive, got {width}")
    height, original_width = array.shape[:2]
    scale = min(width / original_width, MAX_THUMBNAIL_RATIO * width / height)
    new_width = max(1, round(original_width * scale))
    new_height = max(1, round(height * scale))
    if (new_height, new_width) == (height, original_width):
        return array.copy()
    resized = _image(array).resize((new_width, new_height), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)


def save_jpeg(picture: npt.ArrayLike, target: str | os.PathLike[str], quality: int = 92) -> None:
    """Write ``picture`` (H, W, 3 uint8 RGB) to ``target`` as a baseline JPEG, atomically.

    The file holds no EXIF, comment or timestamp, so the same pixels always
    give the same bytes. Huffman tables are optimised (smaller, lossless).
    """
    array = _check_picture(picture)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be within 1..100, got {quality}")
    # Encoded in memory first: handed a file, Pillow's optimised encoder ignores a
    # short write on a full disk and returns as if all went well.
    encoded = io.BytesIO()
    _image(array).save(encoded, format="JPEG", quality=quality, optimize=True)
    write_bytes(target, encoded.getvalue())


@cache
def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: only the fixed-size bitmap font.
        return ImageFont.load_default()


def _font_size(tile_width: int) -> int:
    return max(10, round(tile_width * 0.05))


def label_strip_height(tile_width: int) -> int:
    """Height in pixels of the label strip under each tile of ``tile_width``."""
    size = _font_size(tile_width)
    return size + 2 * max(5, round(size * 0.55))


def _fit(text: str, font: Font, room: float) -> str:
    """``text``, cut short with an ellipsis when it is wider than ``room`` pixels."""
    if font.getlength(text) <= room:
        return text
    while text and font.getlength(text + "…") > room:
        text = text[:-1]
    return text.rstrip() + "…"


def _draw_label(draw: ImageDraw.ImageDraw, label: str, box: tuple[int, int, int, int]) -> None:
    left, top, right, bottom = box
    draw.rectangle((left, top, right - 1, bottom - 1), fill=STRIP)
    font = _font(_font_size(right - left))
    padding = max(6, (bottom - top) // 3)
    text = _fit(" ".join(label.splitlines()), font, right - left - 2 * padding)
    if not text:
        return
    # Centre on the ink of letters with ascenders and descenders, not of this
    # label, so that every strip puts its baseline at the same height.
    _, ink_top, _, ink_bottom = font.getbbox("Ag#0")
    y = top + (bottom - top - (ink_bottom - ink_top)) / 2 - ink_top
    x = float(left + padding)
    head, separator, tail = text.partition(" ")
    draw.text((x, y), head, font=font, fill=ACCENT)
    if separator:
        draw.text((x + font.getlength(head + separator), y), tail, font=font, fill=TEXT)


def write_contact_sheet(
    pictures: Sequence[npt.ArrayLike],
    labels: Sequence[str],
    target: str | os.PathLike[str],
    *,
    columns: int = 4,
    tile_width: int = 320,
) -> Path:
    """Write a JPEG grid of ``pictures`` in the given (rank) order, each labelled underneath.

    Tiles are ``tile_width`` wide; the grid has ``min(columns, len(pictures))``
    columns. Every cell is as tall as the tallest thumbnail (shorter ones are
    centred) plus :func:`label_strip_height`, with :data:`MARGIN` around the
    grid and :data:`GAP` between cells. Returns ``target``.
    """
    if len(pictures) != len(labels):
        raise ValueError(f"{len(pictures)} pictures but {len(labels)} labels")
    if not pictures:
        raise ValueError("a contact sheet needs at least one picture")
    if columns < 1 or tile_width < 1:
        raise ValueError(f"columns and tile_width must be positive, got {columns}, {tile_width}")
    tiles = [make_thumbnail(picture, tile_width) for picture in pictures]
    columns = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    tile_height = max(tile.shape[0] for tile in tiles)
    strip = label_strip_height(tile_width)
    cell_height = tile_height + strip
    width = 2 * MARGIN + columns * tile_width + (columns - 1) * GAP
    height = 2 * MARGIN + rows * cell_height + (rows - 1) * GAP

    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        row, column = divmod(index, columns)
        left = MARGIN + column * (tile_width + GAP)
        top = MARGIN + row * (cell_height + GAP)
        sheet.paste(
            _image(tile),
            (left + (tile_width - tile.shape[1]) // 2, top + (tile_height - tile.shape[0]) // 2),
        )
        _draw_label(draw, label, (left, top + tile_height, left + tile_width, top + cell_height))
    target = Path(target)
    save_jpeg(np.asarray(sheet, dtype=np.uint8), target)
    return target
