"""What a kind gives the runtime: its CRD, its pass counters, and a controller that judges, runs and reports one
pass and one delete of an object. The runtime does the rest, once for every kind: kopf registration, the lock per
object, AWS worker threads, status writes, Events, metrics, and the error -> retry mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from logging import Logger, LoggerAdapter
from typing import Any, Generic, Literal, Protocol, TypeVar

from ecr_operator.core.actions import Action
from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.conditions import Event, Report
from ecr_operator.core.crd import CrdDescription
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.metrics import PassMetrics
from ecr_operator.core.settings import Settings

T = TypeVar("T")

EVENT = "event"
"""The cause (``Subject.cause``), trigger and work of a pass an AWS event started (``runtime/eventqueue.py``)."""


@dataclass(frozen=True)
class Subject:
    """The object a pass is for, as kopf delivered it."""

    uid: str
    name: str
    namespace: str | None
    generation: int | None
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    annotations: Mapping[str, str]
    created: str = ""
    """metadata.creationTimestamp (RFC 3339, UTC)."""
    cause: str | None = None
    """What started the pass: kopf's reason (create, update, resume), ``event`` for an AWS event's pass
    (``runtime/eventqueue.py``: a drift pass that must read AWS afresh), None for a timer."""


class Host(Protocol):
    """What the runtime offers a pass: the process's settings and AWS clients, its worker threads, and the
    Kubernetes calls a pass makes before it ends."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clients(self) -> ClientFactory: ...

    @property
    def logger(self) -> Logger | LoggerAdapter[Any]: ...

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn`` in an AWS worker thread (boto3 is synchronous), with the priority of the pass it serves: a create,
        update or delete goes before resyncs, resumes and timers (``runtime/scheduler.py``)."""
        ...

    def record(self, fields: Mapping[str, Any], what: str) -> None:
        """Merge ``fields`` into the object's status now, from the worker thread, before the pass goes on.

        Raises StatusNotWritable ("could not record ``what``") when the API server does not take it."""
        ...

    async def list_objects(self) -> list[Mapping[str, Any]]:
        """Every object of this kind, read fresh from the API server."""
        ...

    async def read_configmap(self, name: str) -> Mapping[str, Any] | None:
        """A ConfigMap of the object's namespace, or None when there is none."""
        ...

    async def write_configmap(self, name: str, operation: Literal["create", "patch"], body: Mapping[str, Any]) -> None:
        """Create a ConfigMap in the object's namespace, or merge-patch it. Raises OperatorError: AlreadyExists
        or InternalError (retried) when the API server refuses."""
        ...


@dataclass(frozen=True)
class Passed:
    """A pass that reached AWS: what it did, for the counters and the log, and what to write."""

    report: Report
    applied: Sequence[Action] = ()
    planned: Sequence[Action] = ()
    problems: Sequence[OperatorError] = ()
    observe_only: bool = False

    @property
    def result(self) -> str:
        """The ``result`` label of the pass counters."""
        if self.problems:
            return "problem"
        if self.observe_only:
            return "observe_only"
        return "applied" if self.applied else "in_sync"


@dataclass(frozen=True)
class Deleted:
    """A delete that ended: the AWS writes it made, or why it made none, and Events to post."""

    applied: Sequence[Action] = ()
    skipped: str | None = None
    """Why nothing (or not everything) was deleted in AWS, for the log."""
    events: Sequence[Event] = field(default_factory=tuple)


class Controller(Protocol):
    """One kind's passes in one operator process (it keeps what the kind remembers between passes)."""

    async def reconcile(self, subject: Subject, host: Host, *, resync: bool) -> Passed:
        """A create, update or resync pass; raises OperatorError when it cannot go on."""
        ...

    def report_failure(self, error: OperatorError, subject: Subject, timestamp: str) -> Report:
        """The status and Events of a pass, or a delete, that stopped at ``error`` (pure)."""
        ...

    async def delete(self, subject: Subject, host: Host) -> Deleted:
        """The AWS side of a deleted object; raises OperatorError while the finalizer must stay."""
        ...


C = TypeVar("C", bound=Controller)


@dataclass(frozen=True)
class Timer(Generic[C]):
    """A kind's periodic job besides the resync. It shares the object's one kopf timer with the resync (each runs on
    the ticks it is due, at offsets fixed per object: ``runtime/periodic.py``), never runs while the object is being
    deleted, and its AWS calls are background work."""

    id: str
    """Names the job's work in the AWS pool's queue-wait metric (``runtime/scheduler.py``)."""
    interval: Callable[[Settings], float]
    run: Callable[[C, Subject, Host], Awaitable[Report | None]]
    """What to write to the object, if anything."""


@dataclass(frozen=True)
class Kind(Generic[C]):
    """A kind, for the runtime: adding one is a package that builds this and one line in ``runtime/kinds.py``."""

    crd: CrdDescription
    controller: Callable[[Settings, ClientFactory], C]
    """Makes the kind's controller for one operator process."""
    metrics: PassMetrics
    handler_prefix: str = ""
    """Before every kopf handler id (kopf keeps progress per handler id: ids never change)."""
    resume_resyncs: bool = False
    """A restart's pass over an existing object counts as a resync (and shares the resync's batched reads)."""
    deletion_unblocked: Callable[[Mapping[str, Any]], bool] | None = None
    """When set, two delete handlers: one for specs whose delete nothing can block (``spec -> True``), so that
    changing the spec to such a one retries a blocked delete at once (kopf keeps a delay per handler id)."""
    delete_retry_seconds: Callable[[OperatorError], float | None] = lambda _: None
    """How soon a delete stopped at an error is retried; None: the usual backoff."""
    timer: Timer[C] | None = None
    """At most one periodic job besides the resync: every kopf timer costs each object ~7 KiB (docs/fleet.md)."""
    events: bool = False
    """AWS's events name its objects (``runtime/eventqueue.py``): with an events queue its resync and timer are a
    safety net at their lengthened intervals, and back to the fallback interval while the queue cannot be read."""
    served: Callable[[Settings], bool] = lambda _: True
    """Whether this operator process serves the kind (settings.manage_registries for the EcrRegistry)."""
    namespaces: Callable[[Settings], bool] = lambda _: False
    """Whether the kind reads Namespace annotations: the runtime then watches Namespaces and tells ``namespace``."""
    namespace: Callable[[C, str, Mapping[str, str] | None], None] = lambda *_: None
    """A Namespace's annotations changed (None: it is gone)."""
    forget: Callable[[C, Subject], None] = lambda *_: None
    """The object is gone: drop what the controller remembers of it."""
