"""Behaviour events and the viewer profiles built from them, against the simulator's truth."""

from __future__ import annotations

import contextlib
import io
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from thumbsel.cli import main
from thumbsel.errors import EventLogError
from thumbsel.personalize.events import EVENT_SCHEMA, check_events, read_events, write_events
from thumbsel.personalize.profiles import (
    TitleInfo,
    Titles,
    profile_context,
    read_profiles,
    update_profiles,
    write_profiles,
)
from thumbsel.personalize.simulator import Simulator, make_policy

START = datetime(2026, 11, 1, tzinfo=UTC)
TITLES = Titles(
    [
        TitleInfo("noir", series="night", genres=("thriller",), cast=("Ada Stone",)),
        TitleInfo("noir-2", series="night", genres=("thriller",), cast=("Ada Stone",)),
        TitleInfo("meet", genres=("romance",), cast=("Ben Hale",)),
    ]
)


def events(*rows: dict[str, object]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"viewer_id": "v1", "device": "tv", "region": "GB"} | row for row in rows],
        schema=EVENT_SCHEMA,
    )


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_bad_rows_are_counted_by_reason_and_left_out(tmp_path: Path) -> None:
    good = {"time": at(0), "kind": "play_start", "title_id": "noir", "position": 0.0}
    table = events(
        good,
        {"time": at(1), "kind": "pause", "title_id": "noir", "position": 60.0},
        {"time": at(2), "kind": "jump", "title_id": "noir"},
        {"time": at(3), "kind": "pause", "title_id": "noir", "position": -5.0},
        {"time": at(4), "kind": "seek", "title_id": "noir", "position": 5.0},
        {"time": at(5), "kind": "search"},
        {"time": at(6), "kind": "browse", "title_id": "noir", "row": 1},
        good | {"viewer_id": ""},
        good | {"device": "iPhone 15 of Ada"},
        good | {"region": "GB-London-SW1A 1AA"},
        good | {"utc_offset_minutes": 5000},
        {"time": at(7), "kind": "complete"},
    )
    batch = check_events(table)
    assert batch.report.rows == 12 and batch.report.kept == 2
    assert batch.report.bad == {
        "of an unknown kind": 1,
        "without a position": 1,
        "seeks without a target": 1,
        "searches without a query": 1,
        "browses without a row and rank": 1,
        "without a viewer id": 1,
        "of an unknown device class": 1,
        "with a region finer than a country or province": 1,
        "with a time offset out of range": 1,
        "without a title id": 1,
    }
    assert batch.table.column("kind").to_pylist() == ["play_start", "pause"]
    # Writing refuses a bad row; what is written reads back whole.
    with pytest.raises(EventLogError, match="not written: 2 of 12 events kept"):
        write_events(tmp_path / "bad.parquet", table)
    assert not (tmp_path / "bad.parquet").exists()
    write_events(tmp_path / "good.parquet", batch.table)
    again = read_events(tmp_path / "good.parquet")
    assert again.table.equals(batch.table) and again.report.rejected == 0
    # A file that is not an event file, or misses a column, is refused in one line.
    (tmp_path / "junk.parquet").write_bytes(b"junk")
    with pytest.raises(EventLogError, match="not a Parquet event file"):
        read_events(tmp_path / "junk.parquet")
    pq.write_table(table.drop_columns(["kind"]), tmp_path / "nokind.parquet")
    with pytest.raises(EventLogError, match="has no column 'kind'"):
        read_events(tmp_path / "nokind.parquet")
    naive = table.set_column(1, "time", table.column("time").cast(pa.timestamp("us")))
    pq.write_table(naive, tmp_path / "naive.parquet")
    with pytest.raises(EventLogError, match="with a time zone"):
        read_events(tmp_path / "naive.parquet")


