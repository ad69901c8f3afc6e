"""People on a sample of frames, found during the one decoding pass.

Selection must know where the faces are and whether their eyes are open
*before* it chooses each shot's frame, and decoding a title twice would cost
as much as the analysis itself. So :class:`PeopleSampler` rides along the
feature pass (:func:`thumbsel.features.extract_features` hands it every batch
with its measurements): it picks frames as they stream past and runs the face
models on them in one worker thread, while the scoring threads go on.

Which frames: the pass is cut into **windows**. A window opens at the first
frame, at each new picture (a frame whose pHash differs from the one before
it in at least :data:`NEW_PICTURE_BITS` bits: a cut, roughly) once the open
window is :data:`MIN_WINDOW_SECONDS` old, and ``interval`` seconds after the
last one opened. Each window sends one frame to the face models: its
sharpest frame by the pass's own measurements (``log(1 + sharpness)`` less a
penalty for motion, and a larger one for a frame that copies the one before
it, which selection would rule out as a ``repeat``), leaving out the
:data:`SETTLE_FRAMES` frames after a new picture (a cut's neighbours are
never picked) and black frames. So every shot
longer than about half a second is looked at at least once, a long take once
every ``interval`` seconds (less in a title shorter than :data:`MIN_SAMPLES`
intervals, so that a short clip gets that many looks), and the cost is
bounded by ``duration / MIN_WINDOW_SECONDS`` detections however the title
is cut (and :data:`MIN_SAMPLES` at least).

Memory stays flat: a window holds one frame (a reference to the decoder's
planes, not a copy), and at most :data:`PENDING` frames wait for the worker;
when it falls behind, the pass waits for it.

The frame goes to the models in RGB converted by OpenCV (BT.601), which can
differ from the display conversion by a level or two; faces do not move for
that. The artwork stage looks at its chosen frames again at display size.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from thumbsel.columns import PEOPLE_COLUMNS
from thumbsel.decode import FrameBatch
from thumbsel.frames import copies_previous
from thumbsel.people.faces import Face, detect_faces, main_faces
from thumbsel.people.identity import IdentityModel
from thumbsel.people.tracks import Tracker

__all__ = [
    "DEFAULT_INTERVAL",
    "MAX_INTERVAL",
    "MIN_INTERVAL",
    "MIN_SAMPLES",
    "MIN_WINDOW_SECONDS",
    "NEW_PICTURE_BITS",
    "PENDING",
    "SETTLE_FRAMES",
    "PeopleSampler",
    "Window",
    "Windows",
    "people_columns",
    "people_table",
    "plan_samples",
    "sample_interval",
    "sample_values",
    "to_rgb",
]

DEFAULT_INTERVAL = 2.0
"""Seconds between samples in a long take (see ``benches/README.md`` for the cost)."""
MIN_INTERVAL = 0.5
MAX_INTERVAL = 60.0
MIN_WINDOW_SECONDS = 0.5
"""A new picture opens a new window only once the open one is this old."""
NEW_PICTURE_BITS = 20
"""pHash bits that differ between two unrelated pictures: about 32; within a shot: under 12."""
SETTLE_FRAMES = 3
"""Frames after a new picture that are never sampled (the cut's neighbours)."""
PENDING = 2
"""Frames that may wait for the face models before the pass waits."""
_BLACK = 0.06
_MOTION_PENALTY = 20.0
_COPY_PENALTY = 100.0
MIN_SAMPLES = 24
"""A short title is sampled more densely, so that about this many frames (or more) are
looked at."""

Detector = Callable[[npt.NDArray[np.uint8]], list[Face]]


@dataclass(frozen=True)
class Window:
    """A closed sampling window: its chosen row, and the latest new picture then."""

    row: int
    last_new_picture: int


@dataclass(frozen=True)
class SampleValues:
    value: npt.NDArray[np.float64]
    """How good a sample each frame would be (sharp, still, not a copy)."""
    bits: npt.NDArray[np.float64]
    brightness: npt.NDArray[np.float64]


def sample_values(columns: dict[str, npt.NDArray[Any]]) -> SampleValues:
    """What the window rule reads of each frame, from the pass's measurements."""
    motion = np.asarray(columns["motion"], np.float64)
    bits = np.asarray(columns["hash_distance"], np.float64)
    copies = copies_previous(motion, bits)
    value = (
        np.log1p(np.fmax(0.0, np.asarray(columns["sharpness"], np.float64)))
        - _MOTION_PENALTY * np.nan_to_num(motion, nan=0.0)
        - _COPY_PENALTY * copies.astype(np.float64)
    )
    return SampleValues(value, np.nan_to_num(bits, nan=0.0), np.asarray(columns["brightness"]))


class Windows:
    """The window rule of the module notes, frame by frame, over measurements only.

    It needs no pixels, so a stitch of segments (:mod:`thumbsel.segments`)
    replays it over the whole title and knows exactly which frames a single
    pass would have sampled.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._window_start = -math.inf
        self._last_new_picture = 0
        """The latest row unlike the row before it (a cut, roughly)."""
        self._settle_until = 0
        self._best: tuple[int, float] | None = None

    def frame(
        self, row: int, moment: float, bits: float, brightness: float, value: float
    ) -> tuple[Window | None, bool]:
        """Take the next frame: the window it closed (if any), and whether it is
        now the open window's best frame."""
        age = moment - self._window_start
        new_picture = bits >= NEW_PICTURE_BITS
        if new_picture:
            self._settle_until = row + SETTLE_FRAMES
            self._last_new_picture = row
        closed = None
        if (
            self._window_start == -math.inf
            or (new_picture and age >= MIN_WINDOW_SECONDS)
            or age >= self.interval
        ):
            closed = self.close()
            self._window_start = moment
        if row < self._settle_until or brightness < _BLACK:
            return closed, False
        if self._best is None or value > self._best[1]:
            self._best = (row, value)
            return closed, True
        return closed, False

    def close(self) -> Window | None:
        """Close the open window: its best frame, if it had one."""
        best, self._best = self._best, None
        return None if best is None else Window(best[0], self._last_new_picture)


def plan_samples(
    columns: dict[str, npt.NDArray[Any]], times: npt.NDArray[np.float64], interval: float
) -> list[Window]:
    """The windows a :class:`PeopleSampler` over these rows (from row 0) closes."""
    values = sample_values(columns)
    windows = Windows(interval)
    closed = []
    for row in range(len(times)):
        window, _ = windows.frame(
            row,
            float(times[row]),
            float(values.bits[row]),
            float(values.brightness[row]),
            float(values.value[row]),
        )
        if window is not None:
            closed.append(window)
    last = windows.close()
    if last is not None:
        closed.append(last)
    return closed


def sample_interval(interval: float, duration: float | None) -> float:
    """Seconds between samples in a long take: ``interval``, or less for a title
    shorter than ``MIN_SAMPLES`` of them."""
    if not (math.isfinite(interval) and MIN_INTERVAL <= interval <= MAX_INTERVAL):
        raise ValueError(
            f"the people interval must be within {MIN_INTERVAL:g}..{MAX_INTERVAL:g} "
            f"seconds, got {interval!r}"
        )
    if duration is not None and math.isfinite(duration) and duration > 0:
        # Two spare windows: frame times round each window up to whole frames.
        return min(interval, duration / (MIN_SAMPLES + 2))
    return interval


def people_table(
    samples: Sequence[tuple[int, Sequence[Face]]], rows: int, size: tuple[int, int] | None
) -> dict[str, npt.NDArray[np.float64]]:
    """The people columns of ``rows`` frames from the faces of the sampled ones."""
    columns = {entry.name: np.full(rows, np.nan) for entry in PEOPLE_COLUMNS}
    width, height = size or (1, 1)  # set by the first sample, if any
    for row, faces in samples:
        for name, value in people_columns(faces, width, height).items():
            columns[name][row] = value
    return columns


def people_columns(faces: Sequence[Face], width: int, height: int) -> dict[str, float]:
    """The people columns' values for one frame's faces (largest first)."""
    row = dict.fromkeys((entry.name for entry in PEOPLE_COLUMNS), math.nan)
    row["faces"] = float(len(faces))
    if not faces:
        return row
    main = faces[0]
    x0, y0, x1, y1 = main.box
    row.update(
        face_height=(y1 - y0) / height,
        face_x=(x0 + x1) / 2 / width,
        face_y=(y0 + y1) / 2 / height,
        face_sharpness=main.sharpness,
        face_eyes=main.eyes,
        eyes_closed=float(sum(face.eyes_closed for face in main_faces(faces))),
        face_smile=main.smiling,
        face_yaw=main.yaw,
        face_cut=float(main.cut),
    )
    return row


def to_rgb(cv2: Any, y: Any, u: Any, v: Any) -> npt.NDArray[np.uint8]:
    """An RGB picture from 4:2:0 planes (cropped to even sides, as I420 needs)."""
    height, width = (np.asarray(y).shape[0] // 2) * 2, (np.asarray(y).shape[1] // 2) * 2
    packed = np.empty((height * 3 // 2, width), np.uint8)
    packed[:height] = np.asarray(y)[:height, :width]
    chroma = packed[height:].reshape(-1)
    quarter = (height // 2) * (width // 2)
    chroma[:quarter] = np.asarray(u)[: height // 2, : width // 2].reshape(-1)
    chroma[quarter:] = np.asarray(v)[: height // 2, : width // 2].reshape(-1)
    rgb: npt.NDArray[np.uint8] = cv2.cvtColor(packed, cv2.COLOR_YUV2RGB_I420)
    return rgb


class PeopleSampler:
    """Samples frames of one pass and finds their faces (see the module notes).

    Give :meth:`offer` to :func:`~thumbsel.features.extract_features` as
    ``on_batch``; after the pass, :meth:`finish` returns the people columns.
    Use as a context manager so the worker stops on an error or Ctrl-C.
    """

    def __init__(
        self,
        *,
        interval: float = DEFAULT_INTERVAL,
        duration: float | None = None,
        detect: Detector = detect_faces,
        on_sample: Callable[[int], None] | None = None,
        identity: IdentityModel | None = None,
    ) -> None:
        self.interval = sample_interval(interval, duration)
        """Seconds between samples in a long take (:func:`sample_interval`)."""
        import cv2  # the faces extra; callers check faces_available() first

        self._cv2 = cv2
        self._detect = detect
        self._on_sample = on_sample
        self._tracker = Tracker(identity) if identity is not None else None
        self.sightings: pa.Table | None = None
        """Every face seen, with its track and embeddings (:mod:`thumbsel.people.tracks`),
        after :meth:`finish` when an ``identity`` model was given."""
        self._windows = Windows(self.interval)
        self._best: tuple[Any, Any, Any] | None = None
        """The planes of the open window's best frame so far."""
        self._origin: int | None = None
        self._size: tuple[int, int] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbsel-people")
        self._slots = threading.BoundedSemaphore(PENDING)
        self._futures: list[tuple[int, Future[list[Face]]]] = []
        self.seconds = 0.0
        """Worker time spent on conversion and face models."""
        self._seconds_lock = threading.Lock()

    def __enter__(self) -> PeopleSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._best = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def samples(self) -> int:
        return len(self._futures)

    def offer(self, batch: FrameBatch, columns: dict[str, npt.NDArray[Any]]) -> None:
        """Consider the frames of one batch (in pass order)."""
        values = sample_values(columns)
        if self._origin is None:
            # Rows count from the pass's first frame (a span's rows are placed
            # by its caller), by the frames' own numbers: a fast pass skips some.
            self._origin = int(batch.index[0]) if len(batch) else 0
        for i in range(len(batch)):
            closed, best = self._windows.frame(
                int(batch.index[i]) - self._origin,
                float(batch.time[i]),
                float(values.bits[i]),
                float(values.brightness[i]),
                float(values.value[i]),
            )
            if closed is not None:
                self._submit(closed)
            if best:
                self._best = (batch.y[i], batch.u[i], batch.v[i])

    def _submit(self, window: Window) -> None:
        planes, self._best = self._best, None
        assert planes is not None  # a window closes on a frame it kept
        if self._size is None:
            height, width = np.asarray(planes[0]).shape
            self._size = (width, height)
        self._slots.acquire()
        try:
            future = self._pool.submit(self._look, planes, window.row, window.last_new_picture)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append((window.row, future))

    def _look(self, planes: tuple[Any, Any, Any], row: int, new_picture: int) -> list[Face]:
        started = time.perf_counter()
        try:
            picture = to_rgb(self._cv2, *planes)
            faces = self._detect(picture)
            if self._tracker is not None:
                self._tracker.see(row, picture, faces, last_new_picture=new_picture)
            return faces
        finally:
            with self._seconds_lock:
                self.seconds += time.perf_counter() - started
            if self._on_sample is not None:
                self._on_sample(1)

    def finish(self, rows: int) -> dict[str, npt.NDArray[np.float64]]:
        """The people columns for a pass of ``rows`` frames (raises what the worker raised)."""
        return people_table(self.collect(), rows, self._size)

    def collect(self) -> list[tuple[int, list[Face]]]:
        """Every sampled row with its faces, once the pass has ended (raises what the
        worker raised); fills in :attr:`sightings` too."""
        last = self._windows.close()
        if last is not None:
            self._submit(last)
        found = [(row, future.result()) for row, future in self._futures]
        if self._tracker is not None:
            # Every sample is done (results above), so the worker is idle.
            self.sightings = self._tracker.table()
        return found

    @property
    def size(self) -> tuple[int, int] | None:
        """Width and height of the sampled pictures (None before the first sample)."""
        return self._size

    @property
    def embedded(self) -> int:
        """Tracks embedded so far (one identity embedding each)."""
        return self._tracker.embedded if self._tracker is not None else 0
