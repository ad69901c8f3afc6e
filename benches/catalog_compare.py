"""Catalog throughput: `thumbsel catalog` with 1 and 2 workers against a serial loop of `pick`.

    .venv/bin/python benches/catalog_compare.py [--titles 8]

The titles are the real clips and the test episode (``tests/episodes.py``,
480x270, seed 0..N), copied into a folder. Each way runs in fresh processes
on the same titles, in the same run: the loop calls ``thumbsel pick`` once
per title (each process loads thumbsel and the face models again, as a
user's shell loop does), the catalog starts a LocalCluster and submits one
task per title. A rerun of the catalog (every title unchanged) is timed
too. Only numbers of one run are comparable: the machine is shared.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import footage, real_clip  # noqa: E402  (the tests directory is not a package)
from episodes import build_episode  # noqa: E402


def library(folder: Path, count: int) -> list[Path]:
    sources = [
        real_clip("bikes.mp4"),
        real_clip("carphone_pristine.mp4"),
        real_clip("bigbuckbunny.mp4"),
        footage("headpose-pair.gif"),
        footage("chaplin-bw.mp4"),
    ]
    seed = 0
    while len(sources) < count:
        sources.append(build_episode(ROOT / ".cache" / "bench", seed=seed).path)
        seed += 1
    titles = []
    for number, source in enumerate(sources[:count]):
        target = folder / f"t{number:02d}{source.suffix}"
        shutil.copyfile(source, target)
        titles.append(target)
    return titles


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--titles", type=int, default=8)
    options = parser.parse_args()
    thumbsel = [sys.executable, "-m", "thumbsel"]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "in").mkdir()
        titles = library(work / "in", options.titles)
        loop = 0.0
        for title in titles:
            loop += timed(
                [*thumbsel, "pick", str(title), "-q", "-o", str(work / "loop" / title.stem)]
            )
        rows = [("serial loop of `thumbsel pick`", loop)]
        for workers in (1, 2):
            out = work / f"catalog{workers}"
            catalog = [*thumbsel, "catalog", str(work / "in"), "-q", "-o", str(out)]
            rows.append(
                (
                    f"`thumbsel catalog --workers {workers}`",
                    timed([*catalog, "--workers", str(workers)]),
                )
            )
            if workers == 2:
                rerun = timed([*catalog, "--workers", "2"])
        rows.append(("rerun, every title unchanged (2 workers)", rerun))
    print(f"{len(titles)} titles\n")
    print("| way | seconds | titles/minute | vs the loop |")
    print("|---|---:|---:|---:|")
    for name, seconds in rows:
        print(
            f"| {name} | {seconds:.1f} | {len(titles) / seconds * 60:.1f} | {loop / seconds:.2f}x |"
        )


if __name__ == "__main__":
    main()
