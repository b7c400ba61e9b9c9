"""The harness's moto extension (ecr_operator_dev.moto_ecr): ECR's repository creation templates over HTTP with
boto3.

Every operation's answer, each error code AWS's API reference names for it, the model's patterns, lengths and
enums (checked server-side), the checks a repository's own settings get (policies, tag mutability), pagination,
and one registry per account and Region.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_harness import ACCOUNT, REGION, error_of

KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-templates"
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PullFromTheOrganisation",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}},
            }
        ],
    }
)
LIFECYCLE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep 30 images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
                "action": {"type": "expire"},
            }
        ]
    }
)
FULL: dict[str, Any] = {
    "description": "Docker Hub through ECR",
    "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": KMS_KEY},
    "resourceTags": [{"Key": "owner", "Value": "platform-team"}, {"Key": "managed-by", "Value": "ecr-operator"}],
    "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
    "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "latest"}],
    "repositoryPolicy": POLICY,
    "lifecyclePolicy": LIFECYCLE,
    "appliedFor": ["PULL_THROUGH_CACHE", "REPLICATION", "CREATE_ON_PUSH"],
    "customRoleArn": ROLE,
}


def settings(template: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in template.items() if key not in ("prefix", "createdAt", "updatedAt")}


def minimal(ecr: Any, prefix: str) -> None:
    ecr.create_repository_creation_template(prefix=prefix, appliedFor=["PULL_THROUGH_CACHE"])


# --- CreateRepositoryCreationTemplate -------------------------------------------------------------------------


def test_create_a_full_template_and_describe_it(ecr: Any) -> None:
    created = ecr.create_repository_creation_template(prefix="docker-hub", **FULL)
    assert created["registryId"] == ACCOUNT
    template = created["repositoryCreationTemplate"]
    assert template["prefix"] == "docker-hub" and settings(template) == FULL
    assert template["updatedAt"] == template["createdAt"]

    described = ecr.describe_repository_creation_templates()
    assert described["registryId"] == ACCOUNT and described["repositoryCreationTemplates"] == [template]


def test_a_minimal_template_gets_the_documented_defaults(ecr: Any) -> None:
    created = ecr.create_repository_creation_template(prefix="ROOT", appliedFor=["CREATE_ON_PUSH"])
    assert settings(created["repositoryCreationTemplate"]) == {
        "appliedFor": ["CREATE_ON_PUSH"],
        "imageTagMutability": "MUTABLE",
        "encryptionConfiguration": {"encryptionType": "AES256"},
    }


def test_root_and_root_in_lower_case_are_two_templates(ecr: Any) -> None:
    minimal(ecr, "ROOT")
    minimal(ecr, "root")
    prefixes = [t["prefix"] for t in ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]]
    assert prefixes == ["ROOT", "root"]


def test_a_second_template_for_the_same_prefix_already_exists(ecr: Any) -> None:
    minimal(ecr, "prod/team")
    for prefix in ("prod/team", "prod/team/"):
        code, message = error_of(ecr.create_repository_creation_template, prefix=prefix, appliedFor=["REPLICATION"])
        assert code == "TemplateAlreadyExistsException" and "prod/team" in message


@pytest.mark.parametrize("prefix", ["Prod", "prod//team", "_prod", "a" * 257, "RooT"])
def test_prefix_must_match_the_models_pattern_and_length(ecr: Any, prefix: str) -> None:
    code, message = error_of(ecr.create_repository_creation_template, prefix=prefix, appliedFor=["REPLICATION"])
    assert code == "InvalidParameterException" and "'prefix'" in message


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"appliedFor": ["PULL_THROUGH"]}, "'appliedFor'"),
        ({"appliedFor": []}, "'appliedFor'"),
        ({"imageTagMutability": "FROZEN"}, "'imageTagMutability'"),
        ({"encryptionConfiguration": {"encryptionType": "AES128"}}, "'encryptionConfiguration.encryptionType'"),
        ({"encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "alias/mine"}}, "kmsKey"),
        ({"encryptionConfiguration": {"encryptionType": "AES256", "kmsKey": KMS_KEY}}, "AES256"),
        ({"description": "d" * 257}, "'description'"),
        ({"customRoleArn": "arn:aws:iam::210987654321:role/elsewhere"}, "customRoleArn"),
        ({"customRoleArn": "r" * 2049}, "'customRoleArn'"),
        ({"repositoryPolicy": "{not json"}, "Invalid repository policy provided"),
        ({"repositoryPolicy": json.dumps({"Statement": [{"Effect": "Maybe"}]})}, "Invalid repository policy provided"),
        ({"repositoryPolicy": "p" * 10241}, "'repositoryPolicy'"),
        ({"lifecyclePolicy": json.dumps({"rules": [{"rulePriority": 1}]})}, "Lifecycle policy validation failure"),
        ({"lifecyclePolicy": "{not json"}, "Lifecycle policy validation failure"),
        ({"resourceTags": [{"Key": f"k{index}", "Value": "v"} for index in range(51)]}, "at most 50 tags"),
        ({"resourceTags": [{"Key": "aws:owner", "Value": "v"}]}, "reserved"),
        ({"resourceTags": [{"Key": "k" * 129, "Value": "v"}]}, "tag keys of 1 to 128"),
        ({"resourceTags": [{"Key": "k", "Value": "v" * 257}]}, "values of at most 256"),
        ({"resourceTags": [{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}]}, "duplicate"),
    ],
)
def test_create_refuses_invalid_settings(ecr: Any, change: dict[str, Any], fragment: str) -> None:
    code, message = error_of(ecr.create_repository_creation_template, prefix="prod", **{**FULL, **change})
    assert code == "InvalidParameterException" and fragment in message
    assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": None},
        {"imageTagMutability": "IMMUTABLE"},  # exclusion filters only with a *_WITH_EXCLUSION setting
        {"imageTagMutabilityExclusionFilters": [{"filterType": "REGEX", "filter": "latest"}]},
        {"imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "release/*"}]},
        {"imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": f"v{i}*"} for i in range(6)]},
    ],
)
def test_tag_mutability_exclusions_are_checked_as_for_a_repository(ecr: Any, change: dict[str, Any]) -> None:
    request = {key: value for key, value in {**FULL, **change}.items() if value is not None}
    code, message = error_of(ecr.create_repository_creation_template, prefix="prod", **request)
    assert code == "InvalidParameterException" and "imageTagMutabilityExclusionFilters" in message


def test_missing_members_are_refused_by_the_server(unchecked_ecr: Any) -> None:
    code, message = error_of(unchecked_ecr.create_repository_creation_template, prefix="prod")
    assert code == "InvalidParameterException" and "'appliedFor'" in message and "not be null" in message
    code, message = error_of(unchecked_ecr.create_repository_creation_template, appliedFor=["REPLICATION"])
    assert code == "InvalidParameterException" and "'prefix'" in message
    code, message = error_of(unchecked_ecr.create_repository_creation_template, prefix="", appliedFor=["REPLICATION"])
    assert code == "InvalidParameterException" and "length greater than or equal to 1" in message


def test_an_empty_kms_key_names_no_key(ecr: Any) -> None:
    created = ecr.create_repository_creation_template(
        prefix="prod", appliedFor=["REPLICATION"], encryptionConfiguration={"encryptionType": "KMS", "kmsKey": ""}
    )
    assert created["repositoryCreationTemplate"]["encryptionConfiguration"] == {"encryptionType": "KMS"}


# --- DescribeRepositoryCreationTemplates ----------------------------------------------------------------------


def test_describe_filters_by_prefix_and_leaves_out_prefixes_without_a_template(ecr: Any) -> None:
    for prefix in ("a", "b/c", "d"):
        minimal(ecr, prefix)
    templates = ecr.describe_repository_creation_templates(prefixes=["d", "b/c/", "nothing"])
    assert [t["prefix"] for t in templates["repositoryCreationTemplates"]] == ["b/c", "d"]


def test_describe_pages_in_prefix_order(ecr: Any) -> None:
    for prefix in ("e", "a", "d", "b", "c"):
        minimal(ecr, prefix)
    first = ecr.describe_repository_creation_templates(maxResults=2)
    assert [t["prefix"] for t in first["repositoryCreationTemplates"]] == ["a", "b"]
    second = ecr.describe_repository_creation_templates(maxResults=2, nextToken=first["nextToken"])
    assert [t["prefix"] for t in second["repositoryCreationTemplates"]] == ["c", "d"]
    third = ecr.describe_repository_creation_templates(maxResults=2, nextToken=second["nextToken"])
    assert [t["prefix"] for t in third["repositoryCreationTemplates"]] == ["e"] and "nextToken" not in third

    pages = list(ecr.get_paginator("describe_repository_creation_templates").paginate(PaginationConfig={"PageSize": 4}))
    assert [len(page["repositoryCreationTemplates"]) for page in pages] == [4, 1]
    assert all(page["registryId"] == ACCOUNT for page in pages)


def test_describe_returns_100_templates_per_page_without_max_results(ecr: Any) -> None:
    for index in range(101):
        minimal(ecr, f"team-{index:03d}")
    first = ecr.describe_repository_creation_templates()
    assert len(first["repositoryCreationTemplates"]) == 100
    rest = ecr.describe_repository_creation_templates(nextToken=first["nextToken"])
    assert [t["prefix"] for t in rest["repositoryCreationTemplates"]] == ["team-100"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"maxResults": 1001}, "value less than or equal to 1000"),
        ({"maxResults": 0}, "value greater than or equal to 1"),
        ({"prefixes": ["Upper"]}, "Member must satisfy constraint: [Member must satisfy regular"),
        ({"nextToken": "not a token!"}, "nextToken"),
    ],
)
def test_describe_refuses_what_the_model_does_not_allow(
    unchecked_ecr: Any, kwargs: dict[str, Any], fragment: str
) -> None:
    code, message = error_of(unchecked_ecr.describe_repository_creation_templates, **kwargs)
    assert code == "InvalidParameterException" and fragment in message


# --- UpdateRepositoryCreationTemplate -------------------------------------------------------------------------


def test_update_replaces_what_it_names_and_keeps_the_rest(ecr: Any) -> None:
    created = ecr.create_repository_creation_template(prefix="prod", **FULL)["repositoryCreationTemplate"]
    updated = ecr.update_repository_creation_template(
        prefix="prod", description="", appliedFor=["REPLICATION"], imageTagMutability="IMMUTABLE"
    )
    template = updated["repositoryCreationTemplate"]
    assert updated["registryId"] == ACCOUNT
    expected = {
        key: value
        for key, value in FULL.items()
        if key not in ("description", "imageTagMutabilityExclusionFilters")  # cleared, dropped with the setting
    }
    assert settings(template) == {**expected, "appliedFor": ["REPLICATION"], "imageTagMutability": "IMMUTABLE"}
    assert template["createdAt"] == created["createdAt"] and template["updatedAt"] >= created["updatedAt"]
    assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == [template]


def test_update_clears_tags_policies_and_role_with_empty_values(ecr: Any) -> None:
    ecr.create_repository_creation_template(prefix="prod", **FULL)
    template = ecr.update_repository_creation_template(
        prefix="prod/", resourceTags=[], repositoryPolicy="", lifecyclePolicy="", customRoleArn=""
    )["repositoryCreationTemplate"]
    assert not {"resourceTags", "repositoryPolicy", "lifecyclePolicy", "customRoleArn"} & template.keys()


def test_update_errors_leave_the_template_as_it_was(ecr: Any) -> None:
    ecr.create_repository_creation_template(prefix="prod", **FULL)
    code, message = error_of(ecr.update_repository_creation_template, prefix="nothing", description="x")
    assert code == "TemplateNotFoundException" and "nothing" in message
    for change in (
        {"appliedFor": []},
        {"imageTagMutability": "MUTABLE_WITH_EXCLUSION"},  # no filters come with it
        {
            "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "v*"}],
            "imageTagMutability": "MUTABLE",
        },
        {"encryptionConfiguration": {"encryptionType": "AES256", "kmsKey": KMS_KEY}},
        {"lifecyclePolicy": "[]"},
    ):
        code, _ = error_of(ecr.update_repository_creation_template, prefix="prod", **change)
        assert code == "InvalidParameterException", change
    [template] = ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
    assert settings(template) == FULL


def test_update_exclusion_filters_alone_keeps_the_mutability(ecr: Any) -> None:
    ecr.create_repository_creation_template(prefix="prod", **FULL)
    filters = [{"filterType": "WILDCARD", "filter": "latest"}, {"filterType": "WILDCARD", "filter": "dev-*"}]
    template = ecr.update_repository_creation_template(prefix="prod", imageTagMutabilityExclusionFilters=filters)
    assert template["repositoryCreationTemplate"]["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert template["repositoryCreationTemplate"]["imageTagMutabilityExclusionFilters"] == filters


# --- DeleteRepositoryCreationTemplate -------------------------------------------------------------------------


def test_delete_answers_the_template_then_it_is_gone(ecr: Any) -> None:
    created = ecr.create_repository_creation_template(prefix="prod", **FULL)["repositoryCreationTemplate"]
    deleted = ecr.delete_repository_creation_template(prefix="prod")
    assert deleted["registryId"] == ACCOUNT and deleted["repositoryCreationTemplate"] == created
    assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []
    code, _ = error_of(ecr.delete_repository_creation_template, prefix="prod")
    assert code == "TemplateNotFoundException"


def test_delete_refuses_a_prefix_the_model_does_not_allow(ecr: Any) -> None:
    code, message = error_of(ecr.delete_repository_creation_template, prefix="Prod")
    assert code == "InvalidParameterException" and "'prefix'" in message


# --- one registry per account and Region ----------------------------------------------------------------------


def test_templates_belong_to_one_region(ecr: Any, session: boto3.session.Session) -> None:
    minimal(ecr, "prod")
    elsewhere = session.client("ecr", region_name="eu-west-1")
    assert elsewhere.describe_repository_creation_templates()["repositoryCreationTemplates"] == []
    minimal(elsewhere, "prod")
    code, _ = error_of(elsewhere.update_repository_creation_template, prefix="staging", description="x")
    assert code == "TemplateNotFoundException"


def test_templates_do_not_touch_repositories(ecr: Any) -> None:
    ecr.create_repository_creation_template(prefix="ROOT", **FULL)
    repository = ecr.create_repository(repositoryName="prod/app")["repository"]
    # Templates apply only to repositories ECR creates itself (pull through cache, replication, create on push).
    assert repository["imageTagMutability"] == "MUTABLE"
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}
