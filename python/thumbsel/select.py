"""Ranking frames and choosing a short, varied list of artwork candidates.

1. **Filters.** Every frame that cannot be artwork gets the first reason that
   applies, in this order (:data:`FILTERS`): ``interpolated`` (a frame the
   fast pass did not decode: only measured frames compete), ``transition`` (inside or near a
   cut, fade or dissolve), ``repeat`` (a copy of the frame before it, one or
   two at a time, as telecine and frame-rate conversion make), ``dark``,
   ``blown-out``, ``low-information``, ``blurry``, ``motion``, and on the
   frames the people stage looked at, ``eyes-closed`` (below the eye model's
   threshold, or a blink: far less open than the same face elsewhere in its
   shot) and ``face-cut`` (the frame's edge cuts the main face). Exposure and
   contrast are measured on the picture inside the letterbox bars of the
   frame's own shot, so bars do not make a frame dark or flat, even in a
   title that mixes letterboxed and full-frame shots. ``dark`` and
   ``blurry`` are relative, so that a low-key scene or a soft-lit close-up
   next to crisp screen graphics is not an error: a frame is dark when it is
   black (mean luma under ``black_brightness``) or both under
   ``min_brightness`` and much darker than its own shot; blurry when its
   main face is soft against the title's faces, or (without a face seen)
   when it is soft against its own shot, or its whole shot is ten times
   softer than the title's typical shot (out of focus). Where a face was
   seen, only the face is judged: a soft-lit close-up next to crisp screen
   graphics is not blurry.
2. **Score.** Each signal is normalised to 0..1 within the title, and the
   score is their weighted mean (:class:`QualityWeights`). The people
   signals weigh as much as the pixel signals together: a sharp, open-eyed,
   well-sized face beats an empty frame of the same pixel quality.
3. **One frame per shot.** Each shot offers its best frame that passes the
   filters. In a shot where the people stage saw a face, only the frames it
   looked at compete, since only their eyes are known.
4. **Near-duplicates.** A shot whose best frame matches a better shot's
   frames (pHash and colour histogram) offers nothing, whether it is a shot
   that recurs later or a second take of the same set-up.
5. **Diversity.** The final order (``rank``) is maximal marginal relevance:
   #1 is the best-scoring shot, and each next candidate maximises
   ``lambda * score - (1 - lambda) * similarity`` to those already chosen, so
   the top k cover different moments. ``score_rank`` gives each candidate's
   place in plain score order beside it.
6. **Fill-ins.** A title with fewer distinct shots than k offers more
   moments of its shots, under the same filters, none within
   ``min_gap_seconds`` of a pick, none a near-copy of one (whole frame:
   pHash, dHash and colour; but where both show a face, the faces decide:
   the main face in the same place, at the same size, turned the same way).
   When no frame qualifies, the selection has fewer than k candidates and
   :attr:`Selection.shortfall` says why.

The result is the same for the same input and options: ties break by frame order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from thumbsel.cast import Cast
from thumbsel.frames import FrameTable, copies_previous
from thumbsel.shots import ShotDetection

__all__ = [
    "DEFAULT_K",
    "FILTERS",
    "MAX_K",
    "Candidate",
    "QualityWeights",
    "Selection",
    "SelectionOptions",
    "content_shares",
    "normalized_signals",
    "quality_scores",
    "rejection_reasons",
    "select",
]

FloatArray = npt.NDArray[np.float64]

DEFAULT_K = 8
"""Candidates a pick offers unless told otherwise."""
MAX_K = 1000
"""The most candidates one pick may ask for (each is decoded again and written as images)."""

FILTERS = (
    "interpolated",
    "transition",
    "repeat",
    "dark",
    "blown-out",
    "low-information",
    "blurry",
    "motion",
    "eyes-closed",
    "face-cut",
    "other-subject",
)
"""Rejection reasons, in the order they are checked (``other-subject``: when picks
of one character are asked for, frames where another is the main face, or none)."""


@dataclass(frozen=True)
class QualityWeights:
    """How much each normalised signal adds to a frame's quality score.

    Sharpness, contrast and colourfulness become percentile ranks within the
    title, so the score does not depend on the camera or the codec.
    Stillness is one minus the rank of motion. Exposure is
    ``1 - |brightness - 0.45| / 0.45``, clipped to 0..1: mid-grey pictures
    read best at thumbnail size. The composition signals are used as
    measured (already 0..1): ``thirds`` (subject on a third-line
    intersection) and ``depth_of_field`` (sharp subject, soft background).

    The people signals come from the frames the people stage looked at, and
    are 0 on the others and where no face was found:

    * ``face``: the main face's size, rising to 1 at a fifth of the frame's
      height (a medium close-up) and falling back to 0.6 for a face filling
      it, less up to 30% for a head turned to profile;
    * ``eyes_open``: the main face's eye aspect ratio from 0.15 (closed) to
      0.25 (open);
    * ``face_sharpness``: the rank of the main face's own sharpness among the
      title's faces.

    Their weights add up to the pixel signals' (1.0 each by default), so a
    frame's people count as much as its pixels.

    ``interest`` is how near a frame is to a moment viewers return to (the
    interest curve of :mod:`thumbsel.personalize.moments`, 0..1, given to
    :func:`select`); its weight is 0 unless asked for, and without a curve
    the signal is 0 everywhere.
    """

    sharpness: float = 0.3
    exposure: float = 0.2
    contrast: float = 0.1
    colorfulness: float = 0.15
    stillness: float = 0.1
    thirds: float = 0.05
    depth_of_field: float = 0.1
    face: float = 0.45
    eyes_open: float = 0.25
    face_sharpness: float = 0.3
    interest: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {entry.name: float(getattr(self, entry.name)) for entry in fields(self)}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The signals a weight can be given to, in order."""
        return tuple(entry.name for entry in fields(cls))


