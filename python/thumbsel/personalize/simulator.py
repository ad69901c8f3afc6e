"""A viewing simulator with known tastes, to test policies and estimators against truth.

Viewers belong to taste segments they do not reveal. What a policy sees of a
viewer is what a service knows: noisy affinities from the viewing history
(the share of it in each segment's genre, or with its actor in the cast),
device, recent activity and hour. What decides a play is hidden: a
logistic model over the shown image's attributes, weighted by the viewer's
true affinities (a thriller fan is drawn to dark close-ups, a romance
fan to smiling faces, a family viewer to bright colourful pictures, an
actor's fans to stills of that actor), plus a
pull every viewer feels towards the *click-bait* image: a high-contrast
picture that gets plays but, because it misrepresents the title, short
watches.

Each title offers its own candidates: one in each segment's style, the
click-bait, and a neutral still, their other attributes (the segments'
actors among them) drawn at random.
A round shows every viewer one title; policies learn from a round's rewards
when it ends, the way a service retrains on yesterday's logs. Every random
draw comes from the seed and is shared by all policies (common random
numbers): a policy that shows the same image as another to the same viewer in
the same round gets the same outcome, so differences between policies are
not sampling noise between runs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from thumbsel.errors import PersonalizeError
from thumbsel.personalize.evaluate import LoggedFeedback
from thumbsel.personalize.events import EVENT_SCHEMA
from thumbsel.personalize.features import (
    CHARACTER_PREFIX,
    IMAGE_ATTRIBUTES,
    FeatureSpace,
    interactions,
)
from thumbsel.personalize.log import PLAY_SCHEMA, Impression, impressions_to_table
from thumbsel.personalize.ope import clt_interval
from thumbsel.personalize.policies import POLICIES, Policy
from thumbsel.personalize.profiles import Profiles, TitleInfo, Titles

__all__ = [
    "CLICKBAIT_ATTRIBUTE",
    "DEFAULT_ROUNDS",
    "DEFAULT_SEGMENTS",
    "DEFAULT_TITLES",
    "DEFAULT_VIEWERS",
    "MAX_TASTE",
    "REWARDS",
    "SIMULATED_POLICIES",
    "Segment",
    "SimulationResult",
    "Simulator",
    "compare_policies",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Reward = Literal["plays", "minutes"]
REWARDS: tuple[Reward, ...] = ("plays", "minutes")

DEFAULT_VIEWERS = 200
DEFAULT_TITLES = 30
DEFAULT_ROUNDS = 20
"""The simulator's default size: 200 viewers x 20 rounds over 30 titles (4,000 impressions)."""

CLICKBAIT_ATTRIBUTE = "high-contrast"
"""The attribute that marks the click-bait image; no other candidate has it."""

MAX_TASTE = 8.0
"""Largest size of a taste weight (log-odds); beyond it a play is all but certain or impossible."""


