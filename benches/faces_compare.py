"""Face detection: thumbsel's face stack against OpenCV's Haar cascade, in one run.

    .venv/bin/python benches/faces_compare.py      # needs `make test-data` and the shared footage

Both run on the 83 annotated frames of ``tests/data/faces.json`` (precision,
recall at >= 6% of the frame height) and on the bundled 720p sample (time per
frame, where no face is found, so detection alone is timed). The peer is
what a user reaches for first: ``cv2.CascadeClassifier`` with OpenCV's
frontal-face cascade and its usual settings (scale 1.1, 5 neighbours), its
smallest face set to thumbsel's (4% of the frame's shorter side).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import annotated  # noqa: E402  (the test suite's annotation loader)
from thumbsel.people.faces import detect_faces  # noqa: E402

SAMPLE = ROOT / "data" / "samples" / "bigbuckbunny.mp4"


@dataclass(frozen=True)
class Box:
    box: tuple[int, int, int, int]


class Haar:
    def __init__(self) -> None:
        self.cascade = cv2.CascadeClassifier(
            str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
        )

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        smallest = max(1, round(0.04 * min(gray.shape)))
        found = self.cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest)
        )
        return [Box((int(x), int(y), int(x + w), int(y + h))) for x, y, w, h in found]


def per_frame_ms(detect: object, frames: list[np.ndarray]) -> float:
    detect(frames[0])  # type: ignore[operator]
    start = time.perf_counter()
    for frame in frames:
        detect(frame)  # type: ignore[operator]
    return 1000 * (time.perf_counter() - start) / len(frames)


def main() -> None:
    with av.open(str(SAMPLE)) as container:
        sample = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][::4]
    haar = Haar()
    rows = []
    for name, detect in (("OpenCV Haar (frontal, default)", haar), ("thumbsel", detect_faces)):
        score = annotated.score(detect)
        rows.append(
            (
                name,
                score.precision,
                score.recall(eyes_visible=True),
                score.recall(eyes_visible=False),
                per_frame_ms(detect, sample),
            )
        )
    print(f"annotated frames: {len(annotated.truth())}; 720p timing on {len(sample)} frames")
    print(f"{'detector':32s} {'precision':>9} {'recall*':>8} {'recall':>7} {'ms/720p':>8}")
    for name, precision, visible, every, ms in rows:
        print(f"{name:32s} {precision:9.3f} {visible:8.3f} {every:7.3f} {ms:8.1f}")
    print(f"thumbsel / Haar time per 720p frame: {rows[1][4] / rows[0][4]:.2f}x")
    print("recall*: faces whose eyes the annotator could see; recall: every face >= 6% high")


if __name__ == "__main__":
    main()
