"""Profile building: behaviour events per second, against a plain pyarrow / pandas group-by.

    .venv/bin/python benches/profile_throughput.py [--viewers 2000] [--days 28]

The events are the simulator's (``Simulator.behaviour``: hidden tastes drive
plays, pauses, rewinds, searches and browsing). Timed in the same run:

* ``update_profiles`` from nothing over all the events (every profile sum,
  the open plays, binges, searches mapped to genres and cast);
* the same events a day at a time, each day updating the last day's profiles;
* the floor: a pyarrow ``group_by`` summing one decayed value per viewer and
  event kind, and the same with pandas. They compute far less (no minutes
  from play positions, no genres, no sessions), so they bound from below
  what any profile builder could cost over the same table.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from thumbsel.personalize.profiles import update_profiles
from thumbsel.personalize.simulator import Simulator

START = datetime(2026, 11, 1, tzinfo=UTC)


def best_of(runs: int, call) -> float:  # type: ignore[no-untyped-def]
    best = np.inf
    for _ in range(runs):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return float(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    simulator = Simulator(viewers=options.viewers, titles=30, seed=0)
    events = simulator.behaviour(options.days, START)
    titles = simulator.title_info()
    n = events.num_rows
    as_of = START + timedelta(days=options.days + 1)

    def whole() -> None:
        update_profiles(None, events, titles, as_of=as_of)

    times = events.column("time")
    days = [START + timedelta(days=d) for d in range(1, options.days + 2)]
    first = pc.min(times).as_py()
    day_tables = [
        events.filter(pc.and_(pc.greater_equal(times, lo), pc.less(times, hi)))
        for lo, hi in zip([first, *days[:-1]], days, strict=True)
    ]

    def daily() -> None:
        profiles = None
        for table, day_end in zip(day_tables, days, strict=True):
            profiles = update_profiles(profiles, table, titles, as_of=day_end)

    age_days = (
        pc.subtract(pa.scalar(as_of, pa.timestamp("us", tz="UTC")), times).cast(pa.int64())
    ).to_numpy() / 86_400e6
    weight = np.exp2(-age_days / 60.0)
    narrow = pa.table(
        {"viewer_id": events.column("viewer_id"), "kind": events.column("kind"), "w": weight}
    )

    def arrow_floor() -> None:
        narrow.group_by(["viewer_id", "kind"]).aggregate([("w", "sum")])

    frame = narrow.to_pandas()

    def pandas_floor() -> None:
        frame.groupby(["viewer_id", "kind"], sort=False)["w"].sum()

    results = {
        "update_profiles, all at once": best_of(options.runs, whole),
        f"update_profiles, {len(day_tables)} days one by one": best_of(options.runs, daily),
        "pyarrow group_by (floor)": best_of(options.runs, arrow_floor),
        "pandas groupby (floor)": best_of(options.runs, pandas_floor),
    }
    print(f"{n:,} events, {options.viewers:,} viewers, {options.days} days; best of {options.runs}")
    floor = results["pyarrow group_by (floor)"]
    for name, seconds in results.items():
        print(
            f"{name:<40} {seconds:8.3f} s  {n / seconds:12,.0f} events/s  {seconds / floor:7.1f}x"
        )


if __name__ == "__main__":
    main()