def test_minutes_binge_search_and_browse_from_a_short_history() -> None:
    table = events(
        {"time": at(0), "kind": "browse", "title_id": "noir", "row": 0, "rank": 0, "played": True},
        {"time": at(0), "kind": "browse", "title_id": "meet", "row": 0, "rank": 1},
        {"time": at(0), "kind": "search", "query": "Ada Stone thrillers"},
        {"time": at(1), "kind": "play_start", "title_id": "noir", "position": 0.0},
        {"time": at(11), "kind": "pause", "title_id": "noir", "position": 600.0},
        {"time": at(15), "kind": "play_start", "title_id": "noir", "position": 600.0},
        # Rewound 2 minutes: the minutes count the picture watched, twice where twice.
        {
            "time": at(20),
            "kind": "seek",
            "title_id": "noir",
            "position": 900.0,
            "to_position": 780.0,
        },
        {"time": at(50), "kind": "complete", "title_id": "noir", "position": 2580.0},
        {"time": at(55), "kind": "play_start", "title_id": "noir-2", "position": 0.0},
        {"time": at(65), "kind": "abandon", "title_id": "noir-2", "position": 600.0},
    )
    profiles = update_profiles(None, table, TITLES, half_life_days=3650)
    profile = profiles.by_viewer["v1"]
    # 10 + 5 + 30 minutes of noir, 10 of noir-2 (an hour's decay is 1e-5 at this half-life).
    assert profile.sums["minutes"] == pytest.approx(55.0, rel=1e-4)
    context = profile_context(profile)
    assert context["genre:thriller"] == pytest.approx(1.0, rel=1e-4)
    assert "genre:romance" not in context
    assert context["cast:Ada Stone"] == pytest.approx(1.0, rel=1e-4)
    # Two starts (the resume after the pause is not one): one finished, one left, and the
    # second an episode of the same series started within 30 minutes of the first's end.
    assert profile.sums["starts"] == pytest.approx(2.0, rel=1e-4)
    assert context["completion"] == pytest.approx(0.5, rel=1e-4)
    assert context["abandonment"] == pytest.approx(0.5, rel=1e-4)
    assert context["binge"] == pytest.approx(0.5, rel=1e-4)
    assert context["fatigue"] == pytest.approx(0.5, rel=1e-4)  # two shown, one passed over
    # The search is kept as what it named, never as its words.
    assert context["search:cast:Ada Stone"] == pytest.approx(1.0, rel=1e-4)
    assert context["search:genre:thriller"] == pytest.approx(1.0, rel=1e-4)  # "thrillers"
    assert TITLES.interests_of("stone comedies") == ["cast:Ada Stone"]  # a surname finds her
    assert not any("thrillers" in key for key in profile.sums)


def test_one_play_is_open_at_a_time_and_a_stray_stop_does_not_end_it() -> None:
    """A second screen: meet starts while noir plays; noir's abandon leaves meet open."""
    table = events(
        {"time": at(0), "kind": "play_start", "title_id": "noir", "position": 0.0},
        {"time": at(1), "kind": "play_start", "title_id": "meet", "position": 0.0},
        {"time": at(10), "kind": "abandon", "title_id": "noir", "position": 600.0},
        {"time": at(20), "kind": "abandon", "title_id": "meet", "position": 1140.0},
        {"time": at(30), "kind": "play_start", "title_id": "noir", "position": 600.0},
    )
    profile = update_profiles(None, table, TITLES, half_life_days=3650).by_viewer["v1"]
    assert profile.sums["minutes"] == pytest.approx(19.0, rel=1e-4)
    assert "genre:thriller" not in profile.sums
    # The last play is still open, for the next day's events to close.
    assert (profile.open_title, profile.open_position) == ("noir", 600.0)
    assert profile.last_title == "meet" and profile.paused_title is None


def test_older_viewing_counts_less_by_the_half_life() -> None:
    table = events(
        {"time": at(0), "kind": "play_start", "title_id": "noir", "position": 0.0},
        {"time": at(30), "kind": "play_stop", "title_id": "noir", "position": 1800.0},
        {"time": at(60 * 24 * 60), "kind": "play_start", "title_id": "meet", "position": 0.0},
        {
            "time": at(60 * 24 * 60 + 30),
            "kind": "play_stop",
            "title_id": "meet",
            "position": 1800.0,
        },
    )
    context = update_profiles(None, table, TITLES, half_life_days=60).context("v1")
    # Sixty days old is worth half: 15 of 45 decayed minutes are the thriller's.
    assert context["genre:thriller"] == pytest.approx(1 / 3, rel=1e-6)
    assert context["genre:romance"] == pytest.approx(2 / 3, rel=1e-6)


