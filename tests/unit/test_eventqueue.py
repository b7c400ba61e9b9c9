"""runtime/eventqueue.py without AWS or Kubernetes: the index of served objects, the watch tap that fills it, the
handling of messages (queued then deleted, dropped, malformed), coalescing, and the safety net's clock."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kopf._cogs.clients import watching

from ecr_operator.core.awsevents import KeyRef, Kind, RepositoryRef
from ecr_operator.core.settings import Settings
from ecr_operator.repository.kind import KIND
from ecr_operator.repository.render import key_alias_for
from ecr_operator.runtime import eventqueue, kube
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


# -- hostile messages: whoever can send to the queue (a mapped account's forwarder role) ------------------------


def test_a_message_nested_deeper_than_python_recurses_is_deleted_as_malformed_and_the_consumer_goes_on(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]],
) -> None:
    """json.loads gives up with RecursionError (not a ValueError) past the recursion limit: it escaped _handle and
    ended the consumer's task, silently (readiness kept saying the queue is read, resyncs stayed at their slow
    cadence), for every tenant until the operator restarted."""
    queue, sqs, passes = consumer
    limit = sys.getrecursionlimit()
    kube.read_objects_as_deep_as_the_api_server()  # as the operator runs
    try:
        handle(queue, [message("[" * 200_000 + "]" * 200_000, "h1"), message(sample("ecr-image-push"), "h2")])
    finally:
        sys.setrecursionlimit(limit)
    assert sqs.deleted == ["h1", "h2"]
    assert [p.served.name for p in passes] == ["app"], "the next message is still handled"


def test_one_message_naming_every_key_is_not_a_pass_of_every_resource(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]],
) -> None:
    """A CloudTrail record names its key once or twice (keyId, targetKeyId, aliasName, resources). One forged
    message listing thousands of keys or aliases (the managed keys' aliases are predictable) made a drift pass of
    every resource it named: a whole fleet's resync per message, bounded only by the message size."""
    queue, sqs, passes = consumer
    for i in range(50):
        queue.index.put(served_from(obj(f"app{i}", f"team-b/app{i}"), "us-west-2"))  # type: ignore[arg-type]
    document = sample("cloudtrail-kms-disable-key-rotation")
    document["account"] = document["detail"]["recipientAccountId"] = "123456789012"
    document["detail"]["resources"] = [
        {"ARN": f"arn:aws:kms:us-west-2:123456789012:{key_alias_for(f'team-b/app{i}')}"} for i in range(50)
    ]
    handle(queue, [message(document, "f1")])
    assert sqs.deleted == ["f1"]
    assert passes == [], "a record naming more keys than any KMS call does is malformed"


def test_a_scan_event_never_writes_its_own_counts_into_status(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone who can send to the queue can write an ECR Image Scan event for another team's repository and its
    newest digest: status.scan then showed the forged counts (e.g. no CRITICAL findings) and the vulnerability
    Event followed them, until the next inventory (hours with a queue). The event now only asks for a refresh,
    which reads the findings from ECR."""
    queue, _, _ = consumer
    monkeypatch.undo()  # the real _pass, with the API server and the refresh faked below
    monkeypatch.setattr(eventqueue, "COALESCE_SECONDS", 0.05)
    digest = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
    raw = obj("app", "team-a/app", registryId="123456789012", scan={"imageDigest": digest, "status": "COMPLETE"})

    async def get_object(*_: Any) -> dict[str, Any]:
        return raw

    refreshed: list[str] = []
    written: list[Any] = []

    async def tick(kind: Any, timer: Any, work: str | None = None, **kwargs: Any) -> None:
        refreshed.append(str(work))

    monkeypatch.setattr(eventqueue.kube, "get_object", get_object)
    monkeypatch.setattr(eventqueue.passes, "tick", tick)
    monkeypatch.setattr(eventqueue.passes.Call, "write", lambda *args: written.append(args))
    forged = sample("ecr-image-scan", **{"finding-severity-counts": {}, "image-digest": digest})
    handle(queue, [message(forged, "s1")])
    assert written == [], "nothing from the event itself reaches status"
    assert refreshed == ["event"], "the findings are read from ECR"


def test_what_an_event_names_reaches_the_log_cut_short(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]], caplog: pytest.LogCaptureFixture
) -> None:
    """An event's id and action are the sender's text (a message may hold up to 1 MiB of it): each matched event
    logged them whole at info, a log line as large as the message, for every message a forger sends."""
    queue, _, passes = consumer
    huge = sample("ecr-image-push", **{"action-type": "PUSH" + "x" * 100_000})
    huge["id"] = "i" * 100_000
    with caplog.at_level("INFO", logger=eventqueue.log.name):
        handle(queue, [message(huge, "l1")])
    assert [p.served.name for p in passes] == ["app"]
    assert caplog.records and max(len(record.getMessage()) for record in caplog.records) < 1000


def test_a_message_that_fails_to_be_handled_is_deleted_and_the_consumer_reads_on(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever escapes the handling of one message (a check that missed a shape) is logged and the message
    deleted: the consumer's task, which serves every resource, goes on with the next receive."""
    queue, sqs, _ = consumer
    receives: list[int] = []

    def receive_message(**_: Any) -> dict[str, Any]:
        receives.append(1)
        if len(receives) > 2:
            raise asyncio.CancelledError  # ends the test's run()
        return {"Messages": [message(sample("ecr-image-push"), f"r{len(receives)}")]}

    async def fails(one: Any) -> None:
        raise KeyError("a shape nobody foresaw")

    async def nothing() -> None:
        return None

    sqs.receive_message = receive_message  # type: ignore[attr-defined]
    monkeypatch.setattr(queue, "_handle", fails)
    monkeypatch.setattr(queue, "_own_identity", nothing)
    monkeypatch.setattr(eventqueue, "ATTRIBUTES_EVERY_SECONDS", float("inf"))
    queue.tap._listed[None] = float("inf")
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(queue.run())
    assert sqs.deleted == ["r1", "r2"] and len(receives) == 3


def test_an_objects_images_refreshes_for_events_are_spaced(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]],
) -> None:
    """A refresh reads every page of DescribeImages (1000 images each): each push into a large repository cost that
    many reads, for as many pushes as its owner (or a forger) sends. Refreshes of one object are now spaced by
    IMAGES_SPACING_SECONDS, the events meanwhile coalescing into the next one; drift passes are not held back."""
    queue, _, passes = consumer
    handle(queue, [message(sample("ecr-image-push"), "p1")])
    [first] = passes
    assert first.served.uid not in queue._images_at, "the consumer's fake pass says: not a large repository"
    queue._refreshed(first.served.uid)
    refreshed_at = queue._images_at[first.served.uid]
    served = first.served
    spacing = eventqueue.IMAGES_SPACING_SECONDS
    coalesce = eventqueue.COALESCE_SECONDS
    images, scan, drift = (Pending(served, {kind}) for kind in (Kind.IMAGES, Kind.SCAN, Kind.DRIFT))
    assert eventqueue.wait_seconds(images, refreshed_at, refreshed_at) == spacing
    assert eventqueue.wait_seconds(scan, refreshed_at + 1, refreshed_at) == spacing - 1
    assert eventqueue.wait_seconds(drift, refreshed_at, refreshed_at) == coalesce, "a drift pass is not held back"
    assert eventqueue.wait_seconds(images, refreshed_at + spacing, refreshed_at) == coalesce
    assert eventqueue.wait_seconds(images, 0.0, None) == coalesce, "the first refresh runs at once"


@pytest.mark.parametrize(("count", "spaced"), [(3, False), (eventqueue.IMAGES_PAGE, False), (5000, True)])
def test_only_a_large_repositorys_refreshes_are_spaced(
    consumer: tuple[EventQueue, FakeSqs, list[Pending]], monkeypatch: pytest.MonkeyPatch, count: int, spaced: bool
) -> None:
    """A repository of one DescribeImages page costs one read per refresh: its pushes show at once (the spacing made
    a second push within 5 s wait up to 5 s). Only one whose status counts more than a page is spaced."""
    queue, _, _ = consumer
    monkeypatch.undo()  # the real _pass, with the API server and the refresh faked below
    monkeypatch.setattr(eventqueue, "COALESCE_SECONDS", 0.05)
    raw = obj("app", "team-a/app", registryId="123456789012", images={"count": count})

    async def get_object(*_: Any) -> dict[str, Any]:
        return raw

    async def tick(*_: Any, **__: Any) -> None:
        return None

    monkeypatch.setattr(eventqueue.kube, "get_object", get_object)
    monkeypatch.setattr(eventqueue.passes, "tick", tick)
    handle(queue, [message(sample("ecr-image-push"), "p1")])
    assert ("uid-app" in queue._images_at) is spaced


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
