"""Issue 11: under a memory limit thumbsel says so, and runs without faces if it can.

`import cv2` crashed the process under an address-space limit, FFmpeg's failed
allocations made an intact file look damaged, and Rust aborted on a failed
allocation. These run the real command line in a child process whose address
space is limited with RLIMIT_AS (what ``ulimit -v`` sets).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import thumbsel
import videos
from conftest import real_clip
from thumbsel import decode, errors
from thumbsel.memory import can_reserve
from thumbsel.people import faces_installed

MIB = 1 << 20


def run_limited(arguments: list[str], limit: int) -> subprocess.CompletedProcess[str]:
    def limit_address_space() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "thumbsel", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_address_space,
        check=False,
    )


def test_reserving_tells_an_exhausted_address_space() -> None:
    assert can_reserve(64 * MIB)
    assert not can_reserve(1 << 62)


@pytest.mark.skipif(not faces_installed(), reason="needs the faces extra to leave out")
def test_too_little_memory_for_faces_leaves_them_out(bikes: Path, tmp_path: Path) -> None:
    # 1.2 GiB: enough for the pixel pipeline, not for OpenCV and the models
    # beside it (importing cv2 used to crash here).
    out = tmp_path / "picks"
    done = run_limited(["pick", str(bikes), "-k", "3", "-o", str(out)], 1200 * MIB)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1
    assert "people left out: too little memory" in done.stderr
    candidates = json.loads((out / "candidates.json").read_text())
    assert len(candidates) == 3
    assert all((out / c["image"]).is_file() for c in candidates)


def test_too_little_memory_to_analyse_is_one_clear_line(bikes: Path, tmp_path: Path) -> None:
    out = tmp_path / "picks"
    done = run_limited(["pick", str(bikes), "-o", str(out)], 700 * MIB)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("thumbsel: error:") and "memory" in done.stderr
    assert not (out / "candidates.json").exists()


def test_a_decode_error_with_memory_exhausted_is_not_damage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """FFmpeg's frame threads report a failed allocation as invalid data."""
    damaged = videos.overwrite_with_noise(
        real_clip("bigbuckbunny.mp4"),
        tmp_path / "damaged.mp4",
        start_fraction=1 / 3,
        length=100_000,
        seed=1,
    )
    assert not thumbsel.analyze(damaged, progress=False, faces=False).frames.complete
    monkeypatch.setattr(decode, "can_reserve", lambda size: False)
    with pytest.raises(errors.OutOfMemoryError, match="out of memory while decoding"):
        thumbsel.analyze(damaged, progress=False, faces=False)
