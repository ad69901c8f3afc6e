"""An actor's fans: the simulator's follower segments, and a contextual policy learning them."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from thumbsel.errors import PersonalizeError
from thumbsel.personalize.features import IMAGE_ATTRIBUTES, attributes_from_tags
from thumbsel.personalize.ope import clt_interval
from thumbsel.personalize.policies import LinUCB, UniformRandom
from thumbsel.personalize.simulator import (
    DEFAULT_SEGMENTS,
    MAX_TASTE,
    Segment,
    SimulationResult,
    Simulator,
)

ACTORS = ("uma", "leo")
SEEDS = range(5)
ROUNDS = 20


def fan_world(seed: int, viewers: int = 200) -> Simulator:
    """The three genre segments plus fans of each actor: five segments, seven images a title."""
    segments = (*DEFAULT_SEGMENTS, *(Segment.fans(actor) for actor in ACTORS))
    return Simulator(viewers=viewers, titles=30, seed=seed, segments=segments)


def actor_share(simulator: Simulator, result: SimulationResult, fans_of: str, shown: str) -> float:
    """Share of the impressions to ``fans_of``'s fans whose image shows ``shown``."""
    names = [s.name for s in simulator.segments]
    column = simulator.space.image_attributes.index(f"character:{shown}")
    to_fans = simulator.segment_of[result.viewer] == names.index(f"fans:{fans_of}")
    images = [
        simulator.candidates[t][c, column]
        for t, c in zip(result.title[to_fans], result.chosen[to_fans], strict=True)
    ]
    return float(np.mean(images))


@pytest.fixture(scope="module")
def runs() -> dict[str, list[tuple[Simulator, SimulationResult]]]:
    """Per policy, one run of ``ROUNDS`` rounds (4,000 impressions) in each seed's world."""
    results: dict[str, list[tuple[Simulator, SimulationResult]]] = {}
    for seed in SEEDS:
        simulator = fan_world(seed)
        uniform = UniformRandom(simulator.space, seed=seed)
        for name, result in (
            ("linucb", simulator.run(LinUCB(simulator.space, seed=seed), ROUNDS)),
            ("random", simulator.run(uniform, ROUNDS, learn=False)),
            ("best-single", simulator.run_best_single(ROUNDS)),
        ):
            results.setdefault(name, []).append((simulator, result))
    return results


def over_seeds(values: npt.ArrayLike) -> tuple[float, float, float]:
    """Mean over the seeds' worlds and its 95% interval."""
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    return (mean, *clt_interval(mean, array))


def test_a_contextual_policy_learns_to_show_each_actor_to_their_fans(
    runs: dict[str, list[tuple[Simulator, SimulationResult]]],
) -> None:
    def shares(name: str, fans_of: str, shown: str) -> npt.NDArray[np.float64]:
        return np.array([actor_share(s, r, fans_of, shown) for s, r in runs[name]])

    for actor in ACTORS:
        other = next(a for a in ACTORS if a != actor)
        learned = shares("linucb", actor, actor)
        # Random shows the actor about a quarter of the time; LinUCB about
        # four times in five, learning rounds included.
        _, low, _ = over_seeds(learned)
        _, _, random_high = over_seeds(shares("random", actor, actor))
        assert low > random_high + 0.25, (actor, low, random_high)
        # The best single image for everyone shows the actor about half the
        # time. Policies share each world's luck, so compare seed by seed.
        _, low, _ = over_seeds(learned - shares("best-single", actor, actor))
        assert low > 0.05, (actor, low)
        # Each actor to their own fans, not any actor to anyone.
        _, low, _ = over_seeds(learned - shares("linucb", actor, other))
        assert low > 0.25, (actor, low)
    take = {name: over_seeds([r.take_rate for _, r in pairs]) for name, pairs in runs.items()}
    assert take["linucb"][1] > take["best-single"][2] > take["random"][2], take


