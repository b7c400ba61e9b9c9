"""errors.py: classify botocore exceptions once — retry with backoff, or report and wait."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from ecr_operator.core.errors import (
    Classified,
    OperatorError,
    SpecError,
    classify,
    error_code,
    refused_by_aws,
    to_operator_error,
)


def client_error(
    code: str, status: int = 400, message: str = "boom", operation: str = "PutLifecyclePolicy"
) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("ThrottlingException", 400, "Throttled"),
        ("Throttling", 400, "Throttled"),
        ("TooManyRequestsException", 400, "Throttled"),
        ("SomethingNew", 429, "Throttled"),
        ("ServerException", 500, "AwsUnavailable"),
        ("InternalFailure", 500, "AwsUnavailable"),
        ("ServiceUnavailableException", 503, "AwsUnavailable"),
        ("", 502, "AwsUnavailable"),
        ("KMSInternalException", 400, "AwsUnavailable"),
        ("KMSInvalidStateException", 400, "KmsKeyInvalidState"),
        # A delete waits for images to go, outside Kubernetes too: retried every 20 s (reasons.PERMANENT).
        ("RepositoryNotEmptyException", 400, "RepositoryNotEmpty"),
    ],
)
def test_retryable_errors(code: str, status: int, reason: str) -> None:
    classified = classify(client_error(code, status))
    assert classified.retryable is True
    assert classified.reason == reason


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("AccessDeniedException", 400, "AccessDenied"),
        ("AccessDenied", 403, "AccessDenied"),
        ("Whatever", 403, "AccessDenied"),
        ("KMSAccessDeniedException", 400, "AccessDenied"),
        ("ExpiredTokenException", 400, "AccessDenied"),
        ("InvalidParameterException", 400, "InvalidParameter"),
        ("NotFoundException", 400, "KmsKeyUnavailable"),
        ("DisabledException", 400, "KmsKeyUnavailable"),
        ("TooManyTagsException", 400, "AwsLimitExceeded"),
        ("", 400, "AwsError"),
    ],
)
def test_permanent_errors(code: str, status: int, reason: str) -> None:
    classified = classify(client_error(code, status))
    assert classified.retryable is False
    assert classified.reason == reason


def test_invalid_repository_policy_is_retryable() -> None:
    # Also what AWS answers while a just-created principal is not visible yet.
    exc = client_error(
        "InvalidParameterException",
        message="Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'",
        operation="SetRepositoryPolicy",
    )
    classified = classify(exc)
    assert classified.retryable is True
    assert classified.reason == "PolicyRejected"


def test_other_invalid_parameter_is_not_retryable() -> None:
    exc = client_error("InvalidParameterException", message="Invalid parameter at 'repositoryName'")
    assert classify(exc).retryable is False


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://kms.eu-west-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://kms.eu-west-1.amazonaws.com"),
    ],
)
def test_connection_errors_are_retryable(exc: Exception) -> None:
    classified = classify(exc)
    assert classified.retryable is True
    assert classified.reason == "AwsUnreachable"


def test_other_botocore_and_unknown_errors_are_retryable() -> None:
    assert classify(NoCredentialsError()).reason == "AwsClientError"
    assert classify(NoCredentialsError()).retryable is True
    assert classify(RuntimeError("x")).reason == "InternalError"


def test_error_code() -> None:
    assert error_code(client_error("RepositoryNotFoundException")) == "RepositoryNotFoundException"
    assert error_code(ValueError("x")) == ""


def test_to_operator_error_carries_reason_action_and_aws_message() -> None:
    error = to_operator_error(client_error("AccessDeniedException", message="not allowed"), "create repository web")
    assert isinstance(error, OperatorError)
    assert error.reason == "AccessDenied"
    assert error.retryable is False
    assert error.message == "create repository web: AccessDeniedException: not allowed"
    assert str(error) == error.message


def test_to_operator_error_for_non_client_error() -> None:
    error = to_operator_error(EndpointConnectionError(endpoint_url="http://x"), "read")
    assert error.retryable is True
    assert error.message.startswith("read: EndpointConnectionError:")


def test_spec_error_is_never_retryable() -> None:
    error = SpecError("InvalidSpec", "bad")
    assert error.retryable is False
    assert (error.reason, error.message) == ("InvalidSpec", "bad")


def test_limit_exceeded_is_a_quota_not_throttling() -> None:
    from botocore.exceptions import ClientError

    from ecr_operator.core.errors import classify

    exc = ClientError({"Error": {"Code": "LimitExceededException", "Message": "quota"}}, "CreateRepository")
    classified = classify(exc)
    assert classified.reason == "AwsLimitExceeded"
    assert classified.retryable is False


@pytest.mark.parametrize("code", ["AlreadyExistsException", "RepositoryAlreadyExistsException"])
def test_already_exists_is_retried_because_the_next_pass_observes_it(code: str) -> None:
    classified = classify(client_error(code, 400))
    assert classified == Classified("AlreadyExists", True)


@pytest.mark.parametrize(
    ("exc", "refused"),
    [
        (client_error("AccessDeniedException", 400), True),
        (client_error("LimitExceededException", 400), True),
        (client_error("ThrottlingException", 400), True),
        (client_error("InternalFailure", 500), False),
        (client_error("KMSInternalException", 400), False),
        (ReadTimeoutError(endpoint_url="https://kms"), False),
        (ConnectionClosedError(endpoint_url="https://kms"), False),
    ],
    ids=["denied", "quota", "throttled", "5xx", "internal-code", "timeout", "connection-lost"],
)
def test_refused_by_aws_only_when_aws_answered_with_a_client_error(exc: Exception, refused: bool) -> None:
    """A refused call did nothing (a CreateKey made no key); without a clear refusal it may have done its work."""
    assert refused_by_aws(exc) is refused
    assert refused_by_aws(to_operator_error_from(exc)) is refused, "seen through the OperatorError it became"


def to_operator_error_from(exc: Exception) -> OperatorError:
    try:
        raise to_operator_error(exc, "kms:CreateKey") from exc
    except OperatorError as error:
        return error
