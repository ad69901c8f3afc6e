"""Tests of thumbsel.decode on the sample clips and on synthetic videos with known content."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
import thumbsel
import videos
from av.video.reformatter import ColorRange, Colorspace
from conftest import real_clip
from PIL import Image
from thumbsel import decode, errors
from thumbsel.cli import main
from thumbsel.decode import DecodeReport, FrameBatch, VideoSource


@dataclass
class Stacked:
    """A decoding pass's planes stacked into ``(N, H, W)`` arrays, for comparison."""

    y: npt.NDArray[np.uint8]
    u: npt.NDArray[np.uint8]
    v: npt.NDArray[np.uint8]
    index: npt.NDArray[np.int64]
    time: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.index)


BIG_BUCK_BUNNY = "bigbuckbunny.mp4"
BIKES = "bikes.mp4"
CARPHONE = "carphone_pristine.mp4"

Planes = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]


def decode_all(path: Path, *, batch_size: int = 32, threads: int | None = None) -> Stacked:
    """Run the streaming pass and join its batches into one."""
    with decode.open_video(path, threads=threads) as source:
        batches = list(source.batches(batch_size))
    return join(batches)


def join(batches: list[FrameBatch]) -> Stacked:
    return Stacked(
        y=np.stack([plane for batch in batches for plane in batch.y]),
        u=np.stack([plane for batch in batches for plane in batch.u]),
        v=np.stack([plane for batch in batches for plane in batch.v]),
        index=np.concatenate([batch.index for batch in batches]),
        time=np.concatenate([batch.time for batch in batches]),
    )


def pyav_frames(path: Path) -> Iterator[av.VideoFrame]:
    """Frames as plain PyAV decodes them, for reference."""
    with av.open(str(path)) as container:
        yield from container.decode(video=0)


