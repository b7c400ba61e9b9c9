"""Kubernetes Events, aggregated the way Kubernetes' own controllers do it (client-go's EventCorrelator).

A resource stuck at one problem is seen again at every resync (and every 20 s of a blocked delete). Instead of a
new core/v1 Event each time, the operator keeps ONE Event per (object, type, reason): the first occurrence
creates it, later ones patch its ``count``, ``lastTimestamp`` and ``message`` -- ``kubectl describe`` shows
"(x10 over 30s)" and the latest message. A different message under the same reason (say, a different missing
tag) updates that Event rather than making another: the reason is what users filter and alert on, the message
says what is wrong now.

The cache of Events posted is in memory and bounded (least recently used out), so a restarted operator, or a key
evicted from the cache, starts a new Event; so does an Event the API server has expired meanwhile (its
``--event-ttl``, 1 h by default: the patch answers 404 and the Event is created again, from count 1).

Posting never blocks a handler and never fails a reconcile: :meth:`EventRecorder.record` schedules the request
on the event loop and returns; errors are logged. The requests go through kopf's own API client (``kube.py``),
with the credentials of the operator's login handler (kopf's vault, re-authenticated on 401), so the operator
needs no other Kubernetes client; RBAC: ``events`` create and patch.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import kopf

from ecr_operator.runtime import kube

logger = logging.getLogger(__name__)

COMPONENT = "ecr-operator"
MAX_MESSAGE_LENGTH = 1024
CACHE_SIZE = 4096
"""Distinct (object, type, reason) remembered; client-go's correlator keeps as many."""
MAX_PENDING = 10_000
"""Events waiting to be posted; beyond this (an API server down for long) new ones are dropped and logged."""
MAX_NAME_LENGTH = 253

EventKey = tuple[str, str, str]
"""(uid of the involved object, type, reason)."""


class EventGoneError(Exception):
    """The Event to patch no longer exists (expired by the API server's --event-ttl, or deleted)."""


class EventSink(Protocol):
    """Where Events go: the core/v1 API of the cluster."""

    async def create(self, namespace: str, event: Mapping[str, Any]) -> None: ...

    async def patch(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Raises :class:`EventGoneError` on 404."""


class KopfEventSink:
    """core/v1 Events through kopf's API client (its session, credentials and retries)."""

    def __init__(self, backoffs: Iterable[float] = (1, 2, 5)) -> None:
        self.settings = kopf.OperatorSettings()
        self.backoffs = tuple(backoffs)

    async def create(self, namespace: str, event: Mapping[str, Any]) -> None:
        url = f"/api/v1/namespaces/{namespace}/events"
        await kube.call("post", url, self.settings, logger, event, self.backoffs)

    async def patch(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        try:
            url = f"/api/v1/namespaces/{namespace}/events/{name}"
            await kube.call("patch", url, self.settings, logger, patch, self.backoffs)
        except kube.NotFound as exc:
            raise EventGoneError(name) from exc


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shorten(message: str) -> str:
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    half = (MAX_MESSAGE_LENGTH - 3) // 2
    return f"{message[:half]}...{message[-half:]}"


@dataclass
class _Aggregate:
    """One Event object of this process: its name, how often it was seen, whether the API server has it."""

    name: str
    count: int = 0
    first_timestamp: str = ""
    exists: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Create, then patches, in order (asyncio.Lock wakes waiters first come, first served)."""


class EventRecorder:
    """Posts Normal/Warning Events for objects, one Event per (object, type, reason), counted."""

    def __init__(
        self,
        sink: EventSink | None = None,
        *,
        component: str = COMPONENT,
        instance: str | None = None,
        cache_size: int = CACHE_SIZE,
        concurrency: int = 4,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.sink: EventSink = sink if sink is not None else KopfEventSink()
        self.component = component
        self.instance = instance or os.environ.get("HOSTNAME") or os.uname().nodename
        self.cache_size = cache_size
        self.max_pending = max_pending
        self._nonce = secrets.token_hex(8)  # this process's names never collide with another's (restart, replica)
        self._serial = 0
        self._aggregates: OrderedDict[EventKey, _Aggregate] = OrderedDict()
        self._pending: set[asyncio.Task[None]] = set()
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None

    def record(self, body: kopf.Body, *, type: str, reason: str, message: str) -> None:
        """Post (or count) an Event for the object ``body``, in the background; call from the event loop."""
        if len(self._pending) >= self.max_pending:
            logger.warning("dropped event %s %s: %d events are waiting to be posted", type, reason, len(self._pending))
            return
        reference = dict(kopf.build_object_reference(body))
        task = asyncio.get_running_loop().create_task(self._post(reference, type, reason, _shorten(message)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def forget(self, uid: str) -> None:
        """The object is gone: its Events are not counted any more (they expire on the API server)."""
        for key in [key for key in self._aggregates if key[0] == uid]:
            del self._aggregates[key]

    async def flush(self) -> None:
        """Wait until every event recorded so far is posted (or failed)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _aggregate(self, reference: Mapping[str, Any], key: EventKey) -> _Aggregate:
        aggregate = self._aggregates.get(key)
        if aggregate is None:
            self._serial += 1
            digest = hashlib.sha256(f"{self._nonce}/{self._serial}/{'/'.join(key)}".encode()).hexdigest()[:16]
            name = str(reference.get("name") or "object")[: MAX_NAME_LENGTH - len(digest) - 1]
            aggregate = self._aggregates[key] = _Aggregate(name=f"{name}.{digest}")
            while len(self._aggregates) > self.cache_size:
                self._aggregates.popitem(last=False)
        self._aggregates.move_to_end(key)
        return aggregate

    async def _post(self, reference: dict[str, Any], type: str, reason: str, message: str) -> None:
        key = (str(reference.get("uid") or reference.get("name")), type, reason)
        namespace = str(reference.get("namespace") or "default")
        reference["namespace"] = namespace
        aggregate = self._aggregate(reference, key)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        try:
            async with aggregate.lock, self._slots:
                timestamp = _now()
                if aggregate.exists:
                    try:
                        patch = {"count": aggregate.count + 1, "lastTimestamp": timestamp, "message": message}
                        await self.sink.patch(namespace, aggregate.name, patch)
                        aggregate.count += 1
                        return
                    except EventGoneError:
                        aggregate.exists, aggregate.count = False, 0
                event = self._event(reference, aggregate.name, type, reason, message, timestamp)
                await self.sink.create(namespace, event)
                aggregate.exists, aggregate.count, aggregate.first_timestamp = True, 1, timestamp
        except Exception as exc:  # events are auxiliary: never fail a reconcile because of one
            logger.warning(
                "could not post event %s %s for %s/%s: %r", type, reason, namespace, reference.get("name"), exc
            )

    def _event(
        self, reference: Mapping[str, Any], name: str, type: str, reason: str, message: str, timestamp: str
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": reference["namespace"]},
            "involvedObject": dict(reference),
            "type": type,
            "reason": reason,
            "message": message,
            "count": 1,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance[:128],
        }
