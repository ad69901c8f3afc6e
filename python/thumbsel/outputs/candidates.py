"""Writing a pick: one image per candidate, ``candidates.json`` and the frame table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from thumbsel.analysis import Analysis
from thumbsel.decode import open_video
from thumbsel.errors import ThumbselError
from thumbsel.outputs.atomic import atomic_path, write_text
from thumbsel.select import Candidate

__all__ = ["save_image", "write_pick"]

JPEG_QUALITY = 92


def save_image(picture: npt.NDArray[np.uint8], target: str | os.PathLike[str]) -> None:
    """Atomically save an RGB array as JPEG (deterministic bytes for the same pixels)."""
    with atomic_path(target) as temporary:
        Image.fromarray(picture, "RGB").save(
            temporary, format="JPEG", quality=JPEG_QUALITY, optimize=True
        )


def write_pick(
    analysis: Analysis, candidates: list[Candidate], outdir: str | os.PathLike[str]
) -> Path:
    """Write the images, ``candidates.json`` and ``frames.parquet``; returns the JSON's path.

    Images are taken from the video by seeking to each candidate's frame;
    the JSON is written last, so a reader that finds it finds everything it names.
    """
    outdir = Path(outdir)
    with open_video(analysis.path) as source:
        pictures = source.read_rgb([c.frame for c in candidates], [c.time for c in candidates])
    for candidate in candidates:
        picture = pictures.get(candidate.frame)
        if picture is None:
            raise ThumbselError(f"{analysis.path}: frame {candidate.frame} could not be read back")
        name = f"candidate-{candidate.rank:02d}-frame{candidate.frame:06d}.jpg"
        save_image(picture, outdir / name)
        candidate.image = name
    analysis.to_parquet(outdir / "frames.parquet")
    document = [candidate.to_dict() for candidate in candidates]
    target = outdir / "candidates.json"
    write_text(target, json.dumps(document, indent=2) + "\n")
    return target
