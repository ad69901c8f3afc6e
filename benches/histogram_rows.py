"""What reading every k-th row costs the exposure statistics, on real clips (section 22).

    .venv/bin/python benches/histogram_rows.py

The luma histogram reads ``HISTOGRAM_ROWS`` = 180 rows of each frame (every
``height // 180``-th; ``rust/core/src/luma.rs``). For every third frame of each
clip, the statistics thumbsel derives from the histogram (brightness,
contrast, dark and bright fractions, entropy) are computed here in numpy from
every row and from the sampled rows, and the largest difference is printed,
for the step thumbsel uses and for the former fixed step of 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = Path(os.environ.get("THUMBSEL_FOOTAGE", ROOT.parent / "shared" / "footage"))
CLIPS = {
    "bigbuckbunny (720p sample)": ROOT / "data" / "samples" / "bigbuckbunny.mp4",
    "chaplin-bw": FOOTAGE / "chaplin-bw.mp4",
    "one-by-one": FOOTAGE / "one-by-one.mp4",
    "episode 720p (benches/people_budget.py)": ROOT
    / ".cache"
    / "bench"
    / "episode_1280x720_seed0_5877aeee6d9951c2.mp4",
}
NAMES = ("brightness", "contrast", "dark", "bright", "entropy")


def exposure(luma: np.ndarray, step: int) -> np.ndarray:
    """thumbsel's exposure statistics of limited-range ``luma`` from every ``step``-th row."""
    codes = luma[::step].ravel().astype(np.int64)
    full = np.clip(np.round((codes - 16) * 255 / 219), 0, 255).astype(np.int64)
    shares = np.bincount(full, minlength=256) / full.size
    present = shares[shares > 0]
    return np.array(
        [
            full.mean() / 255,
            full.std() / 255,
            (full <= 18).mean(),
            (full >= 240).mean(),
            -(present * np.log2(present)).sum(),
        ]
    )


def main() -> None:
    print("| clip | size | frames | step | " + " | ".join(f"max error, {n}" for n in NAMES) + " |")
    print("|---|---|---:|---:|" + "---:|" * len(NAMES))
    for name, path in CLIPS.items():
        if not path.exists():
            print(f"| {name} | missing: {path} |")
            continue
        errors: dict[int, list[np.ndarray]] = {}
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 3:
                    continue
                plane = frame.planes[0]
                luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
                luma = luma[:, : frame.width]
                every_row = exposure(luma, 1)
                for step in sorted({2, max(1, frame.height // 180)}):
                    difference = np.abs(exposure(luma, step) - every_row)
                    errors.setdefault(step, []).append(difference)
        for step, values in errors.items():
            worst = np.max(values, axis=0)
            print(
                f"| {name} | {frame.width}x{frame.height} | {len(values)} | {step} | "
                + " | ".join(f"{w:.4f}" for w in worst)
                + " |"
            )


if __name__ == "__main__":
    main()
