"""Tables a pick writes beside its images: the shot list (CSV) and the frame table
with what selection made of each frame (Parquet)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import pyarrow as pa

from thumbsel.files import write_text
from thumbsel.frames import FrameTable
from thumbsel.select import Selection
from thumbsel.shots import Shot, ShotDetection
from thumbsel.timecode import timecode

__all__ = ["pick_columns", "shots_csv", "write_frames", "write_shots_csv"]

_CSV_HEADER = (
    "Scene Number",
    "Start Frame",
    "Start Timecode",
    "Start Time (seconds)",
    "End Frame",
    "End Timecode",
    "End Time (seconds)",
    "Length (frames)",
    "Length (timecode)",
    "Length (seconds)",
)


def shots_csv(shots: Sequence[Shot]) -> str:
    """The shot list in PySceneDetect's ``list-scenes`` CSV layout.

    As in PySceneDetect, scene numbers and frame numbers are 1-based and end
    frames inclusive; times come from the presentation timestamps. (The
    timecode list line PySceneDetect writes first is left out so the file is
    plain CSV.)
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    for shot in shots:
        length = shot.end_time - shot.start_time
        writer.writerow(
            [
                shot.index + 1,
                shot.start_frame + 1,
                timecode(shot.start_time),
                f"{shot.start_time:.3f}",
                shot.end_frame,
                timecode(shot.end_time),
                f"{shot.end_time:.3f}",
                shot.frame_count,
                timecode(length),
                f"{length:.3f}",
            ]
        )
    return out.getvalue()


def write_shots_csv(shots: Sequence[Shot], target: str | os.PathLike[str]) -> None:
    """Write :func:`shots_csv` to ``target`` atomically."""
    write_text(target, shots_csv(shots))


def pick_columns(shots: ShotDetection, selection: Selection) -> dict[str, pa.Array]:
    """What selection made of each frame (:data:`thumbsel.columns.PICK_COLUMNS`)."""
    return {
        "shot": pa.array(shots.shot_of_frame, pa.int32()),
        "in_transition": pa.array(shots.in_transition, pa.bool_()),
        "score": pa.array(selection.scores, pa.float64()),
        "rejected": pa.array(list(selection.rejected), pa.string()),
    }


def write_frames(
    frames: FrameTable,
    shots: ShotDetection,
    selection: Selection,
    target: str | os.PathLike[str],
) -> None:
    """The frame table plus :func:`pick_columns`, as ``frames.parquet``."""
    frames.to_parquet(target, pick_columns=pick_columns(shots, selection))
