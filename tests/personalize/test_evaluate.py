"""Off-policy evaluation of policies on simulated logs, against the simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest
from thumbsel.errors import PersonalizeError
from thumbsel.personalize.evaluate import LoggedFeedback, evaluate
from thumbsel.personalize.policies import EpsilonGreedy, LinUCB, Policy, UniformRandom
from thumbsel.personalize.simulator import Simulator

ESTIMATES = ("ips", "clipped_ips", "snips", "dm", "dr", "sndr", "switch_dr", "dros")
"""Every evaluation reports these (and ``mips`` where the log kept the logger's distributions)."""

SEEDS = range(200)


@pytest.fixture(scope="module")
def target() -> Policy:
    """A personalised policy trained on a world the evaluations never see."""
    reference = Simulator(viewers=200, titles=30, seed=10_000)
    policy = EpsilonGreedy(reference.space, epsilon=0.2)
    reference.run(policy, rounds=10)
    return policy


@pytest.fixture(scope="module")
def coverage_runs(target: Policy) -> dict[str, np.ndarray]:
    """Per seed: the truth, and each estimator's value and interval, on a uniform log."""
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    for seed in SEEDS:
        simulator = Simulator(viewers=60, titles=15, seed=seed)
        truth = simulator.policy_value(target)
        log = simulator.run(UniformRandom(simulator.space, seed=seed), rounds=10, learn=False)
        report = evaluate(simulator.logged_feedback(log), target)
        for name, estimate in report.estimates.items():
            rows.setdefault(name, []).append((truth, estimate.value, estimate.low, estimate.high))
    return {name: np.array(values) for name, values in rows.items()}


@pytest.mark.parametrize("method", ["ips", "snips", "dr"])
def test_intervals_cover_the_true_value_over_many_worlds(
    coverage_runs: dict[str, np.ndarray], method: str
) -> None:
    truth, _, low, high = coverage_runs[method].T
    coverage = np.mean((low <= truth) & (truth <= high))
    assert coverage >= 0.90, coverage


def test_estimators_are_centred_on_the_truth(coverage_runs: dict[str, np.ndarray]) -> None:
    for method in ("ips", "snips", "dr"):
        truth, value, _, _ = coverage_runs[method].T
        error = value - truth
        # Mean error within 3 standard errors of zero over the 200 worlds.
        assert abs(error.mean()) < 3 * error.std(ddof=1) / np.sqrt(len(error)), method


def test_snips_and_dr_vary_less_than_ips(coverage_runs: dict[str, np.ndarray]) -> None:
    def spread(method: str) -> float:
        truth, value, _, _ = coverage_runs[method].T
        return float(np.var(value - truth))

    assert spread("snips") < spread("ips")
    assert spread("dr") < spread("ips")


def test_the_direct_method_interval_ignores_model_error(
    coverage_runs: dict[str, np.ndarray],
) -> None:
    # Documented: DM's interval reflects only the spread of its predictions,
    # so a linear model of a logistic world covers the truth far less often.
    truth, _, low, high = coverage_runs["dm"].T
    assert np.mean((low <= truth) & (truth <= high)) < 0.9


def test_a_non_uniform_learning_logger_still_gives_unbiased_estimates(target: Policy) -> None:
    errors = []
    for seed in range(40):
        simulator = Simulator(viewers=60, titles=15, seed=seed)
        # Half-greedy: every image stays possible while the logger learns, and
        # its propensities change from round to round.
        logger = EpsilonGreedy(simulator.space, epsilon=0.5, seed=seed)
        log = simulator.run(logger, rounds=10)
        assert log.propensity.min() > 0
        assert np.ptp(log.propensity) > 0.1
        report = evaluate(simulator.logged_feedback(log), target)
        errors.append(report.estimates["snips"].value - simulator.policy_value(target))
        assert "replay" not in report.estimates
    errors_array = np.array(errors)
    assert abs(errors_array.mean()) < 3 * errors_array.std(ddof=1) / np.sqrt(len(errors_array))


def test_replay_equals_snips_under_uniform_logging_for_a_deterministic_target() -> None:
    simulator = Simulator(viewers=100, titles=15, seed=3)
    trained = LinUCB(simulator.space, alpha=0.0)
    simulator.run(trained, rounds=5)
    log = simulator.run(UniformRandom(simulator.space, seed=1), rounds=10, learn=False)
    report = evaluate(simulator.logged_feedback(log), trained)
    replay, snips, ips = (report.estimates[m] for m in ("replay", "snips", "ips"))
    assert replay.value == pytest.approx(snips.value, rel=1e-12)
    # Replay keeps about 1 / 5 of the events (five candidates per title).
    assert replay.ess == pytest.approx(len(log.plays) / 5, rel=0.15)
    # IPS agrees within its interval (it equals replay when exactly n / K events match).
    assert ips.low <= replay.value <= ips.high
    truth = simulator.policy_value(trained)
    assert replay.low <= truth <= replay.high


def test_the_report_beats_the_logger_when_the_target_is_better(target: Policy) -> None:
    simulator = Simulator(viewers=200, titles=20, seed=77)
    log = simulator.run(UniformRandom(simulator.space, seed=0), rounds=10, learn=False)
    report = evaluate(simulator.logged_feedback(log), target)
    assert report.estimates["dr"].low > report.logged_reward
    # Under uniform logging over five images, the target's probability of the
    # logged image averages 1 / 5 whatever the target is.
    assert report.match_rate == pytest.approx(0.2, abs=0.02)
    described = report.as_dict()
    assert set(described["estimates"]) == set(ESTIMATES) | {"mips"}


def test_bad_logs_and_settings_are_refused(target: Policy) -> None:
    simulator = Simulator(viewers=5, titles=3, seed=0)
    log = simulator.run(UniformRandom(simulator.space), rounds=1, learn=False)
    feedback = simulator.logged_feedback(log)
    with pytest.raises(PersonalizeError, match="folds"):
        evaluate(feedback, target, folds=1)
    with pytest.raises(PersonalizeError, match="out of range"):
        LoggedFeedback(
            feedback.space,
            feedback.viewers,
            feedback.candidates,
            feedback.chosen + 10,
            feedback.propensity,
            feedback.reward,
        )
    other_space = UniformRandom(type(simulator.space)(viewer_features=("genre:thriller",)))
    with pytest.raises(PersonalizeError, match="another feature space"):
        evaluate(feedback, other_space)


def test_the_estimates_do_not_depend_on_the_chunk_size(target: Policy) -> None:
    simulator = Simulator(viewers=60, titles=10, seed=12)
    log = simulator.logged_feedback(
        simulator.run(UniformRandom(simulator.space, seed=12), rounds=5, learn=False)
    )
    whole = evaluate(log, target, chunk=len(log))
    pieces = evaluate(log, target, chunk=7)
    assert set(whole.estimates) == set(pieces.estimates)
    for name, estimate in whole.estimates.items():
        other = pieces.estimates[name]
        assert (other.value, other.low, other.high) == pytest.approx(
            (estimate.value, estimate.low, estimate.high), rel=1e-10, abs=1e-12
        ), name
    with pytest.raises(PersonalizeError, match="chunk"):
        evaluate(log, target, chunk=0)
