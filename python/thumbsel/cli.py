"""The ``thumbsel`` command.

Exit status: 0 success; 1 bad input or output (one line on stderr); 2 bad
usage; 3 the video was damaged: results were written for what decoded, and
stderr says how much was lost; 130 interrupted.

Defaults and choices come from the library (``ShotOptions``,
``QualityWeights``, ``DEFAULT_K``...), never restated here; ``personalize``
registers its own subcommands.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from thumbsel import _core
from thumbsel.arguments import bounded_float, output_path, whole_number
from thumbsel.catalog.run import MAX_WORKERS
from thumbsel.catalog.task import DEFAULT_SEGMENT_FRAMES, MAX_SEGMENT_FRAMES, MIN_SEGMENT_FRAMES
from thumbsel.decode import DEFAULT_MAX_PIXELS, MAX_MAX_PIXELS
from thumbsel.errors import Terminated, ThumbselError
from thumbsel.exits import (
    EXIT_DAMAGED_INPUT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_TERMINATED,
    ignore_stop_signals,
    leave,
    stop_on_sigterm,
)
from thumbsel.frames import FrameTable
from thumbsel.outputs.pick import candidate_files
from thumbsel.outputs.tables import write_shots_csv
from thumbsel.people.identity import embed_in_a_process, stop_embedding_process
from thumbsel.people.sample import DEFAULT_INTERVAL, MAX_INTERVAL, MIN_INTERVAL
from thumbsel.people.tracks import sightings_path, write_sightings
from thumbsel.personalize import commands as personalize_commands
from thumbsel.personalize.commands import database_url
from thumbsel.personalize.moments import read_moments
from thumbsel.personalize.profiles import read_titles
from thumbsel.personalize.store import DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS
from thumbsel.pipeline import MAX_SHOT_FRAMES, PickOptions, measure, pick_title
from thumbsel.select import DEFAULT_K, MAX_K, QualityWeights, SelectionOptions
from thumbsel.shots import ShotDetection, ShotOptions, detect_shots
from thumbsel.text import plural
from thumbsel.timecode import timecode

__all__ = ["entry", "main"]


_MAX_THREADS = 256
_MAX_BATCH = 4096


def _weights(value: str) -> QualityWeights:
    known = QualityWeights.names()
    given: dict[str, float] = {}
    for part in value.split(","):
        name, _, number = part.partition("=")
        name = name.strip()
        if name not in known:
            raise argparse.ArgumentTypeError(
                f"unknown weight {name!r}; choose from {', '.join(sorted(known))}"
            )
        try:
            given[name] = float(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} needs a number, got {number!r}") from None
        if not 0 <= given[name] < float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number, not negative")
    weights = dataclasses.replace(QualityWeights(), **given)
    if sum(weights.as_dict().values()) <= 0:
        raise argparse.ArgumentTypeError("the weights must add up to more than 0")
    return weights


_MIN_WORKER_MEMORY = 256 << 20
_MAX_WORKER_MEMORY = 1 << 44


def _memory_size(value: str) -> str:
    """A worker memory limit Dask understands (4GiB, 2.5GB, 800MB), within bounds."""
    try:
        from dask.utils import parse_bytes
    except ImportError:
        raise argparse.ArgumentTypeError(
            "the catalog needs Dask: pip install 'thumbsel[dask]'"
        ) from None
    try:
        size = int(parse_bytes(value))
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"{value!r} is not a size such as 4GiB") from None
    if not _MIN_WORKER_MEMORY <= size <= _MAX_WORKER_MEMORY:
        raise argparse.ArgumentTypeError(f"{value!r} must be within 256MiB..16TiB")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thumbsel",
        description="Find the best artwork candidates in a video.",
    )
    parser.add_argument("--version", action="version", version=f"thumbsel {_core.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("video", help="any file FFmpeg can open")
        pass_choices(sub)

    def pass_choices(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--threads",
            type=whole_number(1, _MAX_THREADS),
            help="scoring threads (default: THUMBSEL_THREADS or all cores)",
        )
        sub.add_argument(
            "--batch-size",
            type=whole_number(1, _MAX_BATCH),
            help="frames per batch (default: about 24 MiB of frames)",
        )
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
        sub.add_argument(
            "--no-faces",
            dest="faces",
            action="store_false",
            help="leave people out: no face models on any frame (default: on when the "
            "faces extra is installed)",
        )
        sub.add_argument(
            "--people-interval",
            type=bounded_float(MIN_INTERVAL, MAX_INTERVAL),
            default=DEFAULT_INTERVAL,
            metavar="SECONDS",
            help=f"in a long take, look for people every SECONDS (default: {DEFAULT_INTERVAL:g}; "
            f"{MIN_INTERVAL:g}..{MAX_INTERVAL:g})",
        )

        sub.add_argument(
            "--fast",
            action="store_true",
            help="decode less: skip deblocking and the frames no other frame needs, fill "
            "their rows from their neighbours, decode again around cuts (README: The fast "
            "pass); stills are still decoded in full",
        )
        sub.add_argument(
            "--max-pixels",
            type=whole_number(1, MAX_MAX_PIXELS),
            default=DEFAULT_MAX_PIXELS,
            metavar="N",
            help=f"refuse frames larger than N pixels (default: {DEFAULT_MAX_PIXELS:,}, "
            "8K UHD fits), before decoding any",
        )

    def reuse(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--frames",
            metavar="PARQUET",
            help="reuse the frame table of an earlier `analyze` or `pick` of this video "
            "(its frames.parquet) instead of decoding again",
        )

    def shot_options(sub: argparse.ArgumentParser) -> None:
        default = ShotOptions().min_shot_frames
        sub.add_argument(
            "--min-shot-frames",
            type=whole_number(1, MAX_SHOT_FRAMES),
            default=default,
            help=f"shortest shot, frames (default: {default})",
        )

    analyze_cmd = commands.add_parser("analyze", help="measure every frame, write a Parquet table")
    common(analyze_cmd)
    analyze_cmd.add_argument(
        "-o", "--output", required=True, type=output_path, help="Parquet file to write"
    )
    analyze_cmd.add_argument(
        "--no-cast",
        dest="cast",
        action="store_false",
        help="do not embed the faces for telling the characters apart (default: on when "
        "the cast extra is installed; written beside the table as NAME.faces.parquet)",
    )
    analyze_cmd.add_argument(
        "--no-embeddings",
        dest="embeddings",
        action="store_false",
        help="leave the identity embeddings (biometric data) out of the faces file",
    )
    analyze_cmd.set_defaults(run=_analyze)

    def pick_choices(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "-k",
            type=whole_number(1, MAX_K),
            default=DEFAULT_K,
            help=f"number of candidates (default: {DEFAULT_K})",
        )
        shot_options(sub)
        defaults = ", ".join(
            f"{name} {weight:g}" for name, weight in QualityWeights().as_dict().items()
        )
        sub.add_argument(
            "--weights",
            type=_weights,
            metavar="NAME=W,...",
            help="quality weights, e.g. sharpness=0.5,colorfulness=0.3 (unnamed ones keep "
            f"their defaults: {defaults})",
        )
        cast = sub.add_argument_group(
            "cast", "who the faces are (needs the cast extra: pip install 'thumbsel[cast]')"
        )
        cast.add_argument(
            "--no-cast",
            dest="cast",
            action="store_false",
            help="do not tell the characters apart (default: on when the cast extra is installed)",
        )
        cast.add_argument(
            "--per-character",
            type=whole_number(0, MAX_K),
            default=SelectionOptions().per_character,
            metavar="N",
            help="candidates each top character is the clear subject of, before the rest "
            "(default: 1; 0: none)",
        )
        cast.add_argument(
            "--character",
            metavar="ID",
            help="only candidates of this character (an id such as c2, or a name from --cast)",
        )
        cast.add_argument(
            "--cast",
            dest="gallery",
            metavar="DIR",
            help="name the characters from reference photos: DIR/<name>/*.jpg",
        )
        cast.add_argument(
            "--series-cast",
            metavar="CHARACTERS_JSON",
            help="keep the ids and names of the characters of another episode "
            "(the characters.json of its pick)",
        )
        cast.add_argument(
            "--no-embeddings",
            dest="embeddings",
            action="store_false",
            help="leave the identity embeddings (biometric data) out of characters.json "
            "and faces.parquet",
        )

    pick_cmd = commands.add_parser("pick", help="pick the best frames as artwork candidates")
    common(pick_cmd)
    reuse(pick_cmd)
    pick_cmd.add_argument(
        "-o",
        "--output",
        required=True,
        type=output_path,
        help="directory to write the candidates to",
    )
    pick_choices(pick_cmd)
    pick_cmd.add_argument(
        "--moments",
        metavar="FILE",
        help="interest curves from `thumbsel personalize moments`: drawn on the report's "
        "timeline, and scored with --weights interest=W (0 by default)",
    )
    pick_cmd.add_argument(
        "--title-id",
        help="the title's id in --moments (default: the video file's name without extension)",
    )
    pick_cmd.set_defaults(run=_pick)

    catalog_cmd = commands.add_parser(
        "catalog", help="pick many titles on Dask: a folder, a glob or a manifest"
    )
    catalog_cmd.add_argument(
        "input", help="a folder (searched recursively), a glob, or a manifest (.csv, .parquet)"
    )
    catalog_cmd.add_argument(
        "-o", "--output", required=True, type=output_path, help="the catalog's output root"
    )
    where = catalog_cmd.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=whole_number(1, MAX_WORKERS),
        help="local worker processes (default: one per core)",
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786"
    )
    catalog_cmd.add_argument(
        "--memory-limit",
        type=_memory_size,
        metavar="SIZE",
        help="per local worker, e.g. 4GiB (default: Dask's share of the machine)",
    )
    catalog_cmd.add_argument(
        "--segment-frames",
        type=whole_number(MIN_SEGMENT_FRAMES, MAX_SEGMENT_FRAMES),
        default=DEFAULT_SEGMENT_FRAMES,
        metavar="N",
        help="measure a title of 2N frames or more in segments of N or more (two per worker "
        f"thread at most), stitched exactly (default: {DEFAULT_SEGMENT_FRAMES:,})",
    )
    pass_choices(catalog_cmd)
    pick_choices(catalog_cmd)
    catalog_cmd.set_defaults(run=_catalog)

    serve_cmd = commands.add_parser(
        "serve", help="choose artwork per viewer over HTTP, logging every choice"
    )
    pool = serve_cmd.add_mutually_exclusive_group(required=True)
    pool.add_argument(
        "--catalog", metavar="OUTROOT", help="a catalog's output root (its candidates.parquet)"
    )
    pool.add_argument(
        "--candidates",
        metavar="DIR",
        help="a folder of `thumbsel pick` outputs, one per title, named by the title id",
    )
    log = serve_cmd.add_mutually_exclusive_group(required=True)
    log.add_argument("--store", type=output_path, help="the SQLite log (made if absent)")
    log.add_argument(
        "--database",
        metavar="URL",
        type=database_url,
        help="keep the log in PostgreSQL instead (postgresql://...; its tables made if absent)",
    )
    serve_cmd.add_argument(
        "--policy",
        metavar="FILE",
        help="a saved policy, loaded again whenever the file changes (default: uniform random)",
    )
    serve_cmd.add_argument(
        "--titles",
        metavar="FILE",
        help="genres, cast and series per title_id (CSV or Parquet), for viewer profiles",
    )
    serve_cmd.add_argument(
        "--retention-days",
        type=bounded_float(1.0, MAX_RETENTION_DAYS),
        default=DEFAULT_RETENTION_DAYS,
        help="raw behaviour events older than this are deleted, their profiles kept "
        f"(default: {DEFAULT_RETENTION_DAYS:g})",
    )
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve_cmd.add_argument(
        "--port",
        type=whole_number(0, 65535),
        default=8000,
        help="port (default: 8000; 0: any free one, printed)",
    )
    serve_cmd.set_defaults(run=_serve)

    shots_cmd = commands.add_parser("shots", help="list the shots and how each one begins")
    common(shots_cmd)
    reuse(shots_cmd)
    shots_cmd.add_argument("--json", action="store_true", help="print the shots as a JSON list")
    shots_cmd.add_argument("--csv", metavar="FILE", help="also write PySceneDetect-style CSV")
    shot_options(shots_cmd)
    shots_cmd.set_defaults(run=_shots)

    personalize_commands.register(commands)
    return parser


def _say(message: str) -> None:
    # One line, whatever a library put in its message (Arrow's hold newlines).
    print(f"thumbsel: {' '.join(message.split())}", file=sys.stderr)


def _frames(
    arguments: argparse.Namespace,
) -> tuple[FrameTable, dict[str, float], pa.Table | None]:
    """``measure`` with the command's options (``analyze`` and ``shots``)."""
    options = PickOptions(
        faces=arguments.faces,
        cast=getattr(arguments, "cast", False),
        people_interval=arguments.people_interval,
        max_pixels=arguments.max_pixels,
        fast=arguments.fast,
    )
    return measure(
        arguments.video,
        options,
        frames_table=getattr(arguments, "frames", None),
        batch_size=arguments.batch_size,
        threads=arguments.threads,
        progress=False if arguments.quiet else None,
    )


