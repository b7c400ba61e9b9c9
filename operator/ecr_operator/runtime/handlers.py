"""Thin kopf wiring: parse the body, call the reconciler, write status, map errors to retry semantics."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import kopf

from ecr_operator.core import metrics
from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.kube import api_server_version, patch_status_from_thread, write_export
from ecr_operator.core.namespaces import NamespacePolicies
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import Settings
from ecr_operator.core.snapshot import Snapshots
from ecr_operator.repository.adoption import Adoption
from ecr_operator.repository.export import export_data
from ecr_operator.repository.manifest import annotation_flag, desired_for, request_for
from ecr_operator.repository.parts.key import KeyCreation
from ecr_operator.repository.reconcile import AdoptedThenFailed, Checkpoint, Outcome, delete, inventory, reconcile
from ecr_operator.repository.render import Desired
from ecr_operator.repository.spec import (
    GROUP,
    OBSERVE_ONLY_ANNOTATION,
    PLURAL,
    VERSION,
)
from ecr_operator.repository.status import Report, now, report, report_failure, report_inventory
from ecr_operator.runtime.events import EventRecorder
from ecr_operator.runtime.probes import Check, Readiness, ReadinessChecker

if TYPE_CHECKING:  # eventqueue runs the passes of this module
    from ecr_operator.runtime.eventqueue import EventQueue

FINALIZER = f"{GROUP}/finalizer"
NOT_EMPTY_RETRY_SECONDS = 20.0
MAX_BACKOFF_SECONDS = 300.0
WORKER_IDLE_SECONDS = 0.05
"""How long kopf keeps an idle per-object worker (and its slot of queueing.worker_limit)."""

T = TypeVar("T")


@dataclass
class Runtime:
    """Shared by all handlers (kopf's memo): settings, AWS clients, the thread pool, per-object locks."""

    settings: Settings
    kopf_settings: kopf.OperatorSettings = field(default_factory=kopf.OperatorSettings)
    """For the API calls made outside kopf's own patching (status checkpoints)."""
    clients: ClientFactory = field(init=False)
    """AWS clients per (account role, region), with the rate limits of the settings."""
    executor: ThreadPoolExecutor = field(init=False)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    snapshots: Snapshots = field(init=False)
    last_write: dict[str, float] = field(default_factory=dict)
    """time.monotonic() after each object's last AWS write: batched views older than that are not used."""
    namespaces: NamespacePolicies = field(init=False)
    """The Namespace annotations the name policy and the adoption mode read."""
    events: EventRecorder = field(default_factory=EventRecorder)
    ready_reasons: metrics.ReadyReasons = field(default_factory=metrics.ReadyReasons)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    """Tasks that live as long as the operator (the readiness checks)."""
    readiness: Readiness = field(default_factory=lambda: Readiness(interval=10.0))
    """Every Event the operator posts: one per (object, type, reason), counted (events.py)."""
    event_queue: EventQueue | None = None
    """The consumer of --events-queue-url (eventqueue.py), set by its startup handler; None without a queue."""

    def __post_init__(self) -> None:
        self.clients = ClientFactory.from_settings(self.settings)
        self.executor = ThreadPoolExecutor(max_workers=self.settings.max_workers, thread_name_prefix="aws")
        # A view serves every resync in a tenth of the timer's interval (0.5-60 s); older views are re-read.
        max_age = min(60.0, max(0.5, self.settings.resync_tick_seconds / 10))
        self.snapshots = Snapshots(self.settings.cluster_id, max_age)
        self.namespaces = NamespacePolicies(self.settings)

    def reconcile(
        self,
        uid: str,
        desired: Desired,
        adoption: Adoption,
        resync: bool,
        dry_run: bool = False,
        creation: KeyCreation | None = None,
        checkpoint: Checkpoint | None = None,
        with_inventory: bool = False,
        role_arn: str | None = None,
    ) -> Outcome:
        """One pass for one object (in a worker thread), in the account of ``role_arn`` (None: the operator's);
        resyncs share batched reads of the (account, region)."""
        clients = self.clients.for_region(desired.region, role_arn)
        view = self.snapshots.view(clients, self.last_write.get(uid, 0.0)) if resync else None
        outcome = reconcile(
            clients,
            desired,
            adoption=adoption,
            view=view,
            dry_run=dry_run,
            creation=creation,
            checkpoint=checkpoint,
            inventory=with_inventory,
        )
        if outcome.applied:
            self.last_write[uid] = time.monotonic()
        return outcome

    def lock(self, uid: str) -> asyncio.Lock:
        # Create/update, resume, the resync timer and delete of one object must never overlap.
        return self.locks.setdefault(uid, asyncio.Lock())

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
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


def backoff(retry: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 2.0 ** min(retry, 10) * 2))


