"""``thumbsel serve``: choose artwork per viewer over HTTP, and log every choice.

FastAPI on uvicorn: FastAPI because it checks every request body against a
typed model (a bad request is a 422 naming the field, before any of our code
runs) and writes the OpenAPI description (``/openapi.json``, ``/docs``) from
the same models; uvicorn because it is the ASGI server FastAPI is built and
tested on. Endpoints:

``POST /choose``
    One impression: the live policy's distribution over the title's
    candidates, one drawn from it, logged (committed to the store) before the
    answer is sent. The draw is seeded by the impression id, so a logged
    choice can be replayed exactly.
``POST /events``
    Play events for impressions, joined later with the delayed-reward rules
    (:func:`~thumbsel.personalize.log.join_rewards`), and behaviour events
    (:mod:`~thumbsel.personalize.events`), kept minimised and folded into
    the viewers' profiles; ``/choose`` uses a viewer's profile when the
    request sends no context.
``POST /viewers/{id}/opt-out``, ``/opt-in``; ``DELETE /viewers/{id}``; ``GET /viewers/{id}/data``
    The viewer's rights: no personalisation (the population's choice,
    logged without them), erasure, and everything kept about them
    (``PRIVACY.md``).
``GET /explain/{impression_id}``
    Why that image: a ``summary`` in the viewer's terms, and each
    candidate's probability, score, exploration bonus and the viewer x
    attribute terms behind the score, from the policy version that chose.
``GET /health``, ``GET /metrics``
    Liveness, and Prometheus text: requests, latency, log size, policy version.

The live policy is a file saved by :meth:`~thumbsel.personalize.policies.Policy.save`
(or, without one, uniform random: the logging policy every later estimate can
use). When the file changes (a newly published policy) the next request
loads it; a request already running keeps the policy it started with, and a
file that does not load leaves the old policy live.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from pydantic import AwareDatetime, BaseModel, Field

from thumbsel._core import __version__
from thumbsel.errors import PolicyFileError, ThumbselError
from thumbsel.personalize.events import DEVICE_CLASSES, EVENT_KINDS, EVENT_SCHEMA, MAX_QUERY
from thumbsel.personalize.features import FeatureSpace, image_attributes, interactions
from thumbsel.personalize.log import Impression
from thumbsel.personalize.policies import Policy, UniformRandom, load_policy
from thumbsel.personalize.profiles import Titles, profile_context
from thumbsel.personalize.reasons import in_plain_words
from thumbsel.personalize.store import DEFAULT_RETENTION_DAYS, Store
from thumbsel.serve.pool import Candidate, CandidatePool

__all__ = ["LivePolicy", "create_app", "serve"]

MAX_CANDIDATES = 1000
MAX_CONTEXT = 1000
MAX_PLAYS = 10_000
MAX_ID = 200
_KEPT_VERSIONS = 16
"""Policy versions kept in memory to explain the impressions they chose."""
_RELOAD_CHECK_SECONDS = 1.0
_RETENTION_CHECK_SECONDS = 60.0

Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID)]


class ChooseRequest(BaseModel):
    viewer_id: Identifier
    title_id: Identifier
    context: dict[Identifier, float] | None = Field(
        default=None,
        max_length=MAX_CONTEXT,
        description="Viewer features by name (numbers); absent names are 0",
    )
    candidates: list[Identifier] | None = Field(
        default=None, min_length=1, max_length=MAX_CANDIDATES
    )


class ChooseResponse(BaseModel):
    impression_id: str
    chosen_id: str
    image: str
    tags: list[str]
    probability: float
    policy_version: str


class Play(BaseModel):
    impression_id: Identifier
    time: AwareDatetime
    minutes: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)


class Behaviour(BaseModel):
    """One behaviour event (see :mod:`thumbsel.personalize.events`); checked again when kept."""

    viewer_id: Identifier
    time: AwareDatetime
    kind: Literal[EVENT_KINDS]  # type: ignore[valid-type]
    title_id: Identifier | None = None
    position: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    to_position: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    query: str | None = Field(default=None, max_length=MAX_QUERY)
    row: int | None = Field(default=None, ge=0, le=10_000)
    rank: int | None = Field(default=None, ge=0, le=10_000)
    played: bool | None = None
    device: Literal[DEVICE_CLASSES] | None = None  # type: ignore[valid-type]
    region: str | None = Field(default=None, max_length=6)


class EventsRequest(BaseModel):
    plays: list[Play] = Field(default_factory=list, max_length=MAX_PLAYS)
    events: list[Behaviour] = Field(default_factory=list, max_length=MAX_PLAYS)


class EventsResponse(BaseModel):
    accepted: int
    unknown: int
    """Plays for impression ids the store does not hold (kept: the join counts them)."""
    events_kept: int = 0
    events_left_out: dict[str, int] = Field(default_factory=dict)
    """Behaviour events not kept, by reason (a bad row, a viewer who opted out...)."""


class LivePolicy:
    """The policy answering now; reloaded from its file when the file changes."""

    def __init__(self, path: str | os.PathLike[str] | None, pool: CandidatePool) -> None:
        self.path = None if path is None else Path(path)
        self.reloads = 0
        self.failed_reloads = 0
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, Policy] = OrderedDict()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        if self.path is None:
            self._policy: Policy = UniformRandom(_space_of(pool))
        else:
            self._stamp = _stamp(self.path)
            self._policy = load_policy(self.path)
        self._version = self._policy.version
        self._keep(self._policy)

    def current(self) -> tuple[Policy, str]:
        """The live policy and its version (which hashes the model: computed once)."""
        if self.path is not None and time.monotonic() - self._checked >= _RELOAD_CHECK_SECONDS:
            self._reload_if_changed()
        with self._lock:
            return self._policy, self._version

    def version(self, version: str) -> Policy | None:
        with self._lock:
            return self._kept.get(version)

    def _reload_if_changed(self) -> None:
        assert self.path is not None
        with self._lock:
            self._checked = time.monotonic()
            try:
                stamp = _stamp(self.path)
            except PolicyFileError:
                return
            if stamp == self._stamp:
                return
            try:
                policy = load_policy(self.path)
            except PolicyFileError as error:
                # Half published (its arrays not there yet), or broken: the old
                # policy stays live, and the file is tried again next check.
                self.failed_reloads += 1
                print(f"thumbsel serve: policy not reloaded: {error}", file=sys.stderr)
                return
            self._stamp = stamp
            self._policy = policy
            self._version = policy.version
            self.reloads += 1
        self._keep(policy)

    def _keep(self, policy: Policy) -> None:
        with self._lock:
            self._kept[policy.version] = policy
            self._kept.move_to_end(policy.version)
            while len(self._kept) > _KEPT_VERSIONS:
                self._kept.popitem(last=False)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        status = path.stat()
    except OSError as error:
        raise PolicyFileError(f"{path}: {error.strerror}") from None
    return status.st_mtime_ns, status.st_size


def _space_of(pool: CandidatePool) -> FeatureSpace:
    return FeatureSpace(
        viewer_features=(),
        image_attributes=image_attributes(
            name for candidates in pool.titles.values() for c in candidates for name in c.attributes
        ),
    )


def draw(probabilities: npt.NDArray[np.float64], impression_id: str, seed: int) -> int:
    """The candidate an impression shows: a uniform number from its id, through the
    distribution's cumulative sum (the same id and distribution, the same choice)."""
    digest = hashlib.sha256(f"{seed}:{impression_id}".encode()).digest()
    uniform = int.from_bytes(digest[:8], "big") / 2**64
    index = int(np.searchsorted(np.cumsum(probabilities), uniform, side="right"))
    return min(index, len(probabilities) - 1)


