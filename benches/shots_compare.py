"""Shot detection: thumbsel vs PySceneDetect on the same episode, in the same run.

    .venv/bin/python benches/shots_compare.py [--json] [--details] [--repeat N] [--no-720p]

The episode is ``tests/episodes.py``'s edit of the real clips (~1000 frames,
480x270, with hard cuts, fades, dissolves, flashes, a fast pan and a blurred
insert), built once into ``.cache/bench/``. Every detector reads the same
file; each is scored against the episode's ground truth at +-1 frame
(greedy one-to-one matching) and timed end to end, decoding included:

* PySceneDetect 0.7: ContentDetector (threshold 27), AdaptiveDetector,
  HashDetector, HistogramDetector, all at their defaults, through
  ``scenedetect.detect`` (OpenCV backend, automatic downscaling). Its
  boundaries are the start frames of the scenes after the first.
  ThresholdDetector (fades to black only) is listed for reference.
* thumbsel: ``analyze`` then ``detect_shots`` (boundaries are the
  ``start_frame`` of every shot after the first); ``select(frames, shots, 8)`` is
  timed on top.

If ``.cache/bench/bunny720_2000.mp4`` exists (``benches/compare.py`` builds
it) every detector also runs on it, for throughput at 720p only (it has no
ground truth). Only numbers measured in the same run are comparable: the
machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from episodes import (  # noqa: E402  (the tests directory is not a package)
    BOUNDARY_KINDS,
    Episode,
    build_episode,
    match_pairs,
    precision_recall_f1,
)

WORK = ROOT / ".cache" / "bench"
CLIP_720P = WORK / "bunny720_2000.mp4"
TOLERANCE = 1


@dataclass
class Result:
    detector: str
    seconds: float
    frames: int
    boundaries: list[int] = field(default_factory=list)
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    recall_by_kind: dict[str, float | None] = field(default_factory=dict)
    missed: list[tuple[int, str]] = field(default_factory=list)
    false_positives: list[int] = field(default_factory=list)
    note: str = ""

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def scenedetect_detectors() -> dict[str, Callable[[], Any]]:
    import scenedetect

    return {
        "pyscenedetect-content": lambda: scenedetect.ContentDetector(threshold=27.0),
        "pyscenedetect-adaptive": scenedetect.AdaptiveDetector,
        "pyscenedetect-hash": scenedetect.HashDetector,
        "pyscenedetect-histogram": scenedetect.HistogramDetector,
        "pyscenedetect-threshold (fades only)": scenedetect.ThresholdDetector,
    }


def run_scenedetect(path: Path, make_detector: Callable[[], Any]) -> tuple[list[int], float]:
    import scenedetect

    detector = make_detector()
    start = time.perf_counter()
    scenes = scenedetect.detect(str(path), detector)
    elapsed = time.perf_counter() - start
    return [int(scene_start.frame_num) for scene_start, _ in scenes[1:]], elapsed


@dataclass
class ThumbselRun:
    boundaries: list[int] | None
    analyze_seconds: float
    shots_seconds: float
    pick_seconds: float | None
    frames: int
    error: str = ""
    """Why shots or pick gave no answer (the package is under development)."""


def run_thumbsel(path: Path) -> ThumbselRun:
    import thumbsel

    start = time.perf_counter()
    frames = thumbsel.analyze(path, progress=False).frames
    analyzed = time.perf_counter()
    boundaries: list[int] | None = None
    errors = []
    detection = None
    try:
        detection = thumbsel.detect_shots(frames)
    except Exception as error:  # report it, never make numbers up
        errors.append(f"shots failed: {error!r}")
    else:
        boundaries = [int(shot.start_frame) for shot in detection.shots[1:]]
    detected = time.perf_counter()
    pick_seconds: float | None = None
    if detection is not None:
        try:
            thumbsel.select(frames, detection, 8)
            pick_seconds = time.perf_counter() - detected
        except Exception as error:
            errors.append(f"pick failed: {error!r}")
    return ThumbselRun(
        boundaries=boundaries,
        analyze_seconds=analyzed - start,
        shots_seconds=detected - analyzed,
        pick_seconds=pick_seconds,
        frames=len(frames),
        error="; ".join(errors),
    )


def score(result: Result, episode: Episode, tolerance: int) -> None:
    truth = [frame for frame, _ in episode.boundaries]
    pairs = match_pairs(result.boundaries, truth, tolerance)
    tp = len(pairs)
    fp, fn = len(result.boundaries) - tp, len(truth) - tp
    result.precision, result.recall, result.f1 = precision_recall_f1(tp, fp, fn)
    matched_truth = {t for t, _ in pairs}
    matched_predicted = {p for _, p in pairs}
    for kind in BOUNDARY_KINDS:
        indices = [i for i, (_, k) in enumerate(episode.boundaries) if k == kind]
        hits = sum(1 for i in indices if i in matched_truth)
        result.recall_by_kind[kind] = hits / len(indices) if indices else None
    result.missed = [episode.boundaries[i] for i in range(len(truth)) if i not in matched_truth]
    result.false_positives = [
        p for i, p in enumerate(result.boundaries) if i not in matched_predicted
    ]


def count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for _ in container.decode(stream))


def measure(
    path: Path, frames: int, episode: Episode | None, tolerance: int, repeat: int = 1
) -> tuple[list[Result], ThumbselRun]:
    """Run every detector ``repeat`` times on ``path``; keep the fastest run of each."""
    results = []
    for name, make_detector in scenedetect_detectors().items():
        runs = [run_scenedetect(path, make_detector) for _ in range(repeat)]
        boundaries, seconds = min(runs, key=lambda item: item[1])
        results.append(Result(name, seconds, frames, boundaries))
    run = min(
        (run_thumbsel(path) for _ in range(repeat)),
        key=lambda item: item.analyze_seconds + item.shots_seconds,
    )
    if run.error:
        print(f"thumbsel: {run.error}", file=sys.stderr)
    if run.boundaries is None:
        results.append(
            Result(
                "thumbsel (analyze + shots)",
                run.analyze_seconds,
                run.frames,
                note=run.error,
            )
        )
    else:
        results.append(
            Result(
                "thumbsel (analyze + shots)",
                run.analyze_seconds + run.shots_seconds,
                run.frames,
                run.boundaries,
            )
        )
    if episode is not None:
        for result in results:
            if not result.note:
                score(result, episode, tolerance)
    return results, run


def percent(value: float | None) -> str:
    return "   -" if value is None else f"{100 * value:4.0f}"


def print_table(title: str, results: list[Result], run: ThumbselRun, scored: bool) -> None:
    print(f"\n{title}")
    header = f"{'detector':38} {'frames/s':>9}"
    if scored:
        header += f" {'P%':>4} {'R%':>4} {'F1%':>4}   " + " ".join(
            f"{'R ' + k:>10}" for k in BOUNDARY_KINDS
        )
    print(header)
    for result in results:
        line = f"{result.detector:38} {result.frames_per_second:9.0f}"
        if result.note:
            line += f"  ({result.note})"
        elif scored:
            line += f" {percent(result.precision)} {percent(result.recall)} {percent(result.f1)}   "
            line += " ".join(f"{percent(result.recall_by_kind[k]):>10}" for k in BOUNDARY_KINDS)
        print(line)
    shots = f"shots {1000 * run.shots_seconds:.1f} ms" if run.boundaries is not None else "no shots"
    if run.pick_seconds is None:
        print(f"thumbsel: analyze {run.analyze_seconds:.2f} s, {shots}; pick: {run.error}")
        return
    total = run.analyze_seconds + run.shots_seconds + run.pick_seconds
    print(
        f"thumbsel: analyze {run.analyze_seconds:.2f} s, {shots}, "
        f"pick(k=8) {1000 * run.pick_seconds:.1f} ms; analyze+shots+pick {total:.2f} s "
        f"= {run.frames / total:.0f} frames/s end to end"
    )


def print_details(results: list[Result]) -> None:
    for result in results:
        if result.note:
            continue
        missed = ", ".join(f"{frame} {kind}" for frame, kind in result.missed) or "none"
        extra = ", ".join(str(frame) for frame in result.false_positives) or "none"
        print(f"  {result.detector}: missed [{missed}]; false positives [{extra}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--details", action="store_true", help="list misses and false alarms")
    parser.add_argument("--no-720p", action="store_true", help="skip the 720p throughput run")
    parser.add_argument("--seed", type=int, default=0, help="episode seed")
    parser.add_argument("--tolerance", type=int, default=TOLERANCE, help="frames either side")
    parser.add_argument("--repeat", type=int, default=1, help="runs per detector (fastest kept)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)

    episode = build_episode(WORK, seed=args.seed)
    results, run = measure(episode.path, episode.frame_count, episode, args.tolerance, args.repeat)
    report: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "tolerance": args.tolerance,
        "repeat": args.repeat,
        "episode": {
            "path": str(episode.path.relative_to(ROOT)),
            "frames": episode.frame_count,
            "size": [episode.width, episode.height],
            "boundaries": [list(b) for b in episode.boundaries],
        },
        "episode_results": [asdict(r) | {"frames_per_s": r.frames_per_second} for r in results],
        "thumbsel_episode": asdict(run),
    }
    if not args.json:
        kinds = {k: episode.boundary_frames(k) for k in BOUNDARY_KINDS}
        print(
            f"episode {episode.path.name}: {episode.frame_count} frames "
            f"{episode.width}x{episode.height}, {os.cpu_count()} CPUs, tolerance +-{args.tolerance}"
        )
        print("  " + "; ".join(f"{len(v)} {k}s at {v}" for k, v in kinds.items()))
        print_table("episode (ground truth)", results, run, scored=True)
        if args.details:
            print_details(results)

    if CLIP_720P.exists() and not args.no_720p:
        frames = count_frames(CLIP_720P)
        results_720, run_720 = measure(CLIP_720P, frames, None, args.tolerance, args.repeat)
        report["clip_720p"] = {
            "path": str(CLIP_720P.relative_to(ROOT)),
            "frames": frames,
            "results": [
                {
                    "detector": r.detector,
                    "seconds": r.seconds,
                    "frames_per_s": r.frames_per_second,
                    "boundaries": len(r.boundaries),
                    "note": r.note,
                }
                for r in results_720
            ],
            "thumbsel": asdict(run_720) | {"boundaries": len(run_720.boundaries or [])},
        }
        if not args.json:
            print_table(
                f"{CLIP_720P.name}: {frames} frames 1280x720 (speed only)",
                results_720,
                run_720,
                scored=False,
            )
    elif not args.json:
        print(
            f"\n{CLIP_720P.relative_to(ROOT)} not found: no 720p run (benches/compare.py builds it)"
        )

    if args.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
