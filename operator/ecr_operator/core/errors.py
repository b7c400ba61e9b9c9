"""Errors, classified once at the AWS edge: retry with backoff, or report and wait for a change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from ecr_operator.core.reasons import Reason, retryable

THROTTLING_CODES = frozenset(
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
"""AWS error codes that mean "slow down" (with HTTP 429, whatever its code): retried, and counted as throttles."""
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
_ALREADY_EXISTS_CODES = frozenset(
    {
        "AlreadyExistsException",
        "RepositoryAlreadyExistsException",
        "PullThroughCacheRuleAlreadyExistsException",
        "TemplateAlreadyExistsException",
    }
)
# "Invalid repository policy provided" is also what AWS says while a just-created principal is not visible yet.
_EVENTUALLY_CONSISTENT_MESSAGES = ("invalid repository policy provided",)


class OperatorError(Exception):
    """A problem to report in status: ``reason`` is one of :class:`Reason`; whether retrying helps follows from it."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def retryable(self) -> bool:
        return retryable(self.reason)


class RoleNotAssumable(Exception):
    """The operator could not assume a mapped Namespace's role (raised by its clients' credential refresh)."""

    def __init__(self, role_arn: str, cause: BaseException | None, detail: str = "") -> None:
        self.role_arn = role_arn
        self.cause = cause
        self.detail = detail or (_describe(cause) if cause is not None else "")
        super().__init__(f"cannot assume role {role_arn}: {self.detail}")


class SpecError(OperatorError):
    """The spec (or the platform's settings) refuses it: its reasons wait for a change of the spec."""


MAX_PROBLEMS_LISTED = 20
"""How many problems an InvalidSpec message lists: a spec may hold thousands of bad values (a statement's lists
are unbounded up to the object's size), and the message goes into status and an Event."""


MAX_PROBLEM_LENGTH = 600
"""Where a problem names a field the user wrote (a condition key), the name may be long: each is cut short."""


def problems_message(problems: Sequence[str], limit: int = MAX_PROBLEMS_LISTED) -> str:
    """The problems joined by '; ', at most ``limit`` of them (each cut to MAX_PROBLEM_LENGTH), then how many more
    there are."""
    listed = "; ".join(p if len(p) <= MAX_PROBLEM_LENGTH else p[:MAX_PROBLEM_LENGTH] + "..." for p in problems[:limit])
    more = len(problems) - limit
    return f"{listed}; and {more} more problem{'s' if more > 1 else ''}" if more > 0 else listed


@dataclass(frozen=True)
class Classified:
    reason: Reason
    retryable: bool
    """``reasons.retryable(reason)``: :func:`classify` is the only place that makes one."""


def is_throttling(code: str, status: int) -> bool:
    return code in THROTTLING_CODES or status == 429


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def classify(exc: BaseException) -> Classified:
    """Map a botocore exception to a status reason, and so whether a retry can help."""
    reason = reason_of(exc)
    return Classified(reason, retryable(reason))


def reason_of(exc: BaseException) -> Reason:
    """The status reason of an exception (its retryability follows from it: ``reasons.retryable``)."""
    if isinstance(exc, RoleNotAssumable):
        # STS refused (trust policy, external ID, no such role): waits for a change of the mapping or the role.
        # Throttling, 5xx or an unreachable STS keep their own, retried, reasons.
        inner = reason_of(exc.cause) if exc.cause is not None else None
        if inner is not None and retryable(inner) and inner != Reason.INTERNAL_ERROR:
            return inner
        return Reason.ACCOUNT_ROLE_NOT_ASSUMABLE
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = str(exc.response.get("Error", {}).get("Message", "")).lower()
        if is_throttling(code, status):
            return Reason.THROTTLED
        if code in _TRANSIENT_CODES or status >= 500:
            return Reason.AWS_UNAVAILABLE
        if code in _DENIED_CODES or status == 403:
            return Reason.ACCESS_DENIED
        if any(text in message for text in _EVENTUALLY_CONSISTENT_MESSAGES):
            return Reason.POLICY_REJECTED
        if code in _ALREADY_EXISTS_CODES:
            # Someone (another replica during a failover, a person) created it meanwhile: the next pass sees it.
            return Reason.ALREADY_EXISTS
        if code == "KMSInvalidStateException":
            return Reason.KMS_KEY_INVALID_STATE
        if code in ("NotFoundException", "KeyUnavailableException", "DisabledException"):
            return Reason.KMS_KEY_UNAVAILABLE
        if code in ("LimitExceededException", "TooManyTagsException"):
            return Reason.AWS_LIMIT_EXCEEDED
        if code in ("InvalidParameterException", "InvalidParameter", "ValidationException"):
            return Reason.INVALID_PARAMETER
        if code == "RepositoryNotEmptyException":
            return Reason.REPOSITORY_NOT_EMPTY
        return Reason.AWS_ERROR
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)):
        return Reason.AWS_UNREACHABLE
    if isinstance(exc, BotoCoreError):
        return Reason.AWS_CLIENT_ERROR
    return Reason.INTERNAL_ERROR


def refused_by_aws(exc: BaseException) -> bool:
    """AWS answered the call (or the one ``exc`` was raised from) with a client error, HTTP 4xx: the request was
    refused and did nothing. A server error (5xx, or a 4xx code that names one), or no answer at all (timeout,
    connection lost), leaves that open."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ClientError):
            status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            return 400 <= status < 500 and error_code(cause) not in _TRANSIENT_CODES
        cause = cause.__cause__
    return False


def to_operator_error(exc: BaseException, action: str) -> OperatorError:
    return OperatorError(reason_of(exc), f"{action}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RoleNotAssumable):
        return str(exc)
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
