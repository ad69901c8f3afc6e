"""The cast stage: who the faces are, across the title (between shots and selection).

:mod:`~thumbsel.cast.characters` clusters the tracked faces of the people
stage into characters and ranks them; :mod:`~thumbsel.cast.gallery` names
them from reference photos or from another title's characters.
"""

from thumbsel.cast.characters import Cast, CastOptions, Character, cluster, find_cast
from thumbsel.cast.gallery import load_series_cast, name_from_gallery, name_from_series

__all__ = [
    "Cast",
    "CastOptions",
    "Character",
    "cluster",
    "find_cast",
    "load_series_cast",
    "name_from_gallery",
    "name_from_series",
]
