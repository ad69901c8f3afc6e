"""The one way thumbsel writes a time in seconds as a clock reading."""

from __future__ import annotations

import math

__all__ = ["UNKNOWN", "timecode"]

UNKNOWN = "\u2013"
"""Written for a time that is missing or not finite."""


def timecode(seconds: float | None, *, decimals: int = 3, compact: bool = False) -> str:
    """``seconds`` as ``HH:MM:SS.mmm`` (PySceneDetect's timecode), rounded to ``decimals``.

    ``compact=True`` drops leading zero hours and the zero padding of the
    first field, as on an axis or a label (``1:05.2``, ``1:02:03``).
    ``decimals`` is 0 to 3. A negative time keeps its sign; a missing or
    non-finite one is :data:`UNKNOWN`.
    """
    if not 0 <= decimals <= 3:
        raise ValueError(f"decimals must be 0 to 3, got {decimals}")
    if seconds is None or not math.isfinite(seconds):
        return UNKNOWN
    sign = "-" if seconds < 0 else ""
    # Rounding the whole count of units once keeps 59.9996 s from printing as 0:59.1000.
    scale = 10**decimals
    units = round(abs(seconds) * scale)
    whole, fraction = divmod(units, scale)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    tail = f".{fraction:0{decimals}d}" if decimals else ""
    if not compact:
        return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}{tail}"
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}{tail}"
    return f"{sign}{minutes}:{secs:02d}{tail}"
