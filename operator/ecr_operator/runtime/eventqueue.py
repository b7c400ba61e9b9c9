"""The events queue (``--events-queue-url``): AWS tells the operator what changed, and the resource concerned gets a
pass within seconds instead of at its next resync.

EventBridge delivers ECR's own events and CloudTrail's records of ECR and KMS management calls to an SQS queue
(``deploy/aws/``); this module long-polls it, in the operator's event loop (a task its startup handler starts):

* **parse and classify** each message (``core/awsevents.py``, pure): drift (a setting, policy, tag, key or alias
  changed), images (a push, delete, replication, cache), scan (a scan finished), or ignored (a failed or read-only
  call, the operator's own call, something it does not manage);
* **map** it to the EcrRepository objects this replica serves through :class:`Index`, built from kopf's own watch
  streams (:class:`WatchTap`): by account, region and repository name, and by key id or alias;
* **coalesce** per object (a burst of events, or duplicates, is one pass) and **run the pass in this process**
  through the pass runner (``runtime/passes.py``: the object's lock, the kind's controller, report, Events and
  metrics), as ``event`` work: interactive in the AWS pool (``runtime/scheduler.py``), beside creates and edits,
  because someone just changed something and waits to see it reverted or shown, and an event pass is rare (one per
  object per burst of changes, at most ``--workers`` at once) where resyncs are many; the object is read fresh from
  the API server and its status written as the key-creation checkpoint writes it (``runtime/kube.py``). Touching
  the object instead (an annotation, so that kopf runs an update handler) would cost an API write and a diff, report
  the pass as a spec change, and clutter the object: not done;
* **delete** a message once its passes are queued, or at once when it is ignored or malformed (logged once, then
  gone). A pass lost to a crash after the delete is made good by the restart's resume pass over every object.

The safety net: each object's one timer (``runtime/periodic.py``) ticks every ``--events-fallback-interval``; the
resync runs every ``--resync-interval`` (default 6 h with a queue) and the inventory every ``--inventory-interval``
(likewise) at offsets fixed per object, and both on every tick while the queue cannot be read (the kinds' ticks
are switched to their fallback cadence, ``Ticks.falling_back``); then readiness fails,
``ecr_operator_events_queue_readable`` is 0 and a Warning Event goes to the operator's own Pod
(``POD_NAME``/``POD_NAMESPACE``/``POD_UID`` from the downward API; without them, the log, the metric and readiness
say it).

Replicas: a replica kopf's peering keeps on standby does not receive (it waits for kopf's pause to end), so the
active one gets every message. Shards: each shard serves its own namespaces and drops what concerns no object it
serves, so every shard needs a queue of its own (one rule may target several queues): a shared queue would lose
the other shards' events to whichever shard received them (they would still be corrected by the safety net).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import boto3
import kopf
from botocore.config import Config
from prometheus_client import Counter, Gauge, Histogram

from ecr_operator.core import metrics
from ecr_operator.core.api import GROUP, VERSION
from ecr_operator.core.awsevents import (
    EVENT_TYPES,
    Change,
    Ignore,
    Ignored,
    KeyRef,
    Kind,
    MalformedEventError,
    OwnIdentity,
    Target,
    classify,
    key_name,
    parse,
)
from ecr_operator.core.kind import EVENT
from ecr_operator.core.reasons import Reason
from ecr_operator.repository.kind import KIND
from ecr_operator.repository.render import key_alias_for
from ecr_operator.runtime import kube, passes
from ecr_operator.runtime.process import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")

PLURAL = KIND.crd.plural
RESOURCE = kopf.Resource(GROUP, VERSION, PLURAL, namespaced=True)
WAIT_SECONDS = 20
"""SQS long polling: a receive returns as soon as a message arrives, else after this long (the maximum)."""
MAX_MESSAGES = 10
COALESCE_SECONDS = 0.2
"""Events for one object within this long (a console edit is often several calls) make one pass."""
IMAGES_SPACING_SECONDS = 5.0
"""A large repository's images refresh (DescribeImages, every page) runs for events at most this often: a refresh
costs a read per 1000 images, so a stream of pushes into it would otherwise cost that many reads per push (the
events meanwhile coalesce into the next refresh). A repository of one page is refreshed at each event (a push shows
in status within a second), like any other one-read pass."""
IMAGES_PAGE = 1000
"""DescribeImages' page size: a repository whose status counts more images than this is spaced."""
MAX_ATTEMPTS = 5
"""A pass that failed with a retried error is tried again this often (kopf's backoff), then left to the safety net."""
ATTRIBUTES_EVERY_SECONDS = 60.0
RECEIVE_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

