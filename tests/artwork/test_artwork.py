"""The artwork stage: faces, tags and crops of chosen frames, read back from the video."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import thumbsel
import videos
from PIL import Image
from thumbsel import Candidate, Selection, describe_artwork
from thumbsel.cli import main


@pytest.fixture(scope="module")
def bikes_frames(bikes: Path) -> thumbsel.FrameTable:
    return thumbsel.analyze(bikes, progress=False).frames


def selection_of(frames: thumbsel.FrameTable, *frame_numbers: int) -> Selection:
    """A selection of the given frames, as if select() had chosen them."""
    candidates = tuple(
        Candidate(
            rank=rank,
            frame=number,
            time=float(frames.times[number]),
            score=0.5,
            shot=int(thumbsel.detect_shots(frames).shot_of_frame[number]),
            features={
                name: float(frames.values(name)[number])
                for name in ("brightness", "contrast", "mean_red", "mean_blue", "colorfulness")
            },
            signals={},
            reasons=("chosen by the test",),
            phash=thumbsel.hash_hex(frames.hashes()[number]),
        )
        for rank, number in enumerate(frame_numbers, start=1)
    )
    return Selection(
        candidates=candidates,
        scores=np.zeros(len(frames)),
        rejected=(None,) * len(frames),
        duplicate_shots={},
    )


def describe(
    frames: thumbsel.FrameTable, *frame_numbers: int, faces: bool | None = None
) -> tuple[thumbsel.Artwork, ...]:
    """The artwork stage on the given frames, as if select() had chosen them."""
    shots = thumbsel.detect_shots(frames)
    return describe_artwork(frames, shots, selection_of(frames, *frame_numbers), faces=faces)


def test_the_man_in_a_suit_is_found_and_kept_whole(bikes_frames: thumbsel.FrameTable) -> None:
    pytest.importorskip("cv2")
    # He faces the camera in frame 33 (checked by eye, see test_faces); frame
    # 246 is a bicycle wheel close up, nobody in it.
    person, wheel = describe(bikes_frames, 33, 246)
    assert person.faces is not None and len(person.faces) == 1
    face = person.faces[0]
    assert 0.01 < face.relative_size < 0.1
    assert 0.4 < face.center[0] < 0.7 and face.center[1] < 0.4
    assert person.tags[:2] == ("faces:1", "medium")
    assert [crop.canvas for crop in person.crops] == ["16:9", "2:3", "1:1", "4:5"]
    assert not face.cut and not face.face.eyes_closed
    x0, y0, x1, y1 = face.face.box
    for crop in person.crops:
        cx0, cy0, cx1, cy1 = crop.box
        assert cx0 <= x0 and cy0 <= y0 and x1 <= cx1 and y1 <= cy1  # the face is kept whole
    assert wheel.faces == () and wheel.tags[0] == "faces:0"
    assert person.picture.shape == (272, 640, 3) and not person.picture.flags.writeable
    assert person.candidate.frame == 33


def test_without_the_faces_extra_face_fields_are_absent(
    bikes_frames: thumbsel.FrameTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes `import cv2` fail, as on an install without the extra.
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)
    assert not thumbsel.artwork.faces_available()
    (item,) = describe(bikes_frames, 33)
    assert item.faces is None
    assert not any(t.startswith(("faces:", "closeup", "medium", "wide")) for t in item.tags)
    assert len(item.crops) == 4  # crops fall back to the saliency centroid
    with pytest.raises(thumbsel.FacesUnavailableError, match=r"thumbsel\[faces\]"):
        describe(bikes_frames, 33, faces=True)


def test_faces_can_be_turned_off(bikes_frames: thumbsel.FrameTable) -> None:
    (item,) = describe(bikes_frames, 33, faces=False)
    assert item.faces is None


def test_a_table_built_by_hand_has_no_video_to_read() -> None:
    from tables import make_frames, table

    frames = table(make_frames(10))
    with pytest.raises(thumbsel.ThumbselError, match="does not say which video"):
        describe(frames, 3)


def longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for value in mask:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


def test_anamorphic_pal_comes_out_in_display_proportions(tmp_path: Path) -> None:
    """A 720x576 frame with 64:45 pixels is a 16:9 picture: a circle drawn to look round
    on a display is stored 1.42x narrower, and must come out round again."""
    height, width = 576, 720
    yy, xx = np.mgrid[0:height, 0:width]
    # Round on screen: stored x distances count 64/45 times as much.
    circle = ((xx - 360) * 64 / 45) ** 2 + (yy - 288) ** 2 < 200**2
    rng = np.random.default_rng(4)
    frames = []
    for index in range(30):
        noise = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
        picture = noise + np.where(circle[..., None], 180, 30).astype(np.uint8)
        picture[:, index * 4 : index * 4 + 8] = 250  # something moves
        frames.append(picture)
    path = videos.write_video(
        tmp_path / "pal.mp4", frames, fps=25, sample_aspect=Fraction(64, 45)
    ).path
    assert thumbsel.probe(path).display_size == (1024, 576)
    outdir = tmp_path / "pick"
    assert main(["pick", str(path), "-k", "1", "-o", str(outdir), "-q", "--no-faces"]) == 0
    (document,) = json.loads((outdir / "candidates.json").read_text())
    assert document["pixels"] == {
        "width": 720,
        "height": 576,
        "display_width": 1024,
        "display_height": 576,
        "content": [0, 0, 720, 576],
    }
    with Image.open(outdir / document["image"]) as image:
        still = np.asarray(image.convert("L"))
    assert still.shape == (576, 1024)
    # Through the centre, the circle is the run of pixels brighter than the background.
    across = longest_run(still[288] > 130)
    down = longest_run(still[:, 512] > 130)
    assert across / down == pytest.approx(1.0, abs=0.05)  # round, not squashed
    for canvas, entry in document["crops"].items():
        a, b = (int(side) for side in canvas.split(":"))
        x0, y0, x1, y1 = entry["box"]
        assert (x1 - x0) * 64 / 45 / (y1 - y0) == pytest.approx(a / b, rel=1e-6), canvas
        with Image.open(outdir / entry["path"]) as shown:
            size = shown.size
        assert size[0] / size[1] == pytest.approx(a / b, abs=0.01), canvas
    assert document["crops"]["16:9"]["box"] == [0, 0, 720, 576]


def test_each_shot_crops_inside_its_own_bars(tmp_path: Path) -> None:
    """A title mixing a letterboxed (2.39:1 in 16:9) sequence with full-frame shots: the
    letterboxed shots' crops stay out of their bars, the full-frame ones use the frame."""
    height, width, bar = 360, 640, 46

    def shot(seed: int, barred: bool) -> list[np.ndarray]:
        texture = np.random.default_rng(seed).integers(0, 256, (height, width * 2, 3), np.uint8)
        pictures = []
        for index in range(40):
            picture = np.ascontiguousarray(texture[:, index * 3 : index * 3 + width])
            if barred:
                picture[:bar] = 0
                picture[-bar:] = 0
            pictures.append(picture)
        return pictures

    layout = [False, True, False, True]
    frames = [p for seed, barred in enumerate(layout) for p in shot(seed, barred)]
    path = videos.write_video(tmp_path / "mixed.mp4", frames, fps=25).path
    outdir = tmp_path / "pick"
    assert main(["pick", str(path), "-k", "4", "-o", str(outdir), "-q", "--no-faces"]) == 0
    candidates = json.loads((outdir / "candidates.json").read_text())
    assert len(candidates) == 4
    for candidate in candidates:
        barred = layout[candidate["frame"] // 40]
        top, bottom = (bar, height - bar) if barred else (0, height)
        assert candidate["pixels"]["content"][1::2] == [top, bottom], candidate["frame"]
        for entry in candidate["crops"].values():
            _, y0, _, y1 = entry["box"]
            assert top <= y0 and y1 <= bottom, (candidate["frame"], entry)
        if not barred:
            assert candidate["crops"]["2:3"]["box"][3] - candidate["crops"]["2:3"]["box"][1] == 360