@dataclass(frozen=True)
class Segment:
    """A group of viewers with one hidden taste; see :meth:`fans` for an actor's followers."""

    name: str
    """Also the genre these viewers watch most, unless ``feature`` says otherwise."""
    taste: Mapping[str, float]
    """Change in the log-odds of a play per image attribute, for a viewer wholly in the segment.

    Attributes are those of :data:`IMAGE_ATTRIBUTES` and any ``character:<name>``;
    weights are at most :data:`MAX_TASTE` in size.
    """
    share: float = 1.0
    """Relative size of the segment."""
    feature: str | None = None
    """The viewer feature that shows how much a viewer belongs (``genre:<name>`` when None)."""

    def __post_init__(self) -> None:
        if not self.name:
            raise PersonalizeError("a segment needs a name")
        if not (np.isfinite(self.share) and self.share > 0):
            raise PersonalizeError(f"segment {self.name}: share must be positive, got {self.share}")
        if self.feature is not None and not self.feature:
            raise PersonalizeError(f"segment {self.name}: feature must be a name or None")
        unknown = [
            a
            for a in self.taste
            if a not in IMAGE_ATTRIBUTES
            and not (a.startswith(CHARACTER_PREFIX) and len(a) > len(CHARACTER_PREFIX))
        ]
        if unknown:
            raise PersonalizeError(f"segment {self.name}: unknown attributes {sorted(unknown)}")
        for attribute, weight in self.taste.items():
            if not (np.isfinite(weight) and abs(weight) <= MAX_TASTE):
                raise PersonalizeError(
                    f"segment {self.name}: taste for {attribute} must be within "
                    f"+-{MAX_TASTE}, got {weight}"
                )

    @classmethod
    def fans(cls, actor: str, *, pull: float = 3.0, share: float = 1.0) -> Segment:
        """Followers of ``actor``: ``pull`` more log-odds of a play on a still of the actor.

        The segment is named ``fans:<actor>``; a service sees it as the share
        of a viewer's history with the actor in the cast, ``cast:<actor>``.
        """
        if not actor:
            raise PersonalizeError("fans need an actor to follow")
        if not pull > 0:
            raise PersonalizeError(f"fans of {actor}: pull must be positive, got {pull}")
        return cls(
            f"fans:{actor}", {f"{CHARACTER_PREFIX}{actor}": pull}, share, feature=f"cast:{actor}"
        )

    @property
    def viewer_feature(self) -> str:
        """``feature``, or ``genre:<name>`` without one."""
        return self.feature or f"genre:{self.name}"


DEFAULT_SEGMENTS: tuple[Segment, ...] = (
    Segment("thriller", {"dark": 2.6, "cool": 0.5, "smiling": -1.2, "bright": -0.8}),
    Segment("romance", {"smiling": 2.6, "warm": 0.5, "dark": -1.2}),
    Segment("family", {"bright": 2.4, "colorful": 0.6, "dark": -1.4}),
)
"""Thriller fans prefer dark images, romance fans smiling ones, family viewers bright ones."""

_VIEWER_FEATURES_AFTER_SEGMENTS = (
    "device:tv",
    "device:mobile",
    "recent_activity",
    "hour_sin",
    "hour_cos",
)

# Attributes that exclude each other, as the tagger gives them.
_EXCLUSIVE = (("closeup", "medium", "wide"), ("dark", "bright"), ("warm", "cool"))
_RANDOM_ATTRIBUTE_RATE = 0.15


@dataclass
class SimulationResult:
    """What one policy achieved over a simulation, impression by impression."""

    policy: str
    chosen: IntArray
    """Per impression (round-major), the index of the shown candidate."""
    propensity: FloatArray
    plays: FloatArray
    """1.0 where the impression led to a play."""
    minutes: FloatArray
    """Minutes played (0 without a play)."""
    clickbait: npt.NDArray[np.bool_]
    """Where the shown image was the click-bait."""
    viewer: IntArray
    title: IntArray
    probabilities: list[FloatArray] = field(default_factory=list, repr=False)
    """Per impression, the policy's full distribution over the title's candidates."""
    policy_object: Policy | None = field(default=None, repr=False)

    @property
    def impressions(self) -> int:
        return len(self.plays)

    @property
    def take_rate(self) -> float:
        """Plays per impression."""
        return float(self.plays.mean())

    def take_rate_interval(self) -> tuple[float, float]:
        """95% normal-approximation interval of the take rate."""
        return _mean_interval(self.plays)

    def minutes_interval(self) -> tuple[float, float]:
        return _mean_interval(self.minutes)

    def summary(self) -> dict[str, float]:
        low, high = self.take_rate_interval()
        return {"take_rate": self.take_rate, "low": low, "high": high}


