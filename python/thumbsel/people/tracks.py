"""Faces followed from sample to sample, and one identity embedding per track.

Embedding a face costs 25-60 ms, finding it about 40 ms a frame, so the cast
cannot afford an embedding for every face the sampler sees. Within one run
of samples without a new picture between them (a shot, roughly), a face
that stays where it was (boxes overlapping by :data:`SAME_TRACK_IOU`) is the
same person: one **track**. Every face on a sampled frame is a **sighting**;
each track keeps the aligned chip of its best sighting (largest, most
frontal) and embeds only that, when the track ends. One shot is then one
observation of each person in it, whatever its length.

The result is a table, one row per sighting (:data:`SIGHTING_SCHEMA`), which
``pick`` keeps as ``faces.parquet``: the embedding is filled in on each
track's best row only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel.errors import FrameTableError
from thumbsel.files import atomic_path
from thumbsel.people.faces import Face, iou
from thumbsel.people.identity import (
    EMBEDDING_SIZE,
    MIN_FACE_PIXELS,
    Chip,
    IdentityModel,
    PendingEmbeddings,
)

__all__ = [
    "SAME_TRACK_IOU",
    "SIGHTING_SCHEMA",
    "Tracker",
    "empty_sightings",
    "iou",
    "read_sightings",
]

SAME_TRACK_IOU = 0.3
"""Boxes on consecutive samples of one run overlapping this much are one person."""
_MAX_YAW = 60.0
"""Faces turned further than this are sighted but not embedded: a profile's
embedding lies far from the same person's frontal one."""

SIGHTING_SCHEMA = pa.schema(
    [
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("face", pa.int32(), nullable=False),
        pa.field("x0", pa.int32(), nullable=False),
        pa.field("y0", pa.int32(), nullable=False),
        pa.field("x1", pa.int32(), nullable=False),
        pa.field("y1", pa.int32(), nullable=False),
        pa.field("yaw", pa.float32(), nullable=False),
        pa.field("sharpness", pa.float32(), nullable=False),
        pa.field("eyes_closed", pa.bool_(), nullable=False),
        pa.field("smile", pa.float32(), nullable=False),
        pa.field("cut", pa.bool_(), nullable=False),
        pa.field("track", pa.int32(), nullable=False),
        pa.field("best", pa.bool_(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32(), EMBEDDING_SIZE)),
    ],
    metadata={
        "frame": "table row of the sampled frame",
        "face": "rank of the face in its frame, largest first",
        "track": "track id (-1: too small, cut or turned away to be embedded)",
        "best": "the track's best sighting: the one embedded",
    },
)


def empty_sightings() -> pa.Table:
    return SIGHTING_SCHEMA.empty_table()


def _quality(face: Face) -> float:
    return face.size * max(0.1, math.cos(math.radians(face.yaw))) * (0.7 if face.eyes_closed else 1)


Box = tuple[int, int, int, int]
Resolve = Callable[[list[tuple[int, int, Box]]], list[npt.NDArray[np.float32]]]
"""Embeddings of faces given as (row, rank in the frame, box), without their pictures."""


@dataclass
class _Track:
    index: int
    box: Box
    best_sighting: int
    quality: float
    chip: Chip | None
    best_face: tuple[int, int, Box] | None = None


