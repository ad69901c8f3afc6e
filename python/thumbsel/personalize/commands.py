"""``thumbsel personalize ...``: simulate, train and evaluate from the command line."""

from __future__ import annotations

import argparse
import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel.errors import PersonalizeError
from thumbsel.personalize.evaluate import evaluate
from thumbsel.personalize.features import IMAGE_ATTRIBUTES, FeatureSpace
from thumbsel.personalize.log import (
    ImpressionLogError,
    join_rewards,
    logged_feedback,
    read_impressions,
)
from thumbsel.personalize.ope import Interval
from thumbsel.personalize.policies import POLICIES, load_policy
from thumbsel.personalize.simulator import Simulator, compare_policies

__all__ = ["run"]


def run(arguments: argparse.Namespace) -> int:
    """Run the ``personalize`` subcommand; returns the exit status."""
    if arguments.personalize_command == "simulate":
        return _simulate(arguments)
    if arguments.personalize_command == "train":
        return _train(arguments)
    return _evaluate(arguments)


def _simulate(arguments: argparse.Namespace) -> int:
    simulator = Simulator(
        viewers=arguments.viewers,
        titles=arguments.titles,
        seed=arguments.seed,
        reward=arguments.reward,
    )
    results = compare_policies(simulator, arguments.rounds)
    report: dict[str, dict[str, float]] = {}
    for name, result in results.items():
        entry = result.summary()
        if arguments.reward == "minutes":
            low, high = result.minutes_interval()
            entry |= {
                "minutes": float(result.minutes.mean()),
                "minutes_low": low,
                "minutes_high": high,
            }
        report[name] = entry
    if arguments.json:
        print(json.dumps(report, indent=2))
        return 0
    impressions = arguments.viewers * arguments.rounds
    print(
        f"{impressions} impressions ({arguments.viewers} viewers x {arguments.rounds} rounds, "
        f"{arguments.titles} titles, seed {arguments.seed}), learning from {arguments.reward}"
    )
    print(f"{'policy':<15} {'take rate':>9}  {'95% interval':<16} click-bait shown")
    for name, result in results.items():
        entry = report[name]
        line = (
            f"{name:<15} {entry['take_rate']:>9.3f}  [{entry['low']:.3f}, {entry['high']:.3f}]"
            f"  {result.clickbait.mean():>8.1%}"
        )
        if arguments.reward == "minutes":
            line += f"  {entry['minutes']:.2f} min/impression"
        print(line)
    return 0


def _rewarded_log(arguments: argparse.Namespace) -> pa.Table:
    table = read_impressions(arguments.impressions)
    if arguments.plays:
        hours = arguments.timeout_hours
        if not (math.isfinite(hours) and hours > 0):
            raise PersonalizeError(f"--timeout-hours must be positive, got {hours}")
        try:
            plays = pq.read_table(arguments.plays)
        except FileNotFoundError:
            raise ImpressionLogError(f"{arguments.plays}: no such play log") from None
        except OSError as error:
            raise ImpressionLogError(
                f"{arguments.plays}: not a Parquet play log ({error})"
            ) from None
        table = join_rewards(table, plays, timeout=timedelta(hours=hours)).table
    return table


def _space_of(table: pa.Table) -> FeatureSpace:
    """The viewer features named anywhere in the log, in sorted order; the tag attributes."""
    names: set[str] = set()
    for context in table.column("viewer_context").to_pylist():
        names.update(name for name, _ in context or [])
    return FeatureSpace(viewer_features=tuple(sorted(names)), image_attributes=IMAGE_ATTRIBUTES)


def _train(arguments: argparse.Namespace) -> int:
    if Path(arguments.output).suffix != ".json":
        raise PersonalizeError(f"{arguments.output}: a policy is saved as a .json file")
    table = _rewarded_log(arguments)
    space = _space_of(table)
    feedback, pending = logged_feedback(table, space)
    policy = POLICIES[arguments.policy](space, seed=arguments.seed)
    shown = np.array([c[i] for c, i in zip(feedback.candidates, feedback.chosen, strict=True)])
    policy.partial_fit(feedback.viewers, shown, feedback.reward)
    policy.save(arguments.output)
    print(
        f"{arguments.policy} trained on {len(feedback)} rewarded impressions "
        f"({pending} still pending, left out) -> {arguments.output}"
    )
    return 0


def _evaluate(arguments: argparse.Namespace) -> int:
    policy = load_policy(arguments.policy)
    table = _rewarded_log(arguments)
    feedback, pending = logged_feedback(table, policy.space)
    interval: Interval = "bootstrap" if arguments.bootstrap else "clt"
    report = evaluate(feedback, policy, interval=interval, n_bootstrap=arguments.bootstrap or 1000)
    if arguments.json:
        print(json.dumps(report.as_dict() | {"pending": pending}, indent=2))
        return 0
    print(
        f"{policy.name} ({policy.version}) on {report.impressions} rewarded impressions "
        f"({pending} pending); the logging policy earned {report.logged_reward:.4f}"
    )
    print(f"{'estimator':<12} {'value':>8}  {'95% interval':<20} {'ESS':>8}")
    for name, estimate in report.estimates.items():
        print(
            f"{name:<12} {estimate.value:>8.4f}  [{estimate.low:.4f}, {estimate.high:.4f}]"
            f"  {estimate.ess:>8.1f}"
        )
    return 0
