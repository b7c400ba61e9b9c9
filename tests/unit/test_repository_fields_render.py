"""Issue 23 item 3 on EcrRepository, pure: tag-mutability exclusion filters, organization-wide pull and extra
policy statements — rendered, checked (InvalidSpec naming the field), compared by meaning (no write in sync)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import KEY_ARN, REQUIRED, desired_from, observed_repository_for

from ecr_operator.core.compare import policies_equal
from ecr_operator.core.ecr_policy import (
    MAX_POLICY_LENGTH,
    ORGANIZATIONAL_UNITS_STATEMENT_SID,
    ORGANIZATIONS_STATEMENT_SID,
    PULL_ACTIONS,
    PULL_STATEMENT_SID,
    RESERVED_SIDS,
    exclusion_filter_set,
    exclusion_filters,
    policy_text,
    pull_statements,
    statement_problems,
)
from ecr_operator.core.errors import SpecError
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import Settings
from ecr_operator.repository.adoption import NO_ADOPTION
from ecr_operator.repository.manifest import request_for
from ecr_operator.repository.parts import repository as repository_part
from ecr_operator.repository.parts.repository import RepositoryDeps

ORG = "o-a1b2c3d4e5"
OTHER_ORG = "o-zz9zz9zz9z"
OU_PATH = f"{ORG}/r-ab12/ou-ab12-11111111/"
LAMBDA_PULL = {
    "Sid": "LambdaPull",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    "Condition": {"StringLike": {"aws:sourceArn": "arn:aws:lambda:eu-west-1:111122223333:function:*"}},
}
FILTERS = [{"filter": "latest"}, {"filter": "dev-*", "filterType": "WILDCARD"}]


def _plan(desired: Any, observed: Any) -> repository_part.RepositoryPlan:
    return repository_part.plan(desired, observed, RepositoryDeps(KEY_ARN, NO_ADOPTION))


def _settings() -> Settings:
    return Settings(cluster_id="c", region="eu-west-1", required_tags=tuple(REQUIRED))


def _judge(**fields: Any) -> SpecError:
    fields.setdefault("tags", dict(REQUIRED))
    with pytest.raises(SpecError) as caught:
        request_for(fields, "team-a", "web", {}, _settings())
    return caught.value


# --- exclusion filters -----------------------------------------------------------------------------------------


def test_exclusion_filters_render_as_a_set_and_go_into_create_repository() -> None:
    desired = desired_from(imageTagMutability="IMMUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=FILTERS)
    assert desired.exclusion_filters == {("WILDCARD", "latest"), ("WILDCARD", "dev-*")}
    [create, *_] = _plan(desired, None).actions
    assert create.operation == "create_repository"
    assert create.params["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert create.params["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": "dev-*"},
        {"filterType": "WILDCARD", "filter": "latest"},
    ]


def test_without_exclusion_create_repository_sends_no_filters() -> None:
    [create, *_] = _plan(desired_from(imageTagMutability="IMMUTABLE"), None).actions
    assert "imageTagMutabilityExclusionFilters" not in create.params


def test_filters_in_another_order_are_in_sync() -> None:
    desired = desired_from(imageTagMutability="MUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=FILTERS)
    reported = [{"filterType": "WILDCARD", "filter": "latest"}, {"filterType": "WILDCARD", "filter": "dev-*"}]
    observed = observed_repository_for(desired, exclusion_filters=exclusion_filter_set(reversed(reported)))
    assert _plan(desired, observed).actions == []


@pytest.mark.parametrize(
    ("observed_mutability", "observed_filters"),
    [
        ("IMMUTABLE_WITH_EXCLUSION", [{"filterType": "WILDCARD", "filter": "latest"}]),  # a filter removed by hand
        ("IMMUTABLE", []),  # the exclusion dropped by hand
        ("MUTABLE_WITH_EXCLUSION", FILTERS),  # the setting flipped, filters kept
    ],
    ids=["filter-removed", "exclusion-dropped", "setting-flipped"],
)
def test_drift_of_setting_or_filters_is_one_put_image_tag_mutability_with_the_filters(
    observed_mutability: str, observed_filters: list[dict[str, str]]
) -> None:
    desired = desired_from(imageTagMutability="IMMUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=FILTERS)
    observed = observed_repository_for(
        desired,
        image_tag_mutability=observed_mutability,
        exclusion_filters=exclusion_filter_set([{"filterType": "WILDCARD", **f} for f in observed_filters]),
    )
    [action] = _plan(desired, observed).actions
    assert action.operation == "put_image_tag_mutability"
    assert action.params == {
        "repositoryName": desired.repository_name,
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": exclusion_filters(desired.exclusion_filters),
    }


def test_leaving_the_exclusion_sends_no_filters() -> None:
    desired = desired_from(imageTagMutability="IMMUTABLE")
    observed = observed_repository_for(
        desired,
        image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
        exclusion_filters=frozenset({("WILDCARD", "latest")}),
    )
    [action] = _plan(desired, observed).actions
    assert action.params == {"repositoryName": desired.repository_name, "imageTagMutability": "IMMUTABLE"}


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}, "spec.imageTagMutabilityExclusionFilters is required"),
        (
            {"imageTagMutability": "IMMUTABLE", "imageTagMutabilityExclusionFilters": FILTERS},
            "spec.imageTagMutabilityExclusionFilters is only allowed",
        ),
        (
            {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": []},
            "spec.imageTagMutabilityExclusionFilters",
        ),
        (
            {
                "imageTagMutability": "MUTABLE_WITH_EXCLUSION",
                "imageTagMutabilityExclusionFilters": [{"filter": f"t{i}"} for i in range(6)],
            },
            "spec.imageTagMutabilityExclusionFilters",
        ),
        (
            {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": [{"filter": "a/b"}]},
            "spec.imageTagMutabilityExclusionFilters.0.filter",
        ),
        (
            {
                "imageTagMutability": "MUTABLE_WITH_EXCLUSION",
                "imageTagMutabilityExclusionFilters": [{"filter": "x", "filterType": "REGEX"}],
            },
            "spec.imageTagMutabilityExclusionFilters.0.filterType",
        ),
    ],
    ids=["setting-without-filters", "filters-without-setting", "empty", "six", "slash", "regex"],
)
def test_the_operator_refuses_what_admission_refuses(fields: dict[str, Any], text: str) -> None:
    error = _judge(**fields)
    assert error.reason == Reason.INVALID_SPEC
    assert text in error.message


# --- organization-wide pull ------------------------------------------------------------------------------------


def test_accounts_alone_keep_the_one_statement_they_always_had() -> None:
    [statement] = pull_statements(["222222222222", "111111111111"], [], [], "eu-west-1")
    assert statement == {
        "Sid": PULL_STATEMENT_SID,
        "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root"]},
        "Action": list(PULL_ACTIONS),
    }


def test_accounts_organizations_and_units_are_separate_statements_so_any_of_them_may_pull() -> None:
    accounts, organizations, units = pull_statements(["111111111111"], [OTHER_ORG, ORG], [OU_PATH], "cn-north-1")
    assert accounts["Principal"] == {"AWS": ["arn:aws-cn:iam::111111111111:root"]}
    assert "Condition" not in accounts
    assert organizations["Sid"] == ORGANIZATIONS_STATEMENT_SID
    assert organizations["Principal"] == "*"
    assert organizations["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": [ORG, OTHER_ORG]}}
    assert units["Sid"] == ORGANIZATIONAL_UNITS_STATEMENT_SID
    assert units["Condition"] == {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [OU_PATH]}}
    assert organizations["Action"] == units["Action"] == list(PULL_ACTIONS)


def test_an_organization_alone_is_enough_to_enable_the_pull_policy() -> None:
    desired = desired_from(crossAccountPull={"enabled": True, "organizationIds": [ORG]})
    assert desired.repository_policy is not None
    [statement] = desired.repository_policy["Statement"]
    assert statement["Sid"] == ORGANIZATIONS_STATEMENT_SID


def test_a_disabled_pull_renders_no_statement_whatever_it_lists() -> None:
    desired = desired_from(
        crossAccountPull={"enabled": False, "organizationIds": [ORG], "organizationPaths": [OU_PATH]}
    )
    assert desired.repository_policy is None


@pytest.mark.parametrize(
    ("pull", "field"),
    [
        ({"enabled": True, "organizationIds": ["o-short"]}, "organizationIds.0"),
        ({"enabled": True, "organizationIds": ["O-A1B2C3D4E5"]}, "organizationIds.0"),
        ({"enabled": True, "organizationPaths": [ORG]}, "organizationPaths.0"),
        ({"enabled": True, "organizationPaths": [f"{ORG}/r-ab12/ou-ab12-11111111"]}, "organizationPaths.0"),
        ({"enabled": True, "organizationPaths": ["o-a1b2c3d4e5/ou-ab12-11111111/"]}, "organizationPaths.0"),
    ],
    ids=["id-short", "id-uppercase", "path-org-only", "path-without-slash", "path-without-root"],
)
def test_malformed_organizations_are_refused_naming_the_field(pull: dict[str, Any], field: str) -> None:
    error = _judge(crossAccountPull=pull)
    assert f"spec.crossAccountPull.{field}" in error.message


@pytest.mark.parametrize("path", [f"{ORG}/r-ab12/", OU_PATH, f"{OU_PATH}ou-ab12-22222222/", f"{OU_PATH}*"])
def test_organization_paths_of_every_depth_and_a_subtree_wildcard_are_accepted(path: str) -> None:
    desired = desired_from(crossAccountPull={"enabled": True, "organizationPaths": [path]})
    assert desired.repository_policy is not None


# --- extra statements, merged and compared by meaning ------------------------------------------------------------


def _full_policy_desired() -> Any:
    return desired_from(
        crossAccountPull={"enabled": True, "allowedAccountIds": ["111111111111"], "organizationIds": [ORG]},
        repositoryPolicy={"statements": [LAMBDA_PULL, {"Effect": "Deny", "Principal": "*", "NotAction": "ecr:*"}]},
    )


def test_user_statements_follow_the_operators_own() -> None:
    desired = _full_policy_desired()
    assert desired.repository_policy is not None
    sids = [s.get("Sid") for s in desired.repository_policy["Statement"]]
    assert sids == [PULL_STATEMENT_SID, ORGANIZATIONS_STATEMENT_SID, "LambdaPull", None]
    assert desired.repository_policy["Statement"][2] == LAMBDA_PULL


def test_user_statements_alone_make_a_policy() -> None:
    desired = desired_from(repositoryPolicy={"statements": [LAMBDA_PULL]})
    assert desired.repository_policy == {"Version": "2012-10-17", "Statement": [LAMBDA_PULL]}


def _as_aws_might_store_it(policy: dict[str, Any], seed: int) -> dict[str, Any]:
    """Statements reordered, one-element lists as strings, lists reordered, keys reordered."""
    chance = random.Random(seed)
    statements = []
    for statement in policy["Statement"]:
        copy = json.loads(json.dumps(statement))
        for key in ("Action", "NotAction"):
            if isinstance(copy.get(key), list):
                chance.shuffle(copy[key])
                if len(copy[key]) == 1:
                    copy[key] = copy[key][0]
        principal = copy.get("Principal")
        if isinstance(principal, dict):
            copy["Principal"] = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in principal.items()}
        for clauses in (copy.get("Condition") or {}).values():
            for key, values in clauses.items():
                if isinstance(values, list) and len(values) == 1:
                    clauses[key] = values[0]
        statements.append(dict(reversed(list(copy.items()))))
    chance.shuffle(statements)
    return {"Statement": statements, "Version": "2012-10-17"}


@pytest.mark.parametrize("seed", range(8))
def test_the_merged_policy_as_aws_might_store_it_plans_no_write(seed: int) -> None:
    desired = _full_policy_desired()
    assert desired.repository_policy is not None
    stored = _as_aws_might_store_it(desired.repository_policy, seed)
    assert policies_equal(desired.repository_policy, stored)
    observed = observed_repository_for(desired, repository_policy=stored)
    assert _plan(desired, observed).actions == []


def test_a_user_statement_changed_by_hand_is_put_back_with_the_whole_policy() -> None:
    desired = _full_policy_desired()
    assert desired.repository_policy is not None
    stored = json.loads(json.dumps(desired.repository_policy))
    stored["Statement"][2]["Action"].append("ecr:PutImage")
    [action] = _plan(desired, observed_repository_for(desired, repository_policy=stored)).actions
    assert action.operation == "set_repository_policy"
    assert json.loads(action.params["policyText"]) == desired.repository_policy


def test_dropping_the_extra_statements_writes_the_policy_without_them() -> None:
    before = _full_policy_desired()
    after = desired_from(
        crossAccountPull={"enabled": True, "allowedAccountIds": ["111111111111"], "organizationIds": [ORG]}
    )
    [action] = _plan(after, observed_repository_for(after, repository_policy=before.repository_policy)).actions
    assert action.operation == "set_repository_policy"
    assert len(json.loads(action.params["policyText"])["Statement"]) == 2


@pytest.mark.parametrize("sid", RESERVED_SIDS)
def test_the_operators_sids_are_reserved(sid: str) -> None:
    error = _judge(repositoryPolicy={"statements": [{**LAMBDA_PULL, "Sid": sid}]})
    assert error.reason == Reason.INVALID_SPEC
    assert f"spec.repositoryPolicy.statements[0].Sid {sid!r} is reserved" in error.message


@pytest.mark.parametrize(
    ("statement", "text"),
    [
        ({"Effect": "Allow", "Action": "ecr:BatchGetImage"}, "[0] needs exactly one of Principal or NotPrincipal"),
        (
            {"Effect": "Allow", "Principal": "*", "NotPrincipal": "*", "Action": "ecr:*"},
            "[0] needs exactly one of Principal or NotPrincipal",
        ),
        ({"Effect": "Allow", "Principal": "*"}, "[0] needs exactly one of Action or NotAction"),
        ({"Effect": "Allow", "Principal": "*", "Action": "BatchGetImage"}, "[0].Action: 'BatchGetImage' is not"),
        ({"Effect": "Allow", "Principal": "*", "Action": []}, "[0].Action must be a non-empty string"),
        ({"Effect": "Allow", "Principal": "someone", "Action": "ecr:*"}, "[0].Principal must be '*' or an object"),
        ({"Effect": "Allow", "Principal": {"Users": "x"}, "Action": "ecr:*"}, "[0].Principal.Users is not"),
        ({"Effect": "Allow", "Principal": {"AWS": [1]}, "Action": "ecr:*"}, "[0].Principal.AWS must be"),
        (
            {"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Condition": {"StringEquals": "x"}},
            "[0].Condition.StringEquals must be an object",
        ),
        ({"Effect": "Permit", "Principal": "*", "Action": "ecr:*"}, "spec.repositoryPolicy.statements.0.Effect"),
        ({"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Sid": "no-dash"}, "statements.0.Sid"),
        ({"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Conditon": {}}, "statements.0.Conditon"),
    ],
    ids=[
        "no-principal",
        "both-principals",
        "no-action",
        "action-without-service",
        "action-empty",
        "principal-string",
        "principal-type",
        "principal-number",
        "condition-shape",
        "effect",
        "sid-characters",
        "unknown-key",
    ],
)
def test_a_malformed_statement_is_invalid_spec_naming_it(statement: dict[str, Any], text: str) -> None:
    error = _judge(repositoryPolicy={"statements": [statement]})
    assert error.reason == Reason.INVALID_SPEC
    assert text in error.message, error.message


def test_a_hostile_statement_gets_a_bounded_message_naming_how_much_is_wrong() -> None:
    # Thousands of bad values (the statement's lists are bounded only by the object's size): the message goes into
    # status and a Warning Event, so it lists a few and counts the rest instead of growing with the input.
    actions = [f"BatchGetImage{n}" + "x" * 200 for n in range(20000)]
    condition = {"StringEquals": {f"key{n}" + "k" * (100000 if n == 0 else 0): [{"deep": n}] for n in range(5000)}}
    statement = {"Effect": "Allow", "Principal": "*", "Action": actions, "Condition": condition}
    error = _judge(repositoryPolicy={"statements": [statement] * 3})
    assert error.reason == Reason.INVALID_SPEC
    assert len(error.message) < 10000, len(error.message)
    assert error.message.startswith("spec.repositoryPolicy.statements[0].Action: 'BatchGetImage0xxx")
    assert "and 19995 more is not '*' or service:Action" in error.message
    assert error.message.endswith("; and 14984 more problems"), error.message[-200:]


def test_a_policy_over_ecrs_limit_after_merging_is_refused_naming_the_statements() -> None:
    accounts = [f"{n:012d}" for n in range(100)]
    roles = [f"arn:aws:iam::{a}:role/platform/image-pullers/deploy-lambda" for a in accounts]
    statement = {"Effect": "Allow", "Principal": {"AWS": roles}, "Action": "ecr:BatchGetImage"}
    error = _judge(
        crossAccountPull={"enabled": True, "allowedAccountIds": accounts}, repositoryPolicy={"statements": [statement]}
    )
    assert error.message.startswith("spec.repositoryPolicy.statements: the repository policy would be ")
    assert f"ECR allows {MAX_POLICY_LENGTH}" in error.message
    # The user's statement alone fits: it is the merge that does not.
    alone = desired_from(repositoryPolicy={"statements": [statement]})
    assert len(policy_text(alone.repository_policy)) <= MAX_POLICY_LENGTH


def test_a_well_formed_statement_has_no_problems() -> None:
    assert statement_problems(LAMBDA_PULL, "s") == []
    assert statement_problems({"Effect": "Deny", "NotPrincipal": {"AWS": "111111111111"}, "NotAction": "*"}, "s") == []


def test_the_example_is_accepted_and_renders_all_three_fields() -> None:
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "organization-pull.yaml").read_text())
    request = request_for(manifest["spec"], "default", manifest["metadata"]["name"], {}, _settings())
    desired = request.desired
    assert desired.exclusion_filters == {("WILDCARD", "latest")}
    assert desired.repository_policy is not None
    sids = [s["Sid"] for s in desired.repository_policy["Statement"]]
    assert sids == [ORGANIZATIONS_STATEMENT_SID, "LambdaPull"]


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Principal": "*", "Action": "ecr:SetRepositoryPolicy"},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "ecr:*"},
        {"Effect": "Deny", "Principal": "*", "Action": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "ECR:delete*"},
        {"Effect": "Deny", "Principal": {"AWS": "123456789012"}, "Action": "ecr:DeleteRepository"},
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "ecr:Put*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:role/ci"}, "Action": "ecr:TagResource"},
        {"Effect": "Deny", "Principal": "*", "NotAction": ["ecr:BatchGetImage"]},
    ],
)
def test_an_unconditioned_deny_that_would_lock_the_operator_out_is_refused(statement: dict[str, Any]) -> None:
    problems = statement_problems(statement, "spec.repositoryPolicy.statements[0]")
    assert len(problems) == 1
    assert problems[0].startswith("spec.repositoryPolicy.statements[0] denies ")
    assert "operator's own role" in problems[0]


@pytest.mark.parametrize(
    "statement",
    [
        # outside the organization only: the operator's role is inside it
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "ecr:*",
            "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}},
        },
        {"Effect": "Deny", "Principal": "*", "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload"]},
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::123456789012:role/intern"}, "Action": "ecr:*"},
        {"Effect": "Deny", "Principal": "*", "NotAction": "ecr:*"},
    ],
)
def test_a_deny_that_leaves_the_operators_own_actions_alone_is_accepted(statement: dict[str, Any]) -> None:
    assert statement_problems(statement, "s") == []
