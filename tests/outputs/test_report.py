"""The HTML report: hand-built picks for exact expectations, real picks for the whole path."""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import videos
from pictures import picture
from tables import VIDEO, make_frames
from thumbsel import (
    Artwork,
    ArtworkFace,
    Candidate,
    Crop,
    DecodeReport,
    FrameTable,
    Selection,
    Shot,
    ShotDetection,
    SourceFile,
    __version__,
)
from thumbsel.cli import main
from thumbsel.decode import probe
from thumbsel.outputs.documents import CandidateFiles
from thumbsel.outputs.report import (
    FILTER_NOTES,
    SHOT_TABLE_OPEN_LIMIT,
    render_report,
    write_report,
)
from thumbsel.outputs.sheets import make_thumbnail, save_jpeg, write_contact_sheet
from thumbsel.outputs.timeline import BUCKETS, DENSE_BOUNDARIES, build_timeline, coordinate
from thumbsel.people.faces import Face
from thumbsel.select import FILTERS
from thumbsel.timecode import timecode

SVG = "{http://www.w3.org/2000/svg}"
FPS = 24.0
FRAMES = 2400
FILTER_COUNTS = {
    "interpolated": 0,
    "transition": 321,
    "repeat": 12,
    "dark": 123,
    "blown-out": 0,
    "low-information": 17,
    "blurry": 45,
    "motion": 9,
    "eyes-closed": 3,
    "face-cut": 2,
    "other-subject": 0,
}
FRAME_REJECTIONS = sum(FILTER_COUNTS.values())
assert tuple(FILTER_COUNTS) == FILTERS, "every filter, in order"
DUPLICATE_SHOTS = {4: 1, 5: 2}
"""Shot -> the better shot it repeats: two shots dropped whole, counted in shots."""
TRANSITIONS = [None, "cut", "fade", "dissolve", "cut", "cut"]
SHOT_STARTS = [0, 300, 700, 1200, 1750, 2100]
CANDIDATE_FRAMES = [420, 1500, 2200, 900, 60, 1900, 2300]
SOURCE = "/media/<script>alert(1)</script> & co/episode <01>.mp4"


def signal_columns(count: int, starts: Sequence[int], seed: int = 1) -> dict[str, np.ndarray]:
    """Per-frame signals that look like a real title's: noise, trends and cut spikes."""
    rng = np.random.default_rng(seed)
    time = np.arange(count) / FPS
    motion = np.abs(rng.normal(0.01, 0.005, count))
    motion[0] = np.nan
    cut_score = np.abs(rng.normal(3.0, 1.0, count))
    cut_score[0] = np.nan
    for start in starts[1:]:
        if start < count:
            cut_score[start] = 80.0
    return {
        "brightness": 0.45 + 0.25 * np.sin(time / 7.0),
        "sharpness": rng.gamma(2.0, 150.0, count),
        "motion": motion,
        "cut_score": cut_score,
    }


