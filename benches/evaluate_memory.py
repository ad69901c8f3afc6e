"""evaluate()'s memory against the log's length: it reads the log in chunks.

    .venv/bin/python benches/evaluate_memory.py [--sizes 10000 100000 1000000]

Synthetic logs of n impressions (8 viewer features, 12 image attributes:
d = 117; 5 candidates each, uniform logging, rewards at random), held as
arrays; the peak of Python and NumPy allocations during ``evaluate()``
(tracemalloc), beyond the log itself, and its time. Before chunking,
evaluate() held every impression's interaction rows: n x 5 x 117 x 8 bytes.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from thumbsel.personalize.evaluate import LoggedFeedback, evaluate
from thumbsel.personalize.features import FeatureSpace
from thumbsel.personalize.policies import EpsilonGreedy

K = 5


def feedback(n: int) -> LoggedFeedback:
    space = FeatureSpace(
        viewer_features=tuple(f"v{i}" for i in range(8)),
        image_attributes=tuple(f"a{i}" for i in range(12)),
    )
    rng = np.random.default_rng(0)
    images = (rng.random((n, K, 12)) < 0.3).astype(np.float64)
    return LoggedFeedback(
        space=space,
        viewers=rng.random((n, 8)),
        candidates=list(images),
        chosen=rng.integers(0, K, n),
        propensity=np.full(n, 1 / K),
        reward=(rng.random(n) < 0.3).astype(np.float64),
        logged_probabilities=[np.full(K, 1 / K)] * n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    options = parser.parse_args()
    print(f"{'impressions':>12} {'peak MB':>9} {'seconds':>8} {'rows held before, MB':>21}")
    for n in options.sizes:
        logged = feedback(n)
        policy = EpsilonGreedy(logged.space, epsilon=0.1)
        policy.partial_fit(
            logged.viewers[:1000], [c[0] for c in logged.candidates[:1000]], logged.reward[:1000]
        )
        tracemalloc.start()
        started = time.perf_counter()
        evaluate(logged, policy)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        before = n * K * logged.space.dimension * 8 / 1e6
        print(f"{n:>12,} {peak / 1e6:>9.1f} {seconds:>8.1f} {before:>21,.0f}")


if __name__ == "__main__":
    main()
