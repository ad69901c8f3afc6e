"""The people stage's cost: `thumbsel pick` with faces against `thumbsel analyze` without.

    .venv/bin/python benches/people_budget.py [--runs 2] [--episode PATH]

The title is the 720p test episode (``tests/episodes.py``, seed 0, 1013
frames, cut from the real clips with hard cuts, fades and dissolves) joined
to itself 17 times without re-encoding: 17,221 frames, 11.5 minutes at 25 fps,
357 shots. Each command runs in a fresh process, alternating, so a busy spell
on the shared machine hits both; the table gives each run and the ratio of
the medians. The targets: `pick` with the people stage on costs at most 1.3x
`analyze` alone (issue 10), and the cast stage (tracking, embedding, clustering:
`pick` less `pick --no-cast`) at most 0.3x `analyze` (issue 12).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from episodes import build_episode  # noqa: E402  (the test suite's episode builder)

REPEATS = 17


def long_episode(directory: Path) -> Path:
    """The 720p episode joined to itself ``REPEATS`` times (packets copied, times shifted)."""
    piece = build_episode(directory, width=1280, height=720, seed=0).path
    target = directory / f"{piece.stem}_x{REPEATS}.mp4"
    if target.exists():
        return target
    partial = target.with_name(target.stem + ".part.mp4")
    with av.open(str(piece)) as source:
        stream = source.streams.video[0]
        packets = [p for p in source.demux(stream) if p.size]
        span = max(p.pts + p.duration for p in packets) - min(p.pts for p in packets)
        with av.open(str(partial), "w") as output:
            out = output.add_stream_from_template(stream)
            for repeat in range(REPEATS):
                for packet in packets:
                    shifted = av.Packet(bytes(packet))
                    shifted.pts = packet.pts + repeat * span
                    shifted.dts = packet.dts + repeat * span
                    shifted.duration = packet.duration
                    shifted.is_keyframe = packet.is_keyframe
                    shifted.time_base = Fraction(stream.time_base)
                    shifted.stream = out
                    output.mux(shifted)
    partial.replace(target)
    return target


def run(arguments: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "thumbsel", *arguments, "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--episode", type=Path)
    options = parser.parse_args()
    episode = options.episode or long_episode(ROOT / ".cache" / "bench")
    with av.open(str(episode)) as container:
        frames = container.streams.video[0].frames
    print(f"{episode.name}: {frames} frames")
    analyze, pick, no_cast = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        for _ in range(options.runs):
            analyze.append(
                run(["analyze", str(episode), "-o", str(out / "f.parquet"), "--no-faces"])
            )
            no_cast.append(run(["pick", str(episode), "-o", str(out / "plain"), "--no-cast"]))
            pick.append(run(["pick", str(episode), "-o", str(out / "pick")]))
        summary = json.loads((out / "pick" / "summary.json").read_text())
    timings = summary["timings"]
    print("| run | analyze, faces off (s) | pick --no-cast (s) | pick, faces and cast (s) |")
    print("|---|---:|---:|---:|")
    for index, (a, n, p) in enumerate(zip(analyze, no_cast, pick, strict=True), start=1):
        print(f"| {index} | {a:.1f} | {n:.1f} | {p:.1f} |")
    base = statistics.median(analyze)
    ratio = statistics.median(pick) / base
    print(f"\npick / analyze: {ratio:.2f}x (target: at most 1.3x)")
    cast_share = (statistics.median(pick) - statistics.median(no_cast)) / base
    print(f"cast stage / analyze: {cast_share:.2f}x (target: at most 0.3x); {summary.get('cast')}")
    print(
        f"last pick: analyze {timings['analyze']:.1f} s (the people worker busy "
        f"{timings['people']:.1f} s of it, {summary['people']['sampled_frames']} frames looked "
        f"at, {summary['people']['frames_with_faces']} with faces), select "
        f"{timings['select']:.2f} s, artwork {timings['artwork']:.2f} s"
    )


if __name__ == "__main__":
    main()
