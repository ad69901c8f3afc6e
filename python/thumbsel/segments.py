"""A long title in segments: parts of one pass on different workers, stitched into it.

A catalog with fewer titles than workers would wait on its longest title, so
a long title can be cut into **segments** that start at keyframes
(:func:`plan_segments`), each decoded and measured on its own
(:func:`analyze_segment`), and stitched back (:func:`stitch`) into exactly
what :func:`~thumbsel.analysis.analyze` measures in one pass: the same rows,
times, measurements, people and sightings. Everything after the pass (shots,
cast, selection, artwork) then runs on the whole title as usual, so a shot
that spans a seam is one shot, and a cut exactly at a seam is found.

What makes the seams exact:

* **Rows and times.** The packets alone (:meth:`VideoSource.index`) say how
  many frames come before each keyframe; a title whose packets cannot say
  (no timestamps, discarded or corrupt packets, a transport stream's clock)
  is not split. Each part checks that it decoded exactly its frames.
* **Change signals.** A segment's first frame is compared with the frame
  before it, which the segment before decodes: each part but the last also
  measures the next part's first frame (the *lookahead*), and the stitch
  takes that row from it, after checking that the frame's own measurements
  agree with the next part's (the same picture decoded twice).
* **People.** Which frames the face models look at depends on the frames
  before them (:class:`~thumbsel.people.sample.Windows`), and the rule reads
  measurements only; so the stitch replays it over the whole title, takes
  each sampled frame's faces from the part that saw it, and decodes again
  the few frames near a seam that no part sampled. Tracks are replayed the
  same way across seams; a track's best face is embedded by whichever part
  embedded it, or afresh.

Any check that fails raises :class:`SegmentMismatch`, and the caller measures
the title in one pass instead: a split is only ever a way to get the same
answer sooner.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from thumbsel.analysis import Analysis, people_models, people_sampler
from thumbsel.columns import CORE_COLUMNS, column
from thumbsel.decode import DEFAULT_MAX_PIXELS, Span, StreamIndex, open_video
from thumbsel.errors import SegmentMismatch
from thumbsel.features import default_batch_size, extract_features, set_threads
from thumbsel.frames import FrameTable, SourceFile
from thumbsel.people import DEFAULT_INTERVAL
from thumbsel.people.faces import Face, detect_faces
from thumbsel.people.identity import IdentityModel
from thumbsel.people.sample import people_table, plan_samples, sample_interval, to_rgb
from thumbsel.people.tracks import Box, Tracker
from thumbsel.video import DecodeReport

__all__ = [
    "MAX_SEGMENTS",
    "SegmentMismatch",
    "SegmentPart",
    "SegmentPlan",
    "Stitched",
    "analyze_segment",
    "plan_segments",
    "segment_count",
    "stitch",
]

MAX_SEGMENTS = 256
"""Segments of one title at most: beyond this the seams cost more than they save."""

_CHANGE_COLUMNS = frozenset(entry.name for entry in CORE_COLUMNS if entry.nullable)
"""Columns that compare a frame with the one before it (null on the first)."""


@dataclass(frozen=True)
class SegmentPlan:
    """Where one title is cut: keyframe-aligned spans covering every frame once."""

    path: str
    index: StreamIndex
    spans: tuple[Span, ...]

    @property
    def frames(self) -> int:
        return self.index.frames


def plan_segments(
    path: str | os.PathLike[str],
    segments: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> SegmentPlan | None:
    """Cut ``path`` into about ``segments`` spans of equal length, each starting at
    the keyframe nearest its ideal start; None when it cannot be split (see the
    module notes) or would make one segment only."""
    if not 1 <= segments <= MAX_SEGMENTS:
        raise ValueError(f"segments must be within 1..{MAX_SEGMENTS}, got {segments}")
    with open_video(path, max_pixels=max_pixels) as source:
        index = source.index()
    if index is None or segments == 1 or len(index.keyframes) < 2 or index.keyframes[0] != 0:
        return None
    ideal = np.arange(1, segments) * index.frames / segments
    # The keyframe nearest each ideal start (ties to the earlier one).
    after = np.clip(np.searchsorted(index.keyframes, ideal), 1, len(index.keyframes) - 1)
    before = after - 1
    nearer = np.where(
        ideal - index.keyframes[before] <= index.keyframes[after] - ideal, before, after
    )
    starts = sorted({0, *(int(index.keyframes[i]) for i in nearer)})
    if len(starts) < 2:
        return None
    stops: list[int | None] = [*starts[1:], None]
    spans = tuple(
        Span(
            first=first,
            stop=stop,
            first_stamp=int(index.stamps[first]),
            stop_stamp=None if stop is None else int(index.stamps[stop]),
        )
        for first, stop in zip(starts, stops, strict=True)
    )
    return SegmentPlan(os.fspath(path), index, spans)


@dataclass(frozen=True)
class SegmentPart:
    """What one segment measured: its rows (and the lookahead), and its people."""

    span: Span
    table: pa.Table
    """Decode and core columns of the span's frames, then of the lookahead."""
    durations: tuple[float | None, ...]
    """Each frame's own duration, as the decoder reported it."""
    report: DecodeReport
    samples: tuple[tuple[int, tuple[Face, ...]], ...]
    """Rows (of the whole title) the part's face models looked at, with their faces."""
    embeddings: dict[tuple[int, int], npt.NDArray[np.float32]]
    """Embedded faces by (row, rank in the frame)."""
    size: tuple[int, int] | None
    seconds: float
    people_seconds: float


