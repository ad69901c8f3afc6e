"""What one online update and one choice cost against the model's size d, and against VW.

    .venv/bin/pip install vowpalwabbit          # bench only: never a dependency
    .venv/bin/python benches/update_cost.py [--sizes 117 500 2000]

For each d = (viewer features + 1) x (image attributes + 1), in one run, with
BLAS held to one thread (as the service holds it):

* thumbsel LinUCB, **rank-one**: ``update()`` of one impression, then
  ``choose()`` among 6 candidates (the exploration bonus needs A^-1);
* thumbsel LinUCB, **exact** (what every update cost before rank-one updates:
  the model solved again from its sums before the next choice);
* Vowpal Wabbit 9 ``--cb_explore_adf --squarecb`` with the same features
  (shared viewer features, per-candidate attributes, ``-q sa``):
  ``learn()`` of one impression, ``predict()`` of the next.

Times are medians over many repetitions (fewer for the exact path at large d).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits
from thumbsel.personalize.features import FeatureSpace
from thumbsel.personalize.policies import LinUCB

SHAPES = {117: (8, 12), 500: (24, 19), 2000: (39, 49)}
"""d -> (viewer features, image attributes)."""
CANDIDATES = 6


def stream(space: FeatureSpace, n: int, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    for _ in range(n):
        viewer = dict(
            zip(space.viewer_features, rng.random(len(space.viewer_features)), strict=True)
        )
        images = [
            {a: float(rng.random() < 0.3) for a in space.image_attributes}
            for _ in range(CANDIDATES)
        ]
        yield viewer, images, float(rng.random() < 0.4)


def thumbsel_costs(space: FeatureSpace, n: int, *, exact: bool) -> tuple[float, float]:
    policy = LinUCB(space, alpha=0.5)
    updates, choices = [], []
    for viewer, images, reward in stream(space, n + 5, 0):
        started = time.perf_counter()
        choice = policy.choose(viewer, images)
        chose = time.perf_counter()
        policy.update(viewer, images, choice.index, reward)
        if exact:
            policy.model.refresh()
        done = time.perf_counter()
        choices.append(chose - started)
        updates.append(done - chose)
    return statistics.median(updates[5:]), statistics.median(choices[5:])


def vw_costs(space: FeatureSpace, n: int) -> tuple[float, float]:
    from vowpalwabbit import Workspace

    vw = Workspace("--cb_explore_adf --squarecb -q sa --quiet")
    updates, choices = [], []

    def example(viewer: dict[str, float], images: list[dict[str, float]], label: str = "") -> str:
        shared = "shared |s " + " ".join(
            f"{k.replace(':', '_')}:{v:.6f}" for k, v in viewer.items()
        )
        lines = [shared]
        for i, image in enumerate(images):
            features = " ".join(k.replace(":", "_") for k, v in image.items() if v)
            lines.append(f"{label if i == 0 else ''}|a {features}".strip())
        return "\n".join(lines)

    for viewer, images, reward in stream(space, n + 5, 0):
        text = example(viewer, images)
        started = time.perf_counter()
        vw.predict(text)
        chose = time.perf_counter()
        vw.learn(example(viewer, images, f"0:{-reward}:{1 / CANDIDATES} "))
        done = time.perf_counter()
        choices.append(chose - started)
        updates.append(done - chose)
    vw.finish()
    return statistics.median(updates[5:]), statistics.median(choices[5:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SHAPES))
    options = parser.parse_args()
    print(f"{'d':>6} {'way':<28} {'update µs':>10} {'choice µs':>10}")
    with threadpool_limits(1):
        for d in options.sizes:
            viewers, attributes = SHAPES[d]
            space = FeatureSpace(
                viewer_features=tuple(f"v{i}" for i in range(viewers)),
                image_attributes=tuple(f"a{i}" for i in range(attributes)),
            )
            assert space.dimension == d
            rows = {
                "thumbsel rank-one": thumbsel_costs(space, 300, exact=False),
                "thumbsel exact (before)": thumbsel_costs(
                    space, 300 if d < 2000 else 12, exact=True
                ),
                "VW --cb_explore_adf": vw_costs(space, 300),
            }
            for way, (update, choice) in rows.items():
                print(f"{d:>6} {way:<28} {update * 1e6:>10.1f} {choice * 1e6:>10.1f}")


if __name__ == "__main__":
    main()
