"""deploy/policies and deploy/team-roles as files: each policy bound and parameterised the same way, every denial
worded by a messageExpression, only the CEL an offline evaluator needs, the chart's copies equal to the originals,
and the corpus well-formed. (tests/e2e/test_guardrails.py runs them on a real API server.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecr_operator_dev.policycorpus import (
    PARAMETERS_CONFIGMAP,
    load_cases,
    load_namespaces,
    policies_dir,
    policy_documents,
    shipped_parameters,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "ecr-operator"
COPIES = {
    "deploy/policies/policies.yaml": "files/guardrails-policies.yaml",
    "deploy/policies/bindings.yaml": "files/guardrails-bindings.yaml",
    "deploy/team-roles/roles.yaml": "files/team-roles.yaml",
}
DOCUMENTS = policy_documents()
POLICIES = {d["metadata"]["name"]: d for d in DOCUMENTS if d["kind"] == "ValidatingAdmissionPolicy"}
BINDINGS = {d["metadata"]["name"]: d for d in DOCUMENTS if d["kind"] == "ValidatingAdmissionPolicyBinding"}

# Standard CEL's functions and macros, and the four of CEL's strings extension the policies use. An offline
# evaluator (`ecr-operator plan --offline`) must provide exactly these.
STANDARD_CEL = {"has", "size", "all", "exists", "exists_one", "map", "filter", "dyn", "startsWith", "endsWith", "type"}
STRINGS_EXTENSION = {"split", "trim", "join", "lowerAscii"}
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def expressions(policy: dict[str, Any]) -> Iterator[str]:
    spec = policy["spec"]
    for section in ("matchConditions", "variables"):
        for entry in spec.get(section, []):
            yield entry["expression"]
    for validation in spec["validations"]:
        yield validation["expression"]
        yield validation["messageExpression"]


def test_the_chart_carries_exact_copies() -> None:
    for original, copy in COPIES.items():
        assert (CHART / copy).read_text() == (REPO_ROOT / original).read_text(), (
            f"charts/ecr-operator/{copy} differs from {original}: cp {original} charts/ecr-operator/{copy}"
        )


def test_the_chart_defaults_to_the_shipped_parameters() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["selfService"]["guardrails"]["parameters"] == shipped_parameters()
    assert values["selfService"]["guardrails"]["enabled"] is False
    assert values["selfService"]["teamRoles"] is False


def test_each_policy_has_its_binding_and_parameters() -> None:
    assert set(POLICIES) == set(BINDINGS)
    for name, policy in POLICIES.items():
        binding = BINDINGS[name]["spec"]
        assert binding["policyName"] == name
        assert binding["validationActions"] == ["Deny"]
        assert policy["spec"]["failurePolicy"] == "Fail"
        if "paramKind" in policy["spec"]:
            assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
            assert binding["paramRef"] == {
                "name": PARAMETERS_CONFIGMAP,
                "namespace": "ecr-operator",
                "parameterNotFoundAction": "Deny",
            }
        else:
            assert "paramRef" not in binding
            assert all("params" not in e for e in expressions(policy)), name


def test_every_denial_is_worded_for_a_developer() -> None:
    for name, policy in POLICIES.items():
        for validation in policy["spec"]["validations"]:
            assert "messageExpression" in validation, name
            assert "spec." in validation["messageExpression"] or "repository name" in validation["messageExpression"]


def test_the_policies_use_only_standard_cel_and_the_strings_extension() -> None:
    used: set[str] = set()
    for policy in POLICIES.values():
        for expression in expressions(policy):
            used |= set(_CALL.findall(_STRING.sub("''", expression)))
    assert used <= STANDARD_CEL | STRINGS_EXTENSION, used - STANDARD_CEL - STRINGS_EXTENSION
    assert used >= STRINGS_EXTENSION  # if one is no longer needed, drop it from the docs and from this list


def test_updates_of_metadata_alone_are_never_judged() -> None:
    """The operator's finalizer and annotations are updates too: a rule must never block a deletion."""
    for name, policy in POLICIES.items():
        operations = {op for rule in policy["spec"]["matchConstraints"]["resourceRules"] for op in rule["operations"]}
        if "UPDATE" in operations:
            conditions = [c["expression"] for c in policy["spec"].get("matchConditions", [])]
            assert "request.operation == 'CREATE' || object.spec != oldObject.spec" in conditions, name
        assert "DELETE" not in operations, name


def test_the_component_lists_its_files() -> None:
    kustomization = yaml.safe_load((policies_dir() / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Component"
    files = sorted(p.name for p in policies_dir().glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files


@pytest.mark.parametrize("case", load_cases(), ids=lambda c: c.id)
def test_the_corpus_is_well_formed(case: Any) -> None:
    assert case.policy in POLICIES
    manifest = case.manifest()
    if manifest["kind"] == "EcrRepository":
        assert case.namespace in load_namespaces()
    else:
        assert case.namespace is None
    if case.old is not None:
        assert case.manifest("old")["metadata"]["name"] == manifest["metadata"]["name"]
