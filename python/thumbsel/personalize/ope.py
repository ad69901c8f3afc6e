"""Off-policy evaluation: what would a new policy have earned on the logged traffic?

Every estimator takes 1-D arrays over logged impressions (events). For event
``i`` the logging policy showed an action (an artwork) with probability
``pscore[i]`` and observed ``reward[i]`` (e.g. a click); ``target_prob[i]`` is
the probability that the policy being evaluated (the *target*) would have shown
that same logged action in that context. The importance weight of an event is
``w = target_prob / pscore``.

Estimators
----------
``ips``
    Inverse propensity scoring: the mean of ``w * r``. Unbiased when the
    propensities are right and the logger gives every action the target can
    take a positive probability; high variance when weights are large.
``clipped_ips``
    IPS with weights capped at ``max_weight``. Lower variance, but biased: for
    non-negative rewards it is biased *downward* whenever some weight exceeds
    the cap (the capped mass of reward is simply dropped).
``snips``
    Self-normalised IPS, ``sum(w r) / sum(w)``: slightly biased (consistent),
    usually much less variance than IPS, always within the reward range.
``dm``
    Direct method: the mean of a reward model's prediction under the target
    policy. Its interval only reflects the spread of the predictions over the
    events; it **ignores the model's own error**, which is usually the larger
    part, so treat it as optimistic.
``dr``
    Doubly robust: ``q_target + w * (r - q_logged)``; unbiased if either the
    propensities or the reward model are right, and lower variance than IPS
    when the model is good.
``sndr``
    Self-normalised DR: ``mean(q_target) + sum(w * (r - q_logged)) / sum(w)``:
    the DR correction normalised like SNIPS; within the reward range when the
    model is, and less variance than DR when weights are large.
``switch_dr``
    Switch-DR (Wang et al. 2017, as Open Bandit Pipeline computes it): the
    direct method everywhere, plus DR's correction only on events whose
    weight is at most ``tau``; events the logger rarely showed fall back to
    the model. ``tau`` at least every weight is DR; ``tau = 0`` is DM.
``dros``
    DR with optimistic shrinkage (Su et al. 2020): DR with each weight shrunk
    to ``lambda * w / (w^2 + lambda)``; ``lambda`` to infinity is DR, to 0 DM.
``mips``
    Marginalised IPS (Saito and Joachims 2022): the weight of the logged
    *embedding* rather than action, ``p_target(e | x) / p_logger(e | x)``,
    summing the probabilities of every offered candidate that shares the
    shown image's embedding (its attributes). Unbiased when the reward
    depends on the candidate only through its embedding, with smaller weights
    than IPS when candidates share embeddings; it needs the logger's whole
    distribution per impression (the log keeps it).
``replay``
    Li et al. (2011): for a deterministic target policy, the mean reward over
    the events whose logged action equals the target's action. Under uniform
    logging (constant ``pscore``) it equals SNIPS exactly and IPS in
    expectation.

Intervals
---------
Every estimate carries a 95% interval. ``interval="clt"`` (default) uses the
normal approximation ``value +- 1.96 * sd / sqrt(n)`` over the per-event terms
(for SNIPS and replay, which are ratios, over their influence-function terms,
i.e. the delta method). ``interval="bootstrap"`` resamples the events with
replacement ``n_bootstrap`` times from ``np.random.default_rng(seed)`` and
takes the 2.5% and 97.5% percentiles of the re-computed estimate; it is
deterministic for a given seed.

Small samples
-------------
Each estimate reports the Kish effective sample size of its importance weights,
``ess = (sum w)^2 / sum w^2`` (``n`` for the direct method, the number of
matched events for replay). When ``ess < max(30, 0.01 * n)`` a
:class:`SmallSampleWarning` is emitted: fewer than 30 effective events make the
normal approximation unreliable, and an ``ess`` below 1% of the log means a
handful of heavily weighted events dominate the estimate, so its interval is
not to be trusted however many events were logged.

Bad input raises :class:`~thumbsel.errors.PersonalizeError`, a ``ValueError``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from thumbsel.errors import PersonalizeError

__all__ = [
    "Estimate",
    "Interval",
    "SmallSampleWarning",
    "clipped_ips",
    "clt_interval",
    "dm",
    "dr",
    "dros",
    "ips",
    "min_ess",
    "mips",
    "mips_from_weights",
    "replay",
    "sndr",
    "snips",
    "switch_dr",
]

Interval = Literal["clt", "bootstrap"]
FloatArray = npt.NDArray[np.float64]

Z_95 = 1.959963984540054
"""Two-sided 95% quantile of the standard normal distribution."""

_BOOTSTRAP_CELLS = 4_000_000
"""Upper bound on resample-matrix cells held in memory at once."""


@dataclass(frozen=True)
class Estimate:
    """A policy value estimate with its 95% interval."""

    value: float
    low: float
    high: float
    ess: float
    """Kish effective sample size of the importance weights (``n`` for DM,
    matched events for replay)."""
    n: int
    """Number of logged events."""
    method: str
    """``"ips"``, ``"clipped_ips"``, ``"snips"``, ``"dm"``, ``"dr"``, ``"sndr"``,
    ``"switch_dr"``, ``"dros"``, ``"mips"`` or ``"replay"``."""
    interval: str
    """``"clt"`` or ``"bootstrap"``."""


class SmallSampleWarning(UserWarning):
    """The estimate rests on too few effective events: ``ess < max(30, 0.01 * n)``."""


def min_ess(n: int) -> float:
    """The effective sample size below which :class:`SmallSampleWarning` is emitted."""
    return max(30.0, 0.01 * n)


# ---------------------------------------------------------------------------
# Validation


def _vector(name: str, values: npt.ArrayLike) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PersonalizeError(f"{name} must be numeric: {exc}") from None
    if array.ndim != 1:
        raise PersonalizeError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:
        raise PersonalizeError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise PersonalizeError(f"{name} contains non-finite values")
    return array


def _same_length(**arrays: npt.NDArray[np.generic]) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        shown = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise PersonalizeError(f"arrays differ in length: {shown}")
    return next(iter(lengths.values()))


def _weights(pscore: npt.ArrayLike, target_prob: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    p = _vector("pscore", pscore)
    t = _vector("target_prob", target_prob)
    if np.any((p <= 0.0) | (p > 1.0)):
        raise PersonalizeError("pscore must lie in (0, 1]")
    if np.any((t < 0.0) | (t > 1.0)):
        raise PersonalizeError("target_prob must lie in [0, 1]")
    return p, t


def _logged(
    reward: npt.ArrayLike, pscore: npt.ArrayLike, target_prob: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validated reward, propensity and target probability over the same events."""
    r = _vector("reward", reward)
    p, t = _weights(pscore, target_prob)
    _same_length(reward=r, pscore=p, target_prob=t)
    return r, p, t


