"""Feature hashing of viewer features: a fixed model size whatever the names."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from test_training import START
from thumbsel.errors import PersonalizeError
from thumbsel.personalize.features import FeatureSpace
from thumbsel.personalize.log import join_rewards, logged_feedback
from thumbsel.personalize.policies import UniformRandom, load_policy
from thumbsel.personalize.simulator import Simulator
from thumbsel.personalize.training import train_policy


def slot(name: str, buckets: int) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
    return digest % buckets, 1.0 if digest >> 63 == 0 else -1.0


def test_every_name_lands_in_its_signed_slot() -> None:
    space = FeatureSpace.hashed(16)
    assert space.dimension == 17 * (len(space.image_attributes) + 1)
    viewer = {"genre:thriller": 0.8, "title:tt0111161": 1.0, "never-seen-before": 2.0}
    expected = np.zeros(16)
    for name, value in viewer.items():
        bucket, sign = slot(name, 16)
        expected[bucket] += sign * value
    np.testing.assert_array_equal(space.viewer_vector(viewer), np.concatenate(([1.0], expected)))
    np.testing.assert_array_equal(space.viewer_matrix([viewer])[0], space.viewer_vector(viewer))
    with pytest.raises(PersonalizeError, match="buckets"):
        FeatureSpace.hashed(0)
    with pytest.raises(PersonalizeError, match="slots"):
        FeatureSpace(viewer_features=("a",), viewer_buckets=1)


def test_the_hash_is_the_same_in_every_process() -> None:
    code = (
        "from thumbsel.personalize.features import FeatureSpace;"
        "print(FeatureSpace.hashed(64).viewer_vector({'genre:drama': 1.0}).tolist())"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert runs == {f"{FeatureSpace.hashed(64).viewer_vector({'genre:drama': 1.0}).tolist()}\n"}


def test_a_hashed_policy_learns_as_well_as_a_named_one_without_collisions(
    tmp_path: Path,
) -> None:
    """The simulator's 8 viewer features: in 64 slots none collide, so the model is
    the named one with its features renamed and signed, and as good; in 32 two
    share a slot, and it is a little worse, still far better than random."""
    simulator = Simulator(viewers=200, titles=20, seed=9)
    run = simulator.run(UniformRandom(simulator.space, seed=9), rounds=10, learn=False)
    log, plays = simulator.impression_log(run, start=START)
    table = join_rewards(log, plays, timeout=timedelta(hours=4)).table
    names = simulator.space.viewer_features
    values = {}
    for buckets in (0, 64, 32):
        space = (
            FeatureSpace.hashed(buckets, simulator.space.image_attributes)
            if buckets
            else simulator.space
        )
        feedback, _ = logged_feedback(table, space)
        policy = train_policy(feedback, "epsilon-greedy", epsilon=0.05)
        values[buckets] = simulator.policy_value(policy)
        if buckets:
            again = load_policy(policy.save(tmp_path / f"hashed{buckets}.json"))
            assert again.space == space and again.space.viewer_buckets == buckets
    assert len({slot(n, 64)[0] for n in names}) == len(names)
    assert len({slot(n, 32)[0] for n in names}) < len(names)
    assert values[64] == pytest.approx(values[0], abs=1e-9)
    random = simulator.policy_value(UniformRandom(simulator.space))
    assert random + 0.1 < values[32] < values[0]