def pick(
    outdir: Path,
    *,
    count: int = FRAMES,
    candidates: int = 3,
    starts: Sequence[int] = SHOT_STARTS,
    transitions: Sequence[str | None] = TRANSITIONS,
    rejected: Mapping[str, int] = FILTER_COUNTS,
    duplicates: Mapping[int, int] = DUPLICATE_SHOTS,
    faces: tuple[ArtworkFace, ...] | None = None,
    sheet: bool = True,
    columns: Mapping[str, np.ndarray] | None = None,
    video: Mapping[str, Any] | None = None,
    decode: DecodeReport | None = None,
    source: str = SOURCE,
) -> dict[str, Any]:
    """The arguments of ``write_report`` for a pick built by hand, with its images in ``outdir``.

    Every object is the real typed result of its stage, made directly rather
    than measured, so each test knows exactly what the page must show.
    """
    data = make_frames(count, {**signal_columns(count, starts), **(columns or {})}, fps=FPS)
    info = dataclasses.replace(
        VIDEO, width=320, height=180, frame_rate=FPS, duration=count / FPS, **(video or {})
    )
    frames = FrameTable.from_columns(
        data,
        video=info,
        source=SourceFile(path=source, size=0, sha256="0" * 64),
        decode=decode,
    )
    ends = [*starts[1:], count]
    shots = tuple(
        Shot(index, start, end, start / FPS, end / FPS, kind)
        for index, (start, end, kind) in enumerate(zip(starts, ends, transitions, strict=True))
    )
    shot_of_frame = np.zeros(count, np.int64)
    for shot in shots:
        shot_of_frame[shot.start_frame : shot.end_frame] = shot.index
    detection = ShotDetection(
        shots=shots,
        shot_of_frame=shot_of_frame,
        in_transition=np.zeros(count, bool),
        change=np.zeros(count),
    )

    chosen = []
    for rank, frame in enumerate(CANDIDATE_FRAMES[:candidates], start=1):
        shot = int(shot_of_frame[frame])
        chosen.append(
            Candidate(
                rank=rank,
                frame=frame,
                time=frame / FPS,
                score=0.9 - 0.1 * rank,
                shot=shot,
                features={"brightness": 0.41, "sharpness": 812.5, "entropy": 7.12},
                signals={"sharpness": 0.93, "exposure": 0.81, "stillness": 0.2},
                reasons=(f"best of shot {shot}", "sharpness 0.93, exposure 0.81"),
                phash="0123456789abcdef",
                score_rank=rank,
            )
        )
    reasons: list[str | None] = [None] * count
    free = (frame for frame in range(count) if frame not in CANDIDATE_FRAMES[:candidates])
    for name, number in rejected.items():
        for _ in range(number):
            reasons[next(free)] = name
    selection = Selection(
        candidates=tuple(chosen),
        scores=np.full(count, 0.5),
        rejected=tuple(reasons),
        duplicate_shots=dict(duplicates),
    )

    artwork, files = [], []
    for candidate in chosen:
        full = picture(180, 320, seed=candidate.rank)
        stem = f"candidate-{candidate.rank:02d}-frame{candidate.frame:06d}"
        named = CandidateFiles(
            image=f"{stem}.jpg",
            thumbnail=f"thumbnails/{stem}.jpg",
            crops={"16:9": f"crops/{stem}-16x9.jpg", "1:1": f"crops/{stem}-1x1.jpg"},
        )
        crops = (Crop("16:9", (0, 0, 320, 180)), Crop("1:1", (70, 0, 250, 180)))
        save_jpeg(full, outdir / named.image)
        save_jpeg(make_thumbnail(full, 160), outdir / named.thumbnail)
        for crop in crops:
            x0, y0, x1, y1 = crop.box
            save_jpeg(np.ascontiguousarray(full[y0:y1, x0:x1]), outdir / named.crops[crop.canvas])
        artwork.append(
            Artwork(
                candidate=candidate,
                picture=full,
                content=(0, 0, full.shape[1], full.shape[0]),
                display_size=(full.shape[1], full.shape[0]),
                faces=faces,
                tags=("medium", "warm"),
                crops=crops,
            )
        )
        files.append(named)

    contact_sheet = None
    if chosen and sheet:
        written = write_contact_sheet(
            [item.picture for item in artwork],
            [f"#{c.rank}  {timecode(c.time, compact=True)}" for c in chosen],
            outdir / "contact-sheet.jpg",
        )
        contact_sheet = written.name
    return {
        "frames": frames,
        "shots": detection,
        "selection": selection,
        "artwork": artwork,
        "files": files,
        "contact_sheet": contact_sheet,
    }


def build(outdir: Path, **options: Any) -> Path:
    """A hand-built pick's report, written into ``outdir``."""
    arguments = pick(outdir, **options)
    return write_report(outdir / "report.html", **arguments)


def parse(path: Path) -> ET.Element:
    return ET.fromstring(path.read_text(encoding="utf-8"))


def classes(element: ET.Element) -> list[str]:
    return element.get("class", "").split()


def text_of(element: ET.Element | None) -> str:
    assert element is not None
    return "".join(element.itertext())


def timeline_svg(root: ET.Element) -> ET.Element:
    svg = root.find(f".//{SVG}svg[@id='timeline-svg']")
    assert svg is not None
    return svg


def facts(root: ET.Element) -> dict[str, str]:
    return {
        text_of(fact.find("dt")): text_of(fact.find("dd"))
        for fact in root.iter("div")
        if "fact" in classes(fact)
    }


def filter_rows(root: ET.Element) -> dict[str, list[str]]:
    table = root.find(".//table[@class='data rejections']")
    assert table is not None
    return {
        text_of(row.find("th")): [text_of(cell) for cell in row.findall("td")]
        for row in table.findall("./tbody/tr")
    }


