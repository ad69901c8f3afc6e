"""The contact sheet, thumbnails and the JPEG writer, on synthetic pictures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pictures import picture
from PIL import Image
from thumbsel.errors import OutputError
from thumbsel.outputs.sheets import (
    GAP,
    MARGIN,
    label_strip_height,
    make_thumbnail,
    save_jpeg,
    write_contact_sheet,
)


@pytest.mark.parametrize(
    ("shape", "width", "expected"),
    [
        ((720, 1280), 320, (180, 320)),
        ((1080, 1440), 320, (240, 320)),
        ((1920, 1080), 320, (569, 320)),
        ((100, 50), 200, (400, 200)),
    ],
)
def test_thumbnails_keep_aspect_ratio(
    shape: tuple[int, int], width: int, expected: tuple[int, int]
) -> None:
    thumbnail = make_thumbnail(picture(*shape), width)
    assert thumbnail.dtype == np.uint8
    assert thumbnail.shape == (*expected, 3)
    assert abs(thumbnail.shape[0] / thumbnail.shape[1] - shape[0] / shape[1]) < 1 / width


def test_thumbnail_refuses_bad_pictures() -> None:
    with pytest.raises(ValueError):
        make_thumbnail(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        make_thumbnail(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError):
        make_thumbnail(np.zeros((10, 10, 3), np.uint8), 0)


@pytest.mark.parametrize(("count", "columns"), [(5, 3), (8, 4), (2, 4), (1, 1), (7, 2)])
def test_contact_sheet_size(tmp_path: Path, count: int, columns: int) -> None:
    tile_width = 200
    pictures = [picture(90, 160, seed=i) for i in range(count)]
    target = write_contact_sheet(
        pictures,
        [f"#{i + 1}  00:00:0{i}.000  shot {i}  score 0.5" for i in range(count)],
        tmp_path / "sheet.jpg",
        columns=columns,
        tile_width=tile_width,
    )
    used = min(columns, count)
    rows = -(-count // used)
    tile_height = make_thumbnail(pictures[0], tile_width).shape[0]
    with Image.open(target) as sheet:
        assert sheet.format == "JPEG"
        assert sheet.size == (
            2 * MARGIN + used * tile_width + (used - 1) * GAP,
            2 * MARGIN + rows * (tile_height + label_strip_height(tile_width)) + (rows - 1) * GAP,
        )
        # Background is dark and neutral in the margin.
        r, g, b = sheet.convert("RGB").getpixel((2, 2))  # type: ignore[misc]
        assert max(r, g, b) < 50 and max(r, g, b) - min(r, g, b) < 8


def test_contact_sheet_mixed_aspects_and_long_labels(tmp_path: Path) -> None:
    pictures = [picture(90, 160), picture(160, 160), picture(40, 160)]
    target = write_contact_sheet(
        pictures, ["#1 " + "very long label " * 20, "#2", ""], tmp_path / "s.jpg", columns=3
    )
    with Image.open(target) as sheet:
        assert sheet.size[1] == 2 * MARGIN + 320 + label_strip_height(320)
    with pytest.raises(ValueError):
        write_contact_sheet(pictures, ["only one"], tmp_path / "t.jpg")
    with pytest.raises(ValueError):
        write_contact_sheet([], [], tmp_path / "t.jpg")


def test_contact_sheet_is_deterministic(tmp_path: Path) -> None:
    pictures = [picture(90, 160, seed=i) for i in range(5)]
    labels = [f"#{i + 1}  00:00:0{i}.000  shot {i}  score 0.5" for i in range(5)]
    a = write_contact_sheet(pictures, labels, tmp_path / "a.jpg")
    b = write_contact_sheet(pictures, labels, tmp_path / "b.jpg")
    assert a.read_bytes() == b.read_bytes()


def test_jpeg_is_plain_and_deterministic(tmp_path: Path) -> None:
    pixels = picture(120, 200)
    save_jpeg(pixels, tmp_path / "a.jpg")
    save_jpeg(pixels, tmp_path / "b.jpg")
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "b.jpg").read_bytes()
    with Image.open(tmp_path / "a.jpg") as image:
        assert image.format == "JPEG"
        assert image.size == (200, 120)
        assert not image.getexif()
        assert "exif" not in image.info
        decoded = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert np.abs(decoded - pixels).mean() < 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "b.jpg"]


def test_jpeg_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "frame.jpg"
    save_jpeg(picture(60, 80, seed=1), target)
    before = target.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", full_disk)
        with pytest.raises(OutputError, match="No space left"):
            save_jpeg(picture(60, 80, seed=2), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["frame.jpg"]

    def crashing_save(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        fp.write(b"\xff\xd8 half a jpeg")
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(Image.Image, "save", crashing_save)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        save_jpeg(picture(60, 80, seed=3), tmp_path / "new" / "frame.jpg")
    assert target.read_bytes() == before
    assert not list(tmp_path.rglob("*.part"))
    assert not (tmp_path / "new" / "frame.jpg").exists()
