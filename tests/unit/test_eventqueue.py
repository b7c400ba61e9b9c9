"""runtime/eventqueue.py without AWS or Kubernetes: the index of served objects, the watch tap that fills it, the
handling of messages (queued then deleted, dropped, malformed), coalescing, and the safety net's clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import watching

from ecr_operator.core.awsevents import Ignored, KeyRef, Kind, RepositoryRef, classify, parse
from ecr_operator.core.settings import Settings
from ecr_operator.repository.kind import KIND
from ecr_operator.repository.render import key_alias_for
from ecr_operator.runtime import eventqueue
from ecr_operator.runtime.eventqueue import EventQueue, Index, Pending, WatchTap, queue_region, served_from
from ecr_operator.runtime.periodic import Cadence, Due, Ticks
from ecr_operator.runtime.process import Runtime

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "events"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
QUEUE = "https://sqs.us-west-2.amazonaws.com/123456789012/ecr-operator-events"


def obj(name: str, repository: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"uid": f"uid-{name}", "namespace": "team-a", "name": name},
        "spec": {"repositoryName": repository, "region": "us-west-2", "encryption": {"type": "KMS"}},
        "status": status,
    }


def test_queue_region_from_the_url() -> None:
    assert queue_region(QUEUE, "eu-west-1") == "us-west-2"
    assert queue_region("https://us-east-2.queue.amazonaws.com/123456789012/q", "eu-west-1") == "us-east-2"
    assert queue_region("http://127.0.0.1:5000/123456789012/q", "eu-west-1") == "eu-west-1"


def test_an_object_is_served_by_name_by_key_and_by_alias() -> None:
    served = served_from(
        obj(
            "app", "team-a/app", registryId="123456789012", kmsKeyArn=f"arn:aws:kms:us-west-2:123456789012:key/{KEY_ID}"
        ),
        "eu-west-1",
    )
    assert served is not None
    assert (served.region, served.repository, served.account) == ("us-west-2", "team-a/app", "123456789012")
    assert served.keys == {KEY_ID, key_alias_for("team-a/app")}
    index = Index()
    index.put(served)
    assert index.match(RepositoryRef("123456789012", "us-west-2", "team-a/app")) == [served]
    assert index.match(KeyRef("123456789012", "us-west-2", KEY_ID)) == [served]
    assert index.match(KeyRef("123456789012", "us-west-2", "alias/ecr/team-a/app")) == [served]
    # Another account, another region, another name: not ours.
    assert index.match(RepositoryRef("999988887777", "us-west-2", "team-a/app")) == []
    assert index.match(RepositoryRef("123456789012", "eu-west-1", "team-a/app")) == []
    assert index.match(RepositoryRef("123456789012", "us-west-2", "team-a/other")) == []
    index.remove(served.uid)
    assert len(index) == 0 and index.match(KeyRef("123456789012", "us-west-2", KEY_ID)) == []


def test_before_its_first_pass_an_object_matches_any_account() -> None:
    served = served_from(obj("new", "team-a/new"), "eu-west-1")
    assert served is not None and served.account is None
    index = Index()
    index.put(served)
    assert index.match(RepositoryRef("999988887777", "us-west-2", "team-a/new")) == [served]


def test_a_changed_object_is_indexed_by_its_new_names_only() -> None:
    index = Index()
    first = served_from(obj("app", "team-a/app"), "eu-west-1")
    renamed = served_from(obj("app", "team-a/renamed"), "eu-west-1")
    assert first is not None and renamed is not None
    index.put(first)
    index.put(renamed)
    assert index.match(RepositoryRef("1", "us-west-2", "team-a/app")) == []
    assert index.match(RepositoryRef("1", "us-west-2", "team-a/renamed")) == [renamed]


def test_objects_without_an_identity_are_not_served() -> None:
    assert served_from({"metadata": {"uid": "u", "namespace": "n"}, "spec": {}}, "r") is None
    assert served_from({}, "r") is None


def test_an_object_is_named_by_its_pinned_place_else_by_its_spec_and_defaults() -> None:
    defaults = served_from({"metadata": {"uid": "u", "namespace": "n", "name": "app"}, "spec": {}}, "eu-west-1")
    assert defaults is not None and (defaults.repository, defaults.region, defaults.account) == (
        "app",
        "eu-west-1",
        None,
    )
    pinned = {"repositoryName": "team/app", "region": "us-west-2", "account": "123456789012"}
    raw = {"metadata": {"uid": "u", "namespace": "n", "name": "app"}, "spec": {}, "status": pinned}
    found = served_from(raw, "eu-west-1")
    assert found is not None and (found.repository, found.region, found.account) == (
        "team/app",
        "us-west-2",
        "123456789012",
    )


class _Toggles:
    def __init__(self, on: bool) -> None:
        self.on = on

    def is_on(self) -> bool:
        return self.on


def test_the_tap_fills_the_index_from_kopfs_watch_and_tracks_listings_and_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[Any] = [
        {"type": None, "object": obj("app", "team-a/app")},
        watching.Bookmark.LISTED,
        {"type": "ADDED", "object": obj("web", "team-a/web")},
        {"type": "DELETED", "object": obj("app", "team-a/app")},
    ]
    seen_during: list[bool] = []

    async def fake_watch(**kwargs: Any) -> Any:
        for event in events:
            seen_during.append(tap.listed_since(0.0))
            yield event

    monkeypatch.setattr(watching, "infinite_watch", fake_watch)  # restored after the test
    tap = WatchTap(Index(), "eu-west-1")
    tap.install()
    resource = eventqueue.RESOURCE
    paused = _Toggles(False)

    async def consume() -> list[Any]:
        stream = watching.infinite_watch(resource=resource, namespace=None, operator_paused=paused)
        return [event async for event in stream]

    assert asyncio.run(consume()) == events, "kopf gets every event unchanged"
    assert seen_during == [False, False, True, True], "listed once the bookmark passed"
    assert [s.name for s in (tap.index.get("uid-app"), tap.index.get("uid-web")) if s] == ["web"]
    assert tap.paused is paused and not tap.is_paused()
    paused.on = True
    assert tap.is_paused()
    assert not tap.listed_since(0.0), "the stream ended: nothing is listed"


# -- the consumer with a fake queue ------------------------------------------------------------------------------


class FakeSqs:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)


def message(body: str | dict[str, Any], receipt: str) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "MessageId": receipt,
        "ReceiptHandle": receipt,
        "Body": text,
        "Attributes": {"SentTimestamp": "1700000000000"},
    }


def sample(name: str, **detail: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    document["detail"] = {**document["detail"], **detail}
    return document


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EventQueue, FakeSqs, list[Pending]]]:
    memo = Runtime(Settings(region="us-west-2", events_queue_url=QUEUE, resync_seconds=3600))
    sqs = FakeSqs()
    queue = EventQueue(memo, sqs=sqs)
    queue.index.put(
        served_from(
            obj("app", "team-a/app", registryId="123456789012", kmsKeyArn=f"arn:aws:kms:us-west-2:1:key/{KEY_ID}"),
            "us-west-2",
        )  # type: ignore[arg-type]
    )
    passes: list[Pending] = []

    async def run_pass(pending: Pending) -> None:
        passes.append(pending)

    monkeypatch.setattr(queue, "_pass", run_pass)
    monkeypatch.setattr(eventqueue, "COALESCE_SECONDS", 0.05)
    yield queue, sqs, passes
    memo.executor.shutdown()


def handle(queue: EventQueue, messages: list[dict[str, Any]]) -> None:
    async def go() -> None:
        queue._worker = eventqueue._DaemonWorker()
        queue._slots = asyncio.Semaphore(2)
        for one in messages:
            await queue._handle(one)
        while queue._drains:
            await asyncio.gather(*queue._drains.values())

    asyncio.run(go())


def test_a_burst_for_one_resource_is_one_pass_and_every_message_is_deleted(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]],
) -> None:
    queue, sqs, passes = consumer
    burst = [
        message(sample("cloudtrail-ecr-delete-lifecycle-policy"), "m1"),
        message(sample("cloudtrail-ecr-untag-resource"), "m2"),
        message(sample("cloudtrail-ecr-delete-lifecycle-policy"), "m3"),  # a duplicate
        message(sample("ecr-image-push"), "m4"),
        message(sample("ecr-image-scan"), "m5"),
    ]
    handle(queue, burst)
    assert sqs.deleted == ["m1", "m2", "m3", "m4", "m5"]
    [one] = passes
    assert one.served.name == "app" and one.kinds == {Kind.DRIFT, Kind.IMAGES, Kind.SCAN}
    assert set(one.scans) == {"sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"}
    assert one.sent_at == 1_700_000_000.0


def test_a_key_event_reaches_the_resource_of_the_key(consumer: tuple[EventQueue, FakeSqs, list[Pending]]) -> None:
    queue, sqs, passes = consumer
    document = sample("cloudtrail-kms-disable-key-rotation")
    document["account"] = document["detail"]["recipientAccountId"] = "123456789012"
    document["detail"]["resources"] = []
    handle(queue, [message(document, "k1")])
    assert sqs.deleted == ["k1"] and [(p.served.name, p.kinds) for p in passes] == [("app", {Kind.DRIFT})]


def test_garbage_and_foreign_events_are_deleted_without_a_pass(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]],
) -> None:
    queue, sqs, passes = consumer
    before = {
        (why, type_): eventqueue.DROPPED.labels(type_, why)._value.get()
        for why, type_ in [("malformed", "malformed"), ("not_served", "ecr_image_action"), ("unknown_type", "other")]
    }
    handle(
        queue,
        [
            message("this is not an event", "g1"),
            message({"detail-type": "ECR Image Action"}, "g2"),
            message(sample("ecr-image-push", **{"repository-name": "team-b/other"}), "g3"),
            message(sample("ec2-state-change"), "g4"),
        ],
    )
    assert sqs.deleted == ["g1", "g2", "g3", "g4"] and passes == []
    after = {key: eventqueue.DROPPED.labels(key[1], key[0])._value.get() for key in before}
    assert {key: after[key] - before[key] for key in before} == {
        ("malformed", "malformed"): 2,
        ("not_served", "ecr_image_action"): 1,
        ("unknown_type", "other"): 1,
    }


def test_an_object_being_deleted_gets_no_pass(consumer: tuple[EventQueue, FakeSqs, list[Pending]]) -> None:
    queue, sqs, passes = consumer
    deleting = obj("app", "team-a/app", registryId="123456789012")
    deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    queue.index.put(served_from(deleting, "us-west-2"))  # type: ignore[arg-type]
    handle(queue, [message(sample("ecr-image-push"), "d1")])
    assert sqs.deleted == ["d1"] and passes == []


def test_the_safety_net_ticks_at_the_fallback_and_passes_at_every_tick_while_the_queue_cannot_be_read(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]],
) -> None:
    queue, _, _ = consumer
    ticks = queue.memo.ticks["EcrRepository"]
    # resync 3600 s, inventory 900 s (its default), fallback 600 s: the timer ticks every 600 s
    assert ticks.cadence == Cadence(600, 6, 2) and ticks.fallback == Cadence(600, 1, 1)
    assert queue.memo.ticks["EcrRegistry"] == Ticks(Cadence(600, 1, 1)), "no events name a registry: it polls"
    assert sum(ticks.tick("u").resync for _ in range(12)) == 2, "an hour's resync per six ticks"
    queue._unreadable(RuntimeError("AccessDenied"))
    assert all(ticks.tick("u") == Due(resync=True, timer=True) for _ in range(3)), "every tick, both passes"
    with pytest.raises(RuntimeError, match="cannot be read"):
        queue.check()
    queue._readable_again()
    queue.check()
    assert sum(ticks.tick("u").resync for _ in range(12)) == 2, "back to the hour"


def test_the_resyncs_batched_views_are_young_enough_for_the_fallback_interval() -> None:
    """While the queue cannot be read the resync runs every fallback interval: a view a tenth of it old at most."""
    settings = Settings(region="us-west-2", events_queue_url=QUEUE, resync_seconds=3600, events_fallback_seconds=2)
    assert settings.shortest_resync_seconds == 2
    memo = Runtime(settings)
    try:
        assert memo.controller(KIND).views.max_age == 0.5
    finally:
        memo.executor.shutdown()


DIGEST = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"


def scan_event(time: str, **counts: int) -> dict[str, Any]:
    document = sample("ecr-image-scan", **{"finding-severity-counts": counts})
    document["time"] = time
    return document


def test_of_two_scan_events_of_one_image_the_newest_counts_whatever_the_order_they_arrive_in(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]],
) -> None:
    """SQS delivers out of order: a rescan's result, then the earlier scan's late event, in one burst."""
    queue, _, passes = consumer
    newer, older = scan_event("2026-12-03T10:05:00Z", HIGH=1), scan_event("2026-12-03T10:00:00Z", CRITICAL=4)
    handle(queue, [message(newer, "m1"), message(older, "m2")])
    [one] = passes
    assert one.scans[DIGEST].severity_counts == {"HIGH": 1}


def test_a_late_scan_event_does_not_replace_the_newer_scan_status_shows() -> None:
    """The event of an earlier scan of the image, delivered after a rescan's result reached status (from its event
    or a refresh): not written from the event (a refresh reads which is the newest)."""
    status = {
        "scan": {
            "imageDigest": DIGEST,
            "imageTags": ["v1"],
            "status": "COMPLETE",
            "completedAt": "2026-12-03T10:05:00Z",
            "findingSeverityCounts": {"HIGH": 1},
        }
    }
    body = kopf.Body({"metadata": {"name": "app"}, "status": status})

    def scan_of(time: str, **counts: int) -> Any:
        change = classify(parse(json.dumps(scan_event(time, **counts))))
        assert not isinstance(change, Ignored) and change.scan is not None
        return change.scan

    assert EventQueue._scan_of_newest(body, {DIGEST: scan_of("2026-12-03T10:00:00Z", CRITICAL=4)}) is None
    later = EventQueue._scan_of_newest(body, {DIGEST: scan_of("2026-12-03T10:07:00Z", HIGH=2)})
    assert later is not None and later.finding_severity_counts is not None
    assert later.finding_severity_counts["HIGH"] == 2 and later.image_tags == ("v1",)


def test_a_pass_that_could_not_read_its_object_is_retried_with_the_events_that_came_meanwhile(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API server does not answer the pass's read of the object (kopf gave up its own retries): the message is
    already deleted, so the pass is the event's only trace. It is tried again, with a push that arrived during it;
    before, both were lost until the resync (hours with a queue)."""
    queue, _, passes = consumer
    monkeypatch.setattr(eventqueue.passes, "backoff", lambda retry: 0.01)
    tried: list[set[Kind]] = []

    async def flaky_pass(pending: Pending) -> None:
        tried.append(set(pending.kinds))
        if len(tried) == 1:
            await queue._handle(message(sample("ecr-image-push"), "m2"))
            raise ConnectionResetError("the API server went away")
        passes.append(pending)

    monkeypatch.setattr(queue, "_pass", flaky_pass)
    handle(queue, [message(sample("cloudtrail-ecr-delete-lifecycle-policy"), "m1")])
    assert tried[0] == {Kind.DRIFT}
    [one] = passes
    assert one.kinds == {Kind.DRIFT, Kind.IMAGES} and one.attempt == 1


def test_a_message_whose_handling_fails_unforeseen_is_dropped_and_the_next_one_is_handled(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception the parser and classifier did not foresee ended the consumer's task: no more events for the
    process's life, readiness still green (the queue was readable), and the message came back to do it again
    after each restart. Now it is dropped like a malformed one (logged once, deleted) and the next is handled."""
    queue, sqs, passes = consumer
    real = eventqueue.classify

    def classify(event: Any, own: Any) -> Any:
        if event.id == "poison":
            raise AttributeError("'str' object has no attribute 'get'")
        return real(event, own)

    monkeypatch.setattr(eventqueue, "classify", classify)
    poison = sample("cloudtrail-ecr-delete-lifecycle-policy")
    poison["id"] = "poison"
    handle(queue, [message(poison, "p1"), message(sample("ecr-image-push"), "m2")])
    assert sqs.deleted == ["p1", "m2"]
    assert [p.kinds for p in passes] == [{Kind.IMAGES}]
