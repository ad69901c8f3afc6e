"""The HTML report, the contact sheet and the JPEG writer, on synthetic inputs."""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from thumbsel.errors import OutputError
from thumbsel.outputs.report import BUCKETS, clock, envelope, write_report
from thumbsel.outputs.sheets import (
    GAP,
    MARGIN,
    label_strip_height,
    make_thumbnail,
    save_jpeg,
    write_contact_sheet,
)

SVG = "{http://www.w3.org/2000/svg}"
FPS = 24.0
FILTER_COUNTS = {
    "transition": 321,
    "dark": 123,
    "blown-out": 0,
    "low-information": 17,
    "blurry": 45,
    "motion": 9,
    "duplicate-shot": 4,
}
"""Rejection counts; ``duplicate-shot`` counts shots, so it stays out of the frame totals."""
FRAME_REJECTIONS = sum(v for k, v in FILTER_COUNTS.items() if k != "duplicate-shot")
TRANSITIONS = [None, "cut", "fade", "dissolve", "cut", "cut"]
SHOT_STARTS = [0, 300, 700, 1200, 1750, 2100]


def picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient with a little texture: compresses like a real frame."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 255, height)[:, None]
    x = np.linspace(0, 255, width)[None, :]
    base = np.stack([y + 0 * x, x + 0 * y, (x + y) / 2], axis=2)
    noise = rng.normal(0, 8, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make_shots(
    starts: list[int], transitions: list[str | None], frames: int
) -> list[dict[str, Any]]:
    ends = [*starts[1:], frames]
    return [
        {
            "index": index,
            "start_frame": start,
            "end_frame": end,
            "start_time": start / FPS,
            "end_time": end / FPS,
            "transition_in": transition,
        }
        for index, (start, end, transition) in enumerate(
            zip(starts, ends, transitions, strict=True)
        )
    ]


def make_timeline(frames: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    time = np.arange(frames) / FPS
    motion = np.abs(rng.normal(0.01, 0.005, frames))
    motion[0] = np.nan
    cut_score = np.abs(rng.normal(3.0, 1.0, frames))
    cut_score[0] = np.nan
    for start in SHOT_STARTS[1:]:
        if start < frames:
            cut_score[start] = 80.0
    return {
        "time": time,
        "brightness": 0.45 + 0.25 * np.sin(time / 7.0),
        "sharpness": rng.gamma(2.0, 150.0, frames),
        "motion": motion,
        "cut_score": cut_score,
    }


def make_candidates(outdir: Path, count: int = 3) -> list[dict[str, Any]]:
    candidates = []
    frames = [420, 1500, 2200, 900, 60, 1900, 2300][:count]
    for rank, frame in enumerate(frames, start=1):
        stem = f"candidate-{rank:02d}-frame{frame:06d}"
        full = picture(180, 320, seed=rank)
        save_jpeg(full, outdir / f"{stem}.jpg")
        save_jpeg(make_thumbnail(full, 160), outdir / "thumbnails" / f"{stem}.jpg")
        shot = max(i for i, start in enumerate(SHOT_STARTS) if start <= frame)
        candidates.append(
            {
                "rank": rank,
                "frame": frame,
                "time": frame / FPS,
                "score": 0.9 - 0.1 * rank,
                "shot": shot,
                "image": f"{stem}.jpg",
                "thumbnail": f"thumbnails/{stem}.jpg",
                "phash": "0123456789abcdef",
                "features": {"brightness": 0.41, "sharpness": 812.5, "entropy": 7.12},
                "signals": {"sharpness": 0.93, "exposure": 0.81, "stillness": 0.2},
                "reasons": [f"best of shot {shot}", "sharpness 0.93, exposure 0.81"],
            }
        )
    return candidates


def build(outdir: Path, **overrides: Any) -> Path:
    """A report with realistic synthetic content, written into ``outdir``."""
    frames = overrides.pop("frames", 2400)
    with_sheet = overrides.pop("sheet", True)
    candidates = overrides.pop("candidates", None)
    if candidates is None:
        candidates = make_candidates(outdir)
    arguments: dict[str, Any] = {
        "title": "episode <01>.mp4",
        "video": {
            "path": "/media/<script>alert(1)</script> & co/episode.mp4",
            "width": 320,
            "height": 180,
            "frame_rate": FPS,
            "duration": frames / FPS,
            "codec": "h264",
            "frames": frames,
            "letterbox": {"top": 0, "bottom": 0, "left": 0, "right": 0},
            "decode": f"decoded {frames} frames",
        },
        "candidates": candidates,
        "rejected": dict(FILTER_COUNTS),
        "contact_sheet": None,
    }
    if candidates and with_sheet:
        sheet = write_contact_sheet(
            [np.asarray(Image.open(outdir / c["image"])) for c in candidates],
            [f"#{c['rank']}  {clock(c['time'])}" for c in candidates],
            outdir / "contact-sheet.jpg",
        )
        arguments["contact_sheet"] = sheet.name
    arguments.update(overrides)
    if "shots" not in arguments:
        arguments["shots"] = make_shots(SHOT_STARTS, TRANSITIONS, frames)
    if "timeline" not in arguments:
        arguments["timeline"] = make_timeline(frames)
    return write_report(outdir / "report.html", **arguments)


def parse(path: Path) -> ET.Element:
    return ET.fromstring(path.read_text(encoding="utf-8"))


def classes(element: ET.Element) -> list[str]:
    return element.get("class", "").split()


def timeline_svg(root: ET.Element) -> ET.Element:
    svg = root.find(f".//{SVG}svg[@id='timeline-svg']")
    assert svg is not None
    return svg


# --------------------------------------------------------------------------- report


def test_report_is_well_formed_and_self_contained(tmp_path: Path) -> None:
    report = build(tmp_path)
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    root = parse(report)  # raises on any unbalanced tag or bad entity
    assert root.tag == "html"
    ids = {element.get("id") for element in root.iter()} - {None}
    references = []
    for element in root.iter():
        for name in ("src", "href"):
            value = element.get(name)
            if value is not None:
                references.append(value)
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
    # Nothing that would load from elsewhere.
    assert not list(root.iter("script"))
    assert not list(root.iter("link"))
    assert "@import" not in text
    assert "url(" not in text
    assert not list(tmp_path.rglob("*.part"))


def test_candidates_show_rank_time_and_signals(tmp_path: Path) -> None:
    candidates = make_candidates(tmp_path, count=4)
    report = build(tmp_path, candidates=candidates)
    root = parse(report)
    text = report.read_text(encoding="utf-8")
    for candidate in candidates:
        card = root.find(f".//article[@id='candidate-{candidate['rank']}']")
        assert card is not None
        card_text = "".join(card.itertext())
        assert f"#{candidate['rank']}" in card_text
        assert clock(candidate["time"]) in card_text
        assert f"{candidate['score']:.2f}" in card_text
        assert candidate["reasons"][0] in card_text
        bars = [e for e in card.iter("span") if "fill" in classes(e)]
        assert len(bars) == len(candidate["signals"])
        img = card.find(".//img")
        assert img is not None
        assert img.get("src") == candidate["thumbnail"]
    # Cards come in rank order.
    order = [int(m) for m in re.findall(r'<article class="card" id="candidate-(\d+)"', text)]
    assert order == [1, 2, 3, 4]


def test_clock_format() -> None:
    assert clock(83.48) == "00:01:23.480"
    assert clock(2 * 3600 + 59.9996) == "02:01:00.000"
    assert clock(0) == "00:00:00.000"
    assert clock(float("nan")) == "\u2013"
    assert clock(None) == "\u2013"


def test_timeline_marks_each_candidate_and_shot_boundary(tmp_path: Path) -> None:
    report = build(tmp_path)
    root = parse(report)
    svg = timeline_svg(root)
    markers = [g for g in svg.iter(f"{SVG}g") if "marker" in classes(g)]
    assert len(markers) == 3
    numbers = sorted(int("".join(m.find(f"{SVG}text").itertext())) for m in markers)  # type: ignore[union-attr]
    assert numbers == [1, 2, 3]
    for marker in markers:
        assert marker.find(f"{SVG}title") is not None
    boundaries = [line for line in svg.iter(f"{SVG}line") if "boundary" in classes(line)]
    assert len(boundaries) == len(SHOT_STARTS) - 1
    kinds = [next(c for c in classes(line) if c != "boundary") for line in boundaries]
    assert kinds == TRANSITIONS[1:]
    for line in boundaries:
        title = line.find(f"{SVG}title")
        assert title is not None and "begins at" in (title.text or "")
    lanes = [g for g in svg.iter(f"{SVG}g") if "lane" in classes(g)]
    assert [classes(g)[1] for g in lanes] == [
        "lane-shots",
        "lane-brightness",
        "lane-sharpness",
        "lane-motion",
        "lane-cut-score",
    ]
    # 2400 frames are more than BUCKETS: a min/max band and a mean line per lane.
    assert sorted(classes(p)[0] for p in svg.iter(f"{SVG}path")) == ["band"] * 4 + ["line"] * 4

    # Each marker sits between the boundaries of its shot (frames 420, 1500, 2200).
    edges = [float(line.get("x1", "nan")) for line in boundaries]
    centre = {
        int("".join(m.find(f"{SVG}text").itertext())): float(  # type: ignore[union-attr]
            m.find(f"{SVG}circle").get("cx", "nan")  # type: ignore[union-attr]
        )
        for m in markers
    }
    assert edges[0] < centre[1] < edges[1]
    assert edges[2] < centre[2] < edges[3]
    assert edges[4] < centre[3]


def test_short_clip_is_drawn_frame_by_frame(tmp_path: Path) -> None:
    svg = timeline_svg(parse(build(tmp_path, frames=BUCKETS)))
    assert sorted(classes(p)[0] for p in svg.iter(f"{SVG}path")) == ["area"] * 4 + ["line"] * 4


def test_envelope_keeps_a_single_frame_spike() -> None:
    count = 172_800  # two hours at 24 fps
    time = np.arange(count) / FPS
    values = np.full(count, 0.5)
    values[54_321] = 7.0
    values[100_000] = -3.0
    reduced = envelope(time, values)
    assert reduced.reduced
    assert len(reduced.time) == len(reduced.high) == len(reduced.low) == BUCKETS
    bucket = count / BUCKETS / FPS  # seconds per bucket
    assert reduced.high.max() == 7.0
    assert abs(reduced.time[np.argmax(reduced.high)] - time[54_321]) <= bucket
    assert reduced.low.min() == -3.0
    assert abs(reduced.time[np.argmin(reduced.low)] - time[100_000]) <= bucket
    assert np.all(np.diff(reduced.time) > 0)
    # The spike does not drag the mean of its bucket far from the trend.
    assert reduced.mean.max() < 0.5 + 7.0 / (count / BUCKETS) + 1e-9


def test_envelope_leaves_short_series_and_marks_gaps() -> None:
    time = np.arange(10.0)
    values = np.arange(10.0) ** 2
    reduced = envelope(time, values)
    assert not reduced.reduced
    np.testing.assert_array_equal(reduced.time, time)
    for series in (reduced.low, reduced.high, reduced.mean):
        np.testing.assert_array_equal(series, values)

    values = np.ones(10_000)
    values[:5000] = np.nan
    values[7000] = np.nan
    reduced = envelope(np.arange(10_000.0), values, buckets=100)
    assert len(reduced.time) == 100
    assert np.isnan(reduced.high[:50]).all() and np.isnan(reduced.mean[:50]).all()
    np.testing.assert_array_equal(reduced.high[50:], 1.0)
    np.testing.assert_array_equal(reduced.mean[50:], 1.0)


def test_timeline_draws_a_spike_of_a_long_title(tmp_path: Path) -> None:
    frames = 100_000
    timeline = make_timeline(frames)
    timeline["cut_score"] = np.full(frames, 2.0)
    timeline["cut_score"][77_777] = 200.0
    report = build(tmp_path, frames=frames, timeline=timeline)
    svg = timeline_svg(parse(report))
    band = next(
        path
        for group in svg.iter(f"{SVG}g")
        if classes(group) == ["series", "lane-cut-score"]
        for path in group.iter(f"{SVG}path")
        if "band" in classes(path)
    )
    ys = [float(y) for y in re.findall(r"-?[\d.]+ (-?[\d.]+)", band.get("d", ""))]
    # The scale tops out at the spike, so the band reaches the top of its lane once.
    assert max(ys) - min(ys) > 50


def test_long_title_stays_small(tmp_path: Path) -> None:
    frames = 172_800
    shots = make_shots(
        list(range(0, frames, 240)),
        [None, *(["cut", "fade", "dissolve"] * 300)][: len(range(0, frames, 240))],
        frames,
    )
    report = build(tmp_path, frames=frames, shots=shots)
    root = parse(report)
    svg = timeline_svg(root)
    for path in svg.iter(f"{SVG}path"):
        numbers = re.findall(r"-?\d+(?:\.\d+)?", path.get("d", ""))
        assert len(numbers) // 2 <= 2 * BUCKETS + 8
    boundaries = [line for line in svg.iter(f"{SVG}line") if "boundary" in classes(line)]
    assert len(boundaries) == len(shots) - 1
    details = root.find(".//details[@class='shot-list']")
    assert details is not None and details.get("open") is None
    assert report.stat().st_size < 1_500_000


def test_short_shot_table_starts_open(tmp_path: Path) -> None:
    root = parse(build(tmp_path))
    details = root.find(".//details[@class='shot-list']")
    assert details is not None and details.get("open") == "open"
    rows = details.findall(".//tbody/tr")
    assert len(rows) == len(SHOT_STARTS)


def test_rejection_counts_appear(tmp_path: Path) -> None:
    root = parse(build(tmp_path))
    table = root.find(".//table[@class='data rejections']")
    assert table is not None
    shown = {}
    for row in table.findall("./tbody/tr"):
        header = row.find("th")
        cells = row.findall("td")
        assert header is not None
        shown[header.text] = cells[0].text
    assert shown == {name: f"{count:,}" for name, count in FILTER_COUNTS.items()}
    total = "".join(table.find("tfoot").itertext())  # type: ignore[union-attr]
    assert f"{FRAME_REJECTIONS:,}" in total
    assert f"{2400 - FRAME_REJECTIONS:,} frames left" in total
    facts = {
        "".join(fact.find("dt").itertext()): "".join(fact.find("dd").itertext())  # type: ignore[union-attr]
        for fact in root.iter("div")
        if "fact" in classes(fact)
    }
    assert facts["Eligible frames"] == f"{2400 - FRAME_REJECTIONS:,}"
    assert facts["Shots"] == str(len(SHOT_STARTS))
    assert facts["Duration"] == "00:01:40.000"


def test_text_is_escaped(tmp_path: Path) -> None:
    candidates = make_candidates(tmp_path, count=1)
    candidates[0]["reasons"] = ['<img src=x onerror="alert(1)">']
    report = build(tmp_path, candidates=candidates, title="<b>bold</b> & title")
    text = report.read_text(encoding="utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert "<b>bold</b>" not in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; title" in text
    assert "<img src=x" not in text
    root = parse(report)
    assert not list(root.iter("script"))
    assert all("".join(b.itertext()) != "bold" for b in root.iter("b"))
    assert "/media/<script>alert(1)</script> & co/episode.mp4" in "".join(root.itertext())


def test_report_is_byte_identical_across_runs(tmp_path: Path) -> None:
    first = build(tmp_path / "a").read_bytes()
    second = build(tmp_path / "b").read_bytes()
    assert first == second
    for name in ("contact-sheet.jpg", "candidate-01-frame000420.jpg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_report_without_candidates_or_data(tmp_path: Path) -> None:
    report = build(
        tmp_path,
        candidates=[],
        frames=0,
        shots=[],
        timeline={"time": np.zeros(0)},
        rejected={},
    )
    root = parse(report)
    svg = timeline_svg(root)
    assert not [g for g in svg.iter(f"{SVG}g") if "marker" in classes(g)]
    assert "No frame passed the filters" in report.read_text(encoding="utf-8")


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    timeline = make_timeline(100)
    timeline["motion"] = timeline["motion"][:50]
    with pytest.raises(ValueError, match="motion"):
        build(tmp_path, timeline=timeline)
    for image in ("/etc/passwd", "https://example.com/x.jpg", "../outside.jpg"):
        candidates = make_candidates(tmp_path, count=1)
        candidates[0]["image"] = image
        with pytest.raises(ValueError, match="relative path"):
            build(tmp_path, candidates=candidates, sheet=False)
    assert not (tmp_path / "report.html").exists()


# --------------------------------------------------------------------------- sheets


@pytest.mark.parametrize(
    ("shape", "width", "expected"),
    [
        ((720, 1280), 320, (180, 320)),
        ((1080, 1440), 320, (240, 320)),
        ((1920, 1080), 320, (569, 320)),
        ((100, 50), 200, (400, 200)),
    ],
)
def test_thumbnails_keep_aspect_ratio(
    shape: tuple[int, int], width: int, expected: tuple[int, int]
) -> None:
    thumbnail = make_thumbnail(picture(*shape), width)
    assert thumbnail.dtype == np.uint8
    assert thumbnail.shape == (*expected, 3)
    assert abs(thumbnail.shape[0] / thumbnail.shape[1] - shape[0] / shape[1]) < 1 / width


def test_thumbnail_refuses_bad_pictures() -> None:
    with pytest.raises(ValueError):
        make_thumbnail(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        make_thumbnail(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError):
        make_thumbnail(np.zeros((10, 10, 3), np.uint8), 0)


@pytest.mark.parametrize(("count", "columns"), [(5, 3), (8, 4), (2, 4), (1, 1), (7, 2)])
def test_contact_sheet_size(tmp_path: Path, count: int, columns: int) -> None:
    tile_width = 200
    pictures = [picture(90, 160, seed=i) for i in range(count)]
    target = write_contact_sheet(
        pictures,
        [f"#{i + 1}  00:00:0{i}.000  shot {i}  score 0.5" for i in range(count)],
        tmp_path / "sheet.jpg",
        columns=columns,
        tile_width=tile_width,
    )
    used = min(columns, count)
    rows = -(-count // used)
    tile_height = make_thumbnail(pictures[0], tile_width).shape[0]
    with Image.open(target) as sheet:
        assert sheet.format == "JPEG"
        assert sheet.size == (
            2 * MARGIN + used * tile_width + (used - 1) * GAP,
            2 * MARGIN + rows * (tile_height + label_strip_height(tile_width)) + (rows - 1) * GAP,
        )
        # Background is dark and neutral in the margin.
        r, g, b = sheet.convert("RGB").getpixel((2, 2))  # type: ignore[misc]
        assert max(r, g, b) < 50 and max(r, g, b) - min(r, g, b) < 8


def test_contact_sheet_mixed_aspects_and_long_labels(tmp_path: Path) -> None:
    pictures = [picture(90, 160), picture(160, 160), picture(40, 160)]
    target = write_contact_sheet(
        pictures, ["#1 " + "very long label " * 20, "#2", ""], tmp_path / "s.jpg", columns=3
    )
    with Image.open(target) as sheet:
        assert sheet.size[1] == 2 * MARGIN + 320 + label_strip_height(320)
    with pytest.raises(ValueError):
        write_contact_sheet(pictures, ["only one"], tmp_path / "t.jpg")
    with pytest.raises(ValueError):
        write_contact_sheet([], [], tmp_path / "t.jpg")


def test_contact_sheet_is_deterministic(tmp_path: Path) -> None:
    pictures = [picture(90, 160, seed=i) for i in range(5)]
    labels = [f"#{i + 1}  00:00:0{i}.000  shot {i}  score 0.5" for i in range(5)]
    a = write_contact_sheet(pictures, labels, tmp_path / "a.jpg")
    b = write_contact_sheet(pictures, labels, tmp_path / "b.jpg")
    assert a.read_bytes() == b.read_bytes()


def test_jpeg_is_plain_and_deterministic(tmp_path: Path) -> None:
    pixels = picture(120, 200)
    save_jpeg(pixels, tmp_path / "a.jpg")
    save_jpeg(pixels, tmp_path / "b.jpg")
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "b.jpg").read_bytes()
    with Image.open(tmp_path / "a.jpg") as image:
        assert image.format == "JPEG"
        assert image.size == (200, 120)
        assert not image.getexif()
        assert "exif" not in image.info
        decoded = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert np.abs(decoded - pixels).mean() < 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "b.jpg"]


def test_jpeg_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "frame.jpg"
    save_jpeg(picture(60, 80, seed=1), target)
    before = target.read_bytes()

    def failing_save(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        Path(fp).write_bytes(b"\xff\xd8 half a jpeg")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OutputError, match="No space left"):
        save_jpeg(picture(60, 80, seed=2), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["frame.jpg"]

    def crashing_save(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        Path(fp).write_bytes(b"\xff\xd8 half a jpeg")
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(Image.Image, "save", crashing_save)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        save_jpeg(picture(60, 80, seed=3), tmp_path / "new" / "frame.jpg")
    assert target.read_bytes() == before
    assert not list(tmp_path.rglob("*.part"))
    assert not (tmp_path / "new" / "frame.jpg").exists()
