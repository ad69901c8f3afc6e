"""Characters across a title: clustering, prominence, naming, and what a pick writes.

The two people of headpose-pair.gif (the man on the right of the frame, the
woman on the left, annotated by eye) are the real material here; the
composed cast episode (``tests/cast_episode.py``) is tested in
``test_cast_episode_characters.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import thumbsel
import videos
from conftest import footage, real_clip
from PIL import Image
from thumbsel.cast import Cast, CastOptions, cluster, find_cast
from thumbsel.cli import main

PAIR = "headpose-pair.gif"
MAN_RIGHT_OF = 200
"""In headpose-pair.gif the man's face is right of this x, the woman's left of it."""


def test_clusters_follow_the_distance() -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(3, 128)).astype(np.float32)
    centres *= 1.0 / np.linalg.norm(centres, axis=1, keepdims=True)
    points = np.concatenate([c + rng.normal(scale=0.01, size=(5, 128)) for c in centres])
    labels = cluster(points.astype(np.float32), 0.5)
    assert labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    # Everything is one person at a distance larger than any gap, each its own at 0.
    assert set(cluster(points.astype(np.float32), 10.0).tolist()) == {0}
    assert len(set(cluster(points.astype(np.float32), 1e-9).tolist())) == 15
    assert cluster(np.zeros((0, 128), np.float32), 0.5).tolist() == []


def test_cast_options_are_bounded() -> None:
    for bad in ({"distance": float("nan")}, {"distance": 5.0}, {"min_shots": 0}):
        with pytest.raises(ValueError):
            CastOptions(**bad)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pair_cast() -> tuple[thumbsel.FrameTable, Cast]:
    analysis = thumbsel.analyze(footage(PAIR), progress=False)
    assert analysis.sightings is not None
    shots = thumbsel.detect_shots(analysis.frames)
    return analysis.frames, find_cast(analysis.frames, shots, analysis.sightings)


def test_the_two_people_are_two_characters(pair_cast: tuple[thumbsel.FrameTable, Cast]) -> None:
    _, cast = pair_cast
    assert len(cast.characters) == 2
    side = {c.label: c.best_box[0] > MAN_RIGHT_OF for c in cast.characters}
    assert sorted(side.values()) == [False, True]
    # Every face sighted on the man's side is the man's character, and the same
    # for the woman: no sighting is given to the other person.
    x0 = cast.sightings.column("x0").to_numpy()
    for label, right in side.items():
        mine = np.array([c == label for c in cast.character_of_sighting])
        assert mine.any()
        assert np.all((x0[mine] > MAN_RIGHT_OF) == right)
    # Both are on screen the whole clip; the man faces the camera, the woman is
    # turned by about 35 degrees: his close-ups make him the lead.
    lead = cast.lead
    assert lead is not None and side[lead.label]
    assert all(c.seconds == pytest.approx(4.5, abs=0.3) for c in cast.characters)


def _pair_frames() -> list[np.ndarray]:
    with av.open(str(footage(PAIR))) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _gallery(directory: Path) -> Path:
    """One folder per person, two photos each, cut from moments of the clip."""
    pictures = _pair_frames()
    for name, columns in (("woman", slice(0, 220)), ("man", slice(240, 480))):
        (directory / name).mkdir(parents=True)
        for index in (10, 50):
            Image.fromarray(pictures[index][:, columns]).save(directory / name / f"{index}.jpg")
    return directory


def _pick(arguments: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["pick", *arguments])
    return code, err.getvalue()


def test_a_pick_names_its_characters_and_tags_its_candidates(tmp_path: Path) -> None:
    out = tmp_path / "picks"
    code, err = _pick(
        [str(footage(PAIR)), "-k", "2", "-o", str(out), "--cast", str(_gallery(tmp_path / "g"))]
    )
    assert code == 0, err
    document = json.loads((out / "characters.json").read_text())
    names = {c["name"]: c for c in document["characters"]}
    assert set(names) == {"man", "woman"}
    assert names["man"]["best_face"]["box"][0] > MAN_RIGHT_OF
    assert names["woman"]["best_face"]["box"][0] < MAN_RIGHT_OF
    for entry in document["characters"]:
        assert len(entry["embedding"]) == 128
        with Image.open(out / entry["portrait"]) as portrait:
            assert min(portrait.size) >= 60
        # The gallery: the best face of each shot, the portrait first.
        assert entry["gallery"][0]["image"] == entry["portrait"]
        assert len(entry["gallery"]) == len(entry["shots"])
        assert all((out / face["image"]).is_file() for face in entry["gallery"])
    candidates = json.loads((out / "candidates.json").read_text())
    for candidate in candidates:
        for face in candidate["faces"]:
            expected = "man" if face["box"][0] > MAN_RIGHT_OF else "woman"
            assert face["character"] == expected
            assert f"character:{expected}" in candidate["tags"]
        assert "lead" in candidate["tags"]
    # faces.parquet keeps every sighting with its character.
    faces = pq.read_table(out / "faces.parquet")
    assert set(faces.column("character").to_pylist()) == {"man", "woman"}
    assert '<section id="cast"' in (out / "report.html").read_text()


def test_one_characters_picks(tmp_path: Path) -> None:
    out = tmp_path / "picks"
    code, err = _pick([str(footage(PAIR)), "-k", "2", "-o", str(out), "--character", "c2"])
    assert code == 0, err
    characters = json.loads((out / "characters.json").read_text())["characters"]
    second = next(c for c in characters if c["id"] == "c2")
    candidates = json.loads((out / "candidates.json").read_text())
    assert candidates
    for candidate in candidates:
        assert candidate["faces"][0]["character"] == "c2"
        assert (candidate["faces"][0]["box"][0] > MAN_RIGHT_OF) == (
            second["best_face"]["box"][0] > MAN_RIGHT_OF
        )
    code, err = _pick([str(footage(PAIR)), "-o", str(tmp_path / "x"), "--character", "c9"])
    assert code == 1 and err.count("\n") == 1 and "no character 'c9'" in err


def test_a_series_keeps_its_ids(tmp_path: Path) -> None:
    """Episode 2 (the clip mirrored and played backwards) has the same people:
    they keep episode 1's ids, wherever they stand and however prominent."""
    first = tmp_path / "e01"
    assert _pick([str(footage(PAIR)), "-k", "2", "-o", str(first)])[0] == 0
    mirrored = [np.ascontiguousarray(p[:, ::-1]) for p in reversed(_pair_frames())]
    second_video = videos.write_video(tmp_path / "e02.mp4", mirrored, fps=12).path
    second = tmp_path / "e02"
    code, err = _pick(
        [
            str(second_video),
            "-k",
            "2",
            "-o",
            str(second),
            "--series-cast",
            str(first / "characters.json"),
        ]
    )
    assert code == 0, err
    before = json.loads((first / "characters.json").read_text())["characters"]
    after = json.loads((second / "characters.json").read_text())["characters"]
    width = mirrored[0].shape[1]
    side_before = {c["id"]: c["best_face"]["box"][0] > MAN_RIGHT_OF for c in before}
    # Mirrored: the man is now on the left.
    side_after = {c["id"]: c["best_face"]["box"][2] < width - MAN_RIGHT_OF for c in after}
    assert side_after == side_before