def _analyze(arguments: argparse.Namespace) -> int:
    frames, _, sightings = _frames(arguments)
    frames.to_parquet(arguments.output)
    if sightings is not None:
        # Beside the table, where `pick --frames` finds them.
        faces = sightings_path(arguments.output)
        write_sightings(sightings, faces, embeddings=arguments.embeddings)
    if not arguments.quiet:
        print(f"{len(frames)} frames -> {arguments.output}")
        if sightings is not None:
            print(f"{plural(sightings.num_rows, 'face')} sighted -> {faces}")
    return _finish(frames)


def _shots(arguments: argparse.Namespace) -> int:
    frames, _, _ = _frames(arguments)
    shots = detect_shots(frames, ShotOptions(min_shot_frames=arguments.min_shot_frames))
    if arguments.csv:
        write_shots_csv(shots.shots, arguments.csv)
    if arguments.json:
        import json

        print(json.dumps([shot.to_dict() for shot in shots.shots], indent=2))
    elif not arguments.quiet:
        _print_shots(shots)
    return _finish(frames)


def _pick_options(arguments: argparse.Namespace) -> PickOptions:
    try:
        return PickOptions(
            k=arguments.k,
            weights=arguments.weights or QualityWeights(),
            min_shot_frames=arguments.min_shot_frames,
            faces=arguments.faces,
            cast=arguments.cast,
            people_interval=arguments.people_interval,
            max_pixels=arguments.max_pixels,
            per_character=arguments.per_character,
            character=arguments.character,
            gallery=arguments.gallery,
            series_cast=arguments.series_cast,
            embeddings=arguments.embeddings,
            fast=arguments.fast,
        )
    except ValueError as error:
        raise ThumbselError(str(error)) from None


