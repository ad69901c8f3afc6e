"""Faces in a frame: MediaPipe's BlazeFace detectors and face mesh.

``pip install thumbsel[faces]`` brings OpenCV 4 (``opencv-python-headless``,
for the image operations) and Google's LiteRT (``ai-edge-litert``), which
runs the four TFLite models shipped in ``thumbsel/people/models``
(Apache-2.0, Google; see the NOTICE there). Where LiteRT has no wheel,
OpenCV's own ``cv2.dnn.readNetFromTFLite`` runs them instead, 1.8-2.7x
slower per model on this project's machine (``benches/README.md``); both
give the same faces to within a pixel.
Without OpenCV the rest of thumbsel works unchanged: :func:`faces_available`
says False and :func:`detect_faces` raises
:class:`~thumbsel.errors.FacesUnavailableError`, so callers leave their face
fields out rather than reporting zero faces.

How a frame is searched:

1. **Detection.** Two BlazeFace models look at the frame: the short-range
   one (128x128) at the whole frame, letterboxed, for close-ups; the
   full-range one (192x192) at the whole frame and at overlapping squares as
   tall as the frame, so that small faces reach it large enough (see
   ``_windows``). Each proposes boxes with six keypoints (eyes,
   nose, mouth, ears); proposals that overlap are one face, averaged with
   their scores as weights (MediaPipe's weighted non-maximum suppression).
2. **Landmarks.** The face mesh model (468 points) runs on each face, cut out
   around the box at 1.5 times its size and turned so the eyes are level. Its
   own "is this a face" score is a second opinion: a detection the mesh does
   not believe is dropped (a cup, a jar, a cartoon).
3. **Judgement**, from the landmarks: how open the eyes are (eye aspect
   ratio, Soukupova and Cech 2016, on the lids MediaPipe's eye model finds
   in each eye), how open the mouth is, a smile score, the head's yaw from
   the mesh's depth (frontal, three-quarter, profile), the face's own
   sharpness, and whether the frame's edge cuts it.

The thresholds below were chosen on the annotated frames of
``tests/data/faces.json`` and are checked there.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from thumbsel.errors import FacesUnavailableError, InvalidFrameError
from thumbsel.exits import raise_stop_within
from thumbsel.memory import can_reserve

__all__ = [
    "EYES_CLOSED_BELOW",
    "FRONTAL_WITHIN",
    "MAIN_FACE_MIN_SHARE",
    "MODELS",
    "PROFILE_BEYOND",
    "RUNTIME_ENV",
    "Face",
    "Pose",
    "detect_faces",
    "faces_available",
    "faces_installed",
    "iou",
    "main_faces",
    "require_faces",
    "why_faces_unavailable",
]

MODELS = Path(__file__).resolve().parent / "models"
"""Where the model files ship (with their LICENSE and NOTICE)."""

Pose = Literal["frontal", "three-quarter", "profile"]
Box = tuple[int, int, int, int]
Point = tuple[float, float]
RGBArray = npt.NDArray[np.uint8]

_INSTALL_HINT = "face detection needs OpenCV 4.8 or later: pip install 'thumbsel[faces]'"

# Detection. A box proposal counts from this confidence (sigmoid of the raw
# score). MediaPipe uses 0.5 for both models; at 0.5 the short-range model
# also fires on cartoon faces (the bundled rabbit), which it must not.
_FULL_RANGE_MIN_SCORE = 0.5
_SHORT_RANGE_MIN_SCORE = 0.75
# Proposals overlapping by this IoU are the same face (MediaPipe's value).
_SAME_FACE_IOU = 0.3
# The raw scores are clipped before the sigmoid, as MediaPipe does, so that
# exp() cannot overflow in float32.
_RAW_SCORE_LIMIT = 80.0
# A face mesh that scores below this says "no face here" (MediaPipe's 0.5).
_MESH_MIN_PRESENCE = 0.5
# The mesh looks at a square this many times the detector's box, turned so
# the eyes are level (MediaPipe's face_detection_to_roi).
_MESH_ROI_SCALE = 1.5
_MESH_SIZE = 192
_FULL_RANGE_SIZE = 192
_SHORT_RANGE_SIZE = 128
# Faces with a box side below this share of the frame's shorter side are
# left out: in a 180-pixel-high thumbnail they would be 7 pixels or less, and
# the eye and mesh models have nothing to work with.
_MIN_FACE_FRACTION = 0.04
# Levels of windows the full-range model searches (see _windows).
_WINDOW_LEVELS = 2

# Judgement. Eye aspect ratio (EAR) from the eye model's lids: open eyes in
# the annotated frames measure 0.28-0.42; a lid half down in a blink 0.29 (a
# face's own EAR drops by a sixth); a closed eye, lids together, goes to
# about 0.1. An absolute threshold only catches the last: a blink judged
# against the same face elsewhere in its shot is left to the ranking stage.
EYES_CLOSED_BELOW = 0.2
# Yaw in degrees (see _yaw): up to this a face looks at the camera; from the
# second on only one side of it shows.
FRONTAL_WITHIN = 20.0
PROFILE_BEYOND = 55.0
# The face's sharpness is measured at this size, so faces of any size compare.
_SHARPNESS_SIZE = 64
# A face is cut by the frame when its box runs past an edge by this share of
# its own size (a detector box reaches a little past the chin and brow).
_CUT_MARGIN = 0.05

# Face mesh indices (MediaPipe's canonical face model): the corners of each
# eye, the eye on the image's left first, each from its outer corner.
_EYE_CORNERS = ((33, 133), (263, 362))
# The eye model looks at a square this many times the eye's width (MediaPipe's
# iris_landmark ROI), turned so the corners are level.
_EYE_ROI_SCALE = 2.3
_EYE_SIZE = 64
# Its 71-point eye contour starts with the lower lid, corner to corner (0-8),
# then the upper lid without the corners (9-15): the pairs of lid points
# facing each other across the middle of the eye.
_LID_PAIRS = ((11, 3), (12, 4), (13, 5))
_LID_CORNERS = (0, 8)
_MOUTH_INNER = (13, 14)
"""Upper and lower lip, inner edge, at the middle."""
_MOUTH_CORNERS = (61, 291)
_CHEEKS = (234, 454)
_BROW, _CHIN = 10, 152


@dataclass(frozen=True)
class Face:
    """One face found in a frame, with what its landmarks say about it."""

    box: Box
    """``(x0, y0, x1, y1)`` in source pixels, clipped to the frame; ``x1`` and ``y1`` exclusive."""
    score: float
    """Detector confidence, 0..1."""
    keypoints: tuple[Point, ...]
    """BlazeFace's six points in source pixels: the eye on the image's left, the
    other eye, the nose tip, the mouth, and the two ear tragions (same order)."""
    eyes: float
    """Eye aspect ratio, the mean of both eyes: about 0.25-0.3 open; closed below
    :data:`EYES_CLOSED_BELOW`."""
    eyes_closed: bool
    mouth: float
    """How open the mouth is: the gap between the lips over the mouth's width, 0 when closed."""
    smiling: float
    """Smile score, 0..1 (0.5 and more: smiling)."""
    yaw: float
    """Degrees the head is turned from the camera, -90..90 (positive: towards the image's
    right); ``pose`` names the range."""
    pose: Pose
    sharpness: float
    """Variance of the Laplacian of the face's gray levels at 64x64: comparable across faces."""
    cut: bool
    """The frame's edge cuts the face."""

    @property
    def size(self) -> int:
        """The box's height in pixels."""
        return self.box[3] - self.box[1]

    def to_dict(self) -> dict[str, Any]:
        """The face as plain JSON-ready values (rounded to 4 decimals)."""
        return {
            "box": list(self.box),
            "score": round(self.score, 4),
            "eyes": round(self.eyes, 4),
            "eyes_closed": self.eyes_closed,
            "mouth": round(self.mouth, 4),
            "smiling": round(self.smiling, 4),
            "yaw": round(self.yaw, 1),
            "pose": self.pose,
            "sharpness": round(self.sharpness, 2),
            "cut": self.cut,
            "keypoints": [[round(x, 1), round(y, 1)] for x, y in self.keypoints],
        }


