"""The thumbsel command: outputs, exit codes and messages, on real and broken files."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import thumbsel
import videos
from av.video.reformatter import ColorRange, Colorspace
from PIL import Image
from thumbsel.cli import main

BUNNY_FRAMES = 132
BIKES_FRAMES = 250
CANDIDATE_KEYS = {"rank", "frame", "time", "score", "image"}
# What tqdm draws: "name:  40%|████      | 100/250 [00:01<00:01, 99.0frame/s]".
PROGRESS_BAR = re.compile(r"\d+%\||frame/s|it/s")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_in_process(*arguments: str | Path) -> Run:
    """Call main() with stdout and stderr captured (neither is a terminal)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([str(a) for a in arguments])
    return Run(code, stdout.getvalue(), stderr.getvalue())


def run_captured(capture: pytest.CaptureFixture[str], *arguments: str | Path) -> Run:
    """Call main() under capfd, which also sees what C libraries write to the descriptors."""
    capture.readouterr()
    code = main([str(a) for a in arguments])
    captured = capture.readouterr()
    return Run(code, captured.out, captured.err)


def assert_one_error_line(run: Run) -> None:
    assert run.code == 1, run
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("thumbsel: error:"), run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert "internal error" not in run.stderr


def reference_rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB of a frame of the sample as a player shows it.

    The sample is 720p H.264 with no colour tags, which by convention means
    BT.709 limited range; PyAV's own default for untagged frames is BT.601.
    """
    picture = frame.to_ndarray(
        format="rgb24",
        src_colorspace=Colorspace.ITU709,
        src_color_range=ColorRange.MPEG,
        dst_color_range=ColorRange.JPEG,
    )
    return np.asarray(picture, dtype=np.int16)


# --- pick on the bundled sample -----------------------------------------------


@pytest.fixture(scope="module")
def bunny_pick(bunny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    outdir = tmp_path_factory.mktemp("pick") / "out"
    return run_in_process("pick", bunny, "-k", "4", "-o", outdir, "--quiet"), outdir


def test_pick_succeeds_quietly(bunny_pick: tuple[Run, Path]) -> None:
    run, _ = bunny_pick
    assert run.code == 0, run
    assert run.stdout == ""
    assert run.stderr == ""


def test_pick_writes_candidates_best_first(bunny_pick: tuple[Run, Path]) -> None:
    _, outdir = bunny_pick
    document = json.loads((outdir / "candidates.json").read_text(encoding="utf-8"))
    assert isinstance(document, list)
    assert 1 <= len(document) <= 4
    for entry in document:
        assert set(entry) >= CANDIDATE_KEYS, entry
    assert [entry["rank"] for entry in document] == list(range(1, len(document) + 1))
    frames = [entry["frame"] for entry in document]
    assert len(set(frames)) == len(frames)
    for entry in document:
        assert 0 <= entry["frame"] < BUNNY_FRAMES
        assert entry["time"] == pytest.approx(entry["frame"] / 25, abs=1e-6)
        assert 0.0 <= entry["score"] <= 1.0

    table = pq.read_table(outdir / "frames.parquet")
    assert table.num_rows == BUNNY_FRAMES
    np.testing.assert_array_equal(table.column("frame").to_numpy(), np.arange(BUNNY_FRAMES))
    assert not list(outdir.rglob("*.part"))


def test_pick_images_are_the_chosen_frames(bunny: Path, bunny_pick: tuple[Run, Path]) -> None:
    _, outdir = bunny_pick
    document = json.loads((outdir / "candidates.json").read_text(encoding="utf-8"))
    images = {}
    for entry in document:
        path = outdir / entry["image"]
        assert path.is_file(), path
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.size == (1280, 720)
            assert image.mode == "RGB"
            images[entry["frame"]] = np.asarray(image, dtype=np.int16)

    # Compare each image with its frame and the frames around it, decoded by
    # PyAV alone: it must match its own frame (JPEG error only) at least as
    # well as any neighbour (some neighbours are repeats of the same picture).
    window = 4
    wanted = {f for frame in images for f in range(frame - window, frame + window + 1)}
    errors: dict[int, dict[int, float]] = {frame: {} for frame in images}
    with av.open(str(bunny)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index not in wanted:
                continue
            reference = reference_rgb(frame)
            for chosen, picture in images.items():
                if abs(index - chosen) <= window:
                    errors[chosen][index] = float(np.abs(picture - reference).mean())
    for chosen, by_index in errors.items():
        own = by_index[chosen]
        assert own < 3, (chosen, by_index)
        assert own <= min(by_index.values()) + 0.1, (chosen, by_index)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_pick_outputs_have_ordinary_permissions(bunny_pick: tuple[Run, Path]) -> None:
    # Written under a temporary name and renamed, but readable like any file
    # the user creates (a web server or a colleague must be able to open them).
    _, outdir = bunny_pick
    expected = 0o666 & ~current_umask()
    modes = {
        path.relative_to(outdir).as_posix(): oct(stat.S_IMODE(path.stat().st_mode))
        for path in outdir.rglob("*")
        if path.is_file()
    }
    assert "candidates.json" in modes
    assert modes == dict.fromkeys(modes, oct(expected))


# --- analyze --------------------------------------------------------------------


def test_analyze_writes_parquet_without_progress_bar(bikes: Path, tmp_path: Path) -> None:
    target = tmp_path / "x.parquet"
    run = run_in_process("analyze", bikes, "-o", target)
    assert run.code == 0, run
    assert target.is_file()
    assert pq.read_table(target).num_rows == BIKES_FRAMES
    assert f"{BIKES_FRAMES} frames" in run.stdout
    # stderr is not a terminal, so there is no progress bar (and nothing else).
    assert run.stderr == ""
    # The table, and beside it the faces sighted (for a later `pick --frames`).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.faces.parquet", "x.parquet"]


def test_progress_bar_is_drawn_when_asked_for(
    bikes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The counterpart of the checks that no bar appears: the pattern does
    # recognise the bar that thumbsel draws.
    thumbsel.analyze(bikes, progress=True)
    captured = capsys.readouterr()
    assert PROGRESS_BAR.search(captured.err), captured.err
    assert captured.out == ""


def test_installed_command(bikes: Path, tmp_path: Path) -> None:
    command = Path(sys.prefix) / "bin" / "thumbsel"
    assert command.is_file(), f"{command} is not installed"
    environment = {k: v for k, v in os.environ.items() if k != "THUMBSEL_DEBUG"}
    outdir = tmp_path / "picks"
    result = subprocess.run(
        [str(command), "pick", str(bikes), "-k", "3", "-o", str(outdir)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Not a terminal: no progress bar, no warnings.
    assert result.stderr == ""
    assert not PROGRESS_BAR.search(result.stderr)
    assert "candidates" in result.stdout
    document = json.loads((outdir / "candidates.json").read_text(encoding="utf-8"))
    assert 1 <= len(document) <= 3
    for entry in document:
        assert (outdir / entry["image"]).is_file()
        assert entry["image"] in result.stdout


# --- bad input -----------------------------------------------------------------


def make_missing(directory: Path) -> Path:
    return directory / "absent.mp4"


def make_text(directory: Path) -> Path:
    path = directory / "notes.mp4"
    path.write_text("this is a text file, not a video\n" * 50, encoding="utf-8")
    return path


def make_random_bytes(directory: Path) -> Path:
    path = directory / "noise.mp4"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 64_000, dtype=np.uint8).tobytes())
    return path


def make_audio_only(directory: Path) -> Path:
    return videos.write_audio_only(directory / "sound.m4a")


def make_without_frames(directory: Path) -> Path:
    return videos.write_video_without_frames(directory / "empty.avi")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (make_missing, "no such file"),
        (make_text, "not a video"),
        (make_random_bytes, "not a video"),
        (make_audio_only, "no video stream"),
        (make_without_frames, "no decodable frames"),
    ],
    ids=["missing", "text", "random-bytes", "audio-only", "no-frames"],
)
@pytest.mark.parametrize("command", ["pick", "analyze"])
def test_bad_input_is_one_error_line(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    make: Callable[[Path], Path],
    message: str,
    command: str,
) -> None:
    video = make(tmp_path)
    output = tmp_path / ("out" if command == "pick" else "out.parquet")
    run = run_captured(capfd, command, video, "-o", output)
    assert_one_error_line(run)
    assert str(video) in run.stderr
    assert message in run.stderr
    assert run.stdout == ""
    assert not output.exists()


def test_output_directory_that_is_a_file(
    bunny: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("keep me\n", encoding="utf-8")
    run = run_captured(capfd, "pick", bunny, "-o", blocker, "--quiet")
    assert_one_error_line(run)
    assert str(blocker) in run.stderr
    assert blocker.read_text(encoding="utf-8") == "keep me\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


def test_analyze_output_below_a_file(
    bikes: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("keep me\n", encoding="utf-8")
    run = run_captured(capfd, "analyze", bikes, "-o", blocker / "x.parquet", "--quiet")
    assert_one_error_line(run)
    assert blocker.read_text(encoding="utf-8") == "keep me\n"


# --- damaged input ----------------------------------------------------------------


def test_truncated_video_gives_results_and_a_warning(bikes: Path, tmp_path: Path) -> None:
    # Matroska declares the duration up front, so a file cut in half shows
    # how much is missing; an interrupted download looks like this.
    whole = videos.remux(bikes, tmp_path / "whole.mkv")
    cut = videos.truncate_file(whole, tmp_path / "cut.mkv", 0.5)
    outdir = tmp_path / "out"
    run = run_in_process("pick", cut, "-k", "3", "-o", outdir, "--quiet")

    assert run.code == 3, run
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("thumbsel: warning:"), run.stderr
    assert str(cut) in lines[0]
    assert "Traceback" not in run.stderr

    decoded = pq.read_table(outdir / "frames.parquet").num_rows
    assert BIKES_FRAMES * 0.3 < decoded < BIKES_FRAMES * 0.7
    lost = re.search(r"about (\d+)% of the video could not be decoded", lines[0])
    assert lost is not None, lines[0]
    assert int(lost.group(1)) == pytest.approx(100 * (1 - decoded / BIKES_FRAMES), abs=2)

    document = json.loads((outdir / "candidates.json").read_text(encoding="utf-8"))
    assert document
    for entry in document:
        assert entry["frame"] < decoded
        assert (outdir / entry["image"]).is_file()


# --- usage -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["pick", "video.mp4", "-k", "0", "-o", "out"],
        ["pick", "video.mp4", "-k", "many", "-o", "out"],
        ["pick", "video.mp4", "-k", "1001", "-o", "out"],
        ["pick", "video.mp4", "--threads", "100000", "-o", "out"],
        ["personalize", "simulate", "--viewers", "0"],
        ["personalize", "train", "log.parquet", "-o", "p.json", "--timeout-hours", "nan"],
        ["pick", "video.mp4"],
        ["frobnicate", "video.mp4"],
        [],
    ],
    ids=[
        "k-zero",
        "k-not-a-number",
        "k-too-many",
        "threads-too-many",
        "no-viewers",
        "timeout-nan",
        "no-output",
        "unknown-command",
        "nothing",
    ],
)
def test_usage_errors_exit_2(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(arguments)
    assert raised.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("usage: thumbsel")
    assert "Traceback" not in captured.err


# --- shots and the full pick output -------------------------------------------


def test_shots_json_lists_the_cuts(bikes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_captured(capsys, "shots", bikes, "--json", "--quiet")
    assert run.code == 0, run
    shots = json.loads(run.stdout)
    assert [s["start_frame"] for s in shots] == [0, 30, 76, 137, 187, 242]
    assert [s["transition_in"] for s in shots] == [None] + ["cut"] * 5
    assert set(shots[0]) == {
        "index",
        "start_frame",
        "end_frame",
        "start_time",
        "end_time",
        "transition_in",
    }
    assert shots[-1]["end_frame"] == 250 and shots[-1]["end_time"] == pytest.approx(10.0)
    assert all(a["end_frame"] == b["start_frame"] for a, b in itertools.pairwise(shots))


def test_shots_table_and_csv(
    bikes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "shots.csv"
    run = run_captured(capsys, "shots", bikes, "--csv", target)
    assert run.code == 0, run
    rows = run.stdout.strip().splitlines()
    assert rows[0].split()[:3] == ["shot", "start", "end"]
    assert len(rows) == 1 + 6 and rows[2].split()[-1] == "cut"
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("Scene Number,Start Frame")
    assert [line.split(",")[1] for line in lines[1:]] == ["1", "31", "77", "138", "188", "243"]


def test_pick_writes_every_output(bikes: Path, tmp_path: Path) -> None:
    outdir = tmp_path / "pick"
    run = run_in_process("pick", bikes, "-k", "5", "-o", outdir, "--quiet")
    assert run.code == 0, run
    candidates = json.loads((outdir / "candidates.json").read_text(encoding="utf-8"))
    assert len(candidates) == 5
    assert len({c["shot"] for c in candidates}) == 5
    for c in candidates:
        assert c["reasons"] and c["features"] and c["signals"]
        with Image.open(outdir / c["image"]) as full, Image.open(outdir / c["thumbnail"]) as thumb:
            assert full.size == (640, 272) and thumb.size[0] == 320
        assert isinstance(c["tags"], list)
        assert set(c["crops"]) == {"16:9", "2:3", "1:1", "4:5"}
        for canvas, crop in c["crops"].items():
            a, b = (int(n) for n in canvas.split(":"))
            x0, y0, x1, y1 = crop["box"]
            assert (x1 - x0) * b == (y1 - y0) * a, canvas
            assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 272
            with Image.open(outdir / crop["path"]) as image:
                assert image.size == (x1 - x0, y1 - y0)
    summary = json.loads((outdir / "summary.json").read_text(encoding="utf-8"))
    assert len(summary["shots"]) == 6
    assert set(summary["rejected"]) >= {"transition", "dark", "blurry", "motion"}
    table = pq.read_table(outdir / "frames.parquet")
    verdicts = table.column("rejected").to_pylist()
    assert sum(v is not None for v in verdicts) == sum(summary["rejected"].values())
    assert all(verdicts[c["frame"]] is None for c in candidates)
    assert (outdir / "contact-sheet.jpg").exists() and (outdir / "shots.csv").exists()
    report = (outdir / "report.html").read_text(encoding="utf-8")
    for reference in re.findall(r'(?:src|href)="([^"#][^"]*)"', report):
        assert (outdir / reference).exists(), reference


def test_weights_change_the_ranking(bikes: Path, tmp_path: Path) -> None:
    def first_pick(*weights: str) -> int:
        outdir = tmp_path / f"pick{len(weights)}"
        run = run_in_process("pick", bikes, "-k", "1", "-o", outdir, "--quiet", *weights)
        assert run.code == 0, run
        return int(json.loads((outdir / "candidates.json").read_text())[0]["frame"])

    default = first_pick()
    colourful = first_pick(
        "--weights",
        "sharpness=0,exposure=0,contrast=0,stillness=0,thirds=0,depth_of_field=0,colorfulness=1",
    )
    assert colourful != default


@pytest.mark.parametrize(
    "weights",
    [
        "sharpnes=1",
        "sharpness=x",
        "sharpness=-1",
        "sharpness=nan",
        "sharpness=inf",
        "sharpness=0,exposure=0,contrast=0,colorfulness=0,stillness=0,thirds=0,depth_of_field=0,face=0,eyes_open=0,face_sharpness=0",
    ],
)
def test_bad_weights_are_usage_errors(
    weights: str, bikes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["pick", str(bikes), "-o", str(tmp_path / "x"), "--weights", weights])
    assert exit_info.value.code == 2


def test_a_second_pick_into_the_same_directory_leaves_no_stale_images(
    bikes: Path, tmp_path: Path
) -> None:
    outdir = tmp_path / "again"
    assert run_in_process("pick", bikes, "-k", "5", "-o", outdir, "--quiet").code == 0
    assert run_in_process("pick", bikes, "-k", "2", "-o", outdir, "--quiet").code == 0
    listed = {c["image"] for c in json.loads((outdir / "candidates.json").read_text())}
    assert {p.name for p in outdir.glob("candidate-*.jpg")} == listed
    assert {p.name for p in (outdir / "thumbnails").glob("candidate-*.jpg")} == listed


def test_detect_faces_is_part_of_the_api(carphone: Path) -> None:
    pytest.importorskip("cv2")
    with av.open(str(carphone)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    faces = thumbsel.detect_faces(frame)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 0 <= x0 < x1 <= 176 and 0 <= y0 < y1 <= 144


# --- reusing a frame table ------------------------------------------------------


def without_timings(path: Path) -> dict[str, object]:
    document = json.loads(path.read_text(encoding="utf-8"))
    document.pop("timings")
    return document


def test_pick_from_a_saved_frame_table_equals_a_full_pick(bikes: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    assert run_in_process("pick", bikes, "-k", "4", "-o", full, "--quiet").code == 0
    again = tmp_path / "again"
    run = run_in_process(
        "pick", bikes, "-k", "4", "-o", again, "--frames", full / "frames.parquet", "--quiet"
    )
    assert run.code == 0, run
    for name in ("candidates.json", "shots.csv", "report.html", "contact-sheet.jpg"):
        assert (again / name).read_bytes() == (full / name).read_bytes(), name
    assert without_timings(again / "summary.json") == without_timings(full / "summary.json")
    assert "read_frames" in json.loads((again / "summary.json").read_text())["timings"]
    assert pq.read_table(again / "frames.parquet").equals(pq.read_table(full / "frames.parquet"))
    # Other options on the same table: a different k and weights.
    other = tmp_path / "other"
    run = run_in_process(
        "pick",
        bikes,
        "-k",
        "2",
        "-o",
        other,
        "--frames",
        full / "frames.parquet",
        "--quiet",
        "--weights",
        "colorfulness=1,sharpness=0",
    )
    assert run.code == 0, run
    fresh = tmp_path / "fresh"
    run = run_in_process(
        "pick", bikes, "-k", "2", "-o", fresh, "--quiet", "--weights", "colorfulness=1,sharpness=0"
    )
    assert (other / "candidates.json").read_bytes() == (fresh / "candidates.json").read_bytes()


def test_shots_from_a_saved_frame_table(
    bikes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "frames.parquet"
    assert run_in_process("analyze", bikes, "-o", table, "--quiet").code == 0
    direct = run_captured(capsys, "shots", bikes, "--json")
    reused = run_captured(capsys, "shots", bikes, "--json", "--frames", table)
    assert reused.code == 0 and reused.stdout == direct.stdout


def test_a_frame_table_of_another_video_is_refused(
    bikes: Path, carphone: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "frames.parquet"
    assert run_in_process("analyze", bikes, "-o", table, "--quiet").code == 0
    outdir = tmp_path / "out"
    run = run_captured(capfd, "pick", carphone, "-o", outdir, "--frames", table)
    assert_one_error_line(run)
    assert "measured on another file" in run.stderr
    assert not outdir.exists()
    run = run_captured(capfd, "pick", bikes, "-o", outdir, "--frames", bikes)
    assert_one_error_line(run)
    assert "not a Parquet file" in run.stderr


def test_python_m_thumbsel_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "thumbsel", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"thumbsel {thumbsel.__version__}"
    usage = subprocess.run([sys.executable, "-m", "thumbsel"], capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: thumbsel")


def test_a_very_tall_video_gets_bounded_thumbnails(tmp_path: Path) -> None:
    """16x4000: a 320-wide thumbnail would be 80,000 pixels high, past JPEG's limit."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (4000, 16, 3), dtype=np.uint8) for _ in range(10)]
    path = videos.write_video(tmp_path / "tall.mp4", frames, fps=25).path
    outdir = tmp_path / "pick"
    run = run_in_process("pick", path, "-o", outdir, "-q", "--no-faces")
    assert run.code == 0, run
    (candidate,) = json.loads((outdir / "candidates.json").read_text())[:1]
    with Image.open(outdir / candidate["thumbnail"]) as thumbnail:
        assert thumbnail.size == (3, 640)
    with Image.open(outdir / "contact-sheet.jpg") as sheet:
        assert sheet.height < 1000


@pytest.mark.parametrize("command", ["pick", "analyze"])
def test_an_empty_output_path_is_a_usage_error(
    command: str, bikes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where an empty path would have written
    with pytest.raises(SystemExit) as exit_info:
        main([command, str(bikes), "-o", ""])
    assert exit_info.value.code == 2
    assert list(tmp_path.iterdir()) == []