def _pick(arguments: argparse.Namespace) -> int:
    options = _pick_options(arguments)
    interest = None
    if arguments.moments:
        title_id = arguments.title_id or Path(arguments.video).stem
        curve = read_moments(arguments.moments).get(title_id)
        if curve is None:
            _say(f"warning: {arguments.moments}: no published moments for title {title_id!r}")
        else:
            interest = curve.at
    elif arguments.title_id:
        raise ThumbselError("--title-id names the title in --moments: give --moments too")
    result = pick_title(
        arguments.video,
        arguments.output,
        options,
        frames_table=arguments.frames,
        batch_size=arguments.batch_size,
        threads=arguments.threads,
        progress=False if arguments.quiet else None,
        interest=interest,
    )
    frames, shots, selection, artwork, target = (
        result.frames,
        result.shots,
        result.selection,
        result.artwork,
        result.target,
    )
    if not arguments.quiet:
        candidates = selection.candidates
        source = f" (frames from {arguments.frames})" if arguments.frames else ""
        print(
            f"{len(candidates)} candidates from {len(shots.shots)} shots, "
            f"{len(frames)} frames{source} -> {target}"
        )
        for item in artwork:
            c = item.candidate
            print(
                f"  #{c.rank:<2} frame {c.frame:>6}  {c.time:9.3f} s  shot {c.shot:>4}"
                f"  score {c.score:.3f}  {candidate_files(item).image}"
            )
        if selection.shortfall is not None:
            print(f"  ({selection.shortfall}; see summary.json)")
        print(f"report: {Path(arguments.output) / 'report.html'}")
    return _finish(frames)


