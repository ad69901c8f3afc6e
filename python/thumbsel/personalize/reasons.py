"""Why this image, in the viewer's own terms: "you watch mostly thrillers; this image is dark".

A policy's explanation is a list of model terms (``genre:thriller x dark``,
``1 x smiling``) with what each added to the chosen image's score. This turns
the ones that helped into a sentence about the viewer (from their features)
and the image (from its attributes), and says so when the image was shown
to learn rather than because it scored best.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from thumbsel.personalize.features import BIAS, CHARACTER_PREFIX

__all__ = ["in_plain_words"]

_IMAGE = {
    "dark": "is dark",
    "bright": "is bright",
    "warm": "has warm colours",
    "cool": "has cool colours",
    "colorful": "is colourful",
    "high-contrast": "is high in contrast",
    "closeup": "is a close-up",
    "medium": "is a medium shot",
    "wide": "is a wide shot",
    "face": "shows a face",
    "smiling": "shows a smile",
    "group": "shows a group",
    "lead": "shows the lead",
    "eyes-closed": "has closed eyes",
    "profile": "shows a face in profile",
}
_DAYPARTS = {
    "night": "at night",
    "morning": "in the morning",
    "afternoon": "in the afternoon",
    "evening": "in the evening",
}


def _image(attribute: str) -> str:
    if attribute.startswith(CHARACTER_PREFIX):
        return f"shows {attribute[len(CHARACTER_PREFIX) :]}"
    return _IMAGE.get(attribute, f"is {attribute}")


def _viewer(feature: str, context: Mapping[str, float]) -> str | None:
    kind, _, name = feature.partition(":")
    value = float(context.get(feature, 0.0))
    if kind == "genre":
        genres = {k: v for k, v in context.items() if k.startswith("genre:")}
        most = max(genres, key=lambda k: genres[k]) == feature and value >= 0.4
        return f"you watch {'mostly' if most else 'some'} {name} titles"
    if kind == "cast":
        return f"you watch titles with {name}"
    if kind == "series":
        return f"you watch {name}"
    if kind == "device":
        return "you watch on the TV" if name == "tv" else f"you watch on a {name}"
    if kind == "daypart":
        return f"you watch {_DAYPARTS.get(name, name)}"
    if kind == "search":
        return f"you searched for {name.partition(':')[2] or name}"
    if feature == "binge":
        return "you often watch the next episode"
    if feature == "completion":
        return "you usually finish what you start"
    if feature == "recent_activity":
        return "you have watched a lot lately"
    return None


def in_plain_words(
    context: Mapping[str, float],
    attributes: Mapping[str, float],
    contributions: Sequence[tuple[str, float]],
    *,
    probability: float,
    best: float,
) -> str:
    """One sentence on why the image with ``attributes`` was shown to this viewer.

    The viewer feature behind the largest positive personal term speaks for
    the viewer; the image is described by the attributes that term and the
    population's positive terms favour.
    """
    personal: dict[str, list[str]] = {}
    population: list[str] = []
    for term, value in contributions:
        feature, _, attribute = term.partition(" x ")
        if value <= 0 or attribute == BIAS or not attributes.get(attribute):
            continue
        if feature == BIAS:
            population.append(attribute)
        elif _viewer(feature, context) is not None:
            personal.setdefault(feature, []).append(attribute)
    parts = []
    if personal:
        feature, liked = next(iter(personal.items()))
        shown = list(dict.fromkeys([*liked, *population]))[:3]
        parts.append(f"{_viewer(feature, context)}; this image {_and(_image(a) for a in shown)}")
    elif population:
        shown = list(dict.fromkeys(population))[:3]
        parts.append(f"most viewers take to an image that {_and(_image(a) for a in shown)}")
    if probability < best:
        parts.append("it was also shown to learn how you take to it (not the top-scored image)")
    if not parts:
        return "no image scored higher for you: the policy has not yet learned a preference"
    return "; ".join(parts)


def _and(phrases: Iterable[str]) -> str:
    items = list(phrases)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
