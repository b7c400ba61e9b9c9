"""spec.py: the pydantic model of EcrRepository.spec — camelCase input, defaults, rejected values."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ecr_operator.repository.spec import EcrRepositorySpec, EcrRepositoryStatus

POLICY = (
    '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",'
    ' "countNumber": 5}, "action": {"type": "expire"}}]}'
)


def parse(data: dict[str, Any]) -> EcrRepositorySpec:
    return EcrRepositorySpec.model_validate(data)


def test_defaults() -> None:
    spec = parse({})
    assert spec.repository_name is None
    assert spec.region is None
    assert spec.encryption.type == "KMS"
    assert spec.encryption.kms_key_arn is None
    assert spec.encryption.enable_key_rotation is True
    assert spec.encryption.deletion_window_in_days == 30
    assert spec.image_tag_mutability == "MUTABLE"
    assert spec.scan_on_push is True
    assert spec.deletion_policy == "Delete"
    assert spec.force_delete is False
    assert spec.lifecycle is None
    assert spec.cross_account_pull is None
    assert spec.tags == {}


def test_camel_case_input() -> None:
    spec = parse(
        {
            "repositoryName": "team/my-app",
            "region": "eu-central-1",
            "imageTagMutability": "IMMUTABLE",
            "scanOnPush": False,
            "encryption": {
                "type": "KMS",
                "kmsKeyArn": "arn:aws:kms:eu-central-1:123456789012:key/abcd-1234",
                "enableKeyRotation": False,
                "deletionWindowInDays": 7,
            },
            "lifecycle": {"maxImageCount": 20, "expireUntaggedAfterDays": 3},
            "crossAccountPull": {"enabled": True, "allowedAccountIds": ["111111111111"]},
            "tags": {"owner": "me"},
            "deletionPolicy": "Retain",
            "forceDelete": True,
        }
    )
    assert spec.repository_name == "team/my-app"
    assert spec.region == "eu-central-1"
    assert spec.image_tag_mutability == "IMMUTABLE"
    assert spec.scan_on_push is False
    assert spec.encryption.kms_key_arn == "arn:aws:kms:eu-central-1:123456789012:key/abcd-1234"
    assert spec.encryption.deletion_window_in_days == 7
    assert spec.lifecycle is not None and spec.lifecycle.max_image_count == 20
    assert spec.cross_account_pull is not None and spec.cross_account_pull.allowed_account_ids == ["111111111111"]
    assert spec.deletion_policy == "Retain"
    assert spec.force_delete is True


def test_dump_by_alias_round_trips() -> None:
    spec = parse({"repositoryName": "abc", "lifecycle": {"policyText": POLICY}})
    dumped = spec.model_dump(by_alias=True, exclude_none=True)
    assert "repositoryName" in dumped and "policyText" in dumped["lifecycle"]
    assert parse(dumped) == spec


def test_model_is_frozen() -> None:
    spec = parse({})
    with pytest.raises(ValidationError):
        spec.scan_on_push = False


@pytest.mark.parametrize("name", ["ab", "team/app", "a.b-c_d/e", "x" * 256, "0/1/2"])
def test_good_repository_names(name: str) -> None:
    assert parse({"repositoryName": name}).repository_name == name


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"encryption": {"deletionWindowInDays": 6}}, id="window-6"),
        pytest.param({"encryption": {"deletionWindowInDays": 31}}, id="window-31"),
        pytest.param({"encryption": {"type": "SSE"}}, id="encryption-type"),
        pytest.param({"encryption": {"kmsKeyArn": "alias/my-key"}}, id="key-not-arn"),
        pytest.param({"crossAccountPull": {"enabled": True, "allowedAccountIds": ["12345678901"]}}, id="account-11"),
        pytest.param({"crossAccountPull": {"allowedAccountIds": ["1234567890123"]}}, id="account-13"),
        pytest.param({"crossAccountPull": {"allowedAccountIds": ["12345678901a"]}}, id="account-letter"),
        pytest.param({"repositoryName": "My-App"}, id="name-uppercase"),
        pytest.param({"repositoryName": "a"}, id="name-too-short"),
        pytest.param({"repositoryName": "app/"}, id="name-trailing-slash"),
        pytest.param({"repositoryName": "app--x_"}, id="name-trailing-sep"),
        pytest.param({"repositoryName": "-app"}, id="name-leading-sep"),
        pytest.param({"repositoryName": "x" * 257}, id="name-too-long"),
        pytest.param({"region": "europe"}, id="region"),
        pytest.param({"imageTagMutability": "mutable"}, id="mutability-case"),
        pytest.param({"deletionPolicy": "Orphan"}, id="deletion-policy"),
        pytest.param({"lifecycle": {"maxImageCount": 0}}, id="max-count-0"),
        pytest.param({"lifecycle": {"expireUntaggedAfterDays": 0}}, id="untagged-0"),
        pytest.param({"lifecycle": {"policyText": '{"rules": []}'}}, id="policy-too-short"),
        pytest.param({"lifecycle": {"policyText": "x" * 120}}, id="policy-not-object"),
        pytest.param({"unknownField": 1}, id="unknown-field"),
        pytest.param({"encryption": {"rotation": True}}, id="unknown-nested-field"),
        pytest.param({"tags": {"a": 1}}, id="tag-value-not-string"),
    ],
)
def test_invalid_values_rejected(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse(data)


def test_window_bounds_accepted() -> None:
    assert parse({"encryption": {"deletionWindowInDays": 7}}).encryption.deletion_window_in_days == 7
    assert parse({"encryption": {"deletionWindowInDays": 30}}).encryption.deletion_window_in_days == 30


def test_status_model_accepts_conditions() -> None:
    status = EcrRepositoryStatus.model_validate(
        {
            "repositoryUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web",
            "observedGeneration": 2,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Synced",
                    "message": "",
                    "lastTransitionTime": "2024-01-01T00:00:00Z",
                    "observedGeneration": 2,
                }
            ],
        }
    )
    assert status.conditions[0].last_transition_time == "2024-01-01T00:00:00Z"
    with pytest.raises(ValidationError):
        EcrRepositoryStatus.model_validate({"conditions": [{"type": "Ready", "status": "Maybe"}]})
