"""Operator settings: what a deployment configures (flags or environment), never per resource."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal, get_args

DEFAULT_REQUIRED_TAGS = ("owner", "cost_center", "resource_lifecycle", "data_class", "service")
DEFAULT_RESYNC_SECONDS = 600.0
DEFAULT_INVENTORY_SECONDS = 900.0
"""How often the images, scan findings and cost of each resource are refreshed (the ``inventory`` timer)."""
DEFAULT_EVENTS_RESYNC_SECONDS = 6 * 3600.0
"""The drift resync and the inventory refresh with an events queue (--events-queue-url): a safety net only, since
AWS's events trigger the passes; while the queue cannot be read both fall back to ``events_fallback_seconds``."""
DEFAULT_STORAGE_PRICE_PER_GB_MONTH = 0.10
"""ECR storage in ap-northeast-2 (Seoul), USD per GB-month."""
DEFAULT_KMS_KEY_PRICE_PER_MONTH = 1.0
"""A customer-managed KMS key, USD per month (any region)."""
DEFAULT_CLIENT_CACHE_SIZE = 16
"""(AWS role, region) client sets kept; each costs ~0.3 MiB once used (README: *Memory per account and region*)."""

RepositoryNamePolicy = Literal["any", "namespace-prefix"]
REPOSITORY_NAME_POLICIES: tuple[RepositoryNamePolicy, ...] = get_args(RepositoryNamePolicy)

AdoptionMode = Literal["disabled", "annotated-namespaces", "everywhere"]
ADOPTION_MODES: tuple[AdoptionMode, ...] = get_args(AdoptionMode)

AccountMapping = Literal["namespace-annotation", "disabled"]
ACCOUNT_MAPPINGS: tuple[AccountMapping, ...] = get_args(AccountMapping)


@dataclass(frozen=True)
class Prices:
    """What the cost estimate charges (status.estimatedMonthlyCostUSD); transfer is not estimated."""

    storage_per_gb_month: float = DEFAULT_STORAGE_PRICE_PER_GB_MONTH
    kms_key_per_month: float = DEFAULT_KMS_KEY_PRICE_PER_MONTH


@dataclass(frozen=True)
class Settings:
    region: str
    cluster_id: str = "default"
    required_tags: tuple[str, ...] = DEFAULT_REQUIRED_TAGS
    resync_seconds: float = DEFAULT_RESYNC_SECONDS
    inventory_seconds: float = DEFAULT_INVENTORY_SECONDS
    """Seconds between refreshes of status.images / scan / estimatedMonthlyCostUSD (not on drift resyncs)."""
    prices: Prices = field(default_factory=Prices)
    namespaces: tuple[str, ...] = field(default_factory=tuple)
    """Namespaces to watch; empty means all namespaces."""
    max_workers: int = 8
    """Threads for AWS calls (boto3 is synchronous)."""
    repository_name_policy: RepositoryNamePolicy = "any"
    """With "namespace-prefix" (self-service clusters) a repositoryName must start with "<namespace>/" or with a
    prefix listed in its Namespace's ecr.platform.dev/repository-prefixes annotation."""
    adoption: AdoptionMode = "disabled"
    """Where a resource may adopt (take over) an existing repository nobody owns: nowhere ("disabled"), only in
    Namespaces annotated ecr.platform.dev/allow-adoption: "true" ("annotated-namespaces"), or "everywhere"."""
    account_mapping: AccountMapping = "namespace-annotation"
    """"namespace-annotation": a Namespace annotated ecr.platform.dev/aws-role-arn by a cluster admin has its
    resources in that role's account (credentials from sts:AssumeRole); "disabled": one account, the operator's."""
    manage_registries: bool = True
    """Serve the cluster-scoped EcrRegistry kind (exactly one shard of a sharded installation should)."""
    require_account_mapping: bool = False
    """Refuse resources in Namespaces without the role annotation (AccountNotMapped) instead of using the
    operator's own account."""
    assume_role_external_id: str = field(default="", repr=False)
    """sts:ExternalId sent with every AssumeRole (from a Secret in the operator's namespace; tenants cannot read it)."""
    aws_rate_limits: str = ""
    """Overrides of the default per-operation request rates ("kms:CreateKey=5,ecr:*=20"), or "off"."""
    aws_rate_limit_scale: float = 1.0
    """Multiplies every request rate."""
    allowed_regions: tuple[str, ...] = field(default_factory=tuple)
    """The regions resources may live in (spec.region); empty: every region botocore knows for ECR and KMS."""
    client_cache_size: int = DEFAULT_CLIENT_CACHE_SIZE
    """(AWS role, region) client sets kept; the least recently used one goes first (bounds the memory)."""
    per_resource_findings_metrics: bool = False
    """Also publish ecr_operator_resource_image_findings{namespace,name,severity}: six series per resource."""
    events_queue_url: str = ""
    """The SQS queue EventBridge delivers ECR's and CloudTrail's events to (empty: no events, timers only)."""
    events_fallback_seconds: float = DEFAULT_RESYNC_SECONDS
    """With a queue: the resync and inventory interval while the queue cannot be read (``runtime/periodic.py``)."""

    @property
    def shortest_resync_seconds(self) -> float:
        """The shortest time between two resyncs of an object: with an events queue, the fallback's while the queue
        cannot be read (``runtime/periodic.py``)."""
        if self.events_queue_url:
            return min(self.resync_seconds, self.events_fallback_seconds)
        return self.resync_seconds

    @property
    def watches_namespaces(self) -> bool:
        """Whether a policy reads Namespace annotations (the operator then watches Namespaces)."""
        return (
            self.repository_name_policy == "namespace-prefix"
            or self.adoption == "annotated-namespaces"
            or self.account_mapping != "disabled"
        )


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
