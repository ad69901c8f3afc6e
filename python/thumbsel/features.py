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
from thumbsel.decode import FrameBatch, FrameViews, VideoSource
from thumbsel.errors import InvalidFrameError

__all__ = [
    "CHANGE_COLUMNS",
    "FRAME_COLUMNS",
    "HISTOGRAM_BINS",
    "extract_features",
    "frame_features",
    "set_threads",
]

HISTOGRAM_BINS = 64
"""The colour histogram is a 4x4x4 RGB cube: bin = 16*(R//64) + 4*(G//64) + B//64."""

FRAME_COLUMNS: dict[str, str] = {
    "brightness": "mean luma on the full-range scale, 0..1",
    "contrast": "standard deviation of luma, 0..1",
    "dark_fraction": "share of pixels with luma <= 18/255",
    "bright_fraction": "share of pixels with luma >= 240/255",
    "entropy": "Shannon entropy of the luma histogram, bits (0..8)",
    "sharpness": "variance of the 3x3 Laplacian of full-resolution luma (OpenCV's focus measure)",
    "gradient_energy": "mean Sobel gradient magnitude on the analysis grid, 0..1",
    "edge_density": "share of analysis-grid pixels with gradient magnitude > 0.1",
    "colorfulness": "Hasler-Susstrunk colourfulness, 0..255 scale",
    "saturation": "mean HSV saturation, 0..1",
    "mean_red": "mean red of the analysis grid, 0..1",
    "mean_green": "mean green of the analysis grid, 0..1",
    "mean_blue": "mean blue of the analysis grid, 0..1",
    "saliency_x": "saliency-weighted centroid, fraction of the content width (inside black bars)",
    "saliency_y": "saliency-weighted centroid, fraction of the content height",
    "saliency_spread": "RMS distance of the saliency mass from its centroid (content fractions)",
    "thirds": "rule of thirds: 1 with the centroid on a third-line intersection, 0 at the centre",
    "symmetry": "left-right mirror similarity of the picture, 0..1",
    "depth_of_field": "1 - focus of the rest / focus of the most salient quarter (0..1)",
    "dhash": "64-bit difference hash (imagehash.dhash definition)",
    "phash": "64-bit perceptual hash (imagehash.phash definition)",
    "bar_top": "black rows at the top of this frame, pixels",
    "bar_bottom": "black rows at the bottom of this frame, pixels",
    "bar_left": "black columns at the left of this frame, pixels",
    "bar_right": "black columns at the right of this frame, pixels",
    "histogram": "normalised 4x4x4 RGB histogram (64 bins summing to 1)",
}
"""Features of a frame by itself, with what each one measures."""

CHANGE_COLUMNS: dict[str, str] = {
    "cut_score": "mean |dH|,|dS|,|dV| vs the previous frame on OpenCV's HSV scale "
    "(PySceneDetect ContentDetector's score; cuts are usually > 27)",
    "histogram_distance": "total-variation distance of colour histograms vs the previous frame "
    "(0..1)",
    "hash_distance": "Hamming distance of pHashes vs the previous frame, 0..64",
    "motion": "mean absolute difference of analysis-grid luma vs the previous frame, 0..1",
}
"""Signals against the previous frame; null for the first frame."""

Columns = dict[str, npt.NDArray[Any]]

_PREFETCH_BATCHES = 2
_in_child_after_fork = False


def _after_fork_in_child() -> None:
    # The parent's worker threads do not exist in a forked child; scoring
    # there must run serially or it would wait on them forever.
    global _in_child_after_fork
    _in_child_after_fork = True
    _core._disable_parallelism()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def set_threads(threads: int | None) -> int:
    """Use ``threads`` worker threads for scoring (None: ``THUMBSEL_THREADS`` or all cores)."""
    if threads is not None and threads < 1:
        raise ValueError("threads must be at least 1")
    return _core.set_threads(threads)


