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
import numpy.typing as npt
import pyarrow as pa

from thumbsel.columns import CORE_COLUMNS, column
from thumbsel.decode import DEFAULT_MAX_PIXELS, Span, StreamIndex, VideoSource, open_video
from thumbsel.errors import EmptyVideoError, FacesUnavailableError, VideoOpenError
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
from thumbsel.shots import SAME_PICTURE_BITS, ShotOptions, detect_shots
from thumbsel.video import DecodeReport, VideoInfo

__all__ = ["Analysis", "analyze", "fill_skipped", "people_models", "people_sampler"]


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
    fast: bool = False
    """The pass decoded less (:func:`analyze`'s ``fast``); ``frames.interpolated``
    says which rows were not decoded."""
    cuts_redecoded: int = 0
    """Hard cuts the fast pass found next to a skipped frame and decoded again."""
    frames_redecoded: int = 0
    """Frames decoded a second time for those cuts (from the keyframe before each)."""

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
    fast: bool = False,
) -> Analysis:
    """Decode ``path`` once and measure every frame, and the people on a sample of them.

    ``threads`` sets the scoring threads (default: ``THUMBSEL_THREADS`` or all
    cores); ``decode_threads`` FFmpeg's (default:
    :func:`~thumbsel.decode.pass_decode_threads`). ``progress=True`` draws a progress
    bar on stderr (default: only when stderr is a terminal). ``faces=None``
    samples frames for people (:mod:`thumbsel.people.sample`, one every
    ``people_interval`` seconds of a long take) when the ``faces`` extra is
    installed and can run (installed but short of memory, it warns and leaves
    them out), ``True`` insists on it, ``False`` leaves the people columns
    null. ``cast`` follows the faces (``None``: when the ``cast`` extra is
    installed too): it tracks them and embeds one face per track, for
    :func:`thumbsel.cast.find_cast`.

    ``fast=True`` decodes less (see README, "The fast pass"): the deblocking
    filter is skipped, so sharpness reads higher on every frame alike, and
    frames no other frame refers to (most B-frames, about 40% of an H.264
    title) are not decoded; their rows are filled from their neighbours
    (:func:`fill_skipped`, ``interpolated`` true). Where a
    hard cut falls next to a skipped frame, the frames there are decoded
    again, so cuts are exact. Without a timestamp on every packet (so
    skipped frames cannot be placed) it warns and decodes every frame.

    Frames above ``max_pixels`` are refused before decoding
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
            index = _fast_index(source) if fast else None
            table = extract_features(
                source,
                batch_size=batch_size,
                on_progress=advance,
                on_batch=sampler.offer if sampler is not None else None,
                fast=index,
            )
            # The pass's own report: decoding again around cuts starts another.
            report = source.report
            refined = (0, 0)
            if index is not None:
                table = fill_skipped(table, source.row_times(index))
                table, refined = _decode_cuts_again(table, source, index, batch_size)
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
        fast=index is not None,
        cuts_redecoded=refined[0],
        frames_redecoded=refined[1],
    )


def _fast_index(source: VideoSource) -> StreamIndex | None:
    index = source.index()
    if index is None:
        warnings.warn(
            f"{source.path}: the fast pass needs a timestamp on every frame to place the "
            "frames it skips; decoding every frame",
            stacklevel=3,
        )
    return index


def _decode_cuts_again(
    table: pa.Table, source: VideoSource, index: StreamIndex, batch_size: int
) -> tuple[pa.Table, tuple[int, int]]:
    """Decode again the frames skipped around each hard cut of a fast pass.

    The fast pass sees a cut only between two decoded frames; when frames
    were skipped between them, the cut may lie at any of them. Decoding them
    (from the keyframe before, as any seek must; deblocking still skipped,
    so they measure like their neighbours) puts it on its own frame.
    Encoders put a keyframe at a cut and a reference frame just before it,
    so this is rare. Returns the table and (cuts, frames decoded again).
    """
    frames = FrameTable(table, video=source.info)
    interpolated = frames.interpolated
    decoded = np.flatnonzero(~interpolated)
    phash = frames.hashes("phash")
    reach = ShotOptions().flash_window + 1
    cuts = 0
    wanted = np.zeros(len(frames), bool)
    for shot in detect_shots(frames).shots[1:]:
        if shot.transition_in != "cut":
            continue
        cut = shot.start_frame
        wanted[cut - 1 : cut + 1] |= interpolated[cut - 1 : cut + 1]
        # A flash is told from a cut by the picture coming back within a few
        # frames; when it nearly does, those frames must be real too.
        later = slice(cut, min(len(frames), cut + reach + 1))
        bits = np.bitwise_count(phash[later] ^ phash[cut - 1])
        if bits.size and int(bits.min()) <= 2 * SAME_PICTURE_BITS:
            wanted[later] |= interpolated[later]
        cuts += bool(wanted[cut - 1 : later.stop].any())
    windows = _windows(np.flatnonzero(wanted), decoded)
    if not windows:
        return table, (0, 0)
    keyframes = index.keyframes
    # Windows after the same keyframe share one decode from it.
    by_keyframe: dict[int, list[tuple[int, int]]] = {}
    for first, last in windows:
        keyframe = int(keyframes[np.searchsorted(keyframes, first, side="right") - 1])
        by_keyframe.setdefault(keyframe, []).append((first, last))
    pieces: list[pa.Table] = []
    done = 0
    redecoded = 0
    for keyframe, group in by_keyframe.items():
        end = group[-1][1]
        span = Span(
            first=keyframe,
            stop=end,
            first_stamp=int(index.stamps[keyframe]),
            stop_stamp=int(index.stamps[end]),
        )
        again = extract_features(source, batch_size=batch_size, span=span, deblock=False)
        rows = again.column("frame").to_numpy()
        redecoded += len(rows)
        for first, last in group:
            keep = np.flatnonzero((rows > first) & (rows <= last))
            if keep.size != last - first:
                raise VideoOpenError(f"{source.path}: frames near a cut could not be decoded again")
            pieces.append(table.slice(done, first + 1 - done))
            pieces.append(again.take(pa.array(keep)))
            done = last + 1
    pieces.append(table.slice(done))
    return pa.concat_tables(pieces).combine_chunks(), (cuts, redecoded)


def _windows(rows: npt.NDArray[np.int64], decoded: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """Runs of ``rows`` as (decoded row before, decoded row after), overlapping ones merged."""
    windows: list[tuple[int, int]] = []
    for row in rows.tolist():
        place = int(np.searchsorted(decoded, row))
        first = int(decoded[max(place - 1, 0)])
        last = int(decoded[min(place, decoded.size - 1)])
        if windows and first <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(last, windows[-1][1]))
        else:
            windows.append((first, last))
    return windows


def _change_levels(
    change: npt.NDArray[np.float64], gaps: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Per decoded row: the per-frame level to give its gap, and whether its
    change is a spike to keep whole on it."""
    rate = change / gaps
    previous = np.concatenate([[np.nan], rate[:-1]])
    following = np.concatenate([rate[1:], [np.nan]])
    neighbours = np.fmin(previous, following)
    with np.errstate(invalid="ignore"):
        whole = (gaps == 1) | (change > ShotOptions().cut_ratio * neighbours)
    level = np.where(whole, neighbours, rate)
    return np.where(np.isnan(level), rate, level), whole


