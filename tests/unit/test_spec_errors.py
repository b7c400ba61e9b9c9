"""Every error of parsing, rendering, validating or comparing a spec is InvalidSpec naming the field (issue 18):
the known cases one by one, through the functions the handlers and ``ecr-operator plan`` call."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecr_operator.core.compare import lifecycles_equal, normalize_policy, policies_equal
from ecr_operator.core.documents import MAX_DEPTH
from ecr_operator.core.errors import SpecError
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import DEFAULT_REQUIRED_TAGS, Settings
from ecr_operator.registry.manifest import desired_registry
from ecr_operator.registry.parts.registry import ObservedRegistry, RegistryDeps
from ecr_operator.registry.parts.registry import plan as plan_registry
from ecr_operator.repository import manifest
from ecr_operator.repository.manifest import desired_for, request_for

SETTINGS = Settings(region="eu-west-1", cluster_id="c1")
TAGS = {key: "x" for key in DEFAULT_REQUIRED_TAGS}
ACCOUNT = "123456789012"

KEEP = {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}


def lifecycle_text(*selections: dict[str, Any]) -> str:
    rules = [
        {"rulePriority": i + 1, "description": "a rule of the test", "selection": s, "action": {"type": "expire"}}
        for i, s in enumerate(selections)
    ]
    return json.dumps({"rules": rules}, indent=2)


def refused(spec: dict[str, Any]) -> SpecError:
    """The refusal of ``spec`` (required tags added), through request_for and desired_for alike."""
    spec = {"tags": TAGS, **spec}
    with pytest.raises(SpecError) as caught:
        request_for(spec, "team-a", "web", {}, SETTINGS)
    assert caught.value.reason == Reason.INVALID_SPEC
    assert caught.value.retryable is False
    return caught.value


def with_policy_text(text: str) -> dict[str, Any]:
    return {"lifecycle": {"policyText": text}}


# --- a lifecycle policyText that is not JSON ------------------------------------------------------------------


def test_a_json_typo_is_invalid_spec_with_its_position() -> None:
    text = '{"rules": [{"rulePriority": 1 "selection": {}}]}' + " " * 60
    error = refused(with_policy_text(text))
    assert error.message == "spec.lifecycle.policyText: not JSON: Expecting ',' delimiter at line 1 column 31"


def test_a_json_typo_on_a_later_line_names_that_line() -> None:
    text = lifecycle_text(KEEP).replace('"countNumber": 30', '"countNumber": 30,', 1)
    error = refused(with_policy_text(text))
    assert error.message.startswith("spec.lifecycle.policyText: not JSON: Expecting property name enclosed in")
    assert error.message.endswith("at line 10 column 7"), error.message


def test_the_delete_and_inventory_path_refuses_it_too() -> None:
    # desired_for renders without the checks (a delete must go on whatever the settings say); it must still
    # raise the operator's error, never a JSONDecodeError.
    spec = {"tags": TAGS, **with_policy_text('{"rules": [1 2]}' + " " * 90)}
    with pytest.raises(SpecError) as caught:
        desired_for(spec, "team-a", "web", SETTINGS)
    assert caught.value.message == "spec.lifecycle.policyText: not JSON: Expecting ',' delimiter at line 1 column 14"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            '{"rules": [], "n": NaN}' + " " * 80,
            "spec.lifecycle.policyText: not JSON: NaN is not a JSON value",
            id="NaN",
        ),
        pytest.param(
            '{"rules": [], "n": -Infinity}' + " " * 80,
            "spec.lifecycle.policyText: not JSON: -Infinity is not a JSON value",
            id="Infinity",
        ),
        pytest.param(
            '{"rules": [' + "9" * 5000 + "]}", "spec.lifecycle.policyText: not JSON: Exceeds the limit", id="huge-int"
        ),
    ],
)
def test_json_python_would_read_but_aws_would_not_is_invalid_spec(text: str, message: str) -> None:
    assert refused(with_policy_text(text)).message.startswith(message)


# --- deeply nested JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_DEPTH, 900, 10_000], ids=["just-over-the-bound", "900", "10000"])
def test_deep_nesting_is_invalid_spec(levels: int) -> None:
    # 10000 levels exhaust json's recursive scanner (RecursionError); fewer parse but are refused by depth.
    text = '{"rules": ' + "[" * levels + "]" * levels + "}" + " " * 40
    error = refused(with_policy_text(text))
    assert error.message == f"spec.lifecycle.policyText: nested deeper than {MAX_DEPTH} levels"


def test_nesting_within_the_bound_is_judged_on_its_content() -> None:
    text = '{"rules": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}" + " " * 40
    assert "rules[0] must be an object" in refused(with_policy_text(text)).message


# --- shapes that parse but are not lifecycle policies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "fragment"),
    [
        pytest.param(
            {"tagStatus": "tagged", "tagPrefixList": ["v", 1], "countType": "imageCountMoreThan", "countNumber": 5},
            "rules[0].selection.tagPrefixList must be a list of non-empty strings",
            id="tagPrefixList-with-a-number",
        ),
        pytest.param(
            {"tagStatus": "tagged", "tagPatternList": "v*", "countType": "imageCountMoreThan", "countNumber": 5},
            "rules[0].selection.tagPatternList must be a list of non-empty strings",
            id="tagPatternList-a-string",
        ),
        pytest.param(
            {**KEEP, "tagStatus": ["any"]}, "rules[0].selection.tagStatus must be one of", id="tagStatus-a-list"
        ),
        pytest.param(
            {**KEEP, "countType": {"a": 1}}, "rules[0].selection.countType must be one of", id="countType-obj"
        ),
    ],
)
def test_a_lifecycle_rule_of_the_wrong_types_is_invalid_spec(selection: dict[str, Any], fragment: str) -> None:
    assert fragment in refused(with_policy_text(lifecycle_text(selection))).message


def test_comparing_lifecycle_documents_of_any_shape_never_raises() -> None:
    # What another tool stored in AWS is not checked by the operator: the comparison must take it as it is.
    mixed = {"rules": [{"rulePriority": "1", "selection": {"tagPrefixList": ["v", 1, None, {"a": 1}]}}]}
    other = {"rules": [{"rulePriority": 1, "selection": [1, 2]}, "rule", {"rulePriority": None}]}
    assert lifecycles_equal(mixed, json.loads(json.dumps(mixed)))
    assert not lifecycles_equal(mixed, other)
    assert not lifecycles_equal({"rules": 5}, other)


# --- registry policy documents --------------------------------------------------------------------------------


def registry_refused(spec: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as caught:
        desired_registry(spec, "main", SETTINGS)
    assert caught.value.reason == Reason.INVALID_SPEC
    return caught.value


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            {"Statement": "abc"},
            "spec.registryPolicy.policyText: its Statement must be an object or a list of objects",
            id="statement-a-string",
        ),
        pytest.param(
            {"Statement": 5},
            "spec.registryPolicy.policyText: its Statement must be an object or a list of objects",
            id="statement-a-number",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow"}, "x"]},
            "spec.registryPolicy.policyText: its Statement must be an object or a list of objects",
            id="statement-list-with-a-string",
        ),
        pytest.param(
            {"Version": 2012, "Statement": []},
            "spec.registryPolicy.policyText: its Version must be a string",
            id="version-a-number",
        ),
    ],
)
def test_a_registry_policy_of_the_wrong_shape_is_invalid_spec(document: dict[str, Any], message: str) -> None:
    error = registry_refused({"registryPolicy": {"policyText": json.dumps(document)}})
    assert error.message == message


def test_a_registry_policy_json_typo_is_invalid_spec_with_its_position() -> None:
    error = registry_refused({"registryPolicy": {"policyText": '{"Statement": [}'}})
    assert error.message == "spec.registryPolicy.policyText: not JSON: Expecting value at line 1 column 16"


def test_a_deeply_nested_registry_policy_is_invalid_spec() -> None:
    text = '{"Statement": ' + "[" * 5000 + "]" * 5000 + "}"
    error = registry_refused({"registryPolicy": {"policyText": text}})
    assert error.message == f"spec.registryPolicy.policyText: nested deeper than {MAX_DEPTH} levels"


def test_a_single_statement_object_is_a_policy() -> None:
    statement = {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:*", "Resource": "*"}
    desired = desired_registry({"registryPolicy": {"policyText": json.dumps({"Statement": statement})}}, "m", SETTINGS)
    observed = ObservedRegistry(ACCOUNT, {"rules": []}, None, None)
    [action] = plan_registry(desired, observed, RegistryDeps()).actions
    assert json.loads(action.params["policyText"])["Statement"] == [statement]


def test_comparing_policy_documents_of_any_shape_never_raises() -> None:
    for statements in ("abc", 5, None, [1, "a"], {"Effect": "Allow"}):
        normalize_policy({"Statement": statements})
    assert not policies_equal({"Statement": "abc"}, {"Statement": ["a", "b", "c"]})


# --- not an object at all, and the net under everything ------------------------------------------------------


@pytest.mark.parametrize("spec", [["a"], "abc", 5, None], ids=["list", "string", "number", "null"])
def test_a_spec_that_is_not_an_object_is_invalid_spec(spec: Any) -> None:
    with pytest.raises(SpecError) as caught:
        request_for(spec, "team-a", "web", {}, SETTINGS)
    assert caught.value.message.startswith("spec: must be an object")
    with pytest.raises(SpecError) as caught:
        desired_registry(spec, "main", SETTINGS)
    assert caught.value.message.startswith("spec: must be an object")


@pytest.mark.parametrize("error", [ValueError("bad"), TypeError("bad"), RecursionError("deep")])
def test_any_other_error_of_spec_processing_is_invalid_spec(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise error

    monkeypatch.setattr(manifest, "render", broken)
    with pytest.raises(SpecError) as caught:
        request_for({"tags": TAGS}, "team-a", "web", {}, SETTINGS)
    assert caught.value.reason == Reason.INVALID_SPEC
    assert caught.value.message == f"spec: cannot be processed: {type(error).__name__}: {error}"
    with pytest.raises(SpecError):
        desired_for({"tags": TAGS}, "team-a", "web", SETTINGS)
