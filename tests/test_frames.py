"""The frame table: what analyze measures, its Parquet form read back, and the letterbox."""

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
from thumbsel.columns import CORE_COLUMNS, FRAME_COLUMNS

BIKES_FRAMES = 250
BIKES_FPS = 25


@pytest.fixture(scope="module")
def bikes_analysis(bikes: Path) -> thumbsel.Analysis:
    return thumbsel.analyze(bikes, progress=False)


@pytest.fixture(scope="module")
def bikes_frames(bikes_analysis: thumbsel.Analysis) -> thumbsel.FrameTable:
    return bikes_analysis.frames


def hamming(a: int, b: int) -> int:
    return (int(a) ^ int(b)).bit_count()


# --- the frame table ----------------------------------------------------------


def test_bikes_has_one_row_per_frame_at_exact_times(bikes_analysis: thumbsel.Analysis) -> None:
    table = bikes_analysis.frames
    assert len(table) == BIKES_FRAMES
    frames = table.frame_numbers
    np.testing.assert_array_equal(frames, np.arange(BIKES_FRAMES))
    times = table.times
    # A constant 25 fps stream: frame n is presented at n / 25 s.
    np.testing.assert_allclose(times, frames / BIKES_FPS, rtol=0, atol=1e-9)
    assert bikes_analysis.complete
    assert bikes_analysis.decode.frames_decoded == BIKES_FRAMES
    assert (bikes_analysis.video.width, bikes_analysis.video.height) == (640, 272)


def test_frame_table_schema_comes_from_the_registry(bikes_frames: thumbsel.FrameTable) -> None:
    schema = bikes_frames.table.schema
    assert schema.names == [entry.name for entry in FRAME_COLUMNS]
    for entry in FRAME_COLUMNS:
        field = schema.field(entry.name)
        assert field.type == entry.arrow_type, entry.name
        metadata = field.metadata or {}
        assert metadata.get(b"description", b"").decode() == entry.description
        assert entry.description.strip(), f"{entry.name} has no description"
    histogram = schema.field("histogram").type
    assert pa.types.is_fixed_size_list(histogram)
    assert histogram.list_size == 64
    assert histogram.value_type == pa.float32()


def test_only_the_first_frame_lacks_change_signals(bikes_frames: thumbsel.FrameTable) -> None:
    table = bikes_frames.table
    for name in (entry.name for entry in FRAME_COLUMNS if not entry.nullable):
        assert table.column(name).null_count == 0, name
    change = [entry.name for entry in CORE_COLUMNS if entry.nullable]
    assert change == ["cut_score", "histogram_distance", "hash_distance", "motion"]
    for name in change:
        column = table.column(name)
        assert table.schema.field(name).nullable, name
        assert column.null_count == 1, name
        assert column[0].as_py() is None, name
        assert column[1].as_py() is not None, name


def test_frame_values_are_in_their_documented_ranges(bikes_frames: thumbsel.FrameTable) -> None:
    for name in ("brightness", "contrast", "dark_fraction", "bright_fraction", "saturation"):
        values = bikes_frames.column(name)
        assert ((values >= 0) & (values <= 1)).all(), name
    entropy = bikes_frames.column("entropy")
    assert ((entropy >= 0) & (entropy <= 8)).all()
    sums = bikes_frames.histograms().sum(axis=1)
    np.testing.assert_allclose(sums, 1.0, atol=1e-4)
    hash_distance = bikes_frames.column("hash_distance")[1:]
    np.testing.assert_array_equal(hash_distance, np.round(hash_distance))
    assert ((hash_distance >= 0) & (hash_distance <= 64)).all()
    # hash_distance is the pHash Hamming distance to the previous frame.
    phash = [int(h) for h in bikes_frames.hashes("phash")]
    expected = [hamming(a, b) for a, b in itertools.pairwise(phash)]
    np.testing.assert_array_equal(hash_distance, expected)


# --- Parquet -----------------------------------------------------------------