@dataclass(frozen=True)
class _Proposal:
    """A detector's box (x0, y0, x1, y1 in source pixels, unclipped) with its keypoints."""

    box: tuple[float, float, float, float]
    keypoints: npt.NDArray[np.float64]
    score: float


@dataclass(frozen=True)
class _Detector:
    """One BlazeFace model with its anchors."""

    net: Any  # a LiteRT interpreter or a cv2.dnn.Net
    size: int
    anchors: npt.NDArray[np.float32]
    min_score: float


@dataclass(frozen=True)
class _Stack:
    cv2: ModuleType
    detectors: tuple[_Detector, ...]
    mesh: Any
    eye: Any
    lock: threading.Lock
    runtime: str
    """``"litert"`` or ``"opencv"``: what runs the models."""


_loaded: _Stack | None = None
_load_lock = threading.Lock()


# Address space that importing OpenCV, loading the four models and running
# them take (470 MiB measured, VmSize, either runtime), plus the feature pass
# beside them. Short of it, importing OpenCV crashes the process (a
# segmentation fault under ulimit -v), which nothing can catch, and with a
# little more, allocations fail at random in NumPy, OpenBLAS or Rust
# (measured on bikes.mp4 under limits of 1.2 and 1.4 GiB).
FACE_STACK_ADDRESS_SPACE = 1280 << 20
_TOO_LITTLE_MEMORY = (
    "too little memory left for the face models (with the feature pass they need "
    f"about {FACE_STACK_ADDRESS_SPACE >> 20} MiB of address space; see ulimit -v)"
)


