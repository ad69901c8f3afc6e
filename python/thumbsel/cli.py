"""The ``thumbsel`` command.

Exit status: 0 success; 1 bad input or output (one line on stderr); 2 bad
usage; 3 the video was damaged: results were written for what decoded, and
stderr says how much was lost; 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from thumbsel import _core
from thumbsel.analysis import Analysis, analyze
from thumbsel.errors import OutputError, ThumbselError
from thumbsel.select import QualityWeights

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DAMAGED_INPUT = 3
EXIT_INTERRUPTED = 130


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        return number

    return parse


_positive = _at_least(1)
_non_negative = _at_least(0)


def _weights(value: str) -> QualityWeights:
    known = set(QualityWeights().as_dict())
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
        if given[name] < 0:
            raise argparse.ArgumentTypeError(f"{name} must not be negative")
    weights = dataclasses.replace(QualityWeights(), **given)
    if sum(weights.as_dict().values()) <= 0:
        raise argparse.ArgumentTypeError("the weights must add up to more than 0")
    return weights


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thumbsel",
        description="Find the best artwork candidates in a video.",
    )
    parser.add_argument("--version", action="version", version=f"thumbsel {_core.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("video", help="any file FFmpeg can open")
        sub.add_argument("--threads", type=_positive, help="scoring threads (default: all cores)")
        sub.add_argument(
            "--batch-size",
            type=_positive,
            help="frames per batch (default: about 24 MiB of frames)",
        )
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")

    analyze_cmd = commands.add_parser("analyze", help="measure every frame, write a Parquet table")
    common(analyze_cmd)
    analyze_cmd.add_argument("-o", "--output", required=True, help="Parquet file to write")

    pick_cmd = commands.add_parser("pick", help="pick the best frames as artwork candidates")
    common(pick_cmd)
    pick_cmd.add_argument("-k", type=_positive, default=8, help="number of candidates (default: 8)")
    pick_cmd.add_argument(
        "-o", "--output", required=True, help="directory to write the candidates to"
    )
    pick_cmd.add_argument(
        "--min-shot-frames", type=_positive, default=8, help="shortest shot, frames (default: 8)"
    )
    pick_cmd.add_argument(
        "--weights",
        type=_weights,
        metavar="NAME=W,...",
        help="quality weights, e.g. sharpness=0.5,colorfulness=0.3 (unnamed ones keep "
        "their defaults: sharpness 0.3, exposure 0.2, contrast 0.1, colorfulness 0.15, "
        "stillness 0.1, thirds 0.05, depth_of_field 0.1)",
    )

    shots_cmd = commands.add_parser("shots", help="list the shots and how each one begins")
    common(shots_cmd)
    shots_cmd.add_argument("--json", action="store_true", help="print the shots as a JSON list")
    shots_cmd.add_argument("--csv", metavar="FILE", help="also write PySceneDetect-style CSV")
    shots_cmd.add_argument(
        "--min-shot-frames", type=_positive, default=8, help="shortest shot, frames (default: 8)"
    )

    personalize_cmd = commands.add_parser(
        "personalize", help="choose artwork per viewer: simulate and evaluate policies"
    )
    personalize = personalize_cmd.add_subparsers(
        dest="personalize_command", required=True, metavar="COMMAND"
    )
    simulate_cmd = personalize.add_parser(
        "simulate",
        help="run every policy on simulated viewers with known tastes; report take rates",
    )
    simulate_cmd.add_argument(
        "--viewers", type=_positive, default=200, help="viewers (default: 200)"
    )
    simulate_cmd.add_argument(
        "--rounds",
        type=_positive,
        default=20,
        help="rounds; each shows every viewer one title, policies learn after each (default: 20)",
    )
    simulate_cmd.add_argument(
        "--titles", type=_positive, default=30, help="titles, each with 5 candidates (default: 30)"
    )
    simulate_cmd.add_argument("--seed", type=_non_negative, default=0, help="seed (default: 0)")
    simulate_cmd.add_argument(
        "--reward",
        choices=("plays", "minutes"),
        default="plays",
        help="what the policies learn from (default: plays)",
    )
    simulate_cmd.add_argument(
        "--json", action="store_true", help="print one JSON object: policy -> take rate"
    )

    def impression_log(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("impressions", help="impression log (Parquet, thumbsel's schema)")
        sub.add_argument(
            "--plays",
            metavar="FILE",
            help="play events (Parquet: impression_id, time, minutes) to join as rewards first",
        )
        sub.add_argument(
            "--timeout-hours",
            type=float,
            default=24.0,
            help="a play counts if it comes this soon after the impression (default: 24)",
        )

    train_cmd = personalize.add_parser(
        "train", help="fit a policy on the rewarded impressions of a log; save it"
    )
    impression_log(train_cmd)
    train_cmd.add_argument(
        "--policy",
        choices=("random", "epsilon-greedy", "softmax", "linucb", "lints"),
        default="linucb",
        help="kind of policy (default: linucb)",
    )
    train_cmd.add_argument("--seed", type=_non_negative, default=0, help="seed (default: 0)")
    train_cmd.add_argument(
        "-o", "--output", required=True, help="policy file to write (.json, plus .npz beside it)"
    )

    evaluate_cmd = personalize.add_parser(
        "evaluate", help="estimate a saved policy's reward on a log (IPS, SNIPS, DR...)"
    )
    impression_log(evaluate_cmd)
    evaluate_cmd.add_argument("--policy", required=True, help="policy file saved by `train`")
    evaluate_cmd.add_argument(
        "--bootstrap",
        type=_positive,
        metavar="N",
        help="bootstrap intervals from N resamples (default: normal approximation)",
    )
    evaluate_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _say(message: str) -> None:
    print(f"thumbsel: {message}", file=sys.stderr)


def _run(arguments: argparse.Namespace) -> int:
    if arguments.command == "personalize":
        return _personalize(arguments)
    progress = None if not arguments.quiet else False
    if arguments.command == "pick" and Path(arguments.output).is_file():
        raise OutputError(f"{arguments.output}: exists and is not a directory")
    analysis = analyze(
        arguments.video,
        batch_size=arguments.batch_size,
        threads=arguments.threads,
        progress=progress,
    )
    if arguments.command == "analyze":
        analysis.to_parquet(arguments.output)
        if not arguments.quiet:
            print(f"{analysis.frames.num_rows} frames -> {arguments.output}")
        return _finish(analysis)

    from thumbsel.shots import ShotOptions, detect_shots

    analysis.shot_detection = detect_shots(
        analysis, ShotOptions(min_shot_frames=arguments.min_shot_frames)
    )
    if arguments.command == "shots":
        _print_shots(analysis, arguments)
        return _finish(analysis)

    from thumbsel.outputs.candidates import write_pick
    from thumbsel.select import select

    selection = select(analysis, arguments.k, weights=arguments.weights)
    target = write_pick(analysis, selection, arguments.output)
    if not arguments.quiet:
        candidates = selection.candidates
        print(
            f"{len(candidates)} candidates from {len(analysis.shots)} shots, "
            f"{analysis.frames.num_rows} frames -> {target}"
        )
        for c in candidates:
            print(
                f"  #{c.rank:<2} frame {c.frame:>6}  {c.time:9.3f} s  shot {c.shot:>4}"
                f"  score {c.score:.3f}  {c.image}"
            )
        if len(candidates) < arguments.k:
            print(
                f"  (only {len(candidates)} distinct candidates: the rest were near-duplicates "
                "or failed the filters; see summary.json)"
            )
        print(f"report: {Path(arguments.output) / 'report.html'}")
    return _finish(analysis)


def _personalize(arguments: argparse.Namespace) -> int:
    from thumbsel.personalize import commands

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = commands.run(arguments)
    # Estimator warnings (a small effective sample) are part of the answer:
    # one line each, after it.
    for warning in caught:
        _say(f"warning: {warning.message}")
    return status


def _print_shots(analysis: Analysis, arguments: argparse.Namespace) -> None:
    from thumbsel.shots import timecode, write_shots_csv

    shots = analysis.shots
    if arguments.csv:
        write_shots_csv(shots, analysis.video.frame_rate, arguments.csv)
    if arguments.json:
        print(json.dumps([shot.to_dict() for shot in shots], indent=2))
        return
    if arguments.quiet:
        return
    print(f"{'shot':>5}  {'start':>12}  {'end':>12}  {'frames':>13}  transition in")
    for shot in shots:
        frames = f"{shot.start_frame}-{shot.end_frame - 1}"
        print(
            f"{shot.index:>5}  {timecode(shot.start_time):>12}  {timecode(shot.end_time):>12}"
            f"  {frames:>13}  {shot.transition_in or '-'}"
        )


def _finish(analysis: Analysis) -> int:
    if analysis.complete:
        return EXIT_OK
    _say(f"warning: {analysis.path}: damaged video: {analysis.decode.summary()}")
    return EXIT_DAMAGED_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    arguments = _parser().parse_args(argv)
    try:
        return _run(arguments)
    except ThumbselError as error:
        _say(f"error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except OSError as error:
        _say(f"error: {error.filename or ''}: {error.strerror or error}".replace(": :", ":"))
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
    sys.exit(main())


if __name__ == "__main__":
    entry()
