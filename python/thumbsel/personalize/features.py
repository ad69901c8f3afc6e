"""What a policy sees: viewer features, image attributes, and their interactions.

Arms are not fixed ids. Every impression brings its own candidate images, each
described by attributes (the artwork tags of :mod:`thumbsel.artwork.tags`: ``closeup``,
``smiling``, ``dark``...), and the viewer is described by named features (genre
affinities, device, time of day...). A policy scores a candidate with one
linear model over the *interactions* of the two:

    x = outer([1, viewer...], [1, attributes...]).ravel()

The constant 1 on each side keeps the main effects: ``1 x attribute`` is how
much everyone likes an attribute (what a non-personalised policy learns),
``viewer x attribute`` is how that taste shifts with the viewer, and
``viewer x 1`` is the same for every candidate of an impression, so it only
absorbs the viewer's base rate. Because the model is over attributes, what it
learns on one title carries over to new titles and new candidate sets, and a
new viewer (all features 0) gets the population's taste.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from thumbsel.artwork.tags import CHARACTER_TAG, LEAD_TAG, TAG_DEFINITIONS
from thumbsel.errors import PersonalizeError

__all__ = [
    "CHARACTER_PREFIX",
    "IMAGE_ATTRIBUTES",
    "LEAD_TAG",
    "MAX_BUCKETS",
    "FeatureSpace",
    "attributes_from_tags",
    "image_attributes",
    "viewer_context",
]

FloatArray = npt.NDArray[np.float64]

IMAGE_ATTRIBUTES: tuple[str, ...] = tuple(
    "face" if tag == "faces:N" else tag for tag in TAG_DEFINITIONS
)
"""The image attributes the artwork tags give, in the order of ``TAG_DEFINITIONS``.