@dataclass
class Tracker:
    """Runs in the sampler's worker thread, one sampled frame at a time, in order.

    Given ``resolve`` instead of a ``model``, it replays tracking over faces
    already found (a stitch of segments, :mod:`thumbsel.segments`): no
    pictures, and each track's best face is embedded by ``resolve``.
    """

    model: IdentityModel | None
    resolve: Resolve | None = None
    _open: list[_Track] = field(default_factory=list)
    _tracks: int = 0
    _rows: list[dict[str, object]] = field(default_factory=list)
    _embeddings: dict[int, npt.NDArray[np.float32]] = field(default_factory=dict)
    _pending: list[tuple[list[int], PendingEmbeddings]] = field(default_factory=list)
    """Best sightings of ended tracks whose embeddings are still being computed."""
    embedded: int = 0
    _last_row: int = -1

    def see(
        self,
        row: int,
        picture: npt.NDArray[np.uint8] | None,
        faces: list[Face],
        *,
        last_new_picture: int,
    ) -> None:
        """Record the faces of the sampled frame ``row``. A new picture since the last
        sample (``last_new_picture``: the latest row unlike the one before it; a cut,
        even one inside a sampling window) ends every track: the next face in the
        same place may be someone else."""
        if last_new_picture > self._last_row:
            self.end_tracks()
        self._last_row = row
        claimed: set[int] = set()
        for rank, face in enumerate(faces):
            track = -1
            if face.size >= MIN_FACE_PIXELS and not face.cut and abs(face.yaw) <= _MAX_YAW:
                track = self._follow(face, picture, claimed, len(self._rows), (row, rank))
            x0, y0, x1, y1 = face.box
            self._rows.append(
                {
                    "frame": row,
                    "face": rank,
                    "x0": x0,
                    "y0": y0,
                    "x1": x1,
                    "y1": y1,
                    "yaw": face.yaw,
                    "sharpness": face.sharpness,
                    "eyes_closed": face.eyes_closed,
                    "smile": face.smiling,
                    "cut": face.cut,
                    "track": track,
                }
            )

    def _follow(
        self,
        face: Face,
        picture: npt.NDArray[np.uint8] | None,
        claimed: set[int],
        sighting: int,
        place: tuple[int, int],
    ) -> int:
        overlaps = [
            (iou(track.box, face.box), track) for track in self._open if track.index not in claimed
        ]
        overlap, track = max(overlaps, key=lambda item: item[0], default=(0.0, None))
        quality = _quality(face)
        if track is None or overlap < SAME_TRACK_IOU:
            track = _Track(self._tracks, face.box, sighting, -1.0, None)
            self._tracks += 1
            self._open.append(track)
        claimed.add(track.index)
        track.box = face.box
        if quality > track.quality:
            track.quality = quality
            track.best_sighting = sighting
            track.best_face = (*place, face.box)
            if self.model is not None and picture is not None:
                track.chip = self.model.chip(picture, face.box)
        return track.index

    def end_tracks(self) -> None:
        """Embed the best chip of every open track (the result is collected by
        :meth:`table`), and close them."""
        if self.model is not None:
            ending = [track for track in self._open if track.chip is not None]
            chips = [track.chip for track in ending if track.chip is not None]
            if chips:
                sightings = [track.best_sighting for track in ending]
                self._pending.append((sightings, self.model.embed_later(chips)))
        else:
            ending = [track for track in self._open if track.best_face is not None]
            faces = [track.best_face for track in ending if track.best_face is not None]
            if faces and self.resolve is None:
                raise ValueError("a tracker without a model needs resolve")
            vectors = self.resolve(faces) if faces and self.resolve is not None else []
            for track, vector in zip(ending, vectors, strict=True):
                self._embeddings[track.best_sighting] = vector
        for track in ending:
            track.chip = None
        self.embedded += len(ending)
        self._open = []

    def table(self) -> pa.Table:
        """Every sighting so far, embeddings on the tracks' best rows (ends open tracks)."""
        self.end_tracks()
        for sightings, pending in self._pending:
            for sighting, vector in zip(sightings, pending.result(), strict=True):
                self._embeddings[sighting] = vector
        self._pending = []
        columns: dict[str, list[object]] = {name: [] for name in SIGHTING_SCHEMA.names}
        for sighting, values in enumerate(self._rows):
            for name, value in values.items():
                columns[name].append(value)
            vector = self._embeddings.get(sighting)
            columns["best"].append(vector is not None)
            columns["embedding"].append(None if vector is None else vector.tolist())
        return pa.table(columns, schema=SIGHTING_SCHEMA)


def read_sightings(path: Path) -> pa.Table | None:
    """The sightings a pick kept in ``faces.parquet``; None when there is no such file,
    or it was written without embeddings (``--no-embeddings``), so the cast cannot be
    found again from it."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise FrameTableError(f"{path}: not a readable faces table ({error})") from None
    if "embedding" not in table.column_names:
        return None
    try:
        return table.select(SIGHTING_SCHEMA.names).cast(SIGHTING_SCHEMA)
    except (KeyError, pa.ArrowException) as error:
        raise FrameTableError(f"{path}: not a faces table of this thumbsel ({error})") from None


def sightings_path(frames_path: str | os.PathLike[str]) -> Path:
    """Where the sightings of the frame table at ``frames_path`` are kept:
    ``faces.parquet`` beside a pick's ``frames.parquet``, else ``<name>.faces.parquet``."""
    path = Path(frames_path)
    if path.name == "frames.parquet":
        return path.with_name("faces.parquet")
    return path.with_name(f"{path.stem}.faces.parquet")


def write_sightings(table: pa.Table, path: str | os.PathLike[str], *, embeddings: bool) -> None:
    """Write sightings atomically; ``embeddings=False`` leaves the biometrics out."""
    if not embeddings and "embedding" in table.column_names:
        table = table.drop_columns(["embedding"])
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")
