"""``analyze``: one decode of a video into its frame table."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from thumbsel.columns import column
from thumbsel.decode import DEFAULT_MAX_PIXELS, VideoSource, open_video
from thumbsel.errors import EmptyVideoError, FacesUnavailableError
from thumbsel.features import default_batch_size, extract_features, set_threads
from thumbsel.frames import FrameTable, SourceFile
from thumbsel.people import (
    DEFAULT_INTERVAL,
    PeopleSampler,
    faces_installed,
    require_faces,
    why_faces_unavailable,
)
from thumbsel.people.identity import IdentityModel, identity_installed, identity_model
from thumbsel.video import DecodeReport, VideoInfo

__all__ = ["Analysis", "analyze", "people_models", "people_sampler"]


@dataclass(frozen=True)
class Analysis:
    """One pass over a video: its frame table, and how long the pass took."""

    frames: FrameTable
    seconds: float
    """Wall time of the pass (decoding, hashing the file, scoring, people)."""
    people_samples: int = 0
    """Frames the face models looked at (0 when faces were off)."""
    people_seconds: float = 0.0
    """Time the face worker spent on them, alongside the scoring threads."""
    sightings: pa.Table | None = None
    """Every face on those frames, tracked, with one identity embedding per track
    (:mod:`thumbsel.people.tracks`); None when the cast was not looked for."""
    people_embedded: int = 0
    """Tracks embedded (the cast's share of the face worker's time)."""

    @property
    def path(self) -> str:
        return self.frames.path

    @property
    def video(self) -> VideoInfo:
        return self.frames.video

    @property
    def decode(self) -> DecodeReport:
        return self.frames.decode

    @property
    def complete(self) -> bool:
        """True when the whole stream decoded without damage."""
        return self.frames.complete


def analyze(
    path: str | os.PathLike[str],
    *,
    batch_size: int | None = None,
    threads: int | None = None,
    decode_threads: int | None = None,
    progress: bool | None = None,
    on_progress: Callable[[int], None] | None = None,
    faces: bool | None = None,
    people_interval: float = DEFAULT_INTERVAL,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    cast: bool | None = None,
) -> Analysis:
    """Decode ``path`` once and measure every frame, and the people on a sample of them.

    ``threads`` sets the scoring threads (default: ``THUMBSEL_THREADS`` or all
    cores); ``decode_threads`` FFmpeg's. ``progress=True`` draws a progress
    bar on stderr (default: only when stderr is a terminal). ``faces=None``
    samples frames for people (:mod:`thumbsel.people.sample`, one every
    ``people_interval`` seconds of a long take) when the ``faces`` extra is
    installed and can run (installed but short of memory, it warns and leaves
    them out), ``True`` insists on it, ``False`` leaves the people columns
    null. ``cast`` follows the faces (``None``: when the ``cast`` extra is
    installed too): it tracks them and embeds one face per track, for
    :func:`thumbsel.cast.find_cast`. Frames above ``max_pixels`` are refused before decoding
    (:class:`~thumbsel.errors.VideoTooLargeError`). Raises a
    :class:`~thumbsel.errors.ThumbselError` subclass for unreadable input; a
    damaged file yields what could be decoded, with ``frames.decode`` saying
    how much.
    """
    started = time.perf_counter()
    if threads is not None:
        set_threads(threads)
    faces, identity = people_models(faces, cast)
    with contextlib.ExitStack() as stack:
        opened = open_video(path, threads=decode_threads, max_pixels=max_pixels)
        source = stack.enter_context(opened)
        sampler = (
            stack.enter_context(people_sampler(source, people_interval, identity))
            if faces
            else None
        )
        bar = _progress_bar(source, progress)
        try:

            def advance(count: int) -> None:
                if bar is not None:
                    if sampler is not None:
                        bar.set_postfix_str(f"people: {sampler.samples} frames", refresh=False)
                    bar.update(count)
                if on_progress is not None:
                    on_progress(count)

            if batch_size is None:
                batch_size = default_batch_size(source.info.width, source.info.height)
            table = extract_features(
                source,
                batch_size=batch_size,
                on_progress=advance,
                on_batch=sampler.offer if sampler is not None else None,
            )
            if sampler is not None:
                if bar is not None:
                    bar.set_postfix_str(f"people: finishing {sampler.samples} frames")
                for name, values in sampler.finish(table.num_rows).items():
                    entry = column(name)
                    table = table.append_column(
                        entry.field(), pa.array(values, pa.float64(), mask=np.isnan(values))
                    )
        finally:
            if bar is not None:
                bar.close()
        report = source.report
        info = source.info
    if table.num_rows == 0:  # decode raises first; this guards future sources
        raise EmptyVideoError(f"{path}: no frames were decoded")
    frames = FrameTable(table, video=info, source=SourceFile.of(path), decode=report)
    return Analysis(
        frames=frames,
        seconds=time.perf_counter() - started,
        people_samples=sampler.samples if sampler is not None else 0,
        people_seconds=sampler.seconds if sampler is not None else 0.0,
        sightings=sampler.sightings if sampler is not None else None,
        people_embedded=sampler.embedded if sampler is not None else 0,
    )


def people_models(faces: bool | None, cast: bool | None) -> tuple[bool, IdentityModel | None]:
    """Whether to look for people, and the identity model when telling them apart
    (see :func:`analyze` for what ``None`` means for each)."""
    if faces is None:
        reason = why_faces_unavailable()
        if reason is not None and faces_installed():
            # Asked for by default, installed, yet unable to run (memory, a broken
            # model): the pixels still rank the frames, and the user is told.
            warnings.warn(f"people left out: {reason}", stacklevel=3)
        faces = reason is None
    elif faces:
        require_faces()
    identity = None
    if cast or (cast is None and faces and identity_installed()):
        if not faces:
            raise FacesUnavailableError(
                "knowing the cast needs the faces: they are off (faces=False) or not installed"
            )
        identity = identity_model()
    return faces, identity


def people_sampler(
    source: VideoSource, interval: float, identity: IdentityModel | None
) -> PeopleSampler:
    """The sampler of one pass over ``source`` (enter it, so its worker stops with the pass)."""
    return PeopleSampler(interval=interval, duration=source.info.duration, identity=identity)


def _progress_bar(source: Any, progress: bool | None) -> Any:
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(
        total=source.info.estimated_frames,
        unit="frame",
        desc=Path(source.path).name,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )
