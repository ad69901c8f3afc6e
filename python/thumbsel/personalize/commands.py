"""``thumbsel personalize ...``: simulate, train and evaluate from the command line."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel.arguments import bounded_float, output_path, whole_number
from thumbsel.errors import ImpressionLogError, PersonalizeError
from thumbsel.personalize.evaluate import evaluate
from thumbsel.personalize.events import read_events
from thumbsel.personalize.features import MAX_BUCKETS, FeatureSpace, image_attributes
from thumbsel.personalize.log import (
    DEFAULT_PLAY_TIMEOUT,
    join_rewards,
    logged_feedback,
    read_impressions,
)
from thumbsel.personalize.moments import (
    DEFAULT_BIN_SECONDS,
    DEFAULT_K,
    MAX_EPSILON,
    interest_curves,
    write_moments,
)
from thumbsel.personalize.ope import Interval
from thumbsel.personalize.policies import POLICIES, load_policy
from thumbsel.personalize.profiles import (
    DEFAULT_HALF_LIFE_DAYS,
    MAX_HALF_LIFE_DAYS,
    Titles,
    read_profiles,
    read_titles,
    update_profiles,
    write_profiles,
)
from thumbsel.personalize.simulator import (
    DEFAULT_ROUNDS,
    DEFAULT_TITLES,
    DEFAULT_VIEWERS,
    REWARDS,
    Simulator,
    compare_policies,
)
from thumbsel.personalize.store import (
    DEFAULT_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    Store,
    is_database_url,
)
from thumbsel.personalize.training import (
    DEFAULT_CLIP,
    ESTIMATORS,
    MAX_CLIP,
    guarded_rollout,
    publish,
    split_by_time,
    train_policy,
)

__all__ = ["register"]

_MAX_VIEWERS = 1_000_000
_MAX_ROUNDS = 10_000
_MAX_TITLES = 100_000
_MAX_BOOTSTRAP = 100_000
_MAX_TIMEOUT_HOURS = 24 * 365


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``personalize`` and its subcommands to the ``thumbsel`` command line.

    Each subcommand stores the function that runs it as ``run`` (it returns
    the exit status).
    """
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
        "--viewers",
        type=whole_number(1, _MAX_VIEWERS),
        default=DEFAULT_VIEWERS,
        help=f"viewers (default: {DEFAULT_VIEWERS})",
    )
    simulate_cmd.add_argument(
        "--rounds",
        type=whole_number(1, _MAX_ROUNDS),
        default=DEFAULT_ROUNDS,
        help="rounds; each shows every viewer one title, policies learn after each "
        f"(default: {DEFAULT_ROUNDS})",
    )
    simulate_cmd.add_argument(
        "--titles",
        type=whole_number(1, _MAX_TITLES),
        default=DEFAULT_TITLES,
        help=f"titles (default: {DEFAULT_TITLES})",
    )
    simulate_cmd.add_argument(
        "--seed", type=whole_number(0, 2**63 - 1), default=0, help="seed (default: 0)"
    )
    simulate_cmd.add_argument(
        "--reward",
        choices=REWARDS,
        default=REWARDS[0],
        help=f"what the policies learn from (default: {REWARDS[0]})",
    )
    simulate_cmd.add_argument(
        "--json", action="store_true", help="print one JSON object: policy -> take rate"
    )
    simulate_cmd.set_defaults(run=_simulate)

    def play_timeout(sub: argparse.ArgumentParser, more: str = "") -> None:
        default_hours = DEFAULT_PLAY_TIMEOUT.total_seconds() / 3600
        sub.add_argument(
            "--timeout-hours",
            type=bounded_float(0.0, _MAX_TIMEOUT_HOURS, open_minimum=True),
            default=default_hours,
            help=f"a play counts if it comes this soon after the impression{more} "
            f"(default: {default_hours:g})",
        )

    def impression_log(sub: argparse.ArgumentParser, *, store: bool = False) -> None:
        if store:
            sub.add_argument(
                "impressions", nargs="?", help="impression log (Parquet, thumbsel's schema)"
            )
            source = sub.add_mutually_exclusive_group()
            source.add_argument(
                "--store", help="read the log of `thumbsel serve` instead (its plays joined)"
            )
            source.add_argument(
                "--database",
                metavar="URL",
                type=database_url,
                help="the same from a service's PostgreSQL store (postgresql://...)",
            )
        else:
            sub.add_argument("impressions", help="impression log (Parquet, thumbsel's schema)")
        sub.add_argument(
            "--plays",
            metavar="FILE",
            help="play events (Parquet: impression_id, time, minutes) to join as rewards first",
        )
        play_timeout(sub)

    train_cmd = personalize.add_parser(
        "train",
        help="fit a policy on the rewarded impressions of a log, off-policy; save it, "
        "and publish it when it beats the live one on held-out days",
    )
    impression_log(train_cmd, store=True)
    train_cmd.add_argument(
        "--weighting",
        choices=("ips", "none"),
        default="ips",
        help="weigh each impression by 1 / its logged propensity, clipped (ips), or not "
        "(default: ips)",
    )
    train_cmd.add_argument(
        "--clip",
        type=bounded_float(1.0, MAX_CLIP),
        default=DEFAULT_CLIP,
        help=f"largest importance weight (default: {DEFAULT_CLIP:g})",
    )
    train_cmd.add_argument(
        "--publish",
        metavar="FILE",
        help="the live policy file (as `thumbsel serve --policy`): the new policy replaces it "
        "only if its estimate's lower bound on the held-out days beats the live policy",
    )
    train_cmd.add_argument(
        "--holdout-days",
        type=bounded_float(0.0, 3650.0, open_minimum=True),
        default=1.0,
        help="with --publish: train before the log's last N days, judge on them (default: 1)",
    )
    train_cmd.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default="dr",
        help="with --publish: the off-policy estimate to judge by (default: dr)",
    )
    train_cmd.add_argument(
        "--viewer-buckets",
        type=whole_number(0, MAX_BUCKETS),
        default=0,
        metavar="N",
        help="hash every viewer feature into N slots, for viewer spaces too large to "
        "name one by one (default: 0, each feature by name)",
    )
    train_cmd.add_argument(
        "--json", action="store_true", help="print what was trained and decided as JSON"
    )
    train_cmd.add_argument(
        "--policy",
        choices=tuple(POLICIES),
        default="linucb",
        help="kind of policy (default: linucb)",
    )
    train_cmd.add_argument(
        "--seed", type=whole_number(0, 2**63 - 1), default=0, help="seed (default: 0)"
    )
    train_cmd.add_argument(
        "-o",
        "--output",
        required=True,
        type=output_path,
        help="policy file to write (.json, plus .npz beside it)",
    )
    train_cmd.set_defaults(run=_train)

    evaluate_cmd = personalize.add_parser(
        "evaluate", help="estimate a saved policy's reward on a log (IPS, SNIPS, DR...)"
    )
    impression_log(evaluate_cmd)
    evaluate_cmd.add_argument("--policy", required=True, help="policy file saved by `train`")
    evaluate_cmd.add_argument(
        "--bootstrap",
        type=whole_number(1, _MAX_BOOTSTRAP),
        metavar="N",
        help="bootstrap intervals from N resamples (default: normal approximation)",
    )
    evaluate_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate_cmd.set_defaults(run=_evaluate)

    export_cmd = personalize.add_parser(
        "export",
        help="write a service's store as an impression log, rewards joined from its plays",
    )
    source = export_cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", help="the SQLite store `thumbsel serve` keeps")
    source.add_argument(
        "--database",
        metavar="URL",
        type=database_url,
        help="a service's PostgreSQL store (postgresql://...)",
    )
    export_cmd.add_argument(
        "-o", "--output", required=True, type=output_path, help="impression log to write (.parquet)"
    )
    play_timeout(export_cmd, "; impressions younger than this stay unrewarded")
    export_cmd.set_defaults(run=_export)

    profile_cmd = personalize.add_parser(
        "profile",
        help="viewer profiles from behaviour events (a day's events update yesterday's profiles)",
    )
    profile_cmd.add_argument("events", nargs="+", help="behaviour event files (Parquet)")
    profile_cmd.add_argument(
        "-o", "--output", required=True, type=output_path, help="profiles to write (.parquet)"
    )
    profile_cmd.add_argument(
        "--titles",
        metavar="FILE",
        help="genres, cast and series per title_id (CSV or Parquet, e.g. catalog.parquet)",
    )
    profile_cmd.add_argument(
        "--previous", metavar="FILE", help="profiles to update (written by this command)"
    )
    profile_cmd.add_argument(
        "--as-of",
        type=aware_time,
        help="the profiles' time, ISO 8601 with a zone (default: the last event's)",
    )
    profile_cmd.add_argument(
        "--half-life-days",
        type=bounded_float(1.0, MAX_HALF_LIFE_DAYS),
        help=f"how fast old viewing fades (default: {DEFAULT_HALF_LIFE_DAYS:g}; "
        "an update keeps its profiles' own)",
    )
    profile_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    profile_cmd.set_defaults(run=_profile)

    moments_cmd = personalize.add_parser(
        "moments",
        help="per title, where viewers pause and rewind to: k-anonymous interest curves",
    )
    moments_cmd.add_argument("events", nargs="+", help="behaviour event files (Parquet)")
    moments_cmd.add_argument(
        "-o", "--output", required=True, type=output_path, help="curves to write (.parquet)"
    )
    moments_cmd.add_argument(
        "--k",
        type=whole_number(2, 1_000_000),
        default=DEFAULT_K,
        help=f"publish a bin only when this many distinct viewers made it (default: {DEFAULT_K})",
    )
    moments_cmd.add_argument(
        "--epsilon",
        type=bounded_float(0.0, MAX_EPSILON, open_minimum=True),
        help="add Laplace noise for epsilon-differential privacy (e.g. 1; default: none)",
    )
    moments_cmd.add_argument(
        "--bin-seconds",
        type=bounded_float(1.0, 3600.0),
        default=DEFAULT_BIN_SECONDS,
        help=f"width of a bin (default: {DEFAULT_BIN_SECONDS:g})",
    )
    moments_cmd.add_argument(
        "--seed", type=whole_number(0, 2**63 - 1), default=0, help="noise seed (default: 0)"
    )
    moments_cmd.set_defaults(run=_moments)

    def a_store(sub: argparse.ArgumentParser) -> None:
        source = sub.add_mutually_exclusive_group(required=True)
        source.add_argument("--store", help="the SQLite store `thumbsel serve` keeps")
        source.add_argument(
            "--database", metavar="URL", type=database_url, help="a PostgreSQL store"
        )

    forget_cmd = personalize.add_parser(
        "forget",
        help="erase a viewer: events and profile deleted, impressions unlinked from them",
    )
    a_store(forget_cmd)
    forget_cmd.add_argument("--viewer", required=True, help="the viewer id to erase")
    forget_cmd.set_defaults(run=_forget)

    retain_cmd = personalize.add_parser(
        "retain", help="delete raw behaviour events older than the window (profiles keep them)"
    )
    a_store(retain_cmd)
    retain_cmd.add_argument(
        "--days",
        type=bounded_float(1.0, MAX_RETENTION_DAYS),
        default=DEFAULT_RETENTION_DAYS,
        help=f"the window (default: {DEFAULT_RETENTION_DAYS:g})",
    )
    retain_cmd.set_defaults(run=_retain)


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
    if getattr(arguments, "store", None) or getattr(arguments, "database", None):
        if arguments.impressions or arguments.plays:
            raise PersonalizeError("give a log file or a store, not both (the store has its plays)")
        with existing_store(arguments) as store:
            timeout = timedelta(hours=arguments.timeout_hours)
            return store.rewarded(timeout=timeout, as_of=datetime.now(UTC)).table
    if not arguments.impressions:
        raise PersonalizeError("give an impression log, or --store")
    table = read_impressions(arguments.impressions)
    if arguments.plays:
        hours = arguments.timeout_hours
        try:
            plays = pq.read_table(arguments.plays)
        except FileNotFoundError:
            raise ImpressionLogError(f"{arguments.plays}: no such play log") from None
        except (OSError, pa.ArrowException) as error:
            # A corrupt file is an ArrowInvalid, not an OSError.
            raise ImpressionLogError(
                f"{arguments.plays}: not a Parquet play log ({error})"
            ) from None
        try:
            table = join_rewards(table, plays, timeout=timedelta(hours=hours)).table
        except ImpressionLogError as error:
            raise ImpressionLogError(f"{arguments.plays}: {error}") from None
        except pa.ArrowException as error:
            raise ImpressionLogError(f"{arguments.plays}: unusable play log ({error})") from None
    return table


def _space_of(table: pa.Table, buckets: int = 0) -> FeatureSpace:
    """The viewer features named anywhere in the log, in sorted order; the tag
    attributes, and the cast attributes (``character:<id or name>``, ``lead``) the
    log's images show."""
    names: set[str] = set()
    for context in table.column("viewer_context").to_pylist():
        names.update(name for name, _ in context or [])
    attributes = image_attributes(
        name
        for candidates in table.column("candidate_attributes").to_pylist()
        for shown in candidates or []
        for name, _ in shown or []
    )
    if buckets:
        return FeatureSpace.hashed(buckets, attributes)
    return FeatureSpace(viewer_features=tuple(sorted(names)), image_attributes=attributes)


def _train(arguments: argparse.Namespace) -> int:
    if Path(arguments.output).suffix != ".json":
        raise PersonalizeError(f"{arguments.output}: a policy is saved as a .json file")
    if arguments.publish and Path(arguments.publish).suffix != ".json":
        raise PersonalizeError(f"{arguments.publish}: a policy is published as a .json file")
    table = _rewarded_log(arguments)
    space = _space_of(table, arguments.viewer_buckets)
    held_out = None
    if arguments.publish:
        table, later = split_by_time(table, timedelta(days=arguments.holdout_days))
        held_out, _ = logged_feedback(later, space)
        if table.num_rows == 0:
            raise PersonalizeError(
                f"every impression is in the last {arguments.holdout_days:g} days: nothing "
                "is left to train on (lower --holdout-days)"
            )
    feedback, pending = logged_feedback(table, space)
    policy = train_policy(
        feedback,
        arguments.policy,
        seed=arguments.seed,
        weighting=arguments.weighting,
        clip=arguments.clip,
    )
    policy.save(arguments.output)
    report: dict[str, object] = {
        "policy": arguments.policy,
        "version": policy.version,
        "trained_on": len(feedback),
        "pending": pending,
        "weighting": arguments.weighting,
        "output": arguments.output,
    }
    rollout = None
    if arguments.publish and held_out is not None:
        live = load_policy(arguments.publish) if Path(arguments.publish).is_file() else None
        if live is not None and live.space != space:
            live = None  # another feature space: judged against what it earned instead
        rollout = guarded_rollout(policy, held_out, estimator=arguments.estimator, live=live)
        if rollout.published:
            publish(policy, Path(arguments.publish))
        report["rollout"] = rollout.as_dict() | {"reason": rollout.reason}
    if arguments.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{arguments.policy} trained on {len(feedback)} rewarded impressions "
        f"({pending} still pending, left out; weighting {arguments.weighting}) "
        f"-> {arguments.output}"
    )
    if rollout is not None:
        action = f"published to {arguments.publish}" if rollout.published else "not published"
        print(f"{action}: {rollout.reason}")
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


