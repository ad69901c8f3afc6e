"""The JSON documents of a pick: ``candidates.json`` and ``summary.json``.

Both are plain data built from the stages' typed results; the same results
give the same bytes (keys in a fixed order, numbers rounded to 6 decimals).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thumbsel.artwork import Artwork
from thumbsel.frames import FrameTable
from thumbsel.select import Selection
from thumbsel.shots import ShotDetection

__all__ = ["CandidateFiles", "candidate_document", "summary_document"]


@dataclass(frozen=True)
class CandidateFiles:
    """Where a candidate's files are, relative to the pick's directory."""

    image: str
    thumbnail: str
    crops: Mapping[str, str]
    """Canvas (``16:9``...) -> the crop's JPEG."""


def candidate_document(artwork: Artwork, files: CandidateFiles) -> dict[str, Any]:
    """One entry of ``candidates.json``: the candidate, its artwork, and its files."""
    candidate = artwork.candidate.to_dict()
    # The README's order: who the candidate is, its files, then the numbers.
    document = {name: candidate.pop(name) for name in ("rank", "frame", "time", "score", "shot")}
    document["image"] = files.image
    document["thumbnail"] = files.thumbnail
    document.update(candidate)
    document["tags"] = list(artwork.tags)
    height, width = artwork.picture.shape[:2]
    # Every box below is in this grid: the stored (decoded, rotated) pixels.
    document["pixels"] = {
        "width": width,
        "height": height,
        "display_width": artwork.display_size[0],
        "display_height": artwork.display_size[1],
        "content": list(artwork.content),
    }
    document["crops"] = {
        crop.canvas: {"box": list(crop.box), "path": files.crops[crop.canvas]}
        for crop in artwork.crops
    }
    if artwork.faces is not None:
        document["faces"] = [face.to_dict() for face in artwork.faces]
    return document


def summary_document(
    frames: FrameTable,
    shots: ShotDetection,
    selection: Selection,
    timings: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Title-level facts of a pick: the video, its shots, and what each filter removed.

    ``timings`` (seconds per stage) is the only part that changes from one run
    of the same pick to the next.
    """
    info = frames.video
    letterbox = frames.letterbox
    document: dict[str, Any] = {
        "video": {
            "path": frames.path,
            "width": info.width,
            "height": info.height,
            "sample_aspect": list(info.sample_aspect),
            "display_width": info.display_size[0],
            "display_height": info.display_size[1],
            "frame_rate": info.frame_rate,
            "duration": info.duration,
            "codec": info.codec,
            "title": info.title,
            "frames": len(frames),
            "sha256": frames.source.sha256 if frames.source is not None else None,
            "letterbox": {
                "top": letterbox.top,
                "bottom": letterbox.bottom,
                "left": letterbox.left,
                "right": letterbox.right,
            },
            "decode": frames.decode.summary(),
        },
        "shots": [shot.to_dict() for shot in shots.shots],
        "rejected": selection.rejected_counts(),
        "eligible_frames": int(sum(r is None for r in selection.rejected)),
        "duplicate_shots": {str(k): v for k, v in sorted(selection.duplicate_shots.items())},
        "duplicate_shot_count": len(selection.duplicate_shots),
        "candidates": len(selection.candidates),
        "shortfall": selection.shortfall,
        "people": {
            "sampled_frames": int(frames.people_sampled.sum()),
            "frames_with_faces": int(np.nan_to_num(frames.column("faces")).astype(bool).sum()),
        },
        "order": (
            "rank is the variety order (maximal marginal relevance: each next candidate "
            "trades score against similarity to those above it); score_rank is plain "
            "score order"
        ),
        "score_quantiles": _quantiles(selection.scores),
    }
    if timings is not None:
        document["timings"] = {name: round(seconds, 3) for name, seconds in timings.items()}
    return document


def _quantiles(scores: Sequence[float] | np.ndarray[Any, Any]) -> dict[str, float]:
    values = np.asarray(scores, dtype=np.float64)
    if not len(values):
        return {}
    return {q: float(np.quantile(values, float(q))) for q in ("0.1", "0.5", "0.9")}
