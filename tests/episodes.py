"""A test "episode" cut together from the real clips, with exact shot ground truth.

:func:`build_episode` decodes the three real clips (``bikes.mp4``,
``bigbuckbunny.mp4``, ``carphone_pristine.mp4``), resizes every picture to one
size and edits them into one ~1000-frame, 25 fps H.264 file with hard cuts,
fades through black, cross-dissolves, camera flashes, a fast pan, a blurred
insert, a dip to black and a recurring piece. The edit is planned first, so the
ground truth (:class:`Episode`) is known exactly, frame by frame.

Ground-truth conventions (shot detectors are scored against these):

* A **boundary** is the first frame of the new shot. The first shot starts at
  frame 0, which is never a boundary.
* **cut**: the first frame of the incoming piece.
* **fade**: the outgoing piece fades out to black over ~10 frames (gain
  ``(F - i) / (F + 1)``), 2-6 pure black frames follow, then the incoming piece
  fades in over ~10 frames (gain ``(i + 1) / (F + 1)``). The boundary is the
  first frame of the fade-in: the first non-black frame after the black run.
  That frame is dim (~9 % of full brightness), so a detector with a
  brightness threshold for "black" may report one frame later, within +-1.
* **dip to black** (a hard cut to ~10 black frames and a hard cut back) is
  scored as one boundary of kind ``"fade"`` at the first frame of the piece
  after the black run; the cut *into* the black is not a boundary.
* **dissolve**: a linear cross-fade over ``L`` frames (``L`` in 8..24), blend
  weight ``(i + 1) / (L + 1)`` for the incoming piece on frame ``i`` of the
  blend; the two pieces keep playing underneath. The boundary is the middle
  frame, ``start + L // 2``: the first frame on which the incoming piece's
  weight is at least one half.
* **flashes** (1-2 frames of ``x1.8 + 60`` brightness) and the fast **pan**
  are not boundaries; the pan is its own shot, joined by cuts.

``shot_id`` names the *underlying source shot* (camera setup): the five
cut-free pieces of bikes.mp4, Big Buck Bunny, the carphone clip, a punched-in
crop of Big Buck Bunny, the synthetic pan and the blurred insert each have
their own id, and a piece that comes back later keeps its id. Frames that show
no single shot (black, faded and dissolve frames) have id -1.

Everything is deterministic from ``seed``: the layout is fixed, the seed picks
the dissolve, fade and black lengths, the flash positions and the pan's speed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageFilter
from videos import write_video

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "bigbuckbunny.mp4"
TEST_DATA = Path(os.environ.get("THUMBSEL_TEST_DATA", ROOT / ".cache" / "test-data"))

FPS = 25
LAYOUT_VERSION = 2
"""Bump when the layout or the rendering changes, so cached episodes are rebuilt."""

ENCODER_OPTIONS = {"crf": "20", "preset": "veryfast", "g": "50", "threads": "1"}
BOUNDARY_KINDS = ("cut", "fade", "dissolve")
FRAME_KINDS = ("normal", "black", "fade", "dissolve", "flash", "blurred", "pan")

BIKES_PIECES = ((0, 30), (30, 76), (76, 137), (137, 187), (187, 242))
"""Cut-free pieces of bikes.mp4 used here (the last 8 frames, 242..249, are too short)."""

BLUR_RADIUS = 4.0
FLASH_GAIN = 1.8
FLASH_OFFSET = 60.0
FLASH_MARGIN = 15
"""Frames between a flash and the nearest transition (PySceneDetect's min_scene_len)."""
PAN_FRAMES = 45
PAN_SOURCE_FRAME = 66
"""The Big Buck Bunny frame the pan moves over."""
CLOSEUP_BOX = (420, 160, 1060, 520)
"""The punched-in crop (left, top, right, bottom) of the 1280x720 Big Buck Bunny frames."""
MIN_PIECE_FRAMES = 15

# Shot ids of the underlying source shots.
SHOT_IDS = {
    "bikes0": 0,
    "bikes1": 1,
    "bikes2": 2,
    "bikes3": 3,
    "bikes4": 4,
    "bunny": 5,
    "carphone": 6,
    "bunny_closeup": 7,
    "pan": 8,
    "blurred": 9,
}

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Piece:
    """One piece of the edit as planned: which source frames, where they landed."""

    shot: str
    """Key of :data:`SHOT_IDS`."""
    source: str
    """Rendered source: "bikes", "bunny", "bunny_closeup", "carphone", "pan"."""
    frames: tuple[int, ...]
    """Source frame indices, in playing order (reversed pieces count down)."""
    start: int = 0
    """First output frame showing this piece at all (in a transition or clean)."""
    clean_start: int = 0
    """First output frame showing only this piece."""
    clean_end: int = 0
    """End (exclusive) of the frames showing only this piece."""

    @property
    def shot_id(self) -> int:
        return SHOT_IDS[self.shot]


@dataclass(frozen=True, eq=False)
class Episode:
    """An encoded episode and its frame-exact ground truth."""

    path: Path
    frame_count: int
    fps: float
    width: int
    height: int
    boundaries: tuple[tuple[int, str], ...]
    """(frame, kind), kind in {"cut", "fade", "dissolve"}, sorted by frame."""
    shot_id: npt.NDArray[np.int64]
    """Per frame: id of the underlying source shot, -1 for black, faded and dissolve frames."""
    frame_kind: npt.NDArray[np.str_]
    """Per frame: one of :data:`FRAME_KINDS`."""
    pieces: tuple[Piece, ...] = field(default=())
    """The edit, piece by piece (extra detail for reports and tests)."""

    def boundary_frames(self, kind: str | None = None) -> list[int]:
        """Boundary frames, optionally only those of one kind."""
        return [frame for frame, k in self.boundaries if kind is None or k == kind]


# --- the plan ---------------------------------------------------------------

# (shot, source, first, stop, step) and the transition into the NEXT piece.
_LAYOUT: tuple[tuple[str, str, int, int, int, str | None], ...] = (
    ("bikes0", "bikes", 0, 30, 1, "cut"),  # real bikes cuts: similar-looking pieces
    ("bikes1", "bikes", 30, 76, 1, "cut"),
    ("bikes2", "bikes", 76, 137, 1, "dissolve"),  # this piece recurs below
    ("bunny", "bunny", 0, 56, 1, "cut"),  # flash inside
    ("bunny_closeup", "bunny_closeup", 56, 100, 1, "fade"),  # punch-in from the wide shot
    ("carphone", "carphone", 0, 50, 1, "cut"),
    ("bikes3", "bikes", 137, 187, 1, "cut"),
    ("pan", "pan", 0, PAN_FRAMES, 1, "cut"),
    ("carphone", "carphone", 50, 100, 1, "dissolve"),
    ("bunny", "bunny", 131, 75, -1, "cut"),
    ("bikes4", "bikes", 187, 242, 1, "dip"),  # flash (2 frames) inside
    ("blurred", "bikes", 137, 187, 1, "cut"),  # bikes3 blurred: its own shot
    ("carphone", "carphone", 119, 69, -1, "cut"),
    ("bikes2", "bikes", 76, 137, 1, "fade"),  # recurrence: same frames, same id
    ("bunny_closeup", "bunny_closeup", 55, 11, -1, "cut"),
    ("carphone", "carphone", 100, 120, 1, "cut"),
    ("bunny", "bunny", 56, 101, 1, "dissolve"),
    ("carphone", "carphone", 74, 19, -1, "cut"),  # flash inside
    ("bunny_closeup", "bunny_closeup", 100, 132, 1, "fade"),
    ("bikes4", "bikes", 241, 186, -1, "dissolve"),
    ("bunny", "bunny", 20, 76, 1, "cut"),
    ("bikes1", "bikes", 75, 29, -1, None),
)
_FLASHES = ((3, 1), (10, 2), (17, 1))
"""(layout index, flash length in frames)."""


@dataclass(frozen=True)
class _Transition:
    kind: str  # "cut" | "dissolve" | "fade" | "dip"
    length: int = 0  # dissolve frames
    fade_out: int = 0
    black: int = 0
    fade_in: int = 0


@dataclass(frozen=True)
class _Recipe:
    """How to render one output frame."""

    kind: str
    a: tuple[int, int] | None = None  # (piece index, position in piece)
    b: tuple[int, int] | None = None
    weight: float = 1.0  # gain of a, or weight of b in a blend


@dataclass(frozen=True)
class _Plan:
    pieces: tuple[Piece, ...]
    recipes: tuple[_Recipe, ...]
    boundaries: tuple[tuple[int, str], ...]
    shot_id: npt.NDArray[np.int64]
    frame_kind: npt.NDArray[np.str_]
    pan_speed: int
    pan_direction: int


def _transitions(rng: np.random.Generator) -> list[_Transition]:
    kinds = [entry[5] for entry in _LAYOUT[:-1]]
    dissolve_count = kinds.count("dissolve")
    bases = np.linspace(8, 23, dissolve_count).round().astype(int)
    lengths = iter(rng.permutation(bases + rng.integers(0, 2, dissolve_count)).tolist())
    result = []
    for kind in kinds:
        if kind == "cut":
            result.append(_Transition("cut"))
        elif kind == "dissolve":
            result.append(_Transition("dissolve", length=int(next(lengths))))
        elif kind == "fade":
            fade_out, black, fade_in = (int(v) for v in rng.integers([9, 2, 9], [12, 7, 12]))
            result.append(_Transition("fade", fade_out=fade_out, black=black, fade_in=fade_in))
        elif kind == "dip":
            result.append(_Transition("dip", black=int(rng.integers(9, 12))))
        else:
            raise AssertionError(kind)
    return result


def plan_episode(*, seed: int = 0) -> _Plan:
    """The edit and its ground truth, without touching any pixel."""
    rng = np.random.default_rng(seed)
    transitions = _transitions(rng)
    raw = [Piece(shot, source, tuple(range(a, b, s))) for shot, source, a, b, s, _ in _LAYOUT]
    head = [0] * len(raw)  # frames of a piece used up by its incoming transition
    tail = [0] * len(raw)  # ... and by its outgoing one
    for index, transition in enumerate(transitions):
        if transition.kind == "dissolve":
            tail[index] = head[index + 1] = transition.length
        elif transition.kind == "fade":
            tail[index], head[index + 1] = transition.fade_out, transition.fade_in
    flashes: dict[tuple[int, int], None] = {}
    for piece_index, length in _FLASHES:
        clean = len(raw[piece_index].frames) - head[piece_index] - tail[piece_index]
        # Keep flashes FLASH_MARGIN frames inside the clean part, so no boundary is near:
        # a detector that fires on the flash must not lose a real cut to its minimum shot length.
        last = clean - FLASH_MARGIN - length
        if last < FLASH_MARGIN:
            raise AssertionError(f"piece {piece_index} is too short for a flash")
        first = head[piece_index] + int(rng.integers(FLASH_MARGIN, last + 1))
        for offset in range(length):
            flashes[(piece_index, first + offset)] = None
    pan_speed = int(rng.integers(12, 21))
    pan_direction = 1 if rng.integers(0, 2) else -1

    recipes: list[_Recipe] = []
    boundaries: list[tuple[int, str]] = []
    placed: list[Piece] = []
    for index, piece in enumerate(raw):
        count = len(piece.frames)
        clean = count - head[index] - tail[index]
        if clean < MIN_PIECE_FRAMES:
            raise AssertionError(f"piece {index} keeps only {clean} clean frames")
        start = len(recipes)
        if index:
            transition = transitions[index - 1]
            previous = len(placed) - 1
            previous_count = len(raw[previous].frames)
            if transition.kind == "cut":
                boundaries.append((len(recipes), "cut"))
            elif transition.kind == "dissolve":
                length = transition.length
                start = len(recipes)
                boundaries.append((start + length // 2, "dissolve"))
                for i in range(length):
                    recipes.append(
                        _Recipe(
                            "dissolve",
                            (previous, previous_count - length + i),
                            (index, i),
                            (i + 1) / (length + 1),
                        )
                    )
            elif transition.kind == "fade":
                out_count, in_count = transition.fade_out, transition.fade_in
                for i in range(out_count):
                    gain = (out_count - i) / (out_count + 1)
                    recipes.append(
                        _Recipe("fade", (previous, previous_count - out_count + i), weight=gain)
                    )
                recipes.extend(_Recipe("black") for _ in range(transition.black))
                start = len(recipes)
                boundaries.append((start, "fade"))
                for i in range(in_count):
                    recipes.append(_Recipe("fade", (index, i), weight=(i + 1) / (in_count + 1)))
            else:  # dip: hard cut to black and back
                recipes.extend(_Recipe("black") for _ in range(transition.black))
                start = len(recipes)
                boundaries.append((start, "fade"))
        clean_start = len(recipes)
        own_kind = {"pan": "pan", "blurred": "blurred"}.get(piece.shot, "normal")
        for position in range(head[index], count - tail[index]):
            kind = "flash" if (index, position) in flashes else own_kind
            recipes.append(_Recipe(kind, (index, position)))
        placed.append(
            Piece(piece.shot, piece.source, piece.frames, start, clean_start, len(recipes))
        )
    # The tail of each piece was rendered by the transition that follows it.

    shot_id = np.full(len(recipes), -1, np.int64)
    frame_kind = np.empty(len(recipes), dtype="<U8")
    for frame, recipe in enumerate(recipes):
        frame_kind[frame] = recipe.kind
        if recipe.kind in ("normal", "flash", "pan", "blurred"):
            assert recipe.a is not None
            shot_id[frame] = placed[recipe.a[0]].shot_id
    return _Plan(
        pieces=tuple(placed),
        recipes=tuple(recipes),
        boundaries=tuple(boundaries),
        shot_id=shot_id,
        frame_kind=frame_kind,
        pan_speed=pan_speed,
        pan_direction=pan_direction,
    )


# --- rendering ----------------------------------------------------------------


def source_paths() -> dict[str, Path]:
    """The real clips the episode is cut from."""
    paths = {
        "bikes": TEST_DATA / "bikes.mp4",
        "carphone": TEST_DATA / "carphone_pristine.mp4",
        "bunny": SAMPLE,
    }
    for path in paths.values():
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `make test-data`")
    return paths


def _decode(path: Path) -> Iterator[PILImage.Image]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_image()


def _resize(image: PILImage.Image, width: int, height: int) -> Frame:
    return np.asarray(image.resize((width, height), PILImage.Resampling.LANCZOS))


def _pan_frames(
    bunny: PILImage.Image, width: int, height: int, speed: int, direction: int
) -> list[Frame]:
    # A canvas 3 output frames wide: the window of one output frame sweeps across it.
    canvas = np.asarray(bunny.resize((3 * width, 3 * height), PILImage.Resampling.LANCZOS))
    travel = speed * (PAN_FRAMES - 1)
    if travel > 2 * width:
        raise ValueError(f"a pan of {speed} px/frame leaves the canvas")
    left0 = (2 * width - travel) // 2 if direction > 0 else (2 * width + travel) // 2
    top = height
    frames = []
    for i in range(PAN_FRAMES):
        left = left0 + direction * speed * i
        frames.append(np.ascontiguousarray(canvas[top : top + height, left : left + width]))
    return frames


def _load_sources(width: int, height: int, plan: _Plan) -> dict[str, list[Frame]]:
    paths = source_paths()
    sources: dict[str, list[Frame]] = {"bunny": [], "bunny_closeup": []}
    pan_picture = None
    for index, image in enumerate(_decode(paths["bunny"])):
        sources["bunny"].append(_resize(image, width, height))
        sources["bunny_closeup"].append(_resize(image.crop(CLOSEUP_BOX), width, height))
        if index == PAN_SOURCE_FRAME:
            pan_picture = image
    if pan_picture is None:
        raise ValueError("bigbuckbunny.mp4 is shorter than expected")
    sources["pan"] = _pan_frames(pan_picture, width, height, plan.pan_speed, plan.pan_direction)
    for name in ("bikes", "carphone"):
        sources[name] = [_resize(image, width, height) for image in _decode(paths[name])]
    return sources


def _render(plan: _Plan, sources: dict[str, list[Frame]]) -> Iterator[Frame]:
    blurred: dict[int, Frame] = {}

    def picture(where: tuple[int, int]) -> Frame:
        piece = plan.pieces[where[0]]
        source_index = piece.frames[where[1]]
        image = sources[piece.source][source_index]
        if piece.shot == "blurred":
            if source_index not in blurred:
                blur = ImageFilter.GaussianBlur(BLUR_RADIUS)
                blurred[source_index] = np.asarray(PILImage.fromarray(image).filter(blur))
            return blurred[source_index]
        return image

    height, width = sources["bikes"][0].shape[:2]
    black = np.zeros((height, width, 3), np.uint8)
    for recipe in plan.recipes:
        if recipe.kind == "black":
            yield black
        elif recipe.kind == "flash":
            assert recipe.a is not None
            values = picture(recipe.a).astype(np.float32) * FLASH_GAIN + FLASH_OFFSET
            yield np.clip(np.rint(values), 0, 255).astype(np.uint8)
        elif recipe.kind == "fade":
            assert recipe.a is not None
            values = picture(recipe.a).astype(np.float32) * recipe.weight
            yield np.clip(np.rint(values), 0, 255).astype(np.uint8)
        elif recipe.kind == "dissolve":
            assert recipe.a is not None and recipe.b is not None
            a = picture(recipe.a).astype(np.float32)
            b = picture(recipe.b).astype(np.float32)
            yield np.clip(np.rint(a + (b - a) * recipe.weight), 0, 255).astype(np.uint8)
        else:
            assert recipe.a is not None
            yield picture(recipe.a)


def _parameters_hash(width: int, height: int, seed: int) -> str:
    sources = {name: path.stat().st_size for name, path in source_paths().items()}
    description = {
        "version": LAYOUT_VERSION,
        "width": width,
        "height": height,
        "seed": seed,
        "layout": _LAYOUT,
        "flashes": _FLASHES,
        "encoder": ENCODER_OPTIONS,
        "sources": sources,
    }
    text = json.dumps(description, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def count_frames(path: Path) -> int:
    """Frames PyAV decodes from ``path``."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def build_episode(
    directory: Path, *, width: int = 480, height: int = 270, seed: int = 0
) -> Episode:
    """Build the episode in ``directory``, or reuse one built there with the same parameters."""
    if width % 2 or height % 2:
        raise ValueError("yuv420p needs an even width and height")
    plan = plan_episode(seed=seed)
    directory = Path(directory)
    digest = _parameters_hash(width, height, seed)
    path = directory / f"episode_{width}x{height}_seed{seed}_{digest}.mp4"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.part.mp4")
        try:
            written = write_video(
                partial,
                _render(plan, _load_sources(width, height, plan)),
                fps=FPS,
                options=ENCODER_OPTIONS,
            )
            decoded = count_frames(partial)
            if written.frame_count != len(plan.recipes) or decoded != len(plan.recipes):
                raise RuntimeError(
                    f"episode has {decoded} decodable frames, planned {len(plan.recipes)}"
                )
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
    return Episode(
        path=path,
        frame_count=len(plan.recipes),
        fps=float(FPS),
        width=width,
        height=height,
        boundaries=plan.boundaries,
        shot_id=plan.shot_id.copy(),
        frame_kind=plan.frame_kind.copy(),
        pieces=plan.pieces,
    )


# --- scoring ------------------------------------------------------------------


def match_pairs(
    predicted: Sequence[int], truth: Sequence[int], tolerance: int = 1
) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, closest pairs first: (truth index, predicted index) pairs.

    Each truth boundary matches at most one prediction within ``tolerance``
    frames and each prediction is used at most once (TRECVID-style). Ties in
    distance go to the earlier truth boundary, then the earlier prediction.
    """
    candidates = sorted(
        (abs(int(p) - int(t)), ti, pi)
        for ti, t in enumerate(truth)
        for pi, p in enumerate(predicted)
        if abs(int(p) - int(t)) <= tolerance
    )
    used_truth: set[int] = set()
    used_predicted: set[int] = set()
    pairs = []
    for _, ti, pi in candidates:
        if ti in used_truth or pi in used_predicted:
            continue
        used_truth.add(ti)
        used_predicted.add(pi)
        pairs.append((ti, pi))
    return sorted(pairs)


def match_boundaries(
    predicted: Sequence[int], truth: Sequence[int], tolerance: int = 1
) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of ``predicted`` against ``truth``."""
    true_positives = len(match_pairs(predicted, truth, tolerance))
    return true_positives, len(predicted) - true_positives, len(truth) - true_positives


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1; an empty denominator counts as perfect (nothing to get wrong).

    So no predictions against no truth is (1, 1, 1), and no predictions against
    some truth is (1, 0, 0).
    """
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
