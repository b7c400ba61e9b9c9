"""AWS events as EventBridge delivers them to an SQS queue: parse, classify, and say which resources they concern.

Pure (no AWS, no Kubernetes): the event queue consumer (``runtime/eventqueue.py``) feeds it message bodies.

A message body is one EventBridge event, exactly as EventBridge sends it to an SQS target: ``version``, ``id``,
``detail-type``, ``source``, ``account``, ``region``, ``time``, ``resources``, ``detail``. Two families arrive:

* ECR's own events (``source: aws.ecr``): ``ECR Image Action`` (push, delete), ``ECR Image Scan`` (a scan finished,
  with its ``finding-severity-counts``), ``ECR Replication Action`` and ``ECR Pull Through Cache Action`` (images
  that arrived by replication or a pull-through cache). They change what a repository holds: an images refresh.
* ``AWS API Call via CloudTrail`` for ``ecr.amazonaws.com`` and ``kms.amazonaws.com`` (needs a trail recording
  management events): somebody changed a repository's settings, policies or tags, or a key's rotation, state,
  tags or alias: a drift pass. The resource is named by ``requestParameters`` (``repositoryName``, a repository
  ``resourceArn``, a KMS ``keyId`` -- key id, key ARN, alias name or alias ARN --, ``aliasName``, ``targetKeyId``)
  and, for KMS, by the record's ``resources`` (the key's ARN, whatever the caller named it by).

Failed calls (``errorCode``), read-only calls and the operator's own calls (``userIdentity``) change nothing we
would correct: they are ignored, with a reason of bounded cardinality for the metrics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ecr_operator.core.documents import MAX_DEPTH, depth


class Kind(StrEnum):
    """What a relevant event asks for."""

    DRIFT = "drift"
    """Somebody changed settings, policies, tags or the key: a full pass (observe, plan, apply) of the resource."""
    IMAGES = "images"
    """Images were pushed, deleted, replicated or cached: refresh status.images / scan / cost."""
    SCAN = "scan"
    """A scan finished: an images refresh, which reads the findings from ECR (an event's own counts are the sender's
    word: they are parsed, for the log and for refusing nonsense, never shown)."""


class Ignore(StrEnum):
    """Why an event asks for nothing (the ``reason`` label of ``ecr_operator_events_dropped_total``)."""

    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    NOT_WATCHED = "not_watched"
    """A call or action that changes nothing the operator manages (a pull, a layer upload, ...)."""
    FAILED = "failed"
    """The call failed (``errorCode``) or the action did not succeed: nothing changed."""
    READ_ONLY = "read_only"
    OWN_CALL = "own_call"
    """The operator's own write: it already is what the operator wanted."""
    NOT_SERVED = "not_served"
    """No resource this replica serves is concerned (another shard's, another cluster's, or nobody's)."""


ECR_IMAGE_ACTION = "ECR Image Action"
ECR_IMAGE_SCAN = "ECR Image Scan"
ECR_REPLICATION_ACTION = "ECR Replication Action"
ECR_PULL_THROUGH_CACHE_ACTION = "ECR Pull Through Cache Action"
API_CALL = "AWS API Call via CloudTrail"

NATIVE_TYPES = {
    ECR_IMAGE_ACTION: "ecr_image_action",
    ECR_IMAGE_SCAN: "ecr_image_scan",
    ECR_REPLICATION_ACTION: "ecr_replication_action",
    ECR_PULL_THROUGH_CACHE_ACTION: "ecr_pull_through_cache_action",
}
"""detail-type of ECR's own events -> the ``type`` label of the event metrics."""
API_CALL_TYPES = {"aws.ecr": "ecr_api_call", "aws.kms": "kms_api_call"}
EVENT_TYPES = (*NATIVE_TYPES.values(), *API_CALL_TYPES.values(), "other", "malformed")
"""Every value of the ``type`` label."""

