"""Evaluate a policy on logged impressions before it ever meets a viewer.

:func:`evaluate` replays the logged contexts through the target policy to get
the probability it would have shown each logged image, fits a reward model
for the direct and doubly robust estimators with cross-fitting (each
impression is predicted by a model that never saw it, so the model's
in-sample optimism does not leak into the estimate), and runs every estimator
of :mod:`.ope` on the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from thumbsel.errors import PersonalizeError
from thumbsel.personalize import ope
from thumbsel.personalize.features import FeatureSpace, interactions_of_pairs
from thumbsel.personalize.policies import Policy, RidgeModel

__all__ = ["LoggedFeedback", "OffPolicyReport", "evaluate"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class LoggedFeedback:
    """Logged impressions as arrays over one :class:`FeatureSpace`.

    ``viewers`` is (n, viewer features); ``candidates[i]`` is impression
    ``i``'s (candidates, attributes) matrix; ``chosen[i]`` indexes the image
    shown; ``propensity[i]`` is the logging policy's probability of it.
    """

    space: FeatureSpace
    viewers: FloatArray
    candidates: Sequence[FloatArray]
    chosen: IntArray
    propensity: FloatArray
    reward: FloatArray
    impression_ids: Sequence[str] | None = field(default=None, repr=False)
    logged_probabilities: Sequence[FloatArray] | None = field(default=None, repr=False)
    """The logger's whole distribution per impression, when the log kept it (for MIPS)."""

    def __post_init__(self) -> None:
        n = len(self.chosen)
        if n == 0:
            raise PersonalizeError("no logged impressions to evaluate on")
        if self.viewers.shape != (n, len(self.space.viewer_features)):
            raise PersonalizeError(
                f"viewers must have shape ({n}, {len(self.space.viewer_features)}), "
                f"got {self.viewers.shape}"
            )
        if len(self.candidates) != n or len(self.propensity) != n or len(self.reward) != n:
            raise PersonalizeError("logged arrays differ in length")
        for i, matrix in enumerate(self.candidates):
            if matrix.ndim != 2 or matrix.shape[1] != len(self.space.image_attributes):
                raise PersonalizeError(f"impression {i}: candidates have shape {matrix.shape}")
            if not 0 <= self.chosen[i] < matrix.shape[0]:
                raise PersonalizeError(
                    f"impression {i}: chosen index {self.chosen[i]} is out of range"
                )

    def __len__(self) -> int:
        return len(self.chosen)

    def design(self, i: int) -> FloatArray:
        """Interaction rows of impression ``i``."""
        return self.space.design(self.viewers[i], self.candidates[i])


