"""A self-contained HTML report of one pick: candidates, timeline, filters and shots.

The page is ``templates/report.html.j2`` rendered by Jinja with autoescaping
on for everything. Much of its text comes from the video file itself (its
name and path, its title and comment tags, the codec's name), so escaping is
the default for every value rather than something each call site has to
remember. Python prepares what the page shows (formatted numbers and times,
links checked to stay inside the report's directory, the timeline's geometry
from :mod:`thumbsel.outputs.timeline`); the templates only lay it out.

The page needs nothing from the network: the style sheet is included inline,
the timeline is inline SVG, there is no script, and images are relative
links to files in the report's own directory. The markup is also well-formed
XML (void elements self-close, boolean attributes carry values, and Jinja
escapes quotes as numeric references, so only XML's five named entities
appear), so any XML parser can check it. The same input always gives the
same bytes: nothing depends on the clock, the locale or hashing.
"""

from __future__ import annotations

import functools
import math
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from thumbsel._core import __version__
from thumbsel.artwork import Artwork, ArtworkFace
from thumbsel.artwork.tags import SMILING_MIN_SCORE
from thumbsel.files import write_text
from thumbsel.frames import FrameTable
from thumbsel.outputs.documents import CandidateFiles
from thumbsel.outputs.timeline import (
    DENSE_BOUNDARIES,
    TRANSITIONS,
    build_timeline,
    coordinate,
    significant,
)
from thumbsel.select import Selection
from thumbsel.shots import ShotDetection
from thumbsel.text import plural
from thumbsel.timecode import UNKNOWN, timecode

__all__ = [
    "DUPLICATE_SHOT",
    "FILTER_NOTES",
    "GENERIC_STREAM_TITLES",
    "SHOT_TABLE_OPEN_LIMIT",
    "render_report",
    "template_environment",
    "write_report",
]

SHOT_TABLE_OPEN_LIMIT = 24
"""A shot table with more rows than this starts collapsed."""

FILTER_NOTES = {
    "interpolated": "not decoded by the fast pass (--fast): its row was filled from its neighbours",
    "transition": "inside or next to a cut, fade or dissolve",
    "repeat": "an exact copy of the frame before it (telecine, frame-rate conversion)",
    "dark": "black, or dark and much darker than the rest of its shot",
    "blown-out": "too many near-white pixels",
    "low-information": "flat or uniform picture, such as a title card",
    "blurry": "the main face soft against the title's faces; without a face, soft against "
    "its shot, or the whole shot out of focus",
    "motion": "too much movement between frames",
    "eyes-closed": "a prominent face has its eyes closed (the people stage looked)",
    "face-cut": "the frame's edge cuts the main face",
    "other-subject": "another character is the main face (picks of one character were asked for)",
    "duplicate-shot": "shots whose best picture repeats a better shot's (counted in shots)",
}
"""What each filter of the filters table rules out."""

DUPLICATE_SHOT = "duplicate-shot"
"""The filters table's one row that counts shots, not frames (out of the frame totals)."""

GENERIC_STREAM_TITLES = frozenset(
    {
        "videohandler",
        "core media video",
        "gpac iso video handler",
        "l-smash video handler",
        "mainconcept video media handler",
    }
)
"""Stream names (lower case) muxers write into every file they make: they say nothing
about the video."""


# --------------------------------------------------------------------------- page data
# What the templates show, already formatted: a template never computes, so
# what a reader sees can be traced to one function here.


@dataclass(frozen=True)
class _Fact:
    name: str
    value: str


@dataclass(frozen=True)
class _Note:
    text: str
    warning: bool


@dataclass(frozen=True)
class _Signal:
    name: str
    fill: str
    """Width of the bar, percent."""
    value: str


@dataclass(frozen=True)
class _FaceBox:
    left: str
    top: str
    width: str
    height: str
    """Percent of the picture, for an overlay on the thumbnail."""
    tooltip: str
    marks: tuple[str, ...]
    """CSS classes for what a designer must see at a glance: eyes closed, smiling, cut."""


@dataclass(frozen=True)
class _CropBox:
    canvas: str
    left: str
    top: str
    width: str
    height: str
    """Percent of the picture, for an outline on the thumbnail."""
    link: str
    """The crop's own JPEG, shown as a preview beside its outline."""


@dataclass(frozen=True)
class _Card:
    rank: int
    score_rank: int
    fill_in: bool
    anchor: str
    time: str
    score: str
    shot: int
    frame: str
    image: str
    thumbnail: str
    width: int
    height: int
    alt: str
    tags: tuple[str, ...]
    signals: tuple[_Signal, ...]
    reasons: tuple[str, ...]
    crops: tuple[_CropBox, ...]
    """In the artwork's canvas order."""
    measurements: tuple[tuple[str, str], ...]
    faces: str | None
    """How many faces were found; None when face detection did not run."""
    face_boxes: tuple[_FaceBox, ...]


