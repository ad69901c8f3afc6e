"""A title's characters: the faces of every shot, clustered by identity, ranked.

The people stage tracked each face through its shot and embedded the best
view of each track (:mod:`thumbsel.people.tracks`): one observation per
person per shot. Here the tracks are clustered by average linkage on the
Euclidean distance of their embeddings, cut at :attr:`CastOptions.distance`
(measured on annotated footage: ``benches/README.md``, section 12), so the
number of characters is whatever the title has. A cluster seen in fewer
than :attr:`CastOptions.min_shots` shots and for less than
:attr:`CastOptions.min_seconds` is an extra, kept apart from the cast.

Prominence, the order of the cast (``c1`` is the lead): seconds on screen
(per shot, the share of its sampled frames showing the character times the
shot's length), up to 1.5 times for a face that is usually half the frame
high or more, plus a quarter second for each frontal close-up. Screen time
leads: on the cast episode a 36-degree three-quarter face on screen for 8 s
must outrank a frontal close-up on screen for 5. Each part is kept in
``characters.json``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from thumbsel.frames import FrameTable
from thumbsel.people.faces import iou
from thumbsel.people.identity import EMBEDDING_SIZE
from thumbsel.people.tracks import SAME_TRACK_IOU
from thumbsel.shots import ShotDetection

__all__ = ["GALLERY_FACES", "Cast", "CastOptions", "Character", "cluster", "find_cast"]

FloatArray = npt.NDArray[np.float64]
Box = tuple[int, int, int, int]

GALLERY_FACES = 6
"""Faces per character in ``characters.json`` and the report: one per shot, best first."""
_CLOSEUP_HEIGHT = 0.2
"""A face at least this share of the frame height, turned at most
:data:`_FRONTAL_YAW` degrees, is a frontal close-up."""
_FRONTAL_YAW = 30.0


@dataclass(frozen=True)
class CastOptions:
    """How faces become characters."""

    distance: float = 0.55
    """Tracks closer than this (mean embedding distance, average linkage) are one
    person. dlib suggests 0.6 on LFW. On 234 annotated faces of 5 people
    (``benches/cast_threshold.py``) two people are never closer than 0.52;
    clustering them stays exact (pairwise precision 1.0) up to 0.60, and recall
    reaches 0.90 at 0.55: a margin of 0.05 below where people begin to merge."""
    min_shots: int = 2
    min_seconds: float = 3.0
    """A cluster seen in ``min_shots`` shots, or for ``min_seconds``, is in the cast;
    smaller ones are extras."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.distance) and 0.1 <= self.distance <= 1.2):
            raise ValueError(f"the cast distance must be within 0.1..1.2, got {self.distance!r}")
        if not 1 <= self.min_shots <= 1000:
            raise ValueError(f"min_shots must be within 1..1000, got {self.min_shots!r}")
        if not (math.isfinite(self.min_seconds) and 0 <= self.min_seconds <= 3600):
            raise ValueError(f"min_seconds must be within 0..3600, got {self.min_seconds!r}")


@dataclass(frozen=True)
class Character:
    """One person of the title's cast."""

    id: str
    """``c1``, ``c2``, ... in prominence order (or the id a series cast gave them)."""
    name: str | None
    """From a reference gallery or a series cast, when one matched."""
    shots: tuple[int, ...]
    seconds: float
    """Seconds on screen (see the module notes)."""
    faces: int
    """Sightings: faces on sampled frames."""
    closeups: int
    face_height: float
    """Median face height, a share of the frame height."""
    prominence: float
    best_row: int
    """The table row of the character's best face (largest, most frontal, eyes open)."""
    best_box: Box
    embedding: npt.NDArray[np.float32] = field(repr=False)
    gallery: tuple[tuple[int, Box], ...] = ()
    """(row, box) of the character's best face in each shot it is in, best first
    (the first is :attr:`best_row`), at most :data:`GALLERY_FACES`."""
    """The mean of its tracks' embeddings: what another title is matched against."""

    @property
    def label(self) -> str:
        """What tags call the character: its name when it has one, else its id."""
        return self.name or self.id

    def to_dict(self, frames: FrameTable, *, embedding: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "prominence": round(self.prominence, 3),
            "seconds": round(self.seconds, 3),
            "shots": list(self.shots),
            "faces": self.faces,
            "closeups": self.closeups,
            "face_height": round(self.face_height, 4),
            "best_face": {
                "frame": int(frames.frame_numbers[self.best_row]),
                "time": round(float(frames.times[self.best_row]), 3),
                "box": list(self.best_box),
            },
            "gallery": [
                {
                    "frame": int(frames.frame_numbers[row]),
                    "time": round(float(frames.times[row]), 3),
                    "box": list(box),
                }
                for row, box in self.gallery
            ],
        }
        if embedding:
            data["embedding"] = [round(float(v), 6) for v in self.embedding]
        return data


