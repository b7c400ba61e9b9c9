"""status.py: the Ready condition in the Kubernetes shape; lastTransitionTime moves only on a flip."""

from __future__ import annotations

import re
from typing import Any

from ecr_operator.reconcile import Outcome
from ecr_operator.status import READY, now, outcome_status, ready_condition

T0, T1 = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"


def ready(previous: list[dict[str, Any]] | None, is_ready: bool, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"reason": "Synced", "message": "ok", "generation": 3, "timestamp": T1, **kw}
    return ready_condition(previous, ready=is_ready, **args)


def test_first_condition_uses_timestamp() -> None:
    condition = ready(None, True)
    assert condition == {
        "type": READY,
        "status": "True",
        "reason": "Synced",
        "message": "ok",
        "lastTransitionTime": T1,
        "observedGeneration": 3,
    }


def test_transition_time_kept_when_status_unchanged() -> None:
    previous = [{"type": "Ready", "status": "True", "lastTransitionTime": T0}]
    condition = ready(previous, True, reason="StillFine", message="new message", generation=4)
    assert condition["lastTransitionTime"] == T0
    assert condition["reason"] == "StillFine"
    assert condition["message"] == "new message"
    assert condition["observedGeneration"] == 4


def test_transition_time_moves_when_status_flips() -> None:
    previous = [{"type": "Ready", "status": "True", "lastTransitionTime": T0}]
    condition = ready(previous, False, reason="AccessDenied")
    assert condition["status"] == "False"
    assert condition["lastTransitionTime"] == T1


def test_transition_time_moves_from_unknown() -> None:
    previous = [{"type": "Ready", "status": "Unknown", "lastTransitionTime": T0}]
    assert ready(previous, False)["lastTransitionTime"] == T1


def test_other_condition_types_are_ignored() -> None:
    previous = [{"type": "Synced", "status": "True", "lastTransitionTime": T0}]
    assert ready(previous, True)["lastTransitionTime"] == T1


def test_previous_without_transition_time_gets_timestamp() -> None:
    previous = [{"type": "Ready", "status": "True"}]
    assert ready(previous, True)["lastTransitionTime"] == T1


def test_now_is_rfc3339_utc() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now())


def test_outcome_status_identifiers() -> None:
    outcome = Outcome(
        "web",
        "eu-west-1",
        repository_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/web",
        repository_arn="arn:aws:ecr:eu-west-1:123456789012:repository/web",
        registry_id="123456789012",
        kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
    )
    assert outcome_status(outcome) == {
        "repositoryName": "web",
        "region": "eu-west-1",
        "repositoryUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web",
        "repositoryArn": "arn:aws:ecr:eu-west-1:123456789012:repository/web",
        "registryId": "123456789012",
        "kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/k",
    }
