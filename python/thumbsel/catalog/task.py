"""One title of a catalog, as a Dask task runs it on a worker.

The task is idempotent, so Dask may run it again after a worker dies:

* A title whose folder holds a finished record (``title.json``) with the
  same content hash, options and thumbsel version is skipped: nothing is
  recomputed.
* Otherwise the pick is written into a fresh folder and put in place as
  ``OUTROOT/<title_id>/`` by :class:`~thumbsel.catalog.store.OutputRoot`:
  by renames on a local root (complete or absent, never half written), by
  uploads with ``title.json`` last on an object store.
* Bad input fails this title only: the task returns a ``failed`` record
  with the one-line error, and leaves any earlier complete folder alone.

A long title may be measured in segments on several workers
(:mod:`thumbsel.segments`): :func:`prepare_title` plans them,
:func:`measure_segment` runs one, and :func:`run_title` stitches them into
the one pass it would otherwise make itself. A title gets ``frames //
segment_frames`` segments (:data:`DEFAULT_SEGMENT_FRAMES`), at most two per
worker thread of the cluster: enough for every thread to work on it, and,
two each, a thread whose segment ran slow holds up the title half as long.
See ``benches/README.md`` for what a seam costs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from thumbsel._core import __version__
from thumbsel.catalog.store import RECORD, WORK, OutputRoot
from thumbsel.catalog.titles import Title
from thumbsel.decode import probe
from thumbsel.errors import ThumbselError
from thumbsel.files import write_json
from thumbsel.frames import SourceFile
from thumbsel.pipeline import PickOptions, pick_title
from thumbsel.segments import (
    SegmentMismatch,
    SegmentPart,
    SegmentPlan,
    analyze_segment,
    plan_segments,
    segment_count,
    stitch,
)

__all__ = [
    "DEFAULT_SEGMENT_FRAMES",
    "MAX_SEGMENT_FRAMES",
    "MIN_SEGMENT_FRAMES",
    "RECORD",
    "WORK",
    "Prepared",
    "measure_segment",
    "prepare_title",
    "run_title",
    "title_options",
]

DEFAULT_SEGMENT_FRAMES = 9_000
"""Six minutes at 25 frames/s: a seam then costs well under 1% of its segment."""
MIN_SEGMENT_FRAMES = 100
MAX_SEGMENT_FRAMES = 100_000_000


def title_options(options: PickOptions, title: Title) -> PickOptions:
    """The run's options with the title's own (from a manifest) over them."""
    return dataclasses.replace(options, **title.options) if title.options else options


@dataclass(frozen=True)
class Prepared:
    """A title checked against its finished record, and planned."""

    record: dict[str, Any]
    """Final when :attr:`done` (skipped, or failed before any work); else the start of one."""
    done: bool
    options: PickOptions | None = None
    source: SourceFile | None = None
    plan: SegmentPlan | None = None
    """Where to cut it, when it is worth measuring in segments."""


def prepare_title(
    title: Title,
    outroot: str,
    options: PickOptions,
    *,
    slots: int = 1,
    segment_frames: int = DEFAULT_SEGMENT_FRAMES,
) -> Prepared:
    """Hash the title, skip it when a finished record matches, and plan its segments:
    ``min(2 * slots, frames // segment_frames)`` of them, when that is two or more."""
    record: dict[str, Any] = {
        "title_id": title.title_id,
        "path": title.path,
        "series": title.series,
        "episode": title.episode,
        "genres": list(title.genres),
        "cast": list(title.cast),
        "version": __version__,
        "status": "failed",
        "error": None,
    }
    try:
        chosen = title_options(options, title)
        record["options"] = chosen.as_dict()
        source = SourceFile.of(title.path)
        record["sha256"] = source.sha256
    except (ThumbselError, ValueError, OSError) as error:
        record["error"] = _one_line(error)
        return Prepared(record, done=True)
    previous = _finished(OutputRoot(outroot), title.title_id)
    if previous is not None and all(
        previous.get(key) == record[key] for key in ("sha256", "options", "version")
    ):
        return Prepared(previous | {"status": "skipped"}, done=True)
    plan = None
    if slots >= 2:
        try:
            frames = probe(title.path, max_pixels=chosen.max_pixels).estimated_frames or 0
            count = min(2 * slots, segment_count(frames, segment_frames))
            if count >= 2:
                plan = plan_segments(title.path, count, max_pixels=chosen.max_pixels)
        except ThumbselError:
            plan = None  # the whole-title run reports what is wrong with it
    return Prepared(record, done=False, options=chosen, source=source, plan=plan)


def measure_segment(
    prepared: Prepared, part: int, *, batch_size: int | None = None
) -> SegmentPart | None:
    """Measure one segment of a prepared title (a Dask task of its own); None when it
    cannot be, and then the title is measured whole (which reports why)."""
    assert prepared.plan is not None and prepared.options is not None
    try:
        return analyze_segment(
            prepared.plan, part, batch_size=batch_size, **prepared.options.pass_arguments()
        )
    except ThumbselError:
        return None


def run_title(
    title: Title,
    outroot: str,
    options: PickOptions,
    *,
    batch_size: int | None = None,
    prepared: Prepared | None = None,
    parts: Sequence[SegmentPart | None] = (),
) -> dict[str, Any]:
    """Pick one title into ``outroot/<title_id>/``; returns its catalog record.

    ``prepared`` is :func:`prepare_title`'s result (made here when not given),
    and ``parts`` its segments, measured: they are stitched instead of
    measuring the title in one pass.
    """
    started = time.perf_counter()
    prepared = prepared or prepare_title(title, outroot, options)
    record = dict(prepared.record)
    if prepared.done:
        return record
    assert prepared.options is not None
    chosen = prepared.options
    analysis = None
    if parts and prepared.plan is not None:
        measured = [part for part in parts if part is not None]
        try:
            if len(measured) < len(parts):
                raise SegmentMismatch("a segment could not be measured on its own")
            stitched = stitch(
                prepared.plan, measured, source=prepared.source, **chosen.pass_arguments()
            )
        except SegmentMismatch as error:
            # Measured again in one pass below: the split cannot give its answer.
            record["segments_error"] = _one_line(error)
        else:
            analysis = stitched.analysis
            record["segments"] = {
                "count": len(parts),
                "first_frames": [part.span.first for part in measured],
                "stitch_seconds": stitched.seconds,
                "decoded_again": stitched.decoded_again,
                "detected_again": stitched.detected_again,
                "embedded_again": stitched.embedded_again,
                "segment_seconds": [part.seconds for part in measured],
            }
    root = OutputRoot(outroot)
    with root.scratch(title.title_id) as fresh:
        try:
            result = pick_title(title.path, fresh, chosen, batch_size=batch_size, analysis=analysis)
        except ThumbselError as error:
            record["error"] = _one_line(error)
            return record
        summary = json.loads((fresh / "summary.json").read_text(encoding="utf-8"))
        record.update(
            status="done",
            frames=len(result.frames),
            duration=summary.get("video", {}).get("duration"),
            shots=len(result.shots.shots),
            candidates=len(result.selection.candidates),
            characters=len(result.cast.characters) if result.cast is not None else None,
            complete=result.frames.complete,
            warning=None
            if result.frames.complete
            else f"damaged video: {result.frames.decode.summary()}",
            timings=result.timings,
            seconds=time.perf_counter() - started,
        )
        write_json(fresh / RECORD, record, sort_keys=True)
        root.publish(fresh, title.title_id)
    return record


def _finished(root: OutputRoot, title_id: str) -> dict[str, Any] | None:
    try:
        text = root.read_text(f"{title_id}/{RECORD}")
        record: dict[str, Any] = json.loads(text) if text is not None else {}
    except (OSError, ValueError):
        return None
    return record if record.get("status") == "done" else None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