def analyze_segment(
    plan: SegmentPlan,
    part: int,
    *,
    batch_size: int | None = None,
    threads: int | None = None,
    faces: bool | None = None,
    people_interval: float = DEFAULT_INTERVAL,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    cast: bool | None = None,
) -> SegmentPart:
    """Measure span ``part`` of ``plan`` as :func:`~thumbsel.analysis.analyze` would
    (the options mean the same, and must be the same for every part)."""
    started = time.perf_counter()
    span = plan.spans[part]
    if threads is not None:
        set_threads(threads)
    faces, identity = people_models(faces, cast)
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open_video(plan.path, max_pixels=max_pixels))
        sampler = (
            stack.enter_context(people_sampler(source, people_interval, identity))
            if faces
            else None
        )
        if batch_size is None:
            batch_size = default_batch_size(source.info.width, source.info.height)
        table = extract_features(
            source,
            batch_size=batch_size,
            on_batch=sampler.offer if sampler is not None else None,
            span=span,
        )
        samples: list[tuple[int, tuple[Face, ...]]] = []
        embeddings: dict[tuple[int, int], npt.NDArray[np.float32]] = {}
        if sampler is not None:
            samples = [(span.first + row, tuple(found)) for row, found in sampler.collect()]
            if sampler.sightings is not None:
                embeddings = _embedded(sampler.sightings, span.first)
        return SegmentPart(
            span=span,
            table=table,
            durations=tuple(source.span_durations),
            report=source.report,
            samples=tuple(samples),
            embeddings=embeddings,
            size=sampler.size if sampler is not None else None,
            seconds=time.perf_counter() - started,
            people_seconds=sampler.seconds if sampler is not None else 0.0,
        )


def _embedded(sightings: pa.Table, offset: int) -> dict[tuple[int, int], npt.NDArray[np.float32]]:
    best = sightings.filter(sightings.column("best"))
    return {
        (offset + int(frame), int(face)): np.asarray(vector, np.float32)
        for frame, face, vector in zip(
            best.column("frame").to_pylist(),
            best.column("face").to_pylist(),
            best.column("embedding").to_pylist(),
            strict=True,
        )
    }


