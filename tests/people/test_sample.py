"""People on a sample of frames, in the one pass: which frames, what was found, what it costs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import annotated
import numpy as np
import numpy.typing as npt
import pytest
import thumbsel
import videos
from PIL import Image, ImageDraw, ImageFilter
from thumbsel.cli import main
from thumbsel.people.sample import (
    MAX_INTERVAL,
    MIN_INTERVAL,
    MIN_SAMPLES,
    SETTLE_FRAMES,
    PeopleSampler,
)

pytestmark = pytest.mark.skipif(not thumbsel.artwork.faces_available(), reason="faces extra")

FPS = 25
WIDTH, HEIGHT = 640, 360
ASTRONAUT_FACE = (185, 72, 268, 175)
"""The annotated face of scikit-image's astronaut photo (tests/data/faces.json)."""
PORTRAIT_FRAMES = 75
INSERT_FRAMES = 75


@dataclass(frozen=True)
class Portrait:
    """A soft-lit close-up (3 s, a slow push-in on the astronaut) cut to a crisp screen
    insert (3 s), then back to the portrait (3 s): the face boxes are known exactly."""

    path: Path
    face: dict[int, tuple[float, float, float, float]]
    """Frame -> the astronaut's face box in the frame's pixels."""
    insert: range


def _portrait_frames(count: int) -> tuple[list[npt.NDArray[np.uint8]], list[tuple]]:
    photo = Image.fromarray(annotated.load("skimage/astronaut.png", 0))
    frames, boxes = [], []
    for index in range(count):
        # A window 16:9 on the photo, shrinking 1 px a frame: a slow push-in.
        width = 480 - index
        height = width * 9 / 16
        left, top = 226.0 - width * 0.45, 40.0
        window = (left, top, left + width, top + height)
        scale = WIDTH / width
        picture = photo.transform(
            (WIDTH, HEIGHT), Image.Transform.EXTENT, window, Image.Resampling.BILINEAR
        )
        # Soft light: blurred well below the insert's sharpness.
        frames.append(np.asarray(picture.filter(ImageFilter.GaussianBlur(1.2))))
        x0, y0, x1, y1 = ASTRONAUT_FACE
        boxes.append(
            ((x0 - left) * scale, (y0 - top) * scale, (x1 - left) * scale, (y1 - top) * scale)
        )
    return frames, boxes


