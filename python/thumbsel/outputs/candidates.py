"""Writing a pick: images, ``candidates.json``, ``summary.json``, the tables and the report."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from thumbsel.analysis import Analysis
from thumbsel.crops import Box, crop_picture, plan_crops
from thumbsel.decode import open_video
from thumbsel.errors import ThumbselError
from thumbsel.outputs.atomic import write_text
from thumbsel.outputs.report import write_report
from thumbsel.outputs.sheets import make_thumbnail, save_jpeg, write_contact_sheet
from thumbsel.select import Candidate, Selection
from thumbsel.shots import shots_csv
from thumbsel.tags import artwork_tags

__all__ = ["selection_table", "write_pick"]

THUMBNAIL_WIDTH = 320


def selection_table(analysis: Analysis, selection: Selection) -> pa.Table:
    """The frame table plus what selection made of each frame.

    ``shot`` and ``in_transition`` come from shot detection, ``score`` is
    the quality score, and ``rejected`` names the filter that ruled the frame
    out (null when it was eligible).
    """
    detection = analysis.shot_detection
    table = analysis.frames
    table = table.append_column("shot", pa.array(detection.shot_of_frame, pa.int32()))
    table = table.append_column("in_transition", pa.array(detection.in_transition, pa.bool_()))
    table = table.append_column("score", pa.array(selection.scores, pa.float64()))
    return table.append_column("rejected", pa.array(selection.rejected, pa.string()))


def write_pick(analysis: Analysis, selection: Selection, outdir: str | os.PathLike[str]) -> Path:
    """Write every output of a pick into ``outdir``; returns the path of ``candidates.json``.

    Candidate images are read back from the video by seeking to their frames.
    ``candidates.json`` is written last, so a reader that finds it finds
    everything it names.
    """
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise ThumbselError(f"{outdir}: exists and is not a directory")
    candidates = selection.candidates
    content = analysis.letterbox.content_box(analysis.video.width, analysis.video.height)
    detect = _face_detector()
    with open_video(analysis.path) as source:
        pictures = source.read_rgb([c.frame for c in candidates], [c.time for c in candidates])
    sheet_pictures = []
    for candidate in candidates:
        picture = pictures.get(candidate.frame)
        if picture is None:
            raise ThumbselError(
                f"{analysis.path}: frame {candidate.frame} could not be read back for its image"
            )
        stem = f"candidate-{candidate.rank:02d}-frame{candidate.frame:06d}"
        save_jpeg(picture, outdir / f"{stem}.jpg")
        thumbnail = make_thumbnail(picture, THUMBNAIL_WIDTH)
        save_jpeg(thumbnail, outdir / "thumbnails" / f"{stem}.jpg")
        candidate.image = f"{stem}.jpg"
        candidate.thumbnail = f"thumbnails/{stem}.jpg"
        describe_artwork(candidate, picture, content, detect)
        for canvas, crop in candidate.crops.items():
            name = f"crops/{stem}-{canvas.replace(':', 'x')}.jpg"
            save_jpeg(np.ascontiguousarray(crop_picture(picture, crop["box"])), outdir / name)
            crop["path"] = name
        sheet_pictures.append(picture)

    contact_sheet = None
    if sheet_pictures:
        labels = [
            f"#{c.rank}  {_clock(c.time)}  shot {c.shot}  score {c.score:.2f}" for c in candidates
        ]
        write_contact_sheet(sheet_pictures, labels, outdir / "contact-sheet.jpg")
        contact_sheet = "contact-sheet.jpg"

    table = selection_table(analysis, selection)
    metadata = dict(table.schema.metadata or {})
    analysis_with_selection = Analysis(
        path=analysis.path,
        video=analysis.video,
        frames=table.replace_schema_metadata(metadata),
        decode=analysis.decode,
        options=analysis.options,
    )
    analysis_with_selection.to_parquet(outdir / "frames.parquet")
    write_text(outdir / "shots.csv", shots_csv(analysis.shots, analysis.video.frame_rate))

    summary = summary_document(analysis, selection)
    write_text(outdir / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    write_report(
        outdir / "report.html",
        title=Path(analysis.path).name,
        video=summary["video"],
        shots=summary["shots"],
        candidates=[c.to_dict() for c in candidates],
        timeline={
            "time": analysis.column("time"),
            "brightness": analysis.column("brightness"),
            "sharpness": analysis.column("sharpness"),
            "motion": analysis.column("motion"),
            "cut_score": analysis.column("cut_score"),
        },
        rejected=summary["rejected"],
        contact_sheet=contact_sheet,
    )
    target = outdir / "candidates.json"
    write_text(target, json.dumps([c.to_dict() for c in candidates], indent=2) + "\n")
    _remove_stale_images(outdir, {c.image for c in candidates if c.image})
    return target


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


def _face_detector() -> Callable[[npt.NDArray[np.uint8]], list[Any]] | None:
    """The face detector when the ``faces`` extra is installed, else None."""
    try:
        faces = importlib.import_module("thumbsel.faces")
    except ImportError:
        return None
    detect: Callable[[npt.NDArray[np.uint8]], list[Any]] = faces.detect_faces
    return detect if faces.faces_available() else None


def describe_artwork(
    candidate: Candidate,
    picture: npt.NDArray[np.uint8],
    content: tuple[int, int, int, int],
    detect: Callable[[npt.NDArray[np.uint8]], list[Any]] | None,
) -> None:
    """Faces, tags and canvas crops of one candidate (face detection only on
    candidates, so a pick costs the same with or without it)."""
    found = detect(picture) if detect is not None else None
    boxes: list[Box] | None = None
    if found is not None:
        boxes = [(int(f.box[0]), int(f.box[1]), int(f.box[2]), int(f.box[3])) for f in found]
    area = max(1, (content[2] - content[0]) * (content[3] - content[1]))
    if found is not None:
        width, height = content[2] - content[0], content[3] - content[1]
        candidate.faces = []
        for face in found:
            x0, y0, x1, y1 = face.box
            described = face.to_dict()
            # Size and position relative to the picture inside the bars.
            described["relative_size"] = round((x1 - x0) * (y1 - y0) / area, 6)
            described["center"] = [
                round(((x0 + x1) / 2 - content[0]) / max(1, width), 6),
                round(((y0 + y1) / 2 - content[1]) / max(1, height), 6),
            ]
            candidate.faces.append(described)
    candidate.tags = artwork_tags(
        candidate.features,
        boxes,
        [face.smiling for face in found] if found is not None else None,
        area,
    )
    x, y = candidate.features.get("saliency_x"), candidate.features.get("saliency_y")
    focus = (x, y) if x is not None and y is not None else None
    try:
        planned = plan_crops(content, boxes or (), focus)
    except ValueError:
        planned = {}  # a picture smaller than a canvas's smallest exact crop
    candidate.crops = {canvas: {"box": list(box)} for canvas, box in planned.items()}


def summary_document(analysis: Analysis, selection: Selection) -> dict[str, Any]:
    """Title-level facts of a pick: the video, its shots, and what each filter removed."""
    info = analysis.video
    letterbox = analysis.letterbox
    return {
        "video": {
            "path": analysis.path,
            "width": info.width,
            "height": info.height,
            "frame_rate": info.frame_rate,
            "duration": info.duration,
            "codec": info.codec,
            "frames": analysis.frames.num_rows,
            "letterbox": {
                "top": letterbox.top,
                "bottom": letterbox.bottom,
                "left": letterbox.left,
                "right": letterbox.right,
            },
            "decode": analysis.decode.summary(),
        },
        "shots": [shot.to_dict() for shot in analysis.shots],
        "rejected": selection.rejected_counts(),
        "eligible_frames": int(sum(r is None for r in selection.rejected)),
        "duplicate_shots": {str(k): v for k, v in sorted(selection.duplicate_shots.items())},
        "duplicate_shot_count": len(selection.duplicate_shots),
        "candidates": len(selection.candidates),
        "score_quantiles": {
            q: float(np.quantile(selection.scores, float(q))) for q in ("0.1", "0.5", "0.9")
        }
        if len(selection.scores)
        else {},
    }


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:d}:{minutes:02d}:{secs:06.3f}"
