"""thumbsel.analyze, the frame table, its Parquet form, the letterbox estimate and pick()."""

from __future__ import annotations

import errno
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import thumbsel
import videos
from thumbsel import select

# The per-frame columns as README.md documents them ("Per-frame features").
DOCUMENTED_FRAME_COLUMNS = (
    "brightness",
    "contrast",
    "dark_fraction",
    "bright_fraction",
    "entropy",
    "sharpness",
    "gradient_energy",
    "edge_density",
    "colorfulness",
    "saturation",
    "dhash",
    "phash",
    "histogram",
    "bar_top",
    "bar_bottom",
    "bar_left",
    "bar_right",
)
CHANGE_COLUMNS = ("cut_score", "histogram_distance", "hash_distance", "motion")
INTEGER_TYPES = {
    "dhash": pa.uint64(),
    "phash": pa.uint64(),
    "bar_top": pa.int32(),
    "bar_bottom": pa.int32(),
    "bar_left": pa.int32(),
    "bar_right": pa.int32(),
}
BIKES_FRAMES = 250
BIKES_FPS = 25


@pytest.fixture(scope="module")
def bikes_analysis(bikes: Path) -> thumbsel.Analysis:
    return thumbsel.analyze(bikes, progress=False)


def hamming(a: int, b: int) -> int:
    return (int(a) ^ int(b)).bit_count()


# --- the frame table ----------------------------------------------------------


def test_bikes_has_one_row_per_frame_at_exact_times(bikes_analysis: thumbsel.Analysis) -> None:
    table = bikes_analysis.frames
    assert table.num_rows == BIKES_FRAMES
    frames = np.asarray(table.column("frame").to_numpy())
    np.testing.assert_array_equal(frames, np.arange(BIKES_FRAMES))
    times = np.asarray(table.column("time").to_numpy())
    # A constant 25 fps stream: frame n is presented at n / 25 s.
    np.testing.assert_allclose(times, frames / BIKES_FPS, rtol=0, atol=1e-9)
    assert bikes_analysis.complete
    assert bikes_analysis.decode.frames_decoded == BIKES_FRAMES
    assert (bikes_analysis.video.width, bikes_analysis.video.height) == (640, 272)


def test_frame_table_schema(bikes_analysis: thumbsel.Analysis) -> None:
    schema = bikes_analysis.frames.schema
    expected = {"frame", "time", *DOCUMENTED_FRAME_COLUMNS, *CHANGE_COLUMNS}
    assert expected <= set(schema.names)
    assert len(schema.names) == len(set(schema.names))

    assert schema.field("frame").type == pa.int64()
    assert schema.field("time").type == pa.float64()
    for name, data_type in INTEGER_TYPES.items():
        assert schema.field(name).type == data_type, name
    histogram = schema.field("histogram").type
    assert pa.types.is_fixed_size_list(histogram)
    assert histogram.list_size == 64
    assert histogram.value_type == pa.float32()
    for name in set(DOCUMENTED_FRAME_COLUMNS) - set(INTEGER_TYPES) - {"histogram"}:
        assert schema.field(name).type == pa.float64(), name

    for name in schema.names:
        metadata = schema.field(name).metadata or {}
        description = metadata.get(b"description", b"").decode()
        assert description.strip(), f"{name} has no description"


def test_only_the_first_frame_lacks_change_signals(bikes_analysis: thumbsel.Analysis) -> None:
    table = bikes_analysis.frames
    for name in ("frame", "time", *DOCUMENTED_FRAME_COLUMNS):
        assert table.column(name).null_count == 0, name
    for name in CHANGE_COLUMNS:
        column = table.column(name)
        assert table.schema.field(name).nullable, name
        assert column.null_count == 1, name
        assert column[0].as_py() is None, name
        assert column[1].as_py() is not None, name


def test_frame_values_are_in_their_documented_ranges(bikes_analysis: thumbsel.Analysis) -> None:
    table = bikes_analysis.frames
    for name in ("brightness", "contrast", "dark_fraction", "bright_fraction", "saturation"):
        values = bikes_analysis.column(name)
        assert ((values >= 0) & (values <= 1)).all(), name
    entropy = bikes_analysis.column("entropy")
    assert ((entropy >= 0) & (entropy <= 8)).all()
    histogram = np.asarray(table.column("histogram").combine_chunks().flatten().to_numpy())
    sums = histogram.reshape(BIKES_FRAMES, 64).sum(axis=1)
    np.testing.assert_allclose(sums, 1.0, atol=1e-4)
    hash_distance = bikes_analysis.column("hash_distance")[1:]
    np.testing.assert_array_equal(hash_distance, np.round(hash_distance))
    assert ((hash_distance >= 0) & (hash_distance <= 64)).all()
    # hash_distance is the pHash Hamming distance to the previous frame.
    phash = [int(h) for h in bikes_analysis.column("phash")]
    expected = [hamming(a, b) for a, b in itertools.pairwise(phash)]
    np.testing.assert_array_equal(hash_distance, expected)


