"""What measuring a long title in segments costs, and what it buys.

    .venv/bin/python benches/segments_cost.py [--segments 4] [--episode PATH]

The title is the 720p test episode joined to itself 17 times (17,221 frames,
``benches/people_budget.py``). In one run, on the same file:

1. ``analyze`` in one pass, in this process (the scoring threads on both cores);
2. the same pass as ``--segments`` parts, one after another in this process,
   then stitched: the parts' time over the one pass's is the extra work the
   seams cost (each part opens and seeks, measures one frame more, and the
   stitch decodes again the frames near a seam that no part sampled). The
   stitched table and sightings are checked equal to the one pass's;
3. ``thumbsel catalog`` of that one title on 2 local workers, split and not
   split: the wall time a title's owner waits.

Only numbers of one run are comparable: the machine is shared.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from people_budget import long_episode
from thumbsel.analysis import analyze
from thumbsel.segments import analyze_segment, plan_segments, stitch

ROOT = Path(__file__).resolve().parents[1]


def catalog(folder: Path, out: Path, segment_frames: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "thumbsel",
            "catalog",
            str(folder),
            "-o",
            str(out),
            "--workers",
            "2",
            "--segment-frames",
            str(segment_frames),
            "--quiet",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--episode", type=Path)
    options = parser.parse_args()
    episode = options.episode or long_episode(ROOT / ".cache" / "bench")

    started = time.perf_counter()
    whole = analyze(episode, progress=False)
    one_pass = time.perf_counter() - started
    frames = len(whole.frames)
    print(f"{episode.name}: {frames} frames; one pass {one_pass:.1f} s")

    plan = plan_segments(episode, options.segments)
    assert plan is not None, "the title cannot be split"
    parts = []
    for part in range(len(plan.spans)):
        parts.append(analyze_segment(plan, part))
    result = stitch(plan, parts)
    in_parts = sum(part.seconds for part in parts)
    assert result.analysis.frames.table.equals(whole.frames.table), "the stitch differs"
    assert whole.sightings is not None and result.analysis.sightings is not None
    assert result.analysis.sightings.equals(whole.sightings), "the sightings differ"
    firsts = [span.first for span in plan.spans]
    print(f"segments start at {firsts}")
    print(
        f"parts {in_parts:.1f} s ({', '.join(f'{p.seconds:.1f}' for p in parts)}), "
        f"stitch {result.seconds:.2f} s: {(in_parts + result.seconds) / one_pass:.3f}x "
        f"the one pass; decoded again {result.decoded_again} frames, "
        f"faces looked at again {result.detected_again}, embedded again {result.embedded_again}"
    )

    with tempfile.TemporaryDirectory(prefix="thumbsel-segments-") as scratch:
        folder = Path(scratch) / "titles"
        folder.mkdir()
        shutil.copy(episode, folder / "long.mp4")
        segment_frames = frames // options.segments
        split = catalog(folder, Path(scratch) / "split", segment_frames)
        whole_title = catalog(folder, Path(scratch) / "whole", 100_000_000)
    print(
        f"catalog on 2 workers: split into {options.segments} {split:.1f} s, "
        f"whole {whole_title:.1f} s: {whole_title / split:.2f}x sooner split"
    )


if __name__ == "__main__":
    main()
