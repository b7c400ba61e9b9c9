"""The ECR registry part: replication, registry scanning and the registry policy of one registry (one account in
one region), for an EcrRegistry. Same protocol as the repository parts (``core/part.py``): ``observe`` reads only
the sections the spec manages, ``plan`` / ``plan_delete`` are pure.

A registry always exists, so there is nothing to create: a plan is at most one write per section (each of them
replaces the whole section, like a lifecycle policy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecr_operator.core.actions import Action, Plan, read
from ecr_operator.core.aws import AwsClients
from ecr_operator.core.compare import parse_json, policies_equal, to_json
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.items import Created
from ecr_operator.registry.render import (
    DEFAULT_SCANNING,
    DesiredRegistry,
    render_registry_policy,
    render_replication,
    replication_equal,
    scanning_equal,
)


@dataclass(frozen=True)
class ObservedRegistry:
    registry_id: str
    replication: dict[str, Any]
    """ECR's ``replicationConfiguration`` (``{"rules": []}`` when there is none)."""
    scanning: dict[str, Any] | None
    """``scanType`` and ``rules``; None when the spec does not manage scanning (not read)."""
    policy: Any
    """The registry policy document; None when there is none or the spec does not manage it (not read)."""


def observe(clients: AwsClients, desired: DesiredRegistry, deps: RegistryDeps, view: None = None) -> ObservedRegistry:
    """DescribeRegistry (the account ID and the replication rules), then the managed sections' reads."""
    registry = read(clients, "ecr", "describe_registry")
    scanning = policy = None
    if desired.scanning is not None:
        configuration = read(clients, "ecr", "get_registry_scanning_configuration").get("scanningConfiguration")
        scanning = {
            "scanType": (configuration or {}).get("scanType", "BASIC"),
            "rules": (configuration or {}).get("rules") or [],
        }
    if desired.registry_policy is not None:
        found = read(clients, "ecr", "get_registry_policy", ("RegistryPolicyNotFoundException",))
        policy = parse_json(found.get("policyText")) if found else None
    return ObservedRegistry(
        registry_id=str(registry["registryId"]),
        replication={"rules": (registry.get("replicationConfiguration") or {}).get("rules") or []},
        scanning=scanning,
        policy=policy,
    )


@dataclass(frozen=True)
class RegistryDeps:
    managed_by: str | None = None
    """Another EcrRegistry that manages the same registry and region (it came first): nothing may be written."""
    created: Created = field(default_factory=Created)
    """The pull through cache rules and creation templates this EcrRegistry created (recorded in status)."""


@dataclass
class RegistryPlan(Plan):
    registry_id: str | None = None


def _refusal(desired: DesiredRegistry, observed: ObservedRegistry, deps: RegistryDeps) -> OperatorError | None:
    if deps.managed_by is None:
        return None
    return OperatorError(
        Reason.REGISTRY_ALREADY_MANAGED,
        f"registry {observed.registry_id} in {desired.region} is already managed by EcrRegistry {deps.managed_by}; "
        "one EcrRegistry per account and region (this one takes over once that one is deleted)",
    )


def _self_replication(desired: DesiredRegistry, rendered: dict[str, Any], registry_id: str) -> OperatorError | None:
    for rule in rendered["rules"]:
        for destination in rule["destinations"]:
            if destination["region"] == desired.region and destination["registryId"] == registry_id:
                return OperatorError(
                    Reason.INVALID_SPEC,
                    f"spec.replication: a destination is this registry itself ({registry_id} in {desired.region}); "
                    "ECR cannot replicate a registry into itself",
                )
    return None


def _count(items: list[Any], word: str) -> str:
    return f"{len(items)} {word}{'' if len(items) == 1 else 's'}"


def plan(desired: DesiredRegistry, observed: ObservedRegistry, deps: RegistryDeps) -> RegistryPlan:
    refusal = _refusal(desired, observed, deps)
    if refusal is not None:
        return RegistryPlan(refusal=refusal, registry_id=observed.registry_id)
    actions: list[Action] = []
    problems: list[OperatorError] = []
    if desired.replication is not None:
        wanted = render_replication(desired.replication, observed.registry_id)
        problem = _self_replication(desired, wanted, observed.registry_id)
        if problem is not None:
            problems.append(problem)
        elif not replication_equal(wanted, observed.replication):
            actions.append(
                Action(
                    "ecr",
                    "put_replication_configuration",
                    {"replicationConfiguration": wanted},
                    f"set the replication configuration ({_count(wanted['rules'], 'rule')})",
                )
            )
    if desired.scanning is not None and not scanning_equal(desired.scanning, observed.scanning):
        actions.append(
            Action(
                "ecr",
                "put_registry_scanning_configuration",
                desired.scanning,
                f"set registry scanning to {desired.scanning['scanType']} "
                f"with {_count(desired.scanning['rules'], 'rule')}",
            )
        )
    if desired.registry_policy is not None:
        document = render_registry_policy(desired.registry_policy, observed.registry_id, desired.region)
        if document is None and observed.policy is not None:
            actions.append(Action("ecr", "delete_registry_policy", {}, "remove the registry policy"))
        elif document is not None and (observed.policy is None or not policies_equal(document, observed.policy)):
            actions.append(
                Action("ecr", "put_registry_policy", {"policyText": to_json(document)}, "set the registry policy")
            )
    return RegistryPlan(actions, problems, registry_id=observed.registry_id)


def plan_delete(desired: DesiredRegistry, observed: ObservedRegistry, deps: RegistryDeps) -> Plan:
    """deletionPolicy Delete: the managed sections back to ECR's defaults (no replication rules, BASIC scanning
    without rules, no registry policy). Retain, or a registry another EcrRegistry manages: nothing."""
    if desired.deletion_policy != "Delete" or deps.managed_by is not None:
        return Plan()
    actions = []
    if desired.replication is not None and observed.replication.get("rules"):
        actions.append(
            Action(
                "ecr",
                "put_replication_configuration",
                {"replicationConfiguration": {"rules": []}},
                "remove every replication rule",
            )
        )
    if desired.scanning is not None and not scanning_equal(DEFAULT_SCANNING, observed.scanning):
        actions.append(
            Action(
                "ecr",
                "put_registry_scanning_configuration",
                dict(DEFAULT_SCANNING),
                "reset registry scanning to BASIC without rules",
            )
        )
    if desired.registry_policy is not None and observed.policy is not None:
        actions.append(Action("ecr", "delete_registry_policy", {}, "remove the registry policy"))
    return Plan(actions)
