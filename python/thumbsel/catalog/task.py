"""One title of a catalog, as a Dask task runs it on a worker.

The task is idempotent, so Dask may run it again after a worker dies:

* A title whose folder holds a finished record (``title.json``) with the
  same content hash, options and thumbsel version is skipped: nothing is
  recomputed.
* Otherwise the pick is written into a fresh folder under
  ``OUTROOT/.work/`` and swapped into ``OUTROOT/<title_id>/`` by renames
  once complete, so a title's folder is complete or absent, never half
  written. ``title.json`` is written last, inside the new folder, before the
  swap.
* Bad input fails this title only: the task returns a ``failed`` record
  with the one-line error, and leaves any earlier complete folder alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from thumbsel._core import __version__
from thumbsel.catalog.titles import Title
from thumbsel.errors import ThumbselError
from thumbsel.files import write_json
from thumbsel.frames import SourceFile
from thumbsel.pipeline import PickOptions, pick_title

__all__ = ["RECORD", "WORK", "run_title", "title_options"]

RECORD = "title.json"
"""The record of a finished title, inside its folder."""
WORK = ".work"
"""Where titles are written before they are swapped into place."""


def title_options(options: PickOptions, title: Title) -> PickOptions:
    """The run's options with the title's own (from a manifest) over them."""
    return dataclasses.replace(options, **title.options) if title.options else options


def run_title(
    title: Title, outroot: str, options: PickOptions, *, batch_size: int | None = None
) -> dict[str, Any]:
    """Pick one title into ``outroot/<title_id>/``; returns its catalog record."""
    started = time.perf_counter()
    record: dict[str, Any] = {
        "title_id": title.title_id,
        "path": title.path,
        "series": title.series,
        "episode": title.episode,
        "version": __version__,
        "status": "failed",
        "error": None,
    }
    try:
        chosen = title_options(options, title)
        record["options"] = chosen.as_dict()
        source = SourceFile.of(title.path)
        record["sha256"] = source.sha256
    except (ThumbselError, ValueError, OSError) as error:
        record["error"] = _one_line(error)
        return record
    target = Path(outroot) / title.title_id
    previous = _finished(target)
    if previous is not None and all(
        previous.get(key) == record[key] for key in ("sha256", "options", "version")
    ):
        return previous | {"status": "skipped"}
    work = Path(outroot) / WORK
    # "@" is in no title id, so this matches this title's folders only.
    for stale in work.glob(f"{title.title_id}@*"):
        # Left by an attempt whose worker died: Dask runs the task again here.
        shutil.rmtree(stale, ignore_errors=True)
    fresh = work / f"{title.title_id}@{uuid.uuid4().hex}"
    try:
        result = pick_title(title.path, fresh, chosen, batch_size=batch_size)
    except ThumbselError as error:
        shutil.rmtree(fresh, ignore_errors=True)
        record["error"] = _one_line(error)
        return record
    summary = json.loads((fresh / "summary.json").read_text(encoding="utf-8"))
    record.update(
        status="done",
        frames=len(result.frames),
        duration=summary.get("video", {}).get("duration"),
        shots=len(result.shots.shots),
        candidates=len(result.selection.candidates),
        characters=len(result.cast.characters) if result.cast is not None else None,
        complete=result.frames.complete,
        warning=None
        if result.frames.complete
        else f"damaged video: {result.frames.decode.summary()}",
        timings=result.timings,
        seconds=time.perf_counter() - started,
    )
    write_json(fresh / RECORD, record, sort_keys=True)
    _swap(fresh, target)
    return record


def _finished(folder: Path) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("status") == "done" else None


def _swap(fresh: Path, target: Path) -> None:
    """Put ``fresh`` where ``target`` is, by renames: a reader sees one or the other."""
    aside = fresh.with_name(fresh.name + ".old")
    if target.exists():
        os.replace(target, aside)
    os.replace(fresh, target)
    shutil.rmtree(aside, ignore_errors=True)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
