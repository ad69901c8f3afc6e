"""Viewer profiles from behaviour events: aggregates with time decay, updated a day at a time.

A profile is a handful of decayed sums per viewer, each event weighted by
``2 ** (-age / half_life)`` at the profile's ``as_of``: minutes watched per
genre, cast member and series; play starts, completions, abandonments and
binge starts (the next episode of a series within 30 minutes of the last);
local day part, weekend and hour of viewing; device and region mix; searches
as the genres and cast names they mapped to (never their text); titles shown
in a row and passed over. Nothing else is kept, but for the one open play
(title, position) and the series and time of the last stop, which the next
day's events continue.

Because every sum decays by the same factor, yesterday's profile rescaled to
today plus today's events is the profile of all the events at once
(:func:`update_profiles`; equal up to floating-point rounding, tested), so a
service never needs the raw events again once they are aggregated: the
retention rule deletes them (:mod:`thumbsel.personalize.store`).

:func:`profile_context` turns a profile into viewer features by name
(``genre:<g>`` and ``cast:<name>`` shares of minutes, ``device:<class>``,
``hour_sin``/``hour_cos``, ``recent_activity``, ``completion``...): what the
policies take as the viewer context.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel.errors import EventLogError, PersonalizeError
from thumbsel.files import atomic_path
from thumbsel.personalize.events import EventReport, check_events, minimise

__all__ = [
    "DEFAULT_HALF_LIFE_DAYS",
    "PROFILE_SCHEMA",
    "Profile",
    "Profiles",
    "TitleInfo",
    "Titles",
    "profile_context",
    "read_profiles",
    "read_titles",
    "update_profiles",
    "write_profiles",
]

DEFAULT_HALF_LIFE_DAYS = 60.0
MAX_HALF_LIFE_DAYS = 3650.0
RECENT_HALF_LIFE_DAYS = 7.0
"""``recent_activity`` decays faster: it is the viewer's last week or so."""
BINGE_GAP_SECONDS = 30 * 60
PROFILE_VERSION = "1"
_VERSION_KEY = b"thumbsel.profiles.version"
_HALF_LIFE_KEY = b"thumbsel.profiles.half_life_days"
_AS_OF_KEY = b"thumbsel.profiles.as_of_us"
_US = 1_000_000
_DAY_US = 86_400 * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAYPARTS = ("night", "morning", "afternoon", "evening")
_OPENING = ("play_start", "seek")
_CLOSING = ("pause", "play_stop", "complete", "abandon", "seek")
_MAX_TITLE_BYTES = 256 << 20

PROFILE_SCHEMA = pa.schema(
    [
        pa.field("viewer_id", pa.string(), nullable=False),
        pa.field("sums", pa.map_(pa.string(), pa.float64()), nullable=False),
        pa.field("events", pa.int64(), nullable=False),
        pa.field("open_title", pa.string()),
        pa.field("open_position", pa.float64()),
        pa.field("open_time_us", pa.int64()),
        pa.field("last_stop_us", pa.int64()),
        pa.field("last_series", pa.string()),
        pa.field("last_title", pa.string()),
        pa.field("paused_title", pa.string()),
    ]
)
"""One row per viewer; ``as_of`` and the half-life are the file's, in its metadata."""


# -- what is known of the titles ---------------------------------------------------


@dataclass(frozen=True)
class TitleInfo:
    title_id: str
    series: str | None = None
    genres: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()


_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.casefold() for w in _WORD.findall(text))


class Titles:
    """Genres, cast and series per title: what events are mapped through."""

    def __init__(self, titles: Iterable[TitleInfo] = ()) -> None:
        self.by_id = {t.title_id: t for t in titles}
        # Phrases a search may name: a genre, a cast member, a series or title id.
        self._phrases: dict[tuple[str, ...], set[str]] = {}
        for title in self.by_id.values():
            interests = {f"genre:{g}" for g in title.genres} | {f"cast:{c}" for c in title.cast}
            for genre in title.genres:
                self._phrases.setdefault(_words(genre), set()).add(f"genre:{genre}")
            for name in title.cast:
                self._phrases.setdefault(_words(name), set()).add(f"cast:{name}")
            for known in (title.title_id, title.series):
                if known:
                    self._phrases.setdefault(_words(known.replace("-", " ")), set()).update(
                        interests
                    )
        self._phrases.pop((), None)

    def get(self, title_id: str) -> TitleInfo:
        return self.by_id.get(title_id) or TitleInfo(title_id)

    def interests_of(self, query: str) -> list[str]:
        """The genres and cast names a search's words name (whole words, any case)."""
        words = _words(query)
        found: set[str] = set()
        for phrase, interests in self._phrases.items():
            size = len(phrase)
            if any(words[i : i + size] == phrase for i in range(len(words) - size + 1)):
                found |= interests
        return sorted(found)


