"""The people stage: faces, and what they say about a frame.

:mod:`~thumbsel.people.faces` finds faces on one picture (MediaPipe's models,
shipped with thumbsel); :mod:`~thumbsel.people.sample` runs them on a sample
of frames during the feature pass, so that selection knows each shot's people.
"""

from thumbsel.people.faces import (
    Face,
    detect_faces,
    faces_available,
    faces_installed,
    require_faces,
    why_faces_unavailable,
)
from thumbsel.people.sample import DEFAULT_INTERVAL, PeopleSampler

__all__ = [
    "DEFAULT_INTERVAL",
    "Face",
    "PeopleSampler",
    "detect_faces",
    "faces_available",
    "faces_installed",
    "require_faces",
    "why_faces_unavailable",
]
