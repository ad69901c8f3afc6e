"""thumbsel: find the best artwork candidates in video, and explain the choice.

The layout follows the data, each stage importing only from those before it:
:mod:`~thumbsel.decode` (PyAV, streaming) -> :mod:`~thumbsel.features` (Rust
kernels) -> :mod:`~thumbsel.frames` (the per-frame table) ->
:mod:`~thumbsel.shots` -> :mod:`~thumbsel.select` -> :mod:`~thumbsel.artwork`
(faces, tags, crops) -> :mod:`~thumbsel.outputs` (files) -> :mod:`~thumbsel.cli`;
:mod:`~thumbsel.personalize` sits beside them.

``thumbsel pick`` in a few lines::

    import thumbsel

    frames = thumbsel.analyze("movie.mkv").frames      # or FrameTable.read_parquet(...)
    shots = thumbsel.detect_shots(frames)
    selection = thumbsel.select(frames, shots, k=8)
    artwork = thumbsel.describe_artwork(frames, shots, selection)
    thumbsel.write_pick(frames, shots, selection, artwork, "picks/")
"""

from typing import Any

from thumbsel._core import BUILD_PROFILE, __version__
from thumbsel.analysis import Analysis, analyze
from thumbsel.artwork import Artwork, ArtworkFace, Crop, describe_artwork
from thumbsel.decode import open_video, probe
from thumbsel.errors import (
    EmptyVideoError,
    FacesUnavailableError,
    FrameTableError,
    InvalidFrameError,
    NoVideoStreamError,
    OutputError,
    ThumbselError,
    VideoOpenError,
)
from thumbsel.features import frame_features, set_threads
from thumbsel.frames import FrameTable, Letterbox, SourceFile
from thumbsel.outputs import write_pick
from thumbsel.select import Candidate, QualityWeights, Selection, SelectionOptions, select
from thumbsel.shots import Shot, ShotDetection, ShotOptions, detect_shots
from thumbsel.video import DecodeReport, VideoInfo

__all__ = [
    "BUILD_PROFILE",
    "Analysis",
    "Artwork",
    "ArtworkFace",
    "Candidate",
    "Crop",
    "DecodeReport",
    "EmptyVideoError",
    "FacesUnavailableError",
    "FrameTable",
    "FrameTableError",
    "InvalidFrameError",
    "Letterbox",
    "NoVideoStreamError",
    "OutputError",
    "QualityWeights",
    "Selection",
    "SelectionOptions",
    "Shot",
    "ShotDetection",
    "ShotOptions",
    "SourceFile",
    "ThumbselError",
    "VideoInfo",
    "VideoOpenError",
    "__version__",
    "analyze",
    "describe_artwork",
    "detect_faces",
    "detect_shots",
    "frame_features",
    "hash_hex",
    "open_video",
    "probe",
    "select",
    "set_threads",
    "write_pick",
]


def detect_faces(rgb: Any) -> list[Any]:
    """Faces on one ``(H, W, 3)`` uint8 RGB frame, largest first.

    Needs the ``faces`` extra (``pip install 'thumbsel[faces]'``); raises
    :class:`FacesUnavailableError` without it. OpenCV is loaded on first use,
    so ``import thumbsel`` never loads it.
    """
    from thumbsel.people.faces import detect_faces as detect

    return detect(rgb)


def hash_hex(value: int) -> str:
    """A 64-bit hash as imagehash prints it (16 hex digits)."""
    return f"{int(value):016x}"