def _names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(";") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return tuple(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))


def read_titles(path: str | os.PathLike[str]) -> Titles:
    """Title metadata from CSV or Parquet: ``title_id`` and any of ``series``, ``genres``, ``cast``.

    ``genres`` and ``cast`` are lists (Parquet) or ``;``-separated text (CSV).
    A catalog's ``catalog.parquet`` has these columns (from its manifest).
    """
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_TITLE_BYTES:
            raise PersonalizeError(f"{path}: larger than {_MAX_TITLE_BYTES >> 20} MiB")
        if path.suffix.lower() == ".parquet":
            rows = pq.read_table(path).to_pylist()
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise PersonalizeError(f"{path}: no such title list") from None
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as error:
        raise PersonalizeError(f"{path}: not a readable title list ({error})") from None
    titles = []
    for number, row in enumerate(rows, start=1):
        title_id = row.get("title_id")
        if not title_id:
            raise PersonalizeError(f"{path}, row {number}: no title_id")
        series = row.get("series")
        titles.append(
            TitleInfo(
                str(title_id),
                str(series) if series not in (None, "") else None,
                _names(row.get("genres")),
                _names(row.get("cast")),
            )
        )
    return Titles(titles)


# -- profiles -----------------------------------------------------------------------


@dataclass
class Profile:
    """One viewer's decayed sums (see the module docstring) and the play still open."""

    viewer_id: str
    sums: dict[str, float] = field(default_factory=dict)
    events: int = 0
    open_title: str | None = None
    open_position: float | None = None
    open_time_us: int | None = None
    last_stop_us: int | None = None
    last_series: str | None = None
    last_title: str | None = None
    paused_title: str | None = None


@dataclass
class Profiles:
    """Every viewer's profile at ``as_of``, and what the last update left out."""

    as_of: datetime | None
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    by_viewer: dict[str, Profile] = field(default_factory=dict)
    report: EventReport = field(default_factory=EventReport)

    def __len__(self) -> int:
        return len(self.by_viewer)

    def context(self, viewer_id: str) -> dict[str, float]:
        """The viewer's features (empty for a viewer without a profile)."""
        profile = self.by_viewer.get(viewer_id)
        return {} if profile is None else profile_context(profile)


