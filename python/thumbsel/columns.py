"""The column registry: every column of the per-frame table, declared once.

A column is declared where its values are made, and only there:

* ``frame``, ``time`` and ``interpolated`` come from the decoder (declared below);
* the measurements come from the Rust core, which declares them in
  ``rust/core/src/columns.rs`` and hands the list over as ``_core.COLUMNS``;
* the people columns come from the face models on a sample of frames, in
  the same pass (declared below; see :mod:`thumbsel.people.sample`); null on
  the frames that were not sampled, and on every frame when faces were off;
* ``shot``, ``in_transition``, ``score`` and ``rejected`` are what a pick adds
  (declared below; written to the pick's ``frames.parquet``).

From this registry come the Arrow schema of the frame table, the column
descriptions stored in the Parquet file, the check of the README's table and
the check of the ``FrameColumns`` type in the core's stub.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from thumbsel import _core

__all__ = [
    "CORE_COLUMNS",
    "DECODE_COLUMNS",
    "FRAME_COLUMNS",
    "HISTOGRAM_BINS",
    "PEOPLE_COLUMNS",
    "PICK_COLUMNS",
    "Column",
    "column",
    "frame_schema",
    "pick_schema",
]

Source = Literal["decode", "core", "people", "pick"]
Dtype = Literal["int64", "float64", "uint64", "int32", "float32[64]", "bool", "string"]

HISTOGRAM_BINS: int = _core.HISTOGRAM_BINS
"""The colour histogram is a 4x4x4 RGB cube: bin = 16*(R//64) + 4*(G//64) + B//64."""


@dataclass(frozen=True)
class Column:
    """One column of the per-frame table."""

    name: str
    dtype: Dtype
    unit: str
    """What the numbers are counted in (``""`` when that says nothing more)."""
    description: str
    nullable: bool
    """True when some rows have no value (the first frame of a change signal, say)."""
    source: Source

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.dtype]

    def field(self) -> pa.Field:
        """The Arrow field, with the description and unit in its metadata."""
        metadata = {"description": self.description}
        if self.unit:
            metadata["unit"] = self.unit
        return pa.field(self.name, self.arrow_type, nullable=self.nullable, metadata=metadata)


_ARROW_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(),
    "int32": pa.int32(),
    "uint64": pa.uint64(),
    "float64": pa.float64(),
    "float32[64]": pa.list_(pa.float32(), HISTOGRAM_BINS),
    "bool": pa.bool_(),
    "string": pa.string(),
}

DECODE_COLUMNS: tuple[Column, ...] = (
    Column("frame", "int64", "", "decoded frame index, from 0", False, "decode"),
    Column("time", "float64", "s", "presentation time from the stream start", False, "decode"),
    Column(
        "interpolated",
        "bool",
        "",
        "the fast pass did not decode the frame: its measurements are its neighbours'",
        False,
        "decode",
    ),
)

CORE_COLUMNS: tuple[Column, ...] = tuple(
    Column(name, dtype, unit, description, nullable, "core")
    for name, dtype, unit, description, nullable in _core.COLUMNS
)
"""The measurements, in the order the core computes them."""


def _people(name: str, unit: str, description: str) -> Column:
    return Column(name, "float64", unit, description, True, "people")


PEOPLE_COLUMNS: tuple[Column, ...] = (
    _people("faces", "", "faces found on the frame (null: the frame was not sampled)"),
    _people("face_height", "0..1", "the main (largest) face's height over the frame's"),
    _people("face_x", "0..1", "the main face's centre, across the frame"),
    _people("face_y", "0..1", "the main face's centre, down the frame"),
    _people("face_sharpness", "", "the main face's own sharpness (Laplacian variance at 64x64)"),
    _people("face_eyes", "", "the main face's eye aspect ratio (open about 0.25-0.35)"),
    _people("eyes_closed", "", "faces at least half the main face's height whose eyes are closed"),
    _people("face_smile", "0..1", "the main face's smile score"),
    _people("face_yaw", "deg", "how far the main face is turned from the camera (+: to the right)"),
    _people("face_cut", "", "1 when the frame's edge cuts the main face, else 0"),
)
"""What the face models found on the sampled frames; the ``face_*`` columns are
null where no face was found."""

FRAME_COLUMNS: tuple[Column, ...] = DECODE_COLUMNS + CORE_COLUMNS + PEOPLE_COLUMNS
"""Every column of a frame table (``analyze``'s output), in order."""

PICK_COLUMNS: tuple[Column, ...] = (
    Column("shot", "int32", "", "index of the shot the frame belongs to", False, "pick"),
    Column(
        "in_transition",
        "bool",
        "",
        "inside or next to a cut, fade or dissolve",
        False,
        "pick",
    ),
    Column(
        "score", "float64", "0..1", "quality score (weighted mean of the signals)", False, "pick"
    ),
    Column(
        "rejected",
        "string",
        "",
        "the filter that ruled the frame out; null when it was eligible",
        True,
        "pick",
    ),
)
"""What a pick adds to each row of its ``frames.parquet``."""

_BY_NAME = {column.name: column for column in FRAME_COLUMNS + PICK_COLUMNS}


def column(name: str) -> Column:
    """The registry entry of ``name``; ``KeyError`` names the known columns otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no column {name!r}; the columns are {', '.join(_BY_NAME)}") from None


def _schema(columns: Iterable[Column]) -> pa.Schema:
    return pa.schema([entry.field() for entry in columns])


def frame_schema() -> pa.Schema:
    """The Arrow schema of a frame table."""
    return _schema(FRAME_COLUMNS)


def pick_schema() -> pa.Schema:
    """The Arrow schema of a pick's ``frames.parquet``: the frame table plus the pick columns."""
    return _schema(FRAME_COLUMNS + PICK_COLUMNS)
