"""Ranking frames and picking a short, varied list of candidates.

This first selection scores every frame on normalised quality signals,
drops frames that cannot be artwork (near-black, blown out, featureless),
then takes the best frames greedily while refusing near-duplicates of what
it already took. Shot-aware selection builds on these pieces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from thumbsel.analysis import Analysis

__all__ = ["Candidate", "QualityWeights", "pick", "quality_scores"]

FloatArray = npt.NDArray[np.float64]

# Filters: a frame failing any of these is never a candidate.
MIN_BRIGHTNESS = 0.08
"""Mean luma below this is too dark to read as a still (hecate uses 0.075)."""
MAX_BRIGHT_FRACTION = 0.5
"""More than half the picture near white is blown out."""
MIN_ENTROPY = 3.0
"""Fewer than ~8 effective grey levels: a uniform or title-card frame."""

DEFAULT_MIN_HASH_DISTANCE = 14
"""Two frames whose pHashes differ in fewer bits show the same picture."""
DEFAULT_MIN_GAP_SECONDS = 1.0
"""Candidates closer in time than this are the same moment."""


@dataclass(frozen=True)
class QualityWeights:
    """How much each normalised signal adds to a frame's quality score.

    Each signal is first turned into 0..1 within the title (a percentile rank,
    so the score does not depend on the camera or codec); exposure is
    1 - |brightness - 0.45| / 0.45 clipped to 0..1, since mid-grey pictures
    read best at thumbnail size.
    """

    sharpness: float = 0.35
    exposure: float = 0.2
    contrast: float = 0.15
    colorfulness: float = 0.15
    stillness: float = 0.15

    def as_dict(self) -> dict[str, float]:
        return {
            "sharpness": self.sharpness,
            "exposure": self.exposure,
            "contrast": self.contrast,
            "colorfulness": self.colorfulness,
            "stillness": self.stillness,
        }


def _percentile_rank(values: FloatArray) -> FloatArray:
    """Rank of each value in 0..1 (ties share their mean rank; NaN counts as lowest)."""
    n = len(values)
    if n <= 1:
        return np.ones(n)
    filled = np.where(np.isnan(values), -np.inf, values)
    order = np.argsort(filled, kind="stable")
    ranks = np.empty(n)
    ranks[order] = np.arange(n, dtype=np.float64)
    # Equal values get the same rank so the score never depends on frame order.
    _, inverse, counts = np.unique(filled, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return np.asarray(sums[inverse] / counts[inverse] / (n - 1), dtype=np.float64)


def normalized_signals(analysis: Analysis) -> dict[str, FloatArray]:
    """Each quality signal on 0..1, higher is better."""
    brightness = analysis.column("brightness")
    motion = analysis.column("motion")
    # The first frame has no motion value; treat it as still as its successor.
    if len(motion) > 1 and np.isnan(motion[0]):
        motion = motion.copy()
        motion[0] = motion[1]
    return {
        "sharpness": _percentile_rank(analysis.column("sharpness")),
        "exposure": np.clip(1.0 - np.abs(brightness - 0.45) / 0.45, 0.0, 1.0),
        "contrast": _percentile_rank(analysis.column("contrast")),
        "colorfulness": _percentile_rank(analysis.column("colorfulness")),
        "stillness": 1.0 - _percentile_rank(np.nan_to_num(motion, nan=0.0)),
    }


def quality_scores(analysis: Analysis, weights: QualityWeights | None = None) -> FloatArray:
    """Weighted quality score of every frame, 0..1."""
    weights = weights or QualityWeights()
    signals = normalized_signals(analysis)
    total = sum(weights.as_dict().values())
    if total <= 0:
        raise ValueError("quality weights must add up to more than 0")
    score = sum(w * signals[name] for name, w in weights.as_dict().items())
    return np.asarray(score / total, dtype=np.float64)


def rejection_reasons(analysis: Analysis) -> list[str | None]:
    """Why each frame can never be a candidate (None when it can)."""
    brightness = analysis.column("brightness")
    bright = analysis.column("bright_fraction")
    entropy = analysis.column("entropy")
    reasons: list[str | None] = []
    for b, w, e in zip(brightness, bright, entropy, strict=True):
        if b < MIN_BRIGHTNESS:
            reasons.append("dark")
        elif w > MAX_BRIGHT_FRACTION:
            reasons.append("blown-out")
        elif e < MIN_ENTROPY:
            reasons.append("low-information")
        else:
            reasons.append(None)
    return reasons


@dataclass
class Candidate:
    """A frame proposed as artwork, with the numbers that put it there."""

    rank: int
    frame: int
    time: float
    score: float
    features: dict[str, float] = field(default_factory=dict)
    signals: dict[str, float] = field(default_factory=dict)
    phash: str = ""
    image: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "frame": self.frame,
            "time": round(self.time, 6),
            "score": round(self.score, 6),
            "image": self.image,
            "phash": self.phash,
            "signals": {k: round(v, 6) for k, v in self.signals.items()},
            "features": {k: round(v, 6) for k, v in self.features.items()},
        }


_REPORTED_FEATURES = (
    "brightness",
    "contrast",
    "sharpness",
    "colorfulness",
    "saturation",
    "entropy",
    "motion",
    "cut_score",
)


def _hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def pick(
    analysis: Analysis,
    k: int = 8,
    *,
    weights: QualityWeights | None = None,
    min_hash_distance: int = DEFAULT_MIN_HASH_DISTANCE,
    min_gap_seconds: float = DEFAULT_MIN_GAP_SECONDS,
) -> list[Candidate]:
    """The ``k`` best frames, best first, no two of them near-duplicates.

    Deterministic: ties in score are broken by the earlier frame.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    scores = quality_scores(analysis, weights)
    signals = normalized_signals(analysis)
    reasons = rejection_reasons(analysis)
    frames = analysis.column("frame")
    times = analysis.column("time")
    hashes = [int(h) for h in analysis.column("phash")]
    order = np.lexsort((frames, -scores))
    chosen: list[int] = []
    for row in order:
        if reasons[row] is not None:
            continue
        if any(_hamming(hashes[row], hashes[c]) < min_hash_distance for c in chosen):
            continue
        if any(abs(times[row] - times[c]) < min_gap_seconds for c in chosen):
            continue
        chosen.append(int(row))
        if len(chosen) == k:
            break
    columns = {name: analysis.column(name) for name in _REPORTED_FEATURES}
    return [
        Candidate(
            rank=rank,
            frame=int(frames[row]),
            time=float(times[row]),
            score=float(scores[row]),
            features={
                name: float(values[row])
                for name, values in columns.items()
                if not np.isnan(values[row])
            },
            signals={name: float(values[row]) for name, values in signals.items()},
            phash=f"{hashes[row]:016x}",
        )
        for rank, row in enumerate(chosen, start=1)
    ]
