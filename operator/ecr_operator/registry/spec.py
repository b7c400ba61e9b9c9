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

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from ecr_operator.core.model import ACCOUNT_ID_PATTERN, REGION_PATTERN, ApiModel, CommonStatus, cel_rules
from ecr_operator.core.repository_settings import (
    KMS_KEY_ARN_PATTERN,
    CrossAccountPull,
    ImageTagMutabilityExclusionFilter,
    Lifecycle,
)

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

# ECR's pattern for an ecrRepositoryPrefix, upstreamRepositoryPrefix and a template prefix (botocore's model).
PREFIX_PATTERN = r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$"
CREDENTIAL_ARN_PATTERN = (
    r"^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$"
)
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
MAX_PULL_THROUGH_CACHE_RULES = 50
"""ECR's quota of pull through cache rules per registry (not adjustable)."""
MAX_CREATION_TEMPLATES = 50
"""ECR publishes no quota for creation templates; this bounds the CRD's validation cost."""

UpstreamRegistry = Literal[
    "ecr",
    "ecr-public",
    "quay",
    "k8s",
    "docker-hub",
    "github-container-registry",
    "azure-container-registry",
    "gitlab-container-registry",
    "chainguard",
]
UPSTREAM_HOSTS = {
    "ecr-public": "public.ecr.aws",
    "quay": "quay.io",
    "k8s": "registry.k8s.io",
    "docker-hub": "registry-1.docker.io",
    "github-container-registry": "ghcr.io",
    "gitlab-container-registry": "registry.gitlab.com",
    "chainguard": "cgr.dev",
}
"""The upstream registries with one fixed URL (AWS's API reference); Azure's end in .azurecr.io, ECR's are
<account>.dkr.ecr.<region>.amazonaws.com."""
NEEDS_CREDENTIAL = (
    "docker-hub",
    "github-container-registry",
    "azure-container-registry",
    "gitlab-container-registry",
    "chainguard",
)
"""Upstreams ECR authenticates to with a Secrets Manager secret (the user guide: credentialArn is required)."""


