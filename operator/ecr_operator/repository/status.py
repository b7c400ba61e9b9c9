"""The EcrRepository's status report (pure): identifiers, adoption, images, scan and cost, with the conditions
of ``core/conditions.py``; built from the pydantic status model, so a field the CRD does not declare cannot be
written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecr_operator.core.conditions import Event, Report, failure_status, pass_status, status_patch
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import REPOSITORY_NOT_OURS, Reason
from ecr_operator.core.settings import Prices
from ecr_operator.repository.cost import estimated_monthly_cost
from ecr_operator.repository.parts.images import Inventory, ScanSummary
from ecr_operator.repository.reconcile import Outcome
from ecr_operator.repository.spec import EcrRepositoryStatus, ImagesStatus, ScanStatus


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
    return Report(status_patch(EcrRepositoryStatus(**fields)), events)


NOT_OURS_CLEARED: dict[str, Any] = {
    "repository_uri": None,
    "repository_arn": None,
    "registry_id": None,
    "images": None,
    "scan": None,
    "estimated_monthly_cost_usd": None,
}
"""What status says about a repository, cleared once the repository under the name is not the resource's: it
would be someone else's (their URI to pull from, their images, findings and cost)."""


def report_not_ours() -> Report:
    """The ``inventory`` timer found the repository is not this resource's (any more): clear what status showed of
    it; conditions are the passes' business."""
    return Report(status_patch(EcrRepositoryStatus(**NOT_OURS_CLEARED)), [])


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
    adopted = [Event("Normal", Reason.ADOPTED, f"adopted repository {outcome.repository_name}")]
    fields, events = pass_status(
        outcome,
        previous,
        generation,
        timestamp,
        f"repository {outcome.repository_name} is in sync",
        observe_only=observe_only,
        resync=resync,
        noted=adopted if outcome.adopted else (),
    )
    fields.update(
        repository_name=outcome.repository_name,
        region=outcome.region,
        repository_uri=outcome.repository_uri,
        repository_arn=outcome.repository_arn,
        registry_id=outcome.registry_id,
        kms_key_arn=outcome.kms_key_arn,
        **_adoption(outcome.adopted, previous, timestamp),
    )
    if outcome.account is not None and (outcome.repository_uri is not None or outcome.applied):
        # Where the repository is: every later pass and the delete act there (placement.py).
        fields["account"] = outcome.account
        fields["role_arn"] = outcome.role_arn
    if not observe_only:
        fields["key_creation"] = None  # a completed pass leaves any key it created aliased and findable
    if outcome.inventory is not None:
        inventory_fields, inventory_events = _inventory_fields(outcome.inventory, previous, prices or Prices())
        fields.update(inventory_fields)
        events.extend(inventory_events)
    return Report(status_patch(EcrRepositoryStatus(**fields)), events)


def report_failure(
    error: OperatorError,
    previous: Mapping[str, Any],
    generation: int | None,
    timestamp: str,
    *,
    adopted: bool = False,
) -> Report:
    """A pass that stopped at ``error``: Synced=False with it; Ready kept only for a retried error on a resource
    already Ready at this generation; Stalled when the error waits for a change. When the repository is not the
    resource's (RepositoryNotOwned, AdoptionNotAllowed), what status showed of it is cleared."""
    fields, events = failure_status(error, previous, generation, timestamp, retried="usable as specified")
    fields.update(_adoption(adopted, previous, timestamp))
    if error.reason in REPOSITORY_NOT_OURS:
        fields.update(NOT_OURS_CLEARED)
    return Report(status_patch(EcrRepositoryStatus(**fields)), events)


def _scan_status(scan: ScanSummary) -> ScanStatus:
    counts = scan.finding_severity_counts
    return ScanStatus(
        image_digest=scan.image_digest,
        image_tags=list(scan.image_tags),
        status=scan.status,
        completed_at=scan.completed_at,
        finding_severity_counts=dict(counts) if counts is not None else None,
    )
