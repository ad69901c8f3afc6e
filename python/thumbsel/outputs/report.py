"""A self-contained HTML report of one pick: candidates, timeline, filters and shots.

The page needs nothing from the network: the style sheet is inline, the
timeline is an inline SVG drawn here, and images are relative links to files
in the report's own directory. The markup is also well-formed XML (void
elements self-close, boolean attributes carry values, only XML's five
entities are used), so it can be checked with any XML parser.

Long titles stay small: each timeline lane is reduced to at most
:data:`BUCKETS` buckets of frames, drawn as a min/max band plus the mean
(:func:`envelope`), so a single-frame spike is still drawn. The same input always gives the same
bytes: nothing depends on the clock, the locale or dictionary hashing.
"""

from __future__ import annotations

import html
import math
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from thumbsel._core import __version__
from thumbsel.outputs.atomic import write_text

__all__ = ["BUCKETS", "Envelope", "clock", "envelope", "write_report"]

FloatArray = npt.NDArray[np.float64]

BUCKETS = 1000
"""Timeline lanes reduce longer series to this many buckets (about one per pixel).

Each bucket is drawn with two points of its min/max band and one of its mean,
so a lane never holds more than 2000 band points however long the title."""

SHOT_TABLE_OPEN_LIMIT = 24
"""A shot table with more rows than this starts collapsed."""

TRANSITIONS = ("cut", "fade", "dissolve")

DASH = "\u2013"
"""Shown for a value that is unknown."""

FILTER_NOTES = {
    "transition": "inside or next to a cut, fade or dissolve",
    "dark": "too dark inside the letterbox bars",
    "blown-out": "too many near-white pixels",
    "low-information": "flat or uniform picture, such as a title card",
    "blurry": "soft compared with the title's own sharpness",
    "motion": "too much movement between frames",
    "duplicate-shot": "shots whose best picture repeats a better shot's (counted in shots)",
}

SHOT_COUNTS = frozenset({"duplicate-shot"})
"""Entries of ``rejected`` that count shots, not frames: left out of the frame totals."""


def _rejected_frames(rejected: Mapping[str, int]) -> int:
    return sum(int(count) for name, count in rejected.items() if name not in SHOT_COUNTS)


# --------------------------------------------------------------------------- formatting