RECEIVED = Counter(
    "ecr_operator_events_received_total",
    "Events received from the events queue, by type (malformed: not an EventBridge event).",
    ["type"],
)
MATCHED = Counter(
    "ecr_operator_events_matched_total",
    "Events that concerned at least one resource this replica serves and queued its pass, by type.",
    ["type"],
)
DROPPED = Counter(
    "ecr_operator_events_dropped_total",
    "Events deleted without a pass, by type and reason (malformed, unknown_type, not_watched, failed, read_only, "
    "own_call, not_served).",
    ["type", "reason"],
)
EVENT_PASSES = Counter(
    "ecr_operator_event_passes_total",
    "Passes events triggered, by kind (drift, images, scan) and result (ok, retried, error, gone).",
    ["kind", "result"],
)
EVENT_TO_PASS_SECONDS = Histogram(
    "ecr_operator_event_to_pass_seconds",
    "From an event's arrival in the queue (SQS SentTimestamp) to the end of the pass it triggered (status written), "
    "by kind.",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
QUEUE_READABLE = Gauge(
    "ecr_operator_events_queue_readable",
    "1 while the events queue can be read, 0 while it cannot (resyncs then run every --events-fallback-interval).",
)
QUEUE_ERRORS = Counter(
    "ecr_operator_events_queue_errors_total", "Failed calls to the events queue, by error.", ["error"]
)
QUEUE_MESSAGES = Gauge(
    "ecr_operator_events_queue_messages", "Messages waiting in the events queue (ApproximateNumberOfMessages)."
)

_SQS_URL = re.compile(r"^https://sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/")
_LEGACY_SQS_URL = re.compile(r"^https://(?P<region>[a-z0-9-]+)\.queue\.amazonaws\.com(\.cn)?/")


def queue_region(url: str, default: str) -> str:
    """The region of an SQS queue URL (``https://sqs.<region>.amazonaws.com/<account>/<name>``); an emulator's URL
    carries none: ``default``."""
    found = _SQS_URL.match(url) or _LEGACY_SQS_URL.match(url)
    return found.group("region") if found else default


def sqs_client(url: str, region: str) -> Any:
    """A client whose read timeout outlasts a long poll, counted in ``ecr_operator_aws_requests_total``."""
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=WAIT_SECONDS + 10)
    client = boto3.session.Session().client("sqs", region_name=queue_region(url, region), config=config)
    metrics.instrument(client)
    return client


# -- which objects this replica serves ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """What events can name an EcrRepository object by."""

    uid: str
    namespace: str
    name: str
    region: str
    repository: str
    account: str | None
    """status.account (or registryId) once a pass pinned or found the repository; before that any account matches."""
    keys: frozenset[str] = frozenset()
    """Key ids (of status.kmsKeyArn and a brought spec.encryption.kmsKeyArn) and the managed key's alias name."""
    deleting: bool = False


def served_from(raw: Mapping[str, Any], default_region: str) -> Served | None:
    """What a watched object can be named by; None for an object without a usable identity."""
    metadata = raw.get("metadata") or {}
    spec, status = raw.get("spec") or {}, raw.get("status") or {}
    uid, namespace, name = metadata.get("uid"), metadata.get("namespace"), metadata.get("name")
    # The place a pass pinned in status first (repository/placement.py: what every later pass acts on), else what
    # the spec asks for, with its defaults (metadata.name, the operator's region).
    repository = status.get("repositoryName") or spec.get("repositoryName") or name
    if not all(isinstance(value, str) and value for value in (uid, namespace, name, repository)):
        return None
    region = str(status.get("region") or spec.get("region") or default_region)
    account = status.get("account") or status.get("registryId")
    keys: set[str] = set()
    encryption = spec.get("encryption") or {}
    for arn in (status.get("kmsKeyArn"), encryption.get("kmsKeyArn")):
        ref = key_name(arn, "", region) if isinstance(arn, str) else None
        if ref is not None:
            keys.add(ref.key)
    if encryption.get("type") == "KMS" and not encryption.get("kmsKeyArn"):
        keys.add(key_alias_for(str(repository)))
    return Served(
        uid=str(uid),
        namespace=str(namespace),
        name=str(name),
        region=region,
        repository=str(repository),
        account=str(account) if isinstance(account, str) and account else None,
        keys=frozenset(keys),
        deleting=bool(metadata.get("deletionTimestamp")),
    )


class Index:
    """Served objects by (region, repository name) and by (region, key id or alias); accounts checked on match."""

    def __init__(self) -> None:
        self._by_uid: dict[str, Served] = {}
        self._repositories: dict[tuple[str, str], set[str]] = {}
        self._keys: dict[tuple[str, str], set[str]] = {}

    def __len__(self) -> int:
        return len(self._by_uid)

    def put(self, served: Served) -> None:
        if self._by_uid.get(served.uid) == served:
            return
        self.remove(served.uid)
        self._by_uid[served.uid] = served
        self._repositories.setdefault((served.region, served.repository), set()).add(served.uid)
        for key in served.keys:
            self._keys.setdefault((served.region, key), set()).add(served.uid)

    def remove(self, uid: str) -> None:
        served = self._by_uid.pop(uid, None)
        if served is None:
            return
        entries = [(self._repositories, (served.region, served.repository))]
        entries += [(self._keys, (served.region, key)) for key in served.keys]
        for table, key in entries:
            uids = table.get(key)
            if uids is not None:
                uids.discard(uid)
                if not uids:
                    del table[key]

    def get(self, uid: str) -> Served | None:
        return self._by_uid.get(uid)

    def match(self, target: Target) -> list[Served]:
        if isinstance(target, KeyRef):
            uids = self._keys.get((target.region, target.key), set())
        else:
            uids = self._repositories.get((target.region, target.name), set())
        found = [self._by_uid[uid] for uid in sorted(uids)]
        return [s for s in found if s.account is None or s.account == target.account]


class WatchTap:
    """kopf's watch streams of EcrRepository objects, seen as kopf receives them, for two things kopf has no public
    hook for: the index (every object of the watched namespaces at once, not as kopf's bounded workers get to
    them), and kopf's pause (peering: a standby replica's streams are paused, and so must its consumer be).

    Through ``runtime/kube.tap_watches``, the one module touching kopf's internals (kopf is pinned by
    constraints.txt, and the e2e tests run through it)."""

    def __init__(self, index: Index, default_region: str) -> None:
        self.index = index
        self.default_region = default_region
        self.paused: kube.Paused | None = None
        """kopf's operator-wide pause (peering), once a stream has started."""
        self._listed: dict[str | None, float] = {}
        """Stream (namespace, None: cluster-wide) -> time.monotonic() of its last complete listing (0: none yet)."""
        self._undo: Callable[[], None] | None = None

    def install(self) -> None:
        self._undo = kube.tap_watches(self)

    def uninstall(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None

    def started(self, resource: Any, namespace: str | None, paused: kube.Paused | None) -> bool:
        if paused is not None:
            self.paused = paused
        ours = getattr(resource, "group", None) == GROUP and getattr(resource, "plural", None) == PLURAL
        if ours:
            self._listed[namespace] = 0.0
        return ours

    def seen(self, namespace: str | None, event: Any) -> None:
        self.observe(namespace, event)

    def ended(self, namespace: str | None) -> None:
        self._listed.pop(namespace, None)

    def observe(self, stream: str | None, event: Any) -> None:
        """One raw watch event (or kopf's end-of-listing bookmark) of a stream."""
        if event is kube.LISTED:
            self._listed[stream] = time.monotonic()
            return
        if not isinstance(event, Mapping):
            return
        obj = event.get("object")
        if not isinstance(obj, Mapping):
            return
        if event.get("type") == "DELETED":
            self.index.remove(str((obj.get("metadata") or {}).get("uid")))
        elif event.get("type") in (None, "ADDED", "MODIFIED"):
            served = served_from(obj, self.default_region)
            if served is not None:
                self.index.put(served)

    def listed_since(self, moment: float) -> bool:
        """Whether every stream has completed a listing after ``moment`` (and there is one)."""
        return bool(self._listed) and all(listed > moment for listed in self._listed.values())

    def is_paused(self) -> bool:
        return self.paused is not None and self.paused.is_on()


# -- the consumer --------------------------------------------------------------------------------------------


@dataclass
class Pending:
    """What one object's next event pass must do (events coalesce into it until it starts)."""

    served: Served
    kinds: set[Kind] = field(default_factory=set)
    sent_at: float = float("inf")
    """Epoch seconds when the earliest of its events entered the queue."""
    attempt: int = 0
    not_before: float = 0.0
    """time.monotonic() before which a retried pass does not start."""

    def add(self, change: Change, sent_at: float) -> None:
        self.kinds.add(change.kind)
        self.sent_at = min(self.sent_at, sent_at)

    def merge(self, later: Pending) -> None:
        self.kinds |= later.kinds
        self.sent_at = min(self.sent_at, later.sent_at)


class _DaemonWorker:
    """One daemon thread for the queue's blocking calls: a long poll in progress never holds up the process's exit
    (a ThreadPoolExecutor's threads are joined at exit), nor a thread of the AWS pool."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]]]
        self._calls = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="events-queue", daemon=True).start()

    def _serve(self) -> None:
        while True:
            fn, loop, future = self._calls.get()
            try:
                result = fn()
            except BaseException as exc:
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((fn, loop, future))
        return await future


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _operator_pod() -> dict[str, Any] | None:
    """The operator's own Pod (downward API variables), where operator-level Warnings go; None outside a Pod."""
    name, namespace, uid = (os.environ.get(f"POD_{part}") for part in ("NAME", "NAMESPACE", "UID"))
    if not (name and namespace and uid):
        return None
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "uid": uid}}


