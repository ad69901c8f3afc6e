"""The cast distance, measured: how far apart dlib puts faces of one person and of two.

    .venv/bin/python benches/cast_threshold.py [--every 4]

Faces of known identity, every ``--every``-th frame of each source, embedded
the way the people stage embeds them (BlazeFace box -> dlib 5-point
alignment -> ResNet, :mod:`thumbsel.people.identity`), faces under 40 px
left out as the pipeline leaves them out:

* headpose-pair.gif: the man (right of x = 200) and the woman (left of it),
  turning and tilting their heads, annotated by eye;
* carphone_pristine.mp4: the man on the phone; the astronaut photograph;
* the cast episode (``tests/cast_episode.py``: the clips above, Chaplin,
  the astronaut on a screen, ... composed into 19 shots): every face the
  detector finds on an annotated box (overlap 0.2 or more), with its identity.

Printed: the distances between faces of one person and of two, and for each
cut-off, the pairwise precision and recall of average-linkage clustering
(:func:`thumbsel.cast.cluster`), the measure ``CastOptions.distance`` is
chosen by.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import footage, real_clip  # noqa: E402  (the tests directory is not a package)
from thumbsel.cast import cluster  # noqa: E402
from thumbsel.people import detect_faces  # noqa: E402
from thumbsel.people.faces import iou  # noqa: E402
from thumbsel.people.identity import MIN_FACE_PIXELS, identity_model  # noqa: E402

Labelled = list[tuple[str, npt.NDArray[np.float32]]]


def _frames(path: Path, every: int) -> list[npt.NDArray[np.uint8]]:
    with av.open(str(path)) as container:
        return [
            frame.to_ndarray(format="rgb24")
            for index, frame in enumerate(container.decode(video=0))
            if index % every == 0
        ]


SECONDS = {"align": 0.0, "embed": 0.0}


def _embed(
    picture: npt.NDArray[np.uint8], box: tuple[int, int, int, int]
) -> npt.NDArray[np.float32]:
    model = identity_model()
    started = time.perf_counter()
    chip = model.chip(picture, box)
    aligned = time.perf_counter()
    vector = model.embed([chip])[0]
    SECONDS["align"] += aligned - started
    SECONDS["embed"] += time.perf_counter() - aligned
    return vector


def known_faces(every: int) -> Labelled:
    faces: Labelled = []
    for picture in _frames(footage("headpose-pair.gif"), every):
        for face in detect_faces(picture):
            if face.size >= MIN_FACE_PIXELS:
                who = "headpose_man" if face.box[0] > 200 else "headpose_woman"
                faces.append((who, _embed(picture, face.box)))
    for picture in _frames(real_clip("carphone_pristine.mp4"), every * 2):
        found = detect_faces(picture)
        if found and found[0].size >= MIN_FACE_PIXELS:
            faces.append(("carphone_man", _embed(picture, found[0].box)))
    astronaut = np.asarray(Image.open(real_clip("skimage/astronaut.png")).convert("RGB"))
    faces.append(("astronaut", _embed(astronaut, detect_faces(astronaut)[0].box)))
    faces += _episode_faces(every)
    return faces


def _episode_faces(every: int) -> Labelled:
    from cast_episode import build_cast_episode

    episode = build_cast_episode(ROOT / ".cache" / "cast-episodes")
    found: Labelled = []
    with av.open(str(episode.path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every:
                continue
            shot = episode.shot_at(index)
            if not shot.appearances:
                continue
            picture = frame.to_ndarray(format="rgb24")
            for face in detect_faces(picture):
                if face.size < MIN_FACE_PIXELS:
                    continue
                overlaps = [(iou(face.box, a.box_at(index)), a.identity) for a in shot.appearances]
                overlap, who = max(overlaps)
                if overlap >= 0.2:
                    found.append((who, _embed(picture, face.box)))
    return found


def pairwise(labels: list[str], predicted: npt.NDArray[np.int64]) -> tuple[float, float]:
    same_truth = np.array([[a == b for b in labels] for a in labels])
    same_found = predicted[:, None] == predicted[None, :]
    upper = np.triu(np.ones_like(same_truth), k=1)
    tp = float((same_truth & same_found & upper).sum())
    precision = tp / max(1.0, float((same_found & upper).sum()))
    recall = tp / max(1.0, float((same_truth & upper).sum()))
    return precision, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=4)
    options = parser.parse_args()
    faces = known_faces(options.every)
    labels = [who for who, _ in faces]
    vectors = np.asarray([vector for _, vector in faces], np.float32)
    gaps = np.sqrt(((vectors[:, None] - vectors[None]) ** 2).sum(axis=2))
    upper = np.triu(np.ones(gaps.shape, bool), k=1)
    same = np.array([[a == b for b in labels] for a in labels])
    within, between = gaps[same & upper], gaps[~same & upper]
    people = sorted(set(labels))
    print(
        f"{len(faces)} faces of {len(people)} people: "
        + ", ".join(f"{p} {labels.count(p)}" for p in people)
    )
    print(
        f"one person: median {np.median(within):.3f}, 99th percentile "
        f"{np.percentile(within, 99):.3f}, max {within.max():.3f}"
    )
    print(
        f"two people: min {between.min():.3f}, 1st percentile "
        f"{np.percentile(between, 1):.3f}, median {np.median(between):.3f}"
    )
    print(
        f"per face, one thread: align {SECONDS['align'] / len(faces) * 1000:.1f} ms, "
        f"embed {SECONDS['embed'] / len(faces) * 1000:.1f} ms"
    )
    print("\n| distance | pairwise precision | pairwise recall | clusters |")
    print("|---:|---:|---:|---:|")
    for distance in np.arange(0.30, 0.81, 0.05):
        predicted = cluster(vectors, float(distance))
        precision, recall = pairwise(labels, predicted)
        print(f"| {distance:.2f} | {precision:.3f} | {recall:.3f} | {predicted.max() + 1} |")


if __name__ == "__main__":
    main()
