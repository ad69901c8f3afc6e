"""What viewers do, as events: plays, pauses, seeks, searches, rows browsed.

One row per event, in :data:`EVENT_SCHEMA` (Parquet for files; the service's
store keeps the same fields). Every row names its viewer, the time (with a
zone: ``utc_offset_minutes`` keeps the viewer's local offset, for habits by
hour and weekday), a device class and a coarse region, and one ``kind``:

``play_start`` / ``play_stop``
    Playback of ``title_id`` began or ended at ``position`` seconds.
``pause``
    Paused at ``position``.
``seek``
    Jumped from ``position`` to ``to_position``: back is a rewind (a scene
    watched again), forward a skip.
``complete`` / ``abandon``
    The title was finished, or left for good at ``position``.
``search``
    A search: ``query`` as typed. It is mapped to genres and cast names
    (``interests``) by :func:`minimise` before anything keeps it, and the
    text is dropped.
``browse``
    ``title_id`` was shown in row ``row`` at ``rank``; ``played`` says
    whether the viewer then played it.

Rows are checked on read: a bad row is counted by reason
(:class:`EventReport`) and left out, never silently and never by stopping
the load; a file whose columns are wrong is refused in one line. Writing
refuses bad rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thumbsel.errors import EventLogError
from thumbsel.files import atomic_path

__all__ = [
    "DEVICE_CLASSES",
    "EVENT_KINDS",
    "EVENT_LOG_VERSION",
    "EVENT_SCHEMA",
    "EventBatch",
    "EventReport",
    "check_events",
    "minimise",
    "read_events",
    "read_parquet",
    "write_events",
]

EVENT_LOG_VERSION = "1"
_VERSION_KEY = b"thumbsel.event_log.version"
_TIME = pa.timestamp("us", tz="UTC")

EVENT_KINDS = (
    "play_start",
    "play_stop",
    "pause",
    "seek",
    "complete",
    "abandon",
    "search",
    "browse",
)
DEVICE_CLASSES = ("tv", "mobile", "desktop", "tablet", "other")
"""Device classes: the kind of screen, never a model or an identifier."""

_REGION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
"""A country (ISO 3166-1 alpha-2) or its first-level subdivision (ISO 3166-2): nothing finer."""
MAX_QUERY = 200
MAX_ID = 200
MAX_POSITION = 7 * 24 * 3600.0
"""Seconds into a title; a week bounds any runtime."""
MAX_OFFSET_MINUTES = 14 * 60

EVENT_SCHEMA = pa.schema(
    [
        pa.field("viewer_id", pa.string(), nullable=False),
        pa.field("time", _TIME, nullable=False),
        pa.field("utc_offset_minutes", pa.int16()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("title_id", pa.string()),
        pa.field("position", pa.float64()),
        pa.field("to_position", pa.float64()),
        pa.field("query", pa.string()),
        pa.field("interests", pa.list_(pa.string())),
        pa.field("row", pa.int32()),
        pa.field("rank", pa.int32()),
        pa.field("played", pa.bool_()),
        pa.field("device", pa.string()),
        pa.field("region", pa.string()),
    ]
)
_REQUIRED = ("viewer_id", "time", "kind")


@dataclass
class EventReport:
    """What a load kept, and every row it left out, by reason."""

    rows: int = 0
    kept: int = 0
    bad: dict[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return self.rows - self.kept

    def summary(self) -> str:
        text = f"{self.kept:,} of {self.rows:,} events kept"
        if self.bad:
            reasons = ", ".join(f"{n:,} {reason}" for reason, n in sorted(self.bad.items()))
            text += f" (left out: {reasons})"
        return text

    def add(self, other: EventReport) -> None:
        self.rows += other.rows
        self.kept += other.kept
        for reason, n in other.bad.items():
            self.bad[reason] = self.bad.get(reason, 0) + n


@dataclass(frozen=True)
class EventBatch:
    table: pa.Table
    """The good rows, in :data:`EVENT_SCHEMA`."""
    report: EventReport


def conform(table: pa.Table, label: str = "events") -> pa.Table:
    """``table`` in :data:`EVENT_SCHEMA`: optional columns absent become nulls, times go to UTC."""
    columns = []
    for column_field in EVENT_SCHEMA:
        name = column_field.name
        if name not in table.column_names:
            if name in _REQUIRED:
                raise EventLogError(f"{label} has no column {name!r}")
            columns.append(pa.nulls(table.num_rows, column_field.type))
            continue
        column = table.column(name)
        if pa.types.is_timestamp(column_field.type) and (
            not pa.types.is_timestamp(column.type) or column.type.tz is None
        ):
            raise EventLogError(
                f"{label} column {name!r} must be a timestamp with a time zone, got {column.type}"
            )
        try:
            column = column.cast(column_field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise EventLogError(
                f"{label} column {name!r} is {column.type}, expected {column_field.type}"
            ) from None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def check_events(table: pa.Table, label: str = "events") -> EventBatch:
    """The good rows of ``table`` and a report of the rest (see the module docstring)."""
    table = conform(table, label)
    n = table.num_rows
    kind = table.column("kind")
    checks: list[tuple[str, np.ndarray]] = []

    def boolean(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
        array: np.ndarray = np.asarray(
            pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool
        )
        return array

    def is_kind(*names: str) -> np.ndarray:
        return boolean(pc.is_in(kind, value_set=pa.array(names, pa.string())))

    def text_ok(name: str, limit: int) -> np.ndarray:
        values = table.column(name)
        length = np.asarray(
            pc.fill_null(pc.utf8_length(values), 0).to_numpy(zero_copy_only=False), dtype=np.int64
        )
        ok: np.ndarray = (length > 0) & (length <= limit)
        return ok

    def present(name: str) -> np.ndarray:
        return np.asarray(pc.is_valid(table.column(name)).to_numpy(zero_copy_only=False))

    known = is_kind(*EVENT_KINDS)
    checks.append(("without a viewer id", ~text_ok("viewer_id", MAX_ID)))
    checks.append(("of an unknown kind", ~known))
    needs_title = known & ~is_kind("search")
    checks.append(("without a title id", needs_title & ~text_ok("title_id", MAX_ID)))
    position = _numbers(table.column("position"))
    good_position = np.isfinite(position) & (position >= 0) & (position <= MAX_POSITION)
    needs_position = is_kind("play_start", "play_stop", "pause", "seek", "abandon")
    checks.append(("without a position", needs_position & ~good_position))
    target = _numbers(table.column("to_position"))
    good_target = np.isfinite(target) & (target >= 0) & (target <= MAX_POSITION)
    checks.append(("seeks without a target", is_kind("seek") & ~good_target))
    interests = present("interests")
    checks.append(
        ("searches without a query", is_kind("search") & ~text_ok("query", MAX_QUERY) & ~interests)
    )
    row = _numbers(table.column("row"))
    rank = _numbers(table.column("rank"))
    placed = np.isfinite(row) & np.isfinite(rank) & (row >= 0) & (rank >= 0)
    checks.append(("browses without a row and rank", is_kind("browse") & ~placed))
    device = table.column("device")
    known_device = boolean(pc.is_in(device, value_set=pa.array(DEVICE_CLASSES, pa.string())))
    checks.append(("of an unknown device class", present("device") & ~known_device))
    coarse = boolean(pc.match_substring_regex(table.column("region"), f"^{_REGION.pattern}$"))
    checks.append(("with a region finer than a country or province", present("region") & ~coarse))
    offset = _numbers(table.column("utc_offset_minutes"))
    checks.append(("with a time offset out of range", np.abs(offset) > MAX_OFFSET_MINUTES))
    bad = np.zeros(n, dtype=bool)
    report = EventReport(rows=n)
    for reason, failed in checks:
        # Each bad row is counted once, under the first reason it fails.
        first = failed & ~bad
        if first.any():
            report.bad[reason] = int(first.sum())
        bad |= failed
    report.kept = int(n - bad.sum())
    return EventBatch(table.filter(pa.array(~bad)), report)


def minimise(events: pa.Table, interests_of: Callable[[str], list[str]]) -> pa.Table:
    """Searches as the interests their text maps to (``interests_of``), the text dropped."""
    queries = events.column("query")
    if queries.null_count == events.num_rows:
        return events
    mapped = events.column("interests").to_pylist()
    # Searches repeat: each distinct text is mapped once.
    seen: dict[str, list[str]] = {}
    for i, query in enumerate(queries.to_pylist()):
        if query is not None:
            if query not in seen:
                seen[query] = interests_of(query)
            mapped[i] = sorted(set(mapped[i] or []) | set(seen[query]))
    events = events.set_column(
        EVENT_SCHEMA.get_field_index("interests"),
        EVENT_SCHEMA.field("interests"),
        pa.array(mapped, pa.list_(pa.string())),
    )
    return events.set_column(
        EVENT_SCHEMA.get_field_index("query"),
        EVENT_SCHEMA.field("query"),
        pa.nulls(events.num_rows, pa.string()),
    )


def read_parquet(path: Path, what: str) -> pa.Table:
    """A Parquet file of the behaviour side (events, profiles, moments), or a one-line error."""
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise EventLogError(f"{path}: no such {what}") from None
    except (OSError, pa.ArrowException) as error:
        raise EventLogError(f"{path}: not a Parquet {what} ({error})") from None


def read_events(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> EventBatch:
    """Read and check one event file or several (their good rows in order, one report)."""
    files = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    tables, report = [], EventReport()
    for path in files:
        table = read_parquet(path, "event file")
        version = (table.schema.metadata or {}).get(_VERSION_KEY)
        if version is not None and version.decode() != EVENT_LOG_VERSION:
            raise EventLogError(
                f"{path}: event log version {version.decode()!r} is not supported "
                f"(this thumbsel reads version {EVENT_LOG_VERSION})"
            )
        batch = check_events(table, str(path))
        tables.append(batch.table)
        report.add(batch.report)
    table = pa.concat_tables(tables) if tables else EVENT_SCHEMA.empty_table()
    return EventBatch(table, report)


def write_events(path: str | os.PathLike[str], events: pa.Table) -> Path:
    """Check and write events as Parquet, atomically; a bad row refuses the whole write."""
    batch = check_events(events)
    if batch.report.rejected:
        raise EventLogError(f"not written: {batch.report.summary()}")
    table = batch.table.replace_schema_metadata({_VERSION_KEY: EVENT_LOG_VERSION.encode()})
    path = Path(path)
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")
    return path
