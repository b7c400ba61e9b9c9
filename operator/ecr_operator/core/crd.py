"""Builds a kind's CustomResourceDefinition from its description and pydantic models, so schema and code cannot
drift: one builder for every kind."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from ecr_operator.core.api import GROUP, VERSION

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


def to_structural(
    schema: dict[str, Any], defs: dict[str, Any] | None = None, *, defaulted: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Turn a pydantic JSON schema into a Kubernetes structural OpenAPI v3 schema.

    An object property named in ``defaulted`` whose fields have defaults gets ``default: {}``, so the API server
    fills them in and the object always exists (its CEL transition rules need ``oldSelf`` to exist)."""
    defs = schema.get("$defs", {}) if defs is None else defs
    schema = _resolve(schema, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP or (key == "default" and value is None) or key == "required":
            continue
        if key == "properties":
            out["properties"] = {name: to_structural(sub, defs, defaulted=defaulted) for name, sub in value.items()}
        elif key == "items":
            out["items"] = to_structural(value, defs, defaulted=defaulted)
        elif key == "const":  # a one-value Literal: Kubernetes' schemas have no const, only enum
            out["enum"] = [value]
        else:
            out[key] = value
    if schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = to_structural(schema["additionalProperties"], defs, defaulted=defaulted)
    if schema.get("required"):
        out["required"] = schema["required"]
    for name, sub in out.get("properties", {}).items():
        if (
            sub.get("type") == "object"
            and "properties" in sub
            and "default" not in sub
            and any("default" in p for p in sub["properties"].values())
            and name in defaulted
        ):
            sub["default"] = {}
    return out


@dataclass(frozen=True)
class Column:
    """A printer column of ``kubectl get``."""

    name: str
    type: Literal["string", "integer", "date"]
    json_path: str


READY_COLUMN = Column("Ready", "string", '.status.conditions[?(@.type=="Ready")].status')
REASON_COLUMN = Column("Reason", "string", '.status.conditions[?(@.type=="Ready")].reason')
AGE_COLUMN = Column("Age", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True)
class Names:
    """A kind's names, as ``kubectl`` knows them."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True)
class CrdDescription:
    """What makes one kind's CRD: its names, scope, models, description, columns and root rules."""

    names: Names
    scope: Literal["Namespaced", "Cluster"]
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: tuple[Column, ...] = ()
    """``kubectl get`` shows these first, then Ready and Reason, then ``details``, then Age."""
    details: tuple[Column, ...] = ()
    root_rules: tuple[Mapping[str, str], ...] = ()
    """CEL rules on the whole object (the only place that sees metadata and spec together)."""
    defaulted: frozenset[str] = frozenset()
    """Object properties that always exist after defaulting (see :func:`to_structural`)."""

    @property
    def kind(self) -> str:
        return self.names.kind

    @property
    def plural(self) -> str:
        return self.names.plural

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _model_schema(model: type[BaseModel], defaulted: frozenset[str] = frozenset()) -> dict[str, Any]:
    return to_structural(model.model_json_schema(by_alias=True, mode="validation"), defaulted=defaulted)


def build_crd(crd: CrdDescription) -> dict[str, Any]:
    spec_schema = _model_schema(crd.spec, crd.defaulted)
    status_schema = _model_schema(crd.status)
    conditions = status_schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    root: dict[str, Any] = {"type": "object"}
    if crd.root_rules:
        root["x-kubernetes-validations"] = [dict(rule) for rule in crd.root_rules]
    root["description"] = crd.description
    root["properties"] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {**spec_schema, "default": {}},
        "status": status_schema,
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd.name},
        "spec": {
            "group": GROUP,
            "scope": crd.scope,
            "names": {
                "kind": crd.kind,
                "listKind": f"{crd.kind}List",
                "plural": crd.plural,
                "singular": crd.names.singular,
                "shortNames": list(crd.names.short_names),
                "categories": list(crd.names.categories),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": c.name, "type": c.type, "jsonPath": c.json_path}
                        for c in (*crd.columns, READY_COLUMN, REASON_COLUMN, *crd.details, AGE_COLUMN)
                    ],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def render_crd_yaml(crd: CrdDescription) -> str:
    source = crd.spec.__module__.replace(".", "/")
    header = f"# Generated from operator/{source}.py by `ecr-operator crd --kind {crd.kind}`; do not edit by hand.\n"
    body: str = yaml.safe_dump(build_crd(crd), sort_keys=False, width=120)
    return header + body