@dataclass(frozen=True)
class OffPolicyReport:
    """Estimates of a target policy's reward per impression on logged traffic."""

    policy: str
    impressions: int
    logged_reward: float
    """Mean reward the logging policy actually earned: the value to beat."""
    estimates: dict[str, ope.Estimate]
    """By method: ``ips``, ``clipped_ips``, ``snips``, ``dm``, ``dr``, ``sndr``,
    ``switch_dr`` (``tau = max_weight``), ``dros`` (``shrinkage = max_weight^2``),
    ``mips`` when the log kept the logger's distributions, and ``replay`` when
    the log is uniformly random and the target deterministic."""
    match_rate: float
    """Mean probability the target gives the logged image: how much of the log is usable."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "impressions": self.impressions,
            "logged_reward": self.logged_reward,
            "match_rate": self.match_rate,
            "estimates": {
                name: {"value": e.value, "low": e.low, "high": e.high, "ess": e.ess}
                for name, e in self.estimates.items()
            },
        }


CHUNK = 4096
"""Impressions whose interaction rows are held at once: evaluation memory is this
many impressions' rows plus a few numbers per impression, whatever the log's length."""


def evaluate(
    logged: LoggedFeedback,
    target: Policy,
    *,
    folds: int = 2,
    ridge: float = 1.0,
    max_weight: float = 10.0,
    interval: ope.Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
    chunk: int = CHUNK,
) -> OffPolicyReport:
    """Every estimator of :mod:`.ope` for ``target`` on ``logged``.

    The reward model behind DM and DR is ridge regression on the same
    interaction features, fitted ``folds`` times, each time leaving out one
    contiguous block of impressions and predicting that block. The log is
    read in ``chunk``-sized runs, twice (the models' sums, then each
    impression's weights and predictions), so only one run's interaction rows
    are ever held.
    """
    if target.space != logged.space:
        raise PersonalizeError("the target policy was built for another feature space")
    if not isinstance(folds, int) or folds < 2:
        raise PersonalizeError(f"folds must be an integer of at least 2, got {folds!r}")
    if not isinstance(chunk, int) or chunk < 1:
        raise PersonalizeError(f"chunk must be a positive integer, got {chunk!r}")
    n = len(logged)
    if n < folds:
        raise PersonalizeError(f"{n} impressions cannot be split into {folds} folds")
    chosen = logged.chosen
    fold_of = np.arange(n) * folds // n
    runs = [range(start, min(n, start + chunk)) for start in range(0, n, chunk)]

    # Pass 1: each fold's sums over its own impressions' shown rows.
    sums = [RidgeModel(logged.space.dimension, ridge=ridge) for _ in range(folds)]
    for run in runs:
        # Only the shown image's row of each impression: one outer product each.
        viewers = logged.space.viewer_matrix(logged.viewers[run.start : run.stop])
        images = np.array([logged.candidates[i][chosen[i]] for i in run])
        shown = interactions_of_pairs(viewers, np.hstack((np.ones((len(run), 1)), images)))
        for fold in np.unique(fold_of[run.start : run.stop]):
            mine = fold_of[run.start : run.stop] == fold
            sums[fold].add(shown[mine], logged.reward[run.start : run.stop][mine])
    coefficients = []
    for fold in range(folds):
        model = RidgeModel(logged.space.dimension, ridge=ridge)
        model.gram = sum(m.gram for i, m in enumerate(sums) if i != fold)  # type: ignore[assignment]
        model.target = sum(m.target for i, m in enumerate(sums) if i != fold)  # type: ignore[assignment]
        coefficients.append(model.coefficients)

    # Pass 2: per impression, what the target would do and what each model predicts.
    target_prob = np.empty(n)
    q_logged = np.empty(n)
    q_target = np.empty(n)
    deterministic = True
    target_action = np.empty(n, dtype=np.int64)
    sizes = np.empty(n, dtype=np.int64)
    mips_weight = np.empty(n) if logged.logged_probabilities is not None else None
    for run in runs:
        for i in run:
            design = logged.design(i)
            probabilities = target.distribution(design)
            predicted = design @ coefficients[fold_of[i]]
            target_prob[i] = probabilities[chosen[i]]
            q_logged[i] = predicted[chosen[i]]
            q_target[i] = float(probabilities @ predicted)
            deterministic = deterministic and float(np.max(probabilities)) == 1.0
            target_action[i] = int(np.argmax(probabilities))
            sizes[i] = len(probabilities)
            if mips_weight is not None:
                assert logged.logged_probabilities is not None
                mips_weight[i] = _embedding_weight(
                    logged.candidates[i], chosen[i], logged.logged_probabilities[i], probabilities
                )

    options: dict[str, Any] = {"interval": interval, "n_bootstrap": n_bootstrap, "seed": seed}
    reward, pscore = logged.reward, logged.propensity
    estimates = {
        "ips": ope.ips(reward, pscore, target_prob, **options),
        "clipped_ips": ope.clipped_ips(
            reward, pscore, target_prob, max_weight=max_weight, **options
        ),
        "snips": ope.snips(reward, pscore, target_prob, **options),
        "dm": ope.dm(q_target, **options),
        "dr": ope.dr(reward, pscore, target_prob, q_logged, q_target, **options),
        "sndr": ope.sndr(reward, pscore, target_prob, q_logged, q_target, **options),
        "switch_dr": ope.switch_dr(
            reward, pscore, target_prob, q_logged, q_target, tau=max_weight, **options
        ),
        "dros": ope.dros(
            reward, pscore, target_prob, q_logged, q_target, shrinkage=max_weight**2, **options
        ),
    }
    if mips_weight is not None:
        # An image's embedding is its attributes: candidates that look alike to
        # the model share their probability.
        estimates["mips"] = ope.mips_from_weights(reward, mips_weight, **options)
    # Replay (Li et al. 2011) is unbiased only for uniform logging and a
    # deterministic target; anywhere else it would report a biased number.
    uniform = bool(np.allclose(pscore, 1.0 / sizes, rtol=1e-9, atol=0.0))
    if deterministic and uniform and np.any(target_action == chosen):
        estimates["replay"] = ope.replay(reward, chosen, target_action, **options)
    return OffPolicyReport(
        policy=target.name,
        impressions=n,
        logged_reward=float(np.mean(reward)),
        estimates=estimates,
        match_rate=float(np.mean(target_prob)),
    )


def _embedding_weight(
    attributes: FloatArray, chosen: int, logger: FloatArray, target: FloatArray
) -> float:
    """MIPS's weight of one impression: the shown image's attributes, under both policies."""
    same = np.all(attributes == attributes[chosen], axis=1)
    return float(target[same].sum()) / float(logger[same].sum())