class _Measured:
    """Counts and times every request by route and status (plain ASGI: Starlette's
    ``BaseHTTPMiddleware`` costs more than a choice itself)."""

    def __init__(self, app: Any, *, requests: Counter, latency: Histogram) -> None:
        self._app = app
        self._requests = requests
        self._latency = latency

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sent(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sent)
        finally:
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            self._requests.labels(endpoint, str(status)).inc()
            self._latency.labels(endpoint).observe(time.perf_counter() - started)


class Retention:
    """Deletes raw events older than the window, checked at most once a minute."""

    def __init__(self, store: Store, window: timedelta) -> None:
        self.store = store
        self.window = window
        self._checked = -math.inf
        self._lock = threading.Lock()

    def run(self, now: datetime) -> None:
        with self._lock:
            if time.monotonic() - self._checked < _RETENTION_CHECK_SECONDS:
                return
            self._checked = time.monotonic()
        self.store.apply_retention(self.window, now=now)


def create_app(
    pool: CandidatePool,
    store: Store,
    policy: LivePolicy,
    *,
    titles: Titles | None = None,
    retention_days: float = DEFAULT_RETENTION_DAYS,
) -> FastAPI:
    """The ASGI application (see the module notes)."""
    titles = titles or Titles()
    retention = Retention(store, timedelta(days=retention_days))
    retention.run(datetime.now(UTC))
    app = FastAPI(
        title="thumbsel",
        version=__version__,
        description="Per-viewer artwork choice over picked candidates, with every choice logged.",
    )
    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created: nothing to scrape
    registry = CollectorRegistry()
    requests = Counter(
        "thumbsel_requests", "Requests answered", ["endpoint", "status"], registry=registry
    )
    latency = Histogram(
        "thumbsel_request_seconds",
        "Time to answer a request",
        ["endpoint"],
        registry=registry,
        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
    )
    log_size = Gauge("thumbsel_log_rows", "Rows in the store", ["table"], registry=registry)
    version_gauge = Gauge(
        "thumbsel_policy", "The live policy (1 for its version)", ["version"], registry=registry
    )
    reloads = Gauge("thumbsel_policy_reloads", "Policies loaded since start", registry=registry)

    app.add_middleware(_Measured, requests=requests, latency=latency)
    matrices: dict[tuple[FeatureSpace, str], npt.NDArray[np.float64]] = {}

    def images(
        space: FeatureSpace, title_id: str, candidates: tuple[Candidate, ...]
    ) -> npt.NDArray[np.float64]:
        """The candidates' attribute rows, kept per title for the whole offer."""
        if candidates is not pool.titles[title_id]:
            return space.image_matrix([c.attributes for c in candidates])
        key = (space, title_id)
        found = matrices.get(key)
        if found is None:
            if len(matrices) > 4 * len(pool.titles):
                matrices.clear()  # spaces of policies no longer live
            found = matrices[key] = space.image_matrix([c.attributes for c in candidates])
        return found

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for problem in error.errors():
            where = [str(part) for part in problem.get("loc", ())]
            if problem.get("type") == "json_invalid":
                reason = problem.get("ctx", {}).get("error", "invalid")
                problems.append(f"malformed JSON at character {where[-1]}: {reason}")
            else:
                problems.append(f"{'.'.join(where)}: {problem.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, 422)

    @app.exception_handler(ThumbselError)
    async def refused(request: Request, error: ThumbselError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(error).split())}, 400)

    @app.post("/choose", response_model=ChooseResponse)
    def choose(body: ChooseRequest) -> Any:
        try:
            candidates = pool.of(body.title_id, body.candidates)
        except KeyError:
            return JSONResponse({"detail": f"unknown title {body.title_id!r}"}, 404)
        now = datetime.now(UTC)
        opted_out = store.opted_out(body.viewer_id)
        if opted_out and body.context:
            return JSONResponse(
                {
                    "detail": f"viewer {body.viewer_id!r} opted out of personalisation: "
                    "send no context (they are shown the population's choice)"
                },
                403,
            )
        live, version = policy.current()
        if body.context is not None or opted_out:
            context = dict(body.context or {})
        else:
            profile = store.profile(body.viewer_id, now=now)
            context = {} if profile is None else profile_context(profile)
        bad = [name for name, value in context.items() if not math.isfinite(value)]
        if bad:
            return JSONResponse({"detail": f"context {bad[0]!r} must be finite"}, 422)
        design = interactions(
            live.space.viewer_vector(context), images(live.space, body.title_id, candidates)
        )
        probabilities = live.distribution(design)
        impression_id = uuid.uuid4().hex
        index = draw(probabilities, impression_id, live.seed)
        chosen = candidates[index]
        store.log(
            Impression(
                impression_id=impression_id,
                time=now,
                title_id=body.title_id,
                candidate_ids=[c.candidate_id for c in candidates],
                candidate_attributes=[dict(c.attributes) for c in candidates],
                candidate_probabilities=[float(p) for p in probabilities],
                chosen_id=chosen.candidate_id,
                propensity=float(probabilities[index]),
                policy_name=live.name,
                policy_version=version,
                # An opted-out viewer's impression keeps its propensity, not who saw it.
                viewer_id=None if opted_out else body.viewer_id,
                viewer_context=None if opted_out else context,
            )
        )
        return ChooseResponse(
            impression_id=impression_id,
            chosen_id=chosen.candidate_id,
            image=chosen.image,
            tags=list(chosen.tags),
            probability=float(probabilities[index]),
            policy_version=version,
        )

    @app.post("/events", response_model=EventsResponse)
    def events(body: EventsRequest) -> Any:
        if not body.plays and not body.events:
            return JSONResponse({"detail": "give at least one play or event"}, 422)
        ids = [play.impression_id for play in body.plays]
        known = store.known(ids)
        accepted = (
            store.add_plays((p.impression_id, p.time, p.minutes) for p in body.plays)
            if body.plays
            else 0
        )
        kept, left_out = 0, {}
        if body.events:
            now = datetime.now(UTC)
            table = pa.Table.from_pylist([e.model_dump() for e in body.events], schema=EVENT_SCHEMA)
            report, _ = store.add_events(table, titles, now=now)
            kept, left_out = report.kept, report.bad
            retention.run(now)
        return EventsResponse(
            accepted=accepted,
            unknown=sum(i not in known for i in ids),
            events_kept=kept,
            events_left_out=left_out,
        )

    @app.post("/viewers/{viewer_id}/opt-out")
    def opt_out(viewer_id: Identifier) -> Any:
        removed = store.opt_out(viewer_id, now=datetime.now(UTC))
        return {"viewer_id": viewer_id, "opted_out": True, "removed": removed}

    @app.post("/viewers/{viewer_id}/opt-in")
    def opt_in(viewer_id: Identifier) -> Any:
        return {
            "viewer_id": viewer_id,
            "opted_out": False,
            "was_opted_out": store.opt_in(viewer_id),
        }

    @app.delete("/viewers/{viewer_id}")
    def erase(viewer_id: Identifier) -> Any:
        return {"viewer_id": viewer_id, "erased": store.forget(viewer_id)}

    @app.get("/viewers/{viewer_id}/data")
    def viewer_data(viewer_id: Identifier) -> Any:
        return store.viewer_data(viewer_id, now=datetime.now(UTC))

    @app.get("/explain/{impression_id}")
    def explain(impression_id: str) -> Any:
        impression = store.impression(impression_id)
        if impression is None:
            return JSONResponse({"detail": f"no impression {impression_id!r}"}, 404)
        chooser = policy.version(impression.policy_version)
        if chooser is None:
            return JSONResponse(
                {
                    "detail": f"policy {impression.policy_version} that chose it is no longer "
                    "loaded; its probabilities are in the log"
                },
                410,
            )
        reasons = chooser.explain(
            impression.viewer_context or {}, list(impression.candidate_attributes)
        )
        shown = impression.candidate_ids.index(impression.chosen_id)
        return {
            "summary": in_plain_words(
                impression.viewer_context or {},
                impression.candidate_attributes[shown],
                reasons[shown].contributions,
                probability=impression.propensity,
                best=max(r.probability for r in reasons),
            ),
            "impression_id": impression.impression_id,
            "policy_version": impression.policy_version,
            "chosen_id": impression.chosen_id,
            "probability": impression.propensity,
            "viewer_context": impression.viewer_context,
            "candidates": [
                {
                    "candidate_id": candidate_id,
                    "probability": reason.probability,
                    "score": reason.score,
                    "exploration": reason.exploration,
                    "because": [{"term": t, "value": v} for t, v in reason.contributions],
                }
                for candidate_id, reason in zip(impression.candidate_ids, reasons, strict=True)
            ],
        }

    @app.get("/health")
    def health() -> Any:
        impressions, plays = store.counts()
        return {
            "status": "ok",
            "policy_version": policy.current()[1],
            "titles": len(pool.titles),
            "candidates": pool.size,
            "impressions": impressions,
            "plays": plays,
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Any:
        impressions, plays = store.counts()
        log_size.labels("impressions").set(impressions)
        log_size.labels("plays").set(plays)
        for table, count in zip(
            ("events", "profiles", "opt_outs"), store.behaviour_counts(), strict=True
        ):
            log_size.labels(table).set(count)
        version_gauge.clear()
        version_gauge.labels(policy.current()[1]).set(1)
        reloads.set(policy.reloads)
        return PlainTextResponse(generate_latest(registry).decode(), media_type="text/plain")

    return app


def serve(
    pool: CandidatePool,
    store: Store,
    policy: LivePolicy,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    titles: Titles | None = None,
    retention_days: float = DEFAULT_RETENTION_DAYS,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the service until SIGINT or SIGTERM (requests in flight are finished)."""
    import uvicorn
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    # Requests run in a thread pool; a multi-threaded BLAS inside each of them
    # only fights the others for the cores (2.6-4.2x slower on 2 threads here).
    threadpool_limits(1)
    app = create_app(pool, store, policy, titles=titles, retention_days=retention_days)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, so asyncio turns Nagle off on each connection: without
    # it a response sent in two writes waits for the client's delayed ACK (40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening before uvicorn starts: a client that connects as soon as the
        # address is printed waits in the backlog instead of being refused.
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise ThumbselError(f"cannot listen on {host}:{port} ({error.strerror})") from None
    address = f"http://{host}:{sock.getsockname()[1]}"
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(address)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
