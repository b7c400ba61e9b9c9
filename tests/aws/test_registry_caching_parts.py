"""Pull through cache rules and creation templates (EcrRegistry parts) against moto (the harness's extension,
docs/moto-ecr-extensions.md): converge, stay in sync with reads only, correct drift, delete only what the resource
created (removed from the spec, deletionPolicy Delete), leave another's rule alone, and act in another account
through spec.awsRoleArn."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from aws_harness import ACCOUNT, QUAY, REGION, PartsHarness, desired_registry

from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.reasons import Reason
from ecr_operator.core.repository_settings import (
    CrossAccountPull,
    Lifecycle,
    render_lifecycle_policy,
    render_pull_policy,
)
from ecr_operator.registry.items import Created, created_names
from ecr_operator.registry.parts.registry import RegistryDeps
from ecr_operator.registry.reconcile import RegistryOutcome, delete_registry, reconcile_registry
from ecr_operator.registry.status import report

SECRET_NAME = "ecr-pullthroughcache/docker-hub"
LIFECYCLE = {"maxImageCount": 20, "expireUntaggedAfterDays": 7}
PULL = {"enabled": True, "allowedAccountIds": ["111122223333"]}
TEMPLATE: dict[str, Any] = {
    "prefix": "docker-hub",
    "appliedFor": ["PULL_THROUGH_CACHE"],
    "description": "Docker Hub cache",
    "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
    "imageTagMutabilityExclusionFilters": [{"filter": "latest"}],
    "lifecycle": LIFECYCLE,
    "crossAccountPull": PULL,
    "resourceTags": {"team": "platform"},
}
ROOT_TEMPLATE: dict[str, Any] = {"prefix": "ROOT", "appliedFor": ["CREATE_ON_PUSH", "REPLICATION"]}


@pytest.fixture
def secret_arn(aws: PartsHarness, aws_session: boto3.session.Session) -> str:
    secrets = aws_session.client("secretsmanager", region_name=REGION)
    arn: str = secrets.create_secret(Name=SECRET_NAME, SecretString=json.dumps({"username": "u", "accessToken": "t"}))[
        "ARN"
    ]
    return arn


def docker_hub(secret_arn: str) -> dict[str, Any]:
    return {
        "ecrRepositoryPrefix": "docker-hub",
        "upstreamRegistryUrl": "registry-1.docker.io",
        "upstreamRegistry": "docker-hub",
        "credentialArn": secret_arn,
    }


def created_by(outcome: RegistryOutcome, previous: Mapping[str, Any] | None = None) -> RegistryDeps:
    """The deps the next pass gets: what the status this outcome writes records as created."""
    status = report(outcome, previous or {}, 1, "2026-12-03T00:00:00Z", observe_only=False, resync=False).status
    created = Created(
        created_names(status.get("pullThroughCacheRules")), created_names(status.get("creationTemplates"))
    )
    return RegistryDeps(created=created)


def rules(aws: PartsHarness) -> dict[str, dict[str, Any]]:
    return {r["ecrRepositoryPrefix"]: r for r in aws.ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]}


def templates(aws: PartsHarness) -> dict[str, dict[str, Any]]:
    answer = aws.ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
    return {t["prefix"]: t for t in answer}


def test_converges_then_stays_in_sync_with_reads_only(aws: PartsHarness, secret_arn: str) -> None:
    want = desired_registry(
        pullThroughCacheRules=[docker_hub(secret_arn), QUAY], creationTemplates=[TEMPLATE, ROOT_TEMPLATE]
    )
    outcome = reconcile_registry(aws.clients, want, RegistryDeps())
    assert outcome.problems == []
    assert aws.calls.writes == [
        "ecr:CreateRepositoryCreationTemplate",
        "ecr:CreateRepositoryCreationTemplate",
        "ecr:CreatePullThroughCacheRule",
        "ecr:CreatePullThroughCacheRule",
    ]
    assert rules(aws)["docker-hub"]["credentialArn"] == secret_arn
    assert rules(aws)["quay"]["upstreamRegistry"] == "quay"
    assert {(i.name, i.state, i.created) for i in outcome.rules or []} == {
        ("docker-hub", "InSync", True),
        ("quay", "InSync", True),
    }

    aws.calls.clear()
    again = reconcile_registry(aws.clients, want, created_by(outcome))
    assert again.planned == [] and aws.calls.writes == []
    assert aws.calls.reads == [
        "ecr:DescribeRegistry",
        "ecr:DescribeRepositoryCreationTemplates",
        "ecr:DescribePullThroughCacheRules",
    ]


def test_a_templates_documents_are_the_ones_an_ecr_repository_gets(aws: PartsHarness) -> None:
    reconcile_registry(aws.clients, desired_registry(creationTemplates=[TEMPLATE]), RegistryDeps())
    template = templates(aws)["docker-hub"]
    lifecycle = render_lifecycle_policy(Lifecycle.model_validate(LIFECYCLE))
    assert json.loads(template["lifecyclePolicy"]) == lifecycle
    assert json.loads(template["repositoryPolicy"]) == render_pull_policy(CrossAccountPull.model_validate(PULL), REGION)
    assert template["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert template["imageTagMutabilityExclusionFilters"] == [{"filter": "latest", "filterType": "WILDCARD"}]
    assert template["encryptionConfiguration"]["encryptionType"] == "AES256"
    assert template["resourceTags"] == [{"Key": "team", "Value": "platform"}]


def test_drift_is_corrected(aws: PartsHarness, secret_arn: str) -> None:
    want = desired_registry(pullThroughCacheRules=[docker_hub(secret_arn), QUAY], creationTemplates=[TEMPLATE])
    deps = created_by(reconcile_registry(aws.clients, want, RegistryDeps()))
    aws.ecr.update_repository_creation_template(
        prefix="docker-hub", description="changed by hand", resourceTags=[{"Key": "team", "Value": "other"}]
    )
    aws.ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="quay")
    aws.calls.clear()
    outcome = reconcile_registry(aws.clients, want, deps)
    assert aws.calls.writes == ["ecr:UpdateRepositoryCreationTemplate", "ecr:CreatePullThroughCacheRule"]
    assert templates(aws)["docker-hub"]["description"] == "Docker Hub cache"
    assert templates(aws)["docker-hub"]["resourceTags"] == [{"Key": "team", "Value": "platform"}]
    assert "quay" in rules(aws) and outcome.problems == []


def test_credentials_change_in_place_and_an_upstream_change_replaces_our_rule(
    aws: PartsHarness, secret_arn: str, aws_session: boto3.session.Session
) -> None:
    deps = created_by(
        reconcile_registry(
            aws.clients, desired_registry(pullThroughCacheRules=[docker_hub(secret_arn)]), RegistryDeps()
        )
    )
    secrets = aws_session.client("secretsmanager", region_name=REGION)
    second: str = secrets.create_secret(
        Name="ecr-pullthroughcache/docker-hub-2", SecretString=json.dumps({"username": "u", "accessToken": "t"})
    )["ARN"]
    aws.calls.clear()
    reconcile_registry(aws.clients, desired_registry(pullThroughCacheRules=[docker_hub(second)]), deps)
    assert aws.calls.writes == ["ecr:UpdatePullThroughCacheRule"]
    assert rules(aws)["docker-hub"]["credentialArn"] == second

    aws.calls.clear()
    ghcr = {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "ghcr.io", "credentialArn": second}
    outcome = reconcile_registry(aws.clients, desired_registry(pullThroughCacheRules=[ghcr]), deps)
    assert aws.calls.writes == ["ecr:DeletePullThroughCacheRule", "ecr:CreatePullThroughCacheRule"]
    assert rules(aws)["docker-hub"]["upstreamRegistryUrl"] == "ghcr.io" and outcome.problems == []


def test_another_rule_is_never_replaced_nor_deleted(aws: PartsHarness, secret_arn: str) -> None:
    aws.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub", upstreamRegistryUrl="public.ecr.aws")
    aws.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    want = desired_registry(pullThroughCacheRules=[docker_hub(secret_arn), QUAY])
    outcome = reconcile_registry(aws.clients, want, RegistryDeps())
    assert aws.calls.writes == []
    [problem] = outcome.problems
    assert problem.reason == Reason.REGISTRY_ITEM_NOT_OWNED and "docker-hub" in problem.message
    assert {(i.name, i.state, i.created) for i in outcome.rules or []} == {
        ("docker-hub", "Conflict", False),
        ("quay", "InSync", False),
    }
    # Removed from the spec, and deletionPolicy Delete: neither was created by this resource, both stay.
    deps = created_by(outcome)
    reconcile_registry(aws.clients, desired_registry(pullThroughCacheRules=[]), deps)
    delete_registry(aws.clients, desired_registry(pullThroughCacheRules=[], deletionPolicy="Delete"), deps)
    assert set(rules(aws)) == {"docker-hub", "quay"}


def test_removed_from_the_spec_only_its_own_are_deleted(aws: PartsHarness, secret_arn: str) -> None:
    aws.ecr.create_repository_creation_template(prefix="theirs", appliedFor=["REPLICATION"])
    want = desired_registry(
        pullThroughCacheRules=[docker_hub(secret_arn), QUAY], creationTemplates=[TEMPLATE, ROOT_TEMPLATE]
    )
    first = reconcile_registry(aws.clients, want, RegistryDeps())
    fewer = desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[ROOT_TEMPLATE])
    aws.calls.clear()
    outcome = reconcile_registry(aws.clients, fewer, created_by(first))
    assert sorted(aws.calls.writes) == ["ecr:DeletePullThroughCacheRule", "ecr:DeleteRepositoryCreationTemplate"]
    assert set(rules(aws)) == {"quay"} and set(templates(aws)) == {"ROOT", "theirs"}
    assert [i.name for i in outcome.rules or []] == ["quay"]


def test_observe_only_plans_and_keeps_the_state_pending(aws: PartsHarness, secret_arn: str) -> None:
    outcome = reconcile_registry(
        aws.clients,
        desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[ROOT_TEMPLATE]),
        RegistryDeps(),
        observe_only=True,
    )
    assert aws.calls.writes == [] and len(outcome.planned) == 2
    assert [i.state for i in outcome.rules or []] == ["Pending"]


def test_creations_are_recorded_before_they_are_sent(aws: PartsHarness) -> None:
    recorded: list[tuple[Mapping[str, Any], list[str]]] = []

    def record(fields: Mapping[str, Any], what: str) -> None:
        recorded.append((fields, list(aws.calls.writes)))

    reconcile_registry(
        aws.clients,
        desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[ROOT_TEMPLATE]),
        RegistryDeps(),
        record=record,
    )
    [(fields, writes_before)] = recorded
    assert writes_before == []
    assert fields["pullThroughCacheRules"][0] == {
        "name": "quay",
        "state": "Pending",
        "createdByOperator": True,
        "upstreamRegistryUrl": "quay.io",
    }
    assert fields["creationTemplates"][0]["createdByOperator"] is True


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_delete_follows_the_deletion_policy(aws: PartsHarness, secret_arn: str, policy: str) -> None:
    spec = {
        "pullThroughCacheRules": [docker_hub(secret_arn)],
        "creationTemplates": [TEMPLATE],
        "deletionPolicy": policy,
    }
    deps = created_by(reconcile_registry(aws.clients, desired_registry(**spec), RegistryDeps()))
    aws.calls.clear()
    delete_registry(aws.clients, desired_registry(**spec), deps)
    if policy == "Delete":
        assert sorted(aws.calls.writes) == ["ecr:DeletePullThroughCacheRule", "ecr:DeleteRepositoryCreationTemplate"]
        assert rules(aws) == {} and templates(aws) == {}
    else:
        assert aws.calls.writes == [] and aws.calls.reads == []
        assert set(rules(aws)) == {"docker-hub"} and set(templates(aws)) == {"docker-hub"}


def test_aws_role_arn_manages_that_accounts_registry(aws: PartsHarness, aws_session: boto3.session.Session) -> None:
    other = "222233334444"
    want = desired_registry(awsRoleArn=f"arn:aws:iam::{other}:role/ecr-operator", pullThroughCacheRules=[QUAY])
    clients = ClientFactory(aws_session).for_region(REGION, want.role_arn)
    outcome = reconcile_registry(clients, want, RegistryDeps())
    assert outcome.registry_id == other
    assert clients.ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"][0]["registryId"] == other
    assert rules(aws) == {}, "the operator's own account is left alone"
    assert other != ACCOUNT
