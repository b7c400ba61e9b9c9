"""ECR's error codes for the emulated operations (shapes in botocore's model, meanings in AWS's API reference)."""

from __future__ import annotations

from moto.core.exceptions import ServiceException


class InvalidParameterException(ServiceException):
    code = "InvalidParameterException"


class LimitExceededException(ServiceException):
    code = "LimitExceededException"


class PullThroughCacheRuleAlreadyExistsException(ServiceException):
    code = "PullThroughCacheRuleAlreadyExistsException"


class PullThroughCacheRuleNotFoundException(ServiceException):
    code = "PullThroughCacheRuleNotFoundException"


class UnsupportedUpstreamRegistryException(ServiceException):
    code = "UnsupportedUpstreamRegistryException"


class SecretNotFoundException(ServiceException):
    code = "SecretNotFoundException"


class TemplateAlreadyExistsException(ServiceException):
    code = "TemplateAlreadyExistsException"


class TemplateNotFoundException(ServiceException):
    code = "TemplateNotFoundException"


def constraint(field: str, rule: str) -> InvalidParameterException:
    """ECR's wording for a request that breaks a constraint of its model, e.g. a pattern or a length."""
    return InvalidParameterException(f"Invalid parameter at '{field}' failed to satisfy constraint: '{rule}'")
