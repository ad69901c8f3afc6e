"""`thumbsel serve` as a real server on 127.0.0.1, started by each test and stopped after.

The pool is two real picks (the man on the phone, the Chaplin short). Every
request loop is bounded in count and in time.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import footage, real_clip
from thumbsel.cli import main
from thumbsel.personalize.log import read_impressions
from thumbsel.personalize.policies import load_policy
from thumbsel.personalize.store import Store
from thumbsel.serve.app import draw

STARTUP_SECONDS = 60


@pytest.fixture(scope="module")
def titles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("titles")
    for title, clip in (
        ("phone", real_clip("carphone_pristine.mp4")),
        ("chaplin", footage("chaplin-bw.mp4")),
    ):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["pick", str(clip), "-k", "4", "-o", str(root / title), "--quiet"]) == 0
    return root


@dataclass(frozen=True)
class Log:
    """Where a test's service keeps its log: the options that say so, and what Store opens."""

    options: tuple[str, ...]
    location: str


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Log:
    if request.param == "sqlite":
        return Log(("--store", str(tmp_path / "log.db")), str(tmp_path / "log.db"))
    url = request.getfixturevalue("postgres_url")
    return Log(("--database", url), url)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        data = (
            None
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode())
        )
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as error:
            payload, status = error.read().decode(), error.code
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload


