"""Build small synthetic videos with exactly known content for tests.

Everything here is deterministic: the same arguments give the same pixels, the
same timestamps and (with the default single-threaded encoders) the same bytes,
so tests can assert exact ground truth such as cut positions or frame times.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.packet import Packet
from av.video.stream import VideoStream

Image = npt.NDArray[np.uint8]
"""An (H, W, 3) RGB or (H, W) gray uint8 picture."""

DEFAULT_WIDTH = 160
DEFAULT_HEIGHT = 96

# Encoder defaults chosen for faithful pictures at tiny sizes; single threaded
# so that the encoded bytes do not depend on the machine.
_ENCODER_DEFAULTS: dict[str, dict[str, str]] = {
    "libx264": {"crf": "12", "preset": "veryfast", "threads": "1"},
    "libx264rgb": {"crf": "0", "preset": "veryfast", "threads": "1"},
    "libx265": {"crf": "12", "preset": "ultrafast", "x265-params": "log-level=none:pools=1"},
    "mpeg4": {"qscale": "2", "threads": "1"},
    "mjpeg": {"qscale": "2", "threads": "1"},
    "ffv1": {"threads": "1"},
}


@dataclass(frozen=True)
class WrittenVideo:
    """Ground truth of a video produced by :func:`write_video`."""

    path: Path
    width: int
    height: int
    frame_count: int
    times: tuple[float, ...]
    """Presentation time of each frame in seconds (``pts * time_base``)."""
    duration: float
    """End of the last frame in seconds."""


def write_video(
    path: str | Path,
    frames: Iterable[Image],
    *,
    fps: int | Fraction = 25,
    codec: str = "libx264",
    pixel_format: str = "yuv420p",
    time_base: Fraction | None = None,
    pts: Sequence[int] | None = None,
    options: Mapping[str, str] | None = None,
    rotation: int = 0,
    sample_aspect: Fraction | None = None,
) -> WrittenVideo:
    """Encode ``frames`` (RGB or gray uint8 arrays, all the same size) into ``path``.

    The container follows the file extension (.mp4, .mkv, .avi, .ts, ...).
    Frames are stored at ``pts[i] * time_base`` seconds when ``pts`` is given
    (variable frame rate; the last frame then lasts about ``1 / fps``), else at
    ``i / fps``; ``time_base`` defaults to ``1 / fps``. ``options`` override the
    per-codec defaults above (e.g. ``{"g": "12", "bf": "0"}``). ``rotation`` is
    the display rotation in degrees clockwise, written as a display matrix,
    like a phone that recorded sideways. ``sample_aspect`` is the pixels' shape
    (64:45 for anamorphic 16:9 PAL), written into the stream.
    """
    path = Path(path)
    frame_rate = Fraction(fps)
    if time_base is None:
        time_base = 1 / frame_rate
    regular_step = 1 / frame_rate / time_base
    if pts is None and regular_step.denominator != 1:
        raise ValueError(f"time_base {time_base} cannot express {frame_rate} fps exactly")
    frame_iterator = iter(frames)
    first = next(frame_iterator, None)
    if first is None:
        raise ValueError("write_video needs at least one frame")
    height, width = first.shape[:2]

    encoder_options = dict(_ENCODER_DEFAULTS.get(codec, {}))
    encoder_options.update(options or {})
    stamps: list[int] = []
    frame_lengths: dict[int, int] = {}
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=frame_rate, options=encoder_options)
        if not isinstance(stream, VideoStream):
            raise ValueError(f"{codec} is not a video encoder")
        stream.width = width
        stream.height = height
        stream.pix_fmt = pixel_format
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if sample_aspect is not None:
            stream.codec_context.sample_aspect_ratio = sample_aspect
        if rotation % 360:
            # PyAV takes counter-clockwise degrees here (FFmpeg's display matrix sign).
            stream.set_display_rotation(-rotation)

        for index, image in enumerate(itertools.chain([first], frame_iterator)):
            if image.shape[:2] != (height, width):
                raise ValueError(f"frame {index} is {image.shape[:2]}, expected {(height, width)}")
            if pts is None:
                stamp = index * int(regular_step)
                length = int(regular_step)
            elif index < len(pts):
                stamp = pts[index]
                # The last frame lasts one regular frame.
                if index + 1 < len(pts):
                    length = pts[index + 1] - stamp
                else:
                    length = max(1, round(regular_step))
            else:
                raise ValueError(f"got {len(pts)} pts for more frames")
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image), format="gray" if image.ndim == 2 else "rgb24"
            )
            frame.pts = stamp
            frame.time_base = time_base
            frame_lengths[stamp] = length
            container.mux(_with_durations(stream.encode(frame), frame_lengths))
            stamps.append(stamp)
        container.mux(_with_durations(stream.encode(None), frame_lengths))

    if pts is not None and len(pts) != len(stamps):
        raise ValueError(f"got {len(pts)} pts for {len(stamps)} frames")
    end = stamps[-1] + (max(1, round(regular_step)) if pts is not None else regular_step)
    return WrittenVideo(
        path=path,
        width=width,
        height=height,
        frame_count=len(stamps),
        times=tuple(float(stamp * time_base) for stamp in stamps),
        duration=float(end * time_base),
    )


def _with_durations(
    packets: list[Packet[VideoStream]], frame_lengths: dict[int, int]
) -> list[Packet[VideoStream]]:
    # Encoders leave packet durations empty; MP4 then gets the track length of
    # variable-frame-rate video wrong, so fill them in from the known frame times.
    for packet in packets:
        if packet.pts is not None and packet.pts in frame_lengths:
            packet.duration = frame_lengths.pop(packet.pts)
    return packets


def solid_color_frames(
    color: tuple[int, int, int],
    count: int,
    *,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
) -> Iterator[Image]:
    """Yield ``count`` identical frames filled with one RGB color."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = color
    for _ in range(count):
        yield image.copy()


