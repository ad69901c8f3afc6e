"""The catalog on a real Dask LocalCluster (2 worker processes on 127.0.0.1).

Titles are real clips (one cut with PyAV), a GIF, and a file that is not a
video. The cluster is started by each test and stopped after it; every wait
is bounded.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import signal
import threading
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import videos
from conftest import footage, real_clip
from thumbsel.catalog import dask_client, find_titles, run_catalog
from thumbsel.catalog.task import RECORD, WORK
from thumbsel.cli import main
from thumbsel.errors import ThumbselError
from thumbsel.personalize.profiles import read_titles
from thumbsel.pipeline import PickOptions

OPTIONS = PickOptions(k=4)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """drama/e01 (the man on the phone), drama/e02 (the pair, a GIF), docs/bikes
    (its first 100 frames, re-encoded: two cuts), and broken.mp4 (text)."""
    root = tmp_path_factory.mktemp("library")
    (root / "drama").mkdir()
    (root / "docs").mkdir()
    (root / "drama" / "e01.mp4").write_bytes(real_clip("carphone_pristine.mp4").read_bytes())
    (root / "drama" / "e02.gif").write_bytes(footage("headpose-pair.gif").read_bytes())
    with av.open(str(real_clip("bikes.mp4"))) as container:
        frames = [
            f.to_ndarray(format="rgb24") for f in itertools.islice(container.decode(video=0), 100)
        ]
    videos.write_video(root / "docs" / "bikes.mp4", frames, fps=25)
    (root / "broken.mp4").write_text("not a video\n")
    return root


def single_pick(video: Path, out: Path) -> Path:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["pick", str(video), "-k", str(OPTIONS.k), "-o", str(out)])
    return out


def without_timings(path: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads(path.read_text())
    document.pop("timings")
    return document


def test_titles_are_found_and_named(library: Path) -> None:
    titles = find_titles(str(library))
    assert [t.title_id for t in titles] == ["broken", "docs__bikes", "drama__e01", "drama__e02"]
    assert all(Path(t.path).is_absolute() for t in titles)
    assert [t.title_id for t in find_titles(str(library / "drama" / "*.mp4"))] == ["e01"]
    manifest = library.parent / "manifest.csv"
    manifest.write_text(
        "path,title_id,series,episode,k,genres,cast\n"
        f"{library}/drama/e01.mp4,show-1,show,1,3,drama; crime ,Ada Stone;;Ben Hale\n"
    )
    (title,) = find_titles(str(manifest))
    assert (title.title_id, title.series, title.episode, title.options) == (
        "show-1",
        "show",
        "1",
        {"k": 3},
    )
    assert (title.genres, title.cast) == (("drama", "crime"), ("Ada Stone", "Ben Hale"))
    for bad, message in (
        ("path,title_id\ndrama/e01.mp4,../escape\n", "title id"),
        ("path,k\ndrama/e01.mp4,many\n", "must be a number"),
        ("title_id\nx\n", "no path"),
    ):
        manifest.write_text(bad)
        with pytest.raises(ThumbselError, match=message):
            find_titles(str(manifest))


def test_a_catalog_equals_single_picks_and_fails_a_bad_title_alone(
    library: Path, tmp_path: Path
) -> None:
    out = tmp_path / "catalog"
    titles = find_titles(str(library))
    with dask_client(workers=2, dashboard=False) as client:
        first = run_catalog(client, titles, out, OPTIONS)
        before = {
            t.title_id: (out / t.title_id / "candidates.json").stat().st_mtime_ns
            for t in titles
            if t.title_id != "broken"
        }
        again = run_catalog(client, titles, out, OPTIONS)

    status = {r["title_id"]: r["status"] for r in first.records}
    assert status == {
        "broken": "failed",
        "docs__bikes": "done",
        "drama__e01": "done",
        "drama__e02": "done",
    }
    broken = next(r for r in first.records if r["title_id"] == "broken")
    assert "not a video" in broken["error"] and "\n" not in broken["error"]
    assert not (out / "broken").exists()

    # Each title's folder is what `thumbsel pick` writes, timings aside.
    for title in titles:
        if title.title_id == "broken":
            continue
        alone = single_pick(Path(title.path), tmp_path / "alone" / title.title_id)
        mine = out / title.title_id
        for name in ("candidates.json", "characters.json", "shots.csv"):
            assert (mine / name).read_bytes() == (alone / name).read_bytes(), (title.title_id, name)
        assert without_timings(mine / "summary.json") == without_timings(alone / "summary.json")
        assert sorted(p.name for p in mine.rglob("*.jpg")) == sorted(
            p.name for p in alone.rglob("*.jpg")
        )
        assert json.loads((mine / RECORD).read_text())["status"] == "done"

    catalog = pq.read_table(out / "catalog.parquet").to_pylist()
    assert [r["title_id"] for r in catalog] == sorted(status)
    pool = pq.read_table(out / "candidates.parquet").to_pylist()
    assert len(pool) == sum(r["candidates"] or 0 for r in catalog)
    assert all((out / c["image"]).is_file() and (out / c["thumbnail"]).is_file() for c in pool)
    assert any("character:c1" in c["tags"] and c["characters"] for c in pool)
    page = (out / "index.html").read_text()
    assert 'href="drama__e01/report.html"' in page and "not a video" in page
    assert not list((out / WORK).iterdir())

    # The rerun recomputes nothing: every finished title is skipped, untouched.
    assert {r["title_id"]: r["status"] for r in again.records} == status | {
        t: "skipped" for t in ("docs__bikes", "drama__e01", "drama__e02")
    }
    after = {t: (out / t / "candidates.json").stat().st_mtime_ns for t in before}
    assert after == before
    assert pq.read_table(out / "candidates.parquet").to_pylist() == pool


def test_a_worker_killed_mid_title_loses_nothing(library: Path, tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    titles = [t for t in find_titles(str(library)) if t.title_id != "broken"]
    outcome: dict[str, object] = {}
    with dask_client(workers=2, dashboard=False) as client:
        runner = threading.Thread(
            target=lambda: outcome.update(result=run_catalog(client, titles, out, OPTIONS))
        )
        runner.start()
        killed = None
        deadline = time.monotonic() + 60
        while killed is None and time.monotonic() < deadline and runner.is_alive():
            busy = [worker for worker, tasks in client.processing().items() if tasks]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                time.sleep(0.5)  # into the title's pass
                os.kill(pid, signal.SIGKILL)
                killed = pid
            time.sleep(0.05)
        runner.join(timeout=300)
        assert not runner.is_alive(), "the catalog did not finish within 5 minutes"
    assert killed is not None, "no worker was seen busy to kill"
    result = outcome["result"]
    records = result.records  # type: ignore[attr-defined]
    assert sorted(r["title_id"] for r in records) == [t.title_id for t in titles]
    assert {r["status"] for r in records} == {"done"}
    for title in titles:
        folder = out / title.title_id
        document = json.loads((folder / "candidates.json").read_text())
        assert all((folder / c["image"]).is_file() for c in document)
        assert not list(folder.rglob("*.part*"))
    assert not list((out / WORK).iterdir())
    pool = pq.read_table(out / "candidates.parquet").to_pylist()
    keys = [(c["title_id"], c["rank"]) for c in pool]
    assert len(keys) == len(set(keys))


def test_the_command_line_says_which_titles_failed(library: Path, tmp_path: Path) -> None:
    err, outp = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(outp):
        code = main(
            ["catalog", str(library), "-o", str(tmp_path / "c"), "--workers", "2", "-k", "2"]
        )
    assert code == 4
    lines = [line for line in err.getvalue().splitlines() if "error" in line]
    assert lines == [lines[0]] and "broken" in lines[0] and "not a video" in lines[0]
    assert "3 titles picked, 0 unchanged, 1 failed" in outp.getvalue()
    with contextlib.redirect_stderr(err):
        assert main(["catalog", str(tmp_path / "absent"), "-o", str(tmp_path / "d")]) == 1
    assert np.all([(tmp_path / "c" / name).is_file() for name in ("catalog.parquet", "index.html")])


def test_a_retry_clears_only_its_own_leftovers(tmp_path: Path) -> None:
    """A killed attempt's folder is removed when the title runs again, and no other
    title's, though one id starts with the other ("x" and "x.extra")."""
    from thumbsel.catalog import Title, run_title

    video = videos.write_video(
        tmp_path / "x.mp4", list(videos.moving_pattern_frames(30, seed=5)), fps=25
    ).path
    out = tmp_path / "out"
    dead, other = out / WORK / "x@0dead", out / WORK / "x.extra@0busy"
    dead.mkdir(parents=True)
    other.mkdir(parents=True)
    record = run_title(Title("x", str(video)), str(out), PickOptions(k=2, faces=False))
    assert record["status"] == "done"
    assert not dead.exists() and other.is_dir()
    assert (out / "x" / "candidates.json").is_file()