def _print_shots(shots: ShotDetection) -> None:
    print(f"{'shot':>5}  {'start':>12}  {'end':>12}  {'frames':>13}  transition in")
    for shot in shots.shots:
        frames = f"{shot.start_frame}-{shot.end_frame - 1}"
        print(
            f"{shot.index:>5}  {timecode(shot.start_time):>12}  {timecode(shot.end_time):>12}"
            f"  {frames:>13}  {shot.transition_in or '-'}"
        )


def _catalog(arguments: argparse.Namespace) -> int:
    from thumbsel.catalog import dask_client, find_titles, run_catalog
    from thumbsel.catalog.store import OutputRoot

    options = _pick_options(arguments)
    titles = find_titles(arguments.input)
    OutputRoot(arguments.output)  # a URL nothing can open fails before the cluster starts
    with dask_client(
        workers=arguments.workers,
        scheduler=arguments.scheduler,
        memory_limit=arguments.memory_limit,
        threads=arguments.threads,
    ) as client:
        if not arguments.quiet and client.dashboard_link:
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
        bar = _catalog_bar(len(titles), quiet=arguments.quiet)
        try:
            result = run_catalog(
                client,
                titles,
                arguments.output,
                options,
                batch_size=arguments.batch_size,
                on_record=bar.record if bar else None,
                segment_frames=arguments.segment_frames,
            )
        finally:
            if bar is not None:
                bar.close()
    failed = result.count("failed")
    if not arguments.quiet:
        print(
            f"{result.count('done')} titles picked, {result.count('skipped')} unchanged, "
            f"{failed} failed -> {result.paths['index']}"
        )
    for record in result.records:
        if record["status"] == "failed":
            _say(f"error: {record['title_id']}: {record['error']}")
    return EXIT_SOME_FAILED if failed else EXIT_OK


