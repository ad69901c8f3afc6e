"""pytest-benchmark suite for the Python surface.

    .venv/bin/python -m pytest benches --benchmark-enable

Disabled in the normal test run (``--benchmark-disable`` in pyproject), where
each benchmark body still runs once as a smoke test.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import thumbsel
from thumbsel.features import FeatureExtractor

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "bigbuckbunny.mp4"


@pytest.fixture(scope="module")
def planes_720p() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    from thumbsel.decode import open_video

    with open_video(SAMPLE) as source:
        batch = next(iter(source.batches(32)))
    return batch.y, batch.u, batch.v


@pytest.fixture(scope="module")
def rgb_720p() -> np.ndarray:
    with av.open(str(SAMPLE)) as container:
        frames = [
            f.to_ndarray(format="rgb24")
            for _, f in zip(range(16), container.decode(video=0), strict=False)
        ]
    return np.stack(frames)


def test_release_build() -> None:
    assert thumbsel.BUILD_PROFILE == "release", "benchmark a release build (make setup)"


@pytest.mark.parametrize("threads", [1, 2])
def test_yuv420_batch_720p(benchmark, planes_720p, threads: int) -> None:  # type: ignore[no-untyped-def]
    y, u, v = planes_720p
    thumbsel.set_threads(threads)
    try:
        result = benchmark(lambda: FeatureExtractor().push_yuv420_planes(y, u, v))
    finally:
        thumbsel.set_threads(None)
    assert result["sharpness"].shape == (len(y),)


def test_rgb_batch_720p(benchmark, rgb_720p) -> None:  # type: ignore[no-untyped-def]
    result = benchmark(thumbsel.frame_features, rgb_720p)
    assert result["phash"].shape == (len(rgb_720p),)


def test_analyze_sample(benchmark) -> None:  # type: ignore[no-untyped-def]
    analysis = benchmark.pedantic(
        thumbsel.analyze, args=(SAMPLE,), kwargs={"progress": False}, rounds=3
    )
    assert len(analysis.frames) == 132
