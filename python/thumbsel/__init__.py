"""thumbsel: find the best artwork candidates in video, and explain the choice.

The layout follows the data: :mod:`~thumbsel.decode` (PyAV, streaming) ->
:mod:`~thumbsel.features` (Rust kernels) -> :mod:`~thumbsel.analysis`
(the per-frame table) -> :mod:`~thumbsel.select` (ranking, picking) ->
:mod:`~thumbsel.outputs` (images, JSON, Parquet) -> :mod:`~thumbsel.cli`.
"""

from typing import Any

from thumbsel._core import BUILD_PROFILE, __version__
from thumbsel.analysis import Analysis, Letterbox, analyze
from thumbsel.decode import VideoInfo, open_video, probe
from thumbsel.errors import (
    EmptyVideoError,
    InvalidFrameError,
    NoVideoStreamError,
    OutputError,
    ThumbselError,
    VideoOpenError,
)
from thumbsel.features import frame_features, set_threads
from thumbsel.select import Candidate, pick

__all__ = [
    "BUILD_PROFILE",
    "Analysis",
    "Candidate",
    "EmptyVideoError",
    "InvalidFrameError",
    "Letterbox",
    "NoVideoStreamError",
    "OutputError",
    "ThumbselError",
    "VideoInfo",
    "VideoOpenError",
    "__version__",
    "analyze",
    "detect_faces",
    "frame_features",
    "hash_hex",
    "open_video",
    "pick",
    "probe",
    "set_threads",
]


def detect_faces(rgb: Any) -> list[Any]:
    """Faces on one ``(H, W, 3)`` uint8 RGB frame, largest first.

    Needs the ``faces`` extra (``pip install 'thumbsel[faces]'``); raises
    :class:`thumbsel.faces.FacesUnavailableError` without it. Imported on
    first use so that ``import thumbsel`` never loads OpenCV.
    """
    from thumbsel.faces import detect_faces as detect

    return detect(rgb)


def hash_hex(value: int) -> str:
    """A 64-bit hash as imagehash prints it (16 hex digits)."""
    return f"{int(value):016x}"
