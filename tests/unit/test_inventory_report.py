"""The images part's plan, the cost estimate, the inventory in the status report and the VulnerabilitiesFound
announcement: pure, with hand-made observations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import Prices
from ecr_operator.repository.cost import GIB, estimated_monthly_cost
from ecr_operator.repository.parts import images
from ecr_operator.repository.parts.images import ImagesSummary, Inventory, ObservedImage, ObservedImages, ObservedScan
from ecr_operator.repository.reconcile import Outcome
from ecr_operator.repository.render import Desired, Owner, render
from ecr_operator.repository.spec import EcrRepositorySpec
from ecr_operator.repository.status import (
    report,
    report_failure,
    report_inventory,
    report_not_ours,
    vulnerability_event,
)

SEOUL = Prices()


def desired_from(**fields: Any) -> Desired:
    return render(EcrRepositorySpec.model_validate(fields), Owner("c", "team-a", "app"), "ap-northeast-2")


T0 = "2026-01-01T00:00:00Z"


def at(hour: int) -> datetime:
    return datetime(2026, 3, 1, hour, 0, 0, tzinfo=UTC)


OLD = ObservedImage("sha256:old", ("v1",), 300, at(1))
NEW = ObservedImage("sha256:new", ("latest", "v2"), 700, at(2))
UNTAGGED = ObservedImage("sha256:untagged", (), 5, at(0))


def scanned(**counts: int) -> ObservedScan:
    return ObservedScan("COMPLETE", at(3), counts)


# -- the cost estimate --------------------------------------------------------------------------------------------


def test_cost_is_storage_plus_the_managed_key() -> None:
    assert Prices(storage_per_gb_month=0.10, kms_key_per_month=1.0) == SEOUL
    assert estimated_monthly_cost(0, False, SEOUL) == 0.0
    assert estimated_monthly_cost(0, True, SEOUL) == 1.0
    assert estimated_monthly_cost(10 * GIB, False, SEOUL) == pytest.approx(1.0)
    assert estimated_monthly_cost(10 * GIB, True, SEOUL) == pytest.approx(2.0)
    assert estimated_monthly_cost(GIB // 2, True, SEOUL) == pytest.approx(1.05)
    assert estimated_monthly_cost(3 * GIB, True, Prices(0.25, 0.0)) == pytest.approx(0.75)
    # 1 GB is 2^30 bytes, not 10^9.
    assert estimated_monthly_cost(10**9, False, SEOUL) == pytest.approx(0.0931, abs=1e-4)


# -- the images part -----------------------------------------------------------------------------------------------


def test_plan_summarises_every_image_and_the_newest_scan() -> None:
    desired = desired_from()
    planned = images.plan(desired, ObservedImages((OLD, NEW, UNTAGGED), scanned(HIGH=1, LOW=4)))
    assert planned.actions == [] and planned.problems == [] and planned.refusal is None
    inventory = planned.inventory
    assert inventory.images == ImagesSummary(3, 1005, "2026-03-01T02:00:00Z", ("latest", "v2"))
    assert inventory.scan is not None
    assert inventory.scan.image_digest == "sha256:new" and inventory.scan.image_tags == ("latest", "v2")
    assert inventory.scan.status == "COMPLETE" and inventory.scan.completed_at == "2026-03-01T03:00:00Z"
    assert inventory.scan.finding_severity_counts == {
        "CRITICAL": 0,
        "HIGH": 1,
        "MEDIUM": 0,
        "LOW": 4,
        "INFORMATIONAL": 0,
        "UNDEFINED": 0,
    }
    assert inventory.manages_key is True


def test_an_empty_or_missing_repository_counts_zero_and_has_no_scan() -> None:
    desired = desired_from(encryption={"type": "AES256"})
    for observed in (ObservedImages((), None), None):
        inventory = images.plan(desired, observed).inventory
        assert inventory == Inventory(ImagesSummary(0, 0, None, ()), None, False)


def test_a_never_scanned_image_reports_none_without_counts() -> None:
    inventory = images.plan(desired_from(), ObservedImages((NEW,), ObservedScan("NONE"))).inventory
    assert inventory.scan is not None
    assert (inventory.scan.status, inventory.scan.completed_at, inventory.scan.finding_severity_counts) == (
        "NONE",
        None,
        None,
    )


# -- the report and the announcement ------------------------------------------------------------------------------


def inventory_with(digest: str = "sha256:new", **counts: int) -> Inventory:
    image = ObservedImage(digest, ("v2",), 2 * GIB, at(2))
    return images.plan(desired_from(), ObservedImages((image,), scanned(**counts))).inventory


def test_report_inventory_writes_images_scan_and_cost() -> None:
    written = report_inventory(inventory_with(HIGH=2), {}, SEOUL)
    assert set(written.status) == {"images", "scan", "estimatedMonthlyCostUSD"}, "no conditions: passes own them"
    assert written.status["images"] == {
        "count": 1,
        "totalSizeBytes": 2 * GIB,
        "newestPushedAt": "2026-03-01T02:00:00Z",
        "newestTags": ["v2"],
    }
    assert written.status["scan"]["imageDigest"] == "sha256:new"
    assert written.status["scan"]["findingSeverityCounts"]["HIGH"] == 2
    assert written.status["estimatedMonthlyCostUSD"] == pytest.approx(1.2)
    [event] = written.events
    assert (event.type, event.reason) == ("Warning", Reason.VULNERABILITIES_FOUND)
    assert "sha256:new" in event.message and "0 CRITICAL and 2 HIGH" in event.message and "v2" in event.message


def test_an_empty_repository_clears_a_previous_scan() -> None:
    empty = images.plan(desired_from(), ObservedImages((), None)).inventory
    written = report_inventory(empty, {"scan": {"imageDigest": "sha256:old"}}, SEOUL)
    assert written.status["images"]["count"] == 0
    assert written.status["scan"] is None, "null in a merge patch removes the stale block"
    assert written.status["estimatedMonthlyCostUSD"] == 1.0
    assert written.events == []


def test_a_scan_without_findings_yet_clears_stale_counts() -> None:
    image = ObservedImage("sha256:next", ("v3",), 1, at(4))
    pending = images.plan(desired_from(), ObservedImages((image,), ObservedScan("IN_PROGRESS"))).inventory
    written = report_inventory(pending, {"scan": {"findingSeverityCounts": {"HIGH": 1}}}, SEOUL)
    assert written.status["scan"]["status"] == "IN_PROGRESS"
    assert written.status["scan"]["findingSeverityCounts"] is None
    assert written.events == []


def previous_of(inventory: Inventory) -> dict[str, Any]:
    return report_inventory(inventory, {}, SEOUL).status


@pytest.mark.parametrize(
    ("before", "after", "announced"),
    [
        (None, inventory_with(HIGH=1), True),  # first seen
        (inventory_with(HIGH=1), inventory_with(HIGH=1), False),  # the next refresh: not again
        (inventory_with(HIGH=1), inventory_with(HIGH=2), True),  # grows
        (inventory_with(HIGH=1), inventory_with(HIGH=1, CRITICAL=1), True),  # a critical appears
        (inventory_with(HIGH=1), inventory_with("sha256:other", HIGH=1), True),  # a new image with findings
        (inventory_with(HIGH=1), inventory_with(HIGH=1, MEDIUM=7), False),  # only CRITICAL/HIGH matter
        (None, inventory_with(MEDIUM=3, LOW=1), False),  # nothing critical or high
        (inventory_with(HIGH=2), inventory_with(), False),  # fixed: nothing to warn about
    ],
)
def test_vulnerabilities_are_announced_once_per_digest_and_count_change(
    before: Inventory | None, after: Inventory, announced: bool
) -> None:
    previous = previous_of(before) if before else {}
    event = vulnerability_event(after.scan, previous.get("scan"))
    assert (event is not None) is announced
    written = report_inventory(after, previous, SEOUL)
    assert [e.reason for e in written.events] == ([Reason.VULNERABILITIES_FOUND] if announced else [])


def test_a_pass_with_inventory_reports_it_and_one_without_leaves_status_alone() -> None:
    base = {"repository_name": "app", "region": "eu-west-1", "repository_uri": "1.dkr.ecr/app"}
    with_inventory = Outcome(**base, inventory=inventory_with(CRITICAL=1))
    written = report(with_inventory, {}, 1, T0, observe_only=False, resync=False, prices=Prices(1.0, 0.5))
    assert written.status["images"]["count"] == 1
    assert written.status["estimatedMonthlyCostUSD"] == pytest.approx(2.5)
    assert [e.reason for e in written.events] == [Reason.VULNERABILITIES_FOUND]
    resync = report(Outcome(**base), written.status, 1, T0, observe_only=False, resync=True)
    assert not {"images", "scan", "estimatedMonthlyCostUSD"} & set(resync.status), "a resync keeps the inventory"
    assert resync.events == []


# -- nothing of a repository that is not the resource's ---------------------------------------------------------

REPOSITORY_FIELDS = {"repositoryUri", "repositoryArn", "registryId", "images", "scan", "estimatedMonthlyCostUSD"}


def owned_period_status() -> dict[str, Any]:
    """Status from when the repository was the resource's: identifiers, images, findings, cost."""
    base = {
        "repository_name": "app",
        "region": "eu-west-1",
        "repository_uri": "1.dkr.ecr.eu-west-1.amazonaws.com/app",
        "repository_arn": "arn:aws:ecr:eu-west-1:1:repository/app",
        "registry_id": "1",
        "kms_key_arn": "arn:aws:kms:eu-west-1:1:key/k",
    }
    status = report(Outcome(**base, inventory=inventory_with(HIGH=1)), {}, 1, T0, observe_only=False, resync=False)
    assert set(status.status) >= REPOSITORY_FIELDS
    return status.status


