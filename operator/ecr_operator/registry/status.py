"""The pure status report of an EcrRegistry pass: the same three conditions (Ready, Synced, Stalled), the same
condition helpers and the same precedence as ``status.py``, built from the EcrRegistry status model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.reconcile import RegistryOutcome
from ecr_operator.registry.spec import EcrRegistryStatus
from ecr_operator.repository.status import Event, Report, failure_conditions, pass_conditions


def _dump(status: EcrRegistryStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, exclude_unset=True, mode="json")


def report(
    outcome: RegistryOutcome,
    previous: Mapping[str, Any],
    generation: int | None,
    timestamp: str,
    *,
    observe_only: bool,
    resync: bool,
) -> Report:
    events: list[Event] = []
    changes = [action.summary for action in outcome.applied]
    if changes:
        events.append(Event("Normal", Reason.DRIFT_CORRECTED if resync else Reason.UPDATED, "; ".join(changes)))
    planned = [action.summary for action in outcome.planned] if observe_only else []
    conditions, warnings = pass_conditions(
        outcome.problems,
        planned,
        previous,
        generation,
        timestamp,
        observe_only=observe_only,
        in_sync=f"registry {outcome.registry_id} in {outcome.region} is in sync",
    )
    events.extend(warnings)
    status = EcrRegistryStatus(
        registry_id=outcome.registry_id,
        region=outcome.region,
        planned_changes=planned,
        observed_generation=generation,
        last_sync_time=timestamp,
        conditions=conditions,
    )
    return Report(_dump(status), events)


def report_failure(error: OperatorError, previous: Mapping[str, Any], generation: int | None, timestamp: str) -> Report:
    """Synced=False with the error; Ready kept only for a retried error on a registry already Ready at this
    generation; Stalled when the error waits for a change (another EcrRegistry, the spec, IAM)."""
    conditions = failure_conditions(error, previous, generation, timestamp, retried="as specified")
    status = EcrRegistryStatus.model_validate({"observedGeneration": generation, "conditions": conditions})
    return Report(_dump(status), [Event("Warning", error.reason, error.message)])