def test_parquet_round_trip_keeps_table_and_metadata(
    bikes_frames: thumbsel.FrameTable, bikes: Path, tmp_path: Path
) -> None:
    target = tmp_path / "frames.parquet"
    bikes_frames.to_parquet(target)
    again = thumbsel.FrameTable.read_parquet(target)

    assert again.table.equals(bikes_frames.table)
    for name in again.table.schema.names:
        original = bikes_frames.table.schema.field(name).metadata
        assert again.table.schema.field(name).metadata == original, name
    assert again.video == bikes_frames.video
    assert again.decode == bikes_frames.decode
    assert again.decode.summary() == bikes_frames.decode.summary()
    assert "250 frames" in again.decode.summary()
    assert again.source == bikes_frames.source
    assert again.source is not None and again.source.path == str(bikes)
    assert again.letterbox == bikes_frames.letterbox
    # Plain pyarrow reads it too, with the metadata as JSON.
    stored = json.loads(pq.read_schema(target).metadata[b"thumbsel"])
    assert (stored["video"]["width"], stored["video"]["height"]) == (640, 272)
    assert stored["video"]["frame_rate"] == pytest.approx(BIKES_FPS)
    assert stored["decode"]["frames_decoded"] == BIKES_FRAMES
    assert stored["source"]["size"] == bikes.stat().st_size
    assert not list(tmp_path.glob("*.part"))