@dataclass(frozen=True)
class _FilterRow:
    name: str
    count: str
    share: str
    fill: str | None
    """Width of the share bar, percent; None for a row that counts shots."""
    note: str


@dataclass(frozen=True)
class _FilterTotal:
    count: str
    share: str
    eligible: str


@dataclass(frozen=True)
class _ShotRow:
    index: int
    start: str
    end: str
    length: str
    frames: str
    transition: str | None
    kind: str
    ranks: tuple[int, ...]


@dataclass(frozen=True)
class _LegendItem:
    kind: str
    count: str


# --------------------------------------------------------------------------- the report


def write_report(
    target: str | os.PathLike[str],
    *,
    frames: FrameTable,
    shots: ShotDetection,
    selection: Selection,
    artwork: Sequence[Artwork],
    files: Sequence[CandidateFiles],
    contact_sheet: str | None = None,
    characters: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Write the HTML report of a pick to ``target`` (atomically); returns ``target``.

    See :func:`render_report` for the arguments and what is refused; raises
    :class:`~thumbsel.errors.OutputError` when the file cannot be written.
    """
    target = Path(target)
    document = render_report(
        frames=frames,
        shots=shots,
        selection=selection,
        artwork=artwork,
        files=files,
        contact_sheet=contact_sheet,
        characters=characters,
    )
    write_text(target, document)
    return target


def render_report(
    *,
    frames: FrameTable,
    shots: ShotDetection,
    selection: Selection,
    artwork: Sequence[Artwork],
    files: Sequence[CandidateFiles],
    contact_sheet: str | None = None,
    characters: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The HTML report of a pick, as text.

    ``artwork`` describes ``selection``'s candidates in rank order and
    ``files`` names each one's images; those and ``contact_sheet`` are paths
    relative to the report's directory. Raises ``ValueError`` when the inputs
    do not belong together, or for an image path that leaves the report's
    directory (absolute, with a scheme, or through ``..``). ``characters`` are
    the entries of ``characters.json`` (with their ``portrait`` paths), for the
    cast gallery.
    """
    if len(selection.rejected) != len(frames):
        raise ValueError(
            f"the selection judged {len(selection.rejected)} frames but the table has {len(frames)}"
        )
    if [item.candidate for item in artwork] != list(selection.candidates):
        raise ValueError("artwork must describe the selection's candidates, in rank order")
    if len(files) != len(artwork):
        raise ValueError(f"{len(files)} sets of files for {len(artwork)} candidates")
    cards = tuple(_card(item, named) for item, named in zip(artwork, files, strict=True))
    sheet = None if contact_sheet is None else _local_reference(contact_sheet, "contact sheet")
    sections = [("candidates", "Candidates")]
    if sheet is not None:
        sections.append(("contact-sheet", "Contact sheet"))
    cast = [
        {
            "label": entry.get("name") or entry["id"],
            "id": entry["id"],
            "portrait": _local_reference(entry["portrait"], "portrait")
            if entry.get("portrait")
            else None,
            "more": [
                _local_reference(face["image"], "gallery face")
                for face in entry.get("gallery", [])[1:]
                if face.get("image")
            ],
            "seconds": _fixed(float(entry["seconds"]), 1),
            "shots": plural(len(entry["shots"]), "shot"),
            "faces": plural(int(entry["faces"]), "face"),
            "closeups": plural(int(entry["closeups"]), "close-up"),
            "lead": place == 0,
        }
        for place, entry in enumerate(characters)
    ]
    if cast:
        sections.append(("cast", "Cast"))
    sections += [("timeline", "Timeline"), ("filters", "Filters"), ("shots", "Shots")]
    filters, total = _filters(frames, selection)
    template = _environment().get_template("report.html.j2")
    return template.render(
        name=Path(frames.path).name or "Untitled video",
        path=frames.path,
        metadata=_metadata(frames),
        facts=_facts(frames, shots, selection),
        notes=_notes(frames),
        sections=sections,
        cards=cards,
        contact_sheet=sheet,
        cast=cast,
        timeline=build_timeline(frames, shots.shots, selection.candidates, selection.interest),
        dense_boundaries=DENSE_BOUNDARIES,
        legend=_legend(shots),
        filters=filters,
        filter_total=total,
        shot_rows=_shot_rows(shots, selection),
        shots_summary=plural(len(shots.shots), "shot"),
        shots_open=len(shots.shots) <= SHOT_TABLE_OPEN_LIMIT,
        version=__version__,
    )


def template_environment(package: str) -> jinja2.Environment:
    """Jinja2 for the pages thumbsel writes: the templates of ``package``, HTML
    escaped, and an unknown name an error rather than an empty string."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def _environment() -> jinja2.Environment:
    environment = template_environment("thumbsel.outputs")
    environment.filters["coordinate"] = coordinate
    return environment


# --------------------------------------------------------------------------- formatting


def _fixed(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else UNKNOWN


def _percent(value: float) -> str:
    return f"{value:.1f}"


def _local_reference(path: str, what: str) -> str:
    """``path`` as a link relative to the report's directory; refuses one that leaves it."""
    text = str(path).replace("\\", "/")
    if (
        not text
        or text.startswith("/")
        or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text)
        or ".." in text.split("/")
    ):
        raise ValueError(
            f"{what} must be a relative path inside the report's directory, got {path!r}"
        )
    return urllib.parse.quote(text, safe="/")


