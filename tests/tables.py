"""Frame tables built by hand, for testing shots and selection without decoding.

``make_frames`` gives every frame the measurements of an ordinary, steady,
well-exposed picture; a test then changes the columns it is about. Shots are
made by :func:`with_shots`: each shot gets its own pHash and colour histogram,
and the change signals at its first frame are those of a hard cut.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from thumbsel import FrameTable, VideoInfo
from thumbsel.columns import FRAME_COLUMNS, HISTOGRAM_BINS, PEOPLE_COLUMNS

VIDEO = VideoInfo(
    container="mov,mp4,m4a,3gp,3g2,mj2",
    codec="h264",
    width=640,
    height=360,
    pixel_format="yuv420p",
    full_range=False,
    matrix="bt709",
    rotation=0,
    frame_rate=25.0,
    duration=None,
    estimated_frames=None,
)

_STEADY: dict[str, float] = {
    "brightness": 0.45,
    "contrast": 0.2,
    "dark_fraction": 0.02,
    "bright_fraction": 0.01,
    "entropy": 7.0,
    "sharpness": 400.0,
    "gradient_energy": 0.1,
    "edge_density": 0.2,
    "colorfulness": 30.0,
    "saturation": 0.3,
    "mean_red": 0.45,
    "mean_green": 0.45,
    "mean_blue": 0.45,
    "saliency_x": 0.5,
    "saliency_y": 0.5,
    "saliency_spread": 0.2,
    "thirds": 0.3,
    "symmetry": 0.5,
    "depth_of_field": 0.2,
    "cut_score": 2.0,
    "histogram_distance": 0.02,
    "hash_distance": 2.0,
    "motion": 0.01,
}


def make_frames(
    count: int, columns: Mapping[str, npt.ArrayLike] | None = None, *, fps: float = 25.0
) -> dict[str, npt.NDArray[Any]]:
    """Columns of ``count`` steady frames (a single shot), with ``columns`` replacing some."""
    data: dict[str, npt.NDArray[Any]] = {
        "frame": np.arange(count, dtype=np.int64),
        "time": np.arange(count, dtype=np.float64) / fps,
        "interpolated": np.zeros(count, bool),
        "dhash": np.full(count, 0x0F0F0F0F0F0F0F0F, np.uint64),
        "phash": np.full(count, 0x123456789ABCDEF0, np.uint64),
        "histogram": np.tile(_histogram(0), (count, 1)),
    }
    for side in ("top", "bottom", "left", "right"):
        data[f"bar_{side}"] = np.zeros(count, np.int32)
    for name, value in _STEADY.items():
        data[name] = np.full(count, value, np.float64)
    for name in ("cut_score", "histogram_distance", "hash_distance", "motion"):
        data[name][0] = np.nan
    for entry in PEOPLE_COLUMNS:
        data[entry.name] = np.full(count, np.nan)  # not sampled
    for name, values in (columns or {}).items():
        data[name] = np.broadcast_to(np.asarray(values), (count, *data[name].shape[1:])).copy()
    assert set(data) == {entry.name for entry in FRAME_COLUMNS}
    return data


def with_shots(data: dict[str, npt.NDArray[Any]], starts: Sequence[int]) -> None:
    """Turn ``data`` into shots beginning at ``starts`` (after frame 0), joined by hard cuts."""
    edges = [0, *starts, len(data["frame"])]
    rng = np.random.default_rng(7)
    for index, (begin, end) in enumerate(itertools.pairwise(edges)):
        data["phash"][begin:end] = np.uint64(rng.integers(0, 2**63, dtype=np.int64))
        data["histogram"][begin:end] = _histogram(index)
        if begin:
            data["cut_score"][begin] = 60.0
            data["histogram_distance"][begin] = 0.9
            data["hash_distance"][begin] = 32.0
            data["motion"][begin] = 0.2


def table(data: Mapping[str, npt.ArrayLike], video: VideoInfo = VIDEO) -> FrameTable:
    return FrameTable.from_columns(data, video=video)


def _histogram(index: int) -> npt.NDArray[np.float32]:
    """A histogram with its mass on four bins that differ from shot to shot."""
    histogram = np.zeros(HISTOGRAM_BINS, np.float32)
    histogram[[(index * 4 + j) % HISTOGRAM_BINS for j in range(4)]] = 0.25
    return histogram
