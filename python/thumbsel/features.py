"""Per-frame features: the Rust kernels, fed from one streaming decode.

Decoding runs in a background thread while the main thread hands each batch
to Rust with the GIL released, so the two overlap; at most a few batches are
in flight, so memory does not grow with the length of the video.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from thumbsel import _core
from thumbsel.columns import CORE_COLUMNS, DECODE_COLUMNS, HISTOGRAM_BINS
from thumbsel.decode import FrameBatch, Span, StreamIndex, VideoSource
from thumbsel.errors import InvalidFrameError, OutOfMemoryError
from thumbsel.memory import can_reserve

__all__ = [
    "FeatureExtractor",
    "default_batch_size",
    "extract_features",
    "frame_features",
    "parallelism_disabled",
    "set_threads",
]

Columns = dict[str, npt.NDArray[Any]]

FeatureExtractor = _core.FeatureExtractor
"""The streaming scorer of the core: ``push_yuv420_planes`` (decoder planes) or
``push_rgb`` batch after batch; change signals carry across batches."""

_PREFETCH_BATCHES = 2

if hasattr(os, "register_at_fork"):
    # The core decides what a forked child may do: see parallelism_disabled().
    os.register_at_fork(after_in_child=_core._after_fork_in_child)


def set_threads(threads: int | None) -> int:
    """Use ``threads`` worker threads for scoring (None: ``THUMBSEL_THREADS`` or all cores)."""
    if threads is not None and threads < 1:
        raise ValueError("threads must be at least 1")
    return _core.set_threads(threads)


def parallelism_disabled() -> bool:
    """Whether scoring runs serially in this process.

    As in Hugging Face tokenizers: a process forked after its parent started
    the scoring threads scores serially (the threads do not exist in the
    child, and N forked workers should not each start N more), unless
    ``THUMBSEL_THREADS`` was set, which asks for that many threads in every
    process. A child forked before any scoring starts its own threads.
    """
    return _core.parallelism_disabled()


def frame_features(rgb: npt.NDArray[np.uint8]) -> Columns:
    """Features of an ``(N, H, W, 3)`` uint8 RGB batch (one ``(H, W, 3)`` frame is accepted too).

    Returns a dict of per-frame numpy arrays named as the measurement columns
    of a :class:`~thumbsel.frames.FrameTable`; change signals compare each
    frame with the one before it in the batch (NaN for the first).
    """
    array = np.asarray(rgb)
    if array.ndim == 3:
        array = array[np.newaxis]
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise InvalidFrameError(
            f"rgb must be a uint8 array of shape (N, H, W, 3); got {array.dtype} {array.shape}"
        )
    return _core.frame_features(np.ascontiguousarray(array))


def _prefetch(batches: Iterator[FrameBatch], depth: int) -> Iterator[FrameBatch]:
    """Decode ahead in a thread; exceptions surface in the consumer, in order."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        slots.put(("batch", batch), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(("end", None))
        except BaseException as error:  # re-raised in the consumer
            slots.put(("error", error))

    worker = threading.Thread(target=produce, name="thumbsel-decode", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def _record_batch(batch: FrameBatch, columns: Columns, schema: pa.Schema) -> pa.RecordBatch:
    arrays: list[pa.Array] = [
        pa.array(batch.index, pa.int64()),
        pa.array(batch.time, pa.float64()),
        pa.array(np.zeros(len(batch), bool), pa.bool_()),
    ]
    for entry in CORE_COLUMNS:
        values = columns[entry.name]
        if entry.dtype == "float32[64]":
            flat = pa.array(np.ascontiguousarray(values, np.float32).ravel(), pa.float32())
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, HISTOGRAM_BINS))
        elif entry.nullable:
            arrays.append(pa.array(values, entry.arrow_type, mask=np.isnan(values)))
        else:
            arrays.append(pa.array(values, entry.arrow_type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def extract_features(
    source: VideoSource,
    *,
    batch_size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_batch: Callable[[FrameBatch, Columns], None] | None = None,
    span: Span | None = None,
    fast: StreamIndex | None = None,
    deblock: bool = True,
) -> pa.Table:
    """Score every frame of ``source`` in one streaming pass; returns the rows.

    ``batch_size`` defaults to :func:`default_batch_size` for the frame size.
    ``on_batch`` sees each batch with its measurements, in order, while the
    planes are still there: the people stage samples frames from it.
    ``span`` scores those frames only (:meth:`VideoSource.span_batches`;
    ``deblock=False`` skips the deblocking filter there).
    ``fast`` (the stream's :meth:`~VideoSource.index`) is the fast pass: only
    the frames it decodes get rows (:func:`thumbsel.analysis.fill_skipped` adds
    the others); progress still counts every frame of the title.
    """
    if batch_size is None:
        batch_size = default_batch_size(source.info.width, source.info.height)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    info = source.info
    # Batches in flight (decoding, queued, scoring) plus the scoring threads'
    # heaps. Where this much cannot be reserved, a native allocation would fail
    # mid-pass, and Rust aborts the process on a failed allocation.
    needed = (
        _WORKING_SPACE + (_PREFETCH_BATCHES + 2) * batch_size * info.width * info.height * 3 // 2
    )
    if not can_reserve(needed):
        raise OutOfMemoryError(
            f"{source.path}: too little memory left to analyse it (about "
            f"{needed >> 20} MiB of address space needed; see ulimit -v)"
        )
    extractor = FeatureExtractor(full_range=info.full_range, matrix=info.matrix)
    schema = pa.schema([entry.field() for entry in DECODE_COLUMNS + CORE_COLUMNS])
    record_batches: list[pa.RecordBatch] = []
    if span is not None:
        batches = source.span_batches(span, batch_size, deblock=deblock)
    else:
        batches = source.batches(batch_size, fast=fast)
    rows_done = 0
    for batch in _prefetch(batches, _PREFETCH_BATCHES):
        columns = extractor.push_yuv420_planes(batch.y, batch.u, batch.v)
        record_batches.append(_record_batch(batch, columns, schema))
        if on_batch is not None:
            on_batch(batch, columns)
        if on_progress is not None:
            # Progress counts rows of the title, skipped ones included.
            rows = int(batch.index[-1]) + 1 if fast is not None else rows_done + len(batch)
            on_progress(rows - rows_done)
            rows_done = rows
    if fast is not None and on_progress is not None and fast.frames > rows_done:
        on_progress(fast.frames - rows_done)  # skipped frames after the last decoded one
    return pa.Table.from_batches(record_batches, schema=schema)


_BATCH_BYTES = 24 * 1024 * 1024
# Scratch of the decoding and scoring threads (glibc reserves a heap arena
# per thread). Measured under ulimit -v on bikes.mp4 with 2 cores: the pass
# ran with 360 MiB of address space left at its start, and with 260 MiB a
# small allocation in Rust failed, which aborts the process.
_WORKING_SPACE = 256 << 20


def default_batch_size(width: int, height: int) -> int:
    """Frames per batch so one batch of 4:2:0 planes holds about 24 MiB.

    Several batches are in flight at once (decoding, queued, scoring), so
    this bounds memory whatever the resolution: 18 frames at 720p, 8 at
    1080p, 4 at 2160p, and never fewer than 4 so both cores have work.
    """
    frame_bytes = max(1, width * height * 3 // 2)
    return max(4, min(64, _BATCH_BYTES // frame_bytes))
