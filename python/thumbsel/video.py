"""What a video is, and how completely one pass decoded it: plain records.

:mod:`thumbsel.decode` fills these in; the frame table stores them beside its
rows (so a saved ``frames.parquet`` still knows its video), and the outputs
read them. Nothing here touches FFmpeg.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, Literal

from thumbsel.text import plural

__all__ = ["DecodeReport", "MatrixName", "VideoInfo"]

MatrixName = Literal["bt601", "bt709"]

# A hole between decoded frames longer than this many frame durations means
# frames were lost (only trusted when decoding reported damage).
_HOLE_IN_FRAMES = 2.5
# Ending this much before the declared duration counts as stopping early;
# containers round durations, so a frame or two of slack is needed.
_EARLY_END_SECONDS = 0.5
_EARLY_END_FRAMES = 3


def display_size(width: int, height: int, sample_aspect: tuple[int, int]) -> tuple[int, int]:
    """How large ``width`` x ``height`` stored pixels of shape ``sample_aspect`` show:
    stretched to square pixels, wider or taller, never shrunk."""
    wide, tall = sample_aspect
    if wide > tall:
        return (max(1, round(width * wide / tall)), height)
    if tall > wide:
        return (width, max(1, round(height * tall / wide)))
    return (width, height)


@dataclass(frozen=True)
class VideoInfo:
    """What a video stream is, as the decoder delivers it.

    ``width`` and ``height`` are the display size (after rotation).
    ``full_range`` and ``matrix`` describe the Y/U/V planes the decoder hands
    out, which matters when a source in another pixel format (RGB, gray, ...)
    is converted on the way. ``title``, ``comment`` and ``stream_title`` are
    the file's own metadata, shown as they are (and escaped) in the report.
    """

    container: str
    codec: str
    width: int
    height: int
    pixel_format: str
    full_range: bool
    matrix: MatrixName
    rotation: int
    """Degrees clockwise (0, 90, 180, 270) the coded picture is turned for display."""
    frame_rate: float
    """Average frames per second; 0.0 when unknown."""
    duration: float | None
    """Seconds, when the container declares it."""
    estimated_frames: int | None
    title: str | None = None
    """The container's ``title`` tag."""
    comment: str | None = None
    """The container's ``comment`` (or ``description``) tag."""
    stream_title: str | None = None
    """The video stream's own name (its ``title`` or ``handler_name`` tag)."""
    sample_aspect: tuple[int, int] = (1, 1)
    """Width:height of one pixel on a display, after rotation (64:45 for 16:9 PAL, 4:3 for
    HDV); frames are stored and measured in pixels, and shown wider or taller."""

    @property
    def display_size(self) -> tuple[int, int]:
        """The picture's size on a display (see :func:`display_size`)."""
        return display_size(self.width, self.height, self.sample_aspect)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, for JSON output."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoInfo:
        """The inverse of :meth:`to_dict`; raises ``TypeError``/``KeyError`` on another layout."""
        fields = _known_fields(cls, data)
        if "sample_aspect" in fields:
            wide, tall = fields["sample_aspect"]
            fields["sample_aspect"] = (int(wide), int(tall))
        return cls(**fields)