class _CatalogBar:
    """Titles done, failed and left, frames/s over the cluster, and the ETA."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="title", dynamic_ncols=True)
        self._frames = 0
        self._failed = 0
        self._started = time.perf_counter()

    def record(self, record: dict[str, object]) -> None:
        frames = record.get("frames")
        if record["status"] == "done" and isinstance(frames, int):
            self._frames += frames
        self._failed += record["status"] == "failed"
        rate = self._frames / max(1e-9, time.perf_counter() - self._started)
        self._bar.set_postfix_str(f"{self._failed} failed, {rate:,.0f} frames/s", refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def _catalog_bar(total: int, *, quiet: bool) -> _CatalogBar | None:
    return None if quiet or not sys.stderr.isatty() else _CatalogBar(total)


def _serve(arguments: argparse.Namespace) -> int:
    try:
        from thumbsel.serve.app import LivePolicy, serve
    except ImportError as error:
        raise ThumbselError(
            f"the service needs its extra: pip install 'thumbsel[serve]' ({error})"
        ) from None
    from thumbsel.personalize.store import Store
    from thumbsel.serve import load_pool

    pool = load_pool(catalog=arguments.catalog, folders=arguments.candidates)
    policy = LivePolicy(arguments.policy, pool)
    titles = read_titles(arguments.titles) if arguments.titles else None
    store = Store(arguments.database or arguments.store)

    def ready(address: str) -> None:
        print(
            f"serving {plural(len(pool.titles), 'title')} ({plural(pool.size, 'candidate')}) "
            f"on {address}; policy {policy.current()[1]}; log {store.shown}",
            flush=True,
        )

    try:
        serve(
            pool,
            store,
            policy,
            host=arguments.host,
            port=arguments.port,
            titles=titles,
            retention_days=arguments.retention_days,
            on_ready=ready,
        )
    finally:
        store.close()
    return EXIT_OK


def _finish(frames: FrameTable) -> int:
    if frames.complete:
        return EXIT_OK
    _say(f"warning: {frames.path}: damaged video: {frames.decode.summary()}")
    return EXIT_DAMAGED_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    try:
        # Inside: a signal while the parser is built or reads the arguments ends
        # like one during the run (argparse's own SystemExit passes through).
        arguments = _parser().parse_args(argv)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status: int = arguments.run(arguments)
        # Warnings (an estimate from a small effective sample, say) are part
        # of the answer: one line each, after it.
        for warning in caught:
            _say(f"warning: {warning.message}")
        return status
    except ThumbselError as error:
        _say(f"error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        _say("terminated")
        return EXIT_TERMINATED
    except OSError as error:
        _say(f"error: {error.filename or ''}: {error.strerror or error}".replace(": :", ":"))
        return EXIT_ERROR
    except MemoryError as error:
        # NumPy, Arrow and the face runtimes raise their own MemoryError (ours,
        # OutOfMemoryError, is a ThumbselError and says more, above).
        _say(f"error: out of memory ({error}); check the memory limit (ulimit -v)")
        return EXIT_ERROR
    except Exception as error:
        if os.environ.get("THUMBSEL_DEBUG"):
            raise
        _say(
            f"internal error: {type(error).__name__}: {error} "
            "(set THUMBSEL_DEBUG=1 for a traceback and please report it)"
        )
        return EXIT_ERROR


def entry() -> None:
    stop_on_sigterm()
    # The command's own main module is safe to import again in a child.
    embed_in_a_process()
    try:
        try:
            status = main()
        finally:
            # Before leave(), which after a signal skips the interpreter's exit.
            stop_embedding_process()
        ignore_stop_signals()
    except KeyboardInterrupt:
        # Arrived after main() had its answer, before the signals were ignored.
        _say("interrupted")
        status = EXIT_INTERRUPTED
    except Terminated:
        _say("terminated")
        status = EXIT_TERMINATED
    leave(status)
