"""``analyze``: one decode of a video into its frame table."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thumbsel.decode import open_video
from thumbsel.errors import EmptyVideoError
from thumbsel.features import default_batch_size, extract_features, set_threads
from thumbsel.frames import FrameTable, SourceFile
from thumbsel.video import DecodeReport, VideoInfo

__all__ = ["Analysis", "analyze"]


@dataclass(frozen=True)
class Analysis:
    """One pass over a video: its frame table, and how long the pass took."""

    frames: FrameTable
    seconds: float
    """Wall time of the pass (decoding, hashing the file, scoring)."""

    @property
    def path(self) -> str:
        return self.frames.path

    @property
    def video(self) -> VideoInfo:
        return self.frames.video

    @property
    def decode(self) -> DecodeReport:
        return self.frames.decode

    @property
    def complete(self) -> bool:
        """True when the whole stream decoded without damage."""
        return self.frames.complete


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
    damaged file yields what could be decoded, with ``frames.decode`` saying
    how much.
    """
    started = time.perf_counter()
    if threads is not None:
        set_threads(threads)
    with open_video(path, threads=decode_threads) as source:
        bar = _progress_bar(source, progress)
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
        raise EmptyVideoError(f"{path}: no frames were decoded")
    frames = FrameTable(table, video=info, source=SourceFile.of(path), decode=report)
    return Analysis(frames=frames, seconds=time.perf_counter() - started)


def _progress_bar(source: Any, progress: bool | None) -> Any:
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(
        total=source.info.estimated_frames,
        unit="frame",
        desc=Path(source.path).name,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )
