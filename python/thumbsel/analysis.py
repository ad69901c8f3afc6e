"""``analyze``: one pass over a video into a per-frame feature table."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel import _core
from thumbsel.decode import DecodeReport, VideoInfo, open_video
from thumbsel.errors import ThumbselError
from thumbsel.features import default_batch_size, extract_features, set_threads
from thumbsel.outputs.atomic import atomic_path
from thumbsel.shots import Shot, ShotDetection, detect_shots

__all__ = ["Analysis", "Letterbox", "analyze"]

_METADATA_KEY = b"thumbsel"
FORMAT_VERSION = 1
"""Version of the Parquet layout; bumped when columns change meaning."""

# A frame counts towards the letterbox estimate only when it is not nearly
# black all over (a fade-out would otherwise report bars covering everything).
_LETTERBOX_MIN_BRIGHTNESS = 0.06
# Bars are what stays black in nearly every frame: the 10th percentile of the
# per-frame bar sizes ignores the few frames whose content runs into the bar
# (subtitles, credits) and the dark scenes that look barred for a moment.
_LETTERBOX_PERCENTILE = 10


@dataclass(frozen=True)
class Letterbox:
    """Black bars around the picture, in pixels of the decoded frame."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def content_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The picture inside the bars as (x0, y0, x1, y1)."""
        return (self.left, self.top, width - self.right, height - self.bottom)


@dataclass
class Analysis:
    """Everything measured about one video.

    ``frames`` holds one row per decoded frame (see
    :data:`thumbsel.features.FRAME_COLUMNS` and :data:`~thumbsel.features.CHANGE_COLUMNS`);
    ``decode`` says how complete the decoding pass was.
    """

    path: str
    video: VideoInfo
    frames: pa.Table
    decode: DecodeReport
    options: dict[str, Any] = field(default_factory=dict)

    _shot_detection: ShotDetection | None = field(default=None, repr=False, compare=False)

    @property
    def shot_detection(self) -> ShotDetection:
        """Shots plus per-frame shot and transition facts (default options unless set)."""
        if self._shot_detection is None:
            self._shot_detection = detect_shots(self)
        return self._shot_detection

    @shot_detection.setter
    def shot_detection(self, detection: ShotDetection) -> None:
        self._shot_detection = detection

    @property
    def shots(self) -> list[Shot]:
        """The title's shots (default detector options; see :func:`thumbsel.shots.detect_shots`)."""
        return self.shot_detection.shots

    @property
    def complete(self) -> bool:
        """True when the whole stream decoded without damage."""
        report = self.decode
        return not (report.stopped_early or report.frames_short or report.decode_errors)

    def column(self, name: str) -> np.ndarray[Any, Any]:
        """One column as a numpy array (nulls become NaN)."""
        column = self.frames.column(name)
        return np.asarray(column.to_numpy(zero_copy_only=False))

    @property
    def letterbox(self) -> Letterbox:
        """Bars that stay black across the title (see the module notes)."""
        brightness = self.column("brightness")
        lit = brightness >= _LETTERBOX_MIN_BRIGHTNESS
        if not lit.any():
            return Letterbox()
        sizes = {}
        for side in ("top", "bottom", "left", "right"):
            values = self.column(f"bar_{side}")[lit]
            sizes[side] = int(np.percentile(values, _LETTERBOX_PERCENTILE, method="lower"))
        limit_v, limit_h = self.video.height // 3, self.video.width // 3
        return Letterbox(
            top=min(sizes["top"], limit_v),
            bottom=min(sizes["bottom"], limit_v),
            left=min(sizes["left"], limit_h),
            right=min(sizes["right"], limit_h),
        )

    def metadata(self) -> dict[str, Any]:
        """What is stored beside the table in Parquet."""
        return {
            "format_version": FORMAT_VERSION,
            "thumbsel_version": _core.__version__,
            "path": self.path,
            "video": self.video.to_dict(),
            "decode": {
                "frames_decoded": self.decode.frames_decoded,
                "decode_errors": self.decode.decode_errors,
                "stopped_early": self.decode.stopped_early,
                "lost_fraction": self.decode.lost_fraction,
                "summary": self.decode.summary(),
            },
            "options": self.options,
        }

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write the frame table with the video description in the file metadata."""
        metadata = dict(self.frames.schema.metadata or {})
        metadata[_METADATA_KEY] = json.dumps(self.metadata(), sort_keys=True).encode()
        table = self.frames.replace_schema_metadata(metadata)
        with atomic_path(path) as temporary:
            pq.write_table(table, temporary, compression="zstd")


def analyze(
    path: str | os.PathLike[str],
    *,
    batch_size: int | None = None,
    threads: int | None = None,
    decode_threads: int | None = None,
    progress: bool | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Analysis:
    """Decode ``path`` once and measure every frame.

    ``threads`` sets the scoring threads (default: ``THUMBSEL_THREADS`` or all
    cores); ``decode_threads`` FFmpeg's. ``progress=True`` draws a progress
    bar on stderr (default: only when stderr is a terminal). Raises a
    :class:`~thumbsel.errors.ThumbselError` subclass for unreadable input; a
    damaged file yields what could be decoded, with ``decode`` saying how much.
    """
    if threads is not None:
        set_threads(threads)
    with open_video(path, threads=decode_threads) as source:
        bar = _progress_bar(source.info, progress)
        try:

            def advance(count: int) -> None:
                if bar is not None:
                    bar.update(count)
                if on_progress is not None:
                    on_progress(count)

            if batch_size is None:
                batch_size = default_batch_size(source.info.width, source.info.height)
            table = extract_features(source, batch_size=batch_size, on_progress=advance)
        finally:
            if bar is not None:
                bar.close()
        report = source.report
        info = source.info
    if table.num_rows == 0:  # decode raises first; this guards future sources
        raise ThumbselError(f"{path}: no frames were decoded")
    return Analysis(
        path=str(Path(path)),
        video=info,
        frames=table,
        decode=report,
        options={"batch_size": batch_size},
    )


def _progress_bar(info: VideoInfo, progress: bool | None) -> Any:
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(
        total=info.estimated_frames,
        unit="frame",
        desc=Path(info.path).name,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )
