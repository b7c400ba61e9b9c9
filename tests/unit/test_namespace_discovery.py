"""kube.serve_namespaces_created_during_startup: a Namespace created between kopf's first namespace listing and the
start of its namespace watch arrives only in the watch's own initial listing, which kopf ignores; the patch revises
that listing too, so such a Namespace is served without a restart."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from kopf._cogs.structs import references
from kopf._core.reactor import observation

from ecr_operator.runtime.kube import serve_namespaces_created_during_startup

PATTERNS = ["team-a-*"]


def namespace(name: str, **metadata: Any) -> dict[str, Any]:
    return {"type": None, "object": {"metadata": {"name": name, **metadata}}}


async def discover(raw_event: dict[str, Any], insights: references.Insights) -> bool:
    """Feed one watch event to kopf's namespace processor; whether kopf was told its namespaces changed."""
    serve_namespaces_created_during_startup()
    told = asyncio.Event()

    async def listen() -> None:
        async with insights.revised:
            await insights.revised.wait()
            told.set()

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)
    await observation.process_discovered_namespace_event(raw_event=raw_event, namespaces=PATTERNS, insights=insights)
    await asyncio.sleep(0)
    listener.cancel()
    return told.is_set()


def test_kopf_ignores_the_watch_listing_on_its_own() -> None:
    """The defect the patch exists for; if kopf fixes it, this fails and the patch can go."""
    source = inspect.getsource(observation.namespace_observer)
    assert "fetch_objs" in source and "process_discovered_namespace_event" in source, "kopf's discovery changed"


def test_a_matching_namespace_in_the_watch_listing_is_served() -> None:
    insights = references.Insights()
    assert asyncio.run(discover(namespace("team-a-new"), insights)) is True
    assert insights.namespaces == {"team-a-new"}


def test_a_namespace_already_served_or_not_matching_does_not_wake_kopf() -> None:
    insights = references.Insights(namespaces={"team-a-old"})
    assert asyncio.run(discover(namespace("team-a-old"), insights)) is False
    assert asyncio.run(discover(namespace("team-b-x"), insights)) is False
    assert insights.namespaces == {"team-a-old"}


def test_watch_events_still_go_through_kopf() -> None:
    insights = references.Insights(namespaces={"team-a-old"})
    deleted = {"type": "DELETED", "object": {"metadata": {"name": "team-a-old"}}}
    assert asyncio.run(discover(deleted, insights)) is True
    assert insights.namespaces == set()


def test_installing_twice_wraps_once() -> None:
    serve_namespaces_created_during_startup()
    patched = observation.process_discovered_namespace_event
    serve_namespaces_created_during_startup()
    assert observation.process_discovered_namespace_event is patched
