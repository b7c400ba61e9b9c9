"""The Kubernetes API every kind is served under: its group and version, and the annotations all kinds read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUP = "ecr.platform.dev"
VERSION = "v1alpha1"

OBSERVE_ONLY_ANNOTATION = f"{GROUP}/observe-only"
"""On any kind: read and report (status.plannedChanges), never write to AWS, never delete."""
AWS_ROLE_ARN_ANNOTATION = f"{GROUP}/aws-role-arn"
"""On a Namespace, set by cluster admins: the IAM role (in the AWS account its resources live in) to assume."""


def is_true(value: object) -> bool:
    """An annotation's yes: "true" in any case, surrounding blanks ignored."""
    return str(value if value is not None else "").strip().lower() == "true"


def annotation_flag(annotations: Mapping[str, Any], annotation: str) -> bool:
    return is_true(annotations.get(annotation))
