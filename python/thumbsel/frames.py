"""The frame table: one row per decoded frame, and what is needed to read it.

:class:`FrameTable` is the ground floor of the pipeline. ``analyze`` makes
one; shot detection and selection read it; ``frames.parquet`` stores it and
:meth:`FrameTable.read_parquet` brings it back, so a pick can be re-run with
other options without decoding again. It is the one place that knows the
columns' types (from :mod:`thumbsel.columns`), the video they describe and the
file they were measured on.

A table is immutable: its arrays are handed out read-only, and everything
derived from them (the letterbox, say) is computed once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel import _core
from thumbsel.columns import (
    FRAME_COLUMNS,
    HISTOGRAM_BINS,
    PEOPLE_COLUMNS,
    PICK_COLUMNS,
    column,
    frame_schema,
)
from thumbsel.errors import FrameTableError, VideoOpenError
from thumbsel.files import atomic_path
from thumbsel.video import DecodeReport, VideoInfo

__all__ = [
    "COPY_MOTION",
    "FORMAT_VERSION",
    "FrameTable",
    "Letterbox",
    "SourceFile",
    "copies_previous",
]

FORMAT_VERSION = 3
"""Version of the Parquet layout (columns and metadata); bumped when either changes meaning."""

_METADATA_KEY = b"thumbsel"
_HASH_CHUNK = 1 << 20

# A frame counts towards the letterbox estimate only when it is not nearly
# black all over (a fade-out would otherwise report bars covering everything).
_LETTERBOX_MIN_BRIGHTNESS = 0.06
# Bars are what stays black in nearly every frame: the 10th percentile of the
# per-frame bar sizes ignores the few frames whose content runs into the bar
# (subtitles, credits) and the dark scenes that look barred for a moment.
_LETTERBOX_PERCENTILE = 10

Box = tuple[int, int, int, int]
FloatArray = npt.NDArray[np.float64]

COPY_MOTION = 0.0005
"""A frame copies the one before it when its mean luma change is under this and its
pHash is the same: what telecine and frame-rate conversion repeat, decoded."""


def copies_previous(motion: npt.ArrayLike, hash_distance: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Per frame, whether it is a copy of the frame before it (see :data:`COPY_MOTION`)."""
    moved = np.asarray(motion, dtype=np.float64)
    bits = np.asarray(hash_distance, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        copies: npt.NDArray[np.bool_] = (moved < COPY_MOTION) & (bits == 0)
    return copies


@dataclass(frozen=True)
class Letterbox:
    """Black bars around the picture, in pixels of the decoded frame."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def content_box(self, width: int, height: int) -> Box:
        """The picture inside the bars as (x0, y0, x1, y1)."""
        return (self.left, self.top, width - self.right, height - self.bottom)


@dataclass(frozen=True)
class SourceFile:
    """The file a table was measured on: where it was, and what it held."""

    path: str
    size: int
    """Bytes."""
    sha256: str
    """SHA-256 of the whole file, hex: the same bytes give the same frames."""

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> SourceFile:
        """Describe ``path`` (reads the whole file once to hash it)."""
        name = os.fspath(path)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(name, "rb") as handle:
                while chunk := handle.read(_HASH_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise VideoOpenError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise VideoOpenError(f"{name}: is a directory, not a video file") from None
        except OSError as error:
            raise VideoOpenError(f"{name}: cannot be read ({error.strerror or error})") from None
        return cls(path=name, size=size, sha256=digest.hexdigest())

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


class FrameTable:
    """One row per decoded frame (columns: :data:`thumbsel.columns.FRAME_COLUMNS`).

    ``video`` describes the stream, ``source`` the file it came from (None for
    a table built by hand), ``decode`` how completely it decoded.
    """

    def __init__(
        self,
        table: pa.Table,
        *,
        video: VideoInfo,
        source: SourceFile | None = None,
        decode: DecodeReport | None = None,
    ) -> None:
        self._table = _conform(table)
        self._video = video
        self._source = source
        if decode is None:
            decode = DecodeReport(frames_decoded=self._table.num_rows)
        # A private copy: the decoder's report object may still be written to.
        self._decode = DecodeReport.from_dict(decode.to_dict())
        self._arrays: dict[str, npt.NDArray[Any]] = {}

    @classmethod
    def from_columns(
        cls,
        columns: Mapping[str, npt.ArrayLike],
        *,
        video: VideoInfo,
        source: SourceFile | None = None,
        decode: DecodeReport | None = None,
    ) -> FrameTable:
        """A table from one array per column (every column of the registry).

        NaN in a nullable column becomes null; the histogram is ``(N, 64)``.
        The people columns may be left out (no frame was sampled for faces).
        Raises :class:`~thumbsel.errors.FrameTableError` for a missing column or
        arrays of different lengths.
        """
        count = len(np.asarray(next(iter(columns.values())))) if columns else 0
        columns = {
            **{entry.name: np.full(count, np.nan) for entry in PEOPLE_COLUMNS},
            **{name: np.zeros(count, bool) for name in _ALL_DECODED},
            **columns,
        }
        missing = [entry.name for entry in FRAME_COLUMNS if entry.name not in columns]
        if missing:
            raise FrameTableError(f"missing columns: {', '.join(missing)}")
        arrays = [_arrow_array(entry.name, columns[entry.name]) for entry in FRAME_COLUMNS]
        lengths = {len(array) for array in arrays}
        if len(lengths) > 1:
            raise FrameTableError(f"columns have different lengths: {sorted(lengths)}")
        table = pa.Table.from_arrays(arrays, schema=frame_schema())
        return cls(table, video=video, source=source, decode=decode)

    # ------------------------------------------------------------------ access

    @property
    def table(self) -> pa.Table:
        """The rows as an Arrow table (column descriptions in the field metadata)."""
        return self._table

    @property
    def video(self) -> VideoInfo:
        return self._video

    @property
    def source(self) -> SourceFile | None:
        return self._source

    @property
    def decode(self) -> DecodeReport:
        """How completely the video decoded (a copy; changing it changes nothing here)."""
        return DecodeReport.from_dict(self._decode.to_dict())

    @property
    def path(self) -> str:
        """The video's path, or ``""`` for a table built by hand."""
        return self._source.path if self._source is not None else ""

    @property
    def complete(self) -> bool:
        """True when the whole stream decoded without damage."""
        return self._decode.complete

    def __len__(self) -> int:
        return int(self._table.num_rows)

    def __repr__(self) -> str:
        return (
            f"FrameTable({len(self)} frames of {self._video.width}x{self._video.height}"
            f"{', ' + self.path if self.path else ''})"
        )

    def column(self, name: str) -> npt.NDArray[Any]:
        """One column as a read-only numpy array.

        Float columns come as float64 with NaN where a value is null; integer
        columns keep their type (``frame`` int64, hashes uint64, bars int32).
        The histogram is :meth:`histograms`.
        """
        cached = self._arrays.get(name)
        if cached is not None:
            return cached
        entry = column(name)
        if entry.name not in self._table.column_names:
            raise KeyError(f"the frame table has no column {name!r}")
        if entry.dtype == "float32[64]":
            return self.histograms()
        values = self._table.column(name)
        if entry.dtype == "float64":
            array = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        else:
            array = np.asarray(values.to_numpy(zero_copy_only=False))
        array.setflags(write=False)
        self._arrays[name] = array
        return array

    def values(self, name: str) -> FloatArray:
        """A numeric column as float64 (nulls as NaN), whatever its stored type."""
        array = self.column(name)
        if array.dtype == np.float64:
            return array
        converted = array.astype(np.float64)
        converted.setflags(write=False)
        return converted

    @property
    def frame_numbers(self) -> npt.NDArray[np.int64]:
        """The decoded index of each row."""
        return self.column("frame")

    @property
    def times(self) -> FloatArray:
        """The presentation time of each row, seconds."""
        return self.column("time")

    def hashes(self, name: str = "phash") -> npt.NDArray[np.uint64]:
        """A 64-bit hash column (``phash`` or ``dhash``) as uint64."""
        if column(name).dtype != "uint64":
            raise KeyError(f"{name!r} is not a hash column")
        return self.column(name)

    def histograms(self) -> npt.NDArray[np.float32]:
        """The colour histograms as an ``(N, 64)`` float32 array, rows summing to 1."""
        cached = self._arrays.get("histogram")
        if cached is not None:
            return cached
        chunked = self._table.column("histogram").combine_chunks()
        flat = np.asarray(chunked.values.to_numpy(), dtype=np.float32)
        array = flat.reshape(len(self), HISTOGRAM_BINS)
        array.setflags(write=False)
        self._arrays["histogram"] = array
        return array

    @property
    def interpolated(self) -> npt.NDArray[np.bool_]:
        """Rows the fast pass did not decode (their measurements are their neighbours')."""
        return np.asarray(self.column("interpolated"), dtype=bool)

    @property
    def people_sampled(self) -> npt.NDArray[np.bool_]:
        """Rows whose people were looked at (the ``faces`` column is not null)."""
        sampled: npt.NDArray[np.bool_] = ~np.isnan(self.column("faces"))
        return sampled

    @cached_property
    def letterbox(self) -> Letterbox:
        """Bars that stay black across the title (see the module notes)."""
        return self.letterbox_of(np.arange(len(self)))

    def letterbox_of(self, rows: npt.ArrayLike) -> Letterbox:
        """Bars that stay black across ``rows`` (a shot's, say), estimated as for the title.

        A title that mixes a letterboxed sequence with full-frame shots has no
        title-wide bars; each of its shots has its own.
        """
        chosen = np.asarray(rows, dtype=np.int64)
        brightness = self.column("brightness")[chosen]
        lit = chosen[brightness >= _LETTERBOX_MIN_BRIGHTNESS]
        if not len(lit):
            return Letterbox()
        sizes = {}
        for side in ("top", "bottom", "left", "right"):
            values = self.column(f"bar_{side}")[lit]
            sizes[side] = int(np.percentile(values, _LETTERBOX_PERCENTILE, method="lower"))
        limit_v, limit_h = self._video.height // 3, self._video.width // 3
        return Letterbox(
            top=min(sizes["top"], limit_v),
            bottom=min(sizes["bottom"], limit_v),
            left=min(sizes["left"], limit_h),
            right=min(sizes["right"], limit_h),
        )

    def content_box(self, rows: npt.ArrayLike | None = None) -> Box:
        """The picture inside the bars, ``(x0, y0, x1, y1)``: the title's, or those of ``rows``."""
        letterbox = self.letterbox if rows is None else self.letterbox_of(rows)
        return letterbox.content_box(self._video.width, self._video.height)

    # ------------------------------------------------------------------ files

    def metadata(self) -> dict[str, Any]:
        """What is stored beside the rows in Parquet."""
        return {
            "format_version": FORMAT_VERSION,
            "features_version": _core.FEATURES_VERSION,
            "thumbsel_version": _core.__version__,
            "source": self._source.to_dict() if self._source is not None else None,
            "video": self._video.to_dict(),
            "decode": self._decode.to_dict(),
        }

    def to_parquet(
        self,
        target: str | os.PathLike[str],
        *,
        pick_columns: Mapping[str, pa.Array] | None = None,
    ) -> None:
        """Write the table, with :meth:`metadata`, atomically (zstd-compressed).

        ``pick_columns`` adds the columns of :data:`~thumbsel.columns.PICK_COLUMNS`
        (all of them, or none), as a pick's ``frames.parquet`` holds them;
        :meth:`read_parquet` leaves them out again.
        """
        table = self._table
        if pick_columns is not None:
            names = [entry.name for entry in PICK_COLUMNS]
            if sorted(pick_columns) != sorted(names):
                raise ValueError(f"pick columns must be exactly {', '.join(names)}")
            for entry in PICK_COLUMNS:
                array = pa.array(pick_columns[entry.name], entry.arrow_type)
                if len(array) != len(self):
                    raise ValueError(f"{entry.name} has {len(array)} rows, the table {len(self)}")
                table = table.append_column(entry.field(), array)
        metadata = dict(table.schema.metadata or {})
        metadata[_METADATA_KEY] = json.dumps(self.metadata(), sort_keys=True).encode()
        with atomic_path(target) as temporary:
            pq.write_table(table.replace_schema_metadata(metadata), temporary, compression="zstd")

    @classmethod
    def read_parquet(cls, path: str | os.PathLike[str]) -> FrameTable:
        """A table written by :meth:`to_parquet` (or by ``thumbsel analyze``/``pick``).

        Raises :class:`~thumbsel.errors.FrameTableError` with a one-line reason
        when the file is missing, is not a thumbsel frame table, was written by
        a thumbsel whose features or layout differ from this one's, or lacks a
        column.
        """
        name = os.fspath(path)
        try:
            schema = pq.read_schema(name)
        except FileNotFoundError:
            raise FrameTableError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise FrameTableError(f"{name}: is a directory, not a frame table") from None
        except (OSError, pa.ArrowException) as error:
            raise FrameTableError(f"{name}: not a Parquet file ({error})") from None
        raw = (schema.metadata or {}).get(_METADATA_KEY)
        if raw is None:
            raise FrameTableError(f"{name}: not a thumbsel frame table (no thumbsel metadata)")
        try:
            metadata = json.loads(raw)
        except ValueError:
            raise FrameTableError(f"{name}: its thumbsel metadata is not JSON") from None
        _check_versions(name, metadata)
        try:
            video = VideoInfo.from_dict(metadata["video"])
            decode = DecodeReport.from_dict(metadata["decode"])
            source_data = metadata["source"]
            source = SourceFile(**source_data) if source_data is not None else None
        except (KeyError, TypeError) as error:
            raise FrameTableError(f"{name}: damaged thumbsel metadata ({error})") from None
        wanted = [entry.name for entry in FRAME_COLUMNS if entry.name in schema.names]
        missing = [
            entry.name
            for entry in FRAME_COLUMNS
            if entry.name not in schema.names and entry.name not in _ALL_DECODED
        ]
        if missing:
            raise FrameTableError(f"{name}: missing columns {', '.join(missing)}")
        try:
            table = pq.read_table(name, columns=wanted)
        except (OSError, pa.ArrowException) as error:
            raise FrameTableError(f"{name}: cannot be read ({error})") from None
        try:
            return cls(table, video=video, source=source, decode=decode)
        except FrameTableError as error:
            raise FrameTableError(f"{name}: {error}") from None

    def for_video(self, path: str | os.PathLike[str]) -> FrameTable:
        """This table, checked against the video at ``path`` and bound to that path.

        The file must hold the very bytes the table was measured on (its
        SHA-256 is compared; the name may differ, a copy or a move is fine).
        Raises :class:`~thumbsel.errors.FrameTableError` otherwise.
        """
        given = SourceFile.of(path)
        if self._source is None:
            raise FrameTableError("this frame table does not say which video it was measured on")
        if (given.size, given.sha256) != (self._source.size, self._source.sha256):
            raise FrameTableError(
                f"the frame table was measured on another file ({self._source.path}, "
                f"{self._source.size:,} bytes, sha256 {self._source.sha256[:12]}...), "
                f"not {given.path} ({given.size:,} bytes, sha256 {given.sha256[:12]}...)"
            )
        return FrameTable(self._table, video=self._video, source=given, decode=self._decode)


def _check_versions(name: str, metadata: Mapping[str, Any]) -> None:
    written_by = metadata.get("thumbsel_version", "an unknown version")
    rerun = "run `thumbsel analyze` (or a full `thumbsel pick`) on the video again"
    if metadata.get("format_version") != FORMAT_VERSION:
        raise FrameTableError(
            f"{name}: written by thumbsel {written_by} in frame table format "
            f"{metadata.get('format_version')}; thumbsel {_core.__version__} reads format "
            f"{FORMAT_VERSION}: {rerun}"
        )
    if metadata.get("features_version") != _core.FEATURES_VERSION:
        raise FrameTableError(
            f"{name}: measured by thumbsel {written_by}, whose features (version "
            f"{metadata.get('features_version')}) differ from thumbsel {_core.__version__}'s "
            f"(version {_core.FEATURES_VERSION}): {rerun}"
        )


# Tables measured by a full pass (and files written before the fast pass
# existed) may leave this out: every row was then decoded.
_ALL_DECODED = ("interpolated",)


def _conform(table: pa.Table) -> pa.Table:
    """The registry's columns of ``table``, in order, with the registry's fields.

    Other columns (a pick's additions) are left out; missing people columns
    are null (no frame sampled), a missing ``interpolated`` is false; any
    other missing column, or one of another type, is a :class:`FrameTableError`.
    """
    for entry in PEOPLE_COLUMNS:
        if entry.name not in table.column_names:
            table = table.append_column(entry.field(), pa.nulls(table.num_rows, entry.arrow_type))
    for name in _ALL_DECODED:
        if name not in table.column_names:
            default = pa.array(np.zeros(table.num_rows, bool), pa.bool_())
            table = table.append_column(column(name).field(), default)
    missing = [entry.name for entry in FRAME_COLUMNS if entry.name not in table.column_names]
    if missing:
        raise FrameTableError(f"missing columns {', '.join(missing)}")
    arrays = []
    for entry in FRAME_COLUMNS:
        values = table.column(entry.name)
        if not values.type.equals(entry.arrow_type):
            raise FrameTableError(
                f"column {entry.name!r} holds {values.type}, expected {entry.arrow_type}"
            )
        if not entry.nullable and values.null_count:
            raise FrameTableError(f"column {entry.name!r} has {values.null_count} nulls")
        arrays.append(values)
    return pa.Table.from_arrays(arrays, schema=frame_schema())


def _arrow_array(name: str, values: npt.ArrayLike) -> pa.Array:
    entry = column(name)
    if entry.dtype == "float32[64]":
        array = np.asarray(values, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != HISTOGRAM_BINS:
            raise FrameTableError(f"histogram must be (N, {HISTOGRAM_BINS}), got {array.shape}")
        flat = pa.array(np.ascontiguousarray(array).ravel(), pa.float32())
        return pa.FixedSizeListArray.from_arrays(flat, HISTOGRAM_BINS)
    if entry.dtype == "float64":
        floats = np.asarray(values, dtype=np.float64)
        # NaN is a value (a blank frame has no saliency centroid); only the
        # columns that can be null turn it into null.
        return pa.array(floats, pa.float64(), mask=np.isnan(floats) if entry.nullable else None)
    return pa.array(np.asarray(values), entry.arrow_type)
