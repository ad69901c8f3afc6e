"""The impression log: schema, Parquet round trip, validation, and the delayed-reward join."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from thumbsel.cli import main
from thumbsel.errors import ThumbselError
from thumbsel.personalize.evaluate import evaluate
from thumbsel.personalize.features import IMAGE_ATTRIBUTES
from thumbsel.personalize.log import (
    IMPRESSION_SCHEMA,
    PLAY_SCHEMA,
    Impression,
    ImpressionLogError,
    impressions_to_table,
    join_rewards,
    logged_feedback,
    read_impressions,
    table_to_impressions,
    write_impressions,
)
from thumbsel.personalize.policies import EpsilonGreedy, UniformRandom, load_policy
from thumbsel.personalize.simulator import DEFAULT_SEGMENTS, Segment, Simulator

ESTIMATES = ("ips", "clipped_ips", "snips", "dm", "dr", "sndr", "switch_dr", "dros")
"""Every evaluation reports these (and ``mips`` where the log kept the logger's distributions)."""

START = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def impression(number: int, **changes: object) -> Impression:
    base = Impression(
        impression_id=f"imp{number}",
        time=START + number * timedelta(minutes=1),
        viewer_id=f"viewer{number % 3}",
        viewer_context={"genre:thriller": 0.8, "device:tv": 1.0},
        title_id="title7",
        candidate_ids=["a", "b", "c"],
        candidate_attributes=[{"dark": 1.0, "closeup": 1.0}, {"smiling": 1.0}, {}],
        candidate_probabilities=[0.5, 0.25, 0.25],
        chosen_id="b",
        propensity=0.25,
        policy_name="epsilon-greedy",
        policy_version="epsilon-greedy-10-abc",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def plays(*events: tuple[str, datetime, float | None]) -> pa.Table:
    ids, times, minutes = zip(*events, strict=True) if events else ((), (), ())
    return pa.table(
        {"impression_id": list(ids), "time": list(times), "minutes": list(minutes)},
        schema=PLAY_SCHEMA,
    )


def test_a_log_round_trips_through_parquet_exactly(tmp_path: Path) -> None:
    originals = [impression(i) for i in range(5)]
    originals[2] = impression(2, reward=1.0, reward_time=START + HOUR, viewer_context=None)
    path = write_impressions(tmp_path / "log.parquet", originals)
    table = read_impressions(path)
    assert table.schema.equals(IMPRESSION_SCHEMA)
    back = table_to_impressions(table)
    assert [dataclasses.asdict(b) for b in back] == [dataclasses.asdict(o) for o in originals]
    assert pq.read_metadata(path).metadata[b"thumbsel.impression_log.version"] == b"1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"chosen_id": "z"}, "chosen_id is not among the candidates"),
        ({"propensity": 0.5}, "propensity 0.5 differs from the chosen candidate's"),
        ({"candidate_probabilities": [0.5, 0.25, 0.2]}, "sum to 0.95"),
        ({"candidate_probabilities": [1.5, -0.25, -0.25]}, r"must lie in \[0, 1\]"),
        ({"candidate_ids": ["a", "b"]}, "differ in length"),
        ({"candidate_ids": ["b", "b", "c"]}, "candidate ids repeat"),
        ({"candidate_probabilities": [1.0, 0.0, 0.0], "propensity": 0.0}, "must be positive"),
    ],
)
def test_an_inconsistent_impression_is_named(
    changes: dict[str, object], message: str, tmp_path: Path
) -> None:
    log = [impression(0), impression(1, **changes), impression(2)]
    target = tmp_path / "log.parquet"
    target.write_bytes(b"the previous log")
    with pytest.raises(ImpressionLogError, match=f"impression imp1: .*{message}") as caught:
        write_impressions(target, log)
    assert isinstance(caught.value, ThumbselError)
    # Nothing half-written: the previous file is untouched and no temporary is left.
    assert target.read_bytes() == b"the previous log"
    assert [p.name for p in tmp_path.iterdir()] == ["log.parquet"]


def test_duplicate_ids_and_naive_times_are_refused() -> None:
    with pytest.raises(ImpressionLogError, match="imp1: impression id appears more than once"):
        write_impressions("unused.parquet", [impression(1), impression(1)])
    with pytest.raises(ImpressionLogError, match="time has no time zone"):
        impressions_to_table([impression(1, time=datetime(2026, 3, 1))])


