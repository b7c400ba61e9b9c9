"""The EcrRegistry's CRD description: cluster-scoped, its names and printer columns."""

from __future__ import annotations

from ecr_operator.core.crd import AGE_COLUMN, READY_COLUMN, REASON_COLUMN, Column, CrdDescription
from ecr_operator.registry.spec import (
    REGISTRY_KIND,
    REGISTRY_PLURAL,
    REGISTRY_SHORT_NAMES,
    REGISTRY_SINGULAR,
    EcrRegistrySpec,
    EcrRegistryStatus,
)

CRD = CrdDescription(
    kind=REGISTRY_KIND,
    plural=REGISTRY_PLURAL,
    singular=REGISTRY_SINGULAR,
    short_names=tuple(REGISTRY_SHORT_NAMES),
    categories=("aws",),  # not "ecr": `kubectl get ecr` lists the repositories
    scope="Cluster",
    description="Registry-level settings of one account's Amazon ECR registry in one region (replication, registry "
    "scanning, the registry policy), managed by ecr-operator. One EcrRegistry per account and region.",
    spec=EcrRegistrySpec,
    status=EcrRegistryStatus,
    columns=(
        Column("Region", "string", ".status.region"),
        Column("Registry", "string", ".status.registryId"),
        READY_COLUMN,
        REASON_COLUMN,
        AGE_COLUMN,
    ),
)
