"""Run a catalog on Dask distributed: tasks per title, Dask's own retries.

Each title is prepared (hashed, checked against its finished record, and
planned) by one task; then picked by one task, or, when long, measured by
one task per segment and stitched and picked by one more that takes their
results (:mod:`thumbsel.catalog.task`).

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
from typing import Any

from thumbsel._core import __version__
from thumbsel.catalog.index import write_index
from thumbsel.catalog.store import OutputRoot
from thumbsel.catalog.task import (
    DEFAULT_SEGMENT_FRAMES,
    MAX_SEGMENT_FRAMES,
    MIN_SEGMENT_FRAMES,
    Prepared,
    measure_segment,
    prepare_title,
    run_title,
)
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
    paths: dict[str, str]
    """Where the index files are (local paths, or URLs under a URL root)."""
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
    segment_frames: int = DEFAULT_SEGMENT_FRAMES,
) -> CatalogResult:
    """Pick every title on ``client``'s cluster into ``outroot``, then write the index.

    A title of ``2 x segment_frames`` frames or more is measured in segments
    of at least that many frames, two per worker thread at most.
    ``on_record(record)`` is called as each title finishes (for progress).
    """
    from distributed import as_completed

    if not MIN_SEGMENT_FRAMES <= segment_frames <= MAX_SEGMENT_FRAMES:
        raise ThumbselError(
            f"--segment-frames must be within {MIN_SEGMENT_FRAMES}..{MAX_SEGMENT_FRAMES:,}, "
            f"got {segment_frames}"
        )
    started = time.perf_counter()
    root = OutputRoot(outroot)
    root.create()
    where = root.location
    slots = sum(client.nthreads().values()) or 1
    stage: dict[str, tuple[str, Title]] = {}
    pending = as_completed()  # type: ignore[no-untyped-call]

    def submit(kind: str, title: Title, function: Any, *args: Any, **kwargs: Any) -> Any:
        key = f"thumbsel-{kind}-{title.title_id}-{os.urandom(4).hex()}"
        future = client.submit(function, *args, key=key, retries=RETRIES, pure=False, **kwargs)
        stage[key] = (kind, title)
        return future

    for title in titles:
        pending.add(  # type: ignore[no-untyped-call]
            submit(
                "prepare",
                title,
                prepare_title,
                title,
                where,
                options,
                slots=slots,
                segment_frames=segment_frames,
            )
        )
    records: list[dict[str, Any]] = []
    for future in pending:
        _kind, title = stage.pop(future.key)
        try:
            value = future.result()
        except Exception as error:  # the task itself failed, every attempt of it
            message = " ".join(str(error).split()) or type(error).__name__
            value = {
                "title_id": title.title_id,
                "path": title.path,
                "status": "failed",
                "error": f"{type(error).__name__}: {message}",
                "version": __version__,
            }
        if isinstance(value, Prepared) and not value.done:
            parts = []
            if value.plan is not None:
                parts = [
                    submit("segment", title, measure_segment, future, part, batch_size=batch_size)
                    for part in range(len(value.plan.spans))
                ]
            pending.add(  # type: ignore[no-untyped-call]
                submit(
                    "title",
                    title,
                    run_title,
                    title,
                    where,
                    options,
                    batch_size=batch_size,
                    prepared=future,
                    parts=parts,
                )
            )
            continue
        record = value.record if isinstance(value, Prepared) else value
        records.append(record)
        if on_record is not None:
            on_record(record)
    paths = write_index(root, records)
    return CatalogResult(tuple(records), paths, time.perf_counter() - started)