def test_reading_something_else_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImpressionLogError, match="no such impression log"):
        read_impressions(tmp_path / "absent.parquet")
    (tmp_path / "text.parquet").write_text("hello")
    with pytest.raises(ImpressionLogError, match="not a Parquet impression log"):
        read_impressions(tmp_path / "text.parquet")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(ImpressionLogError, match="not a thumbsel impression log"):
        read_impressions(tmp_path / "other.parquet")
    table = impressions_to_table([impression(0)])
    newer = table.replace_schema_metadata({b"thumbsel.impression_log.version": b"9"})
    pq.write_table(newer, tmp_path / "newer.parquet")
    with pytest.raises(ImpressionLogError, match="version '9' is not supported"):
        read_impressions(tmp_path / "newer.parquet")
    versioned = table.schema.metadata
    pq.write_table(
        table.drop(["propensity"]).replace_schema_metadata(versioned), tmp_path / "short.parquet"
    )
    with pytest.raises(ImpressionLogError, match=r"short.parquet: .* no column 'propensity'"):
        read_impressions(tmp_path / "short.parquet")


# -- the join ------------------------------------------------------------------------


def test_the_first_play_inside_the_window_counts() -> None:
    log = impressions_to_table([impression(i) for i in range(6)])
    t = {i: START + i * timedelta(minutes=1) for i in range(6)}
    events = plays(
        ("imp0", t[0] + 10 * timedelta(minutes=1), 30.0),  # inside
        ("imp0", t[0] + 20 * timedelta(minutes=1), 50.0),  # a second play: duplicate
        ("imp1", t[1] + 2 * HOUR, 12.0),  # exactly at the end of the window: inside
        ("imp2", t[2] + 2 * HOUR + timedelta(microseconds=1), 5.0),  # late
        ("imp3", t[3] - timedelta(seconds=5), 9.0),  # before the impression: early
        ("ghost", t[0], 1.0),  # no such impression
        ("imp4", t[4] + HOUR, None),  # a play without minutes
    )
    joined = join_rewards(log, events, timeout=2 * HOUR)
    rewards = joined.table.column("reward").to_pylist()
    assert rewards == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert joined.table.column("reward_time").to_pylist() == [
        t[0] + 10 * timedelta(minutes=1),
        t[1] + 2 * HOUR,
        None,
        None,
        t[4] + HOUR,
        None,
    ]
    assert joined.report.as_dict() == {
        "impressions": 6,
        "rewarded": 3,
        "no_play": 3,
        "pending": 0,
        "plays": 7,
        "late": 1,
        "early": 1,
        "duplicate": 1,
        "orphan": 1,
        "missing_minutes": 1,
    }
    by_minutes = join_rewards(log, events, timeout=2 * HOUR, reward="minutes")
    assert by_minutes.table.column("reward").to_pylist() == [30.0, 12.0, 0.0, 0.0, 0.0, 0.0]


def test_open_windows_stay_pending_until_they_close() -> None:
    log = impressions_to_table([impression(0), impression(60), impression(120)])
    events = plays(("imp120", START + 121 * timedelta(minutes=1), 3.0))
    # At 21:30, imp0's window (20:00-21:00) has closed; imp60's (21:00-22:00) has not.
    early_join = join_rewards(log, events, timeout=HOUR, as_of=START + 90 * timedelta(minutes=1))
    assert early_join.table.column("reward").to_pylist() == [0.0, None, 1.0]
    assert (early_join.report.no_play, early_join.report.pending) == (1, 1)
    later = join_rewards(log, events, timeout=HOUR, as_of=START + 3 * HOUR)
    assert later.table.column("reward").to_pylist() == [0.0, 0.0, 1.0]
    # Joined output is itself a valid log.
    assert table_to_impressions(later.table)[2].reward == 1.0


def test_an_empty_play_table_joins() -> None:
    log = impressions_to_table([impression(0)])
    joined = join_rewards(log, plays(), timeout=HOUR)
    assert joined.table.column("reward").to_pylist() == [0.0]
    assert joined.report.plays == 0


