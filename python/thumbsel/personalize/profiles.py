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
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thumbsel.errors import EventLogError, PersonalizeError
from thumbsel.files import atomic_path
from thumbsel.personalize.events import EventReport, check_events, minimise, read_parquet
from thumbsel.text import split_names

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
                if len(_words(name)) > 1:
                    self._phrases.setdefault(_words(name)[-1:], set()).add(f"cast:{name}")
            for known in (title.title_id, title.series):
                if known:
                    self._phrases.setdefault(_words(known.replace("-", " ")), set()).update(
                        interests
                    )
        self._phrases.pop((), None)
        self._by_first_word: dict[str, list[tuple[str, ...]]] = {}
        for phrase in self._phrases:
            self._by_first_word.setdefault(phrase[0], []).append(phrase)

    def get(self, title_id: str) -> TitleInfo:
        return self.by_id.get(title_id) or TitleInfo(title_id)

    def interests_of(self, query: str) -> list[str]:
        """The genres and cast names a search's words name (whole words, any case).

        A plural finds its singular ("thrillers", "comedies"), and a cast
        member's last name alone finds them ("chaplin").
        """
        words = _words(query)
        forms = tuple(_singular(w) for w in words)
        found: set[str] = set()
        for text in (words, forms):
            for i, word in enumerate(text):
                for phrase in self._by_first_word.get(word, ()):
                    if text[i : i + len(phrase)] == phrase:
                        found |= self._phrases[phrase]
        return sorted(found)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _names(value: object, where: str) -> tuple[str, ...]:
    names = split_names(value)
    if names is None:
        raise PersonalizeError(f"{where} must be a list or ';'-separated text, got {value!r}")
    return names


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
                _names(row.get("genres"), f"{path}, row {number}: genres"),
                _names(row.get("cast"), f"{path}, row {number}: cast"),
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


_PLAYBACK = ("play_start", "pause", "play_stop", "complete", "abandon", "seek")
_STOPS = ("play_stop", "complete", "abandon")