def _cel_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def _cel_map(values: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{key}': '{value}'" for key, value in values.items()) + "}"


_ECR_URL = r"^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$"
_IS_ECR = (
    "((has(self.upstreamRegistry) && self.upstreamRegistry == 'ecr')"
    f" || self.upstreamRegistryUrl.matches('{_ECR_URL}'))"
)
_CREDENTIAL_HOSTS = [UPSTREAM_HOSTS[name] for name in NEEDS_CREDENTIAL if name in UPSTREAM_HOSTS]
_NEEDS_CREDENTIAL = (
    f"((has(self.upstreamRegistry) && self.upstreamRegistry in {_cel_list(NEEDS_CREDENTIAL)})"
    f" || self.upstreamRegistryUrl in {_cel_list(_CREDENTIAL_HOSTS)}"
    " || self.upstreamRegistryUrl.endsWith('.azurecr.io'))"
)


def _role_arn(description: str) -> Any:
    """An optional IAM role ARN field."""
    return Field(None, max_length=2048, pattern=ROLE_ARN_PATTERN, description=description)


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


class PullThroughCacheRule(ApiModel):
    """One pull through cache rule: repositories under ``ecrRepositoryPrefix`` cache images of the upstream
    registry. The upstream of a rule cannot change in place: the operator replaces a rule it created."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": f"!has(self.upstreamRegistry) || !(self.upstreamRegistry in {_cel_map(UPSTREAM_HOSTS)})"
                f" || {_cel_map(UPSTREAM_HOSTS)}[self.upstreamRegistry] == self.upstreamRegistryUrl",
                "message": "upstreamRegistryUrl is not the URL of upstreamRegistry (e.g. docker-hub is "
                "registry-1.docker.io, github-container-registry is ghcr.io)",
                "fieldPath": ".upstreamRegistryUrl",
            },
            {
                "rule": "!has(self.upstreamRegistry) || self.upstreamRegistry != 'azure-container-registry'"
                " || self.upstreamRegistryUrl.endsWith('.azurecr.io')",
                "message": "upstreamRegistryUrl of azure-container-registry must be <name>.azurecr.io",
                "fieldPath": ".upstreamRegistryUrl",
            },
            {
                "rule": "!has(self.upstreamRegistry) || self.upstreamRegistry != 'ecr'"
                f" || self.upstreamRegistryUrl.matches('{_ECR_URL}')",
                "message": "upstreamRegistryUrl of ecr must be <account>.dkr.ecr.<region>.amazonaws.com",
                "fieldPath": ".upstreamRegistryUrl",
            },
            {
                "rule": f"has(self.credentialArn) || !{_NEEDS_CREDENTIAL}",
                "message": "credentialArn is required for Docker Hub, GitHub, GitLab, Azure and Chainguard upstreams "
                "(a Secrets Manager secret named ecr-pullthroughcache/...)",
                "fieldPath": ".credentialArn",
            },
            {
                "rule": f"!has(self.customRoleArn) || {_IS_ECR}",
                "message": "customRoleArn is only for an ECR upstream",
                "fieldPath": ".customRoleArn",
            },
            {
                "rule": f"!has(self.upstreamRepositoryPrefix) || ({_IS_ECR} && self.ecrRepositoryPrefix != 'ROOT')",
                "message": "upstreamRepositoryPrefix is only for an ECR upstream, and not with ecrRepositoryPrefix "
                "ROOT",
                "fieldPath": ".upstreamRepositoryPrefix",
            },
        )
    )

    ecr_repository_prefix: str = Field(
        min_length=2,
        max_length=30,
        pattern=PREFIX_PATTERN,
        description="The repository name prefix of the cached repositories ('team' and 'team/' are one), or ROOT.",
    )
    upstream_registry_url: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
        description="The upstream registry's host, e.g. registry-1.docker.io, ghcr.io, quay.io, public.ecr.aws.",
    )
    upstream_registry: UpstreamRegistry | None = Field(
        None, description="ECR's name of the upstream registry; inferred by ECR from the URL when absent."
    )
    credential_arn: str | None = Field(
        None,
        min_length=50,
        max_length=612,
        pattern=CREDENTIAL_ARN_PATTERN,
        description="The Secrets Manager secret (ecr-pullthroughcache/...) with the upstream's credentials; "
        "referenced only: the operator neither creates nor reads it.",
    )
    custom_role_arn: str | None = _role_arn("The IAM role ECR assumes to pull from an ECR upstream in another account.")
    upstream_repository_prefix: str | None = Field(
        None,
        min_length=2,
        max_length=30,
        pattern=PREFIX_PATTERN,
        description="The upstream's repository prefix (ECR upstreams only; ECR's default is ROOT).",
    )


class TemplateEncryption(ApiModel):
    """The encryption of the repositories a template creates: AES256, or KMS (the key given, else aws/ecr)."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": "!has(self.kmsKeyArn) || self.type == 'KMS'",
                "message": "kmsKeyArn is only allowed with type KMS",
                "fieldPath": ".kmsKeyArn",
            },
        )
    )

    type: Literal["AES256", "KMS"] = Field("AES256", description="AES256 (ECR's default) or KMS.")
    kms_key_arn: str | None = Field(
        None, pattern=KMS_KEY_ARN_PATTERN, max_length=2048, description="The KMS key (KMS only; default aws/ecr)."
    )


