"""Write files so a reader never sees a half-written one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from thumbsel.errors import OutputError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The temporary file lives in the same directory so the final ``os.replace``
    is atomic; on any error it is removed and ``target`` is left untouched.
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
        os.replace(temporary, target)
    except OSError as error:
        raise OutputError(f"{target}: cannot write: {error.strerror or error}") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