def _import_cv2() -> ModuleType | None:
    if "cv2" not in sys.modules and not can_reserve(FACE_STACK_ADDRESS_SPACE):
        raise FacesUnavailableError(_TOO_LITTLE_MEMORY)
    try:
        cv2 = importlib.import_module("cv2")
    except ImportError as error:
        raise_stop_within(error)
        return None
    return cv2 if hasattr(getattr(cv2, "dnn", None), "readNetFromTFLite") else None


def why_faces_unavailable() -> str | None:
    """None when :func:`detect_faces` can run; else, in one line, why not: OpenCV 4.8+
    (the ``faces`` extra) missing, too little memory, or a model that will not load."""
    try:
        _stack()
    except FacesUnavailableError as error:
        return str(error)
    return None


def faces_available() -> bool:
    """Whether :func:`detect_faces` can run (see :func:`why_faces_unavailable`)."""
    return why_faces_unavailable() is None


def faces_installed() -> bool:
    """Whether the ``faces`` extra is installed, whether or not it can run now."""
    return importlib.util.find_spec("cv2") is not None


def require_faces() -> None:
    """Raise :class:`~thumbsel.errors.FacesUnavailableError`, saying why (what to
    install, or what ran out), unless :func:`detect_faces` can run."""
    reason = why_faces_unavailable()
    if reason is not None:
        raise FacesUnavailableError(reason)


def _anchors(size: int, strides: tuple[int, ...], per_layer: int) -> npt.NDArray[np.float32]:
    """Anchor centres (fractions of the input) in the models' output order.

    MediaPipe's SSD anchors with a fixed anchor size: layers that share a
    stride share a grid, each layer adding ``per_layer`` anchors to a cell.
    """
    centres: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        per_cell = 0
        while layer < len(strides) and strides[layer] == stride:
            per_cell += per_layer
            layer += 1
        cells = math.ceil(size / stride)
        for y in range(cells):
            for x in range(cells):
                centres += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
    return np.asarray(centres, dtype=np.float32)


RUNTIME_ENV = "THUMBSEL_FACE_RUNTIME"
"""Environment variable choosing what runs the face models: ``litert``, ``opencv``,
or unset for LiteRT when it is installed (else OpenCV)."""


def _import_litert() -> Any:
    wanted = os.environ.get(RUNTIME_ENV, "").strip().lower()
    if wanted not in ("", "litert", "opencv"):
        raise FacesUnavailableError(f"{RUNTIME_ENV} must be litert or opencv, not {wanted!r}")
    if wanted == "opencv":
        return None
    try:
        return importlib.import_module("ai_edge_litert.interpreter")
    except ImportError as error:
        raise_stop_within(error)
        if wanted == "litert":
            raise FacesUnavailableError(
                f"{RUNTIME_ENV}=litert, but LiteRT is not installed: pip install ai-edge-litert"
            ) from None
        return None


