"""The impression log, and the join of plays that arrive after the impression.

One row per impression: who saw which candidates, which one was shown, with
what probability, by which policy, and (once known) the reward. The log is
what every later step reads: training (:meth:`.policies.Policy.partial_fit`),
off-policy evaluation (:func:`.evaluate.evaluate` via :func:`logged_feedback`)
and audits. It is kept as Parquet with :data:`IMPRESSION_SCHEMA`, checked on
every read and write.

Plays arrive later than impressions, sometimes twice, sometimes for
impressions the log never saw. :func:`join_rewards` gives an impression the
first play inside ``[time, time + timeout]``; an impression whose window
closed without one earns 0; one whose window is still open (at ``as_of``)
stays unrewarded (null), so a policy is never taught that a play that is
still coming was a miss. Every play that does not count is counted in the
report, by reason, instead of stopping the join.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, NoReturn

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thumbsel.errors import ImpressionLogError, PersonalizeError
from thumbsel.files import atomic_path
from thumbsel.personalize.evaluate import LoggedFeedback
from thumbsel.personalize.features import FeatureSpace

__all__ = [
    "DEFAULT_PLAY_TIMEOUT",
    "IMPRESSION_LOG_VERSION",
    "IMPRESSION_SCHEMA",
    "PLAY_SCHEMA",
    "Impression",
    "ImpressionLogError",
    "JoinReport",
    "RewardJoin",
    "impressions_to_table",
    "join_rewards",
    "logged_feedback",
    "read_impressions",
    "table_to_impressions",
    "validate_impressions",
    "write_impressions",
]

IMPRESSION_LOG_VERSION = "1"
DEFAULT_PLAY_TIMEOUT = timedelta(hours=24)
"""A play counts towards an impression when it comes this soon after it."""
_VERSION_KEY = b"thumbsel.impression_log.version"
_TIME = pa.timestamp("us", tz="UTC")
_VALUES = pa.map_(pa.string(), pa.float64())

IMPRESSION_SCHEMA = pa.schema(
    [
        pa.field("impression_id", pa.string(), nullable=False),
        pa.field("time", _TIME, nullable=False),
        pa.field("viewer_id", pa.string()),
        pa.field("viewer_context", _VALUES),
        pa.field("title_id", pa.string(), nullable=False),
        pa.field("candidate_ids", pa.list_(pa.string()), nullable=False),
        pa.field("candidate_attributes", pa.list_(_VALUES), nullable=False),
        pa.field("candidate_probabilities", pa.list_(pa.float64()), nullable=False),
        pa.field("chosen_id", pa.string(), nullable=False),
        pa.field("propensity", pa.float64(), nullable=False),
        pa.field("policy_name", pa.string(), nullable=False),
        pa.field("policy_version", pa.string(), nullable=False),
        pa.field("reward", pa.float64()),
        pa.field("reward_time", _TIME),
    ],
    metadata={_VERSION_KEY: IMPRESSION_LOG_VERSION.encode()},
)
"""Columns of the impression log; ``reward`` and ``reward_time`` are null until joined."""

PLAY_SCHEMA = pa.schema(
    [
        pa.field("impression_id", pa.string(), nullable=False),
        pa.field("time", _TIME, nullable=False),
        pa.field("minutes", pa.float64()),
    ]
)
"""Play events as they arrive: which impression led to the play, when, and minutes watched."""

_PROBABILITY_SUM_TOLERANCE = 1e-6
_PROPENSITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Impression:
    """One logged impression; see :data:`IMPRESSION_SCHEMA`."""

    impression_id: str
    time: datetime
    title_id: str
    candidate_ids: Sequence[str]
    candidate_attributes: Sequence[Mapping[str, float]]
    candidate_probabilities: Sequence[float]
    chosen_id: str
    propensity: float
    policy_name: str
    policy_version: str
    viewer_id: str | None = None
    viewer_context: Mapping[str, float] | None = None
    reward: float | None = None
    reward_time: datetime | None = None


def impressions_to_table(impressions: Iterable[Impression]) -> pa.Table:
    """Impressions as a table with :data:`IMPRESSION_SCHEMA` (not yet validated)."""
    columns: dict[str, list[object]] = {name: [] for name in IMPRESSION_SCHEMA.names}
    for impression in impressions:
        for name in ("time", "reward_time"):
            moment = getattr(impression, name)
            if moment is not None and moment.utcoffset() is None:
                raise ImpressionLogError(
                    f"impression {impression.impression_id}: {name} has no time zone"
                )
        row = asdict(impression)
        row["viewer_context"] = _pairs(impression.viewer_context)
        row["candidate_attributes"] = [_pairs(a) for a in impression.candidate_attributes]
        row["candidate_ids"] = list(impression.candidate_ids)
        row["candidate_probabilities"] = [float(p) for p in impression.candidate_probabilities]
        for name in IMPRESSION_SCHEMA.names:
            columns[name].append(row[name])
    try:
        return pa.Table.from_pydict(columns, schema=IMPRESSION_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ImpressionLogError(f"impressions do not fit the log schema: {error}") from None


def table_to_impressions(table: pa.Table) -> list[Impression]:
    """The rows of a log table as :class:`Impression` values."""
    impressions = []
    for row in validate_impressions(table).to_pylist():
        row["viewer_context"] = (
            None if row["viewer_context"] is None else dict(row["viewer_context"])
        )
        row["candidate_attributes"] = [dict(a) for a in row["candidate_attributes"]]
        impressions.append(Impression(**row))
    return impressions


def validate_impressions(table: pa.Table) -> pa.Table:
    """Check the schema and every row's consistency; return the table in schema order.

    Raises :class:`ImpressionLogError` naming the first bad impression.
    """
    table = _conform(table, IMPRESSION_SCHEMA, "impression log")
    n = table.num_rows
    if n == 0:
        return table
    ids = table.column("impression_id").to_numpy(zero_copy_only=False)

    def fail(row: int, problem: str) -> NoReturn:
        raise ImpressionLogError(f"impression {ids[row]}: {problem}")

    _, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if np.any(counts > 1):
        fail(int(np.sort(first[counts > 1])[0]), "impression id appears more than once")

    lengths = [
        pc.list_value_length(table.column(name)).to_numpy(zero_copy_only=False)
        for name in ("candidate_ids", "candidate_attributes", "candidate_probabilities")
    ]
    bad = np.flatnonzero((lengths[0] != lengths[1]) | (lengths[0] != lengths[2]))
    if bad.size:
        fail(int(bad[0]), "candidate ids, attributes and probabilities differ in length")
    if np.any(lengths[0] == 0):
        fail(int(np.flatnonzero(lengths[0] == 0)[0]), "no candidates")

    candidate_ids = table.column("candidate_ids").combine_chunks()
    parent = pc.list_parent_indices(candidate_ids).to_numpy()
    flat_ids = pc.list_flatten(candidate_ids).to_numpy(zero_copy_only=False)
    probabilities = (
        pc.list_flatten(table.column("candidate_probabilities").combine_chunks())
        .to_numpy(zero_copy_only=False)
        .astype(np.float64)
    )
    if np.any(np.isnan(probabilities)):
        fail(int(parent[np.isnan(probabilities)][0]), "a candidate probability is missing")
    outside = (probabilities < 0.0) | (probabilities > 1.0)
    if np.any(outside):
        fail(int(parent[outside][0]), "candidate probabilities must lie in [0, 1]")
    sums = np.bincount(parent, weights=probabilities, minlength=n)
    off = np.flatnonzero(np.abs(sums - 1.0) > _PROBABILITY_SUM_TOLERANCE)
    if off.size:
        fail(int(off[0]), f"candidate probabilities sum to {sums[off[0]]:.9g}, not 1")

    chosen = table.column("chosen_id").to_numpy(zero_copy_only=False)
    is_chosen = flat_ids == chosen[parent]
    times_chosen = np.bincount(parent, weights=is_chosen, minlength=n)
    if np.any(times_chosen == 0):
        fail(int(np.flatnonzero(times_chosen == 0)[0]), "chosen_id is not among the candidates")
    if np.any(times_chosen > 1):
        fail(int(np.flatnonzero(times_chosen > 1)[0]), "candidate ids repeat")
    chosen_probability = np.zeros(n)
    chosen_probability[parent[is_chosen]] = probabilities[is_chosen]
    propensity = table.column("propensity").to_numpy().astype(np.float64)
    if np.any(~(propensity > 0.0)):
        fail(int(np.flatnonzero(~(propensity > 0.0))[0]), "propensity must be positive")
    mismatch = np.abs(propensity - chosen_probability) > _PROPENSITY_TOLERANCE
    if np.any(mismatch):
        row = int(np.flatnonzero(mismatch)[0])
        fail(
            row,
            f"propensity {propensity[row]:.9g} differs from the chosen candidate's "
            f"probability {chosen_probability[row]:.9g}",
        )
    return table


def write_impressions(
    path: str | os.PathLike[str], impressions: pa.Table | Iterable[Impression]
) -> Path:
    """Validate and write the log as Parquet, atomically: a failed write leaves no file."""
    table = impressions if isinstance(impressions, pa.Table) else impressions_to_table(impressions)
    table = validate_impressions(table)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), _VERSION_KEY: IMPRESSION_LOG_VERSION.encode()}
    )
    path = Path(path)
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")
    return path


def read_impressions(path: str | os.PathLike[str]) -> pa.Table:
    """Read and validate a log written by :func:`write_impressions`."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise ImpressionLogError(f"{path}: no such impression log") from None
    except (OSError, pa.ArrowException) as error:
        raise ImpressionLogError(f"{path}: not a Parquet impression log ({error})") from None
    version = (table.schema.metadata or {}).get(_VERSION_KEY)
    if version is None:
        raise ImpressionLogError(f"{path}: not a thumbsel impression log (no version)")
    if version.decode() != IMPRESSION_LOG_VERSION:
        raise ImpressionLogError(
            f"{path}: impression log version {version.decode()!r} is not supported "
            f"(this thumbsel reads version {IMPRESSION_LOG_VERSION})"
        )
    try:
        return validate_impressions(table)
    except ImpressionLogError as error:
        raise ImpressionLogError(f"{path}: {error}") from None


