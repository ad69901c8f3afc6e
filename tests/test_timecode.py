"""The one timecode formatter every output uses."""

from __future__ import annotations

import pytest
from thumbsel.timecode import UNKNOWN, timecode


def test_timecode_formats() -> None:
    assert timecode(3725.0625) == "01:02:05.062"  # half a millisecond rounds to even
    assert timecode(59.9996) == "00:01:00.000"
    assert timecode(-1.5) == "-00:00:01.500"
    assert timecode(65.25, decimals=1, compact=True) == "1:05.2"
    assert timecode(3725, decimals=0, compact=True) == "1:02:05"
    assert timecode(float("nan")) == timecode(None) == UNKNOWN
    with pytest.raises(ValueError, match="decimals"):
        timecode(1.0, decimals=4)