def _stack() -> _Stack:
    cv2 = _import_cv2()
    if cv2 is None:
        raise FacesUnavailableError(_INSTALL_HINT)
    global _loaded
    with _load_lock:
        litert = _import_litert()
        runtime = "opencv" if litert is None else "litert"
        if _loaded is None or _loaded.cv2 is not cv2 or _loaded.runtime != runtime:

            def read(name: str) -> Any:
                return _read(cv2, litert, name)

            _loaded = _Stack(
                cv2=cv2,
                detectors=(
                    _Detector(
                        read("face_detection_full_range.tflite"),
                        _FULL_RANGE_SIZE,
                        _anchors(_FULL_RANGE_SIZE, (4,), 1),
                        _FULL_RANGE_MIN_SCORE,
                    ),
                    _Detector(
                        read("face_detection_short_range.tflite"),
                        _SHORT_RANGE_SIZE,
                        _anchors(_SHORT_RANGE_SIZE, (8, 16, 16, 16), 2),
                        _SHORT_RANGE_MIN_SCORE,
                    ),
                ),
                mesh=read("face_landmark.tflite"),
                eye=read("iris_landmark.tflite"),
                # Both runtimes keep their buffers between calls: one thread at
                # a time. One thread inside each call too, since the frame
                # scoring threads already have the other cores.
                lock=threading.Lock(),
                runtime=runtime,
            )
        return _loaded


