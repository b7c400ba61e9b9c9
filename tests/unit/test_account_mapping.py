"""Account per Namespace: which role a Namespace maps to, refusals, and how an AssumeRole failure is reported."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from ecr_operator.core.api import AWS_ROLE_ARN_ANNOTATION
from ecr_operator.core.errors import OperatorError, RoleNotAssumable, classify, to_operator_error
from ecr_operator.core.reasons import PERMANENT, Reason
from ecr_operator.core.settings import Settings
from ecr_operator.repository.namespaces import NamespacePolicies

ROLE = "arn:aws:iam::222233334444:role/ecr-operator-team-b"


def policies(**settings: object) -> NamespacePolicies:
    return NamespacePolicies(Settings(region="eu-west-1", **settings))  # type: ignore[arg-type]


def test_a_mapped_namespace_uses_its_role_and_an_unmapped_one_the_operators_identity() -> None:
    p = policies()
    p.seen("team-b", {AWS_ROLE_ARN_ANNOTATION: f" {ROLE} "})
    p.seen("team-a", {})
    assert p.role_of("team-b") == ROLE
    assert p.role_of("team-a") is None


def test_a_namespace_not_seen_yet_is_retried_never_guessed() -> None:
    with pytest.raises(OperatorError) as caught:
        policies().role_of("never-seen")
    assert caught.value.reason == Reason.NAMESPACE_NOT_SEEN and caught.value.retryable


def test_the_mapping_follows_the_annotation() -> None:
    p = policies()
    p.seen("team-b", {AWS_ROLE_ARN_ANNOTATION: ROLE})
    p.seen("team-b", {})
    assert p.role_of("team-b") is None
    p.gone("team-b")
    with pytest.raises(OperatorError):
        p.role_of("team-b")


def test_require_account_mapping_refuses_unmapped_namespaces() -> None:
    p = policies(require_account_mapping=True)
    p.seen("team-a", {})
    with pytest.raises(OperatorError) as caught:
        p.role_of("team-a")
    assert caught.value.reason == Reason.ACCOUNT_NOT_MAPPED and not caught.value.retryable
    assert AWS_ROLE_ARN_ANNOTATION in caught.value.message


def test_a_malformed_role_arn_is_refused_without_calling_aws() -> None:
    p = policies()
    p.seen("team-x", {AWS_ROLE_ARN_ANNOTATION: "arn:aws:iam::2222:role/short-account"})
    with pytest.raises(OperatorError) as caught:
        p.role_of("team-x")
    assert caught.value.reason == Reason.ACCOUNT_ROLE_NOT_ASSUMABLE and not caught.value.retryable
    assert "team-x" in caught.value.message


def test_disabled_mapping_ignores_the_annotation() -> None:
    p = policies(account_mapping="disabled")
    assert p.role_of("never-seen") is None


def _sts_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "not authorized"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "AssumeRole",
    )


def test_a_refused_assume_role_waits_for_a_change_and_names_the_role_and_awss_error() -> None:
    error = to_operator_error(RoleNotAssumable(ROLE, _sts_error("AccessDenied", 403)), "ecr:CreateRepository")
    assert error.reason == Reason.ACCOUNT_ROLE_NOT_ASSUMABLE and not error.retryable
    assert Reason.ACCOUNT_ROLE_NOT_ASSUMABLE in PERMANENT
    assert ROLE in error.message and "AccessDenied" in error.message


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (_sts_error("Throttling", 400), Reason.THROTTLED),
        (_sts_error("InternalFailure", 500), Reason.AWS_UNAVAILABLE),
        (EndpointConnectionError(endpoint_url="https://sts.eu-west-1.amazonaws.com"), Reason.AWS_UNREACHABLE),
    ],
)
def test_a_transient_sts_failure_is_retried(cause: Exception, reason: Reason) -> None:
    classified = classify(RoleNotAssumable(ROLE, cause))
    assert classified.reason == reason and classified.retryable
