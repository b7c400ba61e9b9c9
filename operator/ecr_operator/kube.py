"""Writes to the Kubernetes API in the middle of a handler, where kopf's end-of-handler patch is too late.

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
from kopf._cogs.clients import api
from kopf._cogs.structs import references

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