def existing_store(arguments: argparse.Namespace) -> Store:
    """The store named by ``--store PATH`` (which must exist) or ``--database URL``."""
    if arguments.database:
        return Store(arguments.database)
    if not Path(arguments.store).is_file():
        raise ImpressionLogError(f"{arguments.store}: no such store")
    return Store(arguments.store)


def aware_time(text: str) -> datetime:
    """argparse type: an ISO 8601 time with its zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add +00:00 or Z)")
    return moment


def _profile(arguments: argparse.Namespace) -> int:
    titles = read_titles(arguments.titles) if arguments.titles else Titles()
    previous = read_profiles(arguments.previous) if arguments.previous else None
    batch = read_events(arguments.events)
    profiles = update_profiles(
        previous,
        batch.table,
        titles,
        as_of=arguments.as_of,
        half_life_days=arguments.half_life_days,
    )
    report = batch.report
    # Rows left out by the update itself (after as_of) join those the files had.
    for reason, count in profiles.report.bad.items():
        report.bad[reason] = report.bad.get(reason, 0) + count
    report.kept = profiles.report.kept
    write_profiles(arguments.output, profiles)
    as_of = None if profiles.as_of is None else profiles.as_of.isoformat()
    if arguments.json:
        print(
            json.dumps(
                {
                    "rows": report.rows,
                    "kept": report.kept,
                    "left_out": report.bad,
                    "viewers": len(profiles),
                    "as_of": as_of,
                    "half_life_days": profiles.half_life_days,
                }
            )
        )
    else:
        print(
            f"{report.summary()}; {len(profiles):,} viewer profiles as of {as_of} "
            f"-> {arguments.output}"
        )
    return 0


def _moments(arguments: argparse.Namespace) -> int:
    batch = read_events(arguments.events)
    curves = interest_curves(
        batch.table,
        k=arguments.k,
        bin_seconds=arguments.bin_seconds,
        epsilon=arguments.epsilon,
        seed=arguments.seed,
    )
    write_moments(arguments.output, curves)
    published = sum(int((c.level > 0).sum()) for c in curves.values())
    print(
        f"{batch.report.summary()}; {published} moments published over {len(curves)} titles "
        f"(k {arguments.k}"
        + (f", epsilon {arguments.epsilon:g}" if arguments.epsilon else "")
        + f") -> {arguments.output}"
    )
    return 0


def _forget(arguments: argparse.Namespace) -> int:
    if not 0 < len(arguments.viewer) <= 200:
        raise PersonalizeError("a viewer id is 1 to 200 characters")
    with existing_store(arguments) as store:
        erased = store.forget(arguments.viewer)
    print(
        f"{arguments.viewer}: {erased['events']} events and {erased['profiles']} profile deleted, "
        f"{erased['impressions']} impressions unlinked"
    )
    return 0


def _retain(arguments: argparse.Namespace) -> int:
    with existing_store(arguments) as store:
        deleted = store.apply_retention(timedelta(days=arguments.days), now=datetime.now(UTC))
    print(f"{deleted} events older than {arguments.days:g} days deleted")
    return 0


def database_url(text: str) -> str:
    """argparse type: a PostgreSQL URL (a SQLite store is given with --store)."""
    if not is_database_url(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a postgresql:// URL (a SQLite file is given with --store)"
        )
    return text


def _export(arguments: argparse.Namespace) -> int:
    with existing_store(arguments) as store:
        report = store.export(
            arguments.output,
            timeout=timedelta(hours=arguments.timeout_hours),
            as_of=datetime.now(UTC),
        )
    print(
        f"{report.impressions} impressions ({report.rewarded} rewarded, {report.no_play} without "
        f"a play, {report.pending} pending), {report.plays} plays ({report.orphan} for unknown "
        f"impressions, {report.late} late) -> {arguments.output}"
    )
    return 0
