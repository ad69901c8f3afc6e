"""Policies and the feature space they share: distributions, learning, persistence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from thumbsel.artwork.tags import TAG_DEFINITIONS
from thumbsel.errors import PersonalizeError, PolicyFileError, ThumbselError
from thumbsel.personalize.features import (
    IMAGE_ATTRIBUTES,
    FeatureSpace,
    attributes_from_tags,
    viewer_context,
)
from thumbsel.personalize.policies import (
    POLICIES,
    EpsilonGreedy,
    LinearThompson,
    LinUCB,
    Policy,
    Softmax,
    UniformRandom,
    load_policy,
)

SPACE = FeatureSpace(viewer_features=("genre:thriller", "genre:romance", "device:tv"))
DARK = {"dark": 1.0, "closeup": 1.0, "face": 1.0}
SMILING = {"smiling": 1.0, "face": 1.0, "warm": 1.0}
BRIGHT = {"bright": 1.0, "colorful": 1.0}
CANDIDATES = [DARK, SMILING, BRIGHT]
THRILLER_FAN = {"genre:thriller": 1.0}
ROMANCE_FAN = {"genre:romance": 1.0}


def every_policy(**options: float) -> list[Policy]:
    return [cls(SPACE, seed=7, **options) for cls in POLICIES.values()]  # type: ignore[arg-type]


def train_on_tastes(policy: Policy, impressions: int = 600, seed: int = 0) -> Policy:
    """Thriller fans play dark images, romance fans smiling ones, 0.6 against 0.1."""
    rng = np.random.default_rng(seed)
    fan = rng.integers(0, 2, impressions)
    shown = rng.integers(0, 3, impressions)
    viewers = [THRILLER_FAN if f == 0 else ROMANCE_FAN for f in fan]
    images = [CANDIDATES[s] for s in shown]
    liked = (fan == 0) & (shown == 0) | (fan == 1) & (shown == 1)
    rewards = (rng.random(impressions) < np.where(liked, 0.6, 0.1)).astype(float)
    policy.partial_fit(viewers, images, rewards)
    return policy


# -- feature space -------------------------------------------------------------


def test_design_is_the_outer_product_of_viewer_and_image_with_constants() -> None:
    design = SPACE.design({"genre:thriller": 0.5, "device:tv": 1.0}, [DARK, {}])
    names = SPACE.interaction_names
    assert design.shape == (2, SPACE.dimension) == (2, 4 * (1 + len(IMAGE_ATTRIBUTES)))
    row = dict(zip(names, design[0], strict=True))
    assert row["1 x 1"] == 1.0
    assert row["1 x dark"] == 1.0
    assert row["genre:thriller x dark"] == 0.5
    assert row["genre:thriller x smiling"] == 0.0
    assert row["device:tv x closeup"] == 1.0
    assert row["genre:romance x 1"] == 0.0
    # An image with no attributes keeps only the viewer's main effects.
    empty = dict(zip(names, design[1], strict=True))
    assert {k for k, v in empty.items() if v} == {"1 x 1", "genre:thriller x 1", "device:tv x 1"}


def test_unknown_names_are_ignored_and_missing_ones_are_zero() -> None:
    known = SPACE.design({"genre:thriller": 1.0}, [DARK])
    with_unknown = SPACE.design(
        {"genre:thriller": 1.0, "country:XX": 1.0}, [{**DARK, "new-tag": 1.0}]
    )
    np.testing.assert_array_equal(known, with_unknown)


@pytest.mark.parametrize(
    ("viewer", "candidates", "message"),
    [
        ({"genre:thriller": math.nan}, [DARK], "finite"),
        ({"genre:thriller": "a lot"}, [DARK], "number"),
        (THRILLER_FAN, [], "no candidates"),
        (np.zeros(2), [DARK], r"shape \(3,\)"),
        (THRILLER_FAN, np.zeros((2, 3)), rf"shape \(n, {len(IMAGE_ATTRIBUTES)}\)"),
    ],
)
def test_bad_input_is_a_typed_error(viewer: object, candidates: object, message: str) -> None:
    with pytest.raises(PersonalizeError, match=message) as caught:
        SPACE.design(viewer, candidates)  # type: ignore[arg-type]
    assert isinstance(caught.value, ThumbselError)
    assert isinstance(caught.value, ValueError)


def test_attributes_come_from_the_artwork_tags() -> None:
    assert attributes_from_tags(["faces:2", "closeup", "dark"]) == {
        "face": 1.0,
        "closeup": 1.0,
        "dark": 1.0,
    }
    assert attributes_from_tags(["faces:0", "bright"]) == {"bright": 1.0}
    # Every tag the tagger can give maps onto an attribute the space knows.
    for tag in TAG_DEFINITIONS:
        name = "face" if tag == "faces:N" else tag
        assert name in IMAGE_ATTRIBUTES
    with pytest.raises(PersonalizeError, match="faces:N"):
        attributes_from_tags(["faces:many"])


def test_the_cast_tags_become_character_and_lead_attributes() -> None:
    assert attributes_from_tags(["faces:2", "character:c1", "character:Uma T.", "lead"]) == {
        "face": 1.0,
        "character:c1": 1.0,
        "character:Uma T.": 1.0,
        "lead": 1.0,
    }
    # Everything after the first colon is the name.
    assert attributes_from_tags(["character:a:b"]) == {"character:a:b": 1.0}
    with pytest.raises(PersonalizeError) as caught:
        attributes_from_tags(["closeup", "character:"])
    message = str(caught.value)
    assert "'character:'" in message
    assert "\n" not in message
    # A space that lists a character learns it; the default one ignores it.
    uma = attributes_from_tags(["character:uma", "lead"])
    space = FeatureSpace(("genre:thriller",), ("lead", "character:uma"))
    row = dict(zip(space.interaction_names, space.design(THRILLER_FAN, [uma])[0], strict=True))
    assert row["genre:thriller x character:uma"] == row["1 x lead"] == 1.0
    np.testing.assert_array_equal(
        SPACE.design(THRILLER_FAN, [attributes_from_tags(["character:uma"])]),
        SPACE.design(THRILLER_FAN, [{}]),
    )


def test_viewer_context_encodes_hour_on_a_circle() -> None:
    late = viewer_context(hour=23.0)
    early = viewer_context(hour=1.0)
    noon = viewer_context(hour=12.0)
    dist = lambda a, b: math.dist(  # noqa: E731
        (a["hour_sin"], a["hour_cos"]), (b["hour_sin"], b["hour_cos"])
    )
    assert dist(late, early) < dist(late, noon) / 3
    context = viewer_context(genre_affinity={"thriller": 0.7}, country="FR", device="tv")
    assert context == {"genre:thriller": 0.7, "country:FR": 1.0, "device:tv": 1.0}


# -- distributions -----------------------------------------------------------------


@pytest.mark.parametrize("policy", every_policy(), ids=lambda p: p.name)
def test_every_policy_returns_a_distribution_and_draws_from_it(policy: Policy) -> None:
    train_on_tastes(policy)
    probabilities = policy.probabilities(THRILLER_FAN, CANDIDATES)
    assert probabilities.shape == (3,)
    assert np.all(probabilities >= 0)
    assert probabilities.sum() == pytest.approx(1.0)
    draws = [policy.choose(THRILLER_FAN, CANDIDATES) for _ in range(3000)]
    counts = np.bincount([d.index for d in draws], minlength=3) / len(draws)
    # 3000 draws: a binomial share is within 0.03 of its probability (3.5 sd at 0.5).
    np.testing.assert_allclose(counts, probabilities, atol=0.03)
    for draw in draws[:20]:
        assert draw.probability == probabilities[draw.index]
        np.testing.assert_array_equal(draw.probabilities, probabilities)


@pytest.mark.parametrize("cls", list(POLICIES.values()), ids=lambda c: c.name)
def test_choices_are_reproducible_from_the_seed(cls: type[Policy]) -> None:
    def run(seed: int, trained: bool = True) -> list[int]:
        policy = cls(SPACE, seed=seed)
        if trained:
            train_on_tastes(policy)
        return [policy.choose(ROMANCE_FAN, CANDIDATES).index for _ in range(40)]

    assert run(3) == run(3)
    if cls is not LinUCB:  # LinUCB is deterministic given what it learned
        # Untrained, so every policy but LinUCB is still choosing at random.
        assert run(3, trained=False) != run(4, trained=False)


def test_cold_start_greedy_policies_choose_uniformly() -> None:
    for policy in (EpsilonGreedy(SPACE), Softmax(SPACE), UniformRandom(SPACE)):
        np.testing.assert_allclose(policy.probabilities(THRILLER_FAN, CANDIDATES), 1 / 3)


def test_cold_start_linucb_explores_the_image_it_knows_least_about() -> None:
    policy = LinUCB(SPACE)
    # With nothing learned, the bonus grows with how much of the space an
    # image spans: the richer image is the more informative one to show.
    probabilities = policy.probabilities(THRILLER_FAN, [{"dark": 1.0}, DARK])
    assert probabilities.tolist() == [0.0, 1.0]
    # Once the richer image has been shown a lot, the other one gets its turn.
    for _ in range(50):
        policy.update(THRILLER_FAN, [{"dark": 1.0}, DARK], 1, 0.2)
    assert policy.probabilities(THRILLER_FAN, [{"dark": 1.0}, DARK]).tolist() == [1.0, 0.0]


def test_linucb_splits_ties_evenly_and_mixes_epsilon() -> None:
    twins = [DARK, DARK, {"smiling": 1.0}]
    assert LinUCB(SPACE).probabilities(THRILLER_FAN, twins).tolist() == [0.5, 0.5, 0.0]
    mixed = LinUCB(SPACE, epsilon=0.3).probabilities(THRILLER_FAN, twins)
    np.testing.assert_allclose(mixed, [0.35 + 0.1, 0.35 + 0.1, 0.1])


def test_thompson_probabilities_match_the_posterior() -> None:
    policy = train_on_tastes(LinearThompson(SPACE, samples=20_000, noise=0.3))
    pair = [DARK, SMILING]
    design = SPACE.design(ROMANCE_FAN, pair)
    difference = design[0] - design[1]
    mean = difference @ policy.model.coefficients
    sd = policy.noise * math.sqrt(difference @ policy.model.inverse @ difference)
    expected = 0.5 * math.erfc(-mean / sd / math.sqrt(2))  # P(score_0 > score_1)
    probabilities = policy.probabilities(ROMANCE_FAN, pair)
    assert probabilities[0] == pytest.approx(expected, abs=0.015)
    # The Monte Carlo seed is fixed: the same model gives the same distribution.
    np.testing.assert_array_equal(probabilities, policy.probabilities(ROMANCE_FAN, pair))


# -- learning ---------------------------------------------------------------------


def test_the_model_is_ridge_regression_on_interactions() -> None:
    rng = np.random.default_rng(5)
    viewers = rng.random((200, 3))
    images = (rng.random((200, len(IMAGE_ATTRIBUTES))) < 0.3).astype(float)
    rewards = rng.random(200)
    policy = EpsilonGreedy(SPACE, ridge=2.0)
    policy.partial_fit(viewers, images, rewards)
    rows = np.array([SPACE.design(v, i[None, :])[0] for v, i in zip(viewers, images, strict=True)])
    # Ridge as ordinary least squares on rows augmented with sqrt(ridge) * I.
    augmented = np.vstack((rows, math.sqrt(2.0) * np.eye(SPACE.dimension)))
    target = np.concatenate((rewards, np.zeros(SPACE.dimension)))
    expected, *_ = np.linalg.lstsq(augmented, target, rcond=None)
    np.testing.assert_allclose(policy.model.coefficients, expected, atol=1e-9)


def test_update_one_by_one_equals_one_batch() -> None:
    batch = train_on_tastes(LinUCB(SPACE), impressions=100, seed=2)
    single = LinUCB(SPACE)
    rng = np.random.default_rng(2)
    fan = rng.integers(0, 2, 100)
    shown = rng.integers(0, 3, 100)
    liked = (fan == 0) & (shown == 0) | (fan == 1) & (shown == 1)
    rewards = (rng.random(100) < np.where(liked, 0.6, 0.1)).astype(float)
    for f, s, r in zip(fan, shown, rewards, strict=True):
        single.update(THRILLER_FAN if f == 0 else ROMANCE_FAN, CANDIDATES, int(s), float(r))
    np.testing.assert_allclose(single.model.coefficients, batch.model.coefficients, atol=1e-12)
    assert single.model.updates == batch.model.updates == 100


def test_learned_tastes_carry_over_to_unseen_images() -> None:
    policy = train_on_tastes(EpsilonGreedy(SPACE, epsilon=0.0))
    # New candidates never seen together, described by the same attributes.
    new = [{"dark": 1.0, "wide": 1.0}, {"smiling": 1.0, "medium": 1.0, "face": 1.0}]
    assert policy.probabilities(THRILLER_FAN, new).tolist() == [1.0, 0.0]
    assert policy.probabilities(ROMANCE_FAN, new).tolist() == [0.0, 1.0]
    thriller = policy.attribute_effects(THRILLER_FAN)
    romance = policy.attribute_effects(ROMANCE_FAN)
    # The training images always pair dark with closeup and smiling with warm,
    # so the data cannot tell those apart; the model may credit either.
    assert max(thriller, key=thriller.__getitem__) in {"dark", "closeup"}
    assert max(romance, key=romance.__getitem__) in {"smiling", "warm"}
    assert thriller["smiling"] < 0 < thriller["dark"]
    assert romance["dark"] < 0 < romance["smiling"]


def test_discount_forgets_old_tastes() -> None:
    def after_a_change(discount: float) -> float:
        policy = EpsilonGreedy(SPACE, discount=discount)
        policy.partial_fit([THRILLER_FAN] * 400, [DARK] * 400, np.ones(400))
        policy.partial_fit([THRILLER_FAN] * 400, [SMILING] * 400, np.zeros(400))
        policy.partial_fit([THRILLER_FAN] * 40, [DARK] * 40, np.zeros(40))
        policy.partial_fit([THRILLER_FAN] * 40, [SMILING] * 40, np.ones(40))
        return policy.attribute_effects(THRILLER_FAN)["smiling"]

    assert after_a_change(0.97) > 0 > after_a_change(1.0)


def test_rewards_must_be_known() -> None:
    policy = LinUCB(SPACE)
    with pytest.raises(PersonalizeError, match="waiting"):
        policy.partial_fit([THRILLER_FAN], [DARK], [math.nan])
    with pytest.raises(PersonalizeError, match="index the 3 candidates"):
        policy.update(THRILLER_FAN, CANDIDATES, 3, 1.0)
    with pytest.raises(PersonalizeError, match="2 viewers but 1 shown"):
        policy.partial_fit([THRILLER_FAN, ROMANCE_FAN], [DARK], [1.0, 0.0])


def test_explanations_name_the_terms_that_drive_a_choice() -> None:
    policy = train_on_tastes(EpsilonGreedy(SPACE, epsilon=0.0))
    dark, smiling, _ = policy.explain(THRILLER_FAN, CANDIDATES, top=60)
    assert dark.probability == 1.0
    assert dark.score > smiling.score
    assert sum(v for _, v in dark.contributions) == pytest.approx(dark.score)
    top_three = [name for name, _ in policy.explain(THRILLER_FAN, CANDIDATES)[0].contributions]
    assert "genre:thriller x dark" in top_three


# -- persistence ------------------------------------------------------------------


@pytest.mark.parametrize("cls", list(POLICIES.values()), ids=lambda c: c.name)
def test_a_saved_policy_continues_exactly(cls: type[Policy], tmp_path: Path) -> None:
    policy = train_on_tastes(cls(SPACE, seed=11, discount=0.999))
    for _ in range(5):
        policy.choose(THRILLER_FAN, CANDIDATES)
    policy.save(tmp_path / "policy.json")
    loaded = load_policy(tmp_path / "policy.json")
    assert type(loaded) is cls
    assert loaded.version == policy.version
    assert loaded.parameters() == policy.parameters()
    np.testing.assert_array_equal(loaded.model.gram, policy.model.gram)
    for viewer in (THRILLER_FAN, ROMANCE_FAN, {}):
        np.testing.assert_array_equal(
            loaded.probabilities(viewer, CANDIDATES), policy.probabilities(viewer, CANDIDATES)
        )
    assert [loaded.choose(ROMANCE_FAN, CANDIDATES).index for _ in range(30)] == [
        policy.choose(ROMANCE_FAN, CANDIDATES).index for _ in range(30)
    ]
    # Learning goes on identically too.
    for p in (policy, loaded):
        p.update(ROMANCE_FAN, CANDIDATES, 2, 1.0)
    np.testing.assert_array_equal(loaded.model.coefficients, policy.model.coefficients)


def test_the_files_are_json_and_a_pickle_free_npz(tmp_path: Path) -> None:
    train_on_tastes(LinUCB(SPACE, alpha=0.7)).save(tmp_path / "policy.json")
    document = json.loads((tmp_path / "policy.json").read_text())
    assert document["policy"] == "linucb"
    assert document["parameters"] == {"alpha": 0.7, "epsilon": 0.0}
    assert document["feature_space"]["viewer_features"] == list(SPACE.viewer_features)
    with np.load(tmp_path / "policy.npz", allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["gram", "target"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.json", "policy.npz"]


def test_an_incompatible_or_damaged_file_is_refused(tmp_path: Path) -> None:
    path = train_on_tastes(Softmax(SPACE)).save(tmp_path / "policy.json")
    document = json.loads(path.read_text())

    def write(**changes: object) -> Path:
        target = tmp_path / "changed.json"
        target.write_text(json.dumps({**document, **changes}))
        return target

    with pytest.raises(PolicyFileError, match="version 2 is not supported"):
        load_policy(write(format_version=2))
    with pytest.raises(PolicyFileError, match="not a thumbsel policy file"):
        load_policy(write(format="something else"))
    with pytest.raises(PolicyFileError, match="damaged"):
        load_policy(write(policy="mystery"))
    with pytest.raises(PolicyFileError, match="no such policy file"):
        load_policy(tmp_path / "absent.json")
    (tmp_path / "garbage.json").write_text("{not json")
    with pytest.raises(PolicyFileError, match="not a thumbsel policy file"):
        load_policy(tmp_path / "garbage.json")
    # Arrays from another save: the checksum catches the mismatch.
    train_on_tastes(Softmax(SPACE), seed=9).save(tmp_path / "other.json")
    with pytest.raises(PolicyFileError, match="does not match"):
        load_policy(write(arrays="other.npz"))
    (tmp_path / "policy.npz").unlink()
    with pytest.raises(PolicyFileError, match="missing"):
        load_policy(path)


def test_saving_needs_a_json_name(tmp_path: Path) -> None:
    with pytest.raises(PersonalizeError, match=r"\.json"):
        LinUCB(SPACE).save(tmp_path / "policy.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("cls", "options", "message"),
    [
        (EpsilonGreedy, {"epsilon": 1.5}, "epsilon"),
        (Softmax, {"temperature": 0.0}, "temperature"),
        (LinUCB, {"alpha": -1.0}, "alpha"),
        (LinearThompson, {"samples": 0}, "samples"),
        (LinUCB, {"discount": 0.0}, "discount"),
        (LinUCB, {"ridge": 0.0}, "ridge"),
        (LinUCB, {"seed": -1}, "seed"),
    ],
)
def test_bad_settings_are_refused(
    cls: type[Policy], options: dict[str, float], message: str
) -> None:
    with pytest.raises(PersonalizeError, match=message):
        cls(SPACE, **options)  # type: ignore[arg-type]


def test_a_policy_whose_arrays_hold_nan_is_refused_naming_the_file(tmp_path: Path) -> None:
    """Issue 11: such a policy loaded, and failed later as "target_prob contains
    non-finite values", naming no file."""
    policy = train_on_tastes(LinUCB(SPACE))
    policy.model.target[0] = np.nan
    path = policy.save(tmp_path / "policy.json")  # its digest matches: only NaN is wrong
    with pytest.raises(PolicyFileError, match=r"policy\.npz: the policy's arrays hold NaN"):
        load_policy(path)
