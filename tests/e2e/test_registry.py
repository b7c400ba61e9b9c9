"""EcrRegistry end to end: a private control plane with the generated CRDs, one operator, moto.

Every test uses a region of its own (registry settings are per account and region), so a test never sees
another's settings. Events about the cluster-scoped EcrRegistry are in the ``default`` namespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support import (
    Aws,
    Registry,
    RegistryEnv,
    registry_env,
    unique,
    wait_for,
)

from ecr_operator_dev import ControlPlaneBinaries, MotoServer

pytestmark = pytest.mark.e2e

OPERATOR_REGION = "eu-west-3"
ACCOUNT = "123456789012"  # moto's
OBSERVE_ONLY = {"ecr.platform.dev/observe-only": "true"}


class Env(RegistryEnv):
    def registry(self, region: str) -> Registry:
        return Registry(Aws(self.moto.endpoint_url, region))


@pytest.fixture(scope="module")
def env(
    controlplane_binaries: ControlPlaneBinaries, moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("registry")
    with registry_env(Env, controlplane_binaries, moto_server, workdir, name="registry", region=OPERATOR_REGION) as env:
        yield env


def dr_spec(region: str, **overrides: Any) -> dict[str, Any]:
    """Replicate every prod/ repository to eu-west-1, scan prod/* on push, let one account replicate in."""
    spec: dict[str, Any] = {
        "region": region,
        "replication": {
            "rules": [
                {
                    "destinations": [{"region": "eu-west-1"}],
                    "repositoryFilters": [{"filter": "prod/", "filterType": "PREFIX_MATCH"}],
                }
            ]
        },
        "scanning": {
            "scanType": "BASIC",
            "rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "prod/*"}]}],
        },
        "registryPolicy": {"allowReplicationFromAccounts": ["111122223333"]},
    }
    spec.update(overrides)
    return spec


def _destinations(rules: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    return [sorted((d["region"], d["registryId"]) for d in rule["destinations"]) for rule in rules]


def _principals(policy: dict[str, Any] | None) -> list[Any]:
    assert policy is not None, "no registry policy"
    return [statement["Principal"]["AWS"] for statement in policy["Statement"]]


def test_create_update_each_field_drift_and_retain(env: Env) -> None:
    region, name = "eu-north-1", unique("dr")
    registry, registries = env.registry(region), env.registries

    env.registries.create(name, dr_spec(region))
    ready = registries.wait_ready(name)
    assert ready["status"]["registryId"] == ACCOUNT and ready["status"]["region"] == region
    assert {c["type"]: c["status"] for c in ready["status"]["conditions"]} == {
        "Ready": "True",
        "Synced": "True",
        "Stalled": "False",
    }
    assert registry.replication() == [
        {
            "destinations": [{"region": "eu-west-1", "registryId": ACCOUNT}],
            "repositoryFilters": [{"filter": "prod/", "filterType": "PREFIX_MATCH"}],
        }
    ], "a destination without registryId is this registry's account"
    assert registry.scanning() == {
        "scanType": "BASIC",
        "rules": [
            {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "prod/*", "filterType": "WILDCARD"}]}
        ],
    }
    policy = registry.policy()
    assert _principals(policy) == [["arn:aws:iam::111122223333:root"]]
    assert policy is not None
    [statement] = policy["Statement"]
    assert sorted(statement["Action"]) == ["ecr:CreateRepository", "ecr:ReplicateImage"]
    assert statement["Resource"] == f"arn:aws:ecr:{region}:{ACCOUNT}:repository/*"
    registries.wait_event(name, "Updated")

    # Each field: replication (a second destination in another account, a second filter; moto takes one rule) ...
    replication = {
        "rules": [
            {
                "destinations": [{"region": "eu-west-1"}, {"region": "us-east-1", "registryId": "210987654321"}],
                "repositoryFilters": [{"filter": "prod/"}, {"filter": "shared/"}],
            }
        ]
    }
    registries.patch(name, {"spec": {"replication": replication}})
    registries.wait_ready(name)
    [rule] = registry.replication()
    assert sorted((d["region"], d["registryId"]) for d in rule["destinations"]) == [
        ("eu-west-1", ACCOUNT),
        ("us-east-1", "210987654321"),
    ]
    assert sorted(f["filter"] for f in rule["repositoryFilters"]) == ["prod/", "shared/"]
    # ... scanning (enhanced, continuous) ...
    scanning = {
        "scanType": "ENHANCED",
        "rules": [{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*"}]}],
    }
    registries.patch(name, {"spec": {"scanning": scanning}})
    registries.wait_ready(name)
    assert registry.scanning() == {
        "scanType": "ENHANCED",
        "rules": [
            {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}
        ],
    }
    # ... the registry policy (other accounts, plus a raw statement kept next to the structured one) ...
    raw = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LetAnotherAccountCreateRepositories",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                "Action": ["ecr:CreateRepository"],
                "Resource": f"arn:aws:ecr:{region}:{ACCOUNT}:repository/*",
            }
        ],
    }
    policy_spec = {"allowReplicationFromAccounts": ["222233334444", "111122223333"], "policyText": json.dumps(raw)}
    registries.patch(name, {"spec": {"registryPolicy": policy_spec}})
    registries.wait_ready(name)
    assert sorted(map(str, _principals(registry.policy()))) == sorted(
        [
            "arn:aws:iam::444455556666:root",
            str(["arn:aws:iam::111122223333:root", "arn:aws:iam::222233334444:root"]),
        ]
    )
    # ... and an empty section: no replication rule, no policy.
    registries.patch(
        name,
        {
            "spec": {
                "replication": {"rules": []},
                "registryPolicy": {"allowReplicationFromAccounts": [], "policyText": None},
            }
        },
    )
    registries.wait_ready(name)
    assert registry.replication() == []
    assert registry.policy() is None

    # Drift outside Kubernetes is corrected by the resync.
    registries.patch(name, {"spec": {"replication": dr_spec(region)["replication"]}})
    registries.wait_ready(name)
    env.registry(region).ecr.put_replication_configuration(replicationConfiguration={"rules": []})
    env.registry(region).ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[])
    wait_for(lambda: registry.replication() != [], "the replication rules to be restored", context=registries.context)
    wait_for(
        lambda: registry.scanning()["scanType"] == "ENHANCED", "scanning to be restored", context=registries.context
    )
    registries.wait_event(name, "DriftCorrected")

    # Retain (the default): the resource goes, the settings stay.
    registries.delete(name)
    registries.wait_gone(name)
    assert _destinations(registry.replication()) == [[("eu-west-1", ACCOUNT)]]
    assert registry.scanning()["scanType"] == "ENHANCED"


def test_delete_with_deletion_policy_delete_removes_the_managed_settings(env: Env) -> None:
    region, name = "ca-central-1", unique("del")
    registry, registries = env.registry(region), env.registries
    registries.create(name, dr_spec(region, deletionPolicy="Delete"))
    registries.wait_ready(name)
    assert registry.replication() and registry.policy() is not None
    registries.delete(name)
    registries.wait_gone(name)
    assert registry.replication() == []
    assert registry.scanning() == {"scanType": "BASIC", "rules": []}
    assert registry.policy() is None


def test_an_absent_section_is_neither_read_nor_written(env: Env) -> None:
    region, name = "sa-east-1", unique("partial")
    registry, registries = env.registry(region), env.registries
    registry.ecr.put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}],
    )
    registries.create(
        name, {"region": region, "replication": dr_spec(region)["replication"], "deletionPolicy": "Delete"}
    )
    registries.wait_ready(name)
    registries.delete(name)
    registries.wait_gone(name)
    assert registry.replication() == []
    assert registry.scanning()["rules"], "scanning was not managed: kept as it was"


def test_observe_only_plans_and_writes_nothing(env: Env) -> None:
    region, name = "eu-south-1", unique("observe")
    registry, registries = env.registry(region), env.registries
    registries.create(name, dr_spec(region, deletionPolicy="Delete"), annotations=OBSERVE_ONLY)
    observed = registries.wait_condition(name, "False", "OutOfSync")
    planned = observed["status"]["plannedChanges"]
    assert planned == [
        "set the replication configuration (1 rule)",
        "set registry scanning to BASIC with 1 rule",
        "set the registry policy",
    ]
    assert registries.condition(name, "Synced")["reason"] == "ObserveOnly"
    assert registry.replication() == [] and registry.policy() is None

    registries.patch(name, {"metadata": {"annotations": {"ecr.platform.dev/observe-only": None}}})
    registries.wait_ready(name)
    assert registry.replication() and registry.policy() is not None
    assert registries.must_get(name)["status"]["plannedChanges"] == []

    # Observe-only again, then delete: Delete is not applied, the settings stay.
    registries.patch(name, {"metadata": {"annotations": OBSERVE_ONLY}})
    registries.wait_condition(name, "True", "Synced")
    registries.delete(name)
    registries.wait_gone(name)
    assert registry.replication() and registry.policy() is not None


def test_a_second_resource_for_the_same_registry_is_refused_until_the_first_is_gone(env: Env) -> None:
    region = "eu-central-2"
    first, second = unique("first"), unique("second")
    registry, registries = env.registry(region), env.registries
    registries.create(first, dr_spec(region))
    registries.wait_ready(first)
    other = dr_spec(region, replication={"rules": [{"destinations": [{"region": "us-west-2"}]}]})
    registries.create(second, other)
    refused = registries.wait_condition(second, "False", "RegistryAlreadyManaged")
    ready = next(c for c in refused["status"]["conditions"] if c["type"] == "Ready")
    assert first in ready["message"] and region in ready["message"]
    assert registries.condition(second, "Stalled")["status"] == "True"
    registries.wait_event(second, "RegistryAlreadyManaged")
    assert _destinations(registry.replication()) == [[("eu-west-1", ACCOUNT)]], "the second one wrote nothing"
    registries.wait_ready(first)  # still the manager

    registries.delete(first)
    registries.wait_gone(first)
    registries.wait_ready(second)  # takes over at its next resync
    assert _destinations(registry.replication()) == [[("us-west-2", ACCOUNT)]]
    registries.delete(second)
    registries.wait_gone(second)
