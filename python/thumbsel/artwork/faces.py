"""Faces in a frame, with OpenCV's Haar cascades (the optional ``faces`` extra).

``pip install thumbsel[faces]`` brings OpenCV 4 (``opencv-python-headless``),
whose wheels ship the Haar cascade files this module uses. Without it the rest
of thumbsel works unchanged: :func:`faces_available` says False and
:func:`detect_faces` raises :class:`~thumbsel.errors.FacesUnavailableError`, so callers leave
their face fields out rather than reporting zero faces.

How a frame is searched:

1. Luma (``cv2.COLOR_RGB2GRAY``), shrunk so the long side is at most
   ``_ANALYSIS_LONG_SIDE`` pixels, then histogram-equalised.
2. Four passes collect every window that passes a whole cascade: the frontal
   ``default`` and ``alt2`` cascades, and the profile cascade on the picture
   and on its mirror image (it only knows faces turned one way). Each window
   comes with its level weight (``detectMultiScale3(outputRejectLevels=True)``):
   the sum of the cascade's last stage, which passed its threshold.
3. Windows of one pass are grouped as OpenCV groups them (same rule, eps 0.2);
   a group is a candidate with at least ``_MIN_WINDOWS`` windows.
4. Candidates of different passes that overlap (IoU >= ``_MERGE_IOU``) are one
   face. Its *evidence* is the sum, over all its windows, of how far the
   window's last stage cleared its threshold, as a fraction of the most that
   stage can clear (its highest possible sum minus its threshold, read from the
   cascade file); a window therefore adds 0..1, and agreeing cascades add up.
5. A face is kept with evidence >= ``_MIN_EVIDENCE`` and, in a colour frame, a
   skin-coloured centre (see ``_MIN_SKIN_FRACTION``): the cascades also fire
   on cartoon and animal faces and on some textures, which that rejects.

``Face.score`` is ``1 - exp(-evidence / _EVIDENCE_SCALE)``;
``Face.smiling`` is the same mapping of the smile cascade's evidence in the
lower half of the face (``_SMILE_SCALE``). The thresholds were chosen on the
clips in ``tests/test_faces.py``, whose frames were checked by eye.
"""

from __future__ import annotations

import importlib
import math
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from thumbsel.errors import FacesUnavailableError, InvalidFrameError

__all__ = [
    "Face",
    "detect_faces",
    "faces_available",
    "require_faces",
]

# The frame is searched at this long side at most. Haar cascades cost in
# proportion to the pixels searched; at 480 a 720p frame takes a fraction of a
# second, and the smallest face still wanted (_MIN_FACE_FRACTION) stays at
# least the cascades' 20-24 pixel window.
_ANALYSIS_LONG_SIDE = 480
# Faces smaller than this share of the frame's shorter side are not searched
# for: in a 180-pixel-high thumbnail they would be 14 pixels or less, too small
# to carry the picture. It is also about the cascades' own window at the
# analysis size, so little is given up.
_MIN_FACE_FRACTION = 0.08
# Step between the sizes searched (OpenCV's usual 1.1).
_SCALE_FACTOR = 1.1
# Windows of one pass are one detection when their corners lie within this
# share of their size of each other (OpenCV's groupRectangles eps).
_GROUP_EPS = 0.2
# A group of fewer windows is noise (OpenCV's minNeighbors=2). The real faces
# in the test clips gather 3 to 50 windows per cascade.
_MIN_WINDOWS = 3
# Candidates of different passes with at least this IoU are the same face
# (profile boxes are larger than frontal ones, so this is loose).
_MERGE_IOU = 0.3
# Least evidence for a face. On the test clips, false detections that pass the
# skin test reach 0.29 and true faces start at 0.6; clear frontal faces gather
# 1 to 6.
_MIN_EVIDENCE = 0.5
# score = 1 - exp(-evidence / _EVIDENCE_SCALE): 0.22 at the least evidence
# kept, 0.63 at 2 (a typical clear frontal face), 0.95 at 6.
_EVIDENCE_SCALE = 2.0
# Skin test: at least this share of the central half of the face box (half the
# width, half the height: cheeks, nose, mouth) must have a skin hue. Skin of
# every tone is orange-red in hue and differs mainly in brightness, so the test
# asks for hue <= 50 or >= 340 degrees, saturation >= 0.15 (skin is never
# grey) and value >= 0.08 (below that hue is noise). True faces in the test
# clips score 0.68-1.0 (a dim face turned away included); where the cascades
# fire on the cartoon rabbit's grey fur it scores at most 0.17.
_MIN_SKIN_FRACTION = 0.5
_SKIN_MAX_HUE = 25  # OpenCV hue units (degrees / 2): 50 degrees
_SKIN_MIN_WRAPPED_HUE = 170  # 340 degrees
_SKIN_MIN_SATURATION = 38  # 0.15 of 255
_SKIN_MIN_VALUE = 20  # 0.08 of 255
# A frame in which less than this share of pixels has that much saturation is
# black and white (or nearly): skin hue means nothing there, so the test is
# skipped and faces are judged by evidence alone.
_COLOUR_FRACTION = 0.01
# Colour statistics are taken on a grid of at most this many samples a side.
_COLOUR_SAMPLES = 64
# The face is resampled to this square before its lower half is searched for
# a smile, so the smile evidence does not depend on the face's size. The smile
# cascade's 36x18 window is then 3/8 of the face's width, narrower than a smile.
_SMILE_FACE_SIZE = 96
# smiling = 1 - exp(-evidence / _SMILE_SCALE). A broad smile (teeth showing)
# gathers evidence 15-20; neutral, talking and open-mouthed faces in the test
# clips gather at most 0.4 (in groups of at most 5 windows).
_SMILE_SCALE = 5.0
# Raw windows kept per pass, strongest first: grouping compares every pair,
# so a pathological texture must not make that quadratic cost explode.
# Ordinary frames give tens of windows.
_MAX_WINDOWS = 2000

