"""AES256 and a KMS key the user brings: the operator uses such a key but never manages it."""

from __future__ import annotations

import uuid

import pytest
from aws_harness import ACCOUNT, ALIAS, REGION, PartsHarness

from ecr_operator.core.errors import OperatorError


def test_aes256_creates_no_key_and_makes_no_kms_call(aws: PartsHarness) -> None:
    desired = aws.desired({"encryption": {"type": "AES256"}})
    outcome = aws.reconcile(desired)

    assert aws.calls.writes == ["ecr:CreateRepository", "ecr:PutLifecyclePolicy"]
    assert not [op for op in aws.calls.operations if op.startswith("kms:")]
    assert aws.existing_repository()["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert aws.all_keys() == []
    assert outcome.kms_key_arn is None

    aws.assert_in_sync(desired)
    assert not [op for op in aws.calls.operations if op.startswith("kms:")]

    # Delete: only the repository; no KMS call at all.
    aws.delete(desired)
    assert aws.calls.writes == ["ecr:DeleteRepository"]
    assert not [op for op in aws.calls.operations if op.startswith("kms:")]
    assert aws.repository() is None


def _user_key(aws: PartsHarness) -> dict[str, str]:
    metadata = aws.kms.create_key(Description="brought by the user")["KeyMetadata"]
    return {"KeyId": metadata["KeyId"], "Arn": metadata["Arn"]}


def test_user_key_is_used_never_managed(aws: PartsHarness) -> None:
    user_key = _user_key(aws)
    desired = aws.desired({"encryption": {"kmsKeyArn": user_key["Arn"], "deletionWindowInDays": 7}})

    outcome = aws.reconcile(desired)
    assert aws.calls.writes == ["ecr:CreateRepository", "ecr:PutLifecyclePolicy"]
    assert outcome.problems == []
    assert outcome.kms_key_arn == user_key["Arn"]
    assert aws.existing_repository()["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": user_key["Arn"]}
    assert aws.all_keys() == [user_key["KeyId"]], "no key of our own"
    assert aws.alias_target(ALIAS) is None

    aws.assert_in_sync(desired)
    assert not [op for op in aws.calls.operations if op.startswith("kms:")], "an existing repository needs no key read"

    # A tag change and rotation settings touch the repository only.
    changed = aws.desired(
        {"encryption": {"kmsKeyArn": user_key["Arn"], "enableKeyRotation": False}, "tags": {"team": "payments"}}
    )
    aws.reconcile(changed)
    assert aws.calls.writes == ["ecr:TagResource"]

    aws.delete(desired)
    assert aws.calls.writes == ["ecr:DeleteRepository"]
    assert aws.repository() is None

    # The user's key: never tagged, never rotated, never scheduled for deletion, no alias.
    key = aws.key(user_key["KeyId"])
    assert key["KeyState"] == "Enabled"
    assert "DeletionDate" not in key
    assert aws.key_tags(user_key["KeyId"]) == {}
    assert aws.rotation(user_key["KeyId"]) is False
    assert aws.alias_target(ALIAS) is None


def test_user_key_that_does_not_exist(aws: PartsHarness) -> None:
    missing = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}"
    desired = aws.desired({"encryption": {"kmsKeyArn": missing}})
    with pytest.raises(OperatorError) as raised:
        aws.reconcile(desired)
    assert raised.value.reason == "KmsKeyNotFound"
    assert raised.value.retryable is False
    assert aws.calls.writes == []
    assert aws.repository() is None
    assert aws.all_keys() == []


def test_user_key_that_is_disabled(aws: PartsHarness) -> None:
    user_key = _user_key(aws)
    aws.kms.disable_key(KeyId=user_key["KeyId"])
    desired = aws.desired({"encryption": {"kmsKeyArn": user_key["Arn"]}})
    with pytest.raises(OperatorError) as raised:
        aws.reconcile(desired)
    assert raised.value.reason == "KmsKeyUnavailable"
    assert aws.calls.writes == []
    assert aws.repository() is None
    assert aws.key(user_key["KeyId"])["KeyState"] == "Disabled"


def test_encryption_that_differs_is_reported_not_ignored(aws: PartsHarness) -> None:
    """ECR cannot re-encrypt: a repository that holds another key is a problem in the outcome, with no write."""
    user_key = _user_key(aws)
    aws.reconcile(aws.desired({"encryption": {"kmsKeyArn": user_key["Arn"]}}))
    other_key = _user_key(aws)

    outcome = aws.reconcile(aws.desired({"encryption": {"kmsKeyArn": other_key["Arn"]}}))
    assert [p.reason for p in outcome.problems] == ["EncryptionMismatch"]
    assert aws.calls.writes == []
    assert aws.existing_repository()["encryptionConfiguration"]["kmsKey"] == user_key["Arn"]

    outcome = aws.reconcile(aws.desired({"encryption": {"type": "AES256"}}))
    assert [p.reason for p in outcome.problems] == ["EncryptionMismatch"]
    assert aws.calls.writes == []


def test_repository_whose_key_is_gone_gets_no_new_key(aws: PartsHarness) -> None:
    """Our repository's key no longer exists (deleted after its window): report it, never make keys it can't use."""
    desired = aws.desired()
    gone = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}"
    # moto accepts a key ARN that does not exist (AWS would have, when the key still existed).
    aws.ecr.create_repository(
        repositoryName=desired.repository_name,
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": gone},
        tags=[{"Key": k, "Value": v} for k, v in desired.tags.items()],
    )
    for _ in range(3):  # every resync
        outcome = aws.reconcile(desired)
        assert [p.reason for p in outcome.problems] == ["KmsKeyNotFound"]
        assert not [op for op in aws.calls.writes if op.startswith("kms:")]
        assert aws.all_keys() == []
    assert outcome.kms_key_arn == gone