def stitch(
    plan: SegmentPlan,
    parts: Sequence[SegmentPart],
    *,
    faces: bool | None = None,
    people_interval: float = DEFAULT_INTERVAL,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    cast: bool | None = None,
    source: SourceFile | None = None,
) -> Stitched:
    """The one-pass :class:`~thumbsel.analysis.Analysis` of the title, from its parts
    (measured with the same options); raises :class:`SegmentMismatch` when they do
    not join exactly. ``source`` saves hashing the file again when it is known."""
    started = time.perf_counter()
    parts = sorted(parts, key=lambda part: part.span.first)
    _check(plan, parts)
    table = pa.concat_tables(
        [parts[0].table, *(part.table.slice(1) for part in parts[1:])]
    ).combine_chunks()
    report = DecodeReport(
        expected_duration=parts[0].report.expected_duration,
        frame_duration=parts[0].report.frame_duration,
    )
    times = table.column("time").to_numpy()
    durations = [d for part in parts[:-1] for d in part.durations[:-1]] + list(parts[-1].durations)
    for moment, duration in zip(times, durations, strict=True):
        report.record_frame(float(moment), duration)
    report.finish(demuxer_failed=False)
    faces, identity = people_models(faces, cast)
    samples = 0
    sightings = None
    embedded = 0
    people = None
    with open_video(plan.path, max_pixels=max_pixels) as video:
        info = video.info
        if faces:
            people = _People(plan, parts, video, identity)
            interval = sample_interval(people_interval, info.duration)
            measured = {
                name: table.column(name).to_numpy(zero_copy_only=False)
                for name in ("sharpness", "motion", "brightness", "hash_distance")
            }
            windows = plan_samples(measured, times, interval)
            found = people.faces_of([window.row for window in windows])
            columns = people_table(
                [(window.row, found[window.row]) for window in windows],
                table.num_rows,
                people.size,
            )
            for name, values in columns.items():
                table = table.append_column(
                    column(name).field(), pa.array(values, pa.float64(), mask=np.isnan(values))
                )
            if identity is not None:
                tracker = Tracker(None, resolve=people.embed)
                for window in windows:
                    tracker.see(
                        window.row,
                        None,
                        list(found[window.row]),
                        last_new_picture=window.last_new_picture,
                    )
                sightings = tracker.table()
                embedded = tracker.embedded
            samples = len(windows)
    source = source or SourceFile.of(plan.path)
    frames = FrameTable(table, video=info, source=source, decode=report)
    seconds = time.perf_counter() - started
    analysis = Analysis(
        frames=frames,
        seconds=sum(part.seconds for part in parts) + seconds,
        people_samples=samples,
        people_seconds=sum(part.people_seconds for part in parts),
        sightings=sightings,
        people_embedded=embedded,
    )
    return Stitched(
        analysis,
        seconds=seconds,
        decoded_again=people.decoded_again if people is not None else 0,
        detected_again=people.detected_again if people is not None else 0,
        embedded_again=people.embedded_again if people is not None else 0,
    )


@dataclass(frozen=True)
class Stitched:
    """A stitched pass, and what the seams cost beyond the parts."""

    analysis: Analysis = field(repr=False)
    seconds: float
    """Wall time of the stitch itself."""
    decoded_again: int
    """Frames decoded a second time, to look at frames near a seam no part sampled."""
    detected_again: int
    """Frames the face models looked at again for that."""
    embedded_again: int
    """Faces embedded again (a track's best face on such a frame)."""


def _check(plan: SegmentPlan, parts: Sequence[SegmentPart]) -> None:
    if [part.span for part in parts] != list(plan.spans):
        raise SegmentMismatch(f"{plan.path}: the parts are not the plan's segments")
    for number, part in enumerate(parts):
        span = part.span
        stop = plan.frames if span.stop is None else span.stop + 1
        rows = part.table.num_rows
        where = f"{plan.path}: segment {number + 1} of {len(parts)}"
        if part.report.decode_errors or part.report.suspect_packets:
            raise SegmentMismatch(f"{where} did not decode cleanly")
        frame = part.table.column("frame").to_numpy()
        if rows != stop - span.first or not np.array_equal(
            frame, np.arange(span.first, stop, dtype=np.int64)
        ):
            raise SegmentMismatch(
                f"{where} decoded {rows} frames where the packets promise {stop - span.first}"
            )
        if len(part.durations) != rows:
            raise SegmentMismatch(f"{where}: frames without their durations")
    for before, after in itertools.pairwise(parts):
        seen = before.table.slice(before.table.num_rows - 1)
        again = after.table.slice(0, 1)
        for name in seen.column_names:
            if name in _CHANGE_COLUMNS:
                continue
            if seen.column(name).to_pylist() != again.column(name).to_pylist():
                raise SegmentMismatch(
                    f"{plan.path}: frame {after.span.first} decodes differently in two "
                    f"segments ({name}); it cannot be split at keyframes"
                )


