"""The operator process's state, shared by every handler (kopf's memo): settings, AWS clients and worker threads,
the lock per object, Events, readiness, and one controller per kind it serves."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import kopf

from ecr_operator.core import metrics
from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.kind import C, Controller, Kind
from ecr_operator.core.settings import Settings
from ecr_operator.runtime.events import EventRecorder
from ecr_operator.runtime.kinds import KINDS
from ecr_operator.runtime.probes import Readiness

T = TypeVar("T")


@dataclass
class Runtime:
    """Shared by all handlers (kopf's memo)."""

    settings: Settings
    kopf_settings: kopf.OperatorSettings = field(default_factory=kopf.OperatorSettings)
    """For the API calls made outside kopf's own patching (status checkpoints, exports, listings)."""
    kinds: Sequence[Kind[Any]] = KINDS
    clients: ClientFactory = field(init=False)
    """AWS clients per (account role, region), with the rate limits of the settings."""
    executor: ThreadPoolExecutor = field(init=False)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    events: EventRecorder = field(default_factory=EventRecorder)
    """Every Event the operator posts: one per (object, type, reason), counted (events.py)."""
    background: list[asyncio.Task[None]] = field(default_factory=list)
    """Tasks that live as long as the operator (the readiness checks)."""
    readiness: Readiness = field(default_factory=lambda: Readiness(interval=10.0))
    controllers: dict[str, Controller] = field(init=False)
    """Kind name -> its controller, for the kinds this process serves."""

    def __post_init__(self) -> None:
        self.clients = ClientFactory.from_settings(self.settings)
        self.executor = ThreadPoolExecutor(max_workers=self.settings.max_workers, thread_name_prefix="aws")
        self.controllers = {
            kind.crd.kind: kind.controller(self.settings, self.clients)
            for kind in self.kinds
            if kind.served(self.settings)
        }

    def controller(self, kind: Kind[C]) -> C:
        return cast(C, self.controllers[kind.crd.kind])

    def lock(self, uid: str) -> asyncio.Lock:
        # Create/update, resume, the timers and delete of one object must never overlap.
        return self.locks.setdefault(uid, asyncio.Lock())

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn`` in the AWS thread pool, in a copy of this context (kopf's API credentials live there)."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()

        def started() -> T:
            metrics.WAITING.dec()
            return context.run(fn, *args, **kwargs)

        metrics.IN_FLIGHT.inc()
        metrics.WAITING.inc()
        try:
            return await loop.run_in_executor(self.executor, started)
        finally:
            metrics.IN_FLIGHT.dec()