def test_catalog_knobs_are_checked(library: Path, tmp_path: Path) -> None:
    err = io.StringIO()
    runs = (
        (["--memory-limit", "lots"], 2, "not a size"),
        (["--memory-limit", "10MB"], 2, "256MiB..16TiB"),
        (["--workers", "0"], 2, "workers"),
        (["--segment-frames", "99"], 2, "segment-frames"),
        (["--scheduler", "tcp://127.0.0.1:9", "--threads", "2"], 1, "local workers"),
        (["-o", "nosuch://bucket/c"], 1, "nosuch://bucket/c: Protocol not known: nosuch"),
    )
    for extra, code, message in runs:
        err.truncate(0)
        with (
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) if code == 2 else contextlib.nullcontext(),
        ):
            assert main(["catalog", str(library), "-o", str(tmp_path / "c"), *extra]) == code
        assert message in err.getvalue(), (extra, err.getvalue())
    assert not (tmp_path / "c").exists()


def compare_with_single_pick(mine: Path, video: Path, alone: Path) -> None:
    single_pick(video, alone)
    for name in ("candidates.json", "characters.json", "shots.csv"):
        assert (mine / name).read_bytes() == (alone / name).read_bytes(), name
    assert without_timings(mine / "summary.json") == without_timings(alone / "summary.json")
    assert pq.read_table(mine / "frames.parquet").equals(pq.read_table(alone / "frames.parquet"))
    assert pq.read_table(mine / "faces.parquet").equals(pq.read_table(alone / "faces.parquet"))
    assert sorted(p.name for p in mine.rglob("*.jpg")) == sorted(
        p.name for p in alone.rglob("*.jpg")
    )