@dataclass(frozen=True)
class Cast:
    """The characters of one title, and which of them each sighted face is."""

    characters: tuple[Character, ...]
    """Prominence order: the lead first."""
    sightings: pa.Table
    character_of_sighting: tuple[str | None, ...]
    """Per sighting row: the character's label, or None (an extra, or a face too
    small or turned away to be told)."""
    extras: int
    """Clusters kept apart from the cast."""
    options: CastOptions = CastOptions()

    @property
    def lead(self) -> Character | None:
        return self.characters[0] if self.characters else None

    def character(self, label: str) -> Character | None:
        """The character with this label or id."""
        return next((c for c in self.characters if label in (c.label, c.id)), None)

    def faces_at(self, row: int) -> list[tuple[Box, str | None]]:
        """The faces sighted on table row ``row``, largest first, with their characters."""
        sightings_of_row, boxes = self._index
        return [
            (_box_of_row(boxes[index]), self.character_of_sighting[index])
            for index in sightings_of_row.get(row, ())
        ]

    def main_character(self, row: int) -> str | None:
        """The character of the largest face on ``row``, if it is one of the cast."""
        faces = self.faces_at(row)
        return faces[0][1] if faces else None

    @functools.cached_property
    def _index(self) -> tuple[dict[int, list[int]], npt.NDArray[np.int64]]:
        """Sightings by table row, and every sighting's box, read from Arrow once."""
        by_row: dict[int, list[int]] = {}
        for index, row in enumerate(self.sightings.column("frame").to_pylist()):
            by_row.setdefault(int(row), []).append(index)
        return by_row, _boxes(self.sightings)


def cluster(embeddings: npt.NDArray[np.float32], distance: float) -> npt.NDArray[np.int64]:
    """Average-linkage clusters of ``embeddings`` cut at ``distance``: a label per row,
    numbered by first appearance (deterministic)."""
    count = len(embeddings)
    if count == 0:
        return np.zeros(0, np.int64)
    points = embeddings.astype(np.float64)
    gaps = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(gaps, np.inf)
    sizes = np.ones(count)
    alive = np.ones(count, bool)
    members = [[i] for i in range(count)]
    while alive.sum() > 1:
        # Merged-away clusters' rows and columns are infinite: never the nearest.
        flat = int(np.argmin(gaps))
        a, b = divmod(flat, count)
        if gaps[a, b] >= distance:
            break
        a, b = min(a, b), max(a, b)
        # Average linkage: the merged cluster's distance to each other one is the
        # size-weighted mean of its parts' distances.
        merged = (gaps[a] * sizes[a] + gaps[b] * sizes[b]) / (sizes[a] + sizes[b])
        gaps[a], gaps[:, a] = merged, merged
        gaps[a, a] = np.inf
        gaps[b], gaps[:, b] = np.inf, np.inf
        sizes[a] += sizes[b]
        alive[b] = False
        members[a] += members[b]
        members[b] = []
    labels = np.empty(count, np.int64)
    groups = sorted((sorted(m) for m in members if m), key=lambda m: m[0])
    for number, group in enumerate(groups):
        labels[group] = number
    return labels


