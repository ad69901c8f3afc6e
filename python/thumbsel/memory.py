"""Whether memory can still be had: a probe for an exhausted address space.

Under a memory limit (``ulimit -v``, a batch system's ``RLIMIT_AS``) native
code fails in its own ways: FFmpeg's frame threads report a failed
allocation as "invalid data", so every packet looks damaged, and importing
OpenCV crashes the process. Reserving (not touching) a block of address
space tells, in microseconds, whether the limit is the cause; under a
cgroup limit (``docker run -m``) reservations succeed and the kernel's
out-of-memory killer acts instead, which no process can report.
"""

from __future__ import annotations

import mmap

__all__ = ["can_reserve"]


def can_reserve(size: int) -> bool:
    """Whether ``size`` bytes of address space can be reserved now (and are given back)."""
    try:
        block = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, OverflowError, ValueError):
        return False
    block.close()
    return True
