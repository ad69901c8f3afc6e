"""The report's timeline as geometry: lanes, a time axis, shot boundaries and candidate markers.

:func:`build_timeline` turns a pick into plain numbers and strings in SVG user
units (:class:`Timeline`); the report's template only writes them out, so
everything a reader sees on the timeline can be checked here as data.

Long titles stay small: each lane is reduced to at most :data:`BUCKETS`
buckets of frames, drawn as a min/max band plus the mean (:func:`envelope`),
so a single-frame spike is still drawn however long the title. With more than
:data:`DENSE_BOUNDARIES` shot boundaries their lines stay in the shots strip,
or the lanes would turn into a barcode. Candidate markers that would cover
each other go to separate rows, up to :data:`MAX_MARKER_ROWS`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from thumbsel.frames import FrameTable
from thumbsel.select import Candidate
from thumbsel.shots import Shot
from thumbsel.text import plural
from thumbsel.timecode import UNKNOWN, timecode

__all__ = [
    "BUCKETS",
    "DENSE_BOUNDARIES",
    "MARKER_RADIUS",
    "MAX_MARKER_ROWS",
    "TRANSITIONS",
    "Boundary",
    "Envelope",
    "Lane",
    "Marker",
    "Tick",
    "Timeline",
    "build_timeline",
    "coordinate",
    "envelope",
    "significant",
]

FloatArray = npt.NDArray[np.float64]

BUCKETS = 1000
"""Lanes reduce longer series to this many buckets (about one per pixel of the plot).

A reduced lane holds two band points and one mean point per bucket, so never
more than 3000 points however long the title."""

DENSE_BOUNDARIES = 120
"""With more shot boundaries than this, their lines stay in the shots strip."""

MARKER_RADIUS = 10
"""Radius of a candidate's numbered disc, in SVG units."""

MAX_MARKER_ROWS = 3
"""Markers never take more rows than this; beyond it the least crowded row is shared."""

TRANSITIONS = ("cut", "fade", "dissolve")
"""Boundary kinds with a colour of their own; anything else is drawn as ``other``."""

_WIDTH = 1200
_PLOT_LEFT = 136.0
_PLOT_RIGHT = _WIDTH - 20.0
_LABEL_GAP = 14.0
_LANE_HEIGHT = 62.0
_LANE_GAP = 10.0
# The highest value sits this far below a lane's top edge, so a spike stays visible.
_LANE_HEADROOM = 6.0
_MARKER_ROW = 2 * MARKER_RADIUS + 4.0
_MARKER_SPACING = 2 * MARKER_RADIUS + 2.0
_AXIS_HEIGHT = 30.0
_SHOT_STRIP = 18.0
# About the width of one character of a tick label (11.5 px tabular digits), to
# tell whether a centred label still fits inside the drawing.
_TICK_CHARACTER = 7.0


# --------------------------------------------------------------------------- numbers