def assert_no_live_markup(root: ET.Element) -> None:
    """Nothing in the page runs or loads: no script, no handler, no foreign image or frame."""
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        assert tag not in {"script", "iframe", "object", "embed", "link", "base"}, tag
        assert not [name for name in element.attrib if name.lower().startswith("on")], element
        if tag == "img":
            assert element.get("src") != "x"
        for name in ("src", "href"):
            assert not element.get(name, "").lower().startswith(("javascript:", "http", "//"))


# --------------------------------------------------------------------------- the page


def test_report_is_well_formed_and_self_contained(tmp_path: Path) -> None:
    report = build(tmp_path)
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>\n<html")
    root = parse(report)  # raises on any unbalanced tag or bad entity
    assert root.tag == "html"
    ids = {element.get("id") for element in root.iter()} - {None}
    references = [
        value
        for element in root.iter()
        for name in ("src", "href")
        if (value := element.get(name)) is not None
    ]
    assert references
    local_files = set()
    for reference in references:
        assert not reference.startswith(("http:", "https:", "//", "data:", "javascript:"))
        if reference.startswith("#"):
            assert reference[1:] in ids, reference
            continue
        path = tmp_path / urllib.parse.unquote(reference)
        assert path.is_file(), reference
        local_files.add(path.resolve())
    assert (tmp_path / "contact-sheet.jpg").resolve() in local_files
    assert len(local_files) == 1 + 3 * 4  # the sheet; per candidate image, thumbnail, 2 crops
    assert_no_live_markup(root)
    assert "@import" not in text
    assert "url(" not in text
    assert not list(tmp_path.rglob("*.part"))


def test_style_sheet_is_inlined_as_it_ships(tmp_path: Path) -> None:
    root = parse(build(tmp_path))
    styles = list(root.iter("style"))
    assert len(styles) == 1
    shipped = importlib.resources.files("thumbsel.outputs").joinpath("templates/report.css")
    css = shipped.read_text(encoding="utf-8")
    assert styles[0].text == "\n" + css
    assert "prefers-color-scheme: dark" in css
    # Raw text inside <style> is not unescaped by HTML parsers, so it must need no escaping.
    assert "<" not in css and "&" not in css


def test_header_shows_the_file_and_its_metadata(tmp_path: Path) -> None:
    video = {"title": "Big Buck Bunny", "comment": "made with Blender\nsecond line"}
    root = parse(build(tmp_path, video={**video, "stream_title": "Main feature"}))
    header = root.find(".//header")
    assert header is not None
    assert text_of(header.find("h1")) == "episode <01>.mp4"
    assert text_of(header.find("p[@class='path']")) == SOURCE
    metadata = header.find("dl[@class='metadata']")
    assert metadata is not None
    shown = dict(
        zip(
            [text_of(dt) for dt in metadata.findall("dt")],
            [text_of(dd) for dd in metadata.findall("dd")],
            strict=True,
        )
    )
    assert shown == {**{k.title(): v for k, v in video.items()}, "Stream": "Main feature"}
    assert text_of(root.find("./head/title")) == "episode <01>.mp4 · thumbsel report"
    meta = root.find("./head/meta[@name='generator']")
    assert meta is not None and meta.get("content") == f"thumbsel {__version__}"
    assert __version__ in text_of(root.find(".//footer"))


def test_a_muxers_default_stream_name_is_not_metadata(tmp_path: Path) -> None:
    root = parse(build(tmp_path, video={"stream_title": "VideoHandler"}))
    assert root.find(".//dl[@class='metadata']") is None
    assert "VideoHandler" not in text_of(root)


def test_facts_and_notes(tmp_path: Path) -> None:
    bars = {"bar_top": np.full(FRAMES, 20), "bar_bottom": np.full(FRAMES, 22)}
    root = parse(build(tmp_path, columns=bars))
    assert facts(root) == {
        "Duration": "00:01:40.000",
        "Resolution": "320 \u00d7 180",
        "Frame rate": "24 fps",
        "Codec": "h264",
        "Frames analysed": "2,400",
        "Shots": "6",
        "Candidates": "3",
        "Eligible frames": f"{FRAMES - FRAME_REJECTIONS:,}",
    }
    notes = [note for note in root.iter("p") if "note" in classes(note)]
    assert [text_of(note) for note in notes] == [
        "Letterbox bars: top 20 px, bottom 22 px",
        "Decoded 2,400 frames",
    ]
    assert not [note for note in notes if "warning" in classes(note)]