@contextlib.contextmanager
def running(*arguments: str) -> Iterator[Server]:
    process = subprocess.Popen(
        [sys.executable, "-m", "thumbsel", "serve", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + STARTUP_SECONDS
        while "http://" not in line and time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()  # type: ignore[union-attr]
        if "http://" not in line:
            raise AssertionError(f"the server did not start: {process.stderr.read()}")  # type: ignore[union-attr]
        url = line.split(" on ", 1)[1].split(";", 1)[0]
        assert url.startswith("http://127.0.0.1:")
        yield Server(url, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_choose_log_events_explain_and_export(titles: Path, tmp_path: Path, log: Log) -> None:
    answers = []
    with running("--candidates", str(titles), *log.options) as server:
        status, health = server.call("GET", "/health")
        assert status == 200 and health["titles"] == 2 and health["impressions"] == 0
        for i in range(40):
            status, answer = server.call(
                "POST",
                "/choose",
                {
                    "viewer_id": f"v{i % 4}",
                    "title_id": ("phone", "chaplin")[i % 2],
                    "context": {"genre:thriller": (i % 4) / 3},
                },
            )
            assert status == 200, answer
            answers.append(answer)
        status, subset = server.call(
            "POST",
            "/choose",
            {"viewer_id": "v9", "title_id": "phone", "candidates": [answers[0]["chosen_id"]]},
        )
        assert status == 200 and subset["chosen_id"] == answers[0]["chosen_id"]
        assert subset["probability"] == 1.0
        plays = [
            {"impression_id": a["impression_id"], "time": "2026-01-01T00:00:00+00:00", "minutes": 3}
            for a in answers[::2]
        ]
        status, events = server.call("POST", "/events", {"plays": plays})
        assert status == 200 and events == {
            "accepted": 20,
            "unknown": 0,
            "events_kept": 0,
            "events_left_out": {},
        }
        status, why = server.call("GET", f"/explain/{answers[0]['impression_id']}")
        assert status == 200 and why["chosen_id"] == answers[0]["chosen_id"]
        assert abs(sum(c["probability"] for c in why["candidates"]) - 1) < 1e-9
        status, spec = server.call("GET", "/openapi.json")
        assert {"/choose", "/events", "/explain/{impression_id}", "/health", "/metrics"} <= set(
            spec["paths"]
        )
        status, metrics = server.call("GET", "/metrics")
        assert 'thumbsel_requests_total{endpoint="/choose",status="200"} 41.0' in metrics
        assert 'thumbsel_log_rows{table="impressions"} 41.0' in metrics

    # Every answer is in the store, as it was answered; uniform random (no policy
    # file) over each title's picked candidates; the draw replays from the id.
    with Store(log.location) as opened:
        logged = {row.impression_id: row for row in opened.impressions()}
    assert len(logged) == 41
    for answer in answers:
        row = logged[answer["impression_id"]]
        assert row.chosen_id == answer["chosen_id"] and row.propensity == answer["probability"]
        assert row.candidate_probabilities == [1 / len(row.candidate_ids)] * len(row.candidate_ids)
        index = draw(row.candidate_probabilities, row.impression_id, 0)  # type: ignore[arg-type]
        assert row.candidate_ids[index] == row.chosen_id
        shown = json.loads((titles / row.title_id / "candidates.json").read_text())
        assert row.candidate_ids == [f"frame-{c['frame']}" for c in shown]

    exported = tmp_path / "impressions.parquet"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["personalize", "export", *log.options, "-o", str(exported)])
    assert code == 0 and "41 impressions" in out.getvalue()
    table = read_impressions(exported)
    rewards = dict(
        zip(table["impression_id"].to_pylist(), table["reward"].to_pylist(), strict=True)
    )
    # The plays are timed before their impressions (2026-01-01): early, so not counted,
    # and the windows of 24 h are still open: every impression is pending.
    assert set(rewards.values()) == {None}
    assert pq.read_metadata(exported).num_rows == 41


def test_bad_requests_get_a_4xx_with_a_reason(titles: Path, tmp_path: Path) -> None:
    cases = [
        ("POST", "/choose", {"viewer_id": "v", "title_id": "nope"}, 404, "unknown title 'nope'"),
        ("POST", "/choose", b'{"viewer_id": "v",', 422, "malformed JSON"),
        ("POST", "/choose", {"title_id": "phone"}, 422, "body.viewer_id: Field required"),
        (
            "POST",
            "/choose",
            {"viewer_id": "v", "title_id": "phone", "context": {"age": "old"}},
            422,
            "body.context.age: Input should be a valid number",
        ),
        (
            "POST",
            "/choose",
            {"viewer_id": "v", "title_id": "phone", "candidates": ["frame-999999"]},
            400,
            "has no candidate 'frame-999999'",
        ),
        (
            "POST",
            "/events",
            {"plays": [{"impression_id": "x", "time": "2026-01-01T00:00:00"}]},
            422,
            "timezone",
        ),
        ("POST", "/events", {"plays": []}, 422, "give at least one play or event"),
        ("GET", "/explain/nothing", None, 404, "no impression 'nothing'"),
    ]
    with running("--candidates", str(titles), "--store", str(tmp_path / "log.db")) as server:
        for method, path, body, code, message in cases:
            status, answer = server.call(method, path, body)
            assert status == code, (path, body, answer)
            assert message in answer["detail"], (path, body, answer)
        assert server.call("GET", "/health")[1]["impressions"] == 0


def test_the_command_line_refuses_what_cannot_serve(titles: Path, tmp_path: Path) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["serve", "--candidates", str(tmp_path), "--store", str(tmp_path / "s")]) == 1
        assert "no title has candidates" in err.getvalue()
        (tmp_path / "junk.db").write_text("not sqlite " * 100)
        code = main(["serve", "--candidates", str(titles), "--store", str(tmp_path / "junk.db")])
        assert code == 1 and "not a thumbsel store" in err.getvalue()
        code = main(["personalize", "export", "--store", str(tmp_path / "none.db"), "-o", "x"])
        assert code == 1 and "no such store" in err.getvalue()
        # A database that is not PostgreSQL, and one that is not there (nothing listens on
        # port 1 of the loopback): one line each, never a traceback, the password never shown.
        with pytest.raises(SystemExit) as exit_:
            main(["serve", "--candidates", str(titles), "--database", "sqlite:///x.db"])
        assert exit_.value.code == 2 and "is not a postgresql:// URL" in err.getvalue()
        nowhere = "postgresql://thumbsel:secret@127.0.0.1:1/log"
        assert main(["serve", "--candidates", str(titles), "--database", nowhere]) == 1
        assert "postgresql://thumbsel:***@127.0.0.1:1/log: cannot connect" in err.getvalue()
        assert "secret" not in err.getvalue() and "Traceback" not in err.getvalue()


def test_a_published_policy_is_served_without_a_restart(titles: Path, tmp_path: Path) -> None:
    """choose -> events -> export -> train -> publish -> choose with the new version."""
    store, policy = tmp_path / "log.db", tmp_path / "policy.json"
    with running("--candidates", str(titles), "--store", str(store)) as server:
        answers = [
            server.call("POST", "/choose", {"viewer_id": "v", "title_id": "phone"})[1]
            for _ in range(30)
        ]
        now = datetime.now(UTC).isoformat()
        plays = [{"impression_id": a["impression_id"], "time": now} for a in answers[:10]]
        assert server.call("POST", "/events", {"plays": plays})[0] == 200
        done = time.monotonic()
    # Windows of 3.6 s: every play is inside its window, and every window has closed.
    time.sleep(max(0.0, done + 3.7 - time.monotonic()))
    exported = tmp_path / "impressions.parquet"
    export = ["personalize", "export", "--store", str(store), "-o", str(exported)]
    train = ["personalize", "train", str(exported), "--policy", "epsilon-greedy"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main([*export, "--timeout-hours", "0.001"]) == 0
        assert main([*train, "-o", str(policy)]) == 0
    assert "30 impressions (10 rewarded, 20 without a play, 0 pending)" in out.getvalue()
    first = load_policy(policy).version
    with running(
        "--candidates", str(titles), "--store", str(store), "--policy", str(policy)
    ) as server:
        before = server.call("POST", "/choose", {"viewer_id": "v", "title_id": "phone"})[1]
        assert before["policy_version"] == first
        # Publish a retrained policy in its place while the server runs.
        trained = load_policy(policy)
        trained.update({}, [{"face": 1.0}], 0, 1.0)
        trained.save(policy)
        deadline = time.monotonic() + 20
        after = before
        while after["policy_version"] == first and time.monotonic() < deadline:
            time.sleep(0.2)
            after = server.call("POST", "/choose", {"viewer_id": "v", "title_id": "phone"})[1]
        assert after["policy_version"] == trained.version != first
        # The impression chosen by the old version is still explained by it.
        status, why = server.call("GET", f"/explain/{before['impression_id']}")
        assert status == 200 and why["policy_version"] == first


def test_a_killed_server_lost_no_answered_impression(titles: Path, log: Log) -> None:
    answered: list[str] = []
    with running("--candidates", str(titles), *log.options) as server:
        stop = threading.Event()

        def load() -> None:
            deadline = time.monotonic() + 30
            for _ in range(5000):
                if stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    status, answer = server.call(
                        "POST", "/choose", {"viewer_id": "v", "title_id": "chaplin"}
                    )
                except (OSError, http.client.HTTPException):
                    return  # the server is gone (perhaps mid-answer: not answered)
                if status == 200:
                    answered.append(answer["impression_id"])

        clients = [threading.Thread(target=load) for _ in range(4)]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 20
        while len(answered) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        stop.set()
        for client in clients:
            client.join(timeout=30)
    assert len(answered) >= 100
    with Store(log.location) as opened:
        logged = [row.impression_id for row in opened.impressions()]
    assert len(logged) == len(set(logged))
    assert set(answered) <= set(logged)
    # At most the requests in flight at the kill were logged without an answer.
    assert len(logged) - len(answered) <= len(clients)