class CreationTemplate(ApiModel):
    """The settings ECR gives a repository it creates itself (pull through cache, replication, create on push)
    under ``prefix``; ``ROOT`` is the template for every repository no other template matches. ``lifecycle`` and
    ``crossAccountPull`` take the EcrRepository's shapes and render to the same documents."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": "(self.imageTagMutability.endsWith('_WITH_EXCLUSION'))"
                " == (has(self.imageTagMutabilityExclusionFilters)"
                " && size(self.imageTagMutabilityExclusionFilters) > 0)",
                "message": "imageTagMutabilityExclusionFilters are required with, and only allowed with, "
                "MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION",
                "fieldPath": ".imageTagMutabilityExclusionFilters",
            },
        )
    )

    prefix: str = Field(
        min_length=1, max_length=256, pattern=PREFIX_PATTERN, description="A repository name prefix, or ROOT."
    )
    applied_for: list[Literal["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"]] = Field(
        min_length=1,
        max_length=3,
        description="When ECR applies the template: REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    description: str | None = Field(None, max_length=256, description="The template's description.")
    image_tag_mutability: Literal["MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION"] = Field(
        "MUTABLE", description="Tag mutability of the repositories created."
    )
    image_tag_mutability_exclusion_filters: list[ImageTagMutabilityExclusionFilter] = Field(
        default_factory=list, max_length=5, description="1-5 filters, with the *_WITH_EXCLUSION values only."
    )
    encryption: TemplateEncryption = Field(
        default_factory=lambda: TemplateEncryption.model_validate({}), description=TemplateEncryption.__doc__
    )
    lifecycle: Lifecycle | None = Field(None, description=Lifecycle.__doc__)
    cross_account_pull: CrossAccountPull | None = Field(None, description=CrossAccountPull.__doc__)
    resource_tags: dict[str, str] = Field(
        default_factory=dict,
        max_length=50,
        description="Tags of the repositories created; the platform's required tags (--required-tags) must be here.",
    )
    custom_role_arn: str | None = _role_arn(
        "The role ECR assumes to apply the template (needed for resourceTags or a KMS key)."
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
            {
                "rule": "has(self.awsRoleArn) == has(oldSelf.awsRoleArn)"
                " && (!has(self.awsRoleArn) || self.awsRoleArn == oldSelf.awsRoleArn)",
                "message": "spec.awsRoleArn is immutable: what the operator created is recorded for one account",
                "fieldPath": ".awsRoleArn",
            },
        )
    )

    aws_role_arn: str | None = _role_arn(
        "Manage the registry of this role's account (sts:AssumeRole, like a Namespace's "
        "ecr.platform.dev/aws-role-arn); default: the operator's own account. Immutable."
    )
    region: str | None = Field(
        None, pattern=REGION_PATTERN, description="AWS region; defaults to the operator's region. Immutable."
    )
    replication: Replication | None = Field(None, description=Replication.__doc__)
    scanning: Scanning | None = Field(None, description=Scanning.__doc__)
    registry_policy: RegistryPolicy | None = Field(None, description=RegistryPolicy.__doc__)
    pull_through_cache_rules: list[PullThroughCacheRule] | None = Field(
        None,
        max_length=MAX_PULL_THROUGH_CACHE_RULES,
        description="Pull through cache rules, a set keyed by ecrRepositoryPrefix. A rule removed from the list is "
        "deleted only if this EcrRegistry created it.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["ecrRepositoryPrefix"]},
    )
    creation_templates: list[CreationTemplate] | None = Field(
        None,
        max_length=MAX_CREATION_TEMPLATES,
        description="Repository creation templates, a set keyed by prefix. A template removed from the list is "
        "deleted only if this EcrRegistry created it.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["prefix"]},
    )
    deletion_policy: Literal["Delete", "Retain"] = Field(
        "Retain",
        description="Retain (default) leaves the registry settings when this resource is deleted; Delete removes "
        "the managed ones (replication rules, scanning rules, registry policy, and the pull through cache rules "
        "and creation templates this EcrRegistry created).",
    )


class ItemStatus(ApiModel):
    """One pull through cache rule or creation template: its state and whether this EcrRegistry created it."""

    name: str = Field(description="The rule's ecrRepositoryPrefix or the template's prefix.")
    state: Literal["InSync", "Pending", "Conflict"] = Field(
        description="InSync: AWS holds it as specified; Pending: a write is planned (observe-only) or pending; "
        "Conflict: it exists with an upstream that cannot change in place and this EcrRegistry did not create it."
    )
    created_by_operator: bool = Field(
        False, description="Created by this EcrRegistry: the only ones it deletes (removed from spec, or Delete)."
    )
    upstream_registry: str | None = Field(None, description="The upstream registry (rules).")
    upstream_registry_url: str | None = Field(None, description="The upstream registry's URL (rules).")


class EcrRegistryStatus(CommonStatus):
    """What the operator did and saw."""

    pull_through_cache_rules: list[ItemStatus] | None = Field(
        None, description="The managed pull through cache rules, and the ones it created not yet deleted."
    )
    creation_templates: list[ItemStatus] | None = Field(
        None, description="The managed creation templates, and the ones it created not yet deleted."
    )

    registry_id: str | None = Field(None, description="The registry's AWS account ID.")
    region: str | None = Field(None, description="The registry's region.")
