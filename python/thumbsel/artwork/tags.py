"""Descriptive tags for an artwork candidate, read off measured signals.

Each tag comes from one measurement and one threshold documented below, so a
tag can always be traced back to a number in the feature table (see
:data:`thumbsel.columns.FRAME_COLUMNS`) or to the face detector's output; the
thresholds are collected with their meaning in :data:`TAG_DEFINITIONS`.

Pass features measured on the picture inside any black bars, and the content
area (not the whole frame) as ``frame_area``: bars are not part of the picture
and would make every letterboxed frame look darker and its faces smaller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from thumbsel.artwork.crops import Box
from thumbsel.people.faces import (
    EYES_CLOSED_BELOW,
    MAIN_FACE_MIN_SHARE,
    PROFILE_BEYOND,
    Face,
    main_faces,
)

__all__ = [
    "BRIGHT_MIN_BRIGHTNESS",
    "CHARACTER_TAG",
    "CLOSEUP_MIN_FACE_SHARE",
    "COLORFUL_MIN_COLORFULNESS",
    "DARK_MAX_BRIGHTNESS",
    "GROUP_MIN_FACES",
    "HIGH_CONTRAST_MIN_CONTRAST",
    "LEAD_TAG",
    "MAIN_FACE_MIN_SHARE",
    "MEDIUM_MIN_FACE_SHARE",
    "MUTED_MAX_COLORFULNESS",
    "SMILING_MIN_SCORE",
    "TAG_DEFINITIONS",
    "TINT_MIN_DIFFERENCE",
    "artwork_tags",
    "main_faces",
    "shot_scale",
]

CHARACTER_TAG = "character:"
"""``character:<id or name>``: that character of the title's cast is on the still."""
LEAD_TAG = "lead"
"""The title's most prominent character (its lead) is on the still."""

# Detector face boxes are about square, so a face spanning a fraction h of the
# frame height covers h * h * H / W of the frame; the shares below are worked
# out for 16:9, the usual shape of the picture inside the bars. Narrower
# pictures (4:3) give the same face a larger share and wider ones (2.39:1
# scope) a smaller one.

CLOSEUP_MIN_FACE_SHARE = 1 / 16
"""Largest face's share of the frame area from which a shot is a close-up (1/16).

In a close-up the face spans roughly a third of the frame height or more;
a square face box a third of the height of a 16:9 frame covers 1/16 of it.
"""

MEDIUM_MIN_FACE_SHARE = 1 / 64
"""Largest face's share of the frame area from which a shot is medium (1/64, ~1.6 %).

A square face box a sixth of the height of a 16:9 frame covers 1/64 of it:
a chest-up to waist-up framing. Smaller faces belong to people seen in their
surroundings, a wide shot.
"""

SMILING_MIN_SCORE = 0.5
"""Smile score (0..1, a classifier's probability) from which a face counts as smiling."""


GROUP_MIN_FACES = 3
"""Faces (main faces, as above) from which a picture shows a group."""

DARK_MAX_BRIGHTNESS = 0.3
"""Mean luma (0..1) below which a picture is dark: night, low-key lighting."""

BRIGHT_MIN_BRIGHTNESS = 0.65
"""Mean luma (0..1) above which a picture is bright: daylight, high-key lighting."""

TINT_MIN_DIFFERENCE = 0.06
"""Mean red minus mean blue (0..1) beyond which a picture is warm; blue minus red, cool.

The margin leaves near-neutral pictures untagged; golden-hour, tungsten or
fire-lit scenes push red ahead, night exteriors, underwater and "teal" grades
push blue ahead.
"""

HIGH_CONTRAST_MIN_CONTRAST = 0.25
"""Standard deviation of luma (0..1) from which a picture is high-contrast.

A picture split evenly between black and white has 0.5 and an even spread of
all grey levels about 0.29, so 0.25 picks out hard light, silhouettes and
pictures with deep blacks beside bright highlights.
"""

COLORFUL_MIN_COLORFULNESS = 45.0
"""Hasler-Susstrunk colourfulness (0..255 scale) from which a picture is colourful.

Hasler and Susstrunk (2003) call about 33 "moderately colourful" and about 45
"averagely colourful" on this scale; above 45 a picture reads as colourful.
"""

MUTED_MAX_COLORFULNESS = 15.0
"""Hasler-Susstrunk colourfulness below which a picture is muted.

15 is the paper's "slightly colourful"; below it lie grey and desaturated
grades, down to 0 for a picture without colour.
"""