@dataclass(frozen=True)
class SelectionOptions:
    """Thresholds of the filters and the selection (documented defaults)."""

    black_brightness: float = 0.03
    """Mean luma inside the bars below this is black: always dark."""
    min_brightness: float = 0.1
    """Mean luma inside the bars below this is dark (hecate uses 0.075) when the frame
    is also under ``shot_dark_ratio`` of its shot's median: a low-key shot is not."""
    shot_dark_ratio: float = 0.5
    max_bright_fraction: float = 0.4
    """More than this share of near-white pixels is blown out."""
    min_entropy: float = 3.5
    """Luma entropy (bits) below this is a uniform or title-card frame."""
    min_contrast: float = 0.04
    """Luma standard deviation below this is featureless."""
    blur_ratio: float = 0.25
    """Blurry: sharpness below this fraction of its shot's median sharpness ..."""
    soft_shot_ratio: float = 0.1
    """... or the shot's median below this fraction of the median over the title's shots
    (an out-of-focus shot) ..."""
    face_blur_ratio: float = 0.25
    """... or, where a face was seen, the main face's sharpness below this fraction
    of the title's median face sharpness (the face decides then, not the frame)."""
    repeat_run: int = 2
    """Copies of the frame before (:func:`thumbsel.frames.copies_previous`) in runs of at
    most this many are repeats; a longer run is a still picture, not a repeat."""
    motion_ratio: float = 4.0
    """Too much motion: above this multiple of the title's median motion ..."""
    min_motion: float = 0.04
    """... and above this absolute mean luma change per frame (0..1)."""
    duplicate_hash_bits: int = 14
    """Two shots are the same set-up when some pair of their frames differs in at most
    this many pHash bits ..."""
    duplicate_histogram: float = 0.3
    """... and their mean colour histograms are this close (total variation, 0..1)."""
    diversity: float = 0.3
    """Weight of dissimilarity in the final ranking (1 - MMR lambda)."""
    min_gap_seconds: float = 1.0
    """Extra moments from an already-used shot keep at least this far from every pick."""
    blink_ratio: float = 0.82
    """A main face whose eye aspect ratio is under this share of the same face's open
    eyes elsewhere in its shot is blinking (``eyes-closed``): half-closed lids that an
    absolute threshold misses, since eye shapes differ more between people than a
    blink changes one."""
    same_face_distance: float = 0.1
    """Two moments of one shot are near-copies when their main faces' centres are
    this close (share of the frame) ..."""
    same_face_size: float = 0.2
    """... and their heights differ by at most this share ..."""
    same_face_turn: float = 20.0
    """... and the head is turned the same way to within this many degrees."""
    per_character: int = 1
    """With a cast, candidates that each of the top characters is the clear subject
    of, before the rest are chosen for variety (0: no coverage)."""
    character: str | None = None
    """Only frames whose main face is this character (label or id)."""
    subject_height: float = 0.1
    """A clear subject's face is at least this share of the frame height ..."""
    subject_yaw: float = 45.0
    """... and turned at most this many degrees from the camera."""


