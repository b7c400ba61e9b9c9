"""Every kind the operator serves, one line each: a kind is a package that builds a ``core.kind.Kind``."""

from __future__ import annotations

from typing import Any

from ecr_operator.core.kind import Kind
from ecr_operator.registry.kind import KIND as ECR_REGISTRY
from ecr_operator.repository.kind import KIND as ECR_REPOSITORY

KINDS: tuple[Kind[Any], ...] = (ECR_REPOSITORY, ECR_REGISTRY)
