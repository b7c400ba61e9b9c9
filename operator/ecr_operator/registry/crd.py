"""The EcrRegistry's CRD description: cluster-scoped, its names and printer columns."""

from __future__ import annotations

from ecr_operator.core.crd import Column, CrdDescription, Names
from ecr_operator.registry.spec import (
    REGISTRY_KIND,
    REGISTRY_PLURAL,
    REGISTRY_SHORT_NAMES,
    REGISTRY_SINGULAR,
    EcrRegistrySpec,
    EcrRegistryStatus,
)

# Not in the category "ecr": `kubectl get ecr` lists the repositories.
NAMES = Names(REGISTRY_KIND, REGISTRY_PLURAL, REGISTRY_SINGULAR, tuple(REGISTRY_SHORT_NAMES), categories=("aws",))

CRD = CrdDescription(
    NAMES,
    "Cluster",
    EcrRegistrySpec,
    EcrRegistryStatus,
    "Registry-level settings of one account's Amazon ECR registry in one region (replication, registry scanning, "
    "the registry policy), managed by ecr-operator. One EcrRegistry per account and region.",
    columns=(Column("Region", "string", ".status.region"), Column("Registry", "string", ".status.registryId")),
)