@pytest.mark.parametrize("reason", [Reason.REPOSITORY_NOT_OWNED, Reason.ADOPTION_NOT_ALLOWED])
def test_a_refusal_because_the_repository_is_not_ours_clears_what_status_showed_of_it(reason: Reason) -> None:
    refused = OperatorError(reason, "repository app is owned by team-b/app in cluster c")
    written = report_failure(refused, owned_period_status(), 1, T0)
    assert {field: written.status[field] for field in REPOSITORY_FIELDS} == dict.fromkeys(REPOSITORY_FIELDS)
    assert [e.reason for e in written.events] == [reason], "no VulnerabilitiesFound"
    assert "kmsKeyArn" not in written.status and "repositoryName" not in written.status, "the record stays"


def test_other_refusals_leave_the_repository_fields_alone() -> None:
    denied = OperatorError(Reason.ACCESS_DENIED, "ecr:PutLifecyclePolicy: not authorized")
    written = report_failure(denied, owned_period_status(), 1, T0)
    assert not REPOSITORY_FIELDS & set(written.status)


def test_the_inventory_timer_clears_what_status_showed_of_a_repository_that_is_not_ours() -> None:
    written = report_not_ours()
    assert written.status == dict.fromkeys(REPOSITORY_FIELDS) and written.events == []