class EventQueue:
    def __init__(self, memo: Runtime, sqs: Any | None = None) -> None:
        self.memo = memo
        settings = memo.settings
        self.url = settings.events_queue_url
        self.sqs = sqs if sqs is not None else sqs_client(self.url, settings.region)
        self.index = Index()
        self.tap = WatchTap(self.index, settings.region)
        self.readable: bool | None = None
        """None until the first receive; then whether the last one succeeded."""
        self.error = ""
        self.state = "starting"
        self._own_arn: str | None = None
        self._pending: dict[str, Pending] = {}
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._images_at: dict[str, float] = {}
        """uid -> time.monotonic() when its last images refresh for events ended (within the spacing)."""
        self._slots: asyncio.Semaphore | None = None
        self._worker: _DaemonWorker | None = None
        self._resumed_at = 0.0
        self._attributes_at = -ATTRIBUTES_EVERY_SECONDS
        self._pod = _operator_pod()
        QUEUE_READABLE.set(1)
        for type_ in EVENT_TYPES:  # every series from the start: rates and alerts need no first event
            RECEIVED.labels(type_)
            MATCHED.labels(type_)

    # -- the safety net ------------------------------------------------------------------------------------------

    def _fall_back(self, falling_back: bool) -> None:
        """The kinds the events serve pass at their fallback cadence (periodic.py) while the queue cannot be read."""
        for ticks in self.memo.ticks.values():
            ticks.falling_back = falling_back

    def check(self) -> None:
        """The readiness check: raises while the queue cannot be read."""
        if self.readable is False:
            raise RuntimeError(f"the events queue cannot be read: {self.error}")

    async def probe(self) -> None:
        self.check()

    # -- the loop ------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        self._worker = _DaemonWorker()
        self._slots = asyncio.Semaphore(max(1, self.memo.settings.max_workers))
        failures = 0
        log.info("events: reading %s", self.url)
        while True:
            await self._until_serving()
            try:
                if time.monotonic() - self._attributes_at >= ATTRIBUTES_EVERY_SECONDS:
                    await self._attributes()
                messages = await self._worker.run(self._receive)
            except Exception as exc:  # whatever keeps the queue from being read: reported, retried
                self._unreadable(exc)
                await asyncio.sleep(RECEIVE_BACKOFF_SECONDS[min(failures, len(RECEIVE_BACKOFF_SECONDS) - 1)])
                failures += 1
                continue
            failures = 0
            self._readable_again()
            if self.tap.is_paused():
                continue  # lost the peering meanwhile: the active replica receives them after the visibility timeout
            await self._own_identity()
            for message in messages:
                try:
                    await self._handle(message)
                except Exception:  # one message the checks missed never ends the consumer for every resource
                    log.exception("events: could not handle message %s; deleted", message.get("MessageId"))
                    DROPPED.labels("malformed", Ignore.MALFORMED).inc()
                    await self._delete(message)

    async def _until_serving(self) -> None:
        """Until kopf serves (not paused by peering) and every stream has listed since: an event then finds every
        object this replica serves in the index."""
        while True:
            if self.tap.is_paused():
                assert self.tap.paused is not None
                self.state = "standby"
                await self.tap.paused.wait_for(False)
                self._resumed_at = time.monotonic()
                continue
            if self.tap.listed_since(self._resumed_at):
                self.state = "reading"
                return
            self.state = "waiting for the watch listing"
            await asyncio.sleep(0.25)

    def _receive(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=MAX_MESSAGES,
            WaitTimeSeconds=WAIT_SECONDS,
            MessageSystemAttributeNames=["SentTimestamp"],
        )
        messages: list[dict[str, Any]] = response.get("Messages") or []
        return messages

    async def _attributes(self) -> None:
        assert self._worker is not None
        answer = await self._worker.run(
            lambda: self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"])
        )
        QUEUE_MESSAGES.set(int((answer.get("Attributes") or {}).get("ApproximateNumberOfMessages", 0)))
        self._attributes_at = time.monotonic()

    async def _own_identity(self) -> None:
        """The operator's own identity (sts:GetCallerIdentity, which needs no permission), once: CloudTrail names it
        in ``userIdentity`` of the calls the operator made."""
        if self._own_arn is not None:
            return
        clients = self.memo.clients.for_region(self.memo.settings.region)
        try:
            answer = await self.memo.run(clients.sts.get_caller_identity, kind=EVENT)
        except Exception as exc:
            log.info("events: own identity not known yet (%r): own calls cost a pass until it is", exc)
            return
        self._own_arn = str(answer["Arn"])
        log.info("events: own calls are those of %s and the mapped accounts' roles", self._own_arn)

    def own(self) -> OwnIdentity:
        roles = [role for role in self.memo.controller(KIND).namespaces.roles.values() if role]
        return OwnIdentity.of([*([self._own_arn] if self._own_arn else []), *roles])

    def _readable_again(self) -> None:
        if self.readable is False:
            resync = self.memo.settings.resync_seconds
            log.info("events: the queue can be read again; resyncs are back to every %.0f s", resync)
            self._fall_back(False)
        self.readable, self.error = True, ""
        QUEUE_READABLE.set(1)

    def _unreadable(self, exc: Exception) -> None:
        response = getattr(exc, "response", None)
        code = ((response or {}).get("Error") or {}).get("Code") if isinstance(response, Mapping) else None
        QUEUE_ERRORS.labels(str(code or type(exc).__name__)).inc()
        QUEUE_READABLE.set(0)
        self.error = f"{type(exc).__name__}: {exc}"[:300]
        if self.readable is False:
            return
        self.readable = False
        self._fall_back(True)
        message = (
            f"the events queue {self.url} cannot be read ({self.error}); resyncs fall back to every "
            f"{self.memo.settings.events_fallback_seconds:.0f} s until it can"
        )
        log.warning("events: %s", message)
        if self._pod is not None:
            body = kopf.Body(cast(kopf.RawBody, self._pod))
            self.memo.events.record(body, type="Warning", reason=Reason.EVENTS_QUEUE_UNREADABLE, message=message)

    # -- one message -----------------------------------------------------------------------------------------

    async def _handle(self, message: Mapping[str, Any]) -> None:
        """One message: queued passes, then deleted; or dropped and deleted. Whatever a message holds, the consumer
        goes on to the next: one the parser and classifier did not foresee is dropped as malformed."""
        try:
            await self._handle_one(message)
        except Exception:
            DROPPED.labels("malformed", Ignore.MALFORMED).inc()
            log.exception("events: deleted message %s, which could not be handled", message.get("MessageId"))
            await self._delete(message)

    async def _handle_one(self, message: Mapping[str, Any]) -> None:
        sent_ms = (message.get("Attributes") or {}).get("SentTimestamp")
        sent_at = int(str(sent_ms)) / 1000 if str(sent_ms or "").isdigit() else time.time()
        try:
            event = parse(str(message.get("Body") or ""))
        except MalformedEventError as exc:
            RECEIVED.labels("malformed").inc()
            DROPPED.labels("malformed", Ignore.MALFORMED).inc()
            # Logged once: the message is deleted right after.
            log.warning("events: deleted malformed message %s: %s", message.get("MessageId"), exc)
            await self._delete(message)
            return
        RECEIVED.labels(event.type).inc()
        decision = classify(event, self.own())
        if isinstance(decision, Ignored):
            self._drop(decision.event.type if decision.event else "malformed", decision.why, decision.detail)
            await self._delete(message)
            return
        served = {s.uid: s for target in decision.targets for s in self.index.match(target) if not s.deleting}
        if not served:
            self._drop(event.type, Ignore.NOT_SERVED, f"{decision.action} {_names(decision.targets)}")
            await self._delete(message)
            return
        MATCHED.labels(event.type).inc()
        for one in served.values():
            self._queue(one, decision, sent_at)
        names = ", ".join(f"{s.namespace}/{s.name}" for s in served.values())
        action, event_id = _short(decision.action), _short(event.id)
        log.info("events: %s %s %s -> %s pass of %s", event.type, action, event_id, decision.kind, names)
        await self._delete(message)

    def _drop(self, type_: str, why: Ignore, detail: str) -> None:
        DROPPED.labels(type_, why).inc()
        log.debug("events: dropped %s (%s): %s", type_, why, _short(detail, 200))

    async def _delete(self, message: Mapping[str, Any]) -> None:
        assert self._worker is not None
        receipt = str(message.get("ReceiptHandle") or "")
        try:
            await self._worker.run(lambda: self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt))
        except Exception as exc:  # it comes back after the visibility timeout: a duplicate, which is harmless
            QUEUE_ERRORS.labels(type(exc).__name__).inc()
            log.warning("events: could not delete message %s: %r", message.get("MessageId"), exc)

    # -- passes ----------------------------------------------------------------------------------------------

    def _queue(self, served: Served, change: Change, sent_at: float) -> None:
        pending = self._pending.get(served.uid)
        if pending is None:
            pending = self._pending[served.uid] = Pending(served)
        pending.add(change, sent_at)
        if served.uid not in self._drains:
            self._drains[served.uid] = asyncio.get_running_loop().create_task(self._drain(served.uid))

    async def _drain(self, uid: str) -> None:
        """Passes for one object, one at a time, until no event waits for it (events arriving during a pass make
        the next one: the pass may have read before their change). A pass that fails outside the kind's controller
        (the API server not answering its read of the object) is retried like a retried error: its messages are
        already deleted."""
        try:
            while (pending := self._pending.get(uid)) is not None:
                await asyncio.sleep(wait_seconds(pending, time.monotonic(), self._images_at.get(uid)))
                pending = self._pending.get(uid)
                if pending is None:
                    return
                if wait_seconds(pending, time.monotonic(), self._images_at.get(uid)) > COALESCE_SECONDS:
                    continue  # an event arrived meanwhile that asks for a refresh too soon: wait for it
                del self._pending[uid]
                assert self._slots is not None
                async with self._slots:
                    try:
                        large = await self._pass(pending)
                    except Exception as exc:
                        log.warning("events: a pass of %s/%s failed: %r", *_ref(pending), exc)
                        self._retry(pending, passes.backoff(pending.attempt))
                        continue
                if large and pending.kinds & IMAGE_KINDS:
                    self._refreshed(uid)
        finally:
            self._drains.pop(uid, None)

    def _refreshed(self, uid: str) -> None:
        """An images refresh of ``uid`` ended now; refreshes older than the spacing are forgotten."""
        now = time.monotonic()
        for old in [key for key, at in self._images_at.items() if at + IMAGES_SPACING_SECONDS < now]:
            del self._images_at[old]
        self._images_at[uid] = now

    async def _pass(self, pending: Pending) -> bool:
        """The pass ``pending`` asks for; whether the object's repository is large (more than a page of images)."""
        served = pending.served
        logger = _ObjectLogger(log, f"{served.namespace}/{served.name}")
        settings = self.memo.kopf_settings
        raw = await kube.get_object(RESOURCE, served.namespace, served.name, settings, logger)
        if raw is None or (raw.get("metadata") or {}).get("uid") != served.uid:
            self.index.remove(served.uid)
            for kind in pending.kinds:
                EVENT_PASSES.labels(kind, "gone").inc()
            return False
        body = kopf.Body(cast(kopf.RawBody, raw))
        if body.meta.get("deletionTimestamp"):
            return False
        count = (body.status.get("images") or {}).get("count")
        large = isinstance(count, int) and count > IMAGES_PAGE
        patch = kopf.Patch()
        # kopf's handler arguments, as the pass runner reads them (passes.Call): the same pass as kopf's handlers.
        handler: dict[str, Any] = {
            "body": body,
            "meta": body.meta,
            "patch": patch,
            "memo": self.memo,
            "logger": logger,
            "resource": RESOURCE,
            "retry": pending.attempt,
            "reason": EVENT,
        }
        results: dict[Kind, str] = {}
        try:
            if Kind.DRIFT in pending.kinds:
                results[Kind.DRIFT] = "retried"
                await passes.reconcile(KIND, resync=True, work=EVENT, **handler)
                results[Kind.DRIFT] = "ok"
            # A scan event asks for the refresh too: whoever can send to the queue could write one for another
            # team's repository and newest digest, so its counts are never shown; ECR's are (two reads).
            images = pending.kinds & {Kind.IMAGES, Kind.SCAN}
            if images and KIND.timer is not None:
                await passes.tick(KIND, KIND.timer, work=EVENT, **handler)
                results.update((kind, "ok") for kind in images)
        except kopf.TemporaryError as error:
            self._retry(pending, error.delay or 1.0)
        except kopf.PermanentError:
            results = {kind: "error" for kind in pending.kinds}
        finally:
            status = patch.get("status")
            if status:
                await self._write_status(served, dict(status), logger)
        ended = time.time()
        for kind, result in results.items():
            EVENT_PASSES.labels(kind, result).inc()
            if result != "retried":
                EVENT_TO_PASS_SECONDS.labels(kind).observe(max(0.0, ended - pending.sent_at))
        return large

    def _retry(self, pending: Pending, delay: float) -> None:
        if pending.attempt + 1 >= MAX_ATTEMPTS:
            log.warning("events: %s/%s gave up after %d attempts; left to the resync", *_ref(pending), MAX_ATTEMPTS)
            return
        pending.attempt += 1
        pending.not_before = time.monotonic() + delay
        later = self._pending.get(pending.served.uid)
        if later is not None:
            pending.merge(later)
        self._pending[pending.served.uid] = pending

    async def _write_status(self, served: Served, status: dict[str, Any], logger: _ObjectLogger) -> None:
        try:
            await kube.patch_status(RESOURCE, served.namespace, served.name, status, self.memo.kopf_settings, logger)
        except Exception as exc:  # the next pass writes it again
            logger.warning("events: could not write status: %r", exc)