class _Sums:
    """Per-viewer decayed sums, gathered as arrays and added in one pass per key."""

    def __init__(self, viewers: int) -> None:
        self.viewers = viewers
        self.keys: dict[str, int] = {}
        self.parts: list[
            tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]
        ] = []

    def add(self, key: str, who: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None:
        if len(who):
            code = self.keys.setdefault(key, len(self.keys))
            self.parts.append((who, np.full(len(who), code, np.int64), values))

    def by_viewer(self) -> list[dict[str, float]]:
        found: list[dict[str, float]] = [{} for _ in range(self.viewers)]
        if not self.parts:
            return found
        who = np.concatenate([p[0] for p in self.parts])
        key = np.concatenate([p[1] for p in self.parts])
        values = np.concatenate([p[2] for p in self.parts])
        # Only the cells that occur: viewers x keys can be far larger than the events.
        cells, inverse = np.unique(who * len(self.keys) + key, return_inverse=True)
        total = np.bincount(inverse, weights=values, minlength=len(cells))
        names = list(self.keys)
        for cell, value in zip(cells.tolist(), total.tolist(), strict=True):
            viewer, index = divmod(cell, len(names))
            found[viewer][names[index]] = value
        return found


def _codes(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], list[object]]:
    """Small integer codes of a column's values (nulls: -1) and the values they stand for."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _add_events(
    profiles: dict[str, Profile], table: pa.Table, titles: Titles, as_of: int, half_life: float
) -> None:
    """Fold ``table``'s events into ``profiles``, in time order per viewer.

    Array at a time: the events are sorted by viewer and time, and what one
    event leaves for the next (the open play, a pause, the last stop) is
    found by looking back along the sorted rows, starting from what each
    profile carried over from the last update.
    """
    viewer_code, viewer_names = _codes(table.column("viewer_id"))
    time_us = np.asarray(table.column("time").cast(pa.int64()).to_numpy(), dtype=np.int64)
    n = len(time_us)
    order = np.lexsort((np.arange(n), time_us, viewer_code))
    table = table.take(pa.array(order))
    viewer_code, time_us = viewer_code[order], time_us[order]
    kind_code, kind_names = _codes(table.column("kind"))
    title_code, title_names = _codes(table.column("title_id"))
    infos = [titles.get(str(t)) for t in title_names]
    position = np.asarray(table.column("position").to_numpy(zero_copy_only=False), np.float64)
    target = np.asarray(table.column("to_position").to_numpy(zero_copy_only=False), np.float64)
    offset = np.asarray(
        pc.fill_null(table.column("utc_offset_minutes"), 0).to_numpy(zero_copy_only=False),
        np.int64,
    )
    weight = _decay(as_of - time_us, half_life)
    recent = _decay(as_of - time_us, RECENT_HALF_LIFE_DAYS)
    local_us = time_us + offset * 60 * _US
    local_hour = (local_us % _DAY_US) / (3600 * _US)
    weekday = ((local_us // _DAY_US) + 3) % 7  # 1970-01-01 was a Thursday (3, Monday 0)
    viewers = len(viewer_names)
    carried = [profiles.get(str(v)) for v in viewer_names]
    sums = _Sums(viewers)
    rows = np.arange(n)
    group_start = np.searchsorted(viewer_code, viewer_code, side="left")
    first_of_viewer = rows == group_start
    is_kind = {
        k: kind_code == (kind_names.index(k) if k in kind_names else -2)
        for k in (*_PLAYBACK, "search", "browse")
    }

    def add_where(key: str, mask: npt.NDArray[np.bool_], values: npt.NDArray[np.float64]) -> None:
        sums.add(key, viewer_code[mask], values[mask])

    for column, total in (("device", "devices"), ("region", "regions")):
        codes, names = _codes(table.column(column))
        for code, name in enumerate(names):
            add_where(f"{column}:{name}", codes == code, weight)
        add_where(total, codes >= 0, weight)
    add_where("timed", rows >= 0, weight)
    part = (local_hour // 6).astype(np.int64)
    for index, name in enumerate(_DAYPARTS):
        add_where(f"daypart:{name}", part == index, weight)
    add_where("weekend", weekday >= 5, weight)

    # Playback, in order. The play open at an event is the viewer's last opening
    # before it (a start, or a seek's landing), or the one the profile carried;
    # the first closing event of that title after it (a pause, a stop, a seek
    # away) ends it and counts the minutes watched. A closing event of another
    # title (a second screen) leaves it open.
    playback = np.flatnonzero(np.logical_or.reduce([is_kind[k] for k in _PLAYBACK]))
    count_p = len(playback)
    p_viewer = viewer_code[playback]
    p_group = np.searchsorted(p_viewer, p_viewer, side="left")
    opening = is_kind["play_start"][playback] | is_kind["seek"][playback]
    closing = ~is_kind["play_start"][playback]
    anchor = np.where(is_kind["play_start"][playback], position[playback], target[playback])
    p_title = title_code[playback]
    p_time = time_us[playback]
    openings = np.where(opening, np.arange(count_p), -1)
    last_opening = np.full(count_p, -1, np.int64)
    if count_p > 1:
        last_opening[1:] = np.maximum.accumulate(openings)[:-1]
    real = last_opening >= p_group
    # Which play each event sees: a real opening's index, or -(viewer + 2) for
    # the play the viewer's profile carried in.
    open_key = np.where(real, last_opening, -(p_viewer + 2))
    source = np.maximum(last_opening, 0)
    open_title = np.where(real, p_title[source], -1)
    open_anchor = np.where(real, anchor[source], np.nan)
    open_time = np.where(real, p_time[source], 0)
    title_index = {str(name): i for i, name in enumerate(title_names)}
    for j in np.flatnonzero(~real):
        state = carried[p_viewer[j]]
        if state is not None and state.open_title is not None and state.open_position is not None:
            open_title[j] = title_index.get(state.open_title, -2)
            open_anchor[j] = state.open_position
            open_time[j] = state.open_time_us if state.open_time_us is not None else p_time[j]
    matching = np.flatnonzero(closing & (open_title == p_title) & (p_title >= 0))
    first = np.ones(len(matching), dtype=bool)
    first[1:] = open_key[matching[1:]] != open_key[matching[:-1]]
    paired = np.zeros(count_p, dtype=bool)
    paired[matching[first]] = True
    watched = np.maximum(0.0, position[playback] - open_anchor) / 60.0
    # No more than the wall time since the play opened: a bad clock or a client
    # that never sent its stop cannot invent hours.
    wall = (p_time - open_time) / (60 * _US)
    watched = np.where(paired, np.minimum(watched, np.maximum(0.0, wall)), 0.0)
    counted = paired & (watched > 0)
    minutes = watched * weight[playback]
    who = p_viewer
    sums.add("minutes", who[counted], minutes[counted])
    for code, info in enumerate(infos):
        mask = counted & (p_title == code)
        if not mask.any():
            continue
        keys = [f"genre:{g}" for g in info.genres] + [f"cast:{c}" for c in info.cast]
        keys += [f"series:{info.series}"] if info.series else []
        for key in keys:
            sums.add(key, who[mask], minutes[mask])

    # A play start right after a pause of the same title resumes it.
    previous_pause = np.zeros(n, dtype=bool)
    previous_pause[1:] = is_kind["pause"][:-1] & (title_code[1:] == title_code[:-1])
    previous_pause &= ~first_of_viewer
    for i in np.flatnonzero(first_of_viewer & (title_code >= 0)):
        state = carried[viewer_code[i]]
        previous_pause[i] = state is not None and state.paused_title == title_names[title_code[i]]
    start = is_kind["play_start"] & ~previous_pause
    add_where("starts", start, weight)
    add_where("recent_starts", start, recent)
    angle = 2.0 * np.pi * local_hour / 24.0
    add_where("hour_sin", start, np.sin(angle) * weight)
    add_where("hour_cos", start, np.cos(angle) * weight)

    # A binge: the next episode of a series started within 30 minutes of a stop.
    stop = np.logical_or.reduce([is_kind[k] for k in _STOPS])
    last_stop = np.maximum.accumulate(np.where(stop, rows, -1))
    has_stop = last_stop >= group_start
    series_of = np.array([info.series for info in infos] + [None], dtype=object)
    title_series = series_of[np.where(title_code >= 0, title_code, len(infos))]
    stop_series = title_series[np.maximum(last_stop, 0)].copy()
    stop_series[~has_stop] = None
    stop_title = np.where(has_stop, title_code[np.maximum(last_stop, 0)], -1)
    stop_time = np.where(has_stop, time_us[np.maximum(last_stop, 0)], -1)
    stop_title_name = np.array([str(t) for t in title_names] + [None], dtype=object)[
        np.where(stop_title >= 0, stop_title, len(title_names))
    ]
    for i in np.flatnonzero(start & ~has_stop):
        state = carried[viewer_code[i]]
        if state is not None and state.last_stop_us is not None:
            stop_series[i], stop_title_name[i] = state.last_series, state.last_title
            stop_time[i] = state.last_stop_us
    own_title = np.array([str(t) for t in title_names] + [None], dtype=object)[
        np.where(title_code >= 0, title_code, len(title_names))
    ]
    binge = (
        start
        & (title_series != None)  # noqa: E711
        & (stop_series == title_series)
        & (stop_title_name != own_title)
        & (stop_time >= 0)
        & (time_us - stop_time >= 0)
        & (time_us - stop_time <= BINGE_GAP_SECONDS * _US)
    )
    add_where("binge", binge, weight)
    add_where("completes", is_kind["complete"], weight)
    add_where("abandons", is_kind["abandon"], weight)
    add_where("searches", is_kind["search"], weight)
    interests = table.column("interests").to_pylist()
    for i in np.flatnonzero(is_kind["search"]):
        for interest in interests[i] or ():
            sums.add(f"search:{interest}", viewer_code[i : i + 1], weight[i : i + 1])
    add_where("shown", is_kind["browse"], weight)
    played = np.asarray(
        pc.fill_null(table.column("played"), False).to_numpy(zero_copy_only=False), dtype=bool
    )
    add_where("passed", is_kind["browse"] & ~played, weight)

    # What each viewer leaves for the next update.
    added = sums.by_viewer()
    count = np.bincount(viewer_code, minlength=viewers)
    last_row = np.searchsorted(viewer_code, np.arange(viewers), side="right") - 1
    last_playback = np.full(viewers, -1, np.int64)
    last_playback[p_viewer] = np.arange(len(playback))  # the last one of each viewer wins
    consumed = {int(k) for k in open_key[paired]}
    last_stop_row = last_stop[last_row]
    for v, name in enumerate(viewer_names):
        profile = carried[v] or Profile(str(name))
        profiles[str(name)] = profile
        for key, value in added[v].items():
            profile.sums[key] = profile.sums.get(key, 0.0) + value
        profile.events += int(count[v])
        j = last_playback[v]
        if j >= 0:
            # Open after the batch: the last play that opened, unless something ended it.
            key = open_key[j] if not opening[j] else j
            ended = key in consumed
            if opening[j] and not ended:
                profile.open_title = str(title_names[p_title[j]])
                profile.open_position = float(anchor[j])
                profile.open_time_us = int(p_time[j])
            elif ended:
                profile.open_title = profile.open_position = profile.open_time_us = None
            elif key >= 0:
                # The last opening before a closing that did not end it stays open.
                profile.open_title = str(title_names[p_title[key]])
                profile.open_position = float(anchor[key])
                profile.open_time_us = int(p_time[key])
        if last_stop_row[v] >= group_start[last_row[v]]:
            r = last_stop_row[v]
            profile.last_stop_us = int(time_us[r])
            profile.last_series = infos[title_code[r]].series
            profile.last_title = str(title_names[title_code[r]])
        r = last_row[v]
        profile.paused_title = str(title_names[title_code[r]]) if is_kind["pause"][r] else None


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
    table = read_parquet(path, "profile file")
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