def _insert_frames(count: int) -> list[npt.NDArray[np.uint8]]:
    """A computer screen: crisp coloured panels and lines of text, scrolling."""
    rng = np.random.default_rng(5)
    # Windows and panels of every colour, with crisp edges, under the text.
    panels = rng.integers(0, 256, (HEIGHT * 2 // 40 + 1, WIDTH // 40 + 1, 3), dtype=np.uint8)
    tiles = np.repeat(np.repeat(panels, 40, axis=0), 40, axis=1)[: HEIGHT * 2, :WIDTH]
    screen = Image.fromarray(np.ascontiguousarray(tiles))
    draw = ImageDraw.Draw(screen)
    for row in range(0, HEIGHT * 2, 14):
        colour = tuple(int(v) for v in rng.integers(120, 256, 3))
        words = " ".join("".join(rng.choice(list("abcdefghij0123"), 6)) for _ in range(9))
        draw.text((8, row), words, fill=colour)
    for _ in range(12):
        x, y = rng.integers(0, WIDTH - 80), rng.integers(0, HEIGHT * 2 - 40)
        draw.rectangle((x, y, x + 80, y + 40), outline=(255, 200, 0), width=2)
    pixels = np.asarray(screen)
    return [np.ascontiguousarray(pixels[i * 2 : i * 2 + HEIGHT]) for i in range(count)]


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Portrait:
    faces, boxes = _portrait_frames(PORTRAIT_FRAMES * 2)
    frames = faces[:PORTRAIT_FRAMES] + _insert_frames(INSERT_FRAMES) + faces[PORTRAIT_FRAMES:]
    path = tmp_path_factory.mktemp("portrait") / "portrait.mp4"
    videos.write_video(path, frames, fps=FPS, options={"crf": "16"})
    truth = dict(enumerate(boxes[:PORTRAIT_FRAMES]))
    after = PORTRAIT_FRAMES + INSERT_FRAMES
    truth |= {after + i: box for i, box in enumerate(boxes[PORTRAIT_FRAMES:])}
    return Portrait(path, truth, range(PORTRAIT_FRAMES, after))


@pytest.fixture(scope="module")
def analysis(portrait: Portrait) -> thumbsel.Analysis:
    return thumbsel.analyze(portrait.path, progress=False)


def test_every_shot_is_looked_at_and_the_found_face_is_where_it_is(
    portrait: Portrait, analysis: thumbsel.Analysis
) -> None:
    frames = analysis.frames
    sampled = np.flatnonzero(frames.people_sampled)
    assert analysis.people_samples == len(sampled)
    # 9 s: at least MIN_SAMPLES looks, and every shot more than one.
    assert len(sampled) >= MIN_SAMPLES
    for shot in (range(0, 75), portrait.insert, range(150, 225)):
        assert sum(row in shot for row in sampled) >= 3
    faces = frames.column("faces")
    for row in sampled:
        if row in portrait.insert:
            assert faces[row] == 0, row
            continue
        assert faces[row] == 1, row
        x0, y0, x1, y1 = portrait.face[int(row)]
        assert frames.column("face_x")[row] == pytest.approx((x0 + x1) / 2 / WIDTH, abs=0.03)
        assert frames.column("face_y")[row] == pytest.approx((y0 + y1) / 2 / HEIGHT, abs=0.05)
        assert frames.column("face_height")[row] == pytest.approx((y1 - y0) / HEIGHT, rel=0.25)
        assert frames.column("face_eyes")[row] > 0.2  # open
        assert frames.column("eyes_closed")[row] == 0
        assert frames.column("face_cut")[row] == 0
    unsampled = np.setdiff1d(np.arange(len(frames)), sampled)
    for entry in thumbsel.columns.PEOPLE_COLUMNS:
        assert np.isnan(frames.column(entry.name)[unsampled]).all(), entry.name


def test_no_sample_sits_next_to_a_cut(portrait: Portrait, analysis: thumbsel.Analysis) -> None:
    sampled = np.flatnonzero(analysis.frames.people_sampled)
    for cut in (portrait.insert.start, portrait.insert.stop):
        assert not any(cut <= row < cut + SETTLE_FRAMES for row in sampled)


def test_the_soft_close_up_beats_the_crisp_insert(
    portrait: Portrait, analysis: thumbsel.Analysis
) -> None:
    """The issue's feature film: crisp screen graphics set the title's sharpness, and the
    soft-lit leads were rejected as blurry and ranked last."""
    frames = analysis.frames
    sharpness = frames.column("sharpness")
    insert = list(portrait.insert)
    portrait_rows = [row for row in range(len(frames)) if row not in portrait.insert]
    # The premise: the close-up is far below a quarter of the title's median sharpness.
    assert np.median(sharpness[portrait_rows]) < 0.25 * np.median(sharpness[insert])
    shots = thumbsel.detect_shots(frames)
    assert len(shots.shots) == 3
    selection = thumbsel.select(frames, shots, k=3)
    reasons = selection.rejected
    assert all(reasons[row] != "blurry" for row in portrait_rows)
    first = selection.candidates[0]
    assert first.frame in portrait.face
    assert frames.people_sampled[first.frame]
    assert first.signals["face"] > 0.5 and first.signals["eyes_open"] == 1.0
    # The face is what puts the close-up first: without it the insert is offered at
    # a score above the close-up's pixels alone.
    best_insert = next(c for c in selection.candidates if c.frame in portrait.insert)
    # The pixel signals: neither the people's nor the viewers' (interest, unmeasured here).
    pixels = {
        name
        for name in thumbsel.QualityWeights.names()
        if not name.startswith(("face", "eyes")) and name != "interest"
    }
    assert sum(first.signals[n] for n in pixels) < sum(best_insert.signals[n] for n in pixels) * 1.2
    assert first.score > best_insert.score


def test_people_off_leaves_the_columns_null(portrait: Portrait) -> None:
    frames = thumbsel.analyze(portrait.path, progress=False, faces=False).frames
    assert not frames.people_sampled.any()
    assert np.isnan(frames.column("face_height")).all()


def test_sampling_is_deterministic(portrait: Portrait, analysis: thumbsel.Analysis) -> None:
    again = thumbsel.analyze(portrait.path, progress=False, batch_size=7).frames
    for entry in thumbsel.columns.PEOPLE_COLUMNS:
        np.testing.assert_array_equal(
            again.column(entry.name), analysis.frames.column(entry.name), err_msg=entry.name
        )


def test_the_people_columns_survive_parquet(analysis: thumbsel.Analysis, tmp_path: Path) -> None:
    analysis.frames.to_parquet(tmp_path / "frames.parquet")
    back = thumbsel.FrameTable.read_parquet(tmp_path / "frames.parquet")
    np.testing.assert_array_equal(back.column("face_x"), analysis.frames.column("face_x"))


def test_a_long_take_is_sampled_every_interval() -> None:
    """One shot of 60 s at 10 fps: one look per interval, not one per frame."""
    rows, fps = 600, 10.0
    looked: list[int] = []

    def detect(rgb: npt.NDArray[np.uint8]) -> list[thumbsel.people.Face]:
        looked.append(int(rgb[0, 0, 0]))  # the frame's number, painted in its corner
        return []

    with PeopleSampler(interval=2.0, duration=rows / fps, detect=detect) as sampler:
        for start in range(0, rows, 16):
            count = min(16, rows - start)
            y = [np.full((32, 32), (start + i) % 256, np.uint8) for i in range(count)]
            uv = [np.full((16, 16), 128, np.uint8) for _ in range(count)]
            batch = thumbsel.decode.FrameBatch(
                y=y,
                u=uv,
                v=uv,
                index=np.arange(start, start + count),
                time=np.arange(start, start + count) / fps,
            )
            columns = {
                "sharpness": np.full(count, 50.0),
                "motion": np.full(count, 0.01),
                "brightness": np.full(count, 0.5),
                "hash_distance": np.full(count, 2.0),
            }
            sampler.offer(batch, columns)
        result = sampler.finish(rows)
    sampled = np.flatnonzero(~np.isnan(result["faces"]))
    assert len(sampled) == 30  # 60 s / 2 s
    assert np.all(np.diff(sampled) == 20)
    assert (result["faces"][sampled] == 0).all()


@pytest.mark.parametrize("interval", [MIN_INTERVAL / 2, MAX_INTERVAL * 2, float("nan")])
def test_the_interval_is_bounded(interval: float) -> None:
    with pytest.raises(ValueError, match="people interval must be within"):
        PeopleSampler(interval=interval)


@pytest.mark.parametrize("value", ["0.1", "61", "nan", "x"])
def test_the_cli_bounds_the_interval(value: str, portrait: Portrait, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", str(portrait.path), "-o", str(tmp_path / "f.parquet"),
              "--people-interval", value])  # fmt: skip
    assert exit_info.value.code == 2


def test_pick_without_faces(portrait: Portrait, tmp_path: Path) -> None:
    assert main(["pick", str(portrait.path), "-o", str(tmp_path), "-q", "--no-faces"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["people"] == {"sampled_frames": 0, "frames_with_faces": 0}
    document = json.loads((tmp_path / "candidates.json").read_text())
    assert document and all("faces" not in c for c in document)
