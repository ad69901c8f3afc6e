"""The catalog's own outputs: ``catalog.parquet``, ``candidates.parquet``, ``index.html``.

``catalog.parquet`` has one row per title (:data:`CATALOG_SCHEMA`), whatever
happened to it; ``candidates.parquet`` one row per candidate across the
catalog (:data:`CANDIDATE_SCHEMA`), read back from each title's
``candidates.json``: the table a personalisation service loads its pool
from. Image paths in it are relative to the output root. All three are
written atomically.
"""

from __future__ import annotations

import functools
import io
import json
import re
import urllib.parse
from collections.abc import Sequence
from typing import Any

import jinja2
import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel._core import __version__
from thumbsel.catalog.store import OutputRoot
from thumbsel.errors import OutputError
from thumbsel.outputs.report import template_environment
from thumbsel.text import plural

__all__ = ["CANDIDATE_SCHEMA", "CATALOG_SCHEMA", "write_index"]

CATALOG_SCHEMA = pa.schema(
    [
        pa.field("title_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("series", pa.string()),
        pa.field("episode", pa.string()),
        pa.field("genres", pa.list_(pa.string())),
        pa.field("cast", pa.list_(pa.string())),
        pa.field("sha256", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("warning", pa.string()),
        pa.field("frames", pa.int64()),
        pa.field("duration", pa.float64()),
        pa.field("shots", pa.int64()),
        pa.field("candidates", pa.int64()),
        pa.field("characters", pa.int64()),
        pa.field("segments", pa.int64()),
        pa.field("seconds", pa.float64()),
        pa.field("timings", pa.string()),
        pa.field("version", pa.string(), nullable=False),
        pa.field("options", pa.string()),
    ]
)
CANDIDATE_SCHEMA = pa.schema(
    [
        pa.field("title_id", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("time", pa.float64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("shot", pa.int64(), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False),
        pa.field("characters", pa.list_(pa.string()), nullable=False),
        pa.field("image", pa.string(), nullable=False),
        pa.field("thumbnail", pa.string(), nullable=False),
        pa.field("crops", pa.string(), nullable=False),
    ]
)
_TOP = 4
"""Candidates shown per title on the catalog page."""
_ID = re.compile(r"c\d+")
"""A character the pick could only number (``c1``, ``c2``...), not name."""


def _catalog_row(record: dict[str, Any]) -> dict[str, Any]:
    row = {name: record.get(name) for name in CATALOG_SCHEMA.names}
    # Measured in segments: how many (the seams' cost is in the title's title.json).
    row["segments"] = (record.get("segments") or {}).get("count")
    for name in ("timings", "options"):
        if row[name] is not None:
            row[name] = json.dumps(row[name], sort_keys=True)
    return row


def _candidates(outroot: OutputRoot, title_id: str) -> list[dict[str, Any]]:
    text = outroot.read_text(f"{title_id}/candidates.json")
    if text is None:
        raise OutputError(f"{outroot.address(title_id)}: its candidates.json is gone")
    document = json.loads(text)
    rows = []
    for item in document:
        characters = [f.get("character") for f in item.get("faces", []) if f.get("character")]
        rows.append(
            {
                "title_id": title_id,
                "rank": item["rank"],
                "frame": item["frame"],
                "time": item["time"],
                "score": item["score"],
                "shot": item["shot"],
                "tags": list(item["tags"]),
                "characters": list(dict.fromkeys(characters)),
                "image": f"{title_id}/{item['image']}",
                "thumbnail": f"{title_id}/{item['thumbnail']}",
                "crops": json.dumps(
                    {canvas: f"{title_id}/{c['path']}" for canvas, c in item["crops"].items()},
                    sort_keys=True,
                ),
            }
        )
    return rows


def write_index(outroot: OutputRoot, records: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Write the three catalog files for ``records`` (one per title); returns where."""
    ordered = sorted(records, key=lambda r: r["title_id"])
    rows = [_catalog_row(r) for r in ordered]
    candidates: list[dict[str, Any]] = []
    for record, row in zip(ordered, rows, strict=True):
        if record["status"] in ("done", "skipped"):
            found = _candidates(outroot, record["title_id"])
            candidates += found
            # The cast a viewer's profile credits: the manifest's, and the characters
            # the pick named (from a gallery or a series); ids like c1 name no one.
            named = [c for item in found for c in item["characters"] if not _ID.fullmatch(c)]
            row["cast"] = list(dict.fromkeys([*(row["cast"] or []), *named]))
    catalog = pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA)
    pool = pa.Table.from_pylist(candidates, schema=CANDIDATE_SCHEMA)
    files = {
        "catalog": ("catalog.parquet", _parquet(catalog)),
        "candidates": ("candidates.parquet", _parquet(pool)),
        "index": ("index.html", _page(ordered, candidates).encode("utf-8")),
    }
    for name, data in files.values():
        outroot.write_bytes(name, data)
    return {key: outroot.address(name) for key, (name, _) in files.items()}


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _page(records: Sequence[dict[str, Any]], candidates: Sequence[dict[str, Any]]) -> str:
    by_title: dict[str, list[dict[str, Any]]] = {}
    for candidate in candidates:
        by_title.setdefault(candidate["title_id"], []).append(candidate)
    titles = []
    for record in records:
        title_id = record["title_id"]
        titles.append(
            {
                "id": title_id,
                "status": record["status"],
                "error": record.get("error"),
                "warning": record.get("warning"),
                "path": record["path"],
                "report": _link(f"{title_id}/report.html"),
                "facts": " · ".join(
                    plural(_count(record, name), word)
                    for name, word in (
                        ("frames", "frame"),
                        ("shots", "shot"),
                        ("characters", "character"),
                        ("segments", "segment"),
                    )
                    if _count(record, name)
                ),
                "top": [
                    {"image": _link(c["thumbnail"]), "rank": c["rank"], "tags": c["tags"]}
                    for c in by_title.get(title_id, [])[:_TOP]
                ],
            }
        )
    counts = {s: sum(r["status"] == s for r in records) for s in ("done", "skipped", "failed")}
    return (
        _environment()
        .get_template("index.html.j2")
        .render(titles=titles, counts=counts, version=__version__)
    )


def _count(record: dict[str, Any], name: str) -> int:
    value = record.get(name)
    if name == "segments":
        value = (value or {}).get("count")
    return int(value or 0)


def _link(path: str) -> str:
    return urllib.parse.quote(path, safe="/")


@functools.cache
def _environment() -> jinja2.Environment:
    return template_environment("thumbsel.catalog")