def test_a_play_log_without_the_needed_columns_is_refused() -> None:
    log = impressions_to_table([impression(0)])
    with pytest.raises(ImpressionLogError, match="play log has no column 'time'"):
        join_rewards(log, pa.table({"impression_id": ["imp0"]}), timeout=HOUR)


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.tuples(st.integers(0, 9), st.integers(-30, 200)), min_size=0, max_size=40),
    as_of_minutes=st.one_of(st.none(), st.integers(0, 300)),
)
def test_every_impression_and_play_is_accounted_for(
    offsets: list[tuple[int, int]], as_of_minutes: int | None
) -> None:
    log = impressions_to_table([impression(i) for i in range(8)])
    events = plays(
        *[(f"imp{i}", START + (i + m) * timedelta(minutes=1), float(m)) for i, m in offsets]
    )
    as_of = None if as_of_minutes is None else START + as_of_minutes * timedelta(minutes=1)
    joined = join_rewards(log, events, timeout=HOUR, as_of=as_of)
    report = joined.report
    assert report.rewarded + report.no_play + report.pending == 8
    assert (
        report.rewarded + report.late + report.early + report.duplicate + report.orphan
        == report.plays
        == len(offsets)
    )
    rewards = joined.table.column("reward").to_pylist()
    assert sum(r is None for r in rewards) == report.pending
    assert sum(r == 1.0 for r in rewards) == report.rewarded


def test_a_simulated_service_logs_joins_and_evaluates(tmp_path: Path) -> None:
    simulator = Simulator(viewers=120, titles=15, seed=6)
    logger = UniformRandom(simulator.space, seed=6)
    run = simulator.run(logger, rounds=10, learn=False)
    log, events = simulator.impression_log(run, start=START, policy_version=logger.version)
    path = write_impressions(tmp_path / "impressions.parquet", log)
    joined = join_rewards(read_impressions(path), events, timeout=4 * HOUR)
    # Every play arrives within three hours, so the join recovers the run exactly.
    np.testing.assert_array_equal(joined.table.column("reward").to_numpy(), run.plays)
    assert joined.report.rewarded == int(run.plays.sum())
    feedback, pending = logged_feedback(joined.table, simulator.space)
    assert pending == 0
    target = EpsilonGreedy(simulator.space, epsilon=0.1)
    simulator.run(target, rounds=5)
    report = evaluate(feedback, target)
    direct = evaluate(simulator.logged_feedback(run), target)
    for method in ("ips", "snips", "dr"):
        assert report.estimates[method].value == pytest.approx(direct.estimates[method].value)


