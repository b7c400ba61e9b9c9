"""The operator's calls to the Kubernetes API outside kopf's handler protocol, and the only module that touches
kopf's internals: status in the middle of a pass (records made before AWS writes), ConfigMaps (exports), Events,
the readiness check, listing a kind's objects and reading one, the watch filter that drops ``managedFields``, and
the tap through which the events queue sees kopf's watch streams and its pause (``eventqueue.py``), and the
namespace discovery fix (:func:`serve_namespaces_created_during_startup`).

kopf has no public call for this; its own API client (``kopf._cogs.clients.api``) carries the operator's
credentials (re-authenticating on 401) and retries, so it is used here rather than a second client. The kopf
version is pinned by the constraints file, mypy --strict checks the calls against its signatures, and tests/e2e
cover this path against a real API server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from typing import Any, Literal, Protocol

import kopf
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import api, errors, watching
from kopf._cogs.structs import bodies, references
from kopf._core.reactor import observation

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason

CHECKPOINT_TIMEOUT_SECONDS = 30.0
API_SERVER_MAX_DEPTH = 10000
"""How deeply nested a JSON object the API server decodes and stores (Go's encoding/json limit)."""

Logger = logging.Logger | logging.LoggerAdapter[Any]

NotFound = errors.APINotFoundError
Conflict = errors.APIConflictError
ApiError = errors.APIError
Paused = aiotoggles.ToggleSet
"""kopf's operator-wide pause (peering): on while a standby replica must not serve (``is_on()``, ``wait_for``)."""
LISTED = watching.Bookmark.LISTED
"""What a watch stream yields once its initial listing is complete."""


async def call(
    method: Literal["get", "post", "patch"],
    url: str,
    settings: kopf.OperatorSettings,
    logger: Logger,
    payload: Mapping[str, Any] | None = None,
    backoffs: Iterable[float] | None = None,
) -> Any:
    """One request with kopf's API client (a patch is a JSON merge patch); the answer, parsed. Raises
    :data:`NotFound`, :data:`Conflict` or another :data:`ApiError` when the API server refuses it."""
    headers = {"Content-Type": "application/merge-patch+json"} if method == "patch" else None
    response = await api.request(
        method,
        url,
        payload=dict(payload) if payload is not None else None,
        headers=headers,
        settings=settings,
        backoffs=backoffs,
        logger=logger,
    )
    async with response:
        return await response.json()


async def patch_status(
    resource: kopf.Resource,
    namespace: str | None,
    name: str,
    status: Mapping[str, Any],
    settings: kopf.OperatorSettings,
    logger: Logger,
) -> None:
    """Merge-patch the status subresource now (raises when the API server does not take it)."""
    where = references.NamespaceName(namespace) if namespace else None
    url = resource.get_url(namespace=where, name=name, subresource="status")
    await call("patch", url, settings, logger, {"status": dict(status)})


def patch_status_from_thread(loop: asyncio.AbstractEventLoop, *args: Any) -> None:
    """:func:`patch_status` from a worker thread, waiting for it: the caller goes on only once it is stored.

    The thread must run in a copy of the handler's context (``contextvars``): kopf's credentials live there.
    """
    future = asyncio.run_coroutine_threadsafe(patch_status(*args), loop)
    future.result(timeout=CHECKPOINT_TIMEOUT_SECONDS)


async def api_server_version(settings: kopf.OperatorSettings, logger: Logger) -> None:
    """GET /version with the operator's credentials (raises when the API server does not answer)."""
    await call("get", "/version", settings, logger)


async def list_objects(resource: kopf.Resource, settings: kopf.OperatorSettings, logger: Logger) -> list[Any]:
    """Every object of ``resource`` (cluster-wide), read fresh from the API server."""
    listing = await call("get", resource.get_url(), settings, logger)
    return list((listing or {}).get("items", []))


async def read_configmap(
    namespace: str, name: str, settings: kopf.OperatorSettings, logger: Logger
) -> Mapping[str, Any] | None:
    """The ConfigMap, or None when it does not exist; InternalError (retried) when the API server refuses."""
    try:
        found: Mapping[str, Any] = await call(
            "get", f"/api/v1/namespaces/{namespace}/configmaps/{name}", settings, logger
        )
    except NotFound:
        return None
    except ApiError as exc:
        raise OperatorError(Reason.INTERNAL_ERROR, f"could not read ConfigMap {namespace}/{name}: {exc}") from exc
    return found


async def write_configmap(
    namespace: str,
    name: str,
    operation: Literal["create", "patch"],
    body: Mapping[str, Any],
    settings: kopf.OperatorSettings,
    logger: Logger,
) -> None:
    """Create the ConfigMap, or merge-patch it. Raises OperatorError: AlreadyExists (retried) when one appeared
    since it was read, InternalError (retried) for any other refusal of the API server."""
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    try:
        if operation == "create":
            await call("post", configmaps, settings, logger, body)
        else:
            await call("patch", f"{configmaps}/{name}", settings, logger, body)
    except Conflict as exc:
        raise OperatorError(Reason.ALREADY_EXISTS, f"ConfigMap {namespace}/{name} appeared meanwhile") from exc
    except ApiError as exc:
        raise OperatorError(Reason.INTERNAL_ERROR, f"could not write ConfigMap {namespace}/{name}: {exc}") from exc


def drop_managed_fields_from_watches() -> None:
    """Remove ``metadata.managedFields`` from every object kopf's watches deliver, before kopf sees it.

    kopf keeps the latest body of every object it runs a timer for (our resync), for the object's whole life.
    The server-side-apply bookkeeping in ``managedFields`` (one entry per field manager: the client that
    created it, kopf, the status writes) is most of a parsed body's size, tens of KiB of small dicts, and
    neither kopf nor the operator reads it. Idempotent.
    """
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


def serve_namespaces_created_during_startup() -> None:
    """Serve a Namespace matching ``--namespace`` that was created while kopf started, not only after a restart.

    kopf finds the namespaces to serve by listing them once, then starting a watch, whose own initial listing it
    ignores (events of type None). A Namespace created between the two listings is in the second one only, so kopf
    never served it: its resources stayed without a finalizer or status until the Namespace changed or the operator
    restarted (seen in CI: a namespace created as the operator became ready). The watch's listing is revised here
    too; kopf is told only when the set of served namespaces grew. Idempotent.
    """
    original = observation.process_discovered_namespace_event
    if getattr(original, "_revises_listings", False):
        return

    async def process_discovered_namespace_event(
        *,
        raw_event: bodies.RawEvent,
        namespaces: Collection[references.NamespacePattern],
        insights: references.Insights,
        **kwargs: Any,
    ) -> None:
        if raw_event["type"] is not None:
            await original(raw_event=raw_event, namespaces=namespaces, insights=insights, **kwargs)
            return
        async with insights.revised:
            served = len(insights.namespaces)
            observation.revise_namespaces(raw_events=[raw_event], insights=insights, namespaces=namespaces)
            if len(insights.namespaces) != served:
                insights.revised.notify_all()

    process_discovered_namespace_event._revises_listings = True  # type: ignore[attr-defined]
    observation.process_discovered_namespace_event = process_discovered_namespace_event


async def get_object(
    resource: kopf.Resource, namespace: str | None, name: str, settings: kopf.OperatorSettings, logger: Logger
) -> dict[str, Any] | None:
    """The object as the API server has it now, or None when it does not exist."""
    where = references.NamespaceName(namespace) if namespace else None
    try:
        found: dict[str, Any] = await call("get", resource.get_url(namespace=where, name=name), settings, logger)
    except NotFound:
        return None
    return found


class WatchObserver(Protocol):
    """Sees kopf's watch streams as kopf receives them (:func:`tap_watches`)."""

    def started(self, resource: Any, namespace: str | None, paused: Paused | None) -> bool:
        """A stream of ``resource`` starts; whether to be told its events (``namespace`` None: cluster-wide)."""
        ...

    def seen(self, namespace: str | None, event: Any) -> None:
        """A raw watch event of a stream it observes, or :data:`LISTED`."""
        ...

    def ended(self, namespace: str | None) -> None:
        """A stream it observes ended."""
        ...


def tap_watches(observer: WatchObserver) -> Callable[[], None]:
    """Show ``observer`` every watch stream kopf starts from now on (kopf has no public hook for its streams, nor
    for its pause); returns what undoes it."""
    original = watching.infinite_watch

    @functools.wraps(original)
    async def infinite_watch(**kwargs: Any) -> AsyncIterator[Any]:
        stream = kwargs.get("namespace")
        observed = observer.started(kwargs.get("resource"), stream, kwargs.get("operator_paused"))
        try:
            async for event in original(**kwargs):
                if observed:
                    observer.seen(stream, event)
                yield event
        finally:
            if observed:
                observer.ended(stream)

    watching.infinite_watch = infinite_watch

    def undo() -> None:
        watching.infinite_watch = original

    return undo


def read_objects_as_deep_as_the_api_server() -> None:
    """Let the process decode any object the API server stores.

    Python's json module gives up near the recursion limit (1000 levels). A field kept as written
    (x-kubernetes-preserve-unknown-fields: a policy statement's Condition, Principal, Action...) may be nested up to
    the API server's 10000 levels, and one such object would make every list and watch of its kind fail: one
    namespace would stop the operator for all. Above the API server's limit, such an object is read and judged like
    any other (the statement checks refuse it: InvalidSpec). Python-to-Python calls do not use the C stack, and the
    C decoder's levels are small: 10000 of them fit in a thread's default stack.
    """
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3 * API_SERVER_MAX_DEPTH))
