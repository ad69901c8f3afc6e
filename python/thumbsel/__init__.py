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

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from thumbsel._core import BUILD_PROFILE, __version__

if TYPE_CHECKING:
    from thumbsel.analysis import Analysis, analyze
    from thumbsel.artwork import (
        Artwork,
        ArtworkFace,
        Crop,
        character_portraits,
        describe_artwork,
    )
    from thumbsel.cast import Cast, CastOptions, Character, find_cast
    from thumbsel.decode import open_video, probe
    from thumbsel.errors import (
        EmptyVideoError,
        FacesUnavailableError,
        FrameTableError,
        InvalidFrameError,
        NoVideoStreamError,
        OutOfMemoryError,
        OutputError,
        ThumbselError,
        VideoOpenError,
        VideoTooLargeError,
    )
    from thumbsel.features import frame_features, set_threads
    from thumbsel.frames import FrameTable, Letterbox, SourceFile
    from thumbsel.outputs import write_pick
    from thumbsel.select import Candidate, QualityWeights, Selection, SelectionOptions, select
    from thumbsel.shots import Shot, ShotDetection, ShotOptions, detect_shots
    from thumbsel.video import DecodeReport, VideoInfo

# Where each name of the facade lives. They are imported on first use, so that
# `import thumbsel` (and the command line, before it installs its signal
# handlers) does not load PyAV, Arrow and every stage.
_HOMES = {
    "analysis": ("Analysis", "analyze"),
    "artwork": ("Artwork", "ArtworkFace", "Crop", "character_portraits", "describe_artwork"),
    "cast": ("Cast", "CastOptions", "Character", "find_cast"),
    "decode": ("open_video", "probe"),
    "errors": (
        "EmptyVideoError",
        "FacesUnavailableError",
        "FrameTableError",
        "InvalidFrameError",
        "NoVideoStreamError",
        "OutOfMemoryError",
        "OutputError",
        "ThumbselError",
        "VideoOpenError",
        "VideoTooLargeError",
    ),
    "features": ("frame_features", "set_threads"),
    "frames": ("FrameTable", "Letterbox", "SourceFile"),
    "outputs": ("write_pick",),
    "select": ("Candidate", "QualityWeights", "Selection", "SelectionOptions", "select"),
    "shots": ("Shot", "ShotDetection", "ShotOptions", "detect_shots"),
    "video": ("DecodeReport", "VideoInfo"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "BUILD_PROFILE",
    "Analysis",
    "Artwork",
    "ArtworkFace",
    "Candidate",
    "Cast",
    "CastOptions",
    "Character",
    "Crop",
    "DecodeReport",
    "EmptyVideoError",
    "FacesUnavailableError",
    "FrameTable",
    "FrameTableError",
    "InvalidFrameError",
    "Letterbox",
    "NoVideoStreamError",
    "OutOfMemoryError",
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
    "VideoTooLargeError",
    "__version__",
    "analyze",
    "character_portraits",
    "describe_artwork",
    "detect_faces",
    "detect_shots",
    "find_cast",
    "frame_features",
    "hash_hex",
    "open_video",
    "probe",
    "select",
    "set_threads",
    "write_pick",
]


def __getattr__(name: str) -> Any:
    home = _HOME_OF.get(name)
    if home is not None:
        value = getattr(importlib.import_module(f"thumbsel.{home}"), name)
        globals()[name] = value
        return value
    try:
        # A stage as an attribute (thumbsel.columns, thumbsel.people...), as after
        # `import thumbsel.columns`.
        return importlib.import_module(f"thumbsel.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"thumbsel.{name}":
            raise
        raise AttributeError(f"module 'thumbsel' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Facade(types.ModuleType):
    """The package, keeping its functions over the stages of the same name.

    Importing a stage makes it an attribute of the package; ``thumbsel.select``
    is the function, and stays the function once ``thumbsel/select.py`` has been
    imported by anyone (``from thumbsel.select import FILTERS`` still works).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOME_OF and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade


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
