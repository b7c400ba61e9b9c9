"""Pure status rendering: the Ready condition and the identifiers, in the Kubernetes shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .reconcile import Outcome

READY = "Ready"
SYNCED = "Synced"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_condition(
    previous: Sequence[Mapping[str, Any]] | None,
    *,
    ready: bool,
    reason: str,
    message: str,
    generation: int | None,
    timestamp: str,
) -> dict[str, Any]:
    """The Ready condition; lastTransitionTime moves only when the status flips."""
    status = "True" if ready else "False"
    old = next((c for c in previous or [] if c.get("type") == READY), None)
    transition = (
        old["lastTransitionTime"]
        if old and old.get("status") == status and old.get("lastTransitionTime")
        else timestamp
    )
    return {
        "type": READY,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }


def outcome_status(outcome: Outcome) -> dict[str, Any]:
    return {
        "repositoryName": outcome.repository_name,
        "region": outcome.region,
        "repositoryUri": outcome.repository_uri,
        "repositoryArn": outcome.repository_arn,
        "registryId": outcome.registry_id,
        "kmsKeyArn": outcome.kms_key_arn,
    }


def adoption_status(adopted_now: bool, previous: Mapping[str, Any] | None, timestamp: str) -> dict[str, Any]:
    """``adopted``/``adoptedAt``: set by the pass that adopted the repository, kept from the previous status after."""
    if adopted_now:
        return {"adopted": True, "adoptedAt": timestamp}
    if previous and previous.get("adopted"):
        return {"adopted": True, "adoptedAt": previous.get("adoptedAt")}
    return {}