def test_a_damaged_decode_is_a_warning(tmp_path: Path) -> None:
    damaged = DecodeReport(
        frames_decoded=FRAMES,
        decode_errors=3,
        stopped_early=True,
        last_time=60.0,
        expected_duration=100.0,
        frame_duration=1 / FPS,
    )
    root = parse(build(tmp_path, decode=damaged))
    warnings = [p for p in root.iter("p") if "warning" in classes(p)]
    assert [text_of(p) for p in warnings] == [damaged.summary()[:1].upper() + damaged.summary()[1:]]
    assert "could not be decoded" in text_of(warnings[0])
    assert "Letterbox" not in text_of(root)


# --------------------------------------------------------------------------- cards


def test_candidates_show_rank_time_and_signals(tmp_path: Path) -> None:
    arguments = pick(tmp_path, candidates=4)
    report = write_report(tmp_path / "report.html", **arguments)
    root = parse(report)
    cards = [card for card in root.iter("article") if "card" in classes(card)]
    assert [card.get("id") for card in cards] == [f"candidate-{r}" for r in (1, 2, 3, 4)]
    for card, item, named in zip(cards, arguments["artwork"], arguments["files"], strict=True):
        candidate = item.candidate
        text = text_of(card)
        assert text_of(card.find(".//span[@class='rank']")) == f"#{candidate.rank}"
        assert text_of(card.find(".//span[@class='time']")) == timecode(candidate.time)
        assert text_of(card.find(".//span[@class='score']/b")) == f"{candidate.score:.2f}"
        assert f"Shot {candidate.shot} · frame {candidate.frame:,}" in text
        assert [text_of(li) for li in card.findall(".//ul[@class='reasons']/li")] == list(
            candidate.reasons
        )
        assert [text_of(t) for t in card.findall(".//span[@class='tag']")] == list(item.tags)
        link = card.find("a[@class='picture']")
        assert link is not None and link.get("href") == named.image
        img = link.find("img")
        assert img is not None and img.get("src") == named.thumbnail
        assert (img.get("width"), img.get("height")) == ("320", "180")
        widths = [fill.get("style") for fill in card.iter("span") if "fill" in classes(fill)]
        assert widths == ["width:93.0%", "width:81.0%", "width:20.0%"]
        previews = card.findall(".//div[@class='crops']/a")
        assert [
            (text_of(a.find("span")), a.get("href"), a.find("img").get("src")) for a in previews
        ] == [(canvas, named.crops[canvas], named.crops[canvas]) for canvas in ("16:9", "1:1")]
        # Each crop outlined on the picture, where its box is (320x180 picture).
        outlines = {
            box.get("data-canvas"): box.get("style")
            for box in link.iter("span")
            if "crop-box" in classes(box)
        }
        assert outlines == {
            "16:9": "left:0.0%;top:0.0%;width:100.0%;height:100.0%",
            "1:1": "left:21.9%;top:0.0%;width:56.2%;height:100.0%",
        }
        rank_by_score = card.find(".//span[@class='score-rank']")
        assert text_of(rank_by_score) == f"#{candidate.score_rank} by score"
        measurements = {
            text_of(row.find("th")): text_of(row.find("td"))
            for row in card.findall(".//details[@class='features']//tr")
        }
        assert measurements == {"brightness": "0.41", "sharpness": "812.5", "entropy": "7.12"}
        # Face detection did not run: nothing is said about faces.
        assert card.find(".//p[@class='faces']") is None


def detected(
    box: tuple[int, int, int, int], score: float, smiling: float, *, eyes_closed: bool = False
) -> Face:
    """A face as the detector reports it."""
    return Face(
        box=box,
        score=score,
        keypoints=(),
        eyes=0.1 if eyes_closed else 0.3,
        eyes_closed=eyes_closed,
        mouth=0.05,
        smiling=smiling,
        yaw=-12.0,
        pose="frontal",
        sharpness=150.0,
        cut=False,
    )