def test_no_embeddings_leaves_the_biometrics_out(tmp_path: Path) -> None:
    out = tmp_path / "picks"
    assert _pick([str(footage(PAIR)), "-k", "2", "-o", str(out), "--no-embeddings"])[0] == 0
    document = json.loads((out / "characters.json").read_text())
    assert document["embeddings"] is False and len(document["characters"]) == 2
    assert all("embedding" not in c for c in document["characters"])
    assert "embedding" not in pq.read_table(out / "faces.parquet").column_names
    # That characters.json cannot carry ids to another episode: one clear line.
    code, err = _pick(
        [
            str(footage(PAIR)),
            "-o",
            str(tmp_path / "x"),
            "--series-cast",
            str(out / "characters.json"),
        ]
    )
    assert code == 1 and err.count("\n") == 1 and "--no-embeddings" in err


def test_a_bad_gallery_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "faceless" / "cat").mkdir(parents=True)
    with Image.open(real_clip("skimage/chelsea.png")) as cat:
        cat.convert("RGB").save(tmp_path / "faceless" / "cat" / "1.jpg")
    for gallery, message in ((empty, "no person folders"), (tmp_path / "faceless", "no face")):
        code, err = _pick([str(footage(PAIR)), "-o", str(tmp_path / "x"), "--cast", str(gallery)])
        assert code == 1 and err.count("\n") == 1 and message in err, err


def test_a_series_cast_cannot_name_files(tmp_path: Path) -> None:
    """Ids become file names (characters/c1.jpg): a crafted one is refused."""
    crafted = tmp_path / "characters.json"
    entry = {"id": "../../escape", "name": None, "embedding": [0.0] * 128}
    crafted.write_text(json.dumps({"characters": [entry]}))
    code, err = _pick(
        [str(footage(PAIR)), "-o", str(tmp_path / "x"), "--series-cast", str(crafted)]
    )
    assert code == 1 and err.count("\n") == 1 and "character id" in err
    assert not (tmp_path / "escape.jpg").exists()


def test_the_cast_is_found_again_from_a_picks_tables(tmp_path: Path) -> None:
    """`pick --frames` reads faces.parquet beside frames.parquet: the same cast,
    byte for byte, without decoding; and a second full run gives the same too."""
    first, again, reused = tmp_path / "first", tmp_path / "again", tmp_path / "reused"
    assert _pick([str(footage(PAIR)), "-k", "2", "-o", str(first)])[0] == 0
    assert _pick([str(footage(PAIR)), "-k", "2", "-o", str(again)])[0] == 0
    code, err = _pick(
        [
            str(footage(PAIR)),
            "-k",
            "2",
            "-o",
            str(reused),
            "--frames",
            str(first / "frames.parquet"),
        ]
    )
    assert code == 0, err
    expected = (first / "characters.json").read_bytes()
    assert (again / "characters.json").read_bytes() == expected
    assert (reused / "characters.json").read_bytes() == expected
    assert (reused / "candidates.json").read_bytes() == (first / "candidates.json").read_bytes()


def test_analyze_keeps_the_faces_for_a_later_pick(tmp_path: Path) -> None:
    """`analyze -o t.parquet` writes t.faces.parquet beside it, so a pick from the
    table finds the same cast as a pick from the video."""
    table = tmp_path / "t.parquet"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["analyze", str(footage(PAIR)), "-o", str(table)]) == 0
    assert (tmp_path / "t.faces.parquet").is_file()
    direct, reused = tmp_path / "direct", tmp_path / "reused"
    assert _pick([str(footage(PAIR)), "-k", "2", "-o", str(direct)])[0] == 0
    code, err = _pick([str(footage(PAIR)), "-k", "2", "-o", str(reused), "--frames", str(table)])
    assert code == 0, err
    assert (reused / "characters.json").read_bytes() == (direct / "characters.json").read_bytes()
    # Without embeddings the faces file says who was seen, not who they are.
    bare = tmp_path / "bare.parquet"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["analyze", str(footage(PAIR)), "-o", str(bare), "--no-embeddings"]) == 0
    assert "embedding" not in pq.read_table(tmp_path / "bare.faces.parquet").column_names
