"""The EcrRegistry CustomResourceDefinition, generated from ``registry/spec.py`` like ``core/crd.py``'s."""

from __future__ import annotations

from typing import Any

import yaml

from ecr_operator.core.crd import _model_schema
from ecr_operator.registry.spec import (
    REGISTRY_KIND,
    REGISTRY_PLURAL,
    REGISTRY_SHORT_NAMES,
    REGISTRY_SINGULAR,
    EcrRegistrySpec,
    EcrRegistryStatus,
)
from ecr_operator.repository.spec import GROUP, VERSION


def build_registry_crd() -> dict[str, Any]:
    spec_schema = _model_schema(EcrRegistrySpec)
    status_schema = _model_schema(EcrRegistryStatus)
    conditions = status_schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{REGISTRY_PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "kind": REGISTRY_KIND,
                "listKind": f"{REGISTRY_KIND}List",
                "plural": REGISTRY_PLURAL,
                "singular": REGISTRY_SINGULAR,
                "shortNames": REGISTRY_SHORT_NAMES,
                "categories": ["aws"],  # not "ecr": `kubectl get ecr` lists the repositories
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Region", "type": "string", "jsonPath": ".status.region"},
                        {"name": "Registry", "type": "string", "jsonPath": ".status.registryId"},
                        {
                            "name": "Ready",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                        },
                        {
                            "name": "Reason",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "Registry-level settings of one account's Amazon ECR registry in one "
                            "region (replication, registry scanning, the registry policy), managed by ecr-operator. "
                            "One EcrRegistry per account and region.",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": {**spec_schema, "default": {}},
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_registry_crd_yaml() -> str:
    header = "# Generated from operator/ecr_operator/registry/spec.py by `ecr-operator crd --kind EcrRegistry`; "
    header += "do not edit by hand.\n"
    body: str = yaml.safe_dump(build_registry_crd(), sort_keys=False, width=120)
    return header + body
