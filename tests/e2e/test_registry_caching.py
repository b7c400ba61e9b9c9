"""EcrRegistry's pull through cache rules, creation templates and awsRoleArn end to end: a private control plane
with the generated CRD, the operator as a process, moto with the harness's extension over HTTP.

Each field converges, drift made by hand (boto3 straight to moto) is corrected by the resync, a rule or template
removed from the spec goes only if the resource created it, and deletion follows deletionPolicy. Every test uses a
region of its own (rules and templates are per account and region).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import kubernetes
import pytest
import yaml
from support import (
    TAGS,
    Aws,
    RegistryEnv,
    registry_env,
    unique,
    wait_for,
)

from ecr_operator_dev import ControlPlaneBinaries, MotoServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registry-pull-through-cache.yaml"

pytestmark = pytest.mark.e2e

OPERATOR_REGION = "eu-west-3"
ACCOUNT = "123456789012"  # moto's
OTHER_ACCOUNT, OTHER_ROLE = "222233334444", "arn:aws:iam::222233334444:role/ecr-operator-registry"
CREDENTIALS = json.dumps({"username": "someone", "accessToken": "dckr_pat_x"})


class Env(RegistryEnv):
    def aws(self, region: str, role_arn: str | None = None) -> Aws:
        if role_arn is None:
            return Aws(self.moto.endpoint_url, region)
        return Aws.assuming(self.moto.endpoint_url, role_arn, region)

    def _kwargs(self, region: str) -> dict[str, Any]:
        return {
            "endpoint_url": self.moto.endpoint_url,
            "region_name": region,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }

    def secret(self, region: str, name: str) -> str:
        secrets = boto3.client("secretsmanager", **self._kwargs(region))
        arn: str = secrets.create_secret(Name=f"ecr-pullthroughcache/{name}", SecretString=CREDENTIALS)["ARN"]
        return arn


@pytest.fixture(scope="module")
def env(
    controlplane_binaries: ControlPlaneBinaries, moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("registry-caching")
    with registry_env(
        Env, controlplane_binaries, moto_server, workdir, name="registry-caching", region=OPERATOR_REGION
    ) as env:
        yield env


def docker_hub(secret_arn: str) -> dict[str, Any]:
    return {
        "ecrRepositoryPrefix": "docker-hub",
        "upstreamRegistryUrl": "registry-1.docker.io",
        "upstreamRegistry": "docker-hub",
        "credentialArn": secret_arn,
    }


QUAY = {"ecrRepositoryPrefix": "quay", "upstreamRegistryUrl": "quay.io"}
TEMPLATE: dict[str, Any] = {
    "prefix": "docker-hub",
    "appliedFor": ["PULL_THROUGH_CACHE"],
    "description": "Docker Hub cache",
    "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
    "imageTagMutabilityExclusionFilters": [{"filter": "latest"}],
    "lifecycle": {"maxImageCount": 20},
    "crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333"]},
    "resourceTags": {**TAGS, "team": "platform"},
}
ROOT_TEMPLATE = {
    "prefix": "ROOT",
    "appliedFor": ["CREATE_ON_PUSH"],
    "encryption": {"type": "KMS"},
    "resourceTags": TAGS,
}
TEMPLATE_TAGS = sorted([{"Key": key, "Value": value} for key, value in {**TAGS, "team": "platform"}.items()], key=str)


def rules(aws: Aws) -> dict[str, dict[str, Any]]:
    answer = aws.ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    return {r["ecrRepositoryPrefix"]: r for r in answer}


def templates(aws: Aws) -> dict[str, dict[str, Any]]:
    answer = aws.ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
    return {t["prefix"]: t for t in answer}


def items(obj: dict[str, Any], field: str) -> dict[str, tuple[str, bool]]:
    return {i["name"]: (i["state"], i["createdByOperator"]) for i in obj["status"].get(field) or []}


def test_each_field_converges_corrects_drift_and_delete_removes_only_its_own(env: Env) -> None:
    region, name, registries = "eu-south-1", unique("cache"), env.registries
    aws = env.aws(region)
    secret = env.secret(region, "docker-hub")
    aws.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="theirs", upstreamRegistryUrl="public.ecr.aws")
    spec = {
        "region": region,
        "pullThroughCacheRules": [docker_hub(secret), QUAY],
        "creationTemplates": [TEMPLATE, ROOT_TEMPLATE],
        "deletionPolicy": "Delete",
    }
    registries.create(name, spec)
    ready = registries.wait_ready(name)
    assert items(ready, "pullThroughCacheRules") == {"docker-hub": ("InSync", True), "quay": ("InSync", True)}
    assert items(ready, "creationTemplates") == {"docker-hub": ("InSync", True), "ROOT": ("InSync", True)}
    assert rules(aws)["docker-hub"]["credentialArn"] == secret
    assert rules(aws)["quay"]["upstreamRegistry"] == "quay"
    template = templates(aws)["docker-hub"]
    assert json.loads(template["lifecyclePolicy"])["rules"][0]["selection"]["countNumber"] == 20
    assert json.loads(template["repositoryPolicy"])["Statement"][0]["Principal"] == {
        "AWS": ["arn:aws:iam::111122223333:root"]
    }
    assert template["imageTagMutabilityExclusionFilters"] == [{"filter": "latest", "filterType": "WILDCARD"}]
    assert templates(aws)["ROOT"]["encryptionConfiguration"]["encryptionType"] == "KMS"

    # Each field changes: a new credential (in place), a template's settings, the ROOT template's appliedFor.
    second = env.secret(region, "docker-hub-2")
    changed = {key: value for key, value in TEMPLATE.items() if key != "imageTagMutabilityExclusionFilters"}
    changed.update(description="cache", imageTagMutability="MUTABLE", lifecycle={"expireUntaggedAfterDays": 3})
    registries.patch(
        name,
        {
            "spec": {
                "pullThroughCacheRules": [docker_hub(second), QUAY],
                "creationTemplates": [changed, {**ROOT_TEMPLATE, "appliedFor": ["CREATE_ON_PUSH", "REPLICATION"]}],
            }
        },
    )
    registries.wait_ready(name)
    assert rules(aws)["docker-hub"]["credentialArn"] == second
    template = templates(aws)["docker-hub"]
    assert template["description"] == "cache" and template["imageTagMutability"] == "MUTABLE"
    assert json.loads(template["lifecyclePolicy"])["rules"][0]["selection"]["tagStatus"] == "untagged"
    assert sorted(templates(aws)["ROOT"]["appliedFor"]) == ["CREATE_ON_PUSH", "REPLICATION"]

    # Drift by hand: a rule deleted, a template changed; the resync puts them back.
    aws.ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="quay")
    aws.ecr.update_repository_creation_template(prefix="docker-hub", description="by hand", resourceTags=[])
    wait_for(lambda: "quay" in rules(aws), "the quay rule to be recreated", context=registries.context)
    wait_for(
        lambda: templates(aws)["docker-hub"]["description"] == "cache",
        "the template to be corrected",
        context=registries.context,
    )
    assert sorted(templates(aws)["docker-hub"]["resourceTags"], key=str) == TEMPLATE_TAGS

    # Removed from the spec: deleted, since this resource created them.
    registries.patch(name, {"spec": {"pullThroughCacheRules": [docker_hub(second)], "creationTemplates": [changed]}})
    obj = registries.wait_ready(name)
    assert set(rules(aws)) == {"docker-hub", "theirs"} and set(templates(aws)) == {"docker-hub"}
    assert set(items(obj, "pullThroughCacheRules")) == {"docker-hub"}

    # deletionPolicy Delete: what it created goes; the rule it found stays.
    registries.delete(name)
    registries.wait_gone(name)
    assert set(rules(aws)) == {"theirs"} and templates(aws) == {}


def test_retain_leaves_rules_and_templates(env: Env) -> None:
    region, name, registries = "eu-central-2", unique("retain"), env.registries
    aws = env.aws(region)
    registries.create(name, {"region": region, "pullThroughCacheRules": [QUAY], "creationTemplates": [ROOT_TEMPLATE]})
    registries.wait_ready(name)
    registries.delete(name)
    registries.wait_gone(name)
    assert set(rules(aws)) == {"quay"} and set(templates(aws)) == {"ROOT"}


def test_another_rule_for_the_prefix_is_a_conflict_left_alone(env: Env) -> None:
    region, name, registries = "ap-south-2", unique("conflict"), env.registries
    aws = env.aws(region)
    aws.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="public.ecr.aws")
    registries.create(name, {"region": region, "pullThroughCacheRules": [QUAY], "deletionPolicy": "Delete"})
    obj = registries.wait_condition(name, "False", "RegistryItemNotOwned")
    assert items(obj, "pullThroughCacheRules") == {"quay": ("Conflict", False)}
    registries.delete(name)
    registries.wait_gone(name)
    assert rules(aws)["quay"]["upstreamRegistryUrl"] == "public.ecr.aws"


def test_aws_role_arn_manages_another_accounts_registry(env: Env) -> None:
    region, name, registries = "ca-west-1", unique("other"), env.registries
    other = env.aws(region, OTHER_ROLE)
    spec = {"region": region, "awsRoleArn": OTHER_ROLE, "pullThroughCacheRules": [QUAY], "deletionPolicy": "Delete"}
    registries.create(name, spec)
    obj = registries.wait_ready(name)
    assert obj["status"]["registryId"] == OTHER_ACCOUNT
    assert rules(other)["quay"]["registryId"] == OTHER_ACCOUNT
    assert rules(env.aws(region)) == {}, "the operator's own registry is left alone"

    # One EcrRegistry per account and region: the operator's own registry in this region is another one.
    own = unique("own")
    registries.create(own, {"region": region, "pullThroughCacheRules": []})
    registries.wait_ready(own)
    rival = unique("rival")
    registries.create(rival, {"region": region, "awsRoleArn": OTHER_ROLE.replace("registry", "x")})
    registries.wait_condition(rival, "False", "RegistryAlreadyManaged")

    with pytest.raises(kubernetes.client.ApiException) as immutable:
        registries.patch(name, {"spec": {"awsRoleArn": None}})
    assert "spec.awsRoleArn is immutable" in str(immutable.value.body)
    for each in (name, own, rival):
        registries.delete(each)
        registries.wait_gone(each)
    assert rules(other) == {}


def test_a_template_without_the_required_tags_is_refused_naming_the_field(env: Env) -> None:
    region, name, registries = "il-central-1", unique("untagged"), env.registries
    registries.create(name, {"region": region, "creationTemplates": [{"prefix": "x", "appliedFor": ["REPLICATION"]}]})
    obj = registries.wait_condition(name, "False", "MissingRequiredTags")
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["message"].startswith("spec.creationTemplates[x].resourceTags lacks required tags: owner")
    assert templates(env.aws(region)) == {}
    registries.delete(name)
    registries.wait_gone(name)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io"},
            "credentialArn is required",
        ),
        (
            {"ecrRepositoryPrefix": "gh", "upstreamRegistryUrl": "quay.io", "upstreamRegistry": "k8s"},
            "upstreamRegistryUrl is not the URL of upstreamRegistry",
        ),
        (
            {"ecrRepositoryPrefix": "mirror", "upstreamRegistryUrl": "quay.io", "upstreamRegistry": "ecr"},
            "upstreamRegistryUrl of ecr must be",
        ),
        (
            {"ecrRepositoryPrefix": "quay", "upstreamRegistryUrl": "quay.io", "upstreamRepositoryPrefix": "lib"},
            "upstreamRepositoryPrefix is only for an ECR upstream",
        ),
    ],
)
def test_admission_refuses_bad_rules(env: Env, rule: dict[str, Any], message: str) -> None:
    with pytest.raises(kubernetes.client.ApiException) as refused:
        env.registries.create(unique("bad"), {"pullThroughCacheRules": [rule]}, dry_run=True)
    assert refused.value.status == 422 and message in str(refused.value.body)


def test_admission_refuses_bad_templates(env: Env) -> None:
    bad = {"prefix": "x", "appliedFor": ["REPLICATION"], "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}
    with pytest.raises(kubernetes.client.ApiException) as refused:
        env.registries.create(unique("bad"), {"creationTemplates": [bad]}, dry_run=True)
    assert "imageTagMutabilityExclusionFilters are required with" in str(refused.value.body)
    twice = [{"prefix": "x", "appliedFor": ["REPLICATION"]}, {"prefix": "x", "appliedFor": ["CREATE_ON_PUSH"]}]
    with pytest.raises(kubernetes.client.ApiException) as duplicate:
        env.registries.create(unique("bad"), {"creationTemplates": twice}, dry_run=True)
    assert "Duplicate value" in str(duplicate.value.body)


def test_the_pull_through_cache_example_is_admitted(env: Env) -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    env.registries.create(unique("example"), example["spec"], dry_run=True, strict=True)
