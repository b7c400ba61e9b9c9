"""Operator settings: what a deployment configures (flags or environment), never per resource."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal, get_args

DEFAULT_REQUIRED_TAGS = ("owner", "cost_center", "resource_lifecycle", "data_class", "service")
DEFAULT_RESYNC_SECONDS = 600.0

RepositoryNamePolicy = Literal["any", "namespace-prefix"]
REPOSITORY_NAME_POLICIES: tuple[RepositoryNamePolicy, ...] = get_args(RepositoryNamePolicy)


@dataclass(frozen=True)
class Settings:
    region: str
    cluster_id: str = "default"
    required_tags: tuple[str, ...] = DEFAULT_REQUIRED_TAGS
    resync_seconds: float = DEFAULT_RESYNC_SECONDS
    namespaces: tuple[str, ...] = field(default_factory=tuple)
    """Namespaces to watch; empty means all namespaces."""
    max_workers: int = 8
    """Threads for AWS calls (boto3 is synchronous)."""
    repository_name_policy: RepositoryNamePolicy = "any"
    """With "namespace-prefix" (self-service clusters) a repositoryName must start with "<namespace>/" or with a
    prefix listed in its Namespace's ecr.platform.dev/repository-prefixes annotation."""


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