def frame_features(rgb: npt.NDArray[np.uint8]) -> Columns:
    """Features of an ``(N, H, W, 3)`` uint8 RGB batch (one ``(H, W, 3)`` frame is accepted too).

    Returns a dict of per-frame numpy arrays named as the columns of
    :attr:`thumbsel.Analysis.frames`; change signals compare each frame with
    the one before it in the batch (NaN for the first).
    """
    array = np.asarray(rgb)
    if array.ndim == 3:
        array = array[np.newaxis]
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise InvalidFrameError(
            f"rgb must be a uint8 array of shape (N, H, W, 3); got {array.dtype} {array.shape}"
        )
    return _core.frame_features(np.ascontiguousarray(array))


def _prefetch(batches: Iterator[FrameViews], depth: int) -> Iterator[FrameViews]:
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


def _record_batch(
    batch: FrameBatch | FrameViews, columns: Columns, schema: pa.Schema
) -> pa.RecordBatch:
    arrays: dict[str, pa.Array] = {
        "frame": pa.array(batch.index, pa.int64()),
        "time": pa.array(batch.time, pa.float64()),
    }
    for name in FRAME_COLUMNS:
        values = columns[name]
        if name == "histogram":
            flat = pa.array(np.ascontiguousarray(values, np.float32).ravel(), pa.float32())
            arrays[name] = pa.FixedSizeListArray.from_arrays(flat, HISTOGRAM_BINS)
        else:
            arrays[name] = pa.array(values)
    for name in CHANGE_COLUMNS:
        values = columns[name]
        arrays[name] = pa.array(values, pa.float64(), mask=np.isnan(values))
    return pa.RecordBatch.from_arrays([arrays[field.name] for field in schema], schema=schema)


def extract_features(
    source: VideoSource,
    *,
    batch_size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> pa.Table:
    """Score every frame of ``source`` in one streaming pass; returns the frame table.

    ``batch_size`` defaults to :func:`default_batch_size` for the frame size.
    """
    if batch_size is None:
        batch_size = default_batch_size(source.info.width, source.info.height)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    info = source.info
    extractor = _core.FeatureExtractor(full_range=info.full_range, matrix=info.matrix)
    schema = frame_schema()
    record_batches: list[pa.RecordBatch] = []
    # Views of the decoder's own buffers: no copy of the planes at all.
    batches = source.view_batches(batch_size)
    stream = batches if _in_child_after_fork else _prefetch(batches, _PREFETCH_BATCHES)
    for batch in stream:
        columns = extractor.push_yuv420_planes(batch.y, batch.u, batch.v)
        record_batches.append(_record_batch(batch, columns, schema))
        if on_progress is not None:
            on_progress(len(batch))
    return pa.Table.from_batches(record_batches, schema=schema)


_BATCH_BYTES = 24 * 1024 * 1024


def default_batch_size(width: int, height: int) -> int:
    """Frames per batch so one batch of 4:2:0 planes holds about 24 MiB.

    Several batches are in flight at once (decoding, queued, scoring), so
    this bounds memory whatever the resolution: 18 frames at 720p, 8 at
    1080p, 4 at 2160p, and never fewer than 4 so both cores have work.
    """
    frame_bytes = max(1, width * height * 3 // 2)
    return max(4, min(64, _BATCH_BYTES // frame_bytes))


def frame_schema() -> pa.Schema:
    """Schema of the per-frame table, with each column's meaning in its metadata."""
    fields = [
        pa.field(
            "frame", pa.int64(), nullable=False, metadata={"description": "decoded frame index"}
        ),
        pa.field(
            "time", pa.float64(), nullable=False, metadata={"description": "presentation time, s"}
        ),
    ]
    types: dict[str, pa.DataType] = {
        "dhash": pa.uint64(),
        "phash": pa.uint64(),
        "bar_top": pa.int32(),
        "bar_bottom": pa.int32(),
        "bar_left": pa.int32(),
        "bar_right": pa.int32(),
        "histogram": pa.list_(pa.float32(), HISTOGRAM_BINS),
    }
    for name, description in FRAME_COLUMNS.items():
        fields.append(
            pa.field(
                name,
                types.get(name, pa.float64()),
                nullable=False,
                metadata={"description": description},
            )
        )
    for name, description in CHANGE_COLUMNS.items():
        fields.append(pa.field(name, pa.float64(), metadata={"description": description}))
    return pa.schema(fields)
