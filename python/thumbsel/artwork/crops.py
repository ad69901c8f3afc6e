"""Focal-point crops of a chosen frame for the artwork canvases.

Everything here works on plain boxes in source pixels: the caller supplies the
content box (the picture inside any letterbox or pillarbox bars, see
:meth:`thumbsel.Letterbox.content_box`), the face boxes a detector found and
the saliency centroid from the feature table. :func:`plan_crops` turns those
into one box per canvas and :func:`crop_picture` cuts a box out of the decoded
frame.

A crop is always the largest one of the canvas's exact aspect ratio that fits
the content box, so the artwork keeps as much of the picture as possible and is
never stretched when scaled to the canvas; only its position is chosen. Faces
decide the position first (a face cut in half is the worst crop there is),
then the focal point.

A content box too small to hold even one ``a x b`` block of the reduced ratio
(under 16x9 pixels for 16:9) has no exact-ratio crop at all, so
:func:`plan_crop` raises :class:`ValueError` rather than return a box of the
wrong shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "CANVASES",
    "FACE_EYE_LINE",
    "HEAD_MARGINS",
    "Box",
    "crop_picture",
    "focal_point",
    "head_box",
    "plan_crop",
    "plan_crops",
]

Box: TypeAlias = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in source pixels; ``x1`` and ``y1`` are exclusive."""

CANVASES: dict[str, tuple[int, int]] = {
    "16:9": (16, 9),
    "2:3": (2, 3),
    "1:1": (1, 1),
    "4:5": (4, 5),
}
"""Artwork canvases as ``width:height``: the landscape hero image, the poster,
the square tile and the portrait feed card."""

FACE_EYE_LINE = 0.4
"""How far down a face box the focal point sits, as a fraction of its height.

Detector boxes run from the brow (or hairline) to the chin, which puts the eyes
at roughly 35-40 % of the box height; aiming the crop at the eyes rather than
the box centre leaves headroom above the face instead of cutting at the chin.
"""

_Scalar = TypeVar("_Scalar", bound=np.generic)


HEAD_MARGINS = (0.35, 0.5, 0.35, 0.15)
"""How far a head reaches beyond its face box, as shares of the box's width (left,
right) and height (above, below): hair, ears and chin that a crop should not slice."""


def head_box(face: Box) -> Box:
    """The head around a detector's face box (see :data:`HEAD_MARGINS`), unclipped."""
    x0, y0, x1, y1 = (int(value) for value in face)
    width, height = x1 - x0, y1 - y0
    left, above, right, below = HEAD_MARGINS
    return (
        math.floor(x0 - left * width),
        math.floor(y0 - above * height),
        math.ceil(x1 + right * width),
        math.ceil(y1 + below * height),
    )


def focal_point(
    content: Box, faces: Sequence[Box], salient: tuple[float, float] | None
) -> tuple[float, float]:
    """Where the crops should aim, in source pixel coordinates.

    With faces: the area-weighted centre of the face boxes (clipped to
    ``content``), each aimed at its :data:`FACE_EYE_LINE`, so a large face in
    the foreground outweighs small ones in the background. Without faces: the
    saliency centroid ``salient``, given as fractions (0..1) of the content box
    as in the ``saliency_x`` / ``saliency_y`` columns. Without either (or with
    a NaN centroid, which a blank frame yields): the centre of the content box.
    """
    x0, y0, x1, y1 = _checked(content, "content")
    total = weighted_x = weighted_y = 0.0
    for face in faces:
        clipped = _clip(face, content)
        if clipped is None:
            continue
        fx0, fy0, fx1, fy1 = clipped
        area = float((fx1 - fx0) * (fy1 - fy0))
        weighted_x += area * (fx0 + fx1) / 2
        weighted_y += area * (fy0 + FACE_EYE_LINE * (fy1 - fy0))
        total += area
    if total > 0:
        return (weighted_x / total, weighted_y / total)
    if salient is not None and math.isfinite(salient[0]) and math.isfinite(salient[1]):
        across = min(max(float(salient[0]), 0.0), 1.0)
        down = min(max(float(salient[1]), 0.0), 1.0)
        return (x0 + across * (x1 - x0), y0 + down * (y1 - y0))
    return ((x0 + x1) / 2, (y0 + y1) / 2)


