"""`plan --offline --admission PATH`: ValidatingAdmissionPolicies judged after the CRD, as the API server's admission
chain runs them on a create: bindings and their namespaceSelector, parameters (paramRef, parameterNotFoundAction),
matchConditions, variables (evaluated when read), messageExpression, failurePolicy, validationActions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecr_operator.cli.main import main
from ecr_operator.cli.policies import selector_matches

POLICY = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "owner-allowed"},
    "spec": {
        "failurePolicy": "Fail",
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": ["ecr.platform.dev"],
                    "apiVersions": ["v1alpha1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["ecrrepositories"],
                }
            ]
        },
        "matchConditions": [
            {"name": "has-tags", "expression": "has(object.spec.tags)"},
            {"name": "created", "expression": "request.operation == 'CREATE' || object.spec != oldObject.spec"},
        ],
        "variables": [
            {"name": "owners", "expression": "params.data.owners.split(',').map(o, o.trim())"},
            # Read only when a tag 'owner' exists: evaluated eagerly it would fail for the others.
            {"name": "owner", "expression": "object.spec.tags.owner"},
        ],
        "validations": [
            {
                "expression": "!('owner' in object.spec.tags) || variables.owner in variables.owners",
                "messageExpression": "'spec.tags.owner ' + variables.owner + ' is not one of ' "
                "+ variables.owners.join(', ') + ' in ' + namespaceObject.metadata.name",
                "reason": "Forbidden",
            }
        ],
    },
}
BINDING = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": "owner-allowed-prod"},
    "spec": {
        "policyName": "owner-allowed",
        "validationActions": ["Deny"],
        "paramRef": {"name": "owners", "namespace": "platform", "parameterNotFoundAction": "Deny"},
        "matchResources": {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
    },
}
PARAMS = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "owners", "namespace": "platform"},
    "data": {"owners": "team-a, team-b"},
}
NAMESPACES = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-prod", "labels": {"env": "prod"}}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-dev", "labels": {"env": "dev"}}},
]


def repository(namespace: str, name: str, tags: dict[str, str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"repositoryName": f"{namespace}/{name}"}
    if tags is not None:
        spec["tags"] = tags
    return {
        "apiVersion": "ecr.platform.dev/v1alpha1",
        "kind": "EcrRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], objects: list[Any], *cluster: Any) -> tuple[int, Any]:
    manifests, admission = tmp_path / "manifests.yaml", tmp_path / "admission.yaml"
    manifests.write_text(yaml.safe_dump_all(objects))
    admission.write_text(yaml.safe_dump_all(cluster))
    args = ["plan", "--offline", str(manifests), "--admission", str(admission), "--required-tags", "", "-o", "json"]
    code = main(args)
    return code, {p["name"]: p for p in json.loads(capsys.readouterr().out)}


def test_a_bound_policy_refuses_with_its_message_expression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, plans = plan(
        tmp_path,
        capsys,
        [
            repository("shop-prod", "good", {"owner": "team-a"}),
            repository("shop-prod", "bad", {"owner": "mallory"}),
            repository("shop-prod", "untagged", None),  # a matchCondition leaves it out
            repository("shop-dev", "elsewhere", {"owner": "mallory"}),  # the binding's namespaceSelector
            repository("shop-prod", "no-owner", {"cost": "x"}),  # variables.owner is never read
        ],
        POLICY,
        BINDING,
        PARAMS,
        *NAMESPACES,
    )
    assert code == 2
    assert {name: p["verdict"] for name, p in plans.items()} == {
        "good": "valid",
        "bad": "invalid",
        "untagged": "valid",
        "elsewhere": "valid",
        "no-owner": "valid",
    }
    [problem] = plans["bad"]["problems"]
    assert problem["message"] == (
        "ValidatingAdmissionPolicy 'owner-allowed' with binding 'owner-allowed-prod' denied request: "
        "spec.tags.owner mallory is not one of team-a, team-b in shop-prod"
    )


def test_missing_parameters_follow_the_bindings_parameter_not_found_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = [repository("shop-prod", "good", {"owner": "team-a"})]
    code, plans = plan(tmp_path, capsys, objects, POLICY, BINDING, *NAMESPACES)
    assert code == 2 and "no params found" in plans["good"]["problems"][0]["message"]
    allow = {**BINDING, "spec": {**BINDING["spec"], "paramRef": {**BINDING["spec"]["paramRef"]}}}
    allow["spec"]["paramRef"]["parameterNotFoundAction"] = "Allow"
    code, plans = plan(tmp_path, capsys, objects, POLICY, allow, *NAMESPACES)
    assert code == 0 and plans["good"]["verdict"] == "valid"


def test_a_warn_binding_warns_and_an_unbound_policy_does_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = [repository("shop-prod", "bad", {"owner": "mallory"})]
    warn = {**BINDING, "spec": {**BINDING["spec"], "validationActions": ["Warn", "Audit"]}}
    code, plans = plan(tmp_path, capsys, objects, POLICY, warn, PARAMS, *NAMESPACES)
    assert code == 0 and plans["bad"]["verdict"] == "valid"
    assert "mallory is not one of" in plans["bad"]["warnings"][0]
    code, plans = plan(tmp_path, capsys, objects, POLICY, PARAMS, *NAMESPACES)
    assert code == 0 and plans["bad"]["warnings"] == []


def test_an_expression_that_cannot_be_evaluated_follows_the_failure_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = json.loads(json.dumps(POLICY))
    broken["spec"]["validations"][0]["expression"] = "object.spec.nothing == 1"
    objects = [repository("shop-prod", "good", {"owner": "team-a"})]
    code, plans = plan(tmp_path, capsys, objects, broken, BINDING, PARAMS, *NAMESPACES)
    assert code == 2 and "cannot be evaluated" in plans["good"]["problems"][0]["message"]
    broken["spec"]["failurePolicy"] = "Ignore"
    code, plans = plan(tmp_path, capsys, objects, broken, BINDING, PARAMS, *NAMESPACES)
    assert code == 0


def test_the_crd_judges_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = repository("shop-prod", "bad", {"owner": "mallory"})
    bad["spec"]["repositoryName"] = "Upper"
    code, plans = plan(tmp_path, capsys, [bad], POLICY, BINDING, PARAMS, *NAMESPACES)
    assert code == 2 and [p["field"] for p in plans["bad"]["problems"]] == ["spec.repositoryName"]


def test_a_malformed_admission_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifests = tmp_path / "m.yaml"
    manifests.write_text(yaml.safe_dump(repository("shop-prod", "good", {"owner": "team-a"})))
    (tmp_path / "policies.yaml").write_text("kind: [")
    assert main(["plan", "--offline", str(manifests), "--admission", str(tmp_path / "policies.yaml")]) == 2
    assert "--admission:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        (None, {}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
    ],
)
def test_label_selectors(selector: Any, labels: dict[str, str], selected: bool) -> None:
    assert selector_matches(selector, labels) is selected
