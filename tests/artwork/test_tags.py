"""Artwork tags: every threshold on both sides, the tag order, missing signals."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from thumbsel.artwork.crops import Box
from thumbsel.artwork.tags import (
    BRIGHT_MIN_BRIGHTNESS,
    CLOSEUP_MIN_FACE_SHARE,
    COLORFUL_MIN_COLORFULNESS,
    DARK_MAX_BRIGHTNESS,
    GROUP_MIN_FACES,
    HIGH_CONTRAST_MIN_CONTRAST,
    MAIN_FACE_MIN_SHARE,
    MEDIUM_MIN_FACE_SHARE,
    MUTED_MAX_COLORFULNESS,
    SMILING_MIN_SCORE,
    TAG_DEFINITIONS,
    TINT_MIN_DIFFERENCE,
    artwork_tags,
    shot_scale,
)
from thumbsel.people.faces import Face, Pose

FRAME_AREA = 1600 * 900


def below(value: float) -> float:
    return math.nextafter(value, -math.inf)


def above(value: float) -> float:
    return math.nextafter(value, math.inf)


def face(
    box: Box,
    smiling: float = 0.0,
    *,
    eyes_closed: bool = False,
    pose: Pose = "frontal",
) -> Face:
    """A face as the detector reports it, with only what the tags read set."""
    return Face(
        box=box,
        score=0.9,
        keypoints=(),
        eyes=0.1 if eyes_closed else 0.3,
        eyes_closed=eyes_closed,
        mouth=0.0,
        smiling=smiling,
        yaw={"frontal": 0.0, "three-quarter": 35.0, "profile": 70.0}[pose],
        pose=pose,
        sharpness=100.0,
        cut=False,
    )


def tags_of(**features: float) -> list[str]:
    return artwork_tags(features, None, FRAME_AREA)


def test_thresholds_are_the_documented_values() -> None:
    assert CLOSEUP_MIN_FACE_SHARE == 1 / 16
    assert MEDIUM_MIN_FACE_SHARE == 1 / 64
    assert SMILING_MIN_SCORE == 0.5
    assert (DARK_MAX_BRIGHTNESS, BRIGHT_MIN_BRIGHTNESS) == (0.3, 0.65)
    assert TINT_MIN_DIFFERENCE == 0.06
    assert HIGH_CONTRAST_MIN_CONTRAST == 0.25
    assert (COLORFUL_MIN_COLORFULNESS, MUTED_MAX_COLORFULNESS) == (45.0, 15.0)


def test_closeup_face_spans_a_third_of_a_16_9_frame() -> None:
    side = 900 // 3
    assert shot_scale([(0, 0, side, side)], FRAME_AREA) == "closeup"


@pytest.mark.parametrize(
    ("face", "expected"),
    [
        ((0, 0, 300, 300), "closeup"),  # exactly 1/16 of 1600x900
        ((0, 0, 300, 299), "medium"),
        ((0, 0, 150, 150), "medium"),  # exactly 1/64
        ((0, 0, 150, 149), "wide"),
        ((0, 0, 1, 1), "wide"),
        ((0, 0, 1600, 900), "closeup"),
    ],
)
def test_shot_scale_boundaries(face: Box, expected: str) -> None:
    assert shot_scale([face], FRAME_AREA) == expected


def test_shot_scale_reads_the_largest_face() -> None:
    faces: list[Box] = [(0, 0, 10, 10), (100, 100, 400, 400), (500, 500, 600, 600)]
    assert shot_scale(faces, FRAME_AREA) == "closeup"


def test_shot_scale_without_faces_is_none() -> None:
    assert shot_scale(None, FRAME_AREA) is None
    assert shot_scale([], FRAME_AREA) is None


def test_shot_scale_needs_a_frame() -> None:
    with pytest.raises(ValueError, match="frame_area"):
        shot_scale([(0, 0, 1, 1)], 0)


@pytest.mark.parametrize(
    ("brightness", "expected"),
    [
        (below(DARK_MAX_BRIGHTNESS), ["dark"]),
        (DARK_MAX_BRIGHTNESS, []),
        (BRIGHT_MIN_BRIGHTNESS, []),
        (above(BRIGHT_MIN_BRIGHTNESS), ["bright"]),
        (0.0, ["dark"]),
        (1.0, ["bright"]),
    ],
)
def test_brightness_boundaries(brightness: float, expected: list[str]) -> None:
    assert tags_of(brightness=brightness) == expected


@pytest.mark.parametrize(
    ("red", "blue", "expected"),
    [
        (TINT_MIN_DIFFERENCE, 0.0, []),
        (above(TINT_MIN_DIFFERENCE), 0.0, ["warm"]),
        (0.0, TINT_MIN_DIFFERENCE, []),
        (0.0, above(TINT_MIN_DIFFERENCE), ["cool"]),
        (0.8, 0.2, ["warm"]),
        (0.2, 0.8, ["cool"]),
        (0.5, 0.5, []),
    ],
)
def test_tint_boundaries(red: float, blue: float, expected: list[str]) -> None:
    assert tags_of(mean_red=red, mean_blue=blue) == expected


@pytest.mark.parametrize(
    ("contrast", "expected"),
    [
        (HIGH_CONTRAST_MIN_CONTRAST, ["high-contrast"]),
        (below(HIGH_CONTRAST_MIN_CONTRAST), []),
    ],
)
def test_contrast_boundary(contrast: float, expected: list[str]) -> None:
    assert tags_of(contrast=contrast) == expected


@pytest.mark.parametrize(
    ("colorfulness", "expected"),
    [
        (COLORFUL_MIN_COLORFULNESS, ["colorful"]),
        (below(COLORFUL_MIN_COLORFULNESS), []),
        (33.0, []),  # Hasler-Susstrunk's "moderately colourful" is neither
        (MUTED_MAX_COLORFULNESS, []),
        (below(MUTED_MAX_COLORFULNESS), ["muted"]),
        (0.0, ["muted"]),
    ],
)
def test_colorfulness_boundaries(colorfulness: float, expected: list[str]) -> None:
    assert tags_of(colorfulness=colorfulness) == expected


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([SMILING_MIN_SCORE], True),
        ([below(SMILING_MIN_SCORE)], False),
        ([0.1, 0.9], True),
        ([], False),
        (None, False),
    ],
)
def test_smiling_boundary(scores: list[float] | None, expected: bool) -> None:
    faces = None if scores is None else [face((0, 0, 10, 10), s) for s in scores]
    tags = artwork_tags({}, faces, FRAME_AREA)
    assert ("smiling" in tags) is expected


def test_only_the_main_faces_decide_smiling_and_eyes_closed() -> None:
    lead = face((0, 0, 400, 400))
    # A blinking, smiling extra far behind the lead spoils nothing ...
    extra = face((600, 0, 600 + 150, 150), 0.9, eyes_closed=True)
    assert artwork_tags({}, [lead, extra], FRAME_AREA) == ["faces:2", "closeup"]
    # ... but the same face at half the lead's height is a main face.
    side = round(400 * MAIN_FACE_MIN_SHARE)
    partner = face((600, 0, 600 + side, side), 0.9, eyes_closed=True)
    tags = artwork_tags({}, [lead, partner], FRAME_AREA)
    assert tags == ["faces:2", "closeup", "smiling", "eyes-closed"]


def test_profile_reads_the_largest_face_and_group_counts_main_faces() -> None:
    assert "profile" in artwork_tags({}, [face((0, 0, 300, 300), pose="profile")], FRAME_AREA)
    two = [face((0, 0, 300, 300)), face((400, 0, 500, 100), pose="profile")]
    assert "profile" not in artwork_tags({}, two, FRAME_AREA)
    crowd = [face((i * 200, 0, i * 200 + 150, 150)) for i in range(GROUP_MIN_FACES)]
    assert "group" in artwork_tags({}, crowd, FRAME_AREA)
    assert "group" not in artwork_tags({}, crowd[:-1], FRAME_AREA)


def test_tags_come_in_the_documented_order() -> None:
    features = {
        "brightness": 0.8,
        "mean_red": 0.7,
        "mean_blue": 0.3,
        "contrast": 0.3,
        "colorfulness": 60.0,
    }
    faces = [face((0, 0, 400, 400), 0.2), face((500, 0, 800, 300), 0.7, eyes_closed=True)]
    tags = artwork_tags(features, faces, FRAME_AREA)
    assert tags == [
        "faces:2",
        "closeup",
        "smiling",
        "eyes-closed",
        "bright",
        "warm",
        "high-contrast",
        "colorful",
    ]
    tags = artwork_tags(
        {"brightness": 0.1, "mean_red": 0.1, "mean_blue": 0.4, "colorfulness": 5.0},
        [face((0, 0, 20, 20), pose="profile")],
        FRAME_AREA,
    )
    assert tags == ["faces:1", "wide", "profile", "dark", "cool", "muted"]


def test_faces_none_gives_no_face_tags() -> None:
    tags = artwork_tags({"brightness": 0.5}, None, FRAME_AREA)
    assert not any(t.startswith("faces:") for t in tags)
    assert not {"closeup", "medium", "wide"} & set(tags)


def test_no_faces_found_is_counted_but_has_no_scale() -> None:
    assert artwork_tags({}, [], FRAME_AREA) == ["faces:0"]


def test_missing_or_unmeasured_features_give_no_tags() -> None:
    assert artwork_tags({}, None, FRAME_AREA) == []
    assert tags_of(mean_red=0.9) == []
    assert tags_of(mean_blue=0.9) == []
    nan = math.nan
    assert (
        tags_of(brightness=nan, contrast=nan, colorfulness=nan, mean_red=nan, mean_blue=0.0) == []
    )


def test_definitions_cover_every_tag_and_state_their_thresholds() -> None:
    assert list(TAG_DEFINITIONS) == [
        "faces:N",
        "closeup",
        "medium",
        "wide",
        "smiling",
        "eyes-closed",
        "profile",
        "group",
        "dark",
        "bright",
        "warm",
        "cool",
        "high-contrast",
        "colorful",
        "muted",
    ]
    assert "0.3" in TAG_DEFINITIONS["dark"]
    assert "0.65" in TAG_DEFINITIONS["bright"]
    assert "0.06" in TAG_DEFINITIONS["warm"] and "0.06" in TAG_DEFINITIONS["cool"]
    assert "0.25" in TAG_DEFINITIONS["high-contrast"]
    assert "45" in TAG_DEFINITIONS["colorful"] and "15" in TAG_DEFINITIONS["muted"]
    assert "0.5" in TAG_DEFINITIONS["smiling"]
    assert "0.2" in TAG_DEFINITIONS["eyes-closed"] and "55" in TAG_DEFINITIONS["profile"]
    assert "6.25%" in TAG_DEFINITIONS["closeup"] and "1.56%" in TAG_DEFINITIONS["wide"]


finite = st.floats(allow_nan=False, allow_infinity=False)
face_boxes = st.tuples(
    st.integers(0, 100), st.integers(0, 100), st.integers(101, 1600), st.integers(101, 900)
)


@given(
    features=st.dictionaries(
        st.sampled_from(["brightness", "mean_red", "mean_blue", "contrast", "colorfulness"]),
        finite,
    ),
    boxes=st.none() | st.lists(face_boxes, max_size=5),
    smiling=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5),
    closed=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_tags_are_ordered_exclusive_and_defined(
    features: dict[str, float],
    boxes: list[Box] | None,
    smiling: list[float],
    closed: list[bool],
) -> None:
    faces = (
        None
        if boxes is None
        else [
            face(box, s, eyes_closed=c) for box, s, c in zip(boxes, smiling, closed, strict=False)
        ]
    )
    tags = artwork_tags(features, faces, FRAME_AREA)
    assert artwork_tags(features, faces, FRAME_AREA) == tags
    names = ["faces:N" if t.startswith("faces:") else t for t in tags]
    order = list(TAG_DEFINITIONS)
    positions = [order.index(n) for n in names]
    assert positions == sorted(set(positions))
    for pair in [("dark", "bright"), ("warm", "cool"), ("colorful", "muted")]:
        assert not set(pair) <= set(tags)
    scales = {"closeup", "medium", "wide"} & set(tags)
    assert len(scales) == (1 if faces else 0)
    assert (f"faces:{len(faces)}" in tags) if faces is not None else not names.count("faces:N")
