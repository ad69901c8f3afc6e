"""The timeline's geometry, checked as data (no HTML involved)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pytest
from tables import VIDEO, make_frames, table
from thumbsel import FrameTable
from thumbsel.outputs.timeline import (
    BUCKETS,
    DENSE_BOUNDARIES,
    MARKER_RADIUS,
    MAX_MARKER_ROWS,
    Lane,
    Timeline,
    build_timeline,
    envelope,
)
from thumbsel.select import Candidate
from thumbsel.shots import Shot
from thumbsel.timecode import timecode

FPS = 24.0


def frames_of(
    count: int, columns: dict[str, np.ndarray] | None = None, duration: float | None = None
) -> FrameTable:
    if count == 0:
        empty = {name: values[:0] for name, values in make_frames(1, fps=FPS).items()}
        return table(empty, dataclasses.replace(VIDEO, frame_rate=FPS, duration=duration))
    data = make_frames(count, columns, fps=FPS)
    return table(data, dataclasses.replace(VIDEO, frame_rate=FPS, duration=duration))


def shots_at(
    starts: Sequence[int], count: int, kinds: Sequence[str | None] | None = None
) -> tuple[Shot, ...]:
    ends = [*starts[1:], count]
    kinds = kinds if kinds is not None else [None, *["cut"] * (len(starts) - 1)]
    return tuple(
        Shot(index, start, end, start / FPS, end / FPS, kind)
        for index, (start, end, kind) in enumerate(zip(starts, ends, kinds, strict=True))
    )


def candidate(rank: int, frame: int, shot: int = 0, time: float | None = None) -> Candidate:
    return Candidate(
        rank=rank,
        frame=frame,
        time=frame / FPS if time is None else time,
        score=0.5,
        shot=shot,
        features={},
        signals={},
        reasons=(),
        phash="0" * 16,
    )


def lane(timeline: Timeline, key: str) -> Lane:
    return next(lane for lane in timeline.lanes if lane.key == key)


# --------------------------------------------------------------------------- envelope


def test_envelope_keeps_a_single_frame_spike() -> None:
    count = 172_800  # two hours at 24 fps
    time = np.arange(count) / FPS
    values = np.full(count, 0.5)
    values[54_321] = 7.0
    values[100_000] = -3.0
    reduced = envelope(time, values)
    assert reduced.reduced
    assert len(reduced.time) == len(reduced.high) == len(reduced.low) == BUCKETS
    bucket = count / BUCKETS / FPS  # seconds per bucket
    assert reduced.high.max() == 7.0
    assert abs(reduced.time[np.argmax(reduced.high)] - time[54_321]) <= bucket
    assert reduced.low.min() == -3.0
    assert abs(reduced.time[np.argmin(reduced.low)] - time[100_000]) <= bucket
    assert np.all(np.diff(reduced.time) > 0)
    # The spike does not drag the mean of its bucket far from the trend.
    assert reduced.mean.max() < 0.5 + 7.0 / (count / BUCKETS) + 1e-9


def test_envelope_leaves_short_series_and_marks_gaps() -> None:
    time = np.arange(10.0)
    values = np.arange(10.0) ** 2
    reduced = envelope(time, values)
    assert not reduced.reduced
    np.testing.assert_array_equal(reduced.time, time)
    for series in (reduced.low, reduced.high, reduced.mean):
        np.testing.assert_array_equal(series, values)

    values = np.ones(10_000)
    values[:5000] = np.nan
    values[7000] = np.nan
    reduced = envelope(np.arange(10_000.0), values, buckets=100)
    assert len(reduced.time) == 100
    assert np.isnan(reduced.high[:50]).all() and np.isnan(reduced.mean[:50]).all()
    np.testing.assert_array_equal(reduced.high[50:], 1.0)
    np.testing.assert_array_equal(reduced.mean[50:], 1.0)


def test_envelope_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="time has 3 values but the series has 2"):
        envelope(np.arange(3.0), np.arange(2.0))
    with pytest.raises(ValueError, match="buckets"):
        envelope(np.arange(3.0), np.arange(3.0), buckets=0)


# --------------------------------------------------------------------------- markers


def test_markers_sit_at_their_times_between_their_shots_boundaries() -> None:
    starts = [0, 300, 700, 1200, 1750, 2100]
    frames = frames_of(2400, duration=100.0)
    chosen = [candidate(1, 420, 1), candidate(2, 1500, 3), candidate(3, 2200, 5)]
    timeline = build_timeline(frames, shots_at(starts, 2400), chosen)
    assert (timeline.start, timeline.end) == (0.0, 100.0)
    assert [m.rank for m in timeline.markers] == [1, 2, 3]
    for marker, chosen_one in zip(timeline.markers, chosen, strict=True):
        fraction = chosen_one.time / 100.0
        assert marker.x == pytest.approx(timeline.plot_left + fraction * timeline.plot_width)
        assert marker.anchor == f"candidate-{chosen_one.rank}"
        assert marker.label == str(chosen_one.rank)
        assert timecode(chosen_one.time) in marker.tooltip
    # Far apart: one row, and the markers' lines reach down through every lane.
    assert {m.row for m in timeline.markers} == {0}
    assert all(m.line_top == m.y + MARKER_RADIUS for m in timeline.markers)
    edges = [b.x for b in timeline.boundaries]
    assert edges[0] < timeline.markers[0].x < edges[1]
    assert edges[2] < timeline.markers[1].x < edges[3]
    assert edges[4] < timeline.markers[2].x


def test_close_markers_take_separate_rows() -> None:
    frames = frames_of(2400)
    # Three candidates within a second of a 100 s title are a few units apart.
    close = [candidate(1, 1200), candidate(2, 1206), candidate(3, 1212), candidate(4, 60)]
    timeline = build_timeline(frames, shots_at([0], 2400), close)
    rows = {m.rank: m.row for m in timeline.markers}
    assert rows[4] == 0
    assert sorted(rows[rank] for rank in (1, 2, 3)) == [0, 1, 2]
    for a in timeline.markers:
        for b in timeline.markers:
            if a is not b and a.row == b.row:
                assert abs(a.x - b.x) >= 2 * MARKER_RADIUS
    one_row = build_timeline(frames, shots_at([0], 2400), [candidate(1, 1200)])
    # Each row of discs pushes the lanes down by the same amount.
    assert timeline.lanes_top > one_row.lanes_top
    assert timeline.height - one_row.height == timeline.lanes_top - one_row.lanes_top
    assert all(m.y + MARKER_RADIUS < timeline.strip_top for m in timeline.markers)


def test_marker_rows_are_capped() -> None:
    crowd = [candidate(rank, 1200) for rank in range(1, 9)]
    timeline = build_timeline(frames_of(2400), shots_at([0], 2400), crowd)
    assert len(timeline.markers) == len(crowd)
    assert {m.row for m in timeline.markers} == set(range(MAX_MARKER_ROWS))


def test_a_candidate_without_a_time_gets_no_marker() -> None:
    chosen = [candidate(1, 100), candidate(2, 200, time=math.nan)]
    timeline = build_timeline(frames_of(400), shots_at([0], 400), chosen)
    assert [m.rank for m in timeline.markers] == [1]


# --------------------------------------------------------------------------- lanes


def test_a_spike_of_a_long_title_survives_downsampling() -> None:
    count = 100_000
    cut_score = np.full(count, 2.0)
    cut_score[77_777] = 200.0
    timeline = build_timeline(frames_of(count, {"cut_score": cut_score}), shots_at([0], count), [])
    cuts = lane(timeline, "cut_score")
    assert cuts.band and len(cuts.x) == len(cuts.upper) == len(cuts.lower) == BUCKETS
    # The scale tops out at the spike, so the band reaches near the top once.
    assert cuts.scale_top == 200.0
    assert cuts.scale == "0 \u2013 200"
    peak = int(np.argmin(cuts.upper))
    assert cuts.upper[peak] < cuts.top + 0.2 * cuts.height
    assert sum(y < cuts.bottom - 0.5 * cuts.height for y in cuts.upper) == 1
    assert abs(cuts.x[peak] - timeline.x_of(77_777 / FPS)) <= timeline.plot_width / BUCKETS
    assert "1,000 buckets" in cuts.tooltip
    assert cuts.fill_path.count("M") == 1 and cuts.fill_path.endswith("Z")


def test_a_short_clip_is_drawn_frame_by_frame() -> None:
    brightness = np.linspace(0.0, 1.0, BUCKETS)
    timeline = build_timeline(
        frames_of(BUCKETS, {"brightness": brightness}), shots_at([0], BUCKETS), []
    )
    light = lane(timeline, "brightness")
    assert not light.band and len(light.x) == BUCKETS
    assert light.upper == light.mean
    assert set(light.lower) == {light.bottom}
    # Fixed scale 0..1: the darkest frame sits on the floor, the brightest near the top.
    assert light.mean[0] == light.bottom
    assert light.top < light.mean[-1] < light.top + 0.2 * light.height
    assert light.scale == "0 \u2013 1"
    assert np.all(np.diff(light.x) > 0)


def test_nan_breaks_paths() -> None:
    motion = np.full(400, 0.01)
    motion[100:200] = np.nan
    timeline = build_timeline(frames_of(400, {"motion": motion}), shots_at([0], 400), [])
    moving = lane(timeline, "motion")
    assert all(math.isnan(y) for y in moving.mean[100:200])
    assert not any(math.isnan(y) for y in moving.mean[:100] + moving.mean[200:])
    assert moving.line_path.count("M") == 2
    assert moving.fill_path.count("M") == 2 and moving.fill_path.count("Z") == 2
    assert "nan" not in moving.line_path + moving.fill_path


def test_scales_follow_the_data() -> None:
    rng = np.random.default_rng(3)
    sharpness = rng.uniform(0.0, 380.0, 2000)
    sharpness[5] = 50_000.0  # one wild frame does not set a percentile scale
    cut_score = np.full(2000, 3.0)
    cut_score[100] = 900.0  # beyond the HSV range: capped at 255
    timeline = build_timeline(
        frames_of(2000, {"sharpness": sharpness, "cut_score": cut_score}),
        shots_at([0], 2000),
        [],
    )
    assert lane(timeline, "sharpness").scale_top == 400.0
    assert "1 frame above the scale" in lane(timeline, "sharpness").tooltip
    assert lane(timeline, "cut_score").scale_top == 255.0
    assert lane(timeline, "brightness").scale_top == 1.0
    assert [lane.key for lane in timeline.lanes] == [
        "brightness",
        "sharpness",
        "motion",
        "cut_score",
    ]
    tops = [lane.top for lane in timeline.lanes]
    assert tops == sorted(tops) and tops[0] == timeline.lanes_top
    assert timeline.lanes[-1].bottom == timeline.lanes_bottom


def test_an_unmeasured_lane_says_so() -> None:
    timeline = build_timeline(
        frames_of(50, {"sharpness": np.full(50, np.nan)}), shots_at([0], 50), []
    )
    blank = lane(timeline, "sharpness")
    assert not blank.measured
    assert blank.x == () and blank.line_path == "" and blank.fill_path == ""
    assert blank.tooltip.endswith("not measured")
    assert lane(timeline, "brightness").measured


# --------------------------------------------------------------------------- boundaries


def test_boundaries_are_coloured_by_kind() -> None:
    kinds = [None, "cut", "fade", "dissolve", "wipe"]
    timeline = build_timeline(frames_of(1000), shots_at([0, 200, 400, 600, 800], 1000, kinds), [])
    assert [b.kind for b in timeline.boundaries] == ["cut", "fade", "dissolve", "other"]
    assert [b.shot for b in timeline.boundaries] == [1, 2, 3, 4]
    assert timeline.boundaries[1].tooltip == "Shot 2 begins at 00:00:16.667 (fade)"
    assert not timeline.dense
    assert timeline.boundary_bottom == timeline.lanes_bottom


def test_dense_boundaries_stay_in_the_shots_strip() -> None:
    count = 172_800
    starts = list(range(0, count, 240))
    timeline = build_timeline(frames_of(count), shots_at(starts, count), [])
    assert len(timeline.boundaries) == len(starts) - 1 > DENSE_BOUNDARIES
    assert timeline.dense
    assert timeline.boundary_bottom == timeline.strip_bottom < timeline.lanes_top
    for series in timeline.lanes:
        assert len(series.x) <= BUCKETS


# --------------------------------------------------------------------------- axis


@pytest.mark.parametrize(
    ("count", "labels"),
    [
        (2400, ["0:00", "0:10", "0:20", "0:30", "0:40", "0:50", "1:00", "1:10", "1:20", "1:30"]),
        (12, ["0:00.0", "0:00.1", "0:00.2", "0:00.3", "0:00.4"]),
        (172_800, ["0:00", "15:00", "30:00", "45:00", "1:00:00", "1:15:00", "1:30:00"]),
    ],
)
def test_ticks_are_compact_timecodes(count: int, labels: list[str]) -> None:
    timeline = build_timeline(frames_of(count), shots_at([0], count), [])
    shown = [tick.label for tick in timeline.ticks]
    assert shown[: len(labels)] == labels
    assert shown == [
        timecode(t.seconds, decimals=1 if count == 12 else 0, compact=True) for t in timeline.ticks
    ]
    assert all(timeline.plot_left <= t.x <= timeline.plot_right for t in timeline.ticks)
    assert np.all(np.diff([t.x for t in timeline.ticks]) > 0)
    assert timeline.ticks[-1].seconds <= timeline.end


def test_tick_labels_stay_inside_the_drawing() -> None:
    # A label is centred on its tick unless that would cut it off at the right edge.
    hours = build_timeline(frames_of(172_800), shots_at([0], 172_800), [])
    assert hours.ticks[-1].label == "2:00:00" and hours.ticks[-1].x == hours.plot_right
    assert hours.ticks[-1].anchor == "end"
    assert {tick.anchor for tick in hours.ticks[:-1]} == {"middle"}
    minutes = build_timeline(frames_of(2400, duration=100.0), shots_at([0], 2400), [])
    assert minutes.ticks[-1].label == "1:40" and minutes.ticks[-1].x == minutes.plot_right
    assert {tick.anchor for tick in minutes.ticks} == {"middle"}


def test_an_empty_pick_still_has_a_timeline() -> None:
    timeline = build_timeline(frames_of(0), (), [])
    assert (timeline.start, timeline.end) == (0.0, 1.0)
    assert not any(lane.measured for lane in timeline.lanes)
    assert timeline.markers == () and timeline.boundaries == ()
    assert timeline.shots_tooltip.startswith("0 shots")
    assert timeline.height > timeline.lanes_bottom