def _e(value: object) -> str:
    """``value`` as text, escaped for element content and quoted attributes."""
    return html.escape(str(value), quote=True)


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def clock(seconds: Any) -> str:
    """``seconds`` as ``hh:mm:ss.mmm`` (rounded to the millisecond); a dash when unknown."""
    value = _finite(seconds)
    if value is None:
        return DASH
    sign = "-" if value < 0 else ""
    millis = round(abs(value) * 1000)
    secs, millis = divmod(millis, 1000)
    minutes, secs = divmod(secs, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _axis_clock(seconds: float, step: float, span: float) -> str:
    """A short tick label: ``m:ss``, ``h:mm:ss``, or with tenths for fine steps."""
    millis = round(seconds * 1000)
    secs, millis = divmod(millis, 1000)
    minutes, secs = divmod(secs, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if span >= 3600 else f"{minutes}:{secs:02d}"
    if step < 1:
        text += f".{millis // 100}"
    return text


def _fixed(value: Any, digits: int = 2) -> str:
    number = _finite(value)
    return DASH if number is None else f"{number:.{digits}f}"


def _general(value: Any) -> str:
    """Four significant digits, for measurements of any magnitude."""
    number = _finite(value)
    if number is None:
        return DASH
    if number == int(number) and abs(number) < 1e6:
        return str(int(number))
    return f"{number:.4g}"


def _count(value: Any) -> str:
    number = _finite(value)
    return DASH if number is None else f"{round(number):,}"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _rate(value: Any) -> str:
    number = _finite(value)
    if number is None:
        return DASH
    return f"{number:.3f}".rstrip("0").rstrip(".") + " fps"


def _coordinate(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _local_reference(path: Any, what: str) -> str:
    """A relative path inside the report's directory, quoted for an attribute."""
    text = str(path).replace("\\", "/")
    if (
        not text
        or text.startswith("/")
        or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text)
        or ".." in text.split("/")
    ):
        raise ValueError(
            f"{what} must be a relative path inside the report's directory, got {path!r}"
        )
    return _e(urllib.parse.quote(text, safe="/"))


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


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class _Lane:
    key: str
    label: str
    css: str
    scale: str
    """"fixed" (0..top), "p99" (0..nice 99th percentile) or "max" (0..nice maximum)."""
    top: float
    """The fixed top, or the fallback when the data give none."""
    cap: float
    note: str


LANES = (
    _Lane("brightness", "Brightness", "brightness", "fixed", 1.0, 1.0, "mean luma, 0..1"),
    _Lane(
        "sharpness",
        "Sharpness",
        "sharpness",
        "p99",
        1.0,
        math.inf,
        "Laplacian variance; the scale ends near the 99th percentile",
    ),
    _Lane(
        "motion",
        "Motion",
        "motion",
        "p99",
        1.0,
        1.0,
        "mean luma change per frame; the scale ends near the 99th percentile",
    ),
    _Lane(
        "cut_score",
        "Cut score",
        "cut-score",
        "max",
        255.0,
        255.0,
        "HSV change from the previous frame, 0..255",
    ),
)

SVG_WIDTH = 1200
PLOT_LEFT = 136
PLOT_RIGHT = SVG_WIDTH - 20
LANE_HEIGHT = 62
LANE_GAP = 10
MARKER_RADIUS = 10
MARKER_ROW = 2 * MARKER_RADIUS + 4
MAX_MARKER_ROWS = 3
AXIS_HEIGHT = 30
SHOT_STRIP = 18
DENSE_BOUNDARIES = 120
"""With more boundaries than this, their lines stay in the shots strip (else: a barcode)."""


def _nice_ceiling(value: float) -> float:
    """The smallest 'round' number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^n) >= value."""
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if step * magnitude >= value * (1 - 1e-12):
            return step * magnitude
    return 10.0 * magnitude


def _lane_top(lane: _Lane, values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    if lane.scale == "fixed" or finite.size == 0:
        return lane.top
    reference = float(np.percentile(finite, 99)) if lane.scale == "p99" else float(finite.max())
    if reference <= 0:
        return lane.top if lane.cap == math.inf else min(lane.top, lane.cap)
    return min(_nice_ceiling(reference), lane.cap)


def _tick_step(span: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span / step <= 10:
            return float(step)
    return 7200.0


def _place_markers(xs: Sequence[tuple[float, int]]) -> dict[int, int]:
    """Row (0 = top) of each marker, so that close markers do not cover each other."""
    rows: dict[int, int] = {}
    last: list[float] = []
    for x, key in sorted(xs):
        for row, right in enumerate(last):
            if x - right >= 2 * MARKER_RADIUS + 2:
                last[row] = x
                rows[key] = row
                break
        else:
            if len(last) < MAX_MARKER_ROWS:
                last.append(x)
                rows[key] = len(last) - 1
            else:
                row = min(range(len(last)), key=lambda r: (last[r], r))
                last[row] = x
                rows[key] = row
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
    return " ".join(f"{_coordinate(x)} {_coordinate(y)}" for x, y in points)


def _line_path(xs: Sequence[float], ys: Sequence[float]) -> str:
    """Path data of a polyline; a NaN ``y`` breaks it."""
    parts = []
    for run in _runs([not math.isnan(y) for y in ys]):
        points = [(xs[i], ys[i]) for i in run]
        if len(points) == 1:
            points.append((points[0][0] + 1.0, points[0][1]))
        parts.append("M" + _pairs(points))
    return "".join(parts)


def _area_path(xs: Sequence[float], upper: Sequence[float], lower: Sequence[float]) -> str:
    """Path data of the region between two polylines; a NaN on either side breaks it."""
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


def _to_y(values: FloatArray, bottom: float, top_value: float) -> list[float]:
    """Lane y coordinates of ``values`` (0 at ``bottom``, clipped at ``top_value``); NaN stays."""
    fraction = np.clip(values / top_value, 0.0, 1.0)
    return [float(y) for y in bottom - fraction * (LANE_HEIGHT - 6)]


def _timeline_svg(
    timeline: Mapping[str, npt.ArrayLike],
    video: Mapping[str, Any],
    shots: Sequence[Mapping[str, Any]],
    candidates: Sequence[Mapping[str, Any]],
) -> str:
    if "time" not in timeline:
        raise ValueError("timeline needs a 'time' array")
    time = np.asarray(timeline["time"], dtype=np.float64).ravel()
    series: dict[str, FloatArray] = {}
    for lane in LANES:
        if lane.key in timeline:
            values = np.asarray(timeline[lane.key], dtype=np.float64).ravel()
            if len(values) != len(time):
                raise ValueError(
                    f"timeline '{lane.key}' has {len(values)} values but 'time' has {len(time)}"
                )
        else:
            values = np.full(len(time), np.nan)
        series[lane.key] = values

    finite_time = time[np.isfinite(time)]
    ends = [
        _finite(video.get("duration")),
        *(_finite(shot.get("end_time")) for shot in shots),
        *(_finite(candidate.get("time")) for candidate in candidates),
    ]
    if finite_time.size:
        ends.append(float(finite_time.max()))
    t0 = min(0.0, float(finite_time.min())) if finite_time.size else 0.0
    t1 = max([t0, *(end for end in ends if end is not None)])
    if t1 <= t0:
        t1 = t0 + 1.0
    span = t1 - t0

    def x_of(t: float) -> float:
        if math.isnan(t):
            return math.nan
        fraction = min(max((t - t0) / span, 0.0), 1.0)
        return PLOT_LEFT + fraction * (PLOT_RIGHT - PLOT_LEFT)

    marked = [
        (candidate, x_of(t))
        for candidate in candidates
        if (t := _finite(candidate.get("time"))) is not None
    ]
    marker_rows = _place_markers([(x, i) for i, (_, x) in enumerate(marked)])
    rows_used = max(marker_rows.values(), default=-1) + 1
    strip_top = max(rows_used, 1) * MARKER_ROW + 8
    lanes_top = strip_top + SHOT_STRIP + LANE_GAP
    lanes_bottom = lanes_top + len(LANES) * LANE_HEIGHT + (len(LANES) - 1) * LANE_GAP
    height = lanes_bottom + AXIS_HEIGHT
    boundaries = [shot for shot in shots[1:] if _finite(shot.get("start_time")) is not None]
    dense = len(boundaries) > DENSE_BOUNDARIES

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline-svg" class="timeline" '
        f'viewBox="0 0 {SVG_WIDTH} {height}" role="img" aria-labelledby="timeline-title">',
        '<title id="timeline-title">Timeline: per-frame signals, shot boundaries and the '
        "chosen frames</title>",
    ]

    # Backgrounds and labels (the backgrounds carry each lane's tooltip).
    out.append(
        f'<g class="lane lane-shots"><rect class="lane-bg" x="{PLOT_LEFT}" y="{strip_top}" '
        f'width="{PLOT_RIGHT - PLOT_LEFT}" height="{SHOT_STRIP}" rx="3">'
        f"<title>{_e(_plural(len(shots), 'shot'))}; each tick is a boundary</title></rect>"
        f'<text class="lane-label small" x="{PLOT_LEFT - 14}" y="{strip_top + 13}" '
        f'text-anchor="end">Shots</text></g>'
    )
    data: list[str] = []
    for number, lane in enumerate(LANES):
        top = lanes_top + number * (LANE_HEIGHT + LANE_GAP)
        bottom = top + LANE_HEIGHT
        values = series[lane.key]
        lane_top = _lane_top(lane, values)
        finite = values[np.isfinite(values)]
        if finite.size:
            summary = (
                f"mean {_general(finite.mean())}, min {_general(finite.min())}, "
                f"max {_general(finite.max())} over {_plural(int(finite.size), 'frame')}"
            )
        else:
            summary = "not measured"
        clipped = int((finite > lane_top).sum()) if finite.size else 0
        if clipped:
            summary += f"; {_plural(clipped, 'frame')} above the scale, drawn at the top"
        reduced = finite.size and len(values) > BUCKETS
        if reduced:
            summary += (
                f". Drawn in {BUCKETS:,} buckets of about {len(values) / BUCKETS:.0f} frames: "
                "the band spans each bucket's minimum to maximum, the line is its mean"
            )
        out.append(
            f'<g class="lane lane-{lane.css}">'
            f'<rect class="lane-bg" x="{PLOT_LEFT}" y="{top}" '
            f'width="{PLOT_RIGHT - PLOT_LEFT}" height="{LANE_HEIGHT}" rx="4">'
            f"<title>{_e(f'{lane.label} ({lane.note}): {summary}')}</title></rect>"
            f'<text class="lane-label" x="{PLOT_LEFT - 14}" y="{top + 26}" '
            f'text-anchor="end">{_e(lane.label)}</text>'
            f'<text class="lane-scale" x="{PLOT_LEFT - 14}" y="{top + 44}" '
            f'text-anchor="end">0 \u2013 {_e(_general(lane_top))}</text></g>'
        )
        if not finite.size:
            out.append(
                f'<text class="lane-empty" x="{(PLOT_LEFT + PLOT_RIGHT) / 2:.0f}" '
                f'y="{top + LANE_HEIGHT / 2 + 4:.0f}" text-anchor="middle">not measured</text>'
            )
            continue
        reduction = envelope(time, values)
        xs = [x_of(t) for t in reduction.time.tolist()]
        mean = _to_y(reduction.mean, bottom, lane_top)
        if reduction.reduced:
            high = _to_y(reduction.high, bottom, lane_top)
            low = _to_y(reduction.low, bottom, lane_top)
            band = _area_path(xs, high, low)
            data.append(f'<g class="series lane-{lane.css}"><path class="band" d="{band}"/>')
        else:
            base = [float(bottom) if not math.isnan(v) else math.nan for v in mean]
            area = _area_path(xs, mean, base)
            data.append(f'<g class="series lane-{lane.css}"><path class="area" d="{area}"/>')
        data.append(f'<path class="line" d="{_line_path(xs, mean)}"/></g>')

    # Time axis with faint grid lines.
    step = _tick_step(span)
    out.append('<g class="axis">')
    tick = math.ceil(t0 / step - 1e-9) * step
    while tick <= t1 + 1e-9:
        tx = _coordinate(x_of(tick))
        out.append(
            f'<line class="grid" x1="{tx}" y1="{lanes_top}" x2="{tx}" y2="{lanes_bottom}"/>'
            f'<text class="tick" x="{tx}" y="{lanes_bottom + 20}" text-anchor="middle">'
            f"{_e(_axis_clock(tick, step, span))}</text>"
        )
        tick = round(tick + step, 6)
    out.append("</g>")

    # Shot boundaries: one line where every shot after the first begins. Through
    # all lanes while they are few enough to read, in the shots strip only after.
    bottom_of_lines = strip_top + SHOT_STRIP if dense else lanes_bottom
    out.append(f'<g class="boundaries{" dense" if dense else ""}">')
    for shot in boundaries:
        start = _finite(shot.get("start_time")) or 0.0
        kind = shot.get("transition_in")
        css = kind if kind in TRANSITIONS else "other"
        bx = _coordinate(x_of(start))
        tip = f"Shot {shot.get('index', '?')} begins at {clock(start)} ({kind or 'boundary'})"
        out.append(
            f'<line class="boundary {css}" x1="{bx}" y1="{strip_top}" x2="{bx}" '
            f'y2="{bottom_of_lines}"><title>{_e(tip)}</title></line>'
        )
    out.append("</g>")
    out.extend(data)

    # Chosen frames: a numbered disc above the lanes and a line through them.
    out.append('<g class="markers">')
    for index, (candidate, x) in enumerate(marked):
        rank = candidate.get("rank", index + 1)
        cy = 4 + MARKER_RADIUS + marker_rows[index] * MARKER_ROW
        tip = (
            f"#{rank} at {clock(candidate.get('time'))}, shot {candidate.get('shot', DASH)}, "
            f"frame {candidate.get('frame', DASH)}, score {_fixed(candidate.get('score'))}"
        )
        xs_ = _coordinate(x)
        out.append(
            f'<a href="#candidate-{_e(rank)}"><g class="marker"><title>{_e(tip)}</title>'
            f'<line x1="{xs_}" y1="{cy + MARKER_RADIUS}" x2="{xs_}" y2="{lanes_bottom}"/>'
            f'<circle cx="{xs_}" cy="{cy}" r="{MARKER_RADIUS}"/>'
            f'<text x="{xs_}" y="{cy + 4}" text-anchor="middle">{_e(rank)}</text></g></a>'
        )
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


# --------------------------------------------------------------------------- sections


def _facts(
    video: Mapping[str, Any],
    shots: Sequence[Any],
    candidates: Sequence[Any],
    rejected: Mapping[str, int],
) -> str:
    width, height = _finite(video.get("width")), _finite(video.get("height"))
    resolution = f"{int(width)} \u00d7 {int(height)}" if width and height else DASH
    frames = _finite(video.get("frames"))
    total_rejected = _rejected_frames(rejected)
    facts = [
        ("Duration", clock(video.get("duration"))),
        ("Resolution", resolution),
        ("Frame rate", _rate(video.get("frame_rate"))),
        ("Codec", str(video.get("codec") or DASH)),
        ("Frames analysed", _count(frames)),
        ("Shots", f"{len(shots):,}"),
        ("Candidates", f"{len(candidates):,}"),
        (
            "Eligible frames",
            _count(frames - total_rejected) if frames is not None else DASH,
        ),
    ]
    items = "".join(
        f'<div class="fact"><dt>{_e(name)}</dt><dd>{_e(value)}</dd></div>' for name, value in facts
    )
    return f'<dl class="facts">{items}</dl>'


def _notes(video: Mapping[str, Any]) -> str:
    notes: list[str] = []
    letterbox = video.get("letterbox")
    if isinstance(letterbox, Mapping):
        sides = [
            f"{side} {int(value)} px"
            for side in ("top", "bottom", "left", "right")
            if (value := _finite(letterbox.get(side))) is not None and value > 0
        ]
        if sides:
            notes.append("Letterbox bars: " + ", ".join(sides))
    decode = video.get("decode")
    if isinstance(decode, str) and decode:
        notes.append(decode[:1].upper() + decode[1:])
    return "".join(f'<p class="note">{_e(note)}</p>' for note in notes)


def _signal_rows(signals: Mapping[str, Any]) -> str:
    rows = []
    for name, value in signals.items():
        number = _finite(value)
        fill = 0.0 if number is None else min(max(number, 0.0), 1.0) * 100
        rows.append(
            f'<div class="signal"><span class="signal-name">{_e(name)}</span>'
            f'<span class="bar" aria-hidden="true"><span class="fill" '
            f'style="width:{fill:.1f}%"></span></span>'
            f'<span class="num">{_e(_fixed(value))}</span></div>'
        )
    return f'<div class="signals">{"".join(rows)}</div>' if rows else ""


def _candidate_card(candidate: Mapping[str, Any], position: int, video: Mapping[str, Any]) -> str:
    rank = candidate.get("rank", position + 1)
    when = clock(candidate.get("time"))
    image = candidate.get("image")
    thumbnail = candidate.get("thumbnail") or image
    width, height = _finite(video.get("width")), _finite(video.get("height"))
    size = f' width="{int(width)}" height="{int(height)}"' if width and height else ""
    if thumbnail:
        picture = (
            f'<img src="{_local_reference(thumbnail, "thumbnail")}"{size} '
            f'alt="{_e(f"Candidate #{rank} at {when}")}" loading="lazy" decoding="async"/>'
        )
        if image:
            picture = (
                f'<a class="picture" href="{_local_reference(image, "image")}" '
                f'title="Open the full-size frame">{picture}'
            )
        else:
            picture = f'<div class="picture">{picture}'
    else:
        picture = '<div class="picture missing"><span>no image</span>'
    picture += f'<span class="rank">#{_e(rank)}</span>'
    picture += "</a>" if thumbnail and image else "</div>"

    reasons = candidate.get("reasons") or []
    reason_list = (
        '<ul class="reasons">' + "".join(f"<li>{_e(reason)}</li>" for reason in reasons) + "</ul>"
        if reasons
        else ""
    )
    features = candidate.get("features") or {}
    feature_table = (
        '<details class="features"><summary>Measurements</summary><table>'
        + "".join(
            f'<tr><th scope="row">{_e(name)}</th><td>{_e(_general(value))}</td></tr>'
            for name, value in features.items()
        )
        + "</table></details>"
        if features
        else ""
    )
    tags = candidate.get("tags") or []
    tag_list = (
        '<p class="tags">' + "".join(f'<span class="tag">{_e(tag)}</span>' for tag in tags) + "</p>"
        if tags
        else ""
    )
    crops = candidate.get("crops") or {}
    crop_links = (
        '<p class="crops">Crops: '
        + " · ".join(
            f'<a href="{_local_reference(str(crop["path"]), "crop")}">{_e(canvas)}</a>'
            for canvas, crop in crops.items()
            if isinstance(crop, Mapping) and crop.get("path")
        )
        + "</p>"
        if crops
        else ""
    )
    shot = candidate.get("shot")
    return (
        f'<article class="card" id="candidate-{_e(rank)}">{picture}'
        '<div class="card-body">'
        '<div class="card-head">'
        f'<span class="time">{_e(when)}</span>'
        f'<span class="score" title="quality score, 0..1"><b>{_e(_fixed(candidate.get("score")))}'
        "</b> score</span></div>"
        f'<p class="meta">Shot {_e(DASH if shot is None else shot)} · '
        f"frame {_e(_count(candidate.get('frame')))}</p>"
        f"{tag_list}{_signal_rows(candidate.get('signals') or {})}{reason_list}{crop_links}"
        f"{feature_table}"
        "</div></article>"
    )


def _rejection_table(rejected: Mapping[str, int], frames: float | None) -> str:
    total = _rejected_frames(rejected)
    base = frames if frames else (total or None)
    rows = []
    for name, count in rejected.items():
        note = f'<td class="muted">{_e(FILTER_NOTES.get(name, ""))}</td></tr>'
        if name in SHOT_COUNTS:
            rows.append(
                f'<tr><th scope="row">{_e(name)}</th><td class="num">{_e(_count(count))}</td>'
                f'<td class="num">{DASH}</td><td></td>{note}'
            )
            continue
        share = int(count) / base * 100 if base else 0.0
        rows.append(
            f'<tr><th scope="row">{_e(name)}</th><td class="num">{_e(_count(count))}</td>'
            f'<td class="num">{share:.1f}%</td>'
            f'<td class="share"><span class="bar"><span class="fill" '
            f'style="width:{min(share, 100.0):.1f}%"></span></span></td>{note}'
        )
    footer = f'<tr><th scope="row">all filters</th><td class="num">{_e(_count(total))}</td>'
    footer += (
        f'<td class="num">{total / base * 100:.1f}%</td>' if base else '<td class="num">\u2013</td>'
    )
    eligible = f"{_count(frames - total)} frames left to choose from" if frames is not None else ""
    footer += f'<td></td><td class="muted">{_e(eligible)}</td></tr>'
    return (
        '<table class="data rejections"><thead><tr><th scope="col">Filter</th>'
        '<th scope="col" class="num">Frames</th><th scope="col" class="num">Share</th>'
        '<th scope="col"><span class="visually-hidden">Bar</span></th>'
        '<th scope="col">Rules out</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody><tfoot>{footer}</tfoot></table>"
    )


def _shot_table(shots: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]]) -> str:
    ranks: dict[Any, list[Any]] = {}
    for position, candidate in enumerate(candidates):
        ranks.setdefault(candidate.get("shot"), []).append(candidate.get("rank", position + 1))
    rows = []
    for shot in shots:
        start, end = _finite(shot.get("start_time")), _finite(shot.get("end_time"))
        length = f"{end - start:.2f} s" if start is not None and end is not None else DASH
        first, last = _finite(shot.get("start_frame")), _finite(shot.get("end_frame"))
        frames = _count(last - first) if first is not None and last is not None else DASH
        kind = shot.get("transition_in")
        css = kind if kind in TRANSITIONS else "other"
        transition = f'<span class="pill {css}">{_e(kind)}</span>' if kind else DASH
        picked = ", ".join(
            f'<a href="#candidate-{_e(rank)}">#{_e(rank)}</a>'
            for rank in ranks.get(shot.get("index"), [])
        )
        rows.append(
            f'<tr><td class="num">{_e(shot.get("index", DASH))}</td>'
            f'<td class="num">{_e(clock(start))}</td><td class="num">{_e(clock(end))}</td>'
            f'<td class="num">{_e(length)}</td><td class="num">{_e(frames)}</td>'
            f"<td>{transition}</td><td>{picked}</td></tr>"
        )
    table = (
        '<table class="data shots"><thead><tr><th scope="col" class="num">Shot</th>'
        '<th scope="col" class="num">Starts</th><th scope="col" class="num">Ends</th>'
        '<th scope="col" class="num">Length</th><th scope="col" class="num">Frames</th>'
        '<th scope="col">Begins with</th><th scope="col">Candidates</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    opened = ' open="open"' if len(shots) <= SHOT_TABLE_OPEN_LIMIT else ""
    return (
        f'<details class="shot-list"{opened}><summary>{_e(_plural(len(shots), "shot"))}'
        f'</summary><div class="table-wrap">{table}</div></details>'
    )


def _legend(shots: Sequence[Mapping[str, Any]]) -> str:
    counts = dict.fromkeys((*TRANSITIONS, "other"), 0)
    for shot in shots[1:]:
        kind = shot.get("transition_in")
        counts[kind if kind in TRANSITIONS else "other"] += 1
    items = [
        f'<li><span class="swatch {kind}"></span>{_e(kind)} ({counts[kind]:,})</li>'
        for kind in TRANSITIONS
    ]
    if counts["other"]:
        items.append(f'<li><span class="swatch other"></span>other ({counts["other"]:,})</li>')
    items.append('<li><span class="swatch-marker">1</span>chosen frame (by rank)</li>')
    return f'<ul class="legend" aria-label="Legend">{"".join(items)}</ul>'


# --------------------------------------------------------------------------- page

STYLE = """
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --surface: #ffffff; --surface-2: #f0f2f5; --border: #e1e4ea;
  --text: #15181d; --muted: #5c6573; --accent: #4338ca; --accent-soft: #eceefe;
  --track: #e6e8ee; --shadow: 0 1px 2px rgba(16, 24, 40, .05), 0 2px 8px rgba(16, 24, 40, .06);
  --brightness: #d97706; --sharpness: #0d9488; --motion: #7c3aed; --cut-score: #db2777;
  --cut: #475569; --fade: #2563eb; --dissolve: #16a34a; --other: #a1a9b8;
  --marker: #4338ca; --marker-text: #ffffff; --lane: #f7f8fa;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1115; --surface: #171a21; --surface-2: #1d2129; --border: #2b303b;
    --text: #e7e9ee; --muted: #9ba4b3; --accent: #a5b4fc; --accent-soft: #262a4a;
    --track: #2b303b; --shadow: none;
    --brightness: #fbbf24; --sharpness: #2dd4bf; --motion: #a78bfa; --cut-score: #f472b6;
    --cut: #cbd5e1; --fade: #60a5fa; --dissolve: #4ade80; --other: #6b7280;
    --marker: #a5b4fc; --marker-text: #0f1115; --lane: #1b1f27;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif;
  -webkit-font-smoothing: antialiased;
}
main { max-width: 1320px; margin: 0 auto; padding: 32px 24px 56px; }
a { color: var(--accent); }
h1 { font-size: 28px; line-height: 1.2; margin: 4px 0 6px; letter-spacing: -.01em;
  overflow-wrap: anywhere; }
h2 { font-size: 19px; margin: 0 0 4px; letter-spacing: -.005em; }
.eyebrow { margin: 0; color: var(--accent); font-weight: 600; font-size: 12px;
  letter-spacing: .08em; text-transform: uppercase; }
.path { margin: 0 0 20px; color: var(--muted); font-family: ui-monospace, SFMono-Regular,
  Menlo, Consolas, monospace; font-size: 13px; overflow-wrap: anywhere; }
.facts { display: flex; flex-wrap: wrap; gap: 10px; margin: 0; }
.fact { flex: 1 1 120px; background: var(--surface); border: 1px solid var(--border);
  border-radius: 10px; padding: 10px 14px; box-shadow: var(--shadow); }
.fact dt { color: var(--muted); font-size: 12px; white-space: nowrap; }
.fact dd { margin: 2px 0 0; font-size: 18px; font-weight: 600; white-space: nowrap;
  font-variant-numeric: tabular-nums; }
.note { margin: 12px 0 0; color: var(--muted); font-size: 13px; }
nav { position: sticky; top: 0; z-index: 2; margin: 24px -24px 0; padding: 10px 24px;
  background: var(--bg); border-bottom: 1px solid var(--border); }
nav ul { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0; padding: 0;
  list-style: none; font-size: 14px; }
nav a { text-decoration: none; font-weight: 500; }
nav a:hover { text-decoration: underline; }
section { margin-top: 36px; scroll-margin-top: 56px; }
.lede { margin: 0 0 14px; color: var(--muted); font-size: 14px; max-width: 75ch; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr));
  gap: 16px; }
.card { background: var(--surface); border: 1px solid var(--border); border-radius: 12px;
  overflow: hidden; box-shadow: var(--shadow); display: flex; flex-direction: column;
  scroll-margin-top: 56px; }
.card:target { outline: 3px solid var(--accent); outline-offset: 2px; }
.picture { position: relative; display: block; background: #000; line-height: 0; }
.picture img { display: block; width: 100%; height: auto; }
.picture.missing { aspect-ratio: 16 / 9; display: flex; align-items: center;
  justify-content: center; color: #9ca3af; line-height: 1.5; }
.rank { position: absolute; top: 8px; left: 8px; padding: 3px 9px; border-radius: 999px;
  background: rgba(10, 12, 16, .78); color: #fff; font: 600 13px/1.4 system-ui, sans-serif; }
.card-body { padding: 12px 14px 14px; display: flex; flex-direction: column; gap: 8px; }
.card-head { display: flex; align-items: baseline; justify-content: space-between; gap: 8px; }
.time { font-weight: 600; font-variant-numeric: tabular-nums; font-size: 16px; }
.score { color: var(--muted); font-size: 13px; white-space: nowrap; }
.score b { color: var(--text); font-size: 18px; font-variant-numeric: tabular-nums; }
.meta { margin: -6px 0 0; color: var(--muted); font-size: 13px; }
.signals { display: grid; gap: 3px; }
.signal { display: grid; grid-template-columns: 92px 1fr 36px; align-items: center; gap: 8px;
  font-size: 12.5px; }
.signal-name { color: var(--muted); }
.bar { display: block; height: 6px; border-radius: 3px; background: var(--track);
  overflow: hidden; }
.fill { display: block; height: 100%; border-radius: 3px; background: var(--accent); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.reasons { margin: 0; padding-left: 18px; font-size: 13px; }
.tags { margin: 4px 0 6px; display: flex; flex-wrap: wrap; gap: 4px; }
.tag {
  font-size: 11px; padding: 1px 7px; border-radius: 999px; background: rgba(99, 102, 241, 0.14);
}
.crops { margin: 6px 0 0; font-size: 13px; }
.reasons li { margin: 1px 0; }
details > summary { cursor: pointer; color: var(--accent); font-size: 13px;
  font-weight: 500; }
.features table { margin-top: 6px; border-collapse: collapse; width: 100%; font-size: 12.5px; }
.features th { text-align: left; font-weight: 400; color: var(--muted); padding: 1px 0; }
.features td { text-align: right; font-variant-numeric: tabular-nums; padding: 1px 0; }
.sheet { display: block; max-width: 100%; height: auto; border-radius: 10px;
  border: 1px solid var(--border); }
.panel { background: var(--surface); border: 1px solid var(--border); border-radius: 12px;
  padding: 14px 16px; box-shadow: var(--shadow); }
.timeline-wrap { overflow-x: auto; }
.timeline { display: block; width: 100%; min-width: 760px; height: auto; }
.timeline text { font-family: inherit; fill: var(--muted); }
.timeline .lane-bg { fill: var(--lane); }
.timeline .lane-label { fill: var(--text); font-size: 14px; font-weight: 600; }
.timeline .lane-label.small { font-size: 12px; fill: var(--muted); }
.timeline .lane-scale, .timeline .tick, .timeline .lane-empty { font-size: 11.5px; }
.timeline .tick { font-variant-numeric: tabular-nums; }
.timeline .series { pointer-events: none; }
.timeline .area { stroke: none; opacity: .16; }
.timeline .band { fill-opacity: .3; stroke-opacity: .6; stroke-width: .7;
  stroke-linejoin: round; }
.timeline .line { fill: none; stroke-width: 1.3; stroke-linejoin: round;
  stroke-linecap: round; }
.lane-brightness .area, .lane-brightness .band { fill: var(--brightness); }
.lane-brightness .band { stroke: var(--brightness); }
.lane-brightness .line { stroke: var(--brightness); }
.lane-sharpness .area, .lane-sharpness .band { fill: var(--sharpness); }
.lane-sharpness .band { stroke: var(--sharpness); }
.lane-sharpness .line { stroke: var(--sharpness); }
.lane-motion .area, .lane-motion .band { fill: var(--motion); }
.lane-motion .band { stroke: var(--motion); }
.lane-motion .line { stroke: var(--motion); }
.lane-cut-score .area, .lane-cut-score .band { fill: var(--cut-score); }
.lane-cut-score .band { stroke: var(--cut-score); }
.lane-cut-score .line { stroke: var(--cut-score); }
.timeline .grid { stroke: var(--border); stroke-width: 1; }
.boundary { stroke-width: 1.2; opacity: .75; }
.boundary:hover { stroke-width: 3; opacity: 1; }
.boundary.cut { stroke: var(--cut); }
.boundary.fade { stroke: var(--fade); stroke-dasharray: 5 3; }
.boundary.dissolve { stroke: var(--dissolve); stroke-dasharray: 2 2; }
.boundary.other { stroke: var(--other); }
.boundaries.dense .boundary { opacity: .6; stroke-width: 1; }
.marker line { stroke: var(--marker); stroke-width: 1.2; stroke-dasharray: 4 3; opacity: .8; }
.marker circle { fill: var(--marker); stroke: var(--surface); stroke-width: 2; }
.timeline .marker text { fill: var(--marker-text); font-size: 11px; font-weight: 700; }
.marker:hover circle { stroke: var(--marker); stroke-width: 3; }
.marker:hover line { stroke-width: 2.5; opacity: 1; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 20px; margin: 0 0 10px; padding: 0;
  list-style: none; font-size: 13px; color: var(--muted); }
.legend li { display: flex; align-items: center; gap: 7px; }
.swatch { display: inline-block; width: 0; height: 16px; border-left: 2px solid var(--other); }
.swatch.cut { border-left-color: var(--cut); }
.swatch.fade { border-left: 2px dashed var(--fade); }
.swatch.dissolve { border-left: 2px dotted var(--dissolve); }
.swatch-marker { display: inline-flex; width: 18px; height: 18px; border-radius: 50%;
  align-items: center; justify-content: center; background: var(--marker);
  color: var(--marker-text); font-size: 10.5px; font-weight: 700; }
.table-wrap { overflow-x: auto; }
table.data { border-collapse: collapse; width: 100%; font-size: 14px; }
table.data th, table.data td { padding: 7px 12px; border-bottom: 1px solid var(--border);
  text-align: left; vertical-align: middle; }
table.data th.num, table.data td.num { text-align: right; }
table.data thead th { font-size: 12px; font-weight: 600; color: var(--muted);
  text-transform: uppercase; letter-spacing: .04em; }
table.data tbody th { font-weight: 600; }
table.data tfoot th, table.data tfoot td { border-bottom: 0; font-weight: 600; }
table.data tbody tr:hover { background: var(--surface-2); }
.rejections .share { width: 22%; min-width: 90px; }
.rejections .fill { background: var(--cut-score); }
.muted { color: var(--muted); }
.shots { font-size: 13px; }
.shots td, .shots th { padding: 4px 12px; }
.shot-list > summary { margin-bottom: 8px; font-size: 14px; }
.pill { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px;
  border: 1px solid var(--other); color: var(--text); }
.pill.cut { border-color: var(--cut); }
.pill.fade { border-color: var(--fade); }
.pill.dissolve { border-color: var(--dissolve); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
footer { margin-top: 44px; color: var(--muted); font-size: 12px; }
@media (max-width: 600px) {
  main { padding: 20px 14px 40px; }
  nav { margin: 20px -14px 0; padding: 8px 14px; }
  h1 { font-size: 22px; }
}
"""


def write_report(
    target: str | os.PathLike[str],
    *,
    title: str,
    video: Mapping[str, Any],
    shots: Sequence[Mapping[str, Any]],
    candidates: Sequence[Mapping[str, Any]],
    timeline: Mapping[str, npt.ArrayLike],
    rejected: Mapping[str, int],
    contact_sheet: str | None = None,
) -> Path:
    """Write the HTML report of a pick to ``target`` (atomically); returns ``target``.

    ``candidates`` come best first; their ``image``/``thumbnail`` and
    ``contact_sheet`` are paths relative to the report's directory.
    ``timeline`` holds equal-length arrays ``time``, ``brightness``,
    ``sharpness``, ``motion`` and ``cut_score`` (a missing lane is drawn as
    "not measured"). Raises ``ValueError`` on mismatched arrays or on an image
    path that leaves the report's directory, and
    :class:`~thumbsel.errors.OutputError` when the file cannot be written.
    """
    target = Path(target)
    timeline_svg = _timeline_svg(timeline, video, shots, candidates)
    frames = _finite(video.get("frames"))
    path = str(video.get("path") or "")

    sections: list[tuple[str, str, str]] = []
    cards = "".join(
        _candidate_card(candidate, position, video) for position, candidate in enumerate(candidates)
    )
    sections.append(
        (
            "candidates",
            "Candidates",
            '<p class="lede">Best first. One moment per shot unless a shot is worth more; '
            "bars show each signal normalised within this title (0\u20131).</p>"
            + (
                f'<div class="grid">{cards}</div>'
                if cards
                else '<p class="note">No frame passed the filters.</p>'
            ),
        )
    )
    if contact_sheet:
        reference = _local_reference(contact_sheet, "contact sheet")
        sections.append(
            (
                "contact-sheet",
                "Contact sheet",
                f'<a href="{reference}"><img class="sheet" src="{reference}" '
                'alt="Contact sheet of the candidates in rank order" loading="lazy"/></a>',
            )
        )
    sections.append(
        (
            "timeline",
            "Timeline",
            f'<p class="lede">Per-frame signals over time. Shot boundaries are thin lines from the '
            f"Shots strip, drawn through every lane while there are at most {DENSE_BOUNDARIES}; "
            "numbered discs are the chosen frames (click one to jump to its card). "
            "Hover for values.</p>"
            f'<div class="panel">{_legend(shots)}'
            f'<div class="timeline-wrap">{timeline_svg}</div></div>',
        )
    )
    sections.append(
        (
            "filters",
            "Filters",
            '<p class="lede">Frames ruled out before ranking, each counted under the first '
            "filter that applies.</p>"
            f'<div class="panel table-wrap">{_rejection_table(rejected, frames)}</div>',
        )
    )
    sections.append(
        ("shots", "Shots", f'<div class="panel">{_shot_table(shots, candidates)}</div>')
    )

    navigation = "".join(f'<li><a href="#{key}">{_e(name)}</a></li>' for key, name, _ in sections)
    body = "\n".join(
        f'<section id="{key}" aria-labelledby="{key}-heading">'
        f'<h2 id="{key}-heading">{_e(name)}</h2>{content}</section>'
        for key, name, content in sections
    )
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<meta name="generator" content="thumbsel {_e(__version__)}"/>
<title>{_e(title)} · thumbsel report</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header>
<p class="eyebrow">thumbsel · artwork candidates</p>
<h1>{_e(title)}</h1>
<p class="path">{_e(path)}</p>
{_facts(video, shots, candidates, rejected)}
{_notes(video)}
</header>
<nav aria-label="Sections"><ul>{navigation}</ul></nav>
{body}
<footer>Made by thumbsel {_e(__version__)}. Self-contained: this page loads nothing from the
network; images are the files next to it.</footer>
</main>
</body>
</html>
"""
    write_text(target, document)
    return target
