"""The operator process's state, shared by every handler (kopf's memo): settings, AWS clients and the two-class
worker pool, the lock per object while in use, a restart's deferred resumes, each object's periodic ticks, Events,
readiness, and one controller per kind it serves."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import kopf

from ecr_operator.core import metrics, ratelimit
from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.kind import C, Controller, Kind
from ecr_operator.core.settings import Settings
from ecr_operator.runtime.events import EventRecorder
from ecr_operator.runtime.kinds import KINDS
from ecr_operator.runtime.locks import ObjectLocks
from ecr_operator.runtime.periodic import Cadence, Ticks
from ecr_operator.runtime.probes import Check, Readiness
from ecr_operator.runtime.resume import DeferredResumes, Pass
from ecr_operator.runtime.scheduler import Priority, PriorityExecutor, priority_of

T = TypeVar("T")


def ticks_for(kind: Kind[Any], settings: Settings) -> Ticks:
    """The cadence of the kind's one timer per object: its resync and its own periodic job (periodic.py).

    With an events queue, a kind whose objects AWS's events name ticks at the fallback interval and passes at the
    (lengthened) intervals, or at every fallback interval while the queue cannot be read; a kind the events do not
    serve keeps resyncing at the interval it would have without a queue (at most the fallback's)."""
    timer = kind.timer
    resync = settings.resync_seconds
    periodic = resync if timer is None else timer.interval(settings)
    if not settings.events_queue_url:
        return Ticks(Cadence.of(resync, periodic))
    most = settings.events_fallback_seconds
    fallback = Cadence.of(min(resync, most), min(periodic, most))
    if not kind.events:
        return Ticks(fallback)
    return Ticks(fallback.lengthened(resync, periodic), fallback=fallback)


def cadence(kind: Kind[Any], settings: Settings) -> Cadence:
    """The tick of the kind's one timer per object and its passes' intervals (:func:`ticks_for`)."""
    return ticks_for(kind, settings).cadence


async def _deferred(*, deferred: Pass, **kwargs: Any) -> None:
    """A deferred resume: the runner's pass it was deferred with."""
    await deferred(**kwargs)


@dataclass
class Runtime:
    """Shared by all handlers (kopf's memo)."""

    settings: Settings
    kopf_settings: kopf.OperatorSettings = field(default_factory=kopf.OperatorSettings)
    """For the API calls made outside kopf's own patching (status checkpoints, exports, listings)."""
    kinds: Sequence[Kind[Any]] = KINDS
    clients: ClientFactory = field(init=False)
    """AWS clients per (account role, region), with the rate limits of the settings."""
    executor: PriorityExecutor = field(init=False)
    """The AWS thread pool: interactive passes first (scheduler.py)."""
    locks: ObjectLocks = field(default_factory=ObjectLocks)
    events: EventRecorder = field(default_factory=EventRecorder)
    """Every Event the operator posts: one per (object, type, reason), counted (events.py)."""
    background: list[asyncio.Task[None]] = field(default_factory=list)
    """Tasks that live as long as the operator (the readiness checks)."""
    readiness: Readiness = field(default_factory=lambda: Readiness(interval=10.0))
    checks: dict[str, Check] = field(default_factory=dict)
    """The readiness checks (probes.py): the API server's and AWS's, and the events queue's when there is one."""
    resumes: DeferredResumes = field(init=False)
    """A restart's resume passes, run after kopf's handler returned (resume.py)."""
    ticks: dict[str, Ticks] = field(init=False)
    """Kind name -> which periodic passes each of its objects' one timer owes (periodic.py)."""
    controllers: dict[str, Controller] = field(init=False)
    """Kind name -> its controller, for the kinds this process serves."""
    resource_metrics: metrics.ResourceMetrics = field(init=False)
    """The gauges of every served object's status, fed by the watch (watched.py)."""

    def __post_init__(self) -> None:
        self.clients = ClientFactory.from_settings(self.settings)
        self.executor = PriorityExecutor(self.settings.max_workers)
        self.resumes = DeferredResumes(_deferred, concurrency=2 * self.settings.max_workers, hold=self.lock)
        served = [kind for kind in self.kinds if kind.served(self.settings)]
        self.ticks = {kind.crd.kind: ticks_for(kind, self.settings) for kind in served}
        self.controllers = {kind.crd.kind: kind.controller(self.settings, self.clients) for kind in served}
        self.resource_metrics = metrics.ResourceMetrics(self.settings.per_resource_findings_metrics)

    def controller(self, kind: Kind[C]) -> C:
        return cast(C, self.controllers[kind.crd.kind])

    def lock(self, uid: str) -> contextlib.AbstractAsyncContextManager[None]:
        # Create/update, resume, the periodic timer and delete of one object must never overlap.
        return self.locks.hold(uid)

    async def run(self, fn: Callable[..., T], /, *args: Any, kind: str = "update", **kwargs: Any) -> T:
        """``fn`` in the AWS thread pool, in a copy of this context (kopf's API credentials live there), with the
        priority of its ``kind`` of pass (scheduler.py: create, update, delete, event go first; background passes
        also yield their place in the rate limiter's queues)."""
        context = contextvars.copy_context()
        context.run(ratelimit.YIELDING.set, priority_of(kind) is Priority.BACKGROUND)

        def started() -> T:
            metrics.WAITING.dec()
            return context.run(fn, *args, **kwargs)

        metrics.IN_FLIGHT.inc()
        metrics.WAITING.inc()
        try:
            return await asyncio.wrap_future(self.executor.submit(kind, started))
        finally:
            metrics.IN_FLIGHT.dec()