def test_parquet_output_is_deterministic(bikes_frames: thumbsel.FrameTable, tmp_path: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    bikes_frames.to_parquet(first)
    bikes_frames.to_parquet(second)
    assert first.read_bytes() == second.read_bytes()
    # Overwriting an existing file gives the same bytes again.
    bikes_frames.to_parquet(first)
    assert first.read_bytes() == second.read_bytes()


def test_parquet_into_a_file_instead_of_a_directory(
    bikes_frames: thumbsel.FrameTable, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file\n")
    with pytest.raises(thumbsel.OutputError):
        bikes_frames.to_parquet(blocker / "frames.parquet")
    assert blocker.read_text() == "a file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]


def test_failed_parquet_write_keeps_the_previous_file(
    bikes_frames: thumbsel.FrameTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "frames.parquet"
    bikes_frames.to_parquet(target)
    before = target.read_bytes()
    calls: list[Any] = []

    def write_half_then_fail(table: pa.Table, where: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(where)
        Path(where).write_bytes(b"PAR1" + b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", write_half_then_fail)
    with pytest.raises(thumbsel.OutputError):
        bikes_frames.to_parquet(target)

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
    frames = thumbsel.analyze(written.path, progress=False).frames
    assert frames.video.width == CONTENT_WIDTH
    assert frames.video.height == CONTENT_HEIGHT + 2 * BAR
    assert_letterbox(frames.letterbox, BAR, BAR)


def test_pillarbox_bars_of_different_sizes(tmp_path: Path) -> None:
    written = videos.write_video(
        tmp_path / "pillarbox.mp4", with_bars(textured(30), 0, 0, left=24, right=8)
    )
    assert_letterbox(thumbsel.analyze(written.path, progress=False).frames.letterbox, 0, 0, 24, 8)


def test_no_bars_gives_zero(tmp_path: Path) -> None:
    written = videos.write_video(tmp_path / "plain.mp4", textured(30))
    assert thumbsel.analyze(written.path, progress=False).frames.letterbox == thumbsel.Letterbox()


def test_fade_to_black_keeps_the_bars(tmp_path: Path) -> None:
    picture = textured(10, seed=4)
    black = np.zeros_like(picture[0])
    frames = [*picture, *videos.fade_frames(picture[-1], black, 10), *[black] * 15]
    written = videos.write_video(tmp_path / "fade.mp4", with_bars(frames, BAR, BAR))
    frames = thumbsel.analyze(written.path, progress=False).frames
    # The black frames themselves look barred all over.
    assert frames.column("bar_top")[-1] >= frames.video.height // 2
    assert_letterbox(frames.letterbox, BAR, BAR)


def test_mostly_black_title_keeps_the_bars(tmp_path: Path) -> None:
    # Far more black frames than pictures: a percentile over all frames alone
    # would report bars covering everything.
    picture = textured(4, seed=5)
    black = np.zeros_like(picture[0])
    written = videos.write_video(
        tmp_path / "mostly-black.mp4", with_bars([*picture, *[black] * 40], BAR, BAR)
    )
    assert_letterbox(thumbsel.analyze(written.path, progress=False).frames.letterbox, BAR, BAR)


def test_all_black_title_has_no_bars(tmp_path: Path) -> None:
    written = videos.write_video(
        tmp_path / "black.mp4", videos.solid_color_frames((0, 0, 0), 20, width=160, height=96)
    )
    assert thumbsel.analyze(written.path, progress=False).frames.letterbox == thumbsel.Letterbox()


# --- reading a table back, and refusing the wrong one ---------------------------


def rewrite_metadata(source: Path, target: Path, **changes: Any) -> None:
    """Copy a frame table with some of its thumbsel metadata changed."""
    table = pq.read_table(source)
    metadata = dict(table.schema.metadata)
    stored = json.loads(metadata[b"thumbsel"])
    stored.update(changes)
    metadata[b"thumbsel"] = json.dumps(stored).encode()
    pq.write_table(table.replace_schema_metadata(metadata), target)


@pytest.fixture(scope="module")
def saved(bikes_frames: thumbsel.FrameTable, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("saved") / "frames.parquet"
    bikes_frames.to_parquet(target)
    return target


def broken_table(kind: str, folder: Path, saved: Path) -> Path:
    """A file that ``read_parquet`` must refuse, of the given kind."""
    target = folder / f"{kind}.parquet"
    if kind == "missing":
        return target
    if kind == "directory":
        return folder
    if kind == "not-parquet":
        target.write_text("not parquet")
    elif kind == "no-metadata":
        pq.write_table(pa.table({"a": [1]}), target)
    elif kind == "old-format":
        rewrite_metadata(saved, target, format_version=1)
    elif kind == "other-features":
        rewrite_metadata(saved, target, features_version=999, thumbsel_version="9.9.9")
    elif kind == "missing-column":
        pq.write_table(pq.read_table(saved).drop_columns(["sharpness"]), target)
    return target


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("not-parquet", "not a Parquet file"),
        ("no-metadata", "not a thumbsel frame table"),
        ("old-format", "frame table format 1"),
        ("other-features", "measured by thumbsel 9.9.9, whose features"),
        ("missing-column", "missing columns sharpness"),
    ],
)
def test_read_parquet_refuses_with_one_line(
    kind: str, message: str, saved: Path, tmp_path: Path
) -> None:
    with pytest.raises(thumbsel.FrameTableError, match=message) as caught:
        thumbsel.FrameTable.read_parquet(broken_table(kind, tmp_path, saved))
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, thumbsel.ThumbselError)


def test_a_table_is_bound_only_to_the_video_it_was_measured_on(
    saved: Path, bikes: Path, carphone: Path, tmp_path: Path
) -> None:
    frames = thumbsel.FrameTable.read_parquet(saved)
    with pytest.raises(thumbsel.FrameTableError, match="measured on another file") as caught:
        frames.for_video(carphone)
    assert "\n" not in str(caught.value)
    # A copy under another name holds the same bytes: it is the same video.
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(bikes.read_bytes())
    bound = frames.for_video(copy)
    assert bound.path == str(copy)
    assert bound.table.equals(frames.table)
    with pytest.raises(thumbsel.VideoOpenError, match="no such file"):
        frames.for_video(tmp_path / "gone.mp4")


def test_a_pick_table_reads_back_as_the_frame_table(
    bikes_frames: thumbsel.FrameTable, tmp_path: Path
) -> None:
    shots = thumbsel.detect_shots(bikes_frames)
    selection = thumbsel.select(bikes_frames, shots, 3)
    from thumbsel.outputs.tables import write_frames

    write_frames(bikes_frames, shots, selection, tmp_path / "frames.parquet")
    stored = pq.read_table(tmp_path / "frames.parquet")
    assert stored.column_names[-4:] == ["shot", "in_transition", "score", "rejected"]
    assert stored.column("rejected").to_pylist() == list(selection.rejected)
    again = thumbsel.FrameTable.read_parquet(tmp_path / "frames.parquet")
    assert again.table.equals(bikes_frames.table)


def test_arrays_are_read_only(bikes_frames: thumbsel.FrameTable) -> None:
    for array in (
        bikes_frames.column("brightness"),
        bikes_frames.histograms(),
        bikes_frames.hashes("phash"),
        bikes_frames.times,
    ):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


def test_from_columns_checks_what_it_is_given() -> None:
    from tables import VIDEO, make_frames

    data = make_frames(5)
    frames = thumbsel.FrameTable.from_columns(data, video=VIDEO)
    assert len(frames) == 5 and frames.path == ""
    # NaN in a change column is null; NaN elsewhere (no saliency) is a value.
    assert frames.table.column("motion").null_count == 1
    data["saliency_x"][2] = np.nan
    assert np.isnan(thumbsel.FrameTable.from_columns(data, video=VIDEO).column("saliency_x")[2])
    del data["sharpness"]
    with pytest.raises(thumbsel.FrameTableError, match="missing columns: sharpness"):
        thumbsel.FrameTable.from_columns(data, video=VIDEO)
    short = make_frames(5)
    short["entropy"] = short["entropy"][:3]
    with pytest.raises(thumbsel.FrameTableError, match="different lengths"):
        thumbsel.FrameTable.from_columns(short, video=VIDEO)