def yuv420p_planes(frame: av.VideoFrame) -> Planes:
    """Split PyAV's stacked yuv420p array (even sizes only) into Y, U, V."""
    height, width = frame.height, frame.width
    flat = np.asarray(frame.to_ndarray(), dtype=np.uint8).ravel()
    luma, chroma = height * width, (height // 2) * (width // 2)
    return (
        flat[:luma].reshape(height, width),
        flat[luma : luma + chroma].reshape(height // 2, width // 2),
        flat[luma + chroma :].reshape(height // 2, width // 2),
    )


def reference_rgb(frame: av.VideoFrame, matrix: Colorspace) -> npt.NDArray[np.uint8]:
    """RGB of a limited-range YUV frame through PyAV alone."""
    picture = frame.to_ndarray(
        format="rgb24",
        src_colorspace=matrix,
        src_color_range=ColorRange.MPEG,
        dst_color_range=ColorRange.JPEG,
    )
    return np.asarray(picture, dtype=np.uint8)


def single_line(message: str, path: Path | str) -> bool:
    return "\n" not in message and str(path) in message


# --- sample clips -----------------------------------------------------------


@pytest.mark.parametrize(
    ("clip", "frame_count", "width", "height", "seconds_per_frame", "matrix"),
    [
        (BIG_BUCK_BUNNY, 132, 1280, 720, Fraction(1, 25), "bt709"),
        (BIKES, 250, 640, 272, Fraction(1, 25), "bt601"),
        (CARPHONE, 120, 176, 144, Fraction(1001, 30000), "bt601"),
    ],
)
def test_sample_clips_decode_completely(
    clip: str,
    frame_count: int,
    width: int,
    height: int,
    seconds_per_frame: Fraction,
    matrix: str,
) -> None:
    with decode.open_video(real_clip(clip)) as source:
        info = source.info
        batches = list(source.batches(32))
        report = source.report

    assert (info.width, info.height, info.rotation) == (width, height, 0)
    assert (info.codec, info.pixel_format, info.full_range) == ("h264", "yuv420p", False)
    assert info.matrix == matrix
    assert info.frame_rate == pytest.approx(float(1 / seconds_per_frame))
    assert info.duration == pytest.approx(float(frame_count * seconds_per_frame))
    assert info.estimated_frames == frame_count
    assert "mp4" in info.container

    assert [len(batch) for batch in batches[:-1]] == [32] * (len(batches) - 1)
    chroma = ((height + 1) // 2, (width + 1) // 2)
    for batch in batches:
        assert len(batch.y) == len(batch.u) == len(batch.v) == len(batch)
        for y, u, v in zip(batch.y, batch.u, batch.v, strict=True):
            assert y.dtype == u.dtype == v.dtype == np.uint8
            assert y.shape == (height, width) and u.shape == v.shape == chroma
            # Views of the decoder's rows: columns adjacent, rows forward.
            assert all(
                plane.strides[1] == 1 and plane.strides[0] >= plane.shape[1] for plane in (y, u, v)
            )
        assert batch.index.dtype == np.int64 and batch.time.dtype == np.float64

    joined = join(batches)
    assert len(joined) == frame_count
    np.testing.assert_array_equal(joined.index, np.arange(frame_count))
    expected_times = [float(index * seconds_per_frame) for index in range(frame_count)]
    np.testing.assert_array_equal(joined.time, expected_times)

    assert report.frames_decoded == frame_count
    assert report.decode_errors == 0
    assert not report.stopped_early
    assert report.lost_fraction == 0.0
    assert report.summary().startswith(f"decoded {frame_count} frames up to")


@pytest.mark.parametrize("clip", [BIKES, CARPHONE])
def test_planes_equal_what_pyav_decodes(clip: str) -> None:
    path = real_clip(clip)
    # carphone is 176 wide, stored with 256-byte rows: the padding must not leak.
    decoded = decode_all(path, batch_size=13)
    checked = 0
    for index, frame in enumerate(pyav_frames(path)):
        if index % 17 and index != len(decoded) - 1:
            continue
        y, u, v = yuv420p_planes(frame)
        np.testing.assert_array_equal(decoded.y[index], y)
        np.testing.assert_array_equal(decoded.u[index], u)
        np.testing.assert_array_equal(decoded.v[index], v)
        checked += 1
    assert checked >= 8


def test_batches_stay_valid_and_last_batch_is_short(carphone: Path) -> None:
    with decode.open_video(carphone, threads=1) as source:
        batches = list(source.batches(batch_size=7))
    assert [len(batch) for batch in batches] == [7] * 17 + [1]
    # A batch the consumer still holds keeps its frames' buffers: decoding
    # on never writes into them.
    first = [plane.copy() for plane in batches[0].y]
    assert not any(np.shares_memory(a, b) for a in batches[0].y for b in batches[1].y)
    for kept, plane in zip(first, batches[0].y, strict=True):
        np.testing.assert_array_equal(kept, plane)
    assert batches[-1].y[0].shape == (144, 176)


def test_threaded_and_single_threaded_decoding_agree(carphone: Path) -> None:
    # The default is three frame threads per core: more frames in flight
    # than FFmpeg's own choice, the same pictures.
    threaded = decode_all(carphone)
    single = decode_all(carphone, threads=1)
    np.testing.assert_array_equal(threaded.y, single.y)
    np.testing.assert_array_equal(threaded.v, single.v)
    np.testing.assert_array_equal(threaded.time, single.time)


def test_a_fast_pass_decodes_the_same_frames_with_any_thread_count(bikes: Path) -> None:
    passes = []
    for threads in (None, 1, decode.MAX_DECODE_THREADS):
        with decode.open_video(bikes, threads=threads) as source:
            index = source.index()
            assert index is not None
            passes.append(join(list(source.batches(16, fast=index))))
    skipped = len(passes[0].index) < index.frames
    assert skipped  # bikes has B-frames the fast pass leaves out
    for other in passes[1:]:
        np.testing.assert_array_equal(passes[0].index, other.index)
        np.testing.assert_array_equal(passes[0].y, other.y)
        np.testing.assert_array_equal(passes[0].u, other.u)


def test_pass_threads_are_three_per_usable_core_up_to_ffmpegs_ceiling() -> None:
    cores = len(os.sched_getaffinity(0))
    assert decode.pass_decode_threads() == min(16, 3 * cores)


@pytest.mark.parametrize("threads", [0, -1, decode.MAX_DECODE_THREADS + 1])
def test_decoder_threads_out_of_bounds_are_refused(carphone: Path, threads: int) -> None:
    with pytest.raises(ValueError, match=r"decoder threads must be within 1\.\.64"):
        decode.open_video(carphone, threads=threads)


def test_metadata_is_text_without_control_characters() -> None:
    from conftest import footage

    # Its MP4 handler name is stored as a Pascal string: a length byte, then the name.
    info = decode.probe(footage("one-by-one.mp4"))
    assert info.stream_title == "Mainconcept Video Media Handler"
    assert info.title is None and info.comment is None


def test_probe_describes_without_decoding_everything(bikes: Path) -> None:
    info = decode.probe(bikes)
    assert (info.width, info.height, info.estimated_frames) == (640, 272, 250)
    assert json.loads(json.dumps(info.to_dict()))["codec"] == "h264"


@pytest.mark.parametrize(
    ("clip", "indices", "matrix"),
    [
        # bikes has B-frames and about 50 frames between keyframes.
        (BIKES, [0, 1, 37, 52, 100, 101, 249], Colorspace.ITU601),
        (CARPHONE, [5, 60, 119], Colorspace.ITU601),
        (BIG_BUCK_BUNNY, [3, 131], Colorspace.ITU709),
    ],
)
def test_read_rgb_by_seeking_matches_sequential_decoding(
    clip: str, indices: list[int], matrix: Colorspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = real_clip(clip)

    def no_fallback(*_: object) -> None:
        raise AssertionError("every frame of an intact file must be found by seeking")

    monkeypatch.setattr(VideoSource, "_read_sequentially", no_fallback)
    with decode.open_video(path) as source:
        times = decode_all(path).time
        pictures = source.read_rgb(indices, [float(times[index]) for index in indices])

    assert sorted(pictures) == sorted(indices)
    wanted = set(indices)
    for index, frame in enumerate(pyav_frames(path)):
        if index in wanted:
            expected = reference_rgb(frame, matrix)
            assert pictures[index].shape == (frame.height, frame.width, 3)
            assert pictures[index].flags.c_contiguous
            np.testing.assert_array_equal(pictures[index], expected)


def test_read_rgb_falls_back_to_sequential_decoding(
    bikes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with decode.open_video(bikes) as source:
        times = decode_all(bikes).time
        seeking = source.read_rgb([10, 200], [float(times[10]), float(times[200])])
        # No frame has this time, so seeking cannot confirm it and the index decides.
        misdated = source.read_rgb([10], [123.0])
        monkeypatch.setattr(decode._SeekRun, "start", classmethod(lambda *_: None))
        sequential = source.read_rgb([200, 10], [float(times[200]), float(times[10])])
    assert set(sequential) == {10, 200}
    np.testing.assert_array_equal(sequential[10], seeking[10])
    np.testing.assert_array_equal(sequential[200], seeking[200])
    np.testing.assert_array_equal(misdated[10], seeking[10])
    assert source.read_rgb([], []) == {}


# --- synthetic videos -------------------------------------------------------


@pytest.mark.parametrize("extension", ["mkv", "mp4"])
def test_variable_frame_rate_times_are_exact(tmp_path: Path, extension: str) -> None:
    milliseconds = [0, 40, 50, 130, 400, 410, 420, 1000, 1033, 1500, 1501, 2750]
    written = videos.write_video(
        tmp_path / f"vfr.{extension}",
        videos.moving_pattern_frames(len(milliseconds)),
        pts=milliseconds,
        time_base=Fraction(1, 1000),
    )
    with decode.open_video(written.path) as source:
        decoded = join(list(source.batches(5)))
        np.testing.assert_array_equal(decoded.time, written.times)
        assert decoded.time[3] == 0.13
        assert source.report.decode_errors == 0 and not source.report.stopped_early
        # The long pauses are real frame timing, not losses.
        assert source.report.lost_fraction == pytest.approx(0.0, abs=0.02)

        pictures = source.read_rgb([4, 8], [written.times[4], written.times[8]])
    expected = list(videos.moving_pattern_frames(len(milliseconds)))
    for index in (4, 8):
        difference = np.abs(pictures[index].astype(int) - expected[index]).mean()
        assert difference < 6


def test_synthetic_shots_decode_with_their_ground_truth(tmp_path: Path) -> None:
    black = np.zeros((videos.DEFAULT_HEIGHT, videos.DEFAULT_WIDTH, 3), np.uint8)
    white = np.full_like(black, 255)
    frames, cuts = videos.concatenate_shots(
        [
            videos.solid_color_frames((0, 0, 0), 10),
            videos.moving_pattern_frames(15, seed=1),
            videos.fade_frames(black, white, 9),
        ]
    )
    written = videos.write_video(tmp_path / "shots.mp4", frames, options={"g": "8"})
    decoded = decode_all(written.path, batch_size=4)

    assert cuts == [10, 25]
    assert len(decoded) == written.frame_count == 34
    np.testing.assert_array_equal(decoded.time, written.times)
    luma = decoded.y.reshape(len(decoded), -1).mean(axis=1)
    assert luma[:10] == pytest.approx(16, abs=1)
    assert abs(luma[10] - luma[9]) > 30
    # The dissolve rises steadily from black (16) to white (235).
    assert luma[25] == pytest.approx(16, abs=1) and luma[33] == pytest.approx(235, abs=1)
    assert np.all(np.diff(luma[25:]) > 20)


@pytest.mark.parametrize(
    ("rotation", "marker_corner"),
    [(90, "top right"), (180, "bottom right"), (270, "bottom left"), (0, "top left")],
)
def test_rotated_video_comes_out_upright(tmp_path: Path, rotation: int, marker_corner: str) -> None:
    # A display matrix written by PyAV, as phones write it: the coded picture has
    # the marker top left, and a player turns it `rotation` degrees clockwise.
    written = videos.write_video(
        tmp_path / "phone.mp4",
        videos.corner_marker_frames(3, width=64, height=32, marker_size=8),
        rotation=rotation,
    )
    with decode.open_video(written.path) as source:
        info = source.info
        batch = next(source.batches())
        picture = source.read_rgb([1], [float(batch.time[1])])[1]

    sideways = rotation in (90, 270)
    assert info.rotation == rotation
    assert (info.width, info.height) == ((32, 64) if sideways else (64, 32))
    assert batch.y[0].shape == (info.height, info.width)
    assert batch.u[0].shape == (info.height // 2, info.width // 2)
    assert picture.shape == (info.height, info.width, 3)

    bright = {
        "top left": batch.y[0][:8, :8],
        "top right": batch.y[0][:8, -8:],
        "bottom left": batch.y[0][-8:, :8],
        "bottom right": batch.y[0][-8:, -8:],
    }
    for corner, block in bright.items():
        if corner == marker_corner:
            assert block.mean() > 200, corner
        else:
            assert block.mean() < 40, corner
    np.testing.assert_array_equal(picture[..., 0] > 128, batch.y[1] > 128)


def test_rotate_to_display_turns_clockwise() -> None:
    coded = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(decode.rotate_to_display(coded, 0), coded)
    np.testing.assert_array_equal(decode.rotate_to_display(coded, 90), [[4, 1], [5, 2], [6, 3]])
    np.testing.assert_array_equal(decode.rotate_to_display(coded, 180), [[6, 5, 4], [3, 2, 1]])
    np.testing.assert_array_equal(decode.rotate_to_display(coded, 270), [[3, 6], [2, 5], [1, 4]])


@pytest.mark.parametrize("rotation", [0, 90])
def test_odd_frame_size_keeps_every_pixel(tmp_path: Path, rotation: int) -> None:
    # 75 x 43 gives 38 x 22 chroma planes and rows padded to 128 / 64 bytes.
    written = videos.write_video(
        tmp_path / "odd.mkv",
        videos.moving_pattern_frames(3, width=75, height=43),
        codec="ffv1",
        pixel_format="yuv420p",
        rotation=rotation,
    )
    decoded = decode_all(written.path)
    display = (75, 43) if rotation else (43, 75)
    assert decoded.y.shape == (3, *display)
    assert decoded.u.shape == decoded.v.shape == (3, (display[0] + 1) // 2, (display[1] + 1) // 2)
    for index, frame in enumerate(pyav_frames(written.path)):
        for plane, ours in zip(frame.planes, (decoded.y, decoded.u, decoded.v), strict=True):
            rows = np.frombuffer(bytes(plane), np.uint8).reshape(plane.height, plane.line_size)
            coded = rows[:, : plane.width]
            np.testing.assert_array_equal(ours[index], np.rot90(coded, k=-rotation // 90))


def test_unfinished_pass_is_released_by_close(bikes: Path) -> None:
    source = decode.open_video(bikes)
    with pytest.raises(ValueError, match="batch_size"):
        source.batches(0)
    running = source.batches(8)
    assert len(next(running)) == 8
    source.close()
    # The pass ended cleanly instead of decoding from a closed file.
    assert list(running) == []
    assert sum(len(batch) for batch in source.batches(100)) == 250


def bt601_yuv(rgb: tuple[int, int, int], *, full_range: bool) -> tuple[float, float, float]:
    """Expected 8-bit Y, U, V of an RGB color under BT.601."""
    red, green, blue = (channel / 255 for channel in rgb)
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    blue_difference = (blue - luma) / 1.772
    red_difference = (red - luma) / 1.402
    if full_range:
        return 255 * luma, 128 + 255 * blue_difference, 128 + 255 * red_difference
    return 16 + 219 * luma, 128 + 224 * blue_difference, 128 + 224 * red_difference


@pytest.mark.parametrize(
    ("codec", "pixel_format", "decoded_format", "full_range"),
    [
        ("libx264", "yuv420p", "yuv420p", False),
        ("libx264", "yuvj420p", "yuvj420p", True),
        ("libx264", "yuv444p", "yuv444p", False),
        ("libx264", "yuv422p", "yuv422p", False),
        ("libx264", "yuv420p10le", "yuv420p10le", False),
        ("libx264rgb", "bgr24", "gbrp", True),
        ("ffv1", "bgr0", "bgr0", True),
        ("mjpeg", "yuvj422p", "yuvj422p", True),
    ],
)
def test_pixel_formats_become_8bit_420_in_the_declared_range(
    tmp_path: Path, codec: str, pixel_format: str, decoded_format: str, full_range: bool
) -> None:
    colors = [(200, 30, 60), (20, 180, 90), (250, 250, 250), (10, 10, 10)]
    frames = [frame for color in colors for frame in videos.solid_color_frames(color, 2)]
    written = videos.write_video(
        tmp_path / f"{pixel_format}.mkv", frames, codec=codec, pixel_format=pixel_format
    )
    with decode.open_video(written.path) as source:
        info = source.info
        decoded = join(list(source.batches(3)))

    assert info.pixel_format == decoded_format
    assert (info.full_range, info.matrix) == (full_range, "bt601")
    assert len(decoded) == 8
    assert decoded.u.shape == (8, 48, 80)
    for number, color in enumerate(colors):
        expected = bt601_yuv(color, full_range=full_range)
        frame = 2 * number
        measured = (decoded.y[frame].mean(), decoded.u[frame].mean(), decoded.v[frame].mean())
        assert measured == pytest.approx(expected, abs=3), color


def test_gray_video_keeps_its_levels(tmp_path: Path) -> None:
    levels = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (16, 1))
    written = videos.write_video(
        tmp_path / "gray.mkv", [levels, levels], codec="ffv1", pixel_format="gray"
    )
    with decode.open_video(written.path) as source:
        decoded = join(list(source.batches()))
        assert (source.info.pixel_format, source.info.full_range) == ("gray", True)
    np.testing.assert_array_equal(decoded.y[0], levels)
    assert set(np.unique(decoded.u)) == {128} and set(np.unique(decoded.v)) == {128}


@pytest.mark.parametrize("pixel_format", ["yuv444p", "yuv422p", "yuv420p10le"])
def test_converted_planes_follow_the_source_planes(tmp_path: Path, pixel_format: str) -> None:
    written = videos.write_video(
        tmp_path / f"pattern_{pixel_format}.mkv",
        videos.moving_pattern_frames(4, seed=3),
        pixel_format=pixel_format,
    )
    decoded = decode_all(written.path)
    bit_depth_scale = 4 if pixel_format == "yuv420p10le" else 1
    for index, frame in enumerate(pyav_frames(written.path)):
        assert frame.format.name == pixel_format
        sample_type = np.uint8 if bit_depth_scale == 1 else np.uint16
        samples = np.frombuffer(memoryview(frame.planes[0]), sample_type)
        source_luma = samples.reshape(frame.height, -1)[:, : frame.width].astype(np.float64)
        # Luma keeps its size, so only the bit depth (with dithering) may change it.
        assert np.abs(decoded.y[index] - source_luma / bit_depth_scale).max() < 1
        # Chroma is resampled exactly as FFmpeg's default conversion does it.
        y, u, v = yuv420p_planes(frame.reformat(format="yuv420p"))
        np.testing.assert_array_equal(decoded.y[index], y)
        np.testing.assert_array_equal(decoded.u[index], u)
        np.testing.assert_array_equal(decoded.v[index], v)


# --- damaged and unusable inputs ---------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.mp4"
    with pytest.raises(errors.VideoOpenError, match="no such file") as raised:
        decode.open_video(path)
    assert single_line(str(raised.value), path)


@pytest.mark.parametrize(
    "content", [b"hello, this is not a video\n" * 40, bytes(range(256)) * 64, b""]
)
def test_file_that_is_not_a_video(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)
    with pytest.raises(errors.VideoOpenError, match="not a video FFmpeg can read") as raised:
        decode.probe(path)
    assert single_line(str(raised.value), path)
    assert isinstance(raised.value, errors.ThumbselError)


def test_directory_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(errors.VideoOpenError):
        decode.open_video(tmp_path)


@pytest.mark.parametrize("extension", ["m4a", "mka"])
def test_audio_only_file(tmp_path: Path, extension: str) -> None:
    path = videos.write_audio_only(tmp_path / f"sound.{extension}")
    with pytest.raises(errors.NoVideoStreamError, match="no video stream") as raised:
        decode.open_video(path)
    assert single_line(str(raised.value), path)
    assert "audio" in str(raised.value)


def test_video_stream_without_frames(tmp_path: Path) -> None:
    path = videos.write_video_without_frames(tmp_path / "empty.avi")
    with decode.open_video(path) as source:
        assert (source.info.width, source.info.height) == (64, 48)
        with pytest.raises(errors.EmptyVideoError, match="no decodable frames") as raised:
            list(source.batches())
    assert single_line(str(raised.value), path)


def test_mp4_cut_before_its_index_cannot_be_opened(tmp_path: Path) -> None:
    # The sample MP4s keep their index (moov) at the end, so a cut loses it.
    path = videos.truncate_file(real_clip(BIG_BUCK_BUNNY), tmp_path / "cut.mp4", 0.6)
    with pytest.raises(errors.VideoOpenError, match="not a video FFmpeg can read"):
        decode.open_video(path)


@pytest.fixture(scope="module")
def big_buck_bunny_mkv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return videos.remux(real_clip(BIG_BUCK_BUNNY), tmp_path_factory.mktemp("remux") / "bunny.mkv")


@pytest.mark.parametrize("extension", ["mkv", "ts"])
def test_truncated_stream_decodes_what_is_there(
    tmp_path: Path, big_buck_bunny_mkv: Path, extension: str
) -> None:
    whole = videos.remux(big_buck_bunny_mkv, tmp_path / f"whole.{extension}")
    cut = videos.truncate_file(whole, tmp_path / f"cut.{extension}", 0.6)
    with decode.open_video(cut) as source:
        decoded = join(list(source.batches()))
        report = source.report

    assert 40 < len(decoded) < 100
    np.testing.assert_array_equal(decoded.index, np.arange(len(decoded)))
    assert report.frames_decoded == len(decoded)
    assert report.last_time == decoded.time[-1]
    if extension == "mkv":
        # Matroska declares the full 5.28 s up front, so the loss is visible.
        assert report.expected_duration == pytest.approx(5.28)
        assert report.stopped_early
        assert report.lost_fraction == pytest.approx(1 - len(decoded) / 132, abs=0.02)
        assert "could not be decoded" in report.summary()
    else:
        # MPEG-TS estimates its duration from the file size, which is cut too.
        assert report.lost_fraction is not None and report.lost_fraction < 0.1


def test_overwritten_middle_of_mp4_is_skipped(tmp_path: Path) -> None:
    damaged = videos.overwrite_with_noise(
        real_clip(BIG_BUCK_BUNNY),
        tmp_path / "damaged.mp4",
        start_fraction=1 / 3,
        length=100_000,
        seed=1,
    )
    with decode.open_video(damaged) as source:
        decoded = join(list(source.batches()))
        report = source.report

    assert 100 < len(decoded) < 132
    assert decoded.time[-1] == pytest.approx(5.24)
    assert report.decode_errors > 0
    assert not report.stopped_early
    lost = report.lost_fraction
    assert lost is not None and lost == pytest.approx(1 - len(decoded) / 132, abs=0.03)
    assert f"({report.decode_errors} decode errors)" in report.summary()

    # Frames after the damage are still reachable by seeking.
    pictures = source.read_rgb([int(decoded.index[-1])], [float(decoded.time[-1])])
    assert pictures[int(decoded.index[-1])].shape == (720, 1280, 3)


def test_overwritten_middle_of_mkv_is_skipped(tmp_path: Path, big_buck_bunny_mkv: Path) -> None:
    damaged = videos.overwrite_with_noise(
        big_buck_bunny_mkv, tmp_path / "damaged.mkv", start_fraction=1 / 3, length=100_000, seed=1
    )
    with decode.open_video(damaged) as source:
        decoded = join(list(source.batches()))
        report = source.report
    assert 10 < len(decoded) < 132
    assert report.decode_errors > 0
    lost = report.lost_fraction
    assert lost is not None and lost == pytest.approx(1 - len(decoded) / 132, abs=0.05)


# --- report arithmetic --------------------------------------------------------


def test_report_summary_of_a_damaged_pass() -> None:
    report = DecodeReport(
        frames_decoded=312,
        decode_errors=3,
        stopped_early=True,
        last_time=12.44,
        expected_duration=20.0,
        frame_duration=0.04,
    )
    assert report.lost_fraction == pytest.approx(0.376)
    assert report.summary() == (
        "decoded 312 frames up to 12.48 s of 20.00 s; "
        "about 38% of the video could not be decoded (3 decode errors)"
    )


def test_report_without_known_duration() -> None:
    report = DecodeReport(frames_decoded=10, last_time=0.36, frame_duration=0.04)
    assert report.lost_fraction is None
    assert report.summary() == "decoded 10 frames up to 0.40 s"
    assert DecodeReport(expected_duration=3.0).lost_fraction == 1.0


def test_errors_form_one_hierarchy() -> None:
    for error in (
        errors.VideoOpenError,
        errors.NoVideoStreamError,
        errors.EmptyVideoError,
        errors.InvalidFrameError,
        errors.OutputError,
    ):
        assert issubclass(error, errors.ThumbselError)
    assert issubclass(errors.InvalidFrameError, ValueError)


def test_missing_frames_count_as_damage_without_decoder_errors() -> None:
    # FFmpeg does not always flag frames lost inside a file (it depends on
    # thread timing): a hole the size of 86 frames must still count.
    report = DecodeReport(expected_duration=10.0, frame_duration=0.04)
    times = [i * 0.04 for i in range(100)] + [(i + 86) * 0.04 for i in range(100, 164)]
    for t in times:
        report.record_frame(t, 0.04)
    report.finish(demuxer_failed=False)
    assert report.decode_errors == 0 and not report.stopped_early
    assert report.frames_short
    assert report.lost_fraction == pytest.approx(0.344, abs=0.01)
    whole = DecodeReport(expected_duration=10.0, frame_duration=0.04)
    for i in range(250):
        whole.record_frame(i * 0.04, 0.04)
    whole.finish(demuxer_failed=False)
    assert not whole.frames_short and whole.lost_fraction == pytest.approx(0.0, abs=1e-9)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12000x12000 H.264 frame of black: a few hundred kB that would decode to 216 MB,
    and take gigabytes in the decoder's buffers."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width = stream.height = 12000
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame(12000, 12000, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


def test_a_decompression_bomb_is_refused_before_decoding(bomb: Path) -> None:
    assert bomb.stat().st_size < 2_000_000
    script = (
        "import sys, thumbsel\n"
        "try:\n"
        "    thumbsel.analyze(sys.argv[1], progress=False)\n"
        "except thumbsel.VideoTooLargeError as error:\n"
        "    print(str(error))\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
        "status = open('/proc/self/status').read()\n"
        "print(next(line.split()[1] for line in status.splitlines() if line.startswith('VmHWM')))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, timeout=120
    )
    message, peak_kib = run.stdout.strip().splitlines()
    assert "12000x12000 frames (144,000,000 pixels) are over the budget of 40,000,000" in message
    assert "--max-pixels" in message
    assert int(peak_kib) < 500 * 1024, peak_kib  # the process, libraries and all


def test_the_pixel_budget_is_an_option(tmp_path: Path) -> None:
    path = videos.write_video(
        tmp_path / "small.mp4", list(videos.solid_color_frames((90, 120, 30), 5)), fps=25
    ).path
    with pytest.raises(thumbsel.VideoTooLargeError, match="over the budget of 1,000 pixels"):
        thumbsel.analyze(path, progress=False, max_pixels=1000)
    assert len(thumbsel.analyze(path, progress=False, max_pixels=10**6).frames) == 5
    for bad in (0, 10**10):
        with pytest.raises(ValueError, match="max_pixels must be within"):
            thumbsel.probe(path, max_pixels=bad)
    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        code = main(
            ["analyze", str(path), "-o", str(tmp_path / "f.parquet"), "--max-pixels", "1000"]
        )
    assert code == 1 and out.getvalue().count("\n") == 1 and "over the budget" in out.getvalue()


@pytest.mark.parametrize(("extension", "codec"), [("mkv", "libx264"), ("webm", "libvpx-vp9")])
def test_intact_variable_rate_matroska_is_not_damaged(
    extension: str, codec: str, tmp_path: Path
) -> None:
    """Issue 11: Matroska states a nominal 25 fps whatever the timing, so frames 40 and
    120 ms apart looked like half the frames lost ("about 53% could not be decoded")."""
    stamps, tick = [], 0
    for index in range(60):
        stamps.append(tick)
        tick += 4 if index % 2 else 12
    written = videos.write_video(
        tmp_path / f"vfr.{extension}",
        list(videos.moving_pattern_frames(60, seed=1)),
        fps=25,
        time_base=Fraction(1, 100),
        pts=stamps,
        codec=codec,
    )
    frames = thumbsel.analyze(written.path, progress=False, faces=False).frames
    assert len(frames) == 60
    assert frames.complete, frames.decode.summary()
    # A cut-off copy still says what was lost.
    cut = videos.truncate_file(written.path, tmp_path / f"cut.{extension}", 0.5)
    damaged = thumbsel.analyze(cut, progress=False, faces=False).frames
    assert not damaged.complete and "could not be decoded" in damaged.decode.summary()


@pytest.mark.parametrize("offset", [4, 36_000], ids=["4 s", "10 h"])
def test_matroska_with_a_start_offset_is_not_damaged(offset: int, tmp_path: Path) -> None:
    """Issue 11: Matroska's DURATION tag is the stream's end time, so a 4 s offset looked
    like 67% lost and a 10-hour one like 100%."""
    stamps = [offset * 25 + index for index in range(50)]
    written = videos.write_video(
        tmp_path / "offset.mkv", list(videos.moving_pattern_frames(50, seed=2)), fps=25, pts=stamps
    )
    frames = thumbsel.analyze(written.path, progress=False, faces=False).frames
    assert frames.complete, frames.decode.summary()
    assert frames.decode.expected_duration == pytest.approx(2.0)
    assert frames.times[0] == 0.0 and frames.times[-1] == pytest.approx(1.96)
    cut = videos.truncate_file(written.path, tmp_path / "cut.mkv", 0.5)
    assert not thumbsel.analyze(cut, progress=False, faces=False).frames.complete


def _pattern_ts(path: Path, seed: int, count: int = 50) -> Path:
    frames = list(videos.moving_pattern_frames(count, seed=seed))
    return videos.write_video(path, frames, fps=25, options={"g": "25", "bf": "2"}).path


def test_transport_streams_joined_with_cat_are_intact(tmp_path: Path) -> None:
    """Issue 11: `cat a.ts b.ts` flags one packet at the join (its frame decodes whole)
    and restarts the clock; that was called damaged, and times went backwards."""
    parts = [_pattern_ts(tmp_path / f"part{seed}.ts", seed) for seed in (1, 2)]
    joined = videos.join_files(parts, tmp_path / "joined.ts")

    frames = thumbsel.analyze(joined, progress=False, faces=False).frames
    assert len(frames) == 100
    assert frames.complete, frames.decode.summary()
    assert frames.decode.time_jumps == 1
    np.testing.assert_allclose(frames.times, np.arange(100) * 0.04, atol=1e-6)

    # The mended times are not the file's own: seeking by them would find the
    # first part's frame at the same stamp, so frames are read back by counting.
    with av.open(str(joined)) as container:
        truth = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    with decode.open_video(joined) as source:
        read = source.read_rgb([10, 60, 99], [frames.times[i] for i in (10, 60, 99)], seek=False)
    for index, picture in read.items():
        np.testing.assert_array_equal(picture, truth[index])

    out = tmp_path / "picks"
    assert main(["pick", str(joined), "-k", "4", "-o", str(out), "--no-faces"]) == 0
    candidates = json.loads((out / "candidates.json").read_text())
    assert {c["shot"] for c in candidates} == {0, 1}, "both parts have usable frames"
    for candidate in candidates:
        with Image.open(out / candidate["image"]) as image:
            still = np.asarray(image.convert("RGB"), dtype=np.int16)
        errors_by_frame = [np.abs(still - picture).mean() for picture in truth]
        assert int(np.argmin(errors_by_frame)) == candidate["frame"]


@pytest.mark.parametrize(("moved", "pid"), [(1, 0x101), (10, 0x1FF0)], ids=["flipped", "foreign"])
def test_a_stray_pid_in_a_transport_stream_loses_only_its_packets(
    moved: int, pid: int, tmp_path: Path
) -> None:
    """Issue 11: a flipped PID bit, or a foreign stream's packets, made a stream
    FFmpeg had not announced, and PyAV's demuxer failed with IndexError at the end."""
    whole = _pattern_ts(tmp_path / "whole.ts", 3, count=100)
    packets = whole.stat().st_size // videos.TS_PACKET
    damaged = videos.move_ts_packets(
        whole, tmp_path / "damaged.ts", first=packets // 2, count=moved, pid=pid
    )
    frames = thumbsel.analyze(damaged, progress=False, faces=False).frames
    # A lost packet may take its frame along, or leave it patched up.
    assert 90 <= len(frames) <= 100
    assert not frames.complete
    if len(frames) < 100:
        summary = frames.decode.summary()
        assert "missing" in summary or "could not be decoded" in summary
    assert np.all(np.diff(frames.times) > 0)

    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        code = main(["analyze", str(damaged), "-o", str(tmp_path / "frames.parquet")])
    assert code == 3
    assert out.getvalue().count("\n") == 1 and "damaged video" in out.getvalue()
    assert (tmp_path / "frames.parquet").is_file()