``face`` stands for the tag ``faces:N`` with N at least 1; the other names are
the tags themselves. Character attributes are not among them: a cast is
open-ended, so a space that should learn ``character:<name>`` lists it.
"""

CHARACTER_PREFIX = CHARACTER_TAG
"""Start of the tag and attribute ``character:<id or name>``: that character is on the still."""

BIAS = "1"
"""Name of the constant term on either side of an interaction."""


def attributes_from_tags(tags: Iterable[str]) -> dict[str, float]:
    """Image attributes (name -> 1.0) from the tags ``thumbsel pick`` writes per candidate.

    ``faces:N`` becomes ``face`` when N is at least 1. ``character:<id or name>``
    (any non-empty text after the colon) and ``lead`` keep their name, as do
    the other tags. Ids ``c1``, ``c2``... belong to one title (or one series,
    when its cast was carried over): in unrelated titles the same id is not
    the same person, while a name from a reference gallery is.
    """
    attributes: dict[str, float] = {}
    for tag in tags:
        name, _, count = tag.partition(":")
        if name == "faces":
            try:
                faces = int(count)
            except ValueError:
                raise PersonalizeError(f"bad face tag {tag!r}: expected faces:N") from None
            if faces > 0:
                attributes["face"] = 1.0
        elif tag == CHARACTER_PREFIX:
            raise PersonalizeError(
                f"bad character tag {tag!r}: expected {CHARACTER_PREFIX}<id or name>"
            )
        else:
            attributes[tag] = 1.0
    return attributes


def image_attributes(names: Iterable[str]) -> tuple[str, ...]:
    """The attributes of a space over images showing ``names``: the tag attributes,
    then the cast ones among the names (``character:<id or name>``, ``lead``), sorted."""
    cast = {n for n in names if n.startswith(CHARACTER_PREFIX) or n == LEAD_TAG}
    return IMAGE_ATTRIBUTES + tuple(sorted(cast - set(IMAGE_ATTRIBUTES)))


def viewer_context(
    *,
    genre_affinity: Mapping[str, float] | None = None,
    recent_activity: float | None = None,
    country: str | None = None,
    device: str | None = None,
    hour: float | None = None,
) -> dict[str, float]:
    """Named viewer features in the layout :class:`FeatureSpace` expects.

    ``genre_affinity`` maps a genre to the viewer's share of viewing in it
    (0..1) and becomes ``genre:<name>``; ``country`` and ``device`` become
    one-hot ``country:<code>`` and ``device:<kind>``; ``recent_activity`` is
    passed through (e.g. titles started in the last 7 days, scaled to about
    0..1); ``hour`` (0..24, local time) becomes ``hour_sin`` and ``hour_cos`` so
    that 23:00 and 01:00 are neighbours.
    """
    context: dict[str, float] = {}
    for genre, share in (genre_affinity or {}).items():
        context[f"genre:{genre}"] = float(share)
    if recent_activity is not None:
        context["recent_activity"] = float(recent_activity)
    if country is not None:
        context[f"country:{country}"] = 1.0
    if device is not None:
        context[f"device:{device}"] = 1.0
    if hour is not None:
        angle = 2.0 * math.pi * (float(hour) % 24.0) / 24.0
        context["hour_sin"] = math.sin(angle)
        context["hour_cos"] = math.cos(angle)
    return context


ViewerInput = Mapping[str, float] | npt.ArrayLike
"""A viewer as named features, or as a vector in :attr:`FeatureSpace.viewer_features` order."""

CandidatesInput = Sequence[Mapping[str, float]] | npt.ArrayLike
"""Candidates as one attribute mapping each, or as a (candidates, attributes) matrix."""


@dataclass(frozen=True)
class FeatureSpace:
    """The named viewer features and image attributes a policy's model is built over.

    Names a context does not list are 0 (a viewer with no history, an
    attribute the tagger did not give). Names the space does not know are
    ignored, so a new country or a new tag never breaks serving; it simply
    carries no information until the space is extended and a model retrained.

    **Feature hashing** (:meth:`hashed`): for viewer spaces too large to name
    (every title watched, every search term mapped), ``buckets`` slots
    ``#0``, ``#1``... take every viewer feature by a stable hash of its name,
    with a hashed sign so that collisions cancel on average instead of adding
    up (Weinberger et al. 2009). The model's size is then fixed by
    ``buckets``, whatever the names; a new name needs no retraining to be
    used, and explanations name slots, not features.
    """

    viewer_features: tuple[str, ...]
    image_attributes: tuple[str, ...] = IMAGE_ATTRIBUTES
    viewer_buckets: int = 0
    """Hash every viewer feature into this many slots (0: features by name)."""

    @classmethod
    def hashed(
        cls, buckets: int, image_attributes: tuple[str, ...] = IMAGE_ATTRIBUTES
    ) -> FeatureSpace:
        """A space whose viewer features are hashed into ``buckets`` slots."""
        if not (isinstance(buckets, int) and 1 <= buckets <= MAX_BUCKETS):
            raise PersonalizeError(f"buckets must be within 1..{MAX_BUCKETS}, got {buckets!r}")
        return cls(tuple(f"#{i}" for i in range(buckets)), image_attributes, buckets)

    def __post_init__(self) -> None:
        for label, names in (
            ("viewer_features", self.viewer_features),
            ("image_attributes", self.image_attributes),
        ):
            if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
                raise PersonalizeError(f"{label} must be a tuple of names")
            if len(set(names)) != len(names):
                raise PersonalizeError(f"{label} names a feature twice")
            if BIAS in names:
                raise PersonalizeError(f"{label} must not use the reserved name {BIAS!r}")
        if self.viewer_buckets and self.viewer_features != tuple(
            f"#{i}" for i in range(self.viewer_buckets)
        ):
            raise PersonalizeError("a hashed space's viewer features are its slots #0, #1...")

    @property
    def dimension(self) -> int:
        """Length of an interaction vector: ``(viewers + 1) * (attributes + 1)``."""
        return (len(self.viewer_features) + 1) * (len(self.image_attributes) + 1)

    @property
    def interaction_names(self) -> list[str]:
        """Names of the interaction terms, ``"<viewer feature> x <attribute>"``, in model order."""
        viewers = (BIAS, *self.viewer_features)
        attributes = (BIAS, *self.image_attributes)
        return [f"{v} x {a}" for v in viewers for a in attributes]

    def viewer_vector(self, viewer: ViewerInput) -> FloatArray:
        """``[1, features...]`` for one viewer."""
        if isinstance(viewer, Mapping):
            values = self._viewer_rows([viewer])[0]
        else:
            values = np.asarray(viewer, dtype=np.float64)
            if values.shape != (len(self.viewer_features),):
                raise PersonalizeError(
                    f"viewer vector must have shape ({len(self.viewer_features)},), "
                    f"got {values.shape}"
                )
            if not np.all(np.isfinite(values)):
                raise PersonalizeError("viewer vector contains non-finite values")
        return np.concatenate(([1.0], values))

    def image_matrix(self, candidates: CandidatesInput, *, allow_empty: bool = False) -> FloatArray:
        """``[1, attributes...]`` per candidate: shape (candidates, attributes + 1)."""
        values = _matrix("candidates", candidates, self.image_attributes)
        if values.shape[0] == 0 and not allow_empty:
            raise PersonalizeError("no candidates to choose from")
        return np.hstack((np.ones((values.shape[0], 1)), values))

    def viewer_matrix(self, viewers: Sequence[Mapping[str, float]] | npt.ArrayLike) -> FloatArray:
        """``[1, features...]`` per viewer: shape (viewers, features + 1)."""
        if (
            self.viewer_buckets
            and isinstance(viewers, Sequence)
            and all(isinstance(v, Mapping) for v in viewers)
        ):
            values = self._viewer_rows(viewers)  # type: ignore[arg-type]
        else:
            values = _matrix("viewers", viewers, self.viewer_features)
        return np.hstack((np.ones((values.shape[0], 1)), values))

    def _viewer_rows(self, viewers: Sequence[Mapping[str, float]]) -> FloatArray:
        if not self.viewer_buckets:
            return _by_name(viewers, self.viewer_features)
        rows = np.zeros((len(viewers), self.viewer_buckets))
        for row, viewer in enumerate(viewers):
            for name, value in viewer.items():
                bucket, sign = _slot(str(name), self.viewer_buckets)
                rows[row, bucket] += sign * _number(value, str(name))
        return rows

    def design(self, viewer: ViewerInput, candidates: CandidatesInput) -> FloatArray:
        """Interaction vectors of one impression: shape (candidates, :attr:`dimension`)."""
        return interactions(self.viewer_vector(viewer), self.image_matrix(candidates))

    def to_dict(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "viewer_features": list(self.viewer_features),
            "image_attributes": list(self.image_attributes),
        }
        if self.viewer_buckets:
            described["viewer_buckets"] = self.viewer_buckets
        return described

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpace:
        return cls(
            viewer_features=tuple(data["viewer_features"]),
            image_attributes=tuple(data["image_attributes"]),
            viewer_buckets=int(data.get("viewer_buckets", 0)),
        )


MAX_BUCKETS = 1 << 16


@functools.lru_cache(maxsize=1 << 16)
def _slot(name: str, buckets: int) -> tuple[int, float]:
    """A name's hashed slot and sign: BLAKE2b of its UTF-8, so every process and
    every version agree (Python's own ``hash`` of a string changes per process)."""
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
    return digest % buckets, (1.0 if digest >> 63 == 0 else -1.0)


def interactions_of_pairs(viewers: FloatArray, images: FloatArray) -> FloatArray:
    """Row ``i`` is ``outer(viewers[i], images[i]).ravel()``: one (viewer, image) pair each."""
    rows = viewers[:, :, None] * images[:, None, :]
    return rows.reshape(viewers.shape[0], -1)


def interactions(viewer: FloatArray, images: FloatArray) -> FloatArray:
    """Row ``i`` is ``outer(viewer, images[i]).ravel()`` (viewer-major, as the names)."""
    rows = viewer[None, :, None] * images[:, None, :]
    return rows.reshape(images.shape[0], -1)


def _matrix(
    label: str, items: Sequence[Mapping[str, float]] | npt.ArrayLike, names: tuple[str, ...]
) -> FloatArray:
    """One row per item, from mappings by name or from a matrix in ``names`` order."""
    values: FloatArray
    if isinstance(items, Sequence) and all(isinstance(item, Mapping) for item in items):
        mappings: Sequence[Mapping[str, float]] = items  # type: ignore[assignment]
        values = _by_name(mappings, names)
    else:
        try:
            values = np.asarray(items, dtype=np.float64)
        except (TypeError, ValueError):
            raise PersonalizeError(
                f"{label} must be attribute mappings or a numeric matrix"
            ) from None
    if values.ndim != 2 or values.shape[1] != len(names):
        raise PersonalizeError(f"{label} must have shape (n, {len(names)}), got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise PersonalizeError(f"{label} contain non-finite values")
    return values


def _by_name(items: Sequence[Mapping[str, float]], names: tuple[str, ...]) -> FloatArray:
    """One row per mapping, its values in ``names`` order (absent: 0), all finite.

    Converted by NumPy in one go (the per-value checks cost more than the model
    at small sizes); a value that does not convert is named by the slow path.
    """
    try:
        values = np.array(
            [[item.get(name, 0.0) for name in names] for item in items], dtype=np.float64
        ).reshape(len(items), len(names))
    except (TypeError, ValueError):
        values = np.array(
            [[_number(item.get(name, 0.0), name) for name in names] for item in items],
            dtype=np.float64,
        ).reshape(len(items), len(names))
    if not np.all(np.isfinite(values)):
        row, column = (int(i[0]) for i in np.nonzero(~np.isfinite(values)))
        raise PersonalizeError(f"{names[column]} must be finite, got {values[row, column]}")
    return values


def _number(value: object, name: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PersonalizeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise PersonalizeError(f"{name} must be finite, got {number}")
    return number