_FRONTAL_DEFAULT = "haarcascade_frontalface_default.xml"
_FRONTAL_ALT2 = "haarcascade_frontalface_alt2.xml"
_PROFILE = "haarcascade_profileface.xml"
_SMILE = "haarcascade_smile.xml"
_CASCADE_FILES = (_FRONTAL_DEFAULT, _FRONTAL_ALT2, _PROFILE, _SMILE)

_INSTALL_HINT = (
    "face detection needs OpenCV 4 with its Haar cascades: pip install 'thumbsel[faces]'"
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Face:
    """One face found in a frame."""

    box: tuple[int, int, int, int]
    """``(x0, y0, x1, y1)`` in source pixels; ``x1`` and ``y1`` are exclusive."""
    score: float
    """Detector confidence, 0..1: ``1 - exp(-evidence / 2)`` (see the module doc)."""
    smiling: float
    """Smile score inside the face, 0..1; 0.0 when the smile cascade finds nothing."""

    def to_dict(self) -> dict[str, Any]:
        """The face as plain JSON-ready values."""
        return {"box": list(self.box), "score": self.score, "smiling": self.smiling}


@dataclass(frozen=True)
class _Cascade:
    """A loaded cascade and what its last stage allows."""

    classifier: Any  # cv2.CascadeClassifier
    threshold: float
    """Threshold of the last stage: a window passing the cascade summed at least this."""
    headroom: float
    """Highest sum the last stage can give, minus its threshold."""

    def detect(self, gray: npt.NDArray[np.uint8], min_size: int) -> _Windows:
        """Every window passing the whole cascade, with its evidence (0..1)."""
        rects, _levels, weights = self.classifier.detectMultiScale3(
            gray,
            scaleFactor=_SCALE_FACTOR,
            # 0 turns OpenCV's own grouping off: the raw windows are grouped
            # below, keeping each window's level weight.
            minNeighbors=0,
            minSize=(min_size, min_size),
            outputRejectLevels=True,
        )
        boxes = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
        margins = np.asarray(weights, dtype=np.float64).reshape(-1) - self.threshold
        evidence = np.clip(margins / self.headroom, 0.0, 1.0)
        return _Windows(boxes, evidence).canonical()


@dataclass(frozen=True)
class _Windows:
    boxes: IntArray
    """``(N, 4)`` x, y, width, height."""
    evidence: FloatArray

    def canonical(self) -> _Windows:
        # OpenCV's worker threads report windows in any order; sorting first
        # makes everything after this independent of it (and so deterministic).
        order = np.lexsort(
            (self.evidence, self.boxes[:, 3], self.boxes[:, 2], self.boxes[:, 1], self.boxes[:, 0])
        )
        if len(order) > _MAX_WINDOWS:
            strongest = np.argsort(-self.evidence[order], kind="stable")[:_MAX_WINDOWS]
            order = order[np.sort(strongest)]
        return _Windows(self.boxes[order], self.evidence[order])


@dataclass(frozen=True)
class _Candidate:
    """A group of windows of one pass, in analysis pixels."""

    kind: str
    box: tuple[float, float, float, float]
    """x0, y0, x1, y1."""
    windows: int
    evidence: float


@dataclass(frozen=True)
class _Detector:
    cv2: ModuleType
    passes: tuple[tuple[str, _Cascade, bool], ...]
    """(kind, cascade, mirrored) for each face pass."""
    smile: _Cascade
    lock: threading.Lock


_FRONTAL_KINDS = frozenset({"frontal", "frontal_alt2"})

# The loaded cascades: parsing them takes a few hundred milliseconds, so it is
# done on first use and kept (for the OpenCV module they were loaded with).
_cached: _Detector | None = None
_cache_lock = threading.Lock()


def _import_cv2() -> ModuleType | None:
    """OpenCV, or None when it is not installed (tests replace this to hide OpenCV)."""
    try:
        return importlib.import_module("cv2")
    except ImportError:
        return None


def _cascade_dir(cv2: ModuleType) -> Path | None:
    # The wheels put the cascade files in cv2.data; builds without them (the
    # 5.x wheels, some distribution packages) cannot detect faces here.
    data = getattr(cv2, "data", None)
    folder = getattr(data, "haarcascades", None)
    if not isinstance(folder, str):
        return None
    path = Path(folder)
    if not all((path / name).is_file() for name in _CASCADE_FILES):
        return None
    return path


def faces_available() -> bool:
    """Whether :func:`detect_faces` can run (OpenCV and its cascade files are installed)."""
    cv2 = _import_cv2()
    return cv2 is not None and _cascade_dir(cv2) is not None


def require_faces() -> None:
    """Raise :class:`~thumbsel.errors.FacesUnavailableError`, saying what to install,
    unless :func:`detect_faces` can run."""
    if not faces_available():
        raise FacesUnavailableError(_INSTALL_HINT)


def _last_stage(path: Path) -> tuple[float, float]:
    """The last stage's threshold and the highest sum it can give, from the cascade file."""
    unknown = FacesUnavailableError(
        f"{path.name} is not in OpenCV 4's cascade format; {_INSTALL_HINT}"
    )
    stages = ET.parse(path).getroot().find("cascade/stages")
    if stages is None or len(stages) == 0:
        raise unknown
    last = stages[-1]
    threshold = float(last.findtext("stageThreshold", "nan"))
    highest = 0.0
    for weak in last.iterfind("weakClassifiers/_"):
        # A weak classifier answers with one of its leaves.
        highest += max(float(value) for value in weak.findtext("leafValues", "").split())
    if not math.isfinite(threshold) or highest <= threshold:
        raise unknown
    return threshold, highest - threshold


def _load_cascade(cv2: ModuleType, path: Path) -> _Cascade:
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise FacesUnavailableError(f"OpenCV cannot load {path.name}; {_INSTALL_HINT}")
    threshold, headroom = _last_stage(path)
    return _Cascade(classifier, threshold, headroom)


def _detector() -> _Detector:
    """The cascades, loaded on first use."""
    cv2 = _import_cv2()
    folder = None if cv2 is None else _cascade_dir(cv2)
    if cv2 is None or folder is None:
        raise FacesUnavailableError(_INSTALL_HINT)
    global _cached
    with _cache_lock:
        if _cached is None or _cached.cv2 is not cv2:
            profile = _load_cascade(cv2, folder / _PROFILE)
            _cached = _Detector(
                cv2=cv2,
                passes=(
                    ("frontal", _load_cascade(cv2, folder / _FRONTAL_DEFAULT), False),
                    ("frontal_alt2", _load_cascade(cv2, folder / _FRONTAL_ALT2), False),
                    ("profile", profile, False),
                    ("profile_mirrored", profile, True),
                ),
                smile=_load_cascade(cv2, folder / _SMILE),
                # A CascadeClassifier keeps per-image buffers, so two threads
                # must not run one at once; each call is parallel inside OpenCV.
                lock=threading.Lock(),
            )
        return _cached


def _group(windows: _Windows) -> list[tuple[IntArray, FloatArray]]:
    """Windows grouped by OpenCV's similarity rule (connected components of it)."""
    count = len(windows.boxes)
    if count == 0:
        return []
    x, y, w, h = (windows.boxes[:, i].astype(np.float64) for i in range(4))
    delta = _GROUP_EPS * (np.minimum.outer(w, w) + np.minimum.outer(h, h)) / 2
    near = (
        (np.abs(np.subtract.outer(x, x)) <= delta)
        & (np.abs(np.subtract.outer(y, y)) <= delta)
        & (np.abs(np.subtract.outer(x + w, x + w)) <= delta)
        & (np.abs(np.subtract.outer(y + h, y + h)) <= delta)
    )
    labels = np.arange(count)
    while True:
        # Every window takes the smallest label among its neighbours (itself
        # included), then follows that label's own label: at the fixed point
        # each connected component carries its smallest index.
        lowest = np.where(near, labels[np.newaxis, :], count).min(axis=1)
        lowest = lowest[lowest]
        if np.array_equal(lowest, labels):
            break
        labels = lowest
    return [
        (windows.boxes[labels == label], windows.evidence[labels == label])
        for label in np.unique(labels)
    ]


def _candidates(kind: str, windows: _Windows, mirror_width: int | None) -> list[_Candidate]:
    found = []
    for boxes, evidence in _group(windows):
        if len(boxes) < _MIN_WINDOWS:
            continue
        x, y, w, h = boxes.astype(np.float64).mean(axis=0)
        if mirror_width is not None:
            x = mirror_width - x - w
        found.append(_Candidate(kind, (x, y, x + w, y + h), len(boxes), float(evidence.sum())))
    return found


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _merge(candidates: list[_Candidate]) -> list[list[_Candidate]]:
    """Candidates of different passes on one face, strongest first."""
    ranked = sorted(candidates, key=lambda c: (-c.evidence, -c.windows, c.kind, c.box))
    faces: list[list[_Candidate]] = []
    for candidate in ranked:
        for members in faces:
            if _iou(members[0].box, candidate.box) >= _MERGE_IOU:
                # A pass votes once per face: a second group of the same pass
                # (the face seen at another size) adds no independent evidence.
                if all(member.kind != candidate.kind for member in members):
                    members.append(candidate)
                break
        else:
            faces.append([candidate])
    return faces


def _hsv(cv2: ModuleType, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """HSV of a grid of at most _COLOUR_SAMPLES a side over ``rgb``, as (N, 3)."""
    step = max(1, -(-max(rgb.shape[0], rgb.shape[1]) // _COLOUR_SAMPLES))
    grid = np.ascontiguousarray(rgb[::step, ::step])
    hsv: npt.NDArray[np.uint8] = cv2.cvtColor(grid, cv2.COLOR_RGB2HSV)
    return hsv.reshape(-1, 3)


def _saturated(hsv: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    return (hsv[:, 1] >= _SKIN_MIN_SATURATION) & (hsv[:, 2] >= _SKIN_MIN_VALUE)


def _skin_fraction(cv2: ModuleType, rgb: npt.NDArray[np.uint8], box: tuple[int, ...]) -> float:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    centre = rgb[y0 + h // 4 : y1 - h // 4, x0 + w // 4 : x1 - w // 4]
    if centre.size == 0:
        return 0.0
    hsv = _hsv(cv2, centre)
    hue = hsv[:, 0]
    skin = _saturated(hsv) & ((hue <= _SKIN_MAX_HUE) | (hue >= _SKIN_MIN_WRAPPED_HUE))
    return float(skin.mean())


def _smile(detector: _Detector, rgb: npt.NDArray[np.uint8], box: tuple[int, ...]) -> float:
    cv2 = detector.cv2
    x0, y0, x1, y1 = box
    face = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    shrink = face.shape[0] > _SMILE_FACE_SIZE
    size = (_SMILE_FACE_SIZE, _SMILE_FACE_SIZE)
    face = cv2.resize(face, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    # Not equalised: the cascade normalises each window's contrast itself, and
    # equalising a dark face turned its noise into smile-like patterns.
    mouth = np.ascontiguousarray(face[_SMILE_FACE_SIZE // 2 :])
    windows = detector.smile.detect(mouth, 0)
    groups = [evidence for _, evidence in _group(windows) if len(evidence) >= _MIN_WINDOWS]
    if not groups:
        return 0.0
    best = max(float(evidence.sum()) for evidence in groups)
    return 1.0 - math.exp(-best / _SMILE_SCALE)


def _to_source(
    box: tuple[float, float, float, float], scale: float, width: int, height: int
) -> tuple[int, int, int, int]:
    x0 = min(max(round(box[0] * scale), 0), width - 1)
    y0 = min(max(round(box[1] * scale), 0), height - 1)
    x1 = min(max(round(box[2] * scale), x0 + 1), width)
    y1 = min(max(round(box[3] * scale), y0 + 1), height)
    return x0, y0, x1, y1


def detect_faces(rgb: npt.NDArray[np.uint8]) -> list[Face]:
    """Faces in one ``(H, W, 3)`` uint8 RGB frame, largest first.

    Deterministic: the same frame gives the same faces. Raises
    :class:`~thumbsel.errors.InvalidFrameError` for anything but a non-empty
    ``(H, W, 3)`` uint8 array, and :class:`~thumbsel.errors.FacesUnavailableError` when OpenCV
    (``pip install thumbsel[faces]``) is missing.
    """
    frame = np.asarray(rgb)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or frame.size == 0:
        raise InvalidFrameError(
            f"rgb must be a non-empty uint8 array of shape (H, W, 3); got {frame.dtype} "
            f"{frame.shape}"
        )
    frame = np.ascontiguousarray(frame)
    detector = _detector()
    cv2 = detector.cv2
    height, width = frame.shape[:2]

    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    shrink = max(width, height) / _ANALYSIS_LONG_SIDE
    if shrink > 1:
        size = (max(1, round(width / shrink)), max(1, round(height / shrink)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    analysis_height, analysis_width = gray.shape[:2]
    # Back to source pixels: the mean of the two axes' exact ratios.
    to_source = (width / analysis_width + height / analysis_height) / 2
    min_size = max(1, round(_MIN_FACE_FRACTION * min(analysis_width, analysis_height)))
    mirrored = np.ascontiguousarray(gray[:, ::-1])

    candidates: list[_Candidate] = []
    with detector.lock:
        for kind, cascade, mirror in detector.passes:
            windows = cascade.detect(mirrored if mirror else gray, min_size)
            candidates += _candidates(kind, windows, analysis_width if mirror else None)

    faces: list[Face] = []
    colourless: bool | None = None
    for members in _merge(candidates):
        evidence = sum(member.evidence for member in members)
        if evidence < _MIN_EVIDENCE:
            continue
        # Frontal boxes hug eyes, nose and mouth the same way on every face;
        # profile boxes take in hair and background, so they are the fallback.
        frontal = [member for member in members if member.kind in _FRONTAL_KINDS]
        chosen = max(frontal or members, key=lambda m: (m.evidence, m.windows))
        box = _to_source(chosen.box, to_source, width, height)
        if _skin_fraction(cv2, frame, box) < _MIN_SKIN_FRACTION:
            if colourless is None:
                colourless = float(_saturated(_hsv(cv2, frame)).mean()) < _COLOUR_FRACTION
            if not colourless:
                continue
        with detector.lock:
            smiling = _smile(detector, frame, box)
        score = 1.0 - math.exp(-evidence / _EVIDENCE_SCALE)
        faces.append(Face(box=box, score=score, smiling=smiling))

    def area(face: Face) -> int:
        x0, y0, x1, y1 = face.box
        return (x1 - x0) * (y1 - y0)

    faces.sort(key=lambda f: (-area(f), -f.score, f.box))
    return faces
