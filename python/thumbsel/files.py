"""Writing files so that a reader never sees a half-written one.

Everything thumbsel writes (frame tables, images, JSON, reports, policies,
impression logs) goes through :func:`atomic_path`: the bytes land under a
temporary name in the target's directory and are renamed over the target only
once they are complete, so a crash or a full disk leaves the previous file (or
none) rather than a truncated one. This module sits below every stage.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from thumbsel.errors import OutputError

__all__ = [
    "LOCK_NAME",
    "atomic_path",
    "directory_lock",
    "write_bytes",
    "write_json",
    "write_text",
]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The temporary file lives in the same directory so the final ``os.replace``
    is atomic; on any error it is removed and ``target`` is left untouched.
    Raises :class:`~thumbsel.errors.OutputError` when the file cannot be written.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        os.close(handle)
    except OSError as error:
        raise OutputError(f"{target}: cannot write: {error.strerror or error}") from error
    temporary = Path(name)
    # mkstemp creates 0600 files; outputs are meant to be shared like any
    # other file the user writes, so apply the usual umask instead.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    try:
        yield temporary
        _settle(temporary)
        os.replace(temporary, target)
    except OSError as error:
        raise OutputError(f"{target}: cannot write: {error.strerror or error}") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


LOCK_NAME = ".thumbsel.lock"
"""The file in an output directory that a writer holds locked while it writes there."""


@contextlib.contextmanager
def directory_lock(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``directory``'s lock (an ``flock`` on :data:`LOCK_NAME`) while writing into it.

    Two runs writing into one directory would leave a ``candidates.json``
    naming images the other deleted; the second one is refused at once
    (:class:`~thumbsel.errors.OutputError`) instead of waiting. The lock goes
    with the process, however it ends.
    """
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_NAME, "a+b")  # noqa: SIM115 (held across the yield)
    except OSError as error:
        raise OutputError(f"{folder}: cannot write: {error.strerror or error}") from error
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"{folder}: another thumbsel run is writing into this directory; "
                "wait for it or choose another -o"
            ) from None
        yield
    finally:
        handle.close()


def _settle(path: Path) -> None:
    """Force the written bytes to the disk before the rename, so that an error the
    file system reports late (a full disk, a network share gone) fails the write
    instead of leaving a short file under the final name."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data``, checking that every byte reached the file.

    A writer handed a file name may ignore a short write (Pillow's optimised
    JPEG encoder does, on a full disk); a buffered write of bytes already in
    memory raises instead, and the size is checked before the rename.
    """
    with atomic_path(target) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(data)
        written = temporary.stat().st_size
        if written != len(data):
            raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes were written")


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text."""
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], document: Any, *, sort_keys: bool = False) -> None:
    """Atomically write ``document`` as indented JSON with a final newline.

    The same document always gives the same bytes (no NaN: it is not JSON).
    """
    text = json.dumps(document, indent=2, sort_keys=sort_keys, allow_nan=False)
    write_text(target, text + "\n")
