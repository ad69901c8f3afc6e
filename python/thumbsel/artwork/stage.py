"""The artwork stage: what each chosen frame offers a designer.

Runs after selection, on the chosen frames only (so it costs the same for an
hour of video as for a minute): it decodes each candidate again at full
resolution, finds its faces (with the ``faces`` extra), tags it, and plans its
crops for every canvas. The results are frozen records; :mod:`thumbsel.outputs`
writes them and never computes any of this itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from thumbsel.artwork.crops import CANVASES, Box, head_box, plan_crops
from thumbsel.artwork.tags import CHARACTER_TAG, LEAD_TAG, artwork_tags
from thumbsel.cast import Cast
from thumbsel.decode import DEFAULT_MAX_PIXELS, open_video
from thumbsel.errors import ThumbselError
from thumbsel.frames import FrameTable
from thumbsel.people import faces as face_detection
from thumbsel.people.faces import Face, iou
from thumbsel.people.tracks import SAME_TRACK_IOU
from thumbsel.select import Candidate, Selection
from thumbsel.shots import ShotDetection
from thumbsel.video import VideoInfo

__all__ = [
    "Artwork",
    "ArtworkFace",
    "Crop",
    "character_portraits",
    "describe_artwork",
    "faces_available",
]

RGBArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ArtworkFace:
    """A face on a candidate, placed on the picture inside the bars."""

    face: Face
    """What the detector and the face mesh found (box in source pixels, eyes, smile, pose...)."""
    relative_size: float
    """The box's share of the picture inside the bars, 0..1."""
    center: tuple[float, float]
    """The box's centre as fractions (0..1) of the picture inside the bars."""
    cut: bool
    """The frame's edge or a letterbox bar cuts the face."""
    character: str | None = None
    """Which of the title's characters this is (:mod:`thumbsel.cast`), when known."""

    def to_dict(self) -> dict[str, Any]:
        return self.face.to_dict() | {
            "character": self.character,
            "cut": self.cut,
            "relative_size": round(self.relative_size, 6),
            "center": [round(self.center[0], 6), round(self.center[1], 6)],
        }


@dataclass(frozen=True)
class Crop:
    """The part of a candidate to show on one canvas."""

    canvas: str
    """A key of :data:`thumbsel.artwork.crops.CANVASES` (``16:9``, ``2:3``, ...)."""
    box: Box
    """``(x0, y0, x1, y1)`` in source pixels, inside the bars, of the canvas's exact ratio."""


@dataclass(frozen=True)
class Artwork:
    """One candidate with what the artwork stage found on it."""

    candidate: Candidate
    picture: RGBArray
    """The frame as stored (after rotation), ``(H, W, 3)`` uint8 RGB (read-only): the grid of
    every box here. :attr:`display_size` is how large it shows."""
    content: Box
    """The picture inside the bars of the candidate's own shot, ``(x0, y0, x1, y1)``."""
    display_size: tuple[int, int]
    """``(width, height)`` on a display: wider than ``picture`` for anamorphic video
    (:attr:`thumbsel.VideoInfo.sample_aspect`); the written images have this shape."""
    faces: tuple[ArtworkFace, ...] | None
    """Faces, largest first; None when face detection did not run."""
    tags: tuple[str, ...]
    """In the order of :data:`thumbsel.artwork.tags.TAG_DEFINITIONS`."""
    crops: tuple[Crop, ...]
    """One per canvas, in the order of :data:`~thumbsel.artwork.crops.CANVASES`; none
    when the picture is smaller than a canvas's smallest exact crop."""


def faces_available() -> bool:
    """Whether faces can be detected (the ``faces`` extra is installed)."""
    return face_detection.faces_available()


def describe_artwork(
    frames: FrameTable,
    shots: ShotDetection,
    selection: Selection,
    *,
    faces: bool | None = None,
    cast: Cast | None = None,
) -> tuple[Artwork, ...]:
    """Faces, tags and crops of every candidate of ``selection``, in rank order.

    The pictures are decoded again from ``frames.path``. Crops stay inside the
    bars of each candidate's own shot (``shots`` is what ``selection`` was
    made from), slice no face, and show at their canvas's ratio on a display. ``faces=None`` finds
    faces when the ``faces`` extra is installed, ``True`` insists on it
    (:class:`~thumbsel.errors.FacesUnavailableError` without it), ``False``
    leaves faces out. Raises :class:`~thumbsel.errors.ThumbselError` when a
    chosen frame cannot be decoded again.
    """
    candidates = selection.candidates
    if faces is None:
        faces = face_detection.faces_available()
    elif faces:
        face_detection.require_faces()
    if not frames.path:
        raise ThumbselError("the frame table does not say which video to read the frames from")
    # The table's frames were measured already: their size is within the budget
    # the analysis was given, whatever that was.
    budget = max(DEFAULT_MAX_PIXELS, frames.video.width * frames.video.height)
    with open_video(frames.path, max_pixels=budget) as source:
        pictures = source.read_rgb(
            [c.frame for c in candidates],
            [c.time for c in candidates],
            seek=not frames.decode.time_jumps,
        )
    described = []
    row_of_frame = {int(number): row for row, number in enumerate(frames.frame_numbers)}
    for candidate in candidates:
        picture = pictures.get(candidate.frame)
        if picture is None:
            raise ThumbselError(
                f"{frames.path}: frame {candidate.frame} could not be read back for its image"
            )
        picture.setflags(write=False)
        content = frames.content_box(np.flatnonzero(shots.shot_of_frame == candidate.shot))
        sighted = cast.faces_at(row_of_frame[candidate.frame]) if cast is not None else []
        lead = cast.lead.label if cast is not None and cast.lead is not None else None
        described.append(
            _describe(
                candidate, picture, content, frames.video, detect=faces, sighted=sighted, lead=lead
            )
        )
    return tuple(described)


