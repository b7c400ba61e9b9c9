"""The pure status report: what a pass (or a failed pass) writes to status and which Events it posts.

Three conditions, in the Kubernetes shape:

- ``Ready``: the repository exists and is usable as specified (what ``kubectl wait`` and Argo CD read). A
  retried error (throttling, AWS unavailable) does not take away a Ready that was already True for this
  generation: the repository is still there and still right.
- ``Synced``: the last pass reached AWS and applied its plan; reason and message of the last error otherwise.
- ``Stalled``: True while the last error waits for a change (the spec, the Namespace, IAM, someone else's
  resource) instead of being retried (reasons in ``reasons.PERMANENT``).

``lastTransitionTime`` moves only when a condition's status flips. Everything is built from the pydantic
status model, so a field the CRD does not declare cannot be written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import PERMANENT, Reason
from ecr_operator.core.settings import Prices
from ecr_operator.repository.cost import estimated_monthly_cost
from ecr_operator.repository.parts.images import Inventory, ScanSummary
from ecr_operator.repository.reconcile import Outcome
from ecr_operator.repository.spec import (
    OBSERVE_ONLY_ANNOTATION,
    Condition,
    EcrRepositoryStatus,
    ImagesStatus,
    ScanStatus,
)

READY = "Ready"
SYNCED = "Synced"
STALLED = "Stalled"
CONDITION_TYPES = (READY, SYNCED, STALLED)


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: Reason
    message: str


@dataclass(frozen=True)
class Report:
    status: dict[str, Any]
    """A merge patch of ``status`` (camelCase; None clears a field)."""
    events: list[Event]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(
    previous: Sequence[Mapping[str, Any]] | None,
    type: str,
    ok: bool,
    reason: Reason,
    message: str,
    generation: int | None,
    timestamp: str,
) -> Condition:
    status: Literal["True", "False"] = "True" if ok else "False"
    old = next((c for c in previous or [] if c.get("type") == type), None)
    same = old is not None and old.get("status") == status and old.get("lastTransitionTime")
    return Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=str(old["lastTransitionTime"]) if same and old else timestamp,
        observed_generation=generation,
    )


def _was_ready(previous: Mapping[str, Any], generation: int | None) -> bool:
    ready = next((c for c in previous.get("conditions") or [] if c.get("type") == READY), None)
    return bool(ready and ready.get("status") == "True" and ready.get("observedGeneration") == generation)


def _dump(status: EcrRepositoryStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, exclude_unset=True, mode="json")


def _adoption(adopted_now: bool, previous: Mapping[str, Any], timestamp: str) -> dict[str, Any]:
    """``adopted``/``adoptedAt``: set by the pass that adopted the repository, kept from the previous status after."""
    if adopted_now:
        return {"adopted": True, "adopted_at": timestamp}
    if previous.get("adopted"):
        return {"adopted": True, "adopted_at": previous.get("adoptedAt")}
    return {}


def vulnerability_event(scan: ScanSummary | None, previous_scan: Mapping[str, Any] | None) -> Event | None:
    """A Warning when the newest image's scan has CRITICAL or HIGH findings and the previous status did not already
    show this image with these counts: once per digest and change of counts, not at every refresh."""
    if scan is None or scan.finding_severity_counts is None or (scan.critical == 0 and scan.high == 0):
        return None
    before = previous_scan or {}
    counts = before.get("findingSeverityCounts") or {}
    if (
        before.get("imageDigest") == scan.image_digest
        and counts.get("CRITICAL", 0) == scan.critical
        and counts.get("HIGH", 0) == scan.high
    ):
        return None
    tags = f" (tags {', '.join(scan.image_tags)})" if scan.image_tags else " (untagged)"
    completed = f", scan completed {scan.completed_at}" if scan.completed_at else ""
    return Event(
        "Warning",
        Reason.VULNERABILITIES_FOUND,
        f"image {scan.image_digest}{tags} has {scan.critical} CRITICAL and {scan.high} HIGH findings{completed}",
    )


def _inventory_fields(
    inventory: Inventory, previous: Mapping[str, Any], prices: Prices
) -> tuple[dict[str, Any], list[Event]]:
    """status.images, status.scan (None clears it) and status.estimatedMonthlyCostUSD, and the vulnerability Event."""
    images = inventory.images
    scan = inventory.scan
    fields: dict[str, Any] = {
        "images": ImagesStatus(
            count=images.count,
            total_size_bytes=images.total_size_bytes,
            newest_pushed_at=images.newest_pushed_at,
            newest_tags=list(images.newest_tags),
        ),
        "scan": None if scan is None else _scan_status(scan),
        "estimated_monthly_cost_usd": estimated_monthly_cost(images.total_size_bytes, inventory.manages_key, prices),
    }
    event = vulnerability_event(scan, previous.get("scan"))
    return fields, [event] if event is not None else []


def report_inventory(inventory: Inventory, previous: Mapping[str, Any], prices: Prices) -> Report:
    """The ``inventory`` timer's refresh: images, scan and cost only; conditions are the passes' business."""
    fields, events = _inventory_fields(inventory, previous, prices)
    return Report(_dump(EcrRepositoryStatus(**fields)), events)


def pass_conditions(
    problems: Sequence[OperatorError],
    planned: Sequence[str],
    previous: Mapping[str, Any],
    generation: int | None,
    timestamp: str,
    *,
    observe_only: bool,
    in_sync: str,
) -> tuple[list[Condition], list[Event]]:
    """Ready / Synced / Stalled of a pass that reached AWS (any kind), and the Warning its problems post.

    Problems first (Ready=False, Stalled when every one waits for a change), then an observe-only plan
    (OutOfSync), else in sync (``in_sync`` is the message)."""
    events: list[Event] = []
    if problems:
        ready, reason = False, problems[0].reason
        message = "; ".join(p.message for p in problems)
        events.append(Event("Warning", reason, message))
    elif planned:
        ready, reason = False, Reason.OUT_OF_SYNC
        message = f"observe-only ({OBSERVE_ONLY_ANNOTATION}); a reconcile would: {'; '.join(planned)}"
    else:
        ready, reason, message = True, Reason.SYNCED, in_sync
    if observe_only:
        synced_reason, synced_message = Reason.OBSERVE_ONLY, "observe-only: AWS was read, nothing was written"
    else:
        synced_reason, synced_message = Reason.SYNCED, "the last pass reached AWS and applied its plan"
    old = previous.get("conditions")
    stalled = bool(problems) and all(p.reason in PERMANENT for p in problems)
    conditions = [
        _condition(old, READY, ready, reason, message, generation, timestamp),
        _condition(old, SYNCED, True, synced_reason, synced_message, generation, timestamp),
        _condition(
            old,
            STALLED,
            stalled,
            reason if stalled else Reason.SYNCED,
            message if stalled else "nothing waits for a change",
            generation,
            timestamp,
        ),
    ]
    return conditions, events


def failure_conditions(
    error: OperatorError, previous: Mapping[str, Any], generation: int | None, timestamp: str, *, retried: str
) -> list[Condition]:
    """Ready / Synced / Stalled of a pass that stopped at ``error``: Synced=False with it; Ready kept only for a
    retried error on an object already Ready at this generation (``retried`` starts its message); Stalled when
    the error waits for a change."""
    permanent = error.reason in PERMANENT or not error.retryable
    old = previous.get("conditions")
    if not permanent and _was_ready(previous, generation):
        message = f"{retried}; the last pass is being retried ({error.reason})"
        ready = _condition(old, READY, True, Reason.SYNCED, message, generation, timestamp)
    else:
        ready = _condition(old, READY, False, error.reason, error.message, generation, timestamp)
    return [
        ready,
        _condition(old, SYNCED, False, error.reason, error.message, generation, timestamp),
        _condition(
            old,
            STALLED,
            permanent,
            error.reason if permanent else Reason.RECONCILING,
            error.message if permanent else "retried with backoff",
            generation,
            timestamp,
        ),
    ]


def report(
    outcome: Outcome,
    previous: Mapping[str, Any],
    generation: int | None,
    timestamp: str,
    *,
    observe_only: bool,
    resync: bool,
    prices: Prices | None = None,
) -> Report:
    """A pass that reached AWS: identifiers, plan (observe-only), conditions and Events; with the inventory when
    the pass observed it (``prices`` for the cost estimate; default: the operator's default prices)."""
    events: list[Event] = []
    changes = [action.summary for action in outcome.applied]
    if changes:
        events.append(Event("Normal", Reason.DRIFT_CORRECTED if resync else Reason.UPDATED, "; ".join(changes)))
    if outcome.adopted:
        events.append(Event("Normal", Reason.ADOPTED, f"adopted repository {outcome.repository_name}"))
    planned = [action.summary for action in outcome.planned] if observe_only else []

    conditions, warnings = pass_conditions(
        outcome.problems,
        planned,
        previous,
        generation,
        timestamp,
        observe_only=observe_only,
        in_sync=f"repository {outcome.repository_name} is in sync",
    )
    events.extend(warnings)
    fields: dict[str, Any] = {
        "repository_name": outcome.repository_name,
        "region": outcome.region,
        "repository_uri": outcome.repository_uri,
        "repository_arn": outcome.repository_arn,
        "registry_id": outcome.registry_id,
        "kms_key_arn": outcome.kms_key_arn,
        "planned_changes": planned,
        "observed_generation": generation,
        "last_sync_time": timestamp,
        "conditions": conditions,
        **_adoption(outcome.adopted, previous, timestamp),
    }
    if not observe_only:
        fields["key_creation"] = None  # a completed pass leaves any key it created aliased and findable
    if outcome.inventory is not None:
        inventory_fields, inventory_events = _inventory_fields(outcome.inventory, previous, prices or Prices())
        fields.update(inventory_fields)
        events.extend(inventory_events)
    return Report(_dump(EcrRepositoryStatus(**fields)), events)


def report_failure(
    error: OperatorError,
    previous: Mapping[str, Any],
    generation: int | None,
    timestamp: str,
    *,
    adopted: bool = False,
) -> Report:
    """A pass that stopped at ``error``: Synced=False with it; Ready kept only for a retried error on a resource
    already Ready at this generation; Stalled when the error waits for a change."""
    conditions = failure_conditions(error, previous, generation, timestamp, retried="usable as specified")
    fields: dict[str, Any] = {
        "observed_generation": generation,
        "conditions": conditions,
        **_adoption(adopted, previous, timestamp),
    }
    return Report(_dump(EcrRepositoryStatus(**fields)), [Event("Warning", error.reason, error.message)])


def report_scan(scan: ScanSummary, previous: Mapping[str, Any]) -> Report:
    """status.scan from a finished scan's own event (``ECR Image Scan``) about the image status.scan already shows
    (the newest): no read; the vulnerability Event as an inventory refresh would post it."""
    event = vulnerability_event(scan, previous.get("scan"))
    fields: dict[str, Any] = {"scan": _scan_status(scan)}
    return Report(_dump(EcrRepositoryStatus(**fields)), [event] if event is not None else [])


def _scan_status(scan: ScanSummary) -> ScanStatus:
    counts = scan.finding_severity_counts
    return ScanStatus(
        image_digest=scan.image_digest,
        image_tags=list(scan.image_tags),
        status=scan.status,
        completed_at=scan.completed_at,
        finding_severity_counts=dict(counts) if counts is not None else None,
    )
