"""Load on `thumbsel serve`: choose+log requests per second and latency, against a floor.

    .venv/bin/python benches/serve_load.py [--requests 3000] [--clients 4] [--postgres]

Two servers on 127.0.0.1, one after the other, in the same run:

* ``thumbsel serve`` over two real picks (8 candidates), uniform random
  policy, its SQLite store (WAL, ``synchronous=FULL``): ``POST /choose``;
* the floor: the same stack (FastAPI on uvicorn, one worker) with one
  endpoint that only parses the same body and inserts one row into a SQLite
  file with the same settings, then answers.

Each is driven by ``--clients`` threads on keep-alive connections, a fixed
number of requests in all (loopback only). The clients share the 2 cores
with the server, so the figures are for this machine as a whole.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import footage, real_clip  # noqa: E402

FLOOR = textwrap.dedent(
    """
    import sqlite3, socket, sys, threading, uuid
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel

    db = sqlite3.connect(sys.argv[1], check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE log (id TEXT PRIMARY KEY, viewer TEXT, title TEXT)")
    lock = threading.Lock()
    app = FastAPI()

    class Body(BaseModel):
        viewer_id: str
        title_id: str

    @app.post("/choose")
    def choose(body: Body):
        impression = uuid.uuid4().hex
        with lock:
            row = (impression, body.viewer_id, body.title_id)
            db.execute("INSERT INTO log VALUES (?,?,?)", row)
        return {"impression_id": impression}

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"serving on http://127.0.0.1:{sock.getsockname()[1]};", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    """
)


@contextlib.contextmanager
def server(command: list[str]) -> Iterator[tuple[str, int]]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        address = line.split("http://", 1)[1].split(";", 1)[0]
        host, port = address.rsplit(":", 1)
        yield host, int(port)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def drive(host: str, port: int, requests: int, clients: int) -> tuple[float, np.ndarray]:
    body = json.dumps({"viewer_id": "v1", "title_id": "phone"}).encode()
    latencies: list[float] = []
    lock = threading.Lock()
    share = [requests // clients + (i < requests % clients) for i in range(clients)]

    def client(count: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=10)
        mine = []
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", "/choose", body, {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            mine.append(time.perf_counter() - started)
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in share]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return time.perf_counter() - started, np.array(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--postgres", action="store_true", help="add a PostgreSQL-backed run")
    options = parser.parse_args()
    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="thumbsel-load-"))
        database = None
        if options.postgres:
            import postgres

            database = postgres.fresh_database(stack.enter_context(postgres.local_server()))
        titles = Path(scratch) / "titles"
        for title, clip in (
            ("phone", real_clip("carphone_pristine.mp4")),
            ("chaplin", footage("chaplin-bw.mp4")),
        ):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "thumbsel",
                    "pick",
                    str(clip),
                    "-k",
                    "4",
                    "-o",
                    str(titles / title),
                    "--quiet",
                ],
                check=True,
            )
        runs = {
            "thumbsel serve": [
                sys.executable,
                "-m",
                "thumbsel",
                "serve",
                "--candidates",
                str(titles),
                "--store",
                f"{scratch}/log.db",
                "--port",
                "0",
            ],
            "floor (parse + insert)": [sys.executable, "-c", FLOOR, f"{scratch}/floor.db"],
        }
        if database is not None:
            serve = runs["thumbsel serve"]
            at = serve.index("--store")
            runs["serve --database"] = [*serve[:at], "--database", database, *serve[at + 2 :]]
        results = {}
        for name, command in runs.items():
            with server(command) as (host, port):
                drive(host, port, 200, options.clients)  # warm up
                results[name] = drive(host, port, options.requests, options.clients)
    print(f"{options.requests} requests, {options.clients} clients, keep-alive, 127.0.0.1")
    print(f"{'server':<24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, (seconds, latencies) in results.items():
        print(
            f"{name:<24} {len(latencies) / seconds:>8.0f} "
            f"{np.percentile(latencies, 50) * 1e3:>8.2f} {np.percentile(latencies, 99) * 1e3:>8.2f}"
        )
    rate = {name: len(r[1]) / r[0] for name, r in results.items()}
    floor = rate.pop("floor (parse + insert)")
    for name, value in rate.items():
        print(f"{name} at {value / floor:.2f}x the floor's throughput")


if __name__ == "__main__":
    main()