class _PagedEcr:
    """DescribeImages in pages of two (moto answers in one page), and one scan answer."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        self.details = details
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def describe_images(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("describe_images", params))
        start = int(params.get("nextToken", 0))
        page: dict[str, Any] = {"imageDetails": self.details[start : start + 2]}
        if start + 2 < len(self.details):
            page["nextToken"] = str(start + 2)
        return page

    def describe_image_scan_findings(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("describe_image_scan_findings", params))
        return {
            "imageScanStatus": {"status": "COMPLETE"},
            "imageScanFindings": {"imageScanCompletedAt": at(9), "findingSeverityCounts": {"CRITICAL": 2}},
        }


def test_observe_follows_every_page_and_scans_only_the_newest() -> None:
    details = [
        {"imageDigest": f"sha256:{n}", "imageTags": [f"v{n}"], "imageSizeInBytes": 10 + n, "imagePushedAt": at(n)}
        for n in range(5)
    ]
    ecr = _PagedEcr(details)

    class Clients:
        pass

    clients: Any = Clients()
    clients.ecr = ecr
    observed = images.observe(clients, desired_from())
    assert observed is not None and len(observed.images) == 5
    assert [name for name, _ in ecr.calls] == ["describe_images"] * 3 + ["describe_image_scan_findings"]
    assert ecr.calls[0][1] == {"repositoryName": "app", "maxResults": 1000}
    assert ecr.calls[-1][1]["imageId"] == {"imageDigest": "sha256:4"}
    inventory = images.plan(desired_from(), observed).inventory
    assert inventory.images.total_size_bytes == 60 and inventory.scan is not None and inventory.scan.critical == 2
