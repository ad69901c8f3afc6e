"""The artwork stage: faces, tags and crops of chosen frames, read back from the video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import thumbsel
from thumbsel import Candidate, Selection, describe_artwork


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
            shot=0,
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


def test_the_man_in_a_suit_is_found_and_kept_whole(bikes_frames: thumbsel.FrameTable) -> None:
    pytest.importorskip("cv2")
    # He faces the camera in frame 33 (checked by eye, see test_faces); frame
    # 246 is a bicycle wheel close up, nobody in it.
    person, wheel = describe_artwork(bikes_frames, selection_of(bikes_frames, 33, 246))
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
    (item,) = describe_artwork(bikes_frames, selection_of(bikes_frames, 33))
    assert item.faces is None
    assert not any(t.startswith(("faces:", "closeup", "medium", "wide")) for t in item.tags)
    assert len(item.crops) == 4  # crops fall back to the saliency centroid
    with pytest.raises(thumbsel.FacesUnavailableError, match=r"thumbsel\[faces\]"):
        describe_artwork(bikes_frames, selection_of(bikes_frames, 33), faces=True)


def test_faces_can_be_turned_off(bikes_frames: thumbsel.FrameTable) -> None:
    (item,) = describe_artwork(bikes_frames, selection_of(bikes_frames, 33), faces=False)
    assert item.faces is None


def test_a_table_built_by_hand_has_no_video_to_read() -> None:
    from tables import make_frames, table

    frames = table(make_frames(10))
    with pytest.raises(thumbsel.ThumbselError, match="does not say which video"):
        describe_artwork(frames, selection_of(frames, 3))
