"""Generates the CustomResourceDefinition from the pydantic models, so schema and code cannot drift."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from pydantic import BaseModel

from ecr_operator.repository.spec import (
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    EcrRepositorySpec,
    EcrRepositoryStatus,
)

_DROP = {"title", "additionalProperties", "$defs"}


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        target = copy.deepcopy(defs[schema["$ref"].split("/")[-1]])
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        return _resolve({**target, **extra}, defs)
    if "anyOf" in schema:
        # Optional[X] in pydantic is anyOf [X, null]; Kubernetes expresses "optional" by omission.
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot express anyOf {schema['anyOf']} in a structural schema")
        merged = {**{k: v for k, v in schema.items() if k != "anyOf"}, **branches[0]}
        return _resolve(merged, defs)
    return schema


def to_structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn a pydantic JSON schema into a Kubernetes structural OpenAPI v3 schema."""
    defs = schema.get("$defs", {}) if defs is None else defs
    schema = _resolve(schema, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP or (key == "default" and value is None) or key == "required":
            continue
        if key == "properties":
            out["properties"] = {name: to_structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = to_structural(value, defs)
        elif key == "const":  # a one-value Literal: Kubernetes' schemas have no const, only enum
            out["enum"] = [value]
        else:
            out[key] = value
    if schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = to_structural(schema["additionalProperties"], defs)
    if schema.get("required"):
        out["required"] = schema["required"]
    # An object property with defaults inside gets `default: {}` so the API server fills them in.
    for name, sub in out.get("properties", {}).items():
        if (
            sub.get("type") == "object"
            and "properties" in sub
            and "default" not in sub
            and any("default" in p for p in sub["properties"].values())
            and name in _DEFAULTED_OBJECTS
        ):
            sub["default"] = {}
    return out


# Objects that always exist after defaulting (their CEL transition rules need oldSelf to exist).
_DEFAULTED_OBJECTS = {"encryption"}


# metadata.name becomes the repository name when spec.repositoryName is empty: it must satisfy ECR's rules
# too (Kubernetes allows "a", "a--b" or "a.-b", ECR does not). Only a rule at the root can see metadata.
DEFAULT_NAME_RULE = {
    "rule": "!has(self.spec) || has(self.spec.repositoryName) || (size(self.metadata.name) >= 2"
    " && self.metadata.name.matches('^[a-z0-9]+(?:[._-][a-z0-9]+)*$'))",
    "message": "metadata.name is the repository name when spec.repositoryName is not set, so it must follow "
    "ECR's naming rules (at least 2 characters, no consecutive separators); set spec.repositoryName otherwise",
}


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    return to_structural(model.model_json_schema(by_alias=True, mode="validation"))


def build_crd() -> dict[str, Any]:
    spec_schema = _model_schema(EcrRepositorySpec)
    status_schema = _model_schema(EcrRepositoryStatus)
    conditions = status_schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": ["aws", "ecr"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "URI", "type": "string", "jsonPath": ".status.repositoryUri"},
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
                        {"name": "Images", "type": "integer", "jsonPath": ".status.images.count"},
                        {"name": "Size", "type": "integer", "jsonPath": ".status.images.totalSizeBytes"},
                        {
                            "name": "Critical",
                            "type": "integer",
                            "jsonPath": ".status.scan.findingSeverityCounts.CRITICAL",
                        },
                        {"name": "High", "type": "integer", "jsonPath": ".status.scan.findingSeverityCounts.HIGH"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-validations": [DEFAULT_NAME_RULE],
                            "description": "An Amazon ECR repository with its KMS key, lifecycle policy, "
                            "cross-account pull policy and tags, managed by ecr-operator.",
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


def render_crd_yaml() -> str:
    header = "# Generated from operator/ecr_operator/repository/spec.py by `ecr-operator crd`; do not edit by hand.\n"
    body: str = yaml.safe_dump(build_crd(), sort_keys=False, width=120)
    return header + body
