"""The images part: what the repository holds (count, size, newest push) and the scan findings of its newest image.

It follows the part protocol (``core/part.py``, a ``ReadPart``) but never writes: ``plan`` has no actions, its
typed outputs are the :class:`Inventory` (images summary and scan summary) that ``status.report`` turns into
``status.images``, ``status.scan`` and ``status.estimatedMonthlyCostUSD``. Images change with pushes, not with the
spec, so the reconciler observes this part only when asked (create, spec change, and the separate ``inventory``
timer), never on a drift resync: the resync's read budget stays what it was.

Reads: ``DescribeImages`` (pages of 1000) and, when there is an image, one ``DescribeImageScanFindings`` for the
newest one by push time (its ``findingSeverityCounts``; ``maxResults=1`` because the counts summarise every
finding, the finding list itself is not needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ecr_operator.core.actions import Plan, read
from ecr_operator.core.aws import AwsClients
from ecr_operator.core.metrics import SEVERITIES
from ecr_operator.repository.render import Desired

NOT_SCANNED = "NONE"
"""Scan status of an image that was never scanned (ECR answers ScanNotFoundException)."""
PAGE_SIZE = 1000


@dataclass(frozen=True)
class ObservedImage:
    digest: str
    tags: tuple[str, ...]
    size_bytes: int
    pushed_at: datetime | None


@dataclass(frozen=True)
class ObservedScan:
    status: str
    completed_at: datetime | None = None
    severity_counts: Mapping[str, int] | None = None
    """ECR's findingSeverityCounts when the scan produced findings (COMPLETE); None otherwise."""


@dataclass(frozen=True)
class ObservedImages:
    images: tuple[ObservedImage, ...]
    newest_scan: ObservedScan | None
    """The scan of the newest image; None when the repository is empty."""


def newest(images: tuple[ObservedImage, ...] | list[ObservedImage]) -> ObservedImage | None:
    """The image pushed last (ties: the greatest digest, so the choice is stable)."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return max(images, key=lambda image: (image.pushed_at or epoch, image.digest), default=None)


def _image(detail: Mapping[str, Any]) -> ObservedImage:
    pushed = detail.get("imagePushedAt")
    return ObservedImage(
        digest=str(detail["imageDigest"]),
        tags=tuple(sorted(str(tag) for tag in detail.get("imageTags") or ())),
        size_bytes=int(detail.get("imageSizeInBytes") or 0),
        pushed_at=pushed.astimezone(UTC) if isinstance(pushed, datetime) else None,
    )


def observe(clients: AwsClients, desired: Desired, deps: None = None, view: None = None) -> ObservedImages | None:
    """Every image of the repository and the scan of the newest; None when the repository does not exist (never
    from a resync's view: images change with pushes)."""
    repository_name = desired.repository_name
    images: list[ObservedImage] = []
    paging: dict[str, Any] = {"maxResults": PAGE_SIZE}
    while True:
        page = read(
            clients,
            "ecr",
            "describe_images",
            ("RepositoryNotFoundException",),
            repositoryName=repository_name,
            **paging,
        )
        if page is None:
            return None
        images.extend(_image(detail) for detail in page.get("imageDetails") or ())
        if not page.get("nextToken"):
            break
        paging["nextToken"] = page["nextToken"]
    latest = newest(images)
    if latest is None:
        return ObservedImages((), None)
    findings = read(
        clients,
        "ecr",
        "describe_image_scan_findings",
        ("ScanNotFoundException", "ImageNotFoundException", "RepositoryNotFoundException"),
        repositoryName=repository_name,
        imageId={"imageDigest": latest.digest},
        maxResults=1,
    )
    return ObservedImages(tuple(images), _scan(findings))


def _scan(response: Mapping[str, Any] | None) -> ObservedScan:
    if response is None:
        return ObservedScan(NOT_SCANNED)
    status = str((response.get("imageScanStatus") or {}).get("status") or NOT_SCANNED)
    findings = response.get("imageScanFindings")
    if not findings:
        return ObservedScan(status)
    completed = findings.get("imageScanCompletedAt")
    return ObservedScan(
        status,
        completed.astimezone(UTC) if isinstance(completed, datetime) else None,
        {str(k): int(v) for k, v in (findings.get("findingSeverityCounts") or {}).items()},
    )


# -- typed outputs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImagesSummary:
    count: int
    total_size_bytes: int
    newest_pushed_at: str | None
    """RFC 3339, UTC."""
    newest_tags: tuple[str, ...]


@dataclass(frozen=True)
class ScanSummary:
    image_digest: str
    image_tags: tuple[str, ...]
    status: str
    completed_at: str | None
    finding_severity_counts: Mapping[str, int] | None
    """Every key of :data:`SEVERITIES` (0 where ECR reports none) once a scan has findings; None before."""

    @property
    def critical(self) -> int:
        return (self.finding_severity_counts or {}).get("CRITICAL", 0)

    @property
    def high(self) -> int:
        return (self.finding_severity_counts or {}).get("HIGH", 0)


@dataclass(frozen=True)
class Inventory:
    """What the repository holds, for status: images, the newest image's scan, and whether the operator pays for
    (manages) the KMS key, which the cost estimate needs."""

    images: ImagesSummary
    scan: ScanSummary | None
    manages_key: bool


@dataclass
class ImagesPlan(Plan):
    """No actions: this part only reads. Output: the inventory."""

    inventory: Inventory = field(default_factory=lambda: Inventory(ImagesSummary(0, 0, None, ()), None, False))


def rfc3339(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def severity_counts(counts: Mapping[str, int] | None) -> dict[str, int] | None:
    """ECR's counts with every known severity present (absent = 0); unknown keys are kept as they are."""
    if counts is None:
        return None
    return {**{severity: 0 for severity in SEVERITIES}, **{k: int(v) for k, v in counts.items()}}


def plan(desired: Desired, observed: ObservedImages | None, deps: None = None) -> ImagesPlan:
    """Pure. A repository that does not exist (yet) holds nothing: count 0, no scan."""
    images = observed.images if observed is not None else ()
    latest = newest(images)
    summary = ImagesSummary(
        count=len(images),
        total_size_bytes=sum(image.size_bytes for image in images),
        newest_pushed_at=rfc3339(latest.pushed_at) if latest else None,
        newest_tags=latest.tags if latest else (),
    )
    scan = None
    if latest is not None and observed is not None and observed.newest_scan is not None:
        found = observed.newest_scan
        scan = ScanSummary(
            image_digest=latest.digest,
            image_tags=latest.tags,
            status=found.status,
            completed_at=rfc3339(found.completed_at),
            finding_severity_counts=severity_counts(found.severity_counts),
        )
    return ImagesPlan(inventory=Inventory(summary, scan, desired.manages_key))
