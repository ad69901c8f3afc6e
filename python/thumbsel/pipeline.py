"""One title, end to end: what ``thumbsel pick`` does, for the CLI and the catalog alike.

decode -> features -> people (one pass, :func:`~thumbsel.analysis.analyze`) ->
shots -> cast -> select -> artwork -> outputs. :func:`pick_title` composes the
stages so that a catalog's worker writes exactly what ``thumbsel pick`` writes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from thumbsel.analysis import Analysis, analyze
from thumbsel.artwork import Artwork, character_portraits, describe_artwork
from thumbsel.cast import Cast, find_cast, load_series_cast, name_from_gallery, name_from_series
from thumbsel.decode import DEFAULT_MAX_PIXELS, MAX_MAX_PIXELS
from thumbsel.errors import OutputError, ThumbselError
from thumbsel.frames import FrameTable
from thumbsel.outputs import write_pick
from thumbsel.people.sample import DEFAULT_INTERVAL, MAX_INTERVAL, MIN_INTERVAL
from thumbsel.people.tracks import read_sightings, sightings_path
from thumbsel.select import DEFAULT_K, MAX_K, QualityWeights, Selection, SelectionOptions, select
from thumbsel.shots import ShotDetection, ShotOptions, detect_shots

__all__ = ["MAX_SHOT_FRAMES", "PickOptions", "PickResult", "measure", "pick_title"]

MAX_SHOT_FRAMES = 100_000


@dataclass(frozen=True)
class PickOptions:
    """Every choice a pick makes; the CLI's options, one field each."""

    k: int = DEFAULT_K
    weights: QualityWeights = field(default_factory=QualityWeights)
    min_shot_frames: int = ShotOptions().min_shot_frames
    faces: bool = True
    """Look for people (when the ``faces`` extra can run)."""
    cast: bool = True
    """Tell the people apart (when the ``cast`` extra is installed)."""
    people_interval: float = DEFAULT_INTERVAL
    max_pixels: int = DEFAULT_MAX_PIXELS
    per_character: int = SelectionOptions().per_character
    character: str | None = None
    gallery: str | None = None
    """``--cast DIR``: reference photos that name the characters."""
    series_cast: str | None = None
    embeddings: bool = True
    fast: bool = False
    """The fast pass (:func:`~thumbsel.analysis.analyze`'s ``fast``): decodes less, the
    stills still decoded in full."""

    def __post_init__(self) -> None:
        checks = (
            ("k", 1 <= self.k <= MAX_K, f"1..{MAX_K}"),
            (
                "min_shot_frames",
                1 <= self.min_shot_frames <= MAX_SHOT_FRAMES,
                f"1..{MAX_SHOT_FRAMES}",
            ),
            (
                "people_interval",
                math.isfinite(self.people_interval)
                and MIN_INTERVAL <= self.people_interval <= MAX_INTERVAL,
                f"{MIN_INTERVAL:g}..{MAX_INTERVAL:g}",
            ),
            ("max_pixels", 1 <= self.max_pixels <= MAX_MAX_PIXELS, f"1..{MAX_MAX_PIXELS}"),
            ("per_character", 0 <= self.per_character <= MAX_K, f"0..{MAX_K}"),
        )
        for name, ok, bounds in checks:
            if not ok:
                raise ValueError(f"{name} must be within {bounds}, got {getattr(self, name)!r}")

    def pass_arguments(self) -> dict[str, Any]:
        """What the options ask of the measuring pass (:func:`~thumbsel.analysis.analyze`'s
        keywords), so a pass in segments makes the same choices."""
        return {
            "faces": None if self.faces else False,
            "people_interval": self.people_interval,
            "max_pixels": self.max_pixels,
            "cast": None if self.cast and self.faces else False,
        }

    def as_dict(self) -> dict[str, Any]:
        """Plain values (weights as a mapping), for a catalog's records."""
        values = dataclasses.asdict(self)
        values["weights"] = self.weights.as_dict()
        return values


@dataclass(frozen=True)
class PickResult:
    frames: FrameTable
    shots: ShotDetection
    selection: Selection
    artwork: tuple[Artwork, ...]
    cast: Cast | None
    target: Path
    """``candidates.json``."""
    timings: dict[str, float]


