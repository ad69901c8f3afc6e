"""Exceptions thumbsel raises on purpose.

Every one derives from :class:`ThumbselError`, so callers can catch them all in
one place. The compiled core (``thumbsel._core``) raises ``ThumbselError`` and
``InvalidFrameError`` from Rust; those two classes are taken from it when it is
present so that Python and Rust errors share one hierarchy.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = [
    "EmptyVideoError",
    "InvalidFrameError",
    "NoVideoStreamError",
    "OutputError",
    "PersonalizeError",
    "PolicyFileError",
    "ThumbselError",
    "VideoOpenError",
]


def _load_core() -> ModuleType | None:
    # Imported by name so that this module keeps working (and type checking
    # keeps passing) before the extension is built.
    try:
        core = importlib.import_module("thumbsel._core")
    except ImportError:
        return None
    if hasattr(core, "ThumbselError") and hasattr(core, "InvalidFrameError"):
        return core
    return None


_core = _load_core()

if TYPE_CHECKING or _core is None:

    class ThumbselError(Exception):
        """Base of every error thumbsel raises on purpose."""

    class InvalidFrameError(ThumbselError, ValueError):
        """An array given to a kernel has the wrong shape, type or layout."""

else:
    ThumbselError = _core.ThumbselError
    InvalidFrameError = _core.InvalidFrameError


class VideoOpenError(ThumbselError):
    """The file is missing, unreadable, or not a video FFmpeg understands."""


class NoVideoStreamError(ThumbselError):
    """The file opens but holds no video stream (audio only, for example)."""


class EmptyVideoError(ThumbselError):
    """The video stream exists but not a single frame could be decoded."""


class OutputError(ThumbselError):
    """A result (thumbnail, report) cannot be written."""


class PersonalizeError(ThumbselError, ValueError):
    """Bad input to a personalisation policy, simulator or estimator."""


class PolicyFileError(ThumbselError):
    """A saved policy is missing, damaged, or from an incompatible version."""
