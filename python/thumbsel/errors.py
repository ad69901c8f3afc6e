"""Every exception thumbsel raises on purpose, in one hierarchy.

All of them but :class:`Terminated` derive from :class:`ThumbselError`, so a
caller can catch them in one place; those that mean "this argument is wrong"
are also ``ValueError``.
The root and :class:`InvalidFrameError` are defined by the compiled core
(``thumbsel._core``), which raises them from Rust; everything else is defined
here, and no other module defines an exception class of its own.
"""

from __future__ import annotations

from thumbsel._core import InvalidFrameError, ThumbselError

__all__ = [
    "EmptyVideoError",
    "EventLogError",
    "FacesUnavailableError",
    "FrameTableError",
    "ImpressionLogError",
    "InvalidFrameError",
    "NoVideoStreamError",
    "OutOfMemoryError",
    "OutputError",
    "PersonalizeError",
    "PolicyFileError",
    "SegmentMismatch",
    "Terminated",
    "ThumbselError",
    "VideoOpenError",
    "VideoTooLargeError",
]


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM, as ``docker stop`` sends), once
    :func:`thumbsel.exits.stop_on_sigterm` is installed: like ``KeyboardInterrupt``,
    not an error of the input, and not caught by ``except Exception``."""


class VideoOpenError(ThumbselError):
    """The file is missing, unreadable, or not a video FFmpeg understands."""


class VideoTooLargeError(ThumbselError):
    """The frames are larger than the pixel budget (a decompression bomb, or a
    picture bigger than thumbsel is set to decode); refused before decoding."""


class NoVideoStreamError(ThumbselError):
    """The file opens but holds no video stream (audio only, for example)."""


class EmptyVideoError(ThumbselError):
    """The video stream exists but not a single frame could be decoded."""


class FrameTableError(ThumbselError, ValueError):
    """A frame table (``frames.parquet``) is unreadable, incomplete, from another
    thumbsel version, or was measured on another video than the one given."""


class FacesUnavailableError(ThumbselError):
    """Face detection was asked for, but cannot run: OpenCV (the ``faces`` extra) is
    not installed, or its models cannot be loaded (too little memory, say)."""


class OutOfMemoryError(ThumbselError, MemoryError):
    """Memory ran out (the machine's, or a limit such as ``ulimit -v``): not damage
    in the input, and nothing was written."""


class OutputError(ThumbselError):
    """A result (image, table, report) cannot be written."""


class SegmentMismatch(ThumbselError):
    """Segments of a title do not stitch into its one pass exactly
    (:mod:`thumbsel.segments`): the title is measured whole instead."""


class PersonalizeError(ThumbselError, ValueError):
    """Bad input to a personalisation policy, simulator or estimator."""


class ImpressionLogError(PersonalizeError):
    """An impression or play log is missing, malformed, or breaks the log schema."""


class EventLogError(PersonalizeError):
    """A behaviour event file or batch is unreadable, or its columns break the event schema."""


class PolicyFileError(ThumbselError):
    """A saved policy is missing, damaged, or from an incompatible version."""