def find_cast(
    frames: FrameTable,
    shots: ShotDetection,
    sightings: pa.Table,
    options: CastOptions | None = None,
) -> Cast:
    """Characters of the title from the people stage's sightings (see the module notes)."""
    options = options or CastOptions()
    count = sightings.num_rows
    rows = np.asarray(sightings.column("frame").to_numpy(), np.int64)
    if count and (rows.min() < 0 or rows.max() >= len(frames)):
        raise ValueError("the sightings were made on another frame table")
    tracks = np.asarray(sightings.column("track").to_numpy(), np.int64)
    best = np.asarray(sightings.column("best").to_numpy(zero_copy_only=False), bool)
    best_rows = np.flatnonzero(best & (tracks >= 0))
    vectors = np.asarray(
        [sightings.column("embedding")[int(i)].as_py() for i in best_rows], np.float32
    ).reshape(-1, EMBEDDING_SIZE)
    # One shot is one observation of a person: tracks of one shot in the same
    # place (a track broken by a sudden move) are joined before clustering.
    boxes = _boxes(sightings)
    observation = _observations(boxes[best_rows], shots.shot_of_frame[rows[best_rows]])
    joined = np.asarray(
        [vectors[observation == o].mean(axis=0) for o in range(int(observation.max()) + 1)]
        if len(observation)
        else np.zeros((0, EMBEDDING_SIZE)),
        np.float32,
    )
    labels = cluster(joined, options.distance)[observation] if len(observation) else observation
    cluster_of_track = {
        int(tracks[i]): int(label) for i, label in zip(best_rows, labels, strict=True)
    }
    cluster_of_sighting = np.array([cluster_of_track.get(int(t), -1) for t in tracks], np.int64)

    height = frames.video.height
    share = (boxes[:, 3] - boxes[:, 1]) / max(height, 1)
    yaw = np.asarray(sightings.column("yaw").to_numpy(), np.float64)
    closed = np.asarray(sightings.column("eyes_closed").to_numpy(zero_copy_only=False), bool)
    shot_of_sighting = shots.shot_of_frame[rows] if count else np.zeros(0, np.int64)
    sampled_rows_of_shot: dict[int, set[int]] = {}
    for row, shot in zip(rows.tolist(), shot_of_sighting.tolist(), strict=True):
        sampled_rows_of_shot.setdefault(int(shot), set()).add(int(row))
    samples_of_shot = _samples_per_shot(frames, shots)

    found: list[dict[str, Any]] = []
    extras = 0
    for number in range(int(labels.max()) + 1 if len(labels) else 0):
        mine = np.flatnonzero(cluster_of_sighting == number)
        shot_list = sorted({int(s) for s in shot_of_sighting[mine]})
        seconds = 0.0
        for shot_index in shot_list:
            shown = {int(r) for r in rows[mine] if shots.shot_of_frame[r] == shot_index}
            looked = max(samples_of_shot.get(shot_index, 0), len(sampled_rows_of_shot[shot_index]))
            shot = shots.shots[shot_index]
            seconds += len(shown) / looked * (shot.end_time - shot.start_time)
        if len(shot_list) < options.min_shots and seconds < options.min_seconds:
            extras += 1
            continue
        closeups = int(
            ((share[mine] >= _CLOSEUP_HEIGHT) & (np.abs(yaw[mine]) <= _FRONTAL_YAW)).sum()
        )
        median_height = float(np.median(share[mine]))
        quality = (
            share[mine]
            * np.maximum(0.1, np.cos(np.radians(yaw[mine])))
            * np.where(closed[mine], 0.5, 1.0)
        )
        best_sighting = int(mine[int(np.argmax(quality))])
        best_per_shot: dict[int, tuple[float, int]] = {}
        for value, index in zip(quality.tolist(), mine.tolist(), strict=True):
            shot_index = int(shot_of_sighting[index])
            if value > best_per_shot.get(shot_index, (-1.0, 0))[0]:
                best_per_shot[shot_index] = (value, index)
        chosen = sorted(best_per_shot.values(), key=lambda item: (-item[0], item[1]))
        gallery = tuple(
            (int(rows[index]), _box_of_row(boxes[index])) for _, index in chosen[:GALLERY_FACES]
        )
        members = labels == number
        found.append(
            {
                "number": number,
                "shots": tuple(shot_list),
                "seconds": seconds,
                "faces": len(mine),
                "closeups": closeups,
                "face_height": median_height,
                "prominence": seconds * (1.0 + 0.5 * min(1.0, 2.0 * median_height))
                + 0.25 * closeups,
                "best_row": int(rows[best_sighting]),
                "best_box": _box_of_row(boxes[best_sighting]),
                "embedding": vectors[members].mean(axis=0).astype(np.float32),
                "gallery": gallery,
                "first": int(rows[mine].min()),
            }
        )
    found.sort(key=lambda c: (-c["prominence"], c["first"]))
    characters = []
    label_of_cluster: dict[int, str] = {}
    for place, data in enumerate(found, start=1):
        label_of_cluster[data.pop("number")] = f"c{place}"
        data.pop("first")
        characters.append(Character(id=f"c{place}", name=None, **data))
    return Cast(
        characters=tuple(characters),
        sightings=sightings,
        character_of_sighting=tuple(label_of_cluster.get(int(c)) for c in cluster_of_sighting),
        extras=extras,
        options=options,
    )


def _observations(
    best_boxes: npt.NDArray[np.int64], shot_of_best: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """An observation number per embedded track: tracks of one shot whose best boxes
    overlap by ``SAME_TRACK_IOU`` share one."""
    boxes = [_box_of_row(box) for box in best_boxes]
    number = np.arange(len(boxes), dtype=np.int64)
    for a in range(len(boxes)):
        for b in range(a):
            if shot_of_best[a] == shot_of_best[b] and iou(boxes[a], boxes[b]) >= SAME_TRACK_IOU:
                number[number == number[a]] = number[b]
                break
    _, renumbered = np.unique(number, return_inverse=True)
    return np.asarray(renumbered, np.int64)


def _boxes(sightings: pa.Table) -> npt.NDArray[np.int64]:
    """``(n, 4)`` boxes of the sightings: x0, y0, x1, y1."""
    return np.stack(
        [np.asarray(sightings.column(n).to_numpy(), np.int64) for n in ("x0", "y0", "x1", "y1")],
        axis=1,
    ).reshape(-1, 4)


def _box_of_row(values: npt.NDArray[np.int64]) -> Box:
    x0, y0, x1, y1 = (int(v) for v in values)
    return (x0, y0, x1, y1)


def _samples_per_shot(frames: FrameTable, shots: ShotDetection) -> dict[int, int]:
    """Frames the people stage looked at, per shot."""
    counts = np.bincount(shots.shot_of_frame[frames.people_sampled], minlength=len(shots.shots))
    return {index: int(value) for index, value in enumerate(counts)}