ECR_DRIFT_CALLS = frozenset(
    {
        "CreateRepository",
        "DeleteRepository",
        "PutImageTagMutability",
        "PutImageScanningConfiguration",
        "PutLifecyclePolicy",
        "DeleteLifecyclePolicy",
        "SetRepositoryPolicy",
        "DeleteRepositoryPolicy",
        "TagResource",
        "UntagResource",
    }
)
"""ECR management calls that change what an EcrRepository manages (the EventBridge rule lists the same names)."""
KMS_DRIFT_CALLS = frozenset(
    {
        "DisableKeyRotation",
        "EnableKeyRotation",
        "DisableKey",
        "EnableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "TagResource",
        "UntagResource",
        "CreateAlias",
        "UpdateAlias",
        "DeleteAlias",
    }
)
"""KMS management calls that change a key the operator manages or the alias it names it by."""

MAX_TARGETS = 8
"""The most keys and aliases one CloudTrail record names (UpdateAlias: the alias, its new and old key, by id and
ARN); a message naming more is forged, and would otherwise be a pass of every resource it lists."""

_ACCOUNT = re.compile(r"^\d{12}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d*):(?P<resource>.+)$")


class MalformedEventError(ValueError):
    """The message is not an EventBridge event (not JSON, not an object, a required field missing or mistyped)."""


@dataclass(frozen=True)
class Event:
    """The envelope of one EventBridge event (``detail`` as it came)."""

    id: str
    detail_type: str
    source: str
    account: str
    region: str
    time: datetime
    detail: Mapping[str, Any]
    resources: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        """The ``type`` label: one of :data:`EVENT_TYPES`."""
        if self.detail_type == API_CALL:
            return API_CALL_TYPES.get(self.source, "other")
        return NATIVE_TYPES.get(self.detail_type, "other") if self.source == "aws.ecr" else "other"


@dataclass(frozen=True)
class RepositoryRef:
    """A repository by account, region and name."""

    account: str
    region: str
    name: str


@dataclass(frozen=True)
class KeyRef:
    """A KMS key by account, region and one of its names: the key id, or an alias name (``alias/...``)."""

    account: str
    region: str
    key: str


Target = RepositoryRef | KeyRef


@dataclass(frozen=True)
class Change:
    """An event that asks for a pass of the resources it names."""

    kind: Kind
    event: Event
    targets: tuple[Target, ...]
    action: str
    """What happened, for the log: the API call's name or the image action (PUSH, DELETE, REPLICATE, ...)."""


@dataclass(frozen=True)
class Ignored:
    event: Event | None
    """None for a malformed message."""
    why: Ignore
    detail: str = ""
    """For the log: what was ignored."""


@dataclass(frozen=True)
class Principal:
    """An AWS identity as IAM names it across sessions: a role (any session of it), a user, or an account root."""

    kind: str
    account: str
    name: str


@dataclass(frozen=True)
class OwnIdentity:
    """Who the operator is in CloudTrail: its own identity and the roles it assumes into mapped accounts."""

    principals: frozenset[Principal] = field(default_factory=frozenset)

    @classmethod
    def of(cls, arns: Iterable[str]) -> OwnIdentity:
        """From ARNs of the operator's identities: sts:GetCallerIdentity's ``Arn`` and the mapped roles' ARNs."""
        return cls(frozenset(p for p in (principal_of(arn) for arn in arns) if p is not None))

    def made(self, detail: Mapping[str, Any]) -> bool:
        """Whether the CloudTrail record's ``userIdentity`` is one of these principals."""
        identity = detail.get("userIdentity")
        if not isinstance(identity, Mapping) or not self.principals:
            return False
        context = identity.get("sessionContext")
        session_issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
        issuer = session_issuer.get("arn") if isinstance(session_issuer, Mapping) else None
        candidates = [issuer, identity.get("arn")]
        return any((p := principal_of(arn)) is not None and p in self.principals for arn in candidates)


