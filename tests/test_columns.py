"""The column registry: one list of the per-frame columns, and what must agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import thumbsel
from thumbsel.columns import CORE_COLUMNS, FRAME_COLUMNS, PICK_COLUMNS, column, frame_schema

README = Path(__file__).resolve().parents[1] / "README.md"
NUMPY_TYPES = {
    "float64": np.float64,
    "uint64": np.uint64,
    "int32": np.int32,
    "float32[64]": np.float32,
}


def test_names_are_unique_and_every_column_is_described() -> None:
    names = [entry.name for entry in FRAME_COLUMNS + PICK_COLUMNS]
    assert len(names) == len(set(names))
    assert names[:2] == ["frame", "time"]
    for entry in FRAME_COLUMNS + PICK_COLUMNS:
        assert entry.description.strip() and "\n" not in entry.description, entry.name
        assert column(entry.name) is entry
    assert frame_schema().names == [entry.name for entry in FRAME_COLUMNS]


def test_the_core_computes_exactly_the_registered_columns() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
    computed = thumbsel.frame_features(rgb)
    assert list(computed) == [entry.name for entry in CORE_COLUMNS]
    for entry in CORE_COLUMNS:
        values = computed[entry.name]
        assert values.dtype == NUMPY_TYPES[entry.dtype], entry.name
        assert values.shape == ((3, 64) if entry.dtype == "float32[64]" else (3,)), entry.name
        # Exactly the change signals are missing for the first frame.
        first_missing = bool(np.isnan(values[0]).any()) if values.dtype.kind == "f" else False
        assert first_missing == entry.nullable, entry.name


def documented_columns() -> list[str]:
    """The column names in the first cell of each row of the README's per-frame table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Per-frame features", 1)[1].split("\n## ", 1)[0]
    names: list[str] = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        names += re.findall(r"`([a-z_]+)`", first_cell)
    return names


def test_the_readme_table_lists_every_column_once() -> None:
    documented = documented_columns()
    assert sorted(documented) == sorted(entry.name for entry in FRAME_COLUMNS)
    assert len(documented) == len(set(documented))
