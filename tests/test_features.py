"""The Rust feature kernels against the reference tools, on real footage."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import imagehash
import numpy as np
import pytest
import thumbsel
from conftest import BIKES_CUTS
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from thumbsel.features import FeatureExtractor, parallelism_disabled


def decode_rgb(path: Path, limit: int | None = None) -> np.ndarray:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames[:limit])


@pytest.fixture(scope="module")
def bikes_rgb(bikes: Path) -> np.ndarray:
    return decode_rgb(bikes)


@pytest.fixture(scope="module")
def bikes_frames(bikes: Path) -> thumbsel.FrameTable:
    return thumbsel.analyze(bikes, progress=False).frames


def hamming(a: int, b: int) -> int:
    return (int(a) ^ int(b)).bit_count()


def test_sharpness_is_opencv_laplacian_variance(bikes_rgb: np.ndarray) -> None:
    frames = bikes_rgb[::10]
    ours = thumbsel.frame_features(frames)["sharpness"]
    for value, rgb in zip(ours, frames, strict=True):
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        reference = cv2.Laplacian(gray, cv2.CV_64F).var()
        assert value == pytest.approx(reference, rel=1e-6)


def test_sharpness_matches_opencv_on_720p(bunny: Path) -> None:
    frames = decode_rgb(bunny, 12)
    ours = thumbsel.frame_features(frames)["sharpness"]
    reference = [
        cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for f in frames
    ]
    np.testing.assert_allclose(ours, reference, rtol=1e-6)


@pytest.mark.parametrize("clip", ["bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"])
def test_hashes_agree_with_imagehash_on_real_clips(clip: str, bunny: Path) -> None:
    from conftest import real_clip

    path = bunny if clip == "bigbuckbunny.mp4" else real_clip(clip)
    table = thumbsel.analyze(path, progress=False).frames
    frames = decode_rgb(path)
    assert len(table) == len(frames)
    d_close = p_close = 0
    for dh, ph, rgb in zip(table.hashes("dhash"), table.hashes("phash"), frames, strict=True):
        image = Image.fromarray(rgb)
        d_close += hamming(dh, int(str(imagehash.dhash(image)), 16)) <= 4
        p_close += hamming(ph, int(str(imagehash.phash(image)), 16)) <= 4
    assert d_close / len(frames) >= 0.95
    assert p_close / len(frames) >= 0.95


def test_colour_and_exposure_match_numpy_definitions(bikes_rgb: np.ndarray) -> None:
    frames = bikes_rgb[::25]
    ours = thumbsel.frame_features(frames)
    for i, rgb in enumerate(frames):
        x = rgb.astype(np.float64)
        rg = x[..., 0] - x[..., 1]
        yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
        colorfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
        # Measured on the area-averaged analysis grid: fine texture averages out a little.
        assert ours["colorfulness"][i] == pytest.approx(colorfulness, rel=0.05)
        assert ours["histogram"][i].sum() == pytest.approx(1.0, abs=1e-5)
    assert_exposure_of_every_row(frames, ours)


def assert_exposure_of_every_row(frames: np.ndarray, ours: dict[str, np.ndarray]) -> None:
    """The histogram reads 180 rows of the frame (every 4th at 720p); the
    exposure statistics stay within the bounds the Rust docs state
    (``HISTOGRAM_ROWS``) of those of every row."""
    for i, rgb in enumerate(frames):
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
        assert ours["brightness"][i] == pytest.approx(gray.mean() / 255, abs=0.002)
        assert ours["contrast"][i] == pytest.approx(gray.std() / 255, abs=0.002)
        assert ours["dark_fraction"][i] == pytest.approx((gray <= 18).mean(), abs=0.002)
        assert ours["bright_fraction"][i] == pytest.approx((gray >= 240).mean(), abs=0.002)
        counts = np.bincount(gray.astype(int).ravel(), minlength=256) / gray.size
        entropy = -(counts[counts > 0] * np.log2(counts[counts > 0])).sum()
        assert ours["entropy"][i] == pytest.approx(entropy, abs=0.01)


def test_exposure_of_sampled_rows_on_720p_and_on_old_film(bunny: Path) -> None:
    from conftest import footage

    bunny_frames = decode_rgb(bunny)[::4]
    assert bunny_frames.shape[1] == 720
    assert_exposure_of_every_row(bunny_frames, thumbsel.frame_features(bunny_frames))
    chaplin = decode_rgb(footage("chaplin-bw.mp4"))[::6]
    assert_exposure_of_every_row(chaplin, thumbsel.frame_features(chaplin))


def test_cut_score_peaks_at_the_known_cuts(bikes_frames: thumbsel.FrameTable) -> None:
    scores = np.nan_to_num(bikes_frames.column("cut_score"))
    frames = bikes_frames.frame_numbers
    top = set(frames[np.argsort(-scores)[:6]].tolist())
    assert set(BIKES_CUTS) <= top
    hist = np.nan_to_num(bikes_frames.column("histogram_distance"))
    within_shot = np.median(hist[[i for i in range(1, len(hist)) if i not in BIKES_CUTS]])
    assert all(hist[c] > 5 * within_shot for c in BIKES_CUTS)
    assert np.isnan(bikes_frames.column("cut_score")[0])
    assert bikes_frames.table.column("cut_score").null_count == 1


def test_video_path_agrees_with_rgb_path(
    bikes_frames: thumbsel.FrameTable, bikes_rgb: np.ndarray
) -> None:
    rgb = thumbsel.frame_features(bikes_rgb)
    for name, tolerance in [("brightness", 0.02), ("colorfulness", 3.0), ("saturation", 0.03)]:
        np.testing.assert_allclose(bikes_frames.column(name), rgb[name], atol=tolerance)
    ratio = bikes_frames.column("sharpness") / rgb["sharpness"]
    assert 0.8 < np.median(ratio) < 1.25


def test_batches_and_threads_do_not_change_results(bikes_rgb: np.ndarray) -> None:
    frames = np.ascontiguousarray(bikes_rgb[:40])
    whole = thumbsel.frame_features(frames)
    extractor = FeatureExtractor(full_range=True)
    parts = [extractor.push_rgb(frames[i : i + 7]) for i in range(0, len(frames), 7)]
    thumbsel.set_threads(1)
    try:
        serial = thumbsel.frame_features(frames)
    finally:
        thumbsel.set_threads(None)
    for name, values in whole.items():
        joined = np.concatenate([p[name] for p in parts])
        np.testing.assert_array_equal(joined, values, err_msg=name)
        np.testing.assert_array_equal(serial[name], values, err_msg=name)


def test_letterbox_bars_are_measured_per_frame() -> None:
    frame = np.zeros((1, 90, 160, 3), np.uint8)
    frame[0, 12:78, 20:140] = np.random.default_rng(1).integers(40, 220, (66, 120, 3))
    result = thumbsel.frame_features(frame)
    assert (result["bar_top"][0], result["bar_bottom"][0]) == (12, 12)
    assert (result["bar_left"][0], result["bar_right"][0]) == (20, 20)


def test_flat_and_black_frames() -> None:
    frames = np.zeros((2, 32, 48, 3), np.uint8)
    frames[1] = 255
    result = thumbsel.frame_features(frames)
    assert result["brightness"].tolist() == [0.0, 1.0]
    assert result["sharpness"].tolist() == [0.0, 0.0]
    assert result["dark_fraction"][0] == 1.0 and result["bright_fraction"][1] == 1.0
    assert result["entropy"].tolist() == [0.0, 0.0]
    assert result["motion"][1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
        (np.zeros((2, 8, 8, 4), np.uint8), "(N, H, W, 3)"),
        (np.zeros((8, 8), np.uint8), "(N, H, W, 3)"),
        (np.zeros((1, 0, 8, 3), np.uint8), "empty"),
    ],
)
def test_bad_arrays_raise_typed_errors(value: np.ndarray, message: str) -> None:
    with pytest.raises(
        thumbsel.InvalidFrameError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        thumbsel.frame_features(value)


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    count=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_shape_gives_finite_features(height: int, width: int, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)
    result = thumbsel.frame_features(frames)
    for name, values in result.items():
        if name in ("cut_score", "histogram_distance", "hash_distance", "motion"):
            values = values[1:]
        assert np.all(np.isfinite(values.astype(np.float64))), name
    assert np.all(result["brightness"] <= 1.0) and np.all(result["contrast"] <= 0.5 + 1e-9)
    assert np.all(result["bar_top"] <= height) and np.all(result["bar_left"] <= width)


def test_padded_plane_views_score_like_packed_planes(carphone: Path) -> None:
    from thumbsel.decode import open_video

    # 176 pixels wide: FFmpeg pads its rows to 256 bytes.
    with open_video(carphone) as source:
        views = next(iter(source.batches(12)))
    # Views of the decoder's buffers, not copies, with rows padded past the width.
    assert not any(plane.flags["OWNDATA"] for plane in [*views.y, *views.u, *views.v])
    assert any(plane.strides[0] > plane.shape[1] for plane in [*views.y, *views.u, *views.v])
    packed = FeatureExtractor().push_yuv420_planes(
        [np.ascontiguousarray(p) for p in views.y],
        [np.ascontiguousarray(p) for p in views.u],
        [np.ascontiguousarray(p) for p in views.v],
    )
    strided = FeatureExtractor().push_yuv420_planes(views.y, views.u, views.v)
    for name, values in packed.items():
        np.testing.assert_array_equal(strided[name], values, err_msg=name)


def test_plane_lists_are_checked() -> None:
    extractor = FeatureExtractor()
    y = np.zeros((9, 7), np.uint8)
    c = np.zeros((5, 4), np.uint8)
    assert extractor.push_yuv420_planes([y], [c], [c])["brightness"].shape == (1,)
    with pytest.raises(thumbsel.InvalidFrameError, match="one plane per frame"):
        extractor.push_yuv420_planes([y, y], [c], [c])
    with pytest.raises(thumbsel.InvalidFrameError, match="U plane"):
        extractor.push_yuv420_planes([y], [np.zeros((4, 4), np.uint8)], [c])
    with pytest.raises(thumbsel.InvalidFrameError, match="adjacent columns"):
        extractor.push_yuv420_planes([np.zeros((9, 14), np.uint8)[:, ::2]], [c], [c])
    with pytest.raises(thumbsel.InvalidFrameError, match="uint8"):
        extractor.push_yuv420_planes([y.astype(np.float32)], [c], [c])
    with pytest.raises(thumbsel.InvalidFrameError, match="empty"):
        extractor.push_yuv420_planes([np.zeros((0, 7), np.uint8)], [c], [c])
    with pytest.raises(TypeError, match="numpy array"):
        extractor.push_yuv420_planes([[[1]]], [c], [c])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="matrix"):
        FeatureExtractor(matrix="srgb")
    empty = extractor.push_yuv420_planes([], [], [])
    assert empty["sharpness"].shape == (0,)
    assert empty["histogram"].shape == (0, 64)


def test_scoring_works_in_a_forked_child() -> None:
    """A forked child has none of the parent's worker threads; it must not hang."""
    import multiprocessing

    frames = np.random.default_rng(5).integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    expected = thumbsel.frame_features(frames)["sharpness"]  # starts the parent's pool
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        result = pool.apply_async(_sharpness_in_child, (frames,))
        values = result.get(timeout=60)
    np.testing.assert_array_equal(values, expected)


