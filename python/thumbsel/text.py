"""How thumbsel words a count in messages, summaries and the report."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless it is one: ``1 frame``, ``2,400 frames``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
