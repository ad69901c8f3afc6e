"""Dask's cost per task on this machine: no-op tasks on a 2-worker LocalCluster.

    .venv/bin/python benches/catalog_overhead.py

A catalog submits one task per title; the per-task figure says where the
scheduler starts to matter (``benches/README.md``, section 13).
"""

from __future__ import annotations

import time

from distributed import Client, LocalCluster


def noop(value: int) -> int:
    return value


def main() -> None:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.gather(client.map(noop, range(100)))  # warm up
        for count in (1000, 4000):
            started = time.perf_counter()
            client.gather(client.map(noop, range(count), pure=False))
            seconds = time.perf_counter() - started
            print(f"{count} tasks: {seconds:.2f} s, {seconds / count * 1000:.2f} ms per task")


if __name__ == "__main__":
    main()
