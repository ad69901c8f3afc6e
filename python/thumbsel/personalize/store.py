"""A live log for `thumbsel serve`: impressions and plays, behaviour events, profiles, opt-outs.

By default one SQLite file in WAL mode. SQLite because the write pattern is
one small insert per request, each of which must be durable before the
answer leaves, from one process: an embedded database does that with a
commit per insert and no server to run. WAL mode lets :meth:`Store.export`
read while requests write, and ``synchronous=FULL`` makes each commit
survive a power cut, not only a killed process.

A ``postgresql://`` URL instead keeps the same tables in PostgreSQL (through
psycopg, the ``postgres`` extra), for a platform that already runs one, or
several service processes that must share one log. The SQL is the same for
both: only the parameter marks and the connection differ.

Behaviour events are kept minimised (a search as the interests it named)
and folded into their viewer's profile as they arrive, so the retention
rule can delete them later without losing what they taught. The viewer's
rights are methods here: :meth:`Store.opt_out`, :meth:`Store.forget`
(erasure, down to the file's bytes on SQLite), :meth:`Store.viewer_data`
and :meth:`Store.apply_retention` (``PRIVACY.md``).

The export format is the impression log's own Parquet
(:data:`~thumbsel.personalize.log.IMPRESSION_SCHEMA`), rewards joined with
the delayed-reward rules, so every existing tool reads a live service's log.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from thumbsel.errors import ImpressionLogError
from thumbsel.personalize.events import EVENT_SCHEMA, EventReport, check_events, minimise
from thumbsel.personalize.log import (
    PLAY_SCHEMA,
    Impression,
    JoinReport,
    RewardJoin,
    impressions_to_table,
    join_rewards,
    write_impressions,
)
from thumbsel.personalize.profiles import (
    Profile,
    Profiles,
    Titles,
    profile_context,
    update_profiles,
)

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "MAX_RETENTION_DAYS",
    "STORE_VERSION",
    "Store",
    "is_database_url",
]

STORE_VERSION = 1
"""Bumped when the tables change; a store of another version is refused (tables added
since are made when an older store opens)."""
DEFAULT_RETENTION_DAYS = 90.0
"""Raw behaviour events older than this are deleted; their profiles keep the aggregates."""
MAX_RETENTION_DAYS = 3650.0

# BIGINT and DOUBLE PRECISION: PostgreSQL's INTEGER and REAL are 32 bits,
# too few for microseconds since 1970 and for a propensity; SQLite takes the
# same names as 64-bit integer and float.
_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS impressions (
    impression_id TEXT PRIMARY KEY,
    time_us BIGINT NOT NULL,
    viewer_id TEXT,
    viewer_context TEXT,
    title_id TEXT NOT NULL,
    candidate_ids TEXT NOT NULL,
    candidate_attributes TEXT NOT NULL,
    candidate_probabilities TEXT NOT NULL,
    chosen_id TEXT NOT NULL,
    propensity DOUBLE PRECISION NOT NULL,
    policy_name TEXT NOT NULL,
    policy_version TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS plays (
    impression_id TEXT NOT NULL,
    time_us BIGINT NOT NULL,
    minutes DOUBLE PRECISION
)""",
    # Behaviour events as kept: minimised (a search as the interests it named,
    # never its text), deleted after the retention window.
    """CREATE TABLE IF NOT EXISTS events (
    viewer_id TEXT NOT NULL,
    time_us BIGINT NOT NULL,
    utc_offset_minutes INTEGER,
    kind TEXT NOT NULL,
    title_id TEXT,
    position DOUBLE PRECISION,
    to_position DOUBLE PRECISION,
    interests TEXT,
    browse_row INTEGER,
    browse_rank INTEGER,
    played INTEGER,
    device TEXT,
    region TEXT
)""",
    "CREATE INDEX IF NOT EXISTS events_by_viewer ON events (viewer_id)",
    "CREATE INDEX IF NOT EXISTS events_by_time ON events (time_us)",
    "CREATE INDEX IF NOT EXISTS events_by_title ON events (title_id)",
    "CREATE INDEX IF NOT EXISTS impressions_by_viewer ON impressions (viewer_id)",
    """CREATE TABLE IF NOT EXISTS profiles (
    viewer_id TEXT PRIMARY KEY,
    as_of_us BIGINT NOT NULL,
    half_life_days DOUBLE PRECISION NOT NULL,
    profile TEXT NOT NULL
)""",
    "CREATE TABLE IF NOT EXISTS opt_outs (viewer_id TEXT PRIMARY KEY, time_us BIGINT NOT NULL)",
)
_EVENT_COLUMNS = (
    "viewer_id, time_us, utc_offset_minutes, kind, title_id, position, to_position, "
    "interests, browse_row, browse_rank, played, device, region"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_EVENTS = EVENT_SCHEMA.empty_table()
_DATABASE_SCHEMES = ("postgresql", "postgres")


def is_database_url(location: str | os.PathLike[str]) -> bool:
    """Whether a store location names a PostgreSQL database rather than a file."""
    return isinstance(location, str) and urlsplit(location).scheme in _DATABASE_SCHEMES


def _shown(location: str) -> str:
    """A database URL fit for a message: the password never printed."""
    parts = urlsplit(location)
    if parts.password is None:
        return location
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _microseconds(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ImpressionLogError("a time without a time zone")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


class _Database(Protocol):
    """What the store needs of a connection: SQL written with ``?`` marks."""

    row_lock: str
    """What locks a selected row until the transaction ends ("" where one writer is all)."""

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def run(self, sql: str, parameters: Sequence[Any] = ()) -> None: ...

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class _SQLite:
    row_lock = ""

    def __init__(self, path: Path) -> None:
        # Autocommit: each statement outside an explicit BEGIN is its own transaction.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # A deleted row's bytes are overwritten, not left in free pages, so an
        # erased viewer is gone from the file itself (with the WAL checkpointed).
        self._db.execute("PRAGMA secure_delete=ON")

    def flush(self) -> None:
        """Copy the WAL into the database and empty it (after an erasure)."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, parameters).fetchall()

    def run(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        self._db.execute(sql, parameters)

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class _PostgreSQL:
    row_lock = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        import psycopg

        # Autocommit, as with SQLite: a statement outside transaction() commits
        # alone, so an impression is durable when log() returns.
        self._db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        self._db.execute("SET synchronous_commit TO on")

    @staticmethod
    def _marks(sql: str) -> str:
        return sql.replace("?", "%s")

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(self._marks(sql), parameters).fetchall()

    def run(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        self._db.execute(self._marks(sql), parameters)

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(self._marks(sql), rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._db.transaction():
            yield

    def flush(self) -> None:
        """Reclaim the erased rows' space (the bytes go when PostgreSQL reuses it)."""
        for table in ("events", "profiles", "impressions", "opt_outs"):
            self._db.execute(f"VACUUM {table}")

    def close(self) -> None:
        self._db.close()


def _database_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
    try:
        import psycopg
    except ImportError:
        return errors
    return (*errors, psycopg.Error)


class Store:
    """Impressions and plays of one service; safe to share between its threads.

    ``location`` is a SQLite file (made if absent) or a ``postgresql://`` URL.
    """

    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.location = str(location) if is_database_url(location) else Path(location)
        self.shown = _shown(self.location) if isinstance(self.location, str) else str(location)
        self._errors = _database_errors()
        try:
            self._db: _Database = (
                _PostgreSQL(self.location)
                if isinstance(self.location, str)
                else _SQLite(self.location)
            )
        except ImportError:
            raise ImpressionLogError(
                "a PostgreSQL store needs its extra: pip install 'thumbsel[postgres]'"
            ) from None
        except self._errors as error:
            problem = "cannot connect" if isinstance(self.location, str) else "not a thumbsel store"
            raise ImpressionLogError(f"{self.shown}: {problem} ({_first(error)})") from None
        try:
            with self._db.transaction():
                for table in _TABLES:
                    self._db.run(table)
                row = self._db.rows("SELECT value FROM meta WHERE key='version'")
                if not row:
                    self._db.run("INSERT INTO meta VALUES ('version', ?)", (str(STORE_VERSION),))
            if row and row[0][0] != str(STORE_VERSION):
                raise ImpressionLogError(
                    f"{self.shown}: store version {row[0][0]} is not supported "
                    f"(this thumbsel reads version {STORE_VERSION})"
                )
        except self._errors as error:
            self._db.close()
            raise ImpressionLogError(
                f"{self.shown}: not a thumbsel store ({_first(error)})"
            ) from None
        except ImpressionLogError:
            self._db.close()
            raise
        self._lock = threading.Lock()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def log(self, impression: Impression) -> None:
        """Record one impression; committed (durable) when this returns."""
        context = impression.viewer_context
        row = (
            impression.impression_id,
            _microseconds(impression.time),
            impression.viewer_id,
            None if context is None else json.dumps(dict(context)),
            impression.title_id,
            json.dumps(list(impression.candidate_ids)),
            json.dumps([dict(a) for a in impression.candidate_attributes]),
            json.dumps([float(p) for p in impression.candidate_probabilities]),
            impression.chosen_id,
            float(impression.propensity),
            impression.policy_name,
            impression.policy_version,
        )
        with self._lock:
            self._db.run("INSERT INTO impressions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)

    def add_plays(self, plays: Iterable[tuple[str, datetime, float | None]]) -> int:
        """Record play events (impression id, time, minutes) in one transaction."""
        rows = [(i, _microseconds(t), m) for i, t, m in plays]
        with self._lock, self._db.transaction():
            self._db.run_many("INSERT INTO plays VALUES (?,?,?)", rows)
        return len(rows)

    def known(self, impression_ids: Iterable[str]) -> set[str]:
        """Which of these impression ids the store holds."""
        wanted = list(dict.fromkeys(impression_ids))
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in self._db.rows(
                        f"SELECT impression_id FROM impressions WHERE impression_id IN ({marks})",
                        chunk,
                    )
                )
        return found

    def impression(self, impression_id: str) -> Impression | None:
        with self._lock:
            rows = self._db.rows(
                "SELECT * FROM impressions WHERE impression_id = ?", (impression_id,)
            )
        return _impression(rows[0]) if rows else None

    def counts(self) -> tuple[int, int]:
        """Impressions and plays held."""
        with self._lock:
            impressions = self._db.rows("SELECT count(*) FROM impressions")[0][0]
            plays = self._db.rows("SELECT count(*) FROM plays")[0][0]
        return int(impressions), int(plays)

    def impressions(self) -> Iterator[Impression]:
        """Every impression, oldest first."""
        with self._lock:
            rows = self._db.rows("SELECT * FROM impressions ORDER BY time_us, impression_id")
        return (_impression(row) for row in rows)

    def plays_table(self) -> pa.Table:
        with self._lock:
            rows = self._db.rows("SELECT impression_id, time_us, minutes FROM plays")
        columns: list[tuple[object, ...]] = list(zip(*rows, strict=True)) if rows else [(), (), ()]
        return pa.table(
            {
                "impression_id": pa.array(columns[0], pa.string()),
                "time": pa.array(columns[1], pa.int64()).cast(PLAY_SCHEMA.field("time").type),
                "minutes": pa.array(columns[2], pa.float64()),
            },
            schema=PLAY_SCHEMA,
        )

    def rewarded(self, *, timeout: timedelta, as_of: datetime | None = None) -> RewardJoin:
        """The impressions as an impression log, rewards joined from the plays."""
        table = impressions_to_table(self.impressions())
        return join_rewards(table, self.plays_table(), timeout=timeout, as_of=as_of)

    def export(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: timedelta,
        as_of: datetime | None = None,
    ) -> JoinReport:
        """Write the impressions, rewards joined from the plays, as an impression log."""
        joined = self.rewarded(timeout=timeout, as_of=as_of)
        write_impressions(path, joined.table)
        return joined.report

    # -- behaviour, profiles and the viewer's rights ---------------------------------

    def opted_out(self, viewer_id: str) -> bool:
        with self._lock:
            return bool(self._db.rows("SELECT 1 FROM opt_outs WHERE viewer_id = ?", (viewer_id,)))

    def opt_out(self, viewer_id: str, *, now: datetime) -> dict[str, int]:
        """No more profile or personal features for the viewer; their events and profile go now."""
        with self._lock, self._db.transaction():
            removed = self._remove_behaviour(viewer_id)
            self._db.run("DELETE FROM opt_outs WHERE viewer_id = ?", (viewer_id,))
            self._db.run("INSERT INTO opt_outs VALUES (?, ?)", (viewer_id, _microseconds(now)))
        return removed

    def opt_in(self, viewer_id: str) -> bool:
        """Personalise the viewer again (from their next events on); whether they had opted out."""
        with self._lock, self._db.transaction():
            was = bool(self._db.rows("SELECT 1 FROM opt_outs WHERE viewer_id = ?", (viewer_id,)))
            self._db.run("DELETE FROM opt_outs WHERE viewer_id = ?", (viewer_id,))
        return was

    def _remove_behaviour(self, viewer_id: str) -> dict[str, int]:
        counts = {
            "events": self._db.rows(
                "SELECT count(*) FROM events WHERE viewer_id = ?", (viewer_id,)
            )[0][0],
            "profiles": self._db.rows(
                "SELECT count(*) FROM profiles WHERE viewer_id = ?", (viewer_id,)
            )[0][0],
        }
        self._db.run("DELETE FROM events WHERE viewer_id = ?", (viewer_id,))
        self._db.run("DELETE FROM profiles WHERE viewer_id = ?", (viewer_id,))
        return {k: int(v) for k, v in counts.items()}

    def forget(self, viewer_id: str) -> dict[str, int]:
        """Erase the viewer: events, profile and opt-out deleted; impressions unlinked.

        An impression stays (its propensity and reward are what every estimate
        needs) with its viewer id and viewer features removed, so nothing in
        it leads back to the viewer, nor to their other impressions.
        """
        with self._lock:
            with self._db.transaction():
                counts = self._remove_behaviour(viewer_id)
                counts["impressions"] = int(
                    self._db.rows(
                        "SELECT count(*) FROM impressions WHERE viewer_id = ?", (viewer_id,)
                    )[0][0]
                )
                self._db.run(
                    "UPDATE impressions SET viewer_id = NULL, viewer_context = NULL "
                    "WHERE viewer_id = ?",
                    (viewer_id,),
                )
                self._db.run("DELETE FROM opt_outs WHERE viewer_id = ?", (viewer_id,))
            self._db.flush()
        return counts

    def add_events(
        self, events: pa.Table, titles: Titles, *, now: datetime
    ) -> tuple[EventReport, int]:
        """Keep behaviour events (minimised) and fold them into their viewers' profiles.

        Rows that fail the checks, lie in the future, or belong to a viewer who
        opted out are left out and counted. Returns the report and the number
        of profiles updated.
        """
        batch = check_events(events)
        report = batch.report
        table = minimise(batch.table, titles.interests_of)
        now_us = _microseconds(now)
        # One transaction: an opt-out cannot slip in between the check and the insert.
        with self._lock, self._db.transaction():
            viewers = sorted(set(table.column("viewer_id").to_pylist()))
            out = {
                v
                for v in viewers
                if self._db.rows("SELECT 1 FROM opt_outs WHERE viewer_id = ?", (v,))
            }
            mask = []
            times = table.column("time").cast(pa.int64()).to_pylist()
            for viewer, time_us in zip(table.column("viewer_id").to_pylist(), times, strict=True):
                if viewer in out:
                    reason = "of viewers who opted out"
                elif time_us > now_us:
                    reason = "in the future"
                else:
                    mask.append(True)
                    continue
                report.bad[reason] = report.bad.get(reason, 0) + 1
                mask.append(False)
            table = table.filter(pa.array(mask, pa.bool_()))
            report.kept = table.num_rows
            rows = [
                (
                    r["viewer_id"],
                    _microseconds(r["time"]),
                    r["utc_offset_minutes"],
                    r["kind"],
                    r["title_id"],
                    r["position"],
                    r["to_position"],
                    None if r["interests"] is None else json.dumps(r["interests"]),
                    r["row"],
                    r["rank"],
                    None if r["played"] is None else int(r["played"]),
                    r["device"],
                    r["region"],
                )
                for r in table.to_pylist()
            ]
            by_viewer: dict[str, list[int]] = {}
            for index, viewer in enumerate(table.column("viewer_id").to_pylist()):
                by_viewer.setdefault(viewer, []).append(index)
            if rows:
                self._db.run_many(
                    f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({','.join('?' * 13)})", rows
                )
            for viewer, indices in by_viewer.items():
                previous = self._profiles_of(viewer, for_update=True)
                updated = update_profiles(previous, table.take(indices), titles, as_of=now)
                self._save_profile(updated, viewer)
        return report, len(by_viewer)

    def _profiles_of(self, viewer_id: str, *, for_update: bool = False) -> Profiles | None:
        # On PostgreSQL, services sharing the database update one viewer's profile in turn.
        lock = self._db.row_lock if for_update else ""
        rows = self._db.rows(
            "SELECT as_of_us, half_life_days, profile FROM profiles WHERE viewer_id = ?" + lock,
            (viewer_id,),
        )
        if not rows:
            return None
        as_of_us, half_life, text = rows[0]
        profile = Profile(**json.loads(text))
        return Profiles(_moment(int(as_of_us)), float(half_life), {viewer_id: profile})

    def _save_profile(self, profiles: Profiles, viewer_id: str) -> None:
        profile = profiles.by_viewer[viewer_id]
        assert profiles.as_of is not None
        self._db.run("DELETE FROM profiles WHERE viewer_id = ?", (viewer_id,))
        self._db.run(
            "INSERT INTO profiles VALUES (?, ?, ?, ?)",
            (
                viewer_id,
                _microseconds(profiles.as_of),
                profiles.half_life_days,
                json.dumps(vars(profile)),
            ),
        )

    def profile(self, viewer_id: str, *, now: datetime) -> Profile | None:
        """The viewer's profile decayed to ``now`` (None: none, or opted out)."""
        with self._lock:
            kept = self._profiles_of(viewer_id)
        if kept is None:
            return None
        assert kept.as_of is not None
        moved = update_profiles(kept, _NO_EVENTS, Titles(), as_of=max(now, kept.as_of))
        return moved.by_viewer[viewer_id]

    def apply_retention(self, window: timedelta, *, now: datetime) -> int:
        """Delete raw events older than ``window`` (their profiles already hold them)."""
        cutoff = _microseconds(now - window)
        with self._lock:
            old = int(
                self._db.rows("SELECT count(*) FROM events WHERE time_us < ?", (cutoff,))[0][0]
            )
            if old:
                self._db.run("DELETE FROM events WHERE time_us < ?", (cutoff,))
        return old

    def events_table(
        self, *, title_id: str | None = None, viewer_id: str | None = None
    ) -> pa.Table:
        """Kept events (of one title, or one viewer) in the event schema, oldest first."""
        where, parameters = [], []
        for column, value in (("title_id", title_id), ("viewer_id", viewer_id)):
            if value is not None:
                where.append(f"{column} = ?")
                parameters.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            rows = self._db.rows(
                f"SELECT {_EVENT_COLUMNS} FROM events{clause} ORDER BY time_us", parameters
            )
        records = [
            {
                "viewer_id": r[0],
                "time": _moment(int(r[1])),
                "utc_offset_minutes": r[2],
                "kind": r[3],
                "title_id": r[4],
                "position": r[5],
                "to_position": r[6],
                "interests": None if r[7] is None else json.loads(r[7]),
                "row": r[8],
                "rank": r[9],
                "played": None if r[10] is None else bool(r[10]),
                "device": r[11],
                "region": r[12],
            }
            for r in rows
        ]
        return pa.Table.from_pylist(records, schema=EVENT_SCHEMA)

    def viewer_data(self, viewer_id: str, *, now: datetime) -> dict[str, Any]:
        """Everything kept about one viewer, as one JSON-ready document."""
        profile = self.profile(viewer_id, now=now)
        with self._lock:
            impressions = self._db.rows(
                "SELECT impression_id, time_us, title_id, chosen_id, propensity, policy_version, "
                "viewer_context FROM impressions WHERE viewer_id = ? ORDER BY time_us",
                (viewer_id,),
            )
        events = self.events_table(viewer_id=viewer_id).to_pylist()
        return {
            "viewer_id": viewer_id,
            "opted_out": self.opted_out(viewer_id),
            "profile": None
            if profile is None
            else {"sums": profile.sums, "features": profile_context(profile)},
            "events": [e | {"time": e["time"].isoformat()} for e in events],
            "impressions": [
                {
                    "impression_id": r[0],
                    "time": _moment(int(r[1])).isoformat(),
                    "title_id": r[2],
                    "chosen_id": r[3],
                    "probability": r[4],
                    "policy_version": r[5],
                    "viewer_context": None if r[6] is None else json.loads(r[6]),
                }
                for r in impressions
            ],
        }

    def behaviour_counts(self) -> tuple[int, int, int]:
        """Events, profiles and opt-outs held."""
        with self._lock:
            return tuple(  # type: ignore[return-value]
                int(self._db.rows(f"SELECT count(*) FROM {table}")[0][0])
                for table in ("events", "profiles", "opt_outs")
            )


def _first(error: BaseException) -> str:
    """The first line of a driver's message (PostgreSQL's run to several)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _impression(row: tuple[object, ...]) -> Impression:
    (
        impression_id,
        time_us,
        viewer_id,
        context,
        title_id,
        candidate_ids,
        attributes,
        probabilities,
        chosen_id,
        propensity,
        policy_name,
        policy_version,
    ) = row
    return Impression(
        impression_id=str(impression_id),
        time=_moment(int(time_us)),  # type: ignore[call-overload]
        viewer_id=None if viewer_id is None else str(viewer_id),
        viewer_context=None if context is None else json.loads(str(context)),
        title_id=str(title_id),
        candidate_ids=json.loads(str(candidate_ids)),
        candidate_attributes=json.loads(str(attributes)),
        candidate_probabilities=json.loads(str(probabilities)),
        chosen_id=str(chosen_id),
        propensity=float(propensity),  # type: ignore[arg-type]
        policy_name=str(policy_name),
        policy_version=str(policy_version),
    )
