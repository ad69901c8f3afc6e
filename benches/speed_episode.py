"""Issue 16's speed targets on the long 720p episode, each command in a fresh process.

    .venv/bin/python benches/speed_episode.py [--runs 2] [--episode PATH] [--only NAME ...]

The title is the 720p test episode joined to itself 17 times (the one of
``people_budget.py``: 17,221 frames, 357 shots). Measured, alternating so a
busy spell on the shared machine hits all of them:

* PyAV decoding alone (frame threading, every frame converted to nothing),
  with FFmpeg's own thread count and with the pass's
  (:func:`thumbsel.decode.pass_decode_threads`);
* PySceneDetect's AdaptiveDetector (``scenedetect`` API, default settings);
* ``thumbsel analyze`` and ``thumbsel analyze --fast`` (no faces: the pass itself);
* ``thumbsel pick`` and ``thumbsel pick --fast`` with the people stage on.

Each figure is frames of the title per second of wall time, start to end of
the process, and each ratio is against decode-only (or AdaptiveDetector) as
the median of the runs; "vs decode-only" is against the faster of the two
decode-only runs. Targets: analyze >= 0.8x decode-only; pick >= 1.5x
AdaptiveDetector; ``--fast`` >= 1.2x decode-only.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
from thumbsel.decode import pass_decode_threads

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benches"))

from people_budget import long_episode  # noqa: E402  (the same 17x episode)

DECODE = """
import sys, av
with av.open(sys.argv[1]) as c:
    s = c.streams.video[0]
    s.thread_type = "AUTO"
    s.codec_context.thread_count = int(sys.argv[2])
    for _ in c.decode(s):
        pass
"""

ADAPTIVE = """
import sys
from scenedetect import AdaptiveDetector, detect
detect(sys.argv[1], AdaptiveDetector())
"""


def timed(arguments: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(arguments, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--episode", type=Path)
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="these commands only (decode-only always runs)"
    )
    options = parser.parse_args()
    episode = options.episode or long_episode(ROOT / ".cache" / "bench")
    with av.open(str(episode)) as container:
        frames = sum(1 for _ in container.demux(video=0)) - 1
    thumbsel = [sys.executable, "-m", "thumbsel"]
    with tempfile.TemporaryDirectory() as scratch:
        table = str(Path(scratch) / "frames.parquet")
        commands = {
            "decode-only": [sys.executable, "-c", DECODE, str(episode), "0"],
            "decode-only, pass threads": [
                sys.executable,
                "-c",
                DECODE,
                str(episode),
                str(pass_decode_threads()),
            ],
            "AdaptiveDetector": [sys.executable, "-c", ADAPTIVE, str(episode)],
            "analyze": [*thumbsel, "analyze", str(episode), "-o", table, "--no-faces", "--quiet"],
            "analyze --fast": [
                *thumbsel,
                "analyze",
                str(episode),
                "-o",
                table,
                "--no-faces",
                "--fast",
                "--quiet",
            ],
            "pick": [*thumbsel, "pick", str(episode), "-o", f"{scratch}/pick", "--quiet"],
            "pick --fast": [
                *thumbsel,
                "pick",
                str(episode),
                "-o",
                f"{scratch}/pick_fast",
                "--fast",
                "--quiet",
            ],
        }
        if options.only:
            unknown = set(options.only) - set(commands)
            if unknown:
                parser.error(f"unknown commands {sorted(unknown)}; known: {sorted(commands)}")
            commands = {
                name: arguments
                for name, arguments in commands.items()
                if name.startswith("decode-only") or name in options.only
            }
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        for run in range(options.runs):
            for name, arguments in commands.items():
                seconds[name].append(timed(arguments))
                print(f"run {run + 1}: {name}: {seconds[name][-1]:.1f} s", file=sys.stderr)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    decoding = min(median["decode-only"], median["decode-only, pass threads"])
    print(f"{episode.name}: {frames} frames, {options.runs} runs (median)")
    print("| command | seconds (each run) | frames/s | vs decode-only | vs AdaptiveDetector |")
    print("|---|---|---:|---:|---:|")
    adaptive = median.get("AdaptiveDetector")
    for name, values in seconds.items():
        each = ", ".join(f"{value:.1f}" for value in values)
        rate = frames / median[name]
        versus = f"{adaptive / median[name]:.2f}x" if adaptive else "-"
        print(f"| {name} | {each} | {rate:.0f} | {decoding / median[name]:.2f}x | {versus} |")


if __name__ == "__main__":
    main()
