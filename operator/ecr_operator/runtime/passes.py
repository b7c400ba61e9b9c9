"""The pass runner, once for every kind: kopf's handler calls in, the kind's controller judges and runs the pass
under the object's lock, and the runner writes the report, posts its Events, counts it, and maps an error to
kopf's retry semantics.

Each pass has a kind of work that sets its priority in the AWS pool (scheduler.py): a create, an update and a delete
are interactive; the resync, the kind's timer and a restart's resume are background. Resumes are deferred
(resume.py): kopf's worker is freed at once and a change pass of the object supersedes its pending resume. The
resync and the kind's timer share one kopf timer per object (periodic.py)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import kopf

from ecr_operator.core import metrics
from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.conditions import Report, now
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.kind import EVENT, Kind, Subject, Timer
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import Settings
from ecr_operator.runtime import kube
from ecr_operator.runtime.process import Runtime

Logger = logging.Logger | logging.LoggerAdapter[Any]
T = TypeVar("T")

MAX_BACKOFF_SECONDS = 300.0
CHANGES = ("create", "update")
"""The passes kopf runs for a change of the object (and retries with its backoff)."""


def backoff(retry: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 2.0 ** min(retry, 10) * 2))


def subject_of(body: kopf.Body, cause: str | None = None) -> Subject:
    metadata = body.get("metadata", {})
    return Subject(
        uid=str(metadata.get("uid", "")),
        name=str(metadata.get("name", "")),
        namespace=metadata.get("namespace"),
        generation=metadata.get("generation"),
        spec=body.get("spec", {}),
        status=body.get("status", {}),
        annotations=metadata.get("annotations", {}),
        created=str(metadata.get("creationTimestamp") or ""),
        cause=cause,
    )


@dataclass
class PassHost:
    """The runtime as one pass of one object sees it (``core.kind.Host``)."""

    runtime: Runtime
    resource: kopf.Resource
    subject: Subject
    logger: Logger
    work: str
    """The kind of work the pass is (create, update, delete, resync, resume, or the kind's timer's id): its
    priority in the AWS pool."""
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def clients(self) -> ClientFactory:
        return self.runtime.clients

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await self.runtime.run(fn, *args, kind=self.work, **kwargs)

    def record(self, fields: Mapping[str, Any], what: str) -> None:
        try:
            kube.patch_status_from_thread(
                self.loop,
                self.resource,
                self.subject.namespace,
                self.subject.name,
                fields,
                self.runtime.kopf_settings,
                self.logger,
            )
        except Exception as exc:
            raise OperatorError(Reason.STATUS_NOT_WRITABLE, f"could not record {what}: {exc!r}") from exc

    async def list_objects(self) -> list[Mapping[str, Any]]:
        return await kube.list_objects(self.resource, self.runtime.kopf_settings, self.logger)

    async def read_configmap(self, name: str) -> Mapping[str, Any] | None:
        return await kube.read_configmap(str(self.subject.namespace), name, self.runtime.kopf_settings, self.logger)

    async def write_configmap(self, name: str, operation: Literal["create", "patch"], body: Mapping[str, Any]) -> None:
        namespace = str(self.subject.namespace)
        await kube.write_configmap(namespace, name, operation, body, self.runtime.kopf_settings, self.logger)


@dataclass(frozen=True)
class Call:
    """One call of a kind's kopf handler: the arguments of kopf's that the runner uses."""

    kind: Kind[Any]
    body: kopf.Body
    patch: kopf.Patch
    memo: Runtime
    logger: Logger
    resource: kopf.Resource
    retry: int = 0
    reason: str | None = None

    @classmethod
    def of(cls, kind: Kind[Any], kwargs: Mapping[str, Any]) -> Call:
        return cls(
            kind,
            body=kwargs["body"],
            patch=kwargs["patch"],
            memo=kwargs["memo"],
            logger=kwargs["logger"],
            resource=kwargs["resource"],
            retry=kwargs.get("retry", 0),
            reason=kwargs.get("reason"),
        )

    @property
    def controller(self) -> Any:
        return self.memo.controller(self.kind)

    def host(self, subject: Subject, work: str) -> PassHost:
        return PassHost(self.memo, self.resource, subject, self.logger, work)

    def write(self, subject: Subject, written: Report) -> None:
        """The report into the object's status (kopf patches it when the handler returns), and its Events."""
        self.patch.status.update(written.status)
        for event in written.events:
            self.memo.events.record(self.body, type=event.type, reason=event.reason, message=event.message)


