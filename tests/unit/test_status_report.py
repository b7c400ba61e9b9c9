"""status.py: the pure report of a pass — identifiers, plan, Ready / Synced / Stalled, Events — for every case."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_operator.core.actions import Action
from ecr_operator.core.conditions import READY, STALLED, SYNCED, Event
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.repository.reconcile import Outcome
from ecr_operator.repository.spec import EcrRepositoryStatus
from ecr_operator.repository.status import report, report_failure

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
ACTION = Action("ecr", "put_image_tag_mutability", {}, "set tag mutability to IMMUTABLE")
THROTTLED = OperatorError(Reason.THROTTLED, "ecr:PutLifecyclePolicy: Rate exceeded")
DENIED = OperatorError(Reason.ACCESS_DENIED, "kms:CreateKey: not authorized")
MISMATCH = OperatorError(Reason.ENCRYPTION_MISMATCH, "encrypted with AES256")


def outcome(**fields: Any) -> Outcome:
    base: dict[str, Any] = {
        "repository_name": "team/app",
        "region": "eu-west-1",
        "repository_uri": "1.dkr.ecr.eu-west-1.amazonaws.com/team/app",
        "repository_arn": "arn:aws:ecr:eu-west-1:1:repository/team/app",
        "registry_id": "1",
        "kms_key_arn": "arn:aws:kms:eu-west-1:1:key/k",
    }
    return Outcome(**{**base, **fields})


def condition(status: dict[str, Any], type: str) -> dict[str, Any]:
    [found] = [c for c in status["conditions"] if c["type"] == type]
    return found


def states(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def ready_before(generation: int = 3, status: str = "True") -> dict[str, Any]:
    return report(outcome(), {}, generation, T0, observe_only=False, resync=False).status | (
        {} if status == "True" else {"conditions": [{"type": READY, "status": "False", "lastTransitionTime": T0}]}
    )


def test_an_in_sync_pass_is_ready_synced_not_stalled_and_writes_every_field() -> None:
    written = report(outcome(), {}, 3, T1, observe_only=False, resync=False)
    status = written.status
    assert states(status) == {
        READY: ("True", Reason.SYNCED),
        SYNCED: ("True", Reason.SYNCED),
        STALLED: ("False", Reason.SYNCED),
    }
    assert all(c["observedGeneration"] == 3 and c["lastTransitionTime"] == T1 for c in status["conditions"])
    assert status["repositoryUri"] == "1.dkr.ecr.eu-west-1.amazonaws.com/team/app"
    assert status["kmsKeyArn"] == "arn:aws:kms:eu-west-1:1:key/k"
    assert status["plannedChanges"] == []
    assert status["keyCreation"] is None, "a completed pass clears the key creation record"
    assert status["observedGeneration"] == 3 and status["lastSyncTime"] == T1
    assert written.events == []
    EcrRepositoryStatus.model_validate(status)  # only declared fields: the structural schema prunes nothing


@pytest.mark.parametrize(("resync", "reason"), [(False, Reason.UPDATED), (True, Reason.DRIFT_CORRECTED)])
def test_writes_are_reported_as_one_normal_event(resync: bool, reason: Reason) -> None:
    written = report(outcome(applied=[ACTION, ACTION]), {}, 3, T1, observe_only=False, resync=resync)
    assert written.events == [Event("Normal", reason, f"{ACTION.summary}; {ACTION.summary}")]
    assert condition(written.status, READY)["status"] == "True"


def test_problems_make_it_not_ready_stalled_with_a_warning() -> None:
    other = OperatorError(Reason.KMS_KEY_NOT_FOUND, "key gone")
    written = report(outcome(problems=[MISMATCH, other]), ready_before(), 3, T1, observe_only=False, resync=False)
    assert states(written.status)[READY] == ("False", Reason.ENCRYPTION_MISMATCH)
    assert condition(written.status, READY)["message"] == "encrypted with AES256; key gone"
    assert condition(written.status, READY)["lastTransitionTime"] == T1, "flipped"
    assert states(written.status)[SYNCED] == ("True", Reason.SYNCED), "the rest was applied"
    assert states(written.status)[STALLED] == ("True", Reason.ENCRYPTION_MISMATCH)
    assert written.events == [Event("Warning", Reason.ENCRYPTION_MISMATCH, "encrypted with AES256; key gone")]


def test_observe_only_with_differences_is_out_of_sync_with_the_plan() -> None:
    written = report(outcome(planned=[ACTION]), {}, 3, T1, observe_only=True, resync=False)
    assert states(written.status)[READY] == ("False", Reason.OUT_OF_SYNC)
    assert states(written.status)[SYNCED] == ("True", Reason.OBSERVE_ONLY)
    assert written.status["plannedChanges"] == [ACTION.summary]
    assert ACTION.summary in condition(written.status, READY)["message"]
    assert "keyCreation" not in written.status, "observe-only leaves a recorded key creation alone"


def test_observe_only_in_sync_is_ready() -> None:
    written = report(outcome(), {}, 3, T1, observe_only=True, resync=True)
    assert states(written.status)[READY] == ("True", Reason.SYNCED)
    assert written.status["plannedChanges"] == []


def test_a_normal_pass_never_reports_its_plan() -> None:
    written = report(outcome(planned=[ACTION], applied=[ACTION]), {}, 3, T1, observe_only=False, resync=False)
    assert written.status["plannedChanges"] == []
    assert states(written.status)[READY] == ("True", Reason.SYNCED)


def test_a_retried_error_keeps_ready_of_this_generation() -> None:
    written = report_failure(THROTTLED, ready_before(3), 3, T1)
    assert states(written.status) == {
        READY: ("True", Reason.SYNCED),
        SYNCED: ("False", Reason.THROTTLED),
        STALLED: ("False", Reason.RECONCILING),
    }
    assert condition(written.status, READY)["lastTransitionTime"] == T0, "Ready did not flip"
    assert Reason.THROTTLED in condition(written.status, READY)["message"]
    assert written.events == [Event("Warning", Reason.THROTTLED, THROTTLED.message)]


def test_a_retried_error_after_a_spec_change_is_not_ready() -> None:
    written = report_failure(THROTTLED, ready_before(2), 3, T1)
    assert states(written.status)[READY] == ("False", Reason.THROTTLED)
    assert states(written.status)[STALLED] == ("False", Reason.RECONCILING)


def test_a_retried_error_on_a_new_resource_is_not_ready() -> None:
    written = report_failure(THROTTLED, {}, 1, T1)
    assert states(written.status)[READY] == ("False", Reason.THROTTLED)


@pytest.mark.parametrize("error", [DENIED, OperatorError(Reason.INVALID_SPEC, "bad")])
def test_an_error_that_waits_for_a_change_is_not_ready_and_stalled(error: OperatorError) -> None:
    written = report_failure(error, ready_before(3), 3, T1)
    assert states(written.status) == {
        READY: ("False", error.reason),
        SYNCED: ("False", error.reason),
        STALLED: ("True", error.reason),
    }
    assert condition(written.status, STALLED)["message"] == error.message
    assert written.status["observedGeneration"] == 3
    assert set(written.status) == {"observedGeneration", "conditions"}, "identifiers are left as they were"


def test_a_retried_error_posts_its_warning() -> None:
    assert report_failure(THROTTLED, {}, 1, T1).events == [Event("Warning", Reason.THROTTLED, THROTTLED.message)]


def test_the_operator_waiting_for_its_own_namespace_watch_posts_no_warning() -> None:
    waiting = OperatorError(Reason.NAMESPACE_NOT_SEEN, "waiting for the operator to see Namespace team-a")
    written = report_failure(waiting, {}, 1, T1)
    assert states(written.status)[READY] == ("False", Reason.NAMESPACE_NOT_SEEN)
    assert states(written.status)[STALLED][0] == "False", "retried within seconds"
    assert written.events == []


def test_last_transition_time_moves_only_on_a_flip() -> None:
    first = report(outcome(), {}, 3, T0, observe_only=False, resync=False).status
    again = report(outcome(), first, 3, T1, observe_only=False, resync=False).status
    assert {c["lastTransitionTime"] for c in again["conditions"]} == {T0}
    failed = report_failure(DENIED, again, 3, T1).status
    assert condition(failed, READY)["lastTransitionTime"] == T1
    assert condition(failed, STALLED)["lastTransitionTime"] == T1


def test_adoption_is_recorded_by_the_adopting_pass_and_kept() -> None:
    adopted = report(outcome(adopted=True), {}, 3, T0, observe_only=False, resync=False)
    assert (adopted.status["adopted"], adopted.status["adoptedAt"]) == (True, T0)
    assert Event("Normal", Reason.ADOPTED, "adopted repository team/app") in adopted.events
    later = report(outcome(), adopted.status, 3, T1, observe_only=False, resync=True).status
    assert (later["adopted"], later["adoptedAt"]) == (True, T0)
    never = report(outcome(), {}, 3, T1, observe_only=False, resync=True).status
    assert "adopted" not in never
    failed = report_failure(THROTTLED, {}, 3, T1, adopted=True).status
    assert (failed["adopted"], failed["adoptedAt"]) == (True, T1)