def test_cards_show_faces_when_detection_ran(tmp_path: Path) -> None:
    found = (
        ArtworkFace(
            detected((32, 18, 96, 90), 0.97, 0.8), relative_size=0.08, center=(0.2, 0.3), cut=False
        ),
        ArtworkFace(
            detected((200, 40, 240, 80), 0.6, 0.1, eyes_closed=True),
            relative_size=0.028,
            center=(0.7, 0.33),
            cut=True,
        ),
    )
    root = parse(build(tmp_path, faces=found, candidates=1))
    card = root.find(".//article[@id='candidate-1']")
    assert card is not None
    assert text_of(card.find(".//p[@class='faces']")) == (
        "2 faces; the largest covers 8.0% of the picture"
    )
    boxes = [span for span in card.iter("span") if "face-box" in classes(span)]
    assert [box.get("style") for box in boxes] == [
        "left:10.0%;top:10.0%;width:20.0%;height:40.0%",
        "left:62.5%;top:22.2%;width:12.5%;height:22.2%",
    ]
    # What a designer must see at a glance is marked on the box itself.
    assert classes(boxes[0]) == ["face-box", "smiling"]
    assert classes(boxes[1]) == ["face-box", "eyes-closed", "cut"]
    assert "confidence 0.97" in (boxes[0].get("title") or "")
    assert "eyes closed (EAR 0.10)" in (boxes[1].get("title") or "")
    rows = {
        text_of(row.find("th")): text_of(row.find("td"))
        for row in card.findall(".//details[@class='features']//tr")
    }
    assert rows["face 1"].startswith("32, 18 \u2013 96, 90; eyes open (EAR 0.30), smile 0.80")
    assert rows["face 2"].endswith("cut by the edge")

    root = parse(build(tmp_path, faces=(), candidates=1))
    assert text_of(root.find(".//p[@class='faces']")) == "No faces found"
    assert not [span for span in root.iter("span") if "face-box" in classes(span)]


# --------------------------------------------------------------------------- timeline


def test_timeline_draws_the_geometry_it_was_given(tmp_path: Path) -> None:
    arguments = pick(tmp_path)
    root = parse(write_report(tmp_path / "report.html", **arguments))
    svg = timeline_svg(root)
    expected = build_timeline(
        arguments["frames"], arguments["shots"].shots, arguments["selection"].candidates
    )
    assert svg.get("viewBox") == f"0 0 {expected.width} {coordinate(expected.height)}"

    markers = [g for g in svg.iter(f"{SVG}g") if "marker" in classes(g)]
    assert len(markers) == len(expected.markers) == 3
    # Painted best rank last, so that it stays on top of any disc it overlaps.
    for group, marker in zip(markers, expected.markers[::-1], strict=True):
        circle = group.find(f"{SVG}circle")
        assert circle is not None
        assert circle.get("cx") == coordinate(marker.x)
        assert circle.get("cy") == coordinate(marker.y)
        assert text_of(group.find(f"{SVG}text")) == marker.label
        assert text_of(group.find(f"{SVG}title")) == marker.tooltip
    links = [a.get("href") for a in svg.iter(f"{SVG}a")]
    assert links == [f"#candidate-{rank}" for rank in (3, 2, 1)]
    ids = {element.get("id") for element in root.iter()}
    assert all(link[1:] in ids for link in links if link)

    boundaries = [line for line in svg.iter(f"{SVG}line") if "boundary" in classes(line)]
    assert [classes(line)[1] for line in boundaries] == TRANSITIONS[1:]
    assert [line.get("x1") for line in boundaries] == [coordinate(b.x) for b in expected.boundaries]
    assert {line.get("y2") for line in boundaries} == {coordinate(expected.lanes_bottom)}
    for line, boundary in zip(boundaries, expected.boundaries, strict=True):
        assert text_of(line.find(f"{SVG}title")) == boundary.tooltip

    lanes = [g for g in svg.iter(f"{SVG}g") if "lane" in classes(g)]
    assert [classes(g)[1] for g in lanes] == [
        "lane-shots",
        "lane-brightness",
        "lane-sharpness",
        "lane-motion",
        "lane-cut-score",
    ]
    for group, lane in zip(lanes[1:], expected.lanes, strict=True):
        assert text_of(group.find(f"{SVG}rect/{SVG}title")) == lane.tooltip
        assert [text_of(t) for t in group.findall(f"{SVG}text")] == [lane.label, lane.scale]
    # 2400 frames are more than BUCKETS: a min/max band and a mean line per lane.
    paths = {(classes(p)[0], p.get("d")) for p in svg.iter(f"{SVG}path")}
    assert paths == {("band", lane.fill_path) for lane in expected.lanes} | {
        ("line", lane.line_path) for lane in expected.lanes
    }
    ticks = [t for t in svg.iter(f"{SVG}text") if "tick" in classes(t)]
    assert [(t.get("x"), t.get("text-anchor")) for t in ticks] == [
        (coordinate(tick.x), tick.anchor) for tick in expected.ticks
    ]
    ticks = [text_of(t) for t in ticks]
    assert ticks == [tick.label for tick in expected.ticks]
    assert ticks[:3] == ["0:00", "0:10", "0:20"]
    legend = [text_of(li) for li in root.findall(".//ul[@class='legend']/li")]
    assert legend == ["cut (3)", "fade (1)", "dissolve (1)", "1chosen frame (by rank)"]


