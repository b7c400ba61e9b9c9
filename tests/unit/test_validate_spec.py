"""validate.py: what the API server cannot check — required tags, AWS tag limits, lifecycle semantics."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from ecr_operator.core.errors import SpecError
from ecr_operator.core.settings import DEFAULT_REQUIRED_TAGS
from ecr_operator.repository.manifest import parse_spec
from ecr_operator.repository.spec import EcrRepositorySpec
from ecr_operator.repository.validate import lifecycle_policy_problems, missing_required_tags, tag_problems, validate

REQUIRED = {key: "x" for key in DEFAULT_REQUIRED_TAGS}


def spec(tags: dict[str, str] | None = None, **fields: Any) -> EcrRepositorySpec:
    return EcrRepositorySpec.model_validate({"tags": dict(REQUIRED) if tags is None else tags, **fields})


def invalid(the_spec: EcrRepositorySpec, required: tuple[str, ...] = DEFAULT_REQUIRED_TAGS) -> SpecError:
    with pytest.raises(SpecError) as caught:
        validate(the_spec, required)
    return caught.value


# --- required tags ---------------------------------------------------------------------------------------------


def test_valid_spec_passes() -> None:
    validate(spec(), DEFAULT_REQUIRED_TAGS)


def test_missing_required_tags_names_the_missing_keys() -> None:
    tags = {k: v for k, v in REQUIRED.items() if k not in ("owner", "service")}
    error = invalid(spec(tags))
    assert error.reason == "MissingRequiredTags"
    assert "owner" in error.message and "service" in error.message
    assert "cost_center" not in error.message
    assert error.retryable is False


def test_blank_required_tag_counts_as_missing() -> None:
    assert missing_required_tags({"owner": "  ", "service": "s"}, ["owner", "service"]) == ["owner"]


def test_no_required_tags_configured() -> None:
    validate(spec({}), ())


# --- tag limits -> InvalidSpec naming spec.tags ----------------------------------------------------------------


def _with(**extra: str) -> dict[str, str]:
    return {**REQUIRED, **extra}


@pytest.mark.parametrize(
    ("tags", "fragment"),
    [
        pytest.param(_with(**{"k" * 129: "v"}), "1-128", id="key-too-long"),
        pytest.param(_with(big="v" * 257), "at most 256", id="value-too-long"),
        pytest.param(_with(**{"aws:team": "x"}), "aws:", id="aws-prefix"),
        pytest.param(_with(**{"AWS:team": "x"}), "aws:", id="aws-prefix-any-case"),
        pytest.param(_with(**{"ecr.platform.dev/name": "x"}), "reserved prefix 'ecr.platform.dev/'", id="owner-prefix"),
        pytest.param(_with(**{"team#1": "x"}), "may only hold", id="bad-key-char"),
        pytest.param(_with(team="a;b"), "may only hold", id="bad-value-char"),
        pytest.param(_with(**{"": "x"}), "1-128", id="empty-key"),
    ],
)
def test_tag_limit_violations_are_invalid_spec(tags: dict[str, str], fragment: str) -> None:
    error = invalid(spec(tags))
    assert error.reason == "InvalidSpec"
    assert "spec.tags" in error.message
    assert fragment in error.message


def test_tag_limits_at_the_boundary_pass() -> None:
    tags = _with(**{"k" * 128: "v" * 256, "Name with spaces": "a.b:c/d=e+f-g@h_i", "ünïcode": "日本"})
    assert tag_problems(tags) == []


def test_fifty_tags_including_three_ownership_tags() -> None:
    at_limit = {f"t{i}": "v" for i in range(47)}
    assert tag_problems(at_limit) == []
    validate(spec(at_limit), ())
    # One more is refused by the model (and the CRD, at admission), naming the field.
    with pytest.raises(SpecError) as caught:
        parse_spec({"tags": {f"t{i}": "v" for i in range(48)}})
    assert caught.value.reason == "InvalidSpec"
    assert caught.value.message.startswith("spec.tags: ") and "has 48 tags" in caught.value.message
    assert "at most 47 tags: AWS allows 50" in caught.value.message


def test_all_tag_problems_are_reported_together() -> None:
    error = invalid(spec(_with(**{"aws:x": "1", "y": "v" * 300})))
    assert "aws:" in error.message and "at most 256" in error.message


# --- lifecycle policyText semantics ----------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "untagged",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["v"],
                "countType": "imageCountMoreThan",
                "countNumber": 20,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 3,
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100},
            "action": {"type": "expire"},
        },
    ]
}


def mutated(change: Callable[[dict[str, Any]], None]) -> str:
    document = copy.deepcopy(GOOD)
    change(document)
    return json.dumps(document)


def test_good_lifecycle_policy_passes() -> None:
    assert lifecycle_policy_problems(json.dumps(GOOD)) == []
    validate(spec(lifecycle={"policyText": json.dumps(GOOD, indent=2)}), DEFAULT_REQUIRED_TAGS)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param(_set(("rules",), []), "non-empty 'rules'", id="no-rules"),
        pytest.param(_delete(("rules",)), "non-empty 'rules'", id="rules-missing"),
        pytest.param(
            _set(("rules", 0, "selection", "tagStatus"), "TAGGED"), "tagStatus must be one of", id="tag-status"
        ),
        pytest.param(_delete(("rules", 1, "selection", "tagPrefixList")), "needs tagPrefixList", id="tagged-no-prefix"),
        pytest.param(_delete(("rules", 0, "selection", "countUnit")), "countUnit must be 'days'", id="no-count-unit"),
        pytest.param(
            _set(("rules", 0, "selection", "countUnit"), "hours"), "countUnit must be 'days'", id="unit-hours"
        ),
        pytest.param(
            _set(("rules", 2, "selection", "countUnit"), "days"), "countUnit is not allowed", id="unit-with-count"
        ),
        pytest.param(_set(("rules", 1, "selection", "countNumber"), 0), "countNumber must be a positive", id="count-0"),
        pytest.param(
            _set(("rules", 1, "selection", "countNumber"), "5"), "countNumber must be a positive", id="count-s"
        ),
        pytest.param(_set(("rules", 1, "selection", "countNumber"), True), "countNumber must be", id="count-bool"),
        pytest.param(_set(("rules", 1, "selection", "countType"), "age"), "countType must be one of", id="count-type"),
        pytest.param(_set(("rules", 1, "rulePriority"), 1), "must be unique", id="duplicate-priority"),
        pytest.param(_set(("rules", 1, "rulePriority"), 0), "rulePriority must be a positive", id="priority-0"),
        pytest.param(_set(("rules", 2, "rulePriority"), 0), "rulePriority must be a positive", id="any-priority-0"),
        pytest.param(_set(("rules", 2, "rulePriority"), 2.5), "rulePriority must be a positive", id="priority-float"),
        pytest.param(_set(("rules", 2, "rulePriority"), 10), None, id="gap-in-priorities-is-fine"),
        pytest.param(_set(("rules", 0, "rulePriority"), 9), "'any' rule must have the highest", id="any-not-last"),
        pytest.param(_set(("rules", 1, "action", "type"), "delete"), "action.type must be 'expire'", id="action-type"),
        pytest.param(_delete(("rules", 1, "action")), "action.type must be 'expire'", id="no-action"),
        pytest.param(_delete(("rules", 1, "selection")), "selection must be an object", id="no-selection"),
        pytest.param(_set(("rules", 1), "rule"), "must be an object", id="rule-not-object"),
        pytest.param(
            _set(("rules", 1, "selection", "tagStatus"), "any"), "only one rule with tagStatus 'any'", id="two-any"
        ),
    ],
)
def test_lifecycle_policy_problems(change: Callable[[dict[str, Any]], None], fragment: str | None) -> None:
    problems = lifecycle_policy_problems(mutated(change))
    if fragment is None:
        assert problems == []
    else:
        assert any(fragment in p for p in problems), problems
        assert all(p.startswith("spec.lifecycle.policyText") for p in problems)


def test_lifecycle_policy_not_json() -> None:
    [problem] = lifecycle_policy_problems('{"rules": [ nope ]}')
    assert problem == "spec.lifecycle.policyText: not JSON: Expecting value at line 1 column 13"


def test_lifecycle_policy_not_an_object() -> None:
    assert lifecycle_policy_problems("[1, 2]") == [
        "spec.lifecycle.policyText must be an object with a non-empty 'rules' list"
    ]


def test_lifecycle_problem_names_the_rule_index() -> None:
    problems = lifecycle_policy_problems(mutated(_set(("rules", 1, "selection", "countNumber"), 0)))
    assert any("rules[1]" in p for p in problems)


def test_invalid_policy_text_through_validate_is_invalid_spec() -> None:
    text = mutated(_set(("rules", 0, "action", "type"), "archive"))
    error = invalid(spec(lifecycle={"policyText": text}))
    assert error.reason == "InvalidSpec"
    assert "action.type" in error.message


def test_generated_lifecycle_is_not_policy_checked() -> None:
    validate(spec(lifecycle={"maxImageCount": 3, "expireUntaggedAfterDays": 1}), DEFAULT_REQUIRED_TAGS)


def test_missing_tags_are_reported_before_other_problems() -> None:
    error = invalid(spec({"aws:x": "y"}))
    assert error.reason == "MissingRequiredTags"


def test_tag_values_with_tabs_or_newlines_are_refused() -> None:
    from ecr_operator.repository.validate import tag_problems

    assert tag_problems({"owner": "a\tb"})
    assert tag_problems({"owner": "a\nb"})
    assert not tag_problems({"owner": "a b"})
