"""EcrRegistry: the pure parts -- rendering, order-insensitive comparison, the plan, the delete plan, which
resource manages a registry, and the status report."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.parts.registry import ObservedRegistry, RegistryDeps, plan, plan_delete
from ecr_operator.registry.reconcile import Claim, RegistryOutcome, claim_of, managed_by
from ecr_operator.registry.render import (
    DEFAULT_SCANNING,
    render_registry,
    render_registry_policy,
    render_replication,
    replication_equal,
    scanning_equal,
)
from ecr_operator.registry.spec import EcrRegistrySpec, RegistryPolicy
from ecr_operator.registry.status import report, report_failure

ACCOUNT = "123456789012"
REGION = "eu-west-3"


def desired(**spec: Any) -> Any:
    return render_registry(EcrRegistrySpec.model_validate(spec), "main", REGION)


def observed(
    rules: list[dict[str, Any]] | None = None, scanning: dict[str, Any] | None = None, policy: Any = None
) -> ObservedRegistry:
    return ObservedRegistry(ACCOUNT, {"rules": rules or []}, scanning, policy)


DR = {"rules": [{"destinations": [{"region": "eu-west-1"}], "repositoryFilters": [{"filter": "prod/"}]}]}


def test_a_destination_without_registry_id_is_the_registrys_own_account() -> None:
    rendered = render_replication(desired(replication=DR).replication, ACCOUNT)
    assert rendered == {
        "rules": [
            {
                "destinations": [{"region": "eu-west-1", "registryId": ACCOUNT}],
                "repositoryFilters": [{"filter": "prod/", "filterType": "PREFIX_MATCH"}],
            }
        ]
    }


def test_replication_rules_destinations_and_filters_compare_as_sets() -> None:
    a = {
        "destinations": [
            {"region": "eu-west-1", "registryId": ACCOUNT},
            {"region": "us-east-1", "registryId": "1" * 12},
        ]
    }
    b = {
        "destinations": [
            {"region": "us-east-1", "registryId": "1" * 12},
            {"region": "eu-west-1", "registryId": ACCOUNT},
        ],
        "repositoryFilters": [],
    }
    f1 = {"filter": "prod/", "filterType": "PREFIX_MATCH"}
    f2 = {"filter": "shared/", "filterType": "PREFIX_MATCH"}
    assert replication_equal({"rules": [a]}, {"rules": [b]})
    assert replication_equal(
        {"rules": [{**a, "repositoryFilters": [f1, f2]}, b]}, {"rules": [b, {**a, "repositoryFilters": [f2, f1]}]}
    )
    assert not replication_equal({"rules": [a]}, {"rules": [{**a, "repositoryFilters": [f1]}]})
    assert not replication_equal({"rules": [a]}, {"rules": []})
    assert replication_equal(None, {"rules": []})


def test_scanning_compares_type_and_rules_as_sets() -> None:
    on_push = {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "a*", "filterType": "WILDCARD"}]}
    continuous = {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}
    assert scanning_equal(
        {"scanType": "ENHANCED", "rules": [on_push, continuous]},
        {"scanType": "ENHANCED", "rules": [continuous, on_push]},
    )
    assert not scanning_equal({"scanType": "ENHANCED", "rules": [on_push]}, {"scanType": "BASIC", "rules": [on_push]})
    assert scanning_equal(None, DEFAULT_SCANNING)


def test_the_registry_policy_names_account_roots_and_keeps_raw_statements() -> None:
    raw = {
        "Version": "2012-10-17",
        "Statement": {
            "Sid": "Raw",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "ecr:CreateRepository",
            "Resource": "*",
        },
    }
    policy = RegistryPolicy.model_validate(
        {"allowReplicationFromAccounts": ["222233334444", "111122223333"], "policyText": json.dumps(raw)}
    )
    document = render_registry_policy(policy, ACCOUNT, "us-gov-west-1")
    assert document is not None
    raw_statement, ours = document["Statement"]
    assert raw_statement["Sid"] == "Raw"
    assert ours["Principal"] == {
        "AWS": ["arn:aws-us-gov:iam::111122223333:root", "arn:aws-us-gov:iam::222233334444:root"]
    }
    assert sorted(ours["Action"]) == ["ecr:CreateRepository", "ecr:ReplicateImage"]
    assert ours["Resource"] == f"arn:aws-us-gov:ecr:us-gov-west-1:{ACCOUNT}:repository/*"
    assert render_registry_policy(RegistryPolicy.model_validate({}), ACCOUNT, REGION) is None


def test_in_sync_plans_nothing_even_when_aws_reorders_and_reserialises() -> None:
    want = desired(
        replication=DR,
        scanning={"rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "prod/*"}]}]},
        registryPolicy={"allowReplicationFromAccounts": ["111122223333"]},
    )
    policy = render_registry_policy(want.registry_policy, ACCOUNT, REGION)
    assert policy is not None
    statement = policy["Statement"][0]
    # AWS answers with a single principal as a string and the actions in another order.
    aws_policy = {
        "Version": "2012-10-17",
        "Statement": [{**statement, "Principal": {"AWS": "111122223333"}, "Action": statement["Action"][::-1]}],
    }
    result = plan(
        want,
        observed(render_replication(want.replication, ACCOUNT)["rules"], want.scanning, aws_policy),
        RegistryDeps(),
    )
    assert result.actions == [] and result.problems == [] and result.refusal is None


def test_each_section_is_one_write() -> None:
    want = desired(replication=DR, scanning={}, registryPolicy={"allowReplicationFromAccounts": ["111122223333"]})
    result = plan(want, observed(scanning={"scanType": "ENHANCED", "rules": []}), RegistryDeps())
    assert [a.operation for a in result.actions] == [
        "put_replication_configuration",
        "put_registry_scanning_configuration",
        "put_registry_policy",
    ]
    assert result.actions[1].params == {"scanType": "BASIC", "rules": []}
    assert json.loads(result.actions[2].params["policyText"])["Statement"][0]["Principal"] == {
        "AWS": ["arn:aws:iam::111122223333:root"]
    }


def test_an_empty_section_removes_and_an_absent_one_is_left_alone() -> None:
    existing_policy = {"Version": "2012-10-17", "Statement": []}
    rules = [{"destinations": [{"region": "eu-west-1", "registryId": ACCOUNT}]}]
    result = plan(
        desired(replication={"rules": []}, registryPolicy={}), observed(rules, policy=existing_policy), RegistryDeps()
    )
    assert [(a.operation, a.params) for a in result.actions] == [
        ("put_replication_configuration", {"replicationConfiguration": {"rules": []}}),
        ("delete_registry_policy", {}),
    ]
    assert plan(desired(), observed(rules, policy=existing_policy), RegistryDeps()).actions == []


def test_replicating_into_itself_is_a_problem_and_the_rest_converges() -> None:
    want = desired(replication={"rules": [{"destinations": [{"region": REGION}]}]}, scanning={})
    result = plan(want, observed(scanning={"scanType": "ENHANCED", "rules": []}), RegistryDeps())
    assert [p.reason for p in result.problems] == [Reason.INVALID_SPEC]
    assert [a.operation for a in result.actions] == ["put_registry_scanning_configuration"]


def test_a_registry_managed_by_another_resource_is_refused() -> None:
    result = plan(desired(replication=DR), observed(), RegistryDeps(managed_by="older"))
    assert result.refusal is not None and result.refusal.reason == Reason.REGISTRY_ALREADY_MANAGED
    assert "older" in result.refusal.message and ACCOUNT in result.refusal.message
    assert result.actions == []
    assert (
        plan_delete(
            desired(replication=DR, deletionPolicy="Delete"), observed(DR["rules"]), RegistryDeps("older")
        ).actions
        == []
    )


def test_delete_resets_only_managed_sections_and_retain_nothing() -> None:
    rules = [{"destinations": [{"region": "eu-west-1", "registryId": ACCOUNT}]}]
    scanning = {"scanType": "ENHANCED", "rules": []}
    policy = {"Version": "2012-10-17", "Statement": []}
    everything = {"replication": DR, "scanning": {}, "registryPolicy": {}}
    delete = plan_delete(
        desired(**everything, deletionPolicy="Delete"), observed(rules, scanning, policy), RegistryDeps()
    )
    assert [(a.operation, a.params) for a in delete.actions] == [
        ("put_replication_configuration", {"replicationConfiguration": {"rules": []}}),
        ("put_registry_scanning_configuration", DEFAULT_SCANNING),
        ("delete_registry_policy", {}),
    ]
    assert plan_delete(desired(**everything), observed(rules, scanning, policy), RegistryDeps()).actions == []
    assert (
        plan_delete(desired(replication=DR, deletionPolicy="Delete"), observed(rules, scanning, policy), RegistryDeps())
        .actions[0]
        .operation
        == "put_replication_configuration"
    )
    assert (
        len(
            plan_delete(
                desired(replication=DR, deletionPolicy="Delete"), observed(rules, scanning, policy), RegistryDeps()
            ).actions
        )
        == 1
    )
    assert (
        plan_delete(
            desired(**everything, deletionPolicy="Delete"), observed(scanning=DEFAULT_SCANNING), RegistryDeps()
        ).actions
        == []
    )


def test_the_oldest_resource_for_an_account_and_region_manages_it() -> None:
    older = Claim("a-older", "", REGION, "2026-01-01T00:00:00Z")
    newer = Claim("b-newer", "", REGION, "2026-01-02T00:00:00Z")
    elsewhere = Claim("c-elsewhere", "", "us-east-1", "2025-01-01T00:00:00Z")
    assert managed_by(older, [older, newer, elsewhere]) is None
    assert managed_by(newer, [older, newer, elsewhere]) == "a-older"
    assert managed_by(elsewhere, [older, newer, elsewhere]) is None
    same_time = Claim("a-same", "", REGION, newer.created)
    assert managed_by(newer, [same_time, newer]) == "a-same", "ties break by name"
    assert claim_of({"metadata": {"name": "x", "creationTimestamp": "t"}, "spec": {}}, REGION) == Claim(
        "x", "", REGION, "t"
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"replication": {"rules": [{"destinations": []}]}},
        {"replication": {"rules": [{"destinations": [{"region": "eu-west-1"}]}] * 11}},
        {"replication": {"rules": [{"destinations": [{"region": "eu-west-1", "registryId": "123"}]}]}},
        {
            "replication": {
                "rules": [
                    {
                        "destinations": [{"region": "eu-west-1"}],
                        "repositoryFilters": [{"filter": "p", "filterType": "WILDCARD"}],
                    }
                ]
            }
        },
        {"scanning": {"scanType": "FAST"}},
        {"scanning": {"rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": []}]}},
        {"registryPolicy": {"allowReplicationFromAccounts": ["abc"]}},
        {"deletionPolicy": "Orphan"},
    ],
)
def test_the_model_refuses_what_ecr_refuses(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EcrRegistrySpec.model_validate(spec)


def test_report_conditions_and_events() -> None:
    from ecr_operator.core.actions import Action

    put = Action("ecr", "put_registry_policy", {}, "set the registry policy")
    outcome = RegistryOutcome(REGION, ACCOUNT, applied=[put], planned=[put])
    written = report(outcome, {}, 3, "2026-01-01T00:00:00Z", observe_only=False, resync=True)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in written.status["conditions"]}
    assert conditions == {"Ready": ("True", "Synced"), "Synced": ("True", "Synced"), "Stalled": ("False", "Synced")}
    assert written.status["registryId"] == ACCOUNT and written.status["observedGeneration"] == 3
    assert [(e.type, e.reason) for e in written.events] == [("Normal", Reason.DRIFT_CORRECTED)]

    planned = report(RegistryOutcome(REGION, ACCOUNT, planned=[put]), {}, 3, "t", observe_only=True, resync=False)
    assert planned.status["plannedChanges"] == ["set the registry policy"]
    assert planned.status["conditions"][0]["reason"] == Reason.OUT_OF_SYNC

    error = OperatorError(Reason.REGISTRY_ALREADY_MANAGED, "managed by a")
    failed = report_failure(error, written.status, 3, "t2")
    failed_conditions = {c["type"]: (c["status"], c["reason"]) for c in failed.status["conditions"]}
    assert failed_conditions["Ready"] == ("False", Reason.REGISTRY_ALREADY_MANAGED)
    assert failed_conditions["Stalled"] == ("True", Reason.REGISTRY_ALREADY_MANAGED)
    throttled = report_failure(OperatorError(Reason.THROTTLED, "slow"), written.status, 3, "t2")
    assert throttled.status["conditions"][0]["status"] == "True", "a retried error keeps Ready for this generation"
