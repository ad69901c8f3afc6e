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
from thumbsel.personalize.features import FeatureSpace
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
) -> OffPolicyReport:
    """Every estimator of :mod:`.ope` for ``target`` on ``logged``.

    The reward model behind DM and DR is ridge regression on the same
    interaction features, fitted ``folds`` times, each time leaving out one
    contiguous block of impressions and predicting that block.
    """
    if target.space != logged.space:
        raise PersonalizeError("the target policy was built for another feature space")
    if not isinstance(folds, int) or folds < 2:
        raise PersonalizeError(f"folds must be an integer of at least 2, got {folds!r}")
    n = len(logged)
    if n < folds:
        raise PersonalizeError(f"{n} impressions cannot be split into {folds} folds")
    designs = [logged.design(i) for i in range(n)]
    target_probabilities = [target.distribution(d) for d in designs]
    chosen = logged.chosen
    target_prob = np.array([p[c] for p, c in zip(target_probabilities, chosen, strict=True)])

    fold_of = np.arange(n) * folds // n
    shown_rows = np.array([d[c] for d, c in zip(designs, chosen, strict=True)])
    q_logged = np.empty(n)
    q_target = np.empty(n)
    for fold in range(folds):
        held_out = fold_of == fold
        model = RidgeModel(logged.space.dimension, ridge=ridge)
        model.add(shown_rows[~held_out], logged.reward[~held_out])
        coefficients = model.coefficients
        for i in np.flatnonzero(held_out):
            predicted = designs[i] @ coefficients
            q_logged[i] = predicted[chosen[i]]
            q_target[i] = float(target_probabilities[i] @ predicted)

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
    if logged.logged_probabilities is not None:
        # An image's embedding is its attributes: candidates that look alike to
        # the model share their probability.
        embeddings = [[tuple(row) for row in matrix] for matrix in logged.candidates]
        estimates["mips"] = ope.mips(
            reward,
            chosen,
            logged.logged_probabilities,
            target_probabilities,
            embeddings,
            **options,
        )
    # Replay (Li et al. 2011) is unbiased only for uniform logging and a
    # deterministic target; anywhere else it would report a biased number.
    deterministic = all(np.max(p) == 1.0 for p in target_probabilities)
    sizes = np.array([len(p) for p in target_probabilities])
    uniform = bool(np.allclose(pscore, 1.0 / sizes, rtol=1e-9, atol=0.0))
    if deterministic and uniform:
        target_action = np.array([int(np.argmax(p)) for p in target_probabilities])
        if np.any(target_action == chosen):
            estimates["replay"] = ope.replay(reward, chosen, target_action, **options)
    return OffPolicyReport(
        policy=target.name,
        impressions=n,
        logged_reward=float(np.mean(reward)),
        estimates=estimates,
        match_rate=float(np.mean(target_prob)),
    )
