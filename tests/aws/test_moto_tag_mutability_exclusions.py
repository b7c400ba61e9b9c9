"""The pinned moto already serves tag-mutability exclusion filters on repositories (CreateRepository,
PutImageTagMutability, DescribeRepositories), so the harness adds nothing there: this keeps that true."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

FILTERS = [{"filterType": "WILDCARD", "filter": "latest"}, {"filterType": "WILDCARD", "filter": "dev-*"}]


def test_create_repository_and_put_image_tag_mutability_keep_exclusion_filters(ecr: Any) -> None:
    ecr.create_repository(
        repositoryName="app", imageTagMutability="IMMUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=FILTERS
    )
    [repository] = ecr.describe_repositories(repositoryNames=["app"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repository["imageTagMutabilityExclusionFilters"] == FILTERS

    ecr.put_image_tag_mutability(
        repositoryName="app",
        imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=FILTERS[:1],
    )
    [repository] = ecr.describe_repositories(repositoryNames=["app"])["repositories"]
    assert repository["imageTagMutability"] == "MUTABLE_WITH_EXCLUSION"
    assert repository["imageTagMutabilityExclusionFilters"] == FILTERS[:1]


@pytest.mark.parametrize(
    "request_",
    [
        {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"},  # the setting needs filters
        {"imageTagMutability": "IMMUTABLE", "imageTagMutabilityExclusionFilters": FILTERS},  # filters need it
        {
            "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
            "imageTagMutabilityExclusionFilters": [{"filterType": "REGEX", "filter": "latest"}],
        },
    ],
)
def test_inconsistent_exclusion_settings_are_refused(ecr: Any, request_: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as caught:
        ecr.create_repository(repositoryName="app", **request_)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