def coordinate(value: float) -> str:
    """An SVG coordinate to a tenth of a unit, without a trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def significant(value: float | None) -> str:
    """Four significant digits (whole numbers as they are); a dash when unknown."""
    if value is None or not math.isfinite(value):
        return UNKNOWN
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


# --------------------------------------------------------------------------- downsampling


@dataclass(frozen=True)
class Envelope:
    """A series reduced to buckets of consecutive frames (see :func:`envelope`)."""

    time: FloatArray
    """Middle of each bucket (the frame's own time when nothing was reduced)."""
    low: FloatArray
    """Smallest finite value in each bucket (NaN when it has none)."""
    high: FloatArray
    """Largest finite value in each bucket (NaN when it has none)."""
    mean: FloatArray
    """Mean of the finite values in each bucket (NaN when it has none)."""
    reduced: bool
    """False when the series was short enough to keep every frame."""


def envelope(time: npt.ArrayLike, values: npt.ArrayLike, buckets: int = BUCKETS) -> Envelope:
    """``values`` over ``time`` reduced to at most ``buckets`` buckets of consecutive frames.

    A series of at most ``buckets`` frames is kept as it is (``low``, ``high``
    and ``mean`` are the values). A longer one is cut into ``buckets`` runs
    of frames of nearly equal length; each keeps its minimum and maximum, so a
    single-frame spike survives however long the title, and its mean, which
    shows the trend of a noisy signal.
    """
    t = np.asarray(time, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if len(t) != len(v):
        raise ValueError(f"time has {len(t)} values but the series has {len(v)}")
    if buckets < 1:
        raise ValueError(f"buckets must be positive, got {buckets}")
    count = len(v)
    if count <= buckets:
        return Envelope(t.copy(), v.copy(), v.copy(), v.copy(), reduced=False)
    edges = np.linspace(0, count, buckets + 1).round().astype(np.int64)
    starts, sizes = edges[:-1], np.diff(edges)
    # One row per bucket, padded with NaN to the longest bucket, so every
    # reduction is a single vectorised pass even for hours of frames.
    width = int(sizes.max())
    columns = np.arange(width)[None, :]
    index = np.minimum(starts[:, None] + columns, count - 1)
    chunk = np.where(columns < sizes[:, None], v[index], np.nan)
    finite = np.isfinite(chunk)
    present = finite.any(axis=1)
    safe = np.where(finite, chunk, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = safe.sum(axis=1) / finite.sum(axis=1)
    low = np.where(present, np.where(finite, chunk, np.inf).min(axis=1), np.nan)
    high = np.where(present, np.where(finite, chunk, -np.inf).max(axis=1), np.nan)
    middle = (t[starts] + t[starts + sizes - 1]) / 2
    return Envelope(
        np.asarray(middle, dtype=np.float64),
        np.asarray(low, dtype=np.float64),
        np.asarray(high, dtype=np.float64),
        np.asarray(np.where(present, mean, np.nan), dtype=np.float64),
        reduced=True,
    )


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Lane:
    """One per-frame signal drawn over time, in its own horizontal band."""

    key: str
    """The frame table's column (``brightness``, ``sharpness``, ``motion``, ``cut_score``)."""
    label: str
    css: str
    """The lane's class suffix (``lane-<css>``), which picks its colour."""
    top: float
    bottom: float
    label_y: float
    scale_y: float
    scale_top: float
    """The value drawn at the top of the lane; larger values are clipped to it."""
    scale: str
    """The scale as shown beside the lane: zero, an en dash, then ``scale_top``."""
    tooltip: str
    measured: bool
    """False when the column holds no finite value (the lane says "not measured")."""
    band: bool
    """True when the series was reduced: ``upper``/``lower`` are each bucket's max/min.
    Otherwise ``upper`` is the series and ``lower`` the lane's bottom (an area)."""
    x: tuple[float, ...]
    upper: tuple[float, ...]
    lower: tuple[float, ...]
    mean: tuple[float, ...]
    """The line: each frame's value, or each bucket's mean. NaN where nothing was measured."""

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def empty_label_y(self) -> float:
        """Baseline of "not measured", centred in the lane."""
        return (self.top + self.bottom) / 2 + 4

    @property
    def fill_path(self) -> str:
        """SVG path data of the band (or area); a NaN on either side breaks it."""
        return _area_path(self.x, self.upper, self.lower)

    @property
    def line_path(self) -> str:
        """SVG path data of the line; a NaN breaks it."""
        return _line_path(self.x, self.mean)


@dataclass(frozen=True)
class Tick:
    """A labelled time on the axis, with a grid line through the lanes."""

    x: float
    seconds: float
    label: str
    anchor: str
    """SVG ``text-anchor`` of the label: ``middle``, or ``end`` where a centred label
    would run off the right edge."""


@dataclass(frozen=True)
class Boundary:
    """Where a shot begins (every shot but the first)."""

    x: float
    shot: int
    kind: str
    """One of :data:`TRANSITIONS`, or ``other``."""
    tooltip: str


@dataclass(frozen=True)
class Marker:
    """A candidate's numbered disc above the lanes, linking to its card."""

    x: float
    row: int
    """0 is the top row; close markers take different rows."""
    y: float
    """The disc's centre."""
    line_top: float
    """The marker's line runs from the disc's lower edge down through the lanes."""
    rank: int
    label: str
    anchor: str
    """The ``id`` of the candidate's card."""
    tooltip: str

    @property
    def text_y(self) -> float:
        """Baseline of the rank, centred in the disc."""
        return self.y + 4


@dataclass(frozen=True)
class Timeline:
    """Everything the report draws on its timeline, in SVG user units."""

    width: float
    height: float
    start: float
    """Seconds at ``plot_left``."""
    end: float
    """Seconds at ``plot_right``."""
    plot_left: float
    plot_right: float
    label_x: float
    """Right edge of the lane labels."""
    strip_top: float
    strip_bottom: float
    shots_tooltip: str
    lanes_top: float
    lanes_bottom: float
    lanes: tuple[Lane, ...]
    ticks: tuple[Tick, ...]
    tick_label_y: float
    boundaries: tuple[Boundary, ...]
    dense: bool
    """More than :data:`DENSE_BOUNDARIES` boundaries: their lines stay in the shots strip."""
    boundary_bottom: float
    markers: tuple[Marker, ...]
    marker_radius: float

    @property
    def plot_width(self) -> float:
        return self.plot_right - self.plot_left

    @property
    def plot_middle(self) -> float:
        return (self.plot_left + self.plot_right) / 2

    @property
    def strip_height(self) -> float:
        return self.strip_bottom - self.strip_top

    @property
    def strip_label_y(self) -> float:
        """Baseline of the strip's "Shots" label."""
        return self.strip_bottom - 5

    def x_of(self, seconds: float) -> float:
        """The x of a time; times outside the plot are drawn at its edge."""
        return _x_of(seconds, self.start, self.end)


@dataclass(frozen=True)
class _LaneSpec:
    key: str
    label: str
    css: str
    scale: str
    """"fixed" (0..top), "p99" (0..nice 99th percentile) or "max" (0..nice maximum)."""
    top: float
    """The fixed top, or the fallback when the data give none."""
    cap: float
    note: str


_LANES = (
    _LaneSpec("brightness", "Brightness", "brightness", "fixed", 1.0, 1.0, "mean luma, 0..1"),
    _LaneSpec(
        "sharpness",
        "Sharpness",
        "sharpness",
        "p99",
        1.0,
        math.inf,
        "Laplacian variance; the scale ends near the 99th percentile",
    ),
    _LaneSpec(
        "motion",
        "Motion",
        "motion",
        "p99",
        1.0,
        1.0,
        "mean luma change per frame; the scale ends near the 99th percentile",
    ),
    _LaneSpec(
        "cut_score",
        "Cut score",
        "cut-score",
        "max",
        255.0,
        255.0,
        "HSV change from the previous frame, 0..255",
    ),
)


_INTEREST_LANE = _LaneSpec(
    "interest",
    "Interest",
    "interest",
    "fixed",
    1.0,
    1.0,
    "where viewers pause and rewind to, k-anonymous; 1 is the title's peak",
)


def build_timeline(
    frames: FrameTable,
    shots: Sequence[Shot],
    candidates: Sequence[Candidate],
    interest: FloatArray | None = None,
) -> Timeline:
    """The timeline of a pick: ``frames``' signals, ``shots``' boundaries, ``candidates``' marks.

    The time axis runs from 0 (or the first frame, if earlier) to the latest
    of the video's duration, the last frame, shot end and candidate. A
    candidate whose time is not finite gets no marker. ``interest`` (per
    frame, 0..1: the title's interest curve) adds a lane of its own.
    """
    time = np.asarray(frames.times, dtype=np.float64)
    finite_time = time[np.isfinite(time)]
    ends = [
        frames.video.duration,
        *(shot.end_time for shot in shots),
        *(candidate.time for candidate in candidates),
    ]
    if finite_time.size:
        ends.append(float(finite_time.max()))
    start = min(0.0, float(finite_time.min())) if finite_time.size else 0.0
    end = max([start, *(t for t in ends if t is not None and math.isfinite(t))])
    if end <= start:
        end = start + 1.0

    marked = [candidate for candidate in candidates if math.isfinite(candidate.time)]
    xs = [_x_of(candidate.time, start, end) for candidate in marked]
    rows = _marker_rows(xs)
    strip_top = max(max(rows, default=0) + 1, 1) * _MARKER_ROW + 8
    strip_bottom = strip_top + _SHOT_STRIP
    lanes_top = strip_bottom + _LANE_GAP
    drawn = [(spec, frames.values(spec.key)) for spec in _LANES]
    if interest is not None:
        drawn.append((_INTEREST_LANE, np.asarray(interest, dtype=np.float64)))
    lanes_bottom = lanes_top + len(drawn) * _LANE_HEIGHT + (len(drawn) - 1) * _LANE_GAP

    lanes = tuple(
        _lane(spec, time, values, lanes_top + number * (_LANE_HEIGHT + _LANE_GAP), start, end)
        for number, (spec, values) in enumerate(drawn)
    )
    boundaries = tuple(
        _boundary(shot, start, end) for shot in shots[1:] if math.isfinite(shot.start_time)
    )
    dense = len(boundaries) > DENSE_BOUNDARIES
    markers = tuple(
        Marker(
            x=x,
            row=row,
            y=4 + MARKER_RADIUS + row * _MARKER_ROW,
            line_top=4 + 2 * MARKER_RADIUS + row * _MARKER_ROW,
            rank=candidate.rank,
            label=str(candidate.rank),
            anchor=f"candidate-{candidate.rank}",
            tooltip=(
                f"#{candidate.rank} at {timecode(candidate.time)}, shot {candidate.shot}, "
                f"frame {candidate.frame}, score {candidate.score:.2f}"
            ),
        )
        for candidate, x, row in zip(marked, xs, rows, strict=True)
    )
    return Timeline(
        width=_WIDTH,
        height=lanes_bottom + _AXIS_HEIGHT,
        start=start,
        end=end,
        plot_left=_PLOT_LEFT,
        plot_right=_PLOT_RIGHT,
        label_x=_PLOT_LEFT - _LABEL_GAP,
        strip_top=strip_top,
        strip_bottom=strip_bottom,
        shots_tooltip=f"{plural(len(shots), 'shot')}; each tick is a boundary",
        lanes_top=lanes_top,
        lanes_bottom=lanes_bottom,
        lanes=lanes,
        ticks=_ticks(start, end),
        tick_label_y=lanes_bottom + 20,
        boundaries=boundaries,
        dense=dense,
        boundary_bottom=strip_bottom if dense else lanes_bottom,
        markers=markers,
        marker_radius=MARKER_RADIUS,
    )


def _x_of(seconds: float, start: float, end: float) -> float:
    fraction = min(max((seconds - start) / (end - start), 0.0), 1.0)
    return _PLOT_LEFT + fraction * (_PLOT_RIGHT - _PLOT_LEFT)


def _lane(
    spec: _LaneSpec, time: FloatArray, values: FloatArray, top: float, start: float, end: float
) -> Lane:
    bottom = top + _LANE_HEIGHT
    finite = values[np.isfinite(values)]
    scale_top = _scale_top(spec, finite)
    if finite.size:
        summary = (
            f"mean {significant(float(finite.mean()))}, min {significant(float(finite.min()))}, "
            f"max {significant(float(finite.max()))} over {plural(int(finite.size), 'frame')}"
        )
        clipped = int((finite > scale_top).sum())
        if clipped:
            summary += f"; {plural(clipped, 'frame')} above the scale, drawn at the top"
    else:
        summary = "not measured"
    reduction = envelope(time, values) if finite.size else None
    if reduction is not None and reduction.reduced:
        summary += (
            f". Drawn in {BUCKETS:,} buckets of about {len(values) / BUCKETS:.0f} frames: "
            "the band spans each bucket's minimum to maximum, the line is its mean"
        )
    x: tuple[float, ...] = ()
    upper: tuple[float, ...] = ()
    lower: tuple[float, ...] = ()
    mean: tuple[float, ...] = ()
    if reduction is not None:
        x = tuple(_x_of(t, start, end) for t in reduction.time.tolist())
        mean = _to_y(reduction.mean, bottom, scale_top)
        if reduction.reduced:
            upper = _to_y(reduction.high, bottom, scale_top)
            lower = _to_y(reduction.low, bottom, scale_top)
        else:
            upper = mean
            lower = tuple(math.nan if math.isnan(y) else bottom for y in mean)
    return Lane(
        key=spec.key,
        label=spec.label,
        css=spec.css,
        top=top,
        bottom=bottom,
        label_y=top + 26,
        scale_y=top + 44,
        scale_top=scale_top,
        scale=f"0 \u2013 {significant(scale_top)}",
        tooltip=f"{spec.label} ({spec.note}): {summary}",
        measured=reduction is not None,
        band=reduction is not None and reduction.reduced,
        x=x,
        upper=upper,
        lower=lower,
        mean=mean,
    )


def _nice_ceiling(value: float) -> float:
    """The smallest 'round' number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^n) >= value."""
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if step * magnitude >= value * (1 - 1e-12):
            return step * magnitude
    return 10.0 * magnitude


def _scale_top(spec: _LaneSpec, finite: FloatArray) -> float:
    if spec.scale == "fixed" or finite.size == 0:
        return spec.top
    # A percentile rather than the maximum: one wild frame of a noisy signal
    # would otherwise flatten everything else against the floor.
    reference = float(np.percentile(finite, 99)) if spec.scale == "p99" else float(finite.max())
    if reference <= 0:
        return min(spec.top, spec.cap)
    return min(_nice_ceiling(reference), spec.cap)


def _to_y(values: FloatArray, bottom: float, scale_top: float) -> tuple[float, ...]:
    """Lane y of ``values`` (0 at ``bottom``, clipped at ``scale_top``); NaN stays NaN."""
    fraction = np.clip(values / scale_top, 0.0, 1.0)
    return tuple(float(y) for y in bottom - fraction * (_LANE_HEIGHT - _LANE_HEADROOM))


def _ticks(start: float, end: float) -> tuple[Tick, ...]:
    span = end - start
    step = next(
        (
            float(s)
            for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
            if span / s <= 10
        ),
        7200.0,
    )
    decimals = 1 if step < 1 else 0
    ticks = []
    # Counting steps instead of adding them keeps 0.1 s steps from drifting.
    first = math.ceil(start / step - 1e-9)
    number = first
    while (seconds := round(number * step, 6)) <= end + 1e-9:
        x = _x_of(seconds, start, end)
        label = timecode(seconds, decimals=decimals, compact=True)
        fits = x + len(label) * _TICK_CHARACTER / 2 <= _WIDTH
        ticks.append(Tick(x, seconds, label, anchor="middle" if fits else "end"))
        number += 1
    return tuple(ticks)


def _boundary(shot: Shot, start: float, end: float) -> Boundary:
    kind = shot.transition_in
    return Boundary(
        x=_x_of(shot.start_time, start, end),
        shot=shot.index,
        kind=kind if kind in TRANSITIONS else "other",
        tooltip=f"Shot {shot.index} begins at {timecode(shot.start_time)} ({kind or 'boundary'})",
    )


def _marker_rows(xs: Sequence[float]) -> list[int]:
    """Row (0 = top) of each marker, so that close markers do not cover each other.

    Greedy from left to right: a marker takes the first row whose last disc
    is far enough to its left. When every allowed row is taken, it shares the
    row whose last disc is furthest left, so the overlap is the smallest.
    """
    rows = [0] * len(xs)
    last: list[float] = []
    for index in sorted(range(len(xs)), key=lambda i: (xs[i], i)):
        x = xs[index]
        free = next((row for row, right in enumerate(last) if x - right >= _MARKER_SPACING), None)
        if free is None and len(last) < MAX_MARKER_ROWS:
            last.append(x)
            free = len(last) - 1
        elif free is None:
            free = min(range(len(last)), key=lambda r: (last[r], r))
        last[free] = x
        rows[index] = free
    return rows


def _runs(valid: Sequence[bool]) -> list[range]:
    """Maximal runs of consecutive indices whose entry is true."""
    runs: list[range] = []
    begin: int | None = None
    for index, ok in enumerate(valid):
        if ok and begin is None:
            begin = index
        elif not ok and begin is not None:
            runs.append(range(begin, index))
            begin = None
    if begin is not None:
        runs.append(range(begin, len(valid)))
    return runs


def _pairs(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{coordinate(x)} {coordinate(y)}" for x, y in points)


def _line_path(xs: Sequence[float], ys: Sequence[float]) -> str:
    parts = []
    for run in _runs([not math.isnan(y) for y in ys]):
        points = [(xs[i], ys[i]) for i in run]
        # A lone point would draw nothing: give it a pixel of length.
        if len(points) == 1:
            points.append((points[0][0] + 1.0, points[0][1]))
        parts.append("M" + _pairs(points))
    return "".join(parts)


def _area_path(xs: Sequence[float], upper: Sequence[float], lower: Sequence[float]) -> str:
    parts = []
    valid = [not (math.isnan(u) or math.isnan(d)) for u, d in zip(upper, lower, strict=True)]
    for run in _runs(valid):
        if len(run) == 1:
            i = run[0]
            top = [(xs[i] - 0.5, upper[i]), (xs[i] + 0.5, upper[i])]
            bottom = [(xs[i] + 0.5, lower[i]), (xs[i] - 0.5, lower[i])]
        else:
            top = [(xs[i], upper[i]) for i in run]
            bottom = [(xs[i], lower[i]) for i in reversed(run)]
        parts.append("M" + _pairs(top + bottom) + "Z")
    return "".join(parts)
