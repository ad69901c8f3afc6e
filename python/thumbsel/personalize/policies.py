"""Policies that choose one artwork per impression, and the model they share.

Every learning policy here scores a candidate with one ridge-regression model
over viewer x image-attribute interactions (:mod:`.features`), and they differ
only in how they turn scores into a choice:

``random``
    Uniform over the candidates. The logging policy that makes replay and IPS
    evaluation of anything else possible.
``epsilon-greedy``
    The best-scoring candidate with probability ``1 - epsilon``, otherwise a
    uniformly random one (ties at the top share the greedy mass).
``softmax``
    ``p ~ exp(score / temperature)``. ``temperature`` is in reward units.
``linucb``
    Li et al. (2010): the candidate with the highest upper confidence bound
    ``score + alpha * sqrt(x' A^-1 x)``. Deterministic (ties split evenly),
    so its logs give other candidates probability 0 and cannot evaluate other
    policies: mix in ``epsilon`` when it logs traffic for later evaluation.
``lints``
    Linear Thompson sampling: draw a model from the posterior
    ``N(theta, noise^2 A^-1)`` and take its best candidate. Its probabilities
    are estimated by Monte Carlo with ``samples`` draws from a generator seeded
    by ``seed`` alone, so the same model and impression always give the same
    distribution; the choice is then drawn from that distribution, which makes
    the logged propensity the probability the choice was actually made with.

Every policy returns the full distribution over the offered candidates
(:meth:`Policy.probabilities`), chooses with its own seeded generator
(:meth:`Policy.choose`), learns incrementally (:meth:`Policy.update` for one
impression, :meth:`Policy.partial_fit` for a batch), and starts cold: with no
data every score is 0, so the greedy policies choose uniformly and the
optimistic ones explore. ``discount`` below 1 forgets old impressions
geometrically (per impression), for tastes that drift.

Policies are saved as a JSON file (parameters, feature space, generator state)
beside an NPZ file (the model's sums), never as pickle; see :func:`load_policy`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from thumbsel._core import __version__
from thumbsel.errors import PersonalizeError, PolicyFileError
from thumbsel.files import write_bytes, write_json
from thumbsel.personalize.features import (
    CandidatesInput,
    FeatureSpace,
    ViewerInput,
    interactions_of_pairs,
)

__all__ = [
    "POLICIES",
    "POLICY_FILE_FORMAT",
    "POLICY_FILE_VERSION",
    "CandidateExplanation",
    "Choice",
    "EpsilonGreedy",
    "LinUCB",
    "LinearThompson",
    "Policy",
    "RidgeModel",
    "Softmax",
    "UniformRandom",
    "load_policy",
]

FloatArray = npt.NDArray[np.float64]

POLICY_FILE_FORMAT = "thumbsel.personalize.policy"
POLICY_FILE_VERSION = 1
"""Bumped whenever a saved policy would load differently; other versions are refused."""

RANK_ONE_ROWS = 16
"""An :meth:`RidgeModel.add` of at most this many rows updates the inverse in place."""
EXACT_EVERY = 10_000
"""Rank-one rows after which the inverse is solved exactly again."""

_TIE_TOLERANCE = 1e-12
"""Scores this close (relative) count as a tie, so float noise does not break even splits."""


@dataclass(frozen=True)
class Choice:
    """What a policy showed for one impression, and with what probability."""

    index: int
    """Position of the chosen candidate in the offered list."""
    probability: float
    """The probability it was chosen with: the propensity to log."""
    probabilities: FloatArray
    """The full distribution over the offered candidates."""


@dataclass(frozen=True)
class CandidateExplanation:
    """Why a candidate got its probability."""

    score: float
    """Predicted reward from the model."""
    exploration: float
    """Bonus added for uncertainty (LinUCB; 0 for the others)."""
    probability: float
    contributions: list[tuple[str, float]]
    """The largest interaction terms of the score, ``(name, value)``, largest magnitude first."""


class RidgeModel:
    """Ridge regression kept as sums, so updates are exact and order-independent.

    ``A = ridge * I + sum(w x x')`` and ``b = sum(w r x)`` where ``w`` is 1, or
    ``discount ** age`` when forgetting. The sums are the model; the inverse
    ``A^-1`` and the coefficients ``A^-1 b`` are derived from them:

    * after a batch (:meth:`add` of more than :data:`RANK_ONE_ROWS` rows), or
      when first asked, by an exact solve, O(d^3);
    * after a few rows (an online update), by Sherman-Morrison rank-one
      updates of the inverse, O(d^2) per row, so an online update never
      solves a d x d system, nor does the choice after it. Rounding in these
      updates is bounded by solving exactly again every
      :data:`EXACT_EVERY` rank-one rows. With forgetting (``discount < 1``)
      the ridge is not decayed with the sums, so the rank-one form does not
      hold and every update solves.

    A saved model keeps the derived arrays too, so a reloaded model gives
    bit-identical scores.
    """

    def __init__(self, dimension: int, *, ridge: float = 1.0, discount: float = 1.0) -> None:
        if dimension < 1:
            raise PersonalizeError(f"dimension must be at least 1, got {dimension}")
        if not (math.isfinite(ridge) and ridge > 0):
            raise PersonalizeError(f"ridge must be positive, got {ridge}")
        if not (0.0 < discount <= 1.0):
            raise PersonalizeError(f"discount must be in (0, 1], got {discount}")
        self.dimension = dimension
        self.ridge = float(ridge)
        self.discount = float(discount)
        self.gram = np.zeros((dimension, dimension))
        self.target = np.zeros(dimension)
        self.updates = 0
        self._coefficients: FloatArray | None = None
        self._inverse: FloatArray | None = None
        self.rank_one_rows = 0
        """Rows folded in by rank-one updates since the last exact solve."""

    def add(self, rows: FloatArray, rewards: FloatArray, weights: FloatArray | None = None) -> None:
        """Learn from interaction rows (n, dimension) of the chosen candidates and their
        rewards; ``weights`` (importance weights, say) count each row that many times."""
        if rows.shape[0] == 0:
            return
        if self.discount < 1.0:
            n = rows.shape[0]
            ages = self.discount ** np.arange(n - 1, -1, -1, dtype=np.float64)
            weights = ages if weights is None else ages * weights
            decay = self.discount**n
            self.gram *= decay
            self.target *= decay
        if weights is None and rows.shape[0] == 1:
            # One row: its outer product, the same numbers as the product below
            # (one multiplication per entry), at half the cost.
            self.gram += np.outer(rows[0], rows[0])
            self.target += rows[0] * rewards[0]
        elif weights is None:
            self.gram += rows.T @ rows
            self.target += rows.T @ rewards
        else:
            self.gram += (rows * weights[:, None]).T @ rows
            self.target += rows.T @ (weights * rewards)
        self.updates += rows.shape[0]
        if self.discount < 1.0 or rows.shape[0] > RANK_ONE_ROWS:
            self.refresh()
            return
        inverse = self._inverse
        if inverse is None or self.rank_one_rows + rows.shape[0] > EXACT_EVERY:
            # Solved exactly once here; the online updates after it are rank-one.
            self.refresh()
            self._inverse = inverse = self.inverse
            self._coefficients = inverse @ self.target
            return
        for i, row in enumerate(rows):
            weight = 1.0 if weights is None else float(weights[i])
            spread = inverse @ row
            inverse -= (weight / (1.0 + weight * float(row @ spread))) * np.outer(spread, spread)
        self.rank_one_rows += rows.shape[0]
        self._coefficients = inverse @ self.target

    def refresh(self) -> None:
        """Derive the inverse and coefficients from the sums exactly, when next asked."""
        self._coefficients = None
        self._inverse = None
        self.rank_one_rows = 0

    def derived(self) -> dict[str, FloatArray]:
        """The derived arrays now held (for a save that reloads bit-identically)."""
        held = {"inverse": self._inverse, "coefficients": self._coefficients}
        return {name: array for name, array in held.items() if array is not None}

    def restore(self, derived: Mapping[str, FloatArray], rank_one_rows: int) -> None:
        """Take back :meth:`derived` arrays of a saved model."""
        self._inverse = derived.get("inverse")
        self._coefficients = derived.get("coefficients")
        self.rank_one_rows = rank_one_rows

    @property
    def precision(self) -> FloatArray:
        """``A``: the ridge plus the (discounted) Gram matrix."""
        return self.gram + self.ridge * np.eye(self.dimension)

    @property
    def coefficients(self) -> FloatArray:
        if self._coefficients is None:
            self._coefficients = np.asarray(
                np.linalg.solve(self.precision, self.target), dtype=np.float64
            )
        return self._coefficients

    @property
    def inverse(self) -> FloatArray:
        """``A^-1``, the posterior covariance up to the noise variance."""
        if self._inverse is None:
            self._inverse = np.asarray(np.linalg.inv(self.precision), dtype=np.float64)
        return self._inverse


class Policy(ABC):
    """A policy over one :class:`FeatureSpace`; see the module docstring for the kinds."""

    name: ClassVar[str]

    def __init__(
        self,
        space: FeatureSpace,
        *,
        ridge: float = 1.0,
        discount: float = 1.0,
        seed: int = 0,
    ) -> None:
        if not isinstance(space, FeatureSpace):
            raise PersonalizeError("space must be a FeatureSpace")
        if not isinstance(seed, int) or seed < 0:
            raise PersonalizeError(f"seed must be a non-negative integer, got {seed!r}")
        self.space = space
        self.seed = seed
        self.model = RidgeModel(space.dimension, ridge=ridge, discount=discount)
        self._rng = np.random.default_rng(seed)

    # -- choosing ---------------------------------------------------------

    def probabilities(self, viewer: ViewerInput, candidates: CandidatesInput) -> FloatArray:
        """The probability of showing each offered candidate to this viewer."""
        return self.distribution(self.space.design(viewer, candidates))

    def choose(self, viewer: ViewerInput, candidates: CandidatesInput) -> Choice:
        """Draw one candidate from :meth:`probabilities` with the policy's generator."""
        return self.choose_from(self.space.design(viewer, candidates))

    def choose_from(self, design: FloatArray) -> Choice:
        """:meth:`choose` on interaction rows from :meth:`FeatureSpace.design`."""
        probabilities = self.distribution(design)
        index = int(self._rng.choice(len(probabilities), p=probabilities))
        return Choice(index, float(probabilities[index]), probabilities)

    @abstractmethod
    def distribution(self, design: FloatArray) -> FloatArray:
        """:meth:`probabilities` on interaction rows from :meth:`FeatureSpace.design`."""

    def scores(self, design: FloatArray) -> FloatArray:
        """The model's predicted reward for each row."""
        return design @ self.model.coefficients

    def exploration(self, design: FloatArray) -> FloatArray:
        """The uncertainty bonus added to each score (0 except for LinUCB)."""
        return np.zeros(design.shape[0])

    # -- learning ---------------------------------------------------------

    def update(
        self, viewer: ViewerInput, candidates: CandidatesInput, chosen: int, reward: float
    ) -> None:
        """Learn from one impression: the candidate shown (its index) and the reward seen."""
        design = self.space.design(viewer, candidates)
        if not (isinstance(chosen, int | np.integer) and 0 <= chosen < design.shape[0]):
            raise PersonalizeError(
                f"chosen must index the {design.shape[0]} candidates, got {chosen!r}"
            )
        self.model.add(design[int(chosen)][None, :], _rewards([reward], 1))

    def partial_fit(
        self,
        viewers: Sequence[Mapping[str, float]] | npt.ArrayLike,
        shown: Sequence[Mapping[str, float]] | npt.ArrayLike,
        rewards: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> None:
        """Learn from a batch: per impression, the viewer, the shown image's attributes, the reward.

        Only the shown candidate matters to a linear model, so the other
        candidates need not be passed. Rewards must be known: drop impressions
        whose reward is still pending. ``weights`` (one per impression, finite
        and non-negative) weigh the impressions, as importance weights do.
        """
        rows = self.rows(viewers, shown)
        self.model.add(
            rows,
            _rewards(rewards, rows.shape[0]),
            None if weights is None else _weights(weights, rows.shape[0]),
        )

    def rows(
        self,
        viewers: Sequence[Mapping[str, float]] | npt.ArrayLike,
        shown: Sequence[Mapping[str, float]] | npt.ArrayLike,
    ) -> FloatArray:
        """Interaction rows for pairs of (viewer, shown image)."""
        viewer_rows = self.space.viewer_matrix(viewers)
        image_rows = self.space.image_matrix(shown, allow_empty=True)
        if viewer_rows.shape[0] != image_rows.shape[0]:
            raise PersonalizeError(
                f"{viewer_rows.shape[0]} viewers but {image_rows.shape[0]} shown images"
            )
        return interactions_of_pairs(viewer_rows, image_rows)

    # -- explaining -------------------------------------------------------

    def attribute_effects(self, viewer: ViewerInput) -> dict[str, float]:
        """How much each image attribute adds to this viewer's predicted reward."""
        space = self.space
        vector = space.viewer_vector(viewer)
        table = self.model.coefficients.reshape(len(vector), len(space.image_attributes) + 1)
        effects = vector @ table[:, 1:]
        return {name: float(e) for name, e in zip(space.image_attributes, effects, strict=True)}

    def explain(
        self, viewer: ViewerInput, candidates: CandidatesInput, *, top: int = 3
    ) -> list[CandidateExplanation]:
        """Per candidate: score, exploration bonus, probability, and the terms behind the score."""
        design = self.space.design(viewer, candidates)
        probabilities = self.distribution(design)
        scores = self.scores(design)
        bonus = self.exploration(design)
        names = self.space.interaction_names
        terms = design * self.model.coefficients
        explanations = []
        for i in range(design.shape[0]):
            order = np.argsort(-np.abs(terms[i]), kind="stable")[:top]
            contributions = [(names[j], float(terms[i, j])) for j in order if terms[i, j] != 0.0]
            explanations.append(
                CandidateExplanation(
                    float(scores[i]), float(bonus[i]), float(probabilities[i]), contributions
                )
            )
        return explanations

    # -- identity and persistence -------------------------------------------

    def parameters(self) -> dict[str, Any]:
        """The policy's own settings (beyond ridge, discount and seed)."""
        return {}

    @property
    def version(self) -> str:
        """A short fingerprint of the settings and everything learned, for impression logs."""
        digest = hashlib.sha256()
        digest.update(json.dumps(self._header(), sort_keys=True).encode())
        digest.update(self.model.gram.tobytes())
        digest.update(self.model.target.tobytes())
        return f"{self.name}-{self.model.updates}-{digest.hexdigest()[:12]}"

    def _header(self) -> dict[str, Any]:
        return {
            "policy": self.name,
            "parameters": self.parameters(),
            "ridge": self.model.ridge,
            "discount": self.model.discount,
            "seed": self.seed,
            "feature_space": self.space.to_dict(),
        }

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (JSON) and the model's arrays beside it (same name, ``.npz``).

        Both are written atomically, arrays first; the JSON records the
        arrays' SHA-256 so a JSON paired with another save's arrays is refused.
        """
        path = Path(path)
        if path.suffix != ".json":
            raise PersonalizeError(f"{path}: a policy is saved as a .json file (plus .npz)")
        buffer = io.BytesIO()
        saved = {"gram": self.model.gram, "target": self.model.target, **self.model.derived()}
        np.savez(buffer, **saved)  # type: ignore[arg-type]
        arrays = buffer.getvalue()
        arrays_path = path.with_suffix(".npz")
        write_bytes(arrays_path, arrays)
        document = {
            "format": POLICY_FILE_FORMAT,
            "format_version": POLICY_FILE_VERSION,
            "thumbsel_version": __version__,
            **self._header(),
            "updates": self.model.updates,
            "rank_one_rows": self.model.rank_one_rows,
            "rng_state": self._rng.bit_generator.state,
            "arrays": arrays_path.name,
            "arrays_sha256": hashlib.sha256(arrays).hexdigest(),
        }
        write_json(path, document, sort_keys=True)
        return path


class UniformRandom(Policy):
    name = "random"

    def distribution(self, design: FloatArray) -> FloatArray:
        return np.full(design.shape[0], 1.0 / design.shape[0])


class EpsilonGreedy(Policy):
    name = "epsilon-greedy"

    def __init__(self, space: FeatureSpace, *, epsilon: float = 0.1, **options: Any) -> None:
        super().__init__(space, **options)
        self.epsilon = _probability("epsilon", epsilon)

    def parameters(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}

    def distribution(self, design: FloatArray) -> FloatArray:
        return _greedy(self.scores(design), self.epsilon)


class Softmax(Policy):
    name = "softmax"

    def __init__(self, space: FeatureSpace, *, temperature: float = 0.05, **options: Any) -> None:
        super().__init__(space, **options)
        if not (math.isfinite(temperature) and temperature > 0):
            raise PersonalizeError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)

    def parameters(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    def distribution(self, design: FloatArray) -> FloatArray:
        logits = self.scores(design) / self.temperature
        weights = np.exp(logits - logits.max())
        return np.asarray(weights / weights.sum(), dtype=np.float64)


class LinUCB(Policy):
    name = "linucb"

    def __init__(
        self, space: FeatureSpace, *, alpha: float = 0.5, epsilon: float = 0.0, **options: Any
    ) -> None:
        super().__init__(space, **options)
        if not (math.isfinite(alpha) and alpha >= 0):
            raise PersonalizeError(f"alpha must be non-negative, got {alpha}")
        self.alpha = float(alpha)
        self.epsilon = _probability("epsilon", epsilon)

    def parameters(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "epsilon": self.epsilon}

    def exploration(self, design: FloatArray) -> FloatArray:
        spread = ((design @ self.model.inverse) * design).sum(axis=1)
        return np.asarray(self.alpha * np.sqrt(np.maximum(spread, 0.0)), dtype=np.float64)

    def distribution(self, design: FloatArray) -> FloatArray:
        return _greedy(self.scores(design) + self.exploration(design), self.epsilon)


class LinearThompson(Policy):
    name = "lints"

    def __init__(
        self,
        space: FeatureSpace,
        *,
        noise: float = 0.25,
        samples: int = 1000,
        **options: Any,
    ) -> None:
        super().__init__(space, **options)
        if not (math.isfinite(noise) and noise > 0):
            raise PersonalizeError(f"noise must be positive, got {noise}")
        if not (isinstance(samples, int) and samples >= 1):
            raise PersonalizeError(f"samples must be a positive integer, got {samples!r}")
        self.noise = float(noise)
        self.samples = samples
        self._normals: dict[int, FloatArray] = {}

    def parameters(self) -> dict[str, Any]:
        return {"noise": self.noise, "samples": self.samples}

    def _normal(self, candidates: int) -> FloatArray:
        # The same seed for every call: the distribution is a function of the
        # model and the impression alone, so it can be logged, replayed and
        # evaluated. Being the same, the draws are kept per candidate count.
        if candidates not in self._normals:
            rng = np.random.default_rng([self.seed, 1])
            self._normals[candidates] = rng.standard_normal((self.samples, candidates))
        return self._normals[candidates]

    def distribution(self, design: FloatArray) -> FloatArray:
        # The posterior over scores of these candidates is a k-dimensional
        # Gaussian, so sampling scores costs k^2 per draw instead of d^2 for
        # whole coefficient vectors.
        mean = self.scores(design)
        covariance = self.noise**2 * (design @ self.model.inverse @ design.T)
        values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
        root = vectors * np.sqrt(np.maximum(values, 0.0))
        draws = mean + self._normal(len(mean)) @ root.T
        best = draws >= draws.max(axis=1, keepdims=True) - _tie_margin(draws)
        return np.asarray((best / best.sum(axis=1, keepdims=True)).mean(axis=0), np.float64)


POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (UniformRandom, EpsilonGreedy, Softmax, LinUCB, LinearThompson)
}
"""Policy classes by their :attr:`Policy.name`."""


def load_policy(path: str | Path) -> Policy:
    """Load a policy saved by :meth:`Policy.save`; it continues exactly where it stopped.

    Raises :class:`~thumbsel.errors.PolicyFileError` when a file is missing,
    damaged, paired with another save's arrays, or written by an incompatible
    version.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyFileError(f"{path}: no such policy file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PolicyFileError(f"{path}: not a thumbsel policy file ({error})") from None
    if not isinstance(document, dict) or document.get("format") != POLICY_FILE_FORMAT:
        raise PolicyFileError(f"{path}: not a thumbsel policy file")
    version = document.get("format_version")
    if version != POLICY_FILE_VERSION:
        raise PolicyFileError(
            f"{path}: policy file format version {version!r} is not supported "
            f"(this thumbsel reads version {POLICY_FILE_VERSION}); "
            "retrain or save it with a matching thumbsel"
        )
    try:
        cls = POLICIES[document["policy"]]
        space = FeatureSpace.from_dict(document["feature_space"])
        arrays_path = path.with_name(document["arrays"])
        expected_digest = document["arrays_sha256"]
        try:
            arrays = arrays_path.read_bytes()
        except FileNotFoundError:
            raise PolicyFileError(f"{arrays_path}: the policy's arrays are missing") from None
        if hashlib.sha256(arrays).hexdigest() != expected_digest:
            raise PolicyFileError(
                f"{arrays_path}: does not match {path.name} (saved by another run?)"
            )
        with np.load(io.BytesIO(arrays), allow_pickle=False) as npz:
            gram = np.array(npz["gram"], dtype=np.float64)
            target = np.array(npz["target"], dtype=np.float64)
            derived = {
                name: np.array(npz[name], dtype=np.float64)
                for name in ("inverse", "coefficients")
                if name in npz.files
            }
        policy = cls(
            space,
            ridge=document["ridge"],
            discount=document["discount"],
            seed=document["seed"],
            **document["parameters"],
        )
        if gram.shape != (space.dimension, space.dimension) or target.shape != (space.dimension,):
            raise PolicyFileError(f"{arrays_path}: arrays do not fit the feature space")
        if not (np.isfinite(gram).all() and np.isfinite(target).all()):
            # Caught here, naming the file, rather than as a NaN score at choice time.
            raise PolicyFileError(f"{arrays_path}: the policy's arrays hold NaN or infinity")
        shapes = {"inverse": gram.shape, "coefficients": target.shape}
        if any(array.shape != shapes[name] for name, array in derived.items()):
            raise PolicyFileError(f"{arrays_path}: arrays do not fit the feature space")
        policy.model.gram = gram
        policy.model.target = target
        policy.model.updates = int(document["updates"])
        policy.model.restore(derived, int(document.get("rank_one_rows", 0)))
        policy._rng.bit_generator.state = document["rng_state"]
    except PolicyFileError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise PolicyFileError(
            f"{path}: damaged policy file ({type(error).__name__}: {error})"
        ) from None
    return policy


def _greedy(values: FloatArray, epsilon: float) -> FloatArray:
    best = values >= values.max() - _tie_margin(values)
    greedy = best / np.count_nonzero(best)
    return np.asarray((1.0 - epsilon) * greedy + epsilon / len(values), dtype=np.float64)


def _tie_margin(values: FloatArray) -> float:
    return _TIE_TOLERANCE * (1.0 + float(np.max(np.abs(values))))


def _probability(name: str, value: float) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise PersonalizeError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def _weights(values: npt.ArrayLike, n: int) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise PersonalizeError(f"expected {n} weights, got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise PersonalizeError("weights must be finite and non-negative")
    return array


def _rewards(values: npt.ArrayLike, n: int) -> FloatArray:
    try:
        rewards = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise PersonalizeError("rewards must be numbers") from None
    if rewards.shape != (n,):
        raise PersonalizeError(f"expected {n} rewards, got shape {rewards.shape}")
    if not np.all(np.isfinite(rewards)):
        raise PersonalizeError("rewards must be finite (drop impressions still waiting for one)")
    return rewards
