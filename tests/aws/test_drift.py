"""Changes made out of band (by hand, with boto3) are put back with exactly the writes they need."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_harness import NAME, PartsHarness

from ecr_operator.core.ecr_policy import PULL_ACTIONS

CROSS_ON = {"crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333"]}}


def _key_id(aws: PartsHarness) -> str:
    target = aws.alias_target()
    assert target is not None
    return target


def _repo_arn(aws: PartsHarness) -> str:
    return str(aws.existing_repository()["repositoryArn"])


def _foreign_policy(actions: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Other", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": a}
                for a in actions
            ],
        }
    )


def _tag_repo(aws: PartsHarness, **tags: str) -> None:
    aws.ecr.tag_resource(resourceArn=_repo_arn(aws), tags=[{"Key": k, "Value": v} for k, v in tags.items()])


Mutation = Callable[[PartsHarness], None]

# name: (spec overrides, out-of-band change, the writes that put it back)
CASES: dict[str, tuple[dict[str, Any], Mutation, list[str]]] = {
    "scan-on-push": (
        {},
        lambda aws: aws.ecr.put_image_scanning_configuration(
            repositoryName=NAME, imageScanningConfiguration={"scanOnPush": False}
        ),
        ["ecr:PutImageScanningConfiguration"],
    ),
    "mutability": (
        {},
        lambda aws: aws.ecr.put_image_tag_mutability(repositoryName=NAME, imageTagMutability="IMMUTABLE"),
        ["ecr:PutImageTagMutability"],
    ),
    "lifecycle-changed": (
        {},
        lambda aws: aws.ecr.put_lifecycle_policy(
            repositoryName=NAME,
            lifecyclePolicyText=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": "changed by hand",
                            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
        ),
        ["ecr:PutLifecyclePolicy"],
    ),
    "lifecycle-deleted": (
        {},
        lambda aws: aws.ecr.delete_lifecycle_policy(repositoryName=NAME),
        ["ecr:PutLifecyclePolicy"],
    ),
    "lifecycle-added-when-none-wanted": (
        {"lifecycle": None},
        lambda aws: aws.ecr.put_lifecycle_policy(
            repositoryName=NAME,
            lifecyclePolicyText=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 3},
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
        ),
        ["ecr:DeleteLifecyclePolicy"],
    ),
    "policy-added-when-none-wanted": (
        {},
        lambda aws: aws.ecr.set_repository_policy(repositoryName=NAME, policyText=_foreign_policy(["ecr:*"])),
        ["ecr:DeleteRepositoryPolicy"],
    ),
    "policy-changed": (
        CROSS_ON,
        lambda aws: aws.ecr.set_repository_policy(repositoryName=NAME, policyText=_foreign_policy(list(PULL_ACTIONS))),
        ["ecr:SetRepositoryPolicy"],
    ),
    "policy-action-added": (
        CROSS_ON,
        lambda aws: aws.ecr.set_repository_policy(
            repositoryName=NAME,
            policyText=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "CrossAccountPull",
                            "Effect": "Allow",
                            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                            "Action": [*PULL_ACTIONS, "ecr:PutImage"],
                        }
                    ],
                }
            ),
        ),
        ["ecr:SetRepositoryPolicy"],
    ),
    "policy-deleted": (
        CROSS_ON,
        lambda aws: aws.ecr.delete_repository_policy(repositoryName=NAME),
        ["ecr:SetRepositoryPolicy"],
    ),
    "repository-tag-value": (
        {},
        lambda aws: _tag_repo(aws, environment="prod"),
        ["ecr:TagResource"],
    ),
    "repository-tag-removed": (
        {},
        lambda aws: aws.ecr.untag_resource(resourceArn=_repo_arn(aws), tagKeys=["cost_center"]),
        ["ecr:TagResource"],
    ),
    "repository-tag-added": (
        {},
        lambda aws: _tag_repo(aws, stray="yes"),
        ["ecr:UntagResource"],
    ),
    "key-tag-value": (
        {},
        lambda aws: aws.kms.tag_resource(KeyId=_key_id(aws), Tags=[{"TagKey": "owner", "TagValue": "someone"}]),
        ["kms:TagResource"],
    ),
    "key-tag-removed": (
        {},
        lambda aws: aws.kms.untag_resource(KeyId=_key_id(aws), TagKeys=["data_class"]),
        ["kms:TagResource"],
    ),
    "key-rotation-disabled": (
        {},
        lambda aws: aws.kms.disable_key_rotation(KeyId=_key_id(aws)),
        ["kms:EnableKeyRotation"],
    ),
    "key-rotation-enabled": (
        {"encryption": {"enableKeyRotation": False}},
        lambda aws: aws.kms.enable_key_rotation(KeyId=_key_id(aws)),
        ["kms:DisableKeyRotation"],
    ),
    "key-disabled": (
        {},
        lambda aws: aws.kms.disable_key(KeyId=_key_id(aws)),
        ["kms:EnableKey"],
    ),
    # AWS does not answer GetKeyRotationStatus for a key pending deletion, so rotation is set again after
    # the cancel (a cancelled key comes back Disabled, hence EnableKey).
    "key-deletion-scheduled": (
        {},
        lambda aws: aws.kms.schedule_key_deletion(KeyId=_key_id(aws), PendingWindowInDays=7),
        ["kms:CancelKeyDeletion", "kms:EnableKey", "kms:EnableKeyRotation"],
    ),
    "key-alias-deleted": (
        {},
        lambda aws: aws.kms.delete_alias(AliasName="alias/ecr/my-application"),
        ["kms:CreateAlias"],
    ),
}


@pytest.mark.parametrize(("overrides", "mutate", "writes"), list(CASES.values()), ids=list(CASES))
def test_drift_is_corrected(aws: PartsHarness, overrides: dict[str, Any], mutate: Mutation, writes: list[str]) -> None:
    desired = aws.desired(overrides)
    aws.reconcile(desired)
    key_id = _key_id(aws)
    state_before = _state(aws, key_id)

    mutate(aws)
    assert _state(aws, key_id) != state_before, "the out-of-band change must be visible"

    outcome = aws.reconcile(desired)
    assert aws.calls.writes == writes
    assert outcome.problems == []
    assert _state(aws, key_id) == state_before
    assert aws.all_keys() == [key_id]
    aws.assert_in_sync(desired)


def _state(aws: PartsHarness, key_id: str) -> dict[str, Any]:
    """Everything the operator manages, as AWS reports it (policies parsed, so compared by content)."""
    repo = aws.existing_repository()
    key = aws.key(key_id)
    return {
        "repository": {
            k: repo[k] for k in ("imageTagMutability", "imageScanningConfiguration", "encryptionConfiguration")
        },
        "lifecycle": aws.lifecycle(),
        "policy": aws.policy(),
        "repository_tags": aws.repository_tags(),
        "key_state": key["KeyState"],
        "key_deletion": key.get("DeletionDate"),
        "key_rotation": aws.rotation(key_id),
        "key_tags": aws.key_tags(key_id),
        "alias": aws.alias_target(),
    }