async def reconcile(kind: Kind[Any], resync: bool = False, work: str | None = None, **kwargs: Any) -> None:
    """One pass: create, update, resume, resync or an AWS event's; ``work`` is "resync" or "resume" (background),
    "event" (interactive: eventqueue.py, a drift pass reported as a resync), else the change's ("create",
    "update")."""
    call = Call.of(kind, kwargs)
    subject = subject_of(call.body, call.reason)
    work = work or ("create" if call.reason == kopf.Reason.CREATE else "update")
    if work in CHANGES:
        call.memo.resumes.supersede(subject.uid)
    trigger = "event" if work == EVENT else "resync" if resync else "change"
    counted = kind.metrics
    started = time.monotonic()
    ticks = call.memo.ticks[kind.crd.kind]
    try:
        async with call.memo.lock(subject.uid):
            passed = await call.controller.reconcile(subject, call.host(subject, work), resync=resync)
    except OperatorError as error:
        if work in CHANGES:
            ticks.change_passed(subject.uid, retried=error.retryable)
        counted.passes.labels(trigger, metrics.failed_result(error.retryable)).inc()
        if counted.seconds is not None:
            counted.seconds.labels(trigger).observe(time.monotonic() - started)
        call.logger.warning("not ready: %s: %s", error.reason, error.message)
        call.write(subject, call.controller.report_failure(error, subject, now()))
        if error.retryable:
            raise kopf.TemporaryError(error.message, delay=backoff(call.retry)) from error
        raise kopf.PermanentError(f"{error.reason}: {error.message}") from error

    if work in CHANGES:
        ticks.change_passed(subject.uid, retried=False)
    counted.passes.labels(trigger, passed.result).inc()
    if counted.seconds is not None:
        counted.seconds.labels(trigger).observe(time.monotonic() - started)
    metrics.count_writes(passed.applied, trigger, part=counted.part)
    if counted.in_sync is not None and not passed.planned:
        counted.in_sync.labels(trigger).inc()
    for action in passed.applied:
        call.logger.info("%s: %s", Reason.DRIFT_CORRECTED if resync else Reason.UPDATED, action.summary)
    call.write(subject, passed.report)


async def periodic(kind: Kind[Any], **kwargs: Any) -> None:
    """The object's one timer (periodic.py): the drift resync and the kind's own timer, each on the ticks it is due
    (not while the object is being deleted); a failed resync is retried by kopf with its backoff."""
    if kwargs["meta"].get("deletionTimestamp"):
        return
    memo: Runtime = kwargs["memo"]
    ticks = memo.ticks[kind.crd.kind]
    due = ticks.retry() if kwargs.get("retry") else ticks.tick(str(kwargs["meta"].get("uid", "")))
    try:
        if due.resync:
            await reconcile(kind, resync=True, work="resync", **kwargs)
    finally:
        if due.timer and kind.timer is not None:  # after the resync: what the timer reads is newer
            await tick(kind, kind.timer, **kwargs)


async def resume(kind: Kind[Any], **kwargs: Any) -> None:
    """An operator (re)start's pass over an existing object: a resync where the kind says so (it then shares the
    resync's batched reads; they are taken by this process, so newer than anything an earlier one wrote).

    Deferred (resume.py): kopf's worker for the object is freed at once for the creates and edits that arrive during
    a restart; the pass runs as background work and writes status itself."""
    deferred = functools.partial(reconcile, kind, resync=kind.resume_resyncs, work="resume")
    kwargs["memo"].resumes.defer({**kwargs, "deferred": deferred})


async def delete(kind: Kind[Any], **kwargs: Any) -> None:
    """The AWS side of a deleted object; the finalizer stays until it is gone (or the kind lets it go)."""
    call = Call.of(kind, kwargs)
    subject = subject_of(call.body)
    call.memo.resumes.supersede(subject.uid)
    try:
        async with call.memo.lock(subject.uid):
            deleted = await call.controller.delete(subject, call.host(subject, "delete"))
    except OperatorError as error:
        call.logger.warning("delete blocked: %s: %s", error.reason, error.message)
        call.write(subject, call.controller.report_failure(error, subject, now()))
        delay = kind.delete_retry_seconds(error)
        raise kopf.TemporaryError(error.message, delay=backoff(call.retry) if delay is None else delay) from error
    finally:
        call.memo.ticks[kind.crd.kind].forget(subject.uid)
    for event in deleted.events:
        call.logger.warning("%s: %s", event.reason, event.message)
        call.memo.events.record(call.body, type=event.type, reason=event.reason, message=event.message)
    call.memo.events.forget(subject.uid)
    kind.forget(call.controller, subject)
    if deleted.skipped:
        call.logger.info("deleted the resource only: %s", deleted.skipped)
    for action in deleted.applied:
        call.logger.info("deleted: %s", action.summary)


async def tick(kind: Kind[Any], timer: Timer[Any], work: str | None = None, **kwargs: Any) -> None:
    """A kind's own timer (on the ticks it is due, periodic.py), or its job run for an AWS event (``work``
    "event": interactive); it writes what the timer reports."""
    call = Call.of(kind, kwargs)
    subject = subject_of(call.body)
    async with call.memo.lock(subject.uid):
        written = await timer.run(call.controller, subject, call.host(subject, work or timer.id))
    if written is not None:
        call.write(subject, written)


def namespace_event(type: str | None, name: str, annotations: kopf.Annotations, memo: Runtime, **_: Any) -> None:
    """A Namespace's annotations, for the kinds that read them (``Kind.namespace``).

    Not a kopf index on purpose: kopf holds every handler until all indexes are filled, and with a bounded
    number of workers (settings.queueing.worker_limit) more Namespaces than workers never finish filling.
    """
    for kind in memo.kinds:
        if kind.crd.kind in memo.controllers and kind.namespaces(memo.settings):
            kind.namespace(memo.controller(kind), name, None if type == "DELETED" else dict(annotations))