class Simulator:
    """Viewers, titles with candidate images, and hidden tastes; see the module docstring.

    ``reward`` is what policies learn from: ``"plays"`` (1 per play) or
    ``"minutes"`` (minutes played as a fraction of the runtime, so it stays in
    0..1 like plays and the policies' default settings apply).
    ``taste_shift_at`` (a fraction of the rounds) swaps the first two
    segments' tastes from that round on, for testing drift. The images'
    attributes are :data:`IMAGE_ATTRIBUTES` followed by the characters the
    segments' tastes name, in order of first mention.
    """

    def __init__(
        self,
        *,
        viewers: int = DEFAULT_VIEWERS,
        titles: int = DEFAULT_TITLES,
        seed: int = 0,
        reward: Reward = "plays",
        segments: Sequence[Segment] = DEFAULT_SEGMENTS,
        clickbait_pull: float = 1.0,
        base_log_odds: float = -2.6,
        runtime_minutes: float = 45.0,
        taste_shift_at: float | None = None,
    ) -> None:
        if viewers < 1 or titles < 1:
            raise PersonalizeError("the simulator needs at least one viewer and one title")
        if reward not in ("plays", "minutes"):
            raise PersonalizeError(f"reward must be 'plays' or 'minutes', got {reward!r}")
        if len(segments) < 2:
            raise PersonalizeError("the simulator needs at least two segments")
        if taste_shift_at is not None and not 0.0 <= taste_shift_at <= 1.0:
            raise PersonalizeError(f"taste_shift_at must be in [0, 1], got {taste_shift_at}")
        viewer_features = (
            *(s.viewer_feature for s in segments),
            *_VIEWER_FEATURES_AFTER_SEGMENTS,
        )
        if len({s.name for s in segments}) < len(segments):
            raise PersonalizeError("segment names must differ")
        twice = sorted({f for f in viewer_features if viewer_features.count(f) > 1})
        if twice:
            raise PersonalizeError(f"viewer features used twice by the segments: {twice}")
        characters = tuple(
            dict.fromkeys(a for s in segments for a in s.taste if a not in IMAGE_ATTRIBUTES)
        )
        self.viewers = viewers
        self.titles = titles
        self.seed = seed
        self.reward = reward
        self.segments = tuple(segments)
        self.clickbait_pull = clickbait_pull
        self.base_log_odds = base_log_odds
        self.runtime_minutes = runtime_minutes
        self.taste_shift_at = taste_shift_at
        self.space = FeatureSpace(
            viewer_features=viewer_features, image_attributes=(*IMAGE_ATTRIBUTES, *characters)
        )
        rng = np.random.default_rng([seed, 0])
        self._make_viewers(rng)
        self._make_titles(rng)

    # -- the world --------------------------------------------------------

    def _make_viewers(self, rng: np.random.Generator) -> None:
        shares = np.array([s.share for s in self.segments], dtype=np.float64)
        self.segment_of = rng.choice(len(self.segments), size=self.viewers, p=shares / shares.sum())
        own = rng.beta(6.0, 2.0, size=self.viewers)
        other = rng.beta(1.0, 8.0, size=(self.viewers, len(self.segments)))
        affinity = other
        affinity[np.arange(self.viewers), self.segment_of] = own
        self.true_affinity = affinity
        observed = np.clip(affinity + rng.normal(0.0, 0.05, affinity.shape), 0.0, 1.0)
        device = rng.choice(3, size=self.viewers, p=[0.6, 0.3, 0.1])
        activity = rng.uniform(0.0, 1.0, self.viewers)
        hour = rng.uniform(0.0, 24.0, self.viewers)
        self._device, self._activity, self._hour = device, activity, hour
        angle = 2.0 * np.pi * hour / 24.0
        self.context = np.column_stack(
            (
                observed,
                device == 0,
                device == 1,
                activity,
                np.sin(angle),
                np.cos(angle),
            )
        ).astype(np.float64)
        self._viewer_base = self.base_log_odds + 0.8 * (activity - 0.5)

    def _make_titles(self, rng: np.random.Generator) -> None:
        names = self.space.image_attributes
        index = {name: i for i, name in enumerate(names)}
        characters = [i for i, name in enumerate(names) if name.startswith(CHARACTER_PREFIX)]
        self.candidates: list[FloatArray] = []
        self.clickbait_index: list[int] = []
        for _ in range(self.titles):
            styles: list[dict[str, float]] = []
            for segment in self.segments:
                liked = [a for a, w in segment.taste.items() if w > 0]
                styles.append({a: 1.0 for a in liked if rng.random() < 0.9})
            styles.append({CLICKBAIT_ATTRIBUTE: 1.0})
            styles.append({})
            rows = []
            for style in styles:
                row = np.zeros(len(names))
                for name in names:
                    if name == CLICKBAIT_ATTRIBUTE:
                        continue
                    if style.get(name) or rng.random() < _RANDOM_ATTRIBUTE_RATE:
                        row[index[name]] = 1.0
                for group in _EXCLUSIVE:
                    on = [g for g in group if row[index[g]]]
                    if len(on) > 1:
                        keep = next((g for g in on if g in style), on[int(rng.integers(len(on)))])
                        for g in on:
                            row[index[g]] = 1.0 if g == keep else 0.0
                if (
                    row[index["closeup"]]
                    or row[index["medium"]]
                    or row[index["smiling"]]
                    or row[characters].any()
                ):
                    row[index["face"]] = 1.0
                if style.get(CLICKBAIT_ATTRIBUTE):
                    row[index[CLICKBAIT_ATTRIBUTE]] = 1.0
                rows.append(row)
            order = rng.permutation(len(rows))
            matrix = np.array(rows)[order]
            self.candidates.append(matrix)
            self.clickbait_index.append(int(np.flatnonzero(order == len(self.segments))[0]))
        self._images = [np.hstack((np.ones((m.shape[0], 1)), m)) for m in self.candidates]
        self._taste = np.array([[s.taste.get(name, 0.0) for name in names] for s in self.segments])
        self._pull = np.zeros(len(names))
        self._pull[index[CLICKBAIT_ATTRIBUTE]] = self.clickbait_pull

    def play_probabilities(self, viewer: int, title: int, *, shifted: bool = False) -> FloatArray:
        """The hidden probability that each of the title's candidates leads to a play."""
        taste = self._taste
        if shifted:
            taste = taste.copy()
            taste[[0, 1]] = taste[[1, 0]]
        weights = self.true_affinity[viewer] @ taste + self._pull
        log_odds = self._viewer_base[viewer] + self.candidates[title] @ weights
        return np.asarray(1.0 / (1.0 + np.exp(-log_odds)), dtype=np.float64)

    def watch_fractions(self, title: int) -> FloatArray:
        """Mean share of the runtime watched after a play, per candidate of a title.

        Click-bait misrepresents the title, so the viewers it draws leave early.
        """
        fractions = np.full(len(self.candidates[title]), 0.55)
        fractions[self.clickbait_index[title]] = 0.08
        return fractions

    def expected_rewards(self, viewer: int, title: int, *, shifted: bool = False) -> FloatArray:
        """The true expected reward (in the simulator's reward unit) of each candidate."""
        plays = self.play_probabilities(viewer, title, shifted=shifted)
        if self.reward == "plays":
            return plays
        return plays * self.watch_fractions(title)

    def design(self, viewer: int, title: int) -> FloatArray:
        """Interaction rows the policies see for this impression."""
        return interactions(np.concatenate(([1.0], self.context[viewer])), self._images[title])

    def viewer_context(self, viewer: int) -> dict[str, float]:
        """A simulated viewer's features by name, as a service would log them."""
        return {
            name: float(v)
            for name, v in zip(self.space.viewer_features, self.context[viewer], strict=True)
        }

    def candidate_attributes(self, title: int) -> list[dict[str, float]]:
        """A title's candidates as attribute mappings (only the attributes they have)."""
        return [
            {name: 1.0 for name, v in zip(self.space.image_attributes, row, strict=True) if v}
            for row in self.candidates[title]
        ]

    def segment_prototype(self, segment: str) -> dict[str, float]:
        """The context of a typical viewer of a segment: the mean of its members' features."""
        names = [s.name for s in self.segments]
        if segment not in names:
            raise PersonalizeError(f"no segment {segment!r}; segments: {', '.join(names)}")
        members = self.segment_of == names.index(segment)
        mean = self.context[members].mean(axis=0)
        return {n: float(v) for n, v in zip(self.space.viewer_features, mean, strict=True)}

    # -- behaviour ---------------------------------------------------------

    def title_info(self) -> Titles:
        """What a catalog says of the simulated titles.

        Title ``t`` is made for segment ``t % segments``: its genre is that
        segment's (or ``drama`` with the actor in its cast, for an actor's
        fans), and titles ``t`` and ``t + segments`` are two episodes of one
        series.
        """
        count = len(self.segments)
        titles = []
        for t in range(self.titles):
            segment = self.segments[t % count]
            actor = segment.viewer_feature.removeprefix("cast:")
            fans = segment.viewer_feature.startswith("cast:")
            titles.append(
                TitleInfo(
                    title_id=f"title{t}",
                    series=f"{segment.name}-{t // (2 * count)}",
                    genres=("drama",) if fans else (segment.name,),
                    cast=(actor,) if fans else (),
                )
            )
        return Titles(titles)

    def moments(self, title: int) -> FloatArray:
        """The two scenes of a title (seconds) that its viewers pause at and watch again."""
        rng = np.random.default_rng([self.seed, 4, title])
        return np.sort(rng.uniform(0.1, 0.9, 2)) * self.runtime_minutes * 60.0

    def behaviour(self, days: int, start: datetime) -> pa.Table:
        """``days`` of behaviour events driven by the hidden tastes (the event schema's table).

        A viewer starts about ``recent_activity`` sessions a day near their
        usual hour on their device. Each session browses a row of five
        titles, sometimes searches for the viewer's genre or actor, and plays
        a title chosen in proportion to the viewer's true affinity for the
        segment it was made for. The more the affinity, the more of it they
        watch (finishing it, and often going on to the next episode) rather
        than abandoning it; they pause at the title's two scenes and rewind
        to watch them again.
        """
        if days < 1:
            raise PersonalizeError(f"days must be at least 1, got {days}")
        if start.utcoffset() is None:
            raise PersonalizeError("start needs a time zone")
        rng = np.random.default_rng([self.seed, 3])
        count = len(self.segments)
        home = np.arange(self.titles) % count
        runtime = self.runtime_minutes * 60.0
        devices = ("tv", "mobile", "desktop")
        rows: list[dict[str, object]] = []

        def emit(base: dict[str, object], now: datetime, kind: str, **more: object) -> None:
            rows.append(base | {"time": now, "kind": kind} | more)

        for day in range(days):
            for v in range(self.viewers):
                affinity = self.true_affinity[v]
                region, offset = ("GB", 0) if v % 2 else ("FR", 60)
                base: dict[str, object] = {
                    "viewer_id": f"viewer{v}",
                    "device": devices[int(self._device[v])],
                    "region": region,
                    "utc_offset_minutes": offset,
                }
                for _ in range(int(rng.poisson(0.3 + 1.2 * self._activity[v]))):
                    local_hour = (self._hour[v] + rng.normal(0.0, 1.0)) % 24.0
                    now = start + timedelta(days=day, hours=float(local_hour) - offset / 60.0)

                    liking = affinity[home] + 0.05
                    choice = int(rng.choice(self.titles, p=liking / liking.sum()))
                    row = rng.choice(self.titles, size=5, replace=False)
                    for rank, shown in enumerate(row):
                        emit(
                            base,
                            now,
                            "browse",
                            title_id=f"title{shown}",
                            row=0,
                            rank=rank,
                            played=bool(shown == choice),
                        )
                    if rng.random() < 0.3:
                        segment = self.segments[int(np.argmax(affinity))]
                        wanted = segment.viewer_feature.split(":", 1)[1]
                        emit(base, now, "search", query=f"new {wanted} films")
                    for _episode in range(3):
                        fondness = float(affinity[home[choice]])
                        watched = float(np.clip(rng.normal(0.2 + 0.8 * fondness, 0.1), 0.02, 1.0))
                        name = f"title{choice}"
                        emit(base, now, "play_start", title_id=name, position=0.0)
                        end = watched * runtime
                        # Wall time runs with the picture, plus the pauses and rewinds.
                        began, extra = now, 0.0
                        for scene in (float(s) for s in self.moments(choice)):
                            if scene < end and rng.random() < 0.6:
                                now = began + timedelta(seconds=scene + extra)
                                emit(base, now, "pause", title_id=name, position=scene)
                                extra += 30.0
                                now = began + timedelta(seconds=scene + extra)
                                emit(base, now, "play_start", title_id=name, position=scene)
                                if rng.random() < 0.5:
                                    now += timedelta(seconds=20.0)
                                    emit(
                                        base,
                                        now,
                                        "seek",
                                        title_id=name,
                                        position=scene + 20.0,
                                        to_position=scene - 10.0,
                                    )
                                    extra += 50.0
                        now = began + timedelta(seconds=end + extra)
                        closing = "complete" if watched >= 0.98 else "abandon"
                        emit(base, now, closing, title_id=name, position=end)
                        if closing == "abandon":
                            break
                        following = choice + count
                        if following >= self.titles or rng.random() > fondness:
                            break
                        choice = following
                        now += timedelta(minutes=float(rng.uniform(0.5, 5.0)))
        return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)

    def with_contexts(self, context: npt.ArrayLike) -> Simulator:
        """The same world and stream, the policies seeing ``context`` (viewers x features)."""
        matrix = np.asarray(context, dtype=np.float64)
        if matrix.shape != self.context.shape or not np.all(np.isfinite(matrix)):
            raise PersonalizeError(
                f"contexts must be finite, {self.context.shape[0]} viewers x "
                f"{self.context.shape[1]} features"
            )
        other = copy.copy(self)
        other.context = matrix
        return other

    def contexts_from(self, profiles: Profiles) -> FloatArray:
        """Each simulated viewer's features as their event-built profile gives them."""
        rows = [profiles.context(f"viewer{v}") for v in range(self.viewers)]
        return np.array(
            [[row.get(name, 0.0) for name in self.space.viewer_features] for row in rows]
        )

    def true_contexts(self) -> FloatArray:
        """The viewers' features with their true affinities in place of the observed ones."""
        matrix = self.context.copy()
        matrix[:, : len(self.segments)] = self.true_affinity
        return matrix

    # -- the stream -------------------------------------------------------

    def stream(self, rounds: int) -> tuple[IntArray, FloatArray, FloatArray]:
        """Per round and viewer: the title shown, and the two uniforms deciding the outcome.

        Drawn from the seed alone, so every policy faces the same viewers,
        titles and luck.
        """
        if rounds < 1:
            raise PersonalizeError(f"rounds must be at least 1, got {rounds}")
        rng = np.random.default_rng([self.seed, 1])
        titles = rng.integers(0, self.titles, size=(rounds, self.viewers))
        play_draw = rng.random((rounds, self.viewers))
        watch_draw = rng.random((rounds, self.viewers))
        return titles, play_draw, watch_draw

    def _shifted(self, round_index: int, rounds: int) -> bool:
        return self.taste_shift_at is not None and round_index >= self.taste_shift_at * rounds

    def run(self, policy: Policy, rounds: int, *, learn: bool = True) -> SimulationResult:
        """Let ``policy`` choose every impression of ``rounds`` rounds, learning after each."""
        if policy.space != self.space:
            raise PersonalizeError("the policy was built for another feature space")
        return self._run(policy.name, rounds, policy=policy, learn=learn)

    def run_best_single(self, rounds: int) -> SimulationResult:
        """Show every viewer the title's one image with the best take rate, chosen with hindsight.

        "Best" is the highest true expected reward (plays, or minutes when
        the simulator rewards minutes) over this very stream: the viewers who
        were shown each title, in their rounds. It is the single image an
        editor would have picked for everyone had they known every outcome.
        """
        titles, _, _ = self.stream(rounds)
        totals = [np.zeros(len(c)) for c in self.candidates]
        for r in range(rounds):
            shifted = self._shifted(r, rounds)
            for v in range(self.viewers):
                t = int(titles[r, v])
                totals[t] += self.expected_rewards(v, t, shifted=shifted)
        best = [int(np.argmax(total)) for total in totals]
        return self._run("best-single", rounds, fixed=best)

    def _run(
        self,
        name: str,
        rounds: int,
        *,
        policy: Policy | None = None,
        learn: bool = True,
        fixed: Sequence[int] | None = None,
    ) -> SimulationResult:
        titles, play_draw, watch_draw = self.stream(rounds)
        n = rounds * self.viewers
        chosen = np.zeros(n, dtype=np.int64)
        propensity = np.ones(n)
        plays = np.zeros(n)
        minutes = np.zeros(n)
        clickbait = np.zeros(n, dtype=bool)
        distributions: list[FloatArray] = []
        viewer_ids = np.tile(np.arange(self.viewers, dtype=np.int64), rounds)
        title_ids = titles.reshape(-1).astype(np.int64)
        for r in range(rounds):
            shifted = self._shifted(r, rounds)
            start = r * self.viewers
            for v in range(self.viewers):
                i = start + v
                t = int(titles[r, v])
                if policy is not None:
                    choice = policy.choose_from(self.design(v, t))
                    index, propensity[i] = choice.index, choice.probability
                    distributions.append(choice.probabilities)
                else:
                    assert fixed is not None
                    index = fixed[t]
                    distributions.append(np.eye(len(self.candidates[t]))[index])
                chosen[i] = index
                clickbait[i] = index == self.clickbait_index[t]
                p_play = self.play_probabilities(v, t, shifted=shifted)[index]
                if play_draw[r, v] < p_play:
                    plays[i] = 1.0
                    mean_fraction = self.watch_fractions(t)[index]
                    # Uniform on [0, 2 * mean]: the mean is right and the
                    # draw is shared with every policy showing this image.
                    minutes[i] = self.runtime_minutes * 2.0 * mean_fraction * watch_draw[r, v]
            if policy is not None and learn:
                rows = slice(start, start + self.viewers)
                shown = np.array(
                    [
                        self.candidates[int(t)][c]
                        for t, c in zip(titles[r], chosen[rows], strict=True)
                    ]
                )
                reward = (
                    plays[rows] if self.reward == "plays" else minutes[rows] / self.runtime_minutes
                )
                policy.partial_fit(self.context, shown, reward)
        return SimulationResult(
            policy=name,
            chosen=chosen,
            propensity=propensity,
            plays=plays,
            minutes=minutes,
            clickbait=clickbait,
            viewer=viewer_ids,
            title=title_ids,
            probabilities=distributions,
            policy_object=policy,
        )

    def logged_feedback(self, result: SimulationResult) -> LoggedFeedback:
        """A run's impressions as a log to evaluate other policies on (rewards as learned)."""
        reward = result.plays if self.reward == "plays" else result.minutes / self.runtime_minutes
        return LoggedFeedback(
            space=self.space,
            viewers=self.context[result.viewer],
            candidates=[self.candidates[t] for t in result.title],
            chosen=result.chosen,
            propensity=result.propensity,
            reward=reward,
            logged_probabilities=list(result.probabilities),
        )

    def impression_log(
        self, result: SimulationResult, *, start: datetime, policy_version: str = "simulated"
    ) -> tuple[pa.Table, pa.Table]:
        """A run as a service would record it: the impression log and the play events.

        Round ``r`` happens on day ``r`` after ``start``, viewers 10 s apart;
        each play arrives up to three hours after its impression.
        """
        if start.utcoffset() is None:
            raise PersonalizeError("start needs a time zone")
        impressions = []
        for i in range(result.impressions):
            r, v = divmod(i, self.viewers)
            t = int(result.title[i])
            ids = [f"title{t}-image{c}" for c in range(len(self.candidates[t]))]
            impressions.append(
                Impression(
                    impression_id=f"{self.seed}-{r}-{v}",
                    time=start + timedelta(days=r, seconds=10 * v),
                    viewer_id=f"viewer{v}",
                    viewer_context=self.viewer_context(v),
                    title_id=f"title{t}",
                    candidate_ids=ids,
                    candidate_attributes=self.candidate_attributes(t),
                    candidate_probabilities=result.probabilities[i].tolist(),
                    chosen_id=ids[int(result.chosen[i])],
                    propensity=float(result.propensity[i]),
                    policy_name=result.policy,
                    policy_version=policy_version,
                )
            )
        played = np.flatnonzero(result.plays)
        delay = np.random.default_rng([self.seed, 2]).uniform(0.0, 3 * 3600.0, len(played))
        plays = pa.table(
            {
                "impression_id": [impressions[i].impression_id for i in played],
                "time": [
                    impressions[i].time + timedelta(seconds=float(d))
                    for i, d in zip(played, delay, strict=True)
                ],
                "minutes": result.minutes[played],
            },
            schema=PLAY_SCHEMA,
        )
        return impressions_to_table(impressions), plays

    def policy_value(self, policy: Policy) -> float:
        """True expected reward per impression of a fixed policy, over all viewers and titles.

        The exact value the off-policy estimators estimate for this policy on
        this simulator's traffic (viewers and titles uniformly at random). A
        policy built over another feature space (one trained from a log, say)
        is given the viewers and images by name.
        """
        same_space = policy.space == self.space
        total = 0.0
        for v in range(self.viewers):
            context = None if same_space else self.viewer_context(v)
            for t in range(self.titles):
                if context is None:
                    probabilities = policy.distribution(self.design(v, t))
                else:
                    probabilities = policy.probabilities(context, self.candidate_attributes(t))
                total += float(probabilities @ self.expected_rewards(v, t))
        return total / (self.viewers * self.titles)


SIMULATED_POLICIES = ("random", "best-single", "epsilon-greedy", "softmax", "linucb", "lints")
"""The policies :func:`compare_policies` runs, in the order it reports them."""


def make_policy(name: str, space: FeatureSpace, seed: int) -> Policy:
    """A policy by name with the settings the comparison uses (the library defaults)."""
    if name not in POLICIES:
        raise PersonalizeError(f"unknown policy {name!r}")
    return POLICIES[name](space, seed=seed)


def compare_policies(
    simulator: Simulator, rounds: int, policies: Sequence[str] = SIMULATED_POLICIES
) -> dict[str, SimulationResult]:
    """Run each named policy on the same stream; results in the order given."""
    results: dict[str, SimulationResult] = {}
    for name in policies:
        if name == "best-single":
            results[name] = simulator.run_best_single(rounds)
        else:
            results[name] = simulator.run(
                make_policy(name, simulator.space, simulator.seed), rounds
            )
    return results


def _mean_interval(values: FloatArray) -> tuple[float, float]:
    return clt_interval(float(values.mean()), values)
