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
from typing import Any, TypeVar

import kopf

from .aws import ClientFactory
from .errors import OperatorError
from .kube import patch_status_from_thread
from .manifest import annotation_flag, desired_for, request_for
from .parts.key import KeyCreation
from .reconcile import Checkpoint, Outcome, delete, reconcile
from .render import Desired
from .settings import Settings
from .snapshot import Snapshots
from .spec import (
    GROUP,
    OBSERVE_ONLY_ANNOTATION,
    PLURAL,
    REPOSITORY_PREFIXES_ANNOTATION,
    VERSION,
)
from .status import SYNCED, now, outcome_status, ready_condition
from .validate import parse_prefixes

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
    clients: ClientFactory = field(default_factory=ClientFactory)
    executor: ThreadPoolExecutor = field(init=False)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    snapshots: Snapshots = field(init=False)
    last_write: dict[str, float] = field(default_factory=dict)
    namespace_prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Namespace -> the repository prefixes its annotation grants (namespace-prefix policy)."""
    """time.monotonic() after each object's last AWS write: batched views older than that are not used."""

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=self.settings.max_workers, thread_name_prefix="aws")
        # A view serves every resync in a tenth of the interval (0.5-60 s); older views are re-read.
        max_age = min(60.0, max(0.5, self.settings.resync_seconds / 10))
        self.snapshots = Snapshots(self.settings.cluster_id, max_age)

    def prefixes_of(self, namespace: str) -> tuple[str, ...]:
        """The prefixes a namespace's annotation grants; retried until its Namespace has been seen."""
        if self.settings.repository_name_policy == "any":
            return ()
        prefixes = self.namespace_prefixes.get(namespace)
        if prefixes is None:
            raise OperatorError(
                "NamespaceNotSeen", f"waiting for the operator to see Namespace {namespace}", retryable=True
            )
        return prefixes

    def reconcile(
        self,
        uid: str,
        desired: Desired,
        adopt: bool,
        resync: bool,
        dry_run: bool = False,
        creation: KeyCreation | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> Outcome:
        """One pass for one object (in a worker thread); resyncs share batched reads of the region."""
        clients = self.clients.for_region(desired.region)
        view = self.snapshots.view(clients, self.last_write.get(uid, 0.0)) if resync else None
        outcome = reconcile(
            clients, desired, adopt=adopt, view=view, dry_run=dry_run, creation=creation, checkpoint=checkpoint
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
        return await loop.run_in_executor(self.executor, lambda: context.run(fn, *args, **kwargs))


def backoff(retry: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 2.0 ** min(retry, 10) * 2))


def _write_failure(
    patch: kopf.Patch, body: kopf.Body, status: Mapping[str, Any], error: OperatorError, generation: int | None
) -> None:
    patch.status["conditions"] = [
        ready_condition(
            status.get("conditions"),
            ready=False,
            reason=error.reason,
            message=error.message,
            generation=generation,
            timestamp=now(),
        )
    ]
    patch.status["observedGeneration"] = generation
    kopf.warn(body, reason=error.reason, message=error.message)


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
                "StatusNotWritable",
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
    **_: Any,
) -> None:
    namespace, name = str(meta.namespace), str(meta.name)
    generation = meta.get("generation")
    try:
        request = request_for(spec, namespace, name, meta.annotations, memo.settings, memo.prefixes_of(namespace))
        desired, adopt, observe_only = request.desired, request.adopt, request.observe_only
        checkpoint = _checkpoint(memo, resource, meta, logger)
        async with memo.lock(str(meta.uid)):
            outcome = await memo.run(
                memo.reconcile, str(meta.uid), desired, adopt, resync, observe_only, _key_creation(status), checkpoint
            )
    except OperatorError as error:
        logger.warning("not ready: %s: %s", error.reason, error.message)
        _write_failure(patch, body, status, error, generation)
        if error.retryable:
            raise kopf.TemporaryError(error.message, delay=backoff(retry)) from error
        raise kopf.PermanentError(f"{error.reason}: {error.message}") from error

    changes = [action.summary for action in outcome.applied]
    if changes:
        reason = "DriftCorrected" if resync else "Updated"
        # kopf.info() obeys settings.posting.level (WARNING here, to keep kopf's own log lines out of the
        # events) and would silently drop this one; kopf.event() always posts.
        kopf.event(body, type="Normal", reason=reason, message="; ".join(changes))
        logger.info("%s: %s", reason, "; ".join(changes))
    planned = [action.summary for action in outcome.planned] if observe_only else []
    if outcome.problems:
        first = outcome.problems[0]
        ready, reason, message = False, first.reason, "; ".join(p.message for p in outcome.problems)
        kopf.warn(body, reason=reason, message=message)
    elif planned:
        ready, reason = False, "OutOfSync"
        message = f"observe-only ({OBSERVE_ONLY_ANNOTATION}); a reconcile would: {'; '.join(planned)}"
    else:
        ready, reason, message = True, SYNCED, f"repository {outcome.repository_name} is in sync"
    patch.status.update(outcome_status(outcome))
    patch.status["plannedChanges"] = planned
    if not observe_only:
        patch.status["keyCreation"] = None  # a completed pass leaves any key it created aliased and findable
    timestamp = now()
    patch.status["observedGeneration"] = generation
    patch.status["lastSyncTime"] = timestamp
    patch.status["conditions"] = [
        ready_condition(
            status.get("conditions"),
            ready=ready,
            reason=reason,
            message=message,
            generation=generation,
            timestamp=timestamp,
        )
    ]


