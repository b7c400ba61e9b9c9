"""SIGKILL the operator right before or right after each write of an EcrRegistry's pull through cache rule and
creation template, and of their deletes, then restart it (the proxy hooks of test_kill_points.py).

The rules and templates it creates are recorded in status before the create is sent, so a process killed between
the create and its status write still knows them for its own after the restart: every run converges with the items
recorded as created, a deletionPolicy: Delete then removes exactly them, and a rule someone else made for another
prefix in the same registry is never touched. Each case acts in a region of its own (rules and templates are per
account and region).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from support import Harness, Registries, harness_fixture, unique
from test_kill_points import When, arm_kill, wait_killed_and_restart

from ecr_operator_dev import Fault

pytestmark = pytest.mark.e2e

REGION = "us-west-2"
CREATE_WRITES = ("CreateRepositoryCreationTemplate", "CreatePullThroughCacheRule")
DELETE_WRITES = ("DeletePullThroughCacheRule", "DeleteRepositoryCreationTemplate")
QUAY = {"ecrRepositoryPrefix": "quay", "upstreamRegistryUrl": "quay.io"}
TEMPLATE = {"prefix": "quay", "appliedFor": ["PULL_THROUGH_CACHE"], "description": "quay cache"}
SPEC = {"pullThroughCacheRules": [QUAY], "creationTemplates": [TEMPLATE], "deletionPolicy": "Delete"}
CREATE_REGIONS = (
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "us-east-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
)
LOST_REGIONS = ("eu-central-2", "ap-south-1")
DELETE_REGIONS = ("ap-northeast-1", "ap-northeast-3", "ca-central-1", "us-west-1", "eu-south-2", "me-south-1")
REGIONS, REGIONS_LOST, REGIONS_D = iter(CREATE_REGIONS), iter(LOST_REGIONS), iter(DELETE_REGIONS)

harness = harness_fixture(REGION, resync_seconds=5)


@pytest.fixture(scope="module", autouse=True)
def watched(harness: Harness) -> None:
    """kopf watches even cluster-scoped objects only once a namespace matches the operator's --namespace pattern.
    moto is shared by the session: rules and templates other modules retained in these regions are removed first,
    so every prefix found here is this module's."""
    for region in (*CREATE_REGIONS, *LOST_REGIONS, *DELETE_REGIONS):
        ecr_ = ecr(harness, region)
        for rule in ecr_.describe_pull_through_cache_rules()["pullThroughCacheRules"]:
            ecr_.delete_pull_through_cache_rule(ecrRepositoryPrefix=rule["ecrRepositoryPrefix"])
        for template in ecr_.describe_repository_creation_templates()["repositoryCreationTemplates"]:
            ecr_.delete_repository_creation_template(prefix=template["prefix"])
    harness.namespace()


def registries(harness: Harness) -> Registries:
    return Registries(harness.api, harness.context)


def ecr(harness: Harness, region: str) -> Any:
    """boto3 straight to moto (not through the proxy) in ``region``."""
    return boto3.client(
        "ecr",
        endpoint_url=harness.aws.ecr.meta.endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def prefixes(harness: Harness, region: str) -> tuple[list[str], list[str]]:
    ecr_ = ecr(harness, region)
    rules = ecr_.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    templates = ecr_.describe_repository_creation_templates()["repositoryCreationTemplates"]
    return sorted(r["ecrRepositoryPrefix"] for r in rules), sorted(t["prefix"] for t in templates)


def created(obj: dict[str, Any]) -> dict[str, list[str]]:
    status = obj["status"]
    return {
        field: sorted(i["name"] for i in status.get(field) or [] if i.get("createdByOperator"))
        for field in ("pullThroughCacheRules", "creationTemplates")
    }


def theirs(harness: Harness, region: str) -> None:
    ecr(harness, region).create_pull_through_cache_rule(
        ecrRepositoryPrefix="theirs", upstreamRegistryUrl="public.ecr.aws"
    )


CASES = [(n, when) for n in range(1, len(CREATE_WRITES) + 1) for when in ("before", "after")]


@pytest.mark.parametrize(("n", "when"), CASES, ids=[f"{w}-{CREATE_WRITES[n - 1]}" for n, w in CASES])
def test_kill_during_create(harness: Harness, n: int, when: When) -> None:
    region, name, kube = next(REGIONS), unique("kill-registry"), registries(harness)
    theirs(harness, region)
    hook = arm_kill(harness, CREATE_WRITES, n, when)
    kube.create(name, {"region": region, **SPEC})
    wait_killed_and_restart(harness, hook)
    assert hook.operation == CREATE_WRITES[n - 1]

    obj = kube.wait_ready(name)
    assert created(obj) == {"pullThroughCacheRules": ["quay"], "creationTemplates": ["quay"]}, obj["status"]
    assert prefixes(harness, region) == (["quay", "theirs"], ["quay"])

    kube.delete(name)
    kube.wait_gone(name)
    assert prefixes(harness, region) == (["theirs"], []), "exactly what it created goes"


DELETE_CASES = [(n, when) for n in range(1, len(DELETE_WRITES) + 1) for when in ("before", "after")]


@pytest.mark.parametrize(("n", "when"), DELETE_CASES, ids=[f"{w}-{DELETE_WRITES[n - 1]}" for n, w in DELETE_CASES])
def test_kill_during_delete(harness: Harness, n: int, when: When) -> None:
    region, name, kube = next(REGIONS_D), unique("kill-registry"), registries(harness)
    theirs(harness, region)
    kube.create(name, {"region": region, **SPEC})
    kube.wait_ready(name)

    hook = arm_kill(harness, DELETE_WRITES, n, when)
    kube.delete(name)
    wait_killed_and_restart(harness, hook)
    assert hook.operation == DELETE_WRITES[n - 1]
    kube.wait_gone(name)
    assert prefixes(harness, region) == (["theirs"], [])


@pytest.mark.parametrize("operation", CREATE_WRITES)
def test_a_create_whose_answer_is_lost_is_not_sent_again_and_stays_ours(harness: Harness, operation: str) -> None:
    """AWS made the rule (or template) but the connection dropped before its answer. botocore would send the create
    again and be told it already exists; the item is this resource's all the same: found by the next pass, kept as
    created, and deleted with the resource."""
    region, name, kube = next(REGIONS_LOST), unique("lost-answer"), registries(harness)
    lost = harness.proxy.add_fault(Fault("lose_response", operation))
    try:
        kube.create(name, {"region": region, **SPEC})
        obj = kube.wait_ready(name)
    finally:
        harness.proxy.clear_faults()
    assert lost.injected == 1
    assert created(obj) == {"pullThroughCacheRules": ["quay"], "creationTemplates": ["quay"]}, obj["status"]
    kube.delete(name)
    kube.wait_gone(name)
    assert prefixes(harness, region) == ([], [])
