"""What a catalog run works on: titles found in a folder, a glob, or a manifest.

A folder is searched recursively for video files (by extension), a glob is
expanded (``**`` included), and a manifest (CSV or Parquet) lists one title a
row: ``path`` (relative to the manifest's folder, or absolute), optionally
``title_id``, ``series``, ``episode``, ``genres`` and ``cast`` (lists in
Parquet, ``;``-separated in CSV: what viewer profiles map viewing and
searches through), and per-title options named as
:class:`~thumbsel.pipeline.PickOptions` fields (``k``, ``people_interval``,
``per_character``, ``min_shot_frames``). Without a ``title_id``, it is the
file's path relative to the input without its extension, ``/`` replaced by
``__``: ``drama/s01/e01.mkv`` is ``drama__s01__e01``. A title id names a
folder, so it is checked: letters, digits, ``.``, ``_`` and ``-``, no more
than 200 of them, unique in the catalog.
"""

from __future__ import annotations

import csv
import glob
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel.errors import ThumbselError
from thumbsel.text import split_names

__all__ = ["MAX_TITLES", "TITLE_OPTIONS", "VIDEO_SUFFIXES", "Title", "find_titles"]

VIDEO_SUFFIXES = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".ts",
        ".m2ts",
        ".mts",
        ".mxf",
        ".mpg",
        ".mpeg",
        ".flv",
        ".wmv",
        ".ogv",
        ".gif",
    ]
)
MAX_TITLES = 1_000_000
TITLE_OPTIONS = {"k": int, "people_interval": float, "per_character": int, "min_shot_frames": int}
"""Options a manifest may set per title, and their types."""
_TITLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_MAX_MANIFEST_BYTES = 512 << 20


@dataclass(frozen=True)
class Title:
    title_id: str
    path: str
    series: str | None = None
    episode: str | None = None
    genres: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    """Per-title overrides of the run's pick options (from a manifest)."""


def find_titles(source: str) -> list[Title]:
    """The titles of ``source`` (a folder, a glob or a manifest), sorted by title id."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() in (".csv", ".parquet"):
        titles = _from_manifest(path)
    elif path.is_dir():
        titles = _from_files(path, sorted(p for p in path.rglob("*") if _is_video(p)))
    elif glob.has_magic(source):
        matches = sorted(Path(p) for p in glob.glob(source, recursive=True) if _is_video(Path(p)))
        root = Path(_glob_root(source))
        titles = _from_files(root, matches)
    elif path.is_file():
        titles = _from_files(path.parent, [path])
    else:
        raise ThumbselError(f"{source}: no such folder, file or matching glob")
    if not titles:
        raise ThumbselError(f"{source}: no video files found")
    if len(titles) > MAX_TITLES:
        raise ThumbselError(f"{source}: more than {MAX_TITLES:,} titles")
    seen: dict[str, str] = {}
    for title in titles:
        if not _TITLE_ID.fullmatch(title.title_id) or ".." in title.title_id:
            raise ThumbselError(
                f"{title.path}: title id {title.title_id!r} must be 1..200 letters, digits, "
                "'.', '_' or '-' (it names the title's folder)"
            )
        if title.title_id in seen:
            first = seen[title.title_id]
            raise ThumbselError(f"title id {title.title_id!r} is used by {first} and {title.path}")
        seen[title.title_id] = title.path
    return sorted(titles, key=lambda t: t.title_id)


def _is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def _glob_root(pattern: str) -> str:
    parts = Path(pattern).parts
    fixed = [p for p in parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]]
    return str(Path(*fixed)) if fixed else "."


def _from_files(root: Path, files: list[Path]) -> list[Title]:
    titles = []
    for file in files:
        relative = file.resolve().relative_to(root.resolve())
        title_id = str(relative.with_suffix("")).replace("\\", "/").replace("/", "__")
        # Absolute: a worker on another machine, or in another folder, reads it too.
        titles.append(Title(title_id=title_id, path=str(file.resolve())))
    return titles


def _from_manifest(path: Path) -> list[Title]:
    if path.stat().st_size > _MAX_MANIFEST_BYTES:
        raise ThumbselError(f"{path}: a manifest larger than {_MAX_MANIFEST_BYTES >> 20} MiB")
    try:
        if path.suffix.lower() == ".parquet":
            rows = pq.read_table(path).to_pylist()
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as error:
        raise ThumbselError(f"{path}: not a readable manifest ({error})") from None
    titles = []
    for number, row in enumerate(rows, start=2):
        where = f"{path}, row {number}"
        file = row.get("path")
        if not file:
            raise ThumbselError(f"{where}: no path (a manifest needs a path column)")
        video = Path(str(file))
        if not video.is_absolute():
            video = path.parent / video
        title_id = row.get("title_id") or str(Path(str(file)).with_suffix("")).replace("/", "__")
        options = {}
        for name, kind in TITLE_OPTIONS.items():
            value = row.get(name)
            if value in (None, ""):
                continue
            try:
                converted = kind(value)
            except (TypeError, ValueError):
                raise ThumbselError(f"{where}: {name} must be a number, got {value!r}") from None
            if isinstance(converted, float) and not math.isfinite(converted):
                raise ThumbselError(f"{where}: {name} must be finite, got {value!r}")
            options[name] = converted
        titles.append(
            Title(
                title_id=str(title_id),
                path=str(video.resolve()),
                series=str(row["series"]) if row.get("series") not in (None, "") else None,
                episode=str(row["episode"]) if row.get("episode") not in (None, "") else None,
                genres=_names(row.get("genres"), f"{where}: genres"),
                cast=_names(row.get("cast"), f"{where}: cast"),
                options=options,
            )
        )
    return titles


_MAX_NAMES = 100
_MAX_NAME = 200


def _names(value: object, where: str) -> tuple[str, ...]:
    names = split_names(value)
    if names is None:
        raise ThumbselError(f"{where} must be a list or ';'-separated text, got {value!r}")
    if len(names) > _MAX_NAMES or any(len(n) > _MAX_NAME for n in names):
        raise ThumbselError(f"{where}: at most {_MAX_NAMES} names of {_MAX_NAME} characters")
    return names