class _People:
    """The faces and embeddings the parts found, and what no part found, found again."""

    def __init__(
        self,
        plan: SegmentPlan,
        parts: Sequence[SegmentPart],
        source: Any,
        identity: IdentityModel | None,
    ) -> None:
        self._plan = plan
        self._source = source
        self._identity = identity
        self._faces: dict[int, tuple[Face, ...]] = {}
        self._embeddings: dict[tuple[int, int], npt.NDArray[np.float32]] = {}
        for part in parts:
            self._faces.update(part.samples)
            self._embeddings.update(part.embeddings)
        self.size = next((part.size for part in parts if part.size is not None), None)
        self.decoded_again = 0
        self.detected_again = 0
        self.embedded_again = 0
        import cv2  # the faces extra: the parts ran it

        self._cv2 = cv2

    def faces_of(self, rows: Sequence[int]) -> dict[int, tuple[Face, ...]]:
        missing = [row for row in rows if row not in self._faces]
        for row, planes in self._planes(missing).items():
            self._faces[row] = tuple(detect_faces(to_rgb(self._cv2, *planes)))
            self.detected_again += 1
            if self.size is None:
                height, width = np.asarray(planes[0]).shape
                self.size = (width, height)
        return {row: self._faces[row] for row in rows}

    def embed(self, wanted: list[tuple[int, int, Box]]) -> list[npt.NDArray[np.float32]]:
        missing = [
            (row, rank, box) for row, rank, box in wanted if (row, rank) not in self._embeddings
        ]
        if missing:
            assert self._identity is not None  # a tracker replays only with the cast on
            pictures = {
                row: to_rgb(self._cv2, *planes)
                for row, planes in self._planes(sorted({row for row, _, _ in missing})).items()
            }
            chips = [self._identity.chip(pictures[row], box) for row, _, box in missing]
            self.embedded_again += len(chips)
            for (row, rank, _), vector in zip(missing, self._identity.embed(chips), strict=True):
                self._embeddings[(row, rank)] = vector
        return [self._embeddings[(row, rank)] for row, rank, _ in wanted]

    def _planes(self, rows: Sequence[int]) -> dict[int, tuple[Any, Any, Any]]:
        """Decode ``rows`` again (each from the keyframe before it), as copies of their planes."""
        keyframes = self._plan.index.keyframes
        stamps = self._plan.index.stamps
        by_keyframe: dict[int, list[int]] = {}
        for row in sorted(set(rows)):
            start = int(keyframes[np.searchsorted(keyframes, row, side="right") - 1])
            by_keyframe.setdefault(start, []).append(row)
        found: dict[int, tuple[Any, Any, Any]] = {}
        for start, wanted in by_keyframe.items():
            last = wanted[-1]
            span = Span(
                first=start,
                stop=last,
                first_stamp=int(stamps[start]),
                stop_stamp=int(stamps[last]),
            )
            for batch in self._source.span_batches(span, 8):
                for i, row in enumerate(batch.index):
                    if int(row) in wanted:
                        found[int(row)] = (
                            np.array(batch.y[i]),
                            np.array(batch.u[i]),
                            np.array(batch.v[i]),
                        )
            self.decoded_again += last - start + 1
        if len(found) != len(set(rows)):
            raise SegmentMismatch(
                f"{self._plan.path}: frames near a seam could not be decoded again"
            )
        return found


def segment_count(frames: int, segment_frames: int) -> int:
    """Segments of ``segment_frames`` frames or more for a title of ``frames``."""
    return max(1, min(MAX_SEGMENTS, frames // max(1, segment_frames)))
