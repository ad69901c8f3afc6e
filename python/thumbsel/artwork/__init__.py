"""The artwork stage (between selection and outputs): faces, tags and crops of the
chosen frames. See :mod:`thumbsel.artwork.stage`."""

from thumbsel.artwork.stage import (
    Artwork,
    ArtworkFace,
    Crop,
    character_portraits,
    describe_artwork,
    faces_available,
)

__all__ = [
    "Artwork",
    "ArtworkFace",
    "Crop",
    "character_portraits",
    "describe_artwork",
    "faces_available",
]
