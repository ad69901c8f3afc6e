"""Run a catalog on Dask distributed: one task per title, Dask's own retries.

With no scheduler address a :class:`distributed.LocalCluster` is started on
127.0.0.1: worker processes (one title at a time each, under a nanny that
restarts a worker that dies), each with a memory limit and its share of the
cores for thumbsel's scoring threads. A worker that dies mid-title is
replaced and the task runs again (``retries`` plus the scheduler's own
rescheduling); :mod:`thumbsel.catalog.task` makes that safe. The index is
written when every title has an outcome, from all of them, so a rerun after
an interruption does only the titles without a finished record and then
writes the whole index again.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thumbsel._core import __version__
from thumbsel.catalog.index import write_index
from thumbsel.catalog.task import run_title
from thumbsel.catalog.titles import Title
from thumbsel.errors import ThumbselError
from thumbsel.pipeline import PickOptions

__all__ = ["MAX_WORKERS", "CatalogResult", "dask_client", "run_catalog"]

MAX_WORKERS = 1024
RETRIES = 2
"""Extra attempts of a title whose task raised (a worker lost mid-title is
rescheduled by the scheduler besides)."""


@dataclass(frozen=True)
class CatalogResult:
    records: tuple[dict[str, Any], ...]
    paths: dict[str, Path]
    seconds: float

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)


@contextlib.contextmanager
def dask_client(
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    dashboard: bool = True,
) -> Iterator[Any]:
    """A client of ``scheduler``, or of a local cluster of ``workers`` processes, each
    giving ``threads`` scoring threads to its title (default: its share of the cores)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ThumbselError("the catalog needs Dask: pip install 'thumbsel[dask]'") from None
    if scheduler is not None:
        if threads is not None or memory_limit is not None or workers is not None:
            raise ThumbselError(
                "--workers, --threads and --memory-limit set up local workers; on a cluster, "
                "give them to `dask worker` (and THUMBSEL_THREADS in its environment)"
            )
        with Client(scheduler, timeout="30s") as client:  # type: ignore[no-untyped-call]
            yield client
        return
    cores = os.cpu_count() or 1
    count = workers or cores
    if not 1 <= count <= MAX_WORKERS:
        raise ThumbselError(f"--workers must be within 1..{MAX_WORKERS}, got {count}")
    threads = threads or max(1, cores // count)
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=count,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0" if dashboard else None,
            memory_limit=memory_limit or "auto",
            # One title at a time per worker; its scoring threads get the cores.
            env={"THUMBSEL_THREADS": str(threads)},
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


def run_catalog(
    client: Any,
    titles: Sequence[Title],
    outroot: str | os.PathLike[str],
    options: PickOptions,
    *,
    batch_size: int | None = None,
    on_record: Any = None,
) -> CatalogResult:
    """Pick every title on ``client``'s cluster into ``outroot``, then write the index.

    ``on_record(record)`` is called as each title finishes (for progress).
    """
    from distributed import as_completed

    started = time.perf_counter()
    root = Path(outroot)
    root.mkdir(parents=True, exist_ok=True)
    futures = [
        client.submit(
            run_title,
            title,
            str(root.resolve()),
            options,
            batch_size=batch_size,
            key=f"thumbsel-title-{title.title_id}-{os.urandom(4).hex()}",
            retries=RETRIES,
            pure=False,
        )
        for title in titles
    ]
    title_of = {future.key: title for future, title in zip(futures, titles, strict=True)}
    records: list[dict[str, Any]] = []
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        try:
            record = future.result()
        except Exception as error:  # the task itself failed, every attempt of it
            title = title_of[future.key]
            message = " ".join(str(error).split()) or type(error).__name__
            record = {
                "title_id": title.title_id,
                "path": title.path,
                "status": "failed",
                "error": f"{type(error).__name__}: {message}",
                "version": __version__,
            }
        records.append(record)
        if on_record is not None:
            on_record(record)
    paths = write_index(root, records)
    return CatalogResult(tuple(records), paths, time.perf_counter() - started)
