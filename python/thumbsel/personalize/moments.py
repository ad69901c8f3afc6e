"""Moments people return to: where in a title viewers pause, and rewind to watch again.

Per title, the runtime is cut into bins (10 s by default). A viewer *makes*
a moment in a bin when they pause there, or rewind to it (a seek back lands
there). The interest curve counts, per bin, the distinct viewers who made
one, and publishes a bin only when at least ``k`` distinct viewers did
(k-anonymity, 20 by default): a bin with fewer is 0, so no published number
rests on a handful of people.

With ``epsilon``, each published count also gets Laplace noise of scale
``m / epsilon``, ``m`` being the most bins one viewer may add to a title's
curve (their first ``m`` moments in time; 20). The counts are then
epsilon-differentially private: whether any one viewer's events are in the
data or not changes the probability of any published curve by at most a
factor ``e ** epsilon`` (epsilon 1: at most 2.7x; 0.1: at most 1.1x). What
epsilon does not cover is *which* bins pass ``k``: that says at least ``k``
viewers acted there, which k-anonymity already allows.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel.errors import EventLogError, PersonalizeError
from thumbsel.files import atomic_path
from thumbsel.personalize.events import check_events, read_parquet

__all__ = [
    "DEFAULT_BIN_SECONDS",
    "DEFAULT_K",
    "MAX_MOMENTS_PER_VIEWER",
    "MOMENT_SCHEMA",
    "InterestCurve",
    "interest_curves",
    "read_moments",
    "write_moments",
]

DEFAULT_K = 20
DEFAULT_BIN_SECONDS = 10.0
MAX_MOMENTS_PER_VIEWER = 20
MAX_EPSILON = 100.0
_VERSION_KEY = b"thumbsel.moments.version"
_SETTINGS_KEY = b"thumbsel.moments.settings"
MOMENTS_VERSION = "1"

MOMENT_SCHEMA = pa.schema(
    [
        pa.field("title_id", pa.string(), nullable=False),
        pa.field("start", pa.float64(), nullable=False),
        pa.field("end", pa.float64(), nullable=False),
        pa.field("viewers", pa.float64(), nullable=False),
    ]
)
"""One row per published bin (seconds into the title; distinct viewers, noisy with epsilon)."""


@dataclass(frozen=True)
class InterestCurve:
    title_id: str
    bin_seconds: float
    level: npt.NDArray[np.float64]
    """Published viewers per bin from the title's start (0 where fewer than k)."""
    k: int
    epsilon: float | None

    def at(self, seconds: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Interest near each time, 0..1: its bin's level, or a neighbour's, over the peak."""
        times = np.asarray(seconds, dtype=np.float64)
        peak = float(self.level.max()) if self.level.size else 0.0
        if peak <= 0:
            return np.zeros(times.shape)
        padded = np.concatenate(([0.0], self.level, [0.0]))
        near = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
        index = np.clip((times // self.bin_seconds).astype(np.int64), 0, None)
        inside = index < len(near)
        values = np.where(inside, near[np.minimum(index, len(near) - 1)], 0.0)
        return np.asarray(values / peak, dtype=np.float64)


def interest_curves(
    events: pa.Table,
    *,
    k: int = DEFAULT_K,
    bin_seconds: float = DEFAULT_BIN_SECONDS,
    epsilon: float | None = None,
    per_viewer: int = MAX_MOMENTS_PER_VIEWER,
    seed: int = 0,
) -> dict[str, InterestCurve]:
    """Each title's published interest curve (see the module docstring)."""
    if not 2 <= k <= 1_000_000:
        raise PersonalizeError(f"k must be within 2..1,000,000, got {k}")
    if not (math.isfinite(bin_seconds) and 1.0 <= bin_seconds <= 3600.0):
        raise PersonalizeError(f"bin_seconds must be within 1..3600, got {bin_seconds}")
    if epsilon is not None and not (math.isfinite(epsilon) and 0 < epsilon <= MAX_EPSILON):
        raise PersonalizeError(f"epsilon must be within (0, {MAX_EPSILON:g}], got {epsilon}")
    if not 1 <= per_viewer <= 10_000:
        raise PersonalizeError(f"per_viewer must be within 1..10,000, got {per_viewer}")
    table = check_events(events).table
    kind = table.column("kind").to_pylist()
    position = table.column("position").to_pylist()
    target = table.column("to_position").to_pylist()
    order = np.argsort(table.column("time").cast(pa.int64()).to_numpy(), kind="stable")
    made: dict[tuple[str, str], list[int]] = {}
    viewers = table.column("viewer_id").to_pylist()
    titles = table.column("title_id").to_pylist()
    for i in order:
        if kind[i] == "pause":
            at = position[i]
        elif kind[i] == "seek" and target[i] < position[i]:
            at = target[i]
        else:
            continue
        bins = made.setdefault((titles[i], viewers[i]), [])
        b = int(at // bin_seconds)
        if b not in bins and len(bins) < per_viewer:
            bins.append(b)
    counts: dict[str, dict[int, int]] = {}
    for (title, _), bins in made.items():
        tally = counts.setdefault(title, {})
        for b in bins:
            tally[b] = tally.get(b, 0) + 1
    curves = {}
    for title in sorted(counts):
        tally = counts[title]
        level = np.zeros(max(tally) + 1)
        for b, n in tally.items():
            if n >= k:
                level[b] = n
        if epsilon is not None:
            rng = np.random.default_rng([seed, *title.encode()])
            published = level > 0
            noise = rng.laplace(0.0, per_viewer / epsilon, size=level.shape)
            level = np.where(published, np.maximum(level + noise, 0.0), 0.0)
        curves[title] = InterestCurve(title, bin_seconds, level, k, epsilon)
    return curves


def write_moments(path: str | os.PathLike[str], curves: dict[str, InterestCurve]) -> Path:
    """The published bins (level above 0) of every curve as Parquet, atomically."""
    rows = [
        {
            "title_id": c.title_id,
            "start": b * c.bin_seconds,
            "end": (b + 1) * c.bin_seconds,
            "viewers": float(c.level[b]),
        }
        for c in curves.values()
        for b in np.flatnonzero(c.level > 0)
    ]
    first = next(iter(curves.values()), None)
    settings = {
        "k": first.k if first else DEFAULT_K,
        "epsilon": first.epsilon if first else None,
        "bin_seconds": first.bin_seconds if first else DEFAULT_BIN_SECONDS,
    }
    table = pa.Table.from_pylist(rows, schema=MOMENT_SCHEMA).replace_schema_metadata(
        {_VERSION_KEY: MOMENTS_VERSION.encode(), _SETTINGS_KEY: json.dumps(settings).encode()}
    )
    path = Path(path)
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary)
    return path


def read_moments(path: str | os.PathLike[str]) -> dict[str, InterestCurve]:
    """Curves written by :func:`write_moments`."""
    path = Path(path)
    table = read_parquet(path, "moments file")
    metadata = table.schema.metadata or {}
    if metadata.get(_VERSION_KEY) != MOMENTS_VERSION.encode():
        raise EventLogError(f"{path}: not a thumbsel moments file")
    settings = json.loads(metadata[_SETTINGS_KEY])
    width = float(settings["bin_seconds"])
    by_title: dict[str, dict[int, float]] = {}
    for row in table.to_pylist():
        by_title.setdefault(row["title_id"], {})[round(row["start"] / width)] = row["viewers"]
    curves = {}
    for title, bins in by_title.items():
        level = np.zeros(max(bins) + 1)
        for b, value in bins.items():
            level[b] = value
        curves[title] = InterestCurve(title, width, level, int(settings["k"]), settings["epsilon"])
    return curves
