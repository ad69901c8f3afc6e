"""Per-frame cost against resolution and bit depth, as a ratio to PyAV decoding alone.

    .venv/bin/python benches/resolution_scale.py [--frames 300]

The same picture content (the bundled Big Buck Bunny sample) is scaled to
480p, 720p, 1080p and 2160p and encoded with libx264 (crf 23, veryfast),
8-bit 4:2:0, and once at 1080p in 10-bit 4:2:0 (yuv420p10le). For each, in
the same run: PyAV decoding alone (the best of its threading modes, as in
section 2), ``thumbsel.analyze`` with every feature at default settings
(the people stage on), and the peak resident memory (VmHWM) of a fresh
process running the same analysis. Clips go to ``.cache/bench`` and are reused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benches"))

from compare import analyze_end_to_end, build_clip, decode_only, peak_rss_mib  # noqa: E402

SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    options = parser.parse_args()
    cases = [(name, size, "yuv420p") for name, size in SIZES.items()]
    cases.insert(3, ("1080p", SIZES["1080p"], "yuv420p10le"))
    print(f"{options.frames} frames each; frames/s, and analyze as a share of decoding alone")
    header = f"{'clip':<22} {'decode fps':>10} {'analyze fps':>11} {'ratio':>6} {'ms/frame':>9}"
    print(f"{header} {'peak MiB':>8}")
    # The face models load on the first call in a process: not a per-frame cost.
    analyze_end_to_end(build_clip(options.frames, SIZES["480p"]))
    for name, size, pix_fmt in cases:
        path = build_clip(options.frames, size, pix_fmt)
        decode = decode_only(path)
        analyze = analyze_end_to_end(path)
        memory = peak_rss_mib(path)
        label = f"{name} {'10-bit' if '10' in pix_fmt else '8-bit'}"
        print(
            f"{label:<22} {decode:>10.1f} {analyze:>11.1f} {analyze / decode:>6.2f} "
            f"{1000 / analyze:>9.2f} {memory:>8.0f}"
        )


if __name__ == "__main__":
    main()