def _short(text: str, limit: int = 80) -> str:
    """The sender's text for a log line: a message may carry up to 1 MiB of it."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


IMAGE_KINDS = frozenset({Kind.IMAGES, Kind.SCAN})


def wait_seconds(pending: Pending, now: float, images_at: float | None) -> float:
    """How long a pending pass waits (``now``, ``images_at``: time.monotonic()): the coalescing window, a retry's
    backoff, and for an images refresh the spacing since the object's last one (``images_at``)."""
    wait = max(COALESCE_SECONDS, pending.not_before - now)
    if pending.kinds & IMAGE_KINDS and images_at is not None:
        wait = max(wait, images_at + IMAGES_SPACING_SECONDS - now)
    return wait


def _ref(pending: Pending) -> tuple[str, str]:
    return pending.served.namespace, pending.served.name


def _names(targets: tuple[Target, ...]) -> str:
    return ", ".join(f"{t.account}/{t.region}/{t.key if isinstance(t, KeyRef) else t.name}" for t in targets)


class _ObjectLogger(logging.LoggerAdapter[logging.Logger]):
    """Log lines of an event pass name the object, as kopf's own object loggers do."""

    def __init__(self, logger: logging.Logger, reference: str) -> None:
        super().__init__(logger, {"reference": reference})

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{(self.extra or {}).get('reference')}] {msg}", kwargs


# -- wiring ----------------------------------------------------------------------------------------------------


async def start(memo: Runtime, **_: Any) -> None:
    """kopf's startup handler (``runtime/handlers.py``): starts the consumer before kopf's watch streams start
    (startup handlers run first), with its readiness check."""
    consumer = EventQueue(memo)
    consumer.tap.install()
    memo.checks["eventsQueue"] = consumer.probe
    memo.background.append(asyncio.get_running_loop().create_task(consumer.run(), name="events queue"))
