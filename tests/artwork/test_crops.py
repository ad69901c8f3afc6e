"""Focal-point crops: exact canvas ratios, maximal size, faces kept whole, bars avoided."""

from __future__ import annotations

import math

import numpy as np
import pytest
import thumbsel
from hypothesis import example, given, settings
from hypothesis import strategies as st
from thumbsel.artwork.crops import (
    CANVASES,
    FACE_EYE_LINE,
    Box,
    crop_picture,
    focal_point,
    head_box,
    plan_crop,
    plan_crops,
)

FULL_HD: Box = (0, 0, 1920, 1080)


def reduced(ratio: tuple[int, int]) -> tuple[int, int]:
    common = math.gcd(*ratio)
    return (ratio[0] // common, ratio[1] // common)


def inside(inner: Box, outer: Box) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


@st.composite
def contents(draw: st.DrawFn) -> Box:
    # Sizes from 1 pixel up: odd, prime, tall, wide and smaller-than-the-ratio
    # boxes all come up, anywhere in a larger frame.
    x0 = draw(st.integers(0, 300))
    y0 = draw(st.integers(0, 300))
    width = draw(st.integers(1, 2000))
    height = draw(st.integers(1, 2000))
    return (x0, y0, x0 + width, y0 + height)


@st.composite
def faces_in(draw: st.DrawFn, content: Box) -> list[Box]:
    x0, y0, x1, y1 = content
    faces: list[Box] = []
    for _ in range(draw(st.integers(0, 4))):
        fx0 = draw(st.integers(x0, x1 - 1))
        fy0 = draw(st.integers(y0, y1 - 1))
        fx1 = draw(st.integers(fx0 + 1, x1))
        fy1 = draw(st.integers(fy0 + 1, y1))
        faces.append((fx0, fy0, fx1, fy1))
    return faces


@st.composite
def scenes(draw: st.DrawFn) -> tuple[Box, list[Box], tuple[float, float] | None]:
    content = draw(contents())
    faces = draw(faces_in(content))
    fraction = st.floats(0.0, 1.0)
    salient = draw(st.none() | st.tuples(fraction, fraction))
    return content, faces, salient


def fits(content: Box, ratio: tuple[int, int]) -> bool:
    a, b = reduced(ratio)
    return content[2] - content[0] >= a and content[3] - content[1] >= b


@settings(max_examples=400)
@given(scenes())
@example(((0, 0, 16, 9), [], None))
@example(((5, 7, 6, 8), [], None))
@example(((0, 0, 15, 2000), [(0, 0, 15, 1)], (1.0, 1.0)))
@example(((0, 0, 1920, 1080), [(0, 0, 1, 1), (1919, 1079, 1920, 1080)], None))
def test_crops_have_the_exact_ratio_fit_the_content_and_are_maximal(
    scene: tuple[Box, list[Box], tuple[float, float] | None],
) -> None:
    content, faces, salient = scene
    width, height = content[2] - content[0], content[3] - content[1]
    if not all(fits(content, ratio) for ratio in CANVASES.values()):
        with pytest.raises(ValueError, match="too small"):
            plan_crops(content, faces, salient)
    focal = focal_point(content, faces, salient)
    for name, ratio in CANVASES.items():
        if not fits(content, ratio):
            with pytest.raises(ValueError, match="too small"):
                plan_crop(content, ratio, focal, faces)
            continue
        crop = plan_crop(content, ratio, focal, faces)
        assert all(type(v) is int for v in crop), crop
        a, b = ratio
        crop_width, crop_height = crop[2] - crop[0], crop[3] - crop[1]
        assert crop_width * b == crop_height * a, (name, crop)
        assert inside(crop, content), (name, crop, content)
        k = crop_width // a
        assert (crop_width, crop_height) == (k * a, k * b)
        assert (k + 1) * a > width or (k + 1) * b > height, (name, crop, content)
        assert plan_crop(content, ratio, focal, faces) == crop


@settings(max_examples=400)
@given(scenes())
@example(((0, 0, 1920, 1080), [(0, 0, 100, 100), (1820, 980, 1920, 1080)], None))
@example(((0, 0, 1920, 1080), [(0, 0, 900, 100)], None))
def test_faces_stay_whole_whenever_they_fit(
    scene: tuple[Box, list[Box], tuple[float, float] | None],
) -> None:
    content, faces, salient = scene
    usable = {n: r for n, r in CANVASES.items() if fits(content, r)}
    crops = plan_crops(content, faces, salient, usable)
    assert list(crops) == list(usable)
    for name, crop in crops.items():
        size = (crop[2] - crop[0], crop[3] - crop[1])
        if not faces:
            continue
        around = union(faces)
        if around[2] - around[0] <= size[0] and around[3] - around[1] <= size[1]:
            assert all(inside(face, crop) for face in faces), (name, crop, faces)
        # The largest face (the first of equal ones) has priority over the rest.
        largest = max(faces, key=area)
        if largest[2] - largest[0] <= size[0] and largest[3] - largest[1] <= size[1]:
            assert inside(largest, crop), (name, crop, largest)


@settings(max_examples=400)
@given(st.data())
def test_crop_is_as_central_on_the_focal_point_as_the_content_allows(data: st.DataObject) -> None:
    content = data.draw(contents())
    ratio = data.draw(st.sampled_from(list(CANVASES.values())))
    if not fits(content, ratio):
        return
    x0, y0, x1, y1 = content
    focal = (data.draw(st.floats(x0, x1)), data.draw(st.floats(y0, y1)))
    crop = plan_crop(content, ratio, focal)
    for axis, (low, high) in enumerate([(x0, x1), (y0, y1)]):
        size = crop[axis + 2] - crop[axis]
        centre = (crop[axis] + crop[axis + 2]) / 2
        ideal = focal[axis] - size / 2
        if low <= ideal <= high - size:
            assert abs(centre - focal[axis]) <= 0.5
        elif ideal < low:
            assert crop[axis] == low
        else:
            assert crop[axis + 2] == high


@settings(max_examples=200)
@given(st.data())
def test_faces_move_the_crop_no_further_than_needed(data: st.DataObject) -> None:
    content = data.draw(contents())
    ratio = data.draw(st.sampled_from(list(CANVASES.values())))
    if not fits(content, ratio):
        return
    faces = data.draw(faces_in(content))
    x0, y0, x1, y1 = content
    focal = (data.draw(st.floats(x0, x1)), data.draw(st.floats(y0, y1)))
    crop = plan_crop(content, ratio, focal, faces)
    size = (crop[2] - crop[0], crop[3] - crop[1])
    if not faces:
        return
    # The largest face is held whole along every axis it fits; along one it
    # does not fit, the crop stays within it, whatever the focal point says.
    largest = max(faces, key=area)
    for axis in (0, 1):
        if largest[axis + 2] - largest[axis] <= size[axis]:
            assert crop[axis] <= largest[axis] and largest[axis + 2] <= crop[axis + 2]
        else:
            assert largest[axis] <= crop[axis] and crop[axis + 2] <= largest[axis + 2]
    around = union(faces)
    if around[2] - around[0] > size[0] or around[3] - around[1] > size[1]:
        return
    # Brute force over every position that holds all the faces: none is
    # closer to the focal point (by more than the half-pixel rounding).
    for axis, (low, high) in enumerate([(x0, x1), (y0, y1)]):
        length = size[axis]
        chosen = abs(crop[axis] + length / 2 - focal[axis])
        feasible = range(max(low, around[axis + 2] - length), min(high - length, around[axis]) + 1)
        best = min(abs(start + length / 2 - focal[axis]) for start in feasible)
        assert chosen <= best + 0.5


def test_full_hd_crops_are_centred() -> None:
    assert plan_crops(FULL_HD) == {
        "16:9": (0, 0, 1920, 1080),
        "2:3": (600, 0, 1320, 1080),
        "1:1": (420, 0, 1500, 1080),
        "4:5": (528, 0, 1392, 1080),
    }


def test_pillarboxed_content_never_reaches_into_the_bars() -> None:
    # 4:3 picture in a 16:9 frame with 240-pixel bars left and right; the face
    # and the saliency both pull towards the bars.
    content: Box = (240, 0, 1680, 1080)
    for faces, salient in [([(250, 400, 450, 600)], None), ([], (0.0, 0.5)), ([], (1.0, 0.0))]:
        crops = plan_crops(content, faces, salient)
        for name, crop in crops.items():
            assert inside(crop, content), (name, crop)
    assert plan_crops(content)["16:9"] == (240, 135, 1680, 945)


def test_letterboxed_content_never_reaches_into_the_bars() -> None:
    # 2.4:1 scope picture with 140-pixel bars top and bottom.
    content: Box = (0, 140, 1920, 940)
    crops = plan_crops(content, [(900, 141, 1000, 241)], (0.5, 0.0))
    for name, crop in crops.items():
        assert inside(crop, content), (name, crop)
        # The face near the top pulls the crop up to the picture's edge, not past it.
        assert crop[1] == 140, name
    # 800 rows hold 88 * 9 = 792 of them, so 8 rows of the picture stay out;
    # across, the 1408 columns are centred on the face (x = 950).
    assert crops["16:9"] == (246, 140, 1654, 932)


def test_face_at_the_very_edge_is_kept() -> None:
    right_edge: Box = (1840, 500, 1920, 580)
    crops = plan_crops(FULL_HD, [right_edge])
    for name, crop in crops.items():
        assert inside(right_edge, crop), name
        assert crop[2] == 1920, name
    corner: Box = (0, 0, 1, 1)
    for crop in plan_crops(FULL_HD, [corner]).values():
        assert crop[:2] == (0, 0)


def test_face_wider_than_the_crop_shows_as_much_of_it_as_possible() -> None:
    # A 2:3 crop of a 1080-row frame is 720 wide; the face is 900 wide, so the
    # crop stays within the face horizontally and holds it whole vertically.
    face: Box = (400, 300, 1300, 700)
    crop = plan_crops(FULL_HD, [face])["2:3"]
    assert crop[2] - crop[0] == 720
    assert face[0] <= crop[0] and crop[2] <= face[2]
    assert crop[1] <= face[1] and face[3] <= crop[3]
    # Aimed far to the right, the crop goes as far right as the face allows.
    assert plan_crop(FULL_HD, (2, 3), (1800.0, 540.0), [face]) == (580, 0, 1300, 1080)
    assert plan_crop(FULL_HD, (2, 3), (0.0, 540.0), [face]) == (400, 0, 1120, 1080)


def test_overflowing_close_up_outranks_a_smaller_whole_face() -> None:
    # The 2:3 crop is 720 wide: the close-up (900 wide) cannot fit, the
    # bystander could, but the close-up is the subject.
    close_up: Box = (1000, 100, 1900, 1000)
    bystander: Box = (100, 400, 200, 500)
    crop = plan_crop(FULL_HD, (2, 3), (150.0, 450.0), [bystander, close_up])
    assert close_up[0] <= crop[0] and crop[2] <= close_up[2]
    assert not inside(bystander, crop)
    # The smallest case hypothesis found: a 1x1 crop of a 1x3 picture aimed at
    # the top goes no higher than the 1x2 face, leaving out the 1x1 one.
    assert plan_crop((0, 0, 1, 3), (1, 1), (0.0, 0.0), [(0, 1, 1, 3), (0, 0, 1, 1)]) == (0, 1, 1, 2)


def test_largest_face_wins_when_not_all_fit() -> None:
    small: Box = (20, 500, 120, 600)
    large: Box = (1500, 400, 1800, 700)
    medium: Box = (1300, 450, 1450, 600)
    crop = plan_crops(FULL_HD, [small, medium, large])["1:1"]
    assert inside(large, crop) and inside(medium, crop)
    assert not inside(small, crop)
    # Equal faces: the first one given wins, whatever the focal point says.
    left: Box = (0, 0, 100, 100)
    right: Box = (1820, 0, 1920, 100)
    assert inside(left, plan_crop(FULL_HD, (1, 1), (1900.0, 50.0), [left, right]))
    assert inside(right, plan_crop(FULL_HD, (1, 1), (10.0, 50.0), [right, left]))


def test_faces_override_the_focal_point() -> None:
    face: Box = (100, 100, 300, 300)
    crop = plan_crop(FULL_HD, (1, 1), (1800.0, 540.0), [face])
    assert crop == (100, 0, 1180, 1080)


def test_focal_point_of_faces_is_area_weighted_and_aims_at_the_eyes() -> None:
    assert focal_point(FULL_HD, [(100, 100, 200, 200)], (0.9, 0.9)) == (150.0, 140.0)
    big: Box = (0, 0, 200, 200)  # area 40000, aim (100, 80)
    small: Box = (1000, 500, 1100, 600)  # area 10000, aim (1050, 540)
    x, y = focal_point(FULL_HD, [big, small], None)
    assert x == pytest.approx((4 * 100 + 1050) / 5)
    assert y == pytest.approx((4 * 80 + 540) / 5)
    assert 0 < FACE_EYE_LINE < 0.5


def test_focal_point_without_faces() -> None:
    content: Box = (240, 100, 1680, 980)
    assert focal_point(content, [], (0.25, 0.75)) == (600.0, 760.0)
    assert focal_point(content, [], None) == (960.0, 540.0)
    assert focal_point(content, [], (math.nan, 0.5)) == (960.0, 540.0)
    assert focal_point(content, [], (-1.0, 2.0)) == (240.0, 980.0)
    # A face box wholly in the bars is not in the picture.
    assert focal_point(content, [(0, 0, 200, 200)], None) == (960.0, 540.0)


def test_face_boxes_are_clipped_to_the_content() -> None:
    # Detectors report boxes running past the frame edge; the visible part counts.
    crop = plan_crop(FULL_HD, (1, 1), (960.0, 540.0), [(1800, 500, 2100, 600)])
    assert crop[2] == 1920


def test_numpy_integers_are_accepted_and_plain_ints_returned() -> None:
    content = tuple(np.int32(v) for v in FULL_HD)
    faces = [tuple(np.int64(v) for v in (100, 100, 200, 200))]
    crops = plan_crops(content, faces)  # type: ignore[arg-type]
    assert all(type(v) is int for crop in crops.values() for v in crop)
    assert plan_crop(FULL_HD, (np.int64(16), np.int64(9)), (960.0, 540.0)) == FULL_HD  # type: ignore[arg-type]


def test_ratio_is_reduced() -> None:
    assert plan_crop((0, 0, 40, 30), (32, 18), (20.0, 15.0)) == plan_crop(
        (0, 0, 40, 30), (16, 9), (20.0, 15.0)
    )
    # 2:2 is 1:1, so a 1x1 picture still has a square crop.
    assert plan_crop((3, 4, 4, 5), (2, 2), (3.5, 4.5)) == (3, 4, 4, 5)


def test_tiny_content_raises() -> None:
    with pytest.raises(ValueError, match=r"15x9 content box is too small for an exact 16:9"):
        plan_crop((0, 0, 15, 9), (16, 9), (7.5, 4.5))
    with pytest.raises(ValueError, match="canvas '16:9'"):
        plan_crops((0, 0, 15, 100))
    # The ones that do fit still work on their own.
    assert plan_crops((0, 0, 1, 1), canvases={"1:1": (1, 1)}) == {"1:1": (0, 0, 1, 1)}
    assert plan_crop((0, 0, 16, 9), (16, 9), (0.0, 0.0)) == (0, 0, 16, 9)


@pytest.mark.parametrize("content", [(0, 0, 0, 10), (10, 0, 5, 10), (0, 5, 10, 5)])
def test_empty_content_raises(content: Box) -> None:
    with pytest.raises(ValueError, match="empty"):
        plan_crops(content)
    with pytest.raises(ValueError, match="empty"):
        focal_point(content, [], None)


@pytest.mark.parametrize("ratio", [(0, 1), (1, -2), (1.5, 1), (True, 1)])
def test_bad_ratio_raises(ratio: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="ratio"):
        plan_crop(FULL_HD, ratio, (960.0, 540.0))


def test_non_finite_focal_raises() -> None:
    with pytest.raises(ValueError, match="finite"):
        plan_crop(FULL_HD, (1, 1), (math.nan, 540.0))


def test_crop_picture_is_a_view_of_the_box() -> None:
    picture = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    piece = crop_picture(picture, (2, 1, 5, 4))
    assert piece.shape == (3, 3, 3)
    np.testing.assert_array_equal(piece, picture[1:4, 2:5])
    assert np.shares_memory(piece, picture)
    assert crop_picture(picture, (0, 0, 8, 6)).shape == picture.shape


@pytest.mark.parametrize("box", [(-1, 0, 4, 4), (0, 0, 9, 6), (0, 0, 8, 7), (3, 3, 3, 5)])
def test_crop_picture_rejects_boxes_outside_the_picture(box: Box) -> None:
    picture = np.zeros((6, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError):
        crop_picture(picture, box)


def test_planned_crops_cut_real_pixels() -> None:
    picture = np.zeros((1080, 1920, 3), dtype=np.uint8)
    picture[:, :240] = picture[:, 1680:] = 0
    picture[:, 240:1680] = 200
    content: Box = (240, 0, 1680, 1080)
    for name, crop in plan_crops(content, [(260, 50, 400, 190)]).items():
        piece = crop_picture(picture, crop)
        a, b = CANVASES[name]
        assert piece.shape[1] * b == piece.shape[0] * a
        assert piece.min() == 200, f"{name} took in some of the black bars"


def clip(box: Box, bounds: Box) -> Box:
    return (
        max(box[0], bounds[0]),
        max(box[1], bounds[1]),
        min(box[2], bounds[2]),
        min(box[3], bounds[3]),
    )


def slices(crop: Box, face: Box) -> bool:
    overlap = min(crop[2], face[2]) > max(crop[0], face[0]) and min(crop[3], face[3]) > max(
        crop[1], face[1]
    )
    return overlap and not inside(face, crop)


def kept_faces(faces: list[Box], width: int, height: int) -> list[Box]:
    """The documented rule: the largest face, then each next largest that fits with them."""
    ordered = sorted(faces, key=lambda box: -area(box))
    kept = ordered[:1]
    for face in ordered[1:]:
        around = union([*kept, face])
        if around[2] - around[0] <= width and around[3] - around[1] <= height:
            kept.append(face)
    return kept


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_no_crop_slices_more_faces_than_it_must(data: st.DataObject) -> None:
    """Brute force over every position of a small frame: no placement that holds the kept
    faces cuts fewer of the other heads than the planned crop does."""
    width, height = data.draw(st.integers(16, 96)), data.draw(st.integers(16, 96))
    content = (0, 0, width, height)
    faces = data.draw(faces_in(content))
    ratio = data.draw(st.sampled_from(list(CANVASES.values())))
    if not fits(content, ratio):
        return
    crop = plan_crop(content, ratio, focal_point(content, faces, None), faces)
    size = (crop[2] - crop[0], crop[3] - crop[1])
    largest = max(faces, key=area) if faces else None
    if largest and (largest[2] - largest[0] > size[0] or largest[3] - largest[1] > size[1]):
        return  # an overflowing close-up: shown in part on purpose
    kept = kept_faces(faces, *size)
    others = [clip(head_box(face), content) for face in faces if face not in kept]
    best = min(
        sum(slices((x, y, x + size[0], y + size[1]), face) for face in others)
        for x in range(width - size[0] + 1)
        for y in range(height - size[1] + 1)
        if all(inside(face, (x, y, x + size[0], y + size[1])) for face in kept)
    )
    assert all(inside(face, crop) for face in kept)
    assert sum(slices(crop, face) for face in others) == best, (crop, faces)


def test_a_two_shot_too_wide_for_a_poster_keeps_one_whole_face() -> None:
    """The issue's case: two faces side by side in 16:9; the 2:3 crop cannot hold both,
    and used to start at one face's edge and cut the other in half."""
    content = (0, 0, 1280, 720)
    left, right = (330, 200, 530, 440), (700, 180, 920, 450)
    crops = plan_crops(content, [left, right])
    poster = crops["2:3"]
    assert inside(right, poster) and not slices(poster, clip(head_box(left), content))
    for crop in crops.values():
        assert not slices(crop, left) and not slices(crop, right)


def test_an_anamorphic_crop_shows_its_canvas_ratio_on_screen() -> None:
    """A 720x576 PAL frame with 64:45 pixels is 16:9 on screen: its 16:9 crop is the whole
    frame (5:4 in stored pixels), and every crop is its canvas's ratio once displayed."""
    content = (0, 0, 720, 576)
    crops = plan_crops(content, pixel_aspect=(64, 45))
    assert crops["16:9"] == (0, 0, 720, 576)
    for name, (a, b) in CANVASES.items():
        x0, y0, x1, y1 = crops[name]
        shown = (x1 - x0) * 64 / 45 / (y1 - y0)
        assert shown == pytest.approx(a / b, rel=1e-9), name


def test_crops_of_the_annotated_frames_slice_no_annotated_face() -> None:
    """On every annotated real frame (tests/data/faces.json), the crops planned from what
    the detector found hold each annotated face that it found whole or leave it out."""
    pytest.importorskip("cv2")
    import annotated

    checked = 0
    for entry in annotated.truth():
        faces = [face for face in entry["faces"] if face["pose"] != "back"]
        if not faces:
            continue
        picture = annotated.load(entry["source"], entry["frame"])
        found = [face.box for face in thumbsel.detect_faces(picture)]
        content = (0, 0, picture.shape[1], picture.shape[0])
        crops = plan_crops(content, found)
        for face in faces:
            box = tuple(face["box"])
            if not any(annotated.matches(f, box) for f in found):
                continue  # a missed face cannot be avoided
            for canvas, crop in crops.items():
                width, height = crop[2] - crop[0], crop[3] - crop[1]
                if box[2] - box[0] > width or box[3] - box[1] > height:
                    continue  # a close-up larger than the crop: shown in part on purpose
                # Annotated boxes differ from the detector's by a few pixels: a face
                # counts as sliced when more than 15% of it and less than 85% is shown.
                shown = max(0, min(crop[2], box[2]) - max(crop[0], box[0])) * max(
                    0, min(crop[3], box[3]) - max(crop[1], box[1])
                )
                share = shown / area(box)
                assert share <= 0.15 or share >= 0.85, (entry["source"], entry["frame"], canvas)
                checked += 1
    assert checked >= 150
