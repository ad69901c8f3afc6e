"""Type stubs of the compiled core (``rust/py``); checked by ``mypy.stubtest``."""

from typing import Any, Literal, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "BUILD_PROFILE",
    "COLUMNS",
    "FEATURES_VERSION",
    "HISTOGRAM_BINS",
    "FeatureExtractor",
    "InvalidFrameError",
    "ThumbselError",
    "__version__",
    "_after_fork_in_child",
    "frame_features",
    "parallelism_disabled",
    "set_threads",
    "thread_count",
]
__version__: str
BUILD_PROFILE: str
COLUMNS: tuple[
    tuple[str, Literal["float64", "uint64", "int32", "float32[64]"], str, str, bool], ...
]
"""``(name, dtype, unit, description, nullable)`` of every per-frame column, in table order.

``nullable`` marks the change signals, null (NaN in the arrays) for the first frame.
"""
HISTOGRAM_BINS: int
FEATURES_VERSION: int
"""Bumped whenever any kernel's output changes; a frame table from another version is stale."""

class ThumbselError(Exception): ...
class InvalidFrameError(ThumbselError, ValueError): ...

@final
class FeatureExtractor:
    def __new__(cls, *, full_range: bool = False, matrix: str = "bt709") -> FeatureExtractor: ...
    def push_yuv420_planes(
        self,
        ys: list[npt.NDArray[np.uint8]],
        us: list[npt.NDArray[np.uint8]],
        vs: list[npt.NDArray[np.uint8]],
    ) -> dict[str, npt.NDArray[Any]]: ...
    def push_rgb(self, rgb: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[Any]]: ...
    def reset(self) -> None: ...
    @property
    def frames_seen(self) -> int: ...

def frame_features(rgb: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[Any]]: ...
def set_threads(threads: int | None = None) -> int: ...
def thread_count() -> int: ...
def parallelism_disabled() -> bool: ...
def _after_fork_in_child() -> None: ...