@dataclass(frozen=True)
class Candidate:
    """A frame proposed as artwork, with the numbers and reasons that put it there."""

    rank: int
    frame: int
    time: float
    score: float
    shot: int
    features: dict[str, float]
    """Measurements of the frame (columns of the frame table), as measured."""
    signals: dict[str, float]
    """The normalised quality signals (0..1) the score is made of."""
    reasons: tuple[str, ...]
    phash: str
    """The frame's pHash, 16 hex digits as imagehash prints it."""
    score_rank: int = 0
    """Place in plain score order among the candidates (``rank`` is the variety order)."""
    fill_in: bool = False
    """Another moment of an already-offered shot (the title has fewer shots than k)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (rounded to 6 decimals; a value that is not finite is null)."""
        return {
            "rank": self.rank,
            "score_rank": self.score_rank,
            "fill_in": self.fill_in,
            "frame": self.frame,
            "time": _rounded(self.time),
            "score": _rounded(self.score),
            "shot": self.shot,
            "phash": self.phash,
            "signals": {k: _rounded(v) for k, v in self.signals.items()},
            "features": {k: _rounded(v) for k, v in self.features.items()},
            "reasons": list(self.reasons),
        }


def _rounded(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select`: candidates plus why every other frame lost."""

    candidates: tuple[Candidate, ...]
    scores: FloatArray
    rejected: tuple[str | None, ...]
    """Per table row: the filter that rejected it, or None when eligible."""
    duplicate_shots: dict[int, int]
    """Shot index -> the better shot it duplicates."""
    shortfall: str | None = None
    """Why there are fewer than k candidates, or None when there are k."""
    uncovered: tuple[str, ...] = ()
    """Top characters of the cast that no candidate shows as its clear subject: none
    of their frames passed the filters (soft, eyes closed...) with the face large
    and frontal enough."""
    interest: FloatArray | None = None
    """Per table row, the interest curve's level (0..1) when one was given."""

    def rejected_counts(self) -> dict[str, int]:
        """Frames removed by each filter (every filter listed, zero included)."""
        counts = dict.fromkeys(FILTERS, 0)
        for reason in self.rejected:
            if reason is not None:
                counts[reason] += 1
        return counts


def _percentile_rank(values: FloatArray) -> FloatArray:
    """Rank of each value in 0..1; equal values share a rank and NaN ranks lowest."""
    n = len(values)
    if n <= 1:
        return np.ones(n)
    filled = np.where(np.isnan(values), -np.inf, values)
    order = np.argsort(filled, kind="stable")
    ranks = np.empty(n)
    ranks[order] = np.arange(n, dtype=np.float64)
    _, inverse, counts = np.unique(filled, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return np.asarray(sums[inverse] / counts[inverse] / (n - 1), dtype=np.float64)


@dataclass(frozen=True)
class _Content:
    """Exposure measured inside the letterbox bars.

    Bars are black, so removing their pixels from the whole-frame statistics
    is a matter of arithmetic: mean and mean square over the content are the
    whole-frame ones minus the bars' share.
    """

    brightness: FloatArray
    contrast: FloatArray
    bright_fraction: FloatArray
    sharpness: FloatArray
    motion: FloatArray


def content_shares(frames: FrameTable, shots: ShotDetection | None = None) -> FloatArray:
    """Per row, the share of the frame inside the bars: each shot's own bars (a title can
    mix letterboxed and full-frame shots), or the title's without ``shots``."""
    area = float(frames.video.width * frames.video.height)

    def share(box: tuple[int, int, int, int]) -> float:
        return max(1e-6, (box[2] - box[0]) * (box[3] - box[1]) / area)

    if shots is None:
        return np.full(len(frames), share(frames.content_box()))
    shares = np.empty(len(frames))
    for rows in _rows_by_shot(shots.shot_of_frame):
        shares[rows] = share(frames.content_box(rows))
    return shares


def _rows_by_shot(shot_of_frame: npt.NDArray[np.int64]) -> list[npt.NDArray[np.int64]]:
    """The rows of each shot, in one sort (not one scan of the table per shot)."""
    if not len(shot_of_frame):
        return []
    order = np.argsort(shot_of_frame, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(shot_of_frame[order])) + 1)


def _content_statistics(frames: FrameTable, shots: ShotDetection | None = None) -> _Content:
    content_share = content_shares(frames, shots)
    brightness = frames.column("brightness")
    contrast = frames.column("contrast")
    motion = frames.column("motion").copy()
    if len(motion) > 1 and np.isnan(motion[0]):
        motion[0] = motion[1]
    motion = np.nan_to_num(motion, nan=0.0)
    square = contrast**2 + brightness**2
    inside_mean = brightness / content_share
    inside_square = square / content_share
    inside_contrast = np.sqrt(np.maximum(inside_square - inside_mean**2, 0.0))
    return _Content(
        brightness=np.clip(inside_mean, 0.0, 1.0),
        contrast=inside_contrast,
        bright_fraction=np.clip(frames.column("bright_fraction") / content_share, 0.0, 1.0),
        # The bars add no Laplacian energy (but their edge), so the content's
        # variance is the frame's spread over fewer pixels.
        sharpness=frames.column("sharpness") / content_share,
        motion=motion / content_share,
    )


def normalized_signals(
    frames: FrameTable, shots: ShotDetection | None = None
) -> dict[str, FloatArray]:
    """Each quality signal on 0..1, higher is better (see :class:`QualityWeights`).

    Exposure and contrast are measured inside each shot's bars when ``shots`` is
    given, else inside the title's.
    """
    return _signals(frames, _content_statistics(frames, shots), _People(frames))


def _signals(
    frames: FrameTable, content: _Content, people: _People, interest: FloatArray | None = None
) -> dict[str, FloatArray]:
    height = np.nan_to_num(people.height, nan=0.0)
    size = np.where(
        height < 0.2, height / 0.2, np.where(height <= 0.6, 1.0, 1.0 - 0.4 * (height - 0.6) / 0.4)
    )
    turned = 1.0 - 0.3 * np.clip(np.abs(np.nan_to_num(people.yaw, nan=0.0)) / 90.0, 0.0, 1.0)
    face_sharpness = np.zeros(len(frames))
    if people.seen.any():
        face_sharpness[people.seen] = _percentile_rank(np.log1p(people.sharpness[people.seen]))
    signals = {
        "sharpness": _percentile_rank(np.log1p(content.sharpness)),
        "exposure": np.clip(1.0 - np.abs(content.brightness - 0.45) / 0.45, 0.0, 1.0),
        "contrast": _percentile_rank(content.contrast),
        "colorfulness": _percentile_rank(frames.column("colorfulness")),
        "stillness": 1.0 - _percentile_rank(content.motion),
        "thirds": np.clip(frames.column("thirds"), 0.0, 1.0),
        "depth_of_field": np.clip(frames.column("depth_of_field"), 0.0, 1.0),
        "face": np.where(people.seen, np.clip(size, 0.0, 1.0) * turned, 0.0),
        "eyes_open": np.where(
            people.seen, np.clip((np.nan_to_num(people.eyes) - 0.15) / 0.1, 0.0, 1.0), 0.0
        ),
        "face_sharpness": face_sharpness,
    }
    if interest is not None:
        signals["interest"] = interest
    return signals


class _People:
    """The people columns, as selection reads them."""

    def __init__(self, frames: FrameTable) -> None:
        self.sampled = frames.people_sampled
        self.height = frames.column("face_height")
        self.seen = self.sampled & ~np.isnan(self.height)
        """Rows where the people stage found a face."""
        self.sharpness = frames.column("face_sharpness")
        self.eyes = frames.column("face_eyes")
        self.yaw = frames.column("face_yaw")
        self.x = frames.column("face_x")
        self.y = frames.column("face_y")
        self.closed = np.nan_to_num(frames.column("eyes_closed"), nan=0.0) >= 1
        self.cut = np.nan_to_num(frames.column("face_cut"), nan=0.0) >= 1


def quality_scores(
    frames: FrameTable,
    weights: QualityWeights | None = None,
    shots: ShotDetection | None = None,
) -> FloatArray:
    """Weighted quality score of every frame, 0..1."""
    return _weighted(normalized_signals(frames, shots), weights or QualityWeights())


def _weighted(signals: dict[str, FloatArray], weights: QualityWeights) -> FloatArray:
    given = weights.as_dict()
    if not all(math.isfinite(w) and w >= 0 for w in given.values()):
        raise ValueError("quality weights must be finite and not negative")
    total = sum(given.values())
    if total <= 0:
        raise ValueError("quality weights must add up to more than 0")
    # A signal that was not measured (interest without a curve) adds nothing.
    score = sum(w * signals[name] for name, w in given.items() if name in signals)
    return np.asarray(score / total, dtype=np.float64)


def _shot_median(
    values: FloatArray,
    shot_of_frame: npt.NDArray[np.int64],
    usable: npt.NDArray[np.bool_],
    reduce: Any = np.median,
) -> FloatArray:
    """Per row, ``reduce`` (the median) of ``values`` over the usable rows of its shot
    (all its rows when none is usable)."""
    medians = np.zeros(len(values))
    for rows in _rows_by_shot(shot_of_frame):
        chosen = rows[usable[rows]]
        medians[rows] = float(reduce(values[chosen if len(chosen) else rows]))
    return medians


def _repeats(frames: FrameTable, options: SelectionOptions) -> npt.NDArray[np.bool_]:
    """Rows that copy the row before them, where copies come one or two at a time.

    Telecine repeats one field pair in five, and a 16-to-25 fps conversion
    one frame in three: short runs between moving frames. A static camera
    makes long runs, and those frames are a still picture, not repeats.
    """
    copies = copies_previous(frames.column("motion"), frames.column("hash_distance"))
    repeats = np.zeros(len(copies), dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], copies.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start <= options.repeat_run:
            repeats[start:end] = True
    return repeats


def _blinking(
    people: _People, shot_of_frame: npt.NDArray[np.int64], options: SelectionOptions
) -> npt.NDArray[np.bool_]:
    """Rows whose main face's eyes are much less open than the same face's in its shot.

    The same face is the main face of another looked-at frame of the shot, in
    the same place (``same_face_distance``); its open eyes are the 90th
    percentile of its eye aspect ratios, from at least three looks.
    """
    blinking = np.zeros(len(shot_of_frame), dtype=bool)
    rows = np.flatnonzero(people.seen & ~np.isnan(people.eyes))
    for row in rows:
        same = rows[
            (shot_of_frame[rows] == shot_of_frame[row])
            & (
                np.hypot(people.x[rows] - people.x[row], people.y[rows] - people.y[row])
                <= options.same_face_distance
            )
        ]
        if len(same) < 3:
            continue
        reference = float(np.percentile(people.eyes[same], 90))
        blinking[row] = people.eyes[row] < options.blink_ratio * reference
    return blinking


def rejection_reasons(
    frames: FrameTable, shots: ShotDetection, options: SelectionOptions | None = None
) -> list[str | None]:
    """Why each frame can never be a candidate (None when it can)."""
    content = _content_statistics(frames, shots)
    return _rejections(frames, shots, options or SelectionOptions(), content, _People(frames))


def _rejections(
    frames: FrameTable,
    shots: ShotDetection,
    options: SelectionOptions,
    content: _Content,
    people: _People,
) -> list[str | None]:
    shot_of_frame = shots.shot_of_frame
    transition = np.asarray(shots.in_transition, dtype=bool)
    repeat = _repeats(frames, options)
    entropy = frames.column("entropy")
    brightness = content.brightness
    lit = ~transition & (brightness >= options.black_brightness)
    shot_brightness = _shot_median(brightness, shot_of_frame, ~transition)
    dark = (brightness < options.black_brightness) | (
        (brightness < options.min_brightness)
        & (brightness < options.shot_dark_ratio * shot_brightness)
    )
    usable = lit & ~repeat & ~dark
    shot_sharpness = _shot_median(content.sharpness, shot_of_frame, usable)
    face_rows = people.seen & usable
    face_reference = float(np.median(people.sharpness[face_rows])) if face_rows.any() else 0.0
    with np.errstate(invalid="ignore"):
        soft_face = people.seen & (people.sharpness < options.face_blur_ratio * face_reference)
    # One value per shot: the per-row medians at each shot's first row.
    _, first_rows = np.unique(shot_of_frame, return_index=True)
    shot_medians = shot_sharpness[first_rows]
    title_sharpness = float(np.median(shot_medians)) if len(shot_medians) else 0.0
    soft_pixels = ~people.seen & (
        (content.sharpness < options.blur_ratio * shot_sharpness)
        | (shot_sharpness < options.soft_shot_ratio * title_sharpness)
    )
    blinking = _blinking(people, shot_of_frame, options)
    motion_reference = content.motion[usable] if usable.any() else content.motion
    motion_median = float(np.median(motion_reference)) if len(motion_reference) else 0.0
    motion_ceiling = max(options.min_motion, options.motion_ratio * motion_median)
    interpolated = frames.interpolated
    reasons: list[str | None] = []
    for i in range(len(entropy)):
        if interpolated[i]:
            reasons.append("interpolated")
        elif transition[i]:
            reasons.append("transition")
        elif repeat[i]:
            reasons.append("repeat")
        elif dark[i]:
            reasons.append("dark")
        elif content.bright_fraction[i] > options.max_bright_fraction:
            reasons.append("blown-out")
        elif entropy[i] < options.min_entropy or content.contrast[i] < options.min_contrast:
            reasons.append("low-information")
        elif soft_face[i] or soft_pixels[i]:
            reasons.append("blurry")
        elif content.motion[i] > motion_ceiling:
            reasons.append("motion")
        elif people.closed[i] or blinking[i]:
            reasons.append("eyes-closed")
        elif people.cut[i]:
            reasons.append("face-cut")
        else:
            reasons.append(None)
    return reasons


class _Similarity:
    """Picture similarity from pHash and colour histogram (1 = identical)."""

    def __init__(self, frames: FrameTable, options: SelectionOptions) -> None:
        self.options = options
        self.phash = frames.hashes("phash")
        self.dhash = frames.hashes("dhash")
        self.histogram = frames.histograms()

    def bits(self, a: int, b: int, kind: str = "phash") -> int:
        hashes = self.phash if kind == "phash" else self.dhash
        return int(np.bitwise_count(hashes[a] ^ hashes[b]))

    def histogram_distance(self, a: int, b: int) -> float:
        return float(0.5 * np.abs(self.histogram[a] - self.histogram[b]).sum())

    def same_setup(self, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> bool:
        """Two shots show the same set-up: some frame of one matches some frame
        of the other, and their average colours agree.

        A recurring shot, or a second take from the same camera position,
        shares its background; the action in front of it moves, so the best
        frames alone often differ while some pair of frames does not.
        """
        bits = np.bitwise_count(self.phash[a][:, None] ^ self.phash[b][None, :])
        if int(bits.min()) > self.options.duplicate_hash_bits:
            return False
        colour = 0.5 * np.abs(self.histogram[a].mean(axis=0) - self.histogram[b].mean(axis=0)).sum()
        return float(colour) <= self.options.duplicate_histogram

    def similarity(self, a: int, b: int) -> float:
        structure = max(0.0, 1.0 - self.bits(a, b) / 32.0)
        colour = 1.0 - self.histogram_distance(a, b)
        return 0.5 * structure + 0.5 * colour


_SHOT_SAMPLES = 12
"""Frames per shot compared when looking for near-duplicate shots."""

_REPORTED_FEATURES = (
    "thirds",
    "symmetry",
    "depth_of_field",
    "saliency_x",
    "saliency_y",
    "mean_red",
    "mean_green",
    "mean_blue",
    "brightness",
    "contrast",
    "sharpness",
    "colorfulness",
    "saturation",
    "entropy",
    "motion",
    "cut_score",
)


def select(
    frames: FrameTable,
    shots: ShotDetection,
    k: int = DEFAULT_K,
    *,
    weights: QualityWeights | None = None,
    options: SelectionOptions | None = None,
    cast: Cast | None = None,
    interest: npt.ArrayLike | None = None,
) -> Selection:
    """Filter, score and choose up to ``k`` candidates, best first (see the module notes).

    ``shots`` is :func:`~thumbsel.shots.detect_shots` of the same ``frames``;
    ``cast`` (:func:`~thumbsel.cast.find_cast` of them) makes the top
    characters each the clear subject of ``options.per_character`` candidates
    first, the lead first, and lets ``options.character`` ask for one of them.
    ``interest`` is each row's level on an interest curve (0..1), the signal
    that ``weights.interest`` weighs.
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be within 1..{MAX_K}, got {k}")
    if len(shots.shot_of_frame) != len(frames):
        raise ValueError(
            f"the shots were detected on {len(shots.shot_of_frame)} frames, "
            f"the table has {len(frames)}"
        )
    options = options or SelectionOptions()
    if not 0.0 <= options.diversity <= 1.0:
        raise ValueError("diversity must be between 0 and 1")
    if not 0 <= options.per_character <= MAX_K:
        raise ValueError(f"per_character must be within 0..{MAX_K}")
    if options.character is not None and (
        cast is None or cast.character(options.character) is None
    ):
        known = ", ".join(c.label for c in cast.characters) if cast else ""
        raise ValueError(
            f"no character {options.character!r} in this title"
            + (f" (its cast: {known})" if known else " (no cast was found)")
        )
    levels = None
    if interest is not None:
        levels = np.asarray(interest, dtype=np.float64)
        if levels.shape != (len(frames),) or not np.all((levels >= 0) & (levels <= 1)):
            raise ValueError(f"interest must be one level in 0..1 per frame ({len(frames)})")
    # Measured once for both the scores and the filters.
    content = _content_statistics(frames, shots)
    people = _People(frames)
    signals = _signals(frames, content, people, levels)
    scores = _weighted(signals, weights or QualityWeights())
    rejected = _rejections(frames, shots, options, content, people)
    subject = _subjects(frames, cast, people, options)
    if options.character is not None and cast is not None:
        wanted = cast.character(options.character)
        for row, label in enumerate(subject):
            if rejected[row] is None and (wanted is None or label != wanted.label):
                rejected[row] = "other-subject"
    detection = shots
    similarity = _Similarity(frames, options)
    numbers = frames.frame_numbers
    times = frames.times

    # 3. The best eligible frame of each shot, and a few more frames per shot
    # to recognise the shot again later.
    best_of_shot: dict[int, int] = {}
    samples_of_shot: dict[int, npt.NDArray[np.int64]] = {}
    shots_with_faces = {int(s) for s in detection.shot_of_frame[people.seen]}
    for shot in detection.shots:
        rows = np.flatnonzero(detection.shot_of_frame == shot.index)
        eligible = [int(r) for r in rows if rejected[r] is None]
        if not eligible:
            continue
        looked_at = [r for r in eligible if people.sampled[r]]
        offered_rows = looked_at if shot.index in shots_with_faces and looked_at else eligible
        best = max(offered_rows, key=lambda r: (scores[r], -r))
        best_of_shot[shot.index] = best
        step = max(1, len(eligible) // _SHOT_SAMPLES)
        samples_of_shot[shot.index] = np.array(sorted({best, *eligible[::step]}), np.int64)

    # 4. Near-duplicate shots: better shots claim their look first.
    offered = sorted(best_of_shot, key=lambda s: (-scores[best_of_shot[s]], s))
    kept: list[int] = []
    duplicate_shots: dict[int, int] = {}
    for shot_index in offered:
        original = next(
            (
                other
                for other in kept
                if similarity.same_setup(samples_of_shot[shot_index], samples_of_shot[other])
            ),
            None,
        )
        if original is None:
            kept.append(shot_index)
        else:
            duplicate_shots[shot_index] = original

    # 4b. The cast first: each top character the clear subject of a candidate,
    # from a shot of its own, the lead first. Half the picks at most, so that
    # variety still has room.
    chosen: list[int] = []
    coverage: dict[int, str] = {}
    uncovered: list[str] = []
    if cast is not None and options.per_character and options.character is None:
        used_shots: set[int] = set()
        kept_shots = set(kept)
        top = cast.characters[: max(1, math.ceil(k / 2) // options.per_character)]
        for character in top:
            offers = sorted(
                (
                    r
                    for r in range(len(rejected))
                    if rejected[r] is None
                    and subject[r] == character.label
                    and int(detection.shot_of_frame[r]) in kept_shots
                ),
                key=lambda r: (-scores[r], r),
            )
            taken = 0
            for row in offers:
                if taken == options.per_character or len(chosen) == k:
                    break
                shot_index = int(detection.shot_of_frame[row])
                if shot_index in used_shots:
                    continue
                chosen.append(row)
                coverage[row] = character.label
                used_shots.add(shot_index)
                taken += 1
            if not taken:
                uncovered.append(character.label)
        best_of_shot.update({int(detection.shot_of_frame[r]): r for r in coverage})

    # 5. Maximal marginal relevance over the surviving shots.
    taken_shots = {int(detection.shot_of_frame[r]) for r in chosen}
    pool = [best_of_shot[s] for s in kept if s not in taken_shots]
    closest: dict[int, tuple[float, int]] = {}
    while pool and len(chosen) < k:

        def value(row: int) -> float:
            nearest = max((similarity.similarity(row, c) for c in chosen), default=0.0)
            return float((1.0 - options.diversity) * scores[row] - options.diversity * nearest)

        best_row = max(pool, key=lambda r: (value(r), -r))
        if chosen:
            closest[best_row] = max((similarity.similarity(best_row, c), c) for c in chosen)
        chosen.append(best_row)
        pool.remove(best_row)

    # 6. Fill-ins: further moments of the offered shots, under the same
    # filters, that copy no pick (see the module notes).
    extra: set[int] = set()
    shortfall: str | None = None
    if len(chosen) < k:
        offered_shots = set(kept)
        for row in sorted(
            (r for r in range(len(rejected)) if rejected[r] is None and r not in chosen),
            key=lambda r: (-scores[r], r),
        ):
            shot_index = int(detection.shot_of_frame[row])
            if shot_index not in offered_shots:
                continue  # a near-duplicate shot, or one without an eligible frame
            if shot_index in shots_with_faces and not people.sampled[row]:
                continue  # its people were not looked at
            if any(_copies(similarity, people, options, times, row, c, detection) for c in chosen):
                continue
            chosen.append(row)
            extra.add(row)
            if len(chosen) == k:
                break
        if len(chosen) < k:
            usable = sum(r is None for r in rejected)
            shortfall = (
                f"{len(chosen)} of {k} candidates: the title has {len(kept)} distinct "
                f"{'shot' if len(kept) == 1 else 'shots'} with a usable frame, and none of its "
                f"other {usable - len(chosen)} usable frames is at least "
                f"{options.min_gap_seconds:g} s from every pick and different from them"
            )

    shot_by_row = {row: s for s, row in best_of_shot.items()}
    for row in extra:
        shot_by_row[row] = int(detection.shot_of_frame[row])
    duplicates_of: dict[int, list[int]] = {}
    for duplicate, original in duplicate_shots.items():
        duplicates_of.setdefault(original, []).append(duplicate)
    eligible_count = sum(r is None for r in rejected)
    columns = {name: frames.values(name) for name in _REPORTED_FEATURES}
    by_score = sorted(chosen, key=lambda r: (-scores[r], r))
    score_rank = {row: place for place, row in enumerate(by_score, start=1)}
    candidates = []
    for rank, row in enumerate(chosen, start=1):
        shot_index = shot_by_row[row]
        shot = detection.shots[shot_index]
        where = f"shot {shot_index} (frames {shot.start_frame}-{shot.end_frame - 1})"
        if row in coverage:
            label = coverage[row]
            lead = cast is not None and cast.lead is not None and cast.lead.label == label
            first = (
                f"shows {label}{' (the lead)' if lead else ''} as its clear subject: "
                f"the cast's top characters each get a candidate, from {where}"
            )
        elif row in extra:
            first = f"another moment of {where}: the title has fewer distinct shots than {k}"
        else:
            first = f"best of {where}"
        reasons = [
            first,
            f"quality score {scores[row]:.3f}: higher than "
            f"{_share_below(scores, row, rejected):.0%} of the {eligible_count} usable frames",
            "strongest signals: "
            + ", ".join(
                f"{name} {signals[name][row]:.2f}"
                for name in sorted(signals, key=lambda n: -signals[n][row])[:2]
            ),
        ]
        if shot_index in duplicates_of:
            others = ", ".join(str(s) for s in sorted(duplicates_of[shot_index]))
            reasons.append(f"stands for similar shots {others} (near-duplicates, not offered)")
        if row in closest and row not in extra and row not in coverage:
            value_similarity, other = closest[row]
            other_rank = chosen.index(other) + 1
            reasons.append(
                f"ranked for variety: most similar earlier pick is #{other_rank} "
                f"(similarity {value_similarity:.2f})"
            )
        candidates.append(
            Candidate(
                rank=rank,
                frame=int(numbers[row]),
                time=float(times[row]),
                score=float(scores[row]),
                shot=shot_index,
                features={
                    name: float(values[row])
                    for name, values in columns.items()
                    if not np.isnan(values[row])
                },
                signals={name: float(values[row]) for name, values in signals.items()},
                reasons=tuple(reasons),
                phash=f"{int(similarity.phash[row]):016x}",
                score_rank=score_rank[row],
                fill_in=row in extra,
            )
        )
    scores.setflags(write=False)
    return Selection(
        candidates=tuple(candidates),
        scores=scores,
        rejected=tuple(rejected),
        duplicate_shots=duplicate_shots,
        shortfall=shortfall,
        uncovered=tuple(uncovered),
        interest=levels,
    )


def _subjects(
    frames: FrameTable, cast: Cast | None, people: _People, options: SelectionOptions
) -> list[str | None]:
    """Per row: the character that is its clear subject (the main face, large and
    frontal enough), or None."""
    subjects: list[str | None] = [None] * len(frames)
    if cast is None:
        return subjects
    for row in np.flatnonzero(people.seen).tolist():
        if (
            people.height[row] < options.subject_height
            or abs(people.yaw[row]) > options.subject_yaw
        ):
            continue
        subjects[row] = cast.main_character(row)
    return subjects


def _copies(
    similarity: _Similarity,
    people: _People,
    options: SelectionOptions,
    times: FloatArray,
    row: int,
    pick: int,
    detection: ShotDetection,
) -> bool:
    """Whether ``row`` is too close to the pick ``pick`` to be offered beside it."""
    if abs(times[row] - times[pick]) < options.min_gap_seconds:
        return True
    same_shot = detection.shot_of_frame[row] == detection.shot_of_frame[pick]
    if same_shot and people.seen[row] and people.seen[pick]:
        # The faces decide: the same person in the same place at the same size,
        # turned the same way, is one picture to a designer however the
        # background moved; a head turned to the other side is another.
        distance = math.hypot(people.x[row] - people.x[pick], people.y[row] - people.y[pick])
        size = abs(people.height[row] - people.height[pick]) / max(people.height[pick], 1e-6)
        turn = abs(people.yaw[row] - people.yaw[pick])
        return bool(
            distance <= options.same_face_distance
            and size <= options.same_face_size
            and turn <= options.same_face_turn
        )
    structure = (
        similarity.bits(row, pick) <= options.duplicate_hash_bits
        or similarity.bits(row, pick, "dhash") <= options.duplicate_hash_bits
    )
    return structure and similarity.histogram_distance(row, pick) <= options.duplicate_histogram


def _share_below(scores: FloatArray, row: int, rejected: list[str | None]) -> float:
    usable = np.array([r is None for r in rejected])
    if usable.sum() <= 1:
        return 1.0
    return float((scores[usable] < scores[row]).sum() / (usable.sum() - 1))
