"""delete(): Retain keeps everything; Delete removes the repository and schedules our key for deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aws_harness import ALIAS, NAME, PartsHarness

from ecr_operator.core.errors import OperatorError


def _created(aws: PartsHarness, *overrides: dict[str, object]) -> tuple[str, str]:
    aws.reconcile(aws.desired(*overrides))
    key_id = aws.alias_target()
    assert key_id is not None
    return key_id, aws.key(key_id)["Arn"]


def test_retain_leaves_everything(aws: PartsHarness) -> None:
    key_id, _ = _created(aws)
    outcome = aws.delete(aws.desired({"deletionPolicy": "Retain", "forceDelete": True}))
    assert aws.calls.operations == []
    assert outcome.skipped == "deletionPolicy is Retain"
    assert aws.repository() is not None
    assert aws.key(key_id)["KeyState"] == "Enabled"
    assert aws.alias_target() == key_id
    assert aws.lifecycle() is not None


@pytest.mark.parametrize("window", [7, 30])
def test_delete_empty_repository_and_schedule_key(aws: PartsHarness, window: int) -> None:
    key_id, _ = _created(aws)
    desired = aws.desired({"encryption": {"deletionWindowInDays": window}})

    outcome = aws.delete(desired)
    now = datetime.now(UTC)
    assert aws.calls.writes == ["ecr:DeleteRepository", "kms:ScheduleKeyDeletion", "kms:DeleteAlias"]
    assert [a.operation for a in outcome.applied] == ["delete_repository", "schedule_key_deletion", "delete_alias"]
    assert aws.repository() is None
    key = aws.key(key_id)
    assert key["KeyState"] == "PendingDeletion"
    assert abs(key["DeletionDate"] - (now + timedelta(days=window))) < timedelta(minutes=5)
    assert aws.alias_target(ALIAS) is None

    # Deleting again (a retried finalizer) is fine: nothing left to do, the key stays as it is.
    again = aws.delete(desired)
    assert aws.calls.writes == []
    assert again.applied == []
    assert aws.key(key_id)["DeletionDate"] == key["DeletionDate"]


def test_non_empty_repository_is_kept_without_force(aws: PartsHarness) -> None:
    key_id, _ = _created(aws)
    aws.put_image("v1")
    aws.put_image("v2")
    desired = aws.desired()

    with pytest.raises(OperatorError) as raised:
        aws.delete(desired)
    assert raised.value.reason == "RepositoryNotEmpty"
    assert "forceDelete" in raised.value.message
    assert aws.calls.writes == ["ecr:DeleteRepository"], "the attempt, and nothing after it"
    assert aws.repository() is not None
    images = aws.ecr.list_images(repositoryName=NAME)["imageIds"]
    assert sorted(i["imageTag"] for i in images) == ["v1", "v2"]
    assert aws.key(key_id)["KeyState"] == "Enabled"
    assert "DeletionDate" not in aws.key(key_id)
    assert aws.alias_target() == key_id

    # With forceDelete the images go with it.
    forced = aws.desired({"forceDelete": True})
    aws.delete(forced)
    assert aws.calls.writes == ["ecr:DeleteRepository", "kms:ScheduleKeyDeletion", "kms:DeleteAlias"]
    assert aws.repository() is None
    assert aws.key(key_id)["KeyState"] == "PendingDeletion"


def test_key_already_pending_deletion_counts_as_deleted(aws: PartsHarness) -> None:
    key_id, _ = _created(aws)
    aws.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    deletion_date = aws.key(key_id)["DeletionDate"]

    aws.delete(aws.desired({"encryption": {"deletionWindowInDays": 30}}))
    assert aws.calls.writes == ["ecr:DeleteRepository", "kms:DeleteAlias"]
    assert aws.repository() is None
    assert aws.key(key_id)["DeletionDate"] == deletion_date, "not scheduled again"
    assert aws.alias_target() is None


def test_delete_when_nothing_exists(aws: PartsHarness) -> None:
    outcome = aws.delete(aws.desired())
    assert aws.calls.writes == []
    assert outcome.applied == []


def test_recreate_after_delete_uses_a_new_key(aws: PartsHarness) -> None:
    desired = aws.desired({"encryption": {"deletionWindowInDays": 7}})
    old_key_id, old_arn = _created(aws, {"encryption": {"deletionWindowInDays": 7}})
    aws.delete(desired)
    assert aws.key(old_key_id)["KeyState"] == "PendingDeletion"

    outcome = aws.reconcile(desired)
    assert aws.calls.writes == [
        "kms:CreateKey",
        "kms:CreateAlias",
        "kms:EnableKeyRotation",
        "ecr:CreateRepository",
        "ecr:PutLifecyclePolicy",
    ]
    new_key_id = aws.alias_target()
    assert new_key_id is not None and new_key_id != old_key_id
    assert aws.key(old_key_id)["KeyState"] == "PendingDeletion", "the old key is not brought back"
    new_arn = aws.key(new_key_id)["Arn"]
    assert outcome.kms_key_arn == new_arn != old_arn
    assert aws.existing_repository()["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": new_arn}
    assert aws.owned_keys(desired.owner) == [new_key_id]
    assert sorted(aws.owned_keys(desired.owner, live_only=False)) == sorted([old_key_id, new_key_id])
    aws.assert_in_sync(desired)
