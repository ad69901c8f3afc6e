"""The shot list as CSV (PySceneDetect's layout) and the pick's frame table."""

from __future__ import annotations

import csv
import io

import pytest
import thumbsel
from thumbsel.outputs.tables import shots_csv


def test_csv_uses_pyscenedetect_layout(
    episode_frames: thumbsel.FrameTable, episode_shots: thumbsel.ShotDetection
) -> None:
    text = shots_csv(episode_shots.shots)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == [
        "Scene Number",
        "Start Frame",
        "Start Timecode",
        "Start Time (seconds)",
    ]
    assert len(rows) == len(episode_shots.shots) + 1
    assert rows[1][:3] == ["1", "1", "00:00:00.000"]
    # 1-based, end frames inclusive: the last scene ends on the last frame.
    assert int(rows[-1][4]) == len(episode_frames)
    for row, shot in zip(rows[1:], episode_shots.shots, strict=True):
        assert int(row[1]) == shot.start_frame + 1 and int(row[4]) == shot.end_frame
        assert float(row[3]) == pytest.approx(shot.start_time, abs=5e-4)
        assert int(row[7]) == shot.frame_count