def _read(cv2: ModuleType, litert: Any, name: str) -> Any:
    path = MODELS / name
    if not path.is_file():
        raise FacesUnavailableError(f"{path} is missing: the thumbsel install is incomplete")
    if litert is not None:
        try:
            with _native_stderr_silenced():
                interpreter = litert.Interpreter(model_path=str(path), num_threads=1)
                interpreter.allocate_tensors()
        except (RuntimeError, ValueError, MemoryError) as error:
            raise FacesUnavailableError(f"LiteRT cannot read {name} ({error})") from None
        return interpreter
    try:
        return cv2.dnn.readNetFromTFLite(str(path))
    except (cv2.error, MemoryError) as error:
        raise FacesUnavailableError(
            f"OpenCV {cv2.__version__} cannot read {name} ({error}); {_INSTALL_HINT}"
        ) from None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """LiteRT's C++ core prints "INFO: Created TensorFlow Lite XNNPACK delegate"
    to the process's stderr when it loads a model, whatever the log settings;
    a command line tool must not. Only file descriptor 2 is redirected, and
    only while a model loads."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to protect
        yield
        return
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _forward(net: Any, image: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
    """Run a model on one ``(H, W, 3)`` float image; its outputs, in the model's order."""
    if hasattr(net, "invoke"):
        net.set_tensor(net.get_input_details()[0]["index"], np.ascontiguousarray(image[None]))
        net.invoke()
        return [net.get_tensor(detail["index"]) for detail in net.get_output_details()]
    net.setInput(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
    names = net.getUnconnectedOutLayersNames()
    outputs: list[npt.NDArray[np.float32]] = net.forward(names)
    return outputs


def _windows(width: int, height: int, levels: int) -> list[tuple[float, float, float]]:
    """Square windows ``(x0, y0, side)`` the full-range model searches.

    Level 0 is the whole frame (letterboxed); level 1 squares as tall as the
    frame's short side, overlapping along the long side, so that a face of a
    given share of the picture's height is as large in the model's input
    whatever the frame's shape; level 2 squares half that size. Each level
    doubles the size at which small faces reach the model.
    """
    windows = [(0.0, 0.0, float(max(width, height)))]
    short, long = min(width, height), max(width, height)
    for level in range(1, levels):
        side = short / 2 ** (level - 1)
        across = max(1, math.ceil(long / side * 1.25 - 0.25)) if long > side else 1
        down = max(1, math.ceil(short / side * 1.25 - 0.25)) if short > side else 1
        starts_long = np.linspace(0, long - side, across) if across > 1 else [(long - side) / 2]
        starts_short = np.linspace(0, short - side, down) if down > 1 else [(short - side) / 2]
        for a in starts_long:
            for b in starts_short:
                x0, y0 = (a, b) if width >= height else (b, a)
                windows.append((float(x0), float(y0), float(side)))
    return windows


def _propose(
    stack: _Stack,
    detector: _Detector,
    frame: RGBArray,
    window: tuple[float, float, float],
) -> list[_Proposal]:
    """One model's proposals in one square window of the frame (padded with black)."""
    cv2 = stack.cv2
    height, width = frame.shape[:2]
    size = detector.size
    wx, wy, side = window
    scale = size / side
    # The window -> model input transform; what lies outside the frame is black.
    transform = np.array([[scale, 0.0, -wx * scale], [0.0, scale, -wy * scale]])
    if window == (0.0, 0.0, float(max(width, height))):
        # Centre the whole frame in its square, as MediaPipe letterboxes.
        transform[0, 2] += (size - width * scale) / 2
        transform[1, 2] += (size - height * scale) / 2
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.warpAffine(
        frame, transform, (size, size), flags=interpolation, borderMode=cv2.BORDER_CONSTANT
    )
    canvas = resized.astype(np.float32) / 127.5 - 1.0
    with stack.lock:
        outputs = _forward(detector.net, canvas)
    scores = next(o for o in outputs if o.shape[-1] == 1).reshape(-1).astype(np.float64)
    regression = next(o for o in outputs if o.shape[-1] == 16).reshape(-1, 16)
    confidence = 1.0 / (1.0 + np.exp(-np.clip(scores, -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)))
    offset_x, offset_y = transform[0, 2], transform[1, 2]
    proposals = []
    for index in np.flatnonzero(confidence >= detector.min_score):
        raw = regression[index].astype(np.float64) / size
        anchor = detector.anchors[index].astype(np.float64)
        cx, cy = raw[0] + anchor[0], raw[1] + anchor[1]
        half_w, half_h = raw[2] / 2, raw[3] / 2
        points = (raw[4:].reshape(6, 2) + anchor) * size
        points[:, 0] = (points[:, 0] - offset_x) / scale
        points[:, 1] = (points[:, 1] - offset_y) / scale
        box = (
            ((cx - half_w) * size - offset_x) / scale,
            ((cy - half_h) * size - offset_y) / scale,
            ((cx + half_w) * size - offset_x) / scale,
            ((cy + half_h) * size - offset_y) / scale,
        )
        proposals.append(_Proposal(box, points, float(confidence[index])))
    return proposals


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _merge(proposals: list[_Proposal]) -> list[_Proposal]:
    """MediaPipe's weighted non-maximum suppression: each face is the
    score-weighted mean of the proposals that overlap its strongest one."""
    remaining = sorted(proposals, key=lambda p: (-p.score, p.box))
    merged = []
    while remaining:
        best = remaining[0]
        group = [p for p in remaining if iou(best.box, p.box) >= _SAME_FACE_IOU]
        remaining = [p for p in remaining if iou(best.box, p.box) < _SAME_FACE_IOU]
        weights = np.array([p.score for p in group])
        box = np.average(np.array([p.box for p in group]), axis=0, weights=weights)
        points = np.average(np.stack([p.keypoints for p in group]), axis=0, weights=weights)
        merged.append(_Proposal(tuple(float(v) for v in box), points, best.score))  # type: ignore[arg-type]
    return merged


def _mesh(
    stack: _Stack, frame: RGBArray, proposal: _Proposal
) -> tuple[float, npt.NDArray[np.float64], float]:
    """The face mesh on one proposal: its presence score, its 468 (x, y) points in
    source pixels, and the head's yaw in degrees."""
    cv2 = stack.cv2
    x0, y0, x1, y1 = proposal.box
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    side = max(x1 - x0, y1 - y0) * _MESH_ROI_SCALE
    (ex0, ey0), (ex1, ey1) = proposal.keypoints[0], proposal.keypoints[1]
    angle = math.atan2(ey1 - ey0, ex1 - ex0)
    crop, forward = _level_crop(cv2, frame, centre, angle, side, _MESH_SIZE)
    with stack.lock:
        outputs = _forward(stack.mesh, crop.astype(np.float32) / 255.0)
    presence_raw = float(next(o for o in outputs if o.size == 1).reshape(-1)[0])
    points = next(o for o in outputs if o.size == 1404).reshape(468, 3).astype(np.float64)
    presence = 1.0 / (1.0 + math.exp(-max(-_RAW_SCORE_LIMIT, min(_RAW_SCORE_LIMIT, presence_raw))))
    inverse = cv2.invertAffineTransform(forward)
    source = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
    return presence, source, _yaw(points)


def _distance(points: npt.NDArray[np.float64], a: int, b: int) -> float:
    return float(np.hypot(*(points[a] - points[b])))


def _level_crop(
    cv2: ModuleType,
    frame: RGBArray,
    centre: tuple[float, float],
    angle: float,
    side: float,
    size: int,
) -> tuple[RGBArray, npt.NDArray[np.float64]]:
    """A ``size`` square cut from ``frame`` around ``centre``, ``side`` pixels
    across, turned by ``-angle``; and the affine map from the frame to it."""
    scale = size / side
    cos, sin = math.cos(-angle) * scale, math.sin(-angle) * scale
    forward = np.array(
        [
            [cos, -sin, size / 2 - (cos * centre[0] - sin * centre[1])],
            [sin, cos, size / 2 - (sin * centre[0] + cos * centre[1])],
        ]
    )
    crop = cv2.warpAffine(
        frame, forward, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return crop, forward


def _eyes(stack: _Stack, frame: RGBArray, points: npt.NDArray[np.float64]) -> float:
    """Eye aspect ratio of the face, from MediaPipe's eye model on each eye.

    The face mesh alone hardly moves its lids when an eye closes; the eye
    model, given the eye at 64x64, follows them. Each eye counts by its
    width in the picture, so the far eye of a turned head (narrow, and
    partly hidden) says little.
    """
    ratios, weights = [], []
    for flip, (outer, inner) in enumerate(_EYE_CORNERS):
        a, b = points[outer], points[inner]
        if flip:
            # The model knows one eye; the other is its mirror image.
            a, b = b, a
        width = float(np.hypot(*(b - a)))
        if width < 1.0:
            continue
        angle = math.atan2(b[1] - a[1], b[0] - a[0])
        centre = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        crop, _ = _level_crop(stack.cv2, frame, centre, angle, width * _EYE_ROI_SCALE, _EYE_SIZE)
        if flip:
            crop = np.ascontiguousarray(crop[:, ::-1])
        with stack.lock:
            outputs = _forward(stack.eye, crop.astype(np.float32) / 255.0)
        contour = next(o for o in outputs if o.size == 213).reshape(71, 3)[:, :2]
        across = float(np.hypot(*(contour[_LID_CORNERS[1]] - contour[_LID_CORNERS[0]])))
        if across <= 0:
            continue
        gaps = [float(np.hypot(*(contour[u] - contour[lo]))) for u, lo in _LID_PAIRS]
        ratios.append(sum(gaps) / len(gaps) / across)
        weights.append(width)
    if not weights:
        return 0.0
    return float(np.average(ratios, weights=weights))


def _upright(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The mesh turned so the line between the cheeks is level (head roll removed)."""
    right, left = points[_CHEEKS[0]], points[_CHEEKS[1]]
    angle = math.atan2(left[1] - right[1], left[0] - right[0])
    cos, sin = math.cos(-angle), math.sin(-angle)
    return np.asarray(points @ np.array([[cos, sin], [-sin, cos]]), dtype=np.float64)


def _smile(points: npt.NDArray[np.float64]) -> float:
    """Smile score from the mouth's shape: its width against the face's, and its
    corners raised above the middle of the lips. See _SMILE_* for the fit."""
    upright = _upright(points)
    face_width = _distance(upright, *_CHEEKS)
    face_height = _distance(upright, _BROW, _CHIN)
    if face_width <= 0 or face_height <= 0:
        return 0.0
    width = _distance(upright, *_MOUTH_CORNERS) / face_width
    middle = (upright[_MOUTH_INNER[0], 1] + upright[_MOUTH_INNER[1], 1]) / 2
    corners = (upright[_MOUTH_CORNERS[0], 1] + upright[_MOUTH_CORNERS[1], 1]) / 2
    lift = (middle - corners) / face_height
    logit = _SMILE_BIAS + _SMILE_WIDTH * width + _SMILE_LIFT * lift
    return 1.0 / (1.0 + math.exp(-logit))


# The smile score's weights, set by hand: in a smile the mouth widens and its
# corners rise. The annotated frames hold one smiling face (0.97) and 52
# others (at most 0.24), too few to fit them; tests/artwork/test_faces.py
# checks that split.
_SMILE_BIAS = -12.0
_SMILE_WIDTH = 25.0
_SMILE_LIFT = 40.0


def _yaw(mesh: npt.NDArray[np.float64]) -> float:
    """Degrees the head is turned, from the mesh's own depth: the angle of the line
    between the cheeks out of the picture plane (positive: towards the image's right).

    The mesh's (x, y, z) are in one scale, and the crop it saw was turned so
    the eyes are level, so roll does not enter.
    """
    dx, _, dz = mesh[_CHEEKS[1]] - mesh[_CHEEKS[0]]
    return math.degrees(math.atan2(dz, dx))


def _pose(yaw: float) -> Pose:
    if abs(yaw) <= FRONTAL_WITHIN:
        return "frontal"
    if abs(yaw) >= PROFILE_BEYOND:
        return "profile"
    return "three-quarter"


def _face_sharpness(cv2: ModuleType, gray: npt.NDArray[np.uint8], box: Box) -> float:
    x0, y0, x1, y1 = box
    face = gray[y0:y1, x0:x1]
    if face.size == 0:
        return 0.0
    small = cv2.resize(face, (_SHARPNESS_SIZE, _SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small.astype(np.float64), cv2.CV_64F).var())


def _clip_box(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    x0 = min(max(round(box[0]), 0), width - 1)
    y0 = min(max(round(box[1]), 0), height - 1)
    x1 = min(max(round(box[2]), x0 + 1), width)
    y1 = min(max(round(box[3]), y0 + 1), height)
    return (x0, y0, x1, y1)


def _is_cut(box: tuple[float, float, float, float], width: int, height: int) -> bool:
    margin = _CUT_MARGIN * max(box[2] - box[0], box[3] - box[1])
    return (
        box[0] < -margin or box[1] < -margin or box[2] > width + margin or box[3] > height + margin
    )


MAIN_FACE_MIN_SHARE = 0.5
"""A face is one of the picture's main faces when its height is at least this share of
the largest face's: ``smiling`` and ``eyes-closed`` speak of the main faces only, since a
blinking extra in the background does not spoil the picture."""


def main_faces(faces: Sequence[Face]) -> list[Face]:
    """The faces at least :data:`MAIN_FACE_MIN_SHARE` the height of the largest one."""
    if not faces:
        return []
    largest = max(face.size for face in faces)
    return [face for face in faces if face.size >= MAIN_FACE_MIN_SHARE * largest]


def detect_faces(rgb: RGBArray) -> list[Face]:
    """Faces in one ``(H, W, 3)`` uint8 RGB frame, largest first.

    Deterministic: the same frame gives the same faces. Raises
    :class:`~thumbsel.errors.InvalidFrameError` for anything but a non-empty
    ``(H, W, 3)`` uint8 array, and :class:`~thumbsel.errors.FacesUnavailableError`
    when OpenCV (``pip install thumbsel[faces]``) is missing.
    """
    frame = np.asarray(rgb)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or frame.size == 0:
        raise InvalidFrameError(
            f"rgb must be a non-empty uint8 array of shape (H, W, 3); got {frame.dtype} "
            f"{frame.shape}"
        )
    frame = np.ascontiguousarray(frame)
    stack = _stack()
    cv2 = stack.cv2
    height, width = frame.shape[:2]
    full_range, short_range = stack.detectors
    whole = (0.0, 0.0, float(max(width, height)))
    proposals = _propose(stack, short_range, frame, whole)
    for window in _windows(width, height, _WINDOW_LEVELS):
        proposals += _propose(stack, full_range, frame, window)
    smallest = _MIN_FACE_FRACTION * min(width, height)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    faces = []
    for proposal in _merge(proposals):
        x0, y0, x1, y1 = proposal.box
        if max(x1 - x0, y1 - y0) < smallest:
            continue
        presence, points, yaw = _mesh(stack, frame, proposal)
        if presence < _MESH_MIN_PRESENCE:
            continue
        eyes = _eyes(stack, frame, points)
        mouth_width = _distance(points, *_MOUTH_CORNERS)
        mouth = _distance(points, *_MOUTH_INNER) / mouth_width if mouth_width > 0 else 0.0
        box = _clip_box(proposal.box, width, height)
        faces.append(
            Face(
                box=box,
                score=proposal.score,
                keypoints=tuple((float(x), float(y)) for x, y in proposal.keypoints),
                eyes=eyes,
                eyes_closed=eyes < EYES_CLOSED_BELOW,
                mouth=mouth,
                smiling=_smile(points),
                yaw=yaw,
                pose=_pose(yaw),
                sharpness=_face_sharpness(cv2, gray, box),
                cut=_is_cut(proposal.box, width, height),
            )
        )

    def area(face: Face) -> int:
        x0, y0, x1, y1 = face.box
        return (x1 - x0) * (y1 - y0)

    faces.sort(key=lambda f: (-area(f), -f.score, f.box))
    return faces
