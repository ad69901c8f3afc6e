"""Filters, ranking and selection on an episode built from real footage."""

from __future__ import annotations

import numpy as np
import pytest
import thumbsel
from episodes import Episode
from thumbsel.select import FILTERS, QualityWeights, SelectionOptions, select


def test_top8_avoids_bad_frames_and_covers_eight_shots(
    episode: Episode, episode_analysis: thumbsel.Analysis
) -> None:
    candidates = select(episode_analysis, 8).candidates
    assert len(candidates) == 8
    kinds = [str(episode.frame_kind[c.frame]) for c in candidates]
    assert not {"black", "fade", "dissolve", "blurred"} & set(kinds), kinds
    underlying = [int(episode.shot_id[c.frame]) for c in candidates]
    assert -1 not in underlying
    assert len(set(underlying)) == 8, underlying


def test_recurring_shot_yields_one_candidate(
    episode: Episode, episode_analysis: thumbsel.Analysis
) -> None:
    selection = select(episode_analysis, 40)
    assert selection.duplicate_shots, "the recurring pieces were not recognised"
    best_of = [c for c in selection.candidates if c.reasons[0].startswith("best of")]
    underlying = [int(episode.shot_id[c.frame]) for c in best_of]
    assert len(underlying) == len(set(underlying)), underlying
    # Asking for more than there are distinct shots adds other moments, but
    # never from a shot that duplicates another.
    extra = [c for c in selection.candidates if c not in best_of]
    assert all(c.shot not in selection.duplicate_shots for c in extra)


def test_every_frame_has_a_verdict(episode: Episode, episode_analysis: thumbsel.Analysis) -> None:
    selection = select(episode_analysis, 8)
    assert len(selection.rejected) == episode_analysis.frames.num_rows
    assert set(selection.rejected) <= {None, *FILTERS}
    black = np.flatnonzero(episode.frame_kind == "black")
    assert all(selection.rejected[i] in ("transition", "dark") for i in black)
    blurred = np.flatnonzero(episode.frame_kind == "blurred")
    reasons = [selection.rejected[i] for i in blurred]
    assert reasons.count("blurry") / len(reasons) >= 0.8, reasons
    counts = selection.rejected_counts()
    assert counts["transition"] > 0 and counts["blurry"] > 0
    assert sum(counts[f] for f in FILTERS) == sum(r is not None for r in selection.rejected)


def test_candidates_explain_themselves(episode_analysis: thumbsel.Analysis) -> None:
    candidates = select(episode_analysis, 8).candidates
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
    episode_analysis: thumbsel.Analysis,
) -> None:
    first = [c.to_dict() for c in select(episode_analysis, 8).candidates]
    second = [c.to_dict() for c in select(episode_analysis, 8).candidates]
    assert first == second
    colourful = select(
        episode_analysis,
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
    with pytest.raises(ValueError, match="weights"):
        select(episode_analysis, 8, weights=QualityWeights(sharpness=-1))
    with pytest.raises(ValueError, match="k must"):
        select(episode_analysis, 0)


def test_letterbox_does_not_make_frames_dark(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import videos

    rng = np.random.default_rng(3)
    content = rng.integers(20, 55, (24, 56, 96, 3), dtype=np.uint8)
    frames = np.zeros((24, 96, 96, 3), np.uint8)
    frames[:, 20:76] = content
    written = videos.write_video(tmp_path / "letterboxed.mp4", list(frames), fps=25)
    analysis = thumbsel.analyze(written.path, progress=False)
    letterbox = analysis.letterbox
    assert abs(letterbox.top - 20) <= 2 and abs(letterbox.bottom - 20) <= 2
    whole_frame = analysis.column("brightness")
    assert np.all(whole_frame < 0.1)  # the bars drag the whole-frame mean below "dark" ...
    selection = select(analysis, 3)
    assert "dark" not in selection.rejected  # ... but the content is what is judged
