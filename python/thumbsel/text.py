"""How thumbsel words a count in messages, and reads a list of names written as text."""

from __future__ import annotations

__all__ = ["plural", "split_names"]


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless it is one: ``1 frame``, ``2,400 frames``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def split_names(value: object) -> tuple[str, ...] | None:
    """Names from a Parquet list or ``;``-separated text (a CSV cell), blanks and
    repeats dropped, in order; ``None`` for a value that is neither."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items: list[object] = list(value.split(";"))
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        return None
    return tuple(dict.fromkeys(str(v).strip() for v in items if v is not None and str(v).strip()))
