"""Who a face is: 128-number identity embeddings, from dlib's face recogniser.

Two faces of one person lie close together (Euclidean distance), two people
far apart: that is all :mod:`thumbsel.cast` needs to find a title's
characters. The models are dlib's: its 5-point landmark aligner
(``shape_predictor_5_face_landmarks.dat``) turns each face upright into a
150x150 chip, and its ResNet (``dlib_face_recognition_resnet_model_v1.dat``,
99.38% on LFW) embeds the chip. Both come in the ``face-recognition-models``
package (CC0) and run on ``dlib-bin`` (Boost licence): the ``cast`` extra.
That package also holds a 68-point aligner trained on iBUG 300-W, whose terms
forbid commercial use: it is never loaded.

Aligning is cheap (about 1 ms a face) and the embedding is not (25-100 ms on
one core), so the sampler aligns every face it sees and embeds one chip per
track (:mod:`thumbsel.people.sample`). dlib holds the GIL while it embeds,
which stalls every Python thread of the pass (decoding hands its frames over
in Python) for as long: :func:`embed_in_a_process` moves the embeddings to
one child process instead, with the same results (``benches/README.md``,
section 23). The command line does so; a library caller may, once its main
module is safe to import again (``if __name__ == "__main__":``, as
``multiprocessing`` and Dask ask).

Embeddings are biometric data: they stay in the title's output folder
(``faces.parquet``, ``characters.json``), never in viewer data.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import multiprocessing
import os
import signal
import threading
import time
import warnings
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import numpy.typing as npt

from thumbsel.errors import FacesUnavailableError
from thumbsel.exits import raise_stop_within

__all__ = [
    "CHIP_SIZE",
    "EMBEDDING_SIZE",
    "MIN_FACE_PIXELS",
    "IdentityModel",
    "PendingEmbeddings",
    "embed_in_a_process",
    "identity_installed",
    "identity_model",
    "stop_embedding_process",
]

CHIP_SIZE = 150
"""Side of the aligned face chip the recogniser reads."""
EMBEDDING_SIZE = 128
MIN_FACE_PIXELS = 40
"""Faces smaller than this (box height, pixels) are not embedded: upscaled to a
150-pixel chip they blur, and their distances stop meaning identity."""

_INSTALL_HINT = "knowing the cast needs dlib and its models: pip install 'thumbsel[cast]'"

Chip = npt.NDArray[np.uint8]


def identity_installed() -> bool:
    """Whether the ``cast`` extra (dlib and the models package) is installed."""
    return all(
        importlib.util.find_spec(name) is not None for name in ("dlib", "face_recognition_models")
    )


class IdentityModel:
    """dlib's aligner and recogniser, loaded once; one thread at a time inside."""

    def __init__(self) -> None:
        try:
            dlib = importlib.import_module("dlib")
            models = importlib.import_module("face_recognition_models")
        except ImportError as error:
            raise_stop_within(error)
            raise FacesUnavailableError(_INSTALL_HINT) from None
        try:
            self._aligner = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
            self._recogniser = dlib.face_recognition_model_v1(
                models.face_recognition_model_location()
            )
        except (RuntimeError, MemoryError) as error:
            raise FacesUnavailableError(f"dlib cannot load its face models ({error})") from None
        self._dlib = dlib
        self._lock = threading.Lock()

    def chip(self, picture: npt.NDArray[np.uint8], box: tuple[int, int, int, int]) -> Chip:
        """The face in ``box`` of an RGB ``picture``, aligned upright at 150x150."""
        x0, y0, x1, y1 = (int(v) for v in box)
        with self._lock:
            shape = self._aligner(picture, self._dlib.rectangle(x0, y0, x1, y1))
            chip: Chip = np.asarray(
                self._dlib.get_face_chip(picture, shape, size=CHIP_SIZE, padding=0.25)
            )
        return chip

    def embed(self, chips: list[Chip]) -> npt.NDArray[np.float32]:
        """One embedding row per chip (``(n, 128)``, float32)."""
        if not chips:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        with self._lock:
            vectors: Any = self._recogniser.compute_face_descriptor(
                [np.ascontiguousarray(chip) for chip in chips]
            )
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)

    def embed_later(self, chips: list[Chip]) -> PendingEmbeddings:
        """:meth:`embed`, in the child process when :func:`embed_in_a_process` asked
        for one (else now)."""
        pool = _embedding_pool() if chips else None
        future = None
        if pool is not None:
            try:
                future = pool.submit(_embed_in_child, [np.ascontiguousarray(c) for c in chips])
            except (BrokenProcessPool, RuntimeError, OSError) as error:
                _process_failed(error)
        return PendingEmbeddings(self, chips, future)