def segmented_library(long_title: Path, root: Path) -> Path:
    root.mkdir()
    (root / "long.mp4").write_bytes(long_title.read_bytes())
    return root


def test_a_long_title_in_segments_equals_a_single_pick(long_title: Path, tmp_path: Path) -> None:
    library = segmented_library(long_title, tmp_path / "library")
    (library / "short.mp4").write_bytes(real_clip("carphone_pristine.mp4").read_bytes())
    manifest = library / "manifest.csv"
    manifest.write_text(
        "path,title_id,genres,cast\nlong.mp4,long,comedy;drama,Charlie Chaplin\n"
        "short.mp4,short,thriller,\n"
    )
    out = tmp_path / "catalog"
    with dask_client(workers=2, dashboard=False) as client:
        result = run_catalog(client, find_titles(str(manifest)), out, OPTIONS, segment_frames=200)
    records = {r["title_id"]: r for r in result.records}
    assert {r["status"] for r in records.values()} == {"done"}, records
    # 600 frames in segments of 200 or more, two per worker at most: 3, at keyframes.
    assert records["long"]["segments"]["count"] == 3
    assert records["long"]["segments"]["first_frames"] == [0, 200, 400]
    assert "segments_error" not in records["long"]
    assert "segments" not in records["short"]  # 120 frames: one task
    index = {r["title_id"]: r for r in pq.read_table(out / "catalog.parquet").to_pylist()}
    assert (index["long"]["segments"], index["short"]["segments"]) == (3, None)
    # The manifest's genres and cast, for viewer profiles to map viewing through.
    assert (index["long"]["genres"], index["long"]["cast"]) == (
        ["comedy", "drama"],
        ["Charlie Chaplin"],
    )
    titles = read_titles(out / "catalog.parquet")
    assert titles.get("short").genres == ("thriller",)
    assert titles.interests_of("chaplin comedies") == ["cast:Charlie Chaplin", "genre:comedy"]
    assert "600 frames · 7 shots · 1 character · 3 segments" in (out / "index.html").read_text()
    for name in ("long", "short"):
        compare_with_single_pick(out / name, library / f"{name}.mp4", tmp_path / "alone" / name)