# --------------------------------------------------------------------------- sections


def _metadata(frames: FrameTable) -> tuple[tuple[str, str], ...]:
    video = frames.video
    stream = video.stream_title
    if stream is not None and stream.strip().lower() in GENERIC_STREAM_TITLES:
        stream = None
    shown = (("Title", video.title), ("Comment", video.comment), ("Stream", stream))
    return tuple((label, value) for label, value in shown if value)


def _facts(frames: FrameTable, shots: ShotDetection, selection: Selection) -> tuple[_Fact, ...]:
    video = frames.video
    eligible = sum(reason is None for reason in selection.rejected)
    rate = video.frame_rate
    return (
        _Fact("Duration", timecode(video.duration)),
        _Fact(
            "Resolution",
            f"{video.width} \u00d7 {video.height}" if video.width and video.height else UNKNOWN,
        ),
        _Fact(
            "Frame rate",
            f"{rate:.3f}".rstrip("0").rstrip(".") + " fps" if rate > 0 else UNKNOWN,
        ),
        _Fact("Codec", video.codec or UNKNOWN),
        _Fact("Frames analysed", f"{len(frames):,}"),
        _Fact("Shots", f"{len(shots.shots):,}"),
        _Fact("Candidates", f"{len(selection.candidates):,}"),
        _Fact("Eligible frames", f"{eligible:,}"),
    )


def _notes(frames: FrameTable) -> tuple[_Note, ...]:
    notes = []
    letterbox = frames.letterbox
    sides = [
        f"{side} {size} px"
        for side, size in (
            ("top", letterbox.top),
            ("bottom", letterbox.bottom),
            ("left", letterbox.left),
            ("right", letterbox.right),
        )
        if size > 0
    ]
    if sides:
        notes.append(_Note("Letterbox bars: " + ", ".join(sides), warning=False))
    summary = frames.decode.summary()
    notes.append(_Note(summary[:1].upper() + summary[1:], warning=not frames.complete))
    return tuple(notes)


def _card(item: Artwork, named: CandidateFiles) -> _Card:
    candidate = item.candidate
    when = timecode(candidate.time)
    # Boxes are in stored pixels; as shares of the picture they fit the thumbnail,
    # which is in display proportions.
    height, width = item.picture.shape[:2]
    crops = []
    for crop in item.crops:
        if crop.canvas not in named.crops:
            raise ValueError(f"no file named for the {crop.canvas} crop of #{candidate.rank}")
        crops.append(
            _CropBox(
                crop.canvas,
                *_percent_box(crop.box, width, height),
                link=_local_reference(named.crops[crop.canvas], "crop"),
            )
        )
    measurements = [(name, significant(value)) for name, value in candidate.features.items()]
    faces = None
    boxes: list[_FaceBox] = []
    if item.faces is not None:
        faces = plural(len(item.faces), "face") if item.faces else "No faces found"
        if item.faces:
            largest = max(face.relative_size for face in item.faces)
            faces += f"; the largest covers {largest:.1%} of the picture"
        for number, placed in enumerate(item.faces, start=1):
            face = placed.face
            x0, y0, x1, y1 = face.box
            box = f"{x0}, {y0} \u2013 {x1}, {y1}"
            verdict = _face_verdict(placed)
            measurements.append((f"face {number}", f"{box}; {verdict}"))
            boxes.append(
                _FaceBox(
                    *_percent_box(face.box, width, height),
                    tooltip=(f"Face {number}: {box} px, confidence {face.score:.2f}; {verdict}"),
                    marks=_face_marks(placed),
                )
            )
    return _Card(
        rank=candidate.rank,
        score_rank=candidate.score_rank,
        fill_in=candidate.fill_in,
        anchor=f"candidate-{candidate.rank}",
        time=when,
        score=_fixed(candidate.score),
        shot=candidate.shot,
        frame=f"{candidate.frame:,}",
        image=_local_reference(named.image, "image"),
        thumbnail=_local_reference(named.thumbnail, "thumbnail"),
        width=item.display_size[0],
        height=item.display_size[1],
        alt=f"Candidate #{candidate.rank} at {when}",
        tags=item.tags,
        signals=tuple(
            _Signal(
                name,
                _percent(min(max(value, 0.0), 1.0) * 100 if math.isfinite(value) else 0.0),
                _fixed(value),
            )
            for name, value in candidate.signals.items()
        ),
        reasons=candidate.reasons,
        crops=tuple(crops),
        measurements=tuple(measurements),
        faces=faces,
        face_boxes=tuple(boxes),
    )