def moving_pattern_frames(
    count: int,
    *,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    seed: int = 0,
    pixels_per_frame: int = 2,
    block_size: int = 8,
) -> Iterator[Image]:
    """Yield one continuous shot: a random block texture panning right.

    The texture depends only on ``seed``, so two calls with different seeds look
    like two different shots while consecutive frames of one call stay similar.
    """
    generator = np.random.default_rng(seed)
    blocks_high = -(-height // block_size)
    blocks_wide = -(-width // block_size)
    blocks = generator.integers(0, 256, (blocks_high, blocks_wide, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(blocks, block_size, axis=0), block_size, axis=1)
    texture = texture[:height, :width]
    for index in range(count):
        yield np.ascontiguousarray(np.roll(texture, index * pixels_per_frame, axis=1))


def fade_frames(start: Image, end: Image, count: int) -> Iterator[Image]:
    """Yield ``count`` frames blending linearly from ``start`` to ``end`` (a dissolve).

    The first frame is ``start`` and the last is ``end`` (for ``count`` >= 2).
    """
    start_values = start.astype(np.float64)
    end_values = end.astype(np.float64)
    for step in range(count):
        weight = step / (count - 1) if count > 1 else 1.0
        blend = start_values + (end_values - start_values) * weight
        yield np.rint(blend).astype(np.uint8)


def concatenate_shots(shots: Iterable[Iterable[Image]]) -> tuple[list[Image], list[int]]:
    """Chain shots into one frame list, with the ground-truth cuts.

    Returns the frames and, for every shot after the first, the index of its
    first frame (where a hard cut happens).
    """
    frames: list[Image] = []
    cuts: list[int] = []
    for number, shot in enumerate(shots):
        if number:
            cuts.append(len(frames))
        frames.extend(shot)
    return frames, cuts


def corner_marker_frames(
    count: int,
    *,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    marker_size: int = 16,
) -> Iterator[Image]:
    """Yield black frames with a white square in the top-left corner (shows orientation)."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:marker_size, :marker_size] = 255
    for _ in range(count):
        yield image.copy()


def write_audio_only(path: str | Path, *, seconds: float = 0.5, sample_rate: int = 8000) -> Path:
    """Write a silent audio-only file (e.g. .m4a or .mka), which has no video stream."""
    path = Path(path)
    samples_per_frame = 1024
    frame_count = max(1, round(seconds * sample_rate / samples_per_frame))
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=sample_rate)
        for index in range(frame_count):
            silence = np.zeros((1, samples_per_frame), np.float32)
            frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = index * samples_per_frame
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_video_without_frames(path: str | Path, *, width: int = 64, height: int = 48) -> Path:
    """Write a container that declares a video stream but holds no frames.

    Uses AVI, whose header alone is a valid file; Matroska and MP4 refuse or
    produce unreadable files without packets.
    """
    path = Path(path)
    if path.suffix.lower() != ".avi":
        raise ValueError("write_video_without_frames writes AVI files only")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    return path


def remux(source: str | Path, destination: str | Path) -> Path:
    """Copy the first video stream of ``source`` into another container without re-encoding."""
    destination = Path(destination)
    with av.open(str(source)) as input_container, av.open(str(destination), "w") as output:
        input_stream = input_container.streams.video[0]
        output_stream = output.add_stream_from_template(input_stream)
        for packet in input_container.demux(input_stream):
            # The demuxer ends with empty flush packets, which cannot be muxed.
            if packet.dts is None:
                continue
            packet.stream = output_stream
            output.mux(packet)
    return destination


def truncate_file(source: str | Path, destination: str | Path, fraction: float) -> Path:
    """Copy the first ``fraction`` of the bytes of ``source``, as an interrupted download would."""
    data = Path(source).read_bytes()
    destination = Path(destination)
    destination.write_bytes(data[: int(len(data) * fraction)])
    return destination


def overwrite_with_noise(
    source: str | Path,
    destination: str | Path,
    *,
    start_fraction: float,
    length: int,
    seed: int = 0,
) -> Path:
    """Copy ``source`` with ``length`` bytes from ``start_fraction`` on replaced by noise."""
    data = bytearray(Path(source).read_bytes())
    start = int(len(data) * start_fraction)
    noise = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8)
    data[start : start + length] = noise.tobytes()[: len(data) - start]
    destination = Path(destination)
    destination.write_bytes(bytes(data))
    return destination


def copy_file(source: str | Path, destination: str | Path) -> Path:
    """Copy a file, e.g. to give a text file a video extension."""
    return Path(shutil.copyfile(source, destination))


def join_files(parts: Sequence[str | Path], destination: str | Path) -> Path:
    """Concatenate files byte by byte, as ``cat a.ts b.ts > joined.ts`` does."""
    destination = Path(destination)
    destination.write_bytes(b"".join(Path(part).read_bytes() for part in parts))
    return destination


TS_PACKET = 188
FFMPEG_TS_VIDEO_PID = 0x100  # FFmpeg's muxer puts the first stream here


def move_ts_packets(
    source: str | Path, destination: str | Path, *, first: int, count: int, pid: int
) -> Path:
    """Copy a transport stream with ``count`` video packets from packet ``first`` on
    moved to ``pid``, as a flipped bit in a PID field (or a foreign stream cut in) does."""
    data = bytearray(Path(source).read_bytes())
    moved, packet = 0, first
    while moved < count:
        start = packet * TS_PACKET
        if start >= len(data) or data[start] != 0x47:
            raise ValueError(f"{source}: no sync byte at packet {packet}")
        if ((data[start + 1] & 0x1F) << 8 | data[start + 2]) == FFMPEG_TS_VIDEO_PID:
            data[start + 1] = (data[start + 1] & 0xE0) | (pid >> 8)
            data[start + 2] = pid & 0xFF
            moved += 1
        packet += 1
    destination = Path(destination)
    destination.write_bytes(bytes(data))
    return destination