def measure(
    video: str | os.PathLike[str],
    options: PickOptions,
    *,
    frames_table: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    threads: int | None = None,
    progress: bool | None = False,
    analysis: Analysis | None = None,
) -> tuple[FrameTable, dict[str, float], pa.Table | None]:
    """The frame table and the faces sighted: read back from ``frames_table`` (and
    its sightings beside it), taken from an ``analysis`` already made (a stitch of
    segments, :mod:`thumbsel.segments`), or measured now in one pass; and the
    seconds it took."""
    started = time.perf_counter()
    if frames_table is not None:
        frames = FrameTable.read_parquet(frames_table).for_video(video)
        sightings = read_sightings(sightings_path(frames_table))
        return frames, {"read_frames": time.perf_counter() - started}, sightings
    analysis = analysis or analyze(
        video,
        batch_size=batch_size,
        threads=threads,
        progress=progress,
        fast=options.fast,
        **options.pass_arguments(),
    )
    # The people worker runs beside the scoring threads, inside the analysis time.
    timings = {"analyze": analysis.seconds, "people": analysis.people_seconds}
    return analysis.frames, timings, analysis.sightings


def pick_title(
    video: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    options: PickOptions | None = None,
    *,
    frames_table: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    threads: int | None = None,
    progress: bool | None = False,
    analysis: Analysis | None = None,
    interest: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = None,
) -> PickResult:
    """Pick ``video``'s candidates into ``outdir`` (see ``thumbsel pick``).

    ``interest`` maps frame times (seconds) to the title's interest curve
    (0..1), for ``options.weights.interest`` and the report's timeline.

    ``frames_table`` reuses the ``frames.parquet`` of an earlier analysis (and
    its sightings beside it: :func:`~thumbsel.people.tracks.sightings_path`)
    instead of decoding again; ``analysis`` is a pass already made with these
    options. Raises a
    :class:`~thumbsel.errors.ThumbselError` for bad input, output or options.
    """
    options = options or PickOptions()
    if Path(outdir).is_file():
        raise OutputError(f"{outdir}: exists and is not a directory")
    series = load_series_cast(Path(options.series_cast)) if options.series_cast else None
    frames, timings, sightings = measure(
        video,
        options,
        frames_table=frames_table,
        batch_size=batch_size,
        threads=threads,
        progress=progress,
        analysis=analysis,
    )
    clock = time.perf_counter()
    shots = detect_shots(frames, ShotOptions(min_shot_frames=options.min_shot_frames))
    cast = None
    if options.cast and sightings is not None:
        try:
            cast = find_cast(frames, shots, sightings)
        except ValueError as error:
            raise ThumbselError(f"{frames_table or video}: {error}") from None
        if series is not None:
            cast = name_from_series(cast, series)
        if options.gallery:
            cast = name_from_gallery(cast, Path(options.gallery))
        timings["cast"] = time.perf_counter() - clock
    elif options.character or options.gallery or options.series_cast:
        raise ThumbselError(
            "--character, --cast and --series-cast need the cast: install thumbsel[cast], "
            "and keep the faces on"
        )
    chosen = SelectionOptions(per_character=options.per_character, character=options.character)
    try:
        selection = select(
            frames,
            shots,
            options.k,
            weights=options.weights,
            options=chosen,
            cast=cast,
            interest=None if interest is None else interest(np.asarray(frames.times)),
        )
    except ValueError as error:
        raise ThumbselError(str(error)) from None
    timings["select"] = time.perf_counter() - clock
    clock = time.perf_counter()
    faces = None if options.faces else False
    artwork = describe_artwork(frames, shots, selection, faces=faces, cast=cast)
    portraits = character_portraits(frames, cast) if cast is not None else None
    timings["artwork"] = time.perf_counter() - clock
    target = write_pick(
        frames,
        shots,
        selection,
        artwork,
        outdir,
        timings=timings,
        cast=cast,
        portraits=portraits,
        embeddings=options.embeddings,
    )
    return PickResult(frames, shots, selection, artwork, cast, target, timings)
