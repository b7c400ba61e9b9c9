"""The guardrails of ``deploy/policies/`` and their corpus of cases (``tests/guardrails/``), as data.

One loader for every judge of the corpus: the API server (the end-to-end test installs the policies and sends
each case), the operator's own checks (the agreement test) and an offline evaluator. ``tests/guardrails/README.md``
describes the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .binaries import hack_dir

__all__ = [
    "CORPUS_DIR_NAME",
    "PARAMETERS_CONFIGMAP",
    "Case",
    "CorpusNamespace",
    "corpus_dir",
    "load_cases",
    "load_namespaces",
    "policies_dir",
    "policy_documents",
    "shipped_parameters",
]

PARAMETERS_CONFIGMAP = "ecr-guardrails"
CORPUS_DIR_NAME = "guardrails"
_GROUP_VERSION = "ecr.platform.dev/v1alpha1"

Outcome = Literal["allowed", "denied"]


def _repository_root() -> Path:
    return hack_dir().parent


def policies_dir() -> Path:
    """``deploy/policies/`` of this checkout."""
    return _repository_root() / "deploy" / "policies"


def corpus_dir() -> Path:
    """``tests/guardrails/`` of this checkout."""
    return _repository_root() / "tests" / CORPUS_DIR_NAME


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def policy_documents(directory: Path | None = None) -> list[dict[str, Any]]:
    """The component's objects in its kustomization's order: policies, bindings, the parameter ConfigMap."""
    base = directory or policies_dir()
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in _documents(base / name)]


def shipped_parameters(directory: Path | None = None) -> dict[str, str]:
    """The data of the ConfigMap ecr-guardrails as shipped."""
    for doc in policy_documents(directory):
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == PARAMETERS_CONFIGMAP:
            return {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
    raise LookupError(f"no ConfigMap {PARAMETERS_CONFIGMAP} in {directory or policies_dir()}")


@dataclass(frozen=True)
class CorpusNamespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.name, "labels": dict(self.labels), "annotations": dict(self.annotations)},
        }


def load_namespaces(directory: Path | None = None) -> dict[str, CorpusNamespace]:
    entries = yaml.safe_load(((directory or corpus_dir()) / "namespaces.yaml").read_text())
    return {
        e["name"]: CorpusNamespace(e["name"], dict(e.get("labels") or {}), dict(e.get("annotations") or {}))
        for e in entries
    }


@dataclass(frozen=True)
class Case:
    """One manifest and what the guardrails must answer to it."""

    rule: str
    """The corpus file's name without ``.yaml``."""
    policy: str
    name: str
    object: Mapping[str, Any]
    expect: Outcome
    namespace: str | None = None
    message: str | None = None
    old: Mapping[str, Any] | None = None
    params: Mapping[str, str | None] = field(default_factory=dict)
    twin: str | None = None
    """The Reason (member name's value) the operator reports for the same rule, if the rule has an operator twin."""
    future: str | None = None

    @property
    def id(self) -> str:
        return f"{self.rule}: {self.name}"

    def parameters(self, shipped: Mapping[str, str]) -> dict[str, str]:
        """The ConfigMap data for this case: the shipped data with the case's changes."""
        data = dict(shipped)
        for key, value in self.params.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return data

    def manifest(self, which: Literal["object", "old"] = "object") -> dict[str, Any]:
        """The full object (``apiVersion``, ``kind``, ``metadata.namespace`` filled in)."""
        source = self.object if which == "object" else self.old
        if source is None:
            raise ValueError(f"{self.id} has no old object")
        body: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(source)))  # a deep, plain copy
        body.setdefault("apiVersion", _GROUP_VERSION)
        body.setdefault("kind", "EcrRepository")
        if self.namespace is not None:
            body["metadata"]["namespace"] = self.namespace
        return body


def _case(rule: str, policy: str, twin: str | None, entry: Mapping[str, Any]) -> Case:
    expect = entry["expect"]
    if expect not in ("allowed", "denied"):
        raise ValueError(f"{rule}: {entry.get('name')!r}: expect must be allowed or denied, not {expect!r}")
    if expect == "denied" and not entry.get("message"):
        raise ValueError(f"{rule}: {entry.get('name')!r}: a denied case names a message fragment")
    return Case(
        rule=rule,
        policy=policy,
        name=entry["name"],
        object=entry["object"],
        expect=expect,
        namespace=entry.get("namespace"),
        message=entry.get("message"),
        old=entry.get("old"),
        params=dict(entry.get("params") or {}),
        twin=twin,
        future=entry.get("future"),
    )


def load_cases(directory: Path | None = None) -> list[Case]:
    """Every case of every rule file (not ``namespaces.yaml``), in file order."""
    base = directory or corpus_dir()
    cases: list[Case] = []
    for path in sorted(base.glob("*.yaml")):
        if path.name == "namespaces.yaml":
            continue
        document = yaml.safe_load(path.read_text())
        cases.extend(_case(path.stem, document["policy"], document.get("twin"), e) for e in document["cases"])
    return cases