def _write(memo: Runtime, patch: kopf.Patch, body: kopf.Body, written: Report) -> None:
    patch.status.update(written.status)
    metadata = body.get("metadata", {})
    ready = metrics.ready_reason(written.status)
    if ready is not None:
        memo.ready_reasons.set(str(metadata.get("uid")), *ready)
    metrics.publish_findings(str(metadata.get("namespace")), str(metadata.get("name")), written.status)
    for event in written.events:
        memo.events.record(body, type=event.type, reason=event.reason, message=event.message)


def _write_failure(
    memo: Runtime,
    patch: kopf.Patch,
    body: kopf.Body,
    status: Mapping[str, Any],
    error: OperatorError,
    generation: int | None,
) -> None:
    adopted = isinstance(error, AdoptedThenFailed)
    _write(memo, patch, body, report_failure(error, status, generation, now(), adopted=adopted))


def _key_creation(status: Mapping[str, Any]) -> KeyCreation | None:
    recorded = status.get("keyCreation") or {}
    token = recorded.get("token")
    return KeyCreation(str(token), recorded.get("keyId")) if token else None


def _checkpoint(
    memo: Runtime, resource: kopf.Resource, meta: kopf.Meta, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> Checkpoint:
    """Stores a key creation in status before the pass goes on (called from the worker thread)."""
    loop = asyncio.get_running_loop()

    def record(creation: KeyCreation) -> None:
        fields = {"keyCreation": {"token": creation.token, "keyId": creation.key_id}}
        try:
            patch_status_from_thread(loop, resource, meta.namespace, meta.name, fields, memo.kopf_settings, logger)
        except Exception as exc:
            raise OperatorError(
                Reason.STATUS_NOT_WRITABLE,
                f"could not record the key creation in status before creating it: {exc!r}",
                retryable=True,
            ) from exc

    return record


async def reconcile_handler(
    *,
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: Runtime,
    retry: int,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    resource: kopf.Resource,
    resync: bool = False,
    reason: str | None = None,
    event: bool = False,
    **_: Any,
) -> None:
    """``event``: a drift pass an AWS event triggered (eventqueue.py): reported as a resync, but never from a batched
    view, which may be older than the change the event announces."""
    namespace, name = str(meta.namespace), str(meta.name)
    generation = meta.get("generation")
    trigger = "event" if event else "resync" if resync else "change"
    started = time.monotonic()
    # Images and findings change with pushes, not specs: read them on create and spec changes (and by the
    # inventory timer), not on resyncs and resumes, so those keep their read budget; but always while status has
    # no inventory yet (e.g. an object created as the operator started is first seen in its initial listing,
    # which kopf treats as a resume).
    with_inventory = (not resync and reason in (kopf.Reason.CREATE, kopf.Reason.UPDATE)) or not status.get("images")
    try:
        granted = memo.namespaces.prefixes_of(namespace)
        request = request_for(spec, namespace, name, meta.annotations, memo.settings, granted)
        desired, observe_only = request.desired, request.observe_only
        adoption = memo.namespaces.adoption(namespace, request.adopt)
        role_arn = memo.namespaces.role_of(namespace)
        checkpoint = _checkpoint(memo, resource, meta, logger)
        async with memo.lock(str(meta.uid)):
            outcome = await memo.run(
                memo.reconcile,
                str(meta.uid),
                desired,
                adoption,
                resync and not event,
                observe_only,
                _key_creation(status),
                checkpoint,
                with_inventory,
                role_arn,
            )
    except OperatorError as error:
        metrics.PASSES.labels(trigger, "error").inc()
        metrics.PASS_SECONDS.labels(trigger).observe(time.monotonic() - started)
        logger.warning("not ready: %s: %s", error.reason, error.message)
        _write_failure(memo, patch, body, status, error, generation)
        if error.retryable:
            raise kopf.TemporaryError(error.message, delay=backoff(retry)) from error
        raise kopf.PermanentError(f"{error.reason}: {error.message}") from error

    metrics.PASSES.labels(trigger, _result(outcome, observe_only)).inc()
    metrics.PASS_SECONDS.labels(trigger).observe(time.monotonic() - started)
    metrics.count_writes(outcome.applied, trigger)
    if not outcome.planned:
        metrics.IN_SYNC_PASSES.labels(trigger).inc()
    for action in outcome.applied:
        logger.info("%s: %s", Reason.DRIFT_CORRECTED if resync else Reason.UPDATED, action.summary)
    if request.export is not None and outcome.repository_uri is not None:
        await _export(memo, meta, request.export, outcome, logger)
    written = report(
        outcome, status, generation, now(), observe_only=observe_only, resync=resync, prices=memo.settings.prices
    )
    _write(memo, patch, body, written)


def _result(outcome: Outcome, observe_only: bool) -> str:
    if outcome.problems:
        return "problem"
    if observe_only:
        return "observe_only"
    return "applied" if outcome.applied else "in_sync"


async def _export(
    memo: Runtime,
    meta: kopf.Meta,
    config_map_name: str,
    outcome: Outcome,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """spec.export: the identifiers into the ConfigMap; a refusal becomes one of the pass's problems (Ready=False)."""
    assert outcome.repository_uri is not None
    data = export_data(
        outcome.repository_uri, outcome.repository_arn, outcome.registry_id, outcome.region, outcome.kms_key_arn
    )
    namespace = str(meta.namespace)
    try:
        done = await write_export(
            namespace, config_map_name, str(meta.name), str(meta.uid), data, memo.kopf_settings, logger
        )
    except OperatorError as problem:
        logger.warning("export: %s: %s", problem.reason, problem.message)
        outcome.problems.append(problem)
        return
    if done != "none":
        logger.info("export: %s ConfigMap %s/%s", done, namespace, config_map_name)


async def inventory_handler(
    *,
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: Runtime,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    """The inventory timer: only the images part, written to status.images / scan / estimatedMonthlyCostUSD.

    Runs for resources a pass has already found or created the repository of (status.repositoryUri). A failure
    is logged and left to the next interval: the conditions belong to the passes, and AWS errors there are retried.
    """
    if meta.get("deletionTimestamp") or not status.get("repositoryUri"):
        return
    try:
        desired = desired_for(spec, str(meta.namespace), str(meta.name), memo.settings)
        clients = memo.clients.for_region(desired.region, memo.namespaces.role_of(str(meta.namespace)))
        async with memo.lock(str(meta.uid)):
            found = await memo.run(inventory, clients, desired)
    except OperatorError as error:
        logger.warning("inventory not refreshed: %s: %s", error.reason, error.message)
        return
    if found is None:
        logger.info("inventory: repository %s not found; left to the next pass", desired.repository_name)
        return
    _write(memo, patch, body, report_inventory(found, status, memo.settings.prices))


async def resume_handler(**kwargs: Any) -> None:
    """An operator (re)start's pass over an existing object: a resync, sharing the batched reads of the region.

    The view is taken by this process, so it is newer than anything an earlier process (or replica) wrote.
    """
    await reconcile_handler(resync=True, **kwargs)


async def resync_handler(**kwargs: Any) -> None:
    memo: Runtime = kwargs["memo"]
    if kwargs["meta"].get("deletionTimestamp"):
        return
    if memo.event_queue is not None and not memo.event_queue.resync_due(str(kwargs["meta"].uid)):
        return
    await reconcile_handler(resync=True, **kwargs)


async def inventory_timer(**kwargs: Any) -> None:
    memo: Runtime = kwargs["memo"]
    if memo.event_queue is not None and not memo.event_queue.inventory_due(str(kwargs["meta"].uid)):
        return
    await inventory_handler(**kwargs)


async def delete_handler(
    *,
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: Runtime,
    retry: int,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    namespace, name = str(meta.namespace), str(meta.name)
    generation = meta.get("generation")
    try:
        desired = desired_for(spec, namespace, name, memo.settings)
        if annotation_flag(meta.annotations, OBSERVE_ONLY_ANNOTATION):
            logger.info("observe-only: the AWS side is left as it is")
            return
        try:
            role_arn = memo.namespaces.role_of(namespace)
        except OperatorError as refused:
            if refused.reason != Reason.ACCOUNT_NOT_MAPPED:
                raise
            # Refused at every pass, so nothing was created in any account: let the resource go.
            logger.info("not mapped to an AWS account: the AWS side is left as it is")
            return
        async with memo.lock(str(meta.uid)):
            clients = memo.clients.for_region(desired.region, role_arn)
            outcome = await memo.run(delete, clients, desired, _key_creation(status))
    except OperatorError as error:
        logger.warning("delete blocked: %s: %s", error.reason, error.message)
        _write_failure(memo, patch, body, status, error, generation)
        # The finalizer stays until the AWS side is really gone (or the user chooses Retain / forceDelete).
        delay = NOT_EMPTY_RETRY_SECONDS if error.reason == Reason.REPOSITORY_NOT_EMPTY else backoff(retry)
        raise kopf.TemporaryError(error.message, delay=delay) from error
    finally:
        memo.locks.pop(str(meta.uid), None)
        memo.last_write.pop(str(meta.uid), None)
    if outcome.key_kept:
        logger.warning("KmsKeyInUse: %s", outcome.key_kept)
        memo.events.record(body, type="Warning", reason=Reason.KMS_KEY_IN_USE, message=outcome.key_kept)
    memo.events.forget(str(meta.uid))
    memo.ready_reasons.forget(str(meta.uid))
    metrics.forget_findings(str(meta.namespace), str(meta.name))
    if outcome.skipped:
        logger.info("deleted the resource only: %s", outcome.skipped)
    for action in outcome.applied:
        logger.info("deleted: %s", action.summary)


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: the service account; elsewhere: KUBECONFIG / ~/.kube/config (kopf's own readers)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


def namespace_event(type: str | None, name: str, annotations: kopf.Annotations, memo: Runtime, **_: Any) -> None:
    """Keep the Namespace annotations the policies read current (``Runtime.namespaces``: prefixes for the
    namespace-prefix policy, allow-adoption for adoption mode annotated-namespaces, the AWS role of its account).

    Not a kopf index on purpose: kopf holds every handler until all indexes are filled, and with a bounded
    number of workers (settings.queueing.worker_limit) more Namespaces than workers never finish filling.
    """
    if type == "DELETED":
        memo.namespaces.gone(name)
    else:
        memo.namespaces.seen(name, annotations)


def _deletion_unblocked(spec: kopf.Spec, **_: Any) -> bool:
    """Nothing in AWS can block this delete: the images go with the repository, or nothing is deleted."""
    return bool(spec.get("forceDelete")) or spec.get("deletionPolicy") == "Retain"


def _deletion_blockable(spec: kopf.Spec, **kwargs: Any) -> bool:
    return not _deletion_unblocked(spec, **kwargs)


def resync_initial_delay(interval: float, *, body: kopf.Body, **_: Any) -> float:
    """First resync between 0.5 and 1.5 intervals after start, fixed per object (by its uid).

    Resources created or resumed together would otherwise resync together forever: a burst of AWS reads
    every interval (and throttling at scale) instead of an even spread.
    """
    spread = zlib.crc32(str(body.get("metadata", {}).get("uid", "")).encode()) / 2**32
    return interval * (0.5 + spread)


async def start_readiness(memo: Runtime, logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    """The readiness checks run in the operator's event loop for as long as it runs (probes.py)."""
    region = memo.settings.region

    async def api_server() -> None:
        await api_server_version(memo.kopf_settings, logger)

    async def aws() -> None:
        await memo.run(lambda: memo.clients.for_region(region).sts.get_caller_identity())

    checks: dict[str, Check] = {"apiServer": api_server, "aws": aws}
    if memo.settings.events_queue_url:

        async def events_queue() -> None:
            if memo.event_queue is not None:
                memo.event_queue.check()

        checks["eventsQueue"] = events_queue
    checker = ReadinessChecker(memo.readiness, checks)
    memo.background.append(asyncio.get_running_loop().create_task(checker.run()))


def build_registry(settings: Settings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(login)
    kopf.on.startup(registry=registry, id="readiness")(start_readiness)
    if settings.watches_namespaces:
        kopf.on.event("", "v1", "namespaces", registry=registry, id="namespace-annotations")(namespace_event)
    resource = (GROUP, VERSION, PLURAL)
    for decorator in (kopf.on.create, kopf.on.update):
        decorator(*resource, registry=registry, id="reconcile", errors=kopf.ErrorsMode.TEMPORARY)(reconcile_handler)
    kopf.on.resume(*resource, registry=registry, id="reconcile", errors=kopf.ErrorsMode.TEMPORARY)(resume_handler)
    kopf.timer(
        *resource,
        registry=registry,
        id="resync",
        interval=settings.resync_tick_seconds,
        initial_delay=functools.partial(resync_initial_delay, settings.resync_tick_seconds),
        idle=None,
    )(resync_handler)
    kopf.timer(
        *resource,
        registry=registry,
        id="inventory",
        interval=settings.inventory_tick_seconds,
        initial_delay=functools.partial(resync_initial_delay, settings.inventory_tick_seconds),
        idle=None,
    )(inventory_timer)
    # Two ids for one handler: a delete blocked by a non-empty repository waits NOT_EMPTY_RETRY_SECONDS,
    # and kopf keeps that delay per handler id even when the spec changes. Setting forceDelete or Retain
    # switches to the other id, which has no pending delay, so the delete is retried at once.
    kopf.on.delete(*resource, registry=registry, id="delete", when=_deletion_blockable)(delete_handler)
    kopf.on.delete(*resource, registry=registry, id="delete-unblocked", when=_deletion_unblocked)(delete_handler)
    if settings.manage_registries:
        from ecr_operator.registry.handlers import register as register_registry_handlers  # it imports this module

        register_registry_handlers(registry, settings)
    if settings.events_queue_url:
        from ecr_operator.runtime.eventqueue import register as register_event_queue  # it imports this module

        register_event_queue(registry)
    return registry


def build_settings(peering_name: str | None, concurrency: int = 32) -> kopf.OperatorSettings:
    """kopf's settings; ``concurrency`` bounds the objects handled at once (and so the API connections)."""
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Events are posted by Runtime.events (aggregated, counted), never by kopf (one new Event per call).
    settings.posting.enabled = False
    # kopf's HTTP pool has no connection limit: every object handled at the same moment holds its own TLS
    # connection (~256 KiB of buffers). Bounding the workers bounds the connections, so memory stays flat
    # with the number of resources; AWS calls are bounded by the thread pool anyway.
    settings.queueing.worker_limit = concurrency
    # A worker whose object has nothing more to do gives its slot back at once. kopf's default keeps it for
    # 5 s in case more events come, which caps throughput at worker_limit / 5 s objects per second (6.4/s
    # with 32 slots) while the operator sits idle. An event arriving later just starts a new worker; events
    # the worker expects (the echo of its own patch) are awaited anyway (persistence.consistency_timeout).
    # (queueing.batch_window no longer exists: kopf removed time-based batching.)
    settings.queueing.idle_timeout = WORKER_IDLE_SECONDS
    settings.posting.worker_limit = 4
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.peering.standalone = peering_name is None
    if peering_name is not None:
        settings.peering.name = peering_name
        settings.peering.mandatory = True
    return settings