def _check_options(interval: str, n_bootstrap: int) -> None:
    if interval not in ("clt", "bootstrap"):
        raise PersonalizeError(f"interval must be 'clt' or 'bootstrap', got {interval!r}")
    if interval == "bootstrap" and n_bootstrap < 2:
        raise PersonalizeError(f"n_bootstrap must be at least 2, got {n_bootstrap}")


# ---------------------------------------------------------------------------
# Shared machinery


def _kish(w: FloatArray) -> float:
    total_sq = float(np.sum(w * w))
    if total_sq == 0.0:
        return 0.0
    return float(np.sum(w)) ** 2 / total_sq


def clt_interval(value: float, terms: FloatArray) -> tuple[float, float]:
    """``value +- 1.96 sd(terms) / sqrt(len(terms))``; unbounded with one term."""
    if terms.size < 2:
        return -math.inf, math.inf
    half = Z_95 * float(np.std(terms, ddof=1)) / math.sqrt(terms.size)
    return value - half, value + half


def _bootstrap(
    num: FloatArray, den: FloatArray | None, n_bootstrap: int, seed: int
) -> tuple[float, float]:
    """Percentile interval of ``sum(num) / sum(den)`` (``mean(num)`` without ``den``).

    Resamples whose denominator is zero (no usable event drawn) are skipped.
    """
    rng = np.random.default_rng(seed)
    n = num.size
    stats = np.empty(n_bootstrap, dtype=np.float64)
    chunk = max(1, _BOOTSTRAP_CELLS // n)
    for start in range(0, n_bootstrap, chunk):
        rows = min(chunk, n_bootstrap - start)
        idx = rng.integers(0, n, size=(rows, n))
        top = num[idx].sum(axis=1)
        if den is None:
            stats[start : start + rows] = top / n
        else:
            bottom = den[idx].sum(axis=1)
            ok = bottom != 0.0
            out = np.full(rows, np.nan)
            out[ok] = top[ok] / bottom[ok]
            stats[start : start + rows] = out
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return -math.inf, math.inf
    low, high = np.quantile(stats, [0.025, 0.975])
    return float(low), float(high)


def _finish(
    method: str,
    value: float,
    ess: float,
    n: int,
    interval: Interval,
    clt_terms: FloatArray,
    bootstrap: Callable[[], tuple[float, float]],
    stacklevel: int = 3,
) -> Estimate:
    """Build the estimate; ``stacklevel`` points the warning at the public caller."""
    if interval == "clt":
        low, high = clt_interval(value, clt_terms)
    else:
        low, high = bootstrap()
    if ess < min_ess(n):
        warnings.warn(
            f"{method}: effective sample size {ess:.1f} is below max(30, 1% of n={n}); "
            "the estimate and its interval are unreliable",
            SmallSampleWarning,
            stacklevel=stacklevel,
        )
    return Estimate(value=value, low=low, high=high, ess=ess, n=n, method=method, interval=interval)


def _mean_estimate(
    method: str, terms: FloatArray, ess: float, interval: Interval, n_bootstrap: int, seed: int
) -> Estimate:
    value = float(np.mean(terms))
    return _finish(
        method,
        value,
        ess,
        terms.size,
        interval,
        terms,
        lambda: _bootstrap(terms, None, n_bootstrap, seed),
        stacklevel=4,
    )


# ---------------------------------------------------------------------------
# Estimators


def ips(
    reward: npt.ArrayLike,
    pscore: npt.ArrayLike,
    target_prob: npt.ArrayLike,
    *,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Inverse propensity scoring: ``mean(target_prob / pscore * reward)``."""
    _check_options(interval, n_bootstrap)
    r, p, t = _logged(reward, pscore, target_prob)
    w = t / p
    return _mean_estimate("ips", w * r, _kish(w), interval, n_bootstrap, seed)


def clipped_ips(
    reward: npt.ArrayLike,
    pscore: npt.ArrayLike,
    target_prob: npt.ArrayLike,
    *,
    max_weight: float = 10.0,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """IPS with the weights capped at ``max_weight``.

    For non-negative rewards this is biased downward whenever a weight exceeds
    the cap. ``ess`` is computed from the capped weights (the ones used).
    """
    _check_options(interval, n_bootstrap)
    if not (math.isfinite(max_weight) and max_weight > 0.0):
        raise PersonalizeError(f"max_weight must be positive and finite, got {max_weight}")
    r, p, t = _logged(reward, pscore, target_prob)
    w = np.minimum(t / p, max_weight)
    return _mean_estimate("clipped_ips", w * r, _kish(w), interval, n_bootstrap, seed)


def snips(
    reward: npt.ArrayLike,
    pscore: npt.ArrayLike,
    target_prob: npt.ArrayLike,
    *,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Self-normalised IPS: ``sum(w * reward) / sum(w)``.

    The CLT interval uses the delta method, i.e. the influence-function terms
    ``w * (reward - value) / mean(w)``. Raises ``PersonalizeError`` when every
    weight is zero (the target never takes a logged action; the ratio is
    undefined).
    """
    _check_options(interval, n_bootstrap)
    r, p, t = _logged(reward, pscore, target_prob)
    n = r.size
    w = t / p
    total = float(np.sum(w))
    if total == 0.0:
        raise PersonalizeError("target_prob is zero on every logged action: SNIPS is undefined")
    wr = w * r
    value = float(np.sum(wr)) / total
    influence = w * (r - value) / (total / n)
    return _finish(
        "snips",
        value,
        _kish(w),
        n,
        interval,
        influence,
        lambda: _bootstrap(wr, w, n_bootstrap, seed),
    )


def dm(
    q_target: npt.ArrayLike,
    *,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Direct method: the mean of a reward model's expected reward under the target.

    ``q_target[i]`` is ``sum_a target(a | x_i) * q(x_i, a)``. The interval
    reflects only the spread of the predictions over the events and ignores
    the model's error, so it is optimistic whenever the model is biased.
    ``ess`` is ``n``.
    """
    _check_options(interval, n_bootstrap)
    q = _vector("q_target", q_target)
    return _mean_estimate("dm", q, float(q.size), interval, n_bootstrap, seed)


def _model_terms(
    reward: npt.ArrayLike,
    pscore: npt.ArrayLike,
    target_prob: npt.ArrayLike,
    q_logged: npt.ArrayLike,
    q_target: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Validated importance weight, reward, and the model's two predictions."""
    r, p, t = _logged(reward, pscore, target_prob)
    ql = _vector("q_logged", q_logged)
    qt = _vector("q_target", q_target)
    _same_length(reward=r, q_logged=ql, q_target=qt)
    return t / p, r, ql, qt


def dr(
    reward: npt.ArrayLike,
    pscore: npt.ArrayLike,
    target_prob: npt.ArrayLike,
    q_logged: npt.ArrayLike,
    q_target: npt.ArrayLike,
    *,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Doubly robust: ``mean(q_target + w * (reward - q_logged))``.

    ``q_logged[i]`` is the model's prediction for the logged action,
    ``q_target[i]`` its expected reward under the target policy (as for
    :func:`dm`). ``ess`` is that of the importance weights.
    """
    _check_options(interval, n_bootstrap)
    w, r, ql, qt = _model_terms(reward, pscore, target_prob, q_logged, q_target)
    return _mean_estimate("dr", qt + w * (r - ql), _kish(w), interval, n_bootstrap, seed)


def replay(
    reward: npt.ArrayLike,
    logged_action: npt.ArrayLike,
    target_action: npt.ArrayLike,
    *,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Replay (Li et al. 2011): mean reward over events where the actions agree.

    Valid for a deterministic target policy under uniform random logging.
    ``ess`` is the number of matched events; ``n`` the number logged. The CLT
    interval is that of a mean over the matched events. Raises ``PersonalizeError``
    when no event matches.
    """
    _check_options(interval, n_bootstrap)
    r = _vector("reward", reward)
    logged = np.asarray(logged_action)
    target = np.asarray(target_action)
    for name, a in (("logged_action", logged), ("target_action", target)):
        if a.ndim != 1:
            raise PersonalizeError(f"{name} must be 1-D, got shape {a.shape}")
    n = _same_length(reward=r, logged_action=logged, target_action=target)
    match = logged == target
    matched = int(np.count_nonzero(match))
    if matched == 0:
        raise PersonalizeError("no logged_action equals the target_action: replay is undefined")
    hit = r[match]
    value = float(np.mean(hit))
    m = match.astype(np.float64)
    return _finish(
        "replay",
        value,
        float(matched),
        n,
        interval,
        hit,
        lambda: _bootstrap(r * m, m, n_bootstrap, seed),
    )


def sndr(
    reward: npt.ArrayLike,
    pscore: npt.ArrayLike,
    target_prob: npt.ArrayLike,
    q_logged: npt.ArrayLike,
    q_target: npt.ArrayLike,
    *,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Self-normalised DR: ``mean(q_target) + sum(w (reward - q_logged)) / sum(w)``.

    The CLT interval is over the influence terms ``q_target - mean(q_target) +
    w (reward - q_logged - c) / mean(w)``, ``c`` the normalised correction.
    """
    _check_options(interval, n_bootstrap)
    w, r, ql, qt = _model_terms(reward, pscore, target_prob, q_logged, q_target)
    total = float(np.sum(w))
    if total == 0.0:
        raise PersonalizeError("target_prob is zero on every logged action: SNDR is undefined")
    residual = w * (r - ql)
    correction = float(np.sum(residual)) / total
    value = float(np.mean(qt)) + correction
    n = r.size
    influence = (qt - np.mean(qt)) + (residual - w * correction) / (total / n)

    def bootstrap() -> tuple[float, float]:
        rng = np.random.default_rng(seed)
        stats = []
        chunk = max(1, _BOOTSTRAP_CELLS // n)
        for start in range(0, n_bootstrap, chunk):
            idx = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))
            weights = w[idx].sum(axis=1)
            ok = weights != 0.0
            stats.append(qt[idx][ok].mean(axis=1) + residual[idx][ok].sum(axis=1) / weights[ok])
        values = np.concatenate(stats)
        if values.size == 0:
            return -math.inf, math.inf
        low, high = np.quantile(values, [0.025, 0.975])
        return float(low), float(high)

    return _finish("sndr", value, _kish(w), n, interval, influence, bootstrap)


def switch_dr(
    reward: npt.ArrayLike,
    pscore: npt.ArrayLike,
    target_prob: npt.ArrayLike,
    q_logged: npt.ArrayLike,
    q_target: npt.ArrayLike,
    *,
    tau: float = 10.0,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Switch-DR: ``mean(q_target + [w <= tau] w (reward - q_logged))``.

    ``ess`` is that of the weights kept (``[w <= tau] w``).
    """
    _check_options(interval, n_bootstrap)
    if not (tau >= 0.0 and not math.isnan(tau)):
        raise PersonalizeError(f"tau must be non-negative, got {tau}")
    w, r, ql, qt = _model_terms(reward, pscore, target_prob, q_logged, q_target)
    kept = np.where(w <= tau, w, 0.0)
    return _mean_estimate(
        "switch_dr", qt + kept * (r - ql), _kish(kept), interval, n_bootstrap, seed
    )


def dros(
    reward: npt.ArrayLike,
    pscore: npt.ArrayLike,
    target_prob: npt.ArrayLike,
    q_logged: npt.ArrayLike,
    q_target: npt.ArrayLike,
    *,
    shrinkage: float = 10.0,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """DR with optimistic shrinkage: weights ``shrinkage * w / (w^2 + shrinkage)``
    (``math.inf``: plain DR). ``ess`` is that of the shrunk weights."""
    _check_options(interval, n_bootstrap)
    if not shrinkage >= 0.0:
        raise PersonalizeError(f"shrinkage must be non-negative, got {shrinkage}")
    w, r, ql, qt = _model_terms(reward, pscore, target_prob, q_logged, q_target)
    shrunk = w if math.isinf(shrinkage) else shrinkage * w / (w * w + shrinkage)
    return _mean_estimate(
        "dros", qt + shrunk * (r - ql), _kish(shrunk), interval, n_bootstrap, seed
    )


def mips(
    reward: npt.ArrayLike,
    chosen: npt.ArrayLike,
    logger_probabilities: Sequence[npt.ArrayLike],
    target_probabilities: Sequence[npt.ArrayLike],
    embeddings: Sequence[Sequence[Hashable]],
    *,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Marginalised IPS: ``mean(w_e * reward)`` with ``w_e`` the embedding's weight.

    Per impression ``i``: the offered candidates' probabilities under the
    logger and the target, each candidate's embedding (any hashable: its
    attributes as a tuple, say) and ``chosen[i]``, the shown candidate.
    """
    _check_options(interval, n_bootstrap)
    r = _vector("reward", reward)
    shown = np.asarray(chosen)
    n = _same_length(reward=r, chosen=shown)
    if not (len(logger_probabilities) == len(target_probabilities) == len(embeddings) == n):
        raise PersonalizeError("mips: one distribution pair and embedding list per impression")
    # Embeddings become small integers once, and a list shared by many
    # impressions (one title's candidates) is coded once; impressions with as
    # many candidates are then weighed together, as arrays.
    codes: dict[Hashable, int] = {}
    coded: dict[int, npt.NDArray[np.int64]] = {}

    def code(candidates: Sequence[Hashable]) -> npt.NDArray[np.int64]:
        key = id(candidates)
        if key not in coded:
            coded[key] = np.array(
                [codes.setdefault(e, len(codes)) for e in candidates], dtype=np.int64
            )
        return coded[key]

    groups: dict[int, list[int]] = {}
    for i in range(n):
        logger_shape, target_shape = (
            np.shape(logger_probabilities[i]),
            np.shape(target_probabilities[i]),
        )
        if len(logger_shape) != 1 or len(target_shape) != 1:
            raise PersonalizeError(f"impression {i}: each distribution must be a 1-D list")
        logger_size = logger_shape[0]
        if not (logger_size == target_shape[0] == len(embeddings[i])):
            raise PersonalizeError(f"impression {i}: distributions and embeddings differ in length")
        groups.setdefault(logger_size, []).append(i)
    w = np.empty(n)
    for size, members in groups.items():
        rows = np.array(members)
        logger = np.array([logger_probabilities[i] for i in members], dtype=np.float64)
        target = np.array([target_probabilities[i] for i in members], dtype=np.float64)
        kinds = np.array([code(embeddings[i]) for i in members]).reshape(len(members), size)
        for name, values in (("logger_probabilities", logger), ("target_probabilities", target)):
            bad = ~np.all(np.isfinite(values) & (values >= 0) & (values <= 1), axis=1)
            if bad.any():
                first = int(rows[np.argmax(bad)])
                raise PersonalizeError(f"impression {first}: {name} must lie in [0, 1]")
        picked = shown[rows].astype(np.int64)
        outside = (picked < 0) | (picked >= size)
        if outside.any():
            first = int(rows[np.argmax(outside)])
            raise PersonalizeError(
                f"impression {first}: chosen index {int(shown[first])} is out of range"
            )
        same = kinds == kinds[np.arange(len(members)), picked][:, None]
        logged = np.where(same, logger, 0.0).sum(axis=1)
        impossible = logged <= 0.0
        if impossible.any():
            first = int(rows[np.argmax(impossible)])
            raise PersonalizeError(f"impression {first}: the logger could not have shown it")
        w[rows] = np.where(same, target, 0.0).sum(axis=1) / logged
    return mips_from_weights(r, w, interval=interval, n_bootstrap=n_bootstrap, seed=seed)


def mips_from_weights(
    reward: npt.ArrayLike,
    weights: npt.ArrayLike,
    *,
    interval: Interval = "clt",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """:func:`mips` from the embedding weights already computed (one per impression)."""
    _check_options(interval, n_bootstrap)
    r = _vector("reward", reward)
    w = _vector("weights", weights)
    _same_length(reward=r, weights=w)
    if np.any(w < 0):
        raise PersonalizeError("weights must be non-negative")
    return _mean_estimate("mips", w * r, _kish(w), interval, n_bootstrap, seed)
