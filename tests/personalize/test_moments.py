"""Interest curves: the scenes viewers return to, published only over k distinct viewers."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from thumbsel.cli import main
from thumbsel.errors import PersonalizeError
from thumbsel.personalize.events import EVENT_SCHEMA, write_events
from thumbsel.personalize.moments import interest_curves, read_moments, write_moments
from thumbsel.personalize.simulator import Simulator

START = datetime(2026, 11, 1, tzinfo=UTC)


def pauses(title: str, at: float, viewers: range, *, times: int = 1) -> list[dict[str, object]]:
    return [
        {
            "viewer_id": f"v{v}",
            "time": START + timedelta(minutes=v, seconds=t),
            "kind": "pause",
            "title_id": title,
            "position": at + t,
        }
        for v in viewers
        for t in range(times)
    ]


def table(rows: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def test_a_moment_of_fewer_than_k_viewers_never_appears() -> None:
    # 19 viewers pause at 100 s, many times each; 25 rewind to 500 s; k = 20.
    rows = pauses("t", 100.0, range(19), times=5)
    rows += [
        {
            "viewer_id": f"w{v}",
            "time": START + timedelta(minutes=v),
            "kind": "seek",
            "title_id": "t",
            "position": 530.0,
            "to_position": 500.0,
        }
        for v in range(25)
    ]
    curves = interest_curves(table(rows), k=20)
    level = curves["t"].level
    assert level[50] == 25 and np.flatnonzero(level).tolist() == [50]
    # With noise, the bins published are still only those of k viewers or more.
    for seed in range(50):
        noisy = interest_curves(table(rows), k=20, epsilon=0.5, seed=seed)["t"].level
        assert set(np.flatnonzero(noisy).tolist()) <= {50}
    # A viewer adds at most one count to a bin, however often they pause there.
    one = interest_curves(table(pauses("t", 100.0, range(20), times=9)), k=20, bin_seconds=60)
    assert one["t"].level[1] == 20


def test_the_noise_is_laplace_of_scale_m_over_epsilon_and_repeatable() -> None:
    rows = pauses("t", 100.0, range(40))
    draws = np.array(
        [
            interest_curves(table(rows), k=20, epsilon=1.0, per_viewer=5, seed=s)["t"].level[10]
            for s in range(400)
        ]
    )
    # Mean 40 (the truth), spread of Laplace(5): standard deviation 5 * sqrt(2).
    assert abs(draws.mean() - 40) < 4 * 5 * np.sqrt(2) / np.sqrt(len(draws))
    assert 5.5 < draws.std() < 8.5
    again = interest_curves(table(rows), k=20, epsilon=1.0, per_viewer=5, seed=3)
    assert again["t"].level[10] == draws[3]
    with pytest.raises(PersonalizeError, match="epsilon"):
        interest_curves(table(rows), epsilon=0.0)
    with pytest.raises(PersonalizeError, match="k must be"):
        interest_curves(table(rows), k=1)


def test_the_simulated_scenes_are_the_peaks(tmp_path: Path) -> None:
    simulator = Simulator(viewers=300, titles=6, seed=1)
    events = simulator.behaviour(14, START)
    curves = interest_curves(events, k=20)
    assert curves, "no title had moments of 20 viewers"
    for title_id, curve in curves.items():
        scenes = simulator.moments(int(title_id.removeprefix("title")))
        # The pauses fall at a scene and the rewinds 10 s before it: nearly all the
        # published interest is within 30 s of the title's two scenes, and both show.
        centres = (np.arange(len(curve.level)) + 0.5) * curve.bin_seconds
        away = np.min(np.abs(centres[:, None] - scenes[None, :]), axis=1) > 30.0
        assert curve.level[away].sum() <= 0.05 * curve.level.sum(), title_id
        assert curve.at(scenes).min() > 0.2, (title_id, curve.at(scenes))
        assert curve.at([1.0]).item() == 0.0
    write_moments(tmp_path / "m.parquet", curves)
    back = read_moments(tmp_path / "m.parquet")
    assert back.keys() == curves.keys()
    for title_id, curve in curves.items():
        assert np.array_equal(back[title_id].level, curve.level)
    # The command line: the same curves from the event files.
    write_events(tmp_path / "events.parquet", events)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "personalize",
                "moments",
                str(tmp_path / "events.parquet"),
                "-o",
                str(tmp_path / "c.parquet"),
            ]
        )
    assert code == 0 and "moments published" in out.getvalue()
    assert {t: c.level.tolist() for t, c in read_moments(tmp_path / "c.parquet").items()} == {
        t: c.level.tolist() for t, c in curves.items()
    }


def test_a_pick_leans_towards_the_moments_only_when_asked(tmp_path: Path, bikes: Path) -> None:
    """bikes.mp4 (25 fps) with 25 viewers pausing 6.4 s in, inside its shot of frames 137-186."""
    rows = pauses("bikes", 6.4, range(25))
    write_moments(tmp_path / "m.parquet", interest_curves(table(rows), k=20, bin_seconds=1.0))

    def pick(name: str, *more: str) -> list[dict[str, object]]:
        out = tmp_path / name
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["pick", str(bikes), "-k", "4", "-o", str(out), "--quiet", *more]) == 0
        return json.loads((out / "candidates.json").read_text())

    plain = pick("plain")
    drawn = pick("drawn", "--moments", str(tmp_path / "m.parquet"))
    leaning = pick("leaning", "--moments", str(tmp_path / "m.parquet"), "--weights", "interest=3")
    # Off by default: the same stills, and the curve on the report's timeline.
    assert [c["frame"] for c in drawn] == [c["frame"] for c in plain]
    assert "Interest" in (tmp_path / "drawn" / "report.html").read_text()
    assert "Interest" not in (tmp_path / "plain" / "report.html").read_text()
    # Weighed, the still of the moment leads, and says why.
    assert not 137 <= plain[0]["frame"] < 187
    assert 137 <= leaning[0]["frame"] < 187
    assert leaning[0]["signals"]["interest"] == 1.0
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(
            [
                "pick",
                str(bikes),
                "-o",
                str(tmp_path / "x"),
                "--quiet",
                "--moments",
                str(tmp_path / "m.parquet"),
                "--title-id",
                "other",
            ]
        )
    assert code == 0 and "no published moments for title 'other'" in err.getvalue()
