"""Shot boundaries on an episode built from real footage with exact ground truth."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
import thumbsel
import videos
from conftest import BIKES_CUTS, real_clip
from episodes import Episode, match_boundaries, precision_recall_f1
from tables import make_frames, table, with_shots
from thumbsel import FrameTable, ShotDetection, ShotOptions, detect_shots


def boundaries_of(detection: ShotDetection) -> list[tuple[int, str]]:
    return [(s.start_frame, s.transition_in or "") for s in detection.shots[1:]]


def test_shots_partition_the_title(
    episode_frames: FrameTable, episode_shots: ShotDetection
) -> None:
    shots = episode_shots.shots
    assert shots[0].start_frame == 0 and shots[0].transition_in is None
    assert shots[-1].end_frame == len(episode_frames)
    for before, after in itertools.pairwise(shots):
        assert before.end_frame == after.start_frame
        assert before.end_time == pytest.approx(after.start_time)
        assert after.transition_in in ("cut", "fade", "dissolve")
    assert [s.index for s in shots] == list(range(len(shots)))


def test_boundaries_match_ground_truth(episode: Episode, episode_shots: ShotDetection) -> None:
    predicted = [frame for frame, _ in boundaries_of(episode_shots)]
    truth = [frame for frame, _ in episode.boundaries]
    tp, fp, fn = match_boundaries(predicted, truth, tolerance=1)
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    assert f1 >= 0.95, (precision, recall, predicted, truth)


@pytest.mark.parametrize("kind", ["cut", "fade", "dissolve"])
def test_each_transition_kind_is_found_and_named(
    episode: Episode, episode_shots: ShotDetection, kind: str
) -> None:
    tolerance = 1
    found = dict(boundaries_of(episode_shots))
    truth = [frame for frame, k in episode.boundaries if k == kind]
    assert truth, f"the episode has no {kind}"
    hits = 0
    for frame in truth:
        near = [f for f in range(frame - tolerance, frame + tolerance + 1) if f in found]
        if near and found[near[0]] == kind:
            hits += 1
    assert hits / len(truth) >= 0.9, (kind, truth, found)


def test_flashes_and_pans_are_not_cuts(episode: Episode, episode_shots: ShotDetection) -> None:
    predicted = {frame for frame, _ in boundaries_of(episode_shots)}
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
    shots = detect_shots(thumbsel.analyze(bikes, progress=False).frames).shots
    assert [s.start_frame for s in shots[1:]] == list(BIKES_CUTS)
    assert {s.transition_in for s in shots[1:]} == {"cut"}


def test_min_shot_length_merges_close_boundaries(
    episode_frames: FrameTable, episode_shots: ShotDetection
) -> None:
    long = detect_shots(episode_frames, ShotOptions(min_shot_frames=40))
    assert all(s.frame_count >= 40 for s in long.shots[1:-1])
    assert len(long.shots) < len(episode_shots.shots)
    with pytest.raises(ValueError, match="min_shot_frames"):
        detect_shots(episode_frames, ShotOptions(min_shot_frames=0))


def test_transition_frames_are_marked(episode: Episode, episode_shots: ShotDetection) -> None:
    marked = episode_shots.in_transition
    for kind in ("black", "dissolve"):
        frames = np.flatnonzero(episode.frame_kind == kind)
        assert marked[frames].mean() >= 0.9, kind


# ---------------------------------------------------------------- hand-built tables


def test_hand_built_cuts_are_found_exactly() -> None:
    data = make_frames(90)
    with_shots(data, [30, 60])
    detection = detect_shots(table(data))
    assert boundaries_of(detection) == [(30, "cut"), (60, "cut")]
    assert [s.frame_count for s in detection.shots] == [30, 30, 30]
    assert detection.shot_of_frame.tolist() == [0] * 30 + [1] * 30 + [2] * 30
    # The frames around each cut are transition frames, the rest are not.
    marked = set(np.flatnonzero(detection.in_transition).tolist())
    assert {29, 30} <= marked and not marked & {10, 45, 75}


def test_a_flash_is_not_a_cut() -> None:
    data = make_frames(60)
    # Frames 30-31 are a different picture, then the first picture returns.
    data["phash"][30:32] = np.uint64(0xFFFF0000FFFF0000)
    for frame in (30, 32):
        data["cut_score"][frame] = 80.0
        data["histogram_distance"][frame] = 0.8
        data["hash_distance"][frame] = 32.0
    assert boundaries_of(detect_shots(table(data))) == []


def test_a_pan_is_not_a_cut() -> None:
    # High change on every frame: nothing stands out against its neighbours.
    rng = np.random.default_rng(1)
    data = make_frames(80)
    data["phash"][:] = rng.integers(0, 2**63, 80, dtype=np.int64).astype(np.uint64)
    data["cut_score"][1:] = 45.0
    data["histogram_distance"][1:] = 0.5
    data["hash_distance"][1:] = 30.0
    assert boundaries_of(detect_shots(table(data))) == []


def test_a_run_of_black_frames_is_a_fade() -> None:
    data = make_frames(90)
    with_shots(data, [50])
    data["cut_score"][50] = data["histogram_distance"][50] = data["hash_distance"][50] = 0.0
    data["brightness"][40:50] = 0.01
    data["contrast"][40:50] = 0.005
    detection = detect_shots(table(data))
    assert boundaries_of(detection) == [(50, "fade")]
    assert detection.in_transition[40:50].all()


def test_shots_refuse_tables_of_another_length() -> None:
    data = make_frames(40)
    frames = table(data)
    other = detect_shots(table(make_frames(30)))
    with pytest.raises(ValueError, match="30 frames"):
        thumbsel.select(frames, other)


@pytest.mark.parametrize(("length", "scenes"), [(10, 3), (6, 3), (4, 3), (6, 2), (4, 2)])
def test_fast_cuts_between_real_clips_are_all_found(
    length: int, scenes: int, tmp_path: Path
) -> None:
    """Issue 11: ten cuts 10 frames apart came out as one shot. A montage of real
    clips, as a trailer cuts them, keeps every shot down to 4 frames, also when
    it intercuts two scenes (A B A B: no flash, though A comes back)."""
    names = ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"][:scenes]
    pieces: list[list[npt.NDArray[np.uint8]]] = []
    for piece in range(11):
        with av.open(str(real_clip(names[piece % scenes]))) as container:
            decoded = container.decode(video=0)
            # A different moment each time a clip comes back, clear of the cuts
            # bikes.mp4 has of its own (frames 30 and 76).
            start = 35 + 2 * piece
            frames = itertools.islice(decoded, start, start + length)
            pieces.append([np.asarray(f.to_image().resize((320, 240))) for f in frames])
    montage, cuts = videos.concatenate_shots(pieces)
    written = videos.write_video(tmp_path / "montage.mp4", montage, fps=25)
    detection = detect_shots(thumbsel.analyze(written.path, progress=False, faces=False).frames)
    found = [s.start_frame for s in detection.shots[1:]]
    _, false_cuts, missed = match_boundaries(found, cuts, tolerance=1)
    assert (false_cuts, missed) == (0, 0), f"found {found}, cuts {cuts}"


def test_the_dissolve_ramp_is_the_least_squares_best_of_every_ramp() -> None:
    # The fit solves every (start, end) at once from the normal equations; a
    # brute force with numpy's lstsq, one ramp at a time, must agree.
    from thumbsel.shots import blend_ramp

    rng = np.random.default_rng(7)
    for trial in range(20):
        n = 40
        start, end = int(rng.integers(8, 18)), int(rng.integers(22, 32))
        alpha = np.clip((np.arange(n) - start + 1) / (end - start + 1), 0, 1)
        low, high = rng.uniform(0, 1, 4), rng.uniform(0, 1, 4)
        levels = low + alpha[:, None] * (high - low) + rng.normal(0, 0.01, (n, 4))
        measured = rng.uniform(size=n) > (0.4 if trial % 2 else 0.0)
        outgoing, incoming = 4, 35
        window = levels[outgoing : incoming + 1]
        steps = np.abs(
            np.median(levels[incoming : incoming + 3], axis=0)
            - np.median(levels[outgoing - 2 : outgoing + 1], axis=0)
        )
        informative = steps >= 0.02
        kept = measured[outgoing : incoming + 1]
        observed = window[kept][:, informative] / steps[informative]
        positions = np.arange(outgoing, incoming + 1)[kept]
        best = None
        for s in range(outgoing + 1, incoming):
            for e in range(s + 1, incoming + 1):
                a = np.clip((positions - s + 1) / (e - s + 1), 0.0, 1.0)
                design = np.stack([1.0 - a, a], axis=1)
                fitted, *_ = np.linalg.lstsq(design, observed, rcond=None)
                error = float(np.square(observed - design @ fitted).sum())
                if best is None or error < best[0]:
                    best = (error, s, e)
        assert best is not None
        assert blend_ramp(levels, outgoing, incoming, measured) == (best[1], best[2])