def test_the_learned_model_puts_each_fans_actor_first(
    runs: dict[str, list[tuple[Simulator, SimulationResult]]],
) -> None:
    for simulator, result in runs["linucb"]:
        policy = result.policy_object
        assert policy is not None
        for actor in ACTORS:
            effects = policy.attribute_effects(simulator.segment_prototype(f"fans:{actor}"))
            assert max(effects, key=effects.__getitem__) == f"character:{actor}", effects


def test_fans_take_their_actors_stills_much_more_often() -> None:
    simulator = fan_world(0, viewers=100)
    names = [s.name for s in simulator.segments]
    for actor in ACTORS:
        column = simulator.space.image_attributes.index(f"character:{actor}")
        with_actor, without = [], []
        for viewer in np.flatnonzero(simulator.segment_of == names.index(f"fans:{actor}")):
            for title in range(simulator.titles):
                shows = simulator.candidates[title][:, column] == 1.0
                plays = simulator.play_probabilities(int(viewer), title)
                with_actor.extend(plays[shows])
                without.extend(plays[~shows])
        assert np.mean(with_actor) > 3 * np.mean(without)


def test_each_title_has_stills_of_both_actors_that_show_a_face() -> None:
    simulator = fan_world(1, viewers=20)
    attributes = simulator.space.image_attributes
    assert attributes == (*IMAGE_ATTRIBUTES, "character:uma", "character:leo")
    assert simulator.space.viewer_features[3:5] == ("cast:uma", "cast:leo")
    showing = {actor: 0 for actor in ACTORS}
    for title in range(simulator.titles):
        for image in simulator.candidate_attributes(title):
            for actor in ACTORS:
                if f"character:{actor}" in image:
                    showing[actor] += 1
                    assert image["face"] == 1.0
    # One still in each fan segment's style, in nine titles of ten, plus
    # the actor turning up on others.
    assert all(count > simulator.titles for count in showing.values()), showing
    # The default world has no characters, and the same seed gives the same world.
    assert Simulator(viewers=20, seed=1).space.image_attributes == IMAGE_ATTRIBUTES
    again = fan_world(1, viewers=20)
    np.testing.assert_array_equal(simulator.context, again.context)
    for mine, theirs in zip(simulator.candidates, again.candidates, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_the_tags_a_pick_writes_give_the_simulators_images() -> None:
    simulator = fan_world(2, viewers=10)
    for title in range(3):
        tags = [
            ["faces:1" if "face" in image else "faces:0", *(a for a in image if a != "face")]
            for image in simulator.candidate_attributes(title)
        ]
        from_tags = [attributes_from_tags(t) for t in tags]
        np.testing.assert_array_equal(
            simulator.space.design(simulator.viewer_context(0), from_tags),
            simulator.design(0, title),
        )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: Segment.fans(""), "an actor", id="no actor"),
        pytest.param(lambda: Segment.fans("uma", pull=0.0), "pull must be positive", id="no pull"),
        pytest.param(
            lambda: Segment.fans("uma", pull=math.nan), "pull must be positive", id="nan pull"
        ),
        pytest.param(
            lambda: Segment.fans("uma", pull=MAX_TASTE + 1), r"within \+-8", id="huge pull"
        ),
        pytest.param(lambda: Segment.fans("uma", share=0.0), "share must be positive", id="share"),
        pytest.param(
            lambda: Segment("odd", {"character:": 1.0}), "unknown attributes", id="no character"
        ),
        pytest.param(lambda: Segment("odd", {"lead": 1.0}), "unknown attributes", id="lead"),
        pytest.param(lambda: Segment("odd", {"dark": math.inf}), "within", id="infinite"),
        pytest.param(
            lambda: Simulator(segments=(Segment.fans("uma"), Segment.fans("uma"))),
            "names must differ",
            id="same fans",
        ),
        pytest.param(
            lambda: Simulator(segments=(Segment.fans("uma"), Segment("x", {}, feature="cast:uma"))),
            "viewer features used twice",
            id="same feature",
        ),
    ],
)
def test_bad_segments_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(PersonalizeError, match=message):
        make()
