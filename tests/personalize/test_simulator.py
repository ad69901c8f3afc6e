"""The simulator: the ordering of the artwork study, taste recovery, click-bait, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from thumbsel.cli import main
from thumbsel.errors import PersonalizeError
from thumbsel.personalize.policies import EpsilonGreedy, LinUCB, UniformRandom
from thumbsel.personalize.simulator import (
    CLICKBAIT_ATTRIBUTE,
    DEFAULT_SEGMENTS,
    SIMULATED_POLICIES,
    SimulationResult,
    Simulator,
    compare_policies,
    make_policy,
)

CONTEXTUAL = ("epsilon-greedy", "softmax", "linucb", "lints")


@pytest.fixture(scope="module")
def plays() -> tuple[Simulator, dict[str, SimulationResult]]:
    simulator = Simulator(viewers=200, titles=30, seed=0)
    return simulator, compare_policies(simulator, rounds=20)


@pytest.fixture(scope="module")
def minutes() -> tuple[Simulator, dict[str, SimulationResult]]:
    simulator = Simulator(viewers=200, titles=30, seed=0, reward="minutes")
    return simulator, compare_policies(simulator, rounds=20, policies=("best-single", "linucb"))


def test_contextual_beats_the_best_single_image_which_beats_random(
    plays: tuple[Simulator, dict[str, SimulationResult]],
) -> None:
    _, results = plays
    assert list(results) == list(SIMULATED_POLICIES)
    interval = {name: r.take_rate_interval() for name, r in results.items()}
    _, random_high = interval["random"]
    single_low, single_high = interval["best-single"]
    assert single_low > random_high
    for name in CONTEXTUAL:
        low, _ = interval[name]
        assert low > single_high, (name, interval[name], interval["best-single"])


def test_the_learned_model_recovers_each_segments_taste(
    plays: tuple[Simulator, dict[str, SimulationResult]],
) -> None:
    simulator, results = plays
    for name in ("linucb", "lints", "epsilon-greedy"):
        policy = results[name].policy_object
        assert policy is not None
        for segment in DEFAULT_SEGMENTS:
            effects = policy.attribute_effects(simulator.segment_prototype(segment.name))
            favourite = max(segment.taste, key=lambda a: segment.taste[a])
            learned = max(effects, key=effects.__getitem__)
            assert learned == favourite, (name, segment.name, sorted(effects.items()))
            disliked = min(segment.taste, key=lambda a: segment.taste[a])
            assert effects[disliked] < 0


def greedy_clickbait_share(simulator: Simulator, result: SimulationResult) -> float:
    """How often the final model's best image is the click-bait, over all viewers and titles."""
    policy = result.policy_object
    assert policy is not None
    hits = 0
    for viewer in range(simulator.viewers):
        for title in range(simulator.titles):
            best = int(np.argmax(policy.scores(simulator.design(viewer, title))))
            hits += best == simulator.clickbait_index[title]
    return hits / (simulator.viewers * simulator.titles)


def test_optimizing_minutes_does_not_pick_the_clickbait(
    plays: tuple[Simulator, dict[str, SimulationResult]],
    minutes: tuple[Simulator, dict[str, SimulationResult]],
) -> None:
    plays_simulator, plays_results = plays
    minutes_simulator, minutes_results = minutes
    # Learning from plays alone, the click-bait wins many viewers over...
    assert greedy_clickbait_share(plays_simulator, plays_results["linucb"]) > 0.1
    assert plays_results["best-single"].clickbait.mean() > 0.2
    # ...learning from minutes, it is the best image for almost no one.
    assert greedy_clickbait_share(minutes_simulator, minutes_results["linucb"]) < 0.025
    assert minutes_results["best-single"].clickbait.mean() == 0.0
    policy = minutes_results["linucb"].policy_object
    assert policy is not None
    effects = policy.attribute_effects(minutes_simulator.segment_prototype("thriller"))
    assert effects[CLICKBAIT_ATTRIBUTE] < 0
    # And it earns more minutes than the play-optimizing model shows.
    assert minutes_results["linucb"].minutes.mean() > plays_results["linucb"].minutes.mean()


