"""Learning a policy from the log of the one serving, and publishing it only if it is better.

**Off-policy training.** The log holds, per impression, the image the live
policy chose and the probability it chose it with. A plain regression on
those rows learns most about the images the live policy liked, and a model
that cannot represent the truth exactly is then fitted where the logger
looked, not where a new policy will. Weighing each row by ``1 / propensity``
(inverse propensity, as Vowpal Wabbit's ``--cb_type ips`` and OBP's IPW
learner do) makes the fit an estimate over all the candidates alike. Weights
are clipped at ``clip`` (a row logged at probability 0.001 would otherwise
outweigh a thousand others) and scaled to mean 1, so the ridge penalty means
the same as in an unweighted fit.

**Guarded rollout.** The candidate is trained on the log before a cut-off
and evaluated on the days after it (``holdout``), which it never saw, with an
off-policy estimator of :func:`~thumbsel.personalize.evaluate.evaluate`. It
is published only if that estimate's 95% lower bound beats the live policy's
value on the same days: the mean reward the live policy earned there (it is
the logger), or, given the live policy, its own estimate by the same
estimator. Publishing writes the policy file the service watches
(:class:`~thumbsel.serve.app.LivePolicy`), arrays first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from thumbsel.errors import PersonalizeError
from thumbsel.personalize.evaluate import LoggedFeedback, evaluate
from thumbsel.personalize.policies import POLICIES, Policy

__all__ = [
    "DEFAULT_CLIP",
    "ESTIMATORS",
    "Rollout",
    "guarded_rollout",
    "importance_weights",
    "publish",
    "split_by_time",
    "train_policy",
]

DEFAULT_CLIP = 10.0
MAX_CLIP = 1e6
ESTIMATORS = ("dr", "sndr", "switch_dr", "dros", "snips", "clipped_ips", "ips")
Weighting = Literal["ips", "none"]


def importance_weights(
    propensity: npt.ArrayLike, clip: float = DEFAULT_CLIP
) -> npt.NDArray[np.float64]:
    """``min(clip, 1 / propensity)``, scaled to mean 1."""
    if not 1.0 <= clip <= MAX_CLIP:
        raise PersonalizeError(f"clip must be within 1..{MAX_CLIP:g}, got {clip}")
    p = np.asarray(propensity, dtype=np.float64)
    if p.size == 0 or not np.all((p > 0) & (p <= 1)):
        raise PersonalizeError("propensities must lie in (0, 1]")
    weights = np.minimum(clip, 1.0 / p)
    return np.asarray(weights / weights.mean(), dtype=np.float64)


def train_policy(
    feedback: LoggedFeedback,
    kind: str,
    *,
    seed: int = 0,
    weighting: Weighting = "ips",
    clip: float = DEFAULT_CLIP,
    **options: Any,
) -> Policy:
    """A ``kind`` policy fitted on the rewarded impressions of ``feedback``."""
    if kind not in POLICIES:
        raise PersonalizeError(f"unknown policy {kind!r}; the policies: {', '.join(POLICIES)}")
    if weighting not in ("ips", "none"):
        raise PersonalizeError(f"weighting must be 'ips' or 'none', got {weighting!r}")
    policy = POLICIES[kind](feedback.space, seed=seed, **options)
    shown = np.array(
        [c[i] for c, i in zip(feedback.candidates, feedback.chosen, strict=True)]
    ).reshape(len(feedback), len(feedback.space.image_attributes))
    weights = importance_weights(feedback.propensity, clip) if weighting == "ips" else None
    policy.partial_fit(feedback.viewers, shown, feedback.reward, weights=weights)
    return policy


def split_by_time(table: pa.Table, holdout: timedelta) -> tuple[pa.Table, pa.Table]:
    """The impressions before the last ``holdout`` of the log's time span, and those in it."""
    if holdout <= timedelta(0):
        raise PersonalizeError(f"the holdout must be positive, got {holdout}")
    if table.num_rows == 0:
        raise PersonalizeError("the log is empty")
    times = table.column("time")
    cut = pc.subtract(pc.max(times), pa.scalar(holdout, pa.duration("us")))
    later = pc.greater(times, cut)
    return table.filter(pc.invert(later)), table.filter(later)


@dataclass(frozen=True)
class Rollout:
    estimator: str
    value: float
    low: float
    high: float
    ess: float
    live_value: float
    live: str
    """What the candidate had to beat: ``logged`` (the live policy's earned mean) or a policy."""
    impressions: int
    published: bool

    @property
    def reason(self) -> str:
        verdict = "beats" if self.published else "does not beat"
        return (
            f"{self.estimator} lower bound {self.low:.4f} {verdict} the live policy's "
            f"{self.live_value:.4f} ({self.live}) on {self.impressions} held-out impressions"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "ess": self.ess,
            "live_value": self.live_value,
            "live": self.live,
            "impressions": self.impressions,
            "published": self.published,
        }


def guarded_rollout(
    candidate: Policy,
    holdout: LoggedFeedback,
    *,
    estimator: str = "dr",
    live: Policy | None = None,
) -> Rollout:
    """Whether ``candidate`` may replace the live policy (see the module notes)."""
    if estimator not in ESTIMATORS:
        raise PersonalizeError(f"estimator must be one of {', '.join(ESTIMATORS)}")
    report = evaluate(holdout, candidate)
    estimate = report.estimates[estimator]
    if live is None:
        live_value, label = report.logged_reward, "logged"
    else:
        live_value = evaluate(holdout, live).estimates[estimator].value
        label = f"{live.name} {live.version}"
    return Rollout(
        estimator=estimator,
        value=estimate.value,
        low=estimate.low,
        high=estimate.high,
        ess=estimate.ess,
        live_value=float(live_value),
        live=label,
        impressions=len(holdout),
        published=bool(estimate.low > live_value),
    )


def publish(policy: Policy, target: Path) -> Path:
    """Save ``policy`` where a service reads it. :meth:`Policy.save` writes the arrays
    first and the JSON (which names their hash) last, each atomically, so a service
    that sees the new JSON finds its arrays, and one that reads too early is refused
    by the hash and keeps the old policy until its next look."""
    return policy.save(target)