TAG_DEFINITIONS: dict[str, str] = {
    "faces:N": "the face detector ran and found N faces (N may be 0)",
    "closeup": f"the largest face covers at least {CLOSEUP_MIN_FACE_SHARE:.2%} of the picture "
    "(a face about a third of the height of a 16:9 frame)",
    "medium": f"the largest face covers at least {MEDIUM_MIN_FACE_SHARE:.2%} of the picture "
    f"but less than {CLOSEUP_MIN_FACE_SHARE:.2%}",
    "wide": f"faces were found, the largest covering less than {MEDIUM_MIN_FACE_SHARE:.2%} "
    "of the picture",
    "smiling": f"some main face has a smile score of at least {SMILING_MIN_SCORE}",
    "eyes-closed": "some main face has its eyes closed (eye aspect ratio below "
    f"{EYES_CLOSED_BELOW})",
    "profile": f"the largest face is turned {PROFILE_BEYOND:g} degrees or more from the camera",
    "group": f"at least {GROUP_MIN_FACES} main faces",
    "dark": f"mean luma below {DARK_MAX_BRIGHTNESS} (0..1)",
    "bright": f"mean luma above {BRIGHT_MIN_BRIGHTNESS} (0..1)",
    "warm": f"mean red exceeds mean blue by more than {TINT_MIN_DIFFERENCE} (0..1)",
    "cool": f"mean blue exceeds mean red by more than {TINT_MIN_DIFFERENCE} (0..1)",
    "high-contrast": f"standard deviation of luma at least {HIGH_CONTRAST_MIN_CONTRAST} (0..1)",
    "colorful": f"Hasler-Susstrunk colourfulness at least {COLORFUL_MIN_COLORFULNESS:g} "
    "(0..255 scale; about 33 is moderately colourful)",
    "muted": f"Hasler-Susstrunk colourfulness below {MUTED_MAX_COLORFULNESS:g} (0..255 scale)",
}
"""Every tag :func:`artwork_tags` can give, in the order it gives them, with its rule."""


def shot_scale(faces: Sequence[Box] | None, frame_area: int) -> str | None:
    """``"closeup"``, ``"medium"`` or ``"wide"``, from the largest face's share of the frame.

    Returns None when face detection did not run (``faces is None``) and also
    when it found no faces: without a person in the picture there is nothing to
    measure the framing against, and a landscape is not a "wide shot of
    nobody". See :data:`CLOSEUP_MIN_FACE_SHARE` and :data:`MEDIUM_MIN_FACE_SHARE`.
    """
    if frame_area <= 0:
        raise ValueError(f"frame_area must be positive, got {frame_area}")
    if not faces:
        return None
    largest = max(max(box[2] - box[0], 0) * max(box[3] - box[1], 0) for box in faces)
    share = largest / frame_area
    if share >= CLOSEUP_MIN_FACE_SHARE:
        return "closeup"
    if share >= MEDIUM_MIN_FACE_SHARE:
        return "medium"
    return "wide"


def artwork_tags(
    features: Mapping[str, float],
    faces: Sequence[Face] | None,
    frame_area: int,
) -> list[str]:
    """The tags of one picture, in the order of :data:`TAG_DEFINITIONS`.

    ``features`` holds columns of the feature table for this frame
    (``brightness``, ``contrast``, ``mean_red``, ``mean_blue``,
    ``colorfulness``); a missing or NaN value gives no tag rather than a guess.
    ``faces`` is None when face detection did not run, which leaves out the
    face tags.
    """
    tags: list[str] = []
    if faces is not None:
        tags.append(f"faces:{len(faces)}")
        scale = shot_scale([face.box for face in faces], frame_area)
        if scale is not None:
            tags.append(scale)
        main = main_faces(faces)
        if any(face.smiling >= SMILING_MIN_SCORE for face in main):
            tags.append("smiling")
        if any(face.eyes_closed for face in main):
            tags.append("eyes-closed")
        if main and max(main, key=lambda face: face.size).pose == "profile":
            tags.append("profile")
        if len(main) >= GROUP_MIN_FACES:
            tags.append("group")

    brightness = _measured(features, "brightness")
    if brightness is not None:
        if brightness < DARK_MAX_BRIGHTNESS:
            tags.append("dark")
        elif brightness > BRIGHT_MIN_BRIGHTNESS:
            tags.append("bright")

    red = _measured(features, "mean_red")
    blue = _measured(features, "mean_blue")
    if red is not None and blue is not None:
        if red - blue > TINT_MIN_DIFFERENCE:
            tags.append("warm")
        elif blue - red > TINT_MIN_DIFFERENCE:
            tags.append("cool")

    contrast = _measured(features, "contrast")
    if contrast is not None and contrast >= HIGH_CONTRAST_MIN_CONTRAST:
        tags.append("high-contrast")

    colorfulness = _measured(features, "colorfulness")
    if colorfulness is not None:
        if colorfulness >= COLORFUL_MIN_COLORFULNESS:
            tags.append("colorful")
        elif colorfulness < MUTED_MAX_COLORFULNESS:
            tags.append("muted")
    return tags


def _measured(features: Mapping[str, float], name: str) -> float | None:
    # Table columns are null or NaN where a signal could not be measured;
    # comparing NaN would silently read as "not above the threshold".
    value = features.get(name)
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
