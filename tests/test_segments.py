"""A title measured in segments and stitched equals the title measured in one pass.

The long title (``long_title`` in conftest) is cut at keyframes into 3, 4 and 7
segments: one seam falls inside the Chaplin shot, one exactly on the cut to
bikes.mp4, one inside the phone call, where a track of the man's face crosses
it. Every row, measurement, people column, sighting and embedding must be the
same as one pass's, and so must the shots.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import videos
from conftest import LONG_TITLE_CUTS
from thumbsel.analysis import Analysis, analyze
from thumbsel.segments import (
    SegmentMismatch,
    analyze_segment,
    plan_segments,
    segment_count,
    stitch,
)
from thumbsel.shots import detect_shots


@pytest.fixture(scope="module")
def whole(long_title: Path) -> Analysis:
    return analyze(long_title, progress=False)


def stitched(path: Path, segments: int) -> tuple[object, object]:
    plan = plan_segments(path, segments)
    assert plan is not None
    parts = [analyze_segment(plan, part) for part in range(len(plan.spans))]
    return plan, stitch(plan, parts)


def assert_same_tables(a: pa.Table, b: pa.Table) -> None:
    assert a.schema.equals(b.schema)
    for name in a.column_names:
        assert a.column(name).equals(b.column(name)), name


@pytest.mark.parametrize("segments", [3, 4, 7])
def test_a_stitched_title_equals_one_pass(long_title: Path, whole: Analysis, segments: int) -> None:
    plan, result = stitched(long_title, segments)
    seams = [span.first for span in plan.spans[1:]]
    assert len(seams) == segments - 1 and all(seam % 40 == 0 for seam in seams)
    mine = result.analysis
    assert_same_tables(mine.frames.table, whole.frames.table)
    assert mine.decode == whole.decode and mine.frames.complete
    assert mine.frames.source == whole.frames.source
    assert mine.sightings is not None and whole.sightings is not None
    assert_same_tables(mine.sightings, whole.sightings)
    assert (mine.people_samples, mine.people_embedded) == (
        whole.people_samples,
        whole.people_embedded,
    )
    shots = detect_shots(mine.frames).shots
    assert [shot.start_frame for shot in shots[1:]] == list(LONG_TITLE_CUTS)
    assert shots == detect_shots(whole.frames).shots


def test_the_seams_cover_what_is_hard(long_title: Path, whole: Analysis) -> None:
    """The plans above put a seam on a cut, inside a shot, and inside a face's track."""
    starts = {n: [s.first for s in plan_segments(long_title, n).spans[1:]] for n in (3, 4)}
    assert starts[3] == [200, 400] and 400 in LONG_TITLE_CUTS  # a cut on the seam
    assert 0 < 200 < LONG_TITLE_CUTS[0]  # a shot across it
    sightings = whole.sightings
    assert sightings is not None
    track = np.asarray(sightings.column("track"))
    frames = np.asarray(sightings.column("frame"))
    crossing = [
        seam
        for seam in starts[4]
        for t in set(track[track >= 0])
        if frames[track == t].min() < seam <= frames[track == t].max()
    ]
    assert crossing == [280]  # the man's face is one track through the seam


def test_seam_fixes_are_few(long_title: Path) -> None:
    _, result = stitched(long_title, 7)
    # Near a seam a part may sample other frames than one pass: those few are
    # decoded again, each from its keyframe (at most 40 frames before it).
    assert result.detected_again <= 6
    assert result.decoded_again <= 40 * result.detected_again


def test_parts_that_do_not_join_are_refused(long_title: Path) -> None:
    plan = plan_segments(long_title, 3)
    assert plan is not None
    parts = [analyze_segment(plan, part, faces=False) for part in range(3)]
    with pytest.raises(SegmentMismatch, match="not the plan's"):
        stitch(plan, parts[:2], faces=False)
    # The lookahead frame measured differently: as if decoding from the keyframe
    # had given another picture than decoding through it.
    table = parts[1].table
    brightness = table.column("brightness").to_numpy().copy()
    brightness[0] += 0.01
    changed = table.set_column(
        table.schema.get_field_index("brightness"), "brightness", pa.array(brightness)
    )
    broken = [parts[0], dataclasses.replace(parts[1], table=changed), parts[2]]
    with pytest.raises(SegmentMismatch, match="decodes differently"):
        stitch(plan, broken, faces=False)


def test_titles_that_cannot_be_split_are_not(tmp_path: Path, long_title: Path) -> None:
    frames = list(videos.moving_pattern_frames(60, seed=3))
    # A transport stream's clock may restart: its packets do not say which frame is which.
    ts = videos.write_video(tmp_path / "a.ts", frames, fps=25, options={"g": "10"}).path
    assert plan_segments(ts, 3) is None
    # One keyframe only: nowhere to cut.
    single = videos.write_video(tmp_path / "b.mp4", frames, fps=25, options={"g": "600"}).path
    assert plan_segments(single, 3) is None
    assert plan_segments(long_title, 1) is None
    with pytest.raises(ValueError, match="segments"):
        plan_segments(long_title, 0)
    assert [segment_count(n, 9000) for n in (100, 17_999, 18_000, 86_400)] == [1, 1, 2, 9]
