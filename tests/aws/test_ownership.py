"""A repository (or key alias) that is not ours is never modified or deleted, unless adopted and nobody owns it."""

from __future__ import annotations

from typing import Any

import pytest
from aws_harness import ALIAS, NAME, PartsHarness
from botocore.exceptions import ClientError

from ecr_operator.core.errors import OperatorError
from ecr_operator.repository.adoption import Adoption
from ecr_operator.repository.reconcile import AdoptedThenFailed
from ecr_operator.repository.render import CLUSTER_TAG, NAME_TAG, NAMESPACE_TAG

AES = {"encryption": {"type": "AES256"}}
ADOPT = Adoption(requested=True, refusal=None)
"""Asked by the resource and allowed by the platform."""
ASKED_NOT_ALLOWED = Adoption(requested=True)


def _foreign_repository(aws: PartsHarness, tags: dict[str, str] | None = None) -> None:
    aws.ecr.create_repository(
        repositoryName=NAME,
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": False},
        tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )


def _snapshot(aws: PartsHarness) -> dict[str, object]:
    repo = aws.existing_repository()
    return {
        "repository": {k: v for k, v in repo.items() if k != "createdAt"},
        "tags": aws.repository_tags(),
        "lifecycle": aws.lifecycle(),
        "policy": aws.policy(),
        "keys": aws.all_keys(),
    }


@pytest.mark.parametrize("overrides", [{}, AES], ids=["kms", "aes256"])
def test_unowned_repository_is_left_alone(aws: PartsHarness, overrides: dict[str, object]) -> None:
    _foreign_repository(aws)
    before = _snapshot(aws)
    desired = aws.desired(overrides)

    with pytest.raises(OperatorError) as raised:
        aws.reconcile(desired)
    assert raised.value.reason == "RepositoryNotOwned"
    assert raised.value.retryable is False
    assert aws.calls.writes == []
    assert _snapshot(aws) == before
    assert aws.repository_tags() == {}
    assert aws.all_keys() == [], "no key made for a repository we may not touch"

    # delete() of it leaves it too.
    outcome = aws.delete(desired)
    assert aws.calls.writes == []
    assert outcome.skipped is not None and "not owned" in outcome.skipped
    assert _snapshot(aws) == before


def test_unowned_repository_is_adopted_when_asked(aws: PartsHarness) -> None:
    _foreign_repository(aws, {"owner": "someone", "legacy": "yes"})
    desired = aws.desired(AES, {"crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333"]}})

    outcome = aws.reconcile(desired, adoption=ADOPT)
    assert outcome.problems == []
    assert outcome.adopted is True
    # Ownership tags go on before any other write (IAM conditions on aws:ResourceTag need them), then the foreign
    # tags come off before the user's go on (AWS's 50-tag limit).
    assert aws.calls.writes == [
        "ecr:TagResource",
        "ecr:UntagResource",
        "ecr:TagResource",
        "ecr:PutImageTagMutability",
        "ecr:PutImageScanningConfiguration",
        "ecr:PutLifecyclePolicy",
        "ecr:SetRepositoryPolicy",
    ]
    tags = aws.repository_tags()
    assert tags == desired.tags
    assert tags[CLUSTER_TAG] == "test-cluster" and tags[NAMESPACE_TAG] == "default" and tags[NAME_TAG] == NAME
    repo = aws.existing_repository()
    assert repo["imageTagMutability"] == "MUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert aws.lifecycle() is not None and aws.policy() is not None

    # Once adopted it is ours: no adopt flag needed any more, nothing to do, and later passes adopt nothing.
    assert aws.assert_in_sync(desired).adopted is False
    assert aws.reconcile(desired, adoption=ADOPT).adopted is False