def principal_of(arn: object) -> Principal | None:
    """The principal behind an IAM or STS ARN: ``assumed-role/<role>/<session>`` and ``role/<path>/<role>`` are the
    same role (sessions and paths differ, role names are unique in an account); users likewise; the root."""
    if not isinstance(arn, str):
        return None
    found = _ARN.match(arn)
    if found is None or found.group("service") not in ("iam", "sts"):
        return None
    account, resource = found.group("account"), found.group("resource")
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role" and rest:
        return Principal("role", account, rest.split("/", 1)[0])
    if kind in ("role", "user") and rest:
        return Principal(kind, account, rest.rsplit("/", 1)[-1])
    if resource == "root":
        return Principal("root", account, "")
    return None


# -- parsing ----------------------------------------------------------------------------------------------------


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEventError(f"{name!r} is missing or not a string")
    return value


def parse_time(value: str) -> datetime:
    """EventBridge's ``time`` (RFC 3339, UTC, usually whole seconds) as an aware datetime."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedEventError(f"'time' is not an RFC 3339 timestamp: {value[:80]!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse(body: str | bytes) -> Event:
    """One message body as an EventBridge event; raises :class:`MalformedEventError`."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEventError(f"not JSON: {exc}") from exc
    except RecursionError as exc:  # json's scanner recurses once per level: not a ValueError
        raise MalformedEventError(f"nested deeper than {MAX_DEPTH} levels") from exc
    if depth(document) > MAX_DEPTH:  # what is kept of it is formatted (logs) and compared: never deeper than this
        raise MalformedEventError(f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(document, dict):
        raise MalformedEventError(f"not a JSON object but {type(document).__name__}")
    detail = document.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEventError("'detail' is missing or not an object")
    resources = document.get("resources") or []
    if not isinstance(resources, list):
        raise MalformedEventError("'resources' is not a list")
    return Event(
        id=_text(document, "id"),
        detail_type=_text(document, "detail-type"),
        source=_text(document, "source"),
        account=_text(document, "account"),
        region=_text(document, "region"),
        time=parse_time(_text(document, "time")),
        detail=detail,
        resources=tuple(str(r) for r in resources if isinstance(r, str)),
    )


# -- classification ------------------------------------------------------------------------------------------------


def classify(event: Event, own: OwnIdentity = OwnIdentity()) -> Change | Ignored:
    """What ``event`` asks for, and of which resources; or why it asks for nothing."""
    if event.detail_type == API_CALL:
        return _api_call(event, own)
    if event.source != "aws.ecr" or event.detail_type not in NATIVE_TYPES:
        return Ignored(event, Ignore.UNKNOWN_TYPE, f"{event.source} {event.detail_type}")
    detail = event.detail
    name = detail.get("repository-name")
    if not isinstance(name, str) or not name:
        return Ignored(event, Ignore.MALFORMED, f"{event.detail_type} without a repository-name")
    target = RepositoryRef(event.account, event.region, name)
    if event.detail_type == ECR_IMAGE_SCAN:
        return _scan(event, target)
    # Image, replication and pull-through-cache actions: "result" (or "sync-status") says whether it happened.
    outcome = detail.get("result", detail.get("sync-status"))
    action = str(detail.get("action-type") or ("CACHE" if event.detail_type == ECR_PULL_THROUGH_CACHE_ACTION else ""))
    if outcome != "SUCCESS":
        return Ignored(event, Ignore.FAILED, f"{event.detail_type} {action} {outcome}")
    return Change(Kind.IMAGES, event, (target,), action)


def _scan(event: Event, target: RepositoryRef) -> Change | Ignored:
    """A scan finished: the images refresh reads its findings from ECR. The event's own counts are never used:
    whoever can send to the queue could write them for another team's image."""
    status = event.detail.get("scan-status")
    if not isinstance(event.detail.get("image-digest"), str) or not isinstance(status, str):
        return Ignored(event, Ignore.MALFORMED, "ECR Image Scan without image-digest or scan-status")
    return Change(Kind.SCAN, event, (target,), f"scan {status}")


def _api_call(event: Event, own: OwnIdentity) -> Change | Ignored:
    detail = event.detail
    source = detail.get("eventSource")
    name = detail.get("eventName")
    if not isinstance(name, str) or source not in ("ecr.amazonaws.com", "kms.amazonaws.com"):
        return Ignored(event, Ignore.UNKNOWN_TYPE, f"API call {source} {name}")
    if detail.get("errorCode"):
        return Ignored(event, Ignore.FAILED, f"{name}: {detail.get('errorCode')}")
    if detail.get("readOnly") is True:
        return Ignored(event, Ignore.READ_ONLY, name)
    watched = ECR_DRIFT_CALLS if source == "ecr.amazonaws.com" else KMS_DRIFT_CALLS
    if name not in watched:
        return Ignored(event, Ignore.NOT_WATCHED, name)
    if own.made(detail):
        return Ignored(event, Ignore.OWN_CALL, name)
    account = _account(detail.get("recipientAccountId")) or event.account
    region = detail.get("awsRegion") if isinstance(detail.get("awsRegion"), str) else event.region
    parameters = detail.get("requestParameters")
    if not isinstance(parameters, Mapping):
        parameters = {}
    if source == "ecr.amazonaws.com":
        targets: tuple[Target, ...] = _ecr_targets(parameters, account, str(region))
    else:
        targets = _kms_targets(parameters, detail.get("resources"), account, str(region))
    if not targets:
        return Ignored(event, Ignore.MALFORMED, f"{name} names no repository or key")
    if len(targets) > MAX_TARGETS:
        return Ignored(event, Ignore.MALFORMED, f"{name} names {len(targets)} keys; a call names at most {MAX_TARGETS}")
    return Change(Kind.DRIFT, event, targets, name)


def _account(value: object) -> str | None:
    return value if isinstance(value, str) and _ACCOUNT.match(value) else None


def _ecr_targets(parameters: Mapping[str, Any], account: str, region: str) -> tuple[Target, ...]:
    account = _account(parameters.get("registryId")) or account
    name = parameters.get("repositoryName")
    if isinstance(name, str) and name:
        return (RepositoryRef(account, region, name),)
    # TagResource / UntagResource name the repository by ARN.
    arn = _ARN.match(str(parameters.get("resourceArn") or ""))
    if arn and arn.group("service") == "ecr" and arn.group("resource").startswith("repository/"):
        return (RepositoryRef(arn.group("account"), arn.group("region"), arn.group("resource")[len("repository/") :]),)
    return ()


def key_name(value: str, account: str, region: str) -> KeyRef | None:
    """A KMS ``keyId`` as callers give it (key id, key ARN, alias name, alias ARN) as a :class:`KeyRef`."""
    arn = _ARN.match(value)
    if arn is not None:
        if arn.group("service") != "kms":
            return None
        resource = arn.group("resource")
        account, region = arn.group("account") or account, arn.group("region") or region
        if resource.startswith("key/"):
            return KeyRef(account, region, resource[len("key/") :])
        return KeyRef(account, region, resource) if resource.startswith("alias/") else None
    return KeyRef(account, region, value) if value else None


def _kms_targets(parameters: Mapping[str, Any], resources: object, account: str, region: str) -> tuple[Target, ...]:
    found: list[Target] = []
    for name in ("keyId", "targetKeyId", "aliasName"):
        value = parameters.get(name)
        ref = key_name(value, account, region) if isinstance(value, str) else None
        if ref is not None and ref not in found:
            found.append(ref)
    # CloudTrail names the key by its ARN in the record's resources, also when the caller used an alias.
    for resource in resources if isinstance(resources, list) else []:
        arn = resource.get("ARN") if isinstance(resource, Mapping) else None
        ref = key_name(arn, account, region) if isinstance(arn, str) else None
        if ref is not None and ref not in found:
            found.append(ref)
    return tuple(found)
