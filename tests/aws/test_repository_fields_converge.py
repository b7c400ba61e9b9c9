"""Issue 23 item 3 against moto's server over HTTP with the operator's clients: tag-mutability exclusion filters,
organization-wide pull and extra policy statements converge, come back from hand-made drift (also through the
resync's batched view), and cost no write in sync."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_harness import CLUSTER, NAME, PartsHarness

from ecr_operator.core.ecr_policy import ORGANIZATIONAL_UNITS_STATEMENT_SID, ORGANIZATIONS_STATEMENT_SID
from ecr_operator.repository.reconcile import reconcile
from ecr_operator.repository.view import RegionViews

EXCLUSION = {
    "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
    "imageTagMutabilityExclusionFilters": [{"filter": "latest"}, {"filter": "dev-*"}],
}
ORG = "o-a1b2c3d4e5"
OU = f"{ORG}/r-ab12/ou-ab12-11111111/*"
LAMBDA_PULL = {
    "Sid": "LambdaPull",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
}
POLICY = {
    "crossAccountPull": {
        "enabled": True,
        "allowedAccountIds": ["111122223333"],
        "organizationIds": [ORG],
        "organizationPaths": [OU],
    },
    "repositoryPolicy": {"statements": [LAMBDA_PULL]},
}


def _filters(aws: PartsHarness) -> list[str]:
    repository = aws.existing_repository()
    return sorted(f["filter"] for f in repository.get("imageTagMutabilityExclusionFilters") or [])


def test_exclusion_filters_are_created_and_in_sync(aws: PartsHarness) -> None:
    desired = aws.desired(EXCLUSION)
    aws.reconcile(desired)
    assert "ecr:PutImageTagMutability" not in aws.calls.writes  # CreateRepository carried them
    assert aws.existing_repository()["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert _filters(aws) == ["dev-*", "latest"]
    aws.assert_in_sync(desired)


def test_filters_changed_by_hand_are_put_back(aws: PartsHarness) -> None:
    desired = aws.desired(EXCLUSION)
    aws.reconcile(desired)
    aws.ecr.put_image_tag_mutability(
        repositoryName=NAME,
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "*"}],
    )
    aws.reconcile(desired)
    assert aws.calls.writes == ["ecr:PutImageTagMutability"]
    assert _filters(aws) == ["dev-*", "latest"]
    aws.assert_in_sync(desired)


def test_the_exclusion_dropped_by_hand_is_put_back_through_a_resync_view(aws: PartsHarness) -> None:
    desired = aws.desired(EXCLUSION)
    aws.reconcile(desired)
    aws.ecr.put_image_tag_mutability(repositoryName=NAME, imageTagMutability="IMMUTABLE")
    view = RegionViews(CLUSTER, max_age=60).view(aws.clients, not_before=time.monotonic())
    aws.calls.clear()
    reconcile(aws.clients, desired, view=view)
    assert aws.calls.writes == ["ecr:PutImageTagMutability"]
    assert _filters(aws) == ["dev-*", "latest"]
    # ... and the view's copy of an in-sync repository carries the filters: no write.
    view = RegionViews(CLUSTER, max_age=60).view(aws.clients, not_before=time.monotonic())
    aws.calls.clear()
    reconcile(aws.clients, desired, view=view)
    assert aws.calls.writes == []


def test_updates_between_settings_and_filter_sets(aws: PartsHarness) -> None:
    aws.reconcile(aws.desired())
    steps: list[tuple[dict[str, Any], str, list[str]]] = [
        (EXCLUSION, "IMMUTABLE_WITH_EXCLUSION", ["dev-*", "latest"]),
        (
            {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": [{"filter": "v*"}]},
            "MUTABLE_WITH_EXCLUSION",
            ["v*"],
        ),
        ({"imageTagMutability": "IMMUTABLE"}, "IMMUTABLE", []),
    ]
    for fields, setting, filters in steps:
        desired = aws.desired(fields)
        aws.reconcile(desired)
        assert aws.calls.writes == ["ecr:PutImageTagMutability"]
        assert aws.existing_repository()["imageTagMutability"] == setting
        assert _filters(aws) == filters
        aws.assert_in_sync(desired)


def _statements(aws: PartsHarness) -> dict[str | None, dict[str, Any]]:
    policy = aws.policy()
    assert policy is not None
    return {statement.get("Sid"): statement for statement in policy["Statement"]}


def test_organizations_units_accounts_and_extra_statements_converge_and_stay_in_sync(aws: PartsHarness) -> None:
    desired = aws.desired(POLICY)
    aws.reconcile(desired)
    statements = _statements(aws)
    assert sorted(statements) == sorted(
        ["CrossAccountPull", ORGANIZATIONS_STATEMENT_SID, ORGANIZATIONAL_UNITS_STATEMENT_SID, "LambdaPull"]
    )
    assert statements[ORGANIZATIONS_STATEMENT_SID]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": [ORG]}}
    assert statements[ORGANIZATIONAL_UNITS_STATEMENT_SID]["Condition"] == {
        "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [OU]}
    }
    assert statements["LambdaPull"] == LAMBDA_PULL
    aws.assert_in_sync(desired)


def test_the_stored_policy_in_another_form_is_in_sync(aws: PartsHarness) -> None:
    """Statements in another order, single values for one-element lists: the same policy, no write."""
    desired = aws.desired(POLICY)
    aws.reconcile(desired)
    policy = aws.policy()
    assert policy is not None
    for statement in policy["Statement"]:
        for key in ("Action",):
            statement[key] = list(reversed(statement[key]))
        condition = statement.get("Condition")
        if condition:
            for clauses in condition.values():
                for key, values in clauses.items():
                    clauses[key] = values[0]
    policy["Statement"].reverse()
    aws.ecr.set_repository_policy(repositoryName=NAME, policyText=json.dumps(policy, indent=4))
    aws.assert_in_sync(desired)


def test_a_policy_rewritten_by_hand_is_put_back(aws: PartsHarness) -> None:
    desired = aws.desired(POLICY)
    aws.reconcile(desired)
    statements = _statements(aws)
    del statements["LambdaPull"]
    statements[ORGANIZATIONS_STATEMENT_SID]["Condition"]["StringEquals"]["aws:PrincipalOrgID"] = ["o-zzzzzzzzzz"]
    aws.ecr.set_repository_policy(
        repositoryName=NAME, policyText=json.dumps({"Version": "2012-10-17", "Statement": list(statements.values())})
    )
    aws.reconcile(desired)
    assert aws.calls.writes == ["ecr:SetRepositoryPolicy"]
    assert _statements(aws)["LambdaPull"] == LAMBDA_PULL
    assert _statements(aws)[ORGANIZATIONS_STATEMENT_SID]["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == [ORG]
    aws.assert_in_sync(desired)


def test_extra_statements_alone_and_then_removed(aws: PartsHarness) -> None:
    desired = aws.desired({"repositoryPolicy": {"statements": [LAMBDA_PULL]}})
    aws.reconcile(desired)
    assert list(_statements(aws)) == ["LambdaPull"]
    aws.assert_in_sync(desired)
    without = aws.desired()
    aws.reconcile(without)
    assert aws.calls.writes == ["ecr:DeleteRepositoryPolicy"]
    assert aws.policy() is None
