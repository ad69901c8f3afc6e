"""Synthetic pictures for the output tests (images, sheets, the report)."""

from __future__ import annotations

import numpy as np


def picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient with a little texture: compresses like a real frame."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 255, height)[:, None]
    x = np.linspace(0, 255, width)[None, :]
    base = np.stack([y + 0 * x, x + 0 * y, (x + y) / 2], axis=2)
    noise = rng.normal(0, 8, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)