def fill_skipped(table: pa.Table, times: npt.NDArray[np.float64]) -> pa.Table:
    """The rows of a fast pass (``table``, decoded frames only) for every frame of ``times``.

    A skipped frame lies between two decoded ones, ``a`` before and ``b``
    after. Measurements of the picture are interpolated in time between
    them; hashes, histograms and whole-pixel counts come from the nearer one
    (``a`` on a tie), since a mean of two hashes means nothing.

    A change signal at ``b`` was measured across the whole gap of ``g``
    frames. Steady motion changes about as much on each frame of the gap,
    so each frame of it, ``b`` included, gets ``1/g`` of it: the local level
    that the shot detector compares a cut with stays what a full pass sees.
    A change far above its neighbours' levels (the shot detector's
    ``cut_ratio`` times) is one event, not motion (a cut): it stays whole on
    ``b``, so it is not diluted away, and the gap's other frames get the
    neighbours' level.
    Frames before the first decoded one or after the last copy it, their
    change signals null. Rows keep ``frame`` and ``time`` of their own and
    ``interpolated`` true.
    """
    total = len(times)
    decoded = np.asarray(table.column("frame").to_numpy(), np.int64)
    if decoded.size in (0, total):
        return table
    rows = np.arange(total)
    after = np.clip(np.searchsorted(decoded, rows, side="left"), 0, decoded.size - 1)
    before = np.clip(np.searchsorted(decoded, rows, side="right") - 1, 0, decoded.size - 1)
    exact = decoded[after] == rows
    t_before, t_after = times[decoded[before]], times[decoded[after]]
    span = t_after - t_before
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(span > 0, (times - t_before) / span, 0.0)
    weight = np.clip(weight, 0.0, 1.0)
    nearer = np.where(weight <= 0.5, before, after)
    outside = (rows < decoded[0]) | (rows > decoded[-1])
    gaps = np.diff(decoded, prepend=decoded[0] - 1).astype(np.float64)
    arrays: list[pa.Array] = [
        pa.array(rows, pa.int64()),
        pa.array(times, pa.float64()),
        pa.array(~exact, pa.bool_()),
    ]
    for entry in CORE_COLUMNS:
        values = table.column(entry.name).combine_chunks()
        if entry.dtype != "float64":
            arrays.append(values.take(pa.array(nearer)))
            continue
        numbers = np.asarray(values.to_numpy(zero_copy_only=False), np.float64)
        if entry.nullable:  # a change signal
            level, whole = _change_levels(numbers, gaps)
            filled = np.where(exact & whole[after], numbers[after], level[after])
            filled[outside & ~exact] = np.nan
        else:
            filled = numbers[before] + weight * (numbers[after] - numbers[before])
        mask = np.isnan(filled) if entry.nullable else None
        arrays.append(pa.array(filled, entry.arrow_type, mask=mask))
    return pa.Table.from_arrays(arrays, schema=table.schema)


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
