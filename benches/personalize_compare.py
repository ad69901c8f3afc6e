"""What choosing and evaluating cost, against the bare numpy floor measured in the same run.

    .venv/bin/python benches/personalize_compare.py

Choosing: microseconds per impression for each policy on the simulator's
feature space (8 viewer features x 12 attributes, 117 interaction terms, 5
candidates), against one ``Generator.choice`` over 5 probabilities: the least
any policy that logs a propensity can do. Evaluating: seconds for IPS and
SNIPS with validation and interval on 1,000,000 logged events, against the
bare ``mean(w * r)`` formula.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from thumbsel.personalize import ope
from thumbsel.personalize.simulator import Simulator, make_policy


def best_of(function, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    simulator = Simulator(viewers=200, titles=30, seed=0)
    designs = [simulator.design(v % 200, v % 30) for v in range(2000)]
    rng = np.random.default_rng(0)
    p = np.full(5, 0.2)
    floor = best_of(lambda: [rng.choice(5, p=p) for _ in designs]) / len(designs)
    print(f"floor: Generator.choice over 5          {floor * 1e6:7.1f} us/impression")
    for name in ("random", "epsilon-greedy", "softmax", "linucb", "lints"):
        policy = make_policy(name, simulator.space, 0)
        simulator.run(policy, rounds=3)  # a trained model, its inverse cached
        cost = best_of(lambda policy=policy: [policy.choose_from(d) for d in designs])
        cost /= len(designs)
        print(
            f"{name:<15} choose                  {cost * 1e6:7.1f} us/impression"
            f"  {cost / floor:5.1f}x floor"
        )

    n = 1_000_000
    reward = (rng.random(n) < 0.1).astype(float)
    pscore = rng.uniform(0.1, 0.5, n)
    target = rng.uniform(0.0, 1.0, n)
    bare = best_of(lambda: float(np.mean(target / pscore * reward)))
    print(f"floor: mean(w * r) on 1M events          {bare * 1e3:7.1f} ms")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for estimator in (ope.ips, ope.snips):
            cost = best_of(lambda estimator=estimator: estimator(reward, pscore, target))
            print(
                f"ope.{estimator.__name__:<6} with interval and ESS     {cost * 1e3:7.1f} ms"
                f"  {cost / bare:5.1f}x floor"
            )


if __name__ == "__main__":
    main()
