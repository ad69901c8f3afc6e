"""The viewer's rights in a running service, checked in the store's own files.

A real server on 127.0.0.1 over two real picks (the phone call, filed as a
thriller, and the Chaplin short, a comedy): behaviour events build a profile
that /choose uses; an opted-out viewer is shown the population's choice and
logged without who they are; an erased viewer's id is in no byte of the
store, nor in an export.
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_service import running, titles  # noqa: F401  (the fixture, shared)
from thumbsel.cli import main
from thumbsel.personalize.events import EVENT_SCHEMA
from thumbsel.personalize.log import Impression
from thumbsel.personalize.profiles import TitleInfo, Titles
from thumbsel.personalize.store import Store

ERASED = "viewer-7f3a9c"
"""A viewer id no other byte of a store could spell by chance."""
OPTED_OUT = "viewer-b0b"


def behaviour(
    viewer: str, title: str, *, start: datetime, minutes: float
) -> list[dict[str, object]]:
    def at(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat()

    common = {"viewer_id": viewer, "device": "tv", "region": "GB", "title_id": title}
    return [
        common | {"time": at(0), "kind": "play_start", "position": 0.0},
        common | {"time": at(60), "kind": "pause", "position": 60.0},
        common | {"time": at(90), "kind": "play_start", "position": 60.0},
        common
        | {"time": at(90 + minutes * 60), "kind": "abandon", "position": 60.0 + minutes * 60},
        {"viewer_id": viewer, "time": at(5), "kind": "search", "query": f"{title} thriller nights"},
    ]


def store_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_profiles_opt_out_and_erasure_in_a_running_service(
    titles: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    store = tmp_path / "log.db"
    catalog = tmp_path / "titles.csv"
    catalog.write_text("title_id,genres,cast\nphone,thriller,\nchaplin,comedy,Charlie Chaplin\n")
    now = datetime.now(UTC)
    options = ["--candidates", str(titles), "--store", str(store), "--titles", str(catalog)]
    with running(*options) as server:
        events = behaviour(ERASED, "phone", start=now - timedelta(hours=2), minutes=20)
        events += behaviour(OPTED_OUT, "chaplin", start=now - timedelta(hours=2), minutes=5)
        status, answer = server.call("POST", "/events", {"events": events})
        assert status == 200 and answer["events_kept"] == 10, answer
        status, data = server.call("GET", f"/viewers/{ERASED}/data")
        assert status == 200 and len(data["events"]) == 5
        features = data["profile"]["features"]
        assert features["genre:thriller"] == 1.0 and features["device:tv"] == 1.0
        # The search is kept as what it named; its words are in no event and no profile.
        assert features["search:genre:thriller"] == 1.0
        assert all(e["query"] is None for e in data["events"])

        # Without a context, /choose uses the viewer's profile, and logs it.
        status, chosen = server.call("POST", "/choose", {"viewer_id": ERASED, "title_id": "phone"})
        assert status == 200
        status, why = server.call("GET", f"/explain/{chosen['impression_id']}")
        assert status == 200 and why["viewer_context"]["genre:thriller"] == 1.0
        assert isinstance(why["summary"], str) and why["summary"]

        # Opting out: the profile and events go now, a personal context is refused, the
        # population's choice is served and logged without the viewer, events are not kept.
        status, out = server.call("POST", f"/viewers/{OPTED_OUT}/opt-out")
        assert status == 200 and out["removed"] == {"events": 5, "profiles": 1}
        status, refused = server.call(
            "POST",
            "/choose",
            {"viewer_id": OPTED_OUT, "title_id": "chaplin", "context": {"genre:comedy": 1.0}},
        )
        assert status == 403 and "opted out" in refused["detail"]
        status, anonymous = server.call(
            "POST", "/choose", {"viewer_id": OPTED_OUT, "title_id": "chaplin"}
        )
        assert status == 200 and 0 < anonymous["probability"] <= 1
        more = behaviour(OPTED_OUT, "chaplin", start=now - timedelta(minutes=30), minutes=1)
        status, answer = server.call("POST", "/events", {"events": more})
        assert answer["events_kept"] == 0
        assert answer["events_left_out"] == {"of viewers who opted out": 5}
        status, data = server.call("GET", f"/viewers/{OPTED_OUT}/data")
        assert data["opted_out"] and data["profile"] is None and data["events"] == []
        assert data["impressions"] == []  # the one served was logged without them

        # Erasure.
        status, erased = server.call("DELETE", f"/viewers/{ERASED}")
        assert status == 200 and erased["erased"] == {"events": 5, "profiles": 1, "impressions": 1}
        status, data = server.call("GET", f"/viewers/{ERASED}/data")
        assert data["profile"] is None and data["events"] == [] and data["impressions"] == []
        # Bad input is a 4xx with a reason, never a 500.
        status, bad = server.call("POST", "/events", {"events": [{"viewer_id": "v", "kind": "x"}]})
        assert status == 422 and "kind" in bad["detail"] and "time" in bad["detail"]

    with Store(store) as opened:
        logged = {row.impression_id: row for row in opened.impressions()}
    assert logged[anonymous["impression_id"]].viewer_id is None
    assert logged[anonymous["impression_id"]].viewer_context is None
    unlinked = logged[chosen["impression_id"]]
    assert unlinked.viewer_id is None and unlinked.viewer_context is None
    assert unlinked.propensity == chosen["probability"]  # still there for every estimate
    # No byte of the store (database, WAL) holds the erased id or the searches' words.
    raw = store_bytes(store)
    assert ERASED.encode() not in raw
    assert b"thriller nights" not in raw
    exported = tmp_path / "impressions.parquet"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["personalize", "export", "--store", str(store), "-o", str(exported)]) == 0
    assert ERASED.encode() not in exported.read_bytes()
    assert ERASED not in str(pq.read_table(exported).to_pylist())


def test_retention_deletes_old_raw_events_and_keeps_the_profile(tmp_path: Path) -> None:
    store_path = tmp_path / "log.db"
    now = datetime.now(UTC)
    catalog = Titles([TitleInfo("phone", genres=("thriller",))])
    old = behaviour("v1", "phone", start=now - timedelta(days=10), minutes=30)
    recent = behaviour("v1", "phone", start=now - timedelta(hours=1), minutes=10)
    with Store(store_path) as store:
        for batch in (old, recent):
            rows = [e | {"time": datetime.fromisoformat(str(e["time"]))} for e in batch]
            store.add_events(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA), catalog, now=now)
        before = store.profile("v1", now=now)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["personalize", "retain", "--store", str(store_path), "--days", "7"]) == 0
    assert "5 events older than 7 days deleted" in out.getvalue()
    with Store(store_path) as store:
        kept = store.events_table().column("time").to_pylist()
        after = store.profile("v1", now=now)
    assert len(kept) == 5 and min(kept) >= now - timedelta(days=7)
    # The profile still holds the deleted events' minutes (40 in all, decayed).
    assert before is not None and after is not None and after.sums == before.sums
    assert after.sums["minutes"] > 35
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["personalize", "forget", "--store", str(store_path), "--viewer", "v1"]) == 0
    assert "v1: 5 events and 1 profile deleted, 0 impressions unlinked" in out.getvalue()
    with Store(store_path) as store:
        assert store.behaviour_counts() == (0, 0, 0)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_rules_hold_in_either_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Opt-out, erasure and retention on the SQLite file and on a real PostgreSQL."""
    location = (
        str(tmp_path / "log.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    )
    now = datetime.now(UTC)
    catalog = Titles([TitleInfo("phone", genres=("thriller",))])
    rows = [
        e | {"time": datetime.fromisoformat(str(e["time"]))}
        for viewer, days in ((ERASED, 10), (OPTED_OUT, 1), ("viewer-kept", 10))
        for e in behaviour(viewer, "phone", start=now - timedelta(days=days), minutes=5)
    ]
    with Store(location) as store:
        report, updated = store.add_events(
            pa.Table.from_pylist(rows, schema=EVENT_SCHEMA), catalog, now=now
        )
        assert (report.kept, updated) == (15, 3)
        impression = Impression(
            impression_id="i1",
            time=now,
            title_id="phone",
            candidate_ids=["a", "b"],
            candidate_attributes=[{"dark": 1.0}, {}],
            candidate_probabilities=[0.5, 0.5],
            chosen_id="a",
            propensity=0.5,
            policy_name="random",
            policy_version="v",
            viewer_id=ERASED,
            viewer_context={"genre:thriller": 1.0},
        )
        store.log(impression)
        assert store.opt_out(OPTED_OUT, now=now) == {"events": 5, "profiles": 1}
        report, _ = store.add_events(
            pa.Table.from_pylist(rows[5:10], schema=EVENT_SCHEMA), catalog, now=now
        )
        assert report.bad == {"of viewers who opted out": 5}
        assert store.forget(ERASED) == {"events": 5, "profiles": 1, "impressions": 1}
        assert store.apply_retention(timedelta(days=7), now=now) == 5  # viewer-kept's old ones
        assert store.behaviour_counts() == (0, 1, 1)
        assert store.profile("viewer-kept", now=now) is not None
        assert store.events_table().num_rows == 0
        (kept,) = list(store.impressions())
        assert (kept.viewer_id, kept.viewer_context, kept.propensity) == (None, None, 0.5)
        everything = json.dumps(store.viewer_data(ERASED, now=now))
        assert '"profile": null' in everything and '"events": []' in everything
