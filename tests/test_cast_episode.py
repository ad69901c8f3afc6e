"""The cast episode (``tests/cast_episode.py``): its plan, its file, and its truth
against what the face detector sees.

The truth comes from ``tests/data/identities.json`` (annotated by eye). These
tests hold the builder to its promises (deterministic, cached, every planned
frame decodes) and the truth to the pictures: on the frames where the truth says
the detector finds a face, it finds one there in the encoded episode, and every
face it finds on those frames belongs to someone the truth puts on screen.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from cast_episode import (
    FPS,
    HEIGHT,
    SOURCES,
    STILLS,
    WIDTH,
    Box,
    CastEpisode,
    build_cast_episode,
    count_frames,
    load_identities,
    plan_cast_episode,
    render_shot,
    source_marks,
)
from thumbsel.people.faces import Face, detect_faces, faces_available

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "cast-episodes"
Frame = npt.NDArray[np.uint8]

needs_faces = pytest.mark.skipif(not faces_available(), reason="OpenCV (thumbsel[faces]) missing")

PLAN = plan_cast_episode()
PERSON_SHOTS = [shot.name for shot in PLAN.shots if any(a.detectable for a in shot.appearances)]
EMPTY_SHOTS = [shot.name for shot in PLAN.shots if not shot.appearances]

# Seconds on screen per identity for seed 0 (the shots of each, whole shots).
SCREEN_SECONDS = {
    "headpose_woman": 10.08,  # pair x2, close-up, medium, mirrored medium
    "headpose_man": 8.64,  # pair x2, close-up, medium
    "carphone_man": 5.12,
    "astronaut": 6.2,  # two Ken Burns stills and the picture on a screen
    "chaplin_tramp": 5.52,
    "chaplin_policeman": 5.52,
    "extra_black_tshirt": 2.0,
}
SHOT_KINDS = {"pair", "single", "still", "screen", "extras", "empty"}

MATCH_IOU = 0.5
"""A detected face is the sighted one when their boxes overlap this much (measured: 0.76-1.0)."""
EXPLAIN_IOU = 0.3
"""A detected face belongs to someone on screen when it overlaps their box this much."""


def iou(a: Box, b: Box) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decode(path: Path, wanted: set[int]) -> dict[int, Frame]:
    frames: dict[int, Frame] = {}
    last = max(wanted)
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="rgb24")
            if index >= last:
                break
    return frames


@pytest.fixture(scope="module")
def cast() -> CastEpisode:
    missing = [str(path) for path in SOURCES.values() if not path.exists()]
    if missing:
        pytest.fail(f"material missing (run `make test-data`; footage in ../shared): {missing}")
    return build_cast_episode(CACHE)


@pytest.fixture(scope="module")
def episode_faces(cast: CastEpisode) -> dict[int, list[Face]]:
    """The detector's faces on every sighting frame and on 3 frames of each empty shot."""
    wanted = {s.frame for shot in cast.shots for a in shot.appearances for s in a.sightings}
    for shot in cast.shots:
        if not shot.appearances:
            wanted |= {shot.start_frame, (shot.start_frame + shot.end_frame) // 2}
            wanted.add(shot.end_frame - 1)
    frames = decode(cast.path, wanted)
    assert frames.keys() == wanted
    return {index: detect_faces(frame) for index, frame in sorted(frames.items())}


# --- the plan -------------------------------------------------------------------


def test_plan_is_deterministic() -> None:
    assert plan_cast_episode() == PLAN
    assert plan_cast_episode(seed=0) == PLAN
    shuffled = plan_cast_episode(seed=7)
    assert plan_cast_episode(seed=7) == shuffled
    assert shuffled.order != PLAN.order
    assert sorted(shuffled.order) == sorted(PLAN.order)
    assert shuffled.frame_count == PLAN.frame_count
    for plan in (PLAN, shuffled):
        sources = [shot.source for shot in plan.shots]
        assert all(a != b for a, b in itertools.pairwise(sources)), sources


def test_shots_tile_the_episode_with_short_shots() -> None:
    shots = PLAN.shots
    assert shots[0].start_frame == 0
    for before, after in itertools.pairwise(shots):
        assert after.start_frame == before.end_frame
    for shot in shots:
        assert 1.5 <= shot.seconds <= 3.0, (shot.name, shot.seconds)
        assert len(shot.source_frames) == shot.frame_count
        assert shot.source in SOURCES
    assert 35.0 <= PLAN.frame_count / FPS <= 50.0
    assert {shot.kind for shot in shots} == SHOT_KINDS
    assert len({shot.name for shot in shots}) == len(shots)


def test_sightings_lie_in_their_shot_and_frame() -> None:
    for shot in PLAN.shots:
        for appearance in shot.appearances:
            assert appearance.sightings, (shot.name, appearance.identity)
            for sighting in appearance.sightings:
                assert shot.start_frame <= sighting.frame < shot.end_frame
                x0, y0, x1, y1 = sighting.box
                assert 0 <= x0 < x1 <= WIDTH and 0 <= y0 < y1 <= HEIGHT, sighting
                assert sighting.view in ("face", "back")
                assert not (sighting.detected and sighting.view == "back")


def test_the_cast_is_where_the_layout_says() -> None:
    by_name = {shot.name: shot for shot in PLAN.shots}
    assert by_name["pair_open"].identities == ("headpose_man", "headpose_woman")
    assert by_name["woman_close"].identities == ("headpose_woman",)
    assert by_name["man_medium"].identities == ("headpose_man",)
    assert by_name["chaplin_wide_c"].identities == ("chaplin_policeman", "chaplin_tramp")
    # The woman sits left of the man in the pair shots, and flips side when mirrored.
    pair = by_name["pair_end"]
    assert pair.appearance("headpose_woman").box[2] < pair.appearance("headpose_man").box[0]
    assert by_name["woman_mirrored"].mirrored
    assert by_name["woman_mirrored"].appearance("headpose_woman").box[0] > WIDTH // 2
    assert by_name["woman_medium"].appearance("headpose_woman").box[2] < WIDTH // 2
    screen = by_name["astronaut_on_screen"].appearance("astronaut")
    assert screen.on_screen and screen.detectable
    assert not by_name["astronaut_zoom"].appearance("astronaut").on_screen
    extra = by_name["extras"].appearance("extra_black_tshirt")
    assert extra.role == "extra" and not extra.detectable
    assert {s.view for s in extra.sightings} == {"back"}
    # Both Chaplin people are on screen in every Chaplin shot; the detector finds the
    # policeman in the last one only (his back is to the camera in the first).
    chaplin = [shot for shot in PLAN.shots if shot.source == "footage/chaplin-bw.mp4"]
    assert len(chaplin) == 3
    assert all(s.identities == ("chaplin_policeman", "chaplin_tramp") for s in chaplin)
    assert [s.appearance("chaplin_policeman").detectable for s in chaplin] == [False, False, True]
    assert all(s.appearance("chaplin_tramp").detectable for s in chaplin)
    backs = {v.view for v in chaplin[0].appearance("chaplin_policeman").sightings}
    assert backs == {"back"}


# --- the helpers ----------------------------------------------------------------


def test_identity_helpers(cast: CastEpisode) -> None:
    assert cast.shots == PLAN.shots
    assert cast.frame_count == PLAN.frame_count
    assert cast.cuts == [shot.start_frame for shot in cast.shots[1:]]
    for shot in cast.shots:
        for frame in (shot.start_frame, shot.end_frame - 1):
            assert cast.shot_at(frame) is shot
            assert cast.identity_at(frame) == list(shot.identities)
    with pytest.raises(IndexError):
        cast.shot_at(cast.frame_count)
    assert cast.identities() == sorted(SCREEN_SECONDS)
    assert cast.identities(extras=False) == sorted(set(SCREEN_SECONDS) - {"extra_black_tshirt"})
    for identity, seconds in SCREEN_SECONDS.items():
        assert cast.screen_seconds(identity) == pytest.approx(seconds), identity
        shots = cast.shots_of(identity)
        assert shots == sorted(shots) and shots
        assert all(identity in cast.shots[i].identities for i in shots)
        total = sum(cast.shots[i].frame_count for i in shots)
        assert cast.screen_seconds(identity) == pytest.approx(total / FPS)
    # A face on a screen counts unless asked not to.
    screen_shot = next(s for s in cast.shots if s.kind == "screen")
    assert screen_shot.index in cast.shots_of("astronaut")
    assert screen_shot.index not in cast.shots_of("astronaut", screens=False)
    assert cast.screen_seconds("astronaut", screens=False) == pytest.approx(4.2)
    assert cast.identity_at(screen_shot.start_frame, screens=False) == []
    extras_shot = next(s for s in cast.shots if s.kind == "extras")
    assert cast.identity_at(extras_shot.start_frame, extras=False) == []
    assert cast.screen_seconds("nobody") == 0.0
    for shot in cast.shots:
        if shot.kind == "empty":
            assert cast.identity_at(shot.start_frame) == []


# --- the file -----------------------------------------------------------------


def test_planned_frames_decode(cast: CastEpisode) -> None:
    assert count_frames(cast.path) == cast.frame_count == 926
    with av.open(str(cast.path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (WIDTH, HEIGHT) == (cast.width, cast.height)
        assert stream.average_rate == FPS == cast.fps
        assert stream.codec_context.name == "h264"


def test_cached_file_is_reused(cast: CastEpisode) -> None:
    stamp = cast.path.stat().st_mtime_ns
    again = build_cast_episode(CACHE)
    assert again.path == cast.path
    assert again.path.stat().st_mtime_ns == stamp
    assert again.shots == cast.shots
    assert not list(CACHE.glob("*.part.mp4"))


def test_build_is_byte_identical(cast: CastEpisode, tmp_path: Path) -> None:
    rebuilt = build_cast_episode(tmp_path)
    assert rebuilt.path.name == cast.path.name
    assert rebuilt.path != cast.path
    assert sha256(rebuilt.path) == sha256(cast.path)
    assert [p.name for p in tmp_path.iterdir()] == [rebuilt.path.name]


def test_rendering_is_repeatable() -> None:
    for name in ("astronaut_on_screen", "woman_mirrored"):
        first, second = render_shot(name), render_shot(name)
        assert len(first) == len(second)
        assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
        assert first[0].shape == (HEIGHT, WIDTH, 3) and first[0].dtype == np.uint8
    # Ken Burns: the picture moves from frame to frame.
    still = render_shot("astronaut_zoom")
    assert not np.array_equal(still[0], still[-1])


# --- the truth against the detector -----------------------------------------------


@needs_faces
@pytest.mark.parametrize("name", PERSON_SHOTS)
def test_detector_finds_the_sighted_faces(
    cast: CastEpisode, episode_faces: dict[int, list[Face]], name: str
) -> None:
    shot = next(s for s in cast.shots if s.name == name)
    checked = 0
    for appearance in shot.appearances:
        for sighting in appearance.sightings:
            faces = episode_faces[sighting.frame]
            best = max((iou(sighting.box, face.box) for face in faces), default=0.0)
            if sighting.detected:
                assert best >= MATCH_IOU, (appearance.identity, sighting, [f.box for f in faces])
                checked += 1
            elif sighting.view == "back":
                # The back of a head is not a face: nothing may be found on it.
                assert best < EXPLAIN_IOU, (appearance.identity, sighting)
    assert checked >= 2
    # Every face found on these frames belongs to someone the truth puts on screen,
    # and two people never share one face.
    for frame in {s.frame for a in shot.appearances for s in a.sightings}:
        owners = []
        for face in episode_faces[frame]:
            overlaps = {a.identity: iou(face.box, a.box_at(frame)) for a in shot.appearances}
            owner = max(overlaps, key=lambda identity: overlaps[identity])
            assert overlaps[owner] >= EXPLAIN_IOU, (frame, face.box, overlaps)
            owners.append(owner)
        assert len(owners) == len(set(owners)), (frame, owners)


@needs_faces
@pytest.mark.parametrize("name", EMPTY_SHOTS)
def test_detector_finds_nobody_in_empty_shots(
    cast: CastEpisode, episode_faces: dict[int, list[Face]], name: str
) -> None:
    shot = next(s for s in cast.shots if s.name == name)
    frames = (shot.start_frame, (shot.start_frame + shot.end_frame) // 2, shot.end_frame - 1)
    for frame in frames:
        assert episode_faces[frame] == [], (name, frame, [f.box for f in episode_faces[frame]])


# --- the annotations against the source frames ---------------------------------------


def test_annotation_file_is_consistent() -> None:
    data = load_identities()
    assert "annotated by eye" in data["notes"].lower()
    declared = set(data["identities"])
    used = set()
    for source in data["sources"]:
        assert source in SOURCES, source
        for frame, marks in source_marks(source).items():
            assert frame >= 0 and (source not in STILLS or frame == 0)
            for mark in marks:
                used.add(mark.identity)
                assert mark.view in ("face", "back")
                assert mark.box[0] < mark.box[2] and mark.box[1] < mark.box[3]
    assert used == declared
    # headpose-pair: the woman is the left face, the man the right one, on every frame.
    entry = data["sources"]["footage/headpose-pair.gif"]
    ranges = entry["x_ranges"]
    for marks in source_marks("footage/headpose-pair.gif").values():
        for mark in marks:
            low, high = ranges[mark.identity]
            assert low <= mark.box[0] and mark.box[2] <= high, mark


@needs_faces
@pytest.mark.parametrize(
    "source",
    ["footage/headpose-pair.gif", "footage/chaplin-bw.mp4", "test-data/carphone_pristine.mp4"],
)
def test_detector_agrees_with_the_annotation(source: str) -> None:
    marks = source_marks(source)
    frames = decode(SOURCES[source], set(marks))
    assert frames.keys() == marks.keys()
    for frame, found in marks.items():
        faces = detect_faces(frames[frame])
        detected = [mark for mark in found if mark.detected]
        assert len(faces) == len(detected), (source, frame, [f.box for f in faces])
        for mark in detected:
            best = max(iou(mark.box, face.box) for face in faces)
            assert best >= 0.8, (source, frame, mark)
        for mark in found:
            if not mark.detected:
                assert all(iou(mark.box, face.box) < EXPLAIN_IOU for face in faces), mark


@needs_faces
def test_headpose_faces_sort_by_side_on_every_frame() -> None:
    ranges = load_identities()["sources"]["footage/headpose-pair.gif"]["x_ranges"]
    path = SOURCES["footage/headpose-pair.gif"]
    frames = decode(path, set(range(56)))
    assert len(frames) == 56
    for frame, picture in frames.items():
        sides = sorted(
            identity
            for face in detect_faces(picture)
            for identity, (low, high) in ranges.items()
            if low <= face.box[0] and face.box[2] <= high
        )
        assert sides == ["headpose_man", "headpose_woman"], frame
