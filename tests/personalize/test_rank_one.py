"""Online updates are rank-one: O(d^2), no d x d solve in an update or the choice after it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from thumbsel.personalize import policies
from thumbsel.personalize.features import IMAGE_ATTRIBUTES, FeatureSpace
from thumbsel.personalize.policies import LinUCB, RidgeModel, load_policy

SPACE = FeatureSpace(viewer_features=("genre:thriller", "genre:romance", "device:tv"))


def impressions(n: int, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    for _ in range(n):
        viewer = dict(zip(SPACE.viewer_features, rng.random(3), strict=True))
        images = [
            {a: float(rng.random() < 0.3) for a in IMAGE_ATTRIBUTES}
            for _ in range(int(rng.integers(2, 6)))
        ]
        yield viewer, images, float(rng.random() < 0.4)


def test_rank_one_updates_match_an_exact_solve() -> None:
    policy = LinUCB(SPACE, alpha=0.5)
    for viewer, images, reward in impressions(500):
        choice = policy.choose(viewer, images)
        policy.update(viewer, images, choice.index, reward)
    model = policy.model
    # The first choice inverted the ridge alone; every update after it was rank-one.
    assert model.rank_one_rows == 500
    exact = np.linalg.inv(model.precision)
    np.testing.assert_allclose(model.inverse, exact, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        model.coefficients, np.linalg.solve(model.precision, model.target), rtol=1e-9, atol=1e-12
    )


def test_an_update_and_the_choice_after_it_solve_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = LinUCB(SPACE, alpha=0.5)
    stream = list(impressions(50, seed=1))
    viewer, images, reward = stream[0]
    policy.update(viewer, images, 0, reward)  # the one exact solve

    def refused(*_: object, **__: object) -> None:
        raise AssertionError("a d x d solve in the online path")

    monkeypatch.setattr(policies.np.linalg, "solve", refused)
    monkeypatch.setattr(policies.np.linalg, "inv", refused)
    for viewer, images, reward in stream[1:]:
        choice = policy.choose(viewer, images)
        policy.update(viewer, images, choice.index, reward)
        policy.explain(viewer, images)


def test_a_reloaded_model_scores_bit_identically(tmp_path: Path) -> None:
    policy = LinUCB(SPACE, alpha=0.5, seed=3)
    stream = list(impressions(200, seed=2))
    for viewer, images, reward in stream[:150]:
        policy.update(viewer, images, policy.choose(viewer, images).index, reward)
    again = load_policy(policy.save(tmp_path / "p.json"))
    for viewer, images, reward in stream[150:]:
        a = policy.probabilities(viewer, images)
        b = again.probabilities(viewer, images)
        np.testing.assert_array_equal(a, b)
        chosen = policy.choose(viewer, images).index
        assert again.choose(viewer, images).index == chosen
        policy.update(viewer, images, chosen, reward)
        again.update(viewer, images, chosen, reward)
    np.testing.assert_array_equal(policy.model.coefficients, again.model.coefficients)


def test_rounding_is_bounded_by_an_exact_solve_now_and_then(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(policies, "EXACT_EVERY", 40)
    model = RidgeModel(SPACE.dimension)
    rng = np.random.default_rng(4)
    model.add(rng.random((1, SPACE.dimension)), np.array([1.0]))
    for _ in range(45):
        model.add(rng.random((1, SPACE.dimension)), np.array([0.0]))
    assert model.rank_one_rows == 4  # solved again after 40 rank-one rows
    # A batch solves; forgetting (the ridge is not decayed with the sums) solves too.
    model.add(rng.random((100, SPACE.dimension)), np.zeros(100))
    assert model.rank_one_rows == 0
    forgetting = RidgeModel(SPACE.dimension, discount=0.99)
    for _ in range(3):
        forgetting.add(rng.random((1, SPACE.dimension)), np.array([1.0]))
    assert forgetting.rank_one_rows == 0
    np.testing.assert_allclose(
        forgetting.coefficients, np.linalg.solve(forgetting.precision, forgetting.target)
    )