# -- delayed rewards ------------------------------------------------------------


@dataclass(frozen=True)
class JoinReport:
    """What happened to every impression and every play in a join."""

    impressions: int
    rewarded: int
    """Impressions with a play inside their window."""
    no_play: int
    """Impressions whose window closed without a play: reward 0."""
    pending: int
    """Impressions whose window is still open at ``as_of``: reward left null."""
    plays: int
    late: int
    """Plays after their impression's window: ignored."""
    early: int
    """Plays timed before their impression (clock skew or bad data): ignored."""
    duplicate: int
    """Further plays inside a window that already had one: the first play counts."""
    orphan: int
    """Plays for impression ids the log does not have."""
    missing_minutes: int
    """Counted plays without minutes; with ``reward="minutes"`` they earn 0."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class RewardJoin:
    table: pa.Table
    """The impression log with ``reward`` and ``reward_time`` filled in."""
    report: JoinReport


def join_rewards(
    impressions: pa.Table,
    plays: pa.Table,
    *,
    timeout: timedelta,
    reward: Literal["plays", "minutes"] = "plays",
    as_of: datetime | None = None,
) -> RewardJoin:
    """Give each impression the reward of its first play within ``timeout``.

    The window is ``[time, time + timeout]``, both ends included. With
    ``reward="plays"`` a play earns 1; with ``"minutes"``, the minutes it
    logged. ``as_of`` is when the join runs: windows ending after it are still
    open (``pending``). Without it every window counts as closed, as in a
    join run long after the fact. Rewards already in the log are replaced:
    the join is recomputed from the plays, so running it again with more
    plays only fills in what was pending.
    """
    if reward not in ("plays", "minutes"):
        raise PersonalizeError(f"reward must be 'plays' or 'minutes', got {reward!r}")
    if timeout <= timedelta(0):
        raise PersonalizeError(f"timeout must be positive, got {timeout}")
    if as_of is not None and as_of.utcoffset() is None:
        raise PersonalizeError("as_of needs a time zone")
    impressions = validate_impressions(impressions)
    plays = _validate_plays(plays)
    n = impressions.num_rows
    impression_time = _microseconds(impressions.column("time"))
    window = timeout // timedelta(microseconds=1)

    index = pc.index_in(
        plays.column("impression_id"), value_set=impressions.column("impression_id")
    )
    orphan = index.is_null().to_numpy(zero_copy_only=False)
    target = index.fill_null(0).to_numpy().astype(np.int64)
    play_time = _microseconds(plays.column("time"))
    delay = np.zeros(len(play_time), dtype=np.int64)
    delay[~orphan] = play_time[~orphan] - impression_time[target[~orphan]]
    early = ~orphan & (delay < 0)
    late = ~orphan & (delay > window)
    inside = np.flatnonzero(~orphan & ~early & ~late)
    # The first play in time per impression counts; ties keep log order.
    inside = inside[np.lexsort((inside, play_time[inside], target[inside]))]
    first_mask = np.ones(len(inside), dtype=bool)
    first_mask[1:] = target[inside][1:] != target[inside][:-1]
    counted = inside[first_mask]

    minutes = plays.column("minutes").to_numpy(zero_copy_only=False).astype(np.float64)
    values = np.full(n, np.nan)
    rewarded = np.zeros(n, dtype=bool)
    rewarded[target[counted]] = True
    if reward == "plays":
        values[target[counted]] = 1.0
    else:
        values[target[counted]] = np.nan_to_num(minutes[counted], nan=0.0)
    reward_time = np.zeros(n, dtype=np.int64)
    reward_time[target[counted]] = play_time[counted]

    if as_of is None:
        open_window = np.zeros(n, dtype=bool)
    else:
        now = int((as_of - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))
        open_window = impression_time + window > now
    pending = ~rewarded & open_window
    no_play = ~rewarded & ~open_window
    values[no_play] = 0.0

    table = impressions.set_column(
        IMPRESSION_SCHEMA.get_field_index("reward"),
        IMPRESSION_SCHEMA.field("reward"),
        pa.array(values, type=pa.float64(), mask=np.isnan(values)),
    )
    table = table.set_column(
        IMPRESSION_SCHEMA.get_field_index("reward_time"),
        IMPRESSION_SCHEMA.field("reward_time"),
        pa.array(reward_time, type=pa.int64(), mask=~rewarded).cast(_TIME),
    )
    report = JoinReport(
        impressions=n,
        rewarded=int(rewarded.sum()),
        no_play=int(no_play.sum()),
        pending=int(pending.sum()),
        plays=plays.num_rows,
        late=int(late.sum()),
        early=int(early.sum()),
        duplicate=len(inside) - len(counted),
        orphan=int(orphan.sum()),
        missing_minutes=int(np.isnan(minutes[counted]).sum()),
    )
    return RewardJoin(table, report)


def _validate_plays(plays: pa.Table) -> pa.Table:
    # Minutes are optional: a service that only logs play starts rewards plays.
    if "minutes" not in plays.column_names:
        plays = plays.append_column("minutes", pa.nulls(plays.num_rows, pa.float64()))
    return _conform(plays, PLAY_SCHEMA, "play log")


def _conform(table: pa.Table, schema: pa.Schema, label: str) -> pa.Table:
    """``table``'s columns of ``schema``, in its order and types, or a one-line error.

    Time columns may come in any unit and time zone (they are converted to
    UTC microseconds); times without a zone are refused rather than guessed.
    """
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            raise ImpressionLogError(f"{label} has no column {field.name!r}")
        column = table.column(field.name)
        actual = column.type
        if pa.types.is_timestamp(field.type) and pa.types.is_timestamp(actual):
            if actual.tz is None:
                raise ImpressionLogError(f"{label} column {field.name!r} has no time zone")
            column = column.cast(field.type)
        elif not actual.equals(field.type):
            raise ImpressionLogError(
                f"{label} column {field.name!r} is {actual}, expected {field.type}"
            )
        if not field.nullable and column.null_count:
            raise ImpressionLogError(f"{label} column {field.name!r} has nulls")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _microseconds(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    return np.asarray(column.cast(pa.int64()).to_numpy(), dtype=np.int64)


# -- to the evaluators --------------------------------------------------------------


def logged_feedback(table: pa.Table, space: FeatureSpace) -> tuple[LoggedFeedback, int]:
    """The rewarded impressions of a log as arrays for :func:`.evaluate.evaluate`.

    Returns the feedback and the number of impressions left out because their
    reward is still pending (null).
    """
    table = validate_impressions(table)
    known = table.filter(pc.is_valid(table.column("reward")))
    if known.num_rows == 0:
        raise ImpressionLogError("no impression in the log has a reward yet")
    rows = known.to_pylist()
    viewers = space.viewer_matrix([dict(r["viewer_context"] or []) for r in rows])[:, 1:]
    candidates = [
        space.image_matrix([dict(a) for a in r["candidate_attributes"]])[:, 1:] for r in rows
    ]
    chosen = np.array([r["candidate_ids"].index(r["chosen_id"]) for r in rows], dtype=np.int64)
    feedback = LoggedFeedback(
        space=space,
        viewers=viewers,
        candidates=candidates,
        chosen=chosen,
        propensity=np.array([r["propensity"] for r in rows], dtype=np.float64),
        reward=np.array([r["reward"] for r in rows], dtype=np.float64),
        impression_ids=[r["impression_id"] for r in rows],
        logged_probabilities=[
            np.array(r["candidate_probabilities"], dtype=np.float64) for r in rows
        ],
    )
    return feedback, table.num_rows - known.num_rows


def _pairs(values: Mapping[str, float] | None) -> list[tuple[str, float]] | None:
    if values is None:
        return None
    return [(str(k), float(v)) for k, v in values.items()]
