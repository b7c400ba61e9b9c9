"""Errors, classified once at the AWS edge: retry with backoff, or report and wait for a change."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from ecr_operator.core.reasons import Reason

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "ServerException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "KMSAccessDeniedException",
    }
)
# "Invalid repository policy provided" is also what AWS says while a just-created principal is not visible yet.
_EVENTUALLY_CONSISTENT_MESSAGES = ("invalid repository policy provided",)


class OperatorError(Exception):
    """A problem to report in status: ``reason`` is one of :class:`Reason`, ``retryable`` whether retrying helps."""

    def __init__(self, reason: Reason, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable


class RoleNotAssumable(Exception):
    """The operator could not assume a mapped Namespace's role (raised by its clients' credential refresh)."""

    def __init__(self, role_arn: str, cause: BaseException | None, detail: str = "") -> None:
        self.role_arn = role_arn
        self.cause = cause
        self.detail = detail or (_describe(cause) if cause is not None else "")
        super().__init__(f"cannot assume role {role_arn}: {self.detail}")


class SpecError(OperatorError):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(reason, message, retryable=False)


@dataclass(frozen=True)
class Classified:
    reason: Reason
    retryable: bool


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def classify(exc: BaseException) -> Classified:
    """Map a botocore exception to a status reason and whether a retry can help."""
    if isinstance(exc, RoleNotAssumable):
        # STS refused (trust policy, external ID, no such role): waits for a change of the mapping or the role.
        # Throttling, 5xx or an unreachable STS keep their own, retried, reasons.
        inner = classify(exc.cause) if exc.cause is not None else None
        if inner is not None and inner.retryable and inner.reason != Reason.INTERNAL_ERROR:
            return inner
        return Classified(Reason.ACCOUNT_ROLE_NOT_ASSUMABLE, False)
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = str(exc.response.get("Error", {}).get("Message", "")).lower()
        if code in _THROTTLING_CODES or status == 429:
            return Classified(Reason.THROTTLED, True)
        if code in _TRANSIENT_CODES or status >= 500:
            return Classified(Reason.AWS_UNAVAILABLE, True)
        if code in _DENIED_CODES or status == 403:
            return Classified(Reason.ACCESS_DENIED, False)
        if any(text in message for text in _EVENTUALLY_CONSISTENT_MESSAGES):
            return Classified(Reason.POLICY_REJECTED, True)
        if code in ("AlreadyExistsException", "RepositoryAlreadyExistsException"):
            # Someone (another replica during a failover, a person) created it meanwhile: the next pass sees it.
            return Classified(Reason.ALREADY_EXISTS, True)
        if code == "KMSInvalidStateException":
            return Classified(Reason.KMS_KEY_INVALID_STATE, True)
        if code in ("NotFoundException", "KeyUnavailableException", "DisabledException"):
            return Classified(Reason.KMS_KEY_UNAVAILABLE, False)
        if code in ("LimitExceededException", "TooManyTagsException"):
            return Classified(Reason.AWS_LIMIT_EXCEEDED, False)
        if code in ("InvalidParameterException", "InvalidParameter", "ValidationException"):
            return Classified(Reason.INVALID_PARAMETER, False)
        if code == "RepositoryNotEmptyException":
            return Classified(Reason.REPOSITORY_NOT_EMPTY, False)
        return Classified(Reason.AWS_ERROR, False)
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)):
        return Classified(Reason.AWS_UNREACHABLE, True)
    if isinstance(exc, BotoCoreError):
        return Classified(Reason.AWS_CLIENT_ERROR, True)
    return Classified(Reason.INTERNAL_ERROR, True)


def to_operator_error(exc: BaseException, action: str) -> OperatorError:
    classified = classify(exc)
    return OperatorError(classified.reason, f"{action}: {_describe(exc)}", retryable=classified.retryable)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RoleNotAssumable):
        return str(exc)
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
