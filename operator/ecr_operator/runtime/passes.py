"""The pass runner, once for every kind: kopf's handler calls in, the kind's controller judges and runs the pass
under the object's lock, and the runner writes the report, posts its Events, counts it, and maps an error to
kopf's retry semantics."""

from __future__ import annotations

import asyncio
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
from ecr_operator.core.kind import Kind, Subject, Timer
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import Settings
from ecr_operator.runtime import kube
from ecr_operator.runtime.process import Runtime

Logger = logging.Logger | logging.LoggerAdapter[Any]
T = TypeVar("T")

MAX_BACKOFF_SECONDS = 300.0


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
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def clients(self) -> ClientFactory:
        return self.runtime.clients

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await self.runtime.run(fn, *args, **kwargs)

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

    def host(self, subject: Subject) -> PassHost:
        return PassHost(self.memo, self.resource, subject, self.logger)

    def write(self, subject: Subject, written: Report) -> None:
        """The report into the object's status (kopf patches it when the handler returns), and its Events."""
        self.patch.status.update(written.status)
        self.kind.written(self.controller, subject, written.status)
        for event in written.events:
            self.memo.events.record(self.body, type=event.type, reason=event.reason, message=event.message)


async def reconcile(kind: Kind[Any], resync: bool = False, **kwargs: Any) -> None:
    """One pass: create, update, resume or resync."""
    call = Call.of(kind, kwargs)
    subject = subject_of(call.body, call.reason)
    trigger = "resync" if resync else "change"
    counted = kind.metrics
    started = time.monotonic()
    try:
        async with call.memo.lock(subject.uid):
            passed = await call.controller.reconcile(subject, call.host(subject), resync=resync)
    except OperatorError as error:
        counted.passes.labels(trigger, "error").inc()
        if counted.seconds is not None:
            counted.seconds.labels(trigger).observe(time.monotonic() - started)
        call.logger.warning("not ready: %s: %s", error.reason, error.message)
        call.write(subject, call.controller.report_failure(error, subject, now()))
        if error.retryable:
            raise kopf.TemporaryError(error.message, delay=backoff(call.retry)) from error
        raise kopf.PermanentError(f"{error.reason}: {error.message}") from error

    counted.passes.labels(trigger, passed.result).inc()
    if counted.seconds is not None:
        counted.seconds.labels(trigger).observe(time.monotonic() - started)
    metrics.count_writes(passed.applied, trigger, part=counted.part)
    if counted.in_sync is not None and not passed.planned:
        counted.in_sync.labels(trigger).inc()
    for action in passed.applied:
        call.logger.info("%s: %s", Reason.DRIFT_CORRECTED if resync else Reason.UPDATED, action.summary)
    call.write(subject, passed.report)


async def resync(kind: Kind[Any], **kwargs: Any) -> None:
    """The resync timer: a pass that looks for drift (not while the object is being deleted)."""
    if kwargs["meta"].get("deletionTimestamp"):
        return
    await reconcile(kind, resync=True, **kwargs)


async def resume(kind: Kind[Any], **kwargs: Any) -> None:
    """An operator (re)start's pass over an existing object: a resync where the kind says so (it then shares the
    resync's batched reads; they are taken by this process, so newer than anything an earlier one wrote)."""
    await reconcile(kind, resync=kind.resume_resyncs, **kwargs)


async def delete(kind: Kind[Any], **kwargs: Any) -> None:
    """The AWS side of a deleted object; the finalizer stays until it is gone (or the kind lets it go)."""
    call = Call.of(kind, kwargs)
    subject = subject_of(call.body)
    try:
        async with call.memo.lock(subject.uid):
            deleted = await call.controller.delete(subject, call.host(subject))
    except OperatorError as error:
        call.logger.warning("delete blocked: %s: %s", error.reason, error.message)
        call.write(subject, call.controller.report_failure(error, subject, now()))
        delay = kind.delete_retry_seconds(error)
        raise kopf.TemporaryError(error.message, delay=backoff(call.retry) if delay is None else delay) from error
    finally:
        call.memo.locks.pop(subject.uid, None)
    for event in deleted.events:
        call.logger.warning("%s: %s", event.reason, event.message)
        call.memo.events.record(call.body, type=event.type, reason=event.reason, message=event.message)
    call.memo.events.forget(subject.uid)
    kind.forget(call.controller, subject)
    if deleted.skipped:
        call.logger.info("deleted the resource only: %s", deleted.skipped)
    for action in deleted.applied:
        call.logger.info("deleted: %s", action.summary)


async def tick(kind: Kind[Any], timer: Timer[Any], **kwargs: Any) -> None:
    """A kind's own timer (not while the object is being deleted); it writes what the timer reports."""
    if kwargs["meta"].get("deletionTimestamp"):
        return
    call = Call.of(kind, kwargs)
    subject = subject_of(call.body)
    async with call.memo.lock(subject.uid):
        written = await timer.run(call.controller, subject, call.host(subject))
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
