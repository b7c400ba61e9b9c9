"""Writes to the Kubernetes API that kopf's end-of-handler patch cannot make: status in the middle of a handler
(the key creation record) and the export ConfigMap (spec.export).

kopf has no public call for this; its own API client (``kopf._cogs.clients.api``) carries the operator's
credentials (re-authenticating on 401) and retries, so it is used here rather than a second client. The
kopf version is pinned by the constraints file; tests/e2e cover this path against a real API server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import kopf
from kopf._cogs.clients import api, errors
from kopf._cogs.structs import references

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.repository import export

CHECKPOINT_TIMEOUT_SECONDS = 30.0


async def patch_status(
    resource: kopf.Resource,
    namespace: str | None,
    name: str,
    status: Mapping[str, Any],
    settings: kopf.OperatorSettings,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """Merge-patch the status subresource now (raises when the API server does not take it)."""
    await api.patch(
        url=resource.get_url(
            namespace=references.NamespaceName(namespace) if namespace else None, name=name, subresource="status"
        ),
        headers={"Content-Type": "application/merge-patch+json"},
        payload={"status": dict(status)},
        settings=settings,
        logger=logger,
    )


def patch_status_from_thread(loop: asyncio.AbstractEventLoop, *args: Any) -> None:
    """:func:`patch_status` from a worker thread, waiting for it: the caller goes on only once it is stored.

    The thread must run in a copy of the handler's context (``contextvars``): kopf's credentials live there.
    """
    future = asyncio.run_coroutine_threadsafe(patch_status(*args), loop)
    future.result(timeout=CHECKPOINT_TIMEOUT_SECONDS)


async def api_server_version(
    settings: kopf.OperatorSettings, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> None:
    """GET /version with the operator's credentials (raises when the API server does not answer)."""
    await api.get(url="/version", settings=settings, logger=logger)


async def get_configmap(
    namespace: str, name: str, settings: kopf.OperatorSettings, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> dict[str, Any] | None:
    """The ConfigMap, or None when it does not exist."""
    try:
        found: dict[str, Any] = await api.get(
            url=f"/api/v1/namespaces/{namespace}/configmaps/{name}", settings=settings, logger=logger
        )
    except errors.APINotFoundError:
        return None
    return found


async def create_configmap(
    namespace: str,
    body: Mapping[str, Any],
    settings: kopf.OperatorSettings,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    await api.post(
        url=f"/api/v1/namespaces/{namespace}/configmaps", payload=dict(body), settings=settings, logger=logger
    )


async def patch_configmap(
    namespace: str,
    name: str,
    patch: Mapping[str, Any],
    settings: kopf.OperatorSettings,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    await api.patch(
        url=f"/api/v1/namespaces/{namespace}/configmaps/{name}",
        headers={"Content-Type": "application/merge-patch+json"},
        payload=dict(patch),
        settings=settings,
        logger=logger,
    )


async def write_export(
    namespace: str,
    config_map_name: str,
    owner_name: str,
    owner_uid: str,
    data: Mapping[str, str],
    settings: kopf.OperatorSettings,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> str:
    """Create or update the export ConfigMap (``export.plan`` decides); returns what was done.

    Raises OperatorError: ExportConfigMapNotOwned for a ConfigMap of someone else's, AlreadyExists (retried) when
    one appeared between the read and the create, InternalError (retried) for any other refusal of the API server.
    """
    try:
        existing = await get_configmap(namespace, config_map_name, settings, logger)
        decided = export.plan(existing, namespace, config_map_name, owner_name, owner_uid, data)
        if decided.operation == "create":
            await create_configmap(namespace, decided.body, settings, logger)
        elif decided.operation == "patch":
            await patch_configmap(namespace, config_map_name, decided.body, settings, logger)
    except errors.APIConflictError as exc:
        raise OperatorError(
            Reason.ALREADY_EXISTS, f"ConfigMap {namespace}/{config_map_name} appeared meanwhile", retryable=True
        ) from exc
    except errors.APIError as exc:
        raise OperatorError(
            Reason.INTERNAL_ERROR, f"could not write ConfigMap {namespace}/{config_map_name}: {exc}", retryable=True
        ) from exc
    return decided.operation


def drop_managed_fields_from_watches() -> None:
    """Remove ``metadata.managedFields`` from every object kopf's watches deliver, before kopf sees it.

    kopf keeps the latest body of every object it runs a timer for (our resync), for the object's whole life.
    The server-side-apply bookkeeping in ``managedFields`` (one entry per field manager: the client that
    created it, kopf, the status writes) is most of a parsed body's size, tens of KiB of small dicts, and
    neither kopf nor the operator reads it. Idempotent.
    """
    from kopf._cogs.clients import watching

    original = watching.infinite_watch
    if getattr(original, "_drops_managed_fields", False):
        return

    async def infinite_watch(**kwargs: Any) -> Any:
        async for event in original(**kwargs):
            if isinstance(event, dict):
                obj: Any = event.get("object")
                metadata = obj.get("metadata") if isinstance(obj, dict) else None
                if isinstance(metadata, dict):
                    metadata.pop("managedFields", None)
            yield event

    infinite_watch._drops_managed_fields = True  # type: ignore[attr-defined]
    watching.infinite_watch = infinite_watch


async def get_object(
    resource: kopf.Resource,
    namespace: str | None,
    name: str,
    settings: kopf.OperatorSettings,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> dict[str, Any] | None:
    """The object as the API server has it now, or None when it does not exist."""
    try:
        found: dict[str, Any] = await api.get(
            url=resource.get_url(namespace=references.NamespaceName(namespace) if namespace else None, name=name),
            settings=settings,
            logger=logger,
        )
    except errors.APINotFoundError:
        return None
    return found