# --- Parquet -----------------------------------------------------------------


def test_parquet_round_trip_keeps_table_and_metadata(
    bikes_analysis: thumbsel.Analysis, tmp_path: Path
) -> None:
    target = tmp_path / "frames.parquet"
    bikes_analysis.to_parquet(target)
    table = pq.read_table(target)

    assert table.equals(bikes_analysis.frames)
    assert table.schema.equals(bikes_analysis.frames.schema, check_metadata=False)
    for name in table.schema.names:
        original = bikes_analysis.frames.schema.field(name).metadata
        assert table.schema.field(name).metadata == original, name

    stored = json.loads(table.schema.metadata[b"thumbsel"])
    video = stored["video"]
    assert (video["width"], video["height"]) == (640, 272)
    assert video["frame_rate"] == pytest.approx(BIKES_FPS)
    decode = stored["decode"]
    assert decode["frames_decoded"] == BIKES_FRAMES
    assert decode["summary"] == bikes_analysis.decode.summary()
    assert "250 frames" in decode["summary"]
    assert not list(tmp_path.glob("*.part"))


def test_parquet_output_is_deterministic(bikes_analysis: thumbsel.Analysis, tmp_path: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    bikes_analysis.to_parquet(first)
    bikes_analysis.to_parquet(second)
    assert first.read_bytes() == second.read_bytes()
    # Overwriting an existing file gives the same bytes again.
    bikes_analysis.to_parquet(first)
    assert first.read_bytes() == second.read_bytes()


def test_parquet_into_a_file_instead_of_a_directory(
    bikes_analysis: thumbsel.Analysis, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file\n")
    with pytest.raises(thumbsel.OutputError):
        bikes_analysis.to_parquet(blocker / "frames.parquet")
    assert blocker.read_text() == "a file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]


def test_failed_parquet_write_keeps_the_previous_file(
    bikes_analysis: thumbsel.Analysis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "frames.parquet"
    bikes_analysis.to_parquet(target)
    before = target.read_bytes()
    calls: list[Any] = []

    def write_half_then_fail(table: pa.Table, where: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(where)
        Path(where).write_bytes(b"PAR1" + b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", write_half_then_fail)
    with pytest.raises(thumbsel.OutputError):
        bikes_analysis.to_parquet(target)

    assert len(calls) == 1
    assert Path(calls[0]) != target  # written under a temporary name
    assert target.read_bytes() == before
    monkeypatch.undo()
    assert pq.read_table(target).num_rows == BIKES_FRAMES
    assert [p.name for p in tmp_path.iterdir()] == ["frames.parquet"]


# --- letterbox ------------------------------------------------------------------

CONTENT_WIDTH, CONTENT_HEIGHT = 160, 120
BAR = 16


def with_bars(
    frames: Iterable[np.ndarray], top: int, bottom: int, left: int = 0, right: int = 0
) -> Iterator[np.ndarray]:
    """Put each frame inside black bars."""
    for frame in frames:
        height, width = frame.shape[:2]
        barred = np.zeros((top + height + bottom, left + width + right, 3), np.uint8)
        barred[top : top + height, left : left + width] = frame
        yield barred


def textured(count: int, seed: int = 3) -> list[np.ndarray]:
    return list(
        videos.moving_pattern_frames(count, width=CONTENT_WIDTH, height=CONTENT_HEIGHT, seed=seed)
    )


def assert_letterbox(
    letterbox: thumbsel.Letterbox, top: int, bottom: int, left: int = 0, right: int = 0
) -> None:
    # Compression blurs the edge between bar and picture by a pixel or two.
    found = (letterbox.top, letterbox.bottom, letterbox.left, letterbox.right)
    for value, expected in zip(found, (top, bottom, left, right), strict=True):
        assert abs(value - expected) <= 2, (found, (top, bottom, left, right))


def test_letterbox_bars_are_found(tmp_path: Path) -> None:
    written = videos.write_video(tmp_path / "letterbox.mp4", with_bars(textured(30), BAR, BAR))
    analysis = thumbsel.analyze(written.path, progress=False)
    assert analysis.video.width == CONTENT_WIDTH
    assert analysis.video.height == CONTENT_HEIGHT + 2 * BAR
    assert_letterbox(analysis.letterbox, BAR, BAR)


def test_pillarbox_bars_of_different_sizes(tmp_path: Path) -> None:
    written = videos.write_video(
        tmp_path / "pillarbox.mp4", with_bars(textured(30), 0, 0, left=24, right=8)
    )
    assert_letterbox(thumbsel.analyze(written.path, progress=False).letterbox, 0, 0, 24, 8)


def test_no_bars_gives_zero(tmp_path: Path) -> None:
    written = videos.write_video(tmp_path / "plain.mp4", textured(30))
    assert thumbsel.analyze(written.path, progress=False).letterbox == thumbsel.Letterbox()


def test_fade_to_black_keeps_the_bars(tmp_path: Path) -> None:
    picture = textured(10, seed=4)
    black = np.zeros_like(picture[0])
    frames = [*picture, *videos.fade_frames(picture[-1], black, 10), *[black] * 15]
    written = videos.write_video(tmp_path / "fade.mp4", with_bars(frames, BAR, BAR))
    analysis = thumbsel.analyze(written.path, progress=False)
    # The black frames themselves look barred all over.
    assert analysis.column("bar_top")[-1] >= analysis.video.height // 2
    assert_letterbox(analysis.letterbox, BAR, BAR)


def test_mostly_black_title_keeps_the_bars(tmp_path: Path) -> None:
    # Far more black frames than pictures: a percentile over all frames alone
    # would report bars covering everything.
    picture = textured(4, seed=5)
    black = np.zeros_like(picture[0])
    written = videos.write_video(
        tmp_path / "mostly-black.mp4", with_bars([*picture, *[black] * 40], BAR, BAR)
    )
    assert_letterbox(thumbsel.analyze(written.path, progress=False).letterbox, BAR, BAR)


def test_all_black_title_has_no_bars(tmp_path: Path) -> None:
    written = videos.write_video(
        tmp_path / "black.mp4", videos.solid_color_frames((0, 0, 0), 20, width=160, height=96)
    )
    assert thumbsel.analyze(written.path, progress=False).letterbox == thumbsel.Letterbox()


# --- pick ------------------------------------------------------------------------


def test_pick_on_bikes(bikes_analysis: thumbsel.Analysis) -> None:
    candidates = thumbsel.pick(bikes_analysis, 5)
    assert 1 <= len(candidates) <= 5
    assert [c.rank for c in candidates] == list(range(1, len(candidates) + 1))
    scores = [c.score for c in candidates]
    # Later ranks trade score for variety (MMR), but the first is the best.
    assert scores[0] == max(scores)

    frames = bikes_analysis.column("frame")
    times = bikes_analysis.column("time")
    phash = bikes_analysis.column("phash")
    reasons = select.rejection_reasons(bikes_analysis)
    assert len({c.frame for c in candidates}) == len(candidates)
    for candidate in candidates:
        row = int(np.flatnonzero(frames == candidate.frame)[0])
        assert reasons[row] is None, (candidate.frame, reasons[row])
        assert candidate.time == times[row]
        assert candidate.phash == thumbsel.hash_hex(phash[row])
    # bikes has six shots; five candidates come from five of them.
    assert len({c.shot for c in candidates}) == len(candidates)
    for i, a in enumerate(candidates):
        for b in candidates[i + 1 :]:
            distance = hamming(int(a.phash, 16), int(b.phash, 16))
            assert distance > select.SelectionOptions().duplicate_hash_bits, (a.frame, b.frame)

    again = thumbsel.pick(bikes_analysis, 5)
    assert [c.to_dict() for c in again] == [c.to_dict() for c in candidates]


def test_pick_rejects_k_below_one(bikes_analysis: thumbsel.Analysis) -> None:
    with pytest.raises(ValueError):
        thumbsel.pick(bikes_analysis, 0)


def test_pick_never_offers_black_frames(tmp_path: Path) -> None:
    # A still picture can give only one candidate; asking for more must not
    # fill the list with the black frames, which look nothing like it.
    black_frames = 20
    still = next(videos.moving_pattern_frames(1, seed=6))
    frames = [*videos.solid_color_frames((0, 0, 0), black_frames), *[still] * 20]
    written = videos.write_video(tmp_path / "black-then-picture.mp4", frames, fps=10)
    analysis = thumbsel.analyze(written.path, progress=False)

    reasons = select.rejection_reasons(analysis)
    assert all(reason is not None for reason in reasons[:black_frames])
    candidates = thumbsel.pick(analysis, 5)
    assert candidates, "the textured segment offers at least one frame"
    assert all(c.frame >= black_frames for c in candidates), [c.frame for c in candidates]