def test_short_clip_is_drawn_frame_by_frame(tmp_path: Path) -> None:
    report = build(
        tmp_path, count=BUCKETS, candidates=1, starts=[0, 500], transitions=[None, "cut"]
    )
    svg = timeline_svg(parse(report))
    assert sorted(classes(p)[0] for p in svg.iter(f"{SVG}path")) == ["area"] * 4 + ["line"] * 4


def test_long_title_stays_small(tmp_path: Path) -> None:
    count = 172_800
    starts = list(range(0, count, 240))
    transitions = [None, *(["cut", "fade", "dissolve"] * 300)][: len(starts)]
    report = build(tmp_path, count=count, starts=starts, transitions=transitions)
    root = parse(report)
    svg = timeline_svg(root)
    for path in svg.iter(f"{SVG}path"):
        numbers = re.findall(r"-?\d+(?:\.\d+)?", path.get("d", ""))
        assert len(numbers) // 2 <= 2 * BUCKETS + 8
    boundaries = [line for line in svg.iter(f"{SVG}line") if "boundary" in classes(line)]
    assert len(boundaries) == len(starts) - 1 > DENSE_BOUNDARIES
    strip = next(g for g in svg.iter(f"{SVG}g") if "lane-shots" in classes(g)).find(f"{SVG}rect")
    assert strip is not None
    strip_bottom = float(strip.get("y", "nan")) + float(strip.get("height", "nan"))
    assert {float(line.get("y2", "nan")) for line in boundaries} == {strip_bottom}
    details = root.find(".//details[@class='shot-list']")
    assert details is not None and details.get("open") is None
    assert len(details.findall(".//tbody/tr")) == len(starts)
    assert report.stat().st_size < 1_500_000


# --------------------------------------------------------------------------- tables


def test_short_shot_table_starts_open(tmp_path: Path) -> None:
    arguments = pick(tmp_path)
    root = parse(write_report(tmp_path / "report.html", **arguments))
    details = root.find(".//details[@class='shot-list']")
    assert details is not None and details.get("open") == "open"
    assert len(SHOT_STARTS) <= SHOT_TABLE_OPEN_LIMIT
    assert text_of(details.find("summary")) == "6 shots"
    rows = [[text_of(td) for td in row.findall("td")] for row in details.findall(".//tbody/tr")]
    assert len(rows) == len(SHOT_STARTS)
    assert rows[0] == ["0", "00:00:00.000", "00:00:12.500", "12.50 s", "300", "\u2013", ""]
    assert rows[1] == ["1", "00:00:12.500", "00:00:29.167", "16.67 s", "400", "cut", "#1"]
    assert [row[-1] for row in rows[2:]] == ["", "#2", "", "#3"]
    pills = [span for span in details.iter("span") if "pill" in classes(span)]
    assert [classes(p)[1] for p in pills] == TRANSITIONS[1:]


def test_filters_table_counts_frames_and_duplicate_shots(tmp_path: Path) -> None:
    root = parse(build(tmp_path))
    rows = filter_rows(root)
    assert list(rows) == [*FILTER_COUNTS, "duplicate-shot"]
    for name, count in FILTER_COUNTS.items():
        count_cell, share, _bar, note = rows[name]
        assert count_cell == f"{count:,}"
        assert share == f"{count / FRAMES * 100:.1f}%"
        assert note == FILTER_NOTES[name]
    # Shots, not frames: no share of the frames, no bar, and out of the totals.
    assert rows["duplicate-shot"][:3] == [str(len(DUPLICATE_SHOTS)), "\u2013", ""]
    table = root.find(".//table[@class='data rejections']")
    assert table is not None
    footer = [text_of(cell) for cell in table.findall("./tfoot/tr/*")]
    assert footer == [
        "all filters",
        f"{FRAME_REJECTIONS:,}",
        f"{FRAME_REJECTIONS / FRAMES * 100:.1f}%",
        "",
        f"{FRAMES - FRAME_REJECTIONS:,} frames left to choose from",
    ]
    assert facts(root)["Eligible frames"] == f"{FRAMES - FRAME_REJECTIONS:,}"


# --------------------------------------------------------------------------- safety


