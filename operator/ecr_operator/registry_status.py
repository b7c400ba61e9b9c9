"""The pure status report of an EcrRegistry pass: the same three conditions (Ready, Synced, Stalled), the same
condition helpers and the same precedence as ``status.py``, built from the EcrRegistry status model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import OperatorError
from .reasons import PERMANENT, Reason
from .registry_reconcile import RegistryOutcome
from .registry_spec import EcrRegistryStatus
from .spec import OBSERVE_ONLY_ANNOTATION
from .status import READY, STALLED, SYNCED, Event, Report, _condition, _was_ready


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
    where = f"registry {outcome.registry_id} in {outcome.region}"
    if outcome.problems:
        ready, reason = False, outcome.problems[0].reason
        message = "; ".join(p.message for p in outcome.problems)
        events.append(Event("Warning", reason, message))
    elif planned:
        ready, reason = False, Reason.OUT_OF_SYNC
        message = f"observe-only ({OBSERVE_ONLY_ANNOTATION}); a reconcile would: {'; '.join(planned)}"
    else:
        ready, reason, message = True, Reason.SYNCED, f"{where} is in sync"
    if observe_only:
        synced_reason, synced_message = Reason.OBSERVE_ONLY, "observe-only: AWS was read, nothing was written"
    else:
        synced_reason, synced_message = Reason.SYNCED, "the last pass reached AWS and applied its plan"
    stalled = bool(outcome.problems) and all(p.reason in PERMANENT for p in outcome.problems)
    old = previous.get("conditions")
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
    permanent = error.reason in PERMANENT or not error.retryable
    old = previous.get("conditions")
    if not permanent and _was_ready(previous, generation):
        message = f"as specified; the last pass is being retried ({error.reason})"
        ready = _condition(old, READY, True, Reason.SYNCED, message, generation, timestamp)
    else:
        ready = _condition(old, READY, False, error.reason, error.message, generation, timestamp)
    conditions = [
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
    status = EcrRegistryStatus.model_validate({"observedGeneration": generation, "conditions": conditions})
    return Report(_dump(status), [Event("Warning", error.reason, error.message)])
