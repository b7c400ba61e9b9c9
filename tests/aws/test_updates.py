"""Every in-place update: exactly the write calls the change needs, and the result is then in sync."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_harness import NAME, PartsHarness

from ecr_operator.core.ecr_policy import PULL_ACTIONS

CROSS_ON = {"crossAccountPull": {"enabled": True, "allowedAccountIds": ["444455556666", "111122223333"]}}
CROSS_OFF = {"crossAccountPull": {"enabled": False}}
RAW_LIFECYCLE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep release tags",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["release"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 100,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


def _principals(aws: PartsHarness) -> list[str]:
    policy = aws.policy()
    assert policy is not None
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == sorted(PULL_ACTIONS) and len(statement["Action"]) == 3
    principals = statement["Principal"]["AWS"]
    return sorted([principals] if isinstance(principals, str) else principals)


def _key_id(aws: PartsHarness) -> str:
    target = aws.alias_target()
    assert target is not None
    return target


def _rules(aws: PartsHarness) -> list[dict[str, Any]]:
    lifecycle = aws.lifecycle()
    assert lifecycle is not None
    return sorted(lifecycle["rules"], key=lambda r: r["rulePriority"])


def _tags_both(aws: PartsHarness) -> tuple[dict[str, str], dict[str, str]]:
    return aws.repository_tags(), aws.key_tags(_key_id(aws))


def _check_tags(expected: dict[str, str | None]) -> Callable[[PartsHarness], None]:
    def check(aws: PartsHarness) -> None:
        for tags in _tags_both(aws):
            for key, value in expected.items():
                assert tags.get(key) == value, (key, tags)

    return check


Case = tuple[dict[str, Any], dict[str, Any], list[str], Callable[[PartsHarness], None]]

CASES: dict[str, Case] = {
    "mutability": (
        {},
        {"imageTagMutability": "IMMUTABLE"},
        ["ecr:PutImageTagMutability"],
        lambda aws: _expect(aws.existing_repository()["imageTagMutability"] == "IMMUTABLE"),
    ),
    "mutability-back": (
        {"imageTagMutability": "IMMUTABLE"},
        {"imageTagMutability": "MUTABLE"},
        ["ecr:PutImageTagMutability"],
        lambda aws: _expect(aws.existing_repository()["imageTagMutability"] == "MUTABLE"),
    ),
    "scan-on-push-off": (
        {},
        {"scanOnPush": False},
        ["ecr:PutImageScanningConfiguration"],
        lambda aws: _expect(aws.existing_repository()["imageScanningConfiguration"] == {"scanOnPush": False}),
    ),
    "scan-on-push-on": (
        {"scanOnPush": False},
        {"scanOnPush": True},
        ["ecr:PutImageScanningConfiguration"],
        lambda aws: _expect(aws.existing_repository()["imageScanningConfiguration"] == {"scanOnPush": True}),
    ),
    "max-image-count": (
        {},
        {"lifecycle": {"maxImageCount": 50}},
        ["ecr:PutLifecyclePolicy"],
        lambda aws: _expect([r["selection"]["countNumber"] for r in _rules(aws)] == [7, 50]),
    ),
    "lifecycle-rule-dropped": (
        {},
        {"lifecycle": {"expireUntaggedAfterDays": None}},
        ["ecr:PutLifecyclePolicy"],
        lambda aws: _expect([(r["rulePriority"], r["selection"]["tagStatus"]) for r in _rules(aws)] == [(1, "any")]),
    ),
    "lifecycle-added": (
        {"lifecycle": None},
        {"lifecycle": {"maxImageCount": 5}},
        ["ecr:PutLifecyclePolicy"],
        lambda aws: _expect([r["selection"]["countNumber"] for r in _rules(aws)] == [5]),
    ),
    "lifecycle-raw-policy-text": (
        {},
        {"lifecycle": {"maxImageCount": None, "expireUntaggedAfterDays": None, "policyText": RAW_LIFECYCLE}},
        ["ecr:PutLifecyclePolicy"],
        lambda aws: _expect(aws.lifecycle() == json.loads(RAW_LIFECYCLE)),
    ),
    "lifecycle-removed": (
        {},
        {"lifecycle": None},
        ["ecr:DeleteLifecyclePolicy"],
        lambda aws: _expect(aws.lifecycle() is None),
    ),
    "cross-account-on": (
        {},
        CROSS_ON,
        ["ecr:SetRepositoryPolicy"],
        lambda aws: _expect(_principals(aws) == ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]),
    ),
    "cross-account-off": (
        CROSS_ON,
        CROSS_OFF,
        ["ecr:DeleteRepositoryPolicy"],
        lambda aws: _expect(aws.policy() is None),
    ),
    "cross-account-section-removed": (
        CROSS_ON,
        {"crossAccountPull": None},
        ["ecr:DeleteRepositoryPolicy"],
        lambda aws: _expect(aws.policy() is None),
    ),
    "cross-account-accounts-changed": (
        CROSS_ON,
        {"crossAccountPull": {"allowedAccountIds": ["444455556666", "777788889999"]}},
        ["ecr:SetRepositoryPolicy"],
        lambda aws: _expect(_principals(aws) == ["arn:aws:iam::444455556666:root", "arn:aws:iam::777788889999:root"]),
    ),
    "tag-added": (
        {},
        {"tags": {"team": "payments"}},
        ["kms:TagResource", "ecr:TagResource"],
        _check_tags({"team": "payments", "owner": "platform-team"}),
    ),
    "tag-changed": (
        {},
        {"tags": {"environment": "prod"}},
        ["kms:TagResource", "ecr:TagResource"],
        _check_tags({"environment": "prod", "owner": "platform-team"}),
    ),
    "tag-removed": (
        {},
        {"tags": {"environment": None}},
        ["kms:UntagResource", "ecr:UntagResource"],
        _check_tags({"environment": None, "owner": "platform-team", "ecr.platform.dev/name": NAME}),
    ),
    "rotation-off": (
        {},
        {"encryption": {"enableKeyRotation": False}},
        ["kms:DisableKeyRotation"],
        lambda aws: _expect(aws.rotation(_key_id(aws)) is False),
    ),
    "rotation-on": (
        {"encryption": {"enableKeyRotation": False}},
        {"encryption": {"enableKeyRotation": True}},
        ["kms:EnableKeyRotation"],
        lambda aws: _expect(aws.rotation(_key_id(aws)) is True),
    ),
    "deletion-settings-need-no-call": (
        {},
        {"deletionPolicy": "Retain", "forceDelete": True, "encryption": {"deletionWindowInDays": 7}},
        [],
        lambda aws: None,
    ),
}


def _expect(condition: bool) -> None:
    assert condition


@pytest.mark.parametrize(("before", "after", "writes", "check"), list(CASES.values()), ids=list(CASES))
def test_update_in_place(
    aws: PartsHarness,
    before: dict[str, Any],
    after: dict[str, Any],
    writes: list[str],
    check: Callable[[PartsHarness], None],
) -> None:
    old = aws.desired(before)
    created = aws.reconcile(old)
    assert created.problems == []
    key_before = aws.all_keys()

    new = aws.desired(before, after)
    outcome = aws.reconcile(new)

    assert aws.calls.writes == writes
    assert outcome.problems == []
    check(aws)
    # Never a second key, never a new repository.
    assert aws.all_keys() == key_before
    assert aws.repository_names() == [NAME]
    aws.assert_in_sync(new)


def test_several_changes_in_one_pass(aws: PartsHarness) -> None:
    aws.reconcile(aws.desired())
    new = aws.desired(
        {
            "imageTagMutability": "IMMUTABLE",
            "scanOnPush": False,
            "lifecycle": {"maxImageCount": 10},
            "tags": {"team": "payments", "environment": None},
            "encryption": {"enableKeyRotation": False},
            **CROSS_ON,
        }
    )
    aws.reconcile(new)
    assert sorted(aws.calls.writes) == sorted(
        [
            "kms:DisableKeyRotation",
            "kms:TagResource",
            "kms:UntagResource",
            "ecr:PutImageTagMutability",
            "ecr:PutImageScanningConfiguration",
            "ecr:PutLifecyclePolicy",
            "ecr:SetRepositoryPolicy",
            "ecr:TagResource",
            "ecr:UntagResource",
        ]
    )
    # The key's writes come before the repository's.
    kinds = [op.split(":")[0] for op in aws.calls.writes]
    assert kinds == sorted(kinds, key=lambda s: s != "kms")
    aws.assert_in_sync(new)