def plan_crop(
    content: Box,
    ratio: tuple[int, int],
    focal: tuple[float, float],
    faces: Sequence[Box] = (),
    *,
    pixel_aspect: tuple[int, int] = (1, 1),
) -> Box:
    """The largest crop of exactly ``ratio`` inside ``content``, aimed at ``focal``.

    The ratio is reduced first (``(32, 18)`` plans the same crop as
    ``(16, 9)``), then the crop is ``k*a x k*b`` pixels for the largest whole
    ``k`` that fits the content box, so ``width * b == height * a`` holds
    exactly and the crop never reaches into the bars outside ``content``.

    Placement, per axis: the crop is centred on ``focal`` (to the nearest whole
    pixel), then moved as little as needed to

    1. stay inside ``content``;
    2. hold every face (clipped to ``content``) in full when their union fits
       the crop. When it does not, faces are taken largest first (ties in the
       order given) and each one is kept if it fits together with those
       already kept. If even the largest face alone is bigger than the crop,
       it is the only face considered: the crop holds it whole along an axis
       where it fits and stays within it along one where it does not, showing
       as much of it as possible.

    3. slice no other head: every other face's :func:`head_box` (the face
       with its hair and ears) is either wholly inside the crop or wholly
       outside it, so no sliver of a bystander's head shows at an edge
       (except beside a close-up too large for the crop, placed on its own).
       Among the placements that hold the kept faces, the one nearest the
       aim that cuts the fewest heads wins; so a two-shot too wide for a 2:3
       poster keeps one whole face, never two halves.

    Faces win over ``focal``; :func:`focal_point` aims at the faces anyway.

    ``pixel_aspect`` is the video's sample aspect ratio (width:height of one
    stored pixel; 64:45 for 16:9 PAL). Boxes stay in stored pixels, and the
    crop's stored shape is chosen so that it shows at exactly ``ratio`` on a
    display: a 16:9 crop of a 64:45 frame is 5:4 in stored pixels.

    Raises :class:`ValueError` when ``content`` is empty, the ratio is not
    two positive whole numbers, ``focal`` is not finite, or the content box is
    smaller than ``a x b`` pixels of the reduced ratio (no exact-ratio crop
    exists then, and a crop of the wrong shape would be distorted on the
    canvas).
    """
    x0, y0, x1, y1 = _checked(content, "content")
    wide, tall = _reduced(ratio)
    sample_wide, sample_tall = _reduced(pixel_aspect)
    across, down = _reduced((wide * sample_tall, tall * sample_wide))
    scale = min((x1 - x0) // across, (y1 - y0) // down)
    if scale < 1:
        raise ValueError(
            f"the {x1 - x0}x{y1 - y0} content box is too small for an exact "
            f"{across}:{down} crop, which needs at least {across}x{down} pixels"
        )
    if not (math.isfinite(focal[0]) and math.isfinite(focal[1])):
        raise ValueError(f"the focal point must be finite, got {focal!r}")
    width, height = scale * across, scale * down
    clipped = [box for box in (_clip(face, content) for face in faces) if box is not None]
    kept = _faces_to_keep(clipped, width, height)
    left = _place(focal[0], width, x0, x1, [(box[0], box[2]) for box in kept])
    top = _place(focal[1], height, y0, y1, [(box[1], box[3]) for box in kept])
    others = [
        head
        for head in (_clip(head_box(box), content) for box in clipped if box not in kept)
        if head is not None
    ]
    if kept and not _union_fits(kept, width, height):
        # An overflowing close-up is placed on its own (its eyes matter more than
        # a bystander's hair at the edge).
        others = []
    if others and any(_slices((left, top, left + width, top + height), box) for box in others):
        left, top = _without_slicing((left, top), (width, height), content, kept, others, focal)
    return (left, top, left + width, top + height)


def plan_crops(
    content: Box,
    faces: Sequence[Box] = (),
    salient: tuple[float, float] | None = None,
    canvases: Mapping[str, tuple[int, int]] = CANVASES,
    *,
    pixel_aspect: tuple[int, int] = (1, 1),
) -> dict[str, Box]:
    """One crop per canvas (in the order of ``canvases``), all aimed at one focal point.

    See :func:`focal_point` for the aim and :func:`plan_crop` for the crops;
    raises :class:`ValueError` naming the canvas when the content box is too
    small for it.
    """
    focal = focal_point(content, faces, salient)
    crops: dict[str, Box] = {}
    for name, ratio in canvases.items():
        try:
            crops[name] = plan_crop(content, ratio, focal, faces, pixel_aspect=pixel_aspect)
        except ValueError as error:
            raise ValueError(f"canvas {name!r}: {error}") from None
    return crops


def crop_picture(picture: npt.NDArray[_Scalar], box: Box) -> npt.NDArray[_Scalar]:
    """The ``box`` of an ``(H, W, ...)`` picture, as a view (no pixels are copied).

    Wrap the result in :func:`numpy.ascontiguousarray` for code that needs
    contiguous memory, or copy it to keep it after the frame is released.
    Raises :class:`ValueError` when the box is empty or reaches outside the
    picture, rather than letting slicing quietly return a smaller crop.
    """
    if picture.ndim < 2:
        raise ValueError(f"expected an (H, W, ...) picture, got shape {picture.shape}")
    x0, y0, x1, y1 = _checked(box, "box")
    height, width = picture.shape[:2]
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise ValueError(f"box {box} reaches outside the {width}x{height} picture")
    return picture[y0:y1, x0:x1]


def _checked(box: Box, name: str) -> Box:
    # Detectors hand out numpy integers; plain ints keep the boxes we return
    # JSON-serialisable and the arithmetic exact.
    x0, y0, x1, y1 = (int(value) for value in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"{name} {box} is empty: it needs x0 < x1 and y0 < y1")
    return (x0, y0, x1, y1)


def _clip(box: Box, bounds: Box) -> Box | None:
    # Detector boxes may run past the frame edge, and nothing outside the
    # content box can be shown, so only the visible part counts; a box with
    # nothing visible (or a malformed one) is ignored like a missed detection.
    x0 = max(int(box[0]), bounds[0])
    y0 = max(int(box[1]), bounds[1])
    x1 = min(int(box[2]), bounds[2])
    y1 = min(int(box[3]), bounds[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def _reduced(ratio: tuple[int, int]) -> tuple[int, int]:
    if len(ratio) != 2 or not all(
        isinstance(side, int | np.integer) and not isinstance(side, bool) and side >= 1
        for side in ratio
    ):
        raise ValueError(f"a ratio is two positive whole numbers, got {ratio!r}")
    across, down = int(ratio[0]), int(ratio[1])
    common = math.gcd(across, down)
    return (across // common, down // common)


def _union_fits(boxes: Sequence[Box], width: int, height: int) -> bool:
    return (
        max(box[2] for box in boxes) - min(box[0] for box in boxes) <= width
        and max(box[3] for box in boxes) - min(box[1] for box in boxes) <= height
    )


def _faces_to_keep(faces: Sequence[Box], width: int, height: int) -> list[Box]:
    if not faces:
        return []
    # sorted() is stable, so equal faces keep the caller's order and the
    # choice is deterministic.
    largest, *rest = sorted(faces, key=lambda box: -(box[2] - box[0]) * (box[3] - box[1]))
    if not _union_fits([largest], width, height):
        # An extreme close-up is the subject even when it overflows the crop:
        # part of it beats a bystander's face shown whole.
        return [largest]
    kept = [largest]
    for face in rest:
        if _union_fits([*kept, face], width, height):
            kept.append(face)
    return kept


def _place(centre: float, size: int, low: int, high: int, spans: Sequence[tuple[int, int]]) -> int:
    # Half-up rounding rather than round(): banker's rounding would shift
    # equal half-pixel cases in alternating directions.
    start = math.floor(centre - size / 2 + 0.5)
    earliest, latest = low, high - size
    if spans:
        first = min(span[0] for span in spans)
        last = max(span[1] for span in spans)
        if last - first <= size:
            earliest, latest = max(earliest, last - size), min(latest, first)
        else:
            earliest, latest = max(earliest, first), min(latest, last - size)
    return min(max(start, earliest), latest)


def _slices(crop: Box, face: Box) -> bool:
    """Whether ``crop`` shows part of ``face`` but not all of it."""
    inside_x = min(crop[2], face[2]) - max(crop[0], face[0])
    inside_y = min(crop[3], face[3]) - max(crop[1], face[1])
    if inside_x <= 0 or inside_y <= 0:
        return False
    whole = face[0] >= crop[0] and face[2] <= crop[2] and face[1] >= crop[1] and face[3] <= crop[3]
    return not whole


def _without_slicing(
    start: tuple[int, int],
    size: tuple[int, int],
    content: Box,
    kept: Sequence[Box],
    others: Sequence[Box],
    focal: tuple[float, float],
) -> tuple[int, int]:
    """The crop position nearest ``start`` that holds ``kept`` and cuts the fewest of
    ``others``, trying the positions where a crop edge meets a face edge."""
    width, height = size

    def positions(axis: int, length: int) -> list[int]:
        low, high = content[axis], content[axis + 2] - length
        if kept:
            first = min(box[axis] for box in kept)
            last = max(box[axis + 2] for box in kept)
            if last - first <= length:
                low, high = max(low, last - length), min(high, first)
            else:
                low, high = max(low, first), min(high, last - length)
        if high < low:
            return [start[axis]]
        found = {start[axis], low, high}
        for box in others:
            for edge in (box[axis] - length, box[axis], box[axis + 2] - length, box[axis + 2]):
                if low <= edge <= high:
                    found.add(edge)
        return sorted(found)

    aim_x, aim_y = focal[0] - width / 2, focal[1] - height / 2

    def cost(position: tuple[int, int]) -> tuple[int, float, int, int]:
        crop = (position[0], position[1], position[0] + width, position[1] + height)
        cut = sum(_slices(crop, box) for box in others)
        return (cut, abs(position[0] - aim_x) + abs(position[1] - aim_y), *position)

    return min(
        ((x, y) for x in positions(0, width) for y in positions(1, height)),
        key=cost,
    )