def _us(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise PersonalizeError("as_of needs a time zone")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _decay(age_us: npt.NDArray[np.int64] | int, half_life_days: float) -> npt.NDArray[np.float64]:
    return np.asarray(np.exp2(-np.asarray(age_us, dtype=np.float64) / (half_life_days * _DAY_US)))


def update_profiles(
    previous: Profiles | None,
    events: pa.Table,
    titles: Titles,
    *,
    as_of: datetime | None = None,
    half_life_days: float | None = None,
    exclude: Iterable[str] = (),
) -> Profiles:
    """``previous`` (None: nobody yet) moved to ``as_of`` with ``events`` added.

    ``as_of`` defaults to the later of the previous ``as_of`` and the last
    event. Events after it, bad rows and the viewers in ``exclude`` (opted
    out) are left out and counted in the returned ``report``.
    """
    if previous is not None and half_life_days not in (None, previous.half_life_days):
        raise PersonalizeError(
            f"these profiles decay with a half-life of {previous.half_life_days:g} days; "
            "a different one would need them rebuilt from the events"
        )
    half_life = (
        half_life_days
        if half_life_days is not None
        else (previous.half_life_days if previous is not None else DEFAULT_HALF_LIFE_DAYS)
    )
    if not (math.isfinite(half_life) and 1.0 <= half_life <= MAX_HALF_LIFE_DAYS):
        raise PersonalizeError(f"half_life_days must be within 1..{MAX_HALF_LIFE_DAYS:g}")
    batch = check_events(events)
    report = batch.report
    # Searches are kept as what they name: their text goes no further than this.
    table = minimise(batch.table, titles.interests_of)
    time_us = np.asarray(table.column("time").cast(pa.int64()).to_numpy(), dtype=np.int64)
    old_as_of = None if previous is None or previous.as_of is None else _us(previous.as_of)
    new_as_of: int | None
    if as_of is not None:
        new_as_of = _us(as_of)
    else:
        latest = [int(time_us.max())] if len(time_us) else []
        known = [t for t in (old_as_of, *latest) if t is not None]
        new_as_of = max(known) if known else None
    keep = np.ones(table.num_rows, dtype=bool)
    if new_as_of is not None:
        late = time_us > new_as_of
        if late.any():
            report.bad["after as_of"] = report.bad.get("after as_of", 0) + int(late.sum())
        keep &= ~late
    if old_as_of is not None and new_as_of is not None and new_as_of < old_as_of:
        raise PersonalizeError("as_of is before the profiles' own: profiles do not go back in time")
    excluded = set(exclude)
    if excluded:
        out = np.array([v in excluded for v in table.column("viewer_id").to_pylist()], dtype=bool)
        out &= keep
        if out.any():
            report.bad["of viewers who opted out"] = int(out.sum())
        keep &= ~out
    report.kept = int(keep.sum())
    table = table.filter(pa.array(keep))
    profiles = {
        viewer: Profile(**vars(p))
        for viewer, p in (previous.by_viewer.items() if previous is not None else ())
        if viewer not in excluded
    }
    if previous is not None and old_as_of is not None and new_as_of is not None:
        factor = float(_decay(new_as_of - old_as_of, half_life))
        recent = float(_decay(new_as_of - old_as_of, RECENT_HALF_LIFE_DAYS))
        for profile in profiles.values():
            profile.sums = {
                k: v * (recent if k == "recent_starts" else factor) for k, v in profile.sums.items()
            }
    if table.num_rows:
        assert new_as_of is not None
        _add_events(profiles, table, titles, new_as_of, half_life)
    return Profiles(
        as_of=None if new_as_of is None else _moment(new_as_of),
        half_life_days=half_life,
        by_viewer=dict(sorted(profiles.items())),
        report=report,
    )


def _add_events(
    profiles: dict[str, Profile], table: pa.Table, titles: Titles, as_of: int, half_life: float
) -> None:
    """Fold ``table``'s events into ``profiles``, in time order per viewer."""
    viewer = table.column("viewer_id").to_pylist()
    time_us = np.asarray(table.column("time").cast(pa.int64()).to_numpy(), dtype=np.int64)
    order = sorted(range(table.num_rows), key=lambda i: (viewer[i], time_us[i], i))
    kind = table.column("kind").to_pylist()
    title = table.column("title_id").to_pylist()
    position = table.column("position").to_pylist()
    to_position = table.column("to_position").to_pylist()
    interests = table.column("interests").to_pylist()
    played = table.column("played").to_pylist()
    device = table.column("device").to_pylist()
    region = table.column("region").to_pylist()
    offset = table.column("utc_offset_minutes").to_pylist()
    weight = _decay(as_of - time_us, half_life)
    recent = _decay(as_of - time_us, RECENT_HALF_LIFE_DAYS)
    local_us = time_us + np.array([(o or 0) for o in offset], dtype=np.int64) * 60 * _US
    local_hour = (local_us % _DAY_US) / (3600 * _US)
    weekday = ((local_us // _DAY_US) + 3) % 7  # 1970-01-01 was a Thursday (3, Monday 0)
    for i in order:
        profile = profiles.get(viewer[i])
        if profile is None:
            profile = profiles[viewer[i]] = Profile(viewer[i])
        sums, w, what = profile.sums, float(weight[i]), kind[i]

        def add(key: str, value: float, sums: dict[str, float] = sums) -> None:
            sums[key] = sums.get(key, 0.0) + value

        profile.events += 1
        if device[i] is not None:
            add(f"device:{device[i]}", w)
            add("devices", w)
        if region[i] is not None:
            add(f"region:{region[i]}", w)
            add("regions", w)
        add("timed", w)
        add(f"daypart:{_DAYPARTS[int(local_hour[i] // 6)]}", w)
        if weekday[i] >= 5:
            add("weekend", w)
        info = titles.get(title[i]) if title[i] is not None else None
        if (
            what in _CLOSING
            and profile.open_title == title[i]
            and profile.open_position is not None
        ):
            watched = max(0.0, float(position[i]) - profile.open_position) / 60.0
            if profile.open_time_us is not None:
                # No more than the wall time since the play opened: a bad clock
                # or a client that never sent its stop cannot invent hours.
                wall = float(time_us[i] - profile.open_time_us) / (60 * _US)
                watched = min(watched, max(0.0, wall))
            if watched > 0 and info is not None:
                add("minutes", watched * w)
                for genre in info.genres:
                    add(f"genre:{genre}", watched * w)
                for name in info.cast:
                    add(f"cast:{name}", watched * w)
                if info.series:
                    add(f"series:{info.series}", watched * w)
            profile.open_title = profile.open_position = profile.open_time_us = None
        resumed = what == "play_start" and profile.paused_title == title[i]
        profile.paused_title = title[i] if what == "pause" else None
        if what == "play_start" and not resumed:
            assert info is not None
            add("starts", w)
            add("recent_starts", float(recent[i]))
            angle = 2.0 * math.pi * float(local_hour[i]) / 24.0
            add("hour_sin", math.sin(angle) * w)
            add("hour_cos", math.cos(angle) * w)
            if (
                info.series
                and profile.last_series == info.series
                and profile.last_title != title[i]
                and profile.last_stop_us is not None
                and 0 <= time_us[i] - profile.last_stop_us <= BINGE_GAP_SECONDS * _US
            ):
                add("binge", w)
        if what in _OPENING:
            profile.open_title = title[i]
            profile.open_position = float(position[i] if what == "play_start" else to_position[i])
            profile.open_time_us = int(time_us[i])
        if what in ("play_stop", "complete", "abandon"):
            profile.last_stop_us = int(time_us[i])
            profile.last_series = info.series if info is not None else None
            profile.last_title = title[i]
        if what == "complete":
            add("completes", w)
        elif what == "abandon":
            add("abandons", w)
        elif what == "search":
            add("searches", w)
            for interest in interests[i] or ():
                add(f"search:{interest}", w)
        elif what == "browse":
            add("shown", w)
            if not played[i]:
                add("passed", w)


def profile_context(profile: Profile) -> dict[str, float]:
    """Viewer features by name from a profile (shares and rates in 0..1, hour on the circle)."""
    sums = profile.sums
    context: dict[str, float] = {}

    def share(prefix: str, total: float) -> None:
        if total > 0:
            for key, value in sums.items():
                if key.startswith(prefix):
                    context[key] = min(1.0, float(value) / total)

    minutes = sums.get("minutes", 0.0)
    share("genre:", minutes)
    share("cast:", minutes)
    share("series:", minutes)
    timed = sums.get("timed", 0.0)
    share("device:", sums.get("devices", 0.0))
    share("region:", sums.get("regions", 0.0))
    share("daypart:", timed)
    if timed > 0:
        context["weekend"] = min(1.0, sums.get("weekend", 0.0) / timed)
    searches = sums.get("searches", 0.0)
    share("search:", searches)
    starts = sums.get("starts", 0.0)
    if starts > 0:
        for name, key in (
            ("completion", "completes"),
            ("abandonment", "abandons"),
            ("binge", "binge"),
        ):
            context[name] = min(1.0, sums.get(key, 0.0) / starts)
        context["hour_sin"] = sums.get("hour_sin", 0.0) / starts
        context["hour_cos"] = sums.get("hour_cos", 0.0) / starts
    # A sum decayed with half-life H over a steady rate is about rate * H / ln 2:
    # this is starts per day over the last week or so, capped at one.
    recent = sums.get("recent_starts", 0.0) * math.log(2.0) / RECENT_HALF_LIFE_DAYS
    context["recent_activity"] = min(1.0, recent)
    shown = sums.get("shown", 0.0)
    if shown > 0:
        context["fatigue"] = min(1.0, sums.get("passed", 0.0) / shown)
    return context


# -- files --------------------------------------------------------------------------


def write_profiles(path: str | os.PathLike[str], profiles: Profiles) -> Path:
    """Profiles as Parquet (``as_of`` and the half-life in its metadata), atomically."""
    rows = [vars(p) | {"sums": sorted(p.sums.items())} for p in profiles.by_viewer.values()]
    table = pa.Table.from_pylist(rows, schema=PROFILE_SCHEMA)
    metadata = {
        _VERSION_KEY: PROFILE_VERSION.encode(),
        _HALF_LIFE_KEY: repr(profiles.half_life_days).encode(),
        _AS_OF_KEY: b"" if profiles.as_of is None else str(_us(profiles.as_of)).encode(),
    }
    path = Path(path)
    with atomic_path(path) as temporary:
        pq.write_table(table.replace_schema_metadata(metadata), temporary, compression="zstd")
    return path


def read_profiles(path: str | os.PathLike[str]) -> Profiles:
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise EventLogError(f"{path}: no such profile file") from None
    except (OSError, pa.ArrowException) as error:
        raise EventLogError(f"{path}: not a Parquet profile file ({error})") from None
    metadata = table.schema.metadata or {}
    if metadata.get(_VERSION_KEY) != PROFILE_VERSION.encode():
        raise EventLogError(f"{path}: not a thumbsel profile file (version {PROFILE_VERSION})")
    if not table.schema.equals(PROFILE_SCHEMA, check_metadata=False):
        raise EventLogError(f"{path}: its columns are not those of a profile file")
    as_of_text = metadata.get(_AS_OF_KEY, b"").decode()
    by_viewer = {}
    for row in table.to_pylist():
        row["sums"] = dict(row["sums"])
        by_viewer[row["viewer_id"]] = Profile(**row)
    return Profiles(
        as_of=None if not as_of_text else _moment(int(as_of_text)),
        half_life_days=float(metadata[_HALF_LIFE_KEY].decode()),
        by_viewer=by_viewer,
    )