def _percent_box(
    box: tuple[int, int, int, int], width: int, height: int
) -> tuple[str, str, str, str]:
    """``box`` (stored pixels) as left, top, width and height in percent of the picture."""
    x0, y0, x1, y1 = box
    return (
        _percent(100 * x0 / width),
        _percent(100 * y0 / height),
        _percent(100 * (x1 - x0) / width),
        _percent(100 * (y1 - y0) / height),
    )


def _face_verdict(placed: ArtworkFace) -> str:
    face = placed.face
    eyes = "eyes closed" if face.eyes_closed else "eyes open"
    return (
        f"{eyes} (EAR {face.eyes:.2f}), smile {face.smiling:.2f}, {face.pose} "
        f"({face.yaw:+.0f}\u00b0), sharpness {face.sharpness:.0f}"
        + (", cut by the edge" if placed.cut else "")
    )


def _face_marks(placed: ArtworkFace) -> tuple[str, ...]:
    marks = []
    if placed.face.eyes_closed:
        marks.append("eyes-closed")
    if placed.face.smiling >= SMILING_MIN_SCORE:
        marks.append("smiling")
    if placed.cut:
        marks.append("cut")
    return tuple(marks)


def _filters(
    frames: FrameTable, selection: Selection
) -> tuple[tuple[_FilterRow, ...], _FilterTotal]:
    counts = selection.rejected_counts()
    total = sum(counts.values())
    base = len(frames)

    def share(count: int) -> str:
        return f"{count / base * 100:.1f}%" if base else UNKNOWN

    rows = [
        _FilterRow(
            name=name,
            count=f"{count:,}",
            share=share(count),
            fill=_percent(min(count / base * 100, 100.0) if base else 0.0),
            note=FILTER_NOTES.get(name, ""),
        )
        for name, count in counts.items()
    ]
    # Shots whose best frame repeats a better shot's are dropped whole, after
    # the frame filters: their frames were eligible, so they are not in the totals.
    rows.append(
        _FilterRow(
            name=DUPLICATE_SHOT,
            count=f"{len(selection.duplicate_shots):,}",
            share=UNKNOWN,
            fill=None,
            note=FILTER_NOTES[DUPLICATE_SHOT],
        )
    )
    eligible = base - total
    return tuple(rows), _FilterTotal(
        count=f"{total:,}",
        share=share(total),
        eligible=f"{eligible:,} frames left to choose from",
    )


def _shot_rows(shots: ShotDetection, selection: Selection) -> tuple[_ShotRow, ...]:
    ranks: dict[int, list[int]] = {}
    for candidate in selection.candidates:
        ranks.setdefault(candidate.shot, []).append(candidate.rank)
    rows = []
    for shot in shots.shots:
        length = shot.end_time - shot.start_time
        kind = shot.transition_in
        rows.append(
            _ShotRow(
                index=shot.index,
                start=timecode(shot.start_time),
                end=timecode(shot.end_time),
                length=f"{length:.2f} s" if math.isfinite(length) else UNKNOWN,
                frames=f"{shot.frame_count:,}",
                transition=kind,
                kind=kind if kind in TRANSITIONS else "other",
                ranks=tuple(ranks.get(shot.index, ())),
            )
        )
    return tuple(rows)


def _legend(shots: ShotDetection) -> tuple[_LegendItem, ...]:
    counts = dict.fromkeys((*TRANSITIONS, "other"), 0)
    for shot in shots.shots[1:]:
        kind = shot.transition_in
        counts[kind if kind in TRANSITIONS else "other"] += 1
    return tuple(
        _LegendItem(kind, f"{count:,}")
        for kind, count in counts.items()
        if kind != "other" or count
    )