def test_text_from_the_file_is_escaped(tmp_path: Path) -> None:
    hostile = {
        "title": "<script>alert(1)</script>",
        "comment": '<img src=x onerror="alert(2)"> & more',
        "stream_title": "<svg onload=alert(3)>",
        "codec": "<b>h264</b>",
    }
    arguments = pick(tmp_path, candidates=1, video=hostile)
    candidate = dataclasses.replace(
        arguments["selection"].candidates[0], reasons=('<img src=x onerror="alert(4)">',)
    )
    arguments["selection"] = dataclasses.replace(arguments["selection"], candidates=(candidate,))
    arguments["artwork"] = [
        dataclasses.replace(arguments["artwork"][0], candidate=candidate, tags=("<i>tag</i>",))
    ]
    report = write_report(tmp_path / "report.html", **arguments)
    text = report.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "/media/&lt;script&gt;alert(1)&lt;/script&gt; &amp; co/episode &lt;01&gt;.mp4" in text
    root = parse(report)
    assert_no_live_markup(root)
    assert all(text_of(b) != "h264" for b in root.iter("b"))
    assert not list(root.iter("i"))
    shown = text_of(root)
    for value in (*hostile.values(), SOURCE, "<i>tag</i>", '<img src=x onerror="alert(4)">'):
        assert value in shown


def test_image_paths_must_stay_in_the_report_directory(tmp_path: Path) -> None:
    for image in ("/etc/passwd", "https://example.com/x.jpg", "../outside.jpg", "a/../../b.jpg"):
        arguments = pick(tmp_path, candidates=1, sheet=False)
        arguments["files"] = [dataclasses.replace(arguments["files"][0], image=image)]
        with pytest.raises(ValueError, match="relative path inside the report's directory"):
            write_report(tmp_path / "report.html", **arguments)
    arguments = pick(tmp_path, candidates=1, sheet=False)
    with pytest.raises(ValueError, match="contact sheet"):
        write_report(tmp_path / "report.html", **{**arguments, "contact_sheet": "C:/sheet.jpg"})
    crops = {"16:9": "javascript:alert(1)", "1:1": "crops/a.jpg"}
    arguments["files"] = [dataclasses.replace(arguments["files"][0], crops=crops)]
    with pytest.raises(ValueError, match="crop"):
        write_report(tmp_path / "report.html", **arguments)
    assert not (tmp_path / "report.html").exists()


def test_inputs_that_do_not_belong_together_are_refused(tmp_path: Path) -> None:
    arguments = pick(tmp_path, candidates=2, sheet=False)
    with pytest.raises(ValueError, match="rank order"):
        render_report(**{**arguments, "artwork": arguments["artwork"][::-1]})
    with pytest.raises(ValueError, match="files"):
        render_report(**{**arguments, "files": arguments["files"][:1]})
    other = pick(tmp_path, count=100, candidates=0, rejected={}, starts=[0], transitions=[None])
    with pytest.raises(ValueError, match="judged 2400 frames but the table has 100"):
        render_report(**{**arguments, "frames": other["frames"]})


def test_report_is_byte_identical_across_runs(tmp_path: Path) -> None:
    first = build(tmp_path / "a").read_bytes()
    second = build(tmp_path / "b").read_bytes()
    assert first == second
    arguments = pick(tmp_path / "c")
    assert render_report(**arguments).encode("utf-8") == first


def test_report_without_candidates_or_frames(tmp_path: Path) -> None:
    empty = {name: values[:0] for name, values in make_frames(1, fps=FPS).items()}
    frames = FrameTable.from_columns(empty, video=dataclasses.replace(VIDEO, duration=None))
    report = write_report(
        tmp_path / "report.html",
        frames=frames,
        shots=ShotDetection((), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0)),
        selection=Selection((), np.zeros(0), (), {}),
        artwork=[],
        files=[],
    )
    root = parse(report)
    svg = timeline_svg(root)
    assert not [g for g in svg.iter(f"{SVG}g") if "marker" in classes(g)]
    assert [text_of(t) for t in svg.iter(f"{SVG}text") if "lane-empty" in classes(t)] == [
        "not measured"
    ] * 4
    assert "No frame passed the filters" in text_of(root)
    assert text_of(root.find(".//h1")) == "Untitled video"
    assert root.find(".//p[@class='path']") is None
    assert root.find(".//section[@id='contact-sheet']") is None
    nav = [a.get("href") for a in root.findall(".//nav//a")]
    assert nav == ["#candidates", "#timeline", "#filters", "#shots"]
    assert facts(root)["Duration"] == "\u2013"
    assert filter_rows(root)["transition"][:2] == ["0", "\u2013"]