def _sharpness_in_child(frames: np.ndarray) -> np.ndarray:
    # The parent had started its scoring threads, and THUMBSEL_THREADS is not set
    # in the test run: the child scores serially.
    assert parallelism_disabled()
    return thumbsel.frame_features(frames)["sharpness"]


FORK_PROBE = """
import os, sys
import numpy as np
import thumbsel
from thumbsel.features import parallelism_disabled
frames = np.random.default_rng(5).integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
if sys.argv[1] == "used":
    thumbsel.frame_features(frames)
pid = os.fork()
if pid == 0:
    value = thumbsel.frame_features(frames)["sharpness"].sum()
    os.write(1, f"{parallelism_disabled()} {value:.6f}\\n".encode())
    os._exit(0)
os.waitpid(pid, 0)
print("parent", parallelism_disabled())
"""


@pytest.mark.parametrize(
    ("used", "threads", "child_serial"),
    [("used", None, True), ("used", "2", False), ("unused", None, False)],
    ids=["pool-used", "threads-set-by-user", "pool-not-used"],
)
def test_a_forked_child_is_serial_only_when_it_must_be(
    used: str, threads: str | None, child_serial: bool
) -> None:
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "THUMBSEL_THREADS"}
    if threads is not None:
        environment["THUMBSEL_THREADS"] = threads
    done = subprocess.run(
        [sys.executable, "-c", FORK_PROBE, used],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    child, parent = done.stdout.splitlines()
    assert child.split()[0] == str(child_serial)
    assert parent == "parent False"


def _textured_square(frame: np.ndarray, cx: int, cy: int, half: int, seed: int) -> None:
    patch = np.random.default_rng(seed).integers(0, 256, (2 * half, 2 * half, 3), dtype=np.uint8)
    frame[cy - half : cy + half, cx - half : cx + half] = patch


def test_composition_follows_the_subject_and_ignores_bars() -> None:
    height, width = 360, 640
    frames = np.full((3, height, width, 3), 90, np.uint8)
    _textured_square(frames[0], width // 3, height // 3, 40, 1)  # on a third intersection
    _textured_square(frames[1], width // 2, height // 2, 40, 2)  # centred
    # Letterboxed: 60-pixel bars, subject on the upper-left third of the picture inside them.
    frames[2, :60] = 0
    frames[2, -60:] = 0
    _textured_square(frames[2], width // 3, 60 + (height - 120) // 3, 30, 3)
    result = thumbsel.frame_features(frames)
    assert result["thirds"][0] > 0.5 > result["thirds"][1]
    assert abs(result["saliency_x"][1] - 0.5) < 0.05 and abs(result["saliency_y"][1] - 0.5) < 0.05
    assert result["saliency_x"][0] < 0.45 and result["saliency_y"][0] < 0.45
    assert (result["bar_top"][2], result["bar_bottom"][2]) == (60, 60)
    assert result["saliency_y"][2] < 0.45  # measured inside the bars, not of the whole frame
    assert result["symmetry"][1] > result["symmetry"][0]


def test_depth_of_field_is_high_for_a_sharp_subject_on_a_soft_background() -> None:
    import cv2

    rng = np.random.default_rng(4)
    scene = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    soft = cv2.GaussianBlur(scene, (0, 0), 6)
    shallow = soft.copy()
    shallow[120:240, 240:400] = scene[120:240, 240:400]  # only the subject is in focus
    result = thumbsel.frame_features(np.stack([shallow, scene]))
    assert result["depth_of_field"][0] > 0.6
    assert result["depth_of_field"][1] < 0.3
