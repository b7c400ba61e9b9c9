"""Pure rendering and comparison of registry settings: EcrRegistry spec -> what ECR should hold.

ECR treats replication rules, their destinations and filters, scanning rules and their filters as sets: the
comparisons here ignore their order (and duplicates). The registry policy is compared by meaning
(``compare.policies_equal``). Anything that depends on the registry's own account ID (a destination without
``registryId``, the policy's resource ARN) is rendered once it is known (``DescribeRegistry``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecr_operator.core.documents import load_document
from ecr_operator.core.errors import SpecError
from ecr_operator.core.reasons import Reason
from ecr_operator.core.regions import partition_of, root_principal
from ecr_operator.registry.cache_rules import DesiredRule, render_rules
from ecr_operator.registry.spec import EcrRegistrySpec, RegistryPolicy, Replication, Scanning
from ecr_operator.registry.templates import DesiredTemplate, render_templates

REPLICATION_STATEMENT_SID = "EcrOperatorAllowReplication"
REPLICATION_ACTIONS = ("ecr:CreateRepository", "ecr:ReplicateImage")
DEFAULT_SCANNING: dict[str, Any] = {"scanType": "BASIC", "rules": []}
"""ECR's scanning configuration when none was ever set, and what a Delete puts back."""
REGISTRY_POLICY_FIELD = "spec.registryPolicy.policyText"


@dataclass(frozen=True)
class DesiredRegistry:
    """Everything the operator wants for one registry; ``None`` sections are not managed."""

    name: str
    """The EcrRegistry's name (cluster-scoped)."""
    region: str
    replication: Replication | None
    scanning: dict[str, Any] | None
    registry_policy: RegistryPolicy | None
    deletion_policy: str
    role_arn: str | None = None
    """The role whose account's registry this is (spec.awsRoleArn); None: the operator's own account."""
    pull_through_cache_rules: tuple[DesiredRule, ...] | None = None
    creation_templates: tuple[DesiredTemplate, ...] | None = None


def render_registry(
    spec: EcrRegistrySpec, name: str, default_region: str, required_tags: Iterable[str] = ()
) -> DesiredRegistry:
    """Raises InvalidSpec for a raw registry policy that is not a policy document (checked here, before any AWS
    call; the document itself is rendered once the registry's account is known), for two cache rules of one prefix
    and for a template's lifecycle policy; MissingRequiredTags for a template without the required tags."""
    if spec.registry_policy is not None and spec.registry_policy.policy_text:
        load_registry_policy(spec.registry_policy.policy_text)
    region = spec.region or default_region
    rules, templates = spec.pull_through_cache_rules, spec.creation_templates
    return DesiredRegistry(
        name=name,
        region=region,
        role_arn=spec.aws_role_arn,
        pull_through_cache_rules=render_rules(rules) if rules is not None else None,
        creation_templates=render_templates(templates, region, required_tags) if templates is not None else None,
        replication=spec.replication,
        scanning=render_scanning(spec.scanning) if spec.scanning is not None else None,
        registry_policy=spec.registry_policy,
        deletion_policy=spec.deletion_policy,
    )


def render_replication(replication: Replication, registry_id: str) -> dict[str, Any]:
    """ECR's ``replicationConfiguration``; a destination without registryId is this registry's account."""
    return {
        "rules": [
            {
                "destinations": [
                    {"region": d.region, "registryId": d.registry_id or registry_id} for d in rule.destinations
                ],
                **(
                    {"repositoryFilters": [{"filter": f.filter, "filterType": f.filter_type} for f in filters]}
                    if (filters := rule.repository_filters)
                    else {}
                ),
            }
            for rule in replication.rules
        ]
    }


def render_scanning(scanning: Scanning) -> dict[str, Any]:
    """The ``PutRegistryScanningConfiguration`` parameters."""
    return {
        "scanType": scanning.scan_type,
        "rules": [
            {
                "scanFrequency": rule.scan_frequency,
                "repositoryFilters": [
                    {"filter": f.filter, "filterType": f.filter_type} for f in rule.repository_filters
                ],
            }
            for rule in scanning.rules
        ],
    }


def load_registry_policy(text: str) -> dict[str, Any]:
    """A raw registry policy: an object whose ``Statement`` is a statement object or a list of them, and whose
    ``Version``, if any, is a string; raises InvalidSpec naming the field."""
    document = load_document(text, REGISTRY_POLICY_FIELD)
    if not isinstance(document, dict):
        raise SpecError(Reason.INVALID_SPEC, f"{REGISTRY_POLICY_FIELD} must be a JSON object")
    problems = []
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(statement, dict) for statement in statements):
        problems.append("its Statement must be an object or a list of objects")
    if not isinstance(document.get("Version", ""), str):
        problems.append("its Version must be a string")
    if problems:
        raise SpecError(Reason.INVALID_SPEC, f"{REGISTRY_POLICY_FIELD}: {'; '.join(problems)}")
    return document


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def render_registry_policy(policy: RegistryPolicy, registry_id: str, region: str) -> dict[str, Any] | None:
    """The registry policy document: the raw policy's statements plus the structured replication statement;
    None (no policy) when neither is set."""
    document = load_registry_policy(policy.policy_text) if policy.policy_text else {}
    statements = _statements(document)
    if policy.allow_replication_from_accounts:
        partition = partition_of(region)
        accounts = sorted(set(policy.allow_replication_from_accounts))
        statements.append(
            {
                "Sid": REPLICATION_STATEMENT_SID,
                "Effect": "Allow",
                "Principal": {"AWS": [root_principal(account, region) for account in accounts]},
                "Action": list(REPLICATION_ACTIONS),
                "Resource": f"arn:{partition}:ecr:{region}:{registry_id}:repository/*",
            }
        )
    if not statements:
        return None
    return {**document, "Version": document.get("Version", "2012-10-17"), "Statement": statements}


# -- comparison ------------------------------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _filter_set(filters: Sequence[Mapping[str, Any]] | None) -> list[str]:
    return sorted({_canonical({"filter": f.get("filter"), "filterType": f.get("filterType")}) for f in filters or []})


def normalize_replication(configuration: Mapping[str, Any] | None) -> list[str]:
    """Rules as a set; each rule's destinations and filters as sets."""
    rules = []
    for rule in (configuration or {}).get("rules") or []:
        destinations = sorted(
            {
                _canonical({"region": d.get("region"), "registryId": d.get("registryId")})
                for d in rule.get("destinations") or []
            }
        )
        rules.append(_canonical({"destinations": destinations, "filters": _filter_set(rule.get("repositoryFilters"))}))
    return sorted(set(rules))


def replication_equal(left: Mapping[str, Any] | None, right: Mapping[str, Any] | None) -> bool:
    return normalize_replication(left) == normalize_replication(right)


def normalize_scanning(configuration: Mapping[str, Any] | None) -> tuple[str, list[str]]:
    configuration = configuration or DEFAULT_SCANNING
    rules = sorted(
        {
            _canonical({"scanFrequency": r.get("scanFrequency"), "filters": _filter_set(r.get("repositoryFilters"))})
            for r in configuration.get("rules") or []
        }
    )
    return str(configuration.get("scanType") or "BASIC"), rules


def scanning_equal(left: Mapping[str, Any] | None, right: Mapping[str, Any] | None) -> bool:
    return normalize_scanning(left) == normalize_scanning(right)
