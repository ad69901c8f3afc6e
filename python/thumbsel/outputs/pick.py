"""``write_pick``: every file of a pick, from the stages' results.

Nothing here measures, ranks or detects: it names files, writes them (each
atomically, through :mod:`thumbsel.files`) and writes ``candidates.json``
last, so a reader that finds it finds everything it names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from thumbsel.artwork import Artwork
from thumbsel.artwork.crops import crop_picture
from thumbsel.cast import Cast
from thumbsel.errors import OutputError
from thumbsel.files import directory_lock, write_json
from thumbsel.frames import FrameTable
from thumbsel.outputs.documents import CandidateFiles, candidate_document, summary_document
from thumbsel.outputs.report import write_report
from thumbsel.outputs.sheets import make_thumbnail, save_jpeg, to_display, write_contact_sheet
from thumbsel.outputs.tables import write_frames, write_shots_csv
from thumbsel.people.tracks import sightings_path, write_sightings
from thumbsel.select import Selection
from thumbsel.shots import ShotDetection
from thumbsel.timecode import timecode
from thumbsel.video import display_size

__all__ = ["THUMBNAIL_WIDTH", "candidate_files", "write_pick"]

THUMBNAIL_WIDTH = 320
"""Width in pixels of the thumbnails in ``thumbnails/`` and on the contact sheet."""


def candidate_files(artwork: Artwork) -> CandidateFiles:
    """The names a candidate's files get inside a pick's directory."""
    candidate = artwork.candidate
    stem = f"candidate-{candidate.rank:02d}-frame{candidate.frame:06d}"
    return CandidateFiles(
        image=f"{stem}.jpg",
        thumbnail=f"thumbnails/{stem}.jpg",
        crops={
            crop.canvas: f"crops/{stem}-{crop.canvas.replace(':', 'x')}.jpg"
            for crop in artwork.crops
        },
    )


def write_pick(
    frames: FrameTable,
    shots: ShotDetection,
    selection: Selection,
    artwork: Sequence[Artwork],
    outdir: str | os.PathLike[str],
    *,
    timings: Mapping[str, float] | None = None,
    cast: Cast | None = None,
    portraits: Mapping[str, Sequence[npt.NDArray[np.uint8]]] | None = None,
    embeddings: bool = True,
) -> Path:
    """Write every output of a pick into ``outdir``; returns the path of ``candidates.json``.

    Images come out in display proportions (an anamorphic 720x576 PAL frame as
    1024x576), while every box in ``candidates.json`` stays in stored pixels,
    with the display size beside it.

    ``artwork`` is :func:`~thumbsel.artwork.describe_artwork` of ``selection``;
    ``timings`` (seconds per stage) go into ``summary.json``. With a ``cast``,
    ``characters.json``, ``faces.parquet`` (every face sighted, with its
    character) and each character's best face (``portraits``, from
    :func:`~thumbsel.artwork.character_portraits`) in ``characters/``.
    ``embeddings=False`` leaves the identity embeddings (biometric data) out
    of both files.
    """
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"{outdir}: exists and is not a directory")
    if [item.candidate for item in artwork] != list(selection.candidates):
        raise ValueError("artwork must describe the selection's candidates, in rank order")
    with directory_lock(outdir):
        characters = (
            _write_cast(frames, cast, portraits or {}, outdir, embeddings=embeddings)
            if cast is not None
            else []
        )
        # An earlier pick's cast must not outlive it in this directory.
        kept = {entry["portrait"] for entry in characters} | {
            face.get("image") for entry in characters for face in entry["gallery"]
        }
        for path in (outdir / "characters").glob("c*.jpg"):
            if f"characters/{path.name}" not in kept:
                path.unlink(missing_ok=True)
        if cast is None:
            (outdir / "characters.json").unlink(missing_ok=True)
            (outdir / "faces.parquet").unlink(missing_ok=True)
        facts = None
        if cast is not None:
            best = cast.sightings.column("best").to_pylist()
            facts = {
                "characters": len(cast.characters),
                "extras": cast.extras,
                "faces_sighted": cast.sightings.num_rows,
                "tracks_embedded": sum(bool(b) for b in best),
                "uncovered": list(selection.uncovered),
            }
        return _write(frames, shots, selection, artwork, outdir, timings, characters, facts)


def _write(
    frames: FrameTable,
    shots: ShotDetection,
    selection: Selection,
    artwork: Sequence[Artwork],
    outdir: Path,
    timings: Mapping[str, float] | None,
    characters: Sequence[Mapping[str, Any]],
    cast_facts: Mapping[str, Any] | None,
) -> Path:
    files = [candidate_files(item) for item in artwork]
    aspect = frames.video.sample_aspect
    shown = [to_display(item.picture, item.display_size) for item in artwork]
    for item, named, picture in zip(artwork, files, shown, strict=True):
        save_jpeg(picture, outdir / named.image)
        save_jpeg(make_thumbnail(picture, THUMBNAIL_WIDTH), outdir / named.thumbnail)
        for crop in item.crops:
            cut = np.ascontiguousarray(crop_picture(item.picture, crop.box))
            size = display_size(cut.shape[1], cut.shape[0], aspect)
            save_jpeg(to_display(cut, size), outdir / named.crops[crop.canvas])

    contact_sheet = None
    if artwork:
        labels = [
            f"#{c.rank}  {timecode(c.time, compact=True)}  shot {c.shot}  score {c.score:.2f}"
            for c in selection.candidates
        ]
        write_contact_sheet(shown, labels, outdir / "contact-sheet.jpg")
        contact_sheet = "contact-sheet.jpg"

    write_frames(frames, shots, selection, outdir / "frames.parquet")
    write_shots_csv(shots.shots, outdir / "shots.csv")
    summary = summary_document(frames, shots, selection, timings)
    if cast_facts is not None:
        summary["cast"] = dict(cast_facts)
    write_json(outdir / "summary.json", summary, sort_keys=True)
    write_report(
        outdir / "report.html",
        frames=frames,
        shots=shots,
        selection=selection,
        artwork=artwork,
        files=files,
        contact_sheet=contact_sheet,
        characters=characters,
    )
    target = outdir / "candidates.json"
    write_json(
        target,
        [candidate_document(item, named) for item, named in zip(artwork, files, strict=True)],
    )
    _remove_stale_images(outdir, {named.image for named in files})
    return target


def _write_cast(
    frames: FrameTable,
    cast: Cast,
    portraits: Mapping[str, Sequence[npt.NDArray[np.uint8]]],
    outdir: Path,
    *,
    embeddings: bool,
) -> list[dict[str, Any]]:
    characters = []
    for character in cast.characters:
        entry = character.to_dict(frames, embedding=embeddings)
        pictures = list(portraits.get(character.id, ()))
        # The gallery's faces in order, the first (the best face) the portrait.
        names = [
            f"characters/{character.id}.jpg"
            if place == 0
            else f"characters/{character.id}-{place + 1}.jpg"
            for place in range(len(pictures))
        ]
        for picture, name in zip(pictures, names, strict=True):
            size = display_size(picture.shape[1], picture.shape[0], frames.video.sample_aspect)
            save_jpeg(to_display(picture, size), outdir / name)
        entry["portrait"] = names[0] if names else None
        if len(names) == len(entry["gallery"]):
            for face, name in zip(entry["gallery"], names, strict=True):
                face["image"] = name
        characters.append(entry)
    write_json(
        outdir / "characters.json",
        {
            "distance": cast.options.distance,
            "extras": cast.extras,
            "embeddings": embeddings,
            "characters": characters,
        },
    )
    sightings = cast.sightings.append_column(
        "character", pa.array(list(cast.character_of_sighting), pa.string())
    )
    write_sightings(sightings, sightings_path(outdir / "frames.parquet"), embeddings=embeddings)
    return characters


def _remove_stale_images(outdir: Path, current: set[str]) -> None:
    """Delete candidate images an earlier pick into the same directory left behind.

    Only files named like ours are touched, so a reader of the directory sees
    exactly the images ``candidates.json`` lists.
    """
    stems = {name.removesuffix(".jpg") for name in current}
    for folder in (outdir, outdir / "thumbnails"):
        for path in folder.glob("candidate-*-frame*.jpg"):
            if path.name not in current:
                path.unlink(missing_ok=True)
    for path in (outdir / "crops").glob("candidate-*-frame*-*.jpg"):
        if path.name.rsplit("-", 1)[0] not in stems:
            path.unlink(missing_ok=True)
