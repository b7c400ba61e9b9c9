"""The harness's moto extension (ecr_operator_dev.moto_ecr): ECR's pull through cache rules over HTTP with boto3.

Every operation's answer, each error code AWS's API reference names for it, the model's patterns, lengths and
enums (checked server-side; a client with botocore's own validation turned off shows the minimums and required
members too), pagination, and one registry per account and Region.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_harness import ACCOUNT, REGION, error_of

from ecr_operator_dev import MotoServer

SECRET_NAME = "ecr-pullthroughcache/docker-hub"
CREDENTIALS = {"username": "someone", "accessToken": "dckr_pat_x"}
OTHER_ACCOUNT = "210987654321"
OWN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-pull-through"


@pytest.fixture
def secrets(session: boto3.session.Session) -> Any:
    return session.client("secretsmanager")


@pytest.fixture
def secret_arn(secrets: Any) -> str:
    arn: str = secrets.create_secret(Name=SECRET_NAME, SecretString=json.dumps(CREDENTIALS))["ARN"]
    return arn


def docker_hub(ecr: Any, arn: str, prefix: str = "docker-hub") -> dict[str, Any]:
    answer: dict[str, Any] = ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix=prefix,
        upstreamRegistryUrl="registry-1.docker.io",
        upstreamRegistry="docker-hub",
        credentialArn=arn,
    )
    return answer


def quay(ecr: Any, prefix: str) -> None:
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl="quay.io")


# --- CreatePullThroughCacheRule -------------------------------------------------------------------------------


def test_create_answers_the_rule_and_describe_shows_it(ecr: Any, secret_arn: str) -> None:
    created = docker_hub(ecr, secret_arn)
    assert {k: created[k] for k in ("ecrRepositoryPrefix", "upstreamRegistryUrl", "upstreamRegistry")} == {
        "ecrRepositoryPrefix": "docker-hub",
        "upstreamRegistryUrl": "registry-1.docker.io",
        "upstreamRegistry": "docker-hub",
    }
    assert created["registryId"] == ACCOUNT and created["credentialArn"] == secret_arn
    assert "customRoleArn" not in created and "upstreamRepositoryPrefix" not in created

    [rule] = ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert rule["ecrRepositoryPrefix"] == "docker-hub" and rule["credentialArn"] == secret_arn
    assert rule["createdAt"] == created["createdAt"] and rule["updatedAt"] == rule["createdAt"]


@pytest.mark.parametrize(
    ("url", "upstream"),
    [("public.ecr.aws", "ecr-public"), ("quay.io", "quay"), ("registry.k8s.io", "k8s")],
)
def test_upstreams_without_credentials_are_inferred_from_the_url(ecr: Any, url: str, upstream: str) -> None:
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="cache", upstreamRegistryUrl=url)
    [rule] = ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert rule["upstreamRegistry"] == upstream and "credentialArn" not in rule


@pytest.mark.parametrize(
    ("url", "upstream"),
    [
        ("registry-1.docker.io", "docker-hub"),
        ("ghcr.io", "github-container-registry"),
        ("registry.gitlab.com", "gitlab-container-registry"),
        ("myregistry.azurecr.io", "azure-container-registry"),
        ("cgr.dev", "chainguard"),
    ],
)
def test_upstreams_that_need_a_secret_refuse_a_rule_without_one(
    ecr: Any, secret_arn: str, url: str, upstream: str
) -> None:
    code, message = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="cache", upstreamRegistryUrl=url)
    assert code == "UnsupportedUpstreamRegistryException" and "requires authentication" in message
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="cache", upstreamRegistryUrl=url, upstreamRegistry=upstream, credentialArn=secret_arn
    )
    assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"][0]["upstreamRegistry"] == upstream


@pytest.mark.parametrize(
    ("url", "upstream"),
    [
        ("harbor.example.com", None),
        ("docker.io", None),  # Docker Hub's registry is registry-1.docker.io
        ("https://quay.io", None),
        ("quay.io", "k8s"),  # a URL that is not the named registry's
        ("ghcr.io", "docker-hub"),
    ],
)
def test_unsupported_or_mismatched_upstream_urls_are_refused(ecr: Any, url: str, upstream: str | None) -> None:
    extra = {"upstreamRegistry": upstream} if upstream else {}
    code, message = error_of(
        ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="cache", upstreamRegistryUrl=url, **extra
    )
    assert code == "UnsupportedUpstreamRegistryException" and url in message


def test_an_unknown_upstream_registry_name_is_refused_by_the_models_enum(ecr: Any) -> None:
    code, message = error_of(
        ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="cache",
        upstreamRegistryUrl="registry-1.docker.io",
        upstreamRegistry="dockerhub",
    )
    assert code == "InvalidParameterException"
    assert "'upstreamRegistry'" in message and "enum value set: [ecr, ecr-public, quay" in message


@pytest.mark.parametrize("url", ["public.ecr.aws", "quay.io", f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"])
def test_a_secret_for_an_upstream_that_takes_none_is_refused(ecr: Any, secret_arn: str, url: str) -> None:
    code, message = error_of(
        ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="cache",
        upstreamRegistryUrl=url,
        credentialArn=secret_arn,
    )
    assert code == "InvalidParameterException" and "credentialArn" in message


@pytest.mark.parametrize(
    "arn",
    [
        # the secret's name must start with ecr-pullthroughcache/
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:dockerhub-credentials-AbCdEf",
        # not a Secrets Manager ARN
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/ecr-pullthroughcache/docker-hub",
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/" + "x" * 600,  # > 612
    ],
)
def test_credential_arn_must_match_the_models_pattern_and_length(ecr: Any, arn: str) -> None:
    code, message = error_of(
        ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="docker-hub",
        upstreamRegistryUrl="registry-1.docker.io",
        credentialArn=arn,
    )
    assert code == "InvalidParameterException" and "'credentialArn'" in message


def test_credential_arn_shorter_than_the_model_minimum_is_refused_by_the_server(unchecked_ecr: Any) -> None:
    code, message = error_of(
        unchecked_ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="docker-hub",
        upstreamRegistryUrl="registry-1.docker.io",
        credentialArn="arn:aws:secretsmanager:x:1:secret:x",
    )
    assert code == "InvalidParameterException" and "length greater than or equal to 50" in message


def test_a_secret_that_does_not_exist_is_secret_not_found(ecr: Any, secret_arn: str) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/nobody-AbCdEf"
    code, _ = error_of(
        ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="docker-hub",
        upstreamRegistryUrl="registry-1.docker.io",
        credentialArn=missing,
    )
    assert code == "SecretNotFoundException"
    # The secret must be in the rule's own Region: the same secret seen from another Region is not found.
    other_region = secret_arn.replace(f":{REGION}:", ":eu-west-1:")
    code, _ = error_of(
        ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="docker-hub",
        upstreamRegistryUrl="registry-1.docker.io",
        credentialArn=other_region,
    )
    assert code == "SecretNotFoundException"
    assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


def test_a_partial_secret_arn_without_the_random_suffix_is_found(ecr: Any, secret_arn: str) -> None:
    partial = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_NAME}"
    assert docker_hub(ecr, partial)["credentialArn"] == partial


def test_ecr_upstream_in_the_same_account_needs_no_role_and_defaults_the_upstream_prefix_to_root(ecr: Any) -> None:
    created = ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="mirror", upstreamRegistryUrl=f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    )
    assert created["upstreamRegistry"] == "ecr" and created["upstreamRepositoryPrefix"] == "ROOT"


def test_ecr_upstream_in_another_account_needs_a_role_of_the_registrys_own_account(ecr: Any) -> None:
    url = f"{OTHER_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    code, message = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="mirror", upstreamRegistryUrl=url)
    assert code == "UnsupportedUpstreamRegistryException" and "IAM role" in message
    code, message = error_of(
        ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="mirror",
        upstreamRegistryUrl=url,
        customRoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/puller",
    )
    assert code == "InvalidParameterException" and "customRoleArn" in message
    created = ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="mirror",
        upstreamRegistryUrl=url,
        upstreamRepositoryPrefix="team-a",
        customRoleArn=OWN_ROLE,
    )
    assert created["customRoleArn"] == OWN_ROLE and created["upstreamRepositoryPrefix"] == "team-a"


def test_a_role_for_an_upstream_that_is_not_ecr_is_refused(ecr: Any, secret_arn: str) -> None:
    code, message = error_of(
        ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="docker-hub",
        upstreamRegistryUrl="registry-1.docker.io",
        credentialArn=secret_arn,
        customRoleArn=OWN_ROLE,
    )
    assert code == "InvalidParameterException" and "customRoleArn" in message


def test_upstream_repository_prefix_needs_a_non_root_ecr_prefix_and_an_ecr_upstream(ecr: Any) -> None:
    url = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    code, message = error_of(
        ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="ROOT",
        upstreamRegistryUrl=url,
        upstreamRepositoryPrefix="team-a",
    )
    assert code == "InvalidParameterException" and "not ROOT" in message
    code, message = error_of(
        ecr.create_pull_through_cache_rule,
        ecrRepositoryPrefix="quay",
        upstreamRegistryUrl="quay.io",
        upstreamRepositoryPrefix="team-a",
    )
    assert code == "InvalidParameterException" and "upstreamRepositoryPrefix" in message
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ROOT", upstreamRegistryUrl=url)


@pytest.mark.parametrize(
    "prefix",
    ["Docker-Hub", "docker_", "-dash", "a" * 31, "team//a", "root/ROOT"],
)
def test_ecr_repository_prefix_must_match_the_models_pattern_and_length(ecr: Any, prefix: str) -> None:
    code, message = error_of(
        ecr.create_pull_through_cache_rule, ecrRepositoryPrefix=prefix, upstreamRegistryUrl="quay.io"
    )
    assert code == "InvalidParameterException" and "'ecrRepositoryPrefix'" in message


@pytest.mark.parametrize("prefix", ["ab", "team/quay", "team/quay/", "a.b_c--d", "ROOT", "a" * 30])
def test_ecr_repository_prefixes_the_model_allows_are_accepted(ecr: Any, prefix: str) -> None:
    quay(ecr, prefix)
    assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"][0]["ecrRepositoryPrefix"] == prefix


def test_missing_and_too_short_members_are_refused_by_the_server(unchecked_ecr: Any) -> None:
    code, message = error_of(unchecked_ecr.create_pull_through_cache_rule, upstreamRegistryUrl="quay.io")
    assert code == "InvalidParameterException" and "'ecrRepositoryPrefix'" in message and "not be null" in message
    code, message = error_of(unchecked_ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="q")
    assert code == "InvalidParameterException" and "'upstreamRegistryUrl'" in message
    code, message = error_of(
        unchecked_ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="q", upstreamRegistryUrl="quay.io"
    )
    assert code == "InvalidParameterException" and "length greater than or equal to 2" in message


def test_a_second_rule_for_the_same_prefix_already_exists(ecr: Any) -> None:
    quay(ecr, "quay")
    for prefix in ("quay", "quay/"):  # ECR assumes a '/' after every prefix
        code, _ = error_of(
            ecr.create_pull_through_cache_rule, ecrRepositoryPrefix=prefix, upstreamRegistryUrl="public.ecr.aws"
        )
        assert code == "PullThroughCacheRuleAlreadyExistsException"


def test_fifty_rules_per_registry_then_limit_exceeded(ecr: Any) -> None:
    for index in range(50):
        quay(ecr, f"quay-{index:02d}")
    code, _ = error_of(
        ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="one-more", upstreamRegistryUrl="quay.io"
    )
    assert code == "LimitExceededException"


@pytest.mark.parametrize(("registry_id", "fragment"), [(OTHER_ACCOUNT, "not the caller's"), ("12345", "pattern")])
def test_registry_id_must_be_the_callers_and_match_the_pattern(ecr: Any, registry_id: str, fragment: str) -> None:
    code, message = error_of(
        ecr.create_pull_through_cache_rule,
        registryId=registry_id,
        ecrRepositoryPrefix="quay",
        upstreamRegistryUrl="quay.io",
    )
    assert code == "InvalidParameterException" and "registryId" in message and fragment in message
    ecr.create_pull_through_cache_rule(registryId=ACCOUNT, ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")


# --- DescribePullThroughCacheRules ----------------------------------------------------------------------------


def test_describe_filters_by_prefix_and_a_missing_prefix_is_not_found(ecr: Any) -> None:
    for prefix in ("a-quay", "b-quay", "c-quay"):
        quay(ecr, prefix)
    rules = ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["c-quay", "a-quay/"])["pullThroughCacheRules"]
    assert [rule["ecrRepositoryPrefix"] for rule in rules] == ["a-quay", "c-quay"]
    code, message = error_of(ecr.describe_pull_through_cache_rules, ecrRepositoryPrefixes=["a-quay", "nothing"])
    assert code == "PullThroughCacheRuleNotFoundException" and "nothing" in message


def test_describe_pages_in_prefix_order(ecr: Any) -> None:
    prefixes = [f"quay-{index}" for index in (4, 0, 3, 1, 2)]
    for prefix in prefixes:
        quay(ecr, prefix)
    first = ecr.describe_pull_through_cache_rules(maxResults=2)
    assert [rule["ecrRepositoryPrefix"] for rule in first["pullThroughCacheRules"]] == ["quay-0", "quay-1"]
    # A rule deleted and one added behind the page boundary: nothing repeats, the new one is seen.
    ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="quay-0")
    quay(ecr, "quay-15")
    second = ecr.describe_pull_through_cache_rules(maxResults=2, nextToken=first["nextToken"])
    assert [rule["ecrRepositoryPrefix"] for rule in second["pullThroughCacheRules"]] == ["quay-15", "quay-2"]
    third = ecr.describe_pull_through_cache_rules(maxResults=2, nextToken=second["nextToken"])
    assert [rule["ecrRepositoryPrefix"] for rule in third["pullThroughCacheRules"]] == ["quay-3", "quay-4"]
    assert "nextToken" not in third

    pages = ecr.get_paginator("describe_pull_through_cache_rules").paginate(PaginationConfig={"PageSize": 3})
    assert [len(page["pullThroughCacheRules"]) for page in pages] == [3, 2]


def test_describe_returns_up_to_100_rules_without_max_results(ecr: Any) -> None:
    # 50 rules per registry: a page of 100 holds them all, without a token.
    for index in range(50):
        quay(ecr, f"quay-{index:02d}")
    answer = ecr.describe_pull_through_cache_rules()
    assert len(answer["pullThroughCacheRules"]) == 50 and "nextToken" not in answer


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"maxResults": 1001}, "value less than or equal to 1000"),
        ({"maxResults": 0}, "value greater than or equal to 1"),
        ({"ecrRepositoryPrefixes": []}, "length greater than or equal to 1"),
        ({"ecrRepositoryPrefixes": [f"p-{index}" for index in range(101)]}, "length less than or equal to 100"),
        ({"ecrRepositoryPrefixes": ["UPPER"]}, "Member must satisfy constraint: [Member must satisfy regular"),
        ({"nextToken": "%%%"}, "nextToken"),
    ],
)
def test_describe_refuses_what_the_model_does_not_allow(
    unchecked_ecr: Any, kwargs: dict[str, Any], fragment: str
) -> None:
    code, message = error_of(unchecked_ecr.describe_pull_through_cache_rules, **kwargs)
    assert code == "InvalidParameterException" and fragment in message


# --- UpdatePullThroughCacheRule -------------------------------------------------------------------------------


def test_update_replaces_the_secret(ecr: Any, secrets: Any, secret_arn: str) -> None:
    created = docker_hub(ecr, secret_arn)
    rotated = secrets.create_secret(Name="ecr-pullthroughcache/docker-hub-2", SecretString=json.dumps(CREDENTIALS))
    updated = ecr.update_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub", credentialArn=rotated["ARN"])
    assert updated["credentialArn"] == rotated["ARN"] and updated["registryId"] == ACCOUNT
    assert updated["updatedAt"] >= created["createdAt"]
    [rule] = ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert rule["credentialArn"] == rotated["ARN"] and rule["updatedAt"] == updated["updatedAt"]
    assert rule["createdAt"] == created["createdAt"] and rule["upstreamRegistryUrl"] == "registry-1.docker.io"


def test_update_of_an_ecr_rule_replaces_the_role_and_keeps_the_upstream_prefix(ecr: Any) -> None:
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="mirror",
        upstreamRegistryUrl=f"{OTHER_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com",
        upstreamRepositoryPrefix="team-a",
        customRoleArn=OWN_ROLE,
    )
    new_role = f"arn:aws:iam::{ACCOUNT}:role/path/other-puller"
    updated = ecr.update_pull_through_cache_rule(ecrRepositoryPrefix="mirror", customRoleArn=new_role)
    assert updated["customRoleArn"] == new_role and updated["upstreamRepositoryPrefix"] == "team-a"


def test_update_errors(ecr: Any, secret_arn: str) -> None:
    docker_hub(ecr, secret_arn)
    code, message = error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="docker-hub")
    assert (code, message) == (
        "InvalidParameterException",
        "Invalid input: Please set either credential arn or role arn to update the credentials",
    )
    code, _ = error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="nothing", credentialArn=secret_arn)
    assert code == "PullThroughCacheRuleNotFoundException"
    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/gone-AbCdEf"
    code, _ = error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="docker-hub", credentialArn=missing)
    assert code == "SecretNotFoundException"
    code, _ = error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="docker-hub", customRoleArn=OWN_ROLE)
    assert code == "InvalidParameterException"
    not_a_secret = f"arn:aws:iam::{ACCOUNT}:role/ecr-pullthroughcache/docker-hub"
    code, message = error_of(
        ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="docker-hub", credentialArn=not_a_secret
    )
    assert code == "InvalidParameterException" and "'credentialArn'" in message
    assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"][0]["credentialArn"] == secret_arn


# --- DeletePullThroughCacheRule -------------------------------------------------------------------------------


def test_delete_answers_the_rule_then_it_is_gone(ecr: Any, secret_arn: str) -> None:
    created = docker_hub(ecr, secret_arn)
    deleted = ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub/")
    assert deleted["ecrRepositoryPrefix"] == "docker-hub" and deleted["credentialArn"] == secret_arn
    assert deleted["upstreamRegistryUrl"] == "registry-1.docker.io" and deleted["createdAt"] == created["createdAt"]
    assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []
    code, _ = error_of(ecr.delete_pull_through_cache_rule, ecrRepositoryPrefix="docker-hub")
    assert code == "PullThroughCacheRuleNotFoundException"


# --- ValidatePullThroughCacheRule -----------------------------------------------------------------------------


def test_validate_checks_the_secret_holds_credentials(ecr: Any, secrets: Any, secret_arn: str) -> None:
    docker_hub(ecr, secret_arn)
    answer = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert answer["isValid"] is True and "failure" not in answer
    assert answer["credentialArn"] == secret_arn and answer["upstreamRegistryUrl"] == "registry-1.docker.io"

    secrets.put_secret_value(SecretId=secret_arn, SecretString=json.dumps({"username": "someone"}))
    answer = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert answer["isValid"] is False and "accessToken" in answer["failure"]

    secrets.delete_secret(SecretId=secret_arn, ForceDeleteWithoutRecovery=True)
    answer = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert answer["isValid"] is False and "not found" in answer["failure"]


def test_validate_a_rule_without_credentials_and_a_missing_rule(ecr: Any) -> None:
    quay(ecr, "quay")
    assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="quay")["isValid"] is True
    code, _ = error_of(ecr.validate_pull_through_cache_rule, ecrRepositoryPrefix="nothing")
    assert code == "PullThroughCacheRuleNotFoundException"


# --- one registry per account and Region ----------------------------------------------------------------------


def test_rules_belong_to_one_account_and_region(ecr: Any, session: boto3.session.Session) -> None:
    quay(ecr, "quay")
    elsewhere = session.client("ecr", region_name="eu-west-1")
    assert elsewhere.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []
    quay(elsewhere, "quay")  # the same prefix is free in another Region

    credentials = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/platform", RoleSessionName="test"
    )["Credentials"]
    other = session.client(
        "ecr",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    assert other.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []
    quay(other, "quay")
    [rule] = other.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert rule["registryId"] == OTHER_ACCOUNT


def test_moto_reset_forgets_the_rules(ecr: Any, moto_server: MotoServer) -> None:
    quay(ecr, "quay")
    moto_server.reset()
    assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []
