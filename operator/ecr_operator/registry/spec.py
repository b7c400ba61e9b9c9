"""The EcrRegistry API: registry-level settings of one account's ECR registry in one region.

Cluster-scoped, in ECR's own shape and names (``replicationConfiguration.rules``, registry scanning rules, the
registry policy). The CRD (``crds/ecrregistry.yaml``) is generated from these models (``registry/crd.py``);
CEL rules live next to the model they guard, like ``spec.py``'s.

A section that is absent from the spec is not managed: the operator neither reads nor writes it (registry
settings are account-wide, and another tool may own one of them). An empty section is managed and empty:
``replication: {rules: []}`` removes every replication rule, ``scanning: {}`` is ECR's default (BASIC, no
rules), ``registryPolicy: {}`` removes the registry policy.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from ecr_operator.core.model import ACCOUNT_ID_PATTERN, REGION_PATTERN, ApiModel, CommonStatus, cel_rules

REGISTRY_KIND = "EcrRegistry"
REGISTRY_PLURAL = "ecrregistries"
REGISTRY_SINGULAR = "ecrregistry"
REGISTRY_SHORT_NAMES = ["ecrreg"]

# ECR's limits (PutReplicationConfiguration, PutRegistryScanningConfiguration).
MAX_REPLICATION_RULES = 10
MAX_REPLICATION_DESTINATIONS = 25
MAX_REPLICATION_FILTERS = 100
MAX_SCANNING_RULES = 2
MAX_SCANNING_FILTERS = 100
MAX_REGISTRY_POLICY_LENGTH = 10240

# ECR's own patterns for a replication filter (a repository name prefix) and a scanning filter (a wildcard).
REPLICATION_FILTER_PATTERN = r"^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$"
SCANNING_FILTER_PATTERN = r"^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$"


class ReplicationDestination(ApiModel):
    """Where matching repositories are replicated to: a region, and the registry (account) there."""

    region: str = Field(pattern=REGION_PATTERN, description="The destination region.")
    registry_id: str | None = Field(
        None,
        pattern=ACCOUNT_ID_PATTERN,
        description="The destination registry's account ID; defaults to this registry's own (cross-region).",
    )


class ReplicationFilter(ApiModel):
    """Which repositories a replication rule applies to (ECR's RepositoryFilter)."""

    filter: str = Field(
        min_length=2, max_length=256, pattern=REPLICATION_FILTER_PATTERN, description="A repository name prefix."
    )
    filter_type: Literal["PREFIX_MATCH"] = Field("PREFIX_MATCH", description="PREFIX_MATCH (the only type).")


class ReplicationRule(ApiModel):
    """One replication rule: repositories matching any filter (all when none) go to every destination."""

    destinations: list[ReplicationDestination] = Field(
        min_length=1, max_length=MAX_REPLICATION_DESTINATIONS, description="1-25 destinations."
    )
    repository_filters: list[ReplicationFilter] = Field(
        default_factory=list,
        max_length=MAX_REPLICATION_FILTERS,
        description="Up to 100 filters; no filter replicates every repository.",
    )


class Replication(ApiModel):
    """The registry's replication configuration (a set of rules; ``rules: []`` removes replication)."""

    rules: list[ReplicationRule] = Field(
        default_factory=list, max_length=MAX_REPLICATION_RULES, description="Up to 10 rules."
    )


class ScanningFilter(ApiModel):
    """Which repositories a scanning rule applies to (ECR's ScanningRepositoryFilter)."""

    filter: str = Field(
        min_length=1,
        max_length=255,
        pattern=SCANNING_FILTER_PATTERN,
        description="A repository name, '*' matching any characters (e.g. 'prod/*', '*').",
    )
    filter_type: Literal["WILDCARD"] = Field("WILDCARD", description="WILDCARD (the only type).")


class ScanningRule(ApiModel):
    """How often the repositories matching the filters are scanned."""

    scan_frequency: Literal["SCAN_ON_PUSH", "CONTINUOUS_SCAN", "MANUAL"] = Field(
        description="SCAN_ON_PUSH, CONTINUOUS_SCAN (ENHANCED only) or MANUAL."
    )
    repository_filters: list[ScanningFilter] = Field(
        min_length=1, max_length=MAX_SCANNING_FILTERS, description="1-100 filters."
    )


class Scanning(ApiModel):
    """The registry scanning configuration: BASIC (ECR) or ENHANCED (Amazon Inspector), and its rules."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": "(has(self.scanType) && self.scanType == 'ENHANCED') || !has(self.rules)"
                " || self.rules.all(r, r.scanFrequency != 'CONTINUOUS_SCAN')",
                "message": "spec.scanning: CONTINUOUS_SCAN needs scanType ENHANCED",
                "fieldPath": ".rules",
            },
            {
                "rule": "!has(self.rules) || self.rules.all(r, self.rules.exists_one(s, s.scanFrequency == "
                "r.scanFrequency))",
                "message": "spec.scanning.rules: at most one rule per scanFrequency",
                "fieldPath": ".rules",
            },
        )
    )

    scan_type: Literal["BASIC", "ENHANCED"] = Field("BASIC", description="BASIC or ENHANCED.")
    rules: list[ScanningRule] = Field(
        default_factory=list, max_length=MAX_SCANNING_RULES, description="Up to 2 rules (one per frequency)."
    )


class RegistryPolicy(ApiModel):
    """The registry policy: structured replication permissions, and/or a raw policy whose statements are kept."""

    allow_replication_from_accounts: list[Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN)]] = Field(
        default_factory=list,
        max_length=100,
        description="Accounts allowed to replicate into this registry (ecr:ReplicateImage and "
        "ecr:CreateRepository for the account's root).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    policy_text: str | None = Field(
        None,
        min_length=2,
        max_length=MAX_REGISTRY_POLICY_LENGTH,
        pattern=r'^\s*\{[\s\S]*"Statement"[\s\S]*\}\s*$',
        description="A raw registry policy (JSON with 'Statement'); the structured statement is added to it.",
    )


class EcrRegistrySpec(ApiModel):
    """Registry-level settings of the operator's account in one region: replication, scanning, registry policy."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": "has(self.region) == has(oldSelf.region)"
                " && (!has(self.region) || self.region == oldSelf.region)",
                "message": "spec.region is immutable",
                "fieldPath": ".region",
            },
        )
    )

    region: str | None = Field(
        None, pattern=REGION_PATTERN, description="AWS region; defaults to the operator's region. Immutable."
    )
    replication: Replication | None = Field(None, description=Replication.__doc__)
    scanning: Scanning | None = Field(None, description=Scanning.__doc__)
    registry_policy: RegistryPolicy | None = Field(None, description=RegistryPolicy.__doc__)
    deletion_policy: Literal["Delete", "Retain"] = Field(
        "Retain",
        description="Retain (default) leaves the registry settings when this resource is deleted; Delete removes "
        "the managed ones (replication rules, scanning rules, registry policy).",
    )


class EcrRegistryStatus(CommonStatus):
    """What the operator did and saw."""

    registry_id: str | None = Field(None, description="The registry's AWS account ID.")
    region: str | None = Field(None, description="The registry's region.")