def test_a_day_at_a_time_equals_all_at_once(tmp_path: Path) -> None:
    simulator = Simulator(viewers=60, titles=12, seed=4)
    stream = simulator.behaviour(10, START)
    titles = simulator.title_info()
    days = [START + timedelta(days=d) for d in range(1, 12)]
    whole = update_profiles(None, stream, titles, as_of=days[-1])
    profiles = None
    times = stream.column("time").to_pylist()
    # The first day starts with the first event (a viewer's local evening can be before START).
    for day_start, day_end in zip([min(times), *days[:-1]], days, strict=True):
        mask = pa.array([day_start <= t < day_end for t in times])
        profiles = update_profiles(profiles, stream.filter(mask), titles, as_of=day_end)
        # Each day's profiles survive a file: the next day starts from what was written.
        write_profiles(tmp_path / "profiles.parquet", profiles)
        profiles = read_profiles(tmp_path / "profiles.parquet")
    assert profiles is not None and profiles.as_of == whole.as_of == days[-1]
    assert profiles.by_viewer.keys() == whole.by_viewer.keys()
    for viewer, profile in whole.by_viewer.items():
        daily = profiles.by_viewer[viewer]
        assert daily.sums.keys() == profile.sums.keys()
        for key, value in profile.sums.items():
            assert daily.sums[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (viewer, key)
        assert (daily.events, daily.open_title, daily.last_series) == (
            profile.events,
            profile.open_title,
            profile.last_series,
        )
    # Events later than as_of are left out and counted, and profiles never go back in time.
    late = update_profiles(None, stream, titles, as_of=START + timedelta(days=5))
    assert late.report.bad["after as_of"] > 0
    with pytest.raises(Exception, match="do not go back in time"):
        update_profiles(whole, stream.slice(0, 0), titles, as_of=START)


def test_profiles_from_events_recover_the_hidden_tastes() -> None:
    """A contextual policy on event-built profiles against one given the true tastes."""
    simulator = Simulator(viewers=300, titles=30, seed=0)
    profiles = update_profiles(None, simulator.behaviour(28, START), simulator.title_info())
    built = simulator.contexts_from(profiles)
    segments = len(simulator.segments)
    # Each viewer's largest event-built genre share is their hidden segment's genre
    # for nearly everyone (the affinities overlap a little by design).
    assert np.mean(built[:, :segments].argmax(axis=1) == simulator.segment_of) >= 0.9
    on_events = simulator.with_contexts(built).run(make_policy("linucb", simulator.space, 0), 20)
    on_truth = simulator.with_contexts(simulator.true_contexts()).run(
        make_policy("linucb", simulator.space, 0), 20
    )
    best_single = simulator.run_best_single(20)
    low, _ = on_events.take_rate_interval()
    _, best_high = best_single.take_rate_interval()
    assert low > best_high, (on_events.summary(), best_single.summary())
    # The stated margin: within 0.02 plays per impression of the policy that knows the truth.
    assert on_events.take_rate >= on_truth.take_rate - 0.02, (
        on_events.take_rate,
        on_truth.take_rate,
    )
    # The favourite attribute per hidden segment, as the policy learned it from event-built
    # profiles: dark for thriller fans, smiling for romance, bright for family viewers.
    policy = on_events.policy_object
    assert policy is not None
    attributes = ["dark", "smiling", "bright"]
    for segment, favourite in zip(simulator.segments, attributes, strict=True):
        members = simulator.segment_of == simulator.segments.index(segment)
        prototype = dict(
            zip(simulator.space.viewer_features, built[members].mean(axis=0), strict=True)
        )
        reasons = policy.explain(prototype, [{a: 1.0} for a in attributes])
        assert attributes[int(np.argmax([r.score for r in reasons]))] == favourite, segment.name


def test_profile_command_builds_and_updates_a_file(tmp_path: Path) -> None:
    simulator = Simulator(viewers=20, titles=6, seed=2)
    stream = simulator.behaviour(4, START)
    times = stream.column("time").to_pylist()
    cut = START + timedelta(days=2)
    first = stream.filter(pa.array([t < cut for t in times]))
    write_events(tmp_path / "day1.parquet", first)
    write_events(tmp_path / "day2.parquet", stream.filter(pa.array([t >= cut for t in times])))
    manifest = tmp_path / "titles.csv"
    manifest.write_text(
        "title_id,series,genres,cast\n"
        + "".join(
            f"{t.title_id},{t.series},{';'.join(t.genres)},{';'.join(t.cast)}\n"
            for t in simulator.title_info().by_id.values()
        )
    )
    out = io.StringIO()
    common = ["personalize", "profile", "--titles", str(manifest), "--json"]
    with contextlib.redirect_stdout(out):
        assert (
            main([*common, str(tmp_path / "day1.parquet"), "-o", str(tmp_path / "p1.parquet")]) == 0
        )
        assert (
            main(
                [
                    *common,
                    str(tmp_path / "day2.parquet"),
                    "--previous",
                    str(tmp_path / "p1.parquet"),
                    "-o",
                    str(tmp_path / "p2.parquet"),
                ]
            )
            == 0
        )
    reports = [json.loads(line) for line in out.getvalue().splitlines()]
    viewers = set(stream.column("viewer_id").to_pylist())
    assert reports[0]["kept"] == first.num_rows and reports[1]["viewers"] == len(viewers)
    whole = update_profiles(None, stream, simulator.title_info())
    daily = read_profiles(tmp_path / "p2.parquet")
    for viewer, profile in whole.by_viewer.items():
        for key, value in profile_context(profile).items():
            assert daily.context(viewer)[key] == pytest.approx(value, rel=1e-9), (viewer, key)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([*common, str(tmp_path / "none.parquet"), "-o", str(tmp_path / "x.parquet")])
    assert (
        code == 1 and "no such event file" in err.getvalue() and "Traceback" not in err.getvalue()
    )
    assert not math.isnan(daily.half_life_days)
