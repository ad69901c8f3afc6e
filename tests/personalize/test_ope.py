"""Off-policy estimators on synthetic logs with exact truth, and on the Open Bandit Dataset."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from conftest import real_clip
from thumbsel.personalize import ope

ACTIONS = 4
CLICK = np.array([[0.1, 0.3, 0.5, 0.2], [0.6, 0.2, 0.1, 0.3]])
"""True click probability per (context, action): the truth the estimators are checked against."""
TARGET = np.array([[0.1, 0.1, 0.7, 0.1], [0.7, 0.1, 0.1, 0.1]])
"""Target policy per context: it mostly shows the best action."""
LOGGER = np.array([[0.4, 0.3, 0.1, 0.2], [0.1, 0.2, 0.4, 0.3]])
"""Logging policy: it mostly shows poor actions, so the weights are large where it matters."""
TRUE_VALUE = float(np.mean((TARGET * CLICK).sum(axis=1)))
"""Contexts are equally likely, so the target's value is this exactly."""


def logged(seed: int, n: int = 2000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    context = rng.integers(0, 2, n)
    u = rng.random(n)
    action = (u[:, None] > np.cumsum(LOGGER[context], axis=1)).sum(axis=1)
    reward = (rng.random(n) < CLICK[context, action]).astype(float)
    return {
        "context": context,
        "action": action,
        "reward": reward,
        "pscore": LOGGER[context, action],
        "target_prob": TARGET[context, action],
    }


def estimate(method: str, data: dict[str, np.ndarray], **options: object) -> ope.Estimate:
    args = (data["reward"], data["pscore"], data["target_prob"])
    if method == "dr":
        # A deliberately wrong reward model: DR must still be unbiased.
        q = np.full((2, ACTIONS), 0.3)
        q_logged = q[data["context"], data["action"]]
        q_target = (TARGET[data["context"]] * q[data["context"]]).sum(axis=1)
        return ope.dr(*args, q_logged, q_target, **options)  # type: ignore[arg-type]
    return getattr(ope, method)(*args, **options)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def many_logs() -> dict[str, np.ndarray]:
    values: dict[str, list[tuple[float, float, float]]] = {"ips": [], "snips": [], "dr": []}
    for seed in range(300):
        data = logged(seed)
        for method, rows in values.items():
            e = estimate(method, data)
            rows.append((e.value, e.low, e.high))
    return {method: np.array(rows) for method, rows in values.items()}


@pytest.mark.parametrize("method", ["ips", "snips", "dr"])
def test_intervals_cover_the_truth_at_least_90_percent(
    many_logs: dict[str, np.ndarray], method: str
) -> None:
    value, low, high = many_logs[method].T
    assert np.mean((low <= TRUE_VALUE) & (high >= TRUE_VALUE)) >= 0.90
    assert abs(value.mean() - TRUE_VALUE) < 3 * value.std(ddof=1) / np.sqrt(len(value))


def test_snips_varies_less_than_ips(many_logs: dict[str, np.ndarray]) -> None:
    assert many_logs["snips"][:, 0].var() < many_logs["ips"][:, 0].var()


def test_bootstrap_intervals_cover_and_are_reproducible() -> None:
    hits = 0
    for seed in range(60):
        data = logged(seed, n=1000)
        e = estimate("snips", data, interval="bootstrap", n_bootstrap=300, seed=seed)
        hits += e.low <= TRUE_VALUE <= e.high
        assert e.interval == "bootstrap"
    assert hits / 60 >= 0.85
    data = logged(1, n=1000)
    first = estimate("ips", data, interval="bootstrap", n_bootstrap=200, seed=3)
    again = estimate("ips", data, interval="bootstrap", n_bootstrap=200, seed=3)
    other = estimate("ips", data, interval="bootstrap", n_bootstrap=200, seed=4)
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)


def test_clipping_above_every_weight_is_plain_ips_and_below_biases_down() -> None:
    data = logged(0)
    w_max = float(np.max(data["target_prob"] / data["pscore"]))
    plain = ope.ips(data["reward"], data["pscore"], data["target_prob"])
    loose = ope.clipped_ips(
        data["reward"], data["pscore"], data["target_prob"], max_weight=w_max + 1
    )
    tight = ope.clipped_ips(data["reward"], data["pscore"], data["target_prob"], max_weight=1.0)
    assert loose.value == plain.value
    assert tight.value < plain.value


def test_a_perfect_reward_model_makes_the_direct_method_exact() -> None:
    data = logged(5)
    q_target = (TARGET * CLICK).sum(axis=1)[data["context"]]
    e = ope.dm(q_target)
    assert abs(e.value - TRUE_VALUE) < 0.01
    assert e.ess == len(q_target)


