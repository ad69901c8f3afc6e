"""The faces annotated by eye in ``tests/data/faces.json``, and how a detector scores on them.

See ``tests/data/README.md`` for how the boxes were made and what each field
means. A detection matches an annotated face when their boxes overlap by an
IoU of at least 0.3, or when each box holds the other's centre: a detector's
box runs from brow to chin, an annotated one from hairline to chin and ear to
ear, so the two conventions never agree exactly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TRUTH = ROOT / "tests" / "data" / "faces.json"
Frame = npt.NDArray[np.uint8]
Box = Sequence[float]

MIN_HEIGHT = 0.06
"""Faces at least this share of the frame's height count towards recall."""


def _folders() -> dict[str, Path]:
    test_data = Path(os.environ.get("THUMBSEL_TEST_DATA", ROOT / ".cache" / "test-data"))
    footage = Path(os.environ.get("THUMBSEL_FOOTAGE", ROOT.parent / "shared" / "footage"))
    return {
        "footage/": footage,
        "test-data/": test_data,
        "samples/": ROOT / "data" / "samples",
        "skimage/": test_data / "skimage",
    }


@cache
def truth() -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads(TRUTH.read_text(encoding="utf-8"))["frames"]
    return frames


def load(source: str, frame: int) -> Frame:
    """The annotated picture: a decoded frame (PyAV order, from 0) or a still, as RGB."""
    prefix, name = source.split("/", 1)
    path = _folders()[prefix + "/"] / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing (run `make test-data`)")
    if path.suffix == ".png":
        return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
    with av.open(str(path)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            if index == frame:
                return np.asarray(decoded.to_ndarray(format="rgb24"), dtype=np.uint8)
    raise ValueError(f"{source} has no frame {frame}")


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box[0] <= point[0] < box[2] and box[1] <= point[1] < box[3]


def matches(found: Box, annotated: Box) -> bool:
    width = min(found[2], annotated[2]) - max(found[0], annotated[0])
    height = min(found[3], annotated[3]) - max(found[1], annotated[1])
    if width <= 0 or height <= 0:
        return False
    inter = width * height
    area_a = (found[2] - found[0]) * (found[3] - found[1])
    area_b = (annotated[2] - annotated[0]) * (annotated[3] - annotated[1])
    centre_a = ((found[0] + found[2]) / 2, (found[1] + found[3]) / 2)
    centre_b = ((annotated[0] + annotated[2]) / 2, (annotated[1] + annotated[3]) / 2)
    return inter / (area_a + area_b - inter) >= 0.3 or (
        _inside(centre_a, annotated) and _inside(centre_b, found)
    )


@dataclass
class Pair:
    """An annotated face and the detection that matched it (None: missed)."""

    source: str
    frame: int
    annotated: dict[str, Any]
    found: Any
    height_share: float


@dataclass
class Score:
    pairs: list[Pair] = field(default_factory=list)
    false_positives: list[tuple[str, int, Any]] = field(default_factory=list)

    @property
    def true_positives(self) -> int:
        return sum(p.found is not None and p.annotated["pose"] != "back" for p in self.pairs)

    @property
    def precision(self) -> float:
        found = self.true_positives + len(self.false_positives)
        return self.true_positives / found if found else 1.0

    def recall(self, *, eyes_visible: bool) -> float:
        """Recall on faces at least MIN_HEIGHT of the frame high (not backs of heads);
        ``eyes_visible`` keeps only those whose eyes the annotator could see."""
        wanted = [
            p
            for p in self.pairs
            if p.annotated["pose"] != "back"
            and p.height_share >= MIN_HEIGHT
            and (not eyes_visible or p.annotated["eyes"] != "unknown")
        ]
        return sum(p.found is not None for p in wanted) / len(wanted) if wanted else 1.0

    def missed(self, *, eyes_visible: bool) -> list[Pair]:
        return [
            p
            for p in self.pairs
            if p.found is None
            and p.annotated["pose"] != "back"
            and p.height_share >= MIN_HEIGHT
            and (not eyes_visible or p.annotated["eyes"] != "unknown")
        ]


def score(detect: Callable[[Frame], Sequence[Any]]) -> Score:
    """Run ``detect`` (anything returning objects with a ``box``) on every annotated frame."""
    result = Score()
    for entry in truth():
        picture = load(entry["source"], entry["frame"])
        assert picture.shape[:2] == (entry["height"], entry["width"]), entry["source"]
        found = list(detect(picture))
        used: set[int] = set()
        matched: dict[int, Any] = {}
        for detection in found:
            index = next(
                (
                    i
                    for i, face in enumerate(entry["faces"])
                    if i not in used and matches(detection.box, face["box"])
                ),
                None,
            )
            if index is None or entry["faces"][index]["pose"] == "back":
                result.false_positives.append((entry["source"], entry["frame"], detection))
            if index is not None:
                used.add(index)
                matched[index] = detection
        for index, face in enumerate(entry["faces"]):
            box = face["box"]
            result.pairs.append(
                Pair(
                    entry["source"],
                    entry["frame"],
                    face,
                    matched.get(index) if face["pose"] != "back" else None,
                    (box[3] - box[1]) / entry["height"],
                )
            )
    return result
