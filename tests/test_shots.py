"""Shot boundaries on an episode built from real footage with exact ground truth."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import thumbsel
from conftest import BIKES_CUTS
from episodes import Episode, match_boundaries, precision_recall_f1
from thumbsel.shots import ShotOptions, detect_shots, shots_csv


def boundaries_of(analysis: thumbsel.Analysis) -> list[tuple[int, str]]:
    return [(s.start_frame, s.transition_in or "") for s in analysis.shots[1:]]


def test_shots_partition_the_title(episode_analysis: thumbsel.Analysis) -> None:
    shots = episode_analysis.shots
    assert shots[0].start_frame == 0 and shots[0].transition_in is None
    assert shots[-1].end_frame == episode_analysis.frames.num_rows
    for before, after in itertools.pairwise(shots):
        assert before.end_frame == after.start_frame
        assert before.end_time == pytest.approx(after.start_time)
        assert after.transition_in in ("cut", "fade", "dissolve")
    assert [s.index for s in shots] == list(range(len(shots)))


def test_boundaries_match_ground_truth(
    episode: Episode, episode_analysis: thumbsel.Analysis
) -> None:
    predicted = [frame for frame, _ in boundaries_of(episode_analysis)]
    truth = [frame for frame, _ in episode.boundaries]
    tp, fp, fn = match_boundaries(predicted, truth, tolerance=1)
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    assert f1 >= 0.95, (precision, recall, predicted, truth)


@pytest.mark.parametrize("kind", ["cut", "fade", "dissolve"])
def test_each_transition_kind_is_found_and_named(
    episode: Episode, episode_analysis: thumbsel.Analysis, kind: str
) -> None:
    tolerance = 1
    found = dict(boundaries_of(episode_analysis))
    truth = [frame for frame, k in episode.boundaries if k == kind]
    assert truth, f"the episode has no {kind}"
    hits = 0
    for frame in truth:
        near = [f for f in range(frame - tolerance, frame + tolerance + 1) if f in found]
        if near and found[near[0]] == kind:
            hits += 1
    assert hits / len(truth) >= 0.9, (kind, truth, found)


def test_flashes_and_pans_are_not_cuts(
    episode: Episode, episode_analysis: thumbsel.Analysis
) -> None:
    predicted = {frame for frame, _ in boundaries_of(episode_analysis)}
    truth = {frame for frame, _ in episode.boundaries}
    for kind in ("flash", "pan"):
        frames = np.flatnonzero(episode.frame_kind == kind)
        assert len(frames), f"the episode has no {kind} frames"
        inside = {int(f) for f in frames} - {f + d for f in truth for d in (-1, 0, 1)}
        # Nothing inside a flash or a pan, nor right after a flash, may start a shot.
        wrong = predicted & (inside | {f + 1 for f in inside} | {f + 2 for f in inside})
        wrong -= {f + d for f in truth for d in (-1, 0, 1)}
        assert not wrong, (kind, sorted(wrong))


def test_real_clip_cuts_exactly(bikes: Path) -> None:
    analysis = thumbsel.analyze(bikes, progress=False)
    assert [s.start_frame for s in analysis.shots[1:]] == list(BIKES_CUTS)
    assert {s.transition_in for s in analysis.shots[1:]} == {"cut"}


def test_min_shot_length_merges_close_boundaries(episode_analysis: thumbsel.Analysis) -> None:
    long = detect_shots(episode_analysis, ShotOptions(min_shot_frames=40))
    assert all(s.frame_count >= 40 for s in long.shots[1:-1])
    assert len(long.shots) < len(episode_analysis.shots)
    with pytest.raises(ValueError, match="min_shot_frames"):
        detect_shots(episode_analysis, ShotOptions(min_shot_frames=0))


def test_transition_frames_are_marked(
    episode: Episode, episode_analysis: thumbsel.Analysis
) -> None:
    marked = episode_analysis.shot_detection.in_transition
    for kind in ("black", "dissolve"):
        frames = np.flatnonzero(episode.frame_kind == kind)
        assert marked[frames].mean() >= 0.9, kind


def test_csv_uses_pyscenedetect_layout(episode_analysis: thumbsel.Analysis) -> None:
    text = shots_csv(episode_analysis.shots, episode_analysis.video.frame_rate)
    lines = text.splitlines()
    assert lines[0].startswith("Scene Number,Start Frame,Start Timecode,Start Time (seconds)")
    assert len(lines) == len(episode_analysis.shots) + 1
    first = lines[1].split(",")
    assert first[0] == "1" and first[1] == "1" and first[2] == "00:00:00.000"
    last = lines[-1].split(",")
    assert int(last[4]) == episode_analysis.frames.num_rows