@dataclass
class DecodeReport:
    """How complete one decoding pass was; the decoder fills it in while iterating."""

    frames_decoded: int = 0
    frames_skipped: int = 0
    """Frames the fast pass chose not to decode (non-reference frames): their
    rows are interpolated from the decoded frames either side."""
    decode_errors: int = 0
    """Packets or frames that failed or came out damaged."""
    suspect_packets: int = 0
    """Packets the demuxer flagged as corrupt. :meth:`finish` counts them as
    decode errors, except one per clock restart when no frame went missing:
    transport streams joined with ``cat`` flag the packet at the join, and its
    frame decodes whole."""
    missing_frames: int = 0
    """Frames missing between decoded ones, judged from the frame timing."""
    time_jumps: int = 0
    """Times the stream's clock restarted or leapt (joined transport streams),
    mended so that frame times run on; the file's timestamps then no longer
    equal the frames' times, and frames are found again by counting, not seeking."""
    stopped_early: bool = False
    """Decoding ended on an error, or the data ended well before the declared duration."""
    frames_short: bool = False
    """Far fewer frames decoded than the stream's average rate and duration promise,
    and holes in time between the decoded frames to account for them.

    Damage inside a file is not always flagged by FFmpeg (with frame
    threading, whether a broken frame is marked corrupt depends on timing),
    so the frame count is checked against rate x duration. Only holes make it
    a loss: a container's nominal rate can be wrong (variable-frame-rate
    Matroska and WebM), and then the frames are all there."""
    last_time: float | None = None
    """Latest presentation time reached, in seconds."""
    expected_duration: float | None = None
    first_time: float | None = None
    skipped_time: float = 0.0
    """Seconds of holes between decoded frames that are longer than a few frames."""
    frame_duration: float | None = None
    """Nominal seconds per frame (from the average frame rate), when known."""
    last_frame_duration: float | None = None
    """Seconds the latest frame lasts by its own timing, when the container says."""

    @property
    def complete(self) -> bool:
        """True when the whole stream decoded without damage."""
        return not (self.stopped_early or self.frames_short or self.decode_errors)

    @property
    def covered_until(self) -> float | None:
        """End of the last decoded frame, in seconds."""
        if self.last_time is None:
            return None
        return self.last_time + (self.last_frame_duration or self.frame_duration or 0.0)

    @property
    def lost_fraction(self) -> float | None:
        """Estimated share (0..1) of the stream's duration that was not decoded."""
        if self.expected_duration is None or self.expected_duration <= 0:
            return None
        covered_until = self.covered_until
        if covered_until is None:
            return 1.0
        missing = max(0.0, self.expected_duration - covered_until)
        # Holes are also what variable-frame-rate video looks like, so they
        # only count as losses when the decoder reported damage.
        if self.decode_errors or self.frames_short:
            missing += self.skipped_time
        return min(1.0, missing / self.expected_duration)

    def summary(self) -> str:
        """One line for logs and reports."""
        text = f"decoded {plural(self.frames_decoded, 'frame')}"
        if self.frames_skipped:
            text += f" (and skipped {plural(self.frames_skipped, 'frame')}: fast pass)"
        covered_until = self.covered_until
        if covered_until is not None:
            text += f" up to {covered_until:.2f} s"
        if self.expected_duration is not None:
            text += f" of {self.expected_duration:.2f} s"
        lost = self.lost_fraction
        if lost is not None and (lost >= 0.01 or self.stopped_early):
            percent = round(lost * 100)
            amount = f"about {percent}%" if percent else "less than 1%"
            text += f"; {amount} of the video could not be decoded"
        elif self.stopped_early:
            text += "; decoding stopped early"
        elif self.missing_frames and not self.complete:
            text += f"; {plural(self.missing_frames, 'frame')} missing"
        if self.decode_errors:
            errors = plural(self.decode_errors, "decode error")
            text += f" ({errors})" if ";" in text else f"; {errors}"
        return text

    def record_frame(self, time: float, duration: float | None, *, skipped: bool = False) -> None:
        """Count one decoded frame presented at ``time`` lasting ``duration`` (when known);
        ``skipped``: a frame the fast pass left undecoded on purpose, which is no hole."""
        # The first frame is due at 0.0, each later one when the previous ends;
        # own frame durations keep variable-frame-rate pauses from looking like holes.
        expected = 0.0 if self.last_time is None else self.covered_until or 0.0
        hole = time - expected
        if self.frame_duration and hole > (_HOLE_IN_FRAMES - 1) * self.frame_duration:
            self.skipped_time += hole
        if self.frame_duration and hole > 0.5 * self.frame_duration:
            self.missing_frames += round(hole / self.frame_duration)
        if self.first_time is None:
            self.first_time = time
        if self.last_time is None or time >= self.last_time:
            self.last_time = time
            self.last_frame_duration = duration
        if skipped:
            self.frames_skipped += 1
        else:
            self.frames_decoded += 1

    def finish(self, *, demuxer_failed: bool) -> None:
        """Judge the pass once the stream has ended (or failed)."""
        joins = 0 if self.missing_frames else self.time_jumps
        self.decode_errors += max(0, self.suspect_packets - joins)
        shortfall = None
        covered_until = self.covered_until
        if self.expected_duration is not None:
            shortfall = self.expected_duration - (covered_until or 0.0)
        slack = max(_EARLY_END_SECONDS, _EARLY_END_FRAMES * (self.frame_duration or 0.0))
        self.stopped_early = demuxer_failed or (shortfall is not None and shortfall > slack)
        if self.expected_duration and self.frame_duration:
            expected_frames = self.expected_duration / self.frame_duration
            tolerance = max(3.0, 0.01 * expected_frames)
            missing = expected_frames - tolerance - self.frames_decoded - self.frames_skipped
            # Lost frames leave holes in time. Without holes, fewer frames than
            # rate x duration only means the nominal rate is not the real one:
            # variable-frame-rate Matroska states 25 fps whatever its timing.
            self.frames_short = (
                missing > 0 and self.skipped_time >= 0.5 * missing * self.frame_duration
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form: every field, for the frame table's metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecodeReport:
        """The inverse of :meth:`to_dict`; raises ``TypeError``/``KeyError`` on another layout."""
        return cls(**_known_fields(cls, data))


def _known_fields(record: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data``, refused (``KeyError``) when it holds a field ``record`` does not have."""
    unknown = set(data) - {field.name for field in dataclasses.fields(record)}
    if unknown:
        raise KeyError(f"unknown {record.__name__} fields {sorted(unknown)}")
    return data
