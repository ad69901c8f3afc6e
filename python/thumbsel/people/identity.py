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

Aligning is cheap (about 1 ms a face) and the embedding is not (25-60 ms on
one core), so the sampler aligns every face it sees and embeds one chip per
track (:mod:`thumbsel.people.sample`).

Embeddings are biometric data: they stay in the title's output folder
(``faces.parquet``, ``characters.json``), never in viewer data.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
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
    "identity_installed",
    "identity_model",
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


_model: IdentityModel | None = None
_model_lock = threading.Lock()


def identity_model() -> IdentityModel:
    """The shared :class:`IdentityModel` (raises
    :class:`~thumbsel.errors.FacesUnavailableError` without the ``cast`` extra)."""
    global _model
    with _model_lock:
        if _model is None:
            _model = IdentityModel()
        return _model
