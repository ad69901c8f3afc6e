"""Off-policy training from a service's own log, and the guarded rollout.

Logs come from the simulator (hidden taste segments; the true value of any
policy is known exactly): round r is day r, so "the last day" is a real
held-out day the candidate never saw.
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from thumbsel.cli import main
from thumbsel.errors import PersonalizeError
from thumbsel.personalize.evaluate import LoggedFeedback
from thumbsel.personalize.log import (
    join_rewards,
    logged_feedback,
    read_impressions,
    table_to_impressions,
)
from thumbsel.personalize.policies import EpsilonGreedy, UniformRandom, load_policy
from thumbsel.personalize.simulator import Simulator
from thumbsel.personalize.store import Store
from thumbsel.personalize.training import (
    guarded_rollout,
    importance_weights,
    split_by_time,
    train_policy,
)

START = datetime(2026, 11, 1, tzinfo=UTC)


def simulated_log(seed: int, *, rounds: int = 10, logger: str = "random"):  # type: ignore[no-untyped-def]
    simulator = Simulator(viewers=200, titles=20, seed=seed)
    policy = (
        UniformRandom(simulator.space, seed=seed)
        if logger == "random"
        else EpsilonGreedy(simulator.space, epsilon=0.2, seed=seed)
    )
    run = simulator.run(policy, rounds=rounds, learn=logger != "random")
    log, plays = simulator.impression_log(run, start=START, policy_version=policy.version)
    joined = join_rewards(log, plays, timeout=timedelta(hours=4)).table
    return simulator, joined, plays


def test_importance_weights_are_clipped_and_scaled_to_mean_one() -> None:
    weights = importance_weights([0.5, 0.1, 0.001], clip=10.0)
    np.testing.assert_allclose(weights, np.array([2.0, 10.0, 10.0]) / (22.0 / 3.0))
    assert weights.mean() == pytest.approx(1.0)
    for bad in ([0.0], [1.5], []):
        with pytest.raises(PersonalizeError, match="propensities"):
            importance_weights(bad)
    with pytest.raises(PersonalizeError, match="clip"):
        importance_weights([0.5], clip=0.5)


def test_ips_training_is_the_weighted_ridge_on_the_shown_images() -> None:
    simulator, log, _ = simulated_log(3, rounds=4, logger="epsilon-greedy")
    feedback, _ = logged_feedback(log, simulator.space)
    policy = train_policy(feedback, "epsilon-greedy", clip=5.0)
    rows = np.array([feedback.design(i)[c] for i, c in enumerate(feedback.chosen)])
    weights = np.minimum(5.0, 1.0 / feedback.propensity)
    weights /= weights.mean()
    np.testing.assert_allclose(policy.model.gram, (rows * weights[:, None]).T @ rows)
    np.testing.assert_allclose(policy.model.target, rows.T @ (weights * feedback.reward))
    plain = train_policy(feedback, "epsilon-greedy", weighting="none")
    np.testing.assert_allclose(plain.model.gram, rows.T @ rows)


def test_a_better_candidate_is_published_and_a_worse_one_is_not() -> None:
    simulator, log, _ = simulated_log(5)
    earlier, last_day = split_by_time(log, timedelta(days=1))
    assert (earlier.num_rows, last_day.num_rows) == (1800, 200)
    train, _ = logged_feedback(earlier, simulator.space)
    held_out, _ = logged_feedback(last_day, simulator.space)
    good = train_policy(train, "epsilon-greedy", epsilon=0.05)
    # A policy taught the opposite of what viewers did: it shows what they skip.
    flipped = LoggedFeedback(
        train.space,
        train.viewers,
        train.candidates,
        train.chosen,
        train.propensity,
        1.0 - train.reward,
    )
    bad = train_policy(flipped, "epsilon-greedy", epsilon=0.05)
    truth = {name: simulator.policy_value(p) for name, p in (("good", good), ("bad", bad))}
    logger_value = simulator.policy_value(UniformRandom(simulator.space))
    assert truth["bad"] < logger_value < truth["good"]
    assert guarded_rollout(good, held_out).published
    rollout = guarded_rollout(bad, held_out)
    assert not rollout.published and "does not beat" in rollout.reason
    # Against a live policy as good as itself, a candidate is not published either.
    assert not guarded_rollout(good, held_out, live=good).published


def test_train_reads_a_service_store_and_publishes_only_when_better(tmp_path: Path) -> None:
    _, log, plays = simulated_log(7)
    store_path = tmp_path / "live.db"
    with Store(store_path) as store:
        for impression in table_to_impressions(log):
            store.log(impression)  # as the service logged it: the rewards come from the plays
        store.add_plays(
            zip(
                plays.column("impression_id").to_pylist(),
                plays.column("time").to_pylist(),
                plays.column("minutes").to_pylist(),
                strict=True,
            )
        )
    live = tmp_path / "policy.json"
    common = ["personalize", "train", "--store", str(store_path), "--timeout-hours", "4"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                *common,
                "--policy",
                "epsilon-greedy",
                "-o",
                str(tmp_path / "c1.json"),
                "--publish",
                str(live),
                "--json",
            ]
        )
    assert code == 0
    report = json.loads(out.getvalue())
    assert report["trained_on"] == 1800 and report["rollout"]["published"], report
    assert load_policy(live).version == report["version"]
    # A uniform random candidate does not beat the policy now live: nothing changes.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [*common, "--policy", "random", "-o", str(tmp_path / "c2.json"), "--publish", str(live)]
        )
    assert code == 0 and "not published" in out.getvalue()
    assert load_policy(live).version == report["version"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(
            [
                *common,
                "-o",
                str(tmp_path / "c3.json"),
                "--publish",
                str(live),
                "--holdout-days",
                "30",
            ]
        )
    assert code == 1 and "nothing is left to train on" in err.getvalue()


def test_a_postgresql_store_exports_and_trains_what_a_sqlite_one_does(
    tmp_path: Path, postgres_url: str
) -> None:
    """The same impressions and plays in both stores: the same log out, the same policy trained."""
    _, log, plays = simulated_log(11, rounds=4)
    rows = list(
        zip(
            plays.column("impression_id").to_pylist(),
            plays.column("time").to_pylist(),
            plays.column("minutes").to_pylist(),
            strict=True,
        )
    )
    where = {
        "sqlite": ["--store", str(tmp_path / "live.db")],
        "postgresql": ["--database", postgres_url],
    }
    for location in (str(tmp_path / "live.db"), postgres_url):
        with Store(location) as store:
            for impression in table_to_impressions(log):
                store.log(impression)
            store.add_plays(rows)
    exported, trained = {}, {}
    with contextlib.redirect_stdout(io.StringIO()):
        for name, options in where.items():
            out = tmp_path / f"{name}.parquet"
            assert (
                main(["personalize", "export", *options, "-o", str(out), "--timeout-hours", "4"])
                == 0
            )
            exported[name] = read_impressions(out)
            policy = tmp_path / f"{name}.json"
            train = ["personalize", "train", *options, "--timeout-hours", "4", "-o", str(policy)]
            assert main([*train, "--policy", "epsilon-greedy"]) == 0
            trained[name] = load_policy(policy)
    assert exported["sqlite"].num_rows == log.num_rows == 800
    assert exported["sqlite"].equals(exported["postgresql"])
    assert exported["sqlite"]["reward"].null_count < log.num_rows  # the plays were joined
    assert trained["sqlite"].version == trained["postgresql"].version
