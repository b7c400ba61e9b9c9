"""kopf registration, once for every kind: each kind's create, update, resume, periodic timer (the resync and the
kind's own timer) and delete handlers go to the pass runner (``passes.py``); kopf's settings, the login, the
readiness checks, the events queue's consumer (``eventqueue.py``) and kopf's pause followed (``peering.py``)."""

from __future__ import annotations

import asyncio
import functools
import logging
import zlib
from collections.abc import Sequence
from typing import Any

import kopf

from ecr_operator.core.api import GROUP, VERSION
from ecr_operator.core.kind import Kind
from ecr_operator.core.settings import Settings
from ecr_operator.runtime import eventqueue, passes, peering, watched
from ecr_operator.runtime.kinds import KINDS
from ecr_operator.runtime.kube import DiffBaseStorage, ProgressStorage, api_server_version
from ecr_operator.runtime.probes import ReadinessChecker
from ecr_operator.runtime.process import Runtime, cadence

FINALIZER = f"{GROUP}/finalizer"
WORKER_IDLE_SECONDS = 0.05
"""How long kopf keeps an idle per-object worker (and its slot of queueing.worker_limit)."""


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: the service account; elsewhere: KUBECONFIG / ~/.kube/config (kopf's own readers)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


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
        await memo.run(lambda: memo.clients.for_region(region).sts.get_caller_identity(), kind="probe")

    memo.checks.update(apiServer=api_server, aws=aws)  # the events queue's startup adds its own (eventqueue.py)
    checker = ReadinessChecker(memo.readiness, memo.checks)
    memo.background.append(asyncio.get_running_loop().create_task(checker.run()))


def _register(operator: kopf.OperatorRegistry, kind: Kind[Any], settings: Settings) -> None:
    """One kind's handlers; ids start with the kind's prefix and never change (kopf keeps progress per id)."""
    resource = (GROUP, VERSION, kind.crd.plural)
    prefix = kind.handler_prefix
    watched.register(operator, resource, kind.crd.kind)
    for on in (kopf.on.create, kopf.on.update):
        on(*resource, registry=operator, id=f"{prefix}reconcile", errors=kopf.ErrorsMode.TEMPORARY)(
            functools.partial(passes.reconcile, kind)
        )
    kopf.on.resume(*resource, registry=operator, id=f"{prefix}reconcile", errors=kopf.ErrorsMode.TEMPORARY)(
        functools.partial(passes.resume, kind)
    )
    # One kopf timer per object for the resync and the kind's own timer (periodic.py): each timer costs every object.
    tick = cadence(kind, settings).tick
    kopf.timer(
        *resource,
        registry=operator,
        id=f"{prefix}periodic",
        interval=tick,
        initial_delay=functools.partial(resync_initial_delay, tick),
        idle=None,
    )(functools.partial(passes.periodic, kind))
    delete = functools.partial(passes.delete, kind)
    unblocked = kind.deletion_unblocked
    if unblocked is None:
        kopf.on.delete(*resource, registry=operator, id=f"{prefix}delete")(delete)
        return
    # Two ids for one handler: a delete blocked in AWS waits the kind's retry delay, and kopf keeps that delay per
    # handler id even when the spec changes. A spec whose delete nothing can block switches to the other id, which
    # has no pending delay, so the delete is retried at once.
    kopf.on.delete(*resource, registry=operator, id=f"{prefix}delete", when=lambda spec, **_: not unblocked(spec))(
        delete
    )
    kopf.on.delete(
        *resource, registry=operator, id=f"{prefix}delete-unblocked", when=lambda spec, **_: unblocked(spec)
    )(delete)


def build_kopf_registry(settings: Settings, kinds: Sequence[Kind[Any]] = KINDS) -> kopf.OperatorRegistry:
    """kopf's registry of handlers (not to be confused with an ECR registry): every kind this process serves."""
    operator = kopf.OperatorRegistry()
    kopf.on.login(registry=operator)(login)
    kopf.on.startup(registry=operator, id="readiness")(start_readiness)
    kopf.on.startup(registry=operator, id="peering-pause")(peering.start)
    served = [kind for kind in kinds if kind.served(settings)]
    if any(kind.namespaces(settings) for kind in served):
        kopf.on.event("", "v1", "namespaces", registry=operator, id="namespace-annotations")(passes.namespace_event)
    for kind in served:
        _register(operator, kind, settings)
    if settings.events_queue_url:
        kopf.on.startup(registry=operator, id="events-queue")(eventqueue.start)
    return operator


def build_settings(peering_name: str | None, concurrency: int = 32) -> kopf.OperatorSettings:
    """kopf's settings; ``concurrency`` bounds the objects handled at once (and so the API connections)."""
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    # Tenants can write these annotations on their objects: what kopf cannot use reads as absent (runtime/kube.py).
    settings.persistence.progress_storage = ProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = DiffBaseStorage(prefix=GROUP, key="last-handled-configuration")
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
