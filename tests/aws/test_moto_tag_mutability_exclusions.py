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


# Where the pinned moto is more lenient than AWS (docs/moto-ecr-extensions.md, "Tag-mutability exclusion filters"):
# the operator's admission rules refuse all of these before a request is made, so the tests cannot lean on moto.
LENIENT_PUTS = {
    # AWS: filters only with a *_WITH_EXCLUSION value; moto turns IMMUTABLE + filters into IMMUTABLE_WITH_EXCLUSION.
    "filters-with-IMMUTABLE": ({"imageTagMutability": "IMMUTABLE", "imageTagMutabilityExclusionFilters": FILTERS[:1]}),
    # AWS: a *_WITH_EXCLUSION value needs filters (CreateRepository refuses it in moto too, see above).
    "exclusion-without-filters": {"imageTagMutability": "MUTABLE_WITH_EXCLUSION"},
    # botocore's model: 1-5 filters, each ^[0-9a-zA-Z._*-]{1,128}$.
    "six-filters": {
        "imageTagMutability": "MUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": f"t{i}"} for i in range(6)],
    },
    "filter-with-slash": {
        "imageTagMutability": "MUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "a/b"}],
    },
    "filter-of-129": {
        "imageTagMutability": "MUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "a" * 129}],
    },
}


@pytest.mark.parametrize("request_", list(LENIENT_PUTS.values()), ids=list(LENIENT_PUTS))
def test_moto_accepts_put_image_tag_mutability_requests_aws_refuses(ecr: Any, request_: dict[str, Any]) -> None:
    ecr.create_repository(repositoryName="app")
    ecr.put_image_tag_mutability(repositoryName="app", **request_)
    [repository] = ecr.describe_repositories(repositoryNames=["app"])["repositories"]
    assert repository["imageTagMutability"].endswith("_WITH_EXCLUSION")
