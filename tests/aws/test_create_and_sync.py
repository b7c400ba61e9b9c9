"""Create the seed resource, then prove that a reconcile of an in-sync resource writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_harness import ACCOUNT, ALIAS, NAME, REGION, SEED_TAGS, PartsHarness

from ecr_operator.core.ecr_policy import PULL_ACTIONS
from ecr_operator.repository.render import CLUSTER_TAG, NAME_TAG, NAMESPACE_TAG

CREATE_WRITES = [
    "kms:CreateKey",
    "kms:CreateAlias",
    "kms:EnableKeyRotation",
    "ecr:CreateRepository",
    "ecr:PutLifecyclePolicy",
]


def test_create_seed_resource(aws: PartsHarness) -> None:
    desired = aws.desired()
    outcome = aws.reconcile(desired)

    assert aws.calls.writes == CREATE_WRITES
    assert [a.operation for a in outcome.applied] == [
        "create_key",
        "create_alias",
        "enable_key_rotation",
        "create_repository",
        "put_lifecycle_policy",
    ]
    assert outcome.problems == []

    # The key: exactly one, ours, rotating, aliased, tagged with the spec's tags and the ownership tags.
    keys = aws.all_keys()
    assert len(keys) == 1
    key = aws.key(keys[0])
    assert key["KeyState"] == "Enabled"
    assert key["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert aws.rotation(key["KeyId"]) is True
    assert aws.alias_target(ALIAS) == key["KeyId"]
    ownership = {CLUSTER_TAG: "test-cluster", NAMESPACE_TAG: "default", NAME_TAG: NAME}
    assert aws.key_tags(key["KeyId"]) == {**SEED_TAGS, **ownership}

    # The repository: encrypted with that key, settings and tags as asked.
    repo = aws.repository()
    assert repo is not None
    assert repo["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key["Arn"]}
    assert repo["imageTagMutability"] == "MUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert aws.repository_tags() == {**SEED_TAGS, **ownership}

    # Lifecycle: untagged images expire after 7 days (priority 1), keep the newest 30 of any (evaluated last).
    lifecycle = aws.lifecycle()
    assert lifecycle is not None
    rules = sorted(lifecycle["rules"], key=lambda r: r["rulePriority"])
    assert [r["rulePriority"] for r in rules] == [1, 2]
    assert rules[0]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 7,
    }
    assert rules[1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}
    assert all(r["action"] == {"type": "expire"} for r in rules)
    assert aws.policy() is None

    # The outcome carries the identifiers status needs.
    assert outcome.repository_uri == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{NAME}"
    assert outcome.repository_uri == repo["repositoryUri"]
    assert outcome.repository_arn == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{NAME}"
    assert outcome.registry_id == ACCOUNT
    assert outcome.kms_key_arn == key["Arn"]


def test_create_with_cross_account_pull(aws: PartsHarness) -> None:
    desired = aws.desired(
        {"crossAccountPull": {"enabled": True, "allowedAccountIds": ["444455556666", "111122223333"]}}
    )
    aws.reconcile(desired)
    assert aws.calls.writes == [*CREATE_WRITES, "ecr:SetRepositoryPolicy"]
    policy = aws.policy()
    assert policy is not None
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == sorted(PULL_ACTIONS)
    assert statement["Principal"] == {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]}
    aws.assert_in_sync(desired)


# The reads an in-sync reconcile of a KMS-encrypted repository makes (measured; asserted so that a new read
# per resource per resync shows up here).
IN_SYNC_READS_MANAGED_KEY = [
    "ecr:DescribeRepositories",
    "ecr:ListTagsForResource",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
]
IN_SYNC_READS_NO_KEY = IN_SYNC_READS_MANAGED_KEY[:4]


@pytest.mark.parametrize(
    ("overrides", "expected_reads"),
    [
        pytest.param({}, IN_SYNC_READS_MANAGED_KEY, id="seed"),
        pytest.param(
            {"crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333"]}},
            IN_SYNC_READS_MANAGED_KEY,
            id="cross-account",
        ),
        pytest.param(
            {"lifecycle": None, "encryption": {"enableKeyRotation": False}}, IN_SYNC_READS_MANAGED_KEY, id="bare-kms"
        ),
        pytest.param({"encryption": {"type": "AES256"}}, IN_SYNC_READS_NO_KEY, id="aes256"),
        pytest.param(
            {"imageTagMutability": "IMMUTABLE", "scanOnPush": False, "tags": {"extra": "x"}},
            IN_SYNC_READS_MANAGED_KEY,
            id="immutable-noscan-moretags",
        ),
    ],
)
def test_in_sync_makes_no_write_call(aws: PartsHarness, overrides: dict[str, Any], expected_reads: list[str]) -> None:
    desired = aws.desired(overrides)
    first = aws.reconcile(desired)
    assert aws.calls.writes, "the first reconcile creates"

    second = aws.assert_in_sync(desired)
    assert all(aws.calls.is_read(op) for op in aws.calls.operations), aws.calls.operations
    assert sorted(aws.calls.reads) == sorted(expected_reads)
    # The in-sync pass still reports the identifiers.
    assert second.repository_uri == first.repository_uri
    assert second.repository_arn == first.repository_arn
    assert second.registry_id == ACCOUNT
    assert second.kms_key_arn == first.kms_key_arn


def test_dry_run_plans_but_writes_nothing(aws: PartsHarness) -> None:
    desired = aws.desired()
    outcome = aws.reconcile(desired, observe_only=True)
    assert aws.calls.writes == []
    assert outcome.applied == []
    assert [f"{a.service}:{a.operation}" for a in outcome.planned] == [
        "kms:create_key",
        "kms:create_alias",
        "kms:enable_key_rotation",
        "ecr:create_repository",
        "ecr:put_lifecycle_policy",
    ]
    assert aws.repository() is None
    assert aws.all_keys() == []


POLICY_ONE_ACCOUNT = {"crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333"]}}


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(
            {
                "Statement": {
                    "Action": list(reversed(PULL_ACTIONS)),
                    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Effect": "Allow",
                    "Sid": "CrossAccountPull",
                },
                "Version": "2012-10-17",
            },
            id="key-order-single-principal-statement-object",
        ),
        pytest.param(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "CrossAccountPull",
                        "Effect": "Allow",
                        "Principal": {"AWS": ["111122223333"]},
                        "Action": [a.upper() for a in PULL_ACTIONS[1:]] + [PULL_ACTIONS[0]],
                    }
                ],
            },
            id="account-id-principal-action-case",
        ),
    ],
)
def test_policy_stored_in_another_form_is_not_rewritten(aws: PartsHarness, stored: dict[str, Any]) -> None:
    desired = aws.desired(POLICY_ONE_ACCOUNT)
    aws.reconcile(desired)
    aws.ecr.set_repository_policy(repositoryName=NAME, policyText=json.dumps(stored, indent=4))
    aws.assert_in_sync(desired)


def test_lifecycle_stored_in_another_form_is_not_rewritten(aws: PartsHarness) -> None:
    desired = aws.desired()
    aws.reconcile(desired)
    stored = aws.lifecycle()
    assert stored is not None
    reordered = {
        "rules": [
            {key: rule[key] for key in reversed(list(rule))} | {"selection": dict(reversed(rule["selection"].items()))}
            for rule in reversed(stored["rules"])
        ]
    }
    aws.ecr.put_lifecycle_policy(repositoryName=NAME, lifecyclePolicyText=json.dumps(reordered, indent=2))
    assert aws.lifecycle() == reordered
    aws.assert_in_sync(desired)


def test_nested_dotted_repository_name(aws: PartsHarness) -> None:
    """'.' is allowed in repository names but not in KMS aliases (it is escaped as '_-')."""
    desired = aws.desired({"repositoryName": "team.payments/api-server"})
    outcome = aws.reconcile(desired)
    key_id = aws.alias_target("alias/ecr/team_-payments/api-server")
    assert key_id is not None
    assert (
        aws.existing_repository("team.payments/api-server")["encryptionConfiguration"]["kmsKey"]
        == aws.key(key_id)["Arn"]
    )
    assert outcome.repository_uri == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team.payments/api-server"
    aws.assert_in_sync(desired)
