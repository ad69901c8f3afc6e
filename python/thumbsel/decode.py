"""Decode video into batches of Y/U/V planes, and fetch chosen frames as RGB.

The streaming pass (:meth:`VideoSource.batches`) hands out fixed-size batches of
8-bit 4:2:0 planes in display orientation and never converts to RGB, because
the feature kernels work on the planes and RGB conversion would dominate the
cost. The seeking pass (:meth:`VideoSource.read_rgb`) then decodes only the few
frames picked as thumbnails, at full resolution in RGB.

Damaged files are decoded as far as possible: failures are counted in a
:class:`DecodeReport` instead of being raised.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import Any, Self, SupportsInt, cast

import av
import numpy as np
import numpy.typing as npt
from av.container import InputContainer
from av.packet import Packet
from av.stream import Disposition
from av.video.format import VideoFormat
from av.video.frame import VideoFrame
from av.video.plane import VideoPlane
from av.video.reformatter import ColorRange, Colorspace
from av.video.stream import VideoStream

from thumbsel.errors import (
    EmptyVideoError,
    NoVideoStreamError,
    OutOfMemoryError,
    VideoOpenError,
    VideoTooLargeError,
)
from thumbsel.memory import can_reserve
from thumbsel.text import plural
from thumbsel.video import DecodeReport, MatrixName, VideoInfo

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_DECODE_THREADS",
    "MAX_MAX_PIXELS",
    "PASS_THREADS_PER_CORE",
    "DecodeReport",
    "FrameBatch",
    "Span",
    "StreamIndex",
    "VideoInfo",
    "VideoSource",
    "check_pixels",
    "open_video",
    "pass_decode_threads",
    "probe",
    "rotate_to_display",
]

Plane = npt.NDArray[np.uint8]

# Formats whose planes already are 8-bit 4:2:0 and can be copied as they are.
_DIRECT_FORMATS = frozenset({"yuv420p", "yuvj420p"})
# FFmpeg's AVColorSpace values (frame.colorspace) that name a matrix exactly.
_BT709_COLORSPACES = frozenset({1})
_BT601_COLORSPACES = frozenset({5, 6})
# Damaged starts can hide the first picture behind many packets; beyond this
# the stream parameters are described without a decoded frame.
_PROBE_PACKET_LIMIT = 300
# Used to extrapolate times only when the stream declares no frame rate.
_FALLBACK_FRAME_DURATION = 1 / 25
# Two times closer than this are the same frame (both come from the same pts).
_TIME_TOLERANCE = 1e-6
# A transport stream's clock may restart (files joined with cat) or leap;
# FFmpeg's own tools take a leap of more than 10 s for a restart too.
_TS_DISCONT = 0x0200  # AVFMT_TS_DISCONT, libavformat/avformat.h
_CLOCK_LEAP_SECONDS = 10.0
# Under an address-space limit FFmpeg's frame threads report failed
# allocations as invalid data; if this much cannot be reserved either, a
# decode error means memory ran out, not that the file is damaged.
_DECODE_HEADROOM = 64 << 20
# How far before a wanted frame successive seek attempts aim, in seconds. The
# first aims at the frame itself; the later ones step back past keyframes that
# an index lists by decode time (B-frames present them later) or that a seek
# without an index overshoots.
_SEEK_MARGINS = (0.0, 2.0, 20.0)
# Without an index telling the keyframe spacing, assume keyframes this far apart.
_DEFAULT_KEYFRAME_INTERVAL = 2.0
PASS_THREADS_PER_CORE = 3
"""FFmpeg frame threads per usable core in a pass (see :func:`pass_decode_threads`)."""
MAX_DECODE_THREADS = 64
"""The most decoder threads a :class:`VideoSource` may be given."""


@dataclass
class FrameBatch:
    """Consecutive decoded frames as per-frame 8-bit 4:2:0 planes, without copying.

    Each entry of ``y``, ``u`` and ``v`` is a 2-D uint8 array in display
    orientation whose rows may be padded (a view of the decoder's buffer,
    which it keeps alive); ``u`` and ``v`` are ``((H+1)//2, (W+1)//2)``.
    ``index`` is the 0-based position of each frame in decoding output order
    and ``time`` its presentation time in seconds from the stream start.
    """

    y: list[Plane]
    u: list[Plane]
    v: list[Plane]
    index: npt.NDArray[np.int64]
    time: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.index.shape[0])


@dataclass(frozen=True)
class StreamIndex:
    """Where a stream's frames and keyframes lie, read from its packets without decoding."""

    stamps: npt.NDArray[np.int64]
    """Presentation timestamp of every frame, in presentation order (stream time base)."""
    keyframes: npt.NDArray[np.int64]
    """Presentation index (0-based row) of every keyframe, ascending."""

    @property
    def frames(self) -> int:
        return int(self.stamps.shape[0])


@dataclass(frozen=True)
class Span:
    """Frames ``first`` up to ``stop`` (exclusive) of a stream, to decode on their own.

    ``first`` is a keyframe, so decoding can begin there. A span that does not
    reach the end also decodes frame ``stop`` (the *lookahead*), whose change
    signals need the frame before it: the next span cannot know them.
    """

    first: int
    stop: int | None
    first_stamp: int
    stop_stamp: int | None


@dataclass(frozen=True)
class _StreamLayout:
    """Facts about the stream needed to decode it again, beyond VideoInfo."""

    stream_index: int
    coded_width: int
    coded_height: int
    time_base: Fraction
    start_pts: int
    frame_duration: float | None
    clock_may_restart: bool = False
    """The format allows timestamp discontinuities (MPEG transport streams)."""


def rotate_to_display(picture: npt.NDArray[Any], rotation: int) -> npt.NDArray[Any]:
    """Turn a coded (H, W, ...) picture ``rotation`` degrees clockwise (a view, no copy)."""
    # np.rot90 turns counter-clockwise for positive k.
    return np.rot90(picture, k=-(rotation // 90) % 4)


DEFAULT_MAX_PIXELS = 40_000_000
"""The largest frame decoded unless told otherwise: 8K UHD (7680x4320, 33 Mpx) fits.
A 16000x16000 frame (a 738 kB "bomb" file can hold one) would take gigabytes."""
MAX_MAX_PIXELS = 1_000_000_000


def check_pixels(width: int, height: int, max_pixels: int, path: str) -> None:
    """Refuse a ``width`` x ``height`` frame above the budget, naming the option."""
    if width * height > max_pixels:
        raise VideoTooLargeError(
            f"{path}: {width}x{height} frames ({width * height:,} pixels) are over the "
            f"budget of {max_pixels:,} pixels; raise it with --max-pixels if this is "
            "really what you want to decode"
        )


class VideoSource:
    """A video file opened for decoding; use as a context manager.

    Opening reads the container header and decodes the first frame to learn the
    pixel format and rotation. Each call of :meth:`batches` or :meth:`read_rgb`
    decodes with its own demuxer, so they do not disturb each other.
    """

    info: VideoInfo
    report: DecodeReport

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        """Open ``path``; ``threads`` sets the decoder threads, 1..:data:`MAX_DECODE_THREADS`
        (None: :func:`pass_decode_threads` in a pass, FFmpeg's choice in a seek).

        Frames above ``max_pixels`` are refused with
        :class:`~thumbsel.errors.VideoTooLargeError` from the header, before a
        single one is decoded, and again from the first decoded frame.
        """
        if not 1 <= max_pixels <= MAX_MAX_PIXELS:
            raise ValueError(f"max_pixels must be within 1..{MAX_MAX_PIXELS:,}, got {max_pixels}")
        if threads is not None and not 1 <= threads <= MAX_DECODE_THREADS:
            raise ValueError(
                f"decoder threads must be within 1..{MAX_DECODE_THREADS}, got {threads}"
            )
        self.path = os.fspath(path)
        self._threads = threads
        # FFmpeg's threading mode. Frame threading ("AUTO") decodes H.264 in
        # parallel but costs more CPU per frame than slice threading; see
        # benches/README.md for which one leaves more room for scoring.
        self.decode_thread_type = "AUTO"
        self._running_passes: weakref.WeakSet[Generator[FrameBatch, None, None]] = weakref.WeakSet()
        self._max_pixels = max_pixels
        container = _open_container(self.path, max_pixels)
        try:
            stream = _select_video_stream(container, self.path)
            header = stream.codec_context
            check_pixels(header.width or 0, header.height or 0, max_pixels, self.path)
            first_frame = _first_frame(container, stream)
            if first_frame is not None:
                check_pixels(first_frame.width, first_frame.height, max_pixels, self.path)
            self.info, self._layout = _describe(container, stream, first_frame)
        finally:
            container.close()
        self.report = self._new_report()
        self.span_durations: list[float | None] = []
        """Each decoded frame's own duration, in the latest :meth:`span_batches` pass."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """End unfinished :meth:`batches` passes, releasing their files.

        Not thread-safe: do not call while another thread is inside a pass.
        """
        # Closing the generators runs their cleanup; closing their containers
        # under them instead would crash FFmpeg when they resume.
        for running in list(self._running_passes):
            running.close()

    def batches(
        self, batch_size: int = 32, *, fast: StreamIndex | None = None
    ) -> Iterator[FrameBatch]:
        """Decode the whole stream once, ``batch_size`` frames at a time.

        Batches hold views of the decoder's own buffers: nothing is copied for
        8-bit 4:2:0 sources in their stored orientation; other formats are
        converted once, rotated ones rotated into fresh arrays. Progress and
        damage go to :attr:`report`. Raises :class:`EmptyVideoError` at the
        end when no frame could be decoded.

        ``fast`` (this stream's :meth:`index`) decodes less: the deblocking
        filter is skipped and frames no other frame refers to are not decoded
        at all. Frames are then numbered by their row in ``fast``, with gaps
        where frames were skipped, which :attr:`report` counts apart.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.report = self._new_report()
        running = self._generate_batches(batch_size, self.report, fast=fast)
        self._running_passes.add(running)
        return running

    def index(self) -> StreamIndex | None:
        """Read every packet of the video stream (no decoding) to find its keyframes.

        None when the packets alone cannot say which frame is which: a packet
        without a timestamp, a repeated timestamp, one the demuxer marks to be
        discarded or as corrupt, or a format whose clock may restart (there the
        pass mends times as it goes).
        """
        if self._layout.clock_may_restart:
            return None
        container, stream = self._open_for_decoding()
        stamps: list[int] = []
        keys: list[int] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None:
                    continue  # the demuxer's end-of-stream marker
                if packet.pts is None or packet.is_discard or packet.is_corrupt:
                    return None
                stamps.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except (av.FFmpegError, IndexError):
            return None
        finally:
            container.close()
        order = np.sort(np.array(stamps, np.int64))
        if order.size == 0 or np.any(np.diff(order) == 0):
            return None
        keyframes = np.searchsorted(order, np.array(keys, np.int64))
        return StreamIndex(stamps=order, keyframes=np.unique(keyframes))

    def row_times(self, index: StreamIndex) -> npt.NDArray[np.float64]:
        """Presentation time of every row of ``index``, in seconds from the stream start."""
        clock = _PresentationClock(self._layout)
        return np.array([clock.time_of_stamp(int(stamp)) for stamp in index.stamps], np.float64)

    def span_batches(
        self, span: Span, batch_size: int = 32, *, deblock: bool = True
    ) -> Iterator[FrameBatch]:
        """Decode the frames of ``span`` (and its lookahead) only, ``batch_size`` at a time.

        Indices are the rows the whole pass would give them, as long as every
        packet makes one frame (:meth:`index`); :attr:`report` counts what was
        decoded, but is not judged (only the whole title can be).
        ``deblock=False`` skips the deblocking filter, as the fast pass does.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.report = self._new_report()
        self.span_durations = []
        running = self._generate_batches(batch_size, self.report, span, deblock=deblock)
        self._running_passes.add(running)
        return running

    def _generate_batches(
        self,
        batch_size: int,
        report: DecodeReport,
        span: Span | None = None,
        *,
        fast: StreamIndex | None = None,
        deblock: bool = True,
    ) -> Generator[FrameBatch, None, None]:
        container, stream = self._open_for_decoding(
            deblock=deblock and fast is None, threads=self._threads or pass_decode_threads()
        )
        if fast is not None:
            stream.codec_context.skip_frame = "NONREF"
        if span is not None and span.first > 0:
            try:
                container.seek(span.first_stamp, stream=stream, backward=True)
            except av.FFmpegError as error:
                container.close()
                raise VideoOpenError(f"{self.path}: cannot seek to frame {span.first}") from error
        decoder = _FrameDecoder(container, stream, report)
        frames = decoder.frames()
        try:
            clock = _PresentationClock(self._layout)
            converter = _PlaneConverter(self.info, self._layout)
            builder: _BatchCollector | None = None
            numbered: Iterator[tuple[int, VideoFrame]]
            if span is not None:
                numbered = self._span_frames(frames, span, report)
            elif fast is not None:
                numbered = _indexed_frames(frames, fast, clock, report)
            else:
                numbered = enumerate(frames)
            for decoded_index, frame in numbered:
                time = clock.time_of(frame)
                try:
                    planes = converter.planes(frame)
                except av.error.MemoryError as error:
                    raise _out_of_memory(self.path) from error
                except av.FFmpegError:
                    report.decode_errors += 1
                    continue
                if builder is None:
                    builder = _BatchCollector(batch_size)
                builder.add(planes, decoded_index, time)
                duration = clock.duration_of(frame)
                report.record_frame(time, duration)
                if span is not None:
                    self.span_durations.append(duration)
                if builder.is_full:
                    yield builder.finish()
                    builder = None
            report.time_jumps = clock.jumps
            if span is None:
                report.finish(demuxer_failed=decoder.demuxer_failed)
            elif decoder.demuxer_failed:
                report.decode_errors += 1
            if builder is not None:
                yield builder.finish()
        finally:
            frames.close()
            container.close()
        if report.frames_decoded == 0:
            errors = (
                f" ({plural(report.decode_errors, 'decode error')})" if report.decode_errors else ""
            )
            raise EmptyVideoError(f"{self.path}: the video stream has no decodable frames{errors}")

    @staticmethod
    def _span_frames(
        frames: Iterator[VideoFrame], span: Span, report: DecodeReport
    ) -> Iterator[tuple[int, VideoFrame]]:
        """The frames of ``span`` numbered as rows; the lookahead ends it."""
        row = span.first
        for frame in frames:
            stamp = frame.pts
            if stamp is None:
                report.decode_errors += 1  # cannot be placed: the stitch will refuse
                continue
            if stamp < span.first_stamp:
                continue  # decoded from the keyframe but shown before it
            yield row, frame
            row += 1
            if span.stop_stamp is not None and stamp >= span.stop_stamp:
                return

    def read_rgb(
        self, indices: Sequence[int], times: Sequence[float], *, seek: bool = True
    ) -> dict[int, npt.NDArray[np.uint8]]:
        """Fetch frames as (H, W, 3) RGB at display size, keyed by decoded index.

        ``indices`` and ``times`` pair up as :meth:`batches` reported them. Each
        frame is reached by seeking near its time and decoding forward to the
        frame whose own timestamp matches; frames that seeking cannot confirm
        are taken from a sequential decode instead. A frame that cannot be
        decoded again at all (possible only in damaged files) is left out.
        ``seek=False`` decodes sequentially throughout: needed when the times are
        not the file's own (see :attr:`DecodeReport.time_jumps`).
        """
        if len(indices) != len(times):
            raise ValueError(f"got {len(indices)} indices but {len(times)} times")
        time_by_index = {
            int(index): float(time) for index, time in zip(indices, times, strict=True)
        }
        wanted = sorted(time_by_index.items(), key=lambda item: (item[1], item[0]))
        found: dict[int, npt.NDArray[np.uint8]] = {}
        if not wanted:
            return found
        if not seek:
            self._read_sequentially(set(time_by_index), found)
            return found
        shared_times = _times_shared_by_several(wanted)
        # A time shared by several frames cannot tell them apart by timestamp.
        seekable = [(index, time) for index, time in wanted if time not in shared_times]
        unresolved = [(index, time) for index, time in wanted if time in shared_times]
        if seekable:
            unresolved += self._read_by_seeking(seekable, found)
        if unresolved:
            self._read_sequentially({index for index, _ in unresolved}, found)
        return found

    def _new_report(self) -> DecodeReport:
        return DecodeReport(
            expected_duration=self.info.duration, frame_duration=self._layout.frame_duration
        )

    def _open_for_decoding(
        self, *, deblock: bool = True, threads: int | None = None
    ) -> tuple[InputContainer, VideoStream]:
        container = _open_container(self.path, self._max_pixels)
        stream = container.streams[self._layout.stream_index]
        if not isinstance(stream, VideoStream):
            container.close()
            raise VideoOpenError(f"{self.path}: the video stream disappeared after opening")
        decoder = stream.codec_context
        decoder.thread_type = self.decode_thread_type
        decoder.thread_count = threads or self._threads or 0
        if not deblock:
            # Read when the codec opens, at the first packet. The deblocking
            # filter is a fifth of H.264's decode time; without it block edges
            # stay visible, which sharpness sees (higher on every frame alike).
            decoder.options = {"skip_loop_filter": "all"}
        return container, stream

    def _read_by_seeking(
        self, wanted: list[tuple[int, float]], found: dict[int, npt.NDArray[np.uint8]]
    ) -> list[tuple[int, float]]:
        """Fill ``found`` for the frames of ``wanted`` (sorted by time); return the rest."""
        unresolved: list[tuple[int, float]] = []
        container, stream = self._open_for_decoding()
        clock = _PresentationClock(self._layout)
        converter = _RgbConverter(self.info, self._layout)
        forward_limit = _keyframe_interval(stream, self.info.duration)
        run: _SeekRun | None = None
        try:
            for index, time in wanted:
                frame = None
                if run is not None and run.is_shortly_before(time, forward_limit):
                    frame = run.find(time, clock)
                for margin in _SEEK_MARGINS:
                    if frame is not None:
                        break
                    if run is not None:
                        run.close()
                    run = _SeekRun.start(container, stream, self._layout, time - margin)
                    if run is None:
                        break
                    frame = run.find(time, clock)
                if frame is None:
                    unresolved.append((index, time))
                    continue
                found[index] = converter.rgb(frame)
        finally:
            if run is not None:
                run.close()
            container.close()
        return unresolved

    def _read_sequentially(self, wanted: set[int], found: dict[int, npt.NDArray[np.uint8]]) -> None:
        remaining = set(wanted)
        container, stream = self._open_for_decoding()
        frames = _FrameDecoder(container, stream, DecodeReport()).frames()
        converter = _RgbConverter(self.info, self._layout)
        try:
            for decoded_index, frame in enumerate(frames):
                if decoded_index in remaining:
                    found[decoded_index] = converter.rgb(frame)
                    remaining.discard(decoded_index)
                    if not remaining:
                        break
        finally:
            frames.close()
            container.close()


def pass_decode_threads() -> int:
    """Decoder threads for a pass over a whole stream or a span: three per usable core.

    FFmpeg's own choice, one more thread than cores, leaves a core idle
    whenever the scoring threads hold the other: an H.264 frame thread waits
    for the rows of the frames it refers to, so a few threads in flight are
    not enough to keep decoding going while scoring takes its turn. On the
    2-core machine of ``benches/README.md`` (section 23) three per core made
    the pass 13-14% faster, decoding alone 2-4%; more did no better.
    Seeks keep FFmpeg's choice: a frame thread decodes ahead, past the frame
    a seek wants.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    # 16: FFmpeg's own ceiling for the threads it chooses.
    return min(16, PASS_THREADS_PER_CORE * max(1, cores))


def open_video(
    path: str | os.PathLike[str],
    *,
    threads: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> VideoSource:
    """Open a video for decoding (see :class:`VideoSource`)."""
    return VideoSource(path, threads=threads, max_pixels=max_pixels)


def probe(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """Describe a video without decoding more than its first frame."""
    with VideoSource(path, max_pixels=max_pixels) as source:
        return source.info


def _indexed_frames(
    frames: Iterator[VideoFrame],
    index: StreamIndex,
    clock: _PresentationClock,
    report: DecodeReport,
) -> Iterator[tuple[int, VideoFrame]]:
    """Frames numbered by their row in ``index``; the rows between them count as skipped."""
    stamps = index.stamps
    next_row = 0
    for frame in frames:
        row = int(np.searchsorted(stamps, frame.pts)) if frame.pts is not None else -1
        if row < next_row or row >= len(stamps) or stamps[row] != frame.pts:
            report.decode_errors += 1  # cannot be placed
            continue
        for skipped in range(next_row, row):
            report.record_frame(clock.time_of_stamp(int(stamps[skipped])), None, skipped=True)
        yield row, frame
        next_row = row + 1
    for skipped in range(next_row, len(stamps)):
        report.record_frame(clock.time_of_stamp(int(stamps[skipped])), None, skipped=True)


class _FrameDecoder:
    """Demuxes and decodes one video stream, carrying on past damaged packets."""

    def __init__(
        self,
        container: InputContainer,
        stream: VideoStream,
        report: DecodeReport,
        *,
        packet_limit: int | None = None,
    ) -> None:
        self._container = container
        self._stream = stream
        self._report = report
        self._packet_limit = packet_limit
        self.demuxer_failed = False
        self.first_keyframe_pts: int | None = None

    def frames(self) -> Generator[VideoFrame, None, None]:
        """Decoded frames in presentation order; damage is counted in the report."""
        decoder = self._stream.codec_context
        packets = self._container.demux(self._stream)
        packets_read = 0
        try:
            while True:
                packet: Packet[VideoStream] | None
                try:
                    packet = next(packets)
                except StopIteration:
                    return
                except IndexError:
                    # PyAV (18.1) fails in its final flush when a stream appeared
                    # mid-file, as a stray or flipped PID in a transport stream makes
                    # one; every packet of ours has been read by then.
                    packet = None
                except av.FFmpegError:
                    # The demuxer cannot go on; still drain what the decoder holds.
                    self.demuxer_failed = True
                    packet = None
                if packet is not None:
                    packets_read += 1
                    if packet.is_corrupt:
                        self._report.suspect_packets += 1
                    if self.first_keyframe_pts is None and packet.is_keyframe:
                        self.first_keyframe_pts = (
                            packet.pts if packet.pts is not None else packet.dts
                        )
                    if self._packet_limit is not None and packets_read > self._packet_limit:
                        packet = None
                try:
                    decoded = decoder.decode(packet)
                except av.EOFError:
                    decoded = []  # already drained by the demuxer's own flush
                except av.error.MemoryError as error:
                    raise _out_of_memory(self._container.name) from error
                except av.FFmpegError as error:
                    if not can_reserve(_DECODE_HEADROOM):
                        raise _out_of_memory(self._container.name) from error
                    self._report.decode_errors += 1
                    decoded = []
                for frame in decoded:
                    if frame.is_corrupt:
                        self._report.decode_errors += 1
                    yield frame
                if packet is None:
                    return
        finally:
            # Let the demuxer clean up now, while its container is still open.
            if isinstance(packets, Generator):
                packets.close()


class _PresentationClock:
    """Turns frame timestamps into seconds since the stream start."""

    def __init__(self, layout: _StreamLayout) -> None:
        self._numerator = layout.time_base.numerator
        self._denominator = layout.time_base.denominator
        self._start_pts = layout.start_pts
        self._frame_duration = layout.frame_duration or _FALLBACK_FRAME_DURATION
        self._previous: float | None = None
        self._may_restart = layout.clock_may_restart
        self._offset = 0.0
        self.jumps = 0
        """Restarts mended by :meth:`time_of` so far."""

    def exact_time(self, frame: VideoFrame) -> float | None:
        """Time from the frame's own timestamp, or None when it carries none."""
        stamp = frame.pts if frame.pts is not None else frame.dts
        if stamp is None:
            return None
        return self.time_of_stamp(stamp)

    def time_of_stamp(self, stamp: int) -> float:
        """Seconds since the stream start of a timestamp (stream time base)."""
        # Integer arithmetic first, so the single division rounds exactly once.
        return (stamp - self._start_pts) * self._numerator / self._denominator

    def stamp_of(self, time: float) -> int:
        """The timestamp (in stream time base units) nearest to ``time``."""
        return round(time * self._denominator / self._numerator) + self._start_pts

    def duration_of(self, frame: VideoFrame) -> float | None:
        """How long the frame is shown, when the container records it."""
        if frame.duration <= 0:
            return None
        return frame.duration * self._numerator / self._denominator

    def time_of(self, frame: VideoFrame) -> float:
        """Like :meth:`exact_time`, extrapolating from the previous frame when needed,
        and running on where the clock of a joined transport stream restarts."""
        time = self.exact_time(frame)
        if time is None:
            time = 0.0 if self._previous is None else self._previous + self._frame_duration
        elif self._may_restart and self._previous is not None:
            time += self._offset
            step = time - self._previous
            # Decoded frames come in presentation order, so a step back is a new
            # clock; so is a leap past FFmpeg's own threshold for one (10 s).
            if step < -_TIME_TOLERANCE or step > _CLOCK_LEAP_SECONDS:
                resumed = self._previous + self._frame_duration
                self._offset += resumed - time
                time = resumed
                self.jumps += 1
        self._previous = time
        return time


class _PlaneConverter:
    """Gets 8-bit 4:2:0 planes in display orientation out of decoded frames."""

    def __init__(self, info: VideoInfo, layout: _StreamLayout) -> None:
        self._rotation = info.rotation
        self._width = layout.coded_width
        self._height = layout.coded_height
        self._full_range = info.full_range
        self._colorspace = _sws_colorspace(info.matrix)

    def planes(self, frame: VideoFrame) -> tuple[Plane, Plane, Plane]:
        """Views of the Y, U, V planes (valid while ``frame`` lives)."""
        if not self._can_copy_directly(frame):
            frame = frame.reformat(
                width=self._width,
                height=self._height,
                format="yuv420p",
                src_colorspace=self._colorspace,
                dst_colorspace=self._colorspace,
                # Naming both ranges keeps swscale from squeezing full-range
                # values into the limited range (its default for yuv420p).
                src_color_range=_color_range(frame),
                dst_color_range=ColorRange.JPEG if self._full_range else ColorRange.MPEG,
            )
        y, u, v = (_plane_pixels(plane) for plane in frame.planes[:3])
        return (
            rotate_to_display(y, self._rotation),
            rotate_to_display(u, self._rotation),
            rotate_to_display(v, self._rotation),
        )

    def _can_copy_directly(self, frame: VideoFrame) -> bool:
        return (
            frame.format.name in _DIRECT_FORMATS
            and frame.width == self._width
            and frame.height == self._height
            and _is_full_range(frame.format, frame.color_range) == self._full_range
        )


class _RgbConverter:
    """Converts frames to RGB with the same matrix and range the planes declare."""

    def __init__(self, info: VideoInfo, layout: _StreamLayout) -> None:
        self._rotation = info.rotation
        self._width = layout.coded_width
        self._height = layout.coded_height
        self._colorspace = _sws_colorspace(info.matrix)

    def rgb(self, frame: VideoFrame) -> npt.NDArray[np.uint8]:
        rgb = frame.reformat(
            width=self._width,
            height=self._height,
            format="rgb24",
            src_colorspace=self._colorspace,
            dst_colorspace=self._colorspace,
            src_color_range=_color_range(frame),
            dst_color_range=ColorRange.JPEG,
        )
        picture = np.asarray(rgb.to_ndarray(), dtype=np.uint8)
        return np.ascontiguousarray(rotate_to_display(picture, self._rotation))


class _BatchCollector:
    """Collects per-frame plane views (no copy) for one batch."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._planes: tuple[list[Plane], list[Plane], list[Plane]] = ([], [], [])
        self._index: list[int] = []
        self._time: list[float] = []

    @property
    def is_full(self) -> bool:
        return len(self._index) == self._capacity

    def add(self, planes: tuple[Plane, Plane, Plane], index: int, time: float) -> None:
        for kept, plane in zip(self._planes, planes, strict=True):
            # Rotated views have negative or transposed strides; the kernels
            # read rows forwards, so those get one copy.
            kept.append(
                plane
                if plane.strides[1] == 1 and plane.strides[0] > 0
                else np.ascontiguousarray(plane)
            )
        self._index.append(index)
        self._time.append(time)

    def finish(self) -> FrameBatch:
        return FrameBatch(
            y=self._planes[0],
            u=self._planes[1],
            v=self._planes[2],
            index=np.array(self._index, np.int64),
            time=np.array(self._time, np.float64),
        )


class _SeekRun:
    """Decoding forward from one seek, looking for frames by timestamp."""

    def __init__(self, decoder: _FrameDecoder, layout: _StreamLayout) -> None:
        self._decoder = decoder
        self._frames = decoder.frames()
        self._layout = layout
        self.position: float | None = None

    @classmethod
    def start(
        cls, container: InputContainer, stream: VideoStream, layout: _StreamLayout, time: float
    ) -> _SeekRun | None:
        """Seek to the keyframe at or before ``time``; None when the container cannot seek."""
        clock = _PresentationClock(layout)
        try:
            target = max(clock.stamp_of(time), layout.start_pts)
            container.seek(target, stream=stream, backward=True)
        except av.FFmpegError:
            return None
        return cls(_FrameDecoder(container, stream, DecodeReport()), layout)

    def find(self, time: float, clock: _PresentationClock) -> VideoFrame | None:
        """Decode up to the frame presented at ``time``; None once a later frame shows up."""
        for frame in self._frames:
            frame_time = clock.exact_time(frame)
            if frame_time is None:
                continue
            self.position = frame_time
            if frame_time > time + _TIME_TOLERANCE:
                return None
            if abs(frame_time - time) <= _TIME_TOLERANCE:
                return frame if self._is_trustworthy(frame, frame_time) else None
        return None

    def is_shortly_before(self, time: float, limit: float) -> bool:
        """Whether decoding on to ``time`` beats seeking to it."""
        # Within about one keyframe interval the frame is likely in the group of
        # pictures being decoded, which a seek would decode again from its start.
        return self.position is not None and 0 < time - self.position <= limit

    def close(self) -> None:
        self._frames.close()

    def _is_trustworthy(self, frame: VideoFrame, frame_time: float) -> bool:
        # Frames presented before the first keyframe after the seek may have been
        # reconstructed from references that were never decoded.
        keyframe_pts = self._decoder.first_keyframe_pts
        if keyframe_pts is None or frame.is_corrupt:
            return False
        keyframe_time = (keyframe_pts - self._layout.start_pts) * self._layout.time_base
        return frame_time >= float(keyframe_time) - _TIME_TOLERANCE


def _open_container(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> InputContainer:
    try:
        # FFmpeg decodes a frame or two while it probes the streams; its own
        # pixel limit keeps a bomb from allocating gigabytes there, and the
        # header's size is still read, for check_pixels to refuse in words.
        return av.open(path, mode="r", options={"max_pixels": str(max_pixels)})
    except FileNotFoundError as error:
        raise VideoOpenError(f"{path}: no such file") from error
    except IsADirectoryError as error:
        raise VideoOpenError(f"{path}: is a directory, not a video file") from error
    except PermissionError as error:
        raise VideoOpenError(f"{path}: permission denied") from error
    except av.error.MemoryError as error:
        raise _out_of_memory(path) from error
    except av.FFmpegError as error:
        raise VideoOpenError(f"{path}: not a video FFmpeg can read") from error
    except OSError as error:
        raise VideoOpenError(f"{path}: cannot be read ({error.strerror or error})") from error


def _select_video_stream(container: InputContainer, path: str) -> VideoStream:
    # Cover art in music files is a one-picture "video" stream; it is not video.
    candidates = [
        stream
        for stream in container.streams.video
        if not stream.disposition & Disposition.attached_pic
    ]
    if candidates:
        return candidates[0]
    kinds = sorted({stream.type for stream in container.streams})
    holds = f"only {' and '.join(kinds)} streams" if kinds else "no streams at all"
    raise NoVideoStreamError(f"{path}: no video stream (the file has {holds})")


_MAX_SAMPLE_ASPECT = 4
"""Pixels more than 4 times wider than tall (or taller than wide) are broken metadata."""


def _sample_aspect(
    stream: VideoStream, first_frame: VideoFrame | None, rotation: int
) -> tuple[int, int]:
    """The pixel shape for display: the stream's (or first frame's) sample aspect ratio,
    turned with the picture; 1:1 when it is missing, zero or absurd."""
    ratio = None
    for source in (first_frame, stream.codec_context, stream):
        value = getattr(source, "sample_aspect_ratio", None) if source is not None else None
        if value:
            ratio = Fraction(value)
            break
    if ratio is None or ratio <= 0:
        return (1, 1)
    if not 1 / _MAX_SAMPLE_ASPECT <= ratio <= _MAX_SAMPLE_ASPECT:
        return (1, 1)
    wide, tall = ratio.numerator, ratio.denominator
    return (tall, wide) if rotation in (90, 270) else (wide, tall)


def _first_frame(container: InputContainer, stream: VideoStream) -> VideoFrame | None:
    decoder = _FrameDecoder(container, stream, DecodeReport(), packet_limit=_PROBE_PACKET_LIMIT)
    frames = decoder.frames()
    try:
        return next(frames, None)
    finally:
        frames.close()


def _describe(
    container: InputContainer, stream: VideoStream, first_frame: VideoFrame | None
) -> tuple[VideoInfo, _StreamLayout]:
    codec_context = stream.codec_context
    time_base = stream.time_base or Fraction(1, av.time_base)
    pixel_format: VideoFormat | None
    if first_frame is not None:
        # The decoded frame is authoritative: headers often leave range,
        # matrix and rotation unspecified or stale.
        coded_width, coded_height = first_frame.width, first_frame.height
        pixel_format = first_frame.format
        color_range, colorspace = first_frame.color_range, first_frame.colorspace
        rotation = _clockwise_rotation(first_frame.rotation)
    else:
        coded_width, coded_height = codec_context.width, codec_context.height
        pixel_format = codec_context.format
        color_range, colorspace = codec_context.color_range, codec_context.colorspace
        rotation = 0

    frame_rate = float(stream.average_rate or stream.guessed_rate or 0.0)
    duration = _declared_duration(container, stream, time_base)
    if stream.frames > 0:
        estimated_frames: int | None = stream.frames
    elif duration is not None and frame_rate > 0:
        estimated_frames = round(duration * frame_rate)
    else:
        estimated_frames = None

    width, height = coded_width, coded_height
    if rotation in (90, 270):
        width, height = height, width
    info = VideoInfo(
        container=container.format.name,
        codec=codec_context.name,
        width=width,
        height=height,
        pixel_format=pixel_format.name if pixel_format is not None else "unknown",
        full_range=pixel_format is not None and _is_full_range(pixel_format, color_range),
        matrix=_matrix_name(colorspace, coded_height),
        rotation=rotation,
        frame_rate=frame_rate,
        duration=duration,
        estimated_frames=estimated_frames,
        title=_tag(container.metadata, "title"),
        comment=_tag(container.metadata, "comment", "description"),
        stream_title=_tag(stream.metadata, "title", "handler_name"),
        sample_aspect=_sample_aspect(stream, first_frame, rotation),
    )
    layout = _StreamLayout(
        stream_index=stream.index,
        coded_width=coded_width,
        coded_height=coded_height,
        time_base=time_base,
        start_pts=stream.start_time if stream.start_time is not None else 0,
        frame_duration=1 / frame_rate if frame_rate > 0 else None,
        clock_may_restart=bool(_flag_bits(container.format.flags) & _TS_DISCONT),
    )
    return info, layout


def _declared_duration(
    container: InputContainer, stream: VideoStream, time_base: Fraction
) -> float | None:
    """The stream's length in seconds, as the container declares it.

    Frame times count from the stream's first frame, so this must be a length.
    Matroska's per-track ``DURATION`` tag, and FFmpeg's duration of a Matroska
    file, are the time the stream *ends*: with a 4 s (or 10 h) start offset,
    taking them for lengths made an intact file look two-thirds (or all) lost.
    """
    if stream.duration:
        return float(stream.duration * time_base)
    matroska = "matroska" in (container.format.name or "")
    start = float(stream.start_time * time_base) if stream.start_time else 0.0

    def length(end: float) -> float:
        return end - start if matroska and 0 < start < end else end

    # Matroska keeps per-track durations in a tag rather than the stream header.
    tag = stream.metadata.get("DURATION")
    if tag is not None:
        match = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", tag.strip())
        if match:
            hours, minutes, seconds = match.groups()
            return length(int(hours) * 3600 + int(minutes) * 60 + float(seconds))
    if container.duration:
        return length(container.duration / av.time_base)
    return None


def _clockwise_rotation(counter_clockwise_degrees: float) -> int:
    # FFmpeg's display matrix angle is counter-clockwise; players (and
    # ffmpeg's autorotate) turn the picture by its negation.
    return round(-counter_clockwise_degrees / 90) % 4 * 90


def _is_full_range(pixel_format: VideoFormat, color_range: int) -> bool:
    name = pixel_format.name
    if pixel_format.is_rgb or pixel_format.has_palette or name.startswith("yuvj"):
        return True
    if color_range == ColorRange.JPEG:
        return True
    if color_range == ColorRange.MPEG:
        return False
    # Untagged gray pictures hold full-range values, as swscale assumes too.
    return name.startswith(("gray", "ya", "mono"))


def _color_range(frame: VideoFrame) -> ColorRange:
    return ColorRange.JPEG if _is_full_range(frame.format, frame.color_range) else ColorRange.MPEG


def _matrix_name(colorspace: int, coded_height: int) -> MatrixName:
    if colorspace in _BT709_COLORSPACES:
        return "bt709"
    if colorspace in _BT601_COLORSPACES:
        return "bt601"
    # Untagged: HD and larger is BT.709 by convention, SD is BT.601.
    return "bt709" if coded_height >= 720 else "bt601"


def _sws_colorspace(matrix: MatrixName) -> Colorspace:
    return Colorspace.ITU709 if matrix == "bt709" else Colorspace.ITU601


def _plane_pixels(plane: VideoPlane) -> Plane:
    # Rows are line_size bytes apart, which can exceed the visible width.
    rows = np.frombuffer(memoryview(plane), np.uint8, count=plane.line_size * plane.height)
    return rows.reshape(plane.height, plane.line_size)[:, : plane.width]


def _tag(metadata: dict[str, str], *names: str) -> str | None:
    """The first of ``names`` the metadata holds as non-blank text.

    Control characters are dropped: some muxers store a handler name as a
    Pascal string, its length byte first ("\x1fMainconcept Video ...").
    """
    for name in names:
        value = "".join(ch for ch in metadata.get(name) or "" if ch.isprintable() or ch == "\n")
        if value.strip():
            return value.strip()
    return None


def _times_shared_by_several(wanted: list[tuple[int, float]]) -> set[float]:
    seen: set[float] = set()
    shared: set[float] = set()
    for _, time in wanted:
        (shared if time in seen else seen).add(time)
    return shared


def _keyframe_interval(stream: VideoStream, duration: float | None) -> float:
    """Typical seconds between keyframes, from the container index when it has one."""
    keyframes = sum(1 for entry in stream.index_entries if entry.is_keyframe)
    if keyframes >= 2 and duration:
        return max(duration / keyframes, 0.1)
    return _DEFAULT_KEYFRAME_INTERVAL


def _flag_bits(flags: object) -> int:
    # PyAV's stubs call the format's flags a Flags enum; at run time they are an int.
    return int(cast(SupportsInt, flags))


def _out_of_memory(path: str) -> OutOfMemoryError:
    # FFmpeg says ENOMEM for a failed allocation: under a memory limit that used
    # to be counted as a damaged packet, and the video called damaged.
    return OutOfMemoryError(
        f"{path}: out of memory while decoding (check the memory limit, or lower "
        "--max-pixels to refuse frames this large)"
    )
