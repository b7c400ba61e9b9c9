"""Events are aggregated like Kubernetes' own controllers do it: a resource stuck at one reason through many
resyncs has ONE Warning Event for that reason, whose count grows, not one Event per resync."""

from __future__ import annotations

from typing import Any

import pytest
from operator_env import (
    RESYNC_SECONDS,
    Namespace,
    seed_spec,
)
from support import unique, wait_for

pytestmark = pytest.mark.e2e

REASON = "MissingRequiredTags"


def _the_one_event(ns: Namespace, name: str, *, min_count: int, message: str | None = None) -> Any:
    events = ns.events(name, reason=REASON, type_="Warning")
    assert len(events) == 1, [(e.metadata.name, e.count, e.message) for e in events]
    [event] = events
    assert (event.count or 1) >= min_count, f"count {event.count}"
    assert message is None or event.message == message, event.message
    return event


def test_a_resource_stuck_at_one_reason_has_one_counted_warning_event(ns: Namespace) -> None:
    name = "stuck"
    spec = seed_spec(unique("stuck"))
    spec["tags"] = {"owner": "platform-team"}
    created = ns.create(name, spec)
    ns.wait_condition(name, "False", REASON)

    # The create attempt, then a resync every RESYNC_SECONDS (the first within 0.5-1.5 intervals).
    event = wait_for(
        lambda: _the_one_event(ns, name, min_count=10),
        f"one Warning {REASON} Event with count >= 10",
        timeout=RESYNC_SECONDS * 20 + 30,
        context=ns.context,
    )
    assert event.involved_object.uid == created["metadata"]["uid"]
    assert event.involved_object.kind == "EcrRepository"
    assert event.message == "spec.tags lacks required tags: cost_center, resource_lifecycle, data_class, service"
    assert event.first_timestamp < event.last_timestamp
    assert event.source.component == "ecr-operator"

    # The same reason with another message: the same Event, its message updated, counted on.
    ns.patch_spec(name, {"tags": {"cost_center": "engineering", "resource_lifecycle": "permanent"}})
    updated = wait_for(
        lambda: _the_one_event(
            ns, name, min_count=event.count + 1, message="spec.tags lacks required tags: data_class, service"
        ),
        "the Event's message to follow the spec",
        context=ns.context,
    )
    assert updated.metadata.name == event.metadata.name
    assert updated.first_timestamp == event.first_timestamp
