"""Filters, ranking and selection on an episode built from real footage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import thumbsel
import videos
from episodes import Episode
from tables import make_frames, table, with_shots
from thumbsel import FrameTable, QualityWeights, SelectionOptions, ShotDetection, select
from thumbsel.select import FILTERS, rejection_reasons


def test_top8_avoids_bad_frames_and_covers_eight_shots(
    episode: Episode, episode_frames: FrameTable, episode_shots: ShotDetection
) -> None:
    candidates = select(episode_frames, episode_shots, 8).candidates
    assert len(candidates) == 8
    kinds = [str(episode.frame_kind[c.frame]) for c in candidates]
    assert not {"black", "fade", "dissolve", "blurred"} & set(kinds), kinds
    underlying = [int(episode.shot_id[c.frame]) for c in candidates]
    assert -1 not in underlying
    assert len(set(underlying)) == 8, underlying


def test_recurring_shot_yields_one_candidate(
    episode: Episode, episode_frames: FrameTable, episode_shots: ShotDetection
) -> None:
    selection = select(episode_frames, episode_shots, 40)
    assert selection.duplicate_shots, "the recurring pieces were not recognised"
    best_of = [c for c in selection.candidates if c.reasons[0].startswith("best of")]
    underlying = [int(episode.shot_id[c.frame]) for c in best_of]
    assert len(underlying) == len(set(underlying)), underlying
    # Asking for more than there are distinct shots adds other moments, but
    # never from a shot that duplicates another.
    extra = [c for c in selection.candidates if c not in best_of]
    assert extra, "40 is more than the distinct shots: other moments must fill up"
    assert all(c.shot not in selection.duplicate_shots for c in extra)


def test_every_frame_has_a_verdict(
    episode: Episode, episode_frames: FrameTable, episode_shots: ShotDetection
) -> None:
    selection = select(episode_frames, episode_shots, 8)
    assert len(selection.rejected) == len(episode_frames)
    assert set(selection.rejected) <= {None, *FILTERS}
    black = np.flatnonzero(episode.frame_kind == "black")
    assert all(selection.rejected[i] in ("transition", "dark") for i in black)
    blurred = np.flatnonzero(episode.frame_kind == "blurred")
    reasons = [selection.rejected[i] for i in blurred]
    assert reasons.count("blurry") / len(reasons) >= 0.8, reasons
    counts = selection.rejected_counts()
    assert counts["transition"] > 0 and counts["blurry"] > 0
    assert sum(counts[f] for f in FILTERS) == sum(r is not None for r in selection.rejected)


def test_candidates_explain_themselves(
    episode_frames: FrameTable, episode_shots: ShotDetection
) -> None:
    candidates = select(episode_frames, episode_shots, 8).candidates
    for c in candidates:
        document = c.to_dict()
        assert document["shot"] is not None
        assert set(document["signals"]) == {
            "sharpness",
            "exposure",
            "contrast",
            "colorfulness",
            "stillness",
            "thirds",
            "depth_of_field",
        }
        assert all(0.0 <= v <= 1.0 for v in document["signals"].values())
        assert {"brightness", "sharpness", "colorfulness"} <= set(document["features"])
        assert document["reasons"] and document["reasons"][0].startswith(
            ("best of shot", "another")
        )
    assert [c.rank for c in candidates] == list(range(1, len(candidates) + 1))


def test_selection_is_deterministic_and_weights_matter(
    episode_frames: FrameTable,
    episode_shots: ShotDetection,
) -> None:
    first = [c.to_dict() for c in select(episode_frames, episode_shots, 8).candidates]
    second = [c.to_dict() for c in select(episode_frames, episode_shots, 8).candidates]
    assert first == second
    colourful = select(
        episode_frames,
        episode_shots,
        8,
        weights=QualityWeights(
            sharpness=0,
            exposure=0,
            contrast=0,
            colorfulness=1,
            stillness=0,
            thirds=0,
            depth_of_field=0,
        ),
        options=SelectionOptions(diversity=0.0),
    ).candidates
    values = [c.features["colorfulness"] for c in colourful]
    assert values == sorted(values, reverse=True)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="weights must be finite"):
            select(episode_frames, episode_shots, 8, weights=QualityWeights(sharpness=bad))
    for k in (0, 1001):
        with pytest.raises(ValueError, match="k must be within"):
            select(episode_frames, episode_shots, k)


def test_letterbox_does_not_make_frames_dark(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    content = rng.integers(20, 55, (24, 56, 96, 3), dtype=np.uint8)
    frames = np.zeros((24, 96, 96, 3), np.uint8)
    frames[:, 20:76] = content
    written = videos.write_video(tmp_path / "letterboxed.mp4", list(frames), fps=25)
    frames = thumbsel.analyze(written.path, progress=False).frames
    letterbox = frames.letterbox
    assert abs(letterbox.top - 20) <= 2 and abs(letterbox.bottom - 20) <= 2
    whole_frame = frames.column("brightness")
    assert np.all(whole_frame < 0.1)  # the bars drag the whole-frame mean below "dark" ...
    selection = select(frames, thumbsel.detect_shots(frames), 3)
    assert "dark" not in selection.rejected  # ... but the content is what is judged


# ---------------------------------------------------------------- hand-built tables


def test_each_shot_offers_its_sharpest_usable_frame() -> None:
    data = make_frames(90)
    with_shots(data, [30, 60])
    data["sharpness"][[12, 44, 71]] = 900.0
    frames = table(data)
    selection = select(frames, thumbsel.detect_shots(frames), 3)
    assert sorted(c.frame for c in selection.candidates) == [12, 44, 71]
    assert all(c.reasons[0].startswith("best of shot") for c in selection.candidates)


def test_filters_name_the_frames_they_reject() -> None:
    data = make_frames(60)
    data["brightness"][10:14] = 0.03  # dark
    data["bright_fraction"][20:22] = 0.9  # blown out
    data["entropy"][30] = 1.0  # a title card
    data["sharpness"][40:43] = 10.0  # far below the title's median
    data["motion"][50] = 0.5  # a whip
    frames = table(data)
    rejected = select(frames, thumbsel.detect_shots(frames), 1).rejected
    assert [i for i, r in enumerate(rejected) if r == "dark"] == [10, 11, 12, 13]
    assert [i for i, r in enumerate(rejected) if r == "blown-out"] == [20, 21]
    assert [i for i, r in enumerate(rejected) if r == "low-information"] == [30]
    assert [i for i, r in enumerate(rejected) if r == "blurry"] == [40, 41, 42]
    assert [i for i, r in enumerate(rejected) if r == "motion"] == [50]
    assert sum(r is None for r in rejected) == 60 - 11


def test_a_recurring_shot_is_offered_once() -> None:
    data = make_frames(120)
    with_shots(data, [30, 60, 90])
    # The fourth shot returns to the first set-up (same picture, same colours).
    data["phash"][90:] = data["phash"][0]
    data["histogram"][90:] = data["histogram"][0]
    data["sharpness"][100] = 900.0  # and its best frame beats the first shot's
    frames = table(data)
    selection = select(frames, thumbsel.detect_shots(frames), 8)
    assert selection.duplicate_shots == {0: 3}
    assert 3 in {c.shot for c in selection.candidates}
    assert 0 not in {c.shot for c in selection.candidates}


# ---------------------------------------------------------------- real clips


def hamming(a: int, b: int) -> int:
    return (int(a) ^ int(b)).bit_count()


def test_select_on_bikes(bikes: Path) -> None:
    frames = thumbsel.analyze(bikes, progress=False).frames
    shots = thumbsel.detect_shots(frames)
    candidates = select(frames, shots, 5).candidates
    assert 1 <= len(candidates) <= 5
    assert [c.rank for c in candidates] == list(range(1, len(candidates) + 1))
    scores = [c.score for c in candidates]
    # Later ranks trade score for variety (MMR), but the first is the best.
    assert scores[0] == max(scores)

    numbers = frames.frame_numbers
    times = frames.times
    phash = frames.hashes("phash")
    reasons = rejection_reasons(frames, shots)
    assert len({c.frame for c in candidates}) == len(candidates)
    for candidate in candidates:
        row = int(np.flatnonzero(numbers == candidate.frame)[0])
        assert reasons[row] is None, (candidate.frame, reasons[row])
        assert candidate.time == times[row]
        assert candidate.phash == thumbsel.hash_hex(phash[row])
    # bikes has six shots; five candidates come from five of them.
    assert len({c.shot for c in candidates}) == len(candidates)
    for i, a in enumerate(candidates):
        for b in candidates[i + 1 :]:
            distance = hamming(int(a.phash, 16), int(b.phash, 16))
            assert distance > SelectionOptions().duplicate_hash_bits, (a.frame, b.frame)

    again = select(frames, shots, 5).candidates
    assert again == candidates


def test_never_offers_black_frames(tmp_path: Path) -> None:
    # A still picture can give only one candidate; asking for more must not
    # fill the list with the black frames, which look nothing like it.
    black_frames = 20
    still = next(videos.moving_pattern_frames(1, seed=6))
    frames = [*videos.solid_color_frames((0, 0, 0), black_frames), *[still] * 20]
    written = videos.write_video(tmp_path / "black-then-picture.mp4", frames, fps=10)
    frames = thumbsel.analyze(written.path, progress=False).frames
    shots = thumbsel.detect_shots(frames)

    reasons = rejection_reasons(frames, shots)
    assert all(reason is not None for reason in reasons[:black_frames])
    candidates = select(frames, shots, 5).candidates
    assert candidates, "the textured segment offers at least one frame"
    assert all(c.frame >= black_frames for c in candidates), [c.frame for c in candidates]
