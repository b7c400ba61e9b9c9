"""The findings gauge: the scan findings of each EcrRepository's newest image, by severity (one series per
resource: the alerting use case asks for it; a resource's series go with it)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from prometheus_client import Gauge

from ecr_operator.repository.parts.images import SEVERITIES

FINDINGS = Gauge(
    "ecr_operator_image_findings",
    "Scan findings of each resource's newest image, by severity (one series per resource: the alerting use case "
    "asks for it; a resource's series go with it).",
    ["namespace", "name", "severity"],
)


def publish(namespace: str, name: str, status_patch: Mapping[str, Any]) -> None:
    """The newest image's finding counts from a status patch that carries them (absent keys are 0); a patch that
    clears the scan removes the resource's series."""
    if "scan" in status_patch and status_patch["scan"] is None:
        forget(namespace, name)
        return
    counts = (status_patch.get("scan") or {}).get("findingSeverityCounts")
    if counts is None:
        return
    for severity in SEVERITIES:
        FINDINGS.labels(namespace, name, severity).set(int(counts.get(severity, 0)))


def forget(namespace: str, name: str) -> None:
    for severity in SEVERITIES:
        with contextlib.suppress(KeyError):  # never published for this resource
            FINDINGS.remove(namespace, name, severity)
