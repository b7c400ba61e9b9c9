"""events.py: one Event per (object, type, reason), created once, then patched with a growing count."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import kopf
import pytest

from ecr_operator.runtime.events import EventGoneError, EventRecorder


class FakeSink:
    """The core/v1 Events of one API server, in memory; ``fail`` makes every request raise it."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[str] = []
        self.fail: Exception | None = None

    async def create(self, namespace: str, event: Mapping[str, Any]) -> None:
        self.requests.append("create")
        if self.fail:
            raise self.fail
        key = (namespace, event["metadata"]["name"])
        assert key not in self.events, f"AlreadyExists: {key}"
        self.events[key] = dict(event)

    async def patch(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        self.requests.append("patch")
        if self.fail:
            raise self.fail
        if (namespace, name) not in self.events:
            raise EventGoneError(name)
        self.events[namespace, name].update(patch)


def body(name: str = "app", uid: str = "uid-1", namespace: str = "team-a") -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "ecr.platform.dev/v1alpha1",
            "kind": "EcrRepository",
            "metadata": {"name": name, "namespace": namespace, "uid": uid},
        }
    )


def record_all(recorder: EventRecorder, *records: tuple[kopf.Body, str, str, str]) -> None:
    async def main() -> None:
        for obj, type_, reason, message in records:
            recorder.record(obj, type=type_, reason=reason, message=message)
        await recorder.flush()

    asyncio.run(main())


def test_a_recurring_reason_is_one_event_with_a_count() -> None:
    sink = FakeSink()
    recorder = EventRecorder(sink, instance="pod-1")
    record_all(recorder, *[(body(), "Warning", "MissingRequiredTags", "lacks owner")] * 10)
    [event] = sink.events.values()
    assert sink.requests == ["create"] + ["patch"] * 9
    assert event["count"] == 10
    assert event["firstTimestamp"] <= event["lastTimestamp"]
    assert (event["type"], event["reason"], event["message"]) == ("Warning", "MissingRequiredTags", "lacks owner")
    assert event["involvedObject"] == {
        "apiVersion": "ecr.platform.dev/v1alpha1",
        "kind": "EcrRepository",
        "name": "app",
        "namespace": "team-a",
        "uid": "uid-1",
    }
    assert event["metadata"]["namespace"] == "team-a"
    assert event["metadata"]["name"].startswith("app.")
    assert event["source"] == {"component": "ecr-operator"}
    assert (event["reportingComponent"], event["reportingInstance"]) == ("ecr-operator", "pod-1")


def test_a_new_message_updates_the_same_event() -> None:
    sink = FakeSink()
    record_all(
        EventRecorder(sink),
        (body(), "Warning", "MissingRequiredTags", "lacks owner, service"),
        (body(), "Warning", "MissingRequiredTags", "lacks service"),
    )
    [event] = sink.events.values()
    assert (event["count"], event["message"]) == (2, "lacks service")


def test_other_reasons_types_and_objects_are_other_events() -> None:
    sink = FakeSink()
    record_all(
        EventRecorder(sink),
        (body(), "Warning", "MissingRequiredTags", "m"),
        (body(), "Warning", "RepositoryNotOwned", "m"),
        (body(), "Normal", "MissingRequiredTags", "m"),
        (body(uid="uid-2"), "Warning", "MissingRequiredTags", "m"),
        (body(), "Warning", "MissingRequiredTags", "m"),
    )
    assert sorted(e["count"] for e in sink.events.values()) == [1, 1, 1, 2]
    assert len({name for _, name in sink.events}) == 4


def test_an_expired_event_is_created_again() -> None:
    sink = FakeSink()
    recorder = EventRecorder(sink)
    record_all(recorder, *[(body(), "Warning", "Throttled", "slow down")] * 3)
    sink.events.clear()  # the API server's --event-ttl passed
    record_all(recorder, *[(body(), "Warning", "Throttled", "slow down")] * 2)
    [event] = sink.events.values()
    assert event["count"] == 2
    assert sink.requests == ["create", "patch", "patch", "patch", "create", "patch"]


def test_the_cache_is_bounded_and_forgets_deleted_objects() -> None:
    sink = FakeSink()
    recorder = EventRecorder(sink, cache_size=2)
    record_all(recorder, *[(body(uid=f"u{i}"), "Warning", "R", "m") for i in range(3)])
    # u0 was evicted: it starts a new Event (a new name, so no clash with the old one).
    record_all(recorder, (body(uid="u0"), "Warning", "R", "m"))
    assert len(sink.events) == 4
    recorder.forget("u0")
    record_all(recorder, (body(uid="u0"), "Warning", "R", "m"))
    assert len(sink.events) == 5


def test_processes_do_not_share_names() -> None:
    first, second = FakeSink(), FakeSink()
    record_all(EventRecorder(first), (body(), "Warning", "R", "m"))
    record_all(EventRecorder(second), (body(), "Warning", "R", "m"))
    assert set(first.events).isdisjoint(second.events)


def test_long_names_and_messages_fit() -> None:
    sink = FakeSink()
    record_all(EventRecorder(sink), (body(name="a" * 253), "Warning", "R", "x" * 5000))
    [event] = sink.events.values()
    assert len(event["metadata"]["name"]) <= 253
    assert len(event["message"]) <= 1024


def test_posting_errors_are_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    sink = FakeSink()
    sink.fail = RuntimeError("connection refused")
    recorder = EventRecorder(sink)
    record_all(recorder, (body(), "Warning", "AccessDenied", "no"))
    assert sink.events == {}
    assert "could not post event Warning AccessDenied for team-a/app" in caplog.text
    sink.fail = None
    record_all(recorder, (body(), "Warning", "AccessDenied", "no"))
    [event] = sink.events.values()
    assert event["count"] == 1


def test_record_returns_before_the_post() -> None:
    class SlowSink(FakeSink):
        async def create(self, namespace: str, event: Mapping[str, Any]) -> None:
            await asyncio.sleep(0.2)
            await super().create(namespace, event)

    sink = SlowSink()
    recorder = EventRecorder(sink)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        recorder.record(body(), type="Warning", reason="R", message="m")
        assert loop.time() - started < 0.05 and sink.events == {}
        await recorder.flush()

    asyncio.run(main())
    assert len(sink.events) == 1
