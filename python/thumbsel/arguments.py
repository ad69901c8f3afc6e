"""Argument types for the command line: every number a user types has a checked range.

Each one raises ``argparse.ArgumentTypeError`` with a message that says what
was expected, which argparse turns into a one-line usage error (exit 2).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["bounded_float", "output_path", "whole_number"]


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A parser of whole numbers in ``[minimum, maximum]``."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {number}")
        return number

    return parse


def bounded_float(
    minimum: float, maximum: float, *, open_minimum: bool = False
) -> Callable[[str], float]:
    """A parser of finite numbers in ``[minimum, maximum]`` (``(minimum, ...`` when open)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {value!r}")
        too_low = number <= minimum if open_minimum else number < minimum
        if too_low or number > maximum:
            low = "(" if open_minimum else "["
            raise argparse.ArgumentTypeError(
                f"must be within {low}{minimum:g}, {maximum:g}], got {number:g}"
            )
        return number

    return parse


def output_path(value: str) -> str:
    """A parser of output paths: an empty one would write into the current directory."""
    if not value.strip():
        raise argparse.ArgumentTypeError("the output path is empty")
    if "\0" in value:
        raise argparse.ArgumentTypeError("the output path holds a NUL character")
    return value
