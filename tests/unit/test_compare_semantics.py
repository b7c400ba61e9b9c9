"""compare.py: policies and lifecycle policies are equal by meaning, never by string."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecr_operator.core.compare import (
    lifecycles_equal,
    normalize_policy,
    parse_json,
    policies_equal,
    tag_changes,
    tags_from_list,
)

A1, A2, A3 = "111111111111", "222222222222", "333333333333"
ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def root(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def pull_policy(accounts: list[str] | None = None, actions: list[str] | None = None, effect: str = "Allow") -> Any:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CrossAccountPull",
                "Effect": effect,
                "Principal": {"AWS": [root(a) for a in (accounts or [A1, A2])]},
                "Action": list(actions or ACTIONS),
            }
        ],
    }


def two_statement_policy() -> Any:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": [root(A1)]}, "Action": ACTIONS},
            {
                "Sid": "Push",
                "Effect": "Allow",
                "Principal": {"AWS": root(A2), "Service": "codebuild.amazonaws.com"},
                "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload"],
                "Condition": {"StringEquals": {"aws:SourceAccount": [A2, A3]}},
            },
        ],
    }


# --- policies: equal by meaning --------------------------------------------------------------------------------


def test_policy_equal_to_itself_and_copy() -> None:
    assert policies_equal(pull_policy(), copy.deepcopy(pull_policy()))


def test_policy_key_order_and_whitespace_do_not_matter() -> None:
    text = json.dumps(pull_policy(), indent=7, sort_keys=True)
    reordered = json.loads(text)
    assert policies_equal(pull_policy(), parse_json(text))
    assert policies_equal(pull_policy(), dict(reversed(list(reordered.items()))))


def test_policy_statement_order_does_not_matter() -> None:
    policy = two_statement_policy()
    swapped = copy.deepcopy(policy)
    swapped["Statement"].reverse()
    assert policies_equal(policy, swapped)


def test_policy_single_statement_object_equals_one_element_list() -> None:
    policy = pull_policy()
    single = {**policy, "Statement": policy["Statement"][0]}
    assert policies_equal(policy, single)


def test_policy_single_string_equals_one_element_list() -> None:
    left = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": [root(A1)]}, "Action": ["ecr:BatchGetImage"]}],
    }
    right = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": root(A1)}, "Action": "ecr:BatchGetImage"}],
    }
    assert policies_equal(left, right)


def test_policy_resource_string_vs_list() -> None:
    arn = "arn:aws:ecr:eu-west-1:123456789012:repository/web"
    left = {"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": arn}]}
    right = {"Statement": [{"Effect": "Allow", "Action": ["ecr:*"], "Resource": [arn]}]}
    assert policies_equal(left, right)


def test_policy_account_id_equals_root_arn() -> None:
    by_id = pull_policy()
    by_id["Statement"][0]["Principal"]["AWS"] = [A2, A1]
    assert policies_equal(pull_policy(), by_id)


def test_policy_mixed_duplicate_principals_collapse() -> None:
    mixed = pull_policy()
    mixed["Statement"][0]["Principal"]["AWS"] = [A1, root(A1), root(A2)]
    assert policies_equal(pull_policy(), mixed)


@pytest.mark.parametrize("wildcard", ["*", {"AWS": "*"}, {"AWS": ["*"]}])
def test_policy_star_principal_forms_are_equal(wildcard: Any) -> None:
    def policy(principal: Any) -> Any:
        return {"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "ecr:BatchGetImage"}]}

    assert policies_equal(policy("*"), policy(wildcard))
    assert not policies_equal(policy(wildcard), policy({"AWS": root(A1)}))


def test_policy_action_case_does_not_matter() -> None:
    shouted = pull_policy(actions=[a.upper() for a in ACTIONS])
    assert policies_equal(pull_policy(), shouted)


def test_policy_condition_values_string_vs_list() -> None:
    policy = two_statement_policy()
    other = copy.deepcopy(policy)
    other["Statement"][1]["Condition"]["StringEquals"]["aws:SourceAccount"] = [A3, A2]
    assert policies_equal(policy, other)
    single = copy.deepcopy(policy)
    single["Statement"][1]["Condition"]["StringEquals"]["aws:SourceAccount"] = A2
    assert not policies_equal(policy, single)


def test_policy_missing_version_means_2008() -> None:
    left: dict[str, Any] = {"Statement": []}
    assert policies_equal(left, {"Version": "2008-10-17", "Statement": []})
    assert not policies_equal(left, {"Version": "2012-10-17", "Statement": []})


# --- policies: real differences --------------------------------------------------------------------------------


def test_policy_different_account_differs() -> None:
    assert not policies_equal(pull_policy([A1, A2]), pull_policy([A1, A3]))


def test_policy_extra_account_differs() -> None:
    assert not policies_equal(pull_policy([A1, A2]), pull_policy([A1, A2, A3]))


def test_policy_different_action_differs() -> None:
    assert not policies_equal(pull_policy(), pull_policy(actions=[*ACTIONS[:2], "ecr:PutImage"]))


def test_policy_missing_action_differs() -> None:
    assert not policies_equal(pull_policy(), pull_policy(actions=ACTIONS[:2]))


def test_policy_allow_vs_deny_differs() -> None:
    assert not policies_equal(pull_policy(), pull_policy(effect="Deny"))


def test_policy_extra_statement_differs() -> None:
    policy = pull_policy()
    extra = copy.deepcopy(policy)
    extra["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "ecr:DeleteRepository"})
    assert not policies_equal(policy, extra)


def test_policy_vs_none_differs() -> None:
    assert not policies_equal(pull_policy(), None)
    assert policies_equal(None, None)


def test_normalize_policy_is_idempotent_on_equality() -> None:
    policy = two_statement_policy()
    assert normalize_policy(policy) == normalize_policy(json.loads(json.dumps(policy, indent=2)))


def test_parse_json_empty_is_none() -> None:
    assert parse_json(None) is None
    assert parse_json("") is None
    assert parse_json('{"a": 1}') == {"a": 1}


# --- policies: properties --------------------------------------------------------------------------------------

accounts_st = st.lists(st.from_regex(r"[0-9]{12}", fullmatch=True), min_size=1, max_size=6, unique=True)


def _principal_form(account: str, as_arn: bool) -> str:
    return root(account) if as_arn else account


@settings(max_examples=60, deadline=None)
@given(
    accounts=accounts_st,
    data=st.data(),
    indent=st.one_of(st.none(), st.integers(0, 6)),
    sort_keys=st.booleans(),
)
def test_property_policy_equal_under_reserialisation(
    accounts: list[str], data: st.DataObject, indent: int | None, sort_keys: bool
) -> None:
    desired = pull_policy(sorted(accounts))
    statement = copy.deepcopy(desired["Statement"][0])
    principals = data.draw(st.permutations(accounts))
    forms = [_principal_form(a, data.draw(st.booleans())) for a in principals]
    statement["Principal"] = {"AWS": forms[0] if len(forms) == 1 and data.draw(st.booleans()) else forms}
    statement["Action"] = [a.lower() if data.draw(st.booleans()) else a for a in data.draw(st.permutations(ACTIONS))]
    statement = dict(data.draw(st.permutations(list(statement.items()))))
    observed = {"Statement": [statement], "Version": "2012-10-17"}
    text = json.dumps(observed, indent=indent, sort_keys=sort_keys)
    assert policies_equal(desired, json.loads(text))


@settings(max_examples=40, deadline=None)
@given(accounts=accounts_st, extra=st.from_regex(r"[0-9]{12}", fullmatch=True), data=st.data())
def test_property_policy_changed_principal_set_differs(accounts: list[str], extra: str, data: st.DataObject) -> None:
    desired = pull_policy(accounts)
    if extra in accounts:
        changed = pull_policy(accounts[1:] or [str(int(accounts[0]) ^ 1).zfill(12)])
    else:
        changed = pull_policy([*data.draw(st.permutations(accounts)), extra])
    assert not policies_equal(desired, changed)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_property_statement_shuffle_never_changes_equality(data: st.DataObject) -> None:
    policy = two_statement_policy()
    policy["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "ecr:DeleteRepository"})
    shuffled = {**policy, "Statement": data.draw(st.permutations(policy["Statement"]))}
    assert policies_equal(policy, shuffled)
    deny_flipped = copy.deepcopy(shuffled)
    deny_flipped["Statement"][0]["Effect"] = "Allow" if deny_flipped["Statement"][0]["Effect"] == "Deny" else "Deny"
    assert not policies_equal(policy, deny_flipped)


# --- lifecycle -------------------------------------------------------------------------------------------------


def rule(priority: int, tag_status: str = "any", count: int = 10, **selection: Any) -> dict[str, Any]:
    return {
        "rulePriority": priority,
        "description": f"rule {priority}",
        "selection": {"tagStatus": tag_status, "countType": "imageCountMoreThan", "countNumber": count, **selection},
        "action": {"type": "expire"},
    }


def lifecycle_doc() -> dict[str, Any]:
    return {
        "rules": [
            rule(1, "tagged", 5, tagPrefixList=["release", "v", "prod"]),
            rule(2, "tagged", 7, tagPatternList=["*-rc*", "beta-*"]),
            {
                "rulePriority": 3,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 14,
                },
                "action": {"type": "expire"},
            },
            rule(4, "any", 100),
        ]
    }


def test_lifecycle_rule_order_does_not_matter() -> None:
    document = lifecycle_doc()
    reordered = {"rules": list(reversed(document["rules"]))}
    assert lifecycles_equal(document, reordered)


def test_lifecycle_key_order_and_whitespace_do_not_matter() -> None:
    document = lifecycle_doc()
    assert lifecycles_equal(document, json.loads(json.dumps(document, indent=3, sort_keys=True)))


def test_lifecycle_tag_prefix_list_order_does_not_matter() -> None:
    document = lifecycle_doc()
    other = copy.deepcopy(document)
    other["rules"][0]["selection"]["tagPrefixList"] = ["prod", "release", "v"]
    other["rules"][1]["selection"]["tagPatternList"] = ["beta-*", "*-rc*"]
    assert lifecycles_equal(document, other)


def test_lifecycle_tag_prefix_list_content_matters() -> None:
    document = lifecycle_doc()
    other = copy.deepcopy(document)
    other["rules"][0]["selection"]["tagPrefixList"] = ["prod", "release"]
    assert not lifecycles_equal(document, other)


def test_lifecycle_empty_description_equals_missing() -> None:
    with_empty = {"rules": [{**rule(1), "description": ""}]}
    without = {"rules": [{k: v for k, v in rule(1).items() if k != "description"}]}
    assert lifecycles_equal(with_empty, without)
    assert not lifecycles_equal(with_empty, {"rules": [rule(1)]})  # a real description still counts


def test_lifecycle_count_number_differs() -> None:
    assert not lifecycles_equal({"rules": [rule(1, count=10)]}, {"rules": [rule(1, count=11)]})


def test_lifecycle_priority_differs() -> None:
    assert not lifecycles_equal({"rules": [rule(1)]}, {"rules": [rule(2)]})


def test_lifecycle_tag_status_differs() -> None:
    assert not lifecycles_equal({"rules": [rule(1, "any")]}, {"rules": [rule(1, "untagged")]})


def test_lifecycle_extra_rule_differs() -> None:
    assert not lifecycles_equal({"rules": [rule(2)]}, {"rules": [rule(1, "untagged"), rule(2)]})


def test_lifecycle_vs_none() -> None:
    assert not lifecycles_equal({"rules": [rule(1)]}, None)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), indent=st.one_of(st.none(), st.integers(0, 8)), sort_keys=st.booleans())
def test_property_lifecycle_shuffles_and_reserialisation_keep_equality(
    data: st.DataObject, indent: int | None, sort_keys: bool
) -> None:
    document = lifecycle_doc()
    shuffled = copy.deepcopy(document)
    shuffled["rules"] = data.draw(st.permutations(shuffled["rules"]))
    for r in shuffled["rules"]:
        for key in ("tagPrefixList", "tagPatternList"):
            if key in r["selection"]:
                r["selection"][key] = data.draw(st.permutations(r["selection"][key]))
    text = json.dumps(shuffled, indent=indent, sort_keys=sort_keys)
    assert lifecycles_equal(document, json.loads(text))


@settings(max_examples=40, deadline=None)
@given(index=st.integers(0, 3), delta=st.integers(1, 50))
def test_property_lifecycle_any_count_change_differs(index: int, delta: int) -> None:
    document = lifecycle_doc()
    changed = copy.deepcopy(document)
    changed["rules"][index]["selection"]["countNumber"] += delta
    assert not lifecycles_equal(document, changed)


# --- tags ------------------------------------------------------------------------------------------------------


def test_tag_changes_in_sync() -> None:
    assert tag_changes({"a": "1", "b": "2"}, {"b": "2", "a": "1"}) == ({}, [])


def test_tag_changes_only_differences() -> None:
    to_set, to_remove = tag_changes({"a": "1", "b": "new", "c": "3"}, {"a": "1", "b": "old", "z": "9", "y": "8"})
    assert to_set == {"b": "new", "c": "3"}
    assert to_remove == ["y", "z"]


def test_tag_changes_never_removes_aws_tags() -> None:
    to_set, to_remove = tag_changes({"a": "1"}, {"a": "1", "aws:cloudformation:stack-name": "s", "old": "x"})
    assert to_set == {}
    assert to_remove == ["old"]


def test_tag_changes_empty_value_is_a_value() -> None:
    assert tag_changes({"a": ""}, {}) == ({"a": ""}, [])
    assert tag_changes({"a": ""}, {"a": "x"}) == ({"a": ""}, [])


def test_tags_from_list_shapes() -> None:
    assert tags_from_list([{"Key": "a", "Value": "1"}, {"Key": "b"}]) == {"a": "1", "b": ""}
    assert tags_from_list([{"TagKey": "k", "TagValue": "v"}], "TagKey", "TagValue") == {"k": "v"}
    assert tags_from_list(None) == {}