def test_learning_carries_over_to_new_titles() -> None:
    simulator = Simulator(viewers=150, titles=40, seed=4)
    policy = EpsilonGreedy(simulator.space, epsilon=0.0)
    # Learn only from titles 0..19 (the stream's other titles are skipped).
    titles, _, _ = simulator.stream(15)
    for r in range(titles.shape[0]):
        seen = [v for v in range(simulator.viewers) if titles[r, v] < 20]
        shown, rewards = [], []
        for v in seen:
            t = int(titles[r, v])
            index = int(np.random.default_rng([r, v]).integers(len(simulator.candidates[t])))
            shown.append(simulator.candidates[t][index])
            rewards.append(simulator.play_probabilities(v, t)[index])
        policy.partial_fit(simulator.context[seen], np.array(shown), np.array(rewards))
    # Titles 20..39 are new: their images were never shown.
    chosen, uniform = [], []
    for v in range(simulator.viewers):
        for t in range(20, 40):
            truth = simulator.play_probabilities(v, t)
            chosen.append(policy.distribution(simulator.design(v, t)) @ truth)
            uniform.append(truth.mean())
    assert np.mean(chosen) > 1.5 * np.mean(uniform)


def test_a_discounting_policy_follows_a_change_of_taste() -> None:
    simulator = Simulator(viewers=150, titles=30, seed=2, taste_shift_at=0.5)
    rounds = 30
    late = slice(rounds * simulator.viewers * 3 // 4, None)
    forgetful = simulator.run(LinUCB(simulator.space, discount=0.998), rounds)
    stubborn = simulator.run(LinUCB(simulator.space), rounds)
    assert forgetful.plays[late].mean() > stubborn.plays[late].mean()


def test_the_same_seed_gives_the_same_run() -> None:
    def run(seed: int) -> SimulationResult:
        simulator = Simulator(viewers=30, titles=10, seed=seed)
        return simulator.run(make_policy("lints", simulator.space, seed), rounds=4)

    first, again, other = run(5), run(5), run(6)
    np.testing.assert_array_equal(first.chosen, again.chosen)
    np.testing.assert_array_equal(first.plays, again.plays)
    assert not np.array_equal(first.chosen, other.chosen)


def test_policies_share_the_same_luck() -> None:
    simulator = Simulator(viewers=40, titles=10, seed=3)
    a = simulator.run(UniformRandom(simulator.space, seed=1), rounds=5)
    b = simulator.run(UniformRandom(simulator.space, seed=2), rounds=5)
    same = a.chosen == b.chosen
    assert same.any()
    # Same viewer, round, title and image: same outcome.
    np.testing.assert_array_equal(a.plays[same], b.plays[same])
    np.testing.assert_array_equal(a.title, b.title)


def test_policy_value_is_the_mean_expected_reward() -> None:
    simulator = Simulator(viewers=20, titles=5, seed=0)
    value = simulator.policy_value(UniformRandom(simulator.space))
    expected = np.mean(
        [simulator.play_probabilities(v, t).mean() for v in range(20) for t in range(5)]
    )
    assert value == pytest.approx(expected)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(PersonalizeError, match="reward"):
        Simulator(reward="likes")  # type: ignore[arg-type]
    with pytest.raises(PersonalizeError, match="at least one viewer"):
        Simulator(viewers=0)
    with pytest.raises(PersonalizeError, match="rounds"):
        Simulator(viewers=2, titles=2).run(UniformRandom(Simulator().space), rounds=0)
    with pytest.raises(PersonalizeError, match="segment"):
        Simulator().segment_prototype("horror")


def test_cli_prints_one_json_object_per_policy(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["personalize", "simulate", "--viewers", "40", "--rounds", "3", "--seed", "2", "--json"]
    )
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == list(SIMULATED_POLICIES)
    for entry in report.values():
        assert set(entry) == {"take_rate", "low", "high"}
        assert 0 <= entry["low"] <= entry["take_rate"] <= entry["high"] <= 1
    # The same seed prints the same report.
    main(["personalize", "simulate", "--viewers", "40", "--rounds", "3", "--seed", "2", "--json"])
    assert json.loads(capsys.readouterr().out) == report


def test_cli_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["personalize", "simulate", "--viewers", "0"])
    assert exit_info.value.code == 2
    assert "--viewers: must be at least 1" in capsys.readouterr().err
