"""The conditions every kind reports (Ready, Synced, Stalled) and what a pass writes: a status patch and Events.

- ``Ready``: the resource exists and is usable as specified (what ``kubectl wait`` and Argo CD read). A retried
  error (throttling, AWS unavailable) does not take away a Ready that was already True for this generation.
- ``Synced``: the last pass reached AWS and applied its plan; reason and message of the last error otherwise.
- ``Stalled``: True while the last error waits for a change (the spec, the Namespace, IAM, someone else's
  resource) instead of being retried (``reasons.PERMANENT``).

``lastTransitionTime`` moves only when a condition's status flips. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from ecr_operator.core.actions import Action
from ecr_operator.core.api import OBSERVE_ONLY_ANNOTATION
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.model import Condition
from ecr_operator.core.reasons import NO_WARNING, Reason

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


def status_patch(status: BaseModel) -> dict[str, Any]:
    """A status model as a merge patch: the fields the report set (None clears one), by their wire names."""
    return status.model_dump(by_alias=True, exclude_unset=True, mode="json")


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
    stalled = bool(problems) and not any(p.retryable for p in problems)
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
    permanent = not error.retryable
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


class Outcome(Protocol):
    """What a pass that reached AWS did, as its report needs it (every kind's outcome has these)."""

    @property
    def applied(self) -> Sequence[Action]: ...

    @property
    def planned(self) -> Sequence[Action]: ...

    @property
    def problems(self) -> Sequence[OperatorError]: ...


def pass_status(
    outcome: Outcome,
    previous: Mapping[str, Any],
    generation: int | None,
    timestamp: str,
    in_sync: str,
    *,
    observe_only: bool,
    resync: bool,
    noted: Sequence[Event] = (),
) -> tuple[dict[str, Any], list[Event]]:
    """The ``CommonStatus`` fields of a pass that reached AWS, and its Events: its writes (Updated, or
    DriftCorrected on a resync), what the kind ``noted`` besides, then the Warning of its problems; ``in_sync`` is
    Ready's message when nothing differs."""
    events: list[Event] = []
    changes = [action.summary for action in outcome.applied]
    if changes:
        events.append(Event("Normal", Reason.DRIFT_CORRECTED if resync else Reason.UPDATED, "; ".join(changes)))
    events.extend(noted)
    planned = [action.summary for action in outcome.planned] if observe_only else []
    conditions, warnings = pass_conditions(
        outcome.problems, planned, previous, generation, timestamp, observe_only=observe_only, in_sync=in_sync
    )
    events.extend(warnings)
    fields = {
        "planned_changes": planned,
        "observed_generation": generation,
        "last_sync_time": timestamp,
        "conditions": conditions,
    }
    return fields, events


def failure_status(
    error: OperatorError, previous: Mapping[str, Any], generation: int | None, timestamp: str, *, retried: str
) -> tuple[dict[str, Any], list[Event]]:
    """The ``CommonStatus`` fields of a pass that stopped at ``error`` (:func:`failure_conditions`), and its Warning
    (none for the reasons in ``NO_WARNING``)."""
    conditions = failure_conditions(error, previous, generation, timestamp, retried=retried)
    events = [] if error.reason in NO_WARNING else [Event("Warning", error.reason, error.message)]
    return {"observed_generation": generation, "conditions": conditions}, events