def _describe(
    candidate: Candidate,
    picture: RGBArray,
    content: Box,
    video: VideoInfo,
    *,
    detect: bool,
    sighted: Sequence[tuple[Box, str | None]] = (),
    lead: str | None = None,
) -> Artwork:
    found = face_detection.detect_faces(picture) if detect else None
    boxes: list[Box] | None = None if found is None else [face.box for face in found]
    x0, y0, x1, y1 = content
    width, height = max(1, x1 - x0), max(1, y1 - y0)
    area = width * height
    placed: tuple[ArtworkFace, ...] | None = None
    if found is not None:
        placed = tuple(
            ArtworkFace(
                face=face,
                relative_size=(face.box[2] - face.box[0]) * (face.box[3] - face.box[1]) / area,
                center=(
                    ((face.box[0] + face.box[2]) / 2 - x0) / width,
                    ((face.box[1] + face.box[3]) / 2 - y0) / height,
                ),
                # The detector sees the whole frame; the bars cut as the frame does.
                cut=face.cut or _touches(face.box, content),
                character=_character_of(face.box, sighted),
            )
            for face in found
        )
    tags = artwork_tags(candidate.features, found, area)
    # The same detector saw this frame during the pass: its sightings say who is who.
    shown = dict.fromkeys(f.character for f in placed or () if f.character is not None)
    tags += [f"{CHARACTER_TAG}{label}" for label in shown]
    if lead is not None and lead in shown:
        tags.append(LEAD_TAG)
    x, y = candidate.features.get("saliency_x"), candidate.features.get("saliency_y")
    focus = (x, y) if x is not None and y is not None else None
    try:
        planned = plan_crops(content, boxes or (), focus, pixel_aspect=video.sample_aspect)
    except ValueError:
        planned = {}  # a picture smaller than a canvas's smallest exact crop
    crops = tuple(Crop(canvas, planned[canvas]) for canvas in CANVASES if canvas in planned)
    return Artwork(
        candidate=candidate,
        picture=picture,
        content=content,
        display_size=video.display_size,
        faces=placed,
        tags=tuple(tags),
        crops=crops,
    )


def character_portraits(frames: FrameTable, cast: Cast) -> dict[str, list[RGBArray]]:
    """Each character's gallery (:attr:`~thumbsel.cast.Character.gallery`: the best
    face of each of its shots, best first), head and hair included, read back."""
    wanted = {row for character in cast.characters for row, _ in character.gallery}
    if not wanted or not frames.path:
        return {}
    budget = max(DEFAULT_MAX_PIXELS, frames.video.width * frames.video.height)
    rows = sorted(wanted)
    with open_video(frames.path, max_pixels=budget) as source:
        pictures = source.read_rgb(
            [int(frames.frame_numbers[r]) for r in rows],
            [float(frames.times[r]) for r in rows],
            seek=not frames.decode.time_jumps,
        )
    portraits: dict[str, list[RGBArray]] = {}
    for character in cast.characters:
        faces = portraits.setdefault(character.id, [])
        for row, box in character.gallery:
            picture = pictures.get(int(frames.frame_numbers[row]))
            if picture is None:
                continue
            height, width = picture.shape[:2]
            x0, y0, x1, y1 = head_box(box)
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
            if x1 > x0 and y1 > y0:
                faces.append(np.ascontiguousarray(picture[y0:y1, x0:x1]))
    return portraits


def _character_of(box: Box, sighted: Sequence[tuple[Box, str | None]]) -> str | None:
    overlaps = [(iou(box, other), label) for other, label in sighted]
    overlap, label = max(overlaps, key=lambda item: item[0], default=(0.0, None))
    return label if overlap >= SAME_TRACK_IOU else None


def _touches(box: Box, content: Box) -> bool:
    """Whether a face box reaches into the bars around the picture."""
    return bool(
        (content[0] > 0 and box[0] < content[0])
        or (content[1] > 0 and box[1] < content[1])
        or (box[2] > content[2])
        or (box[3] > content[3])
    )