async def resume_handler(**kwargs: Any) -> None:
    """An operator (re)start's pass over an existing object: a resync, sharing the batched reads of the region.

    The view is taken by this process, so it is newer than anything an earlier process (or replica) wrote.
    """
    await reconcile_handler(resync=True, **kwargs)


async def resync_handler(**kwargs: Any) -> None:
    if kwargs["meta"].get("deletionTimestamp"):
        return
    await reconcile_handler(resync=True, **kwargs)


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
        async with memo.lock(str(meta.uid)):
            outcome = await memo.run(delete, memo.clients.for_region(desired.region), desired, _key_creation(status))
    except OperatorError as error:
        logger.warning("delete blocked: %s: %s", error.reason, error.message)
        _write_failure(patch, body, status, error, generation)
        # The finalizer stays until the AWS side is really gone (or the user chooses Retain / forceDelete).
        delay = NOT_EMPTY_RETRY_SECONDS if error.reason == "RepositoryNotEmpty" else backoff(retry)
        raise kopf.TemporaryError(error.message, delay=delay) from error
    finally:
        memo.locks.pop(str(meta.uid), None)
        memo.last_write.pop(str(meta.uid), None)
    if outcome.key_kept:
        logger.warning("KmsKeyInUse: %s", outcome.key_kept)
        kopf.warn(body, reason="KmsKeyInUse", message=outcome.key_kept)
    if outcome.skipped:
        logger.info("deleted the resource only: %s", outcome.skipped)
    for action in outcome.applied:
        logger.info("deleted: %s", action.summary)


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: the service account; elsewhere: KUBECONFIG / ~/.kube/config (kopf's own readers)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


def namespace_event(type: str | None, name: str, annotations: kopf.Annotations, memo: Runtime, **_: Any) -> None:
    """Keep Runtime.namespace_prefixes current from the Namespace watch (namespace-prefix policy only).

    Not a kopf index on purpose: kopf holds every handler until all indexes are filled, and with a bounded
    number of workers (settings.queueing.worker_limit) more Namespaces than workers never finish filling.
    """
    if type == "DELETED":
        memo.namespace_prefixes.pop(name, None)
    else:
        memo.namespace_prefixes[name] = parse_prefixes(annotations.get(REPOSITORY_PREFIXES_ANNOTATION))


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


def build_registry(settings: Settings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(login)
    if settings.repository_name_policy == "namespace-prefix":
        kopf.on.event("", "v1", "namespaces", registry=registry, id="namespace-prefixes")(namespace_event)
    resource = (GROUP, VERSION, PLURAL)
    for decorator in (kopf.on.create, kopf.on.update):
        decorator(*resource, registry=registry, id="reconcile", errors=kopf.ErrorsMode.TEMPORARY)(reconcile_handler)
    kopf.on.resume(*resource, registry=registry, id="reconcile", errors=kopf.ErrorsMode.TEMPORARY)(resume_handler)
    kopf.timer(
        *resource,
        registry=registry,
        id="resync",
        interval=settings.resync_seconds,
        initial_delay=functools.partial(resync_initial_delay, settings.resync_seconds),
        idle=None,
    )(resync_handler)
    # Two ids for one handler: a delete blocked by a non-empty repository waits NOT_EMPTY_RETRY_SECONDS,
    # and kopf keeps that delay per handler id even when the spec changes. Setting forceDelete or Retain
    # switches to the other id, which has no pending delay, so the delete is retried at once.
    kopf.on.delete(*resource, registry=registry, id="delete", when=_deletion_blockable)(delete_handler)
    kopf.on.delete(*resource, registry=registry, id="delete-unblocked", when=_deletion_unblocked)(delete_handler)
    return registry


def build_settings(peering_name: str | None, concurrency: int = 32) -> kopf.OperatorSettings:
    """kopf's settings; ``concurrency`` bounds the objects handled at once (and so the API connections)."""
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
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