def test_the_cli_trains_and_evaluates_from_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = Simulator(viewers=200, titles=20, seed=8)
    run = simulator.run(UniformRandom(simulator.space, seed=8), rounds=10, learn=False)
    log, events = simulator.impression_log(run, start=START)
    # Train on the first five days, evaluate on the last five: evaluating on
    # the log a policy was fitted to would flatter it (winner's curse).
    week = START + timedelta(days=5)
    early = pc.less(log.column("time"), pa.scalar(week, type=log.schema.field("time").type))
    write_impressions(tmp_path / "train.parquet", log.filter(early))
    write_impressions(tmp_path / "test.parquet", log.filter(pc.invert(early)))
    pq.write_table(events, tmp_path / "plays.parquet")
    plays_file = ["--plays", str(tmp_path / "plays.parquet")]
    policy = str(tmp_path / "policy.json")

    train = ["personalize", "train", str(tmp_path / "train.parquet"), *plays_file]
    assert main([*train, "--policy", "epsilon-greedy", "-o", policy]) == 0
    assert "trained on 1000 rewarded impressions" in capsys.readouterr().out
    evaluate_cmd = ["personalize", "evaluate", str(tmp_path / "test.parquet"), *plays_file]
    assert main([*evaluate_cmd, "--policy", policy, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["impressions"] == 1000
    assert report["pending"] == 0
    assert set(report["estimates"]) == {*ESTIMATES, "mips"}
    # The trained policy is better than the uniform logger, and the estimate
    # covers its true value in this world.
    trained = load_policy(policy)
    truth = simulator.policy_value(trained)
    dr = report["estimates"]["dr"]
    assert dr["low"] <= truth <= dr["high"]
    assert dr["low"] > report["logged_reward"]


def test_the_cli_gives_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_impressions(tmp_path / "log.parquet", [impression(0)])
    status = main(
        ["personalize", "evaluate", str(tmp_path / "absent.parquet"), "--policy", "p.json"]
    )
    assert status == 1
    assert capsys.readouterr().err.strip() == "thumbsel: error: p.json: no such policy file"
    status = main(["personalize", "train", str(tmp_path / "log.parquet"), "-o", "p.json"])
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert err == "thumbsel: error: no impression in the log has a reward yet"
    pq.write_table(pa.table({"impression_id": ["imp0"]}), tmp_path / "plays.parquet")
    status = main(
        [
            "personalize",
            "train",
            str(tmp_path / "log.parquet"),
            "--plays",
            str(tmp_path / "plays.parquet"),
            "-o",
            str(tmp_path / "p.json"),
        ]
    )
    assert status == 1
    assert "play log has no column 'time'" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_play_times_in_any_zone_and_unit_are_converted() -> None:
    log = impressions_to_table([impression(0)])
    paris = timezone(timedelta(hours=1))
    local = pa.table(
        {
            "impression_id": ["imp0"],
            "time": pa.array([START.astimezone(paris) + HOUR], pa.timestamp("ns", tz="+01:00")),
        }
    )
    joined = join_rewards(log, local, timeout=2 * HOUR)
    assert joined.table.column("reward_time").to_pylist() == [START + HOUR]
    naive = pa.table(
        {"impression_id": ["imp0"], "time": pa.array([datetime(2026, 3, 1)], pa.timestamp("us"))}
    )
    with pytest.raises(ImpressionLogError, match="'time' has no time zone"):
        join_rewards(log, naive, timeout=HOUR)


def test_plays_against_an_empty_log_are_all_orphans() -> None:
    empty = impressions_to_table([])
    joined = join_rewards(empty, plays(("imp0", START, 1.0)), timeout=HOUR)
    assert joined.table.num_rows == 0
    assert (joined.report.orphan, joined.report.rewarded) == (1, 0)


def test_a_corrupt_plays_file_is_named_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11: a damaged plays file used to end in "internal error: ArrowInvalid"."""
    write_impressions(tmp_path / "log.parquet", [impression(0)])
    pq.write_table(pa.table({"impression_id": ["imp0"] * 50}), tmp_path / "plays.parquet")
    data = bytearray((tmp_path / "plays.parquet").read_bytes())
    data[8:40] = bytes(32)  # the first column chunk's header, zeroed
    (tmp_path / "plays.parquet").write_bytes(bytes(data))
    train = ["personalize", "train", str(tmp_path / "log.parquet")]
    plays = ["--plays", str(tmp_path / "plays.parquet"), "-o", str(tmp_path / "p.json")]
    assert main([*train, *plays]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err
    assert err.startswith(f"thumbsel: error: {tmp_path / 'plays.parquet'}: ")


def test_training_learns_the_cast_the_log_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fans of an actor in the log: the trained policy's space has that actor's
    attribute (its images' `character:<name>` tags), and it learned to show them."""
    simulator = Simulator(
        viewers=200, titles=20, seed=9, segments=(*DEFAULT_SEGMENTS, Segment.fans("uma"))
    )
    run = simulator.run(UniformRandom(simulator.space, seed=9), rounds=10, learn=False)
    log, events = simulator.impression_log(run, start=START)
    write_impressions(tmp_path / "log.parquet", log)
    pq.write_table(events, tmp_path / "plays.parquet")
    policy = str(tmp_path / "policy.json")
    train = ["personalize", "train", str(tmp_path / "log.parquet")]
    assert main([*train, "--plays", str(tmp_path / "plays.parquet"), "-o", policy]) == 0
    capsys.readouterr()
    trained = load_policy(policy)
    assert "character:uma" in trained.space.image_attributes
    assert trained.space.image_attributes[: len(IMAGE_ATTRIBUTES)] == IMAGE_ATTRIBUTES
    assert simulator.policy_value(trained) > simulator.policy_value(
        UniformRandom(simulator.space, seed=9)
    )
