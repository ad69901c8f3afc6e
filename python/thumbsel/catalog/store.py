"""The catalog's output root: a local folder, or a URL that an fsspec filesystem serves.

The root is the only state a catalog's workers share, so every title's
outputs and the index go through :class:`OutputRoot`:

* **A local path** (a shared filesystem on a cluster): a title is written
  under ``.work/`` beside its folder and renamed into place, so its folder
  is complete or absent.
* **A URL** (``s3://bucket/catalog``, ``gs://...``, ``file:///...``: any
  protocol whose fsspec package is installed, ``s3fs`` or ``gcsfs`` say).
  Object stores cannot rename a folder, so a title is written in a scratch
  folder on the worker and uploaded file by file, its record
  (``title.json``) last: a title folder without its record is unfinished,
  is written again by the next run, and is what a reader must skip. Each
  index file is uploaded whole, and an object appears all at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from thumbsel.errors import OutputError
from thumbsel.files import write_bytes

__all__ = ["RECORD", "WORK", "OutputRoot"]

RECORD = "title.json"
"""The record of a finished title, inside its folder; written (or uploaded) last."""
WORK = ".work"
"""Where titles are written before they are renamed into a local root."""


class OutputRoot:
    """Where a catalog's outputs go; cheap to make, so each task makes its own."""

    def __init__(self, location: str | os.PathLike[str]) -> None:
        text = os.fspath(location)
        self._fs: Any = None
        if "://" in text:
            try:
                from fsspec.core import url_to_fs  # type: ignore[import-untyped]
            except ImportError:
                raise OutputError(
                    f"{text}: an output URL needs fsspec: pip install 'thumbsel[dask]'"
                ) from None
            try:
                self._fs, path = url_to_fs(text)
            except (ImportError, ValueError) as error:
                # An unknown protocol, or its package not installed: fsspec says which.
                message = " ".join(str(error).split())
                raise OutputError(f"{text}: {message}") from None
            self._path = str(path).rstrip("/")
            self.location = text.rstrip("/")
            self.local: Path | None = None
        else:
            self.local = Path(text).resolve()
            self.location = str(self.local)

    def __repr__(self) -> str:
        return f"OutputRoot({self.location!r})"

    def create(self) -> None:
        try:
            if self.local is not None:
                self.local.mkdir(parents=True, exist_ok=True)
            else:
                self._fs.makedirs(self._path, exist_ok=True)
        except OSError as error:
            raise OutputError(f"{self.location}: cannot be created ({error})") from None

    def address(self, relative: str) -> str:
        """Where ``relative`` (a ``/``-separated path under the root) is, to show a user."""
        return f"{self.location}/{relative}"

    def read_text(self, relative: str) -> str | None:
        """The text of a file under the root; None when there is none."""
        try:
            if self.local is not None:
                return (self.local / relative).read_text(encoding="utf-8")
            data: bytes = self._fs.cat_file(f"{self._path}/{relative}")
            return data.decode("utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Put a whole file under the root, atomically (a reader sees all of it or none)."""
        if self.local is not None:
            write_bytes(self.local / relative, data)
        else:
            self._fs.pipe_file(f"{self._path}/{relative}", data)

    @contextlib.contextmanager
    def scratch(self, title_id: str) -> Iterator[Path]:
        """A fresh local folder to write ``title_id`` into; removed afterwards unless
        :meth:`publish` took it. Leftovers of attempts that died are removed first."""
        if self.local is not None:
            work = self.local / WORK
            # "@" is in no title id, so this matches this title's folders only.
            for stale in work.glob(f"{title_id}@*"):
                # Left by an attempt whose worker died: Dask runs the task again here.
                shutil.rmtree(stale, ignore_errors=True)
            fresh = work / f"{title_id}@{uuid.uuid4().hex}"
        else:
            fresh = Path(tempfile.mkdtemp(prefix=f"thumbsel-{title_id}@"))
        try:
            yield fresh
        finally:
            shutil.rmtree(fresh, ignore_errors=True)

    def publish(self, fresh: Path, title_id: str) -> None:
        """Make ``fresh`` (holding :data:`RECORD`) the folder of ``title_id``."""
        if self.local is not None:
            target = self.local / title_id
            aside = fresh.with_name(fresh.name + ".old")
            # Renames: a reader sees the old folder or the new one, never a mixture.
            if target.exists():
                os.replace(target, aside)
            os.replace(fresh, target)
            shutil.rmtree(aside, ignore_errors=True)
            return
        folder = f"{self._path}/{title_id}"
        if self._fs.exists(folder):
            # The old record goes first, so the folder is unfinished until the new one.
            with contextlib.suppress(FileNotFoundError):
                self._fs.rm_file(f"{folder}/{RECORD}")
            self._fs.rm(folder, recursive=True)
        files = sorted(path for path in fresh.rglob("*") if path.is_file())
        for path in [*(p for p in files if p.name != RECORD), fresh / RECORD]:
            relative = path.relative_to(fresh).as_posix()
            remote = f"{folder}/{relative}"
            self._fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
            self._fs.put_file(str(path), remote)
