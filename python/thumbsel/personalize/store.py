"""A live log: impressions and play events in one SQLite file (WAL mode), for `thumbsel serve`.

SQLite because the write pattern is one small insert per request, each of
which must be durable before the answer leaves, from one process: an
embedded database does that with a commit per insert and no server to run.
WAL mode lets :meth:`Store.export` read while requests write, and
``synchronous=FULL`` makes each commit survive a power cut, not only a killed
process. The export format is the impression log's own Parquet
(:data:`~thumbsel.personalize.log.IMPRESSION_SCHEMA`), rewards joined with
the delayed-reward rules, so every existing tool reads a live service's log.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

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

__all__ = ["STORE_VERSION", "Store"]

STORE_VERSION = 1
"""Bumped when the tables change; a store of another version is refused."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS impressions (
    impression_id TEXT PRIMARY KEY,
    time_us INTEGER NOT NULL,
    viewer_id TEXT,
    viewer_context TEXT,
    title_id TEXT NOT NULL,
    candidate_ids TEXT NOT NULL,
    candidate_attributes TEXT NOT NULL,
    candidate_probabilities TEXT NOT NULL,
    chosen_id TEXT NOT NULL,
    propensity REAL NOT NULL,
    policy_name TEXT NOT NULL,
    policy_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plays (
    impression_id TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    minutes REAL
);
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ImpressionLogError("a time without a time zone")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


class Store:
    """Impressions and plays of one service; safe to share between its threads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            # Autocommit: each statement outside an explicit BEGIN is its own transaction.
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('version', ?)", (str(STORE_VERSION),))
            elif row[0] != str(STORE_VERSION):
                raise ImpressionLogError(
                    f"{self.path}: store version {row[0]} is not supported "
                    f"(this thumbsel reads version {STORE_VERSION})"
                )
        except sqlite3.DatabaseError as error:
            raise ImpressionLogError(f"{self.path}: not a thumbsel store ({error})") from None
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
            self._db.execute("INSERT INTO impressions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)

    def add_plays(self, plays: Iterable[tuple[str, datetime, float | None]]) -> int:
        """Record play events (impression id, time, minutes) in one transaction."""
        rows = [(i, _microseconds(t), m) for i, t, m in plays]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT INTO plays VALUES (?,?,?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
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
                    for row in self._db.execute(
                        f"SELECT impression_id FROM impressions WHERE impression_id IN ({marks})",
                        chunk,
                    )
                )
        return found

    def impression(self, impression_id: str) -> Impression | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM impressions WHERE impression_id = ?", (impression_id,)
            ).fetchone()
        return None if row is None else _impression(row)

    def counts(self) -> tuple[int, int]:
        """Impressions and plays held."""
        with self._lock:
            impressions = self._db.execute("SELECT count(*) FROM impressions").fetchone()[0]
            plays = self._db.execute("SELECT count(*) FROM plays").fetchone()[0]
        return int(impressions), int(plays)

    def impressions(self) -> Iterator[Impression]:
        """Every impression, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM impressions ORDER BY time_us, impression_id"
            ).fetchall()
        return (_impression(row) for row in rows)

    def plays_table(self) -> pa.Table:
        with self._lock:
            rows = self._db.execute("SELECT impression_id, time_us, minutes FROM plays").fetchall()
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
