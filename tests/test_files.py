"""A full disk or a late write error leaves no file under its final name."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import thumbsel
from thumbsel.files import directory_lock, write_bytes, write_json
from thumbsel.outputs.sheets import save_jpeg


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 KiB tmpfs: a real full disk (needs the right to mount, as root in CI has)."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()}); see the injected tests")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_a_jpeg_too_big_for_the_disk_is_refused_whole(tiny_disk: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    with pytest.raises(thumbsel.OutputError, match="No space left on device"):
        save_jpeg(noise, tiny_disk / "still.jpg")
    assert names(tiny_disk) == []  # no truncated still.jpg, no .part


def test_a_pick_onto_a_full_disk_fails_in_one_line_and_leaves_no_short_file(
    tiny_disk: Path, bikes: Path
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "thumbsel", "pick", str(bikes), "-o", str(tiny_disk), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run
    assert run.stderr.count("\n") == 1 and "No space left on device" in run.stderr
    for path in tiny_disk.rglob("*"):
        assert ".part" not in path.name
        if path.suffix == ".jpg":  # whatever is there is a whole JPEG
            data = path.read_bytes()
            assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9", path


def test_a_short_write_is_caught_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Injected: the file ends up shorter than the bytes given, and nothing said so."""
    real_stat = os.stat

    def shorter(path: object, *args: object, **kwargs: object) -> os.stat_result:
        found = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        fields = list(found)
        fields[6] = min(fields[6], 3)  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(os, "stat", shorter)
    with pytest.raises(thumbsel.OutputError, match="only 3 of 10 bytes"):
        write_bytes(tmp_path / "blob.bin", b"0123456789")
    monkeypatch.undo()
    assert names(tmp_path) == []


def test_an_error_the_disk_reports_late_fails_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Injected: the bytes were taken, then fsync reports the disk full (as NFS may)."""
    (tmp_path / "summary.json").write_text('{"old": true}\n')

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(thumbsel.OutputError, match="No space left on device"):
        write_json(tmp_path / "summary.json", {"new": True})
    monkeypatch.undo()
    assert names(tmp_path) == ["summary.json"]
    assert (tmp_path / "summary.json").read_text() == '{"old": true}\n'  # untouched


def test_a_second_writer_into_one_directory_is_refused(bikes: Path, tmp_path: Path) -> None:
    outdir = tmp_path / "picks"
    with directory_lock(outdir):  # another run is writing there
        run = subprocess.run(
            [sys.executable, "-m", "thumbsel", "pick", str(bikes), "-o", str(outdir), "-q"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        refused = pytest.raises(thumbsel.OutputError, match="another thumbsel run is writing")
        with refused, directory_lock(outdir):
            pass
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "another thumbsel run is writing" in run.stderr
    assert not (outdir / "candidates.json").exists()


def test_two_picks_racing_into_one_directory_leave_a_consistent_one(
    bikes: Path, tmp_path: Path
) -> None:
    """The issue's case: each run deleted the other's images. Now one writes at a time,
    and whatever candidates.json names is there."""
    outdir = tmp_path / "picks"
    command = [sys.executable, "-m", "thumbsel", "pick", str(bikes), "-o", str(outdir), "-q"]
    runs = [
        subprocess.Popen([*command, "-k", str(k), "--no-faces"], stderr=subprocess.PIPE, text=True)
        for k in (3, 6)
    ]
    results = [(run.wait(timeout=120), run.communicate()[1]) for run in runs]
    assert any(code == 0 for code, _ in results), results
    for code, stderr in results:
        assert code == 0 or "another thumbsel run is writing" in stderr, (code, stderr)
    listed = json.loads((outdir / "candidates.json").read_text())
    images = {path.name for path in outdir.glob("candidate-*.jpg")}
    assert images == {candidate["image"] for candidate in listed}