def test_a_worker_killed_mid_segment_loses_nothing(long_title: Path, tmp_path: Path) -> None:
    library = segmented_library(long_title, tmp_path / "library")
    out = tmp_path / "catalog"
    outcome: dict[str, object] = {}
    with dask_client(workers=2, dashboard=False) as client:
        titles = find_titles(str(library))
        runner = threading.Thread(
            target=lambda: outcome.update(
                result=run_catalog(client, titles, out, OPTIONS, segment_frames=150)
            )
        )
        runner.start()
        killed = None
        deadline = time.monotonic() + 60
        while killed is None and time.monotonic() < deadline and runner.is_alive():
            for worker, keys in client.processing().items():
                if any(str(key).startswith("thumbsel-segment") for key in keys):
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    time.sleep(0.3)  # into the segment's pass
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
                    break
            time.sleep(0.02)
        runner.join(timeout=300)
        assert not runner.is_alive(), "the catalog did not finish within 5 minutes"
    assert killed is not None, "no worker was seen measuring a segment"
    (record,) = outcome["result"].records  # type: ignore[attr-defined]
    assert record["status"] == "done" and record["segments"]["count"] == 4
    assert not list((out / WORK).iterdir())
    compare_with_single_pick(out / "long", library / "long.mp4", tmp_path / "alone")


def test_a_url_root_holds_the_same_outputs(library: Path, tmp_path: Path) -> None:
    """An fsspec URL (file://, as s3:// would be with s3fs installed): titles are
    uploaded with their record last, and a folder left without one is redone."""
    titles = [t for t in find_titles(str(library)) if t.title_id in ("docs__bikes", "drama__e01")]
    local, remote = tmp_path / "local", tmp_path / "remote"
    half = remote / "drama__e01"
    half.mkdir(parents=True)
    (half / "candidates.json").write_text("[]")  # an upload cut short: no title.json
    with dask_client(workers=2, dashboard=False) as client:
        run_catalog(client, titles, local, OPTIONS)
        first = run_catalog(client, titles, remote.as_uri(), OPTIONS)
        again = run_catalog(client, titles, remote.as_uri(), OPTIONS)
    assert [r["status"] for r in first.records] == ["done", "done"]
    assert [r["status"] for r in again.records] == ["skipped", "skipped"]
    assert first.paths["index"] == f"{remote.as_uri()}/index.html"
    for title in titles:
        mine, theirs = remote / title.title_id, local / title.title_id
        names = sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*") if p.is_file())
        assert names == sorted(
            p.relative_to(theirs).as_posix() for p in theirs.rglob("*") if p.is_file()
        )
        for name in ("candidates.json", "characters.json", "shots.csv"):
            assert (mine / name).read_bytes() == (theirs / name).read_bytes(), name
    assert not (remote / WORK).exists()
    assert pq.read_table(remote / "candidates.parquet").equals(
        pq.read_table(local / "candidates.parquet")
    )
