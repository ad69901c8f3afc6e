"""The episode's ground truth agrees with its pixels, and the scoring helpers count right."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt
import pytest
from episodes import (
    BOUNDARY_KINDS,
    FRAME_KINDS,
    MIN_PIECE_FRAMES,
    ROOT,
    Episode,
    build_episode,
    match_boundaries,
    plan_episode,
    precision_recall_f1,
)

CACHE = ROOT / ".cache" / "episodes"


@dataclass(frozen=True)
class Measured:
    """What the decoded episode looks like, frame by frame."""

    count: int
    size: tuple[int, int]
    mean: npt.NDArray[np.float64]
    """Mean RGB value of each frame."""
    change: npt.NDArray[np.float64]
    """Mean absolute RGB difference to the previous frame (0 for frame 0)."""
    sharpness: npt.NDArray[np.float64]
    """Mean absolute horizontal gradient of the gray picture."""
    small: npt.NDArray[np.uint8]
    """Gray pictures at a quarter of the size."""
    pan: dict[int, npt.NDArray[np.int16]]
    """Full-size gray pictures of the pan frames."""


@pytest.fixture(scope="session")
def episode() -> Episode:
    return build_episode(CACHE)


@pytest.fixture(scope="session")
def measured(episode: Episode) -> Measured:
    means, changes, sharpness, small = [], [], [], []
    pan: dict[int, npt.NDArray[np.int16]] = {}
    previous = None
    size = (0, 0)
    with av.open(str(episode.path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            size = (frame.width, frame.height)
            rgb = frame.to_ndarray(format="rgb24").astype(np.int16)
            gray = rgb.mean(axis=2)
            means.append(rgb.mean())
            changes.append(0.0 if previous is None else np.abs(rgb - previous).mean())
            sharpness.append(np.abs(np.diff(gray, axis=1)).mean())
            small.append(gray[::4, ::4].astype(np.uint8))
            if episode.frame_kind[min(index, episode.frame_count - 1)] == "pan":
                pan[index] = gray.astype(np.int16)
            previous = rgb
    return Measured(
        count=len(means),
        size=size,
        mean=np.array(means),
        change=np.array(changes),
        sharpness=np.array(sharpness),
        small=np.stack(small),
        pan=pan,
    )


def runs(values: npt.NDArray[np.generic], value: object) -> list[tuple[int, int]]:
    """Maximal [start, end) runs of frames equal to ``value``."""
    result = []
    start = None
    for index, item in enumerate([*values.tolist(), object()]):
        if item == value and start is None:
            start = index
        elif item != value and start is not None:
            result.append((start, index))
            start = None
    return result


# --- the episode itself --------------------------------------------------------


def test_decodes_to_the_planned_frames(episode: Episode, measured: Measured) -> None:
    assert measured.count == episode.frame_count
    assert measured.size == (episode.width, episode.height) == (480, 270)
    assert episode.fps == 25.0
    assert 900 <= episode.frame_count <= 1300
    assert episode.shot_id.shape == episode.frame_kind.shape == (episode.frame_count,)


def test_layout_has_everything_the_detectors_need(episode: Episode) -> None:
    kinds = Counter(kind for _, kind in episode.boundaries)
    assert kinds["cut"] >= 12
    assert kinds["fade"] >= 3
    assert kinds["dissolve"] >= 3
    assert 2 <= len(runs(episode.frame_kind, "flash")) <= 3
    assert all(end - start <= 2 for start, end in runs(episode.frame_kind, "flash"))
    (pan,) = runs(episode.frame_kind, "pan")
    assert 35 <= pan[1] - pan[0] <= 50
    (blurred,) = runs(episode.frame_kind, "blurred")
    assert blurred[1] - blurred[0] >= MIN_PIECE_FRAMES
    assert any(end - start >= 9 for start, end in runs(episode.frame_kind, "black"))
    assert set(episode.frame_kind.tolist()) <= set(FRAME_KINDS)
    # A piece comes back with the same source frames and the same shot id.
    shots = [(piece.shot_id, piece.frames) for piece in episode.pieces]
    assert len(set(shots)) < len(shots)


def test_boundaries_are_sorted_unique_and_well_formed(episode: Episode) -> None:
    frames = episode.boundary_frames()
    assert frames == sorted(set(frames))
    assert frames[0] > 0 and frames[-1] < episode.frame_count
    assert {kind for _, kind in episode.boundaries} <= set(BOUNDARY_KINDS)
    kind = episode.frame_kind
    for frame, boundary_kind in episode.boundaries:
        if boundary_kind == "cut":
            assert kind[frame - 1] != "black" and kind[frame] != "black"
        elif boundary_kind == "fade":
            # The first frame after a black run.
            assert kind[frame - 1] == "black" and kind[frame] != "black"
        else:
            (run,) = [r for r in runs(kind, "dissolve") if r[0] <= frame < r[1]]
            length = run[1] - run[0]
            assert 8 <= length <= 24
            assert frame == run[0] + length // 2


def test_pieces_are_long_enough(episode: Episode) -> None:
    for piece in episode.pieces:
        assert piece.clean_end - piece.clean_start >= MIN_PIECE_FRAMES
    # Between two boundaries, every frame with a shot shows the same shot.
    edges = [0, *episode.boundary_frames(), episode.frame_count]
    for start, end in itertools.pairwise(edges):
        ids = set(episode.shot_id[start:end].tolist()) - {-1}
        assert len(ids) == 1, (start, end, ids)


def test_shot_id_changes_exactly_at_cuts(episode: Episode) -> None:
    ids = episode.shot_id
    changes = [
        frame
        for frame in range(1, episode.frame_count)
        if ids[frame - 1] >= 0 and ids[frame] >= 0 and ids[frame - 1] != ids[frame]
    ]
    assert changes == episode.boundary_frames("cut")
    assert ids[0] >= 0
    # Frames without a shot are exactly the black, faded and dissolve frames.
    no_shot = np.isin(episode.frame_kind, ["black", "fade", "dissolve"])
    assert np.array_equal(ids == -1, no_shot)
    # Across fades and dissolves the shot changes too.
    for frame in episode.boundary_frames("fade") + episode.boundary_frames("dissolve"):
        before = ids[:frame][ids[:frame] >= 0][-1]
        after = ids[frame:][ids[frame:] >= 0][0]
        assert before != after


def test_black_frames_are_dark(episode: Episode, measured: Measured) -> None:
    black = episode.frame_kind == "black"
    assert black.sum() >= 10
    assert measured.mean[black].max() < 10
    assert measured.mean[~black].min() > 3  # only black frames are (nearly) black


def test_fades_ramp_through_black(episode: Episode, measured: Measured) -> None:
    for start, end in runs(episode.frame_kind, "fade"):
        ramp = measured.mean[start:end]
        if episode.frame_kind[end] == "black":  # fade-out
            assert np.all(np.diff(ramp) < 2), ramp
            assert measured.mean[start - 1] > ramp[-1] + 40
        else:  # fade-in
            assert episode.frame_kind[start - 1] == "black"
            assert np.all(np.diff(ramp) > -2), ramp
            assert measured.mean[end] > ramp[0] + 40


def test_flashes_are_brighter_than_their_neighbours(episode: Episode, measured: Measured) -> None:
    for start, end in runs(episode.frame_kind, "flash"):
        neighbours = np.r_[measured.mean[start - 3 : start], measured.mean[end : end + 3]]
        assert measured.mean[start:end].min() > neighbours.max() + 50
        # A flash is inside a shot: the same shot on both sides, no boundary near.
        assert episode.shot_id[start - 1] == episode.shot_id[end] == episode.shot_id[start]
        assert all(abs(frame - start) >= 15 for frame in episode.boundary_frames())


def test_cuts_are_visible(episode: Episode, measured: Measured) -> None:
    change = measured.change
    for frame in episode.boundary_frames("cut"):
        around = np.r_[change[max(1, frame - 6) : frame], change[frame + 1 : frame + 7]]
        assert change[frame] > 30, frame
        assert change[frame] > 3 * np.median(around), frame


def test_no_hard_change_inside_dissolves_and_the_pan(episode: Episode, measured: Measured) -> None:
    for kind in ("dissolve", "pan"):
        for start, end in runs(episode.frame_kind, kind):
            assert measured.change[start + 1 : end].max() < 25, (kind, start)


def test_pan_moves_fast(episode: Episode, measured: Measured) -> None:
    speed = plan_episode().pan_speed
    assert 12 <= speed <= 20
    (pan,) = runs(episode.frame_kind, "pan")
    for frame in range(pan[0], pan[1] - 1, 8):
        before, after = measured.pan[frame], measured.pan[frame + 1]
        errors = {
            shift: np.abs(after[:, 30:-30] - np.roll(before, -shift, axis=1)[:, 30:-30]).mean()
            for shift in range(-24, 25)
        }
        assert abs(min(errors, key=errors.__getitem__)) == speed


def test_blurred_insert_is_soft(episode: Episode, measured: Measured) -> None:
    (blurred,) = runs(episode.frame_kind, "blurred")
    blurred_piece = next(p for p in episode.pieces if p.shot == "blurred")
    sharp_piece = next(p for p in episode.pieces if p.frames == blurred_piece.frames)
    sharp = measured.sharpness[sharp_piece.clean_start : sharp_piece.clean_end]
    soft = measured.sharpness[blurred[0] : blurred[1]]
    assert sharp_piece.shot_id != blurred_piece.shot_id
    assert soft.mean() < 0.5 * sharp.mean()


def test_recurring_piece_shows_the_same_pictures(episode: Episode, measured: Measured) -> None:
    first, again = (p for p in episode.pieces if p.shot == "bikes2")
    assert first.frames == again.frames
    count = min(first.clean_end - first.clean_start, again.clean_end - again.clean_start)
    early = measured.small[first.clean_start : first.clean_start + count].astype(np.int16)
    late = measured.small[again.clean_start : again.clean_start + count].astype(np.int16)
    assert np.abs(early - late).mean() < 4
    assert set(episode.shot_id[again.clean_start : again.clean_end].tolist()) == {first.shot_id}


def test_cached_episode_is_reused(episode: Episode) -> None:
    modified = episode.path.stat().st_mtime_ns
    again = build_episode(CACHE)
    assert again.path == episode.path
    assert again.path.stat().st_mtime_ns == modified
    assert again.boundaries == episode.boundaries


def test_plan_is_deterministic_from_the_seed() -> None:
    first, same, other = plan_episode(seed=0), plan_episode(seed=0), plan_episode(seed=5)
    assert first.boundaries == same.boundaries
    assert np.array_equal(first.shot_id, same.shot_id)
    assert np.array_equal(first.frame_kind, same.frame_kind)
    assert first.boundaries != other.boundaries
    # The seed moves things around but keeps the mix of transitions.
    assert Counter(k for _, k in first.boundaries) == Counter(k for _, k in other.boundaries)


# --- scoring helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "truth", "expected"),
    [
        ([10, 50], [10, 50], (2, 0, 0)),  # exact
        ([11, 49], [10, 50], (2, 0, 0)),  # off by one: inside the tolerance
        ([12, 48], [10, 50], (0, 2, 2)),  # off by two: outside
        ([10, 10], [10], (1, 1, 0)),  # a duplicate prediction counts once
        ([10], [10, 10], (1, 0, 1)),  # ... and so does a duplicate truth
        ([], [], (0, 0, 0)),
        ([], [5, 9], (0, 0, 2)),
        ([5, 9], [], (0, 2, 0)),
        # Closest first: 11 belongs to 11, so 10 takes 9 (not 11 taking 10 and 9 left over).
        ([9, 11], [10, 11], (2, 0, 0)),
        ([10], [9, 11], (1, 0, 1)),
    ],
)
def test_match_boundaries(
    predicted: list[int], truth: list[int], expected: tuple[int, int, int]
) -> None:
    assert match_boundaries(predicted, truth) == expected


def test_match_boundaries_tolerance() -> None:
    assert match_boundaries([12], [10], tolerance=2) == (1, 0, 0)
    assert match_boundaries([11], [10], tolerance=0) == (0, 1, 1)


def test_precision_recall_f1() -> None:
    assert precision_recall_f1(8, 2, 8) == pytest.approx((0.8, 0.5, 2 * 0.4 / 1.3))
    assert precision_recall_f1(3, 0, 0) == (1.0, 1.0, 1.0)
    assert precision_recall_f1(0, 0, 0) == (1.0, 1.0, 1.0)
    assert precision_recall_f1(0, 0, 4) == (1.0, 0.0, 0.0)
    assert precision_recall_f1(0, 3, 0) == (0.0, 1.0, 0.0)
    assert precision_recall_f1(0, 3, 4) == (0.0, 0.0, 0.0)