def test_replay_under_uniform_logging() -> None:
    rng = np.random.default_rng(8)
    n, k = 4000, 4
    context = rng.integers(0, 2, n)
    logged_action = rng.integers(0, k, n)
    reward = (rng.random(n) < CLICK[context, logged_action]).astype(float)
    target_action = np.argmax(CLICK, axis=1)[context]  # deterministic: the best action
    pscore = np.full(n, 1 / k)
    target_prob = (logged_action == target_action).astype(float)
    replay = ope.replay(reward, logged_action, target_action)
    snips = ope.snips(reward, pscore, target_prob)
    ips = ope.ips(reward, pscore, target_prob)
    # Replay is SNIPS exactly under uniform logging, and IPS scaled by n / (k * matches).
    assert replay.value == pytest.approx(snips.value, rel=1e-12)
    matched = int(np.sum(logged_action == target_action))
    assert ips.value == pytest.approx(replay.value * matched * k / n, rel=1e-12)
    assert replay.ess == matched
    truth = float(np.mean(CLICK.max(axis=1)))
    assert replay.low <= truth <= replay.high
    assert ips.low <= truth <= ips.high


def test_replay_equals_ips_exactly_on_a_balanced_log() -> None:
    # Every action logged equally often in each context: exactly n / k matches.
    k = 4
    logged_action = np.tile(np.arange(k), 250)
    target_action = np.full(len(logged_action), 2)
    reward = np.random.default_rng(0).random(len(logged_action))
    replay = ope.replay(reward, logged_action, target_action)
    ips = ope.ips(reward, np.full(len(reward), 1 / k), (logged_action == 2).astype(float))
    assert replay.value == pytest.approx(ips.value, rel=1e-12)


def test_a_small_effective_sample_is_flagged() -> None:
    # One event weighted 1000 among 199 weighted 2: it alone sets the estimate.
    reward = np.array([1.0, 0.0, 0.0, 1.0] * 50)
    pscore = np.array([0.001] + [0.5] * 199)
    with pytest.warns(ope.SmallSampleWarning, match="effective sample size"):
        e = ope.ips(reward, pscore, np.ones(200))
    assert e.ess < 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1.0, 0.0], [0.5], [0.5, 0.5]), "differ in length"),
        (([1.0], [0.0], [1.0]), "pscore must lie in"),
        (([1.0], [0.5], [1.5]), "target_prob must lie in"),
        (([np.nan], [0.5], [0.5]), "reward contains non-finite"),
        (([], [], []), "reward is empty"),
        (([[1.0]], [[0.5]], [[0.5]]), "must be 1-D"),
    ],
)
def test_bad_input_names_the_argument(args: tuple[list[float], ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ope.ips(*args)


def test_snips_is_undefined_when_the_target_never_takes_a_logged_action() -> None:
    with pytest.raises(ValueError, match="SNIPS is undefined"):
        ope.snips([1.0, 0.0], [0.5, 0.5], [0.0, 0.0])


# -- the Open Bandit Dataset ------------------------------------------------------------

OBD_ITEMS = {"all": 80, "men": 34, "women": 46}


def obd(policy: str, campaign: str) -> tuple[np.ndarray, np.ndarray]:
    path = real_clip(f"obd/{policy}/{campaign}/{campaign}.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    click = np.array([float(r["click"]) for r in rows])
    pscore = np.array([float(r["propensity_score"]) for r in rows])
    return click, pscore


@pytest.mark.parametrize("campaign", ["all", "men"])
def test_the_random_policys_click_rate_estimated_from_thompson_logs(campaign: str) -> None:
    """ZOZOTOWN logged a Bernoulli-TS and a uniform-random policy on the same campaign.

    From the TS logs alone, estimate what the random policy (probability
    1 / items at every position) would have earned; its own logs show what it
    did earn. The estimate's interval must overlap the observed rate's.
    """
    items = OBD_ITEMS[campaign]
    observed, random_pscore = obd("random", campaign)
    assert np.allclose(random_pscore, 1 / items)
    rate = observed.mean()
    half = 1.96 * np.sqrt(rate * (1 - rate) / len(observed))
    click, pscore = obd("bts", campaign)
    for method in (ope.ips, ope.snips):
        e = method(click, pscore, np.full(len(click), 1 / items))
        assert e.low < rate + half and rate - half < e.high, (method.__name__, e, rate)
        # The TS logger favoured its best items: the estimate must not be its own CTR.
        assert e.value < click.mean()


def test_a_thompson_log_with_near_zero_propensities_is_flagged() -> None:
    # The women campaign's TS log has propensities down to 1e-6: a few events
    # carry almost all the weight and the estimate cannot be trusted.
    click, pscore = obd("bts", "women")
    with pytest.warns(ope.SmallSampleWarning):
        e = ope.ips(click, pscore, np.full(len(click), 1 / OBD_ITEMS["women"]))
    assert e.ess < 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clipped = ope.clipped_ips(
            click, pscore, np.full(len(click), 1 / OBD_ITEMS["women"]), max_weight=100.0
        )
    assert clipped.ess > 30


def test_bad_input_is_a_thumbsel_error() -> None:
    from thumbsel.errors import PersonalizeError, ThumbselError

    with pytest.raises(PersonalizeError) as caught:
        ope.snips([1.0], [2.0], [1.0])
    assert isinstance(caught.value, ThumbselError)
