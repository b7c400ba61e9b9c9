"""kopf wiring of the cluster-scoped EcrRegistry: the same shape as the EcrRepository handlers (per-object lock,
the AWS thread pool, a pure status report, kopf's retry semantics), registered by ``handlers.build_registry``.

Passes are counted in ``ecr_operator_registry_passes_total`` (trigger, result); writes and drift corrections in
the existing counters with ``part="registry"``.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import kopf
from kopf._cogs.clients import api as kopf_api
from prometheus_client import Counter

from ecr_operator.core import metrics
from ecr_operator.core.errors import OperatorError, SpecError
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import Settings
from ecr_operator.registry.manifest import desired_registry
from ecr_operator.registry.parts.registry import RegistryDeps
from ecr_operator.registry.reconcile import (
    RegistryOutcome,
    claim_of,
    delete_registry,
    managed_by,
    reconcile_registry,
)
from ecr_operator.registry.spec import REGISTRY_PLURAL
from ecr_operator.registry.status import report, report_failure
from ecr_operator.repository.manifest import annotation_flag
from ecr_operator.repository.spec import GROUP, OBSERVE_ONLY_ANNOTATION, VERSION
from ecr_operator.repository.status import Report, now
from ecr_operator.runtime.handlers import Runtime, backoff, resync_initial_delay

Logger = logging.Logger | logging.LoggerAdapter[Any]

REGISTRY_PASSES = Counter(
    "ecr_operator_registry_passes_total",
    "EcrRegistry passes by trigger (change, resync) and result (in_sync, applied, problem, observe_only, error).",
    ["trigger", "result"],
)
PART = "registry"


async def _registry_deps(body: kopf.Body, resource: kopf.Resource, memo: Runtime, logger: Logger) -> RegistryDeps:
    """Which EcrRegistry manages this one's registry, from a fresh list (see ``registry_reconcile``)."""
    listing = await kopf_api.get(url=resource.get_url(), settings=memo.kopf_settings, logger=logger)
    claims = [claim_of(item, memo.settings.region) for item in (listing or {}).get("items", [])]
    return RegistryDeps(managed_by(claim_of(body, memo.settings.region), claims))


def _write(memo: Runtime, patch: kopf.Patch, body: kopf.Body, written: Report) -> None:
    patch.status.update(written.status)
    for event in written.events:
        memo.events.record(body, type=event.type, reason=event.reason, message=event.message)


def _result(outcome: RegistryOutcome, observe_only: bool) -> str:
    if outcome.problems:
        return "problem"
    if observe_only:
        return "observe_only"
    return "applied" if outcome.applied else "in_sync"


async def reconcile_handler(
    *,
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: Runtime,
    retry: int,
    logger: Logger,
    resource: kopf.Resource,
    resync: bool = False,
    **_: Any,
) -> None:
    generation = meta.get("generation")
    trigger = "resync" if resync else "change"
    observe_only = annotation_flag(meta.annotations, OBSERVE_ONLY_ANNOTATION)
    try:
        desired = desired_registry(spec, str(meta.name), memo.settings)
        deps = await _registry_deps(body, resource, memo, logger)
        async with memo.lock(str(meta.uid)):
            clients = memo.clients.for_region(desired.region)
            outcome = await memo.run(reconcile_registry, clients, desired, deps, dry_run=observe_only)
    except OperatorError as error:
        REGISTRY_PASSES.labels(trigger, "error").inc()
        logger.warning("not ready: %s: %s", error.reason, error.message)
        _write(memo, patch, body, report_failure(error, status, generation, now()))
        if error.retryable:
            raise kopf.TemporaryError(error.message, delay=backoff(retry)) from error
        raise kopf.PermanentError(f"{error.reason}: {error.message}") from error

    REGISTRY_PASSES.labels(trigger, _result(outcome, observe_only)).inc()
    for action in outcome.applied:
        metrics.WRITES.labels(PART, trigger).inc()
        logger.info("%s: %s", Reason.DRIFT_CORRECTED if resync else Reason.UPDATED, action.summary)
    if resync and outcome.applied:
        metrics.DRIFT_CORRECTIONS.labels(PART).inc()
    _write(memo, patch, body, report(outcome, status, generation, now(), observe_only=observe_only, resync=resync))


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
    logger: Logger,
    resource: kopf.Resource,
    **_: Any,
) -> None:
    uid = str(meta.uid)
    try:
        if annotation_flag(meta.annotations, OBSERVE_ONLY_ANNOTATION):
            logger.info("observe-only: the registry settings are left as they are")
            return
        try:
            desired = desired_registry(spec, str(meta.name), memo.settings)
        except SpecError as error:
            logger.warning("the registry settings are left as they are: the spec cannot be read: %s", error.message)
            return
        deps = await _registry_deps(body, resource, memo, logger)
        async with memo.lock(uid):
            clients = memo.clients.for_region(desired.region)
            applied = await memo.run(delete_registry, clients, desired, deps)
    except OperatorError as error:
        logger.warning("delete blocked: %s: %s", error.reason, error.message)
        _write(memo, patch, body, report_failure(error, status, meta.get("generation"), now()))
        raise kopf.TemporaryError(error.message, delay=backoff(retry)) from error
    finally:
        memo.locks.pop(uid, None)
    memo.events.forget(uid)
    if not applied:
        logger.info("deleted the resource only: deletionPolicy %s", desired.deletion_policy)
    for action in applied:
        logger.info("deleted: %s", action.summary)


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """The EcrRegistry handlers (ids distinct from the EcrRepository ones)."""
    resource = (GROUP, VERSION, REGISTRY_PLURAL)
    for decorator in (kopf.on.create, kopf.on.update, kopf.on.resume):
        decorator(*resource, registry=registry, id="registry-reconcile", errors=kopf.ErrorsMode.TEMPORARY)(
            reconcile_handler
        )
    # Not event-driven: with an events queue an EcrRegistry (one per account and region) still resyncs at every tick
    # of the fallback interval, a few reads each.
    kopf.timer(
        *resource,
        registry=registry,
        id="registry-resync",
        interval=settings.resync_tick_seconds,
        initial_delay=functools.partial(resync_initial_delay, settings.resync_tick_seconds),
        idle=None,
    )(resync_handler)
    kopf.on.delete(*resource, registry=registry, id="registry-delete")(delete_handler)