# --------------------------------------------------------------------------- real picks


def run_pick(video: Path, outdir: Path, k: int = 4) -> None:
    assert main(["pick", str(video), "-k", str(k), "-o", str(outdir), "--quiet"]) == 0


def test_report_of_a_real_pick(bikes: Path, tmp_path: Path) -> None:
    run_pick(bikes, tmp_path, k=4)
    root = parse(tmp_path / "report.html")
    candidates = json.loads((tmp_path / "candidates.json").read_text(encoding="utf-8"))
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert len(candidates) == 4
    cards = [card for card in root.iter("article") if "card" in classes(card)]
    assert len(cards) == len(candidates)
    for card, candidate in zip(cards, candidates, strict=True):
        assert card.get("id") == f"candidate-{candidate['rank']}"
        assert text_of(card.find(".//span[@class='time']")) == timecode(candidate["time"])
        img = card.find(".//img")
        assert img is not None and img.get("src") == candidate["thumbnail"]
        assert (tmp_path / candidate["image"]).is_file()
        # Faces ran (the test extra installs OpenCV): the card says how many it found.
        if "faces" in candidate:
            faces = text_of(card.find(".//p[@class='faces']"))
            assert faces.startswith(str(len(candidate["faces"])) if candidate["faces"] else "No")
    svg = timeline_svg(root)
    markers = [g for g in svg.iter(f"{SVG}g") if "marker" in classes(g)]
    assert len(markers) == len(candidates)
    boundaries = [line for line in svg.iter(f"{SVG}line") if "boundary" in classes(line)]
    assert len(boundaries) == len(summary["shots"]) - 1 == 5
    rows = filter_rows(root)
    for name, count in summary["rejected"].items():
        assert rows[name][0] == f"{count:,}"
    assert rows["duplicate-shot"][0] == str(summary["duplicate_shot_count"])
    assert facts(root)["Eligible frames"] == f"{summary['eligible_frames']:,}"
    assert facts(root)["Frames analysed"] == "250"
    assert text_of(root.find(".//h1")) == "bikes.mp4"
    for element in root.iter():
        for name in ("src", "href"):
            value = element.get(name)
            if value and not value.startswith("#"):
                assert (tmp_path / urllib.parse.unquote(value)).is_file(), value
    assert_no_live_markup(root)


def write_tagged_video(path: Path, tags: Mapping[str, str], stream_name: str) -> None:
    """Three short shots in MP4 with container tags and a stream name (its handler)."""
    frames, _ = videos.concatenate_shots(
        videos.moving_pattern_frames(30, seed=seed) for seed in range(3)
    )
    with av.open(str(path), "w") as container:
        container.metadata.update(tags)
        stream = container.add_stream(
            "libx264", rate=25, options={"crf": "12", "preset": "veryfast", "threads": "1"}
        )
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.metadata["handler_name"] = stream_name
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_markup_in_a_videos_name_and_tags_stays_text(tmp_path: Path) -> None:
    title = "<script>alert(1)</script>"
    comment = '<b onmouseover="alert(2)">bold</b> & <iframe src="javascript:alert(3)"></iframe>'
    stream_name = "<svg onload=alert(4)>"
    name = '"><img src=x onerror=alert(1)>.mp4'
    video = tmp_path / name
    write_tagged_video(video, {"title": title, "comment": comment}, stream_name)
    # The tags really are in the file, so the page had markup to show.
    info = probe(video)
    assert (info.title, info.comment, info.stream_title) == (title, comment, stream_name)

    outdir = tmp_path / "out"
    run_pick(video, outdir)
    text = (outdir / "report.html").read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert not list(root.iter("script"))
    assert not [e for e in root.iter() if any(a.lower().startswith("on") for a in e.attrib)]
    assert not [img for img in root.iter("img") if img.get("src") == "x"]
    assert_no_live_markup(root)
    assert all(text_of(b) != "bold" for b in root.iter("b"))
    assert not list(root.iter("svg"))
    assert [svg.get("id") for svg in root.iter(f"{SVG}svg")] == ["timeline-svg"]
    # Shown, as text: the title escaped in the source, whole in what a reader sees.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    shown = text_of(root)
    for value in (title, comment, stream_name, name, str(video)):
        assert value in shown
    assert text_of(root.find(".//h1")) == name
    assert text_of(root.find("./head/title")) == f"{name} · thumbsel report"
    cards = [card for card in root.iter("article") if "card" in classes(card)]
    assert cards
