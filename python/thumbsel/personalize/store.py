"""A live log: impressions and play events, for `thumbsel serve`.

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
from thumbsel.personalize.log import (
    PLAY_SCHEMA,
    Impression,
    JoinReport,
    RewardJoin,
    impressions_to_table,
    join_rewards,
    write_impressions,
)

__all__ = ["STORE_VERSION", "Store", "is_database_url"]

STORE_VERSION = 1
"""Bumped when the tables change; a store of another version is refused."""

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
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def run(self, sql: str, parameters: Sequence[Any] = ()) -> None: ...

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


class _SQLite:
    def __init__(self, path: Path) -> None:
        # Autocommit: each statement outside an explicit BEGIN is its own transaction.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")

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
