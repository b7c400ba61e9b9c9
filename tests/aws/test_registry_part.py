"""The registry part (EcrRegistry) against moto: converge, stay in sync with reads only, correct drift, observe-only,
delete (Delete / Retain), and refuse a registry another resource manages."""

from __future__ import annotations

from typing import Any

import pytest
from aws_harness import ACCOUNT, REGION, PartsHarness

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.parts.registry import RegistryDeps
from ecr_operator.registry.reconcile import delete_registry, reconcile_registry
from ecr_operator.registry.render import DesiredRegistry, render_registry
from ecr_operator.registry.spec import EcrRegistrySpec

SPEC: dict[str, Any] = {
    "replication": {
        "rules": [
            {
                "destinations": [{"region": "eu-west-1"}, {"region": "us-east-1", "registryId": "210987654321"}],
                "repositoryFilters": [{"filter": "prod/"}],
            }
        ]
    },
    "scanning": {
        "scanType": "ENHANCED",
        "rules": [{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*"}]}],
    },
    "registryPolicy": {"allowReplicationFromAccounts": ["111122223333"]},
}


def desired(**overrides: Any) -> DesiredRegistry:
    return render_registry(EcrRegistrySpec.model_validate({**SPEC, **overrides}), "main", REGION)


def test_converges_then_stays_in_sync_with_reads_only(aws: PartsHarness) -> None:
    outcome = reconcile_registry(aws.clients, desired(), RegistryDeps())
    assert outcome.registry_id == ACCOUNT and outcome.problems == []
    assert aws.calls.writes == [
        "ecr:PutReplicationConfiguration",
        "ecr:PutRegistryScanningConfiguration",
        "ecr:PutRegistryPolicy",
    ]
    rules = aws.ecr.describe_registry()["replicationConfiguration"]["rules"]
    assert sorted(d["registryId"] for d in rules[0]["destinations"]) == sorted(["210987654321", ACCOUNT])
    assert aws.ecr.get_registry_scanning_configuration()["scanningConfiguration"]["scanType"] == "ENHANCED"

    aws.calls.clear()
    again = reconcile_registry(aws.clients, desired(), RegistryDeps())
    assert again.planned == [] and aws.calls.writes == []
    assert aws.calls.reads == ["ecr:DescribeRegistry", "ecr:GetRegistryScanningConfiguration", "ecr:GetRegistryPolicy"]


def test_drift_is_corrected_section_by_section(aws: PartsHarness) -> None:
    reconcile_registry(aws.clients, desired(), RegistryDeps())
    aws.ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[])
    aws.ecr.delete_registry_policy()
    aws.calls.clear()
    outcome = reconcile_registry(aws.clients, desired(), RegistryDeps())
    assert [a.operation for a in outcome.applied] == ["put_registry_scanning_configuration", "put_registry_policy"]
    assert aws.ecr.get_registry_policy()["policyText"]


def test_observe_only_plans_without_writing(aws: PartsHarness) -> None:
    outcome = reconcile_registry(aws.clients, desired(), RegistryDeps(), observe_only=True)
    assert len(outcome.planned) == 3 and outcome.applied == []
    assert aws.calls.writes == []
    assert aws.ecr.describe_registry()["replicationConfiguration"]["rules"] == []


def test_unmanaged_sections_are_not_read(aws: PartsHarness) -> None:
    only_replication = render_registry(
        EcrRegistrySpec.model_validate({"replication": SPEC["replication"]}), "r", REGION
    )
    reconcile_registry(aws.clients, only_replication, RegistryDeps())
    assert aws.calls.reads == ["ecr:DescribeRegistry"]
    assert aws.calls.writes == ["ecr:PutReplicationConfiguration"]


def test_delete_resets_the_managed_sections_and_retain_makes_no_call(aws: PartsHarness) -> None:
    reconcile_registry(aws.clients, desired(), RegistryDeps())
    aws.calls.clear()
    assert delete_registry(aws.clients, desired(), RegistryDeps()) == []
    assert aws.calls.operations == [], "Retain: no AWS call at all"

    applied = delete_registry(aws.clients, desired(deletionPolicy="Delete"), RegistryDeps())
    assert [a.operation for a in applied] == [
        "put_replication_configuration",
        "put_registry_scanning_configuration",
        "delete_registry_policy",
    ]
    assert aws.ecr.describe_registry()["replicationConfiguration"]["rules"] == []
    assert aws.ecr.get_registry_scanning_configuration()["scanningConfiguration"] == {"scanType": "BASIC", "rules": []}
    with pytest.raises(aws.ecr.exceptions.RegistryPolicyNotFoundException):
        aws.ecr.get_registry_policy()


def test_a_registry_managed_by_another_resource_is_never_written(aws: PartsHarness) -> None:
    with pytest.raises(OperatorError) as refused:
        reconcile_registry(aws.clients, desired(), RegistryDeps(managed_by="older"))
    assert refused.value.reason == Reason.REGISTRY_ALREADY_MANAGED
    assert delete_registry(aws.clients, desired(deletionPolicy="Delete"), RegistryDeps(managed_by="older")) == []
    assert aws.calls.writes == []
