"""Face detection (the optional ``faces`` extra) against frames checked by eye.

Two sets of truth: the 83 frames of ``tests/data/faces.json`` (boxes, pose,
eyes and smile annotated by eye; see its README and ``tests/annotated.py``),
and the frame numbers and face centres below, read off PNGs decoded with PyAV
(decoded-frame numbers, from 0) and good to a few pixels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import annotated
import av
import numpy as np
import numpy.typing as npt
import pytest
from thumbsel.errors import FacesUnavailableError, InvalidFrameError, ThumbselError
from thumbsel.people.faces import RUNTIME_ENV, Face, detect_faces, faces_available

Frame = npt.NDArray[np.uint8]

needs_cv2 = pytest.mark.skipif(not faces_available(), reason="OpenCV (thumbsel[faces]) missing")

# bikes.mp4 (640x272): a man in a suit cycles through traffic in frames 30-43.
# His face is plainly visible (frontal, then three-quarter as he turns) in the
# frames below; each maps to the centre of his face, (x, y) in pixels.
BIKES_ONE_FACE = {30: (297, 52), 33: (346, 50), 36: (406, 48), 40: (495, 50)}
# No face visible: 0 a pavement from above, 55 blurred car lights, 200 a
# walker's legs (his head is out of the picture), 246 a bicycle wheel close up.
# The frontal cascade alone fires on 55 and 246; the rest of the pipeline must not.
BIKES_NO_FACE = (0, 55, 200, 246)
# Frame 124: a cyclist in a helmet, face about 28 pixels high in three-quarter
# view, blurred, eyes not visible. One face by eye, small and half hidden: the
# detector does not find it (a strict xfail records that), and nothing else
# may be taken for a face.
BIKES_SMALL_FACE = (124, (427, 37))

# carphone_pristine.mp4 (176x144): one man talking to the camera in a car. In
# these frames he faces the camera upright (centre of his face given).
CARPHONE_ONE_FACE = {0: (89, 64), 20: (88, 61), 45: (76, 67), 70: (77, 59), 119: (76, 62)}
# Every 10th frame: one man throughout, so never more than one face. In
# frames 75-117 his head is tilted by 15-20 degrees and the upright-only
# cascades miss him, as they do in 58-62 (eyes and mouth wide open); that is a
# known limit, so these frames only bound the count.
CARPHONE_AT_MOST_ONE = tuple(range(0, 120, 10))

# bigbuckbunny.mp4 (1280x720): a cartoon rabbit, no human face anywhere. In
# frames 41 and 116 the rabbit looks straight at the camera and the frontal
# cascades do fire on its face; the skin test must reject it.
BUNNY_NO_FACE = (0, 30, 60, 90, 120, 41, 116)


def decode(path: Path, wanted: Iterable[int]) -> dict[int, Frame]:
    """The given decoded frames of a clip as RGB."""
    todo = set(wanted)
    last = max(todo)
    frames: dict[int, Frame] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in todo:
                frames[index] = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            if index >= last:
                break
    assert frames.keys() == todo, f"{path.name} is shorter than expected"
    return frames


def check_faces(found: list[Face], frame: Frame) -> None:
    """What every result must satisfy, whatever the picture."""
    height, width = frame.shape[:2]
    areas = []
    for face in found:
        x0, y0, x1, y1 = face.box
        assert all(isinstance(v, int) for v in face.box)
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, face.box
        assert 0.0 <= face.score <= 1.0
        assert 0.0 <= face.smiling <= 1.0
        areas.append((x1 - x0) * (y1 - y0))
    assert areas == sorted(areas, reverse=True), "largest face first"


def contains(face: Face, point: tuple[int, int]) -> bool:
    x0, y0, x1, y1 = face.box
    return x0 <= point[0] < x1 and y0 <= point[1] < y1


@pytest.fixture(scope="module")
def bikes_frames(bikes: Path) -> dict[int, Frame]:
    return decode(bikes, [*BIKES_ONE_FACE, *BIKES_NO_FACE, BIKES_SMALL_FACE[0]])


@pytest.fixture(scope="module")
def carphone_frames(carphone: Path) -> dict[int, Frame]:
    return decode(carphone, [*CARPHONE_ONE_FACE, *CARPHONE_AT_MOST_ONE])


@pytest.fixture(scope="module")
def found(
    bikes_frames: dict[int, Frame], carphone_frames: dict[int, Frame]
) -> dict[tuple[str, int], list[Face]]:
    """Detections on every real frame used here, computed once."""
    if not faces_available():
        pytest.skip("OpenCV (thumbsel[faces]) missing")
    result = {}
    for clip, frames in (("bikes", bikes_frames), ("carphone", carphone_frames)):
        for index, frame in frames.items():
            result[clip, index] = detect_faces(frame)
            check_faces(result[clip, index], frame)
    return result


@needs_cv2
@pytest.mark.parametrize("index", sorted(BIKES_ONE_FACE))
def test_bikes_face_is_found(found: dict[tuple[str, int], list[Face]], index: int) -> None:
    faces_found = found["bikes", index]
    assert len(faces_found) == 1, faces_found
    assert contains(faces_found[0], BIKES_ONE_FACE[index]), faces_found


@needs_cv2
@pytest.mark.parametrize("index", BIKES_NO_FACE)
def test_bikes_frames_without_faces(found: dict[tuple[str, int], list[Face]], index: int) -> None:
    assert found["bikes", index] == []


@needs_cv2
def test_nothing_but_the_cyclist_is_taken_for_a_face(
    found: dict[tuple[str, int], list[Face]],
) -> None:
    # Traffic, a shop sign and a parked scooter fill the rest of frame 124.
    index, centre = BIKES_SMALL_FACE
    assert not [face for face in found["bikes", index] if not contains(face, centre)]


@needs_cv2
@pytest.mark.xfail(
    strict=True,
    reason="a blurred 28-pixel three-quarter face under a helmet, eyes not visible",
)
def test_the_cyclists_small_face_is_found(found: dict[tuple[str, int], list[Face]]) -> None:
    index, centre = BIKES_SMALL_FACE
    faces_found = found["bikes", index]
    assert len(faces_found) == 1 and contains(faces_found[0], centre), faces_found


@needs_cv2
@pytest.mark.parametrize("index", sorted(CARPHONE_ONE_FACE))
def test_carphone_face_is_found(found: dict[tuple[str, int], list[Face]], index: int) -> None:
    faces_found = found["carphone", index]
    assert len(faces_found) == 1, faces_found
    assert contains(faces_found[0], CARPHONE_ONE_FACE[index]), faces_found


@needs_cv2
def test_carphone_never_more_than_one_face(found: dict[tuple[str, int], list[Face]]) -> None:
    counts = {index: len(found["carphone", index]) for index in CARPHONE_AT_MOST_ONE}
    assert max(counts.values()) <= 1, counts
    # Upright frames are most of these; losing them all would be a regression.
    assert sum(counts.values()) >= 7, counts


@needs_cv2
def test_nobody_in_the_clips_smiles(found: dict[tuple[str, int], list[Face]]) -> None:
    # Checked by eye: the cyclist is serious, the man in the car talks and
    # pulls faces with his mouth open but never smiles.
    smiles = {key: face.smiling for key, faces_found in found.items() for face in faces_found}
    assert smiles, "no face found at all"
    assert max(smiles.values()) < 0.5, smiles


@needs_cv2
def test_clear_faces_score_higher_than_turned_ones(
    found: dict[tuple[str, int], list[Face]],
) -> None:
    # Frame 30: frontal, all cascades agree. Frame 40: turned away, only the
    # profile cascade (and a little of the frontal one) sees him.
    assert found["bikes", 30][0].score > found["bikes", 40][0].score > 0.0


@needs_cv2
def test_cartoon_rabbit_is_not_a_human_face(bunny: Path) -> None:
    for index, frame in decode(bunny, BUNNY_NO_FACE).items():
        assert detect_faces(frame) == [], index


@needs_cv2
def test_deterministic(bikes_frames: dict[int, Frame]) -> None:
    import cv2

    frame = bikes_frames[30]
    first = detect_faces(frame)
    assert first
    # A non-contiguous view of the same pixels, and a single OpenCV thread
    # (which reports windows in another order), give the same answer.
    wide = np.zeros((frame.shape[0], frame.shape[1] * 2, 3), np.uint8)
    wide[:, ::2] = frame
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        again = detect_faces(wide[:, ::2])
    finally:
        cv2.setNumThreads(threads)
    assert again == first
    assert detect_faces(frame.copy()) == first


@needs_cv2
def test_largest_face_first(carphone_frames: dict[int, Frame]) -> None:
    # The same man twice, at two sizes, side by side.
    small = carphone_frames[0]
    large = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    canvas = np.zeros((large.shape[0], small.shape[1] + large.shape[1], 3), np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    canvas[:, small.shape[1] :] = large
    faces_found = detect_faces(canvas)
    check_faces(faces_found, canvas)
    assert len(faces_found) == 2, faces_found
    assert faces_found[0].box[0] >= small.shape[1], "the large face is on the right"
    assert faces_found[1].box[2] <= small.shape[1], "the small face is on the left"


@needs_cv2
def test_black_and_white_frames_skip_the_skin_test(carphone_frames: dict[int, Frame]) -> None:
    frame = carphone_frames[0]
    gray = np.repeat(frame.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    faces_found = detect_faces(gray)
    assert len(faces_found) == 1
    assert contains(faces_found[0], CARPHONE_ONE_FACE[0])


@needs_cv2
@pytest.mark.parametrize("shape", [(1, 1, 3), (10, 7, 3), (19, 300, 3)])
def test_tiny_frames_have_no_faces(shape: tuple[int, int, int]) -> None:
    assert detect_faces(np.full(shape, 128, np.uint8)) == []


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((48, 64), np.uint8),
        np.zeros((48, 64, 4), np.uint8),
        np.zeros((2, 48, 64, 3), np.uint8),
        np.zeros((48, 64, 3), np.float32),
        np.zeros((48, 64, 3), np.uint16),
        np.zeros((0, 64, 3), np.uint8),
    ],
    ids=["gray", "rgba", "batch", "float", "uint16", "empty"],
)
def test_invalid_frames_are_rejected(frame: npt.NDArray[Any]) -> None:
    with pytest.raises(InvalidFrameError):
        detect_faces(frame)


def test_face_to_dict_is_plain_json(carphone_frames: dict[int, Frame]) -> None:
    pytest.importorskip("cv2")
    (face,) = detect_faces(carphone_frames[0])
    document = json.loads(json.dumps(face.to_dict()))
    assert document["box"] == list(face.box)
    assert set(document) == {
        "box",
        "score",
        "eyes",
        "eyes_closed",
        "mouth",
        "smiling",
        "yaw",
        "pose",
        "sharpness",
        "cut",
        "keypoints",
    }
    assert len(document["keypoints"]) == 6


def test_unavailable_without_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import cv2` raise ImportError: the real loader.
    monkeypatch.setitem(sys.modules, "cv2", None)
    assert not faces_available()
    with pytest.raises(FacesUnavailableError) as caught:
        detect_faces(np.zeros((48, 64, 3), np.uint8))
    message = str(caught.value)
    assert "pip install 'thumbsel[faces]'" in message
    assert "\n" not in message
    assert isinstance(caught.value, ThumbselError)


def test_invalid_frame_is_reported_before_missing_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(InvalidFrameError):
        detect_faces(np.zeros((48, 64), np.uint8))


def test_thumbsel_imports_without_opencv() -> None:
    # A fresh interpreter in which `import cv2` fails: the package and this
    # module still import, and only face detection says it is unavailable.
    code = (
        "import sys; sys.modules['cv2'] = None\n"
        "import thumbsel, thumbsel.people.faces as f\n"
        "assert not f.faces_available()\n"
        "print(thumbsel.__version__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- the annotated frames ---------------------------------------------------------


@pytest.fixture(scope="module")
def score() -> annotated.Score:
    if not faces_available():
        pytest.skip("OpenCV (thumbsel[faces]) missing")
    return annotated.score(detect_faces)


def describe(pairs: list[annotated.Pair]) -> list[str]:
    return [f"{p.source}#{p.frame} {p.annotated['box']} {p.annotated['pose']}" for p in pairs]


def test_precision_on_the_annotated_frames(score: annotated.Score) -> None:
    # Nothing but a face is a face: no cup, jar, poster, cartoon rabbit or cat.
    assert score.precision >= 0.95, score.false_positives


def test_recall_of_faces_whose_eyes_show(score: annotated.Score) -> None:
    # Faces at least 6% of the frame high whose eyes the annotator could see:
    # the faces artwork is made of.
    assert score.recall(eyes_visible=True) >= 0.9, describe(score.missed(eyes_visible=True))


def test_recall_of_every_face(score: annotated.Score) -> None:
    # Counting also faces seen from behind and the side, under hats in a 1910s
    # film and blurred under a helmet: 0.69 when this was written (54 of 78).
    # Not yet the 0.9 wanted; this bound keeps it from getting worse.
    assert score.recall(eyes_visible=False) >= 0.65, describe(score.missed(eyes_visible=False))


def test_no_face_in_a_cartoon_a_cat_or_a_cup() -> None:
    pytest.importorskip("cv2")
    empty = [
        entry
        for entry in annotated.truth()
        if entry["source"].startswith(("samples/bigbuckbunny", "skimage/chelsea", "skimage/coffee"))
    ]
    assert len(empty) == 10
    for entry in empty:
        found = detect_faces(annotated.load(entry["source"], entry["frame"]))
        assert found == [], (entry["source"], entry["frame"], found)


def test_pose_agrees_with_the_annotation(score: annotated.Score) -> None:
    judged = [p for p in score.pairs if p.found is not None]
    agree = sum(p.found.pose == p.annotated["pose"] for p in judged)
    assert agree / len(judged) >= 0.9, [
        (p.source, p.frame, p.annotated["pose"], p.found.pose, round(p.found.yaw)) for p in judged
    ]


def test_open_eyes_are_never_called_closed(score: annotated.Score) -> None:
    open_eyes = [p for p in score.pairs if p.found is not None and p.annotated["eyes"] == "open"]
    assert len(open_eyes) >= 30
    assert not [p for p in open_eyes if p.found.eyes_closed], describe(open_eyes)


@pytest.mark.xfail(
    strict=True,
    reason="lids half down in a blink (EAR 0.28 against the face's own 0.34) and lids "
    "lowered while looking down, in a 480x270 GIF: an absolute EAR threshold cannot tell; "
    "the blink shows against the same face elsewhere in its shot",
)
def test_closed_eyes_are_found(score: annotated.Score) -> None:
    closed = [p for p in score.pairs if p.found is not None and p.annotated["eyes"] == "closed"]
    assert len(closed) >= 10
    assert sum(p.found.eyes_closed for p in closed) / len(closed) >= 0.8


def test_the_smiling_astronaut_and_nobody_else_smiles(score: annotated.Score) -> None:
    judged = [p for p in score.pairs if p.found is not None and p.annotated["smiling"] is not None]
    smiling = [p for p in judged if p.annotated["smiling"]]
    assert [p.source for p in smiling] == ["skimage/astronaut.png"]
    assert all(p.found.smiling >= 0.5 for p in smiling)
    assert not [p for p in judged if not p.annotated["smiling"] and p.found.smiling >= 0.5]


def test_the_shipped_models_are_the_ones_the_notice_names() -> None:
    import hashlib
    import re

    from thumbsel.people.faces import MODELS

    notice = (MODELS / "NOTICE").read_text(encoding="utf-8")
    named = dict(re.findall(r"(\S+\.tflite).*\n\s+sha256 ([0-9a-f]{64})", notice))
    shipped = {path.name for path in MODELS.glob("*.tflite")}
    assert set(named) == shipped and len(shipped) == 4
    for name, digest in named.items():
        assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (MODELS / "LICENSE").read_text(encoding="utf-8")


def test_both_runtimes_find_the_same_faces(monkeypatch: pytest.MonkeyPatch) -> None:
    """LiteRT (the default where it is installed) and OpenCV's DNN module run the same
    models: the same faces, boxes within a pixel, the same judgements."""
    pytest.importorskip("ai_edge_litert")
    pictures = [annotated.load(entry["source"], entry["frame"]) for entry in annotated.truth()[::6]]
    found = {}
    for runtime in ("litert", "opencv"):
        monkeypatch.setenv(RUNTIME_ENV, runtime)
        found[runtime] = [detect_faces(picture) for picture in pictures]
    assert sum(map(len, found["litert"])) >= 5
    for ours, theirs in zip(found["litert"], found["opencv"], strict=True):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert max(abs(p - q) for p, q in zip(a.box, b.box, strict=True)) <= 1
            assert (a.eyes_closed, a.pose, a.cut) == (b.eyes_closed, b.pose, b.cut)
            assert a.eyes == pytest.approx(b.eyes, abs=0.01)


def test_an_unknown_runtime_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUNTIME_ENV, "tensorflow")
    with pytest.raises(FacesUnavailableError, match="must be litert or opencv"):
        detect_faces(np.zeros((64, 64, 3), np.uint8))
