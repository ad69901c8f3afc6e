"""Type stubs of the compiled core (``rust/py``); checked by ``mypy.stubtest``."""

from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "BUILD_PROFILE",
    "FeatureExtractor",
    "InvalidFrameError",
    "ThumbselError",
    "__version__",
    "_disable_parallelism",
    "frame_features",
    "set_threads",
    "thread_count",
]
__version__: str
BUILD_PROFILE: str

class ThumbselError(Exception): ...
class InvalidFrameError(ThumbselError, ValueError): ...

@final
class FeatureExtractor:
    def __new__(cls, *, full_range: bool = False, matrix: str = "bt709") -> FeatureExtractor: ...
    def push_yuv420(
        self, y: npt.NDArray[np.uint8], u: npt.NDArray[np.uint8], v: npt.NDArray[np.uint8]
    ) -> dict[str, npt.NDArray[Any]]: ...
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
def _disable_parallelism() -> None: ...