class PendingEmbeddings:
    """Embeddings on their way from the child process (or already here)."""

    def __init__(self, model: IdentityModel, chips: list[Chip], future: Future[Any] | None) -> None:
        self._model = model
        self._chips: list[Chip] | None = chips
        self._future = future
        self._vectors = None if future is not None else model.embed(chips)

    def result(self) -> npt.NDArray[np.float32]:
        """The ``(n, 128)`` embeddings; embedded here if the child process failed."""
        if self._vectors is None:
            assert self._future is not None and self._chips is not None
            try:
                self._vectors = np.asarray(self._future.result(), np.float32)
            except (BrokenProcessPool, CancelledError, OSError, MemoryError) as error:
                _process_failed(error)
                self._vectors = self._model.embed(self._chips)
        self._chips = None
        return self._vectors


_model: IdentityModel | None = None
_model_lock = threading.Lock()
_process_wanted = False
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def embed_in_a_process(enabled: bool = True) -> None:
    """Embed faces in one child process from now on (``enabled=False``: in the
    caller's, as by default). The child is started with ``spawn``, so it
    imports the main module again: that must not start any work."""
    global _process_wanted
    with _pool_lock:
        _process_wanted = enabled


def stop_embedding_process() -> None:
    """Stop the child once it has made the embedding it is on (the next
    :meth:`~IdentityModel.embed_later` starts another). A process that leaves
    with ``os._exit`` must call this first, or the child's queues are reported
    as leaked on its stderr."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _embedding_pool() -> ProcessPoolExecutor | None:
    global _pool
    with _pool_lock:
        # A daemonic process (a Dask worker's) may not have children.
        if not _process_wanted or multiprocessing.current_process().daemon:
            return None
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_child,
                initargs=(os.getpid(),),
            )
        return _pool


def _process_failed(error: BaseException) -> None:
    """Embed here from now on: the child could not start or died (memory, a kill)."""
    global _process_wanted, _pool
    with _pool_lock:
        if not _process_wanted:
            return
        _process_wanted = False
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
    warnings.warn(
        f"face embeddings run in this process: the embedding process failed ({error})",
        stacklevel=3,
    )


_PARENT_POLL_SECONDS = 0.5


def _start_child(parent: int) -> None:
    # Ctrl-C reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The child never writes to the terminal: the parent reports a failed
    # child in one line, and embeds itself. Nor may it hold the parent's
    # pipes open after the parent has gone (a caller reading them to the end
    # would wait for it).
    with contextlib.suppress(OSError):
        sink = os.open(os.devnull, os.O_RDWR)
        for descriptor in (0, 1, 2):
            os.dup2(sink, descriptor)
        os.close(sink)
    # A parent that leaves at once (after a signal, or killed) never tells its
    # pool to stop, and the child's own end of the job queue keeps it waiting:
    # it leaves when it is orphaned (perhaps before it got here).
    threading.Thread(target=_leave_with, args=(parent,), daemon=True).start()


def _leave_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(0)


def _embed_in_child(chips: list[Chip]) -> npt.NDArray[np.float32]:
    return identity_model().embed(chips)


def identity_model() -> IdentityModel:
    """The shared :class:`IdentityModel` (raises
    :class:`~thumbsel.errors.FacesUnavailableError` without the ``cast`` extra)."""
    global _model
    with _model_lock:
        if _model is None:
            _model = IdentityModel()
        return _model