def test_a_write_failing_after_the_adoption_still_reports_it(aws: PartsHarness) -> None:
    """The ownership tags are on, a later write fails: the error says the pass adopted (status records it), since
    the next pass sees a repository that is already owned."""
    _foreign_repository(aws)
    desired = aws.desired(AES)

    def denied(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutImageTagMutability")

    aws.clients.ecr.meta.events.register("before-call.ecr.PutImageTagMutability", denied)
    try:
        with pytest.raises(AdoptedThenFailed) as raised:
            aws.reconcile(desired, adoption=ADOPT)
    finally:
        aws.clients.ecr.meta.events.unregister("before-call.ecr.PutImageTagMutability", denied)
    assert (raised.value.reason, raised.value.retryable) == ("AccessDenied", False)
    assert aws.calls.writes[0] == "ecr:TagResource"
    assert aws.repository_tags() == desired.tags
    assert aws.existing_repository()["imageTagMutability"] == "IMMUTABLE", "the failed write did not happen"

    outcome = aws.reconcile(desired)
    assert outcome.adopted is False and outcome.problems == []


def test_a_write_failing_without_adoption_is_a_plain_error(aws: PartsHarness) -> None:
    _foreign_repository(aws)
    with pytest.raises(OperatorError) as raised:
        aws.reconcile(aws.desired(AES), adoption=ASKED_NOT_ALLOWED)
    assert not isinstance(raised.value, AdoptedThenFailed)


def test_asking_to_adopt_where_the_platform_does_not_allow_it_changes_nothing(aws: PartsHarness) -> None:
    _foreign_repository(aws, {"owner": "someone"})
    aws.put_image()
    before = _snapshot(aws)
    desired = aws.desired(AES, {"forceDelete": True})

    with pytest.raises(OperatorError) as raised:
        aws.reconcile(desired, adoption=ASKED_NOT_ALLOWED)
    assert raised.value.reason == "AdoptionNotAllowed"
    assert raised.value.retryable is False
    assert aws.calls.writes == []
    with pytest.raises(OperatorError):
        aws.reconcile(desired, adoption=ASKED_NOT_ALLOWED, observe_only=True)
    assert aws.calls.writes == []

    # Deleting the resource (forceDelete) deletes nothing: the repository is not its own.
    outcome = aws.delete(desired)
    assert aws.calls.writes == []
    assert outcome.skipped is not None and "not owned" in outcome.skipped
    assert _snapshot(aws) == before
    assert [i.get("imageTag") for i in aws.ecr.list_images(repositoryName=NAME)["imageIds"]] == ["v1"]


def test_adopting_into_another_encryption_reports_the_mismatch(aws: PartsHarness) -> None:
    """An AES256 repository adopted with a KMS spec cannot be re-encrypted: say so (never silently ignore it)."""
    _foreign_repository(aws)
    outcome = aws.reconcile(aws.desired(), adoption=ADOPT)
    assert [p.reason for p in outcome.problems] == ["EncryptionMismatch"]
    assert aws.existing_repository()["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert not [op for op in aws.calls.writes if op.startswith("kms:")], "a key it could never use"
    assert aws.all_keys() == []
    assert aws.calls.writes == [
        "ecr:TagResource",
        "ecr:PutImageTagMutability",
        "ecr:PutImageScanningConfiguration",
        "ecr:PutLifecyclePolicy",
    ]
    outcome = aws.reconcile(aws.desired())
    assert [p.reason for p in outcome.problems] == ["EncryptionMismatch"]
    assert aws.calls.writes == []


@pytest.mark.parametrize(
    "owner_tags",
    [
        {CLUSTER_TAG: "test-cluster", NAMESPACE_TAG: "team-b", NAME_TAG: NAME},
        {CLUSTER_TAG: "test-cluster", NAMESPACE_TAG: "default", NAME_TAG: "another"},
        {CLUSTER_TAG: "other-cluster", NAMESPACE_TAG: "default", NAME_TAG: NAME},
        {NAMESPACE_TAG: "default"},
    ],
    ids=["other-namespace", "other-name", "other-cluster", "partial-tags"],
)
def test_repository_owned_by_another_resource_is_never_adopted(aws: PartsHarness, owner_tags: dict[str, str]) -> None:
    _foreign_repository(aws, owner_tags)
    before = _snapshot(aws)
    desired = aws.desired(AES)

    with pytest.raises(OperatorError) as raised:
        aws.reconcile(desired, adoption=ADOPT)
    assert raised.value.reason == "RepositoryNotOwned"
    assert aws.calls.writes == []
    assert _snapshot(aws) == before

    aws.delete(desired)
    assert aws.calls.writes == []
    assert _snapshot(aws) == before


def test_resource_in_another_namespace_cannot_take_over_our_repository(aws: PartsHarness) -> None:
    ours = aws.desired()
    aws.reconcile(ours)
    before = _snapshot(aws)
    intruder = aws.desired(namespace="team-b")

    with pytest.raises(OperatorError) as raised:
        aws.reconcile(intruder, adoption=ADOPT)
    assert raised.value.reason == "RepositoryNotOwned"
    assert "default/my-application" in raised.value.message
    outcome = aws.delete(intruder)
    assert outcome.skipped is not None
    assert aws.calls.writes == []
    assert _snapshot(aws) == before
    aws.assert_in_sync(ours)


def test_alias_pointing_at_a_foreign_key(aws: PartsHarness) -> None:
    foreign = aws.kms.create_key()["KeyMetadata"]["KeyId"]
    aws.kms.create_alias(AliasName=ALIAS, TargetKeyId=foreign)

    with pytest.raises(OperatorError) as raised:
        aws.reconcile(aws.desired())
    assert raised.value.reason == "KmsAliasTaken"
    assert aws.calls.writes == []
    assert aws.repository() is None
    assert aws.all_keys() == [foreign]
    assert aws.key_tags(foreign) == {}


def test_adopted_repository_with_someone_elses_key(aws: PartsHarness) -> None:
    """Adopting a repository encrypted with a key we did not make: the key is used, never managed; not Ready."""
    foreign = aws.kms.create_key()["KeyMetadata"]
    aws.ecr.create_repository(
        repositoryName=NAME, encryptionConfiguration={"encryptionType": "KMS", "kmsKey": foreign["Arn"]}
    )
    desired = aws.desired()
    outcome = aws.reconcile(desired, adoption=ADOPT)
    assert [p.reason for p in outcome.problems] == ["KmsKeyNotOwned"]
    assert outcome.kms_key_arn == foreign["Arn"]
    assert not [op for op in aws.calls.writes if op.startswith("kms:")]
    assert aws.all_keys() == [foreign["KeyId"]]
    assert aws.key_tags(foreign["KeyId"]) == {}
    assert aws.rotation(foreign["KeyId"]) is False
    assert aws.repository_tags() == desired.tags

    # On delete the repository goes (it is ours now), the foreign key stays.
    aws.delete(desired)
    assert aws.calls.writes == ["ecr:DeleteRepository"]
    assert aws.key(foreign["KeyId"])["KeyState"] == "Enabled"
