"""'Why this image' in the viewer's words, from a policy's terms."""

from __future__ import annotations

from thumbsel.personalize.reasons import in_plain_words


def test_the_viewer_and_the_image_in_plain_words() -> None:
    context = {"genre:thriller": 0.8, "genre:romance": 0.1, "device:tv": 1.0}
    attributes = {"dark": 1.0, "lead": 1.0, "face": 1.0}
    terms = [("genre:thriller x dark", 0.9), ("1 x lead", 0.3), ("genre:romance x smiling", 0.2)]
    said = in_plain_words(context, attributes, terms, probability=0.7, best=0.7)
    assert said == "you watch mostly thriller titles; this image is dark and shows the lead"
    # Chosen to explore, and what everyone likes when nothing personal helped.
    said = in_plain_words(
        {}, attributes, [("1 x closeup", 0.4), ("1 x lead", 0.2)], probability=0.1, best=0.6
    )
    assert said == (
        "most viewers take to an image that shows the lead; "
        "it was also shown to learn how you take to it (not the top-scored image)"
    )
    # A term for an attribute the image lacks, or that lowered its score, says nothing.
    said = in_plain_words(
        context,
        {"bright": 1.0},
        [("genre:thriller x dark", 0.9), ("1 x bright", -0.2)],
        probability=0.5,
        best=0.5,
    )
    assert said.startswith("no image scored higher for you")
